//! Drivers: each module is one kind of port.
//!
//! * [`virt`]: software ports (`loop`, `pair`, `null`) that need no NIC.
//! * [`igb`]: the Intel 82576 poll-mode driver, reached through [`open_pci`].
//! * [`virtio`]: the modern (virtio 1.x) virtio-net poll-mode driver, also
//!   reached through [`open_pci`].

pub mod igb;
pub mod virt;
pub mod virtio;

use crate::port::{NetDevice, PortError};
use ferrite_hugepages::IovaMode;

/// Opens the PCI device at `pci_addr` (`0000:01:00.0` or `01:00.0`) with the
/// driver that claims its vendor:device ID.
///
/// The ID is read from sysfs before VFIO is touched, so an unsupported NIC
/// gets a clear "no driver" message even when it is not bound to vfio-pci.
/// Supported: the 82576 family (see [`igb::regs::DEVICE_IDS_82576`]) and
/// modern virtio-net (`1af4:1041`). The I350 (`8086:1521`) is refused on
/// purpose ([`igb`]'s docs say why), and so is a transitional virtio-net
/// (`1af4:1000`), with what to change in QEMU.
pub fn open_pci(pci_addr: &str, iova_mode: IovaMode) -> Result<Box<dyn NetDevice>, PortError> {
    let info = ferrite_vfio::pci_device_info(pci_addr)?;
    if igb::supports(info.vendor, info.device) {
        return Ok(Box::new(igb::IgbPort::open_vfio(&info.addr, iova_mode)?));
    }
    if virtio::supports(info.vendor, info.device) {
        return Ok(Box::new(virtio::VirtioPort::open_vfio(&info.addr, iova_mode)?));
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
