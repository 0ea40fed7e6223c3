//! Promiscuous and all-multicast mode on the interface, held rather than
//! set: a packet socket's `PACKET_ADD_MEMBERSHIP` (`PACKET_MR_PROMISC`,
//! `PACKET_MR_ALLMULTI`) raises the interface's promiscuity (allmulti)
//! count, and the kernel lowers it again when the socket closes — at a
//! clean exit and after SIGKILL alike (checked on 6.18 with `ip -d link`'s
//! `promiscuity N`). Setting `IFF_PROMISC` with `SIOCSIFFLAGS` instead
//! stays set after a killed run, and clearing it at exit would also clear
//! a flag someone else set.
//!
//! The socket has protocol 0, so it is on no receive path and costs
//! nothing per packet; it exists only to carry the memberships.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::sys::{packet_mreq, PACKET_ADD_MEMBERSHIP, PACKET_MR_ALLMULTI, PACKET_MR_PROMISC};
use crate::port::RxMode;

/// The receive mode ferrite holds on one interface; dropping it gives the
/// mode back.
pub struct RxModeHold {
    _sock: Option<OwnedFd>,
}

impl RxModeHold {
    /// Holds what `mode` asks for on interface `ifindex`: nothing (no
    /// socket) when it asks for neither mode.
    pub fn take(ifindex: u32, mode: RxMode) -> io::Result<RxModeHold> {
        let kinds = [(mode.promiscuous, PACKET_MR_PROMISC), (mode.all_multicast, PACKET_MR_ALLMULTI)];
        if !kinds.iter().any(|&(on, _)| on) {
            return Ok(RxModeHold { _sock: None });
        }
        let sock = packet_socket()?;
        for (_, kind) in kinds.into_iter().filter(|&(on, _)| on) {
            add_membership(&sock, ifindex, kind)?;
        }
        Ok(RxModeHold { _sock: Some(sock) })
    }
}

/// A packet socket bound to no protocol (it receives nothing).
fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket creation; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn add_membership(sock: &OwnedFd, ifindex: u32, kind: u16) -> io::Result<()> {
    let mreq = packet_mreq { mr_ifindex: ifindex as libc::c_int, mr_type: kind, ..Default::default() };
    // SAFETY: passes a live packet_mreq and its exact size; the kernel
    // only reads it.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_PACKET,
            PACKET_ADD_MEMBERSHIP,
            (&mreq as *const packet_mreq).cast(),
            std::mem::size_of::<packet_mreq>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
