//! The buffer pool: a shared bulk ring plus one lock-free cache per lcore,
//! like DPDK's `rte_mempool` with its per-lcore cache.
//!
//! On a registered polling core ([`crate::lcore::register`]) allocation and
//! free are copies of pointers to and from that core's private cache; the
//! shared [`BulkRing`] is touched once per `cache_size` objects, in bulk.
//! Buffers may be freed on any core: they land in that core's cache and
//! flow back to the ring when it overflows.

use std::cell::UnsafeCell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Arc;

use crossbeam_utils::CachePadded;
use ferrite_hugepages::{DmaOptions, DmaRegion, IovaMode};

use super::batch::{MbufBatch, MAX_BURST};
use super::lcore::{self, MAX_LCORES};
use super::mbuf::{Mbuf, MbufHeader, HEADER_SIZE, HEADROOM};
use super::ring::BulkRing;
use crate::port::PortError;

/// Default bytes of packet data per buffer (a 1518 B frame fits).
pub const DEFAULT_DATA_ROOM: usize = 2048;
/// Largest per-lcore cache.
pub const MAX_CACHE_SIZE: usize = 512;
/// Default per-lcore cache: room for several bursts of 32 per stream
/// (DPDK's measured lesson: a cache smaller than the bursts in flight
/// thrashes the shared ring).
pub const DEFAULT_CACHE_SIZE: usize = 512;
const CACHE_SLOTS: usize = MAX_CACHE_SIZE * 3 / 2 + MAX_BURST;

/// How to build a pool.
#[derive(Clone, Debug)]
pub struct MempoolConfig {
    /// Name, for messages.
    pub name: String,
    /// Number of buffers.
    pub capacity: usize,
    /// Data bytes per buffer (after the 128 B headroom).
    pub data_room: usize,
    /// Objects each lcore may keep privately (0 disables caching).
    pub cache_size: usize,
    /// Where the memory comes from.
    pub dma: DmaOptions,
}

impl MempoolConfig {
    /// A pool of `capacity` default-sized buffers on 2 MiB pages.
    pub fn new(name: &str, capacity: usize) -> MempoolConfig {
        MempoolConfig {
            name: name.to_string(),
            capacity,
            data_room: DEFAULT_DATA_ROOM,
            cache_size: DEFAULT_CACHE_SIZE,
            dma: DmaOptions::default(),
        }
    }
}

struct LocalCache {
    /// Written only by the owning lcore; read by anyone for accounting.
    len: AtomicU32,
    objs: UnsafeCell<[usize; CACHE_SLOTS]>,
}

pub(crate) struct PoolShared {
    name: String,
    ring: BulkRing,
    caches: Box<[CachePadded<LocalCache>]>,
    cache_size: usize,
    flush_threshold: usize,
    capacity: usize,
    data_room: usize,
    region: DmaRegion,
}

// SAFETY: the ring is thread-safe; each LocalCache's `objs` is touched only
// by the thread holding that lcore id (enforced by `lcore::register`).
unsafe impl Sync for PoolShared {}
// SAFETY: as above; nothing in the pool is tied to the creating thread.
unsafe impl Send for PoolShared {}

/// A handle to a buffer pool. Cheap to clone; all clones share the pool.
#[derive(Clone)]
pub struct Mempool {
    shared: Arc<PoolShared>,
}

impl std::fmt::Debug for Mempool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mempool")
            .field("name", &self.shared.name)
            .field("capacity", &self.shared.capacity)
            .field("available", &self.available())
            .finish()
    }
}

impl Mempool {
    /// Allocates the DMA region and carves it into buffers.
    pub fn new(cfg: &MempoolConfig) -> Result<Mempool, PortError> {
        check_config(cfg)?;
        let elt_size = (HEADER_SIZE + HEADROOM + cfg.data_room).next_multiple_of(64);
        // Lay buffers out so none crosses a 2 MiB boundary: in PA mode the
        // pages are not physically contiguous. Costs < 0.1% of memory.
        let page = cfg.dma.page_size.bytes();
        let per_page = page / elt_size;
        let pages = cfg.capacity.div_ceil(per_page);
        let region = DmaRegion::allocate(pages * page, &cfg.dma)?;
        let cache_size = cfg.cache_size;
        let shared = Arc::new(PoolShared {
            name: cfg.name.clone(),
            ring: BulkRing::with_capacity(cfg.capacity),
            caches: (0..MAX_LCORES)
                .map(|_| {
                    CachePadded::new(LocalCache { len: AtomicU32::new(0), objs: UnsafeCell::new([0; CACHE_SLOTS]) })
                })
                .collect(),
            cache_size,
            flush_threshold: cache_size * 3 / 2,
            capacity: cfg.capacity,
            data_room: cfg.data_room,
            region,
        });
        shared.carve(elt_size, per_page, page);
        Ok(Mempool { shared })
    }

    /// Takes one buffer, reset and empty.
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        let mut one = [0usize; 1];
        if !self.shared.get(&mut one) {
            return None;
        }
        // SAFETY: the object came out of our free store, so we own it.
        let mut m = unsafe { Mbuf::from_raw(NonNull::new_unchecked(one[0] as *mut MbufHeader)) };
        m.reset();
        Some(m)
    }

    /// Appends `n` reset buffers to `batch`, all or none. Returns whether it
    /// did (false also when the batch lacks room).
    #[inline]
    pub fn alloc_bulk(&self, batch: &mut MbufBatch, n: usize) -> bool {
        if n > batch.room() {
            return false;
        }
        // SAFETY: we write at most `room()` objects into the spare slots and
        // commit exactly those we wrote.
        let spare = unsafe { batch.spare_raw(n) };
        if !self.shared.get(spare) {
            return false;
        }
        for &p in spare.iter() {
            // SAFETY: each object came out of our free store.
            unsafe { (*(p as *mut MbufHeader)).reset() };
        }
        // SAFETY: the `n` spare slots now hold owned mbufs.
        unsafe { batch.commit_raw(n) };
        true
    }

    /// Takes `out.len()` raw objects (mbuf header addresses), all or none,
    /// like `rte_mempool_get_bulk`: no metadata is touched. Wrap each in
    /// [`Mbuf::from_raw`] to own it as a packet.
    #[inline]
    pub fn get_bulk_raw(&self, out: &mut [usize]) -> bool {
        self.shared.get(out)
    }

    /// Returns raw objects taken with [`Mempool::get_bulk_raw`].
    ///
    /// # Safety
    /// Each address must be an object of this pool that the caller owns and
    /// will not use again (no `Mbuf` may still refer to it).
    #[inline]
    pub unsafe fn put_bulk_raw(&self, objs: &[usize]) {
        self.shared.put(objs)
    }

    /// Buffers in the pool.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Buffers free right now (shared ring plus every lcore cache). Exact
    /// when no other thread is allocating or freeing.
    pub fn available(&self) -> usize {
        self.shared.available()
    }

    /// Buffers handed out and not yet returned.
    pub fn in_use(&self) -> usize {
        self.capacity() - self.available()
    }

    /// Data bytes per buffer after the headroom.
    pub fn data_room(&self) -> usize {
        self.shared.data_room
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The DMA region behind the buffers (to map it for a device).
    pub fn region(&self) -> &DmaRegion {
        &self.shared.region
    }

    /// Whether two handles refer to the same pool.
    pub fn same_pool(&self, other: &Mempool) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Moves the calling lcore's cached buffers back to the shared ring.
    pub fn flush_local_cache(&self) {
        if let Some(id) = lcore::current() {
            self.shared.flush_cache(id);
        }
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // Mbufs point at the pool without owning it (an atomic refcount per
        // packet would cost more than the rest of the datapath). If the last
        // handle goes while buffers are still out, keep the pool alive
        // forever rather than let them dangle: a leak, never a
        // use-after-free. Buffers in flight on other threads at this very
        // moment are the caller's bug; we detect what we can.
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            let out = shared.capacity - shared.available();
            if out > 0 {
                eprintln!("ferrite: mempool '{}' dropped with {out} buffers still in use; leaking it", shared.name);
                std::mem::forget(Arc::clone(&self.shared));
            }
        }
    }
}

fn check_config(cfg: &MempoolConfig) -> Result<(), PortError> {
    let bad = |s: String| Err(PortError::InvalidConfig(format!("mempool '{}': {s}", cfg.name)));
    if cfg.capacity == 0 || cfg.capacity > 1 << 24 {
        return bad(format!("capacity {} out of range 1..={}", cfg.capacity, 1 << 24));
    }
    if cfg.data_room < 64 || HEADROOM + cfg.data_room > u16::MAX as usize {
        return bad(format!("data room {} out of range 64..={}", cfg.data_room, u16::MAX as usize - HEADROOM));
    }
    if cfg.cache_size > MAX_CACHE_SIZE {
        return bad(format!("cache size {} above the maximum {MAX_CACHE_SIZE}", cfg.cache_size));
    }
    if cfg.dma.iova_mode == IovaMode::Pa && HEADER_SIZE + HEADROOM + cfg.data_room > cfg.dma.page_size.bytes() {
        return bad("buffers larger than a page cannot be used in PA mode".into());
    }
    Ok(())
}

impl PoolShared {
    /// Initialises every slot and fills the ring.
    /// `page` and `per_page` are the layout the region was sized for.
    fn carve(&self, elt_size: usize, per_page: usize, page: usize) {
        let buf_len = (HEADROOM + self.data_room) as u16;
        let mut objs = Vec::with_capacity(self.capacity);
        for i in 0..self.capacity {
            // On a small-page fallback the configured page layout is kept:
            // the region was sized for it.
            let offset = (i / per_page) * page + (i % per_page) * elt_size;
            // SAFETY: offset + elt_size lies inside the region (sized for
            // `pages * page` bytes above); the slot is 64-byte aligned.
            let hdr = unsafe { self.region.as_ptr().add(offset).cast::<MbufHeader>() };
            let buf_iova = self.region.iova(offset + HEADER_SIZE);
            // SAFETY: the slot is ours, unaliased, and sized for a header.
            unsafe { (*hdr).init(self as *const PoolShared, buf_iova, buf_len) };
            objs.push(hdr as usize);
        }
        let ok = self.ring.enqueue_bulk(&objs);
        debug_assert!(ok, "ring sized for capacity");
    }

    fn available(&self) -> usize {
        let cached: usize = self.caches.iter().map(|c| c.len.load(Relaxed) as usize).sum();
        (self.ring.len() + cached).min(self.capacity)
    }

    /// The calling thread's cache, if it is a registered lcore and caching is on.
    #[inline(always)]
    fn local_cache(&self) -> Option<&LocalCache> {
        if self.cache_size == 0 {
            return None;
        }
        lcore::current().map(|id| &*self.caches[id])
    }

    /// Fills `out` with free objects, all or none.
    #[inline]
    pub(super) fn get(&self, out: &mut [usize]) -> bool {
        let n = out.len();
        let Some(cache) = self.local_cache() else {
            return self.ring.dequeue_bulk(out);
        };
        if n > MAX_BURST {
            return self.ring.dequeue_bulk(out);
        }
        // SAFETY: only this thread holds this lcore id, so the cache is ours.
        let objs = unsafe { &mut *cache.objs.get() };
        let mut len = cache.len.load(Relaxed) as usize;
        if len < n {
            let want = self.cache_size + n - len;
            len += self.ring.dequeue_burst(&mut objs[len..len + want]);
            if len < n {
                cache.len.store(len as u32, Relaxed);
                return false;
            }
        }
        out.copy_from_slice(&objs[len - n..len]);
        cache.len.store((len - n) as u32, Relaxed);
        true
    }

    /// Returns objects to the pool.
    #[inline]
    pub(super) fn put(&self, objs_in: &[usize]) {
        let n = objs_in.len();
        let cache = match self.local_cache() {
            Some(c) if n <= MAX_BURST => c,
            _ => {
                let ok = self.ring.enqueue_bulk(objs_in);
                debug_assert!(ok, "ring holds the whole pool");
                return;
            }
        };
        // SAFETY: only this thread holds this lcore id, so the cache is ours.
        let objs = unsafe { &mut *cache.objs.get() };
        let mut len = cache.len.load(Relaxed) as usize;
        objs[len..len + n].copy_from_slice(objs_in);
        len += n;
        if len > self.flush_threshold {
            let ok = self.ring.enqueue_bulk(&objs[self.cache_size..len]);
            debug_assert!(ok, "ring holds the whole pool");
            len = self.cache_size;
        }
        cache.len.store(len as u32, Relaxed);
    }

    #[inline]
    pub(super) fn put_one(&self, hdr: NonNull<MbufHeader>) {
        self.put(&[hdr.as_ptr() as usize]);
    }

    fn flush_cache(&self, id: usize) {
        let cache = &self.caches[id];
        // SAFETY: called only by the holder of lcore `id`.
        let objs = unsafe { &mut *cache.objs.get() };
        let len = cache.len.load(Relaxed) as usize;
        let ok = self.ring.enqueue_bulk(&objs[..len]);
        debug_assert!(ok, "ring holds the whole pool");
        cache.len.store(0, Relaxed);
    }
}

/// Frees a run of mbufs, one bulk put per run of same-pool buffers.
#[inline]
pub(super) fn free_bulk(mbufs: &mut [std::mem::MaybeUninit<Mbuf>]) {
    // A small staging array: zeroing a MAX_BURST-sized one on every call
    // cost more than the frees themselves.
    const STAGE: usize = 64;
    let mut staged = [0usize; STAGE];
    let mut start = 0;
    while start < mbufs.len() {
        // SAFETY: the caller passes initialised mbufs it owns and forgets them.
        let pool = unsafe { mbufs[start].assume_init_ref() }.pool_ptr();
        let mut n = 0;
        while start + n < mbufs.len() && n < STAGE {
            // SAFETY: as above.
            let m = unsafe { mbufs[start + n].assume_init_ref() };
            if m.pool_ptr() != pool {
                break;
            }
            staged[n] = m.addr();
            n += 1;
        }
        // SAFETY: every mbuf in the run belongs to `pool`, which outlives them.
        unsafe { (*pool).put(&staged[..n]) };
        start += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_hugepages::Fallback;

    pub(crate) fn pool(n: usize) -> Mempool {
        let mut cfg = MempoolConfig::new("test", n);
        cfg.dma.fallback = Fallback::SmallPages;
        Mempool::new(&cfg).unwrap()
    }

    #[test]
    fn alloc_and_drop_conserve_buffers() {
        let p = pool(100);
        assert_eq!(p.available(), 100);
        let a: Vec<Mbuf> = (0..100).map(|_| p.alloc().unwrap()).collect();
        assert_eq!(p.in_use(), 100);
        assert!(p.alloc().is_none(), "pool exhausted");
        drop(a);
        assert_eq!(p.available(), 100);
    }

    #[test]
    fn buffers_are_distinct_and_writable() {
        let p = pool(64);
        let mut all: Vec<Mbuf> = (0..64).map(|_| p.alloc().unwrap()).collect();
        for (i, m) in all.iter_mut().enumerate() {
            assert!(m.set_len(1500));
            m.data_mut().fill(i as u8);
            assert_eq!(m.headroom(), HEADROOM);
            assert_eq!(m.data_iova(), m.data().as_ptr() as u64, "VA mode: IOVA = VA");
        }
        for (i, m) in all.iter().enumerate() {
            assert!(m.data().iter().all(|&b| b == i as u8), "buffer {i} was overwritten");
        }
    }

    #[test]
    fn buffers_never_overlap_across_layout_pages() {
        // 2,000 buffers of 2,240 B span three 2 MiB layout pages (936 each).
        let p = pool(2000);
        let all: Vec<Mbuf> = (0..2000).map(|_| p.alloc().unwrap()).collect();
        let mut spans: Vec<(usize, usize)> =
            all.iter().map(|m| (m.addr(), m.addr() + HEADER_SIZE + HEADROOM + DEFAULT_DATA_ROOM)).collect();
        spans.sort_unstable();
        for w in spans.windows(2) {
            assert!(w[0].1 <= w[1].0, "buffers at {:#x} and {:#x} overlap", w[0].0, w[1].0);
        }
        let region = (p.region().as_ptr() as usize, p.region().as_ptr() as usize + p.region().len());
        assert!(spans.iter().all(|&(a, b)| a >= region.0 && b <= region.1), "a buffer lies outside the region");
    }

    #[test]
    fn bulk_alloc_is_all_or_nothing() {
        let p = pool(40);
        let mut b = MbufBatch::new();
        assert!(p.alloc_bulk(&mut b, 32));
        assert!(!p.alloc_bulk(&mut b, 16), "only 8 left");
        assert_eq!(b.len(), 32);
        assert!(p.alloc_bulk(&mut b, 8));
        b.clear();
        assert_eq!(p.available(), 40);
    }

    #[test]
    fn lcore_cache_keeps_accounting_exact() {
        let p = pool(2048);
        let _g = lcore::register().unwrap();
        let mut b = MbufBatch::new();
        for _ in 0..100 {
            assert!(p.alloc_bulk(&mut b, 32));
            assert!(p.alloc_bulk(&mut b, 32));
            b.clear();
        }
        assert_eq!(p.available(), 2048);
        p.flush_local_cache();
        assert_eq!(p.available(), 2048);
    }

    #[test]
    fn config_errors_are_named() {
        let e = Mempool::new(&MempoolConfig { capacity: 0, ..MempoolConfig::new("x", 1) }).unwrap_err();
        assert!(e.to_string().contains("capacity 0"), "{e}");
        let e = Mempool::new(&MempoolConfig { cache_size: 4096, ..MempoolConfig::new("x", 8) }).unwrap_err();
        assert!(e.to_string().contains("cache size"), "{e}");
    }

    #[test]
    fn mbuf_edits_stay_in_bounds() {
        let p = pool(4);
        let mut m = p.alloc().unwrap();
        assert!(!m.set_len(DEFAULT_DATA_ROOM + 1));
        assert!(m.set_len(10));
        assert_eq!(m.prepend(14).unwrap().len(), 14);
        assert_eq!((m.len(), m.headroom()), (24, HEADROOM - 14));
        assert!(m.prepend(HEADROOM).is_none());
        assert!(m.adj(4) && m.trim(4));
        assert_eq!(m.len(), 16);
        assert!(m.append(m.tailroom() + 1).is_none());
        assert!(!m.adj(17));
    }
}
