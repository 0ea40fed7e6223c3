//! The four rings an AF_XDP socket shares with the kernel, as typed
//! single-producer/single-consumer queues.
//!
//! Each ring is a mapping of the socket (`mmap` at the ring's page offset)
//! holding a producer index, a consumer index, a flags word and a
//! power-of-two array of entries. Indexes are free-running `u32`s; an
//! entry's slot is `index & mask`. The side that produces writes entries,
//! then publishes the producer index with Release; the side that consumes
//! reads the producer index with Acquire before the entries, and hands
//! slots back by storing its consumer index with Release. Each side keeps
//! a cached copy of the other's index and reloads it only when the cache
//! says the ring is full (or empty): one shared-cache-line read per
//! burst, not per frame.
//!
//! Fill and TX rings are produced by us; RX and completion rings by the
//! kernel. `XDP_RING_NEED_WAKEUP` in a ring's flags says the kernel wants
//! a syscall (`sendto` for TX, `poll`/`recvfrom` for fill) before it looks
//! at the ring again.

use std::io;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// A ring's mapping; unmapped on drop.
pub struct RingMap {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; the ring types below decide
// who reads and writes what.
unsafe impl Send for RingMap {}

impl RingMap {
    /// Maps `len` bytes of socket `fd` at page offset `pgoff`.
    pub fn map(fd: libc::c_int, len: usize, pgoff: u64) -> io::Result<RingMap> {
        // SAFETY: a new shared mapping chosen by the kernel; nothing
        // aliases it until it is returned.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                pgoff as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(RingMap { base: NonNull::new(p.cast()).expect("mmap returned a non-null address"), len })
    }

    fn at<T>(&self, offset: u64) -> NonNull<T> {
        debug_assert!(offset as usize + std::mem::size_of::<T>() <= self.len);
        // SAFETY: the kernel's offsets lie inside the mapping (checked in
        // debug builds); the pointer keeps the mapping's provenance.
        unsafe { self.base.add(offset as usize).cast() }
    }
}

impl Drop for RingMap {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`, which no ring
        // uses any more (rings own their RingMap).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// Where one ring's parts lie in its mapping (`struct xdp_ring_offset`).
#[derive(Clone, Copy, Debug)]
pub struct RingLayout {
    pub producer: u64,
    pub consumer: u64,
    pub flags: u64,
    pub desc: u64,
}

impl From<libc::xdp_ring_offset> for RingLayout {
    fn from(o: libc::xdp_ring_offset) -> Self {
        RingLayout { producer: o.producer, consumer: o.consumer, flags: o.flags, desc: o.desc }
    }
}

/// The shared words and entries of one ring, and our cached view.
struct Shared<T> {
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    entries: NonNull<T>,
    mask: u32,
    _owner: Option<RingMap>,
    _t: PhantomData<T>,
}

impl<T: Copy> Shared<T> {
    fn new(map: RingMap, layout: RingLayout, size: u32) -> Shared<T> {
        Shared {
            producer: map.at(layout.producer),
            consumer: map.at(layout.consumer),
            flags: map.at(layout.flags),
            entries: map.at(layout.desc),
            mask: size - 1,
            _owner: Some(map),
            _t: PhantomData,
        }
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: a u32 the kernel keeps aligned inside the live mapping.
        unsafe { self.producer.as_ref() }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as above.
        unsafe { self.consumer.as_ref() }
    }

    fn needs_wakeup(&self) -> bool {
        // SAFETY: as above.
        unsafe { self.flags.as_ref() }.load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    fn write(&mut self, index: u32, v: T) {
        // SAFETY: `index & mask` is inside the `mask + 1` entries; the slot
        // belongs to the producer (us) until the index is published.
        unsafe { self.entries.add((index & self.mask) as usize).write_volatile(v) }
    }

    fn read(&self, index: u32) -> T {
        // SAFETY: as above, a slot the producer published and we have not
        // handed back.
        unsafe { self.entries.add((index & self.mask) as usize).read_volatile() }
    }
}

/// A ring we fill and the kernel empties (fill, TX).
pub struct ProducerRing<T> {
    ring: Shared<T>,
    /// Our next index to publish.
    head: u32,
    /// The consumer index last read, plus the ring size: the slots below
    /// it are free to write.
    limit: u32,
}

// SAFETY: one owner at a time moves it between threads; the kernel's side
// is synchronised through the index atomics.
unsafe impl<T: Send> Send for ProducerRing<T> {}

impl<T: Copy> ProducerRing<T> {
    /// A ring of `size` entries (a power of two) in `map`.
    pub fn new(map: RingMap, layout: RingLayout, size: u32) -> ProducerRing<T> {
        let ring = Shared::new(map, layout, size);
        let head = ring.producer().load(Ordering::Relaxed);
        let limit = ring.consumer().load(Ordering::Acquire).wrapping_add(size);
        ProducerRing { ring, head, limit }
    }

    /// Entries that can be written now (at most `want`), reloading the
    /// consumer index only if the cache says fewer than `want`.
    pub fn free(&mut self, want: u32) -> u32 {
        let cached = self.limit.wrapping_sub(self.head);
        if cached >= want {
            return want;
        }
        self.limit = self.ring.consumer().load(Ordering::Acquire).wrapping_add(self.ring.mask + 1);
        self.limit.wrapping_sub(self.head).min(want)
    }

    /// Writes entry `i` of the burst being prepared (0-based from the
    /// head); call only for `i < free(..)`.
    pub fn put(&mut self, i: u32, v: T) {
        self.ring.write(self.head.wrapping_add(i), v);
    }

    /// Publishes the first `n` entries written with [`ProducerRing::put`].
    pub fn submit(&mut self, n: u32) {
        self.head = self.head.wrapping_add(n);
        self.ring.producer().store(self.head, Ordering::Release);
    }

    /// Entries published and not yet consumed by the kernel.
    pub fn outstanding(&self) -> u32 {
        self.head.wrapping_sub(self.ring.consumer().load(Ordering::Acquire))
    }

    /// Whether the kernel asked to be woken to look at this ring.
    pub fn needs_wakeup(&self) -> bool {
        self.ring.needs_wakeup()
    }
}

/// A ring the kernel fills and we empty (RX, completion).
pub struct ConsumerRing<T> {
    ring: Shared<T>,
    /// Our next index to read.
    tail: u32,
    /// The producer index last read.
    cached_prod: u32,
}

// SAFETY: as for ProducerRing.
unsafe impl<T: Send> Send for ConsumerRing<T> {}

impl<T: Copy> ConsumerRing<T> {
    /// A ring of `size` entries (a power of two) in `map`.
    pub fn new(map: RingMap, layout: RingLayout, size: u32) -> ConsumerRing<T> {
        let ring = Shared::new(map, layout, size);
        let tail = ring.consumer().load(Ordering::Relaxed);
        ConsumerRing { ring, tail, cached_prod: tail }
    }

    /// Entries ready to read (at most `want`), reloading the producer
    /// index only if the cache says fewer than `want`.
    pub fn ready(&mut self, want: u32) -> u32 {
        let cached = self.cached_prod.wrapping_sub(self.tail);
        if cached >= want {
            return want;
        }
        self.cached_prod = self.ring.producer().load(Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.tail).min(want)
    }

    /// Reads entry `i` of the ready ones (0-based from the tail).
    pub fn get(&self, i: u32) -> T {
        self.ring.read(self.tail.wrapping_add(i))
    }

    /// Hands the first `n` read entries back to the kernel.
    pub fn release(&mut self, n: u32) {
        self.tail = self.tail.wrapping_add(n);
        self.ring.consumer().store(self.tail, Ordering::Release);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A ring in ordinary memory laid out as the kernel lays one out:
    /// producer, consumer, flags, then the entries.
    pub(crate) struct FakeRing {
        pub mem: Vec<u64>,
    }

    impl FakeRing {
        pub(crate) fn new(size: u32) -> FakeRing {
            FakeRing { mem: vec![0; 2 + size as usize] }
        }

        fn shared<T: Copy>(&mut self, size: u32) -> Shared<T> {
            let base = self.mem.as_mut_ptr().cast::<u8>();
            // SAFETY: offsets inside `mem`, which outlives the test's ring.
            unsafe {
                Shared {
                    producer: NonNull::new_unchecked(base.cast()),
                    consumer: NonNull::new_unchecked(base.add(4).cast()),
                    flags: NonNull::new_unchecked(base.add(8).cast()),
                    entries: NonNull::new_unchecked(base.add(16).cast()),
                    mask: size - 1,
                    _owner: None,
                    _t: PhantomData,
                }
            }
        }

        fn index(&self, which: usize) -> u32 {
            // SAFETY: reads a u32 inside `mem`.
            unsafe { self.mem.as_ptr().cast::<u32>().add(which).read() }
        }

        fn set_index(&mut self, which: usize, v: u32) {
            // SAFETY: writes a u32 inside `mem`.
            unsafe { self.mem.as_mut_ptr().cast::<u32>().add(which).write(v) }
        }
    }

    fn producer(fake: &mut FakeRing, size: u32) -> ProducerRing<u64> {
        let ring = fake.shared(size);
        let head = ring.producer().load(Ordering::Relaxed);
        let limit = ring.consumer().load(Ordering::Acquire).wrapping_add(size);
        ProducerRing { ring, head, limit }
    }

    #[test]
    fn a_producer_sees_room_only_as_the_consumer_frees_it_across_index_wrap() {
        let mut fake = FakeRing::new(8);
        // Start just below the u32 wrap, as a long run reaches it.
        let start = u32::MAX - 2;
        fake.set_index(0, start);
        fake.set_index(1, start);
        let mut p = producer(&mut fake, 8);
        assert_eq!(p.free(16), 8, "an empty ring of 8 has 8 free");
        for i in 0..5 {
            p.put(i, 100 + i as u64);
        }
        p.submit(5);
        assert_eq!(fake.index(0), start.wrapping_add(5), "producer published across the wrap");
        assert_eq!(p.free(8), 3);
        assert_eq!(p.outstanding(), 5);
        // The consumer takes 4: the cache reloads only when asked for more
        // than it knows of.
        fake.set_index(1, start.wrapping_add(4));
        assert_eq!(p.free(3), 3, "cache still says 3");
        assert_eq!(p.free(8), 7, "reloaded: 3 + 4");
        // Entries landed in slots index & mask.
        assert_eq!(fake.mem[2 + (start.wrapping_add(4) & 7) as usize], 104);
    }

    #[test]
    fn a_consumer_reads_what_was_published_and_hands_slots_back() {
        let mut fake = FakeRing::new(4);
        let ring = fake.shared::<u64>(4);
        let mut c = ConsumerRing { ring, tail: 0, cached_prod: 0 };
        assert_eq!(c.ready(4), 0);
        for (i, v) in [7u64, 8, 9].iter().enumerate() {
            fake.mem[2 + i] = *v;
        }
        fake.set_index(0, 3);
        assert_eq!(c.ready(2), 2);
        assert_eq!((c.get(0), c.get(1)), (7, 8));
        c.release(2);
        assert_eq!(fake.index(1), 2, "consumer index published");
        assert_eq!(c.ready(4), 1);
        assert_eq!(c.get(0), 9);
    }
}
