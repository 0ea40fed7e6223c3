//! A burst of mbufs: the unit every rx/tx call works on.
//!
//! A fixed-capacity array on the stack (or inside a queue), so receiving and
//! sending never allocate. `rx_burst` appends to a batch; `tx_burst` takes
//! from its front. Dropping or clearing a batch frees what is left, one bulk
//! put per pool.

use std::mem::MaybeUninit;

use super::mbuf::{Mbuf, MbufHeader};
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
    ///
    /// If the iterator is leaked (`mem::forget`) instead of dropped, the
    /// batch is left empty and every mbuf it held that was not taken is
    /// leaked, never freed: as with `Vec::drain`.
    #[inline]
    pub fn drain_front(&mut self, n: usize) -> DrainFront<'_> {
        let len = self.len;
        // While the iterator lives, the batch owns nothing: the iterator
        // owns the slots. Then a forgotten iterator can only leak them; the
        // batch cannot free again the mbufs the iterator already gave out.
        self.len = 0;
        DrainFront { batch: self, next: 0, end: n.min(len), len }
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
        // An address stored as an integer and read back as a pointer has no
        // provenance: dereferencing it is undefined (Miri stops there). So
        // rewrite each slot as a pointer carrying the provenance the pool
        // exposed when it carved the slot; the bits stay the same.
        for slot in &mut self.bufs[self.len..self.len + n] {
            let raw = slot.as_mut_ptr().cast::<usize>();
            // SAFETY: the caller wrote an address into this spare slot
            // through `spare_raw`; usize and a pointer have the same size.
            unsafe { raw.cast::<*mut MbufHeader>().write(std::ptr::with_exposed_provenance_mut(raw.read())) };
        }
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
///
/// It owns the batch's slots `next..len` (the batch's own length is 0 until
/// the iterator is dropped): `next..end` are yet to be yielded, `end..len`
/// stay in the batch.
pub struct DrainFront<'a> {
    batch: &'a mut MbufBatch,
    next: usize,
    end: usize,
    len: usize,
}

impl Iterator for DrainFront<'_> {
    type Item = Mbuf;

    #[inline(always)]
    fn next(&mut self) -> Option<Mbuf> {
        if self.next == self.end {
            return None;
        }
        // SAFETY: slots next..end are initialised and owned by the iterator;
        // `next` moves past this one, so each is read once.
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
        let rest = self.len - self.end;
        if rest > 0 && self.end > 0 {
            // SAFETY: slots end..len are initialised and nobody else reads
            // them; moving them down to the front (`copy` handles the
            // overlap) leaves slots rest..len stale, outside the batch.
            unsafe {
                let base = self.batch.bufs.as_mut_ptr();
                std::ptr::copy(base.add(self.end), base, rest);
            }
        }
        // Only now does the batch own mbufs again.
        self.batch.len = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::mempool::{Mempool, MempoolConfig};
    use ferrite_hugepages::Fallback;
    use proptest::prelude::*;
    use std::ptr::NonNull;

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

    /// Every buffer `p` will hand out now, checked to be distinct; at most
    /// `p.capacity()` plus one, so that a pool holding a buffer twice shows.
    fn take_all(p: &Mempool) -> Vec<Mbuf> {
        let mut all: Vec<Mbuf> = Vec::new();
        while let Some(m) = p.alloc() {
            assert!(
                all.iter().all(|o| o.addr() != m.addr()),
                "the pool handed out buffer {:#x} twice: it was freed twice",
                m.addr()
            );
            all.push(m);
            if all.len() > p.capacity() {
                break;
            }
        }
        all
    }

    #[test]
    fn a_forgotten_drain_never_frees_a_buffer_twice() {
        let p = pool(20);
        let mut b = tagged(&p, 10);
        let addrs: Vec<usize> = b.iter().map(Mbuf::addr).collect();
        let mut d = b.drain_front(4);
        let first = d.next().unwrap();
        // Safe code may skip the iterator's drop.
        std::mem::forget(d);
        drop(first);
        drop(b);
        let all = take_all(&p);
        assert!(all.len() <= p.capacity(), "{} buffers out of a pool of {}", all.len(), p.capacity());
        // The nine the batch still held when the drain was forgotten are
        // leaked (as `Vec::drain` leaks), never freed: the pool gave out the
        // other eleven.
        assert_eq!(all.len(), 11);
        drop(all);
        // Nobody owns the leaked nine any more; take them back so the pool
        // is whole again and can be freed at the end of the test.
        for &a in &addrs[1..] {
            // SAFETY: the batch forgot these slots (it is empty) and no other
            // mbuf refers to them, so this is their only owner.
            drop(unsafe { Mbuf::from_raw(std::ptr::NonNull::new(a as *mut _).unwrap()) });
        }
        assert_eq!(p.available(), p.capacity());
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

    /// Room for a full batch and then some, so that both the batch and the
    /// pool can run out.
    const POOL: usize = MAX_BURST + 88;

    #[derive(Clone, Debug)]
    enum Op {
        Push,
        AllocBulk(usize),
        Pop,
        /// `drain_front(n)`, take `take` of them, then drop or forget it.
        Drain {
            n: usize,
            take: usize,
            forget: bool,
        },
        /// Keep the mbufs whose tag is not `rest` modulo `modulus`.
        Retain {
            modulus: u64,
            rest: u64,
        },
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        let small_or_full = || prop_oneof![3 => 0..=40usize, 1 => MAX_BURST - 40..=MAX_BURST + 8];
        prop_oneof![
            4 => Just(Op::Push),
            3 => small_or_full().prop_map(Op::AllocBulk),
            2 => Just(Op::Pop),
            4 => (small_or_full(), 0..=MAX_BURST, prop::bool::weighted(0.25))
                .prop_map(|(n, take, forget)| Op::Drain { n, take, forget }),
            2 => (1..=4u64, 0..4u64).prop_map(|(modulus, rest)| Op::Retain { modulus, rest }),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

        /// A batch holds what a Vec of the same tags would, and every mbuf
        /// that leaves it goes back to the pool exactly once; forgetting a
        /// drain leaks the batch's mbufs and never frees one twice.
        #[test]
        #[cfg_attr(miri, ignore = "too slow under Miri")]
        fn batch_matches_a_vec_and_the_pool_balances(ops in prop::collection::vec(op(), 1..40)) {
            let p = pool(POOL);
            let mut b = MbufBatch::new();
            let mut model: Vec<u64> = Vec::new();
            let mut tag = 0u64;
            for op in ops {
                match op {
                    Op::Push => {
                        let mut m = p.alloc().expect("the pool holds more than a full batch");
                        tag += 1;
                        m.set_user(tag);
                        match b.push(m) {
                            Ok(()) => model.push(tag),
                            Err(back) => {
                                prop_assert_eq!(model.len(), MAX_BURST, "push refused below the limit");
                                prop_assert_eq!(back.user(), tag, "a refused push gives back that mbuf");
                            }
                        }
                    }
                    Op::AllocBulk(n) => {
                        let fits = n <= MAX_BURST - model.len() && n <= POOL - model.len();
                        prop_assert_eq!(p.alloc_bulk(&mut b, n), fits, "alloc_bulk({}) with {} in the batch", n, model.len());
                        if fits {
                            let old = model.len();
                            for m in &mut b.as_mut_slice()[old..] {
                                prop_assert_eq!((m.len(), m.headroom()), (0, crate::mem::HEADROOM), "allocated mbufs are reset");
                                tag += 1;
                                m.set_user(tag);
                                model.push(tag);
                            }
                        }
                    }
                    Op::Pop => prop_assert_eq!(b.pop().map(|m| m.user()), model.pop()),
                    Op::Drain { n, take, forget } => {
                        let addrs: Vec<usize> = b.iter().map(Mbuf::addr).collect();
                        let drained = n.min(model.len());
                        let take = take.min(drained);
                        let mut d = b.drain_front(n);
                        prop_assert_eq!(d.len(), drained);
                        let got: Vec<u64> = d.by_ref().take(take).map(|m| m.user()).collect();
                        prop_assert_eq!(&got[..], &model[..take], "drained in order from the front");
                        if forget {
                            std::mem::forget(d);
                            prop_assert!(b.is_empty(), "a forgotten drain leaves the batch owning nothing");
                            for &a in &addrs[take..] {
                                // SAFETY: the batch gave these slots up and no
                                // mbuf refers to them: this is their only owner.
                                drop(unsafe { Mbuf::from_raw(NonNull::new(a as *mut MbufHeader).unwrap()) });
                            }
                            model.clear();
                        } else {
                            drop(d);
                            model.drain(..drained);
                        }
                    }
                    Op::Retain { modulus, rest } => {
                        let before = model.len();
                        let freed = b.retain(|m| m.user() % modulus != rest);
                        model.retain(|&t| t % modulus != rest);
                        prop_assert_eq!(freed, before - model.len());
                    }
                    Op::Clear => {
                        b.clear();
                        model.clear();
                    }
                }
                let tags: Vec<u64> = b.iter().map(|m| m.user()).collect();
                prop_assert_eq!(&tags, &model);
                prop_assert_eq!((b.len(), b.room()), (model.len(), MAX_BURST - model.len()));
                prop_assert_eq!(p.in_use(), model.len(), "mbufs out of the pool besides the batch's");
            }
            drop(b);
            let all = take_all(&p);
            prop_assert_eq!(all.len(), POOL, "the pool is whole, without duplicates");
        }
    }
}
