#![deny(missing_docs)]
//! Thin safe wrappers over the Linux VFIO ioctls, for user-space PCI drivers.
//!
//! A NIC driver needs a handful of things from VFIO: claim a device bound to
//! `vfio-pci` ([`VfioDevice::open`]), read and write its config space, map
//! its register BAR ([`VfioDevice::map_bar`] → [`Bar`]), make DMA memory
//! reachable through the IOMMU ([`Container`] implements
//! [`ferrite_hugepages::DmaMapper`]), reset it and route its interrupts to
//! eventfds ([`EventFd`]). This crate does exactly that, in the rust-vmm
//! style: one small safe method per ioctl, every `unsafe` block justified by
//! a `// SAFETY:` comment, and errors as a typed [`VfioError`] whose message
//! says what is wrong and which command fixes it.
//!
//! # Why not `vfio-ioctls`
//!
//! We evaluated rust-vmm's `vfio-ioctls` 0.10 and drove an emulated 82576
//! with it in a QEMU guest; it works, but it is built for a VMM passing
//! devices to a guest, not for a poll-mode driver:
//!
//! * **No no-IOMMU mode.** It only sets `VFIO_TYPE1v2_IOMMU` and only opens
//!   `/dev/vfio/N`; `/dev/vfio/noiommu-N` and `VFIO_NOIOMMU_IOMMU` are never
//!   tried, so `--iova-mode pa` would be impossible.
//! * **One device per group** is assumed (its own documentation says so);
//!   we share a group between its devices.
//! * **Errors are swallowed.** `region_read`/`region_write` return `()` and
//!   only log failed or out-of-range accesses, which is dangerous for
//!   config-space writes; `reset()` ignores the ioctl's result.
//! * **It panics in `Drop`** (`get_group_id_from_path(..).unwrap()`) if the
//!   device vanished from sysfs.
//! * **It pulls in `vm-memory` and `vmm-sys-util`** (and its iommufd path
//!   forces the `kvm` feature), none of which a NIC driver needs, and has no
//!   BAR mmap helper.
//!
//! We keep `vfio-bindings` for the kernel structs and constants (the
//! bindgen'd `linux/vfio.h`); it lacks only the ioctl request numbers, which
//! are one line each in the private `ioctl` module.
//!
//! # One container per process
//!
//! All devices share one [`Container`] ([`Container::global`]), so DMA
//! memory mapped once is reachable by every NIC: port 0 receives into a
//! buffer, port 1 transmits it. VFIO type1 replays existing mappings into
//! the IOMMU domain of every group attached later.
//!
//! # IOMMU modes
//!
//! * [`IommuMode::Type1`] (default, `--iova-mode va`): a real IOMMU
//!   translates device addresses; DMA memory is mapped with
//!   `VFIO_IOMMU_MAP_DMA`, with IOVA = VA whenever the IOMMU's address width
//!   allows (otherwise IOVAs are allocated from its valid ranges).
//! * [`IommuMode::NoIommu`] (only when asked for, `--iova-mode pa`):
//!   `/dev/vfio/noiommu-N`, no isolation, devices see physical addresses;
//!   a loud warning is logged once (`log::warn!`), and [`Container`] refuses to map.

mod bar;
mod container;
mod device;
mod error;
mod group;
mod ioctl;
mod irq;
mod sysfs;

pub use bar::Bar;
pub use container::Container;
pub use device::{RegionInfo, VfioDevice};
pub use error::{GroupMember, VfioError};
pub use irq::{EventFd, IrqKind};
pub use sysfs::{iommu_enabled, normalize_pci_addr, pci_device_info, PciInfo};

/// How device addresses are translated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IommuMode {
    /// A real IOMMU (VFIO type1 / type1v2): DMA memory must be mapped, and
    /// the device is isolated from everything else.
    Type1,
    /// VFIO's unsafe no-IOMMU mode: devices DMA to physical addresses.
    NoIommu,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::fake::FakeTree;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_are_send_and_sync() {
        assert_send_sync::<VfioDevice>();
        assert_send_sync::<Bar>();
        assert_send_sync::<Container>();
        assert_send_sync::<EventFd>();
    }

    #[test]
    fn open_reports_sysfs_problems_before_touching_dev() {
        let t = FakeTree::new();
        t.device("0000:01:00.0", 0x8086, 0x10c9, Some("igb"), Some(7));
        let e = VfioDevice::open_in(&t.paths, "01:00.0", IommuMode::Type1).unwrap_err();
        assert!(matches!(e, VfioError::NotBound { .. }), "{e}");
        let e = VfioDevice::open_in(&t.paths, "0000:09:00.0", IommuMode::Type1).unwrap_err();
        assert!(e.to_string().starts_with("no such PCI device 0000:09:00.0"), "{e}");
        let e = VfioDevice::open_in(&t.paths, "banana", IommuMode::Type1).unwrap_err();
        assert!(matches!(e, VfioError::InvalidAddress { .. }), "{e}");
    }

    #[test]
    fn open_without_vfio_says_modprobe() {
        let t = FakeTree::new();
        t.device("0000:01:00.0", 0x8086, 0x10c9, Some("vfio-pci"), Some(7));
        let e = VfioDevice::open_in(&t.paths, "01:00.0", IommuMode::Type1).unwrap_err();
        assert!(matches!(e, VfioError::NoVfio { .. }), "{e}");
        assert!(e.to_string().contains("modprobe vfio-pci"), "{e}");
    }
}
