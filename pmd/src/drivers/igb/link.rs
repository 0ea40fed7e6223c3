//! Link management and interrupts: MSI-X vector layout (IVAR, EIAC/EIAM,
//! GPIE, EITR), the link-state-change (LSC) thread, and the state the
//! transmit queues watch (carrier, watchdog timeout).
//!
//! Vector 0 carries the "other causes" (IVAR_MISC), of which the driver
//! enables only LSC; vector 1 + (q mod 9) carries receive queue q. Receive
//! vectors auto-clear (EIAC) and auto-mask (EIAM with GPIE.EIAME), as NAPI
//! wants: one interrupt, then silence until the queue re-arms (EIMS). The
//! other vector does too (as in Linux), and the LSC thread re-enables it
//! after reading ICR.
//!
//! The LSC thread blocks on vector 0's eventfd and its own stop eventfd
//! (re-reading STATUS every [`LINK_RECHECK`] in case an interrupt was lost
//! or MSI-X is unavailable: an idle port costs one wake-up a second), turns
//! STATUS.LU/speed/duplex into link events, and publishes the carrier to the
//! transmit queues as one atomic word: `generation << 1 | up`. A queue sees
//! a new generation with one relaxed load per burst; on "up" it rewrites its
//! own TDT (QEMU only resumes a ring on a TDT write, see the module docs),
//! on "down" it drops and counts (`tx_link_down_drops`). The same thread
//! folds the 32-bit hardware counters into their totals every
//! [`super::stats::STATS_PERIOD`] (see `stats.rs`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrite_vfio::EventFd;

use super::mac::Hw;
use super::regs::*;
use super::stats::HwStats;
use crate::drivers::watcher::Watcher;
use crate::port::{LinkNotifier, LinkStatus};

/// Vector of the "other causes" (LSC).
pub const OTHER_VECTOR: u32 = 0;

/// The MSI-X vector of receive queue `q`.
pub fn rx_vector(q: u16) -> u32 {
    1 + u32::from(q) % (MSIX_VECTORS - 1)
}

/// How many vectors a port with `rx_queues` queues uses.
pub fn vectors_for(rx_queues: u16) -> u32 {
    1 + u32::from(rx_queues).min(MSIX_VECTORS - 1)
}

/// How often the LSC thread reads STATUS with no interrupt: the delay of a
/// link change whose interrupt was lost, or of every change without MSI-X.
/// Seconds, not milliseconds: each check wakes the (otherwise idle) thread.
pub const LINK_RECHECK: Duration = Duration::from_secs(1);

/// Default transmit watchdog timeout (Linux igb's `watchdog_timeo`).
pub const DEFAULT_TX_TIMEOUT_MS: u64 = 5_000;
/// Default receive interrupt throttle, µs (about 20k interrupts/s).
pub const DEFAULT_ITR_USECS: u32 = 50;

/// What the port, its LSC thread and its queues share about the link.
pub struct LinkShared {
    /// The port's name, for events.
    pub name: Arc<str>,
    /// Link-event subscribers.
    pub notifier: LinkNotifier,
    last: Mutex<Option<LinkStatus>>,
    /// `generation << 1 | up`, read by transmit queues once per burst.
    pub state: AtomicU64,
    /// `set_link`: administratively up.
    pub admin_up: AtomicBool,
    /// LSC interrupts taken.
    pub lsc_irqs: AtomicU64,
    /// Transmit watchdog timeout, ms.
    pub tx_timeout_ms: AtomicU64,
    /// The device is gone (see [`LinkShared::note_removed`]).
    removed: AtomicBool,
}

impl LinkShared {
    /// Link assumed up (so transmit queues until told otherwise, as before
    /// the first observation).
    pub fn new(name: Arc<str>) -> LinkShared {
        LinkShared {
            name,
            notifier: LinkNotifier::default(),
            last: Mutex::new(None),
            state: AtomicU64::new(1),
            admin_up: AtomicBool::new(true),
            lsc_irqs: AtomicU64::new(0),
            tx_timeout_ms: AtomicU64::new(DEFAULT_TX_TIMEOUT_MS),
            removed: AtomicBool::new(false),
        }
    }

    /// The device is gone for good: the carrier goes down (so transmit
    /// queues drop and count instead of touching the device) and
    /// subscribers hear a removal event, once.
    pub fn note_removed(&self) {
        if self.removed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.note(LinkStatus::DOWN);
        self.notifier.notify_removed(&self.name);
    }

    /// Whether [`LinkShared::note_removed`] happened.
    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// Reads the carrier from STATUS (down while administratively down).
    pub fn read(&self, hw: &Hw) -> LinkStatus {
        if self.admin_up.load(Ordering::Relaxed) {
            hw.link_status()
        } else {
            LinkStatus::DOWN
        }
    }

    /// Records an observation: subscribers hear of changes (not of the
    /// first observation), transmit queues of carrier flips.
    pub fn note(&self, st: LinkStatus) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let changed = last.is_none_or(|l| l.up != st.up || l.speed_mbps != st.speed_mbps || l.duplex != st.duplex);
        if changed {
            if last.is_some() {
                self.notifier.notify(&self.name, st);
            }
            *last = Some(st);
        }
        let cur = self.state.load(Ordering::Relaxed);
        if (cur & 1 == 1) != st.up {
            self.state.store((((cur >> 1) + 1) << 1) | u64::from(st.up), Ordering::Release);
        }
    }
}

/// Programs MSI-X mode: receive queues to their vectors, LSC to vector 0,
/// throttling, auto-clear/auto-mask for receive vectors; enables LSC only
/// (receive vectors stay masked until a queue arms).
pub fn program_msix(hw: &Hw, rx_queues: u16, itr_usecs: u32) {
    hw.write(GPIE, GPIE_MSIX_MODE | GPIE_PBA | GPIE_EIAME | GPIE_NSICR);
    for row in 0..8 {
        hw.write(ivar0(row), 0);
    }
    let mut rx_mask = 0;
    for q in 0..rx_queues {
        let v = rx_vector(q);
        rx_mask |= 1 << v;
        let (row, shift) = (u32::from(q) & 7, (u32::from(q) & 8) << 1);
        let ivar = hw.read(ivar0(row)) & !(0xFF << shift);
        hw.write(ivar0(row), ivar | ((v | IVAR_VALID) << shift));
    }
    hw.write(IVAR_MISC, (OTHER_VECTOR | IVAR_VALID) << 8);
    set_itr(hw, rx_queues, itr_usecs);
    // As Linux: every vector auto-clears and auto-masks; the LSC thread
    // re-enables the other vector after each interrupt.
    hw.write(EIAC, rx_mask | 1 << OTHER_VECTOR);
    hw.write(EIAM, rx_mask | 1 << OTHER_VECTOR);
    let _ = hw.read(ICR);
    hw.write(IMS, ICR_LSC);
    hw.write(EIMS, 1 << OTHER_VECTOR);
    hw.flush();
}

/// Writes the receive vectors' throttle (EITR interval in µs).
pub fn set_itr(hw: &Hw, rx_queues: u16, itr_usecs: u32) {
    for v in 1..vectors_for(rx_queues) {
        hw.write(eitr(v), (itr_usecs << 2) & EITR_INTERVAL_MASK);
    }
}

/// A receive queue's interrupt: its vector's eventfd and EIMS bit.
pub struct RxIrq {
    /// Signalled by VFIO when the vector fires (and by the queue itself
    /// when it arms with work already waiting).
    pub efd: Arc<EventFd>,
    /// `1 << vector`.
    pub bit: u32,
}

/// The running LSC thread.
pub struct LinkThread {
    /// Stopped and joined when dropped.
    _watcher: Watcher,
}

impl LinkThread {
    /// Starts the thread: waits on `other` (vector 0), reads ICR to
    /// acknowledge, re-enables the vector, and notes STATUS. Every
    /// `stats_every` it also folds the 32-bit hardware counters into
    /// `stats`, so they cannot run out between two reads (Linux igb's
    /// watchdog does the same).
    ///
    /// With `removal` (VFIO's request eventfd and the device), it also
    /// hands the device back when the kernel asks for it (see
    /// `release_on_request`), and it reports the port removed once
    /// the device is gone, by request or because it stopped answering.
    pub fn spawn(
        hw: Arc<Hw>,
        link: Arc<LinkShared>,
        other: Option<Arc<EventFd>>,
        stats: Arc<HwStats>,
        stats_every: Duration,
        removal: Option<Removal>,
    ) -> std::io::Result<LinkThread> {
        let watcher = Watcher::spawn(format!("igb-link-{}", link.name), move |bell| {
            let mut folded = Instant::now();
            while !bell.stopped() {
                let req = removal.as_ref().filter(|_| !link.is_removed()).map(|r| &*r.request);
                let [lsc, asked] = bell.wait([other.as_deref(), req], LINK_RECHECK.min(stats_every)).map(|k| k > 0);
                if bell.stopped() {
                    break;
                }
                if let (true, Some(r)) = (asked, &removal) {
                    super::release_on_request(&hw, &r.device);
                }
                if hw.is_gone() {
                    link.note_removed();
                    continue;
                }
                if lsc {
                    link.lsc_irqs.fetch_add(1, Ordering::Relaxed);
                    let _ = hw.read(ICR);
                    hw.write(EICR, 1 << OTHER_VECTOR);
                    hw.write(EIMS, 1 << OTHER_VECTOR);
                }
                link.note(link.read(&hw));
                if folded.elapsed() >= stats_every {
                    stats.update_counts(&hw);
                    folded = Instant::now();
                }
            }
        })?;
        Ok(LinkThread { _watcher: watcher })
    }
}

/// What the link thread needs to hand a device back when the kernel asks.
pub struct Removal {
    /// VFIO's request interrupt ([`ferrite_vfio::IrqKind::Req`]).
    pub request: Arc<EventFd>,
    /// The device to quiet and release.
    pub device: Arc<ferrite_vfio::VfioDevice>,
}
