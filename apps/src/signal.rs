//! SIGINT/SIGTERM handling with plain `sigaction`: the handler sets a flag
//! and rings an eventfd ([`wake_fd`]), so the main thread can sleep in
//! `epoll` until a signal (or anything else) needs it instead of checking
//! the flag on a timer. A second signal while stopping exits at once.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::SeqCst};

static STOP: AtomicBool = AtomicBool::new(false);
/// The eventfd the handler rings, -1 until [`install`] made it. It is never
/// closed: the handler may run at any time until the process exits.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    if STOP.swap(true, SeqCst) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(128 + sig) };
    }
    let fd = WAKE_FD.load(SeqCst);
    if fd >= 0 {
        let one = 1u64.to_ne_bytes();
        // SAFETY: write(2) is async-signal-safe; `fd` is an eventfd that
        // stays open for the life of the process, and `one` is a live local
        // of the 8 bytes an eventfd wants. errno is saved and restored so
        // the interrupted code never sees the handler's.
        unsafe {
            let errno = *libc::__errno_location();
            libc::write(fd, one.as_ptr().cast(), one.len());
            *libc::__errno_location() = errno;
        }
    }
}

/// Creates the wake-up eventfd (once) and installs the handler for SIGINT
/// and SIGTERM.
pub fn install() -> io::Result<()> {
    if WAKE_FD.load(SeqCst) < 0 {
        // SAFETY: eventfd takes two integers and returns a new fd or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        if WAKE_FD.compare_exchange(-1, fd, SeqCst, SeqCst).is_err() {
            // SAFETY: `fd` is ours and unpublished: another thread won.
            unsafe { libc::close(fd) };
        }
    }
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid (empty mask, no flags); the
        // handler only touches atomics, writes an eventfd and calls _exit.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = libc::SA_RESTART;
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// Whether a stop signal arrived.
pub fn requested() -> bool {
    STOP.load(SeqCst)
}

/// A descriptor that becomes (and stays) readable once a stop signal
/// arrived, for `epoll`; `None` before [`install`]. Never read it: it is
/// shared, and only ever rung once that matters.
pub fn wake_fd() -> Option<RawFd> {
    let fd = WAKE_FD.load(SeqCst);
    (fd >= 0).then_some(fd)
}
