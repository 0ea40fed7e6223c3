//! The transmit queue: a ring of advanced data descriptors, one per
//! segment (a one-buffer frame takes one, a chain one per segment, EOP on
//! its last). The software ring parks a frame's mbuf at its last
//! descriptor, so a chain goes back to its pools once, as a unit.
//!
//! Completion is batched in groups of `rs_thresh` descriptors, ending at
//! slots `k * rs_thresh - 1`. The device writes status back (DD) only where
//! RS is set, and RS belongs on a frame's last descriptor (as Linux and
//! DPDK put it), so each group's RS goes on the EOP of the frame that
//! covers the group's last slot: that slot itself for one-buffer frames, a
//! later one when a chain straddles the boundary (`rs_slot` remembers
//! which). DD there means the device is done with every descriptor up to
//! it, so with every frame parked in the group, and the group's mbufs go
//! back to their pools in one bulk free. On QEMU this also saves a DMA
//! write per frame.
//!
//! Offloads (see `ctx.rs`): a frame whose flags hold any `TX_*` request
//! leaves the plain path after one test and is handled out of line. When
//! it needs a context (VLAN, MAC/IP/L4 header lengths, TUCMD, MSS) other
//! than the last one written on this ring, a context descriptor goes in
//! front of its data descriptors, taking a slot of its own: counted in the
//! frame's descriptors, in its RS group (RS still on the frame's EOP, which
//! is where the mbuf is parked; a context slot parks nothing), and in what
//! a frame may take at most (one slot is kept for it). A request the device
//! cannot carry out is dropped and counted (`tx_offload_errors`).
//!
//! `tx_burst` writes the tail register once per call, however many frames
//! it queued: on QEMU each TDT write makes the device process the ring
//! synchronously, so doorbells, not frames, are the cost.
//!
//! Link and watchdog (see `link.rs`): one relaxed load per burst tells the
//! queue whether the carrier changed. While it is down, frames are taken,
//! freed and counted (`tx_link_down_drops`); when it comes back the queue
//! rewrites its TDT so frames queued before the outage move. When the ring
//! is full and the device head (TDH, read only then, every 64 such bursts)
//! has not moved for the watchdog timeout, the queue resets itself: queue
//! disabled, every parked mbuf freed, ring and registers back to empty,
//! queue enabled (`tx_timeout_count`).

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ctx::{self, Context, Plan};
use super::desc::{DescRing, TXD_CMD_EOP, TXD_CMD_RS, TXD_STAT_DD};
use super::link::LinkShared;
use super::mac::Hw;
use super::regs::{tdh, tdt, txdctl};
use crate::mem::{Mbuf, MbufBatch, MbufHeader, OffloadFlags};
use crate::port::{Counter, QueueCounters, TxQueue, TxStops};

/// What a transmit queue watches and counts besides packets.
pub struct TxWatch {
    /// Carrier state word and watchdog timeout.
    pub link: Arc<LinkShared>,
    /// `tx_link_down_drops`.
    pub link_down: Arc<Counter>,
    /// `tx_timeout_count`.
    pub timeouts: Arc<Counter>,
    /// Buffers left to a device that would not stop (`mbufs_left_to_device`).
    pub abandoned: Arc<Counter>,
    /// Frames whose offload request was refused (`tx_offload_errors`).
    pub offload_errors: Arc<Counter>,
    /// Times the ring filled (`tx_queue_N_restart`, see [`TxStops`]).
    pub restart: Arc<Counter>,
    /// TXDCTL value (thresholds) to re-enable the queue with after a reset.
    pub txdctl: u32,
}

/// One transmit queue of an igb port.
pub struct IgbTxQueue {
    hw: Arc<Hw>,
    qid: u16,
    ring: DescRing,
    /// The mbuf parked in each slot until the device is done with it.
    bufs: Box<[Option<NonNull<MbufHeader>>]>,
    /// Next slot to fill.
    tail: u16,
    /// Oldest slot still owned by the device.
    clean: u16,
    /// Slots between `clean` and `tail`.
    in_flight: u16,
    rs_thresh: u16,
    /// Per group (`slot / rs_thresh`), the descriptor carrying its RS: the
    /// EOP of the frame that covers the group's last slot. Valid for every
    /// group wholly in flight (that frame went on the ring whole).
    rs_slot: Box<[u16]>,
    /// Most descriptors one frame may take: `n - rs_thresh`, what is free
    /// once the device finished everything (up to `rs_thresh - 1` slots of
    /// an incomplete group stay unreclaimed until more frames complete it),
    /// so a frame that passes this check always fits eventually.
    max_descs: u16,
    /// Largest frame accepted (bytes without CRC).
    max_len: u32,
    free: Box<MbufBatch>,
    counters: Arc<QueueCounters>,
    live: Arc<AtomicBool>,
    watch: TxWatch,
    /// The link state word as last seen.
    link_seen: u64,
    /// Watchdog: since when the ring has been full, and TDH then.
    stall: Option<(Instant, u32)>,
    /// Bursts that found the ring full since it last had room.
    full_bursts: u32,
    /// Whether the last burst filled the ring (`tx_queue_N_restart`).
    stops: TxStops,
    /// The context last written to the ring (slot 0): the one the device
    /// applies to the next offloaded frame. `None` until the first, and
    /// after a reset.
    ctx_last: Option<Context>,
}

/// What became of a frame taken by the offload path.
enum Outcome {
    /// On the ring, with this many bytes.
    Sent(u32),
    /// Refused for its shape (an empty or surplus segment), like a plain frame.
    Dropped,
    /// Refused for its offload request.
    Refused,
}

// SAFETY: the parked mbuf pointers are owned by this queue (like a
// Vec<Mbuf>), and everything else is Send.
unsafe impl Send for IgbTxQueue {}

/// What the port hands to a new queue.
pub(crate) struct TxSetup {
    pub hw: Arc<Hw>,
    pub qid: u16,
    pub ring: DescRing,
    pub max_len: u32,
    pub counters: Arc<QueueCounters>,
    pub live: Arc<AtomicBool>,
    pub watch: TxWatch,
}

/// The write-back group size for a ring: the largest of 32, 16, 8 that
/// divides it (rings are multiples of 8, so RS slots repeat across wraps)
/// and is at most half of it (a full ring holds n - 1 frames, which must
/// include at least one complete group, or nothing would ever be reclaimed).
pub fn rs_thresh_for(count: u16) -> u16 {
    [32u16, 16, 8].into_iter().find(|&t| count.is_multiple_of(t) && t <= count / 2).unwrap_or(1)
}

impl IgbTxQueue {
    /// An empty queue; the port programs the registers.
    pub(crate) fn new(s: TxSetup) -> IgbTxQueue {
        let n = s.ring.count();
        let rs_thresh = rs_thresh_for(n);
        IgbTxQueue {
            hw: s.hw,
            qid: s.qid,
            rs_thresh,
            rs_slot: vec![0; (n / rs_thresh) as usize].into_boxed_slice(),
            max_descs: n - rs_thresh,
            ring: s.ring,
            bufs: vec![None; n as usize].into_boxed_slice(),
            tail: 0,
            clean: 0,
            in_flight: 0,
            max_len: s.max_len,
            free: Box::new(MbufBatch::new()),
            counters: s.counters,
            live: s.live,
            link_seen: s.watch.link.state.load(Ordering::Acquire),
            watch: s.watch,
            stall: None,
            full_bursts: 0,
            stops: TxStops::default(),
            ctx_last: None,
        }
    }

    /// The carrier changed: on "up", rewrite TDT so the device (QEMU)
    /// resumes the ring.
    #[cold]
    #[inline(never)]
    fn link_changed(&mut self, state: u64) {
        self.link_seen = state;
        if state & 1 == 1 {
            DescRing::before_doorbell();
            self.hw.write(tdt(self.qid as u32), self.tail as u32);
        }
    }

    /// Link down: every frame is taken, freed and counted.
    #[cold]
    #[inline(never)]
    fn drop_link_down(&mut self, batch: &mut MbufBatch) -> usize {
        let n = batch.len();
        batch.clear();
        self.counters.add_drops(n as u64);
        self.watch.link_down.add(n as u64);
        n
    }

    /// The ring is full: watch the device head; reset after the timeout.
    #[cold]
    #[inline(never)]
    fn on_full(&mut self) {
        self.full_bursts = self.full_bursts.wrapping_add(1);
        if self.full_bursts % 64 != 1 {
            return;
        }
        let head = self.hw.read(tdh(self.qid as u32));
        let now = Instant::now();
        match self.stall {
            Some((since, h)) if h == head => {
                let limit = Duration::from_millis(self.watch.link.tx_timeout_ms.load(Ordering::Relaxed));
                if now.duration_since(since) >= limit {
                    self.reset();
                }
            }
            _ => self.stall = Some((now, head)),
        }
    }

    /// `ndo_tx_timeout`: stop the queue, free every parked mbuf, empty the
    /// ring, start again.
    #[cold]
    fn reset(&mut self) {
        let q = self.qid as u32;
        if let Err(e) = self.hw.disable_queue(txdctl(q)) {
            // Still running: it may yet read the ring and the parked frames.
            // Leave both to it; the watchdog tries again after the timeout.
            self.abandon(&e);
            self.stall = None;
            self.watch.timeouts.add(1);
            return;
        }
        for slot in self.bufs.iter_mut() {
            if let Some(raw) = slot.take() {
                // SAFETY: parked by `tx_burst` via `into_raw`, owned only here;
                // the queue is disabled, so the device no longer reads it.
                drop(unsafe { crate::mem::Mbuf::from_raw(raw) });
            }
        }
        (self.tail, self.clean, self.in_flight) = (0, 0, 0);
        // The device's context slots after a queue restart are not
        // documented: the next offloaded frame writes its context again.
        self.ctx_last = None;
        self.hw.write(tdh(q), 0);
        self.hw.write(tdt(q), 0);
        if let Err(e) = self.hw.enable_queue(txdctl(q), self.watch.txdctl) {
            log::warn!("ferrite igb: tx queue {q} watchdog reset: {e}");
        }
        self.stall = None;
        self.full_bursts = 0;
        self.watch.timeouts.add(1);
    }

    /// The device would not stop the queue: its parked frames and ring are
    /// never handed back (see [`super::desc::abandon_to_device`]).
    #[cold]
    fn abandon(&mut self, why: &crate::port::PortError) {
        let n = super::desc::abandon_to_device(&self.ring, &mut self.bufs);
        self.watch.abandoned.add(n);
        log::warn!(
            "ferrite igb: tx queue {}: {why}; its {n} parked frames and ring stay with the device, never \
             reused (mbufs_left_to_device)",
            self.qid
        );
    }

    /// Frees every group whose RS descriptor the device has written back.
    /// Returns how many frames it freed.
    fn reclaim(&mut self) -> usize {
        let n = self.ring.count();
        let mut freed = 0;
        while self.in_flight >= self.rs_thresh {
            let last = self.clean + self.rs_thresh - 1;
            let rs = self.rs_slot[(self.clean / self.rs_thresh) as usize];
            if self.ring.tx_status(rs) & TXD_STAT_DD == 0 {
                break;
            }
            DescRing::after_dd();
            let k = self.rs_thresh as usize;
            // SAFETY: k <= rs_thresh <= 32 <= the batch's room (it is
            // cleared after every group), and we write exactly k owned
            // mbuf addresses before committing.
            let spare = unsafe { self.free.spare_raw(k) };
            let mut got = 0;
            for slot in self.clean..=last {
                if let Some(raw) = self.bufs[slot as usize].take() {
                    spare[got] = raw.as_ptr() as usize;
                    got += 1;
                }
            }
            // SAFETY: the first `got` spare slots hold mbufs we owned.
            unsafe { self.free.commit_raw(got) };
            self.free.clear();
            self.clean = if last + 1 == n { 0 } else { last + 1 };
            self.in_flight -= self.rs_thresh;
            freed += got;
        }
        freed
    }

    /// Descriptors `m` needs, or 0 if it is refused: empty, longer than the
    /// largest frame, or (a chain) with an empty segment or more segments
    /// than the ring can ever free for one frame.
    #[inline(always)]
    fn descriptors_for(&self, m: &Mbuf) -> u16 {
        let len = m.len();
        if len == 0 || len > self.max_len as usize {
            return 0;
        }
        if m.is_contiguous() {
            return 1;
        }
        self.chain_descriptors(m, self.max_descs)
    }

    /// One descriptor per segment, at most `limit`. A zero-length
    /// descriptor may only stand alone between frames, with EOP (the e1000
    /// family's rule for null descriptors), so a chain with an empty
    /// segment is refused rather than sent with one in its middle.
    #[inline(never)]
    fn chain_descriptors(&self, m: &Mbuf, limit: u16) -> u16 {
        let mut k = 0u16;
        for seg in m.segments() {
            if seg.is_empty() || k == limit {
                return 0;
            }
            k += 1;
        }
        k
    }

    /// How many frames from the front of `batch` go now: each one whose
    /// descriptors fit in `room`, up to the first that does not (it and the
    /// rest stay with the caller, in order). Refused frames take no room.
    /// Offloaded frames count their context descriptor when the one before
    /// them (on the ring, or earlier in the batch) differs.
    #[inline(always)]
    fn frames_that_fit(&self, batch: &MbufBatch, room: usize) -> usize {
        let mut used = 0usize;
        let mut ctx = self.ctx_last;
        for (k, m) in batch.iter().enumerate() {
            used += if m.ol_flags().intersects(OffloadFlags::TX_ANY) {
                self.offload_descriptors(m, &mut ctx)
            } else {
                self.descriptors_for(m)
            } as usize;
            if used > room {
                return k;
            }
        }
        batch.len()
    }

    /// Puts a one-buffer frame at the tail.
    #[inline(always)]
    fn put_one(&mut self, m: Mbuf, len: u32) {
        let i = self.tail;
        let rs = (i + 1).is_multiple_of(self.rs_thresh);
        if rs {
            self.rs_slot[(i / self.rs_thresh) as usize] = i;
        }
        self.ring.tx_fill(i, m.data_iova(), len, rs);
        self.bufs[i as usize] = Some(m.into_raw());
        self.tail = if i + 1 == self.ring.count() { 0 } else { i + 1 };
        self.in_flight += 1;
    }

    /// Puts a chain of `descs` segments at the tail, one descriptor each,
    /// and parks it at its last descriptor.
    fn put_chain(&mut self, m: Mbuf, len: u32, descs: u16) {
        let n = self.ring.count();
        let first = self.tail;
        let eop = (first as u32 + descs as u32 - 1) % n as u32;
        let eop = eop as u16;
        let mut rs = 0;
        let mut i = first;
        for seg in m.segments() {
            if (i + 1).is_multiple_of(self.rs_thresh) {
                // This frame covers the group's last slot: its EOP reports.
                self.rs_slot[(i / self.rs_thresh) as usize] = eop;
                rs = TXD_CMD_RS;
            }
            let last = if i == eop { TXD_CMD_EOP | rs } else { 0 };
            self.ring.tx_fill_seg(i, seg.data_iova(), seg.len() as u32, len, last);
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        self.bufs[eop as usize] = Some(m.into_raw());
        self.tail = i;
        self.in_flight += descs;
    }

    /// Descriptors an offloaded frame takes (0: refused), given the context
    /// written before it, which its own then replaces.
    #[inline(never)]
    fn offload_descriptors(&self, m: &Mbuf, last: &mut Option<Context>) -> u16 {
        let Ok(plan) = ctx::plan(m, self.max_len) else { return 0 };
        let data = self.offload_data_descriptors(m);
        if data == 0 {
            return 0;
        }
        let new = plan.ctx.is_some() && plan.ctx != *last;
        if new {
            *last = plan.ctx;
        }
        data + new as u16
    }

    /// Data descriptors of an offloaded frame (0: refused, as a plain frame
    /// would be for its shape). One fewer than a plain frame may take, for
    /// the context that may go first: whether it does depends on the frames
    /// before, and a frame that fits once must always fit.
    fn offload_data_descriptors(&self, m: &Mbuf) -> u16 {
        match m.is_contiguous() {
            _ if m.is_empty() => 0,
            true => 1,
            false => self.chain_descriptors(m, self.max_descs - 1),
        }
    }

    /// The offload path of `tx_burst`, for one frame that `frames_that_fit`
    /// let through (the same checks decide the same way here).
    #[inline(never)]
    fn send_offloaded(&mut self, m: Mbuf) -> Outcome {
        let Ok(plan) = ctx::plan(&m, self.max_len) else { return Outcome::Refused };
        let data = self.offload_data_descriptors(&m);
        if data == 0 {
            return Outcome::Dropped;
        }
        let len = m.len() as u32;
        self.put_offloaded(m, &plan, data);
        Outcome::Sent(len)
    }

    /// Puts an offloaded frame at the tail: its context first when it
    /// differs from the last one written, then one data descriptor per
    /// segment with the plan's command and olinfo bits (Linux and DPDK
    /// repeat them on every descriptor; the device reads VLE, POPTS and
    /// PAYLEN from the first). The mbuf is parked at the EOP, which carries
    /// RS if any of the frame's slots, the context's included, ends a group.
    fn put_offloaded(&mut self, m: Mbuf, plan: &Plan, data: u16) {
        let n = self.ring.count();
        let new_ctx = plan.ctx.filter(|c| self.ctx_last != Some(*c));
        let descs = data + new_ctx.is_some() as u16;
        let eop = ((self.tail as u32 + descs as u32 - 1) % n as u32) as u16;
        let (mut i, mut rs) = (self.tail, 0);
        if let Some(c) = new_ctx {
            rs |= self.note_rs(i, eop);
            self.ring.tx_context(i, c.vlan_macip_lens, c.type_tucmd, c.mss_l4len_idx);
            self.ctx_last = Some(c);
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        for seg in m.segments() {
            rs |= self.note_rs(i, eop);
            let last = if i == eop { TXD_CMD_EOP | rs } else { 0 };
            self.ring.tx_fill_data(i, seg.data_iova(), seg.len() as u32 | plan.cmd | last, plan.olinfo);
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        self.bufs[eop as usize] = Some(m.into_raw());
        self.tail = i;
        self.in_flight += descs;
    }

    /// When slot `i` ends its RS group, the frame ending at `eop` reports
    /// for the group: records that, and returns the RS bit for its EOP.
    #[inline(always)]
    fn note_rs(&mut self, i: u16, eop: u16) -> u32 {
        if (i + 1).is_multiple_of(self.rs_thresh) {
            self.rs_slot[(i / self.rs_thresh) as usize] = eop;
            TXD_CMD_RS
        } else {
            0
        }
    }

    /// Refused offload requests: dropped (counted by the caller), and
    /// counted as errors and in `tx_offload_errors`.
    #[cold]
    #[inline(never)]
    fn count_refused(&self, n: u64) {
        self.counters.add_errors(n);
        self.watch.offload_errors.add(n);
    }
}

impl TxQueue for IgbTxQueue {
    fn tx_burst(&mut self, batch: &mut MbufBatch) -> usize {
        if !self.live.load(Ordering::Relaxed) {
            return 0;
        }
        let state = self.watch.link.state.load(Ordering::Relaxed);
        if state != self.link_seen {
            self.link_changed(state);
        }
        if state & 1 == 0 {
            return self.drop_link_down(batch);
        }
        self.reclaim();
        // One slot stays empty so that TDH == TDT means "nothing to send".
        let room = (self.ring.count() - 1 - self.in_flight) as usize;
        let take = self.frames_that_fit(batch, room);
        self.stops.note(batch.len(), take < batch.len(), &self.watch.restart);
        if take == 0 {
            if !batch.is_empty() {
                self.on_full();
            }
            return 0;
        }
        if self.stall.is_some() {
            (self.stall, self.full_bursts) = (None, 0);
        }
        let (mut sent, mut bytes, mut dropped, mut refused) = (0u64, 0u64, 0u64, 0u64);
        for m in batch.drain_front(take) {
            if m.ol_flags().intersects(OffloadFlags::TX_ANY) {
                match self.send_offloaded(m) {
                    Outcome::Sent(len) => (sent, bytes) = (sent + 1, bytes + len as u64),
                    Outcome::Dropped => dropped += 1,
                    Outcome::Refused => (dropped, refused) = (dropped + 1, refused + 1),
                }
                continue;
            }
            let descs = self.descriptors_for(&m);
            if descs == 0 {
                dropped += 1;
                drop(m);
                continue;
            }
            let len = m.len() as u32;
            if descs == 1 {
                self.put_one(m, len);
            } else {
                self.put_chain(m, len, descs);
            }
            sent += 1;
            bytes += len as u64;
        }
        if sent > 0 {
            DescRing::before_doorbell();
            self.hw.write(tdt(self.qid as u32), self.tail as u32);
            self.counters.add(sent, bytes);
        }
        if dropped > 0 {
            self.counters.add_drops(dropped);
        }
        if refused > 0 {
            self.count_refused(refused);
        }
        take
    }

    fn tx_done_cleanup(&mut self) -> usize {
        // A stopped port's queue is inert (its drop frees the ring). Only
        // groups the device marked done are freed, so this is safe while the
        // link is down too.
        if !self.live.load(Ordering::Relaxed) {
            return 0;
        }
        self.reclaim()
    }

    fn queue_id(&self) -> u16 {
        self.qid
    }
}

impl Drop for IgbTxQueue {
    fn drop(&mut self) {
        // Stop the device reading our buffers before they are freed (see the
        // receive queue's drop for why only while live).
        if self.live.load(Ordering::Acquire) {
            if let Err(e) = self.hw.disable_queue(txdctl(self.qid as u32)) {
                self.abandon(&e);
                return;
            }
        }
        for slot in self.bufs.iter_mut() {
            if let Some(raw) = slot.take() {
                // SAFETY: parked by `tx_burst` via `into_raw`, owned only here.
                drop(unsafe { crate::mem::Mbuf::from_raw(raw) });
            }
        }
    }
}
