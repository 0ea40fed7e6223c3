//! A burst of mbufs: the unit every rx/tx call works on.
//!
//! A fixed-capacity array on the stack (or inside a queue), so receiving and
//! sending never allocate. `rx_burst` appends to a batch; `tx_burst` takes
//! from its front. Dropping or clearing a batch frees what is left, one bulk
//! put per pool.

use std::mem::MaybeUninit;

use super::mbuf::Mbuf;
use super::mempool::free_bulk;

/// Largest burst (DPDK's testpmd allows 512 too).
pub const MAX_BURST: usize = 512;

/// Up to [`MAX_BURST`] owned mbufs.
pub struct MbufBatch {
    len: usize,
    bufs: [MaybeUninit<Mbuf>; MAX_BURST],
}

impl Default for MbufBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl MbufBatch {
    /// An empty batch.
    pub const fn new() -> MbufBatch {
        MbufBatch { len: 0, bufs: [const { MaybeUninit::uninit() }; MAX_BURST] }
    }

    /// Mbufs held.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds none.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Free places left.
    #[inline(always)]
    pub fn room(&self) -> usize {
        MAX_BURST - self.len
    }

    /// Adds an mbuf at the end; gives it back if the batch is full.
    #[inline(always)]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len == MAX_BURST {
            return Err(m);
        }
        self.bufs[self.len].write(m);
        self.len += 1;
        Ok(())
    }

    /// Removes the last mbuf.
    #[inline(always)]
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: slot `len` was initialised and is now outside the live range.
        Some(unsafe { self.bufs[self.len].assume_init_read() })
    }

    /// The mbufs, in order.
    #[inline(always)]
    pub fn as_slice(&self) -> &[Mbuf] {
        // SAFETY: the first `len` slots are initialised; MaybeUninit<Mbuf>
        // has Mbuf's layout.
        unsafe { std::slice::from_raw_parts(self.bufs.as_ptr().cast::<Mbuf>(), self.len) }
    }

    /// The mbufs, writable.
    #[inline(always)]
    pub fn as_mut_slice(&mut self) -> &mut [Mbuf] {
        // SAFETY: as in `as_slice`, and `&mut self` makes it unique.
        unsafe { std::slice::from_raw_parts_mut(self.bufs.as_mut_ptr().cast::<Mbuf>(), self.len) }
    }

    /// Iterates over the mbufs.
    pub fn iter(&self) -> std::slice::Iter<'_, Mbuf> {
        self.as_slice().iter()
    }

    /// Iterates over the mbufs, writable.
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Mbuf> {
        self.as_mut_slice().iter_mut()
    }

    /// Frees every mbuf (bulk returns to their pools).
    #[inline]
    pub fn clear(&mut self) {
        let n = self.len;
        // Forget first: if a put panicked, nothing would be freed twice.
        self.len = 0;
        free_bulk(&mut self.bufs[..n]);
    }

    /// Removes the first `n` mbufs (fewer if the batch is shorter) and
    /// yields them in order; the rest move to the front when the iterator
    /// is dropped. Mbufs not consumed from the iterator are freed.
    #[inline]
    pub fn drain_front(&mut self, n: usize) -> DrainFront<'_> {
        let n = n.min(self.len);
        DrainFront { batch: self, next: 0, end: n }
    }

    /// Keeps only the mbufs for which `keep` returns true; frees the others.
    /// Returns how many were freed.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut Mbuf) -> bool) -> usize {
        let mut kept = 0;
        let len = self.len;
        self.len = 0;
        for i in 0..len {
            // SAFETY: slots below the old len are initialised; each is read
            // exactly once and either moved to `kept` or dropped.
            let mut m = unsafe { self.bufs[i].assume_init_read() };
            if keep(&mut m) {
                self.bufs[kept].write(m);
                kept += 1;
            }
        }
        self.len = kept;
        len - kept
    }

    /// Spare slots for a bulk fill, viewed as raw addresses.
    ///
    /// # Safety
    /// `n <= self.room()`. The caller must either write `n` owned mbuf
    /// addresses and call [`MbufBatch::commit_raw`], or write nothing it
    /// expects to keep.
    #[inline(always)]
    pub unsafe fn spare_raw(&mut self, n: usize) -> &mut [usize] {
        debug_assert!(n <= self.room());
        // SAFETY: Mbuf is a transparent non-null pointer, so a spare
        // MaybeUninit<Mbuf> slot can hold a usize address.
        unsafe { std::slice::from_raw_parts_mut(self.bufs.as_mut_ptr().add(self.len).cast::<usize>(), n) }
    }

    /// Marks `n` spare slots, filled through [`MbufBatch::spare_raw`], live.
    ///
    /// # Safety
    /// Those slots hold addresses of mbufs the caller owned and now gives up.
    #[inline(always)]
    pub unsafe fn commit_raw(&mut self, n: usize) {
        debug_assert!(n <= self.room());
        self.len += n;
    }
}

impl Drop for MbufBatch {
    fn drop(&mut self) {
        self.clear();
    }
}

impl std::fmt::Debug for MbufBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator from [`MbufBatch::drain_front`].
pub struct DrainFront<'a> {
    batch: &'a mut MbufBatch,
    next: usize,
    end: usize,
}

impl Iterator for DrainFront<'_> {
    type Item = Mbuf;

    #[inline(always)]
    fn next(&mut self) -> Option<Mbuf> {
        if self.next == self.end {
            return None;
        }
        // SAFETY: slots next..end are initialised and each is read once.
        let m = unsafe { self.batch.bufs[self.next].assume_init_read() };
        self.next += 1;
        Some(m)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.next;
        (n, Some(n))
    }
}

impl ExactSizeIterator for DrainFront<'_> {}

impl Drop for DrainFront<'_> {
    fn drop(&mut self) {
        // Free what the caller did not take.
        if self.next < self.end {
            free_bulk(&mut self.batch.bufs[self.next..self.end]);
        }
        let rest = self.batch.len - self.end;
        if rest > 0 && self.end > 0 {
            // SAFETY: moving `rest` initialised slots down to the front;
            // `copy` handles the overlap.
            unsafe {
                let base = self.batch.bufs.as_mut_ptr();
                std::ptr::copy(base.add(self.end), base, rest);
            }
        }
        self.batch.len = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::mempool::{Mempool, MempoolConfig};
    use ferrite_hugepages::Fallback;

    fn pool(n: usize) -> Mempool {
        let mut cfg = MempoolConfig::new("batch-test", n);
        cfg.dma.fallback = Fallback::SmallPages;
        Mempool::new(&cfg).unwrap()
    }

    fn tagged(p: &Mempool, n: usize) -> MbufBatch {
        let mut b = MbufBatch::new();
        for i in 0..n {
            let mut m = p.alloc().unwrap();
            m.set_user(i as u64);
            b.push(m).unwrap();
        }
        b
    }

    #[test]
    fn drain_front_keeps_order_and_moves_the_rest() {
        let p = pool(64);
        let mut b = tagged(&p, 10);
        let first: Vec<u64> = b.drain_front(4).map(|m| m.user()).collect();
        assert_eq!(first, vec![0, 1, 2, 3]);
        let rest: Vec<u64> = b.iter().map(|m| m.user()).collect();
        assert_eq!(rest, vec![4, 5, 6, 7, 8, 9]);
        drop(b);
        assert_eq!(p.available(), 64);
    }

    #[test]
    fn unconsumed_drain_items_are_freed() {
        let p = pool(64);
        let mut b = tagged(&p, 10);
        let mut d = b.drain_front(5);
        let one = d.next().unwrap();
        drop(d);
        assert_eq!(b.len(), 5);
        assert_eq!(b.as_slice()[0].user(), 5);
        assert_eq!(p.in_use(), 6);
        drop(one);
        b.clear();
        assert_eq!(p.available(), 64);
    }

    #[test]
    fn retain_frees_the_rejected() {
        let p = pool(16);
        let mut b = tagged(&p, 8);
        assert_eq!(b.retain(|m| m.user() % 2 == 0), 4);
        assert_eq!(b.iter().map(|m| m.user()).collect::<Vec<_>>(), vec![0, 2, 4, 6]);
        assert_eq!(p.in_use(), 4);
    }

    #[test]
    fn full_batch_refuses_more() {
        let p = pool(MAX_BURST + 1);
        let mut b = MbufBatch::new();
        assert!(p.alloc_bulk(&mut b, MAX_BURST));
        let extra = p.alloc().unwrap();
        assert!(b.push(extra).is_err());
        assert!(!p.alloc_bulk(&mut b, 1));
    }

    #[test]
    fn mixed_pools_free_to_their_own() {
        let (a, c) = (pool(8), pool(8));
        let mut b = MbufBatch::new();
        for i in 0..8 {
            let m = if i % 3 == 0 { a.alloc() } else { c.alloc() };
            b.push(m.unwrap()).unwrap();
        }
        b.clear();
        assert_eq!((a.available(), c.available()), (8, 8));
    }
}
