//! Virtqueues: the rings a virtio driver and device share, in either of
//! the spec's two layouts.
//!
//! * [`split`] (virtio 1.0, §2.7): a descriptor table the driver writes,
//!   an available ring of chain heads (driver to device) and a used ring of
//!   completions (device to driver), each side with its own 16-bit index;
//! * [`packed`] (VIRTIO_F_RING_PACKED, §2.8): one ring of descriptors that
//!   both sides write in turn, told apart by wrap-counter flag bits, plus
//!   two 4-byte event suppression structures.
//!
//! The receive and transmit queues are generic over [`Virtqueue`], the few
//! operations they need of a ring. The port picks the layout once, at open
//! (packed when negotiated, see [`super::DeviceArgs`] to decline it), and
//! boxes a queue of that type: a burst makes direct, inlined ring calls,
//! with no match or dynamic dispatch per packet.
//!
//! [`QueueArena`] allocates the DMA memory of every queue of a port in one
//! region, as igb's `RingArena` does for descriptor rings, plus a small
//! block holding a zeroed `virtio_net_hdr` (the device only reads it) that
//! transmit uses for frames with no headroom to prepend one. Each ring
//! computes its own layout from its size ([`Virtqueue::bytes`] and
//! [`Virtqueue::new`] agree by construction), so no caller can hand a ring
//! offsets that lie outside its block.
//!
//! # Notifications in poll mode
//!
//! Two directions, and this driver wants neither interrupts nor more
//! doorbells than needed:
//!
//! * **used-buffer notifications** (device to driver: interrupts). A poller
//!   never wants them. Without VIRTIO_F_EVENT_IDX that is one flag, set at
//!   setup (split: VIRTQ_AVAIL_F_NO_INTERRUPT; packed: driver event
//!   suppression DISABLE). With EVENT_IDX a split ring's flag must be 0 and
//!   the device notifies when its used index passes `used_event`; the
//!   driver keeps `used_event` one behind what it has consumed, an index
//!   the device could only reach after 65,535 completions the driver has
//!   not seen, which a ring of at most 32,768 entries cannot hold, so it
//!   never matches. A packed ring keeps DISABLE either way.
//! * **available-buffer notifications** (driver to device: doorbells, a
//!   trap into the hypervisor on QEMU). Without EVENT_IDX the device sets
//!   a flag while it does not need them (split VIRTQ_USED_F_NO_NOTIFY,
//!   packed DISABLE), which saves every kick while the device is busy with
//!   the queue. With EVENT_IDX (split rings only: QEMU's packed ring lets
//!   its event offset go stale, see `packed`) the device names the index
//!   it will next look at (`avail_event`) and the driver kicks only when
//!   a publish covers it ([`need_event`]): a device that is idle but has
//!   been told once about an entry it has not reached yet gets no second
//!   doorbell. The flags remain for devices that offer no EVENT_IDX and
//!   for packed rings. One exception, for a device that
//!   stops asking and never asks again: the link thread's doorbell when
//!   the link comes back (see `link`).
//!
//! # Notifications in interrupt mode
//!
//! A receive queue with an MSI-X vector can sleep (`--rx-mode adaptive`,
//! NAPI's pattern): [`Virtqueue::arm_interrupt`] lifts the used-buffer
//! suppression, as narrowly as the layout allows (virtio 1.2 §2.7.10,
//! §2.8.10):
//!
//! * split, no EVENT_IDX: `avail.flags` 0 (the device then notifies after
//!   every batch of completions until disarmed);
//! * split, EVENT_IDX: `used_event` = the next used index the driver will
//!   consume, so the device notifies once, when it writes that entry;
//! * packed (never with EVENT_IDX, see `packed`): driver event suppression
//!   ENABLE (notified after every batch of completions until disarmed).
//!
//! **Rule 4 (arm, then re-check):** the suppression store must be visible
//! to the device before the driver reads the ring for completions that
//! came meanwhile: a store followed by a load, so a full (`SeqCst`) fence
//! sits between them. The device does the mirror image (writes its used
//! index or flags, full barrier, reads the suppression: QEMU's
//! `virtio_should_notify`). With both fences, at least one side sees the
//! other's write: either the device sees the request and notifies, or the
//! driver sees the completion and wakes itself (the queue writes its own
//! eventfd). Without the fence both could read stale values, the device
//! skip the notification and the driver go to sleep on a frame: a lost
//! wake-up. [`Virtqueue::disarm_interrupt`] needs no fence: a notification
//! that races with it only wakes a poller that is awake anyway (the queue
//! drains its eventfd).

mod block;
pub mod packed;
pub mod split;

use std::marker::PhantomData;
use std::sync::Arc;

use ferrite_hugepages::{DmaOptions, DmaRegion};

use super::ctrl::CTRL_BLOCK_BYTES;
use super::regs::NET_HDR_LEN;
use super::transport::QueueAddrs;
use crate::port::PortError;

/// Descriptor flag, both layouts: the buffer continues in another
/// descriptor (split: the one named by `next`; packed: the next slot).
pub const DESC_F_NEXT: u16 = 1;
/// Descriptor flag, both layouts: the device writes this buffer (receive).
pub const DESC_F_WRITE: u16 = 2;

/// Largest queue either layout allows (split: the largest power of two an
/// index can tell full from empty; packed: 2^15 slots).
pub const MAX_QUEUE_SIZE: u16 = 32768;

/// What the receive and transmit queues do with a ring. Calls follow a
/// burst's order: [`add_chain`](Virtqueue::add_chain) per buffer then one
/// [`publish`](Virtqueue::publish); [`poll_used`](Virtqueue::poll_used)
/// then [`peek_used`](Virtqueue::peek_used) /
/// [`pop_used`](Virtqueue::pop_used) until `peek_used` says `None`.
pub trait Virtqueue: Send + Sized + 'static {
    /// "split" or "packed", for messages.
    const KIND: &'static str;

    /// Bytes the block of an `n`-entry ring takes (a multiple of 64).
    fn bytes(n: u16) -> usize;

    /// An `n`-entry ring (a power of two, at most [`MAX_QUEUE_SIZE`]) in
    /// the block at `offset` of `mem` (64-byte aligned, [`bytes`] long),
    /// zeroed and set up for polling; `event_idx` says whether
    /// VIRTIO_F_EVENT_IDX was negotiated. Panics if the block does not fit
    /// the region. The caller gives each ring a block of its own: two rings
    /// over one block would race.
    ///
    /// [`bytes`]: Virtqueue::bytes
    fn new(mem: Arc<DmaRegion>, offset: usize, n: u16, event_idx: bool) -> Self;

    /// Entries (descriptors) in the ring.
    fn size(&self) -> u16;

    /// The three addresses the device is told at queue setup.
    fn addrs(&self) -> QueueAddrs;

    /// The DMA region the ring lives in (kept alive when a queue must
    /// abandon its memory to a device that never confirmed its reset).
    fn region(&self) -> &Arc<DmaRegion>;

    /// Adds a chain of buffers `bufs` (address, length) as buffer `head`,
    /// with descriptor `flags` (0 or [`DESC_F_WRITE`]) on every element.
    /// A split ring writes descriptor `head` first and follows `links`
    /// (`links[id]` is the id after `id`) for the others; a packed ring
    /// uses the next free slots in order and ignores `links`. The caller
    /// checked that there are as many free descriptors as `bufs` yields.
    #[inline(always)]
    fn add_chain(&mut self, head: u16, links: &[u16], flags: u16, bufs: impl Iterator<Item = (u64, u32)>) {
        self.add_flagged_chain(head, links, bufs.map(move |(addr, len)| (addr, len, flags)));
    }

    /// As [`add_chain`](Virtqueue::add_chain), each buffer with its own
    /// descriptor flags (a control command: the device reads the header
    /// and data, and writes the ack into the last, [`DESC_F_WRITE`] one).
    fn add_flagged_chain(&mut self, head: u16, links: &[u16], bufs: impl Iterator<Item = (u64, u32, u16)>);

    /// Adds one single-descriptor buffer (a receive buffer).
    #[inline(always)]
    fn add_one(&mut self, id: u16, addr: u64, len: u32, flags: u16) {
        self.add_chain(id, &[], flags, std::iter::once((addr, len)));
    }

    /// Makes everything added since the last call visible to the device,
    /// and says whether the device asked for a doorbell for it.
    fn publish(&mut self) -> bool;

    /// Starts a pass over the completions: at most `size()` of them will be
    /// offered until the next call, whatever the device claims.
    fn poll_used(&mut self);

    /// The next completion, if there is one: (buffer id, bytes written).
    /// The id is the device's word and unchecked.
    fn peek_used(&self) -> Option<(u32, u32)>;

    /// Consumes the completion `peek_used` showed, whose chain had `ndesc`
    /// descriptors (a packed ring skips that many slots; an id the driver
    /// does not know counts as one).
    fn pop_used(&mut self, ndesc: u16);

    /// Right after [`poll_used`](Virtqueue::poll_used): whether all
    /// `outstanding` single-descriptor buffers are used (the device has
    /// run out of them). False for 0.
    fn all_used(&self, outstanding: u16) -> bool;

    /// Asks the device for a used-buffer notification at the next
    /// completion the driver has not consumed, then (after a full fence,
    /// rule 4 in the module docs) says whether such a completion is
    /// already there, in which case the device may have missed the request
    /// and the caller must wake itself.
    fn arm_interrupt(&mut self) -> bool;

    /// Back to the poll-mode suppression the ring was set up with: no
    /// used-buffer notifications.
    fn disarm_interrupt(&mut self);
}

/// The spec's event-index test (§2.7.7 and §2.7.10, Linux's
/// `vring_need_event`):
/// whether index `event` is among those a publish moved past, `old`
/// (inclusive) to `new` (exclusive), all 16-bit and wrapping.
#[inline(always)]
pub fn need_event(event: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
}

/// DMA memory for a port's virtqueues of layout `R`, handed out in order.
pub struct QueueArena<R: Virtqueue> {
    mem: Arc<DmaRegion>,
    /// Each queue's block offset and size.
    queues: Vec<(usize, u16)>,
    event_idx: bool,
    next: usize,
    /// Offset of the shared zero header.
    zero_hdr: usize,
    layout: PhantomData<fn() -> R>,
}

/// Bytes reserved for the zero header (a cache line of its own).
const ZERO_HDR_BYTES: usize = 64;
/// Where the control queue's command block starts (after the zero header).
const CTRL_BLOCK_AT: usize = ZERO_HDR_BYTES;

impl<R: Virtqueue> QueueArena<R> {
    /// Room for queues of the given sizes (taken in that order) and the
    /// zero header. No queue straddles a page boundary (pages need not be
    /// physically contiguous in PA mode).
    pub fn new(sizes: &[u16], event_idx: bool, dma: &DmaOptions) -> Result<QueueArena<R>, PortError> {
        let page = dma.page_size.bytes();
        let mut queues = Vec::with_capacity(sizes.len());
        let mut at = CTRL_BLOCK_AT + CTRL_BLOCK_BYTES;
        for &n in sizes {
            let bytes = R::bytes(n);
            if bytes > page {
                return Err(PortError::InvalidConfig(format!(
                    "a {n}-entry {} virtqueue takes {bytes} bytes, more than one {page}-byte page",
                    R::KIND
                )));
            }
            at = at.next_multiple_of(64);
            if at / page != (at + bytes - 1) / page {
                at = at.next_multiple_of(page);
            }
            queues.push((at, n));
            at += bytes;
        }
        let mem = Arc::new(DmaRegion::allocate(at, dma)?);
        // SAFETY: the first bytes of the fresh region are ours; nobody else
        // has its address yet.
        unsafe { std::ptr::write_bytes(mem.as_ptr(), 0, ZERO_HDR_BYTES) };
        Ok(QueueArena { mem, queues, event_idx, next: 0, zero_hdr: 0, layout: PhantomData })
    }

    /// The next queue (of the size given at that position to `new`).
    pub fn take(&mut self) -> R {
        let (offset, n) = self.queues[self.next];
        self.next += 1;
        R::new(Arc::clone(&self.mem), offset, n, self.event_idx)
    }

    /// Offset, in every ring's region, of the block the control queue
    /// writes its commands into ([`CTRL_BLOCK_BYTES`], nobody else's).
    pub fn ctrl_block(&self) -> usize {
        CTRL_BLOCK_AT
    }

    /// IOVA of a zeroed `virtio_net_hdr_v1` ([`NET_HDR_LEN`] bytes) that
    /// the device only ever reads.
    pub fn zero_hdr_iova(&self) -> u64 {
        const _: () = assert!(NET_HDR_LEN <= ZERO_HDR_BYTES);
        self.mem.iova(self.zero_hdr)
    }
}

#[cfg(test)]
mod tests {
    use super::need_event;

    #[test]
    fn need_event_covers_exactly_old_to_new_across_the_wrap() {
        // Published 10..15: an event at 10..=14 is covered, 9 and 15 not.
        assert!((10..15).all(|e| need_event(e, 15, 10)));
        assert!(!need_event(9, 15, 10) && !need_event(15, 15, 10));
        // Across the 16-bit wrap: 65534, 65535, 0, 1 published.
        for e in [65534, 65535, 0, 1] {
            assert!(need_event(e, 2, 65534), "{e}");
        }
        assert!(!need_event(2, 2, 65534) && !need_event(65533, 2, 65534));
        // Nothing published: never.
        assert!(!need_event(7, 7, 7));
    }
}
