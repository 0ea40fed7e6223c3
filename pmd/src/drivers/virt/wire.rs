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
//!
//! # Receive interrupts
//!
//! Each wire has an eventfd, the virtual port's interrupt line. A receive
//! queue *arms* it (`enable_interrupt`) before its core sleeps; the transmit
//! side signals it after a burst lands, only if armed, and disarms it (one
//! interrupt per arming, like an auto-masked MSI-X vector). A transmit queue
//! pays one relaxed load per burst for this until the wire's receiver has
//! armed it once; from then on also a full fence (the store-load barrier
//! that makes "publish frames, then check armed" and "arm, then check for
//! frames" never both miss, as virtio's notification suppression does).
//!
//! # Transmit watchdog
//!
//! A transmit queue whose wire stays full while the receiving end takes
//! nothing off it for the port's tx timeout (`set_tx_timeout`) flushes that
//! wire: the stuck frames go back to their pool, counted on the receiving
//! end as `rx_flushed` and on the queue as `tx_timeout_count`.

use std::sync::atomic::{fence, AtomicU8, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Instant;

use ferrite_vfio::EventFd;

use super::cable::{Cable, Session, Tap};
use super::common::{deliver, forget_metadata, measure, take_all_link_down, take_oversize, End};
use super::spread::{tx_spread, Spread};
use crate::mem::{BulkRing, MbufBatch, MAX_BURST};
use crate::port::{PortConfig, PortError, Queues, RxQueue, TxQueue, TxStops};

/// `Wire::irq`: the receiver armed the interrupt.
const ARMED: u8 = 1;
/// `Wire::irq`: the receiver has used interrupts (transmit checks `ARMED`).
const USED: u8 = 2;

/// Frames in flight to one receive queue, owned by the ring.
pub(crate) struct Wire {
    ring: BulkRing,
    /// `USED | ARMED` bits.
    irq: AtomicU8,
    /// The interrupt line; `None` if the process is out of descriptors.
    efd: Option<EventFd>,
}

impl Wire {
    /// A wire holding `ring_size` frames (a power of two, checked by
    /// `PortConfig::check` against the virtual caps).
    pub fn new(ring_size: u16) -> Wire {
        Wire {
            ring: BulkRing::with_capacity(usize::from(ring_size).max(1)),
            irq: AtomicU8::new(0),
            efd: EventFd::new().ok(),
        }
    }

    /// After frames landed: wakes the receiver if it armed the interrupt.
    #[inline(always)]
    pub fn notify(&self) {
        if self.irq.load(Relaxed) != 0 {
            self.notify_armed();
        }
    }

    #[cold]
    #[inline(never)]
    fn notify_armed(&self) {
        // Orders our ring publication before the check of ARMED (pairs
        // with the fence in `arm`).
        fence(SeqCst);
        if self.irq.load(Relaxed) & ARMED != 0 {
            self.fire();
        }
    }

    /// Disarms and signals, once per arming.
    fn fire(&self) {
        if self.irq.fetch_and(!ARMED, SeqCst) & ARMED != 0 {
            if let Some(e) = &self.efd {
                let _ = e.write(1);
            }
        }
    }

    /// Arms the interrupt; signals at once if frames are already waiting
    /// (or on the very first arming, when a sender may not see `USED` yet).
    pub fn arm(&self) -> bool {
        if self.efd.is_none() {
            return false;
        }
        let before = self.irq.fetch_or(USED | ARMED, SeqCst);
        fence(SeqCst);
        if before & USED == 0 || !self.ring.is_empty() {
            self.fire();
        }
        true
    }

    /// Disarms and swallows a pending signal.
    pub fn disarm(&self) {
        self.irq.fetch_and(!ARMED, SeqCst);
        if let Some(e) = &self.efd {
            let _ = e.read();
        }
    }

    /// The interrupt line's descriptor.
    pub fn fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.efd.as_ref().map(|e| e.as_raw_fd())
    }

    /// How many frames fit now. Without RSS only this wire's one transmit
    /// queue adds frames, so the room can only grow until that queue sends
    /// again; with RSS (`spread.rs`) others may take it first.
    #[inline(always)]
    pub fn room(&self) -> usize {
        self.ring.capacity() - self.ring.len()
    }

    /// Moves frames given by address onto the wire, as many as fit, in
    /// order; returns how many. The wire owns those from now on. Used by
    /// software RSS (`spread.rs`), where several transmit queues feed one
    /// wire.
    #[inline]
    pub fn push_addrs(&self, addrs: &[usize]) -> usize {
        if self.ring.enqueue_bulk(addrs) {
            addrs.len()
        } else {
            self.ring.enqueue_burst(addrs)
        }
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
            .map(|q| Box::new(WireRx { tap: Tap::new_rx(cable, me, session), queue: q }) as Box<dyn RxQueue>)
            .collect(),
        tx: (0..conf.tx_queues)
            .map(|q| {
                Box::new(WireTx {
                    tap: Tap::new(cable, me, dest, session),
                    queue: q,
                    stall: None,
                    full_bursts: 0,
                    stops: TxStops::default(),
                    spread: Spread::new(),
                }) as Box<dyn TxQueue>
            })
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

    fn enable_interrupt(&mut self) -> Result<(), PortError> {
        match self.tap.mine().wires.get(self.queue as usize) {
            Some(w) if w.arm() => Ok(()),
            _ => Err(PortError::NotSupported("rx interrupts (no eventfd)")),
        }
    }

    fn disable_interrupt(&mut self) {
        if let Some(w) = self.tap.mine().wires.get(self.queue as usize) {
            w.disarm();
        }
    }

    fn interrupt_fd(&self) -> Option<std::os::fd::RawFd> {
        self.tap.mine().wires.get(self.queue as usize)?.fd()
    }
}

/// A transmit queue of a loop or pair port.
struct WireTx {
    tap: Tap,
    queue: u16,
    /// Watchdog: since when the wire has been full, and the receiving
    /// queue's progress (frames taken off) at that moment.
    stall: Option<(Instant, u64)>,
    /// Bursts that found the wire full since it last had room.
    full_bursts: u32,
    /// Whether the last burst filled the wire (`tx_queue_N_restart`).
    stops: TxStops,
    /// Scratch for software RSS (`spread.rs`).
    spread: Box<Spread>,
}

/// Frames the receiving queue `q` of `end` has taken off its wire so far.
fn taken_off(end: &End, q: usize) -> u64 {
    let s = end.rx[q].stats.snapshot();
    s.packets + s.drops
}

impl WireTx {
    /// The wire stayed full this burst: watch the receiver's progress (the
    /// clock is read every 64 such bursts) and flush the wire once it has
    /// made none for the port's tx timeout.
    #[cold]
    #[inline(never)]
    fn on_full(&mut self) {
        self.full_bursts = self.full_bursts.wrapping_add(1);
        if self.full_bursts % 64 != 1 {
            return;
        }
        let q = self.queue as usize;
        let progress = taken_off(self.tap.target_end(), q);
        let now = Instant::now();
        match self.stall {
            Some((since, p)) if p == progress => {
                if now.duration_since(since) >= self.tap.end().tx_timeout() {
                    self.reset();
                }
            }
            _ => self.stall = Some((now, progress)),
        }
    }

    /// `ndo_tx_timeout`: frees what is stuck on the wire and counts it.
    #[cold]
    fn reset(&mut self) {
        let q = self.queue as usize;
        self.stall = None;
        self.full_bursts = 0;
        // Under the cable's lock: `flushed` has one writer at a time.
        let _ctl = self.tap.cable().lock();
        if let Some(wire) = self.tap.route().and_then(|s| s.wires.get(q)) {
            let n = wire.flush() as u64;
            self.tap.target_end().flushed.add(n);
        }
        self.tap.end().tx[q].timeouts.add(1);
    }
}

impl TxQueue for WireTx {
    #[inline]
    fn tx_burst(&mut self, batch: &mut MbufBatch) -> usize {
        let q = self.queue as usize;
        let route = self.tap.poll_rss().and_then(|(s, end, rss)| Some((s, s.wires.get(q)?, end, rss)));
        let Some((session, wire, end, rss)) = route else { return take_all_link_down(self.tap.end(), q, batch) };
        if let Some(rss) = rss {
            let offered = batch.len();
            let taken = tx_spread(end, q, &session.wires, rss, batch, &mut self.spread);
            self.stops.note(offered, !batch.is_empty(), &end.tx[q].restart);
            return taken;
        }
        let (limit, offered) = (end.frame_limit(), batch.len());
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
        forget_metadata(&mut batch.as_mut_slice()[..n]);
        if n > 0 && wire.send(batch, n) {
            end.tx[q].stats.add(n as u64, bytes);
            wire.notify();
            taken += n;
        }
        self.stops.note(offered, !batch.is_empty(), &end.tx[q].restart);
        if !batch.is_empty() {
            self.on_full();
        } else if self.stall.is_some() {
            self.stall = None;
            self.full_bursts = 0;
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
