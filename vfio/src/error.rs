//! [`VfioError`]: everything that can go wrong while claiming a device, each
//! message saying what is wrong *and* what to run to fix it.

use std::fmt;
use std::io;

use crate::IommuMode;

/// A device in an IOMMU group, with the driver it is bound to (if any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMember {
    /// Canonical PCI address (`0000:01:00.0`).
    pub addr: String,
    /// Kernel driver bound to it, `None` if unbound.
    pub driver: Option<String>,
}

/// Errors from the VFIO layer.
#[derive(Debug)]
#[non_exhaustive]
pub enum VfioError {
    /// The string is not a PCI address.
    InvalidAddress {
        /// The text given, as it was.
        input: String,
    },
    /// No such device in sysfs.
    NoSuchDevice {
        /// The device's canonical PCI address (`0000:01:00.0`).
        addr: String,
    },
    /// The device is bound to another driver, or to none.
    NotBound {
        /// The device's canonical PCI address (`0000:01:00.0`).
        addr: String,
        /// The kernel driver bound to it, `None` when unbound.
        driver: Option<String>,
    },
    /// The device has no IOMMU group: the IOMMU is off (or missing).
    NoIommuGroup {
        /// The device's canonical PCI address (`0000:01:00.0`).
        addr: String,
    },
    /// `/dev/vfio/vfio` (or the group node) is missing: module not loaded.
    NoVfio {
        /// The device node that could not be opened.
        path: String,
    },
    /// The caller may not open a VFIO node.
    PermissionDenied {
        /// The device node that could not be opened.
        path: String,
    },
    /// The group node exists only in the other IOMMU mode.
    WrongGroupKind {
        /// The device's canonical PCI address (`0000:01:00.0`).
        addr: String,
        /// The IOMMU group number (`/dev/vfio/N`).
        group: u32,
        /// The IOMMU mode asked for.
        wanted: IommuMode,
    },
    /// Another process (or this one, through another container) holds the group.
    GroupBusy {
        /// The IOMMU group number (`/dev/vfio/N`).
        group: u32,
    },
    /// This process already has the device open (through another driver
    /// instance, or the same address written another way).
    AlreadyOpen {
        /// The device's canonical PCI address (`0000:01:00.0`).
        addr: String,
    },
    /// Some device of the group is bound to a host driver.
    GroupNotViable {
        /// The IOMMU group number (`/dev/vfio/N`).
        group: u32,
        /// The device's canonical PCI address (`0000:01:00.0`).
        addr: String,
        /// The group's devices still bound to host drivers.
        others: Vec<GroupMember>,
    },
    /// The kernel speaks another VFIO API version.
    ApiVersion {
        /// The version the kernel reported (`VFIO_GET_API_VERSION`).
        got: i32,
    },
    /// The kernel's VFIO lacks the IOMMU backend the mode needs.
    IommuUnsupported {
        /// The IOMMU mode that was asked for.
        mode: IommuMode,
    },
    /// type1 refused the IOMMU because interrupts cannot be remapped.
    NoInterruptRemapping,
    /// `Container::global` was asked for another mode than the one in use.
    ModeMismatch {
        /// The mode the process-wide container already runs in.
        have: IommuMode,
        /// The mode asked for now.
        wanted: IommuMode,
    },
    /// An ioctl failed for another reason.
    Ioctl {
        /// The ioctl, by its kernel name.
        op: &'static str,
        /// What it was issued on (a device address, group or container).
        target: String,
        /// The error the kernel returned.
        source: io::Error,
    },
    /// A read, write or mmap on a device region failed.
    Io {
        /// What was being accessed (a BAR, config space, ...).
        what: String,
        /// The error the kernel returned.
        source: io::Error,
    },
    /// A config-space or region access outside the region.
    OutOfRange {
        /// The device's canonical PCI address (`0000:01:00.0`).
        addr: String,
        /// What was being accessed (a BAR, config space, ...).
        what: String,
        /// Where the access started, in bytes from the region start.
        offset: u64,
        /// Bytes accessed.
        len: u64,
        /// Size of the region in bytes.
        size: u64,
    },
    /// The region index does not exist or is not a usable BAR.
    BadRegion {
        /// The device's canonical PCI address (`0000:01:00.0`).
        addr: String,
        /// The VFIO region index asked for.
        index: u32,
        /// Why the region cannot be used.
        why: &'static str,
    },
    /// The device cannot be reset through VFIO.
    ResetUnsupported {
        /// The device's canonical PCI address (`0000:01:00.0`).
        addr: String,
    },
    /// The interrupt type or vector count is not available.
    IrqUnsupported {
        /// The device's canonical PCI address (`0000:01:00.0`).
        addr: String,
        /// The interrupt type asked for (INTx, MSI, MSI-X).
        kind: crate::IrqKind,
        /// Vectors asked for.
        wanted: u32,
        /// Vectors the device offers of that type.
        available: u32,
    },
    /// Creating an eventfd failed.
    EventFd(io::Error),
}

impl VfioError {
    pub(crate) fn ioctl(op: &'static str, target: impl Into<String>, source: io::Error) -> Self {
        VfioError::Ioctl { op, target: target.into(), source }
    }
}

fn list_members(f: &mut fmt::Formatter<'_>, others: &[GroupMember]) -> fmt::Result {
    for (i, m) in others.iter().enumerate() {
        if i > 0 {
            write!(f, ", ")?;
        }
        match &m.driver {
            Some(d) => write!(f, "{} (bound to {d})", m.addr)?,
            None => write!(f, "{} (no driver)", m.addr)?,
        }
    }
    Ok(())
}

impl fmt::Display for VfioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VfioError::InvalidAddress { input } => write!(
                f,
                "'{input}' is not a PCI address (expected DDDD:BB:DD.F or BB:DD.F, e.g. 0000:01:00.0): \
                 run `scripts/devbind --status` to list devices"
            ),
            VfioError::NoSuchDevice { addr } => {
                write!(f, "no such PCI device {addr}: run `scripts/devbind --status` to list devices")
            }
            VfioError::NotBound { addr, driver: Some(d) } => {
                write!(f, "{addr} is bound to {d}, not vfio-pci: run `sudo scripts/devbind --bind vfio-pci {addr}`")
            }
            VfioError::NotBound { addr, driver: None } => write!(
                f,
                "{addr} is not bound to any driver (needs vfio-pci): run `sudo scripts/devbind --bind vfio-pci {addr}`"
            ),
            VfioError::NoIommuGroup { addr } => write!(
                f,
                "{addr} has no IOMMU group, so the IOMMU is off: boot with `intel_iommu=on` (AMD: `amd_iommu=on`) \
                 and rebind with `sudo scripts/devbind --bind vfio-pci {addr}`; without an IOMMU use \
                 `--iova-mode pa` with `sudo modprobe vfio enable_unsafe_noiommu_mode=1` (unsafe: no DMA isolation)"
            ),
            VfioError::NoVfio { path } => write!(
                f,
                "{path} does not exist, so VFIO is not loaded: run `sudo modprobe vfio-pci` and bind the device \
                 with `sudo scripts/devbind --bind vfio-pci ADDR`"
            ),
            // A no-IOMMU group takes CAP_SYS_RAWIO whoever owns its node
            // (the kernel checks it on open), so chown cannot help there.
            VfioError::PermissionDenied { path } if is_noiommu_node(path) => write!(
                f,
                "permission denied opening {path}: no-IOMMU mode needs root, run as root (the kernel lets only \
                 CAP_SYS_RAWIO open a no-IOMMU group, whoever owns the node, and IOVA mode pa needs \
                 CAP_SYS_ADMIN to read physical addresses from /proc/self/pagemap)"
            ),
            VfioError::PermissionDenied { path } => write!(
                f,
                "permission denied opening {path}: run as root, or give your user the node with \
                 `sudo chown $USER {path}` (and raise the locked-memory limit: `ulimit -l unlimited`)"
            ),
            VfioError::WrongGroupKind { addr, group, wanted: IommuMode::Type1 } => write!(
                f,
                "{addr} is in no-IOMMU group {group} (/dev/vfio/noiommu-{group}), which gives no DMA isolation: \
                 use `--iova-mode pa`, or boot with `intel_iommu=on` for IOMMU protection"
            ),
            VfioError::WrongGroupKind { addr, group, wanted: IommuMode::NoIommu } => write!(
                f,
                "{addr} is in IOMMU group {group} behind a real IOMMU, and no-IOMMU mode was asked for: \
                 use `--iova-mode va` (the default)"
            ),
            VfioError::GroupBusy { group } => write!(
                f,
                "IOMMU group {group} is already in use by another process: stop it (find it with \
                 `sudo fuser -v /dev/vfio/{group}`)"
            ),
            VfioError::AlreadyOpen { addr } => write!(
                f,
                "{addr} is already open in this process: a device can have one driver at a time \
                 (was the same address given twice, e.g. as 01:00.0 and 0000:01:00.0?)"
            ),
            VfioError::GroupNotViable { group, addr, others } => {
                write!(f, "IOMMU group {group} of {addr} is not viable: every device in it must be bound to vfio-pci or to no driver, but ")?;
                list_members(f, others)?;
                write!(f, "; run `sudo scripts/devbind --bind vfio-pci")?;
                for m in others.iter().filter(|m| m.driver.is_some()) {
                    write!(f, " {}", m.addr)?;
                }
                write!(f, "` (or unbind them from their drivers)")
            }
            VfioError::ApiVersion { got } => write!(
                f,
                "the kernel's VFIO API version is {got}, expected {}: this kernel is not supported; \
                 run a kernel with the standard VFIO API (any mainline kernel since 3.6)",
                vfio_bindings::bindings::vfio::VFIO_API_VERSION
            ),
            VfioError::IommuUnsupported { mode: IommuMode::Type1 } => write!(
                f,
                "VFIO has no type1 IOMMU backend (no IOMMU enabled): run `sudo modprobe vfio_iommu_type1`, and boot \
                 with `intel_iommu=on` (AMD: `amd_iommu=on`); without an IOMMU use `--iova-mode pa` (noiommu)"
            ),
            VfioError::IommuUnsupported { mode: IommuMode::NoIommu } => write!(
                f,
                "VFIO no-IOMMU mode is not enabled: run `sudo modprobe vfio enable_unsafe_noiommu_mode=1` \
                 (needs a kernel with CONFIG_VFIO_NOIOMMU), or use an IOMMU with `--iova-mode va`"
            ),
            VfioError::NoInterruptRemapping => write!(
                f,
                "VFIO refused to set the type1 IOMMU (EPERM): the platform has no interrupt remapping; enable it \
                 (QEMU: `-device intel-iommu,intremap=on`), or accept the risk with \
                 `sudo modprobe vfio_iommu_type1 allow_unsafe_interrupts=1`"
            ),
            VfioError::ModeMismatch { have, wanted } => write!(
                f,
                "the process-wide VFIO container is already in {have:?} mode, {wanted:?} was asked for: \
                 use one `--iova-mode` for all ports of a process"
            ),
            VfioError::Ioctl { op, target, source } => {
                write!(f, "{op} on {target} failed: {source}; check `sudo dmesg | tail` for the kernel's reason")
            }
            VfioError::Io { what, source } => {
                write!(f, "{what} failed: {source}; check `sudo dmesg | tail` for the kernel's reason")
            }
            VfioError::OutOfRange { addr, what, offset, len, size } => write!(
                f,
                "{what} of {len} bytes at offset {offset:#x} is outside {addr}'s region of {size:#x} bytes: \
                 this is a driver bug, fix the offset"
            ),
            VfioError::BadRegion { addr, index, why } => {
                write!(f, "region {index} of {addr} {why}: check the device's BARs with `lspci -vv -s {addr}`")
            }
            VfioError::ResetUnsupported { addr } => write!(
                f,
                "{addr} does not support a VFIO device reset (no FLR or PM reset): reset it by unbinding and \
                 rebinding it, `sudo scripts/devbind --bind vfio-pci {addr}`"
            ),
            VfioError::IrqUnsupported { addr, kind, wanted, available } => write!(
                f,
                "{addr} offers {available} {kind:?} vector(s), {wanted} were asked for: ask for at most \
                 {available} (see `lspci -vv -s {addr}`)"
            ),
            VfioError::EventFd(e) => {
                write!(f, "creating an eventfd failed: {e}; raise the open-file limit (`ulimit -n 4096`)")
            }
        }
    }
}

/// Whether `path` is a no-IOMMU group node (`/dev/vfio/noiommu-N`).
fn is_noiommu_node(path: &str) -> bool {
    path.rsplit('/').next().is_some_and(|name| name.starts_with("noiommu-"))
}

impl std::error::Error for VfioError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            VfioError::Ioctl { source, .. } | VfioError::Io { source, .. } | VfioError::EventFd(source) => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_viable_lists_members_and_the_fix() {
        let e = VfioError::GroupNotViable {
            group: 7,
            addr: "0000:01:00.0".into(),
            others: vec![
                GroupMember { addr: "0000:01:00.1".into(), driver: Some("igb".into()) },
                GroupMember { addr: "0000:01:00.2".into(), driver: None },
            ],
        };
        let s = e.to_string();
        assert!(s.contains("0000:01:00.1 (bound to igb)"), "{s}");
        assert!(s.contains("0000:01:00.2 (no driver)"), "{s}");
        assert!(s.contains("`sudo scripts/devbind --bind vfio-pci 0000:01:00.1`"), "{s}");
    }

    #[test]
    fn messages_name_the_fix() {
        let cases: Vec<(VfioError, &str)> = vec![
            (VfioError::NoVfio { path: "/dev/vfio/vfio".into() }, "modprobe vfio-pci"),
            (VfioError::PermissionDenied { path: "/dev/vfio/7".into() }, "chown $USER /dev/vfio/7"),
            (VfioError::NoIommuGroup { addr: "0000:01:00.0".into() }, "intel_iommu=on"),
            (VfioError::NoIommuGroup { addr: "0000:01:00.0".into() }, "--iova-mode pa"),
            (VfioError::IommuUnsupported { mode: IommuMode::Type1 }, "intel_iommu=on"),
            (VfioError::IommuUnsupported { mode: IommuMode::NoIommu }, "enable_unsafe_noiommu_mode=1"),
            (VfioError::GroupBusy { group: 3 }, "fuser -v /dev/vfio/3"),
            (VfioError::AlreadyOpen { addr: "0000:01:00.0".into() }, "given twice"),
            (VfioError::NoInterruptRemapping, "allow_unsafe_interrupts=1"),
        ];
        for (e, want) in cases {
            let s = e.to_string();
            assert!(s.contains(want), "{s:?} lacks {want:?}");
        }
    }

    #[test]
    fn noiommu_permission_needs_root_not_chown() {
        let s = VfioError::PermissionDenied { path: "/dev/vfio/noiommu-0".into() }.to_string();
        assert!(s.contains("permission denied opening /dev/vfio/noiommu-0") && s.contains("run as root"), "{s}");
        assert!(s.contains("CAP_SYS_RAWIO"), "{s}");
        assert!(!s.contains("chown"), "chown cannot open a no-IOMMU group: {s}");
        // IOMMU-backed groups and the container keep the chown advice.
        for path in ["/dev/vfio/7", "/dev/vfio/vfio"] {
            let s = VfioError::PermissionDenied { path: path.into() }.to_string();
            assert!(s.contains(&format!("sudo chown $USER {path}")), "{s}");
        }
    }
}
