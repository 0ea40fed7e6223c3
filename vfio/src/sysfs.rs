//! What sysfs says about a PCI device: ids, bound driver, IOMMU group.
//!
//! Everything here takes a [`Paths`] so tests can point it at a fake tree.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{GroupMember, VfioError};

/// Where sysfs and `/dev` are (the real ones outside tests).
#[derive(Clone, Debug)]
pub(crate) struct Paths {
    pub sys: PathBuf,
    pub dev: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths { sys: PathBuf::from("/sys"), dev: PathBuf::from("/dev") }
    }
}

impl Paths {
    pub fn device_dir(&self, addr: &str) -> PathBuf {
        self.sys.join("bus/pci/devices").join(addr)
    }
    pub fn container_node(&self) -> PathBuf {
        self.dev.join("vfio/vfio")
    }
    pub fn group_node(&self, group: u32, noiommu: bool) -> PathBuf {
        if noiommu {
            self.dev.join(format!("vfio/noiommu-{group}"))
        } else {
            self.dev.join(format!("vfio/{group}"))
        }
    }
}

/// What sysfs knows about one PCI device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciInfo {
    /// Canonical address, `0000:01:00.0`.
    pub addr: String,
    /// PCI vendor id (0x8086 for Intel).
    pub vendor: u16,
    /// PCI device id (0x10c9 for the 82576).
    pub device: u16,
    /// Bound kernel driver, `None` if unbound.
    pub driver: Option<String>,
    /// IOMMU group number, `None` without an IOMMU (and without noiommu).
    pub group: Option<u32>,
}

/// Turns `01:00.0`, `0000:01:00.0` (any case, surrounding blanks) into the
/// canonical `0000:01:00.0`; anything else is [`VfioError::InvalidAddress`].
pub fn normalize_pci_addr(input: &str) -> Result<String, VfioError> {
    let bad = || VfioError::InvalidAddress { input: input.to_string() };
    let s = input.trim();
    let parts: Vec<&str> = s.split(':').collect();
    let (domain, bus, devfn) = match parts.as_slice() {
        [bus, devfn] => ("0", *bus, *devfn),
        [domain, bus, devfn] => (*domain, *bus, *devfn),
        _ => return Err(bad()),
    };
    let (dev, func) = devfn.split_once('.').ok_or_else(bad)?;
    let hex = |s: &str, max_digits: usize| -> Option<u32> {
        if s.is_empty() || s.len() > max_digits || !s.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(s, 16).ok()
    };
    let domain = hex(domain, 4).ok_or_else(bad)?;
    let bus = hex(bus, 2).ok_or_else(bad)?;
    let dev = hex(dev, 2).filter(|d| *d < 32).ok_or_else(bad)?;
    let func = hex(func, 1).filter(|f| *f < 8).ok_or_else(bad)?;
    Ok(format!("{domain:04x}:{bus:02x}:{dev:02x}.{func:x}"))
}

fn link_name(path: &Path) -> Option<String> {
    let target = fs::read_link(path).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

fn read_id(path: &Path) -> Option<u16> {
    let s = fs::read_to_string(path).ok()?;
    let s = s.trim();
    u16::from_str_radix(s.strip_prefix("0x").unwrap_or(s), 16).ok()
}

pub(crate) fn device_info_in(paths: &Paths, input: &str) -> Result<PciInfo, VfioError> {
    let addr = normalize_pci_addr(input)?;
    let dir = paths.device_dir(&addr);
    if !dir.exists() {
        return Err(VfioError::NoSuchDevice { addr });
    }
    let vendor = read_id(&dir.join("vendor")).unwrap_or(0xffff);
    let device = read_id(&dir.join("device")).unwrap_or(0xffff);
    let driver = link_name(&dir.join("driver"));
    let group = link_name(&dir.join("iommu_group")).and_then(|g| g.parse().ok());
    Ok(PciInfo { addr, vendor, device, driver, group })
}

/// Reads vendor, device, driver and IOMMU group of `addr` from sysfs
/// (`01:00.0` or `0000:01:00.0`).
pub fn pci_device_info(addr: &str) -> Result<PciInfo, VfioError> {
    device_info_in(&Paths::default(), addr)
}

/// The other devices of `group` (not `except`), with their drivers.
pub(crate) fn group_members(paths: &Paths, group: u32, except: &str) -> Vec<GroupMember> {
    let dir = paths.sys.join(format!("kernel/iommu_groups/{group}/devices"));
    let mut out: Vec<GroupMember> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|a| a != except)
            .map(|addr| {
                let driver = link_name(&paths.device_dir(&addr).join("driver"));
                GroupMember { addr, driver }
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort_by(|a, b| a.addr.cmp(&b.addr));
    out
}

/// Checks that `input` names a device bound to vfio-pci that has an IOMMU
/// group; returns its sysfs facts and the group number.
pub(crate) fn preflight(paths: &Paths, input: &str) -> Result<(PciInfo, u32), VfioError> {
    let info = device_info_in(paths, input)?;
    if info.driver.as_deref() != Some("vfio-pci") {
        return Err(VfioError::NotBound { addr: info.addr, driver: info.driver });
    }
    match info.group {
        Some(g) => Ok((info, g)),
        None => Err(VfioError::NoIommuGroup { addr: info.addr }),
    }
}

/// Whether the kernel has an IOMMU enabled (`/sys/class/iommu` lists one).
pub fn iommu_enabled() -> bool {
    iommu_enabled_in(&Paths::default())
}

pub(crate) fn iommu_enabled_in(paths: &Paths) -> bool {
    fs::read_dir(paths.sys.join("class/iommu")).map(|mut d| d.next().is_some()).unwrap_or(false)
}

#[cfg(test)]
pub(crate) mod fake {
    //! A throw-away sysfs/dev tree for tests.
    use super::*;
    use std::os::unix::fs::symlink;
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub struct FakeTree {
        pub paths: Paths,
        root: PathBuf,
    }

    impl FakeTree {
        pub fn new() -> FakeTree {
            static N: AtomicUsize = AtomicUsize::new(0);
            let root = std::env::temp_dir().join(format!(
                "ferrite-vfio-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(root.join("sys/bus/pci/devices")).unwrap();
            fs::create_dir_all(root.join("sys/bus/pci/drivers")).unwrap();
            fs::create_dir_all(root.join("dev/vfio")).unwrap();
            let paths = Paths { sys: root.join("sys"), dev: root.join("dev") };
            FakeTree { paths, root }
        }

        /// Adds a device with ids, an optional driver and an optional group.
        pub fn device(&self, addr: &str, vendor: u16, device: u16, driver: Option<&str>, group: Option<u32>) {
            let real = self.root.join("sys/devices/pci0000:00").join(addr);
            fs::create_dir_all(&real).unwrap();
            fs::write(real.join("vendor"), format!("{vendor:#06x}\n")).unwrap();
            fs::write(real.join("device"), format!("{device:#06x}\n")).unwrap();
            if let Some(d) = driver {
                let ddir = self.paths.sys.join("bus/pci/drivers").join(d);
                fs::create_dir_all(&ddir).unwrap();
                symlink(&ddir, real.join("driver")).unwrap();
            }
            if let Some(g) = group {
                let gdir = self.paths.sys.join(format!("kernel/iommu_groups/{g}"));
                fs::create_dir_all(gdir.join("devices")).unwrap();
                symlink(&gdir, real.join("iommu_group")).unwrap();
                symlink(&real, gdir.join("devices").join(addr)).unwrap();
            }
            symlink(&real, self.paths.device_dir(addr)).unwrap();
        }
    }

    impl Drop for FakeTree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeTree;
    use super::*;

    #[test]
    fn addresses_are_normalised() {
        assert_eq!(normalize_pci_addr("01:00.0").unwrap(), "0000:01:00.0");
        assert_eq!(normalize_pci_addr("0000:01:00.0").unwrap(), "0000:01:00.0");
        assert_eq!(normalize_pci_addr(" 0000:AF:1f.7\n").unwrap(), "0000:af:1f.7");
        assert_eq!(normalize_pci_addr("1:2:3.4").unwrap(), "0001:02:03.4");
        for bad in ["", "01:00", "01:00.8", "01:20.0", "x1:00.0", "00000:01:00.0", "0:0:0:0.0", "01:00.0.1", "01:-0.0"]
        {
            let e = normalize_pci_addr(bad).unwrap_err();
            assert!(matches!(e, VfioError::InvalidAddress { .. }), "{bad}");
            assert!(e.to_string().contains("scripts/devbind --status"), "{e}");
        }
    }

    #[test]
    fn nonexistent_device_says_to_list_devices() {
        let t = FakeTree::new();
        let e = preflight(&t.paths, "09:00.0").unwrap_err();
        assert_eq!(e.to_string(), "no such PCI device 0000:09:00.0: run `scripts/devbind --status` to list devices");
    }

    #[test]
    fn device_on_another_driver_says_how_to_bind() {
        let t = FakeTree::new();
        t.device("0000:01:00.0", 0x8086, 0x10c9, Some("igb"), Some(7));
        let e = preflight(&t.paths, "01:00.0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "0000:01:00.0 is bound to igb, not vfio-pci: run `sudo scripts/devbind --bind vfio-pci 0000:01:00.0`"
        );
        t.device("0000:02:00.0", 0x8086, 0x10c9, None, Some(8));
        let e = preflight(&t.paths, "0000:02:00.0").unwrap_err();
        assert!(e.to_string().contains("not bound to any driver"), "{e}");
        assert!(e.to_string().contains("--bind vfio-pci 0000:02:00.0"), "{e}");
    }

    #[test]
    fn no_group_mentions_the_iommu() {
        let t = FakeTree::new();
        t.device("0000:01:00.0", 0x8086, 0x10c9, Some("vfio-pci"), None);
        let e = preflight(&t.paths, "01:00.0").unwrap_err();
        assert!(matches!(e, VfioError::NoIommuGroup { .. }));
        assert!(e.to_string().contains("intel_iommu=on"));
    }

    #[test]
    fn info_and_group_members() {
        let t = FakeTree::new();
        t.device("0000:01:00.0", 0x8086, 0x10c9, Some("vfio-pci"), Some(7));
        t.device("0000:01:00.1", 0x8086, 0x10c9, Some("igb"), Some(7));
        let (info, g) = preflight(&t.paths, "01:00.0").unwrap();
        assert_eq!(g, 7);
        assert_eq!(
            info,
            PciInfo {
                addr: "0000:01:00.0".into(),
                vendor: 0x8086,
                device: 0x10c9,
                driver: Some("vfio-pci".into()),
                group: Some(7)
            }
        );
        let others = group_members(&t.paths, 7, "0000:01:00.0");
        assert_eq!(others, vec![GroupMember { addr: "0000:01:00.1".into(), driver: Some("igb".into()) }]);
        assert!(!iommu_enabled_in(&t.paths));
    }
}
