//! The receive queue: a virtqueue (split or packed, the queue is generic
//! over [`Virtqueue`]) whose every descriptor is one device-writable mbuf
//! buffer.
//!
//! # Buffer layout
//!
//! The device writes a 12-byte `virtio_net_hdr_v1` in front of every frame.
//! So that the frame itself lands where every other driver puts it (at the
//! mbuf's data offset, after the full headroom), each descriptor starts 12
//! bytes early, inside the headroom:
//!
//! ```text
//! | mbuf header | headroom ........ | hdr (12) | frame data ...        |
//!                                   ^ descriptor address = data_iova - 12
//!                                     descriptor length  = 12 + data room
//! ```
//!
//! With VIRTIO_NET_F_MRG_RXBUF a frame may fill several buffers; the first
//! one's header says how many (`num_buffers`), and the others hold frame
//! bytes only, from their first byte (the descriptor address, so again 12
//! bytes before the data offset: the mbuf's data is moved back by 12 to
//! match). Such a frame becomes an mbuf chain when the port was configured
//! with the `scatter` receive offload; without it the frame is dropped and
//! counted (`rx_unscattered_drops`), as igb drops a frame that spans
//! descriptors. A chain under assembly survives across bursts.
//!
//! # What the device can get wrong
//!
//! Everything in a completion is the device's word and is checked: an id
//! that names no armed buffer is counted (`rx_bad_used_ids`) and skipped
//! (on a packed ring it takes one slot, as every receive buffer does); a
//! length shorter than the header, or longer than the buffer, drops the
//! frame (`rx_short_frames`, errors); a `num_buffers` of 0 or more than the
//! ring holds drops it (`rx_bad_num_buffers`); a frame over the MTU's limit
//! is dropped (`rx_mtu_oversize_drops`). Each counts once in the queue's
//! drops and errors. Nothing panics.
//!
//! # Receive checksums
//!
//! With GUEST_CSUM negotiated (the open asked for `tcp_cksum` or
//! `udp_cksum`), the first buffer's header is read for its checksum flags
//! before it is left in the headroom, and applied to the whole frame once
//! it is complete (see `rx_csum`): DATA_VALID marks the mbuf, NEEDS_CSUM
//! gets the checksum completed in software.
//!
//! # Interrupts
//!
//! With an MSI-X vector (see `irq`), `enable_interrupt` arms the ring's
//! used-buffer notification (see `virtq` for how narrowly) and wakes the caller
//! itself when one is already waiting (see `virtq`, rule 4);
//! `disable_interrupt` restores poll-mode suppression and drains the
//! eventfd, counting the device's interrupts (`rx_queue_N_interrupts`),
//! not the queue's own wake-ups.
//!
//! # Refill
//!
//! Buffer ids freed by completions go on a stack; once a quarter of the
//! ring (at most 32) is free, they are armed with buffers from one bulk
//! allocation, published together, and the device is kicked once, only if
//! it asked to be (see `virtq` on notifications). On a split ring the id is
//! the descriptor; on a packed ring it names the buffer, and the descriptor
//! is the next free slot.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use super::irq::RxIrq;
use super::regs::{NET_HDR_LEN, NET_HDR_NUM_BUFFERS};
use super::rx_csum::{self, RxCsum, RxCsumHdr};
use super::session::{Release, Session};
use super::transport::Doorbell;
use super::virtq::{Virtqueue, DESC_F_WRITE};
use crate::mem::{Mbuf, MbufBatch, MbufHeader, Mempool, MAX_BURST};
use crate::port::stat_names;
use crate::port::{Counter, PortError, QueueCounters, RxQueue};

/// Refill once this many descriptors are free (capped at a quarter ring).
const REFILL_THRESH: u16 = 32;

/// Receive-side counters beyond packets/bytes/drops/errors, per queue.
#[derive(Debug, Default)]
pub struct RxStats {
    /// Refills that got fewer buffers than wanted.
    pub alloc_failed: Counter,
    /// Frames whose used length is shorter than the header (or carries no
    /// frame byte at all) or longer than the buffer.
    pub short: Counter,
    /// Frames whose header's `num_buffers` was 0 or beyond the ring.
    pub bad_num_buffers: Counter,
    /// Frames longer than the MTU allows.
    pub oversize: Counter,
    /// Multi-buffer frames received without the `scatter` offload.
    pub unscattered: Counter,
    /// Used entries naming a descriptor that holds no buffer.
    pub bad_used_ids: Counter,
    /// Buffers left to a device whose reset was not confirmed.
    pub abandoned: Counter,
    /// Polls that found every posted buffer used: the device ran out of
    /// buffers since the poll before, and frames that came meanwhile waited
    /// in (or were dropped by) the device. Under QEMU such frames can be
    /// delivered out of order: a frame arriving just after a refill is taken
    /// before the ones its hub queued, which wait for the doorbell.
    pub exhausted: Counter,
    /// Frames the device said had a good L4 checksum (DATA_VALID).
    pub csum_valid: Counter,
    /// Frames with a partial checksum (NEEDS_CSUM) completed here.
    pub csum_completed: Counter,
    /// NEEDS_CSUM frames whose checksum field lies outside the frame
    /// (delivered unmarked).
    pub csum_bad_offsets: Counter,
}

impl RxStats {
    /// The counters under their statistic names: what `ethtool -S` lists
    /// (summed over queues) and what a stats reset zeroes, from one list so
    /// the two cannot drift apart. `abandoned` is not here: it records
    /// mbufs lost to a device for good, a leak a reset must not hide.
    pub fn named(&self) -> [(&'static str, &Counter); 10] {
        [
            (stat_names::RX_ALLOC_FAILED, &self.alloc_failed),
            ("rx_short_frames", &self.short),
            ("rx_bad_num_buffers", &self.bad_num_buffers),
            (stat_names::RX_MTU_OVERSIZE_DROPS, &self.oversize),
            ("rx_unscattered_drops", &self.unscattered),
            ("rx_bad_used_ids", &self.bad_used_ids),
            ("rx_buffers_exhausted", &self.exhausted),
            ("rx_csum_valid", &self.csum_valid),
            ("rx_csum_completed", &self.csum_completed),
            ("rx_csum_bad_offsets", &self.csum_bad_offsets),
        ]
    }
}

/// What the port hands to a new receive queue.
pub(crate) struct RxSetup<R: Virtqueue> {
    /// The open it belongs to.
    pub session: Arc<Session>,
    /// Where to kick the device.
    pub doorbell: Doorbell,
    /// The port's queue index.
    pub qid: u16,
    /// The virtqueue.
    pub ring: R,
    /// Receive buffers come from here.
    pub pool: Mempool,
    /// VIRTIO_NET_F_MRG_RXBUF was negotiated: `num_buffers` is meaningful.
    pub mergeable: bool,
    /// The `scatter` offload: multi-buffer frames become chains.
    pub scatter: bool,
    /// VIRTIO_NET_F_GUEST_CSUM was negotiated: the header's checksum flags
    /// are meaningful.
    pub guest_csum: bool,
    /// Packets, bytes, drops, errors.
    pub counters: Arc<QueueCounters>,
    /// The rest.
    pub stats: Arc<RxStats>,
    /// Longest frame accepted (the MTU's), read once per burst.
    pub max_len: Arc<AtomicU32>,
    /// The queue's MSI-X vector, when the device accepted one.
    pub irq: Option<RxIrq>,
}

/// One receive queue of a virtio-net port, on a ring of layout `R`.
pub struct VirtioRxQueue<R: Virtqueue> {
    ring: R,
    /// The mbuf armed under each buffer id.
    bufs: Box<[Option<NonNull<MbufHeader>>]>,
    /// Buffer ids without a buffer: `free_ids[..nfree]`.
    free_ids: Box<[u16]>,
    nfree: u16,
    refill_thresh: u16,
    /// The chain under assembly (its first buffer owns the rest) and how
    /// many buffers it still waits for.
    pending: Option<Mbuf>,
    pending_left: u16,
    /// The checksum part of the pending chain's header.
    pending_csum: RxCsumHdr,
    /// Buffers still to come of a frame already dropped and counted.
    discard_left: u16,
    mergeable: bool,
    scatter: bool,
    /// GUEST_CSUM: apply the header's checksum flags.
    guest_csum: bool,
    qid: u16,
    doorbell: Doorbell,
    session: Arc<Session>,
    pool: Mempool,
    staging: Box<MbufBatch>,
    counters: Arc<QueueCounters>,
    stats: Arc<RxStats>,
    max_len: Arc<AtomicU32>,
    irq: Option<RxIrq>,
}

// SAFETY: the armed mbuf pointers are owned by this queue (like a
// Vec<Mbuf>), the ring is only touched through it, and the rest is Send.
unsafe impl<R: Virtqueue> Send for VirtioRxQueue<R> {}

/// Why a frame is dropped (each counts once as a drop and an error).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Refused {
    Short,
    BadNumBuffers,
    Oversize,
    Unscattered,
    /// A chain the mbuf cannot hold, or an empty continuation buffer.
    Error,
}

/// One burst's tally, added to the counters once at its end.
#[derive(Default)]
struct Tally {
    got: usize,
    bytes: u64,
    dropped: u64,
    short: u64,
    bad_num_buffers: u64,
    oversize: u64,
    unscattered: u64,
    bad_ids: u64,
    csum_valid: u64,
    csum_completed: u64,
    csum_bad_offsets: u64,
}

impl Tally {
    #[inline(always)]
    fn refuse(&mut self, why: Refused) {
        self.dropped += 1;
        match why {
            Refused::Short => self.short += 1,
            Refused::BadNumBuffers => self.bad_num_buffers += 1,
            Refused::Oversize => self.oversize += 1,
            Refused::Unscattered => self.unscattered += 1,
            Refused::Error => {}
        }
    }

    #[inline(always)]
    fn csum(&mut self, what: RxCsum) {
        match what {
            RxCsum::Unknown => {}
            RxCsum::Valid => self.csum_valid += 1,
            RxCsum::Completed => self.csum_completed += 1,
            RxCsum::BadOffsets => self.csum_bad_offsets += 1,
        }
    }
}

impl<R: Virtqueue> VirtioRxQueue<R> {
    /// A queue whose every descriptor holds a fresh buffer, published (the
    /// device is told about the ring afterwards, and kicked once it runs).
    pub(crate) fn new(s: RxSetup<R>) -> Result<VirtioRxQueue<R>, PortError> {
        let n = s.ring.size();
        let mut q = VirtioRxQueue {
            bufs: vec![None; n as usize].into_boxed_slice(),
            free_ids: (0..n).rev().collect(),
            nfree: n,
            refill_thresh: REFILL_THRESH.min(n / 4).max(1),
            ring: s.ring,
            pending: None,
            pending_left: 0,
            pending_csum: RxCsumHdr::default(),
            guest_csum: s.guest_csum,
            discard_left: 0,
            mergeable: s.mergeable,
            scatter: s.scatter,
            qid: s.qid,
            doorbell: s.doorbell,
            session: s.session,
            pool: s.pool,
            staging: Box::new(MbufBatch::new()),
            counters: s.counters,
            stats: s.stats,
            max_len: s.max_len,
            irq: s.irq,
        };
        q.fill();
        if q.nfree != 0 {
            return Err(PortError::NoMemory(format!(
                "mempool '{}' has too few free buffers to fill a {n}-entry receive virtqueue ({} free); make \
                 the pool bigger (testpmd --total-num-mbufs)",
                q.pool.name(),
                q.pool.available()
            )));
        }
        // Before DRIVER_OK the device asks for nothing; the port kicks
        // once it runs.
        let _ = q.ring.publish();
        Ok(q)
    }

    /// The device's doorbell for this queue (the port kicks once after
    /// DRIVER_OK so the device sees the first buffers).
    pub fn doorbell(&self) -> Doorbell {
        self.doorbell
    }

    /// Arms free ids with buffers from the pool, in bulk, and adds them to
    /// the ring (unpublished). Returns how many.
    fn fill(&mut self) -> u16 {
        let mut filled = 0u16;
        while self.nfree > 0 {
            let want = (self.nfree as usize).min(MAX_BURST);
            let got = self.pool.alloc_up_to(&mut self.staging, want);
            for m in self.staging.drain_front(got) {
                self.nfree -= 1;
                let id = self.free_ids[self.nfree as usize];
                // The device writes the header into the 12 bytes before the
                // data offset, then the frame from the data offset on.
                let len = (m.capacity() + NET_HDR_LEN) as u32;
                self.ring.add_one(id, m.data_iova() - NET_HDR_LEN as u64, len, DESC_F_WRITE);
                self.bufs[id as usize] = Some(m.into_raw());
            }
            filled += got as u16;
            if got < want {
                self.stats.alloc_failed.add(1);
                break;
            }
        }
        filled
    }

    /// Takes the buffer of used id `id` back (ours now) and frees the id;
    /// `None` if the device names a buffer it does not hold.
    #[inline(always)]
    fn take(&mut self, id: u32) -> Option<Mbuf> {
        let raw = self.bufs.get_mut(id as usize)?.take()?;
        self.free_ids[self.nfree as usize] = id as u16;
        self.nfree += 1;
        // SAFETY: the pointer came from `Mbuf::into_raw` in `fill` and was
        // parked in exactly this slot, which no longer holds it.
        Some(unsafe { Mbuf::from_raw(raw) })
    }

    /// Makes the `len` bytes the device wrote from the descriptor address
    /// the mbuf's data (the header included for a first buffer); false if
    /// `len` does not fit the buffer.
    #[inline(always)]
    fn expose(m: &mut Mbuf, len: u32) -> bool {
        m.prepend(NET_HDR_LEN).is_some() && m.set_len(len as usize)
    }

    /// The first buffer of a frame.
    #[inline(always)]
    fn first_buffer(&mut self, mut m: Mbuf, len: u32, batch: &mut MbufBatch, max_len: u32, t: &mut Tally) {
        // The data starts at the header the device wrote (meaningful only
        // if `len` covers it).
        let has_hdr = m.prepend(NET_HDR_LEN).is_some() && len as usize >= NET_HDR_LEN;
        let nb = if self.mergeable && has_hdr {
            let h = m.data();
            u16::from_le_bytes([h[NET_HDR_NUM_BUFFERS], h[NET_HDR_NUM_BUFFERS + 1]])
        } else {
            1
        };
        if !has_hdr || len as usize == NET_HDR_LEN || !m.set_len(len as usize) {
            // Shorter than the header (or nothing after it), or longer than
            // the buffer the device was given. A mergeable frame's further
            // buffers are skipped too when its header counts them, or they
            // would be read as frames of their own.
            if nb > 1 && nb <= self.ring.size() {
                self.discard_left = nb - 1;
            }
            drop(m);
            return t.refuse(Refused::Short);
        }
        // Read before the header is left in the headroom (where the next
        // prepend, e.g. a transmit header, may overwrite it).
        let csum = if self.guest_csum { RxCsumHdr::parse(m.data()) } else { RxCsumHdr::default() };
        // The header stays in the headroom; the frame starts at the data
        // offset every driver uses.
        m.adj(NET_HDR_LEN);
        if nb == 0 || nb > self.ring.size() {
            drop(m);
            return t.refuse(Refused::BadNumBuffers);
        }
        if nb == 1 {
            return self.deliver(m, csum, batch, max_len, t);
        }
        let why = if !self.scatter {
            Refused::Unscattered
        } else if m.len() > max_len as usize {
            Refused::Oversize
        } else {
            self.pending = Some(m);
            self.pending_left = nb - 1;
            self.pending_csum = csum;
            return;
        };
        drop(m);
        self.discard_left = nb - 1;
        t.refuse(why);
    }

    /// A further buffer of the chain under assembly.
    #[inline(never)]
    fn next_buffer(&mut self, mut m: Mbuf, len: u32, batch: &mut MbufBatch, max_len: u32, t: &mut Tally) {
        self.pending_left -= 1;
        let so_far = self.pending.as_ref().map_or(0, Mbuf::len);
        let why = if len == 0 || !Self::expose(&mut m, len) {
            Refused::Error
        } else if so_far + len as usize > max_len as usize {
            // Checked as the frame grows: a runaway chain never holds more
            // than an MTU's worth of buffers.
            Refused::Oversize
        } else {
            match self.pending.as_mut().map(|head| head.chain(m)) {
                Some(Ok(())) if self.pending_left == 0 => {
                    if let Some(frame) = self.pending.take() {
                        self.deliver(frame, self.pending_csum, batch, max_len, t);
                    }
                    return;
                }
                Some(Ok(())) => return,
                Some(Err(seg)) => drop(seg),
                None => {}
            }
            Refused::Error
        };
        // The whole frame goes: what was assembled now, the rest as it comes.
        self.pending = None;
        self.discard_left = self.pending_left;
        self.pending_left = 0;
        t.refuse(why);
    }

    /// Hands a complete frame to the caller (or drops it over the MTU),
    /// its checksum applied as header `csum` says.
    #[inline(always)]
    fn deliver(&mut self, mut m: Mbuf, csum: RxCsumHdr, batch: &mut MbufBatch, max_len: u32, t: &mut Tally) {
        if m.len() > max_len as usize {
            drop(m);
            return t.refuse(Refused::Oversize);
        }
        if self.guest_csum {
            t.csum(rx_csum::apply(&mut m, csum));
        }
        m.set_queue(self.qid);
        t.bytes += m.len() as u64;
        t.got += 1;
        // Room was checked: `max` never exceeds the batch's room.
        let _ = batch.push(m);
    }

    /// Re-arms free descriptors once there are enough, and kicks the device
    /// if it wants to hear about them.
    #[inline(always)]
    fn refill(&mut self) {
        if self.nfree >= self.refill_thresh && self.fill() > 0 && self.ring.publish() {
            self.session.transport.notify(self.doorbell);
        }
    }

    #[inline(always)]
    fn count(&self, t: &Tally) {
        if t.got > 0 {
            self.counters.add(t.got as u64, t.bytes);
        }
        if t.dropped > 0 {
            self.counters.add_drops(t.dropped);
        }
        if t.dropped + t.bad_ids > 0 {
            self.count_errors(t);
        }
        if t.csum_valid + t.csum_completed + t.csum_bad_offsets > 0 {
            self.count_csum(t);
        }
    }

    #[inline(never)]
    fn count_csum(&self, t: &Tally) {
        let s = &self.stats;
        for (c, n) in [
            (&s.csum_valid, t.csum_valid),
            (&s.csum_completed, t.csum_completed),
            (&s.csum_bad_offsets, t.csum_bad_offsets),
        ] {
            if n > 0 {
                c.add(n);
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn count_errors(&self, t: &Tally) {
        self.counters.add_errors(t.dropped + t.bad_ids);
        let s = &self.stats;
        for (c, n) in [
            (&s.short, t.short),
            (&s.bad_num_buffers, t.bad_num_buffers),
            (&s.oversize, t.oversize),
            (&s.unscattered, t.unscattered),
            (&s.bad_used_ids, t.bad_ids),
        ] {
            if n > 0 {
                c.add(n);
            }
        }
    }
}

impl<R: Virtqueue> RxQueue for VirtioRxQueue<R> {
    fn rx_burst(&mut self, batch: &mut MbufBatch, budget: usize) -> usize {
        if !self.session.live() {
            return 0;
        }
        let max = budget.min(batch.room());
        let max_len = self.max_len.load(Ordering::Relaxed);
        let mut t = Tally::default();
        self.ring.poll_used();
        if self.ring.all_used(self.ring.size() - self.nfree) {
            self.stats.exhausted.add(1);
        }
        while t.got < max {
            let Some((id, len)) = self.ring.peek_used() else { break };
            // Every receive buffer is one descriptor (an unknown id too).
            self.ring.pop_used(1);
            let Some(m) = self.take(id) else {
                t.bad_ids += 1;
                continue;
            };
            if self.discard_left > 0 {
                self.discard_left -= 1;
                drop(m);
            } else if self.pending_left > 0 {
                self.next_buffer(m, len, batch, max_len, &mut t);
            } else {
                self.first_buffer(m, len, batch, max_len, &mut t);
            }
        }
        self.refill();
        self.count(&t);
        t.got
    }

    fn queue_id(&self) -> u16 {
        self.qid
    }

    /// Lifts the ring's used-buffer suppression for the next completion
    /// (see `virtq` on interrupt mode), then wakes itself if one is
    /// already there, so arming never misses a frame.
    fn enable_interrupt(&mut self) -> Result<(), PortError> {
        let Some(irq) = &mut self.irq else {
            return Err(PortError::NotSupported("rx interrupts (no MSI-X vector for this virtio queue)"));
        };
        if !self.session.live() {
            return Err(PortError::InvalidState("the port was stopped".into()));
        }
        if self.ring.arm_interrupt() {
            irq.wake_self();
        }
        Ok(())
    }

    /// Back to poll-mode suppression, and the eventfd drained (the device's
    /// interrupts among what it held are counted).
    fn disable_interrupt(&mut self) {
        if let Some(irq) = &mut self.irq {
            self.ring.disarm_interrupt();
            irq.drain();
        }
    }

    fn interrupt_fd(&self) -> Option<std::os::fd::RawFd> {
        self.irq.as_ref().map(RxIrq::fd)
    }
}

impl<R: Virtqueue> Drop for VirtioRxQueue<R> {
    fn drop(&mut self) {
        // A chain under assembly came back through the used ring: the
        // device is done with it whatever happens below.
        self.pending = None;
        if self.session.release_for(&format!("rx queue {}", self.qid)) == Release::Abandon {
            std::mem::forget(Arc::clone(self.ring.region()));
            // SAFETY: `fill` parks each mbuf with `into_raw`, one slot each.
            let n = unsafe { Mbuf::leak_parked(&mut self.bufs) };
            self.stats.abandoned.add(n);
            return;
        }
        for slot in self.bufs.iter_mut() {
            if let Some(raw) = slot.take() {
                // SAFETY: parked by `fill` via `into_raw`, owned only here;
                // the device was reset, so it no longer writes the buffer.
                drop(unsafe { Mbuf::from_raw(raw) });
            }
        }
    }
}
