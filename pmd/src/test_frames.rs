//! Test frames and their judges, shared by the drivers' unit tests: IPv4
//! and IPv6 frames with TCP, UDP or SCTP headers, built byte by byte (not
//! with the code under test), the RFC 1071 checksum and pseudo-headers to
//! check what a device would complete, and mbufs (or chains) holding them.

use crate::mem::{Mbuf, Mempool};

pub(crate) const TCP: u8 = 6;
pub(crate) const UDP: u8 = 17;
pub(crate) const SCTP: u8 = 132;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Ip {
    V4,
    V6,
}

/// An Ethernet frame with an IPv4 or IPv6 header (correct lengths, a junk
/// IPv4 checksum), an L4 header of `l4_len` bytes (junk checksum, TCP
/// options as NOPs) and `payload` bytes that differ from one to the next.
pub(crate) fn frame(ip: Ip, proto: u8, l4_len: usize, payload: usize) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    let l4_total = l4_len + payload;
    match ip {
        Ip::V4 => {
            f.extend([0x08, 0x00, 0x45, 0]);
            f.extend(((20 + l4_total) as u16).to_be_bytes());
            f.extend([0x12, 0x34, 0x40, 0, 64, proto, 0xBE, 0xEF, 10, 0, 0, 1, 10, 0, 0, 2]);
        }
        Ip::V6 => {
            f.extend([0x86, 0xDD, 0x60, 0, 0, 0]);
            f.extend((l4_total as u16).to_be_bytes());
            f.extend([proto, 64]);
            f.extend([0x20, 0x01, 0x0d, 0xb8].iter().chain(&[0; 11]).chain(&[1]));
            f.extend([0x20, 0x01, 0x0d, 0xb8].iter().chain(&[0; 11]).chain(&[2]));
        }
    }
    match proto {
        TCP => {
            f.extend([0x04, 0xD2, 0, 80, 0, 0, 0x10, 0, 0, 0, 0, 1, (l4_len as u8 / 4) << 4, 0x18, 0xFF, 0xFF]);
            f.extend([0xDE, 0xAD, 0, 0]);
            f.extend(std::iter::repeat_n(1u8, l4_len - 20));
        }
        UDP => {
            f.extend([0x04, 0xD2, 0, 53]);
            f.extend((l4_total as u16).to_be_bytes());
            f.extend([0xDE, 0xAD]);
        }
        _ => f.extend([0x04, 0xD2, 0, 80, 0, 0, 0, 7, 0xDE, 0xAD, 0xBE, 0xEF]),
    }
    f.extend((0..payload).map(|i| (i * 7 + 3) as u8));
    f
}

/// The ones' complement sum of 16-bit big-endian words, folded, an odd
/// last byte padded with zero (RFC 1071).
pub(crate) fn sum16(bytes: &[u8]) -> u32 {
    let mut sum: u64 = 0;
    for pair in bytes.chunks(2) {
        sum += (pair[0] as u64) << 8 | *pair.get(1).unwrap_or(&0) as u64;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u32
}

/// The Internet checksum of the parts, in order (each but the last of
/// even length).
pub(crate) fn rfc1071(parts: &[&[u8]]) -> u16 {
    !(sum16(&parts.concat()) as u16)
}

/// The pseudo-header of RFC 793/768 (IPv4) or RFC 8200 (IPv6), from the
/// IP header at `ip` and an L4 length.
pub(crate) fn pseudo(ip: &[u8], v: Ip, proto: u8, l4_len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    match v {
        Ip::V4 => {
            p.extend(&ip[12..20]);
            p.extend([0, proto]);
            p.extend((l4_len as u16).to_be_bytes());
        }
        Ip::V6 => {
            p.extend(&ip[8..40]);
            p.extend((l4_len as u32).to_be_bytes());
            p.extend([0, 0, 0, proto]);
        }
    }
    p
}

/// What the device writes into an L4 checksum field: the complement of
/// the sum over the L4 bytes as they are (the seeded field included), plus
/// `add` (TSO adds each segment's L4 length).
pub(crate) fn device_l4(l4: &[u8], add: u16) -> u16 {
    let mut sum = sum16(l4) + add as u32;
    while sum >> 16 != 0 {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// `bytes` in a chain of segments of `lens` (one mbuf if one length).
pub(crate) fn mbuf_of(pool: &Mempool, bytes: &[u8], lens: &[usize]) -> Mbuf {
    assert_eq!(lens.iter().sum::<usize>(), bytes.len());
    let mut head: Option<Mbuf> = None;
    let mut at = 0;
    for &l in lens {
        let mut seg = pool.alloc().unwrap();
        assert!(seg.set_len(l));
        seg.data_mut().copy_from_slice(&bytes[at..at + l]);
        at += l;
        match &mut head {
            None => head = Some(seg),
            Some(h) => h.chain(seg).unwrap(),
        }
    }
    head.unwrap()
}
