//! Link-change notification: the carrier/PHY side of a port.
//!
//! A driver owns a [`LinkNotifier`]; applications call
//! [`LinkNotifier::subscribe`] and poll (or block on) the returned
//! [`LinkEvents`]. This is control-plane traffic, so a bounded
//! `crossbeam_queue::ArrayQueue` per subscriber serves well here; a full
//! queue drops the oldest event, since only the latest state matters.

use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;

use super::LinkStatus;

/// One change of carrier state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkEvent {
    /// The port's name.
    pub port: Arc<str>,
    /// The new state.
    pub status: LinkStatus,
    /// When the driver saw it.
    pub at: Instant,
}

const EVENTS_PER_SUBSCRIBER: usize = 64;

/// The receiving end of a subscription.
#[derive(Debug)]
pub struct LinkEvents {
    queue: Arc<ArrayQueue<LinkEvent>>,
}

impl LinkEvents {
    /// The next event, if one is waiting.
    pub fn try_next(&self) -> Option<LinkEvent> {
        self.queue.pop()
    }

    /// Waits up to `timeout` for an event (polling every millisecond: link
    /// changes are rare and slow, so a sleep loop is the simple right tool).
    pub fn wait(&self, timeout: Duration) -> Option<LinkEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.queue.pop() {
                return Some(e);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The sending end, kept by the driver.
#[derive(Debug, Default)]
pub struct LinkNotifier {
    subscribers: Mutex<Vec<Arc<ArrayQueue<LinkEvent>>>>,
}

impl LinkNotifier {
    /// A new subscription; it sees events from now on.
    pub fn subscribe(&self) -> LinkEvents {
        let queue = Arc::new(ArrayQueue::new(EVENTS_PER_SUBSCRIBER));
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner()).push(Arc::clone(&queue));
        LinkEvents { queue }
    }

    /// Tells every live subscriber; forgets those that hung up.
    pub fn notify(&self, port: &Arc<str>, status: LinkStatus) {
        let event = LinkEvent { port: Arc::clone(port), status, at: Instant::now() };
        let mut subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain(|q| Arc::strong_count(q) > 1);
        for q in subs.iter() {
            q.force_push(event.clone());
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
    fn dropped_subscribers_are_forgotten() {
        let n = LinkNotifier::default();
        drop(n.subscribe());
        n.notify(&"p0".into(), LinkStatus::DOWN);
        assert!(n.subscribers.lock().unwrap().is_empty());
    }
}
