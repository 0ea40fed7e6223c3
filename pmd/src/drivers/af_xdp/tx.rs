//! A transmit queue: mbufs of the port's own pool go on the TX ring where
//! they lie; frames from any other pool (another port's) are copied into
//! one of the port's buffers first, since the kernel reads only the
//! socket's UMEM. Completed frames come back on the completion ring and
//! return to the pool in one bulk put.
//!
//! Copy mode sends at most 32 frames per `sendto` (the kernel's
//! transmit budget), so a burst wakes the kernel until the ring is taken
//! or the kernel says it is busy; in zero-copy mode only when the ring's
//! `need_wakeup` flag asks.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::ring::{ConsumerRing, ProducerRing};
use super::session::{Outstanding, Session};
use super::socket::kick_tx;
use super::sys::{XSK_UNALIGNED_BUF_ADDR_MASK, XSK_UNALIGNED_BUF_OFFSET_SHIFT};
use super::umem::UmemLayout;
use super::PortShared;
use crate::mem::mbuf::HEADER_SIZE;
use crate::mem::{Mbuf, MbufBatch, MAX_BURST};
use crate::port::{TxQueue, TxStops};

/// Frames the kernel's copy-mode transmit takes per wake-up.
const KERNEL_TX_BUDGET: u32 = 32;

/// One queue's transmit half.
pub struct AfXdpTx {
    tx: ProducerRing<libc::xdp_desc>,
    completion: ConsumerRing<u64>,
    layout: UmemLayout,
    given: Outstanding,
    scratch: [usize; MAX_BURST],
    port: Arc<PortShared>,
    queue: u16,
    session: Arc<Session>,
    /// Whether the last burst filled the ring (`tx_queue_N_restart`).
    stops: TxStops,
}

impl AfXdpTx {
    /// The transmit half over `tx` and `completion`.
    pub fn new(
        tx: ProducerRing<libc::xdp_desc>,
        completion: ConsumerRing<u64>,
        layout: UmemLayout,
        port: Arc<PortShared>,
        queue: u16,
        session: Arc<Session>,
    ) -> AfXdpTx {
        let given = Outstanding::new(&layout);
        let stops = TxStops::default();
        AfXdpTx { tx, completion, layout, given, scratch: [0; MAX_BURST], port, queue, session, stops }
    }

    /// Returns completed frames to the pool; how many.
    #[inline]
    fn reclaim(&mut self) -> usize {
        let n = self.completion.ready(MAX_BURST as u32);
        for i in 0..n {
            let chunk = self.completion.get(i) & XSK_UNALIGNED_BUF_ADDR_MASK;
            let hdr = self.layout.header_of_chunk(chunk);
            self.given.got_back(hdr);
            self.scratch[i as usize] = hdr;
        }
        if n > 0 {
            self.completion.release(n);
            // SAFETY: each is the header of a one-segment mbuf of this
            // pool that this queue put on the TX ring (`into_raw`), and the
            // kernel has finished with it; nothing else owns it.
            unsafe { self.session.pool.put_bulk_raw(&self.scratch[..n as usize]) };
        }
        n as usize
    }

    /// Wakes the kernel until it has taken `pending` more frames off the
    /// ring, or says it is busy.
    #[inline]
    fn kick(&mut self) {
        if !self.tx.needs_wakeup() {
            return;
        }
        let mut rounds = self.tx.outstanding().div_ceil(KERNEL_TX_BUDGET).max(1);
        while rounds > 0 && self.tx.outstanding() > 0 {
            if !kick_tx(self.session.fd()) {
                self.reclaim();
                break;
            }
            rounds -= 1;
        }
    }

    /// The TX descriptor of `m`, which must be in this pool's region: its
    /// buffer's chunk address with the data offset above it.
    #[inline(always)]
    fn describe(&mut self, m: Mbuf) -> libc::xdp_desc {
        let headroom = m.headroom();
        let len = m.len() as u32;
        let hdr = m.into_raw().as_ptr() as usize;
        self.given.give(hdr);
        let chunk = (hdr + HEADER_SIZE - self.layout.base) as u64;
        libc::xdp_desc { addr: chunk | ((headroom as u64) << XSK_UNALIGNED_BUF_OFFSET_SHIFT), len, options: 0 }
    }

    /// `m` as a frame of this pool: itself when it is one whole segment of
    /// it, else a copy (then `m` is freed). `None` when the pool has no
    /// buffer for the copy.
    #[inline(always)]
    fn own(&self, m: Mbuf) -> Option<Mbuf> {
        let data = m.data().as_ptr() as usize;
        if m.nb_segs() == 1 && self.layout.contains(data) {
            return Some(m);
        }
        self.port.txx[self.queue as usize].copies.add(1);
        let mut c = self.session.pool.alloc()?;
        let room = c.append(m.len())?;
        m.read(0, room);
        Some(c)
    }
}

impl AfXdpTx {
    /// Adds one burst's outcome to the queue's counters: frames and bytes
    /// put on the ring, frames refused as oversize (errors) and frames
    /// dropped for want of a buffer to copy into.
    #[inline]
    fn count(&self, put: u32, bytes: u64, oversize: u64, no_buffer: u64) {
        let counters = &self.port.tx[self.queue as usize];
        if put > 0 {
            counters.add(u64::from(put), bytes);
        }
        if oversize > 0 {
            counters.add_errors(oversize);
        }
        if no_buffer > 0 {
            self.port.txx[self.queue as usize].no_buffer_drops.add(no_buffer);
            counters.add_drops(no_buffer);
        }
    }
}

impl TxQueue for AfXdpTx {
    #[inline]
    fn tx_burst(&mut self, batch: &mut MbufBatch) -> usize {
        if self.session.is_stopped() || !self.port.link.carrier.load(Ordering::Relaxed) {
            let n = batch.len();
            self.port.txx[self.queue as usize].link_down_drops.add(n as u64);
            self.port.tx[self.queue as usize].add_drops(n as u64);
            batch.clear();
            return n;
        }
        self.reclaim();
        let limit = self.port.link.frame_limit.load(Ordering::Relaxed) as usize;
        let wanted = batch.len().min(MAX_BURST) as u32;
        let room = self.tx.free(wanted);
        self.stops.note(wanted as usize, room < wanted, &self.port.txx[self.queue as usize].restart);
        let (mut put, mut bytes, mut oversize, mut no_buffer) = (0u32, 0u64, 0u64, 0u64);
        for m in batch.drain_front(room as usize) {
            if m.len() > limit {
                oversize += 1;
                continue;
            }
            let Some(m) = self.own(m) else {
                no_buffer += 1;
                continue;
            };
            bytes += m.len() as u64;
            let d = self.describe(m);
            self.tx.put(put, d);
            put += 1;
        }
        if put > 0 {
            self.tx.submit(put);
        }
        // Also when the ring was full: in copy mode only a wake-up drains
        // it, and a caller that always has frames never calls cleanup.
        if put > 0 || room == 0 {
            self.kick();
        }
        self.count(put, bytes, oversize, no_buffer);
        room as usize
    }

    fn tx_done_cleanup(&mut self) -> usize {
        if self.tx.outstanding() > 0 {
            self.kick();
        }
        self.reclaim()
    }

    fn queue_id(&self) -> u16 {
        self.queue
    }
}

impl Drop for AfXdpTx {
    fn drop(&mut self) {
        self.reclaim();
        let empty = Outstanding::new(&UmemLayout { len: 0, ..self.layout });
        self.session.park(std::mem::replace(&mut self.given, empty));
    }
}
