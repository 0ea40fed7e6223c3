//! A split virtqueue (virtio 1.x §2.7): three areas in DMA memory.
//!
//! ```text
//! descriptor table  16 B × n   driver-written   addr le64 | len le32 | flags le16 | next le16
//! available ring    6 + 2n B   driver-written   flags | idx | ring[n] (head ids) | used_event
//! used ring         6 + 8n B   device-written   flags | idx | ring[n] {id le32, len le32} | avail_event
//! ```
//!
//! The driver puts a descriptor chain's head id into `avail.ring[idx % n]`
//! and then advances `avail.idx`; the device consumes chains in that order
//! and reports each one done by writing `{head id, bytes written}` into
//! `used.ring[idx % n]` and advancing `used.idx`. Both indexes run freely
//! and wrap at 2^16, so `idx - last_seen` (wrapping) is the number of new
//! entries; `n` is a power of two, so `idx % n` stays right across the wrap.
//!
//! # Memory ordering
//!
//! The device is another agent reading and writing the same (cache-
//! coherent) memory, so the CPU-to-CPU rules apply; the spec names the
//! barriers (§2.7.13 and §2.7.14) and these are the three places:
//!
//! 1. **publish** ([`SplitRing::publish`]): descriptors and ring entries
//!    must be visible before the new `avail.idx` that hands them over, so
//!    a release fence sits between the entry writes and the index store
//!    (the device reads the index, then the entries).
//! 2. **kick decision** ([`SplitRing::device_wants_kick`]): reading
//!    `used.flags` (does the device want a doorbell?) must not happen
//!    before the `avail.idx` store is visible. That is a store followed
//!    by a load, the one reordering x86 does, so this needs a full
//!    (`SeqCst`) fence. Without it the driver could read a stale
//!    NO_NOTIFY while the device, having just finished and re-enabled
//!    notifications, misses the new index: a lost wake-up and a stalled
//!    queue.
//! 3. **consume** ([`SplitRing::used_ready`]): after reading `used.idx`,
//!    the used entries and the buffers they describe must be read only
//!    after it, so an acquire fence follows the index load.
//!
//! Scope: these CPU fences suit a device that is software on a coherent
//! host (QEMU, vhost) and any device on x86-64, where MMIO and DMA follow
//! program order. A hardware virtio device on a weakly ordered CPU (arm64)
//! would need VIRTIO_F_ORDER_PLATFORM and DMA/IO barriers, which this
//! driver does not negotiate or use yet.
//!
//! Every access to ring memory is a volatile load or store of one aligned
//! little-endian field: the device changes that memory behind the
//! compiler's back, and no Rust reference into it is ever made.
//!
//! # Notification suppression
//!
//! A poll-mode driver never wants interrupts: `avail.flags` is set to
//! VIRTQ_AVAIL_F_NO_INTERRUPT once, at setup. In the other direction the
//! device sets VIRTQ_USED_F_NO_NOTIFY in `used.flags` while it is busy
//! with a queue anyway (QEMU does while processing a ring, and on a
//! receive queue that still has buffers); the driver then skips the
//! doorbell, which on QEMU is a trap into the hypervisor per write. The
//! finer scheme (VIRTIO_F_EVENT_IDX, `avail_event`/`used_event`) is not
//! negotiated in this slice: with polling the driver's interest in
//! interrupts is all-or-nothing, and on the doorbell side the flag already
//! saves every kick while the device is active; event indexes would add a
//! comparison per burst for a gain only in between.

use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

use ferrite_hugepages::DmaRegion;

use crate::drivers::virtio::transport::QueueAddrs;

/// The descriptor continues in the one named by `next`.
pub const VIRTQ_DESC_F_NEXT: u16 = 1;
/// The device writes this buffer (receive); otherwise it reads it.
pub const VIRTQ_DESC_F_WRITE: u16 = 2;
/// `avail.flags`: the driver does not want interrupts for used buffers.
pub const VIRTQ_AVAIL_F_NO_INTERRUPT: u16 = 1;
/// `used.flags`: the device does not need a doorbell for new buffers.
pub const VIRTQ_USED_F_NO_NOTIFY: u16 = 1;

/// Bytes per descriptor.
pub const DESC_SIZE: usize = 16;
/// Largest split queue the spec allows.
pub const MAX_QUEUE_SIZE: u16 = 32768;

/// Offsets of the three areas of an `n`-entry queue inside its block, and
/// the block's size. Alignments are the spec's (16, 2, 4); the used ring
/// also starts on its own 64-byte line so the device's writes do not share
/// a cache line with the driver's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Entries.
    pub n: u16,
    /// Available ring offset.
    pub avail: usize,
    /// Used ring offset.
    pub used: usize,
    /// Total bytes.
    pub bytes: usize,
}

impl Layout {
    /// The layout of an `n`-entry split queue.
    pub const fn of(n: u16) -> Layout {
        let n_ = n as usize;
        let avail = n_ * DESC_SIZE;
        let avail_end = avail + 6 + 2 * n_;
        let used = avail_end.next_multiple_of(64);
        let bytes = (used + 6 + 8 * n_).next_multiple_of(64);
        Layout { n, avail, used, bytes }
    }
}

/// One split virtqueue in DMA memory, with the driver's shadow indexes.
pub struct SplitRing {
    /// Keeps the memory alive (and IOMMU-mapped) while the ring exists.
    mem: Arc<DmaRegion>,
    base: *mut u8,
    iova: u64,
    layout: Layout,
    /// Next `avail.idx` to publish (entries are written ahead of it).
    avail_idx: u16,
    /// `used.idx` as far as the driver has consumed.
    used_seen: u16,
}

// SAFETY: the ring is DMA memory owned (through `mem`) by this value and
// reached only through the queue that owns it.
unsafe impl Send for SplitRing {}

impl SplitRing {
    /// A ring of `n` entries at `offset` in `mem`, laid out by
    /// [`Layout::of`] (computed here, so every offset `ptr` is given lies in
    /// the block). The memory is zeroed, and VIRTQ_AVAIL_F_NO_INTERRUPT is
    /// set: this driver polls. The caller gives each ring its own block: two
    /// rings over one block would race.
    pub fn new(mem: Arc<DmaRegion>, offset: usize, n: u16) -> SplitRing {
        assert!(n.is_power_of_two() && n <= MAX_QUEUE_SIZE, "virtqueue size {n}");
        let layout = Layout::of(n);
        assert!(offset.is_multiple_of(64) && offset + layout.bytes <= mem.len(), "virtqueue outside its region");
        // SAFETY: offset + bytes is inside the region (asserted above).
        let base = unsafe { mem.as_ptr().add(offset) };
        // SAFETY: the block is ours and nobody (no device either: it is
        // told the addresses only after this) uses it yet.
        unsafe { std::ptr::write_bytes(base, 0, layout.bytes) };
        let iova = mem.iova(offset);
        let ring = SplitRing { mem, base, iova, layout, avail_idx: 0, used_seen: 0 };
        ring.write16(ring.layout.avail, VIRTQ_AVAIL_F_NO_INTERRUPT);
        ring
    }

    /// Entries in the ring.
    #[inline(always)]
    pub fn size(&self) -> u16 {
        self.layout.n
    }

    /// The three addresses the device is told at queue setup.
    pub fn addrs(&self) -> QueueAddrs {
        QueueAddrs {
            desc: self.iova,
            avail: self.iova + self.layout.avail as u64,
            used: self.iova + self.layout.used as u64,
        }
    }

    /// The DMA region the ring lives in (for `abandon`).
    pub fn region(&self) -> &Arc<DmaRegion> {
        &self.mem
    }

    #[inline(always)]
    fn ptr<T>(&self, off: usize) -> *mut T {
        debug_assert!(off + std::mem::size_of::<T>() <= self.layout.bytes);
        // SAFETY: every caller's offset is inside the block (descriptor ids
        // and ring slots are reduced modulo n first).
        unsafe { self.base.add(off).cast::<T>() }
    }

    #[inline(always)]
    fn write16(&self, off: usize, v: u16) {
        // SAFETY: in the block (see `ptr`), 2-byte aligned (all fields are
        // at even offsets of a 64-byte aligned block); volatile because the
        // device reads it concurrently.
        unsafe { self.ptr::<u16>(off).write_volatile(v.to_le()) }
    }

    #[inline(always)]
    fn read16(&self, off: usize) -> u16 {
        // SAFETY: as in `write16`; volatile because the device writes it.
        u16::from_le(unsafe { self.ptr::<u16>(off).read_volatile() })
    }

    #[inline(always)]
    fn read32(&self, off: usize) -> u32 {
        // SAFETY: as in `write16`, 4-byte aligned (used elements).
        u32::from_le(unsafe { self.ptr::<u32>(off).read_volatile() })
    }

    // ----- descriptors -----

    /// Writes descriptor `id`: `len` bytes at `addr`, `flags`, `next`.
    #[inline(always)]
    pub fn set_desc(&self, id: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let off = (id & (self.layout.n - 1)) as usize * DESC_SIZE;
        // SAFETY: descriptor `id mod n` lies in the table (see `ptr`),
        // 16-byte aligned; volatile as in `write16`.
        unsafe {
            self.ptr::<u64>(off).write_volatile(addr.to_le());
            self.ptr::<u64>(off + 8).write_volatile((len as u64 | (flags as u64) << 32 | (next as u64) << 48).to_le());
        }
    }

    // ----- available ring (driver → device) -----

    /// Puts chain head `id` in the next available slot, not yet visible to
    /// the device (see [`SplitRing::publish`]).
    #[inline(always)]
    pub fn push_avail(&mut self, id: u16) {
        let slot = (self.avail_idx & (self.layout.n - 1)) as usize;
        self.write16(self.layout.avail + 4 + 2 * slot, id);
        self.avail_idx = self.avail_idx.wrapping_add(1);
    }

    /// Hands every pushed entry to the device: release fence, then the new
    /// `avail.idx` (ordering rule 1 in the module docs).
    #[inline(always)]
    pub fn publish(&self) {
        fence(Ordering::Release);
        self.write16(self.layout.avail + 2, self.avail_idx);
    }

    /// Whether the device wants a doorbell for what was just published:
    /// full fence, then `used.flags` (ordering rule 2).
    #[inline(always)]
    pub fn device_wants_kick(&self) -> bool {
        fence(Ordering::SeqCst);
        self.read16(self.layout.used) & VIRTQ_USED_F_NO_NOTIFY == 0
    }

    // ----- used ring (device → driver) -----

    /// How many used entries wait to be consumed. The acquire fence after
    /// the index load orders every later read of an entry or a buffer
    /// after it (ordering rule 3). A device that claims more than `n` new
    /// entries is lying; the count is capped so the driver never reads an
    /// entry twice in one pass (it checks each entry's id anyway).
    #[inline(always)]
    pub fn used_ready(&self) -> u16 {
        let idx = self.read16(self.layout.used + 2);
        fence(Ordering::Acquire);
        idx.wrapping_sub(self.used_seen).min(self.layout.n)
    }

    /// The `k`-th unconsumed used entry: (chain head id, bytes written).
    /// Call only for `k < used_ready()`.
    #[inline(always)]
    pub fn used_elem(&self, k: u16) -> (u32, u32) {
        let slot = (self.used_seen.wrapping_add(k) & (self.layout.n - 1)) as usize;
        let off = self.layout.used + 4 + 8 * slot;
        (self.read32(off), self.read32(off + 4))
    }

    /// Marks `k` used entries consumed.
    #[inline(always)]
    pub fn consume_used(&mut self, k: u16) {
        self.used_seen = self.used_seen.wrapping_add(k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_follows_the_spec_sizes_and_alignments() {
        let l = Layout::of(256);
        assert_eq!(l.avail, 4096, "the descriptor table is 16 B per entry");
        assert!(l.used >= l.avail + 6 + 2 * 256 && l.used.is_multiple_of(4));
        assert!(l.bytes >= l.used + 6 + 8 * 256);
        let l = Layout::of(1);
        assert_eq!((l.avail, l.used), (16, 64));
    }
}
