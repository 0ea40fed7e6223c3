//! virtio-net: a poll-mode driver for modern (virtio 1.x) virtio-net PCI
//! devices, `1af4:1041`, over VFIO: QEMU's
//! `-device virtio-net-pci,disable-legacy=on,iommu_platform=on`, and the
//! NIC of most KVM cloud VMs.
//!
//! One concept per file, in the order a device is brought up:
//!
//! * [`regs`]: the spec's numbers (capabilities, common configuration,
//!   status and feature bits, `virtio_net_config`, the packet header);
//! * [`pci`]: the capability walk that finds the common, notify, ISR and
//!   device structures in the BARs;
//! * `transport`: typed access to them and the initialisation handshake
//!   (reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK, queues,
//!   DRIVER_OK; FAILED on error);
//! * `virtq`: split and packed virtqueues in DMA memory, with the
//!   barriers the spec asks for and the notification suppression this
//!   driver uses (flags, or EVENT_IDX when negotiated);
//! * `rx` / `tx`: the receive and transmit queues (`RxQueue` /
//!   `TxQueue`), generic over the ring layout, the `virtio_net_hdr` in the
//!   mbuf headroom, mergeable receive buffers as mbuf chains;
//! * `net_hdr`: a frame's checksum and TSO requests as that header;
//! * `session`: what the queues of one open share (the device reset that
//!   makes their memory safe to free);
//! * `irq`: MSI-X vectors (configuration changes, one per receive
//!   queue) and a receive queue's interrupt;
//! * `link`: the link state from VIRTIO_NET_F_STATUS, as link events;
//! * `ctrl` / `filters`: the control queue and what goes through it.
//!
//! # Life cycle
//!
//! * **probe** ([`VirtioPort::open_vfio`] → [`VirtioPort::probe`]): reset,
//!   ACKNOWLEDGE, DRIVER, negotiate, FEATURES_OK (checked), then read the
//!   MAC, MTU and link from the device configuration. The device stays at
//!   FEATURES_OK, doing nothing, until the port is opened.
//! * **open**: bus mastering on, the whole handshake again from a reset
//!   (the device forgets its queues and vectors on every reset, and a
//!   stopped port was reset), MSI-X vectors from VFIO and `msix_config`
//!   (see `irq`), receive and transmit virtqueues set up with their
//!   vectors, packed if RING_PACKED was negotiated, split otherwise
//!   (receive filled with buffers first), DRIVER_OK, one kick so the
//!   device sees the buffers, the link thread.
//! * **stop / a queue dropped / close**: a device reset, confirmed by the
//!   status reading 0, before any ring or buffer goes back (see
//!   `session`); the vectors back to VFIO; bus mastering off.
//!
//! # Interrupts
//!
//! Receive queues support `enable_interrupt` (testpmd's `--rx-mode
//! adaptive|interrupt`) through their MSI-X vector and the rings'
//! notification suppression (see `virtq` on interrupt mode); link
//! changes arrive on the configuration vector. Statistics:
//! `msix_vectors` (vectors the device accepted in the last open: 1 + the
//! queue pairs, or 0 when polled), `rx_queue_N_interrupts` (the device's
//! receive interrupts per queue) and `lsc_interrupts` (configuration
//! changes), igb's name.
//!
//! # Features
//!
//! Required: VERSION_1 (a legacy-only device is refused, saying to use
//! `disable-legacy=on`) and, behind an IOMMU (`--iova-mode va`),
//! ACCESS_PLATFORM (`iommu_platform=on`), without which the device would
//! bypass the IOMMU. Taken when offered: MAC, STATUS, MTU, MRG_RXBUF,
//! SPEED_DUPLEX, CSUM, HOST_TSO4, HOST_TSO6 (transmit offloads through the
//! header: `tcp_cksum`, `udp_cksum`, `tcp_tso`; see `net_hdr`),
//! CTRL_VQ, CTRL_RX, CTRL_MAC_ADDR, MQ (and CTRL_VLAN per open, see
//! `filters`; GUEST_CSUM per open, see `rx_csum`), RING_PACKED (packed virtqueues, asked for with a device argument,
//! DPDK virtio_user's word: `-a ADDR,packed_vq=1` ([`DeviceArgs`] says
//! why they are not the default); without it the port runs split
//! rings) and RING_EVENT_IDX (event-index notification suppression; split
//! rings only, see `virtq::packed`). `drvinfo` and the named statistics show what was
//! offered and negotiated (`features_offered`, `features_negotiated`), as
//! do `pmdinfo ADDR` and `pmdinfo -k ADDR[,packed_vq=1]`; RING_PACKED in
//! the negotiated set is what says the rings are packed.
//!
//! # Control queue, filters, multi-queue
//!
//! With CTRL_VQ the port runs the control queue (`ctrl`) and keeps its
//! receive filters (`filters`: CTRL_RX promiscuous, all-multicast and
//! the MAC table, CTRL_MAC_ADDR, CTRL_VLAN for the opens that ask for
//! `vlan_filter`), sent at every open and on every change while it runs.
//! With MQ it runs the queue pairs configured, up to the device's
//! `max_virtqueue_pairs` (pair p: virtqueues 2p and 2p+1; the control
//! queue after all of them), and tells the device with VQ_PAIRS_SET.
//!
//! # Not in this slice
//!
//! No receive segmentation offloads (GUEST_TSO4/6, GUEST_UFO, GUEST_ECN:
//! the device would hand over frames of up to 64 KiB that ferrite would
//! have to segment before forwarding them; declined, the device segments
//! them first), no INTx or MSI fallback (without
//! MSI-X the port polls), no indirect descriptors, no IN_ORDER, and no
//! NOTIFICATION_DATA. Offered receive offloads: `scatter` (with
//! MRG_RXBUF), `vlan_filter` (with CTRL_VLAN), `tcp_cksum` and `udp_cksum`
//! (with GUEST_CSUM, see `rx_csum`).

pub(crate) mod ctrl;
pub(crate) mod filters;
pub(crate) mod irq;
pub(crate) mod link;
pub(crate) mod net_hdr;
pub mod pci;
pub mod regs;
pub(crate) mod rx;
pub(crate) mod rx_csum;
pub(crate) mod session;
pub(crate) mod transport;
pub(crate) mod tx;
pub(crate) mod virtq;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferrite_hugepages::{DmaMapper, DmaOptions, Fallback, IovaMode, PageSize};
use ferrite_vfio::{Bar, EventFd, IommuMode, VfioDevice};

use ctrl::{Control, CtrlQueue, CtrlSetup};
use filters::{CtrlFeatures, RxFilters};
use irq::{Msix, RxIrq, VectorSource, CONFIG_VECTOR};
use link::{LinkState, LinkThread};
use net_hdr::HdrOffloads;
use regs::*;
use rx::{RxSetup, RxStats, VirtioRxQueue};
use session::Session;
use transport::PER_OPEN;
use transport::{BarWindow, Doorbell, Negotiated, Transport};
use tx::{TxSetup, TxStats, VirtioTxQueue};
use virtq::packed::PackedRing;
use virtq::split::SplitRing;
use virtq::{QueueArena, Virtqueue, MAX_QUEUE_SIZE};

use crate::ether::max_frame_len;
use crate::mem::Mempool;
use crate::port::stat_names::*;
use crate::port::{
    Channels, Counter, DeviceCaps, DrvInfo, EthtoolOps, LinkEvents, LinkStatus, MacAddr, NetDevice, PortConfig,
    PortError, PortStats, QueueCounters, Queues, RingParams, RxMode, RxOffloads, TxOffloads,
};

/// Driver name reported by `drvinfo` (Linux's is `virtio_net` too).
pub const DRIVER_NAME: &str = "virtio_net";

/// Smallest MTU (IPv4's minimum, as Linux).
pub const MIN_MTU: u16 = 68;
/// Largest MTU without VIRTIO_NET_F_MTU: DPDK's virtio PMD limit (a
/// 9728-byte frame less the Ethernet header, one VLAN tag and the
/// virtio-net header).
pub const DEFAULT_MAX_MTU: u16 = 9728 - 14 - 4 - NET_HDR_LEN as u16;
/// Smallest ring this driver accepts.
pub const MIN_RING: u16 = 32;

/// Device arguments of a virtio-net port, given after its address on `-a`
/// (`-a 0000:03:00.0,packed_vq=1`), with DPDK virtio_user's key names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceArgs {
    /// `packed_vq=1`: take VIRTIO_F_RING_PACKED when offered;
    /// `packed_vq=0` (default): decline it, so the queues are split rings.
    /// Packed rings are opt-in: QEMU 10.0 breaks a packed transmit ring
    /// whose link goes down with frames in it (see `link`), which split
    /// rings survive.
    pub packed_vq: bool,
}

impl DeviceArgs {
    /// What the driver accepts, for messages.
    pub const KEYS: &'static str = "packed_vq=0|1";

    /// Reads `key=value` pairs; an unknown key or a bad value is an error
    /// naming what is accepted.
    pub fn parse(who: &str, args: &[(&str, &str)]) -> Result<DeviceArgs, PortError> {
        let mut out = DeviceArgs::default();
        for &(key, value) in args {
            match (key, value) {
                ("packed_vq", "0") => out.packed_vq = false,
                ("packed_vq", "1") => out.packed_vq = true,
                ("packed_vq", v) => {
                    return Err(PortError::InvalidConfig(format!(
                        "{who}: packed_vq={v}: packed_vq takes 0 (split rings) or 1 (packed rings when offered)"
                    )))
                }
                (k, _) => {
                    return Err(PortError::InvalidConfig(format!(
                        "{who}: unknown device argument '{k}' for {DRIVER_NAME}; it takes {}",
                        Self::KEYS
                    )))
                }
            }
        }
        Ok(out)
    }

    /// Feature bits not to accept even when offered.
    fn declined(&self) -> u64 {
        if self.packed_vq {
            0
        } else {
            bit(F_RING_PACKED)
        }
    }
}

/// Whether this driver claims `vendor:device`.
pub fn supports(vendor: u16, device: u16) -> bool {
    vendor == VENDOR_VIRTIO && device == DEVICE_NET_MODERN
}

/// The error for a transitional (legacy-capable) virtio-net, `1af4:1000`.
pub fn legacy_error(addr: &str) -> PortError {
    PortError::Device(format!(
        "{addr} is 1af4:1000, a transitional (legacy) virtio-net device; ferrite drives modern virtio 1.x \
         devices (1af4:1041) only: start QEMU with -device virtio-net-pci,disable-legacy=on (and \
         iommu_platform=on behind a vIOMMU)"
    ))
}

/// What [`peek`] reads from a device without taking it over.
#[derive(Clone, Debug)]
pub struct Peek {
    /// Feature bits the device offers.
    pub offered: u64,
    /// The MAC address, if the device offers VIRTIO_NET_F_MAC.
    pub mac: Option<MacAddr>,
    /// `status` (VIRTIO_NET_S_*), if the device offers VIRTIO_NET_F_STATUS.
    pub status: Option<u16>,
    /// Device status byte (`STATUS_*`).
    pub device_status: u8,
    /// Where the structures are.
    pub caps: pci::VirtioCaps,
}

/// Reads the offered features, MAC and link of an opened virtio-net device
/// (no reset; the only write is the feature-window select).
pub fn peek(dev: &Arc<VfioDevice>) -> Result<Peek, PortError> {
    let (caps, t) = transport_of(dev)?;
    let offered = t.device_features();
    let mac = (offered & bit(NET_F_MAC) != 0).then(|| read_mac(&t));
    let status = (offered & bit(NET_F_STATUS) != 0)
        .then(|| t.read_config(|w, len| (len >= NET_CFG_STATUS + 2).then(|| w.read16(NET_CFG_STATUS))))
        .flatten();
    Ok(Peek { offered, mac, status, device_status: t.status(), caps })
}

/// Finds the structures and maps the BARs they live in.
fn transport_of(dev: &Arc<VfioDevice>) -> Result<(pci::VirtioCaps, Transport), PortError> {
    let who = dev.pci_addr();
    let caps = pci::find_caps(&**dev, who)?;
    let device = caps
        .device
        .ok_or_else(|| PortError::Device(format!("{who}: the virtio device has no device-configuration capability")))?;
    let mut bars: [Option<Arc<Bar>>; 6] = Default::default();
    let mut window = |r: &pci::Region, what: &str| -> Result<Box<dyn transport::Window>, PortError> {
        let slot = &mut bars[r.bar as usize];
        let bar = match slot {
            Some(b) => Arc::clone(b),
            None => Arc::clone(slot.insert(Arc::new(dev.map_bar(r.bar as u32)?))),
        };
        pci::check_in_bar(r, bar.len(), what, who)?;
        Ok(Box::new(BarWindow::new(bar, r)))
    };
    let common = window(&caps.common, "common configuration")?;
    let dev_cfg = window(&device, "device configuration")?;
    let notify = window(&caps.notify, "notification area")?;
    let t = Transport::new(who, common, dev_cfg, device.length, notify, caps.notify.length, caps.notify_off_multiplier);
    Ok((caps, t))
}

fn read_mac(t: &Transport) -> MacAddr {
    t.read_config(|w, len| {
        let mut m = [0u8; 6];
        if len >= NET_CFG_MAC + 6 {
            for (i, b) in m.iter_mut().enumerate() {
                *b = w.read8(NET_CFG_MAC + i as u32);
            }
        }
        MacAddr(m)
    })
}

/// A locally administered unicast address for a device without
/// VIRTIO_NET_F_MAC (as Linux's `eth_hw_addr_random`).
fn random_mac() -> MacAddr {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    let b = h.finish().to_le_bytes();
    MacAddr([(b[0] & 0xfe) | 0x02, b[1], b[2], b[3], b[4], b[5]])
}

/// The doorbells `start` rings: every receive queue's once after
/// DRIVER_OK; every transmit queue's is the link thread's to ring when the
/// link comes back.
struct Doorbells {
    rx: Vec<Doorbell>,
    tx: Vec<Doorbell>,
}

/// Per-queue counters, kept across stop/open.
struct QueueStatsSet {
    rx: Arc<QueueCounters>,
    rx_more: Arc<RxStats>,
    /// Receive-queue MSI-X interrupts.
    rx_irqs: Arc<Counter>,
    tx: Arc<QueueCounters>,
    tx_more: Arc<TxStats>,
}

/// Each named counter of `named` (one queue's list) summed over `queues`,
/// in the list's order: the port-wide rows of `ethtool -S`.
fn summed_over_queues<const N: usize>(
    queues: &[QueueStatsSet],
    named: impl Fn(&QueueStatsSet) -> [(&'static str, &Counter); N],
) -> impl Iterator<Item = (String, u64)> {
    let mut sums = [0u64; N];
    for q in queues {
        for (sum, (_, c)) in sums.iter_mut().zip(named(q)) {
            *sum += c.get();
        }
    }
    let names = queues.first().map(|q| named(q).map(|(n, _)| n));
    names.into_iter().flat_map(move |names| names.into_iter().zip(sums).map(|(n, v)| (n.to_string(), v)))
}

impl QueueStatsSet {
    fn new() -> QueueStatsSet {
        QueueStatsSet {
            rx: Arc::default(),
            rx_more: Arc::default(),
            rx_irqs: Arc::default(),
            tx: Arc::default(),
            tx_more: Arc::default(),
        }
    }
}

/// A virtio-net port.
pub struct VirtioPort {
    name: Arc<str>,
    transport: Arc<Transport>,
    /// Keeps the VFIO device (and so the BARs and the group) open.
    dev: Option<Arc<VfioDevice>>,
    iova_mode: IovaMode,
    mapper: Option<Arc<dyn DmaMapper>>,
    /// Features the device arguments decline.
    declined: u64,
    negotiated: Negotiated,
    mac: MacAddr,
    mtu: u16,
    max_mtu: u16,
    /// Largest queue sizes the device allows (receive, transmit).
    max_queue: (u16, u16),
    /// Longest frame the receive path accepts, read once per burst.
    rx_max_len: Arc<AtomicU32>,
    conf: PortConfig,
    /// The ring sizes in use: the configured ones, reduced to the device's
    /// maximum.
    rings: (u16, u16),
    configured: bool,
    pool: Option<Mempool>,
    /// Counters of every queue pair the device has (index = pair).
    qstats: Vec<QueueStatsSet>,
    /// Queue pairs the device has (`max_virtqueue_pairs` with MQ, else 1).
    max_pairs: u16,
    /// Queue pairs configured.
    pairs: u16,
    /// The current open.
    session: Option<Arc<Session>>,
    /// The control queue of the current open (with CTRL_VQ); dropped after
    /// the device reset, like the data queues.
    ctrl: Option<Box<dyn Control>>,
    /// How long a control command may take.
    ctrl_timeout: Duration,
    /// What the device is asked to receive (sent at every open).
    filters: RxFilters,
    link: Arc<LinkState>,
    link_thread: Option<LinkThread>,
    /// The MSI-X vectors of the current open, if it has them.
    msix: Option<Msix>,
    /// Vectors the device accepted in the last open (configuration and
    /// receive), for the `msix_vectors` statistic (kept after a stop, so
    /// a final report shows it); 0: polled.
    vectors_in_use: u16,
    /// Tests: the vectors a device in software pretends to have.
    #[cfg(test)]
    soft_msix: u32,
}

impl VirtioPort {
    /// Opens the virtio-net device at `pci_addr` (bound to vfio-pci) and
    /// negotiates features with it, as `args` allow.
    pub fn open_vfio(pci_addr: &str, iova_mode: IovaMode, args: DeviceArgs) -> Result<VirtioPort, PortError> {
        let mode = match iova_mode {
            IovaMode::Va => IommuMode::Type1,
            IovaMode::Pa => IommuMode::NoIommu,
        };
        let dev = VfioDevice::open(pci_addr, mode)?;
        let (vendor, device) = dev.vendor_device()?;
        if vendor == VENDOR_VIRTIO && device == DEVICE_NET_TRANSITIONAL {
            return Err(legacy_error(dev.pci_addr()));
        }
        if !supports(vendor, device) {
            return Err(PortError::Device(format!(
                "{} is {vendor:04x}:{device:04x}, not a modern virtio-net device (1af4:1041)",
                dev.pci_addr()
            )));
        }
        let (_, transport) = transport_of(&dev)?;
        let mapper: Option<Arc<dyn DmaMapper>> = match iova_mode {
            IovaMode::Va => Some(Arc::clone(dev.container()) as Arc<dyn DmaMapper>),
            IovaMode::Pa => None,
        };
        // Memory decode (for the handshake's BAR accesses) and bus
        // mastering, on from here: the device DMAs only once queues are
        // enabled. ACCESS_PLATFORM is required only when DMA goes through
        // the IOMMU (VA mode); in PA mode addresses are physical anyway.
        dev.enable_bus_master()?;
        let behind_iommu = iova_mode == IovaMode::Va;
        let mut port = VirtioPort::probe(dev.pci_addr(), transport, iova_mode, mapper, behind_iommu, args)?;
        port.dev = Some(dev);
        Ok(port)
    }

    /// Negotiates with a device reached through `transport` and reads its
    /// configuration. `iommu`: DMA goes through an IOMMU (then the device
    /// must offer ACCESS_PLATFORM). Public so tests can drive it with a
    /// register file in memory.
    pub fn probe(
        name: &str,
        transport: Transport,
        iova_mode: IovaMode,
        mapper: Option<Arc<dyn DmaMapper>>,
        iommu: bool,
        args: DeviceArgs,
    ) -> Result<VirtioPort, PortError> {
        let t = Arc::new(transport);
        let declined = args.declined();
        // CTRL_VLAN waits for an open that asks for VLAN filtering, and
        // GUEST_CSUM for one that asks for receive checksums.
        let negotiated = transport::init(&t, declined | PER_OPEN, iommu)?;
        let fail = |e: PortError| {
            t.fail();
            e
        };
        let max_pairs = Self::read_max_pairs(name, &t, negotiated).map_err(fail)?;
        let max_queue = (t.queue_max_size(RX_QUEUE_0), t.queue_max_size(TX_QUEUE_0));
        if max_queue.0 < MIN_RING || max_queue.1 < MIN_RING {
            return Err(fail(PortError::Device(format!(
                "{name}: the device's virtqueues hold {} (rx) and {} (tx) entries; ferrite needs at least {MIN_RING}",
                max_queue.0, max_queue.1
            ))));
        }
        let mac = if negotiated.has(NET_F_MAC) { read_mac(&t) } else { random_mac() };
        let max_mtu = if negotiated.has(NET_F_MTU) {
            t.read_config(|w, len| if len >= NET_CFG_MTU + 2 { w.read16(NET_CFG_MTU) } else { DEFAULT_MAX_MTU })
        } else {
            DEFAULT_MAX_MTU
        };
        if max_mtu < MIN_MTU {
            return Err(fail(PortError::Device(format!("{name}: the device's MTU {max_mtu} is below {MIN_MTU}"))));
        }
        let mtu = max_mtu.min(1500);
        let name: Arc<str> = name.into();
        let link = Arc::new(LinkState::new(
            Arc::clone(&name),
            negotiated.has(NET_F_STATUS),
            negotiated.has(NET_F_SPEED_DUPLEX),
        ));
        let conf = PortConfig::default();
        Ok(VirtioPort {
            name,
            transport: t,
            dev: None,
            iova_mode,
            mapper,
            declined,
            negotiated,
            mac,
            mtu,
            max_mtu,
            rings: (conf.rx_ring_size.min(max_queue.0), conf.tx_ring_size.min(max_queue.1)),
            max_queue,
            rx_max_len: Arc::new(AtomicU32::new(max_frame_len(mtu) as u32)),
            conf,
            configured: false,
            pool: None,
            qstats: (0..max_pairs).map(|_| QueueStatsSet::new()).collect(),
            max_pairs,
            pairs: 1,
            session: None,
            ctrl: None,
            ctrl_timeout: ctrl::CTRL_TIMEOUT,
            filters: RxFilters::default(),
            link,
            link_thread: None,
            msix: None,
            vectors_in_use: 0,
            #[cfg(test)]
            soft_msix: 0,
        })
    }

    /// Tests: the port's vectors come from plain eventfds, as if the
    /// device had `n` MSI-X vectors (0: none).
    #[cfg(test)]
    pub(crate) fn set_soft_msix(&mut self, n: u32) {
        self.soft_msix = n;
    }

    /// The queue pairs the device has (`max_virtqueue_pairs` with MQ, else
    /// one), checked against its number of virtqueues (the pairs, then the
    /// control queue with CTRL_VQ).
    fn read_max_pairs(name: &str, t: &Transport, negotiated: Negotiated) -> Result<u16, PortError> {
        let max_pairs = if negotiated.has(NET_F_MQ) {
            t.read_config(|w, len| (len >= NET_CFG_MAX_QUEUE_PAIRS + 2).then(|| w.read16(NET_CFG_MAX_QUEUE_PAIRS)))
                .unwrap_or(0)
        } else {
            1
        };
        if !(1..=MQ_PAIRS_MAX).contains(&max_pairs) {
            return Err(PortError::Device(format!(
                "{name}: the device offers MQ with max_virtqueue_pairs {max_pairs}, outside 1..={MQ_PAIRS_MAX}"
            )));
        }
        // In u32: 0x8000 pairs (the spec's most) and a control queue need
        // more virtqueues than a 16-bit count can say, and the check must
        // refuse that rather than wrap.
        let need = 2 * u32::from(max_pairs) + u32::from(negotiated.has(NET_F_CTRL_VQ));
        if u32::from(t.num_queues()) < need {
            return Err(PortError::Device(format!(
                "{name}: the virtio-net device has {} virtqueues; {max_pairs} receive/transmit pair(s){} need {need}",
                t.num_queues(),
                if negotiated.has(NET_F_CTRL_VQ) { " and the control queue" } else { "" }
            )));
        }
        Ok(max_pairs)
    }

    /// Feature bits offered by the device and negotiated.
    pub fn features(&self) -> Negotiated {
        self.negotiated
    }

    fn scatter(&self) -> bool {
        self.conf.rx_offloads.contains(RxOffloads::SCATTER)
    }

    /// Checks that a frame of `mtu` fits one receive buffer unless
    /// `scatter` lets it span several.
    fn check_buffers(&self, mtu: u16, pool: &Mempool, scatter: bool) -> Result<(), PortError> {
        let need = max_frame_len(mtu);
        // A fresh mbuf's data room after the headroom; the header goes
        // into the headroom, so the whole room is frame.
        let have = pool.data_room();
        if need > have && !scatter {
            let how = if self.negotiated.has(NET_F_MRG_RXBUF) {
                ", or ask for the scatter receive offload (testpmd --rx-offloads scatter) to receive such frames \
                 as mbuf chains"
            } else {
                " (the device does not offer MRG_RXBUF, so frames cannot span buffers)"
            };
            return Err(PortError::InvalidConfig(format!(
                "mempool '{}' has {have} data bytes per buffer; MTU {mtu} needs {need}: create the pool with \
                 --mbuf-size {} or larger{how}",
                pool.name(),
                need.next_multiple_of(1024)
            )));
        }
        Ok(())
    }

    /// Refuses queue counts the device cannot run: a virtio queue pair is
    /// one receive and one transmit queue, and there are `max_pairs`.
    fn check_pairs(&self, rx: u16, tx: u16) -> Result<(), PortError> {
        if rx != tx {
            return Err(PortError::InvalidConfig(format!(
                "{}: {rx} rx / {tx} tx queues asked for; virtio-net queues come in receive/transmit pairs: give as \
                 many of each (testpmd --rxq N --txq N)",
                self.name
            )));
        }
        if rx > self.max_pairs {
            let how = if self.negotiated.has(NET_F_MQ) {
                "".to_string()
            } else {
                " (it does not offer VIRTIO_NET_F_MQ; QEMU: -device virtio-net-pci,mq=on,vectors=2N+2 with -netdev \
                 tap,...,queues=N)"
                    .to_string()
            };
            return Err(PortError::InvalidConfig(format!(
                "{}: {rx} queue pairs asked for; the device has at most {}{how}",
                self.name, self.max_pairs
            )));
        }
        Ok(())
    }

    fn dma_options(&self) -> DmaOptions {
        DmaOptions {
            page_size: PageSize::Huge2M,
            iova_mode: self.iova_mode,
            // Only a register-file test port has neither mapper nor PA.
            fallback: if self.mapper.is_none() && self.iova_mode == IovaMode::Va {
                Fallback::SmallPages
            } else {
                Fallback::Refuse
            },
            mapper: self.mapper.clone(),
        }
    }

    fn set_bus_master(&self, on: bool) -> Result<(), PortError> {
        if let Some(dev) = &self.dev {
            if on {
                dev.enable_bus_master()?;
            } else {
                dev.disable_bus_master()?;
            }
        }
        Ok(())
    }

    /// The offloads a frame's header may ask for.
    fn hdr_offloads(&self) -> HdrOffloads {
        HdrOffloads {
            csum: self.negotiated.has(NET_F_CSUM),
            tso4: self.negotiated.has(NET_F_HOST_TSO4),
            tso6: self.negotiated.has(NET_F_HOST_TSO6),
            ecn: self.negotiated.has(NET_F_HOST_ECN),
        }
    }

    /// Transmit offloads: chains always; TCP/UDP checksums with CSUM; TSO
    /// with both HOST_TSO4 and HOST_TSO6 (as DPDK's virtio PMD: one
    /// `tcp_tso` covers both IP versions). No IPv4 header checksum or SCTP:
    /// the header cannot ask for them (see `net_hdr`).
    fn tx_offload_capa(&self) -> TxOffloads {
        let h = self.hdr_offloads();
        let mut capa = TxOffloads::MULTI_SEGS;
        if h.csum {
            capa |= TxOffloads::TCP_CKSUM | TxOffloads::UDP_CKSUM;
        }
        if h.csum && h.tso4 && h.tso6 {
            capa |= TxOffloads::TCP_TSO;
        }
        capa
    }

    /// Receive offloads: `scatter` with MRG_RXBUF; `vlan_filter` when the
    /// device offers CTRL_VLAN (negotiated for the opens that ask for it,
    /// see `filters`); `tcp_cksum` and `udp_cksum` when it offers
    /// GUEST_CSUM (negotiated for the opens that ask for either, see
    /// `rx_csum`).
    fn rx_offload_capa(&self) -> RxOffloads {
        let mut capa = RxOffloads::empty();
        if self.negotiated.has(NET_F_MRG_RXBUF) {
            capa |= RxOffloads::SCATTER;
        }
        let vlan = bit(NET_F_CTRL_VQ) | bit(NET_F_CTRL_VLAN);
        if self.negotiated.offered & vlan == vlan {
            capa |= RxOffloads::VLAN_FILTER;
        }
        if self.negotiated.offered & bit(NET_F_GUEST_CSUM) != 0 {
            capa |= RxOffloads::TCP_CKSUM | RxOffloads::UDP_CKSUM;
        }
        capa
    }

    /// The handshake from a reset up to DRIVER_OK, with every queue, then
    /// the control queue's state (queue pairs, filters).
    fn start(&mut self, session: &Arc<Session>) -> Result<Queues, PortError> {
        let pool = self.pool.clone().ok_or_else(|| PortError::InvalidState("configure the port first".into()))?;
        let t = Arc::clone(&self.transport);
        self.set_bus_master(true)?;
        let negotiated = transport::init(&t, self.declined | self.declined_this_open(), self.mapper.is_some())?;
        if negotiated.offered != self.negotiated.offered {
            t.fail();
            return Err(PortError::Device(format!(
                "{}: the device now offers other features than at probe ({:#x}, was {:#x}); reopen the port",
                self.name, negotiated.offered, self.negotiated.offered
            )));
        }
        self.negotiated = negotiated;
        self.vectors_in_use = 0;
        self.msix = self.enable_msix();
        let config_irq = self.route_config_vector();
        let (queues, doorbells, ctrl) = if self.negotiated.has(F_RING_PACKED) {
            self.queues::<PackedRing>(session, pool)?
        } else {
            self.queues::<SplitRing>(session, pool)?
        };
        self.ctrl = ctrl;
        t.add_status(STATUS_DRIVER_OK);
        let status = t.status();
        if status & STATUS_DRIVER_OK == 0 || status & (STATUS_DEVICE_NEEDS_RESET | STATUS_FAILED) != 0 {
            t.fail();
            return Err(PortError::Device(format!(
                "{}: the virtio device did not accept DRIVER_OK (status {status:#04x})",
                self.name
            )));
        }
        // The receive buffers were made available before DRIVER_OK; tell
        // the device once, now that it runs.
        for &d in &doorbells.rx {
            t.notify(d);
        }
        self.send_ctrl_state()?;
        if self.link.has_status && self.dev.is_some() {
            let period = if config_irq.is_some() { link::LINK_SAFETY_NET } else { link::LINK_RECHECK };
            match LinkThread::spawn(Arc::clone(&t), Arc::clone(&self.link), config_irq, period, doorbells.tx) {
                Ok(th) => self.link_thread = Some(th),
                Err(e) => {
                    log::warn!("ferrite virtio: {}: no link thread ({e}); link changes need link_update", self.name)
                }
            }
        }
        Ok(queues)
    }

    /// Tells a freshly started device how many queue pairs to use and what
    /// to receive (it forgot both at its reset).
    fn send_ctrl_state(&mut self) -> Result<(), PortError> {
        if self.ctrl.is_none() {
            return Ok(());
        }
        let mut commands = Vec::new();
        if self.negotiated.has(NET_F_MQ) {
            commands.push(filters::mq_command(self.pairs));
        }
        commands.extend(self.filters.commands(self.ctrl_features()));
        let Some(ctrl) = self.ctrl.as_mut() else { return Ok(()) };
        commands.iter().try_for_each(|(c, k, d)| ctrl.command(*c, *k, d))
    }

    /// The control features of this open.
    fn ctrl_features(&self) -> CtrlFeatures {
        CtrlFeatures {
            rx: self.negotiated.has(NET_F_CTRL_RX),
            mac_addr: self.negotiated.has(NET_F_CTRL_MAC_ADDR),
            vlan: self.negotiated.has(NET_F_CTRL_VLAN),
        }
    }

    /// The per-open features ([`PER_OPEN`]) this open's configuration does
    /// not ask for: CTRL_VLAN without `vlan_filter`, GUEST_CSUM without
    /// `tcp_cksum` or `udp_cksum` (then the device keeps completing
    /// checksums itself).
    fn declined_this_open(&self) -> u64 {
        let mut declined = 0;
        if !self.vlan_filtering() {
            declined |= bit(NET_F_CTRL_VLAN);
        }
        let csum = RxOffloads::TCP_CKSUM | RxOffloads::UDP_CKSUM;
        if !(self.configured && self.conf.rx_offloads.intersects(csum)) {
            declined |= bit(NET_F_GUEST_CSUM);
        }
        declined
    }

    /// Whether the configuration asks for VLAN filtering.
    fn vlan_filtering(&self) -> bool {
        self.configured && self.conf.rx_offloads.contains(RxOffloads::VLAN_FILTER)
    }

    /// The control queue's index and size, with CTRL_VQ: at most 64
    /// entries (QEMU's), a power of two, at least 4 (one command's chain).
    fn ctrl_ring(&self) -> Result<Option<(u16, u16)>, PortError> {
        if !self.negotiated.has(NET_F_CTRL_VQ) {
            return Ok(None);
        }
        let q = ctrl_queue(self.max_pairs);
        let max = self.transport.queue_max_size(q);
        if max < 4 {
            return Err(PortError::Device(format!(
                "{}: the control virtqueue {q} holds {max} entries; a command needs at least 4",
                self.name
            )));
        }
        Ok(Some((q, 1 << max.min(64).ilog2())))
    }

    /// Every queue pair's receive and transmit virtqueues and the control
    /// queue, on rings of layout `R`, set up in the device (between
    /// FEATURES_OK and DRIVER_OK), and the doorbells the start needs.
    #[allow(clippy::type_complexity)]
    fn queues<R: Virtqueue>(
        &mut self,
        session: &Arc<Session>,
        pool: Mempool,
    ) -> Result<(Queues, Doorbells, Option<Box<dyn Control>>), PortError> {
        let t = Arc::clone(&self.transport);
        let (rx_n, tx_n) = self.rings;
        let ctrl_ring = self.ctrl_ring()?;
        let mut sizes: Vec<u16> = (0..self.pairs).flat_map(|_| [rx_n, tx_n]).collect();
        sizes.extend(ctrl_ring.map(|(_, n)| n));
        let event_idx = self.negotiated.has(F_RING_EVENT_IDX);
        let mut arena = QueueArena::<R>::new(&sizes, event_idx, &self.dma_options())?;
        let mut queues = Queues { rx: Vec::new(), tx: Vec::new() };
        let mut doorbells = Doorbells { rx: Vec::new(), tx: Vec::new() };
        for p in 0..self.pairs {
            let (rxq, txq) = self.pair(session, &pool, &mut arena, p)?;
            doorbells.rx.push(rxq.doorbell());
            doorbells.tx.push(txq.doorbell());
            queues.rx.push(Box::new(rxq));
            queues.tx.push(Box::new(txq));
        }
        let ctrl = match ctrl_ring {
            Some((q, n)) => {
                let ring = arena.take();
                let (doorbell, _) = t.setup_queue(q, n, ring.addrs(), VIRTIO_MSI_NO_VECTOR)?;
                let setup = CtrlSetup { session: Arc::clone(session), doorbell, ring, block: arena.ctrl_block() };
                let mut c = CtrlQueue::new(setup);
                c.set_timeout(self.ctrl_timeout);
                Some(Box::new(c) as Box<dyn Control>)
            }
            None => None,
        };
        Ok((queues, doorbells, ctrl))
    }

    /// Queue pair `p`'s receive and transmit queues, set up in the device.
    fn pair<R: Virtqueue>(
        &mut self,
        session: &Arc<Session>,
        pool: &Mempool,
        arena: &mut QueueArena<R>,
        p: u16,
    ) -> Result<(VirtioRxQueue<R>, VirtioTxQueue<R>), PortError> {
        let t = Arc::clone(&self.transport);
        let (rx_n, tx_n) = self.rings;
        let ring = arena.take();
        let want =
            self.msix.as_ref().and_then(|m| m.rx.get(p as usize)).map(|efd| (irq::rx_vector(p), Arc::clone(efd)));
        let vector = want.as_ref().map_or(VIRTIO_MSI_NO_VECTOR, |(v, _)| *v);
        let (doorbell, kept) = t.setup_queue(rx_queue(p), rx_n, ring.addrs(), vector)?;
        let irq = self.accepted_rx_irq(p, want, kept);
        let stats = &self.qstats[p as usize];
        let rxq = VirtioRxQueue::new(RxSetup {
            session: Arc::clone(session),
            doorbell,
            qid: p,
            ring,
            pool: pool.clone(),
            mergeable: self.negotiated.has(NET_F_MRG_RXBUF),
            scatter: self.scatter(),
            guest_csum: self.negotiated.has(NET_F_GUEST_CSUM),
            counters: Arc::clone(&stats.rx),
            stats: Arc::clone(&stats.rx_more),
            max_len: Arc::clone(&self.rx_max_len),
            irq,
        })?;
        let ring = arena.take();
        // No vector: transmitted buffers are reclaimed as the queue sends.
        let (tx_doorbell, _) = t.setup_queue(rx_queue(p) + 1, tx_n, ring.addrs(), VIRTIO_MSI_NO_VECTOR)?;
        let txq = VirtioTxQueue::new(TxSetup {
            session: Arc::clone(session),
            doorbell: tx_doorbell,
            qid: p,
            ring,
            zero_hdr_iova: arena.zero_hdr_iova(),
            max_len: max_frame_len(self.max_mtu) as u32,
            offloads: self.hdr_offloads(),
            counters: Arc::clone(&stats.tx),
            stats: Arc::clone(&stats.tx_more),
        });
        Ok((rxq, txq))
    }

    fn sw_rows(&self) -> Vec<(String, u64)> {
        let stats = self.stats64();
        let (rx, tx) = (stats.rx_total(), stats.tx_total());
        let mut rows = vec![
            (RX_PACKETS.to_string(), rx.packets),
            (RX_BYTES.to_string(), rx.bytes),
            (RX_DROPPED.to_string(), rx.drops),
            (RX_ERRORS.to_string(), rx.errors),
        ];
        rows.extend(summed_over_queues(&self.qstats, |q| q.rx_more.named()));
        rows.extend([
            (TX_PACKETS.to_string(), tx.packets),
            (TX_BYTES.to_string(), tx.bytes),
            (TX_DROPPED.to_string(), tx.drops),
            (TX_ERRORS.to_string(), tx.errors),
        ]);
        rows.extend(summed_over_queues(&self.qstats, |q| q.tx_more.named()));
        let abandoned = self.qstats.iter().map(|q| q.rx_more.abandoned.get() + q.tx_more.abandoned.get()).sum();
        rows.extend([
            (MBUFS_LEFT_TO_DEVICE.to_string(), abandoned),
            ("msix_vectors".to_string(), u64::from(self.vectors_in_use)),
            (LSC_INTERRUPTS.to_string(), self.link.config_irqs.load(Ordering::Relaxed)),
            ("features_offered".to_string(), self.negotiated.offered),
            ("features_negotiated".to_string(), self.negotiated.features),
        ]);
        let used = &self.qstats[..usize::from(self.pairs)];
        let extras = QueueExtras {
            rx_alloc_failed: Some(used.iter().map(|q| q.rx_more.alloc_failed.get()).collect()),
            tx_restart: Some(used.iter().map(|q| q.tx_more.restart.get()).collect()),
            ..QueueExtras::default()
        };
        rows.extend(per_queue_stat_rows(&stats, &extras));
        let pairs = self.qstats.iter().take(usize::from(self.pairs));
        rows.extend(pairs.enumerate().map(|(q, s)| (rx_queue_name(q, "interrupts"), s.rx_irqs.get())));
        rows
    }

    /// Ends the current open: device reset (confirmed), MSI-X vectors back
    /// to VFIO (after the reset: the device no longer signals them), bus
    /// mastering off.
    fn quiesce(&mut self) -> Result<(), PortError> {
        self.link_thread = None;
        let reset = match self.session.take() {
            Some(s) => s.quiesce().map(|_| ()),
            None => self.transport.reset(transport::RESET_TIMEOUT),
        };
        self.release_msix();
        // After the reset: the control queue's memory is free again.
        self.ctrl = None;
        let bm = self.set_bus_master(false);
        reset.and(bm)
    }

    /// The vectors this open asks for (see `irq`), `None` when polled.
    fn enable_msix(&self) -> Option<Msix> {
        let src = match &self.dev {
            Some(dev) => VectorSource::Vfio(dev),
            #[cfg(test)]
            None if self.soft_msix > 0 => VectorSource::Soft(self.soft_msix),
            None => return None,
        };
        irq::enable(src, &self.name, self.pairs)
    }

    /// Routes configuration changes to their vector (after the reset of
    /// `init`, which forgets vectors); the eventfd for the link thread if
    /// the device kept it.
    fn route_config_vector(&mut self) -> Option<Arc<EventFd>> {
        let m = self.msix.as_ref()?;
        let kept = self.transport.set_config_vector(CONFIG_VECTOR);
        if kept != CONFIG_VECTOR {
            log::warn!(
                "ferrite virtio: {}: the device refused MSI-X vector {CONFIG_VECTOR} for configuration changes \
                 (reads {kept:#06x}): link polled every {:?}",
                self.name,
                link::LINK_RECHECK
            );
            return None;
        }
        self.vectors_in_use = 1;
        Some(Arc::clone(&m.config))
    }

    /// Receive queue `q`'s interrupt if the device kept the vector `want`
    /// asked for (it reads back `kept`); otherwise polled, said once.
    fn accepted_rx_irq(&mut self, q: u16, want: Option<(u16, Arc<EventFd>)>, kept: u16) -> Option<RxIrq> {
        let (vector, efd) = want?;
        if kept != vector {
            log::warn!(
                "ferrite virtio: {}: the device refused MSI-X vector {vector} for receive queue {q} (reads \
                 {kept:#06x}): no rx interrupts, the queue is polled",
                self.name
            );
            return None;
        }
        self.vectors_in_use += 1;
        Some(RxIrq::new(efd, Arc::clone(&self.qstats[q as usize].rx_irqs)))
    }

    /// Hands the vectors back to VFIO.
    fn release_msix(&mut self) {
        if self.msix.take().is_some() {
            if let Some(dev) = &self.dev {
                if let Err(e) = dev.disable_irqs(ferrite_vfio::IrqKind::Msix) {
                    log::warn!("ferrite virtio: {}: releasing MSI-X: {e}", self.name);
                }
            }
        }
    }
}

impl NetDevice for VirtioPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn caps(&self) -> DeviceCaps {
        DeviceCaps {
            max_rx_queues: self.max_pairs,
            max_tx_queues: self.max_pairs,
            min_ring_size: MIN_RING,
            // Larger rings are accepted and reduced to the device's maximum
            // (what `ringparam` then shows), as DPDK's virtio PMD does: QEMU
            // offers 256 by default, below testpmd's default 512.
            max_ring_size: MAX_QUEUE_SIZE,
            ring_size_align: 1,
            ring_size_pow2: true,
            min_mtu: MIN_MTU,
            max_mtu: self.max_mtu,
            rx_offload_capa: self.rx_offload_capa(),
            tx_offload_capa: self.tx_offload_capa(),
        }
    }

    fn configure(&mut self, conf: &PortConfig, pool: &Mempool) -> Result<(), PortError> {
        if self.session.is_some() {
            return Err(PortError::InvalidState(format!("{}: stop the port before configuring it", self.name)));
        }
        self.check_pairs(conf.rx_queues, conf.tx_queues)?;
        conf.check(&self.caps())?;
        if pool.region().iova_mode() != self.iova_mode {
            return Err(PortError::InvalidConfig(format!(
                "mempool '{}' was made for IOVA mode {:?} but {} runs in {:?}; create the pool with this port's \
                 dma_mapper() and IOVA mode",
                pool.name(),
                pool.region().iova_mode(),
                self.name,
                self.iova_mode
            )));
        }
        self.check_buffers(self.mtu, pool, conf.rx_offloads.contains(RxOffloads::SCATTER))?;
        self.rings = (conf.rx_ring_size.min(self.max_queue.0), conf.tx_ring_size.min(self.max_queue.1));
        self.pairs = conf.rx_queues;
        self.conf = conf.clone();
        self.pool = Some(pool.clone());
        self.configured = true;
        Ok(())
    }

    fn offloads(&self) -> (RxOffloads, TxOffloads) {
        if self.configured {
            (self.conf.rx_offloads, self.conf.tx_offloads)
        } else {
            (RxOffloads::empty(), TxOffloads::empty())
        }
    }

    fn open(&mut self) -> Result<Queues, PortError> {
        if self.session.is_some() {
            return Err(PortError::InvalidState(format!("{} is already open", self.name)));
        }
        if !self.configured {
            return Err(PortError::InvalidState(format!("{}: configure the port before opening it", self.name)));
        }
        let session = Session::new(Arc::clone(&self.transport));
        match self.start(&session) {
            Ok(q) => {
                self.session = Some(session);
                Ok(q)
            }
            Err(e) => {
                // Queues built so far were dropped inside `start`, each
                // after the device reset it did through the session.
                self.session = Some(session);
                let _ = self.quiesce();
                Err(e)
            }
        }
    }

    fn stop(&mut self) -> Result<(), PortError> {
        if self.session.is_none() {
            return Err(PortError::InvalidState(format!("{} is not open", self.name)));
        }
        self.quiesce()
    }

    fn is_running(&self) -> bool {
        self.session.is_some()
    }

    /// Through CTRL_RX (see `filters`).
    fn set_rx_mode(&mut self, mode: RxMode) -> Result<(), PortError> {
        self.set_rx_mode_ctrl(mode)
    }

    fn rx_mode(&self) -> RxMode {
        self.current_rx_mode()
    }

    fn set_mac_address(&mut self, mac: MacAddr) -> Result<(), PortError> {
        self.set_mac_address_ctrl(mac)
    }

    fn mac_addr_add(&mut self, mac: MacAddr) -> Result<(), PortError> {
        self.mac_addr_add_ctrl(mac)
    }

    fn mac_addr_remove(&mut self, mac: MacAddr) -> Result<(), PortError> {
        self.mac_addr_remove_ctrl(mac)
    }

    fn mac_addrs(&self) -> Vec<MacAddr> {
        std::iter::once(self.mac).chain(self.filters.unicast.iter().copied()).collect()
    }

    fn set_mc_addr_list(&mut self, groups: &[MacAddr]) -> Result<(), PortError> {
        self.set_mc_addr_list_ctrl(groups)
    }

    fn mc_addr_list(&self) -> Vec<MacAddr> {
        self.filters.multicast.clone()
    }

    fn vlan_filter_set(&mut self, vlan_id: u16, on: bool) -> Result<(), PortError> {
        self.vlan_filter_set_ctrl(vlan_id, on)
    }

    fn vlan_filters(&self) -> Vec<u16> {
        self.filters.vlans.clone()
    }

    fn mac_address(&self) -> MacAddr {
        self.mac
    }

    fn mtu(&self) -> u16 {
        self.mtu
    }

    /// A receive-side limit only: without the control queue the device is
    /// not told (with VIRTIO_NET_F_MTU it gave the maximum, which is kept).
    fn change_mtu(&mut self, mtu: u16) -> Result<(), PortError> {
        if !(MIN_MTU..=self.max_mtu).contains(&mtu) {
            return Err(PortError::InvalidConfig(format!("MTU {mtu} is out of range {MIN_MTU}..={}", self.max_mtu)));
        }
        if let Some(pool) = &self.pool {
            self.check_buffers(mtu, pool, self.scatter())?;
        }
        self.mtu = mtu;
        self.rx_max_len.store(max_frame_len(mtu) as u32, Ordering::Relaxed);
        Ok(())
    }

    fn stats64(&self) -> PortStats {
        let used = &self.qstats[..self.pairs as usize];
        PortStats {
            rx_queues: used.iter().map(|q| q.rx.snapshot()).collect(),
            tx_queues: used.iter().map(|q| q.tx.snapshot()).collect(),
            rx_missed: 0,
        }
    }

    fn reset_stats(&mut self) -> Result<(), PortError> {
        for q in &self.qstats {
            q.rx.reset();
            q.tx.reset();
            let named = q.rx_more.named().into_iter().chain(q.tx_more.named());
            for (_, c) in named.chain([("rx_queue_interrupts", &*q.rx_irqs)]) {
                c.reset();
            }
        }
        self.link.config_irqs.store(0, Ordering::Relaxed);
        Ok(())
    }

    fn link_status(&self) -> LinkStatus {
        let st = self.link.read(&self.transport);
        self.link.note(st);
        st
    }

    fn link_update(&self, wait_to_complete: bool) -> LinkStatus {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(9);
        loop {
            let st = self.link_status();
            if st.up || !wait_to_complete || std::time::Instant::now() >= deadline {
                return st;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
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

impl EthtoolOps for VirtioPort {
    /// `fw_version` carries the negotiated feature names (virtio has no
    /// firmware; this is where `ethtool -i` readers look for a version).
    fn drvinfo(&self) -> DrvInfo {
        DrvInfo {
            driver: DRIVER_NAME.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            fw_version: format!("virtio 1.x, features {}", feature_names(self.negotiated.features).join(",")),
            bus_info: self.name.to_string(),
        }
    }

    fn ringparam(&self) -> RingParams {
        RingParams { rx_max: self.max_queue.0, tx_max: self.max_queue.1, rx: self.rings.0, tx: self.rings.1 }
    }

    fn set_ringparam(&mut self, rings: &RingParams) -> Result<(), PortError> {
        if self.session.is_some() {
            return Err(PortError::InvalidState("stop the port before resizing its rings".into()));
        }
        let conf = PortConfig { rx_ring_size: rings.rx, tx_ring_size: rings.tx, ..self.conf.clone() };
        conf.check(&self.caps())?;
        self.rings = (conf.rx_ring_size.min(self.max_queue.0), conf.tx_ring_size.min(self.max_queue.1));
        self.conf = conf;
        Ok(())
    }

    fn channels(&self) -> Channels {
        Channels { max_rx: self.max_pairs, max_tx: self.max_pairs, rx: self.pairs, tx: self.pairs }
    }

    fn stat_names(&self) -> Vec<String> {
        self.sw_rows().into_iter().map(|(n, _)| n).collect()
    }

    fn stat_values(&self) -> Vec<u64> {
        self.sw_rows().into_iter().map(|(_, v)| v).collect()
    }

    fn named_stats(&self) -> Vec<(String, u64)> {
        self.sw_rows()
    }
}

impl Drop for VirtioPort {
    fn drop(&mut self) {
        if let Err(e) = self.quiesce() {
            log::warn!("ferrite virtio: {}: closing: {e}", self.name);
        }
    }
}
