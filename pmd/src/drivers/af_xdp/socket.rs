//! One AF_XDP socket: created, its UMEM registered (or shared), its four
//! rings sized and mapped, bound to one queue of one interface. Thin
//! wrappers over `socket`/`setsockopt`/`getsockopt`/`mmap`/`bind`, errors
//! as [`XskError`].

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ring::{ConsumerRing, ProducerRing, RingLayout, RingMap};
use super::umem::{self, UmemLayout};

/// Why a socket step failed.
#[derive(Debug)]
pub enum XskError {
    /// The kernel has no AF_XDP (built without CONFIG_XDP_SOCKETS).
    NoAfXdp,
    /// Not allowed (CAP_NET_RAW/CAP_NET_ADMIN).
    Permission,
    /// Another AF_XDP socket holds the queue (another process, or one
    /// that closed and that the kernel has not released yet).
    Busy(io::Error),
    /// A step failed, with its name.
    Step(&'static str, io::Error),
}

impl fmt::Display for XskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XskError::NoAfXdp => f.write_str(
                "this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS): use a kernel built with it (Linux 5.4+)",
            ),
            XskError::Permission => {
                f.write_str("AF_XDP sockets need CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF: run as root")
            }
            XskError::Busy(e) => write!(
                f,
                "another AF_XDP socket holds this queue ({e}): is another ferrite or DPDK process using the \
                 interface? (`ip -d link show dev IF` names the XDP program it attached)"
            ),
            XskError::Step(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for XskError {}

fn step(what: &'static str) -> impl Fn(io::Error) -> XskError {
    move |e| match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => XskError::Permission,
        _ => XskError::Step(what, e),
    }
}

/// Ring sizes of one socket (each a power of two).
#[derive(Clone, Copy, Debug)]
pub struct RingSizes {
    pub rx: u32,
    pub tx: u32,
    pub fill: u32,
    pub completion: u32,
}

/// A bound AF_XDP socket and its rings.
pub struct XskSocket {
    pub fill: ProducerRing<u64>,
    pub completion: ConsumerRing<u64>,
    pub rx: ConsumerRing<libc::xdp_desc>,
    pub tx: ProducerRing<libc::xdp_desc>,
    /// Bound in zero-copy mode (else copy mode).
    pub zero_copy: bool,
    /// The socket (the rings' mappings keep the kernel object alive on
    /// their own; the registry of UMEM owners holds it weakly).
    pub fd: Arc<OwnedFd>,
}

fn setsockopt<T>(fd: RawFd, opt: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: `v` is a live value of the type `opt` reads, its size given.
    let r = unsafe {
        libc::setsockopt(fd, libc::SOL_XDP, opt, (v as *const T).cast(), std::mem::size_of::<T>() as libc::socklen_t)
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn getsockopt<T: Default>(fd: RawFd, opt: libc::c_int) -> io::Result<T> {
    let mut v = T::default();
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `v`, a live T.
    let r = unsafe { libc::getsockopt(fd, libc::SOL_XDP, opt, (&mut v as *mut T).cast(), &mut len) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(v)
}

/// `struct xdp_statistics`, as the kernel counts them for one socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XskStats {
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty_descs: u64,
    pub tx_ring_empty_descs: u64,
}

impl std::ops::AddAssign<&XskStats> for XskStats {
    fn add_assign(&mut self, s: &XskStats) {
        self.rx_dropped += s.rx_dropped;
        self.rx_invalid_descs += s.rx_invalid_descs;
        self.tx_invalid_descs += s.tx_invalid_descs;
        self.rx_ring_full += s.rx_ring_full;
        self.rx_fill_ring_empty_descs += s.rx_fill_ring_empty_descs;
        self.tx_ring_empty_descs += s.tx_ring_empty_descs;
    }
}

#[repr(C)]
#[derive(Default)]
struct RawStats([u64; 6]);

#[repr(C)]
#[derive(Default)]
struct RawOffsets([u64; 16]);

/// Checks that this process may make AF_XDP sockets on this kernel (made
/// and closed at once), so a missing right or a kernel without AF_XDP is
/// reported before any memory is reserved.
pub fn probe() -> Result<(), XskError> {
    new_socket().map(drop)
}

fn new_socket() -> Result<OwnedFd, XskError> {
    // SAFETY: plain socket creation, checked below.
    let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EAFNOSUPPORT) => XskError::NoAfXdp,
            _ => step("creating the AF_XDP socket")(e),
        });
    }
    // SAFETY: a new descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

impl XskSocket {
    /// Opens a socket on `ifindex` queue `queue` over the UMEM `layout`,
    /// registering the region or sharing it with the socket that did.
    pub fn open(
        ifindex: u32,
        queue: u32,
        layout: &UmemLayout,
        sizes: RingSizes,
        force_copy: bool,
    ) -> Result<XskSocket, XskError> {
        let fd = Arc::new(new_socket()?);
        let raw = fd.as_raw_fd();
        let owner = umem::owner_of(layout.base);
        if owner.is_none() {
            register_umem(raw, layout)?;
        }
        setsockopt(raw, libc::XDP_UMEM_FILL_RING, &sizes.fill).map_err(step("sizing the fill ring"))?;
        setsockopt(raw, libc::XDP_UMEM_COMPLETION_RING, &sizes.completion)
            .map_err(step("sizing the completion ring"))?;
        setsockopt(raw, libc::XDP_RX_RING, &sizes.rx).map_err(step("sizing the RX ring"))?;
        setsockopt(raw, libc::XDP_TX_RING, &sizes.tx).map_err(step("sizing the TX ring"))?;
        let off: RawOffsets = getsockopt(raw, libc::XDP_MMAP_OFFSETS).map_err(step("reading ring offsets"))?;
        let lay = |i: usize| RingLayout {
            producer: off.0[i],
            consumer: off.0[i + 1],
            desc: off.0[i + 2],
            flags: off.0[i + 3],
        };
        let (rx_l, tx_l, fr_l, cr_l) = (lay(0), lay(4), lay(8), lay(12));
        let desc = std::mem::size_of::<libc::xdp_desc>();
        let map = |l: RingLayout, n: u32, each: usize, pgoff: u64, what| {
            RingMap::map(raw, l.desc as usize + n as usize * each, pgoff).map_err(step(what))
        };
        let rx = map(rx_l, sizes.rx, desc, libc::XDP_PGOFF_RX_RING as u64, "mapping the RX ring")?;
        let tx = map(tx_l, sizes.tx, desc, libc::XDP_PGOFF_TX_RING as u64, "mapping the TX ring")?;
        let fr = map(fr_l, sizes.fill, 8, libc::XDP_UMEM_PGOFF_FILL_RING, "mapping the fill ring")?;
        let cr = map(cr_l, sizes.completion, 8, libc::XDP_UMEM_PGOFF_COMPLETION_RING, "mapping the completion ring")?;
        bind_retrying(raw, ifindex, queue, owner.as_deref(), force_copy)?;
        if owner.is_none() {
            umem::record_owner(layout.base, &fd);
        }
        let opts: libc::xdp_options = getsockopt_options(raw).map_err(step("reading the bind mode"))?;
        Ok(XskSocket {
            fill: ProducerRing::new(fr, fr_l, sizes.fill),
            completion: ConsumerRing::new(cr, cr_l, sizes.completion),
            rx: ConsumerRing::new(rx, rx_l, sizes.rx),
            tx: ProducerRing::new(tx, tx_l, sizes.tx),
            zero_copy: opts.flags & libc::XDP_OPTIONS_ZEROCOPY != 0,
            fd,
        })
    }
}

/// The kernel's counters for socket `fd`.
pub fn stats(fd: BorrowedFd<'_>) -> XskStats {
    let s: RawStats = getsockopt(fd.as_raw_fd(), libc::XDP_STATISTICS).unwrap_or_default();
    let [rx_dropped, rx_invalid_descs, tx_invalid_descs, rx_ring_full, rx_fill_ring_empty_descs, tx_ring_empty_descs] =
        s.0;
    XskStats {
        rx_dropped,
        rx_invalid_descs,
        tx_invalid_descs,
        rx_ring_full,
        rx_fill_ring_empty_descs,
        tx_ring_empty_descs,
    }
}

/// Asks the kernel to process socket `fd`'s TX ring (`sendto` with no
/// data). Returns false when it is busy or out of room (reclaim
/// completions, then try again).
#[inline]
pub fn kick_tx(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: a zero-length, non-blocking send with no address: it only
    // wakes the kernel's transmit side.
    let r = unsafe { libc::sendto(fd.as_raw_fd(), std::ptr::null(), 0, libc::MSG_DONTWAIT, std::ptr::null(), 0) };
    r >= 0
}

/// Asks a zero-copy driver to look at socket `fd`'s fill ring.
#[inline]
pub fn kick_fill(fd: BorrowedFd<'_>) {
    // SAFETY: a zero-length, non-blocking receive into no buffer: it only
    // wakes the driver's receive side.
    unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            std::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
}

fn register_umem(fd: RawFd, layout: &UmemLayout) -> Result<(), XskError> {
    let reg = libc::xdp_umem_reg {
        addr: layout.base as u64,
        len: layout.len as u64,
        chunk_size: layout.chunk,
        headroom: 0,
        flags: libc::XDP_UMEM_UNALIGNED_CHUNK_FLAG,
        tx_metadata_len: 0,
    };
    setsockopt(fd, libc::XDP_UMEM_REG, &reg).map_err(step("registering the mempool as UMEM"))
}

fn getsockopt_options(fd: RawFd) -> io::Result<libc::xdp_options> {
    let mut v = libc::xdp_options { flags: 0 };
    let mut len = std::mem::size_of::<libc::xdp_options>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `v`.
    let r = unsafe {
        libc::getsockopt(fd, libc::SOL_XDP, libc::XDP_OPTIONS, (&mut v as *mut libc::xdp_options).cast(), &mut len)
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(v)
}

/// How long a bind waits for a queue that a closed socket still holds.
/// Closing an AF_XDP socket (or dying with one open, SIGKILL included)
/// frees the queue in the kernel's deferred work, not at close: a restart
/// right after found the queue busy (EBUSY) for a moment (measured here on
/// veth, Linux 6.18).
const BUSY_QUEUE_WAIT: Duration = Duration::from_secs(3);

fn bind_retrying(fd: RawFd, ifindex: u32, queue: u32, owner: Option<&OwnedFd>, copy: bool) -> Result<(), XskError> {
    let deadline = Instant::now() + BUSY_QUEUE_WAIT;
    loop {
        match bind(fd, ifindex, queue, owner, copy) {
            Err(XskError::Busy(_)) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            other => return other,
        }
    }
}

/// Binds to `ifindex`/`queue`. Without `force_copy` no mode is named:
/// the kernel tries zero-copy and falls back to copy mode by itself. A
/// socket sharing a UMEM names no mode (it takes its owner's).
fn bind(fd: RawFd, ifindex: u32, queue: u32, owner: Option<&OwnedFd>, force_copy: bool) -> Result<(), XskError> {
    let flags = match owner {
        Some(_) => libc::XDP_SHARED_UMEM,
        None if force_copy => libc::XDP_USE_NEED_WAKEUP | libc::XDP_COPY,
        None => libc::XDP_USE_NEED_WAKEUP,
    };
    let sa = libc::sockaddr_xdp {
        sxdp_family: libc::AF_XDP as u16,
        sxdp_flags: flags,
        sxdp_ifindex: ifindex,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: owner.map_or(0, |o| o.as_raw_fd() as u32),
    };
    // SAFETY: a live sockaddr_xdp, its size given.
    let r = unsafe {
        libc::bind(
            fd,
            (&sa as *const libc::sockaddr_xdp).cast(),
            std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EBUSY) => XskError::Busy(e),
            _ => step("binding the socket to the queue")(e),
        });
    }
    Ok(())
}
