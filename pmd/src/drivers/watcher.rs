//! A driver's background thread that sleeps on interrupt eventfds (link
//! changes, VFIO's device request) and wakes at once when it must stop:
//! what igb's and virtio's link threads share.
//!
//! The thread cannot be interrupted in `poll(2)` by a flag alone, so
//! stopping is two steps: set the flag, then ring an eventfd the thread
//! always polls too (the "bell"). Dropping the [`Watcher`] does both and
//! joins the thread, so a driver drops it before it resets the device the
//! thread reads.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ferrite_vfio::EventFd;

/// The running thread; dropping it stops and joins it.
pub(crate) struct Watcher {
    stop: Arc<AtomicBool>,
    bell: Arc<EventFd>,
    handle: Option<JoinHandle<()>>,
}

/// The thread's side: whether to stop, and the wait.
pub(crate) struct Bell {
    stop: Arc<AtomicBool>,
    bell: Arc<EventFd>,
}

/// Most interrupt eventfds one wait takes (igb: link and device request).
const MAX_IRQS: usize = 2;

impl Watcher {
    /// Starts thread `name` running `body`, which should loop until
    /// [`Bell::stopped`] and sleep in [`Bell::wait`].
    pub(crate) fn spawn(name: String, body: impl FnOnce(Bell) + Send + 'static) -> io::Result<Watcher> {
        let stop = Arc::new(AtomicBool::new(false));
        let bell = Arc::new(EventFd::new()?);
        let side = Bell { stop: Arc::clone(&stop), bell: Arc::clone(&bell) };
        let handle = std::thread::Builder::new().name(name).spawn(move || body(side))?;
        Ok(Watcher { stop, bell, handle: Some(handle) })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.bell.write(1);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Bell {
    /// Whether the watcher was dropped.
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Sleeps until one of `irqs` fires, the watcher is dropped, or
    /// `timeout` passes. Returns the interrupts each of `irqs` counted
    /// (its eventfd reset), 0 for one that did not fire. The bell is never
    /// reset: once rung, every later wait returns at once.
    pub(crate) fn wait<const N: usize>(&self, irqs: [Option<&EventFd>; N], timeout: Duration) -> [u64; N] {
        const { assert!(N <= MAX_IRQS) };
        let mut fds = [libc::pollfd { fd: -1, events: libc::POLLIN, revents: 0 }; 1 + MAX_IRQS];
        for (slot, irq) in fds[1..].iter_mut().zip(irqs) {
            slot.fd = irq.map_or(-1, |e| e.as_raw_fd());
        }
        let n = self.poll_with_bell(&mut fds, timeout);
        std::array::from_fn(|i| match irqs[i] {
            Some(e) if n > 0 && fds[i + 1].revents & libc::POLLIN != 0 => e.read().ok().flatten().unwrap_or(0),
            _ => 0,
        })
    }

    /// Sleeps until `fd` is readable, the watcher is dropped, or `timeout`
    /// passes; returns whether `fd` is readable (for a netlink socket or
    /// any other descriptor that is not an eventfd).
    pub(crate) fn wait_readable(&self, fd: std::os::fd::BorrowedFd<'_>, timeout: Duration) -> bool {
        let mut fds = [
            libc::pollfd { fd: -1, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        ];
        let n = self.poll_with_bell(&mut fds, timeout);
        n > 0 && fds[1].revents & libc::POLLIN != 0
    }

    /// Polls `fds` with the bell put in slot 0, for at most `timeout`;
    /// poll's result (the number of ready entries, or -1).
    fn poll_with_bell(&self, fds: &mut [libc::pollfd], timeout: Duration) -> libc::c_int {
        fds[0] = libc::pollfd { fd: self.bell.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: polls a live slice of pollfds, its length given (poll
        // skips the entries whose fd is -1).
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Instant;

    #[test]
    fn a_wait_reports_each_interrupt_count_and_a_drop_ends_the_thread_at_once() {
        let irq = Arc::new(EventFd::new().unwrap());
        let (tx, rx) = mpsc::channel();
        let theirs = Arc::clone(&irq);
        let w = Watcher::spawn("watcher-test".into(), move |bell| {
            while !bell.stopped() {
                let [k, none] = bell.wait([Some(&*theirs), None], Duration::from_secs(3600));
                if k > 0 || none > 0 {
                    tx.send((k, none)).unwrap();
                }
            }
        })
        .unwrap();
        irq.write(3).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), (3, 0), "the count, eventfd reset");
        // An hour-long wait: only the bell can end it in time.
        let t0 = Instant::now();
        drop(w);
        assert!(t0.elapsed() < Duration::from_secs(600), "joined without waiting out the timeout");
    }
}
