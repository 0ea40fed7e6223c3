//! The transmit queue: each frame is one descriptor chain, the
//! `virtio_net_hdr_v1` first, on a split or packed ring (the queue is
//! generic over [`Virtqueue`]).
//!
//! # Frame layout
//!
//! The header (all zero unless the frame asks for a checksum or TSO, see
//! [`net_hdr`]) goes into the frame's headroom, so a one-buffer frame is one
//! descriptor and a chain of k segments is k descriptors, linked with
//! DESC_F_NEXT. virtio 1.x lets header and data share a descriptor
//! (VERSION_1 implies "any layout"). A frame whose headroom has no room
//! for the header (an application used it up) gets a separate first
//! descriptor pointing at a zeroed header the port keeps in DMA memory
//! (the device only reads it), so it is sent all the same — unless it asks
//! for an offload, which needs a header of its own: such a frame is
//! refused (`tx_bad_frames`).
//!
//! # Descriptor bookkeeping
//!
//! The device may complete chains in any order (IN_ORDER is not
//! negotiated), so free descriptor ids are a linked list kept in software
//! (`next_free`, never read back from DMA memory). A chain takes its ids
//! from the front of the list in list order; the head id names the chain
//! in the ring and comes back in its completion. On a split ring the ids
//! are the descriptors, linked in the table in list order; on a packed
//! ring the chain goes into the next free slots and the ids only count
//! them (free ids = free slots), the head id being the buffer id. The mbuf
//! is parked at its head id with the id of its last descriptor and the
//! chain's length (a packed ring skips that many slots after the
//! completion), so a completed chain goes back to the front of the free
//! list in O(1) and its mbuf (chains whole) into a batch freed in bulk.
//!
//! `tx_burst` reclaims completions first, queues as many frames from the
//! front of the batch as there are descriptors for, publishes them
//! together and rings the doorbell at most once, only if the device asked
//! for it (see `virtq` on notifications). A
//! frame that does not fit stays in the batch, with those after it. An
//! empty frame, one longer than the largest frame, or one with more
//! segments than the ring can ever hold is taken, dropped and counted.
//!
//! A device that stops asking for doorbells for good (QEMU's packed ring
//! after its link went down) is woken by the link thread, not here: see
//! `link`.

use std::ptr::NonNull;
use std::sync::Arc;

use super::net_hdr::{self, HdrOffloads, TxHdr};
use super::regs::NET_HDR_LEN;
use super::session::{Release, Session};
use super::transport::Doorbell;
use super::virtq::Virtqueue;
use crate::mem::{Mbuf, MbufBatch, MbufHeader, OffloadFlags, MAX_BURST};
use crate::port::stat_names;
use crate::port::{Counter, QueueCounters, TxQueue, TxStops};

/// End of the free list.
const NONE: u16 = u16::MAX;

/// The requests [`net_hdr`] turns into a header (VLAN requests are not
/// offered by this port and are ignored).
const HDR_REQUESTS: OffloadFlags = OffloadFlags(
    OffloadFlags::TX_IP_CKSUM.0
        | OffloadFlags::TX_TCP_CKSUM.0
        | OffloadFlags::TX_UDP_CKSUM.0
        | OffloadFlags::TX_SCTP_CKSUM.0
        | OffloadFlags::TX_TCP_SEG.0,
);

/// Transmit-side counters beyond packets/bytes/drops/errors, per queue.
#[derive(Debug, Default)]
pub struct TxStats {
    /// Frames refused for their shape (empty, too long, too many segments).
    pub bad_frames: Counter,
    /// Frames sent with the header in a descriptor of its own (no headroom).
    pub separate_hdr: Counter,
    /// Completions naming an id that is no chain head in flight.
    pub bad_used_ids: Counter,
    /// Buffers left to a device whose reset was not confirmed.
    pub abandoned: Counter,
    /// Frames sent asking the device for a TCP/UDP checksum (no TSO).
    pub csum_offload: Counter,
    /// Frames sent asking the device to segment them (TSO).
    pub tso: Counter,
    /// Frames dropped because their offload request cannot be carried by
    /// the header (see [`net_hdr`]); also counted in `bad_frames`.
    pub offload_errors: Counter,
    /// Times the ring filled (`tx_queue_N_restart`, see [`TxStops`]).
    pub restart: Counter,
}

impl TxStats {
    /// The counters under their statistic names, as [`RxStats::named`]
    /// (and, like it, without `abandoned`).
    ///
    /// [`RxStats::named`]: super::rx::RxStats::named
    pub fn named(&self) -> [(&'static str, &Counter); 7] {
        [
            ("tx_bad_frames", &self.bad_frames),
            ("tx_separate_headers", &self.separate_hdr),
            ("tx_bad_used_ids", &self.bad_used_ids),
            ("tx_csum_offload", &self.csum_offload),
            ("tx_tso", &self.tso),
            (stat_names::TX_OFFLOAD_ERRORS, &self.offload_errors),
            (stat_names::TX_RESTART_QUEUE, &self.restart),
        ]
    }
}

/// What the port hands to a new transmit queue.
pub(crate) struct TxSetup<R: Virtqueue> {
    /// The open it belongs to.
    pub session: Arc<Session>,
    /// Where to kick the device.
    pub doorbell: Doorbell,
    /// The port's queue index.
    pub qid: u16,
    /// The virtqueue.
    pub ring: R,
    /// IOVA of the port's zeroed header, for frames without headroom.
    pub zero_hdr_iova: u64,
    /// Largest frame accepted, bytes without header (TSO frames: up to
    /// [`net_hdr::TSO_MAX_FRAME`]).
    pub max_len: u32,
    /// The header offloads the device negotiated.
    pub offloads: HdrOffloads,
    /// Packets, bytes, drops, errors.
    pub counters: Arc<QueueCounters>,
    /// The rest.
    pub stats: Arc<TxStats>,
}

/// One transmit queue of a virtio-net port, on a ring of layout `R`.
pub struct VirtioTxQueue<R: Virtqueue> {
    ring: R,
    /// The frame whose chain starts at each descriptor id, while in flight.
    bufs: Box<[Option<NonNull<MbufHeader>>]>,
    /// For each chain head in flight, its last descriptor id and how many
    /// descriptors the chain has.
    last: Box<[(u16, u16)]>,
    /// The free list: `next_free[id]` follows `id`.
    next_free: Box<[u16]>,
    free_head: u16,
    nfree: u16,
    zero_hdr_iova: u64,
    max_len: u32,
    offloads: HdrOffloads,
    qid: u16,
    doorbell: Doorbell,
    session: Arc<Session>,
    /// Completed frames on their way back to their pools.
    done: Box<MbufBatch>,
    counters: Arc<QueueCounters>,
    stats: Arc<TxStats>,
    /// Whether the last burst filled the ring (`tx_queue_N_restart`).
    stops: TxStops,
}

// SAFETY: the parked mbuf pointers are owned by this queue (like a
// Vec<Mbuf>), the ring is only touched through it, and the rest is Send.
unsafe impl<R: Virtqueue> Send for VirtioTxQueue<R> {}

impl<R: Virtqueue> VirtioTxQueue<R> {
    /// An empty queue; every descriptor is free.
    pub(crate) fn new(s: TxSetup<R>) -> VirtioTxQueue<R> {
        let n = s.ring.size();
        VirtioTxQueue {
            bufs: vec![None; n as usize].into_boxed_slice(),
            last: vec![(0, 0); n as usize].into_boxed_slice(),
            next_free: (1..=n).map(|i| if i == n { NONE } else { i }).collect(),
            free_head: 0,
            nfree: n,
            ring: s.ring,
            zero_hdr_iova: s.zero_hdr_iova,
            max_len: s.max_len,
            offloads: s.offloads,
            qid: s.qid,
            doorbell: s.doorbell,
            session: s.session,
            done: Box::new(MbufBatch::new()),
            counters: s.counters,
            stats: s.stats,
            stops: TxStops::default(),
        }
    }

    /// Where this queue kicks the device.
    pub fn doorbell(&self) -> Doorbell {
        self.doorbell
    }

    /// Takes back every chain the device has used: descriptors to the free
    /// list, frames freed in bulk. Returns how many frames.
    fn reclaim(&mut self) -> usize {
        self.ring.poll_used();
        let mut freed = 0;
        let mut bad = 0;
        while let Some((id, _)) = self.ring.peek_used() {
            let Some(raw) = self.bufs.get_mut(id as usize).and_then(Option::take) else {
                // Not a chain in flight: its length is unknown, so it is
                // taken to fill one slot.
                self.ring.pop_used(1);
                bad += 1;
                continue;
            };
            let head = id as u16;
            let (last, ndesc) = self.last[head as usize];
            self.ring.pop_used(ndesc);
            self.next_free[last as usize] = self.free_head;
            self.free_head = head;
            self.nfree += ndesc;
            // SAFETY: parked by `put` via `into_raw` in exactly this slot,
            // which no longer holds it; the device is done with it.
            let m = unsafe { Mbuf::from_raw(raw) };
            if self.done.push(m).is_err() {
                // Never: the batch is emptied at MAX_BURST below.
                continue;
            }
            freed += 1;
            if self.done.len() == MAX_BURST {
                self.done.clear();
            }
        }
        self.done.clear();
        if bad > 0 {
            self.count_bad_ids(bad);
        }
        freed
    }

    #[cold]
    #[inline(never)]
    fn count_bad_ids(&self, n: u64) {
        self.stats.bad_used_ids.add(n);
        self.counters.add_errors(n);
    }

    /// Descriptors frame `m` takes (header included), or 0 if it is refused.
    #[inline(always)]
    fn descriptors_for(&self, m: &Mbuf) -> u16 {
        let len = m.len();
        let asks = m.ol_flags().intersects(HDR_REQUESTS);
        let max = if asks && m.ol_flags().contains(OffloadFlags::TX_TCP_SEG) {
            net_hdr::TSO_MAX_FRAME
        } else {
            self.max_len as usize
        };
        if len == 0 || len > max {
            return 0;
        }
        let hdr = u16::from(m.headroom() < NET_HDR_LEN);
        if asks && hdr == 1 {
            return 0;
        }
        if m.is_contiguous() {
            return 1 + hdr;
        }
        let mut k = hdr;
        for seg in m.segments() {
            // An empty segment would be a zero-length descriptor, which
            // the spec does not allow a driver to make available.
            if seg.is_empty() || k == self.ring.size() {
                return 0;
            }
            k += 1;
        }
        k
    }

    /// Takes `k` descriptor ids from the free list (the caller checked
    /// there are), returning the first and the last; they stay linked in
    /// `next_free` order.
    #[inline(always)]
    fn alloc_descs(&mut self, k: u16) -> (u16, u16) {
        let head = self.free_head;
        let mut at = head;
        for _ in 1..k {
            at = self.next_free[at as usize];
        }
        self.free_head = self.next_free[at as usize];
        self.nfree -= k;
        (head, at)
    }

    /// Writes frame `m` as a chain of `k` descriptors, `hdr` first, and
    /// makes it available (unpublished).
    #[inline(always)]
    fn put(&mut self, mut m: Mbuf, k: u16, hdr: &[u8; NET_HDR_LEN]) {
        let (head, last) = self.alloc_descs(k);
        let separate_hdr = match m.prepend(NET_HDR_LEN) {
            Some(room) => {
                room.copy_from_slice(hdr);
                None
            }
            None => Some((self.zero_hdr_iova, NET_HDR_LEN as u32)),
        };
        let bufs = separate_hdr.into_iter().chain(m.segments().map(|seg| (seg.data_iova(), seg.len() as u32)));
        self.ring.add_chain(head, &self.next_free, 0, bufs);
        self.last[head as usize] = (last, k);
        self.bufs[head as usize] = Some(m.into_raw());
    }
}

impl<R: Virtqueue> TxQueue for VirtioTxQueue<R> {
    fn tx_burst(&mut self, batch: &mut MbufBatch) -> usize {
        if !self.session.live() {
            return 0;
        }
        self.reclaim();
        let (mut taken, mut sent, mut bytes, mut dropped, mut separate) = (0usize, 0u64, 0u64, 0u64, 0u64);
        let mut asked = Asked::default();
        let mut room = self.nfree;
        // How many frames from the front fit (refused ones take no room).
        for m in batch.iter() {
            let k = self.descriptors_for(m);
            if k > room {
                break;
            }
            room -= k;
            taken += 1;
        }
        self.stops.note(batch.len(), taken < batch.len(), &self.stats.restart);
        for mut m in batch.drain_front(taken) {
            let k = self.descriptors_for(&m);
            if k == 0 {
                dropped += 1;
                drop(m);
                continue;
            }
            let mut hdr = [0u8; NET_HDR_LEN];
            if m.ol_flags().intersects(HDR_REQUESTS) {
                match net_hdr::prepare(&mut m, self.offloads) {
                    Ok((kind, h)) => {
                        asked.count(kind);
                        hdr = h;
                    }
                    Err(_) => {
                        asked.refused += 1;
                        dropped += 1;
                        drop(m);
                        continue;
                    }
                }
            }
            let len = m.len() as u64;
            if m.headroom() < NET_HDR_LEN {
                separate += 1;
            }
            self.put(m, k, &hdr);
            sent += 1;
            bytes += len;
        }
        if sent > 0 {
            if self.ring.publish() {
                self.session.transport.notify(self.doorbell);
            }
            self.counters.add(sent, bytes);
        }
        if dropped + separate > 0 {
            self.count_unusual(dropped, separate);
        }
        if asked != Asked::default() {
            self.count_offloads(asked);
        }
        taken
    }

    fn tx_done_cleanup(&mut self) -> usize {
        if !self.session.live() {
            return 0;
        }
        self.reclaim()
    }

    fn queue_id(&self) -> u16 {
        self.qid
    }
}

/// Header offload requests in one burst.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Asked {
    csum: u64,
    tso: u64,
    refused: u64,
}

impl Asked {
    fn count(&mut self, kind: TxHdr) {
        match kind {
            TxHdr::Plain => {}
            TxHdr::Csum => self.csum += 1,
            TxHdr::Tso => self.tso += 1,
        }
    }
}

impl<R: Virtqueue> VirtioTxQueue<R> {
    #[inline(never)]
    fn count_offloads(&self, a: Asked) {
        self.stats.csum_offload.add(a.csum);
        self.stats.tso.add(a.tso);
        self.stats.offload_errors.add(a.refused);
    }

    #[cold]
    #[inline(never)]
    fn count_unusual(&self, dropped: u64, separate: u64) {
        if dropped > 0 {
            self.counters.add_drops(dropped);
            self.counters.add_errors(dropped);
            self.stats.bad_frames.add(dropped);
        }
        if separate > 0 {
            self.stats.separate_hdr.add(separate);
        }
    }
}

impl<R: Virtqueue> Drop for VirtioTxQueue<R> {
    fn drop(&mut self) {
        if self.session.release_for(&format!("tx queue {}", self.qid)) == Release::Abandon {
            std::mem::forget(Arc::clone(self.ring.region()));
            // SAFETY: `put` parks each mbuf with `into_raw`, one slot each.
            let n = unsafe { Mbuf::leak_parked(&mut self.bufs) };
            self.stats.abandoned.add(n);
            return;
        }
        for slot in self.bufs.iter_mut() {
            if let Some(raw) = slot.take() {
                // SAFETY: parked by `put` via `into_raw`, owned only here;
                // the device was reset, so it no longer reads the frame.
                drop(unsafe { Mbuf::from_raw(raw) });
            }
        }
    }
}
