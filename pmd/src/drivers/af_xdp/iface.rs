//! The kernel interface an AF_XDP port rides on: its index, flags,
//! carrier, MTU, MAC, driver and channels, through the classic interface
//! ioctls (`SIOCGIF*`, `SIOCETHTOOL`) on a throwaway datagram socket and
//! sysfs. Thin wrappers; every error names the interface.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::sys::*;
use crate::port::{MacAddr, PortError};

/// A kernel network interface, by name and index.
#[derive(Clone, Debug)]
pub struct Iface {
    name: String,
    index: u32,
}

/// A datagram socket to issue interface ioctls on.
fn ioctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket creation; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl Iface {
    /// Finds interface `name`; a missing one is an error that says how
    /// to list them.
    pub fn lookup(name: &str) -> Result<Iface, PortError> {
        let c = CString::new(name).map_err(|_| PortError::InvalidConfig(format!("iface '{name}': NUL in name")))?;
        // SAFETY: a NUL-terminated string that lives across the call.
        let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
        if index == 0 {
            return Err(PortError::InvalidConfig(format!(
                "no such interface '{name}' (in this network namespace): `ip link` lists them"
            )));
        }
        Ok(Iface { name: name.to_string(), index })
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface's index.
    pub fn index(&self) -> u32 {
        self.index
    }

    fn ifreq(&self) -> libc::ifreq {
        // SAFETY: ifreq is plain data; all zeros is a valid value.
        let mut r: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in r.ifr_name.iter_mut().zip(self.name.bytes().take(libc::IFNAMSIZ - 1)) {
            *d = s as libc::c_char;
        }
        r
    }

    fn ioctl(&self, req: libc::c_ulong, r: &mut libc::ifreq) -> io::Result<()> {
        let sock = ioctl_socket()?;
        // SAFETY: `r` is a live ifreq naming this interface, the layout
        // every SIOC*IF* request and SIOCETHTOOL reads and writes; any
        // pointer in it (ifr_data) points at a live block of the size the
        // request expects.
        if unsafe { libc::ioctl(sock.as_raw_fd(), req as _, r as *mut libc::ifreq) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn err(&self, what: &str, e: io::Error) -> PortError {
        PortError::Device(format!("{}: {what}: {e}", self.name))
    }

    /// `IFF_*` flags (`SIOCGIFFLAGS`).
    pub fn flags(&self) -> Result<u32, PortError> {
        let mut r = self.ifreq();
        self.ioctl(libc::SIOCGIFFLAGS, &mut r).map_err(|e| self.err("reading flags", e))?;
        // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
        Ok(unsafe { r.ifr_ifru.ifru_flags } as u16 as u32)
    }

    /// Whether the interface is administratively up.
    pub fn is_up(&self) -> Result<bool, PortError> {
        Ok(self.flags()? & libc::IFF_UP as u32 != 0)
    }

    /// Whether the interface is up with a carrier (`IFF_RUNNING`: the
    /// kernel's operational state up).
    pub fn has_carrier(&self) -> bool {
        self.flags().is_ok_and(|f| f & libc::IFF_RUNNING as u32 != 0)
    }

    /// Sets the interface's MTU (`SIOCSIFMTU`, as `ip link set mtu`).
    pub fn set_mtu(&self, mtu: u32) -> Result<(), PortError> {
        let mut r = self.ifreq();
        r.ifr_ifru.ifru_mtu = mtu as libc::c_int;
        self.ioctl(libc::SIOCSIFMTU, &mut r).map_err(|e| self.err(&format!("setting MTU {mtu}"), e))
    }

    /// The interface's MTU.
    pub fn mtu(&self) -> Result<u32, PortError> {
        let mut r = self.ifreq();
        self.ioctl(libc::SIOCGIFMTU, &mut r).map_err(|e| self.err("reading the MTU", e))?;
        // SAFETY: SIOCGIFMTU filled the mtu member of the union.
        Ok(unsafe { r.ifr_ifru.ifru_mtu } as u32)
    }

    /// The interface's hardware address.
    pub fn mac(&self) -> Result<MacAddr, PortError> {
        let mut r = self.ifreq();
        self.ioctl(libc::SIOCGIFHWADDR, &mut r).map_err(|e| self.err("reading the MAC address", e))?;
        // SAFETY: SIOCGIFHWADDR filled the hwaddr member of the union.
        let sa = unsafe { r.ifr_ifru.ifru_hwaddr };
        let mut m = [0u8; 6];
        for (d, s) in m.iter_mut().zip(sa.sa_data.iter()) {
            *d = *s as u8;
        }
        Ok(MacAddr(m))
    }

    fn ethtool<T>(&self, block: &mut T) -> io::Result<()> {
        let mut r = self.ifreq();
        r.ifr_ifru.ifru_data = (block as *mut T).cast();
        self.ioctl(SIOCETHTOOL, &mut r)
    }

    /// The kernel driver's name (`ethtool -i`), or "" if it has none.
    pub fn driver(&self) -> String {
        // SAFETY: plain data; zeros are valid.
        let mut d: ethtool_drvinfo = unsafe { std::mem::zeroed() };
        d.cmd = ETHTOOL_GDRVINFO;
        if self.ethtool(&mut d).is_err() {
            return String::new();
        }
        let end = d.driver.iter().position(|&b| b == 0).unwrap_or(d.driver.len());
        String::from_utf8_lossy(&d.driver[..end]).into_owned()
    }

    /// `ethtool -l`; `None` when the driver does not report channels.
    pub fn channels(&self) -> Option<ethtool_channels> {
        let mut c = ethtool_channels { cmd: ETHTOOL_GCHANNELS, ..Default::default() };
        self.ethtool(&mut c).ok().map(|()| c)
    }

    /// `ethtool -L`: asks for at least `n` receive queues, combined
    /// channels where the driver counts them so (most NICs), else separate
    /// rx and tx counts (veth).
    pub fn set_queues(&self, n: u32) -> Result<(), PortError> {
        let mut c = self.channels().ok_or_else(|| {
            PortError::InvalidConfig(format!("{}: its driver cannot report or change channels (ethtool -l)", self.name))
        })?;
        c.cmd = ETHTOOL_SCHANNELS;
        if c.max_combined > 0 {
            c.combined_count = n.min(c.max_combined);
        } else {
            c.rx_count = n.min(c.max_rx);
            c.tx_count = n.min(c.max_tx.max(1)).max(c.tx_count);
        }
        self.ethtool(&mut c)
            .map_err(|e| self.err(&format!("setting {n} channels (ethtool -L {} combined|rx {n})", self.name), e))
    }

    /// `ethtool -L` back to the counts `saved` (from `channels` before a
    /// `set_queues`). Fails while a socket is still bound to a queue that
    /// would go.
    pub fn restore_channels(&self, saved: &ethtool_channels) -> Result<(), PortError> {
        let mut c = ethtool_channels { cmd: ETHTOOL_SCHANNELS, ..*saved };
        let (rx, tx, comb) = (c.rx_count, c.tx_count, c.combined_count);
        self.ethtool(&mut c).map_err(|e| {
            self.err(&format!("restoring its channels (ethtool -L {} rx {rx} tx {tx} combined {comb})", self.name), e)
        })
    }

    /// Receive queues the interface has now (`/sys/class/net/IF/queues`).
    pub fn rx_queues(&self) -> u32 {
        let dir = format!("/sys/class/net/{}/queues", self.name);
        std::fs::read_dir(dir)
            .map(|d| d.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().starts_with("rx-")).count())
            .unwrap_or(1) as u32
    }

    /// Link speed in Mbit/s from sysfs, 0 when unknown.
    pub fn speed_mbps(&self) -> u32 {
        std::fs::read_to_string(format!("/sys/class/net/{}/speed", self.name))
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|&s| s > 0)
            .map_or(0, |s| s as u32)
    }
}

impl Iface {
    /// The id of the XDP program attached to the interface now, if any
    /// (an `RTM_GETLINK` request; `IFLA_XDP`'s `IFLA_XDP_PROG_ID`).
    pub fn xdp_prog_id(&self) -> Option<u32> {
        #[repr(C)]
        struct Request {
            nh: libc::nlmsghdr,
            ifi: [u32; 4],
        }
        // SAFETY: plain socket creation, checked below.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE) };
        if fd < 0 {
            return None;
        }
        // SAFETY: a new descriptor nothing else owns.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        let len = std::mem::size_of::<Request>() as u32;
        let nh = libc::nlmsghdr {
            nlmsg_len: len,
            nlmsg_type: RTM_GETLINK,
            nlmsg_flags: libc::NLM_F_REQUEST as u16,
            nlmsg_seq: 1,
            nlmsg_pid: 0,
        };
        // ifinfomsg: family AF_UNSPEC and type 0 (first word), the index.
        let req = Request { nh, ifi: [0, self.index, 0, 0] };
        // SAFETY: sends a live request, its size given.
        if unsafe { libc::send(sock.as_raw_fd(), (&req as *const Request).cast(), len as usize, 0) } < 0 {
            return None;
        }
        let mut buf = [0u8; 16384];
        let mut p = libc::pollfd { fd: sock.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: polls one live pollfd; the kernel answers at once, the
        // timeout only guards against a lost reply.
        if unsafe { libc::poll(&mut p, 1, 1000) } <= 0 {
            return None;
        }
        // SAFETY: receives into a live buffer, its length given.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        (n > 0).then(|| xdp_prog_id_in(&buf[..n as usize])).flatten()
    }
}

/// Rounds a netlink length up to its 4-byte alignment.
fn nl_align(n: usize) -> usize {
    (n + 3) & !3
}

/// The attributes in `buf`, as (type without the nested flag, payload).
fn attributes(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = u16::from_ne_bytes(buf.get(..2)?.try_into().ok()?) as usize;
        let kind = u16::from_ne_bytes(buf.get(2..4)?.try_into().ok()?) & 0x3fff;
        let payload = buf.get(4..len)?;
        buf = buf.get(nl_align(len).min(buf.len())..)?;
        Some((kind, payload))
    })
}

/// `IFLA_XDP_PROG_ID` from an `RTM_NEWLINK` message.
fn xdp_prog_id_in(msg: &[u8]) -> Option<u32> {
    const NLMSG_HDR: usize = 16;
    const IFINFOMSG: usize = 16;
    let len = u32::from_ne_bytes(msg.get(..4)?.try_into().ok()?) as usize;
    let kind = u16::from_ne_bytes(msg.get(4..6)?.try_into().ok()?);
    if kind != RTM_NEWLINK {
        return None;
    }
    let attrs = msg.get(NLMSG_HDR + IFINFOMSG..len.min(msg.len()))?;
    let (_, xdp) = attributes(attrs).find(|&(k, _)| k == IFLA_XDP)?;
    let (_, id) = attributes(xdp).find(|&(k, _)| k == IFLA_XDP_PROG_ID)?;
    Some(u32::from_ne_bytes(id.get(..4)?.try_into().ok()?)).filter(|&id| id != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_found_and_a_missing_interface_says_how_to_list_them() {
        let lo = Iface::lookup("lo").unwrap();
        assert_eq!(lo.index(), 1, "lo is interface 1 in every namespace");
        assert!(lo.mtu().unwrap() >= 1500);
        assert_eq!(lo.mac().unwrap(), MacAddr([0; 6]));
        let e = Iface::lookup("h26-nonesuch").unwrap_err().to_string();
        assert!(e.contains("no such interface 'h26-nonesuch'") && e.contains("ip link"), "{e}");
    }

    #[test]
    fn the_xdp_program_id_is_read_from_a_link_message() {
        // nlmsghdr (RTM_NEWLINK), ifinfomsg, IFLA_MTU, then IFLA_XDP
        // (nested flag set) holding IFLA_XDP_ATTACHED and IFLA_XDP_PROG_ID.
        let mut m = Vec::new();
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&[0; 16]);
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&4u16.to_ne_bytes());
        m.extend_from_slice(&1500u32.to_ne_bytes());
        m.extend_from_slice(&20u16.to_ne_bytes());
        m.extend_from_slice(&(IFLA_XDP | 0x8000).to_ne_bytes());
        m.extend_from_slice(&5u16.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes());
        m.extend_from_slice(&[1, 0, 0, 0]);
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&IFLA_XDP_PROG_ID.to_ne_bytes());
        m.extend_from_slice(&4242u32.to_ne_bytes());
        let n = m.len() as u32;
        m[..4].copy_from_slice(&n.to_ne_bytes());
        assert_eq!(xdp_prog_id_in(&m), Some(4242));
        m[4..6].copy_from_slice(&RTM_GETLINK.to_ne_bytes());
        assert_eq!(xdp_prog_id_in(&m), None, "not a link message");
        assert_eq!(xdp_prog_id_in(&m[..10]), None, "truncated");
        assert_eq!(Iface::lookup("lo").unwrap().xdp_prog_id(), None, "lo has no program here");
    }
}
