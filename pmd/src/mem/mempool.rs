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
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use std::sync::Arc;

use crossbeam_utils::CachePadded;
use ferrite_hugepages::{DmaOptions, DmaRegion, Fallback, IovaMode};

use super::batch::{MbufBatch, MAX_BURST};
use super::lcore::{self, MAX_LCORES};
use super::mbuf::{Mbuf, MbufHeader, HEADER_SIZE, HEADROOM};
use super::ring::BulkRing;
use crate::port::{NetDevice, PortError};

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
    /// A pool of `capacity` default-sized buffers on 2 MiB hugepages, or on
    /// locked 4 KiB pages (with one warning per process) when no hugepages
    /// are free. That fallback is for virtual ports, which never hand
    /// memory to a device; for hardware ports use
    /// [`MempoolConfig::for_ports`], which maps the pool for the device and
    /// refuses small pages.
    pub fn new(name: &str, capacity: usize) -> MempoolConfig {
        MempoolConfig {
            name: name.to_string(),
            capacity,
            data_room: DEFAULT_DATA_ROOM,
            cache_size: DEFAULT_CACHE_SIZE,
            dma: DmaOptions { fallback: Fallback::SmallPages, ..DmaOptions::default() },
        }
    }

    /// A pool the given ports may all receive into: like
    /// [`MempoolConfig::new`], but when one of them is a hardware port
    /// the pool is in the memory that port asks for
    /// ([`NetDevice::pool_dma_options`]): hugepages ([`Fallback::Refuse`]:
    /// a NIC must not DMA into pages the kernel may move), in its IOVA
    /// mode, mapped into its IOMMU when it has one. All hardware ports of
    /// one process share one IOMMU container and one IOVA mode, so one
    /// port's answer serves them all.
    pub fn for_ports(name: &str, capacity: usize, ports: &[Box<dyn NetDevice>]) -> MempoolConfig {
        let mut cfg = MempoolConfig::new(name, capacity);
        if let Some(dma) = ports.iter().find_map(|p| p.pool_dma_options()) {
            cfg.dma = dma;
        }
        cfg
    }
}

/// One lcore's private part of a pool: its cache and its counts.
struct LocalCache {
    /// Written only by the owning lcore; read by anyone for accounting.
    len: AtomicU32,
    /// Objects this lcore has handed out (as mbufs or raw), ever. Written
    /// only by the owning lcore.
    taken: AtomicU64,
    /// Objects returned through this lcore, ever. Written only by the
    /// owning lcore, as the last thing each `put` does (see
    /// [`PoolShared::buffers_out`]).
    returned: AtomicU64,
    objs: UnsafeCell<[usize; CACHE_SLOTS]>,
}

/// Counts for threads without an lcore id, which share them.
#[derive(Default)]
struct SharedCounts {
    taken: AtomicU64,
    returned: AtomicU64,
}

pub(crate) struct PoolShared {
    name: String,
    ring: BulkRing,
    caches: Box<[CachePadded<LocalCache>]>,
    unregistered: CachePadded<SharedCounts>,
    cache_size: usize,
    flush_threshold: usize,
    capacity: usize,
    data_room: usize,
    region: SlotMemory,
}

// SAFETY: the ring is thread-safe; each LocalCache's `objs` is touched only
// by the thread holding that lcore id (enforced by `lcore::register`).
unsafe impl Sync for PoolShared {}
// SAFETY: as above; nothing in the pool is tied to the creating thread.
unsafe impl Send for PoolShared {}

/// A handle to a buffer pool. Cheap to clone; all clones share the pool.
///
/// Mbufs point at their pool without holding a handle: a reference count
/// per packet would cost more than the rest of the datapath. Instead the
/// pool counts the buffers taken and returned (per lcore, with plain
/// stores; threads without an lcore id share one atomic pair), and the
/// last handle frees the pool only when none is out. If some are, it leaks
/// the pool rather than let them dangle.
#[derive(Clone)]
pub struct Mempool {
    /// The pool, valid as long as `_owner` lives (and longer when buffers
    /// were out as the last handle went). A copy of `_owner`'s pointer, to
    /// spare the datapath one indirection.
    shared: NonNull<PoolShared>,
    /// Held for its drop, which counts the handles.
    _owner: Arc<PoolOwner>,
}

// SAFETY: a Mempool is a shared reference to a PoolShared (Send + Sync) that
// `_owner` keeps alive; Arc<PoolOwner> is itself Send + Sync.
unsafe impl Send for Mempool {}
// SAFETY: as above.
unsafe impl Sync for Mempool {}

/// Holds the pool on behalf of every handle. `Arc` runs its drop exactly
/// once, after every other handle's drop (ordered before it), which is where
/// the pool is freed, or leaked when buffers are still out.
struct PoolOwner(NonNull<PoolShared>);

// SAFETY: as for Mempool: the pointer is to a Send + Sync pool.
unsafe impl Send for PoolOwner {}
// SAFETY: as above.
unsafe impl Sync for PoolOwner {}

impl Drop for PoolOwner {
    fn drop(&mut self) {
        // SAFETY: the pool is only ever freed below, by this drop.
        let shared = unsafe { self.0.as_ref() };
        let out = shared.buffers_out();
        if out > 0 {
            log::warn!("ferrite: mempool '{}' dropped with {out} buffers still in use; leaking it", shared.name);
            return;
        }
        // SAFETY: nothing can reach the pool any more. No handle is left, so
        // nobody can take a buffer. None is out. Every thread that returned
        // one published the return (Release) as its last access to the
        // pool, and `buffers_out` read those counts (Acquire), so all their
        // accesses happen before this free.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

impl std::fmt::Debug for Mempool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mempool")
            .field("name", &self.shared().name)
            .field("capacity", &self.shared().capacity)
            .field("available", &self.available())
            .finish()
    }
}

impl Mempool {
    /// Allocates the DMA region and carves it into buffers.
    pub fn new(cfg: &MempoolConfig) -> Result<Mempool, PortError> {
        check_config(cfg)?;
        let elt_size = slot_size(cfg.data_room);
        // Lay buffers out so none crosses a 2 MiB boundary: in PA mode the
        // pages are not physically contiguous. Costs < 0.1% of memory.
        let page = cfg.dma.page_size.bytes();
        let per_page = page / elt_size;
        let pages = cfg.capacity.div_ceil(per_page);
        let region = SlotMemory::allocate(pages * page, &cfg.dma)?;
        let cache_size = cfg.cache_size;
        let shared = Box::new(PoolShared {
            name: cfg.name.clone(),
            ring: BulkRing::with_capacity(cfg.capacity),
            caches: (0..MAX_LCORES)
                .map(|_| {
                    CachePadded::new(LocalCache {
                        len: AtomicU32::new(0),
                        taken: AtomicU64::new(0),
                        returned: AtomicU64::new(0),
                        objs: UnsafeCell::new([0; CACHE_SLOTS]),
                    })
                })
                .collect(),
            unregistered: CachePadded::new(SharedCounts::default()),
            cache_size,
            flush_threshold: cache_size * 3 / 2,
            capacity: cfg.capacity,
            data_room: cfg.data_room,
            region,
        });
        let shared = NonNull::from(Box::leak(shared));
        // SAFETY: freshly allocated above; freed only by the PoolOwner below.
        unsafe { shared.as_ref() }.carve(shared.as_ptr(), elt_size, per_page, page);
        Ok(Mempool { shared, _owner: Arc::new(PoolOwner(shared)) })
    }

    #[inline(always)]
    fn shared(&self) -> &PoolShared {
        // SAFETY: `_owner` keeps the pool alive at least as long as this
        // handle (see PoolOwner's drop).
        unsafe { self.shared.as_ref() }
    }

    /// Takes one buffer, reset and empty.
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        let mut one = [0usize; 1];
        if !self.shared().get(&mut one) {
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
        if !self.shared().get(spare) {
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

    /// Appends up to `n` fresh mbufs to `batch` (fewer if it lacks the
    /// room): in one bulk take when the pool has them all, else one at a
    /// time for what it has. Returns how many were added. For ring refills:
    /// an all-or-nothing refill once stopped igb's receive for good, since
    /// with fewer spare buffers than a chunk (the rest parked in transmit
    /// rings awaiting completion, or in other cores' caches) no refill ever
    /// succeeded, the ring ran dry and nothing came back. Linux's drivers
    /// refill buffer by buffer for the same reason.
    #[inline]
    pub fn alloc_up_to(&self, batch: &mut MbufBatch, n: usize) -> usize {
        let n = n.min(batch.room());
        if self.alloc_bulk(batch, n) {
            return n;
        }
        self.alloc_each(batch, n)
    }

    /// The slow half of [`Mempool::alloc_up_to`]: only under pool pressure.
    #[cold]
    #[inline(never)]
    fn alloc_each(&self, batch: &mut MbufBatch, n: usize) -> usize {
        let mut got = 0;
        while got < n {
            let Some(m) = self.alloc() else { break };
            // Room was checked: `n` is at most `batch.room()`.
            let _ = batch.push(m);
            got += 1;
        }
        got
    }

    /// Takes `out.len()` raw objects (mbuf header addresses), all or none,
    /// like `rte_mempool_get_bulk`: no metadata is touched. Wrap each in
    /// [`Mbuf::from_raw`] to own it as a packet.
    #[inline]
    pub fn get_bulk_raw(&self, out: &mut [usize]) -> bool {
        self.shared().get(out)
    }

    /// Returns raw objects taken with [`Mempool::get_bulk_raw`].
    ///
    /// # Safety
    /// Each address must be an object of this pool that the caller owns and
    /// will not use again (no `Mbuf` may still refer to it).
    #[inline]
    pub unsafe fn put_bulk_raw(&self, objs: &[usize]) {
        // SAFETY: this handle keeps the pool alive; the caller vouches for
        // the objects.
        unsafe { PoolShared::put(self.shared.as_ptr(), objs) }
    }

    /// Buffers in the pool.
    pub fn capacity(&self) -> usize {
        self.shared().capacity
    }

    /// Buffers free right now (shared ring plus every lcore cache). Exact
    /// when no other thread is allocating or freeing.
    pub fn available(&self) -> usize {
        self.shared().available()
    }

    /// Buffers handed out and not yet returned.
    pub fn in_use(&self) -> usize {
        self.capacity() - self.available()
    }

    /// Data bytes per buffer after the headroom.
    pub fn data_room(&self) -> usize {
        self.shared().data_room
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.shared().name
    }

    /// The DMA region behind the buffers (to map it for a device).
    #[cfg(not(miri))]
    pub fn region(&self) -> &DmaRegion {
        &self.shared().region
    }

    /// Under Miri the buffers live on the heap (see [`SlotMemory`]): there is
    /// no DMA region to give.
    #[cfg(miri)]
    pub fn region(&self) -> &DmaRegion {
        panic!("mempool '{}': no DMA region under Miri", self.shared().name)
    }

    /// Whether two handles refer to the same pool.
    pub fn same_pool(&self, other: &Mempool) -> bool {
        self.shared == other.shared
    }

    /// Moves the calling lcore's cached buffers back to the shared ring
    /// (a no-op on an unregistered thread).
    ///
    /// Buffers in a cache are free: [`Mempool::available`] counts them and
    /// dropping the pool is safe without flushing. But only the thread that
    /// holds the lcore id can allocate them, up to 1.5 × `cache_size` per
    /// thread. Call this when a registered thread stops polling for good
    /// (before dropping its [`LcoreGuard`](crate::lcore::LcoreGuard)) so
    /// that other threads can have its buffers, as DPDK's lcores flush
    /// their mempool caches on exit.
    pub fn flush_local_cache(&self) {
        if let Some(id) = lcore::current() {
            self.shared().flush_cache(id);
        }
    }
}

/// The memory the buffers are carved from: a DMA region.
#[cfg(not(miri))]
type SlotMemory = DmaRegion;

/// Miri cannot run the hugepage `mmap` (it models only plain private
/// anonymous mappings), so under Miri the buffers live in an ordinary heap
/// block with IOVA = VA. Everything else about the pool is the same, which
/// is what lets Miri check the pool's and the batches' unsafe code.
#[cfg(miri)]
struct SlotMemory {
    base: NonNull<u8>,
    layout: std::alloc::Layout,
}

#[cfg(miri)]
impl SlotMemory {
    fn allocate(len: usize, _opts: &DmaOptions) -> Result<SlotMemory, PortError> {
        let layout = std::alloc::Layout::from_size_align(len, 4096)
            .map_err(|e| PortError::InvalidConfig(format!("mempool of {len} bytes: {e}")))?;
        // SAFETY: `len` is non-zero (the capacity is checked to be at least 1).
        let base = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })
            .ok_or_else(|| PortError::InvalidConfig(format!("mempool of {len} bytes: out of memory")))?;
        Ok(SlotMemory { base, layout })
    }

    fn as_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    fn iova(&self, offset: usize) -> u64 {
        self.base.as_ptr() as u64 + offset as u64
    }
}

#[cfg(miri)]
impl Drop for SlotMemory {
    fn drop(&mut self) {
        // SAFETY: `base` came from `alloc_zeroed` with this very layout.
        unsafe { std::alloc::dealloc(self.base.as_ptr(), self.layout) }
    }
}

/// Bytes per slot: header, headroom and data room, in an odd number of
/// cache lines.
///
/// Why odd: the hot path touches the first line of many headers in a row,
/// and a cache indexes lines by address bits. With a stride of an even number
/// of lines those headers fall into a fraction of the sets (36 lines, the
/// 2 KiB default, reach only 16 of an L1's 64 sets) and evict each other;
/// an odd stride is coprime with every power-of-two set count and spreads
/// them over all. Measured on null-port io forwarding (same code, same
/// build path): 35-line slots forwarded 4.7% faster than 36-line ones, and
/// padding today's 36 to 37 won back 8.5% (docs/BENCHMARKS.md). DPDK's
/// mempool pads its objects for the same reason (spreading them over memory
/// channels). One extra line per slot costs under 3% of memory.
fn slot_size(data_room: usize) -> usize {
    let lines = (HEADER_SIZE + HEADROOM + data_room).div_ceil(64);
    (lines | 1) * 64
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
    if cfg.dma.iova_mode == IovaMode::Pa && slot_size(cfg.data_room) > cfg.dma.page_size.bytes() {
        return bad("buffers larger than a page cannot be used in PA mode".into());
    }
    Ok(())
}

impl PoolShared {
    /// Initialises every slot and fills the ring. `this` is the pool's own
    /// address, which every header records; `page` and `per_page` are the
    /// layout the region was sized for.
    fn carve(&self, this: *const PoolShared, elt_size: usize, per_page: usize, page: usize) {
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
            unsafe { (*hdr).init(this, buf_iova, buf_len) };
            objs.push(hdr as usize);
        }
        let ok = self.ring.enqueue_bulk(&objs);
        debug_assert!(ok, "ring sized for capacity");
    }

    /// Buffers handed out (as mbufs or raw objects) and not yet returned:
    /// what the last handle's drop decides on.
    ///
    /// Unlike [`PoolShared::available`], which adds up where free objects
    /// sit and double-counts those moving between a cache and the ring,
    /// this adds up what users took and gave back, and each count only
    /// grows. It reads every return before any take, so while others
    /// allocate and free it can only count too many out, never too few:
    /// each return it sees was published with Release after the matching
    /// take, so its Acquire load makes that take visible to the loads that
    /// follow. Once the last handle is gone nothing takes any more (every
    /// take needs a handle, and the handles' drops are ordered before the
    /// last one), so a zero then means no buffer is out and every return
    /// is complete.
    fn buffers_out(&self) -> u64 {
        let returned = self.unregistered.returned.load(Acquire)
            + self.caches.iter().map(|c| c.returned.load(Acquire)).sum::<u64>();
        let taken =
            self.unregistered.taken.load(Relaxed) + self.caches.iter().map(|c| c.taken.load(Relaxed)).sum::<u64>();
        // A return without a take (a misused `put_bulk_raw`) wraps to a
        // huge count: the pool is then leaked, the safe way to be wrong.
        taken.wrapping_sub(returned)
    }

    fn available(&self) -> usize {
        let cached: usize = self.caches.iter().map(|c| c.len.load(Relaxed) as usize).sum();
        (self.ring.len() + cached).min(self.capacity)
    }

    /// The calling thread's part of the pool (cache and counts), if it is a
    /// registered lcore.
    #[inline(always)]
    fn lcore_part(&self) -> Option<&LocalCache> {
        lcore::current().map(|id| &*self.caches[id])
    }

    /// Fills `out` with free objects, all or none.
    #[inline]
    pub(super) fn get(&self, out: &mut [usize]) -> bool {
        let n = out.len();
        let Some(part) = self.lcore_part() else {
            if !self.ring.dequeue_bulk(out) {
                return false;
            }
            // Relaxed: takes need a handle, and the last handle's drop sees
            // them through the handles' own ordering.
            self.unregistered.taken.fetch_add(n as u64, Relaxed);
            return true;
        };
        let ok = if self.cache_size == 0 || n > MAX_BURST {
            self.ring.dequeue_bulk(out)
        } else {
            self.get_cached(part, out)
        };
        if ok {
            // Only this lcore writes its counts: no read-modify-write needed.
            part.taken.store(part.taken.load(Relaxed) + n as u64, Relaxed);
        }
        ok
    }

    /// `get` through the calling lcore's cache, refilling it from the ring.
    #[inline(always)]
    fn get_cached(&self, cache: &LocalCache, out: &mut [usize]) -> bool {
        let n = out.len();
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

    /// Returns objects to the pool at `pool`.
    ///
    /// The caller may hold no handle (an mbuf's drop): once the return is
    /// published, another thread may free the pool. Hence a raw pointer and
    /// not `&self` (a reference argument claims the pool stays valid until
    /// the call returns), and hence publishing is the very last access.
    ///
    /// # Safety
    /// `pool` is alive, and each object is one of its own that the caller
    /// owns and gives up.
    #[inline]
    pub(super) unsafe fn put(pool: *const PoolShared, objs_in: &[usize]) {
        // SAFETY: the caller's objects are out, which keeps the pool alive
        // at least until the return below is published.
        let p = unsafe { &*pool };
        let n = objs_in.len();
        let part = p.lcore_part();
        match part {
            Some(cache) if p.cache_size > 0 && n <= MAX_BURST => p.put_cached(cache, objs_in),
            _ => {
                let ok = p.ring.enqueue_bulk(objs_in);
                debug_assert!(ok, "ring holds the whole pool");
            }
        }
        // Release: everything above happens before the last handle's drop
        // sees this count. Nothing below may touch the pool.
        match part {
            Some(part) => part.returned.store(part.returned.load(Relaxed) + n as u64, Release),
            None => {
                p.unregistered.returned.fetch_add(n as u64, Release);
            }
        }
    }

    /// `put` into the calling lcore's cache, flushing its overflow.
    #[inline(always)]
    fn put_cached(&self, cache: &LocalCache, objs_in: &[usize]) {
        let n = objs_in.len();
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

    /// Returns one object; see [`PoolShared::put`].
    ///
    /// # Safety
    /// As for `put`.
    #[inline]
    pub(super) unsafe fn put_one(pool: *const PoolShared, hdr: NonNull<MbufHeader>) {
        // SAFETY: passed on from our caller.
        unsafe { Self::put(pool, &[hdr.as_ptr() as usize]) }
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
            let m = unsafe { mbufs[start + n].assume_init_mut() };
            if m.pool_ptr() != pool {
                break;
            }
            if !m.is_contiguous() {
                m.free_tail();
            }
            staged[n] = m.addr();
            n += 1;
        }
        // SAFETY: every mbuf in the run belongs to `pool`, which they keep
        // alive while they are out; the caller gives them up. The mbufs
        // after the run are still out, so reading their headers on the next
        // round is fine even if this put returned the pool's last buffers.
        unsafe { PoolShared::put(pool, &staged[..n]) };
        start += n;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

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
    #[cfg_attr(miri, ignore = "no DMA region under Miri")]
    fn buffers_never_overlap_across_layout_pages() {
        // 2,000 slots of 2,368 B span three 2 MiB layout pages (885 each).
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
    #[cfg_attr(miri, ignore = "no DMA region under Miri")]
    fn slot_headers_spread_over_every_cache_set() {
        // A 48 KiB 12-way L1 (64 sets of 64-byte lines): the headers of 64
        // neighbouring slots must land in 64 different sets. With 36-line
        // slots (the 2 KiB default before padding) they shared 16.
        let p = pool(64);
        let all: Vec<Mbuf> = (0..64).map(|_| p.alloc().unwrap()).collect();
        let sets: std::collections::HashSet<usize> = all.iter().map(|m| (m.addr() / 64) % 64).collect();
        assert_eq!(sets.len(), 64, "headers crowd {} of 64 cache sets", sets.len());
    }

    #[test]
    fn alloc_up_to_takes_what_the_pool_has() {
        let p = pool(40);
        let mut b = MbufBatch::new();
        assert_eq!(p.alloc_up_to(&mut b, 32), 32, "in bulk");
        assert_eq!(p.alloc_up_to(&mut b, 32), 8, "then what is left, where bulk would give nothing");
        assert_eq!(p.alloc_up_to(&mut b, 32), 0);
        assert_eq!((b.len(), p.available()), (40, 0));
        b.clear();
        assert_eq!(p.available(), 40);
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

    /// The state of a flush half done, built by hand on this thread: the
    /// objects above `cache_size` are already in the ring, the cache length
    /// still counts them. The leak check must still see the buffer held.
    #[test]
    fn leak_check_is_not_fooled_by_a_half_done_flush() {
        let mut cfg = MempoolConfig::new("half-flush", 256);
        cfg.cache_size = 32;
        cfg.dma.fallback = Fallback::SmallPages;
        let p = Mempool::new(&cfg).unwrap();
        // Taken before registering: straight from the ring.
        let extra: Vec<Mbuf> = (0..16).map(|_| p.alloc().unwrap()).collect();
        let lc = lcore::register().unwrap();
        // A refill leaves 32 cached; 16 frees make 48, one short of a flush.
        let held = p.alloc().unwrap();
        drop(extra);
        let cache = &p.shared().caches[lc.id()];
        let len = cache.len.load(Relaxed) as usize;
        assert_eq!(len, 48, "cached before the flush");
        // SAFETY: this thread holds the lcore id, so the cache is ours.
        let objs = unsafe { &*cache.objs.get() };
        assert!(p.shared().ring.enqueue_bulk(&objs[cfg.cache_size..len]));
        let seen = p.shared().buffers_out();
        // Finish the flush as `put` would.
        cache.len.store(cfg.cache_size as u32, Relaxed);
        assert_eq!(seen, 1, "buffers out, as the leak check sees them mid-flush");
        drop(held);
        assert_eq!(p.available(), p.capacity());
    }

    /// The last handle's drop frees the pool only when no buffer is out. A
    /// cache flush in progress on another lcore must not fool that check:
    /// the flushed objects are already in the ring while the flushing
    /// lcore's cache still counts them.
    #[test]
    #[cfg_attr(miri, ignore = "runs for a wall-clock time")]
    fn leak_check_never_reads_zero_while_a_buffer_is_out() {
        let mut cfg = MempoolConfig::new("leak-check", 1024);
        cfg.cache_size = 32;
        cfg.dma.fallback = Fallback::SmallPages;
        let p = Mempool::new(&cfg).unwrap();
        let held = p.alloc().unwrap();
        let stop = AtomicBool::new(false);
        let (lowest, checks) = std::thread::scope(|s| {
            s.spawn(|| {
                let _lc = lcore::register().unwrap();
                let mut b = MbufBatch::new();
                // Two bursts then one free of 64: a refill from the ring and a
                // flush back to it on every round.
                while !stop.load(Relaxed) {
                    assert!(p.alloc_bulk(&mut b, 32) && p.alloc_bulk(&mut b, 32));
                    b.clear();
                }
                p.flush_local_cache();
            });
            let deadline = Instant::now() + Duration::from_millis(400);
            let (mut lowest, mut checks) = (usize::MAX, 0u64);
            while lowest > 0 && Instant::now() < deadline {
                for _ in 0..256 {
                    lowest = lowest.min(p.shared().buffers_out() as usize);
                }
                checks += 256;
            }
            stop.store(true, Relaxed);
            (lowest, checks)
        });
        assert!(lowest >= 1, "the leak check saw no buffer out while one was held (after {checks} checks)");
        drop(held);
        assert_eq!(p.available(), p.capacity());
    }

    /// One lcore frees the last buffers into its cache; another thread
    /// waits until the pool's own leak check sees them all back, then drops
    /// the last handle without joining the first. Every access of the free
    /// has to happen before the pool's memory goes away; Miri checks that
    /// (`cargo +nightly miri test -p ferrite-pmd last_handle_dropped`).
    /// Before the fix it reported a data race between the freeing lcore's
    /// cache access and the drop.
    #[test]
    fn last_handle_dropped_as_another_lcore_frees() {
        let p = pool(64);
        let mut b = MbufBatch::new();
        assert!(p.alloc_bulk(&mut b, 8));
        let one = p.alloc().unwrap();
        let freer = std::thread::spawn(move || {
            let _lc = lcore::register().unwrap();
            drop(b);
            drop(one);
        });
        while p.shared().buffers_out() != 0 {
            std::thread::yield_now();
        }
        drop(p);
        freer.join().unwrap();
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

    /// Worker lcores in the pool model test, besides the test thread (which
    /// stays unregistered and so goes to the ring directly).
    const WORKERS: usize = 3;

    #[derive(Clone, Debug)]
    enum PoolOp {
        /// `who` allocates `n` buffers with `alloc_bulk`, or one by one.
        Alloc { who: usize, n: usize, bulk: bool },
        /// `who` frees `n` of the held buffers, from `at` on, as a batch or
        /// one by one.
        Free { who: usize, at: prop::sample::Index, n: usize, bulk: bool },
        /// `who` flushes its cache.
        Flush { who: usize },
    }

    fn pool_op() -> impl Strategy<Value = PoolOp> {
        let who = 0..=WORKERS;
        prop_oneof![
            4 => (who.clone(), 0..=48usize, any::<bool>()).prop_map(|(who, n, bulk)| PoolOp::Alloc { who, n, bulk }),
            4 => (who.clone(), any::<prop::sample::Index>(), 0..=48usize, any::<bool>())
                .prop_map(|(who, at, n, bulk)| PoolOp::Free { who, at, n, bulk }),
            1 => who.prop_map(|who| PoolOp::Flush { who }),
        ]
    }

    enum Cmd {
        Alloc(usize, bool),
        Free(Vec<Mbuf>, bool),
        Flush,
    }

    /// Runs `cmd` on the calling thread; returns what was allocated.
    fn run(p: &Mempool, cmd: Cmd) -> Option<Vec<Mbuf>> {
        match cmd {
            Cmd::Alloc(n, true) => {
                let mut b = MbufBatch::new();
                p.alloc_bulk(&mut b, n).then(|| b.drain_front(n).collect())
            }
            Cmd::Alloc(n, false) => {
                // One by one is not all-or-nothing: give back a partial run
                // so that the outcome matches the bulk call's.
                let got: Vec<Mbuf> = (0..n).map_while(|_| p.alloc()).collect();
                (got.len() == n).then_some(got)
            }
            Cmd::Free(v, true) => {
                let mut b = MbufBatch::new();
                v.into_iter().for_each(|m| b.push(m).unwrap());
                None
            }
            Cmd::Free(v, false) => {
                drop(v);
                None
            }
            Cmd::Flush => {
                p.flush_local_cache();
                None
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

        /// The test thread and three lcores allocate, free and flush, one
        /// at a time, in any order, buffers allocated on one freed on
        /// another. No buffer is handed out twice or lost; the counts match
        /// a model; an allocation fails only when the buffers the caller can
        /// reach (the ring and its own cache) are too few.
        #[test]
        #[cfg_attr(miri, ignore = "too slow under Miri")]
        fn pool_and_caches_never_lose_or_duplicate_a_buffer(
            capacity in 1..=200usize,
            cache_size in prop_oneof![Just(0usize), Just(1), Just(4), Just(32)],
            ops in prop::collection::vec(pool_op(), 1..40),
        ) {
            let mut cfg = MempoolConfig::new("model", capacity);
            cfg.cache_size = cache_size;
            cfg.dma.fallback = Fallback::SmallPages;
            let p = Mempool::new(&cfg).unwrap();
            std::thread::scope(|s| -> Result<(), TestCaseError> {
                // Each worker: its lcore id, a command sender, a reply receiver.
                let mut workers = Vec::new();
                for _ in 0..WORKERS {
                    let (cmd_tx, cmd_rx) = std::sync::mpsc::channel::<Cmd>();
                    let (reply_tx, reply_rx) = std::sync::mpsc::channel();
                    let p = &p;
                    s.spawn(move || {
                        let lc = lcore::register().expect("a free lcore id");
                        reply_tx.send((Some(lc.id()), None)).unwrap();
                        for cmd in cmd_rx {
                            if reply_tx.send((None, run(p, cmd))).is_err() {
                                break;
                            }
                        }
                        // Leave nothing behind in this lcore's cache.
                        p.flush_local_cache();
                    });
                    let id = reply_rx.recv().unwrap().0.unwrap();
                    workers.push((id, cmd_tx, reply_rx));
                }
                let on = |who: usize, cmd: Cmd| -> Option<Vec<Mbuf>> {
                    if who == 0 {
                        return run(&p, cmd);
                    }
                    let (_, tx, rx) = &workers[who - 1];
                    tx.send(cmd).unwrap();
                    rx.recv().unwrap().1
                };
                let cached = |id: usize| p.shared().caches[id].len.load(Relaxed) as usize;
                let mut held: Vec<Mbuf> = Vec::new();
                for op in ops {
                    match op {
                        PoolOp::Alloc { who, n, bulk } => {
                            let free = capacity - held.len();
                            // Buffers in other lcores' caches are out of reach.
                            let own = if who == 0 { None } else { Some(workers[who - 1].0) };
                            let stranded: usize =
                                workers.iter().filter(|w| Some(w.0) != own).map(|w| cached(w.0)).sum();
                            let before = p.available();
                            match on(who, Cmd::Alloc(n, bulk)) {
                                Some(got) => {
                                    prop_assert!(n <= free - stranded, "{} allocated with {} reachable", n, free - stranded);
                                    prop_assert_eq!(got.len(), n);
                                    for m in got {
                                        prop_assert!(
                                            held.iter().all(|h| h.addr() != m.addr()),
                                            "buffer {:#x} handed out twice", m.addr()
                                        );
                                        held.push(m);
                                    }
                                }
                                None => {
                                    prop_assert!(n > free - stranded, "{} refused with {} reachable", n, free - stranded);
                                    prop_assert_eq!(p.available(), before, "a refused allocation takes nothing");
                                }
                            }
                        }
                        PoolOp::Free { who, at, n, bulk } => {
                            let from = if held.is_empty() { 0 } else { at.index(held.len()) };
                            let to = (from + n).min(held.len());
                            let some: Vec<Mbuf> = held.drain(from..to).collect();
                            on(who, Cmd::Free(some, bulk));
                        }
                        PoolOp::Flush { who } => {
                            on(who, Cmd::Flush);
                        }
                    }
                    prop_assert_eq!(p.available(), capacity - held.len(), "free buffers");
                    prop_assert_eq!(p.shared().buffers_out(), held.len() as u64, "buffers out, as the leak check counts them");
                }
                // Everything back, every cache flushed (by the workers as
                // they leave): then one thread can have the whole pool.
                drop(held);
                drop(workers);
                Ok(())
            })?;
            prop_assert_eq!(p.available(), capacity);
            let mut all: Vec<Mbuf> = (0..capacity).map_while(|_| p.alloc()).collect();
            prop_assert_eq!(all.len(), capacity, "the whole pool, from the ring");
            prop_assert!(p.alloc().is_none(), "and not one more");
            all.sort_unstable_by_key(Mbuf::addr);
            all.dedup_by_key(|m| m.addr());
            prop_assert_eq!(all.len(), capacity, "no buffer twice");
        }
    }
}
