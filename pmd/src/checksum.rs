//! The Internet checksum (RFC 1071) and the pseudo-headers TCP and UDP put
//! under it (RFC 768, RFC 793, RFC 8200 section 8.1).
//!
//! Sums are kept in a `u64` accumulator of 16-bit big-endian words and
//! folded at the end, so a checksum over many pieces (headers, segments of
//! a chain, a pseudo-header) is a sum of their sums. The checksum field
//! holds the complement of the folded sum; a receiver summing the covered
//! bytes, field included, gets 0xffff.
//!
//! Two forms of the L4 field exist, as in DPDK:
//! * software checksum: `!fold(pseudo + segment sum)` ([`finish`]);
//! * hardware offload: the folded pseudo-header sum alone, uncomplemented
//!   ([`pseudo_for_offload`], DPDK's `rte_ipv4_phdr_cksum`), which the NIC
//!   adds the segment's bytes to. For TSO the length is left out: the NIC
//!   adds each segment's own.

/// Adds big-endian 16-bit words of `data` to a ones'-complement accumulator
/// (odd length: the last byte is padded with zero).
#[inline]
pub fn sum16(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        acc += (w >> 48) + ((w >> 32) & 0xffff) + ((w >> 16) & 0xffff) + (w & 0xffff);
    }
    let mut rest = chunks.remainder().chunks_exact(2);
    for c in &mut rest {
        acc += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [b] = rest.remainder() {
        acc += (*b as u64) << 8;
    }
    acc
}

/// Folds an accumulator to 16 bits (end-around carry).
#[inline]
pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Adds `data` to a ones'-complement accumulator when it starts at byte
/// `offset` of the summed range: at an odd offset its bytes sit in the
/// other halves of the 16-bit words, and in ones' complement that is the
/// byte-swapped sum (RFC 1071, 2.(B)).
#[inline]
pub fn sum_at(data: &[u8], offset: usize, acc: u64) -> u64 {
    if offset.is_multiple_of(2) {
        sum16(data, acc)
    } else {
        acc + fold(sum16(data, 0)).swap_bytes() as u64
    }
}

/// Ones'-complement sum of bytes `from..to` of a frame spread over
/// `segments` (first to last), as [`sum16`] would give over the same bytes
/// in one piece. Bytes past the frame's end are not there to sum.
pub fn sum_range<'a>(segments: impl Iterator<Item = &'a [u8]>, from: usize, to: usize) -> u64 {
    let (mut acc, mut at) = (0u64, 0usize);
    for seg in segments {
        let (start, end) = (at.max(from), (at + seg.len()).min(to));
        if start < end {
            acc = sum_at(&seg[start - at..end - at], start - from, acc);
        }
        at += seg.len();
        if at >= to {
            break;
        }
    }
    acc
}

/// The checksum to store for an accumulated sum: its folded complement.
#[inline]
pub fn finish(acc: u64) -> u16 {
    !fold(acc)
}

/// [`finish`] for a transport checksum (TCP, UDP): a computed 0 is stored
/// as 0xffff, its other ones'-complement form, because 0 in a UDP checksum
/// means "none" (and an IPv6 receiver drops such a datagram). Valid for
/// TCP too, so a caller that does not know the protocol may use it.
#[inline]
pub fn finish_l4(acc: u64) -> u16 {
    match finish(acc) {
        0 => 0xffff,
        ck => ck,
    }
}

/// The IPv4 header checksum of `hdr` (the whole header, options included),
/// computed as if its checksum field (bytes 10..12) were zero.
#[inline]
pub fn ipv4_header(hdr: &[u8]) -> u16 {
    let field = match hdr.get(10..12) {
        Some(f) => u16::from_be_bytes([f[0], f[1]]) as u64,
        None => 0,
    };
    // Subtracting the field from the sum is adding its complement.
    finish(sum16(hdr, 0xffff - field))
}

/// The IPv4 pseudo-header's sum: addresses (from the header), protocol and
/// the L4 length.
#[inline]
pub fn ipv4_pseudo(ip: &[u8], proto: u8, l4_len: usize) -> u64 {
    sum16(&ip[12..20], 0) + u64::from(proto) + l4_len as u64
}

/// The IPv6 pseudo-header's sum: addresses (from the fixed header), the
/// upper-layer length as 32 bits, and the final next-header value.
#[inline]
pub fn ipv6_pseudo(ip: &[u8], proto: u8, l4_len: usize) -> u64 {
    let len = l4_len as u64;
    sum16(&ip[8..40], 0) + (len >> 16) + (len & 0xffff) + u64::from(proto)
}

/// What the L4 checksum field holds for a NIC that completes it: the
/// folded pseudo-header sum, not complemented (`pseudo` computed with
/// length 0 for TSO).
#[inline]
pub fn pseudo_for_offload(pseudo: u64) -> u16 {
    fold(pseudo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transport_checksum_of_zero_is_stored_as_0xffff() {
        // Words summing to 0xffff: the complement is 0, which UDP reads as
        // "no checksum".
        let acc = sum16(&[0x12, 0x34, 0xed, 0xcb], 0);
        assert_eq!((fold(acc), finish(acc)), (0xffff, 0));
        assert_eq!(finish_l4(acc), 0xffff);
        let other = sum16(&[0x12, 0x34], 0);
        assert_eq!(finish_l4(other), finish(other));
    }

    /// RFC 1071 the slow way: 16-bit words added with end-around carry,
    /// one at a time.
    fn naive(bytes: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for w in bytes.chunks(2) {
            s += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    #[test]
    fn the_rfc_1071_example_sums_as_printed() {
        // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
        let b = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum16(&b, 0)), 0xddf2);
        assert_eq!(finish(sum16(&b, 0)), !0xddf2);
    }

    #[test]
    fn a_known_ipv4_header_gets_its_published_checksum() {
        // The header from Wikipedia's "IPv4 header checksum" example: b861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
            0x00, 0xc7,
        ];
        assert_eq!(ipv4_header(&h), 0xb861);
        h[10] = 0x12;
        h[11] = 0x34;
        assert_eq!(ipv4_header(&h), 0xb861, "whatever the field held");
    }

    #[test]
    fn a_range_over_segments_sums_as_one_piece() {
        let whole: Vec<u8> = (0..301u32).map(|i| (i * 37 + 11) as u8).collect();
        for cuts in [vec![1, 2, 3], vec![150], vec![7, 7, 100, 101], vec![300]] {
            let mut segs = Vec::new();
            let mut at = 0;
            for c in cuts.iter().copied().chain([whole.len()]) {
                segs.push(&whole[at..c]);
                at = c;
            }
            for (from, to) in [(0, 301), (3, 298), (1, 2), (151, 300), (40, 40)] {
                let got = fold(sum_range(segs.iter().copied(), from, to));
                assert_eq!(got, naive(&whole[from..to]), "cuts {cuts:?} range {from}..{to}");
            }
        }
    }
}
