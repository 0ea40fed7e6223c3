//! The virtio PCI transport's discovery step (spec §4.1.4): walk the PCI
//! capability list in config space and find the vendor capabilities that
//! say where, in which BAR and at which offset, the common configuration,
//! the notification area, the ISR byte and the device configuration live.
//!
//! ```text
//! struct virtio_pci_cap {            // a vendor capability (ID 0x09)
//!   u8 cap_vndr, cap_next, cap_len;  // PCI capability header
//!   u8 cfg_type;                     // COMMON=1 NOTIFY=2 ISR=3 DEVICE=4 ...
//!   u8 bar; u8 id; u8 padding[2];
//!   le32 offset; le32 length;        // where in the BAR
//! }                                  // NOTIFY adds: le32 notify_off_multiplier
//! ```
//!
//! A device may list several capabilities of one type; the spec says to
//! use the first one the driver understands, so the first whose BAR is a
//! memory BAR (0-5) wins. Everything read here comes from the device and
//! is checked: a truncated capability, a loop in the list or a structure
//! too short to hold its fields is an error naming the problem, never a
//! panic or an out-of-range access later.

use super::regs::*;
use crate::port::PortError;

/// Config-space reads, so the walk runs against a real device
/// ([`ferrite_vfio::VfioDevice`]) or a byte array in tests.
pub trait ConfigSpace {
    /// One byte at `off`.
    fn cfg_u8(&self, off: u64) -> Result<u8, PortError>;
    /// A little-endian word at `off`.
    fn cfg_u16(&self, off: u64) -> Result<u16, PortError> {
        Ok(u16::from_le_bytes([self.cfg_u8(off)?, self.cfg_u8(off + 1)?]))
    }
    /// A little-endian dword at `off`.
    fn cfg_u32(&self, off: u64) -> Result<u32, PortError> {
        Ok(self.cfg_u16(off)? as u32 | (self.cfg_u16(off + 2)? as u32) << 16)
    }
}

impl ConfigSpace for ferrite_vfio::VfioDevice {
    fn cfg_u8(&self, off: u64) -> Result<u8, PortError> {
        Ok(self.config_read_u8(off)?)
    }
    fn cfg_u16(&self, off: u64) -> Result<u16, PortError> {
        Ok(self.config_read_u16(off)?)
    }
    fn cfg_u32(&self, off: u64) -> Result<u32, PortError> {
        Ok(self.config_read_u32(off)?)
    }
}

/// Where one virtio structure lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// BAR number (0-5).
    pub bar: u8,
    /// Offset of the structure in the BAR.
    pub offset: u32,
    /// Its length in bytes.
    pub length: u32,
}

/// The structures a modern virtio PCI device exposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtioCaps {
    /// Common configuration (feature bits, status, queue setup).
    pub common: Region,
    /// Notification area: queue `q`'s doorbell is at
    /// `offset + queue_notify_off(q) * notify_off_multiplier`.
    pub notify: Region,
    /// Bytes between two consecutive `queue_notify_off` values (0: every
    /// queue shares one doorbell).
    pub notify_off_multiplier: u32,
    /// ISR status (only used with INTx; absent is tolerated).
    pub isr: Option<Region>,
    /// Device-specific configuration (`virtio_net_config`).
    pub device: Option<Region>,
}

/// At most this many capabilities are followed: config space holds 256
/// bytes of them at most (48 of the smallest), so a longer walk is a loop.
const MAX_CAPS: usize = 48;

/// Walks the capability list of `cfg` and returns the virtio structures.
/// `who` names the device in errors.
pub fn find_caps(cfg: &dyn ConfigSpace, who: &str) -> Result<VirtioCaps, PortError> {
    let bad = |why: String| PortError::Device(format!("{who}: {why}"));
    if cfg.cfg_u16(PCI_STATUS)? & PCI_STATUS_CAP_LIST == 0 {
        return Err(bad("has no PCI capability list, so no virtio 1.x structures: it is a legacy-only virtio \
                        device (ferrite drives modern virtio; start QEMU with disable-legacy=on)"
            .into()));
    }
    let (mut common, mut notify, mut isr, mut device) = (None, None, None, None);
    let mut at = cfg.cfg_u8(PCI_CAPABILITY_LIST)? & !3;
    let mut seen = 0;
    while at != 0 {
        seen += 1;
        if seen > MAX_CAPS || at < 0x40 {
            return Err(bad(format!("its PCI capability list is malformed (loops, or points at {at:#x})")));
        }
        let base = at as u64;
        let id = cfg.cfg_u8(base)?;
        let next = cfg.cfg_u8(base + CAP_NEXT)? & !3;
        if id == PCI_CAP_ID_VNDR {
            let len = cfg.cfg_u8(base + CAP_LEN)?;
            let cfg_type = cfg.cfg_u8(base + CAP_CFG_TYPE)?;
            let bar = cfg.cfg_u8(base + CAP_BAR)?;
            let known = matches!(
                cfg_type,
                VIRTIO_PCI_CAP_COMMON_CFG
                    | VIRTIO_PCI_CAP_NOTIFY_CFG
                    | VIRTIO_PCI_CAP_ISR_CFG
                    | VIRTIO_PCI_CAP_DEVICE_CFG
            );
            // Reserved BAR values (6+) mean "not for this driver": skip, as
            // the spec asks, and go on looking for another of the type.
            if known && bar <= 5 {
                if len < CAP_MIN_LEN {
                    return Err(bad(format!("virtio capability at {at:#x} is {len} bytes, shorter than 16")));
                }
                let region =
                    Region { bar, offset: cfg.cfg_u32(base + CAP_OFFSET)?, length: cfg.cfg_u32(base + CAP_LENGTH)? };
                match cfg_type {
                    VIRTIO_PCI_CAP_COMMON_CFG if common.is_none() => common = Some(region),
                    VIRTIO_PCI_CAP_NOTIFY_CFG if notify.is_none() => {
                        if len < CAP_NOTIFY_MIN_LEN {
                            return Err(bad(format!(
                                "virtio notify capability at {at:#x} is {len} bytes, too short for its multiplier"
                            )));
                        }
                        notify = Some((region, cfg.cfg_u32(base + CAP_NOTIFY_OFF_MULTIPLIER)?));
                    }
                    VIRTIO_PCI_CAP_ISR_CFG if isr.is_none() => isr = Some(region),
                    VIRTIO_PCI_CAP_DEVICE_CFG if device.is_none() => device = Some(region),
                    _ => {}
                }
            }
        }
        at = next;
    }
    let legacy_hint = "a legacy-only virtio device? ferrite drives modern virtio 1.x: start QEMU with \
                       disable-legacy=on";
    let common = common.ok_or_else(|| bad(format!("has no virtio common-configuration capability ({legacy_hint})")))?;
    let (notify, notify_off_multiplier) =
        notify.ok_or_else(|| bad(format!("has no virtio notification capability ({legacy_hint})")))?;
    if common.length < COMMON_CFG_MIN_LEN {
        return Err(bad(format!(
            "its virtio common configuration is {} bytes, shorter than the {COMMON_CFG_MIN_LEN} of virtio 1.0",
            common.length
        )));
    }
    if notify.length < 2 {
        return Err(bad(format!("its virtio notification area is {} bytes, too short for a doorbell", notify.length)));
    }
    // The spec asks these alignments of the device (§4.1.4); the BAR
    // accessors need them, so a device that breaks them is refused here
    // rather than faulting an access later.
    for (r, align, what) in [(Some(&common), 4, "common configuration"), (Some(&notify), 2, "notification area")]
        .into_iter()
        .chain([(isr.as_ref(), 1, "ISR status"), (device.as_ref(), 4, "device configuration")])
    {
        if let Some(r) = r {
            if !r.offset.is_multiple_of(align) {
                return Err(bad(format!(
                    "its virtio {what} at BAR offset {:#x} is not {align}-byte aligned",
                    r.offset
                )));
            }
        }
    }
    if !notify_off_multiplier.is_multiple_of(2) {
        return Err(bad(format!(
            "its virtio notify_off_multiplier {notify_off_multiplier} is odd (doorbells must be 2-byte aligned)"
        )));
    }
    Ok(VirtioCaps { common, notify, notify_off_multiplier, isr, device })
}

/// Checks that `r` lies inside a BAR of `bar_len` bytes.
pub fn check_in_bar(r: &Region, bar_len: usize, what: &str, who: &str) -> Result<(), PortError> {
    let end = r.offset as u64 + r.length as u64;
    if end > bar_len as u64 {
        return Err(PortError::Device(format!(
            "{who}: the virtio {what} ({:#x}+{:#x}) lies beyond BAR{} ({bar_len:#x} bytes)",
            r.offset, r.length, r.bar
        )));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// 256 bytes of config space.
    pub(crate) struct FakeConfig(pub [u8; 256]);

    impl ConfigSpace for FakeConfig {
        fn cfg_u8(&self, off: u64) -> Result<u8, PortError> {
            self.0.get(off as usize).copied().ok_or(PortError::Device("config read out of range".into()))
        }
    }

    impl FakeConfig {
        /// Config space of a device with the capabilities QEMU's modern
        /// virtio-net-pci has (BAR 4: common 0x0, ISR 0x1000, device
        /// 0x2000, notify 0x3000 with multiplier 4), plus an MSI-X
        /// capability in front, as QEMU puts it.
        pub(crate) fn qemu_like() -> FakeConfig {
            let mut c = FakeConfig([0; 256]);
            c.0[PCI_STATUS as usize] = PCI_STATUS_CAP_LIST as u8;
            c.0[PCI_CAPABILITY_LIST as usize] = 0x98;
            // MSI-X (ID 0x11) at 0x98, next 0x84.
            c.0[0x98] = 0x11;
            c.0[0x99] = 0x84;
            c.vendor_cap(0x84, 0x70, VIRTIO_PCI_CAP_COMMON_CFG, 4, 0x0000, 0x1000, 16);
            c.vendor_cap(0x70, 0x60, VIRTIO_PCI_CAP_ISR_CFG, 4, 0x1000, 0x1000, 16);
            c.vendor_cap(0x60, 0x4c, VIRTIO_PCI_CAP_DEVICE_CFG, 4, 0x2000, 0x1000, 16);
            c.vendor_cap(0x4c, 0xd0, VIRTIO_PCI_CAP_NOTIFY_CFG, 4, 0x3000, 0x1000, 20);
            c.0[0x4c + 16..0x4c + 20].copy_from_slice(&4u32.to_le_bytes());
            // VIRTIO_PCI_CAP_PCI_CFG (5) last: not used by the driver.
            c.vendor_cap(0xd0, 0x00, 5, 0, 0, 0, 20);
            c
        }

        #[allow(clippy::too_many_arguments)]
        pub(crate) fn vendor_cap(&mut self, at: usize, next: u8, ty: u8, bar: u8, off: u32, len: u32, cap_len: u8) {
            self.0[at] = PCI_CAP_ID_VNDR;
            self.0[at + 1] = next;
            self.0[at + 2] = cap_len;
            self.0[at + 3] = ty;
            self.0[at + 4] = bar;
            self.0[at + 8..at + 12].copy_from_slice(&off.to_le_bytes());
            self.0[at + 12..at + 16].copy_from_slice(&len.to_le_bytes());
        }
    }

    #[test]
    fn finds_the_structures_qemu_lays_out() {
        let caps = find_caps(&FakeConfig::qemu_like(), "dev").unwrap();
        assert_eq!(caps.common, Region { bar: 4, offset: 0, length: 0x1000 });
        assert_eq!(caps.isr, Some(Region { bar: 4, offset: 0x1000, length: 0x1000 }));
        assert_eq!(caps.device, Some(Region { bar: 4, offset: 0x2000, length: 0x1000 }));
        assert_eq!(caps.notify, Region { bar: 4, offset: 0x3000, length: 0x1000 });
        assert_eq!(caps.notify_off_multiplier, 4);
    }

    #[test]
    fn the_first_usable_capability_of_a_type_wins() {
        let mut c = FakeConfig::qemu_like();
        // A second common capability in front, with a reserved BAR (7):
        // skipped; then the real one.
        c.0[PCI_CAPABILITY_LIST as usize] = 0xb0;
        c.vendor_cap(0xb0, 0xc0, VIRTIO_PCI_CAP_COMMON_CFG, 7, 0x5000, 0x1000, 16);
        c.vendor_cap(0xc0, 0x98, VIRTIO_PCI_CAP_COMMON_CFG, 2, 0x100, 0x40, 16);
        let caps = find_caps(&c, "dev").unwrap();
        assert_eq!(caps.common, Region { bar: 2, offset: 0x100, length: 0x40 });
    }

    #[test]
    fn a_legacy_only_device_is_told_to_use_disable_legacy() {
        let mut c = FakeConfig::qemu_like();
        // Only the MSI-X capability: what a legacy device has.
        c.0[0x99] = 0;
        let e = find_caps(&c, "0000:01:00.0").unwrap_err().to_string();
        assert!(e.contains("disable-legacy=on") && e.contains("common-configuration"), "{e}");
        let mut c = FakeConfig::qemu_like();
        c.0[PCI_STATUS as usize] = 0;
        let e = find_caps(&c, "dev").unwrap_err().to_string();
        assert!(e.contains("legacy-only") && e.contains("disable-legacy=on"), "{e}");
    }

    #[test]
    fn malformed_lists_are_errors_not_hangs() {
        let mut c = FakeConfig::qemu_like();
        c.0[0xd1] = 0x84; // the last capability points back into the list
        let e = find_caps(&c, "dev").unwrap_err().to_string();
        assert!(e.contains("malformed"), "{e}");
        let mut c = FakeConfig::qemu_like();
        c.0[0x4c + 2] = 16; // notify capability without its multiplier
        let e = find_caps(&c, "dev").unwrap_err().to_string();
        assert!(e.contains("too short for its multiplier"), "{e}");
        let mut c = FakeConfig::qemu_like();
        c.0[0x84 + 12..0x84 + 16].copy_from_slice(&0x20u32.to_le_bytes());
        let e = find_caps(&c, "dev").unwrap_err().to_string();
        assert!(e.contains("shorter than the 56"), "{e}");
    }

    #[test]
    fn misaligned_structures_are_refused_before_any_access() {
        // Common configuration at an odd offset (the BAR accessors would
        // fault on it), then an odd notify multiplier.
        let mut c = FakeConfig::qemu_like();
        c.0[0x84 + 8..0x84 + 12].copy_from_slice(&0x2u32.to_le_bytes());
        let e = find_caps(&c, "dev").unwrap_err().to_string();
        assert!(e.contains("common configuration") && e.contains("4-byte aligned"), "{e}");
        let mut c = FakeConfig::qemu_like();
        c.0[0x4c + 16..0x4c + 20].copy_from_slice(&3u32.to_le_bytes());
        let e = find_caps(&c, "dev").unwrap_err().to_string();
        assert!(e.contains("notify_off_multiplier 3 is odd"), "{e}");
    }

    #[test]
    fn regions_must_fit_their_bar() {
        let r = Region { bar: 4, offset: 0x3000, length: 0x1000 };
        assert!(check_in_bar(&r, 0x4000, "notify area", "dev").is_ok());
        let e = check_in_bar(&r, 0x3800, "notify area", "dev").unwrap_err().to_string();
        assert!(e.contains("beyond BAR4"), "{e}");
    }
}
