//! Receive checksum offload (VIRTIO_NET_F_GUEST_CSUM): what a received
//! `virtio_net_hdr` says about a frame's TCP/UDP checksum, turned into the
//! framework's per-mbuf flags.
//!
//! # What the device may say (virtio 1.2 §5.1.6.4)
//!
//! * `flags & DATA_VALID`: the device (or whatever sent the frame through
//!   it) checked the L4 checksum and it is good. The mbuf gets
//!   `RX_L4_CKSUM_GOOD`. virtio says nothing about the IPv4 header
//!   checksum, so the IP flags stay unknown.
//! * `flags & NEEDS_CSUM` with `csum_start` / `csum_offset`: the frame came
//!   from a sender that offloaded its checksum (Linux with tx checksumming
//!   on, behind a tap): the field at `csum_start + csum_offset` holds only
//!   the pseudo-header sum. Such a frame is not valid on a wire. The driver
//!   completes it here, in software (ones'-complement sum of every byte from
//!   `csum_start` to the end, over the whole mbuf chain, folded, complemented
//!   and stored in the field), as Linux's stack and DPDK's virtio PMD do, so
//!   every frame ferrite forwards carries a real checksum; the mbuf is then
//!   marked `RX_L4_CKSUM_GOOD` (the data could not have been corrupted on a
//!   wire: it never was on one).
//!
//! Offsets that do not fit the frame (`csum_start + csum_offset + 2` past
//! its end) are the device's error: the frame is delivered as it is,
//! unmarked, and counted (`rx_csum_bad_offsets`). Nothing allocates.
//!
//! Without GUEST_CSUM negotiated the device completes checksums itself and
//! never sets either flag; the queue does not look at them.

use crate::checksum::{finish_l4, sum_range};
use crate::mem::{Mbuf, OffloadFlags};

/// Byte offsets in the received `virtio_net_hdr_v1`.
const FLAGS: usize = 0;
const CSUM_START: usize = 6;
const CSUM_OFFSET: usize = 8;
/// `flags`: the checksum is partial (only the pseudo-header sum).
const NEEDS_CSUM: u8 = 1;
/// `flags`: the checksum was validated.
const DATA_VALID: u8 = 2;

/// The checksum part of a received header, read before the header is
/// left behind in the headroom.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxCsumHdr {
    flags: u8,
    start: u16,
    offset: u16,
}

impl RxCsumHdr {
    /// Parses the first bytes of a received header (at least 10).
    #[inline(always)]
    pub fn parse(hdr: &[u8]) -> RxCsumHdr {
        let le = |at: usize| u16::from_le_bytes([hdr[at], hdr[at + 1]]);
        RxCsumHdr { flags: hdr[FLAGS], start: le(CSUM_START), offset: le(CSUM_OFFSET) }
    }
}

/// What was done with a frame's checksum, for the queue's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxCsum {
    /// The header said nothing: the frame is unmarked.
    Unknown,
    /// DATA_VALID: marked good.
    Valid,
    /// NEEDS_CSUM: completed in software and marked good.
    Completed,
    /// NEEDS_CSUM with a field outside the frame: left unmarked.
    BadOffsets,
}

/// Applies header `h` to the whole frame `m` (a chain too): completes a
/// partial checksum and sets the flags.
#[inline]
pub fn apply(m: &mut Mbuf, h: RxCsumHdr) -> RxCsum {
    if h.flags & NEEDS_CSUM != 0 {
        return complete(m, h);
    }
    if h.flags & DATA_VALID != 0 {
        m.set_ol_flags(m.ol_flags() | OffloadFlags::RX_L4_CKSUM_GOOD);
        return RxCsum::Valid;
    }
    RxCsum::Unknown
}

/// Finishes a partial checksum: the field already holds the pseudo-header
/// sum, so summing from `csum_start` to the end with the field as it is
/// gives the whole sum. Not inlined: it is the longer path, taken only
/// by frames whose sender offloaded its checksum.
#[inline(never)]
fn complete(m: &mut Mbuf, h: RxCsumHdr) -> RxCsum {
    let (start, field) = (usize::from(h.start), usize::from(h.start) + usize::from(h.offset));
    let len = m.len();
    if field + 2 > len {
        return RxCsum::BadOffsets;
    }
    // The protocol is not known here: finish_l4's 0xffff is right for both.
    let ck = finish_l4(sum_range(m.segments().map(|s| s.data()), start, len));
    store_be16(m, field, ck);
    m.set_ol_flags(m.ol_flags() | OffloadFlags::RX_L4_CKSUM_GOOD);
    RxCsum::Completed
}

/// Writes `v` big-endian at byte `at` of the chain (its two bytes may sit
/// in two segments); `at + 2` is within the frame.
fn store_be16(m: &mut Mbuf, at: usize, v: u16) {
    let bytes = v.to_be_bytes();
    let mut seg_at = 0usize;
    for seg in m.segments_mut() {
        for (i, b) in bytes.iter().enumerate() {
            if let Some(slot) = (at + i).checked_sub(seg_at).and_then(|o| seg.get_mut(o)) {
                *slot = *b;
            }
        }
        seg_at += seg.len();
        if seg_at >= at + 2 {
            break;
        }
    }
}
