//! igb: a poll-mode driver for the Intel 82576 Gigabit Ethernet controller
//! (`8086:10c9` and the other 82576 device IDs in [`regs::DEVICE_IDS_82576`]).
//!
//! Order of operations follows the 82576 datasheet's chapter 4 and the
//! DPDK/Linux igb drivers:
//!
//! * **probe** ([`IgbPort::open_vfio`]): mask interrupts, global reset
//!   (CTRL.RST, which also stops a device a killed process left running),
//!   mask again, wait for the EEPROM auto-read, read the MAC from RAL0/RAH0,
//!   set up the link with autonegotiation (CTRL.SLU, PHY through MDIC),
//!   clear the clear-on-read statistics;
//! * **open**: bus mastering on, receive rings (advanced descriptors,
//!   SRRCTL one-buffer with DROP_EN, RXDCTL enable confirmed, then RCTL,
//!   then RDH = 0 / RDT = n - 1), transmit rings (TXDCTL enable confirmed,
//!   then TCTL);
//! * **stop/close**: interrupts masked, RCTL.EN off, every queue disabled
//!   with the enable bit confirmed clear, TCTL.EN off, bus mastering off —
//!   all before any ring or buffer memory is released (ring memory and
//!   parked mbufs belong to the queue objects and go when those drop).
//!
//! # QEMU's emulated 82576
//!
//! QEMU implements only advanced receive descriptors (RCTL.DTYP must be 0),
//! processes a transmit ring synchronously on each TDT write (so `tx_burst`
//! writes TDT once per call), never sets EEC.AUTO_RD (the wait is
//! best-effort), never counts MPC/RNBC, and counts ROC only in VMDq mode
//! (a frame over RLPML is dropped uncounted). So RLPML holds the buffer size
//! and the receive path enforces the MTU itself, counting what it drops in
//! `rx_mtu_oversize_drops` (and in the queue's drops and errors). With the
//! `scatter` receive offload a frame may span buffers, so the buffer no
//! longer bounds it: RLPML then holds the largest frame the MTU allows, and
//! a longer frame is dropped by the device (counted in ROC,
//! `rx_long_length_errors`, by a real 82576; not at all by QEMU's), the
//! receive path's check staying as a backstop. After a link comes back up
//! QEMU only resumes transmitting on the next TDT write, so
//! [`NetDevice::set_link`] rewrites TDT.
//!
//! # Not supported here
//!
//! The I350 (`8086:1521`) is an igb-family part but is not claimed: it has 8
//! queues instead of 16, a different PHY (82580-style, with EEE and its own
//! power-down and MDICNFG handling), packet-buffer sizes programmed with a
//! different RXPBS/TXPBS encoding, DMA coalescing, an NVM with a checksum
//! per LAN function, and loopback VLAN tags in network byte order. Those
//! differences are not implemented or tested, so we refuse rather than
//! guess. Also missing: the software/firmware semaphore (SW_FW_SYNC) that
//! real boards with manageability firmware want around PHY and EEPROM
//! access, fiber/SerDes PCS link setup (SerDes IDs only get CTRL.SLU), RSS,
//! stripping both tags of a QinQ frame (`qinq_strip`), QinQ insertion on
//! transmit (`ctx.rs` says why) and interrupts.

pub mod ctx;
pub(crate) mod desc;
pub mod diag;
pub mod filter;
pub mod link;
mod loopback;
pub mod mac;
pub mod regs;
pub mod rss;
pub(crate) mod rx;
pub mod stats;
pub(crate) mod tx;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use ferrite_hugepages::{DmaMapper, DmaOptions, Fallback, IovaMode, PageSize};
use ferrite_vfio::{Bar, EventFd, IommuMode, IrqKind, VfioDevice};

use desc::RingArena;
use link::{LinkShared, LinkThread, RxIrq};
use mac::{Hw, Media, RegisterIo};
use regs::*;
use rx::{IgbRxQueue, RxSetup};
use stats::HwStats;
use tx::{IgbTxQueue, TxSetup, TxWatch};

use crate::ether::max_frame_len;
use crate::mem::Mempool;
use crate::port::{
    Channels, Coalesce, Counter, DeviceCaps, DrvInfo, EthtoolOps, LinkEvents, LinkSettings, LinkStatus, MacAddr,
    NetDevice, PortConfig, PortError, PortStats, QueueCounters, Queues, RegDump, RingParams, RssConfig, RxMode,
    RxOffloads, SelfTestRow, TxOffloads, VlanType,
};

/// The VFIO layer the driver is built on (re-exported for tools such as
/// `pmdinfo` that inspect a device without opening a port).
pub use ferrite_vfio as vfio;

/// What [`peek`] reads from a live 82576 without changing it.
#[derive(Clone, Debug)]
pub struct Peek {
    /// RAL0/RAH0, if the address-valid bit is set.
    pub mac: Option<MacAddr>,
    /// Carrier, speed and duplex from STATUS.
    pub link: LinkStatus,
    /// Raw STATUS and CTRL.
    pub status: u32,
    /// Raw CTRL.
    pub ctrl: u32,
}

/// Reads the MAC address and link state of an opened 82576 through BAR 0,
/// with register reads only (no reset, nothing written).
pub fn peek(dev: &Arc<VfioDevice>) -> Result<Peek, PortError> {
    let (vendor, device) = dev.vendor_device()?;
    if !supports(vendor, device) {
        return Err(PortError::Device(format!(
            "{} is {vendor:04x}:{device:04x}, not an 82576: its registers mean something else",
            dev.pci_addr()
        )));
    }
    let hw = Hw::new(Box::new(BarIo(dev.map_bar(0)?)), Media::of(device));
    let (lo, hi) = (hw.read(ral(0)), hw.read(rah(0)));
    let (l, h) = (lo.to_le_bytes(), hi.to_le_bytes());
    let mac = (hi & RAH_AV != 0).then_some(MacAddr([l[0], l[1], l[2], l[3], h[0], h[1]]));
    Ok(Peek { mac, link: hw.link_status(), status: hw.read(STATUS), ctrl: hw.read(CTRL) })
}

/// Driver name reported by `drvinfo`.
pub const DRIVER_NAME: &str = "igb";

/// Whether this driver claims `vendor:device`.
pub fn supports(vendor: u16, device: u16) -> bool {
    vendor == VENDOR_INTEL && DEVICE_IDS_82576.iter().any(|(id, _)| *id == device)
}

/// Human name of a supported device ID.
pub fn device_name(device: u16) -> &'static str {
    DEVICE_IDS_82576.iter().find(|(id, _)| *id == device).map(|(_, n)| *n).unwrap_or("unknown")
}

/// BAR 0 through VFIO as the driver's register window.
struct BarIo(Bar);

impl RegisterIo for BarIo {
    #[inline(always)]
    fn read32(&self, off: u32) -> u32 {
        self.0.read32(off as usize)
    }
    #[inline(always)]
    fn write32(&self, off: u32, val: u32) {
        self.0.write32(off as usize, val)
    }
    fn revoke(&self) -> std::io::Result<()> {
        self.0.revoke()
    }
}

/// Brings a device to rest: no interrupts, no receive, no queue running
/// (confirmed), no transmit, no DMA (bus mastering off, through `dev`).
/// Safe to call repeatedly; on a device that is gone, only bookkeeping.
fn quiesce(hw: &Hw, dev: Option<&VfioDevice>) -> Result<(), PortError> {
    hw.mask_irqs();
    hw.clear_bits(RCTL, RCTL_EN);
    let mut first_err = None;
    for q in 0..MAX_QUEUES as u32 {
        if let Err(e) = hw.disable_queue(rxdctl(q)) {
            first_err.get_or_insert(e);
        }
    }
    for q in 0..MAX_QUEUES as u32 {
        if let Err(e) = hw.disable_queue(txdctl(q)) {
            first_err.get_or_insert(e);
        }
    }
    hw.clear_bits(TCTL, TCTL_EN);
    hw.flush();
    if let Some(dev) = dev.filter(|_| !hw.is_gone()) {
        dev.disable_bus_master()?;
    }
    first_err.map_or(Ok(()), Err)
}

/// The kernel asked for the device back (VFIO's request interrupt: it is
/// being unbound from vfio-pci or hot-unplugged) and waits until this
/// process lets go. Quiet it while it still answers, then give back the
/// register mapping and the device fd, leaving every handle in place but
/// inert. Called by the link thread.
pub(crate) fn release_on_request(hw: &Hw, dev: &VfioDevice) {
    if let Err(e) = quiesce(hw, Some(dev)) {
        log::warn!("ferrite igb: {}: quiescing before release: {e}", dev.pci_addr());
    }
    hw.mark_gone(&format!(
        "{}: the kernel asked for the device back (unbind or hot-unplug): releasing it; the port is gone",
        dev.pci_addr()
    ));
    if let Err(e) = hw.revoke() {
        log::warn!("ferrite igb: {}: unmapping BAR 0: {e}", dev.pci_addr());
    }
    if let Err(e) = dev.revoke() {
        log::warn!("ferrite igb: {}: closing the device: {e}", dev.pci_addr());
    }
}

/// Prefetch/host/write-back thresholds for RXDCTL (DPDK's igb defaults;
/// WTHRESH = 1 writes each descriptor back as soon as it is done).
const RXDCTL_THRESH: u32 = (8 << DCTL_PTHRESH_SHIFT) | (8 << DCTL_HTHRESH_SHIFT) | (1 << DCTL_WTHRESH_SHIFT);
/// Thresholds for TXDCTL (82576: WTHRESH = 1).
const TXDCTL_THRESH: u32 = (8 << DCTL_PTHRESH_SHIFT) | (1 << DCTL_HTHRESH_SHIFT) | (1 << DCTL_WTHRESH_SHIFT);

/// Per-queue software counters, kept across stop/open.
struct QueueStatsSet {
    rx: Vec<Arc<QueueCounters>>,
    rx_alloc_failed: Vec<Arc<Counter>>,
    /// Frames longer than the MTU allows, dropped by the receive path.
    rx_oversize: Vec<Arc<Counter>>,
    /// Frames with a bad IP or L4 checksum (`rx_queue_N_csum_err`).
    rx_csum_err: Vec<Arc<Counter>>,
    /// Times the ring filled (`tx_queue_N_restart`).
    tx_restart: Vec<Arc<Counter>>,
    tx: Vec<Arc<QueueCounters>>,
    tx_link_down: Vec<Arc<Counter>>,
    tx_timeouts: Vec<Arc<Counter>>,
    /// Buffers left to the device by queues it would not stop. Not reset
    /// by `reset_stats`: it counts memory gone for good, not events.
    rx_abandoned: Vec<Arc<Counter>>,
    tx_abandoned: Vec<Arc<Counter>>,
    /// Transmit offload requests refused (`tx_offload_errors`).
    tx_offload_errors: Vec<Arc<Counter>>,
}

impl QueueStatsSet {
    fn new(rx: u16, tx: u16) -> QueueStatsSet {
        QueueStatsSet {
            rx: (0..rx).map(|_| Arc::default()).collect(),
            rx_alloc_failed: (0..rx).map(|_| Arc::default()).collect(),
            rx_oversize: (0..rx).map(|_| Arc::default()).collect(),
            rx_csum_err: (0..rx).map(|_| Arc::default()).collect(),
            tx_restart: (0..tx).map(|_| Arc::default()).collect(),
            tx: (0..tx).map(|_| Arc::default()).collect(),
            tx_link_down: (0..tx).map(|_| Arc::default()).collect(),
            tx_timeouts: (0..tx).map(|_| Arc::default()).collect(),
            rx_abandoned: (0..rx).map(|_| Arc::default()).collect(),
            tx_abandoned: (0..tx).map(|_| Arc::default()).collect(),
            tx_offload_errors: (0..tx).map(|_| Arc::default()).collect(),
        }
    }
}

/// An 82576 port.
pub struct IgbPort {
    name: Arc<str>,
    hw: Arc<Hw>,
    /// Keeps the VFIO device (and so the BAR and the group) open.
    dev: Option<Arc<VfioDevice>>,
    /// VFIO's request interrupt: the kernel wants the device back.
    removal_request: Option<Arc<EventFd>>,
    device_id: u16,
    iova_mode: IovaMode,
    mapper: Option<Arc<dyn DmaMapper>>,
    mac: MacAddr,
    mtu: u16,
    /// Longest frame the receive path accepts (MTU + header + two VLAN
    /// tags, CRC stripped: [`max_frame_len`]),
    /// read by the queues once per burst so an MTU change applies live.
    rx_max_len: Arc<AtomicU32>,
    rx_mode: RxMode,
    conf: PortConfig,
    configured: bool,
    pool: Option<Mempool>,
    qstats: QueueStatsSet,
    /// Shared with the link thread, which folds the 32-bit counters in.
    hw_stats: Arc<HwStats>,
    /// Shared with the queues of the current open; cleared by stop.
    live: Option<Arc<AtomicBool>>,
    admin_up: bool,
    fw_version: String,
    /// Carrier state shared with the LSC thread and the transmit queues.
    link: Arc<LinkShared>,
    /// MSI-X eventfds while open: vector 0 (other causes), then receive.
    irqs: Option<(Arc<EventFd>, Vec<Arc<EventFd>>)>,
    link_thread: Option<LinkThread>,
    /// Receive interrupt throttle (EITR), µs.
    itr_usecs: u32,
    /// RSS settings (`ethtool -X`); programmed at open and on change.
    rss: RssConfig,
    /// Extra unicast addresses, multicast groups and VLAN IDs; written to
    /// the device when changed, at probe and at every open.
    filters: filter::RxFilters,
}

impl IgbPort {
    /// Opens the 82576 at `pci_addr` (bound to vfio-pci) and initialises it.
    pub fn open_vfio(pci_addr: &str, iova_mode: IovaMode) -> Result<IgbPort, PortError> {
        let mode = match iova_mode {
            IovaMode::Va => IommuMode::Type1,
            IovaMode::Pa => IommuMode::NoIommu,
        };
        let dev = VfioDevice::open(pci_addr, mode)?;
        let (vendor, device) = dev.vendor_device()?;
        if !supports(vendor, device) {
            return Err(PortError::Device(format!(
                "{} is {vendor:04x}:{device:04x}, not an 82576; the igb driver does not claim it",
                dev.pci_addr()
            )));
        }
        let bar = dev.map_bar(0)?;
        let mapper: Option<Arc<dyn DmaMapper>> = match iova_mode {
            IovaMode::Va => Some(Arc::clone(dev.container()) as Arc<dyn DmaMapper>),
            IovaMode::Pa => None,
        };
        let hw = Hw::new(Box::new(BarIo(bar)), Media::of(device));
        let name = dev.pci_addr().to_string();
        let mut port = IgbPort::probe(&name, hw, device, iova_mode, mapper)?;
        // Without the request channel an unbind or hot-unplug waits until
        // this process exits; with it, the link thread releases the device.
        match dev.enable_irqs(IrqKind::Req, 1) {
            Ok(mut fds) => port.removal_request = fds.pop().map(Arc::new),
            Err(e) => log::warn!("ferrite igb: {name}: no device-removal requests ({e}); unbinding waits for exit"),
        }
        port.dev = Some(dev);
        Ok(port)
    }

    /// Initialises a device reached through `hw` (the datasheet's probe
    /// order; see the module docs). Public so tests can drive it with a
    /// register file in memory.
    pub fn probe(
        name: &str,
        hw: Hw,
        device_id: u16,
        iova_mode: IovaMode,
        mapper: Option<Arc<dyn DmaMapper>>,
    ) -> Result<IgbPort, PortError> {
        hw.mask_irqs();
        hw.global_reset()?;
        // Not fatal: QEMU never sets AUTO_RD, and EEPROM-less boards exist.
        let _ = hw.wait_eeprom_auto_read();
        let mac = hw.read_mac().ok_or_else(|| {
            PortError::Device(format!("{name}: neither RAL0/RAH0 nor the EEPROM holds a valid MAC address"))
        })?;
        hw.write_mac(mac);
        // Empty RAR 1..15, MTA and VFTA: the reset need not clear them.
        let filters = filter::RxFilters::default();
        filters.program(&hw);
        // Tell manageability firmware a driver owns the port.
        hw.set_bits(CTRL_EXT, CTRL_EXT_DRV_LOAD);
        hw.setup_link_autoneg()?;
        let hw_stats = Arc::new(HwStats::default());
        hw_stats.clear(&hw);
        let fw_version = match hw.eeprom_read(NVM_WORD_VERSION) {
            Some(w) if w != 0 && w != 0xFFFF => format!("{}.{}", w >> 12, (w >> 4) & 0xFF),
            _ => "n/a".to_string(),
        };
        let conf = PortConfig::default();
        Ok(IgbPort {
            name: name.into(),
            hw: Arc::new(hw),
            dev: None,
            removal_request: None,
            device_id,
            iova_mode,
            mapper,
            mac,
            mtu: 1500,
            rx_max_len: Arc::new(AtomicU32::new(max_frame_len(1500) as u32)),
            rx_mode: RxMode::default(),
            qstats: QueueStatsSet::new(conf.rx_queues, conf.tx_queues),
            conf,
            configured: false,
            pool: None,
            hw_stats,
            live: None,
            admin_up: true,
            fw_version,
            link: Arc::new(LinkShared::new(name.into())),
            irqs: None,
            link_thread: None,
            itr_usecs: link::DEFAULT_ITR_USECS,
            rss: RssConfig::new(1, rss::DEFAULT_TYPES),
            filters,
        })
    }

    /// The 82576 device ID.
    pub fn device_id(&self) -> u16 {
        self.device_id
    }

    /// Largest frame for an MTU as it reaches the buffer, CRC included:
    /// header, up to two VLAN tags, payload, CRC (see [`crate::ether`]).
    fn frame_len(mtu: u16) -> u32 {
        max_frame_len(mtu) as u32 + CRC_LEN
    }

    /// The receive buffer size the hardware uses for a pool: its data room
    /// rounded down to SRRCTL's 1 KB units.
    fn hw_buf_size(pool: &Mempool) -> u32 {
        (pool.data_room() as u32 / 1024).min(SRRCTL_BSIZEPKT_MASK) * 1024
    }

    /// Checks that a whole frame of `mtu` fits one receive buffer, unless
    /// `scatter` lets a frame span several.
    fn check_buffers(mtu: u16, pool: &Mempool, scatter: bool) -> Result<(), PortError> {
        let need = Self::frame_len(mtu);
        let have = Self::hw_buf_size(pool);
        if have < need && !scatter {
            let want = need.next_multiple_of(1024);
            return Err(PortError::InvalidConfig(format!(
                "mempool '{}' has {} data bytes per buffer ({have} usable by the 82576, which sizes receive \
                 buffers in 1 KB units); MTU {mtu} needs {need} (frame + CRC): create the pool with \
                 --mbuf-size {want} or larger, or ask for the scatter receive offload (testpmd \
                 --rx-offloads scatter) to receive such frames as mbuf chains",
                pool.name(),
                pool.data_room()
            )));
        }
        Ok(())
    }

    /// Whether the port is configured for scattered receive.
    fn scatter(&self) -> bool {
        self.conf.rx_offloads.contains(RxOffloads::SCATTER)
    }

    /// RLPML for the current configuration. Without scatter the buffer
    /// (QEMU drops frames over RLPML uncounted, so the MTU is checked, and
    /// counted, in software); with scatter the MTU's largest frame, since
    /// the buffer no longer bounds a frame.
    fn rlpml_value(&self, buf_size: u32) -> u32 {
        let limit = if self.scatter() { Self::frame_len(self.mtu) } else { buf_size + CRC_LEN };
        limit.min(RLPML_MASK)
    }

    fn dma_options(&self) -> DmaOptions {
        DmaOptions {
            page_size: PageSize::Huge2M,
            iova_mode: self.iova_mode,
            // Hardware ports always have a mapper (VA) or use PA; only a
            // register-file test port has neither and may use small pages.
            fallback: if self.mapper.is_none() && self.iova_mode == IovaMode::Va {
                Fallback::SmallPages
            } else {
                Fallback::Refuse
            },
            mapper: self.mapper.clone(),
        }
    }

    fn rctl_value(&self) -> u32 {
        let mut rctl = RCTL_EN | RCTL_BAM | RCTL_SECRC | RCTL_LPE | RCTL_RDMTS_HALF;
        if self.rx_mode.promiscuous {
            rctl |= RCTL_UPE | RCTL_MPE;
        }
        if self.rx_mode.all_multicast {
            rctl |= RCTL_MPE;
        }
        // RCTL.MO stays 00: the multicast table hashes bits 47:36
        // (`filter::mta_bit`). The VLAN table filters with the offload only,
        // promiscuous or not (as DPDK; Linux opens the table when promiscuous).
        if self.conf.rx_offloads.contains(RxOffloads::VLAN_FILTER) {
            rctl |= RCTL_VFE;
        }
        rctl
    }

    fn tctl_value() -> u32 {
        TCTL_EN
            | TCTL_PSP
            | (COLLISION_THRESHOLD << TCTL_CT_SHIFT)
            | (COLLISION_DISTANCE << TCTL_COLD_SHIFT)
            | TCTL_RTLC
    }

    fn set_bus_master(&self, on: bool) -> Result<(), PortError> {
        if self.hw.is_gone() {
            return Ok(());
        }
        if let Some(dev) = &self.dev {
            if on {
                dev.enable_bus_master()?;
            } else {
                dev.disable_bus_master()?;
            }
        }
        Ok(())
    }

    /// Brings the device to rest (see [`quiesce`]).
    fn quiesce(&self) -> Result<(), PortError> {
        quiesce(&self.hw, self.dev.as_deref())
    }

    fn start(&mut self, live: &Arc<AtomicBool>) -> Result<Queues, PortError> {
        let pool = self.pool.clone().ok_or_else(|| PortError::InvalidState("configure the port first".into()))?;
        Self::check_buffers(self.mtu, &pool, self.scatter())?;
        let conf = self.conf.clone();
        let hw = Arc::clone(&self.hw);

        self.set_bus_master(true)?;
        hw.mask_irqs();
        // Receiver and transmitter off, every queue off, while rings are set up.
        hw.clear_bits(RCTL, RCTL_EN);
        hw.clear_bits(TCTL, TCTL_EN);
        for q in 0..MAX_QUEUES as u32 {
            hw.disable_queue(rxdctl(q))?;
            hw.disable_queue(txdctl(q))?;
        }

        let counts: Vec<u16> = std::iter::repeat_n(conf.rx_ring_size, conf.rx_queues as usize)
            .chain(std::iter::repeat_n(conf.tx_ring_size, conf.tx_queues as usize))
            .collect();
        let mut arena = RingArena::new(&counts, &self.dma_options())?;
        self.enable_msix(conf.rx_queues);
        let buf_size = Self::hw_buf_size(&pool);

        let mut queues = Queues::default();
        for q in 0..conf.rx_queues {
            let ring = arena.take(conf.rx_ring_size);
            let (iova, bytes, n) = (ring.iova(), ring.len_bytes(), ring.count());
            let rxq = IgbRxQueue::new(RxSetup {
                hw: Arc::clone(&hw),
                qid: q,
                ring,
                buf_size: buf_size.min(u16::MAX as u32) as u16,
                scatter: self.scatter(),
                offloads: conf.rx_offloads,
                pool: pool.clone(),
                counters: Arc::clone(&self.qstats.rx[q as usize]),
                alloc_failed: Arc::clone(&self.qstats.rx_alloc_failed[q as usize]),
                oversize: Arc::clone(&self.qstats.rx_oversize[q as usize]),
                csum_err: Arc::clone(&self.qstats.rx_csum_err[q as usize]),
                abandoned: Arc::clone(&self.qstats.rx_abandoned[q as usize]),
                max_len: Arc::clone(&self.rx_max_len),
                live: Arc::clone(live),
                irq: self.irqs.as_ref().map(|(_, rx)| RxIrq {
                    efd: Arc::clone(&rx[(link::rx_vector(q) - 1) as usize]),
                    bit: 1 << link::rx_vector(q),
                }),
            })?;
            let q32 = q as u32;
            hw.write(rdbal(q32), iova as u32);
            hw.write(rdbah(q32), (iova >> 32) as u32);
            hw.write(rdlen(q32), bytes);
            hw.write(rdh(q32), 0);
            hw.write(rdt(q32), 0);
            hw.write(srrctl(q32), (buf_size / 1024) | SRRCTL_DESCTYPE_ADV_ONEBUF | SRRCTL_DROP_EN);
            hw.enable_queue(rxdctl(q32), RXDCTL_THRESH)?;
            debug_assert_eq!(rxq.initial_tail(), (n - 1) as u32);
            queues.rx.push(Box::new(rxq));
        }

        hw.write_mac(self.mac);
        // The other address entries, the multicast and VLAN tables from the
        // port's lists, so they survive stop/start and resets; then the
        // receive offload switches (RXCSUM before `rss::program` adds PCSD).
        self.filters.program(&hw);
        rx::program_offloads(&hw, conf.rx_offloads);
        // Without scatter the hardware limit is the buffer: QEMU's igb drops
        // frames over RLPML without counting them (ROC only counts in VMDq
        // mode), so the MTU itself is enforced, and counted, by the receive
        // path. With scatter it is the MTU (see `rlpml_value`).
        hw.write(RLPML, self.rlpml_value(buf_size));
        rss::program(&hw, &self.rss, conf.rx_queues);
        hw.write(RCTL, self.rctl_value());
        // Head and tail only after the queue (and receiver) are enabled.
        for q in 0..conf.rx_queues as u32 {
            hw.write(rdh(q), 0);
            hw.write(rdt(q), (conf.rx_ring_size - 1) as u32);
        }

        let max_len = MAX_FRAME - 4;
        for q in 0..conf.tx_queues {
            let ring = arena.take(conf.tx_ring_size);
            let q32 = q as u32;
            hw.write(tdbal(q32), ring.iova() as u32);
            hw.write(tdbah(q32), (ring.iova() >> 32) as u32);
            hw.write(tdlen(q32), ring.len_bytes());
            hw.write(tdh(q32), 0);
            hw.write(tdt(q32), 0);
            hw.write(tdwbal(q32), 0);
            hw.write(tdwbah(q32), 0);
            hw.enable_queue(txdctl(q32), TXDCTL_THRESH)?;
            queues.tx.push(Box::new(IgbTxQueue::new(TxSetup {
                hw: Arc::clone(&hw),
                qid: q,
                ring,
                max_len,
                counters: Arc::clone(&self.qstats.tx[q as usize]),
                live: Arc::clone(live),
                watch: TxWatch {
                    link: Arc::clone(&self.link),
                    link_down: Arc::clone(&self.qstats.tx_link_down[q as usize]),
                    timeouts: Arc::clone(&self.qstats.tx_timeouts[q as usize]),
                    abandoned: Arc::clone(&self.qstats.tx_abandoned[q as usize]),
                    offload_errors: Arc::clone(&self.qstats.tx_offload_errors[q as usize]),
                    restart: Arc::clone(&self.qstats.tx_restart[q as usize]),
                    txdctl: TXDCTL_THRESH,
                },
            })));
        }
        hw.write(TCTL, Self::tctl_value());
        if !self.admin_up {
            hw.clear_bits(RCTL, RCTL_EN);
            hw.clear_bits(TCTL, TCTL_EN);
        }
        if self.irqs.is_some() {
            link::program_msix(&hw, conf.rx_queues, self.itr_usecs);
        }
        hw.flush();
        if self.dev.is_some() {
            let other = self.irqs.as_ref().map(|(o, _)| Arc::clone(o));
            let stats = Arc::clone(&self.hw_stats);
            let removal = self
                .dev
                .as_ref()
                .zip(self.removal_request.as_ref())
                .map(|(d, r)| link::Removal { request: Arc::clone(r), device: Arc::clone(d) });
            match LinkThread::spawn(Arc::clone(&hw), Arc::clone(&self.link), other, stats, stats::STATS_PERIOD, removal)
            {
                Ok(t) => self.link_thread = Some(t),
                Err(e) => log::warn!("ferrite igb: {}: no link thread ({e}); link changes need link_update", self.name),
            }
        }
        Ok(queues)
    }

    /// Asks VFIO for MSI-X vectors (vector 0 for LSC, one per receive
    /// queue up to 9). Without them the port still works, polled only.
    fn enable_msix(&mut self, rx_queues: u16) {
        let Some(dev) = &self.dev else { return };
        let n = link::vectors_for(rx_queues);
        match dev.enable_irqs(IrqKind::Msix, n) {
            Ok(fds) => {
                let mut fds = fds.into_iter().map(Arc::new);
                if let Some(other) = fds.next() {
                    self.irqs = Some((other, fds.collect()));
                }
            }
            Err(e) => log::warn!("ferrite igb: {}: no MSI-X ({e}): no rx interrupts, link polled", self.name),
        }
    }

    /// Stops the LSC thread and hands the vectors back to VFIO.
    fn release_irqs(&mut self) {
        self.link_thread = None;
        if self.irqs.take().is_some() {
            if let Some(dev) = &self.dev {
                let _ = dev.disable_irqs(IrqKind::Msix);
            }
        }
    }

    fn note_link(&self, st: LinkStatus) {
        self.link.note(st);
    }

    fn sw_rows(&self) -> Vec<(String, u64)> {
        use crate::port::stat_names::*;
        let stats = self.stats64();
        let q = &self.qstats;
        let sum = |c: &[Arc<Counter>]| c.iter().map(|c| c.get()).sum::<u64>();
        let mut rows: Vec<(String, u64)> = [
            (RX_SW_PACKETS, stats.rx_total().packets),
            (RX_SW_BYTES, stats.rx_total().bytes),
            (RX_DROPPED, stats.rx_total().drops),
            (RX_SW_ERRORS, stats.rx_total().errors),
            (RX_ALLOC_FAILED, sum(&q.rx_alloc_failed)),
            (RX_MTU_OVERSIZE_DROPS, sum(&q.rx_oversize)),
            (TX_SW_PACKETS, stats.tx_total().packets),
            (TX_SW_BYTES, stats.tx_total().bytes),
            (TX_DROPPED, stats.tx_total().drops),
            (TX_LINK_DOWN_DROPS, sum(&q.tx_link_down)),
            (TX_TIMEOUT_COUNT, sum(&q.tx_timeouts)),
            (TX_OFFLOAD_ERRORS, sum(&q.tx_offload_errors)),
            (TX_RESTART_QUEUE, sum(&q.tx_restart)),
            (LSC_INTERRUPTS, self.link.lsc_irqs.load(Ordering::Relaxed)),
            (MBUFS_LEFT_TO_DEVICE, sum(&q.rx_abandoned) + sum(&q.tx_abandoned)),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect();
        let each = |c: &[Arc<Counter>]| Some(c.iter().map(|c| c.get()).collect());
        let extras = QueueExtras {
            rx_csum_err: each(&q.rx_csum_err),
            rx_alloc_failed: each(&q.rx_alloc_failed),
            tx_restart: each(&q.tx_restart),
        };
        rows.extend(per_queue_stat_rows(&stats, &extras));
        rows
    }
}

impl NetDevice for IgbPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn caps(&self) -> DeviceCaps {
        DeviceCaps {
            max_rx_queues: MAX_QUEUES,
            max_tx_queues: MAX_QUEUES,
            min_ring_size: MIN_RING,
            max_ring_size: MAX_RING,
            ring_size_align: RING_ALIGN,
            ring_size_pow2: false,
            min_mtu: MIN_MTU,
            max_mtu: MAX_MTU,
            // What this driver programs today; each offload joins the list
            // with the code and the test that make it true.
            // No qinq_strip: the 82576 strips one tag (the inner one with
            // vlan_extend), never both (rx.rs).
            rx_offload_capa: RxOffloads::IPV4_CKSUM
                | RxOffloads::UDP_CKSUM
                | RxOffloads::TCP_CKSUM
                | RxOffloads::SCTP_CKSUM
                | RxOffloads::VLAN_STRIP
                | RxOffloads::VLAN_FILTER
                | RxOffloads::VLAN_EXTEND
                | RxOffloads::SCATTER
                | RxOffloads::RSS_HASH,
            // Transmit: what `ctx.rs` builds contexts for; no QINQ_INSERT
            // (one tag per frame on the 82576).
            tx_offload_capa: TxOffloads::MULTI_SEGS
                | TxOffloads::VLAN_INSERT
                | TxOffloads::IPV4_CKSUM
                | TxOffloads::UDP_CKSUM
                | TxOffloads::TCP_CKSUM
                | TxOffloads::SCTP_CKSUM
                | TxOffloads::TCP_TSO,
        }
    }

    fn configure(&mut self, conf: &PortConfig, pool: &Mempool) -> Result<(), PortError> {
        if self.live.is_some() {
            return Err(PortError::InvalidState(format!("{}: stop the port before configuring it", self.name)));
        }
        conf.check(&self.caps())?;
        if pool.region().iova_mode() != self.iova_mode {
            return Err(PortError::InvalidConfig(format!(
                "mempool '{}' was made for IOVA mode {:?} but {} runs in {:?}; create the pool with this \
                 port's dma_mapper() and IOVA mode",
                pool.name(),
                pool.region().iova_mode(),
                self.name,
                self.iova_mode
            )));
        }
        if pool.data_room() < 1024 {
            return Err(PortError::InvalidConfig(format!(
                "mempool '{}' buffers hold {} bytes; the 82576 needs at least 1024 (use --mbuf-size 2048)",
                pool.name(),
                pool.data_room()
            )));
        }
        Self::check_buffers(self.mtu, pool, conf.rx_offloads.contains(RxOffloads::SCATTER))?;
        if conf.rx_queues != self.conf.rx_queues || conf.tx_queues != self.conf.tx_queues || !self.configured {
            self.qstats = QueueStatsSet::new(conf.rx_queues, conf.tx_queues);
        }
        self.conf = conf.clone();
        self.rss.follow_queues(conf.rx_queues);
        self.pool = Some(pool.clone());
        self.configured = true;
        Ok(())
    }

    fn open(&mut self) -> Result<Queues, PortError> {
        if self.live.is_some() {
            return Err(PortError::InvalidState(format!("{} is already open", self.name)));
        }
        if !self.configured {
            return Err(PortError::InvalidState(format!("{}: configure the port before opening it", self.name)));
        }
        let live = Arc::new(AtomicBool::new(true));
        match self.start(&live) {
            Ok(queues) => {
                self.live = Some(live);
                Ok(queues)
            }
            Err(e) => {
                // Queues built so far were dropped inside `start` (each
                // disabled its hardware queue first); make the rest quiet.
                live.store(false, Ordering::Release);
                self.release_irqs();
                let _ = self.quiesce();
                Err(e)
            }
        }
    }

    fn stop(&mut self) -> Result<(), PortError> {
        let Some(live) = self.live.take() else {
            return Err(PortError::InvalidState(format!("{} is not open", self.name)));
        };
        live.store(false, Ordering::Release);
        self.release_irqs();
        self.quiesce()
    }

    fn is_running(&self) -> bool {
        self.live.is_some()
    }

    fn set_rx_mode(&mut self, mode: RxMode) -> Result<(), PortError> {
        self.rx_mode = mode;
        if self.live.is_some() && self.admin_up {
            let keep = self.hw.read(RCTL) & !(RCTL_UPE | RCTL_MPE);
            self.hw.write(RCTL, keep | (self.rctl_value() & (RCTL_UPE | RCTL_MPE)));
        }
        Ok(())
    }

    fn rx_mode(&self) -> RxMode {
        self.rx_mode
    }

    fn mac_address(&self) -> MacAddr {
        self.mac
    }

    fn set_mac_address(&mut self, mac: MacAddr) -> Result<(), PortError> {
        if !mac.is_valid_unicast() {
            return Err(PortError::InvalidConfig(format!("{mac} is not a unicast address")));
        }
        self.mac = mac;
        self.hw.write_mac(mac);
        Ok(())
    }

    fn offloads(&self) -> (RxOffloads, TxOffloads) {
        if self.configured {
            (self.conf.rx_offloads, self.conf.tx_offloads)
        } else {
            (RxOffloads::empty(), TxOffloads::empty())
        }
    }

    /// Receive address entries 1..15 (see `filter`).
    fn mac_addr_add(&mut self, mac: MacAddr) -> Result<(), PortError> {
        self.filters.add_unicast(&self.hw, &self.name, mac)
    }

    fn mac_addr_remove(&mut self, mac: MacAddr) -> Result<(), PortError> {
        self.filters.remove_unicast(&self.hw, &self.name, mac)
    }

    fn mac_addrs(&self) -> Vec<MacAddr> {
        std::iter::once(self.mac).chain(self.filters.unicast()).collect()
    }

    /// The multicast hash table: a listed group is always received, an
    /// unlisted one sharing its hash bit too (see `filter`).
    fn set_mc_addr_list(&mut self, groups: &[MacAddr]) -> Result<(), PortError> {
        self.filters.set_multicast(&self.hw, &self.name, groups)
    }

    fn mc_addr_list(&self) -> Vec<MacAddr> {
        self.filters.multicast()
    }

    /// The VLAN filter table; it filters with the `vlan_filter` offload.
    fn vlan_filter_set(&mut self, vlan_id: u16, on: bool) -> Result<(), PortError> {
        self.filters.set_vlan(&self.hw, &self.name, vlan_id, on)
    }

    fn vlan_filters(&self) -> Vec<u16> {
        self.filters.vlans()
    }

    /// VET: the tag EtherTypes the filter, strip and double VLAN go by.
    fn vlan_tpid_set(&mut self, which: VlanType, tpid: u16) -> Result<(), PortError> {
        self.filters.set_tpid(&self.hw, &self.name, which, tpid)
    }

    fn mtu(&self) -> u16 {
        self.mtu
    }

    fn change_mtu(&mut self, mtu: u16) -> Result<(), PortError> {
        if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
            return Err(PortError::InvalidConfig(format!("MTU {mtu} is out of range {MIN_MTU}..={MAX_MTU}")));
        }
        if let Some(pool) = &self.pool {
            Self::check_buffers(mtu, pool, self.scatter())?;
        }
        self.mtu = mtu;
        self.rx_max_len.store(max_frame_len(mtu) as u32, Ordering::Relaxed);
        if self.live.is_some() && self.scatter() {
            // RLPML follows the MTU only with scatter (without, it holds
            // the buffer size, which an MTU change does not touch).
            if let Some(pool) = &self.pool {
                self.hw.write(RLPML, self.rlpml_value(Self::hw_buf_size(pool)));
            }
        }
        Ok(())
    }

    fn stats64(&self) -> PortStats {
        PortStats {
            rx_queues: self.qstats.rx.iter().map(|c| c.snapshot()).collect(),
            tx_queues: self.qstats.tx.iter().map(|c| c.snapshot()).collect(),
            // MPC alone: reading every counter here would race the octet
            // pairs against arriving frames on each stats period (stats.rs).
            rx_missed: self.hw_stats.get32(&self.hw, "rx_missed_errors"),
        }
    }

    fn reset_stats(&mut self) -> Result<(), PortError> {
        self.qstats.rx.iter().for_each(|c| c.reset());
        self.qstats.tx.iter().for_each(|c| c.reset());
        self.qstats.rx_alloc_failed.iter().for_each(|c| c.reset());
        self.qstats.tx_link_down.iter().for_each(|c| c.reset());
        self.qstats.tx_timeouts.iter().for_each(|c| c.reset());
        self.qstats.tx_offload_errors.iter().for_each(|c| c.reset());
        self.qstats.rx_oversize.iter().for_each(|c| c.reset());
        self.qstats.rx_csum_err.iter().chain(&self.qstats.tx_restart).for_each(|c| c.reset());
        self.link.lsc_irqs.store(0, Ordering::Relaxed);
        self.hw_stats.clear(&self.hw);
        Ok(())
    }

    fn link_status(&self) -> LinkStatus {
        let st = self.link.read(&self.hw);
        self.note_link(st);
        st
    }

    /// Reads STATUS (and tells subscribers of a change); with
    /// `wait_to_complete`, waits up to 9 s for the link to come up.
    fn link_update(&self, wait_to_complete: bool) -> LinkStatus {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(9);
        loop {
            let st = self.link_status();
            if st.up || !wait_to_complete || !self.admin_up || std::time::Instant::now() >= deadline {
                return st;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn set_tx_timeout(&mut self, timeout: std::time::Duration) -> Result<(), PortError> {
        self.link.tx_timeout_ms.store(timeout.as_millis().clamp(1, u64::MAX as u128) as u64, Ordering::Relaxed);
        Ok(())
    }

    fn set_link(&mut self, up: bool) -> Result<(), PortError> {
        self.admin_up = up;
        self.link.admin_up.store(up, Ordering::Relaxed);
        let running = self.live.is_some();
        if up {
            self.hw.set_bits(CTRL, CTRL_SLU);
            self.hw.phy_power(true)?;
            if running {
                self.hw.set_bits(RCTL, RCTL_EN);
                // Transmit queues rewrite their TDT when they see the link
                // come back (QEMU resumes a ring only on a TDT write).
                self.hw.set_bits(TCTL, TCTL_EN);
            }
        } else {
            if running {
                self.hw.clear_bits(RCTL, RCTL_EN);
                self.hw.clear_bits(TCTL, TCTL_EN);
            }
            self.hw.phy_power(false)?;
            self.hw.clear_bits(CTRL, CTRL_SLU);
        }
        let _ = self.link_status();
        Ok(())
    }

    fn link_events(&self) -> LinkEvents {
        self.link.notifier.subscribe()
    }

    fn dma_mapper(&self) -> Option<Arc<dyn DmaMapper>> {
        self.mapper.clone()
    }

    fn pool_dma_options(&self) -> Option<DmaOptions> {
        Some(self.dma_options())
    }
}

impl EthtoolOps for IgbPort {
    fn drvinfo(&self) -> DrvInfo {
        DrvInfo {
            driver: DRIVER_NAME.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            fw_version: self.fw_version.clone(),
            bus_info: self.name.to_string(),
        }
    }

    fn link_settings(&self) -> Result<LinkSettings, PortError> {
        Ok(self.hw.link_settings())
    }

    fn set_link_settings(&mut self, s: &LinkSettings) -> Result<(), PortError> {
        if s.autoneg {
            self.hw.setup_link_autoneg()
        } else {
            self.hw.setup_link_forced(s.speed_mbps, s.duplex)
        }
    }

    fn ringparam(&self) -> RingParams {
        RingParams { rx_max: MAX_RING, tx_max: MAX_RING, rx: self.conf.rx_ring_size, tx: self.conf.tx_ring_size }
    }

    fn set_ringparam(&mut self, rings: &RingParams) -> Result<(), PortError> {
        if self.live.is_some() {
            return Err(PortError::InvalidState("stop the port before resizing its rings".into()));
        }
        let conf = PortConfig { rx_ring_size: rings.rx, tx_ring_size: rings.tx, ..self.conf.clone() };
        conf.check(&self.caps())?;
        self.conf = conf;
        Ok(())
    }

    fn channels(&self) -> Channels {
        Channels { max_rx: MAX_QUEUES, max_tx: MAX_QUEUES, rx: self.conf.rx_queues, tx: self.conf.tx_queues }
    }

    fn set_channels(&mut self, ch: &Channels) -> Result<(), PortError> {
        if self.live.is_some() {
            return Err(PortError::InvalidState("stop the port before changing its queue counts".into()));
        }
        let conf = PortConfig { rx_queues: ch.rx, tx_queues: ch.tx, ..self.conf.clone() };
        conf.check(&self.caps())?;
        self.qstats = QueueStatsSet::new(conf.rx_queues, conf.tx_queues);
        self.rss.follow_queues(conf.rx_queues);
        self.conf = conf;
        Ok(())
    }

    fn stat_names(&self) -> Vec<String> {
        HwStats::names().map(str::to_string).chain(self.sw_rows().into_iter().map(|(n, _)| n)).collect()
    }

    fn stat_values(&self) -> Vec<u64> {
        let mut v = self.hw_stats.values(&self.hw);
        v.extend(self.sw_rows().into_iter().map(|(_, v)| v));
        v
    }

    fn named_stats(&self) -> Vec<(String, u64)> {
        let hw = HwStats::names().map(str::to_string).zip(self.hw_stats.values(&self.hw));
        hw.chain(self.sw_rows()).collect()
    }

    fn regs(&self) -> Result<RegDump, PortError> {
        let mut regs: Vec<(String, u32)> = [
            ("CTRL", CTRL),
            ("STATUS", STATUS),
            ("CTRL_EXT", CTRL_EXT),
            ("EECD", EECD),
            ("LEDCTL", LEDCTL),
            ("MDIC", MDIC),
            ("IMS", IMS),
            ("EIMS", EIMS),
            ("GPIE", GPIE),
            ("RCTL", RCTL),
            ("RLPML", RLPML),
            ("RXCSUM", RXCSUM),
            ("MRQC", MRQC),
            ("RXPBS", RXPBS),
            ("TCTL", TCTL),
            ("TIPG", TIPG),
            ("TXPBS", TXPBS),
            ("RAL0", ral(0)),
            ("RAH0", rah(0)),
        ]
        .iter()
        .map(|&(n, off)| (n.to_string(), self.hw.read(off)))
        .collect();
        for q in 0..self.conf.rx_queues as u32 {
            for (n, off) in [
                ("RDBAL", rdbal(q)),
                ("RDBAH", rdbah(q)),
                ("RDLEN", rdlen(q)),
                ("SRRCTL", srrctl(q)),
                ("RDH", rdh(q)),
                ("RDT", rdt(q)),
                ("RXDCTL", rxdctl(q)),
            ] {
                regs.push((format!("{n}{q}"), self.hw.read(off)));
            }
        }
        for q in 0..self.conf.tx_queues as u32 {
            for (n, off) in [
                ("TDBAL", tdbal(q)),
                ("TDBAH", tdbah(q)),
                ("TDLEN", tdlen(q)),
                ("TDH", tdh(q)),
                ("TDT", tdt(q)),
                ("TXDCTL", txdctl(q)),
            ] {
                regs.push((format!("{n}{q}"), self.hw.read(off)));
            }
        }
        Ok(RegDump { version: 1, regs })
    }

    fn rss_config(&self) -> Result<RssConfig, PortError> {
        Ok(self.rss.clone())
    }

    /// Takes effect at once on a running port (the registers are written).
    fn set_rss_config(&mut self, conf: &RssConfig) -> Result<(), PortError> {
        conf.check(self.conf.rx_queues)?;
        self.rss = conf.clone();
        if self.live.is_some() {
            rss::program(&self.hw, &self.rss, self.conf.rx_queues);
        }
        Ok(())
    }

    fn nway_reset(&mut self) -> Result<(), PortError> {
        self.hw.restart_autoneg()
    }

    fn eeprom_len(&self) -> usize {
        diag::nvm_len(&self.hw)
    }

    fn read_eeprom(&self, offset: usize, len: usize) -> Result<Vec<u8>, PortError> {
        diag::read_nvm(&self.hw, offset, len)
    }

    fn supports_self_test(&self) -> bool {
        true
    }

    /// The offline test writes registers and raises interrupts, so it
    /// needs a stopped port (as Linux takes the interface down for it).
    fn self_test(&mut self, offline: bool) -> Result<Vec<SelfTestRow>, PortError> {
        if offline && self.live.is_some() {
            return Err(PortError::InvalidState("the offline self-test needs a stopped port: stop it first".into()));
        }
        if !offline {
            return Ok(diag::online_rows(&self.hw));
        }
        // MSI-X messages are memory writes: the interrupt test needs bus
        // mastering, which a stopped port has off.
        self.set_bus_master(true)?;
        let register = diag::register_test(&self.hw);
        let eeprom = diag::eeprom_test(&self.hw);
        let interrupt = diag::interrupt_test(&self.hw, self.dev.as_deref());
        self.set_bus_master(false)?;
        let loopback = self.loopback_test();
        let link = diag::link_test(&self.hw);
        Ok(diag::rows([register, eeprom, interrupt, loopback, link]))
    }

    fn identify(&mut self, duration: std::time::Duration) -> Result<(), PortError> {
        diag::identify(&self.hw, duration);
        Ok(())
    }

    fn coalesce(&self) -> Result<Coalesce, PortError> {
        Ok(Coalesce { rx_usecs: self.itr_usecs })
    }

    /// EITR per receive vector (0..=8191 µs); applies at once when open.
    fn set_coalesce(&mut self, c: &Coalesce) -> Result<(), PortError> {
        if c.rx_usecs > EITR_INTERVAL_MASK >> 2 {
            return Err(PortError::InvalidConfig(format!(
                "rx-usecs {} is above the 82576's EITR limit {}",
                c.rx_usecs,
                EITR_INTERVAL_MASK >> 2
            )));
        }
        self.itr_usecs = c.rx_usecs;
        if self.irqs.is_some() {
            link::set_itr(&self.hw, self.conf.rx_queues, c.rx_usecs);
        }
        Ok(())
    }
}

impl Drop for IgbPort {
    fn drop(&mut self) {
        if let Some(live) = self.live.take() {
            live.store(false, Ordering::Release);
        }
        self.release_irqs();
        if let Err(e) = self.quiesce() {
            log::warn!("ferrite igb: {}: closing: {e}", self.name);
        }
        self.hw.clear_bits(CTRL_EXT, CTRL_EXT_DRV_LOAD);
    }
}

#[cfg(test)]
mod tests {
    //! The driver against a register file in memory that plays the 82576:
    //! the test writes descriptors back the way the device would.

    use super::*;
    use crate::mem::{MbufBatch, MempoolConfig};
    pub(crate) use crate::test_frames::mbuf_of;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Registers as a map; CTRL.RST self-clears, MDIC and EERD complete at
    /// once; reading the high half of an octet pair clears both halves (as
    /// on QEMU). While [`TRAFFIC`] is set on the reading thread, a 68-byte
    /// frame lands right after every register read (counted in [`LANDED`]).
    struct FakeRegs(RegMap);

    /// The fake's registers, shared with the test.
    type RegMap = Arc<Mutex<HashMap<u32, u32>>>;

    /// The statistics registers (§8.19), all clear-on-read.
    const STATS_RANGE: std::ops::RangeInclusive<u32> = 0x4000..=0x40FF;
    /// A key no register has: while it is in the map, the device is
    /// unplugged (every read returns all ones, writes go nowhere).
    const UNPLUGGED: u32 = u32::MAX;

    thread_local! {
        static TRAFFIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        static LANDED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
        /// While set (on the writing thread), queue 0 ignores being disabled.
        static STUCK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    impl RegisterIo for FakeRegs {
        fn read32(&self, off: u32) -> u32 {
            let mut m = self.0.lock().unwrap();
            if m.contains_key(&UNPLUGGED) {
                return u32::MAX;
            }
            let val = *m.get(&off).unwrap_or(&0);
            if matches!(off, GORCH | GOTCH | TORH | TOTH) {
                m.insert(off, 0);
                m.insert(off - 4, 0);
            } else if STATS_RANGE.contains(&off) && !matches!(off, GORCL | GOTCL | TORL | TOTL) {
                m.insert(off, 0);
            }
            if TRAFFIC.get() {
                *m.entry(GORCL).or_default() += 68;
                LANDED.set(LANDED.get() + 1);
            }
            val
        }
        fn write32(&self, off: u32, val: u32) {
            let mut m = self.0.lock().unwrap();
            if m.contains_key(&UNPLUGGED) {
                return;
            }
            let val = match off {
                CTRL => val & !CTRL_RST,
                MDIC => (val & !MDIC_DATA_MASK) | MDIC_READY | if val & MDIC_OP_READ != 0 { 0x1140 } else { 0 },
                EERD => EERD_DONE | (0x2010 << EERD_DATA_SHIFT),
                _ if STUCK.get() && (off == rxdctl(0) || off == txdctl(0)) => val | DCTL_ENABLE,
                _ => val,
            };
            m.insert(off, val);
        }
    }

    fn fake_port() -> (IgbPort, Arc<Hw>) {
        let (port, hw, _) = fake_port_and_regs();
        (port, hw)
    }

    /// A port on the fake, and the fake's registers to look at without
    /// the side effects of a read.
    fn fake_port_and_regs() -> (IgbPort, Arc<Hw>, RegMap) {
        let map = Arc::new(Mutex::new(HashMap::from([
            (STATUS, STATUS_LU | STATUS_FD | (2 << STATUS_SPEED_SHIFT)),
            (ral(0), 0x0000_5452),
            (rah(0), RAH_AV | 0x001b),
            (EECD, EECD_AUTO_RD),
        ])));
        let regs = FakeRegs(Arc::clone(&map));
        let port = IgbPort::probe("fake", Hw::new(Box::new(regs), Media::Copper), 0x10C9, IovaMode::Va, None).unwrap();
        let hw = Arc::clone(&port.hw);
        (port, hw, map)
    }

    /// Regression: the 32-bit hardware counters were read only when someone
    /// asked, so between two reads far apart they could run out (2^32
    /// frames take under 50 minutes at line rate). The link thread now
    /// folds them in every period, and leaves the octet pairs alone.
    #[test]
    fn link_thread_folds_the_32_bit_counters_in_on_its_own() {
        let (port, hw, regs) = fake_port_and_regs();
        let period = std::time::Duration::from_millis(10);
        let thread = spawn_link_thread(&port, &hw, period);
        let device_has = |off: u32| regs.lock().unwrap().get(&off).copied().unwrap_or(0);
        regs.lock().unwrap().insert(GORCL, 5);
        // Two periods' worth of frames, 3e9 each: 6e9 in all, over 2^32.
        for _ in 0..2 {
            regs.lock().unwrap().insert(GPRC, 3_000_000_000);
            let start = std::time::Instant::now();
            while device_has(GPRC) != 0 {
                assert!(start.elapsed().as_secs() < 30, "the link thread never read GPRC");
                std::thread::sleep(period);
            }
        }
        assert_eq!(device_has(GORCL), 5, "the periodic read must not touch the octet pairs");
        drop(thread);
        let stat = |name: &str| port.named_stats().into_iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(stat("rx_packets"), 6_000_000_000);
        assert_eq!(stat("rx_bytes"), 5);
    }

    fn pool(n: usize) -> Mempool {
        let mut cfg = MempoolConfig::new("igb-test", n);
        cfg.cache_size = 0;
        cfg.dma.fallback = Fallback::SmallPages;
        Mempool::new(&cfg).unwrap()
    }

    /// Configures `port` on `pool` (64 receive descriptors, `tx_ring`
    /// transmit descriptors, one queue each) and opens it.
    fn open_on(port: &mut IgbPort, pool: &Mempool, tx_ring: u16) -> Queues {
        let conf = PortConfig { rx_ring_size: 64, tx_ring_size: tx_ring, ..PortConfig::default() };
        port.configure(&conf, pool).unwrap();
        port.open().unwrap()
    }

    /// Appends `n` 60-byte frames from `pool` to `batch`.
    fn fill(pool: &Mempool, batch: &mut MbufBatch, n: usize) {
        assert!(pool.alloc_bulk(batch, n));
        batch.iter_mut().for_each(|m| assert!(m.set_len(60)));
    }

    /// Plays the device: writes receive descriptor `slot` of queue 0 back
    /// with `len` bytes and `status` (DD last, as the device does).
    fn write_back(hw: &Hw, slot: usize, len: u32, status: u32) {
        assert!(slot < 64, "the tests' receive rings hold 64 descriptors");
        let d = desc(hw, rdbal(0), rdbah(0), slot);
        // SAFETY: `d` is descriptor `slot` of the live 64-descriptor ring
        // the driver programmed; the driver reads it only volatile.
        unsafe {
            d.add(3).write_volatile(len);
            d.add(2).write_volatile(status);
        }
    }

    /// A link thread on the fake port that folds counters every `period`
    /// and has no removal channel.
    fn spawn_link_thread(port: &IgbPort, hw: &Arc<Hw>, period: std::time::Duration) -> LinkThread {
        let stats = Arc::clone(&port.hw_stats);
        LinkThread::spawn(Arc::clone(hw), Arc::clone(&port.link), None, stats, period, None).unwrap()
    }

    /// Pointer to descriptor `i` of a ring whose IOVA (= VA here) is in `bal`/`bah`.
    fn desc(hw: &Hw, bal: u32, bah: u32, i: usize) -> *mut u32 {
        let base = hw.read(bal) as u64 | (hw.read(bah) as u64) << 32;
        (base as usize + 16 * i) as *mut u32
    }

    /// Regression: `stats64()` once read every hardware counter, and on
    /// QEMU each periodic read while frames flowed lost the octets that
    /// landed between GORCL and GORCH. It must leave the octet pairs alone.
    #[test]
    fn periodic_stats_lose_no_octets_while_frames_arrive() {
        let (port, _) = fake_port();
        let rx_bytes = || port.named_stats().into_iter().find(|(n, _)| n == "rx_bytes").unwrap().1;
        let start = rx_bytes();
        TRAFFIC.set(true);
        for _ in 0..100 {
            port.stats64();
        }
        TRAFFIC.set(false);
        assert!(LANDED.get() >= 100, "the fake landed {} frames", LANDED.get());
        assert_eq!(rx_bytes() - start, 68 * LANDED.get() as u64, "octets lost by the periodic reads");
    }

    /// Regression: the receive limit was MTU + 14, so a full-size frame
    /// with a VLAN tag (1518 B at MTU 1500) was dropped as oversize and TCP
    /// over a VLAN stalled. One tag and two (QinQ) fit; one byte more not.
    #[test]
    fn tagged_full_size_frames_fit_a_1500_mtu() {
        let (mut port, hw) = fake_port();
        let pool = pool(256);
        let mut q = open_on(&mut port, &pool, 64);
        for (i, len) in [1514u32, 1518, 1522, 1523].into_iter().enumerate() {
            write_back(&hw, i, len, desc::RXD_STAT_DD | desc::RXD_STAT_EOP);
        }
        let mut batch = MbufBatch::new();
        q.rx[0].rx_burst(&mut batch, 32);
        let lens: Vec<usize> = batch.iter().map(|m| m.len()).collect();
        assert_eq!(lens, [1514, 1518, 1522], "untagged, 802.1Q and QinQ full-size frames are delivered");
        assert_eq!(sw_stat(&port, "rx_mtu_oversize_drops"), 1, "1523 B is over the limit");
        // Regression: reset_stats once left this counter (and lsc_interrupts).
        port.reset_stats().unwrap();
        assert_eq!(sw_stat(&port, "rx_mtu_oversize_drops"), 0, "reset_stats clears every counter");
        drop((batch, q));
        port.stop().unwrap();
        assert_eq!(pool.available(), pool.capacity());
    }

    /// Regression: an unplugged device answers every read with all ones,
    /// which read as "link up 1000/full" and wild counters. Now the port
    /// notices, reports itself removed, drops and counts what it is given,
    /// and stops without errors or timeouts.
    #[test]
    fn a_device_that_answers_all_ones_is_reported_removed() {
        let (mut port, hw, regs) = fake_port_and_regs();
        let pool = pool(256);
        let mut q = open_on(&mut port, &pool, 64);
        let events = port.link_events();
        let period = std::time::Duration::from_millis(10);
        let thread = spawn_link_thread(&port, &hw, period);
        let crc_before = sw_stat(&port, "rx_crc_errors");

        regs.lock().unwrap().insert(UNPLUGGED, 1);
        let start = std::time::Instant::now();
        let removal = loop {
            match events.try_next() {
                Some(e) if e.removed => break e,
                Some(_) => {}
                None => {
                    assert!(start.elapsed().as_secs() < 30, "no removal event");
                    std::thread::sleep(period);
                }
            }
        };
        assert!(!removal.status.up);
        assert!(!port.link_status().up, "all ones must not read as a link that is up");
        assert_eq!(sw_stat(&port, "rx_crc_errors"), crc_before, "all ones are not counts");
        let mut batch = MbufBatch::new();
        fill(&pool, &mut batch, 8);
        assert_eq!(q.tx[0].tx_burst(&mut batch), 8, "taken...");
        assert_eq!(sw_stat(&port, "tx_link_down_drops"), 8, "...dropped and counted");
        drop((q, thread));
        port.stop().expect("stopping a removed port is not an error");
        assert_eq!(pool.available(), pool.capacity());
    }

    /// Regression (found by `scripts/soak --guest`): refill was all or
    /// nothing per 32-buffer chunk, so with fewer spare buffers than that
    /// the ring was never re-armed and receive stopped for good. Now it
    /// re-arms with whatever the pool has.
    #[test]
    fn refill_takes_what_a_nearly_empty_pool_has() {
        let (mut port, hw) = fake_port();
        let pool = pool(64 + 8);
        let mut q = open_on(&mut port, &pool, 64);
        assert_eq!(pool.available(), 8, "the ring holds 64 of 72");
        for i in 0..32 {
            write_back(&hw, i, 60, desc::RXD_STAT_DD | desc::RXD_STAT_EOP);
        }
        let mut held = MbufBatch::new();
        assert_eq!(q.rx[0].rx_burst(&mut held, 32), 32);
        // 32 holes, 8 buffers in the pool: those 8 are armed at once.
        assert_eq!(pool.available(), 0, "the spare buffers went into the ring");
        assert_eq!(hw.read(rdt(0)), 7, "the device was handed slots 0..=7");
        assert_eq!(sw_stat(&port, "rx_alloc_failed"), 1, "the short refill is still counted");
        drop((held, q));
        port.stop().unwrap();
        assert_eq!(pool.available(), pool.capacity());
    }

    /// Regression: when a queue would not stop, its buffers went back to
    /// the pool while the device could still DMA into them. Now they are
    /// left to the device, counted, and never handed out again.
    #[test]
    fn buffers_of_a_queue_that_will_not_stop_are_never_reused() {
        let (mut port, _hw) = fake_port();
        let pool = pool(256);
        let mut q = open_on(&mut port, &pool, 64);
        let mut batch = MbufBatch::new();
        fill(&pool, &mut batch, 10);
        assert_eq!(q.tx[0].tx_burst(&mut batch), 10);
        let out = pool.capacity() - pool.available();
        assert_eq!(out, 64 + 10, "the receive ring's buffers and the frames in flight");
        STUCK.set(true);
        drop(q);
        STUCK.set(false);
        assert_eq!(sw_stat(&port, "mbufs_left_to_device"), out as u64);
        assert_eq!(pool.capacity() - pool.available(), out, "none went back to the pool");
        port.stop().unwrap();
        assert_eq!(pool.capacity() - pool.available(), out, "nor after stop");
    }

    /// Regression (with the engines' part in apps' fwd tests): completions
    /// were reclaimed only inside `tx_burst`. `tx_done_cleanup` hands back,
    /// with nothing to send, every group the device has written back late,
    /// and nothing the device still owns.
    #[test]
    fn tx_done_cleanup_frees_what_the_device_finished_late() {
        let (mut port, hw) = fake_port();
        let pool = pool(256);
        let mut q = open_on(&mut port, &pool, 128);
        let mut batch = MbufBatch::new();
        for _ in 0..2 {
            fill(&pool, &mut batch, 32);
            assert_eq!(q.tx[0].tx_burst(&mut batch), 32);
        }
        let parked = pool.available();
        assert_eq!(q.tx[0].tx_done_cleanup(), 0, "nothing written back yet");
        // The device finishes the first group only: DD on its RS slot.
        let group = tx::rs_thresh_for(128) as usize;
        assert!(group < 64, "the test needs two groups in flight");
        // SAFETY: the ring is live DMA memory of 64 descriptors.
        unsafe { desc(&hw, tdbal(0), tdbah(0), group - 1).add(3).write_volatile(desc::TXD_STAT_DD) };
        assert_eq!(q.tx[0].tx_done_cleanup(), group);
        assert_eq!(pool.available(), parked + group, "the finished group is back in the pool");
        assert_eq!(q.tx[0].tx_done_cleanup(), 0, "the rest still belongs to the device");
        drop(q);
        port.stop().unwrap();
        assert_eq!(pool.available(), pool.capacity());
    }

    #[test]
    fn probe_reads_mac_and_link() {
        let (port, _) = fake_port();
        assert_eq!(port.mac_address().to_string(), "52:54:00:00:1b:00");
        let st = port.link_status();
        assert!(st.up && st.speed_mbps == 1000 && st.duplex == crate::port::Duplex::Full, "{st:?}");
        assert_eq!(port.drvinfo().fw_version, "2.1");
    }

    #[test]
    fn open_programs_rings_then_rx_tx_and_stop_release_everything() {
        let (mut port, hw) = fake_port();
        let pool = pool(1024);
        let mut q = open_on(&mut port, &pool, 64);
        assert_eq!(hw.read(rdlen(0)), 64 * 16);
        assert_eq!(hw.read(rdt(0)), 63);
        assert_eq!(hw.read(srrctl(0)), 2 | SRRCTL_DESCTYPE_ADV_ONEBUF | SRRCTL_DROP_EN);
        assert_ne!(hw.read(rxdctl(0)) & DCTL_ENABLE, 0);
        assert_eq!(hw.read(RCTL) & (RCTL_EN | RCTL_SECRC | RCTL_BAM | RCTL_DTYP_MASK), RCTL_EN | RCTL_SECRC | RCTL_BAM);
        assert_eq!(hw.read(RLPML), 2048 + 4, "RLPML is the buffer; the MTU is checked in software");
        assert_ne!(hw.read(TCTL) & TCTL_EN, 0);
        assert_eq!(pool.available(), 1024 - 64);

        // The "device" receives 40 frames of 100 bytes, then one with a
        // frame error, one longer than the buffer, and one that fits the
        // buffer but is one byte over the MTU's limit (1500 + 22).
        for i in 0..43 {
            let status = match i {
                40 => desc::RXD_STAT_DD | desc::RXD_STAT_EOP | desc::RXD_ERR_RXE,
                _ => desc::RXD_STAT_DD | desc::RXD_STAT_EOP,
            };
            let len = match i {
                41 => 4000,
                42 => 1523,
                _ => 100,
            };
            write_back(&hw, i, len, status);
        }
        let mut batch = MbufBatch::new();
        assert_eq!(q.rx[0].rx_burst(&mut batch, 32), 32);
        assert_eq!(q.rx[0].rx_burst(&mut batch, 32), 8);
        assert!(batch.iter().all(|m| m.len() == 100));
        let s = port.stats64();
        assert_eq!((s.rx_queues[0].packets, s.rx_queues[0].bytes, s.rx_queues[0].drops), (40, 4000, 3));
        assert_eq!(sw_stat(&port, "rx_mtu_oversize_drops"), 1, "the over-MTU frame is counted");
        // The first burst emptied 32 slots (>= the refill threshold of
        // 64 / 4): refilled, tail just before slot 32. The second left 11
        // holes, below the threshold: no doorbell yet.
        assert_eq!(hw.read(rdt(0)), 31);

        // Transmit the 40 frames: one doorbell, tail 40.
        assert_eq!(q.tx[0].tx_burst(&mut batch), 40);
        assert!(batch.is_empty());
        assert_eq!(hw.read(tdt(0)), 40);
        let d = desc(&hw, tdbal(0), tdbah(0), 0);
        // SAFETY: as above.
        let cmd = unsafe { d.add(2).read_volatile() };
        assert_eq!(cmd & 0xFFFF, 100);
        assert_ne!(cmd & desc::TXD_CMD_EOP, 0);
        // Device completes the first RS group (slots 0..32, RS on slot 31).
        let rs = desc(&hw, tdbal(0), tdbah(0), 31);
        // SAFETY: as above.
        unsafe { rs.add(3).write_volatile(desc::TXD_STAT_DD) };
        let before = pool.available();
        assert_eq!(q.tx[0].tx_burst(&mut batch), 0);
        assert_eq!(pool.available(), before + 32);

        drop(q);
        port.stop().unwrap();
        assert_eq!(hw.read(RCTL) & RCTL_EN, 0);
        assert_eq!(hw.read(TCTL) & TCTL_EN, 0);
        assert_eq!(hw.read(rxdctl(0)) & DCTL_ENABLE, 0);
        assert_eq!(hw.read(txdctl(0)) & DCTL_ENABLE, 0);
        assert_eq!(pool.available(), 1024);
        assert!(matches!(port.stop(), Err(PortError::InvalidState(_))));
    }

    fn sw_stat(port: &IgbPort, name: &str) -> u64 {
        port.named_stats().into_iter().find(|s| s.0 == name).unwrap_or_else(|| panic!("no stat {name}")).1
    }

    #[test]
    fn link_down_drops_link_up_rewrites_tdt_and_watchdog_resets_a_stuck_ring() {
        let (mut port, hw) = fake_port();
        let pool = pool(1024);
        port.configure(&PortConfig { rx_ring_size: 64, tx_ring_size: 64, ..PortConfig::default() }, &pool).unwrap();
        port.set_tx_timeout(std::time::Duration::from_millis(50)).unwrap();
        let ev = port.link_events();
        let mut q = port.open().unwrap();
        assert!(port.link_update(false).up);
        let frames = |n: usize| {
            let mut b = MbufBatch::new();
            assert!(pool.alloc_bulk(&mut b, n));
            b.iter_mut().for_each(|m| assert!(m.set_len(60)));
            b
        };

        // The "device" loses the link: transmit drops and counts.
        hw.write(STATUS, 0);
        assert!(!port.link_update(false).up);
        assert!(!ev.try_next().expect("a down event").status.up);
        let mut b = frames(10);
        assert_eq!(q.tx[0].tx_burst(&mut b), 10);
        assert!(b.is_empty());
        assert_eq!(sw_stat(&port, "tx_link_down_drops"), 10);
        assert_eq!(port.stats64().tx_queues[0].drops, 10);
        assert_eq!(hw.read(tdt(0)), 0, "no doorbell while down");

        // Link back: the queue's next burst rewrites TDT (QEMU's quirk).
        hw.write(tdt(0), 0x55);
        hw.write(STATUS, STATUS_LU | STATUS_FD | (2 << STATUS_SPEED_SHIFT));
        let up = port.link_update(false);
        assert!(up.up && up.speed_mbps == 1000);
        assert_eq!(ev.try_next().expect("an up event").status, up);
        assert_eq!(q.tx[0].tx_burst(&mut MbufBatch::new()), 0);
        assert_eq!(hw.read(tdt(0)), 0, "TDT rewritten with the queue's tail");

        // The device never completes anything: the ring fills (63), TDH
        // stays put, the watchdog resets the queue and frees the buffers.
        let in_rx = 1024 - pool.available();
        let t0 = std::time::Instant::now();
        while sw_stat(&port, "tx_timeout_count") == 0 {
            assert!(t0.elapsed() < std::time::Duration::from_secs(30), "watchdog never fired");
            let mut b = frames(16);
            q.tx[0].tx_burst(&mut b);
            drop(b);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(pool.available(), 1024 - in_rx, "every parked transmit buffer went back");
        assert_eq!((hw.read(tdh(0)), hw.read(tdt(0))), (0, 0));
        assert_ne!(hw.read(txdctl(0)) & DCTL_ENABLE, 0, "queue running again");
        let mut b = frames(8);
        assert_eq!(q.tx[0].tx_burst(&mut b), 8, "and it takes frames again");
        assert_eq!(hw.read(tdt(0)), 8);
        drop(q);
        port.stop().unwrap();
        assert_eq!(pool.available(), 1024);
    }

    /// Linux's netdev aggregates (igb_update_stats) from the registers, and
    /// RLEC kept out of `rx_length_errors`.
    #[test]
    fn linux_aggregates_sum_the_registers_linux_sums() {
        let (port, _hw, regs) = fake_port_and_regs();
        let counts = [
            (RXERRC, 1),
            (CRCERRS, 2),
            (ALGNERRC, 4),
            (RUC, 8),
            (ROC, 16),
            (CEXTERR, 32),
            (RLEC, 1000),
            (ECOL, 64),
            (LATECOL, 128),
            (TNCRS, 256),
            (rqdpc(0), 3),
            (rqdpc(1), 5),
        ];
        regs.lock().unwrap().extend(counts);
        let stats: std::collections::HashMap<String, u64> = port.named_stats().into_iter().collect();
        assert_eq!(stats["rx_errors"], 1 + 2 + 4 + 8 + 16 + 32);
        assert_eq!(stats["rx_length_errors"], 8 + 16, "RUC + ROC, as Linux, not RLEC");
        assert_eq!(stats["rx_hw_length_errors"], 1000);
        assert_eq!(stats["rx_crc_errors"], 2);
        assert_eq!(stats["rx_frame_errors"], 4);
        assert_eq!(stats["rx_phy_errors"], 1);
        assert_eq!(stats["tx_errors"], 64 + 128);
        assert_eq!(stats["tx_carrier_errors"], 256);
        assert_eq!(stats["rx_fifo_errors"], 8);
    }

    #[test]
    fn a_burst_the_full_ring_cuts_short_counts_one_restart() {
        let (mut port, _hw) = fake_port();
        let pool = pool(1024);
        let mut q = open_on(&mut port, &pool, 64);
        // The fake device completes nothing: 63 slots hold frames, then none.
        let mut b = MbufBatch::new();
        fill(&pool, &mut b, 40);
        assert_eq!(q.tx[0].tx_burst(&mut b), 40);
        assert_eq!((sw_stat(&port, "tx_queue_0_restart"), sw_stat(&port, "tx_restart_queue")), (0, 0));
        fill(&pool, &mut b, 40);
        assert_eq!(q.tx[0].tx_burst(&mut b), 23, "one slot stays empty");
        assert_eq!(b.len(), 17, "the rest stays with the caller");
        assert_eq!((sw_stat(&port, "tx_queue_0_restart"), sw_stat(&port, "tx_restart_queue")), (1, 1));
        assert_eq!(sw_stat(&port, "tx_queue_0_packets"), 63);
        drop((b, q));
        port.stop().unwrap();
        assert_eq!(pool.available(), 1024);
    }

    #[test]
    fn mtu_needs_buffers_that_fit() {
        let (mut port, _) = fake_port();
        let pool = pool(256);
        port.configure(&PortConfig { rx_ring_size: 64, tx_ring_size: 64, ..PortConfig::default() }, &pool).unwrap();
        let e = port.change_mtu(9000).unwrap_err().to_string();
        assert!(e.contains("--mbuf-size 9216"), "{e}");
        // A 2048-byte buffer holds MTU + 14 header + 8 (two tags) + 4 CRC.
        assert!(port.change_mtu(2022).is_ok());
        assert!(port.change_mtu(2023).is_err());
    }

    /// Scattered receive and chained transmit.
    mod chains;
    /// Receive filters and receive offloads.
    mod rx_offloads;
    /// Transmit offloads: context descriptors, checksums, TSO, VLAN insertion.
    mod tx_offloads;

    #[test]
    fn tx_groups_fit_the_ring() {
        assert_eq!(tx::rs_thresh_for(32), 16);
        assert_eq!(tx::rs_thresh_for(512), 32);
        assert_eq!(tx::rs_thresh_for(40), 8);
        assert_eq!(tx::rs_thresh_for(4096), 32);
    }
}
