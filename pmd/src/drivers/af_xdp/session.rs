//! What one queue's socket shares between its receive half, its transmit
//! half and the port, and the reclaim of every mbuf the kernel still held
//! when the socket closes.
//!
//! An mbuf given to the kernel (on the fill ring, or the TX ring) leaves
//! ferrite's hands until the kernel hands it back (on the RX ring, or the
//! completion ring). At stop some never come back: they sit in the fill
//! ring, in a zero-copy driver's receive ring, in the TX ring unsent. So
//! each half keeps an [`Outstanding`] bitmap of the mbufs it gave and got
//! nothing back for yet (one bit per 64-byte line of the pool's region,
//! where every mbuf header starts; set and cleared with a shift, no
//! allocation). When a half is dropped it parks its bitmap here, and when
//! the last holder of the socket goes, the socket is closed first (the
//! kernel then touches none of them: the socket's release unbinds it from
//! the queue) and every parked bit goes back to the pool.
//!
//! One case this cannot see: a process that forks while a port is open
//! and whose child lives on without exec holds a copy of the socket (and
//! of the program's link; both are close-on-exec), so the kernel keeps
//! them after ferrite closes its own. The pool's memory itself is never
//! shared with such a child (the region is `MADV_DONTFORK`), but the
//! socket stays bound until the child's copy closes. Fork-and-exec, the
//! usual case, is fine.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::Mutex;

use super::umem::UmemLayout;
use crate::mem::Mempool;

/// Mbufs of one pool region given to the kernel and not yet returned.
pub struct Outstanding {
    words: Vec<u64>,
    base: usize,
    count: usize,
}

/// Every mbuf header is 64-byte aligned.
const LINE_SHIFT: u32 = 6;

impl Outstanding {
    /// An empty bitmap for the region of `layout`.
    pub fn new(layout: &UmemLayout) -> Outstanding {
        let lines = layout.len >> LINE_SHIFT;
        Outstanding { words: vec![0; lines.div_ceil(64) + 1], base: layout.base, count: 0 }
    }

    #[inline(always)]
    fn bit(&self, hdr: usize) -> (usize, u64) {
        let line = (hdr - self.base) >> LINE_SHIFT;
        (line / 64, 1 << (line % 64))
    }

    /// Marks the mbuf whose header is at `hdr` as held by the kernel.
    #[inline(always)]
    pub fn give(&mut self, hdr: usize) {
        let (w, b) = self.bit(hdr);
        debug_assert!(self.words[w] & b == 0, "mbuf given twice");
        self.words[w] |= b;
        self.count += 1;
    }

    /// Marks it as back.
    #[inline(always)]
    pub fn got_back(&mut self, hdr: usize) {
        let (w, b) = self.bit(hdr);
        debug_assert!(self.words[w] & b != 0, "mbuf returned that was not given");
        self.words[w] &= !b;
        self.count -= 1;
    }

    /// How many are out.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The header addresses still out.
    fn headers(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(move |(w, &bits)| {
            (0..64).filter(move |b| bits & (1 << b) != 0).map(move |b| self.base + ((w * 64 + b) << LINE_SHIFT))
        })
    }
}

/// One queue's socket as its halves and the port share it.
pub struct Session {
    /// Set by the port's stop: the halves do nothing more.
    pub stopped: AtomicBool,
    /// Zero-copy binds may leave the driver's DMA running until the
    /// kernel's deferred release; see the reclaim.
    pub zero_copy: bool,
    /// The pool the socket's UMEM is.
    pub pool: Mempool,
    parked: Mutex<Vec<Outstanding>>,
    fd: Option<Arc<OwnedFd>>,
}

impl Session {
    /// Shares `fd` (the socket) over `pool`.
    pub fn new(fd: Arc<OwnedFd>, pool: Mempool, zero_copy: bool) -> Session {
        Session { stopped: AtomicBool::new(false), zero_copy, pool, parked: Mutex::new(Vec::new()), fd: Some(fd) }
    }

    /// Whether the port was stopped.
    #[inline(always)]
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Keeps a dropped half's outstanding mbufs until the socket closes.
    pub fn park(&self, out: Outstanding) {
        self.parked.lock().unwrap_or_else(|e| e.into_inner()).push(out);
    }

    /// The socket.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_ref().expect("the socket lives until drop").as_fd()
    }
}

/// How long a zero-copy socket's driver may go on writing after close:
/// the kernel disables zero-copy on the queue in deferred work.
const ZERO_COPY_QUIESCE: std::time::Duration = std::time::Duration::from_millis(100);

impl Drop for Session {
    fn drop(&mut self) {
        drop(self.fd.take());
        if self.zero_copy {
            std::thread::sleep(ZERO_COPY_QUIESCE);
        }
        let parked = std::mem::take(&mut *self.parked.lock().unwrap_or_else(|e| e.into_inner()));
        let mut batch = [0usize; 64];
        for out in &parked {
            let mut n = 0;
            for hdr in out.headers() {
                batch[n] = hdr;
                n += 1;
                if n == batch.len() {
                    // SAFETY: each address is an mbuf header of this pool
                    // that a half gave to the kernel and never got back;
                    // the socket is closed, so the kernel holds it no more
                    // and nothing else owns it.
                    unsafe { self.pool.put_bulk_raw(&batch[..n]) };
                    n = 0;
                }
            }
            // SAFETY: as above.
            unsafe { self.pool.put_bulk_raw(&batch[..n]) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outstanding_tracks_each_header_by_its_line() {
        let layout = UmemLayout { base: 0x10000, len: 64 * 1000, chunk: 2176, hugepage: true };
        let mut o = Outstanding::new(&layout);
        for hdr in [0x10000, 0x10040, 0x10000 + 64 * 999, 0x10000 + 64 * 130] {
            o.give(hdr);
        }
        assert_eq!(o.count(), 4);
        o.got_back(0x10040);
        let left: Vec<usize> = o.headers().collect();
        assert_eq!(left, vec![0x10000, 0x10000 + 64 * 130, 0x10000 + 64 * 999]);
        assert_eq!(o.count(), 3);
    }
}
