//! Link-change notification: the carrier/PHY side of a port.
//!
//! A driver owns a [`LinkNotifier`]; applications call
//! [`LinkNotifier::subscribe`] and poll (or block on) the returned
//! [`LinkEvents`]. This is control-plane traffic, so a bounded
//! `crossbeam_queue::ArrayQueue` per subscriber serves well here; a full
//! queue drops the oldest event, since only the latest state matters.
//!
//! Each subscription also has an eventfd, its doorbell: the notifier rings
//! it after queueing an event, so a subscriber can sleep in `poll`/`epoll`
//! ([`LinkEvents::wake_fd`]) or [`LinkEvents::wait`] until something
//! happens instead of checking on a timer.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use ferrite_vfio::EventFd;

use super::LinkStatus;

/// One change of carrier state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkEvent {
    /// The port's name.
    pub port: Arc<str>,
    /// The new state.
    pub status: LinkStatus,
    /// The device is gone for good (unplugged, or handed back to the
    /// kernel at its request): DPDK's `RTE_ETH_EVENT_INTR_RMV`. The port
    /// stays down; its queues drop and count what they are given.
    pub removed: bool,
    /// When the driver saw it.
    pub at: Instant,
}

const EVENTS_PER_SUBSCRIBER: usize = 64;

/// What the notifier and one subscriber share.
#[derive(Debug)]
struct Subscription {
    queue: ArrayQueue<LinkEvent>,
    /// Rung after every push; `None` if the process is out of descriptors
    /// (then [`LinkEvents::wait`] falls back to polling).
    bell: Option<EventFd>,
}

/// The receiving end of a subscription.
#[derive(Debug)]
pub struct LinkEvents {
    sub: Arc<Subscription>,
}

impl LinkEvents {
    /// The next event, if one is waiting.
    ///
    /// When none is, the doorbell is reset (so a level-triggered `epoll`
    /// on [`wake_fd`](Self::wake_fd) sleeps again) and the queue checked
    /// once more: an event queued before the reset is seen now, one queued
    /// after it rings the bell anew, so none is ever left unannounced.
    pub fn try_next(&self) -> Option<LinkEvent> {
        if let Some(e) = self.sub.queue.pop() {
            return Some(e);
        }
        let bell = self.sub.bell.as_ref()?;
        let _ = bell.read();
        self.sub.queue.pop()
    }

    /// Waits up to `timeout` for an event, asleep on the doorbell.
    pub fn wait(&self, timeout: Duration) -> Option<LinkEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.sub.queue.pop() {
                return Some(e);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            // The bell may still count events already taken: then this
            // returns at once and the loop finds the queue empty, once.
            match &self.sub.bell {
                Some(bell) if bell.wait(left).is_ok() => {}
                // No eventfd (or it failed): link changes are rare and
                // slow, a millisecond poll is good enough.
                _ => std::thread::sleep(left.min(Duration::from_millis(1))),
            }
        }
    }

    /// A descriptor that becomes readable when an event is queued, for
    /// `poll`/`epoll`; reset by [`try_next`](Self::try_next) finding the
    /// queue empty. `None` if no eventfd could be created.
    pub fn wake_fd(&self) -> Option<BorrowedFd<'_>> {
        self.sub.bell.as_ref().map(|b| b.as_fd())
    }
}

/// The sending end, kept by the driver.
#[derive(Debug, Default)]
pub struct LinkNotifier {
    subscribers: Mutex<Vec<Arc<Subscription>>>,
}

impl LinkNotifier {
    /// A new subscription; it sees events from now on.
    pub fn subscribe(&self) -> LinkEvents {
        let sub = Arc::new(Subscription { queue: ArrayQueue::new(EVENTS_PER_SUBSCRIBER), bell: EventFd::new().ok() });
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner()).push(Arc::clone(&sub));
        LinkEvents { sub }
    }

    /// Tells every live subscriber (queue, then ring); forgets those that
    /// hung up.
    pub fn notify(&self, port: &Arc<str>, status: LinkStatus) {
        self.send(LinkEvent { port: Arc::clone(port), status, removed: false, at: Instant::now() });
    }

    /// Tells every subscriber that the port's device is gone for good.
    pub fn notify_removed(&self, port: &Arc<str>) {
        self.send(LinkEvent { port: Arc::clone(port), status: LinkStatus::DOWN, removed: true, at: Instant::now() });
    }

    fn send(&self, event: LinkEvent) {
        let mut subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain(|s| Arc::strong_count(s) > 1);
        for s in subs.iter() {
            s.queue.force_push(event.clone());
            if let Some(bell) = &s.bell {
                let _ = bell.write(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribers_see_events_in_order() {
        let n = LinkNotifier::default();
        let a = n.subscribe();
        let p0: Arc<str> = "p0".into();
        n.notify(&p0, LinkStatus::DOWN);
        let b = n.subscribe();
        let up = LinkStatus { up: true, ..LinkStatus::DOWN };
        n.notify(&p0, up);
        assert_eq!(a.try_next().unwrap().status, LinkStatus::DOWN);
        assert_eq!(a.try_next().unwrap().status, up);
        assert!(a.try_next().is_none());
        assert_eq!(b.wait(Duration::from_millis(10)).unwrap().status, up);
        assert!(b.wait(Duration::from_millis(5)).is_none());
    }

    #[test]
    fn the_doorbell_rings_while_an_event_waits() {
        let n = LinkNotifier::default();
        let a = n.subscribe();
        let readable = |e: &LinkEvents| {
            let fd = std::os::fd::AsRawFd::as_raw_fd(&e.wake_fd().expect("an eventfd"));
            let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
            // SAFETY: polls one live local pollfd, without waiting.
            unsafe { libc::poll(&mut pfd, 1, 0) == 1 }
        };
        assert!(!readable(&a));
        n.notify(&"p0".into(), LinkStatus::DOWN);
        assert!(readable(&a));
        assert!(a.try_next().is_some());
        assert!(a.try_next().is_none());
        assert!(!readable(&a), "an empty queue resets the bell");
    }

    #[test]
    fn dropped_subscribers_are_forgotten() {
        let n = LinkNotifier::default();
        drop(n.subscribe());
        n.notify(&"p0".into(), LinkStatus::DOWN);
        assert!(n.subscribers.lock().unwrap().is_empty());
    }
}
