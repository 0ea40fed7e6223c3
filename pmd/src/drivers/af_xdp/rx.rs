//! A receive queue: the RX ring's frames become mbufs where they lie, and
//! the fill ring is topped up with fresh mbufs of the same pool.
//!
//! Per burst: one cached look at the RX ring's producer index, the
//! descriptors read, the consumer index stored once; then, when the
//! kernel holds a burst fewer buffers than the fill ring has room for,
//! one bulk take from the pool and one publish. Nothing is allocated and
//! nothing locked. The socket's descriptor is the queue's interrupt: it
//! polls readable while the RX ring has frames, so an adaptive core
//! sleeps in `epoll_wait` on it.

use std::os::fd::{AsRawFd, RawFd};
use std::ptr::NonNull;
use std::sync::Arc;

use super::ring::{ConsumerRing, ProducerRing};
use super::session::{Outstanding, Session};
use super::socket::kick_fill;
use super::sys::{XSK_UNALIGNED_BUF_ADDR_MASK, XSK_UNALIGNED_BUF_OFFSET_SHIFT};
use super::umem::UmemLayout;
use super::PortShared;
use crate::mem::{Mbuf, MbufBatch, MbufHeader, MAX_BURST};
use crate::port::{PortError, RxQueue};

/// Refill only when at least this many buffers are missing: one bulk take
/// and one index store serve a whole burst.
const REFILL_BATCH: u32 = 32;

/// One queue's receive half.
pub struct AfXdpRx {
    rx: ConsumerRing<libc::xdp_desc>,
    fill: ProducerRing<u64>,
    layout: UmemLayout,
    given: Outstanding,
    /// Buffers the fill ring should hold.
    fill_target: u32,
    scratch: [usize; MAX_BURST],
    port: Arc<PortShared>,
    queue: u16,
    session: Arc<Session>,
}

impl AfXdpRx {
    /// The receive half over `rx` and `fill`, its fill ring filled.
    pub fn new(
        rx: ConsumerRing<libc::xdp_desc>,
        fill: ProducerRing<u64>,
        fill_size: u32,
        layout: UmemLayout,
        port: Arc<PortShared>,
        queue: u16,
        session: Arc<Session>,
    ) -> AfXdpRx {
        let given = Outstanding::new(&layout);
        let mut q =
            AfXdpRx { rx, fill, layout, given, fill_target: fill_size, scratch: [0; MAX_BURST], port, queue, session };
        while q.refill() > 0 {}
        q
    }

    /// Tops the fill ring up by one bulk take (at most a burst); returns
    /// how many buffers it gave.
    #[inline]
    fn refill(&mut self) -> u32 {
        let missing = self.fill_target - self.given.count() as u32;
        if missing < REFILL_BATCH {
            return 0;
        }
        let mut n = self.fill.free(missing.min(MAX_BURST as u32));
        let pool = &self.session.pool;
        while n > 0 && !pool.get_bulk_raw(&mut self.scratch[..n as usize]) {
            // Under pool pressure take what a smaller burst can.
            n = if n > REFILL_BATCH { REFILL_BATCH } else { 0 };
        }
        for i in 0..n {
            let hdr = self.scratch[i as usize];
            self.given.give(hdr);
            self.fill.put(i, self.layout.chunk_of_header(hdr));
        }
        if n > 0 {
            self.fill.submit(n);
            if self.fill.needs_wakeup() {
                kick_fill(self.session.fd());
            }
        }
        n
    }
}

impl RxQueue for AfXdpRx {
    #[inline]
    fn rx_burst(&mut self, batch: &mut MbufBatch, budget: usize) -> usize {
        if self.session.is_stopped() {
            return 0;
        }
        let want = budget.min(batch.room()).min(MAX_BURST) as u32;
        let n = self.rx.ready(want);
        let (mut bytes, mut bad) = (0u64, 0u64);
        for i in 0..n {
            let d = self.rx.get(i);
            let chunk = d.addr & XSK_UNALIGNED_BUF_ADDR_MASK;
            let offset = (d.addr >> XSK_UNALIGNED_BUF_OFFSET_SHIFT) as usize;
            let hdr = self.layout.header_of_chunk(chunk);
            self.given.got_back(hdr);
            // SAFETY: `hdr` is the header of an mbuf this queue put on the
            // fill ring (the kernel hands back the chunk address it was
            // given) and the kernel has now given up; nothing else owns it.
            let mut m = unsafe { Mbuf::from_raw(NonNull::new_unchecked(hdr as *mut MbufHeader)) };
            m.reset();
            if !m.set_data_window(offset, d.len as usize) {
                bad += 1;
                continue;
            }
            m.set_port(self.port.port_id);
            m.set_queue(self.queue);
            bytes += u64::from(d.len);
            // Room was checked: n <= batch.room().
            let _ = batch.push(m);
        }
        if n > 0 {
            self.rx.release(n);
            let c = &self.port.rx[self.queue as usize];
            c.add(u64::from(n) - bad, bytes);
            if bad > 0 {
                c.add_errors(bad);
            }
        }
        self.refill();
        (u64::from(n) - bad) as usize
    }

    fn queue_id(&self) -> u16 {
        self.queue
    }

    /// Nothing to arm: the socket polls readable whenever its RX ring has
    /// frames (and `poll` itself wakes a zero-copy driver that asked for
    /// a fill-ring wake-up).
    fn enable_interrupt(&mut self) -> Result<(), PortError> {
        Ok(())
    }

    fn interrupt_fd(&self) -> Option<RawFd> {
        Some(self.session.fd().as_raw_fd())
    }
}

impl Drop for AfXdpRx {
    fn drop(&mut self) {
        let empty = Outstanding::new(&UmemLayout { len: 0, ..self.layout });
        self.session.park(std::mem::replace(&mut self.given, empty));
    }
}
