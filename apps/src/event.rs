//! Sleeping until something happens: a small `epoll` wrapper and a
//! two-descriptor `poll`, for threads that must wake on events (an rx
//! interrupt, a telemetry request, a signal, a link change) rather than
//! check on a short timer. An idle testpmd should cost next to no CPU.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// A `poll`/`epoll` timeout in milliseconds: `None` waits forever (-1); a
/// deadline rounds up, so a sleep never ends just before its deadline and
/// then spins on a zero timeout.
fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(t) => t.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int,
    }
}

/// An epoll instance; each watched descriptor carries a caller's tag.
pub(crate) struct Epoll(OwnedFd);

impl Epoll {
    pub(crate) fn new() -> std::io::Result<Epoll> {
        // SAFETY: epoll_create1 takes flags and returns a new fd or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nobody else owns.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Watches `fd` for readability (level-triggered), tagged `tag`. A
    /// descriptor already watched (queues sharing a vector) is fine.
    pub(crate) fn add(&self, fd: RawFd, tag: u64) -> bool {
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: tag };
        // SAFETY: `ev` is a live local; the kernel copies it.
        let r = unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EEXIST)
    }

    /// Waits up to `timeout` (`None`: until an event); returns the ready
    /// descriptors' events (tags), none on timeout or signal.
    pub(crate) fn wait<'a>(
        &self,
        events: &'a mut [libc::epoll_event],
        timeout: Option<Duration>,
    ) -> &'a [libc::epoll_event] {
        let ms = timeout_ms(timeout);
        // SAFETY: `events` is a live buffer of `events.len()` entries.
        let n = unsafe { libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), events.len() as libc::c_int, ms) };
        &events[..n.max(0) as usize]
    }
}

/// Sleeps until `fd` or `stop` is readable (`None`: forever); returns
/// whether `fd` is. Interrupted by a signal, it returns false early.
pub(crate) fn wait_readable(fd: RawFd, stop: RawFd, timeout: Option<Duration>) -> bool {
    let mut fds = [fd, stop].map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
    // SAFETY: polls a live local array of two pollfds.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms(timeout)) };
    n > 0 && fds[0].revents != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_and_none_waits_forever() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_micros(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_millis(20))), 20);
    }

    #[test]
    fn epoll_reports_the_tag_of_a_ready_descriptor() {
        let ep = Epoll::new().unwrap();
        let (a, b) = (ferrite_vfio::EventFd::new().unwrap(), ferrite_vfio::EventFd::new().unwrap());
        assert!(ep.add(a.as_raw_fd(), 7) && ep.add(b.as_raw_fd(), 9));
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
        assert!(ep.wait(&mut events, Some(Duration::ZERO)).is_empty());
        b.write(1).unwrap();
        let tags: Vec<u64> = ep.wait(&mut events, Some(Duration::ZERO)).iter().map(|e| e.u64).collect();
        assert_eq!(tags, [9]);
        assert!(wait_readable(b.as_raw_fd(), a.as_raw_fd(), Some(Duration::ZERO)));
        assert!(!wait_readable(a.as_raw_fd(), a.as_raw_fd(), Some(Duration::ZERO)));
    }
}
