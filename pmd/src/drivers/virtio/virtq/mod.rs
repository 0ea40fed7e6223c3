//! Virtqueues: the rings a virtio driver and device share.
//!
//! Only split rings ([`split`]) in this slice; packed rings
//! (VIRTIO_F_RING_PACKED) would be a sibling module behind the same queue
//! code. [`QueueArena`] allocates the DMA memory of every queue of a port
//! in one region, as igb's `RingArena` does for descriptor rings, plus a
//! small block holding a zeroed `virtio_net_hdr` (the device only reads
//! it) that transmit uses for frames with no headroom to prepend one.

pub mod split;

use std::sync::Arc;

use ferrite_hugepages::{DmaOptions, DmaRegion};

use super::regs::NET_HDR_LEN;
use crate::port::PortError;
use split::{Layout, SplitRing};

/// DMA memory for a port's virtqueues, handed out in order.
pub struct QueueArena {
    mem: Arc<DmaRegion>,
    offsets: Vec<usize>,
    layouts: Vec<Layout>,
    next: usize,
    /// Offset of the shared zero header.
    zero_hdr: usize,
}

/// Bytes reserved for the zero header (a cache line of its own).
const ZERO_HDR_BYTES: usize = 64;

impl QueueArena {
    /// Room for split queues of the given sizes (taken in that order) and
    /// the zero header. No queue straddles a page boundary (pages need not
    /// be physically contiguous in PA mode).
    pub fn new(sizes: &[u16], dma: &DmaOptions) -> Result<QueueArena, PortError> {
        let page = dma.page_size.bytes();
        let mut offsets = Vec::with_capacity(sizes.len());
        let mut layouts = Vec::with_capacity(sizes.len());
        let mut at = ZERO_HDR_BYTES;
        for &n in sizes {
            let l = Layout::of(n);
            if l.bytes > page {
                return Err(PortError::InvalidConfig(format!(
                    "a {n}-entry virtqueue takes {} bytes, more than one {page}-byte page",
                    l.bytes
                )));
            }
            at = at.next_multiple_of(64);
            if at / page != (at + l.bytes - 1) / page {
                at = at.next_multiple_of(page);
            }
            offsets.push(at);
            layouts.push(l);
            at += l.bytes;
        }
        let mem = Arc::new(DmaRegion::allocate(at, dma)?);
        // SAFETY: the first bytes of the fresh region are ours; nobody else
        // has its address yet.
        unsafe { std::ptr::write_bytes(mem.as_ptr(), 0, ZERO_HDR_BYTES) };
        Ok(QueueArena { mem, offsets, layouts, next: 0, zero_hdr: 0 })
    }

    /// The next queue (of the size given at that position to `new`).
    pub fn take(&mut self) -> SplitRing {
        let i = self.next;
        self.next += 1;
        SplitRing::new(Arc::clone(&self.mem), self.offsets[i], self.layouts[i].n)
    }

    /// IOVA of a zeroed `virtio_net_hdr_v1` ([`NET_HDR_LEN`] bytes) that
    /// the device only ever reads.
    pub fn zero_hdr_iova(&self) -> u64 {
        const _: () = assert!(NET_HDR_LEN <= ZERO_HDR_BYTES);
        self.mem.iova(self.zero_hdr)
    }
}
