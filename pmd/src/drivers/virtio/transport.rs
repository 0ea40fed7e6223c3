//! The virtio PCI transport after discovery: typed access to the common
//! configuration, the device configuration and the queue doorbells, and
//! the device initialisation sequence of spec §3.1.1.
//!
//! Each structure is reached through a [`Window`]: a slice of a mapped BAR
//! on real hardware ([`BarWindow`]), a register file in memory in tests.
//! The spec asks for every field to be accessed at its own width (8-bit
//! fields with 8-bit accesses, and so on) and lets a 64-bit field be
//! written as two 32-bit halves, low first; that is what the accessors do.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrite_vfio::Bar;

use super::pci::Region;
use super::regs::*;
use crate::port::PortError;

/// Width-exact register access to one virtio structure.
pub trait Window: Send + Sync {
    /// 8-bit read at `off`.
    fn read8(&self, off: u32) -> u8;
    /// 16-bit read at `off` (little-endian).
    fn read16(&self, off: u32) -> u16;
    /// 32-bit read at `off` (little-endian).
    fn read32(&self, off: u32) -> u32;
    /// 8-bit write.
    fn write8(&self, off: u32, v: u8);
    /// 16-bit write.
    fn write16(&self, off: u32, v: u16);
    /// 32-bit write.
    fn write32(&self, off: u32, v: u32);
}

/// A structure inside a mapped BAR. The offsets the driver uses are checked
/// against the structure's length and alignment before use (at probe, or at
/// queue setup for doorbells), so [`Bar`]'s own bounds and alignment
/// assertions never fire.
pub struct BarWindow {
    bar: Arc<Bar>,
    base: usize,
}

impl BarWindow {
    /// The structure at `region` of `bar` (checked to fit by the caller).
    pub fn new(bar: Arc<Bar>, region: &Region) -> BarWindow {
        BarWindow { bar, base: region.offset as usize }
    }
}

impl Window for BarWindow {
    #[inline(always)]
    fn read8(&self, off: u32) -> u8 {
        self.bar.read8(self.base + off as usize)
    }
    #[inline(always)]
    fn read16(&self, off: u32) -> u16 {
        self.bar.read16(self.base + off as usize)
    }
    #[inline(always)]
    fn read32(&self, off: u32) -> u32 {
        self.bar.read32(self.base + off as usize)
    }
    #[inline(always)]
    fn write8(&self, off: u32, v: u8) {
        self.bar.write8(self.base + off as usize, v)
    }
    #[inline(always)]
    fn write16(&self, off: u32, v: u16) {
        self.bar.write16(self.base + off as usize, v)
    }
    #[inline(always)]
    fn write32(&self, off: u32, v: u32) {
        self.bar.write32(self.base + off as usize, v)
    }
}

/// How long a reset may take to read back 0 (QEMU: at once; real devices
/// may take a while, the spec sets no bound).
pub const RESET_TIMEOUT: Duration = Duration::from_secs(1);

/// The three windows of a device and what the driver needs to ring a
/// queue's doorbell.
pub struct Transport {
    common: Box<dyn Window>,
    device: Box<dyn Window>,
    /// Bytes of the device configuration (fields beyond it are not read).
    device_len: u32,
    notify: Box<dyn Window>,
    notify_len: u32,
    notify_off_multiplier: u32,
    /// The device's name, for errors.
    who: Arc<str>,
}

/// Where to write a queue's index to notify the device of new buffers
/// (an offset in the notification window, computed and checked at setup).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Doorbell {
    /// Offset in the notification window.
    pub offset: u32,
    /// The virtqueue index written there.
    pub queue: u16,
}

/// A virtqueue's memory, as the device is told it.
#[derive(Clone, Copy, Debug)]
pub struct QueueAddrs {
    /// Descriptor table IOVA.
    pub desc: u64,
    /// Driver area (available ring) IOVA.
    pub avail: u64,
    /// Device area (used ring) IOVA.
    pub used: u64,
}

impl Transport {
    /// A transport over the given windows. `device_len` and `notify_len`
    /// are the structures' lengths from their capabilities.
    pub fn new(
        who: &str,
        common: Box<dyn Window>,
        device: Box<dyn Window>,
        device_len: u32,
        notify: Box<dyn Window>,
        notify_len: u32,
        notify_off_multiplier: u32,
    ) -> Transport {
        Transport { common, device, device_len, notify, notify_len, notify_off_multiplier, who: who.into() }
    }

    fn err(&self, why: impl std::fmt::Display) -> PortError {
        PortError::Device(format!("{}: {why}", self.who))
    }

    // ----- status -----

    /// The device status byte.
    pub fn status(&self) -> u8 {
        self.common.read8(COMMON_STATUS)
    }

    /// ORs `bits` into the device status (the spec's handshake only ever
    /// adds bits, until a reset clears them all).
    pub fn add_status(&self, bits: u8) {
        let s = self.status();
        self.common.write8(COMMON_STATUS, s | bits);
    }

    /// Writes 0 to the status (a device reset: queues stop, the device
    /// forgets their memory and every negotiated feature) and waits for it
    /// to read back 0, which is when the device no longer touches any
    /// buffer or ring (§2.4.1). An error if it does not within `timeout`:
    /// the device may then still DMA, and callers must not reuse memory.
    pub fn reset(&self, timeout: Duration) -> Result<(), PortError> {
        self.common.write8(COMMON_STATUS, 0);
        let start = Instant::now();
        loop {
            if self.status() == 0 {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                return Err(PortError::Timeout(format!(
                    "{}: the virtio device did not finish its reset within {timeout:?} (status reads {:#04x})",
                    self.who,
                    self.status()
                )));
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// Sets FAILED: the driver gives up (§3.1.1 step 8 says to on any
    /// initialisation error). Best effort, nothing to report.
    pub fn fail(&self) {
        self.add_status(STATUS_FAILED);
    }

    // ----- features -----

    /// The 64 feature bits the device offers.
    pub fn device_features(&self) -> u64 {
        self.common.write32(COMMON_DFSELECT, 0);
        let lo = self.common.read32(COMMON_DF) as u64;
        self.common.write32(COMMON_DFSELECT, 1);
        let hi = self.common.read32(COMMON_DF) as u64;
        lo | hi << 32
    }

    /// Tells the device which features the driver accepts.
    pub fn set_driver_features(&self, features: u64) {
        self.common.write32(COMMON_GFSELECT, 0);
        self.common.write32(COMMON_GF, features as u32);
        self.common.write32(COMMON_GFSELECT, 1);
        self.common.write32(COMMON_GF, (features >> 32) as u32);
    }

    // ----- queues -----

    /// Number of virtqueues the device has.
    pub fn num_queues(&self) -> u16 {
        self.common.read16(COMMON_NUMQ)
    }

    /// The largest size queue `q` may have (0: no such queue).
    pub fn queue_max_size(&self, q: u16) -> u16 {
        self.common.write16(COMMON_Q_SELECT, q);
        self.common.read16(COMMON_Q_SIZE)
    }

    /// Sets queue `q` up (§4.1.5.1.3): its size, MSI-X `vector`
    /// ([`VIRTIO_MSI_NO_VECTOR`] for none), its three areas, then enables
    /// it. Returns its doorbell and the vector the device kept (it reads
    /// back NO_VECTOR when it refused one, §4.1.5.1.2: QEMU does for a
    /// vector beyond its `vectors=`). Only between FEATURES_OK and
    /// DRIVER_OK.
    pub fn setup_queue(&self, q: u16, size: u16, addrs: QueueAddrs, vector: u16) -> Result<(Doorbell, u16), PortError> {
        let max = self.queue_max_size(q);
        if max == 0 {
            return Err(self.err(format_args!("virtqueue {q} does not exist (queue_size reads 0)")));
        }
        if size > max || !size.is_power_of_two() {
            return Err(self
                .err(format_args!("virtqueue {q}: size {size} is not a power of two of at most the device's {max}")));
        }
        if self.common.read16(COMMON_Q_ENABLE) != 0 {
            return Err(self.err(format_args!("virtqueue {q} is already enabled (the device was not reset)")));
        }
        let doorbell = self.doorbell(q)?;
        self.common.write16(COMMON_Q_SIZE, size);
        self.common.write16(COMMON_Q_MSIX, vector);
        let kept = self.common.read16(COMMON_Q_MSIX);
        let write64 = |lo: u32, v: u64| {
            self.common.write32(lo, v as u32);
            self.common.write32(lo + 4, (v >> 32) as u32);
        };
        write64(COMMON_Q_DESCLO, addrs.desc);
        write64(COMMON_Q_AVAILLO, addrs.avail);
        write64(COMMON_Q_USEDLO, addrs.used);
        self.common.write16(COMMON_Q_ENABLE, 1);
        Ok((doorbell, kept))
    }

    /// Routes configuration-change notifications to MSI-X `vector` and
    /// returns the vector the device kept (NO_VECTOR: refused).
    pub fn set_config_vector(&self, vector: u16) -> u16 {
        self.common.write16(COMMON_MSIX, vector);
        self.common.read16(COMMON_MSIX)
    }

    /// Queue `q`'s doorbell: `queue_notify_off(q) * notify_off_multiplier`
    /// into the notification structure (§4.1.4.4), checked to leave room
    /// for the 16-bit write. `q` must be selected.
    fn doorbell(&self, q: u16) -> Result<Doorbell, PortError> {
        let off = self.common.read16(COMMON_Q_NOFF) as u64 * self.notify_off_multiplier as u64;
        if !off.is_multiple_of(2) || off + 2 > self.notify_len as u64 {
            return Err(self.err(format_args!(
                "virtqueue {q}'s doorbell at {off:#x} (queue_notify_off × {}) is odd or lies beyond the \
                 {:#x}-byte notification area",
                self.notify_off_multiplier, self.notify_len
            )));
        }
        Ok(Doorbell { offset: off as u32, queue: q })
    }

    /// Rings a doorbell: the device looks at the queue's available ring.
    /// The caller orders its ring writes before this (see `virtq`).
    #[inline(always)]
    pub fn notify(&self, d: Doorbell) {
        self.notify.write16(d.offset, d.queue);
    }

    // ----- device configuration -----

    /// Reads the device configuration consistently (§2.5.1): `read` runs
    /// until `config_generation` is the same before and after it, so no
    /// field is torn by a change the device made meanwhile (bounded: after
    /// 100 tries the last reading is returned).
    pub fn read_config<T>(&self, read: impl Fn(&dyn Window, u32) -> T) -> T {
        let mut tries = 0;
        loop {
            let before = self.common.read8(COMMON_CFGGENERATION);
            let v = read(&*self.device, self.device_len);
            if self.common.read8(COMMON_CFGGENERATION) == before || tries == 100 {
                return v;
            }
            tries += 1;
        }
    }

    /// `config_generation`: the device changes it with every change to its
    /// configuration (QEMU: with every link change too).
    pub fn config_generation(&self) -> u8 {
        self.common.read8(COMMON_CFGGENERATION)
    }

    /// The device's name.
    pub fn who(&self) -> &str {
        &self.who
    }
}

/// What [`init`] agreed with the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// Offered by the device.
    pub offered: u64,
    /// Accepted by both.
    pub features: u64,
}

impl Negotiated {
    /// Whether feature `b` was negotiated.
    pub fn has(&self, b: u32) -> bool {
        self.features & bit(b) != 0
    }
}

/// Features this driver accepts when offered: RING_PACKED and
/// RING_EVENT_IDX among them (EVENT_IDX only with split rings), as DPDK's
/// PCI virtio PMD takes packed rings
/// (see `virtq` for the rings and the notification schemes); CSUM,
/// HOST_TSO4/6 and HOST_ECN, which only let the driver ask for offloads in a frame's
/// header (see `net_hdr`); the control queue and what works through it
/// (CTRL_RX, CTRL_VLAN, CTRL_MAC_ADDR, MQ: see `ctrl` and `filters`);
/// GUEST_CSUM, for the opens that ask for a receive checksum offload (the
/// device then hands over partial checksums, which `rx_csum` completes).
/// Not asked for (and why): GUEST_TSO4/6, GUEST_UFO and GUEST_ECN (the
/// device would hand over frames of up to 64 KiB, which ferrite would have
/// to segment before forwarding them; without them the device segments
/// first); INDIRECT_DESC (chains are short, and indirect tables would be
/// one more DMA structure per frame); IN_ORDER.
pub const WANTED: u64 = bit(F_VERSION_1)
    | bit(F_ACCESS_PLATFORM)
    | bit(F_RING_PACKED)
    | bit(F_RING_EVENT_IDX)
    | bit(NET_F_MAC)
    | bit(NET_F_STATUS)
    | bit(NET_F_MTU)
    | bit(NET_F_MRG_RXBUF)
    | bit(NET_F_CSUM)
    | bit(NET_F_GUEST_CSUM)
    | bit(NET_F_HOST_TSO4)
    | bit(NET_F_HOST_TSO6)
    | bit(NET_F_HOST_ECN)
    | bit(NET_F_SPEED_DUPLEX)
    | bit(NET_F_CTRL_VQ)
    | bit(NET_F_CTRL_RX)
    | bit(NET_F_CTRL_VLAN)
    | bit(NET_F_CTRL_MAC_ADDR)
    | bit(NET_F_MQ);

/// Wanted features negotiated only for the opens whose configuration asks
/// for them (declined at probe): CTRL_VLAN (`vlan_filter`), GUEST_CSUM
/// (`tcp_cksum` / `udp_cksum` receive offloads).
pub const PER_OPEN: u64 = bit(NET_F_CTRL_VLAN) | bit(NET_F_GUEST_CSUM);

/// The features that work through the control queue (§5.1.3.1: they
/// depend on CTRL_VQ).
pub const NEED_CTRL_VQ: u64 = bit(NET_F_CTRL_RX) | bit(NET_F_CTRL_VLAN) | bit(NET_F_CTRL_MAC_ADDR) | bit(NET_F_MQ);

/// Chooses the features to accept from those `offered`, less those the
/// user `declined` (`packed_vq=0`), or says why the device cannot be
/// driven. `iommu` is whether DMA goes through an IOMMU
/// that only knows our IOVAs (`--iova-mode va`): then the device must
/// honour it (ACCESS_PLATFORM), or it would DMA to IOVAs as if they were
/// guest-physical addresses. Without an IOMMU (`--iova-mode pa`) addresses
/// are physical either way and the feature is taken only if offered.
pub fn choose_features(offered: u64, declined: u64, iommu: bool, who: &str) -> Result<u64, PortError> {
    if offered & bit(F_VERSION_1) == 0 {
        return Err(PortError::Device(format!(
            "{who}: the virtio device does not offer VERSION_1 (it speaks only legacy virtio 0.9.5); ferrite \
             drives virtio 1.x: start QEMU with -device virtio-net-pci,disable-legacy=on"
        )));
    }
    if iommu && offered & bit(F_ACCESS_PLATFORM) == 0 {
        return Err(PortError::Device(format!(
            "{who}: the virtio device does not offer ACCESS_PLATFORM, so its DMA would bypass the IOMMU that \
             VFIO programs; start QEMU with -device virtio-net-pci,iommu_platform=on (and an intel-iommu), or \
             use --iova-mode pa without an IOMMU"
        )));
    }
    let mut take = offered & WANTED & !declined;
    // The spec makes HOST_TSO4/6 depend on CSUM, and HOST_ECN on one of
    // them (§5.1.3.1).
    if take & bit(NET_F_CSUM) == 0 {
        take &= !(bit(NET_F_HOST_TSO4) | bit(NET_F_HOST_TSO6));
    }
    if take & (bit(NET_F_HOST_TSO4) | bit(NET_F_HOST_TSO6)) == 0 {
        take &= !bit(NET_F_HOST_ECN);
    }
    // QEMU's packed ring lets its event offset go stale, which stalls a
    // driver that trusts it: packed rings run on the flags alone (see
    // `virtq::packed`, "Notification suppression").
    if take & bit(F_RING_PACKED) != 0 {
        take &= !bit(F_RING_EVENT_IDX);
    }
    if take & bit(NET_F_CTRL_VQ) == 0 {
        take &= !NEED_CTRL_VQ;
    }
    Ok(take)
}

/// Device initialisation up to FEATURES_OK (§3.1.1 steps 1-6): reset,
/// ACKNOWLEDGE, DRIVER, read and choose features (never one in
/// `declined`), FEATURES_OK, and check
/// the device kept FEATURES_OK (it clears it to refuse the subset). On any
/// error after the reset the device is marked FAILED. Queue setup and
/// DRIVER_OK (steps 7-8) follow in the port's open.
pub fn init(t: &Transport, declined: u64, iommu: bool) -> Result<Negotiated, PortError> {
    t.reset(RESET_TIMEOUT)?;
    t.add_status(STATUS_ACKNOWLEDGE);
    t.add_status(STATUS_DRIVER);
    let offered = t.device_features();
    let features = match choose_features(offered, declined, iommu, t.who()) {
        Ok(f) => f,
        Err(e) => {
            t.fail();
            return Err(e);
        }
    };
    t.set_driver_features(features);
    t.add_status(STATUS_FEATURES_OK);
    if t.status() & STATUS_FEATURES_OK == 0 {
        t.fail();
        return Err(t.err(format_args!(
            "the virtio device refused the features ferrite accepted ({}): FEATURES_OK did not stick",
            feature_names(features).join(" ")
        )));
    }
    Ok(Negotiated { offered, features })
}
