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
//! 1. **publish** (`publish`): descriptors and ring entries must be
//!    visible before the new `avail.idx` that hands them over, so a
//!    release fence sits between the entry writes and the index store (the
//!    device reads the index, then the entries).
//! 2. **kick decision** (`publish`, after the index store): reading
//!    `used.flags` or `avail_event` (does the device want a doorbell?)
//!    must not happen before the `avail.idx` store is visible. That is a
//!    store followed by a load, the one reordering x86 does, so this needs
//!    a full (`SeqCst`) fence. Without it the driver could read a stale
//!    NO_NOTIFY (or `avail_event`) while the device, having just finished
//!    and re-enabled notifications, misses the new index: a lost wake-up
//!    and a stalled queue.
//! 3. **consume** (`poll_used`): after reading `used.idx`, the used
//!    entries and the buffers they describe must be read only after it, so
//!    an acquire fence follows the index load.
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
//! Without VIRTIO_F_EVENT_IDX: `avail.flags` is VIRTQ_AVAIL_F_NO_INTERRUPT
//! from setup on (a poller wants no interrupts), and the driver skips the
//! doorbell while the device sets VIRTQ_USED_F_NO_NOTIFY in `used.flags`
//! (QEMU does while it processes a ring, and on a receive queue that still
//! has buffers). With EVENT_IDX (the spec then wants `avail.flags` 0):
//! `used_event`, written at each publish, stays one behind the driver's
//! consumed index, which the device never reaches, and the doorbell rings
//! only when a publish moves `avail.idx` past the device's `avail_event`.
//! The parent module's docs say why both, and how interrupt mode
//! ([`Virtqueue::arm_interrupt`]) lifts the suppression: `avail.flags` 0,
//! or `used_event` set to the next index the driver will consume.

use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

use ferrite_hugepages::DmaRegion;

use super::block::RingBlock;
use super::{need_event, Virtqueue, DESC_F_NEXT, MAX_QUEUE_SIZE};
use crate::drivers::virtio::transport::QueueAddrs;

/// `avail.flags`: the driver does not want interrupts for used buffers.
pub const VIRTQ_AVAIL_F_NO_INTERRUPT: u16 = 1;
/// `used.flags`: the device does not need a doorbell for new buffers.
pub const VIRTQ_USED_F_NO_NOTIFY: u16 = 1;

/// Bytes per descriptor.
pub const DESC_SIZE: usize = 16;

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

    /// `used_event`, the available ring's last field (EVENT_IDX).
    const fn used_event(&self) -> usize {
        self.avail + 4 + 2 * self.n as usize
    }

    /// `avail_event`, the used ring's last field (EVENT_IDX).
    const fn avail_event(&self) -> usize {
        self.used + 4 + 8 * self.n as usize
    }
}

/// One split virtqueue in DMA memory, with the driver's shadow indexes.
pub struct SplitRing {
    /// Keeps the memory alive (and IOMMU-mapped) while the ring exists.
    mem: Arc<DmaRegion>,
    block: RingBlock,
    iova: u64,
    layout: Layout,
    /// Next `avail.idx` to publish (entries are written ahead of it).
    avail_idx: u16,
    /// `avail.idx` at the last kick decision: a publish covers the
    /// entries from here to `avail_idx`.
    kick_mark: u16,
    /// `used.idx` as far as the driver has consumed.
    used_seen: u16,
    /// How far this pass may consume: `used.idx` as read by `poll_used`,
    /// at most `n` ahead of `used_seen`.
    used_limit: u16,
    /// VIRTIO_F_EVENT_IDX: `used_event`/`avail_event` instead of flags.
    event_idx: bool,
    /// A used-buffer notification is requested (interrupt mode).
    armed: bool,
}

// SAFETY: the ring is DMA memory owned (through `mem`) by this value and
// reached only through the queue that owns it.
unsafe impl Send for SplitRing {}

impl SplitRing {
    /// Writes descriptor `id`: `len` bytes at `addr`, `flags`, `next`.
    #[inline(always)]
    fn set_desc(&self, id: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let off = (id & (self.layout.n - 1)) as usize * DESC_SIZE;
        // Descriptor `id mod n` lies in the table; len, flags and next as
        // one 8-byte store.
        self.block.write64(off, addr);
        self.block.write64(off + 8, len as u64 | (flags as u64) << 32 | (next as u64) << 48);
    }

    /// `used_event` (EVENT_IDX): the next index to consume when armed (the
    /// device notifies when it writes it), one behind it otherwise (never
    /// reached: see the module docs).
    #[inline(always)]
    fn used_event_value(&self) -> u16 {
        if self.armed {
            self.used_seen
        } else {
            self.used_seen.wrapping_sub(1)
        }
    }

    /// Whether the device asked for a doorbell for the entries published
    /// since the last decision (call after the full fence of rule 2).
    #[inline(always)]
    fn device_wants_kick(&self) -> bool {
        if self.event_idx {
            need_event(self.block.read16(self.layout.avail_event()), self.avail_idx, self.kick_mark)
        } else {
            self.block.read16(self.layout.used) & VIRTQ_USED_F_NO_NOTIFY == 0
        }
    }
}

impl Virtqueue for SplitRing {
    const KIND: &'static str = "split";

    fn bytes(n: u16) -> usize {
        Layout::of(n).bytes
    }

    /// Lays the ring out by [`Layout::of`] (computed here, so every offset
    /// the block is given lies in it) and says "no interrupts": the flag
    /// without EVENT_IDX, an unreachable `used_event` with it.
    fn new(mem: Arc<DmaRegion>, offset: usize, n: u16, event_idx: bool) -> SplitRing {
        assert!(n.is_power_of_two() && n <= MAX_QUEUE_SIZE, "virtqueue size {n}");
        let layout = Layout::of(n);
        let block = RingBlock::carve(&mem, offset, layout.bytes);
        let iova = mem.iova(offset);
        let ring = SplitRing {
            mem,
            block,
            iova,
            layout,
            avail_idx: 0,
            kick_mark: 0,
            used_seen: 0,
            used_limit: 0,
            event_idx,
            armed: false,
        };
        if event_idx {
            ring.block.write16(ring.layout.used_event(), ring.used_event_value());
        } else {
            ring.block.write16(ring.layout.avail, VIRTQ_AVAIL_F_NO_INTERRUPT);
        }
        ring
    }

    #[inline(always)]
    fn size(&self) -> u16 {
        self.layout.n
    }

    fn addrs(&self) -> QueueAddrs {
        QueueAddrs {
            desc: self.iova,
            avail: self.iova + self.layout.avail as u64,
            used: self.iova + self.layout.used as u64,
        }
    }

    fn region(&self) -> &Arc<DmaRegion> {
        &self.mem
    }

    /// Descriptors `head`, `links[head]`, ... linked with `next`, then the
    /// head id in the next available slot (not visible before `publish`).
    #[inline(always)]
    fn add_flagged_chain(&mut self, head: u16, links: &[u16], bufs: impl Iterator<Item = (u64, u32, u16)>) {
        let mut bufs = bufs.peekable();
        let mut id = head;
        while let Some((addr, len, flags)) = bufs.next() {
            if bufs.peek().is_some() {
                let next = links[id as usize];
                self.set_desc(id, addr, len, flags | DESC_F_NEXT, next);
                id = next;
            } else {
                self.set_desc(id, addr, len, flags, 0);
            }
        }
        let slot = (self.avail_idx & (self.layout.n - 1)) as usize;
        self.block.write16(self.layout.avail + 4 + 2 * slot, head);
        self.avail_idx = self.avail_idx.wrapping_add(1);
    }

    /// Ordering rules 1 and 2: release fence, the new `avail.idx`, full
    /// fence, then the device's wish (`used.flags` or `avail_event`). With
    /// EVENT_IDX, `used_event` is moved up first (see the module docs).
    #[inline(always)]
    fn publish(&mut self) -> bool {
        if self.event_idx {
            self.block.write16(self.layout.used_event(), self.used_event_value());
        }
        fence(Ordering::Release);
        self.block.write16(self.layout.avail + 2, self.avail_idx);
        fence(Ordering::SeqCst);
        let kick = self.device_wants_kick();
        self.kick_mark = self.avail_idx;
        kick
    }

    /// Reads `used.idx` once for the pass; the acquire fence after it
    /// orders every later read of an entry or a buffer after it (rule 3).
    /// A device that claims more than `n` new entries is lying: the pass
    /// is capped so no entry is read twice (the queue checks each id).
    #[inline(always)]
    fn poll_used(&mut self) {
        let idx = self.block.read16(self.layout.used + 2);
        fence(Ordering::Acquire);
        self.used_limit = self.used_seen.wrapping_add(idx.wrapping_sub(self.used_seen).min(self.layout.n));
    }

    #[inline(always)]
    fn peek_used(&self) -> Option<(u32, u32)> {
        if self.used_seen == self.used_limit {
            return None;
        }
        let slot = (self.used_seen & (self.layout.n - 1)) as usize;
        let off = self.layout.used + 4 + 8 * slot;
        Some((self.block.read32(off), self.block.read32(off + 4)))
    }

    /// One used entry per chain, whatever its length.
    #[inline(always)]
    fn pop_used(&mut self, _ndesc: u16) {
        self.used_seen = self.used_seen.wrapping_add(1);
    }

    #[inline(always)]
    fn all_used(&self, outstanding: u16) -> bool {
        outstanding != 0 && self.used_limit.wrapping_sub(self.used_seen) == outstanding
    }

    /// `avail.flags` 0, or `used_event` at the next index to consume; full
    /// fence (rule 4 of `virtq`); then whether `used.idx` is already past
    /// what the driver consumed.
    fn arm_interrupt(&mut self) -> bool {
        self.armed = true;
        if self.event_idx {
            self.block.write16(self.layout.used_event(), self.used_event_value());
        } else {
            self.block.write16(self.layout.avail, 0);
        }
        fence(Ordering::SeqCst);
        self.block.read16(self.layout.used + 2) != self.used_seen
    }

    fn disarm_interrupt(&mut self) {
        self.armed = false;
        if self.event_idx {
            self.block.write16(self.layout.used_event(), self.used_event_value());
        } else {
            self.block.write16(self.layout.avail, VIRTQ_AVAIL_F_NO_INTERRUPT);
        }
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
