//! The cable: what connects the ends of virtual ports, and decides whether
//! frames may flow (the carrier).
//!
//! A `loop` or `null` port is a cable with one end; a `pair` is a cable with
//! two. The carrier is on when every end is administratively up *and*
//! running, as with a veth pair: stopping or downing either side of a pair
//! takes the link down on both, like pulling the cable.
//!
//! Control-plane state ([`CableCtl`]) sits behind one mutex. Queues never
//! take it on the datapath: each holds a [`Tap`] that caches "may I move
//! frames, and through which session" and re-checks it, under the lock,
//! only when the cable's generation number changed. Every control-plane
//! change bumps that number, so the per-burst cost of all of this is one
//! relaxed load and a compare.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_utils::CachePadded;

use super::common::End;
use super::wire::Wire;
use crate::mem::Mempool;
use crate::port::{Duplex, LinkSettings, LinkStatus, PortConfig};
use crate::rss::{RssConfig, RssEngine, RssHashTypes};

/// One open period of a port (from `open` to `stop`): its receive wires
/// and the pool it was configured with. Queue handles keep their session
/// alive; a handle whose session is no longer its port's current one is
/// inert forever.
pub(crate) struct Session {
    /// One wire per receive queue (none for `null`).
    pub wires: Box<[Wire]>,
    /// Where `null` receive takes buffers from.
    pub pool: Mempool,
}

impl Session {
    fn flush(&self) -> u64 {
        self.wires.iter().map(|w| w.flush() as u64).sum()
    }
}

/// Control-plane state of one end.
pub(crate) struct EndCtl {
    /// `set_link`: the administrative state.
    pub admin_up: bool,
    /// What `configure` (and `set_ringparam`, `set_channels`) last accepted.
    pub conf: PortConfig,
    /// The pool given to `configure`; `None` until then.
    pub pool: Option<Mempool>,
    /// The running session; `None` while stopped.
    pub session: Option<Arc<Session>>,
    /// What `ethtool -s` recorded.
    pub settings: LinkSettings,
    /// Test hook (`VirtPort::set_stalled`): receive queues take nothing off
    /// their wires, as a hung peer would.
    pub stalled: bool,
    /// What `ethtool -X` set (hash types `NONE` by default: transmit queue
    /// q feeds receive queue q, like veth).
    pub rss: RssConfig,
    /// Whether the redirection table was set by the user (else it follows
    /// the receive queue count).
    pub rss_reta_set: bool,
    /// The tables transmit queues feeding this end spread frames with; `None`
    /// while RSS is off or the end has one receive queue.
    pub rss_engine: Option<Arc<RssEngine>>,
}

/// Settings of a fresh virtual link: 10G full duplex, forced.
pub(crate) const DEFAULT_SETTINGS: LinkSettings =
    LinkSettings { autoneg: false, speed_mbps: 10_000, duplex: Duplex::Full };

impl EndCtl {
    fn new() -> EndCtl {
        EndCtl {
            admin_up: true,
            conf: PortConfig::default(),
            pool: None,
            session: None,
            settings: DEFAULT_SETTINGS,
            stalled: false,
            rss: RssConfig::new(1, RssHashTypes::NONE),
            rss_reta_set: false,
            rss_engine: None,
        }
    }

    /// Brings the RSS state in line with the queue count and settings:
    /// a default redirection table follows the receive queue count (a user's
    /// one is kept while it names only existing queues), and the engine is
    /// rebuilt. The caller commits, so queues pick it up.
    pub fn refresh_rss(&mut self) {
        let queues = self.conf.rx_queues;
        if !self.rss_reta_set || self.rss.check(queues).is_err() {
            self.rss.reta = crate::rss::default_reta(queues);
            self.rss_reta_set = false;
        }
        self.rss_engine = (self.rss.enabled() && queues > 1).then(|| Arc::new(RssEngine::new(self.rss.clone())));
    }
}

/// Control-plane state of a whole cable.
pub(crate) struct CableCtl {
    /// Per end, in the same order as [`Cable::ends`].
    pub ends: Vec<EndCtl>,
    /// The carrier as last announced.
    carrier: bool,
}

impl CableCtl {
    /// Whether frames may flow: every end up and running.
    fn carrier_now(&self) -> bool {
        self.ends.iter().all(|e| e.admin_up && e.session.is_some())
    }

    /// Whether the carrier is on.
    pub fn carrier(&self) -> bool {
        self.carrier
    }
}

/// The shared heart of one or two virtual ports.
pub(crate) struct Cable {
    /// Bumped under the lock on every control-plane change queues must see.
    generation: CachePadded<AtomicU64>,
    /// Datapath-shared state per end.
    pub ends: Box<[End]>,
    ctl: Mutex<CableCtl>,
}

impl Cable {
    /// A cable with these ends, stopped and administratively up.
    pub fn new(ends: Vec<End>) -> Arc<Cable> {
        let ctl = CableCtl { ends: ends.iter().map(|_| EndCtl::new()).collect(), carrier: false };
        Arc::new(Cable { generation: CachePadded::new(AtomicU64::new(0)), ends: ends.into(), ctl: Mutex::new(ctl) })
    }

    /// The control-plane state. A panic elsewhere while holding the lock
    /// leaves plain data behind, so a poisoned lock is still usable.
    pub fn lock(&self) -> MutexGuard<'_, CableCtl> {
        self.ctl.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes a control-plane change: queues re-check on their next
    /// burst; if the carrier changed, every end hears of it, and a carrier
    /// going down frees the frames in flight (as a pulled cable loses them).
    pub fn commit(&self, ctl: &mut CableCtl) {
        self.generation.fetch_add(1, Relaxed);
        let up = ctl.carrier_now();
        if up != ctl.carrier {
            ctl.carrier = up;
            if !up {
                self.flush(ctl);
            }
            self.announce(ctl);
        }
    }

    /// A renegotiation: if the carrier is on, it drops and comes back,
    /// and every end sees a down event then an up event.
    pub fn flap(&self, ctl: &mut CableCtl) {
        if !ctl.carrier {
            return;
        }
        ctl.carrier = false;
        self.generation.fetch_add(1, Relaxed);
        self.flush(ctl);
        self.announce(ctl);
        self.commit(ctl);
    }

    /// Frees every frame on every wire of the cable, counting each on the
    /// end that would have received it.
    pub fn flush(&self, ctl: &CableCtl) {
        for (end, e) in self.ends.iter().zip(&ctl.ends) {
            if let Some(s) = &e.session {
                end.flushed.add(s.flush());
            }
        }
    }

    /// Frees the frames on a session that just ended, counting them on `me`.
    pub fn flush_session(&self, me: usize, session: &Session) {
        if let Some(end) = self.ends.get(me) {
            end.flushed.add(session.flush());
        }
    }

    /// What `me` reports as its link state.
    pub fn status(&self, ctl: &CableCtl, me: usize) -> LinkStatus {
        match ctl.ends.get(me) {
            Some(e) if ctl.carrier => LinkStatus {
                up: true,
                speed_mbps: e.settings.speed_mbps,
                duplex: e.settings.duplex,
                autoneg: e.settings.autoneg,
            },
            _ => LinkStatus::DOWN,
        }
    }

    fn announce(&self, ctl: &CableCtl) {
        for (i, end) in self.ends.iter().enumerate() {
            end.notifier.notify(&end.name, self.status(ctl, i));
        }
    }
}

/// A queue's view of its cable: whether it may move frames and through
/// which session, re-checked only when the cable changed.
pub(crate) struct Tap {
    cable: Arc<Cable>,
    /// The end this queue belongs to.
    me: usize,
    /// The end whose session the queue works on (itself, or the peer for a
    /// pair's transmit queue).
    target: usize,
    /// The session that handed this queue out.
    mine: Arc<Session>,
    /// A receive queue's tap: no route while its end is stalled.
    rx: bool,
    /// The generation `route` was computed at.
    seen: u64,
    /// `target`'s session while the carrier is on and `mine` is current.
    route: Option<Arc<Session>>,
    /// `target`'s RSS tables, when it spreads frames over its queues.
    rss: Option<Arc<RssEngine>>,
}

impl Tap {
    /// A transmit queue's tap; it checks the cable on its first burst.
    pub fn new(cable: &Arc<Cable>, me: usize, target: usize, mine: &Arc<Session>) -> Tap {
        Tap {
            cable: Arc::clone(cable),
            me,
            target,
            mine: Arc::clone(mine),
            rx: false,
            seen: u64::MAX,
            route: None,
            rss: None,
        }
    }

    /// A receive queue's tap (on its own end): routes nowhere while the end
    /// is stalled.
    pub fn new_rx(cable: &Arc<Cable>, me: usize, mine: &Arc<Session>) -> Tap {
        Tap { rx: true, ..Tap::new(cable, me, me, mine) }
    }

    /// The session that handed this queue out (its own wires).
    pub fn mine(&self) -> &Session {
        &self.mine
    }

    /// The end this queue's frames go to (a transmit queue's destination).
    pub fn target_end(&self) -> &End {
        &self.cable.ends[self.target]
    }

    /// The control-plane lock (for the watchdog's cold path).
    pub fn cable(&self) -> &Cable {
        &self.cable
    }

    /// The session last routed to, without re-checking the cable.
    pub fn route(&self) -> Option<&Session> {
        self.route.as_deref()
    }

    /// As [`Tap::poll`], plus the target's RSS tables when frames sent
    /// there are spread over its receive queues.
    #[inline(always)]
    pub fn poll_rss(&mut self) -> Option<(&Session, &End, Option<&RssEngine>)> {
        if self.cable.generation.load(Relaxed) != self.seen {
            self.refresh();
        }
        let session = self.route.as_deref()?;
        Some((session, self.cable.ends.get(self.me)?, self.rss.as_deref()))
    }

    /// The session to work on and this queue's end, or `None` while frames
    /// may not flow (carrier off, or this handle outlived its session).
    #[inline(always)]
    pub fn poll(&mut self) -> Option<(&Session, &End)> {
        if self.cable.generation.load(Relaxed) != self.seen {
            self.refresh();
        }
        let session = self.route.as_deref()?;
        Some((session, self.cable.ends.get(self.me)?))
    }

    /// This queue's end (for counting when `poll` said no).
    #[inline(always)]
    pub fn end(&self) -> &End {
        // `me` came from the cable's own end list and the list never shrinks.
        &self.cable.ends[self.me]
    }

    #[cold]
    #[inline(never)]
    fn refresh(&mut self) {
        let ctl = self.cable.lock();
        // Read under the lock: every bump happens under it too, so the
        // route computed below matches this generation exactly.
        self.seen = self.cable.generation.load(Relaxed);
        let current =
            ctl.ends.get(self.me).and_then(|e| e.session.as_ref()).is_some_and(|s| Arc::ptr_eq(s, &self.mine));
        self.route = match ctl.ends.get(self.target) {
            Some(t) if current && ctl.carrier && !(self.rx && t.stalled) => t.session.clone(),
            _ => None,
        };
        self.rss = match ctl.ends.get(self.target) {
            Some(t) if self.route.is_some() => t.rss_engine.clone(),
            _ => None,
        };
    }
}
