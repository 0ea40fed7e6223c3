//! Interrupt kinds and the eventfds VFIO signals them through.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use vfio_bindings::bindings::vfio::{
    VFIO_PCI_INTX_IRQ_INDEX, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX, VFIO_PCI_REQ_IRQ_INDEX,
};

/// A PCI interrupt mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IrqKind {
    /// Legacy pin interrupt (one vector, level-triggered, masked by the
    /// kernel after each interrupt until [`crate::VfioDevice::unmask_intx`]).
    Intx,
    /// MSI (the 82576 offers one vector).
    Msi,
    /// MSI-X (the 82576 offers ten vectors to the PF).
    Msix,
    /// Not a device interrupt: the kernel asks the user to release the
    /// device (it is being unbound from vfio-pci or hot-unplugged), and
    /// blocks that removal until every device fd and mapping is gone.
    Req,
}

impl IrqKind {
    /// The VFIO IRQ index of this kind.
    pub(crate) fn index(self) -> u32 {
        match self {
            IrqKind::Intx => VFIO_PCI_INTX_IRQ_INDEX,
            IrqKind::Msi => VFIO_PCI_MSI_IRQ_INDEX,
            IrqKind::Msix => VFIO_PCI_MSIX_IRQ_INDEX,
            IrqKind::Req => VFIO_PCI_REQ_IRQ_INDEX,
        }
    }
}

/// An eventfd (`EFD_CLOEXEC | EFD_NONBLOCK`) that VFIO signals on interrupts.
#[derive(Debug)]
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    /// Creates a new eventfd with counter 0.
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes two integers and returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        Ok(EventFd { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Reads and resets the counter: `Some(n)` interrupts since the last
    /// read, `None` if nothing is pending.
    pub fn read(&self) -> io::Result<Option<u64>> {
        let mut buf = [0u8; 8];
        loop {
            // SAFETY: reads at most 8 bytes into an 8-byte local buffer.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n == 8 {
                return Ok(Some(u64::from_ne_bytes(buf)));
            }
            if n >= 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short read from eventfd"));
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => return Ok(None),
                Some(libc::EINTR) => continue,
                _ => return Err(e),
            }
        }
    }

    /// Adds `n` to the counter (what the kernel does on an interrupt).
    pub fn write(&self, n: u64) -> io::Result<()> {
        let buf = n.to_ne_bytes();
        // SAFETY: writes 8 bytes from an 8-byte local buffer.
        let r = unsafe { libc::write(self.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
        if r == 8 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Waits up to `timeout` for the counter to become non-zero, then reads
    /// it. `None` on timeout.
    pub fn wait(&self, timeout: Duration) -> io::Result<Option<u64>> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let ms = left.as_millis().min(i32::MAX as u128) as libc::c_int;
            let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: polls one pollfd, a live local.
            let n = unsafe { libc::poll(&mut pfd, 1, ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(e);
            }
            if n == 0 {
                return Ok(None);
            }
            match self.read()? {
                Some(v) => return Ok(Some(v)),
                None if left.is_zero() => return Ok(None),
                None => continue, // someone else consumed it
            }
        }
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for EventFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventfd_counts_and_times_out() {
        let e = EventFd::new().unwrap();
        assert_eq!(e.read().unwrap(), None);
        assert_eq!(e.wait(Duration::from_millis(10)).unwrap(), None);
        e.write(2).unwrap();
        e.write(1).unwrap();
        assert_eq!(e.wait(Duration::from_secs(1)).unwrap(), Some(3));
        assert_eq!(e.read().unwrap(), None);
    }
}
