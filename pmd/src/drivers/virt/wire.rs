//! The wire: a ring of mbufs between one transmit queue and one receive
//! queue, and the two queue types that feed and drain it.
//!
//! Where a NIC has a descriptor ring and a cable, a virtual port has one
//! [`BulkRing`] per receive queue holding the addresses of the frames in
//! flight (DPDK's `net_ring` does the same with `rte_ring`). Transmit moves
//! a burst of mbuf addresses in with one bulk enqueue; receive moves them
//! out straight into the caller's batch with one burst dequeue. No frame is
//! copied and no buffer changes hands except by ownership transfer.
//!
//! `loop` and `pair` differ only in where a transmit queue's wire is: on
//! the same port (loop) or on the peer (pair); see [`queues`].

use std::sync::Arc;

use super::cable::{Cable, Session, Tap};
use super::common::{deliver, measure, take_all_link_down, take_oversize};
use crate::mem::{BulkRing, MbufBatch, MAX_BURST};
use crate::port::{PortConfig, Queues, RxQueue, TxQueue};

/// Frames in flight to one receive queue, owned by the ring.
pub(crate) struct Wire {
    ring: BulkRing,
}

impl Wire {
    /// A wire holding `ring_size` frames (a power of two, checked by
    /// `PortConfig::check` against the virtual caps).
    pub fn new(ring_size: u16) -> Wire {
        Wire { ring: BulkRing::with_capacity(usize::from(ring_size).max(1)) }
    }

    /// How many frames fit now. Only this wire's one transmit queue adds
    /// frames, so the room can only grow until that queue sends again.
    #[inline(always)]
    pub fn room(&self) -> usize {
        self.ring.capacity() - self.ring.len()
    }

    /// Moves the first `n` frames of `batch` onto the wire, all or none.
    /// Returns whether it did; on failure the batch is unchanged.
    #[inline]
    pub fn send(&self, batch: &mut MbufBatch, n: usize) -> bool {
        let n = n.min(batch.len());
        // SAFETY: `Mbuf` is `repr(transparent)` over `NonNull<MbufHeader>`,
        // which has the size and alignment of `usize` (the batch's own
        // `spare_raw` relies on the same layout), and the first `n` slots are
        // initialised. We only read the addresses; nothing is dereferenced.
        let addrs = unsafe { std::slice::from_raw_parts(batch.as_slice().as_ptr().cast::<usize>(), n) };
        if !self.ring.enqueue_bulk(addrs) {
            return false;
        }
        // The ring owns those frames now (a receiver may already hold them):
        // take them out of the batch without freeing and without touching
        // their headers.
        for m in batch.drain_front(n) {
            let _ = m.into_raw();
        }
        true
    }

    /// Moves up to `n` frames off the wire to the end of `batch` (never
    /// more than it has room for); returns how many.
    #[inline]
    pub fn receive(&self, batch: &mut MbufBatch, n: usize) -> usize {
        let n = n.min(batch.room());
        // SAFETY: `n <= batch.room()`. `dequeue_burst` writes `got` addresses
        // to the front of the spare slots; each is a frame `send` gave up
        // ownership of and the ring hands to exactly one dequeuer, so the
        // batch may own it. We commit exactly those `got` slots.
        let got = self.ring.dequeue_burst(unsafe { batch.spare_raw(n) });
        // SAFETY: as above: the first `got` spare slots hold owned mbufs.
        unsafe { batch.commit_raw(got) };
        got
    }

    /// Frees every frame on the wire; returns how many there were.
    pub fn flush(&self) -> usize {
        let mut batch = MbufBatch::new();
        let mut total = 0;
        loop {
            let got = self.receive(&mut batch, MAX_BURST);
            batch.clear();
            if got == 0 {
                return total;
            }
            total += got;
        }
    }
}

impl Drop for Wire {
    /// A wire outlived by frames (a queue handle sent after its port
    /// stopped) still gives every buffer back.
    fn drop(&mut self) {
        self.flush();
    }
}

/// Builds the queues of a freshly opened loop or pair end: receive queue `q`
/// drains this end's wire `q`; transmit queue `q` feeds wire `q` of the next
/// end on the cable (itself for a loop, the peer for a pair).
pub(crate) fn queues(cable: &Arc<Cable>, me: usize, session: &Arc<Session>, conf: &PortConfig) -> Queues {
    let dest = (me + 1) % cable.ends.len();
    Queues {
        rx: (0..conf.rx_queues)
            .map(|q| Box::new(WireRx { tap: Tap::new(cable, me, me, session), queue: q }) as Box<dyn RxQueue>)
            .collect(),
        tx: (0..conf.tx_queues)
            .map(|q| Box::new(WireTx { tap: Tap::new(cable, me, dest, session), queue: q }) as Box<dyn TxQueue>)
            .collect(),
    }
}

/// A receive queue of a loop or pair port.
struct WireRx {
    tap: Tap,
    queue: u16,
}

impl RxQueue for WireRx {
    #[inline]
    fn rx_burst(&mut self, batch: &mut MbufBatch, budget: usize) -> usize {
        let q = self.queue as usize;
        let Some((session, end)) = self.tap.poll() else { return 0 };
        let Some(wire) = session.wires.get(q) else { return 0 };
        let start = batch.len();
        if wire.receive(batch, budget) == 0 {
            return 0;
        }
        deliver(end, q, batch, start, |_| {})
    }

    fn queue_id(&self) -> u16 {
        self.queue
    }
}

/// A transmit queue of a loop or pair port.
struct WireTx {
    tap: Tap,
    queue: u16,
}

impl TxQueue for WireTx {
    #[inline]
    fn tx_burst(&mut self, batch: &mut MbufBatch) -> usize {
        let q = self.queue as usize;
        let route = self.tap.poll().and_then(|(s, end)| Some((s.wires.get(q)?, end)));
        let Some((wire, end)) = route else { return take_all_link_down(self.tap.end(), q, batch) };
        let limit = end.frame_limit();
        // Lengths must be read before the frames go on the wire: from then
        // on the receiver owns them. So size the burst to the room first.
        let mut n = batch.len().min(wire.room());
        let (mut bytes, longest) = measure(&batch.as_slice()[..n]);
        let mut taken = 0;
        if longest > limit {
            taken = take_oversize(end, q, batch, limit);
            n = batch.len().min(wire.room());
            bytes = measure(&batch.as_slice()[..n]).0;
        }
        if n > 0 && wire.send(batch, n) {
            end.tx[q].stats.add(n as u64, bytes);
            taken += n;
        }
        taken
    }

    fn queue_id(&self) -> u16 {
        self.queue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::virt::testutil::{frames, pool, seqs};

    #[test]
    fn send_is_all_or_nothing_and_keeps_order() {
        let p = pool(256);
        let w = Wire::new(32);
        let mut b = frames(&p, 0..40, 64);
        assert!(!w.send(&mut b, 40), "40 do not fit in 32");
        assert_eq!(b.len(), 40, "a refused send leaves the batch alone");
        assert!(w.send(&mut b, 30));
        assert_eq!(seqs(&b), (30..40).collect::<Vec<_>>(), "the unsent rest moved to the front");
        assert_eq!(w.room(), 2);
        let mut out = MbufBatch::new();
        assert_eq!(w.receive(&mut out, 100), 30);
        assert_eq!(seqs(&out), (0..30).collect::<Vec<_>>());
        drop((b, out));
        assert_eq!(p.available(), 256);
    }

    #[test]
    fn flush_and_drop_free_everything() {
        let p = pool(128);
        let w = Wire::new(64);
        let mut b = frames(&p, 0..50, 64);
        assert!(w.send(&mut b, 50));
        assert_eq!(w.flush(), 50);
        assert_eq!(p.available(), 128);
        let mut b = frames(&p, 0..20, 64);
        assert!(w.send(&mut b, 20));
        drop(w);
        assert_eq!(p.available(), 128, "dropping a wire frees what it held");
    }

    #[test]
    fn receive_respects_budget_and_batch_room() {
        let p = pool(1024);
        let w = Wire::new(1024);
        for part in [0..300, 300..600] {
            let mut b = frames(&p, part, 64);
            assert!(w.send(&mut b, 300));
        }
        let mut out = MbufBatch::new();
        assert_eq!(w.receive(&mut out, 7), 7);
        assert_eq!(w.receive(&mut out, 10_000), crate::mem::MAX_BURST - 7, "never past the batch's room");
        assert_eq!(w.flush(), 600 - crate::mem::MAX_BURST);
    }
}
