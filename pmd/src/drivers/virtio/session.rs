//! What a port's queues share with it for one open: the transport (to ring
//! doorbells and, when a queue is dropped early, to reset the device) and
//! whether the device may still touch the rings and buffers.
//!
//! Virtio 1.0 has no way to stop one queue (VIRTIO_F_RING_RESET is a 1.2
//! extra QEMU does not offer by default): the only way to make a device let
//! go of queue memory is a device reset, confirmed by the status reading
//! back 0. So a queue dropped while the port runs resets the whole device
//! (as igb's queue disables its hardware queue), and the port's stop does
//! the same; whichever comes first does it, once. If the device never
//! confirms, the memory it may still write is abandoned, never reused.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use super::transport::{Transport, RESET_TIMEOUT};
use crate::port::PortError;

/// The device runs the queues.
const RUNNING: u8 = 0;
/// The device was reset and confirmed it: queue memory is ours again.
const STOPPED: u8 = 1;
/// A reset was not confirmed: the device may still DMA into queue memory.
const STUCK: u8 = 2;

/// One open of a port, shared by its queues.
pub struct Session {
    /// The device's registers.
    pub transport: Arc<Transport>,
    state: AtomicU8,
    /// Serialises the reset when the port and a queue race to it.
    quiesce: Mutex<()>,
}

/// What a queue may do with its memory when it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// The device is quiet: free buffers, drop the ring.
    Free,
    /// The device may still use it: leak it (counted by the caller).
    Abandon,
}

impl Session {
    /// A session whose device is (about to be) running.
    pub fn new(transport: Arc<Transport>) -> Arc<Session> {
        Arc::new(Session { transport, state: AtomicU8::new(RUNNING), quiesce: Mutex::new(()) })
    }

    /// Whether queues may use the device (one relaxed load per burst).
    #[inline(always)]
    pub fn live(&self) -> bool {
        self.state.load(Ordering::Relaxed) == RUNNING
    }

    /// Resets the device once for this session, if nobody did yet, and
    /// says what may be done with queue memory now. The first error is
    /// returned to the caller that hit it; later callers see `Abandon`.
    pub fn quiesce(&self) -> Result<Release, PortError> {
        let _g = self.quiesce.lock().unwrap_or_else(|p| p.into_inner());
        match self.state.load(Ordering::Acquire) {
            STOPPED => Ok(Release::Free),
            STUCK => Ok(Release::Abandon),
            _ => match self.transport.reset(RESET_TIMEOUT) {
                Ok(()) => {
                    self.state.store(STOPPED, Ordering::Release);
                    Ok(Release::Free)
                }
                Err(e) => {
                    self.state.store(STUCK, Ordering::Release);
                    Err(e)
                }
            },
        }
    }

    /// For a queue's drop: quiesce, reporting a failure once as a warning (the `log` facade).
    pub fn release_for(&self, what: &str) -> Release {
        match self.quiesce() {
            Ok(r) => r,
            Err(e) => {
                log::warn!("ferrite virtio: {what}: {e}; its buffers and ring stay with the device, never reused");
                Release::Abandon
            }
        }
    }
}
