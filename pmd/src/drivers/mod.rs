//! Drivers: each module is one kind of port.
//!
//! * [`virt`]: software ports (`loop`, `pair`, `null`) that need no NIC.
//! * [`igb`]: the Intel 82576 poll-mode driver, reached through [`open_pci`].
//! * [`virtio`]: the modern (virtio 1.x) virtio-net poll-mode driver, also
//!   reached through [`open_pci`].

pub mod af_xdp;
pub mod igb;
pub mod vdev;
pub mod virt;
pub mod virtio;
mod watcher;

use crate::port::{NetDevice, PortError};
use ferrite_hugepages::IovaMode;

/// A PCI port as `-a` names it, DPDK's way: the address, then device
/// arguments, `0000:03:00.0,packed_vq=0` (each `key=value`, comma
/// separated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciSpec<'a> {
    /// The PCI address as given.
    pub addr: &'a str,
    /// The device arguments, in order.
    pub args: Vec<(&'a str, &'a str)>,
}

/// Splits a `-a` value into a [`PciSpec`]. An argument without `=` or with
/// an empty key is an error; whether the driver knows the key is checked by
/// the driver.
pub fn parse_pci_spec(spec: &str) -> Result<PciSpec<'_>, PortError> {
    let mut parts = spec.split(',');
    let addr = parts.next().unwrap_or("").trim();
    let mut args = Vec::new();
    for part in parts {
        match part.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => args.push((k.trim(), v.trim())),
            _ => {
                return Err(PortError::InvalidConfig(format!(
                    "'{spec}': device argument '{part}' is not key=value (e.g. -a 0000:03:00.0,packed_vq=0)"
                )))
            }
        }
    }
    Ok(PciSpec { addr, args })
}

/// The PCI address part of a `-a` value (everything before the first comma).
pub fn pci_addr_of(spec: &str) -> &str {
    spec.split(',').next().unwrap_or("").trim()
}

/// Opens the PCI device named by `spec`, an address (`0000:01:00.0` or
/// `01:00.0`) optionally followed by device arguments (see
/// [`parse_pci_spec`]), with the driver that claims its vendor:device ID.
///
/// The ID is read from sysfs before VFIO is touched, so an unsupported NIC
/// gets a clear "no driver" message even when it is not bound to vfio-pci.
/// Supported: the 82576 family (see [`igb::regs::DEVICE_IDS_82576`]) and
/// modern virtio-net (`1af4:1041`, device arguments: see
/// [`virtio::DeviceArgs`]; igb takes none). The I350 (`8086:1521`) is
/// refused on purpose ([`igb`]'s docs say why), and so is a transitional
/// virtio-net (`1af4:1000`), with what to change in QEMU.
pub fn open_pci(spec: &str, iova_mode: IovaMode) -> Result<Box<dyn NetDevice>, PortError> {
    let PciSpec { addr, args } = parse_pci_spec(spec)?;
    let info = ferrite_vfio::pci_device_info(addr)?;
    if igb::supports(info.vendor, info.device) {
        if let Some((k, _)) = args.first() {
            return Err(PortError::InvalidConfig(format!(
                "{}: unknown device argument '{k}' for igb; it takes none",
                info.addr
            )));
        }
        return Ok(Box::new(igb::IgbPort::open_vfio(&info.addr, iova_mode)?));
    }
    if virtio::supports(info.vendor, info.device) {
        let args = virtio::DeviceArgs::parse(&info.addr, &args)?;
        return Ok(Box::new(virtio::VirtioPort::open_vfio(&info.addr, iova_mode, args)?));
    }
    if (info.vendor, info.device) == (virtio::regs::VENDOR_VIRTIO, virtio::regs::DEVICE_NET_TRANSITIONAL) {
        return Err(virtio::legacy_error(&info.addr));
    }
    let what = match (info.vendor, info.device) {
        (igb::regs::VENDOR_INTEL, igb::regs::DEVICE_I350_COPPER) => {
            "an Intel I350, which differs from the 82576 in ways the igb driver does not implement yet"
        }
        (igb::regs::VENDOR_INTEL, igb::regs::DEVICE_82576_VF) => {
            "an 82576 virtual function (igbvf); ferrite drives the physical function only"
        }
        _ => "a device no ferrite driver claims",
    };
    let supported: Vec<String> = igb::regs::DEVICE_IDS_82576
        .iter()
        .map(|(id, name)| format!("8086:{id:04x} ({name})"))
        .chain(std::iter::once("1af4:1041 (virtio-net, modern)".to_string()))
        .collect();
    Err(PortError::Device(format!(
        "{} is {:04x}:{:04x}, {what}; supported devices: {}",
        info.addr,
        info.vendor,
        info.device,
        supported.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::{parse_pci_spec, pci_addr_of, virtio::DeviceArgs, PciSpec};

    #[test]
    fn a_pci_spec_splits_into_address_and_device_arguments() {
        assert_eq!(parse_pci_spec("0000:03:00.0").unwrap(), PciSpec { addr: "0000:03:00.0", args: vec![] });
        let spec = parse_pci_spec("03:00.0,packed_vq=0").unwrap();
        assert_eq!(spec, PciSpec { addr: "03:00.0", args: vec![("packed_vq", "0")] });
        assert_eq!(pci_addr_of("03:00.0,packed_vq=0"), "03:00.0");
        for bad in ["03:00.0,packed_vq", "03:00.0,=1", "03:00.0,"] {
            let e = parse_pci_spec(bad).unwrap_err().to_string();
            assert!(e.contains("is not key=value"), "{bad}: {e}");
        }
    }

    #[test]
    fn virtio_device_arguments_decline_packed_rings_or_say_what_is_known() {
        let who = "0000:03:00.0";
        assert!(!DeviceArgs::parse(who, &[]).unwrap().packed_vq, "split rings unless asked");
        assert!(DeviceArgs::parse(who, &[("packed_vq", "1")]).unwrap().packed_vq);
        assert!(!DeviceArgs::parse(who, &[("packed_vq", "0")]).unwrap().packed_vq);
        assert!(DeviceArgs::parse(who, &[("packed_vq", "0"), ("packed_vq", "1")]).unwrap().packed_vq);
        let e = DeviceArgs::parse(who, &[("packed_vq", "2")]).unwrap_err().to_string();
        assert!(e.contains("packed_vq takes 0") && e.contains(who), "{e}");
        let e = DeviceArgs::parse(who, &[("in_order", "1")]).unwrap_err().to_string();
        assert!(e.contains("unknown device argument 'in_order'") && e.contains("packed_vq=0|1"), "{e}");
    }
}
