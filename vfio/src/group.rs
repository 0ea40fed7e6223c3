//! A VFIO group: `/dev/vfio/N` (or `/dev/vfio/noiommu-N`), attached to the
//! process-wide [`Container`].
//!
//! Several devices may share one IOMMU group; the group node can be opened
//! only once per process, so the container keeps one [`Group`] per number
//! and devices share it through an `Arc`.
//!
//! The kernel hands out a second fd for a device already open in the group,
//! so two drivers in one process could program the same NIC. The group
//! therefore records which of its devices are open and refuses a second
//! claim ([`VfioError::AlreadyOpen`]).

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Arc, Mutex};

use vfio_bindings::bindings::vfio::{vfio_group_status, VFIO_GROUP_FLAGS_VIABLE};

use crate::container::Container;
use crate::error::VfioError;
use crate::ioctl::*;
use crate::sysfs::{self, Paths};
use crate::IommuMode;

pub(crate) struct Group {
    /// `Some` until drop; closed before the container forgets the group.
    fd: Option<OwnedFd>,
    number: u32,
    container: Arc<Container>,
    /// Canonical addresses of this group's devices open in this process.
    claimed: Mutex<HashSet<String>>,
}

impl Group {
    /// Opens group `number` (which `addr` belongs to), checks that it is
    /// viable and puts it into `container`. The caller holds the
    /// container's lock and sets the IOMMU afterwards if needed.
    pub(crate) fn open(paths: &Paths, container: &Arc<Container>, addr: &str, number: u32) -> Result<Group, VfioError> {
        let noiommu = container.mode() == IommuMode::NoIommu;
        let node = paths.group_node(number, noiommu);
        if !node.exists() {
            if paths.group_node(number, !noiommu).exists() {
                return Err(VfioError::WrongGroupKind { addr: addr.into(), group: number, wanted: container.mode() });
            }
            return Err(VfioError::NoVfio { path: node.display().to_string() });
        }
        let file =
            OpenOptions::new().read(true).write(true).custom_flags(libc::O_CLOEXEC).open(&node).map_err(|e| match e
                .raw_os_error()
            {
                Some(libc::EACCES) | Some(libc::EPERM) => {
                    VfioError::PermissionDenied { path: node.display().to_string() }
                }
                Some(libc::EBUSY) => VfioError::GroupBusy { group: number },
                Some(libc::ENOENT) | Some(libc::ENODEV) => VfioError::NoVfio { path: node.display().to_string() },
                _ => VfioError::Io { what: format!("opening {}", node.display()), source: e },
            })?;
        let fd = OwnedFd::from(file);
        let target = node.display().to_string();

        let mut status = vfio_group_status { argsz: size_of::<vfio_group_status>() as u32, flags: 0 };
        // SAFETY: `fd` is an open VFIO group; GET_STATUS writes at most
        // `argsz` bytes into `status`, which is a live, correctly sized struct.
        let ret = unsafe { libc::ioctl(fd.as_raw_fd(), VFIO_GROUP_GET_STATUS, &mut status) };
        if ret < 0 {
            return Err(VfioError::ioctl("VFIO_GROUP_GET_STATUS", target, io::Error::last_os_error()));
        }
        if status.flags & VFIO_GROUP_FLAGS_VIABLE == 0 {
            return Err(VfioError::GroupNotViable {
                group: number,
                addr: addr.into(),
                others: sysfs::group_members(paths, number, addr),
            });
        }

        let container_fd = container.raw_fd();
        // SAFETY: SET_CONTAINER reads one `int` (the container fd) through
        // the pointer, which points at a live local.
        let ret = unsafe { libc::ioctl(fd.as_raw_fd(), VFIO_GROUP_SET_CONTAINER, &container_fd) };
        if ret < 0 {
            return Err(VfioError::ioctl("VFIO_GROUP_SET_CONTAINER", target, io::Error::last_os_error()));
        }
        Ok(Group { fd: Some(fd), number, container: Arc::clone(container), claimed: Mutex::default() })
    }

    pub(crate) fn number(&self) -> u32 {
        self.number
    }

    /// Claims `addr` (canonical form) for one driver in this process and
    /// gets its device fd (`VFIO_GROUP_GET_DEVICE_FD`). Refused while an
    /// earlier claim is held; [`Group::release`] ends a claim.
    pub(crate) fn claim_device(&self, addr: &str) -> Result<OwnedFd, VfioError> {
        let mut claimed = self.claimed.lock().unwrap_or_else(|p| p.into_inner());
        if claimed.contains(addr) {
            return Err(VfioError::AlreadyOpen { addr: addr.into() });
        }
        let fd = self.device_fd(addr)?;
        claimed.insert(addr.to_string());
        Ok(fd)
    }

    /// Ends the claim [`Group::claim_device`] made for `addr`.
    pub(crate) fn release(&self, addr: &str) {
        self.claimed.lock().unwrap_or_else(|p| p.into_inner()).remove(addr);
    }

    /// `VFIO_GROUP_GET_DEVICE_FD` for `addr` (canonical form).
    fn device_fd(&self, addr: &str) -> Result<OwnedFd, VfioError> {
        let Some(fd) = &self.fd else { unreachable!("group fd is only taken in drop") };
        let name = std::ffi::CString::new(addr).map_err(|_| VfioError::InvalidAddress { input: addr.into() })?;
        // SAFETY: GET_DEVICE_FD reads a NUL-terminated string through the
        // pointer; `name` is one and outlives the call.
        let ret = unsafe { libc::ioctl(fd.as_raw_fd(), VFIO_GROUP_GET_DEVICE_FD, name.as_ptr()) };
        if ret < 0 {
            return Err(VfioError::ioctl(
                "VFIO_GROUP_GET_DEVICE_FD",
                format!("{addr} (group {})", self.number),
                io::Error::last_os_error(),
            ));
        }
        // SAFETY: on success the ioctl returns a new file descriptor that
        // nobody else owns.
        Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(ret) })
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // Closing the group node detaches it from the container (the kernel
        // unsets the container on release); do that before the container's
        // bookkeeping says the group is gone.
        drop(self.fd.take());
        self.container.group_closed(self.number);
    }
}
