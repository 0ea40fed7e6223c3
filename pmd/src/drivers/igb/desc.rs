//! Advanced receive and transmit descriptors (82576 datasheet §7.1.5 and
//! §7.2.2.3) and the DMA rings that hold them.
//!
//! A descriptor is 16 bytes shared with the device, so it is never touched
//! through a Rust reference: every access is a volatile read or write of one
//! little-endian word at a fixed offset. The ordering rules are those of
//! any DMA ring:
//!
//! * software fills descriptors, then issues a release fence, then writes
//!   the tail register (the doorbell), so the device never fetches a
//!   half-written descriptor;
//! * software reads the status word first, and only if its DD ("descriptor
//!   done") bit is set issues an acquire fence and reads the rest, so it
//!   never sees a length from before the device's write-back.
//!
//! ```text
//! RX read format (driver -> device)      RX write-back (device -> driver)
//!  0: packet buffer address (u64)         0: pkt_info u16 | hdr_info u16
//!                                         4: RSS hash / IP id + csum (u32)
//!  8: header buffer address (u64) = 0     8: extended status | errors (u32)
//!     (its bit 0 overlays DD)            12: length (u16)  14: VLAN (u16)
//!
//! TX data descriptor (driver -> device)  TX write-back (device -> driver)
//!  0: buffer address (u64)                0: reserved
//!  8: DTALEN 15:0 | DTYP 23:20 | DCMD     8: reserved
//! 12: olinfo: PAYLEN 31:14 | POPTS 13:8  12: status (u32), DD = bit 0
//!     | IDX 6:4
//!
//! TX context descriptor (driver -> device; never written back)
//!  0: IPLEN 8:0 | MACLEN 15:9 | VLAN 31:16
//!  4: reserved (IPsec/timing, 0)
//!  8: TUCMD 19:9 | DTYP 23:20 = 0010 | DEXT
//! 12: IDX 6:4 | L4LEN 15:8 | MSS 31:16
//! ```

#![allow(dead_code)]

use std::ptr::NonNull;
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

use ferrite_hugepages::{DmaOptions, DmaRegion};

use crate::mem::{Mbuf, MbufHeader};
use crate::port::PortError;

/// Bytes per descriptor (both directions, advanced format).
pub const DESC_SIZE: usize = 16;
/// Ring base and length alignment the 82576 requires.
pub const RING_ALIGN_BYTES: usize = 128;

// RX write-back status bits (extended status, §7.1.5.2).
/// Descriptor done: the device wrote this descriptor back.
pub const RXD_STAT_DD: u32 = 1 << 0;
/// End of packet: last descriptor of a frame.
pub const RXD_STAT_EOP: u32 = 1 << 1;
/// The frame carried a VLAN tag (stripped into the VLAN field if enabled).
pub const RXD_STAT_VP: u32 = 1 << 3;
/// UDP checksum was calculated.
pub const RXD_STAT_UDPCS: u32 = 1 << 4;
/// TCP/UDP (L4) checksum was calculated.
pub const RXD_STAT_L4CS: u32 = 1 << 5;
/// IPv4 header checksum was calculated.
pub const RXD_STAT_IPCS: u32 = 1 << 6;
// RX write-back error bits (upper byte of the same word).
/// CRC or alignment error.
pub const RXD_ERR_CE: u32 = 1 << 24;
/// Symbol error.
pub const RXD_ERR_SE: u32 = 1 << 25;
/// Sequence error.
pub const RXD_ERR_SEQ: u32 = 1 << 26;
/// Carrier extension error.
pub const RXD_ERR_CXE: u32 = 1 << 28;
/// TCP/UDP checksum error.
pub const RXD_ERR_TCPE: u32 = 1 << 29;
/// IPv4 header checksum error.
pub const RXD_ERR_IPE: u32 = 1 << 30;
/// RX data error.
pub const RXD_ERR_RXE: u32 = 1 << 31;
/// Errors that make the frame itself unusable (checksum errors do not: the
/// frame is delivered with a flag, like every PMD does).
pub const RXD_ERR_FRAME: u32 = RXD_ERR_CE | RXD_ERR_SE | RXD_ERR_SEQ | RXD_ERR_CXE | RXD_ERR_RXE;

// TX data descriptor command/type bits (cmd_type_len, §7.2.2.3).
/// Descriptor type: advanced data.
pub const TXD_DTYP_DATA: u32 = 0b0011 << 20;
/// End of packet.
pub const TXD_CMD_EOP: u32 = 1 << 24;
/// Insert the Ethernet CRC.
pub const TXD_CMD_IFCS: u32 = 1 << 25;
/// Report status: write DD back when done.
pub const TXD_CMD_RS: u32 = 1 << 27;
/// Descriptor extension: advanced format.
pub const TXD_CMD_DEXT: u32 = 1 << 29;
/// Largest DTALEN (buffer length field is 16 bits).
pub const TXD_MAX_LEN: u32 = 0xFFFF;
/// olinfo_status: PAYLEN field shift.
pub const TXD_PAYLEN_SHIFT: u32 = 14;
/// TX write-back status: descriptor done.
pub const TXD_STAT_DD: u32 = 1 << 0;

// TX offloads: data descriptor bits and the advanced context descriptor
// (82576 datasheet §7.2.2, advanced transmit descriptors; Linux igb's
// `igb_tx_ctxtdesc`). Bits 3:0 of
// the context's last word are reserved, so a context slot never reads as
// DD (the queue only looks at DD on EOP slots anyway).
/// DCMD.VLE: insert the context's VLAN field as an 802.1Q tag (read from a
/// frame's first data descriptor).
pub const TXD_CMD_VLE: u32 = 1 << 30;
/// DCMD.TSE: TCP segmentation for this frame (on each of its data descriptors).
pub const TXD_CMD_TSE: u32 = 1 << 31;
/// olinfo POPTS.IXSM: insert the IPv4 header checksum.
pub const TXD_POPTS_IXSM: u32 = 1 << 8;
/// olinfo POPTS.TXSM: insert the L4 (TCP/UDP/SCTP) checksum.
pub const TXD_POPTS_TXSM: u32 = 1 << 9;
/// Context slot index, in a data descriptor's olinfo and in a context
/// descriptor's last word (3 bits; the 82576 has two slots per queue).
pub const TXD_IDX_SHIFT: u32 = 4;
/// Largest PAYLEN (18 bits).
pub const TXD_MAX_PAYLEN: u32 = (1 << 18) - 1;
/// Descriptor type: advanced context.
pub const TXCTX_DTYP: u32 = 0b0010 << 20;
/// Context word 0: IP header length, bits 8:0.
pub const TXCTX_IPLEN_MAX: u32 = 0x1FF;
/// Context word 0: MAC header length, bits 15:9 (tags in memory included,
/// the inserted one not).
pub const TXCTX_MACLEN_SHIFT: u32 = 9;
/// Largest MACLEN (7 bits).
pub const TXCTX_MACLEN_MAX: u32 = 0x7F;
/// Context word 0: VLAN tag to insert, bits 31:16.
pub const TXCTX_VLAN_SHIFT: u32 = 16;
/// TUCMD.IPV4: the frame is IPv4 (clear: IPv6).
pub const TXCTX_TUCMD_IPV4: u32 = 1 << 10;
/// TUCMD.L4T = UDP (00b).
pub const TXCTX_TUCMD_L4T_UDP: u32 = 0;
/// TUCMD.L4T = TCP (01b).
pub const TXCTX_TUCMD_L4T_TCP: u32 = 1 << 11;
/// TUCMD.L4T = SCTP (10b).
pub const TXCTX_TUCMD_L4T_SCTP: u32 = 1 << 12;
/// Context word 3: L4 (TCP) header length for TSO, bits 15:8.
pub const TXCTX_L4LEN_SHIFT: u32 = 8;
/// Context word 3: MSS for TSO, bits 31:16.
pub const TXCTX_MSS_SHIFT: u32 = 16;

/// A ring of `count` 16-byte descriptors inside DMA memory shared by all
/// rings of one port (one huge page serves 32 rings of 4096).
pub struct DescRing {
    /// Keeps the memory alive (and IOMMU-mapped) while this ring exists.
    mem: Arc<DmaRegion>,
    base: *mut u8,
    iova: u64,
    count: u16,
}

// SAFETY: the ring is plain DMA memory owned (through `mem`) by this value;
// it is only accessed through the queue that owns the ring.
unsafe impl Send for DescRing {}

/// For a queue the device would not confirm stopped: it may still read the
/// ring and write into the buffers parked there, so none of that memory may
/// go back to anyone. The parked mbufs are forgotten, not freed (a pool with
/// buffers out outlives its last handle, see `Mempool`), and the ring's
/// memory stays allocated and mapped for the rest of the process. Returns
/// how many buffers were left to the device (every segment of a parked
/// chain counts: each is a buffer the pool never sees again).
#[cold]
pub fn abandon_to_device(ring: &DescRing, bufs: &mut [Option<NonNull<MbufHeader>>]) -> u64 {
    std::mem::forget(Arc::clone(&ring.mem));
    // SAFETY: the driver parks in `bufs` only mbufs it gave up with
    // `into_raw`, one slot each.
    unsafe { Mbuf::leak_parked(bufs) }
}

/// Allocates DMA memory for a set of rings and hands them out in order.
/// No ring straddles a page boundary (pages are not physically contiguous
/// in PA mode).
pub struct RingArena {
    mem: Arc<DmaRegion>,
    offsets: Vec<usize>,
    next: usize,
}

impl RingArena {
    /// Allocates room for rings of the given descriptor counts, to be taken
    /// in the same order.
    pub fn new(counts: &[u16], dma: &DmaOptions) -> Result<RingArena, PortError> {
        let (offsets, total) = layout(counts, dma.page_size.bytes());
        let mem = DmaRegion::allocate(total.max(RING_ALIGN_BYTES), dma)?;
        Ok(RingArena { mem: Arc::new(mem), offsets, next: 0 })
    }

    /// The next ring (of the count given at that position to `new`), zeroed.
    pub fn take(&mut self, count: u16) -> DescRing {
        let offset = self.offsets[self.next];
        self.next += 1;
        assert!(offset + ring_bytes(count) <= self.mem.len(), "ring arena sized for other rings");
        // SAFETY: offset + ring bytes is inside the region (asserted above).
        let base = unsafe { self.mem.as_ptr().add(offset) };
        let ring = DescRing { mem: Arc::clone(&self.mem), base, iova: self.mem.iova(offset), count };
        for i in 0..count {
            ring.zero(i);
        }
        ring
    }
}

fn ring_bytes(count: u16) -> usize {
    (count as usize * DESC_SIZE).next_multiple_of(RING_ALIGN_BYTES)
}

/// Offsets of each ring and the total size, keeping every ring inside one page.
fn layout(counts: &[u16], page: usize) -> (Vec<usize>, usize) {
    let mut offsets = Vec::with_capacity(counts.len());
    let mut at = 0usize;
    for &n in counts {
        let bytes = ring_bytes(n);
        if at / page != (at + bytes - 1) / page {
            at = at.next_multiple_of(page);
        }
        offsets.push(at);
        at += bytes;
    }
    (offsets, at)
}

impl DescRing {
    /// Number of descriptors.
    #[inline(always)]
    pub fn count(&self) -> u16 {
        self.count
    }

    /// IOVA of descriptor 0 (for RDBAL/RDBAH, TDBAL/TDBAH).
    pub fn iova(&self) -> u64 {
        self.iova
    }

    /// Ring length in bytes (for RDLEN/TDLEN).
    pub fn len_bytes(&self) -> u32 {
        (self.count as usize * DESC_SIZE) as u32
    }

    #[inline(always)]
    fn word_ptr<T>(&self, i: u16, offset: usize) -> *mut T {
        debug_assert!(i < self.count);
        // SAFETY: i < count, so the descriptor and every field offset
        // (< 16) lie inside the ring's memory.
        unsafe { self.base.add(i as usize * DESC_SIZE + offset).cast::<T>() }
    }

    #[inline(always)]
    fn write_u64(&self, i: u16, offset: usize, v: u64) {
        // SAFETY: in-bounds (word_ptr), 8-byte aligned (16-byte descriptors
        // in a page-aligned region); the device may read concurrently, which
        // is why this is volatile.
        unsafe { self.word_ptr::<u64>(i, offset).write_volatile(v.to_le()) }
    }

    #[inline(always)]
    fn read_u32(&self, i: u16, offset: usize) -> u32 {
        // SAFETY: in-bounds and 4-byte aligned; volatile because the device
        // writes this memory behind the compiler's back.
        u32::from_le(unsafe { self.word_ptr::<u32>(i, offset).read_volatile() })
    }

    #[inline(always)]
    fn read_u16(&self, i: u16, offset: usize) -> u16 {
        // SAFETY: as in `read_u32`, 2-byte aligned.
        u16::from_le(unsafe { self.word_ptr::<u16>(i, offset).read_volatile() })
    }

    /// Zeroes descriptor `i` (no DD, no buffer).
    pub fn zero(&self, i: u16) {
        self.write_u64(i, 0, 0);
        self.write_u64(i, 8, 0);
    }

    // ----- receive -----

    /// Gives descriptor `i` to the device with a packet buffer at `pkt_iova`.
    /// The header address is zero, which also clears DD (same bits).
    #[inline(always)]
    pub fn rx_arm(&self, i: u16, pkt_iova: u64) {
        self.write_u64(i, 0, pkt_iova);
        self.write_u64(i, 8, 0);
    }

    /// The write-back status/error word; check DD before anything else.
    #[inline(always)]
    pub fn rx_status(&self, i: u16) -> u32 {
        self.read_u32(i, 8)
    }

    /// Orders the reads of a written-back descriptor after its status read.
    #[inline(always)]
    pub fn after_dd() {
        fence(Ordering::Acquire);
    }

    /// Bytes the device wrote into the buffer (valid once DD is seen).
    #[inline(always)]
    pub fn rx_length(&self, i: u16) -> u16 {
        self.read_u16(i, 12)
    }

    /// The VLAN field (valid once DD is seen).
    #[inline(always)]
    pub fn rx_vlan(&self, i: u16) -> u16 {
        self.read_u16(i, 14)
    }

    /// The RSS hash field (valid once DD is seen, with RXCSUM.PCSD).
    #[inline(always)]
    pub fn rx_rss(&self, i: u16) -> u32 {
        self.read_u32(i, 4)
    }

    /// The RSS type the device hashed with (bits 3:0 of the first
    /// write-back word; 0 = no hash).
    #[inline(always)]
    pub fn rx_rss_type(&self, i: u16) -> u32 {
        self.read_u32(i, 0) & 0xF
    }

    /// The whole first write-back word: RSS type (3:0) and packet type
    /// (16:4, e.g. `regs::RXD_PKTTYPE_SCTP`); valid once DD is seen.
    #[inline(always)]
    pub fn rx_pkt_info(&self, i: u16) -> u32 {
        self.read_u32(i, 0)
    }

    // ----- transmit -----

    /// Fills descriptor `i` as an advanced data descriptor for a one-buffer
    /// frame of `len` bytes at `iova`; `rs` asks for a DD write-back.
    #[inline(always)]
    pub fn tx_fill(&self, i: u16, iova: u64, len: u32, rs: bool) {
        let last = if rs { TXD_CMD_EOP | TXD_CMD_RS } else { TXD_CMD_EOP };
        self.tx_fill_seg(i, iova, len, len, last);
    }

    /// Fills descriptor `i` as an advanced data descriptor for one segment
    /// (`len` bytes at `iova`) of a frame of `frame_len` bytes. `last` holds
    /// the bits only a frame's last descriptor carries (EOP, and RS when a
    /// write-back is wanted); 0 for the others. PAYLEN is the whole frame on
    /// every descriptor, as Linux and DPDK write it (the device reads it from
    /// the first).
    #[inline(always)]
    pub fn tx_fill_seg(&self, i: u16, iova: u64, len: u32, frame_len: u32, last: u32) {
        self.tx_fill_data(i, iova, len | last, frame_len << TXD_PAYLEN_SHIFT);
    }

    /// Fills descriptor `i` as an advanced data descriptor: `len_cmd` holds
    /// DTALEN and the DCMD bits beyond DEXT and IFCS (EOP, RS, VLE, TSE),
    /// `olinfo` the PAYLEN, POPTS and context index words.
    #[inline(always)]
    pub fn tx_fill_data(&self, i: u16, iova: u64, len_cmd: u32, olinfo: u32) {
        let cmd = len_cmd | TXD_DTYP_DATA | TXD_CMD_DEXT | TXD_CMD_IFCS;
        self.write_u64(i, 0, iova);
        self.write_u64(i, 8, cmd as u64 | (olinfo as u64) << 32);
    }

    /// Fills descriptor `i` as an advanced context descriptor from its
    /// three meaningful words (VLAN/MACLEN/IPLEN, TUCMD with DTYP and DEXT,
    /// MSS/L4LEN/IDX); the IPsec/launch-time word is 0.
    #[inline(always)]
    pub fn tx_context(&self, i: u16, vlan_macip_lens: u32, type_tucmd: u32, mss_l4len_idx: u32) {
        self.write_u64(i, 0, vlan_macip_lens as u64);
        self.write_u64(i, 8, type_tucmd as u64 | (mss_l4len_idx as u64) << 32);
    }

    /// The write-back status word of a transmit descriptor.
    #[inline(always)]
    pub fn tx_status(&self, i: u16) -> u32 {
        self.read_u32(i, 12)
    }

    /// Makes every descriptor write visible to the device before the
    /// doorbell that follows.
    #[inline(always)]
    pub fn before_doorbell() {
        fence(Ordering::Release);
    }

    /// Raw words of descriptor `i` (tests and debugging).
    pub fn raw(&self, i: u16) -> [u32; 4] {
        [self.read_u32(i, 0), self.read_u32(i, 4), self.read_u32(i, 8), self.read_u32(i, 12)]
    }

    /// Writes raw words into descriptor `i` (tests: play the device).
    #[cfg(test)]
    pub fn write_raw(&self, i: u16, w: [u32; 4]) {
        self.write_u64(i, 0, w[0] as u64 | (w[1] as u64) << 32);
        self.write_u64(i, 8, w[2] as u64 | (w[3] as u64) << 32);
    }
}
