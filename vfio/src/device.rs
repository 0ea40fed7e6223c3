//! A PCI device claimed through VFIO: config space, BARs, reset, interrupts.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use vfio_bindings::bindings::vfio::{
    vfio_device_info, vfio_irq_info, vfio_region_info, VFIO_DEVICE_FLAGS_PCI, VFIO_DEVICE_FLAGS_RESET,
    VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_IRQ_SET_DATA_EVENTFD, VFIO_IRQ_SET_DATA_NONE,
    VFIO_PCI_CONFIG_REGION_INDEX, VFIO_REGION_INFO_FLAG_MMAP,
};

use crate::bar::Bar;
use crate::container::Container;
use crate::error::VfioError;
use crate::group::Group;
use crate::ioctl::*;
use crate::irq::{EventFd, IrqKind};
use crate::sysfs::{self, Paths};
use crate::IommuMode;

/// PCI config-space COMMAND register and its bits (PCI Local Bus spec 6.2.2).
const PCI_COMMAND: u64 = 0x04;
const PCI_COMMAND_MEMORY: u16 = 1 << 1;
const PCI_COMMAND_MASTER: u16 = 1 << 2;

/// One VFIO region of a device (`VFIO_DEVICE_GET_REGION_INFO`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionInfo {
    /// Size in bytes (0: the BAR is not implemented).
    pub size: u64,
    /// Offset of the region in the device fd (for pread/pwrite/mmap).
    pub offset: u64,
    /// `VFIO_REGION_INFO_FLAG_*`.
    pub flags: u32,
    /// Whether the region may be mmapped.
    pub mmappable: bool,
}

/// A PCI device bound to vfio-pci and opened through the process-wide
/// [`Container`]. `Send + Sync`: every method takes `&self`.
pub struct VfioDevice {
    // Field order is drop order: the device fd closes before the group.
    /// The device fd (a `File` for positioned config-space I/O).
    fd: File,
    addr: String,
    flags: u32,
    num_regions: u32,
    num_irqs: u32,
    config: RegionInfo,
    /// Serialises read-modify-write of config registers.
    config_lock: Mutex<()>,
    group: Arc<Group>,
    container: Arc<Container>,
}

impl std::fmt::Debug for VfioDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VfioDevice")
            .field("addr", &self.addr)
            .field("group", &self.group.number())
            .field("flags", &self.flags)
            .field("num_regions", &self.num_regions)
            .field("num_irqs", &self.num_irqs)
            .finish()
    }
}

impl VfioDevice {
    /// Opens `pci_addr` (`01:00.0` or `0000:01:00.0`): checks in sysfs that
    /// it exists and is bound to vfio-pci, finds its IOMMU group from the
    /// `iommu_group` link, opens `/dev/vfio/N` (`/dev/vfio/noiommu-N` in
    /// [`IommuMode::NoIommu`]), checks the group is viable, attaches it to
    /// the global [`Container`] (setting the IOMMU on the first group) and
    /// gets the device fd. A device this process already has open is
    /// refused ([`VfioError::AlreadyOpen`]) until that handle is dropped.
    pub fn open(pci_addr: &str, mode: IommuMode) -> Result<Arc<VfioDevice>, VfioError> {
        Self::open_in(&Paths::default(), pci_addr, mode)
    }

    pub(crate) fn open_in(paths: &Paths, pci_addr: &str, mode: IommuMode) -> Result<Arc<VfioDevice>, VfioError> {
        let (info, group_no) = sysfs::preflight(paths, pci_addr)?;
        let addr = info.addr;
        let container = Container::global_in(paths, mode)?;
        let group = container.attach_group(paths, &addr, group_no)?;
        let fd = File::from(group.claim_device(&addr)?);
        let (dinfo, config) = match describe(&fd, &addr) {
            Ok(d) => d,
            Err(e) => {
                group.release(&addr);
                return Err(e);
            }
        };
        Ok(Arc::new(VfioDevice {
            fd,
            addr,
            flags: dinfo.flags,
            num_regions: dinfo.num_regions,
            num_irqs: dinfo.num_irqs,
            config,
            config_lock: Mutex::new(()),
            group,
            container,
        }))
    }

    /// Lets go of the device while handles to it remain: the device fd is
    /// replaced in place by `/dev/null` (`dup2`), which closes the kernel's
    /// file for it. With every BAR mapping revoked ([`Bar::revoke`]) that
    /// completes a removal the kernel asked for ([`IrqKind::Req`]). Later
    /// calls on this handle fail instead of reaching the device.
    pub fn revoke(&self) -> Result<(), VfioError> {
        let null = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(|e| VfioError::Io { what: "opening /dev/null to revoke a device fd".into(), source: e })?;
        // SAFETY: both are open fds this process owns; dup2 atomically makes
        // `self.fd`'s number refer to /dev/null (closing the device file),
        // and `self.fd` still owns that number and closes it on drop.
        if unsafe { libc::dup2(null.as_raw_fd(), self.fd.as_raw_fd()) } < 0 {
            return Err(VfioError::ioctl("dup2 (revoke)", self.addr.clone(), io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Canonical PCI address, `0000:01:00.0`.
    pub fn pci_addr(&self) -> &str {
        &self.addr
    }

    /// IOMMU group number.
    pub fn group(&self) -> u32 {
        self.group.number()
    }

    /// The process-wide container the device's group is attached to (the
    /// [`ferrite_hugepages::DmaMapper`] for its DMA memory).
    pub fn container(&self) -> &Arc<Container> {
        &self.container
    }

    /// Whether VFIO can reset the device (`VFIO_DEVICE_FLAGS_RESET`).
    pub fn can_reset(&self) -> bool {
        self.flags & VFIO_DEVICE_FLAGS_RESET != 0
    }

    fn config_check(&self, off: u64, len: u64, what: &str) -> Result<u64, VfioError> {
        match off.checked_add(len) {
            Some(end) if end <= self.config.size => Ok(self.config.offset + off),
            _ => Err(VfioError::OutOfRange {
                addr: self.addr.clone(),
                what: what.into(),
                offset: off,
                len,
                size: self.config.size,
            }),
        }
    }

    fn config_read<const N: usize>(&self, off: u64) -> Result<[u8; N], VfioError> {
        let at = self.config_check(off, N as u64, "config-space read")?;
        let mut buf = [0u8; N];
        self.fd.read_exact_at(&mut buf, at).map_err(|e| VfioError::Io {
            what: format!("reading {N} bytes of {}'s config space at {off:#x}", self.addr),
            source: e,
        })?;
        Ok(buf)
    }

    fn config_write<const N: usize>(&self, off: u64, bytes: [u8; N]) -> Result<(), VfioError> {
        let at = self.config_check(off, N as u64, "config-space write")?;
        self.fd.write_all_at(&bytes, at).map_err(|e| VfioError::Io {
            what: format!("writing {N} bytes of {}'s config space at {off:#x}", self.addr),
            source: e,
        })
    }

    /// Reads a config-space byte.
    pub fn config_read_u8(&self, off: u64) -> Result<u8, VfioError> {
        Ok(self.config_read::<1>(off)?[0])
    }

    /// Reads a little-endian config-space word.
    pub fn config_read_u16(&self, off: u64) -> Result<u16, VfioError> {
        Ok(u16::from_le_bytes(self.config_read(off)?))
    }

    /// Reads a little-endian config-space dword.
    pub fn config_read_u32(&self, off: u64) -> Result<u32, VfioError> {
        Ok(u32::from_le_bytes(self.config_read(off)?))
    }

    /// Writes a little-endian config-space word.
    pub fn config_write_u16(&self, off: u64, value: u16) -> Result<(), VfioError> {
        self.config_write(off, value.to_le_bytes())
    }

    /// Writes a little-endian config-space dword.
    pub fn config_write_u32(&self, off: u64, value: u32) -> Result<(), VfioError> {
        self.config_write(off, value.to_le_bytes())
    }

    /// PCI vendor and device id from config space.
    pub fn vendor_device(&self) -> Result<(u16, u16), VfioError> {
        let v = self.config_read_u32(0)?;
        Ok((v as u16, (v >> 16) as u16))
    }

    fn update_command(&self, set: u16, clear: u16) -> Result<(), VfioError> {
        let _g = self.config_lock.lock().unwrap_or_else(|p| p.into_inner());
        let cmd = self.config_read_u16(PCI_COMMAND)?;
        self.config_write_u16(PCI_COMMAND, (cmd | set) & !clear)
    }

    /// Sets COMMAND.MEMORY and COMMAND.BUS_MASTER: the device may decode its
    /// BARs and start DMA.
    pub fn enable_bus_master(&self) -> Result<(), VfioError> {
        self.update_command(PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 0)
    }

    /// Clears COMMAND.BUS_MASTER: the device stops DMA.
    pub fn disable_bus_master(&self) -> Result<(), VfioError> {
        self.update_command(0, PCI_COMMAND_MASTER)
    }

    /// `VFIO_DEVICE_GET_REGION_INFO` for region `index` (BARs 0-5, ROM 6,
    /// config 7, VGA 8).
    pub fn region_info(&self, index: u32) -> Result<RegionInfo, VfioError> {
        if index >= self.num_regions {
            return Err(VfioError::BadRegion { addr: self.addr.clone(), index, why: "does not exist" });
        }
        region_info_raw(&self.fd, &self.addr, index)
    }

    /// Maps BAR `index` (0-5) read/write. Fails for unimplemented, I/O-port
    /// or non-mmappable BARs.
    pub fn map_bar(self: &Arc<Self>, index: u32) -> Result<Bar, VfioError> {
        let bad = |why| VfioError::BadRegion { addr: self.addr.clone(), index, why };
        if index > 5 {
            return Err(bad("is not a BAR (BARs are 0-5)"));
        }
        let info = self.region_info(index)?;
        if info.size == 0 {
            return Err(bad("is not implemented by the device (size 0)"));
        }
        if !info.mmappable {
            return Err(bad("cannot be mmapped (an I/O-port BAR, or VFIO forbids it)"));
        }
        let len = usize::try_from(info.size).map_err(|_| bad("is larger than the address space"))?;
        let off = libc::off_t::try_from(info.offset).map_err(|_| bad("has an offset mmap cannot take"))?;
        // SAFETY: a fresh shared mapping of the device fd at the offset VFIO
        // gave for this region; it overlaps no existing Rust memory, and the
        // result is checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.fd.as_raw_fd(),
                off,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(VfioError::Io {
                what: format!("mmap of BAR{index} of {} ({len:#x} bytes)", self.addr),
                source: io::Error::last_os_error(),
            });
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or_else(|| bad("was mapped at address 0"))?;
        // SAFETY: ptr/len are the mapping just made, handed over to the Bar.
        Ok(unsafe { Bar::from_raw(ptr, len, index, Arc::clone(self)) })
    }

    /// `VFIO_DEVICE_RESET` (function-level or PM reset). A clear error if the
    /// device cannot be reset this way.
    pub fn reset(&self) -> Result<(), VfioError> {
        if !self.can_reset() {
            return Err(VfioError::ResetUnsupported { addr: self.addr.clone() });
        }
        // SAFETY: DEVICE_RESET takes no argument.
        if unsafe { libc::ioctl(self.fd.as_raw_fd(), VFIO_DEVICE_RESET) } < 0 {
            return Err(VfioError::ioctl("VFIO_DEVICE_RESET", self.addr.clone(), io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Number of vectors of `kind` the device offers (0 if none).
    pub fn irq_count(&self, kind: IrqKind) -> Result<u32, VfioError> {
        if kind.index() >= self.num_irqs {
            return Ok(0);
        }
        let mut info =
            vfio_irq_info { argsz: size_of::<vfio_irq_info>() as u32, index: kind.index(), ..Default::default() };
        // SAFETY: GET_IRQ_INFO writes at most `argsz` bytes into `info`, a
        // live struct of that size.
        if unsafe { libc::ioctl(self.fd.as_raw_fd(), VFIO_DEVICE_GET_IRQ_INFO, &mut info) } < 0 {
            return Err(VfioError::ioctl("VFIO_DEVICE_GET_IRQ_INFO", self.addr.clone(), io::Error::last_os_error()));
        }
        Ok(info.count)
    }

    /// `VFIO_DEVICE_SET_IRQS` with the header words and `data` appended.
    fn set_irqs(&self, kind: IrqKind, flags: u32, start: u32, count: u32, data: &[i32]) -> io::Result<()> {
        // struct vfio_irq_set { argsz, flags, index, start, count; u8 data[] }:
        // five u32 then the payload, which for eventfds is one i32 per vector.
        let mut buf: Vec<u32> = vec![0, flags, kind.index(), start, count];
        buf.extend(data.iter().map(|&fd| fd as u32));
        buf[0] = (buf.len() * 4) as u32;
        // SAFETY: SET_IRQS reads `argsz` = buf.len() * 4 bytes from `buf`,
        // which is 4-byte aligned like `vfio_irq_set`. The eventfds it names
        // stay open while VFIO uses them: the kernel takes its own reference.
        if unsafe { libc::ioctl(self.fd.as_raw_fd(), VFIO_DEVICE_SET_IRQS, buf.as_ptr()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Routes `count` vectors of `kind` to new eventfds
    /// (`DATA_EVENTFD | ACTION_TRIGGER`); vector `i` signals element `i`.
    pub fn enable_irqs(&self, kind: IrqKind, count: u32) -> Result<Vec<EventFd>, VfioError> {
        let available = self.irq_count(kind)?;
        if count == 0 || count > available {
            return Err(VfioError::IrqUnsupported { addr: self.addr.clone(), kind, wanted: count, available });
        }
        let fds = (0..count).map(|_| EventFd::new()).collect::<Result<Vec<_>, _>>().map_err(VfioError::EventFd)?;
        let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
        self.set_irqs(kind, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, 0, count, &raw)
            .map_err(|e| VfioError::ioctl("VFIO_DEVICE_SET_IRQS (enable)", format!("{} {kind:?}", self.addr), e))?;
        Ok(fds)
    }

    /// Enables up to `wanted` MSI-X vectors, falling back to one MSI vector,
    /// then to INTx. Returns the kind used and one eventfd per vector.
    pub fn enable_interrupts(&self, wanted: u32) -> Result<(IrqKind, Vec<EventFd>), VfioError> {
        let wanted = wanted.max(1);
        let mut last = None;
        for kind in [IrqKind::Msix, IrqKind::Msi, IrqKind::Intx] {
            let n = self.irq_count(kind)?.min(wanted);
            if n == 0 {
                continue;
            }
            match self.enable_irqs(kind, n) {
                Ok(fds) => return Ok((kind, fds)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(VfioError::IrqUnsupported {
            addr: self.addr.clone(),
            kind: IrqKind::Intx,
            wanted,
            available: 0,
        }))
    }

    /// Disables all vectors of `kind` (`DATA_NONE | ACTION_TRIGGER`, count 0).
    pub fn disable_irqs(&self, kind: IrqKind) -> Result<(), VfioError> {
        self.set_irqs(kind, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0, &[])
            .map_err(|e| VfioError::ioctl("VFIO_DEVICE_SET_IRQS (disable)", format!("{} {kind:?}", self.addr), e))
    }

    /// Fires `vector` of `kind` from software (`DATA_NONE | ACTION_TRIGGER`);
    /// its eventfd is signalled as if the device had interrupted. For tests.
    pub fn trigger_irq(&self, kind: IrqKind, vector: u32) -> Result<(), VfioError> {
        self.set_irqs(kind, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, vector, 1, &[])
            .map_err(|e| VfioError::ioctl("VFIO_DEVICE_SET_IRQS (trigger)", format!("{} {kind:?}", self.addr), e))
    }

    /// Unmasks INTx after an interrupt was handled (VFIO masks the level
    /// interrupt when it fires).
    pub fn unmask_intx(&self) -> Result<(), VfioError> {
        self.set_irqs(IrqKind::Intx, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, 0, 1, &[])
            .map_err(|e| VfioError::ioctl("VFIO_DEVICE_SET_IRQS (unmask)", format!("{} INTx", self.addr), e))
    }
}

impl Drop for VfioDevice {
    fn drop(&mut self) {
        // The fd closes right after this (fields drop next); from then on
        // this process may open the device again.
        self.group.release(&self.addr);
    }
}

/// What the kernel says about a device fd: its info and config region.
fn describe(fd: &File, addr: &str) -> Result<(vfio_device_info, RegionInfo), VfioError> {
    let mut dinfo = vfio_device_info { argsz: size_of::<vfio_device_info>() as u32, ..Default::default() };
    // SAFETY: GET_INFO writes at most `argsz` bytes into `dinfo`, a live
    // struct of that size.
    if unsafe { libc::ioctl(fd.as_raw_fd(), VFIO_DEVICE_GET_INFO, &mut dinfo) } < 0 {
        return Err(VfioError::ioctl("VFIO_DEVICE_GET_INFO", addr, io::Error::last_os_error()));
    }
    if dinfo.flags & VFIO_DEVICE_FLAGS_PCI == 0 {
        return Err(VfioError::BadRegion {
            addr: addr.into(),
            index: 0,
            why: "belongs to a device VFIO does not call PCI",
        });
    }
    let config = region_info_raw(fd, addr, VFIO_PCI_CONFIG_REGION_INDEX)?;
    Ok((dinfo, config))
}

fn region_info_raw(fd: &File, addr: &str, index: u32) -> Result<RegionInfo, VfioError> {
    let mut info = vfio_region_info { argsz: size_of::<vfio_region_info>() as u32, index, ..Default::default() };
    // SAFETY: GET_REGION_INFO writes at most `argsz` bytes into `info`, a
    // live struct of that size (capabilities beyond it are not requested).
    if unsafe { libc::ioctl(fd.as_raw_fd(), VFIO_DEVICE_GET_REGION_INFO, &mut info) } < 0 {
        return Err(VfioError::ioctl(
            "VFIO_DEVICE_GET_REGION_INFO",
            format!("{addr} region {index}"),
            io::Error::last_os_error(),
        ));
    }
    Ok(RegionInfo {
        size: info.size,
        offset: info.offset,
        flags: info.flags,
        mmappable: info.flags & VFIO_REGION_INFO_FLAG_MMAP != 0,
    })
}
