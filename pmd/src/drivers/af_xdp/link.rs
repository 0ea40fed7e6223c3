//! Link state from the interface's carrier: a thread asleep on a netlink
//! socket subscribed to `RTMGRP_LINK` wakes on every link message the
//! kernel sends (carrier, admin state, MTU), re-reads the interface and
//! turns a carrier change into a link event; a changed MTU updates the
//! transmit queues' frame limit.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::iface::Iface;
use super::LinkShared;
use crate::drivers::watcher::Watcher;

/// How often the thread re-reads the interface without a message: only
/// a lost message (a full socket buffer) waits this long.
const SAFETY_NET: Duration = Duration::from_secs(2);

/// A netlink route socket that receives link messages.
fn link_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket creation, checked below.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_nl is plain data; zeros are valid.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as u16;
    sa.nl_groups = libc::RTMGRP_LINK as u32;
    // SAFETY: a live sockaddr_nl, its size given.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Reads and discards every waiting message (the interface itself is
/// re-read, which is simpler than parsing attributes and never stale).
fn drain(fd: &OwnedFd) {
    let mut buf = [0u8; 8192];
    loop {
        // SAFETY: receives into a live local buffer, its length given.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n <= 0 {
            return;
        }
    }
}

/// Starts the link thread of the port `link` describes.
pub fn spawn(iface: Iface, link: Arc<LinkShared>) -> io::Result<Watcher> {
    let sock = link_socket()?;
    Watcher::spawn(format!("link-{}", iface.name()), move |bell| {
        while !bell.stopped() {
            if bell.wait_readable(sock.as_fd(), SAFETY_NET) {
                drain(&sock);
            }
            if bell.stopped() {
                return;
            }
            link.refresh(&iface);
        }
    })
}

impl LinkShared {
    /// Re-reads carrier and MTU; tells subscribers when the carrier changed.
    pub fn refresh(&self, iface: &Iface) {
        let up = iface.has_carrier();
        if let Ok(mtu) = iface.mtu() {
            self.frame_limit.store(crate::ether::max_frame_len(mtu as u16) as u32, Ordering::Relaxed);
        }
        if self.carrier.swap(up, Ordering::AcqRel) != up {
            self.notifier.notify(&self.name, self.status(iface, up));
        }
    }
}
