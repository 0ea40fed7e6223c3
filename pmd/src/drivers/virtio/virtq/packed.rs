//! A packed virtqueue (VIRTIO_F_RING_PACKED, virtio 1.2 §2.8): one ring of
//! descriptors that driver and device both write, and two event
//! suppression structures.
//!
//! ```text
//! descriptor ring           16 B × n  both   addr le64 | len le32 | id le16 | flags le16
//! driver event suppression  4 B       driver off_wrap le16 | flags le16 (read by the device)
//! device event suppression  4 B       device off_wrap le16 | flags le16 (read by the driver)
//! ```
//!
//! The driver writes descriptors into the ring in order, from slot 0 round
//! to slot n-1 and back; the device reads them in the same order and, as
//! it finishes a buffer, overwrites the next slot of its own (also in
//! order, starting at 0) with a used descriptor carrying the buffer's id
//! and the bytes written. Completions may come in any order, so the slot a
//! used descriptor lands in says nothing about which buffer it reports:
//! the id does. A chain of k descriptors is reported by one used
//! descriptor and then k slots are skipped, so the driver remembers each
//! buffer's chain length (the transmit queue keeps it next to the mbuf).
//!
//! Which lap a descriptor belongs to is in two flag bits. Each side keeps
//! a wrap counter, starting at 1 and flipped each time it passes slot
//! n-1. The driver marks a descriptor available with AVAIL = its counter,
//! USED = the opposite; the device marks it used with AVAIL = USED = its
//! counter. So a slot holds a completion for the driver exactly when both
//! bits equal the driver's used-side wrap counter; the previous lap's used
//! descriptors, and descriptors still available, never match.
//!
//! # Memory ordering
//!
//! The same three rules as the split ring (see `split`), at other places:
//!
//! 1. **make available** (`add_chain`): a descriptor's flags are what hand
//!    it over, so every other field, and every other descriptor of the
//!    chain, is written first; then a release fence; then the first
//!    descriptor's flags, last. The device stops at the first slot that is
//!    not available, so it never sees a half-built chain (§2.8, "Next
//!    Flag: Descriptor Chaining": "the driver always makes the first
//!    descriptor in the list available after the rest of the list has been
//!    written out into the ring").
//! 2. **kick decision** (`publish`): the flag stores must be visible before
//!    the device event suppression structure is read, a store followed by
//!    a load, so a full (`SeqCst`) fence sits between them (§2.8, "Sending
//!    Available Buffer Notifications"). Without it the driver could read a
//!    stale DISABLE while the device, just re-enabling notifications, does
//!    not yet see the new descriptors: a lost wake-up.
//! 3. **consume** (`peek_used`): the used descriptor's flags are read
//!    first; only when they say "used" may its id, its length and the
//!    buffer be read, so an acquire fence follows the flags load.
//!
//! The scope note of the split ring applies (coherent devices, x86-64;
//! ORDER_PLATFORM not negotiated). All ring accesses are volatile,
//! aligned and little-endian, one field at a time (a descriptor's flags
//! always as one 16-bit access). No Rust reference into ring memory is
//! made.
//!
//! # Notification suppression
//!
//! The driver event suppression structure says DISABLE from setup on: a
//! poller wants no used-buffer notifications. The device's structure
//! decides doorbells: DISABLE means none, ENABLE one per publish.
//!
//! A packed ring never runs with VIRTIO_F_EVENT_IDX (the port declines it
//! when it takes RING_PACKED, see `transport::choose_features`), because
//! QEMU (measured on 10.0) cannot be trusted with it: its packed ring
//! writes the event offset once, where it stands when it re-enables
//! notifications, and does not move it as it goes on consuming with
//! notifications still enabled (its split ring does move `avail_event` on
//! every pop). virtio-net's transmit path does exactly that when a send
//! that had to wait completes: it re-enables, then forwards what the
//! driver made available meanwhile. The event is then behind everything
//! the driver publishes afterwards, the driver (rightly, by the spec)
//! never kicks, and the device never looks again: an unpaced sender
//! stalled after a few thousand frames. With flags only (ENABLE/DISABLE)
//! a device left enabled gets a doorbell per publish, and the same run
//! sent as much as on split rings. DPDK's virtio PMD never negotiates
//! EVENT_IDX either. A device that writes the DESC mode anyway (which it
//! may not without EVENT_IDX) or a reserved value gets a doorbell: kicking
//! too often is the safe side.
//!
//! Interrupt mode ([`Virtqueue::arm_interrupt`]) writes ENABLE to the
//! driver's structure, and DISABLE again when disarmed.

use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

use ferrite_hugepages::DmaRegion;

use super::block::RingBlock;
use super::{Virtqueue, DESC_F_NEXT, MAX_QUEUE_SIZE};
use crate::drivers::virtio::transport::QueueAddrs;

/// Descriptor flag: available, when it equals the driver's wrap counter
/// (and USED does not).
pub const DESC_F_AVAIL: u16 = 1 << 7;
/// Descriptor flag: used, when it and AVAIL equal the wrap counter.
pub const DESC_F_USED: u16 = 1 << 15;

/// Event suppression flags: notify on every new buffer.
pub const RING_EVENT_FLAGS_ENABLE: u16 = 0;
/// Event suppression flags: no notifications.
pub const RING_EVENT_FLAGS_DISABLE: u16 = 1;

/// Bytes per descriptor.
pub const DESC_SIZE: usize = 16;

/// Offsets inside an `n`-entry ring's block: the descriptor ring at 0 (16
/// aligned), each event suppression structure on a 64-byte line of its own
/// (the spec asks for 4), so the device's writes share no line with the
/// driver's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Entries.
    pub n: u16,
    /// Driver event suppression (the "driver area").
    pub driver: usize,
    /// Device event suppression (the "device area").
    pub device: usize,
    /// Total bytes.
    pub bytes: usize,
}

impl Layout {
    /// The layout of an `n`-entry packed queue.
    pub const fn of(n: u16) -> Layout {
        let driver = (n as usize * DESC_SIZE).next_multiple_of(64);
        Layout { n, driver, device: driver + 64, bytes: driver + 128 }
    }
}

/// One packed virtqueue in DMA memory, with the driver's positions.
pub struct PackedRing {
    /// Keeps the memory alive (and IOMMU-mapped) while the ring exists.
    mem: Arc<DmaRegion>,
    block: RingBlock,
    iova: u64,
    layout: Layout,
    /// The next slot to make available, and the driver's wrap counter.
    next_avail: u16,
    avail_wrap: bool,
    /// The slot the next completion will be written to, and the wrap
    /// counter it will carry.
    next_used: u16,
    used_wrap: bool,
    /// Completions this pass may still take (a device that keeps writing
    /// cannot hold the driver in one pass).
    pass_left: u16,
}

// SAFETY: the ring is DMA memory owned (through `mem`) by this value and
// reached only through the queue that owns it.
unsafe impl Send for PackedRing {}

impl PackedRing {
    /// Offset of slot `slot` (below n).
    #[inline(always)]
    fn desc(slot: u16) -> usize {
        slot as usize * DESC_SIZE
    }

    /// AVAIL/USED bits that mark a descriptor available in this lap.
    #[inline(always)]
    fn avail_bits(&self) -> u16 {
        if self.avail_wrap {
            DESC_F_AVAIL
        } else {
            DESC_F_USED
        }
    }

    /// Moves `next_avail` on one slot, flipping the wrap counter past n-1.
    #[inline(always)]
    fn advance_avail(&mut self) {
        self.next_avail += 1;
        if self.next_avail == self.layout.n {
            self.next_avail = 0;
            self.avail_wrap = !self.avail_wrap;
        }
    }

    /// Writes slot `slot`'s address, length and id, not its flags.
    #[inline(always)]
    fn write_body(&self, slot: u16, addr: u64, len: u32, id: u16) {
        let off = Self::desc(slot);
        // slot < n, so the 16 bytes lie in the ring.
        self.block.write64(off, addr);
        self.block.write32(off + 8, len);
        self.block.write16(off + 12, id);
    }

    /// Whether a descriptor's flags mark it used in the lap `wrap`.
    #[inline(always)]
    fn is_used(flags: u16, wrap: bool) -> bool {
        let used = flags & DESC_F_USED != 0;
        used == (flags & DESC_F_AVAIL != 0) && used == wrap
    }

    /// Whether the device asks for a doorbell (call after the full fence of
    /// rule 2). Only its flags are read: see "Notification suppression".
    #[inline(always)]
    fn device_wants_kick(&self) -> bool {
        match self.block.read16(self.layout.device + 2) & 3 {
            RING_EVENT_FLAGS_ENABLE => true,
            RING_EVENT_FLAGS_DISABLE => false,
            // DESC, which needs EVENT_IDX, or the reserved value: kicking
            // too often is the safe side.
            _ => true,
        }
    }
}

impl Virtqueue for PackedRing {
    const KIND: &'static str = "packed";

    fn bytes(n: u16) -> usize {
        Layout::of(n).bytes
    }

    /// Lays the ring out by [`Layout::of`] (computed here, so every offset
    /// lies in the block) and disables used-buffer notifications.
    /// `event_idx` must be false: see "Notification suppression".
    fn new(mem: Arc<DmaRegion>, offset: usize, n: u16, event_idx: bool) -> PackedRing {
        assert!(!event_idx, "packed rings are never set up with VIRTIO_F_EVENT_IDX");
        assert!(n.is_power_of_two() && n <= MAX_QUEUE_SIZE, "virtqueue size {n}");
        let layout = Layout::of(n);
        // Zeroed descriptors are neither available nor used in the first lap.
        let block = RingBlock::carve(&mem, offset, layout.bytes);
        let iova = mem.iova(offset);
        let ring = PackedRing {
            mem,
            block,
            iova,
            layout,
            next_avail: 0,
            avail_wrap: true,
            next_used: 0,
            used_wrap: true,
            pass_left: 0,
        };
        ring.block.write16(ring.layout.driver + 2, RING_EVENT_FLAGS_DISABLE);
        ring
    }

    #[inline(always)]
    fn size(&self) -> u16 {
        self.layout.n
    }

    /// Descriptor ring, driver area (driver event suppression), device
    /// area (device event suppression).
    fn addrs(&self) -> QueueAddrs {
        QueueAddrs {
            desc: self.iova,
            avail: self.iova + self.layout.driver as u64,
            used: self.iova + self.layout.device as u64,
        }
    }

    fn region(&self) -> &Arc<DmaRegion> {
        &self.mem
    }

    /// The chain in the next free slots, each carrying id `head`; every
    /// descriptor but the first is complete before the first one's flags
    /// are written, after a release fence (rule 1).
    #[inline(always)]
    fn add_flagged_chain(&mut self, head: u16, _links: &[u16], bufs: impl Iterator<Item = (u64, u32, u16)>) {
        let first = self.next_avail;
        let mut first_flags = None;
        let mut bufs = bufs.peekable();
        while let Some((addr, len, flags)) = bufs.next() {
            let slot = self.next_avail;
            let f = flags | self.avail_bits() | if bufs.peek().is_some() { DESC_F_NEXT } else { 0 };
            self.write_body(slot, addr, len, head);
            if first_flags.is_none() {
                first_flags = Some(f);
            } else {
                self.block.write16(Self::desc(slot) + 14, f);
            }
            self.advance_avail();
        }
        if let Some(f) = first_flags {
            fence(Ordering::Release);
            self.block.write16(Self::desc(first) + 14, f);
        }
    }

    /// Chains are visible as soon as `add_chain` wrote their first flags;
    /// what is left is the kick decision, after a full fence (rule 2).
    #[inline(always)]
    fn publish(&mut self) -> bool {
        fence(Ordering::SeqCst);
        self.device_wants_kick()
    }

    #[inline(always)]
    fn poll_used(&mut self) {
        self.pass_left = self.layout.n;
    }

    /// The flags first, then (acquire fence, rule 3) id and length.
    #[inline(always)]
    fn peek_used(&self) -> Option<(u32, u32)> {
        if self.pass_left == 0 {
            return None;
        }
        let off = Self::desc(self.next_used);
        if !Self::is_used(self.block.read16(off + 14), self.used_wrap) {
            return None;
        }
        fence(Ordering::Acquire);
        Some((self.block.read16(off + 12) as u32, self.block.read32(off + 8)))
    }

    #[inline(always)]
    fn pop_used(&mut self, ndesc: u16) {
        self.pass_left = self.pass_left.saturating_sub(1);
        let next = self.next_used as u32 + ndesc.clamp(1, self.layout.n) as u32;
        if next >= self.layout.n as u32 {
            self.next_used = (next - self.layout.n as u32) as u16;
            self.used_wrap = !self.used_wrap;
        } else {
            self.next_used = next as u16;
        }
    }

    /// The device writes completions slot after slot, so `outstanding`
    /// single-descriptor buffers are all used when the last of their slots
    /// holds a completion of the right lap.
    #[inline(always)]
    fn all_used(&self, outstanding: u16) -> bool {
        if outstanding == 0 {
            return false;
        }
        let last = self.next_used as u32 + outstanding.min(self.layout.n) as u32 - 1;
        let (slot, wrap) = if last >= self.layout.n as u32 {
            ((last - self.layout.n as u32) as u16, !self.used_wrap)
        } else {
            (last as u16, self.used_wrap)
        };
        Self::is_used(self.block.read16(Self::desc(slot) + 14), wrap)
    }

    /// ENABLE (no EVENT_IDX on packed rings, so no DESC); full fence (rule
    /// 4 of `virtq`); then whether the next slot already holds a completion.
    fn arm_interrupt(&mut self) -> bool {
        self.block.write16(self.layout.driver + 2, RING_EVENT_FLAGS_ENABLE);
        fence(Ordering::SeqCst);
        Self::is_used(self.block.read16(Self::desc(self.next_used) + 14), self.used_wrap)
    }

    fn disarm_interrupt(&mut self) {
        self.block.write16(self.layout.driver + 2, RING_EVENT_FLAGS_DISABLE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_follows_the_spec_sizes_and_alignments() {
        let l = Layout::of(256);
        assert_eq!(l.driver, 4096, "the descriptor ring is 16 B per entry");
        assert!(l.driver.is_multiple_of(4) && l.device.is_multiple_of(4) && l.device >= l.driver + 4);
        assert_eq!(l.bytes, l.device + 64);
        let l = Layout::of(1);
        assert_eq!((l.driver, l.device, l.bytes), (64, 128, 192));
    }

    #[test]
    fn a_used_descriptor_is_recognised_only_in_its_lap() {
        let both = DESC_F_AVAIL | DESC_F_USED;
        assert!(PackedRing::is_used(both, true) && !PackedRing::is_used(both, false));
        assert!(PackedRing::is_used(0, false) && !PackedRing::is_used(0, true));
        // Available (the bits differ), either lap: not used.
        for wrap in [true, false] {
            assert!(!PackedRing::is_used(DESC_F_AVAIL, wrap) && !PackedRing::is_used(DESC_F_USED, wrap));
        }
    }
}
