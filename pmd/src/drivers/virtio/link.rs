//! Link state from the device configuration's `status` field
//! (VIRTIO_NET_F_STATUS), turned into link events.
//!
//! virtio signals a configuration change (QEMU: every link change) with
//! an interrupt on the `msix_config` vector (see `irq`). When the port has
//! that vector, a small thread sleeps on its eventfd and reads `status`
//! when it fires (counted as `lsc_interrupts`, igb's name), and every
//! [`LINK_SAFETY_NET`] anyway in case a notification was lost; without it
//! (no MSI-X, too few vectors, refused) the thread reads `status` every
//! [`LINK_RECHECK`]. Every query
//! ([`NetDevice::link_status`](crate::port::NetDevice::link_status),
//! `link_update`) reads it at once. Without VIRTIO_NET_F_STATUS the spec
//! says to assume the link is up, and no thread runs.
//!
//! # A doorbell when the link comes back
//!
//! When the thread sees the link come up after being down (or up with a
//! new configuration generation: a down and up between two looks), it rings
//! the transmit queue's doorbell once, whether or not the device asked for it
//! (the spec lets a driver notify without new buffers). QEMU needs that
//! with packed rings: while its link is down it returns transmitted frames
//! unsent, and that path (`virtqueue_packed_drop_all`, QEMU 10.0) sets the
//! device event suppression to DISABLE and never clears it, so a driver
//! that obeys never rings again and the queue stays stalled after the link
//! returns. The one doorbell makes QEMU look at the queue, send what waits
//! and re-enable notifications. (Ringing while the link is down instead
//! would be worse: that same drop path miscounts what it drops, and QEMU's
//! next look at the ring fails with "Virtqueue size exceeded", marking the
//! device broken until a reset.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrite_vfio::EventFd;

use super::regs::*;
use super::transport::{Doorbell, Transport};
use crate::drivers::watcher::Watcher;
use crate::port::{Duplex, LinkNotifier, LinkStatus};

/// How often the link thread reads `status` without a configuration
/// interrupt.
pub const LINK_RECHECK: Duration = Duration::from_millis(500);

/// How often it reads `status` anyway when it has one: only a lost
/// notification waits this long.
pub const LINK_SAFETY_NET: Duration = Duration::from_secs(5);

/// What the port and its link thread share.
pub struct LinkState {
    /// The port's name, for events.
    pub name: Arc<str>,
    /// Link-event subscribers.
    pub notifier: LinkNotifier,
    last: Mutex<Option<LinkStatus>>,
    /// VIRTIO_NET_F_STATUS was negotiated.
    pub has_status: bool,
    /// VIRTIO_NET_F_SPEED_DUPLEX was negotiated.
    pub has_speed: bool,
    /// Configuration-change interrupts taken (`lsc_interrupts`).
    pub config_irqs: AtomicU64,
}

impl LinkState {
    /// Link state of a port with the given negotiated features.
    pub fn new(name: Arc<str>, has_status: bool, has_speed: bool) -> LinkState {
        LinkState {
            name,
            notifier: LinkNotifier::default(),
            last: Mutex::new(None),
            has_status,
            has_speed,
            config_irqs: AtomicU64::new(0),
        }
    }

    /// Reads the carrier (and speed/duplex where the device reports them).
    /// virtio reports no speed without SPEED_DUPLEX: 0 then, which ethtool
    /// and Linux's virtio_net show as "Unknown".
    pub fn read(&self, t: &Transport) -> LinkStatus {
        let (status, speed, duplex) = t.read_config(|w, len| {
            let status = if self.has_status && len >= NET_CFG_STATUS + 2 { w.read16(NET_CFG_STATUS) } else { 0 };
            let (speed, duplex) = if self.has_speed && len > NET_CFG_DUPLEX {
                (w.read32(NET_CFG_SPEED), w.read8(NET_CFG_DUPLEX))
            } else {
                (u32::MAX, 0xFF)
            };
            (status, speed, duplex)
        });
        let up = !self.has_status || status & NET_S_LINK_UP != 0;
        if !up {
            return LinkStatus::DOWN;
        }
        LinkStatus {
            up: true,
            speed_mbps: if speed == u32::MAX { 0 } else { speed },
            duplex: match duplex {
                0 => Duplex::Half,
                1 => Duplex::Full,
                _ => Duplex::Unknown, // 0xFF: the device does not know
            },
            autoneg: false,
        }
    }

    /// Records `st`; tells subscribers if it differs from the last one.
    pub fn note(&self, st: LinkStatus) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if *last != Some(st) {
            if last.is_some() {
                self.notifier.notify(&self.name, st);
            }
            *last = Some(st);
        }
    }
}

/// The thread that watches `status`; stops when dropped.
pub struct LinkThread {
    /// Stopped and joined when dropped.
    _watcher: Watcher,
}

impl LinkThread {
    /// Starts watching (only worth it with VIRTIO_NET_F_STATUS): reads
    /// `status` when `config` (the configuration vector's eventfd, if
    /// any) fires and every `period` (the port passes [`LINK_SAFETY_NET`]
    /// with an eventfd, [`LINK_RECHECK`] without). Rings every doorbell of
    /// `kick_on_up` (each transmit queue's) when the link comes back (see
    /// the module docs). The thread must be
    /// dropped before the device is reset.
    pub fn spawn(
        t: Arc<Transport>,
        link: Arc<LinkState>,
        config: Option<Arc<EventFd>>,
        period: Duration,
        kick_on_up: Vec<Doorbell>,
    ) -> std::io::Result<LinkThread> {
        let watcher = Watcher::spawn(format!("virtio-link {}", link.name), move |bell| {
            let (mut was_up, mut generation) = (true, t.config_generation());
            while !bell.stopped() {
                // A down-and-up between two looks shows only as a new
                // configuration generation: kick then too.
                let now = t.config_generation();
                let st = link.read(&t);
                if st.up && (!was_up || now != generation) {
                    for &d in &kick_on_up {
                        t.notify(d);
                    }
                }
                (was_up, generation) = (st.up, now);
                link.note(st);
                let [fired] = bell.wait([config.as_deref()], period);
                if fired > 0 {
                    link.config_irqs.fetch_add(fired, Ordering::Relaxed);
                }
            }
        })?;
        Ok(LinkThread { _watcher: watcher })
    }
}
