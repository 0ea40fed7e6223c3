//! Hand-built frames for the offload engines' tests, and checks written
//! independently of the code under test: the Internet checksum summed a
//! byte pair at a time over an explicit pseudo-header, CRC-32C a bit at a
//! time.
//!
//! Builders leave every checksum field as they are told (zero, or any
//! value), so a test decides what the engine is given.

use ferrite_pmd::{Mbuf, Mempool};

/// An Ethernet header: `dst`, `src`, then each `(tpid, tci)` tag, then
/// `ethertype`.
pub fn eth(dst: [u8; 6], src: [u8; 6], tags: &[(u16, u16)], ethertype: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    for (tpid, tci) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// An IPv4 header (no options, TTL 64, DF) carrying `payload`, its
/// checksum field set to `cksum`.
pub fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], cksum: u16, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, proto];
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&cksum.to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(payload);
    h
}

/// An IPv6 header carrying `payload` (next header `next`).
pub fn ipv6(next: u8, src: [u8; 16], dst: [u8; 16], payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(payload);
    h
}

/// A TCP segment (no options) with checksum field `cksum`.
pub fn tcp(sport: u16, dport: u16, cksum: u16, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff]);
    t.extend_from_slice(&cksum.to_be_bytes());
    t.extend_from_slice(&[0, 0]);
    t.extend_from_slice(payload);
    t
}

/// A UDP datagram with checksum field `cksum`.
pub fn udp(sport: u16, dport: u16, cksum: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&cksum.to_be_bytes());
    u.extend_from_slice(payload);
    u
}

/// An SCTP common header (verification tag 1) and `payload`, with the
/// checksum field set to `cksum`'s bytes as given.
pub fn sctp(sport: u16, dport: u16, cksum: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&[0, 0, 0, 1]);
    s.extend_from_slice(&cksum);
    s.extend_from_slice(payload);
    s
}

/// An ICMP echo request with a correct checksum.
pub fn icmp_echo_request(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(payload);
    let ck = !rfc1071(&m);
    m[2..4].copy_from_slice(&ck.to_be_bytes());
    m
}

/// An ARP request (Ethernet/IPv4): who has `tip`, tell `sip` at `sha`.
pub fn arp_request(sha: [u8; 6], sip: [u8; 4], tip: [u8; 4]) -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1];
    a.extend_from_slice(&sha);
    a.extend_from_slice(&sip);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&tip);
    a
}

/// The Internet checksum's folded sum of `bytes`, a byte pair at a time
/// (RFC 1071 section 1, with the carries added once at the end).
pub fn rfc1071(bytes: &[u8]) -> u16 {
    let mut s: u64 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let hi = u64::from(bytes[i]) << 8;
        let lo = bytes.get(i + 1).map_or(0, |&b| u64::from(b));
        s += hi | lo;
        i += 2;
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Whether the IPv4 header at `off` (its IHL's length) sums to all ones.
pub fn ipv4_header_ok(f: &[u8], off: usize) -> bool {
    let len = usize::from(f[off] & 0x0f) * 4;
    rfc1071(&f[off..off + len]) == 0xffff
}

/// The sum of a TCP/UDP segment at `l4_off..l4_end` under the pseudo-header
/// of the IP header at `ip_off` (IPv4 or IPv6 by its version nibble); a
/// correct checksum makes it 0xffff.
pub fn l4_sum(f: &[u8], ip_off: usize, proto: u8, l4_off: usize, l4_end: usize) -> u16 {
    let len = l4_end - l4_off;
    let mut p = Vec::new();
    if f[ip_off] >> 4 == 4 {
        p.extend_from_slice(&f[ip_off + 12..ip_off + 20]);
        p.extend_from_slice(&[0, proto]);
        p.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        p.extend_from_slice(&f[ip_off + 8..ip_off + 40]);
        p.extend_from_slice(&(len as u32).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, proto]);
    }
    p.extend_from_slice(&f[l4_off..l4_end]);
    rfc1071(&p)
}

/// CRC-32C (Castagnoli) a bit at a time.
pub fn crc32c_bitwise(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 { (c >> 1) ^ 0x82f6_3b78 } else { c >> 1 };
        }
    }
    !c
}

/// Whether the SCTP packet `s` carries its correct CRC-32C (stored least
/// significant byte first, as RFC 9260's sample code writes it).
pub fn sctp_ok(s: &[u8]) -> bool {
    let mut z = s.to_vec();
    z[8..12].fill(0);
    s[8..12] == crc32c_bitwise(&z).to_le_bytes()
}

/// `bytes` in an mbuf of `pool`, as one segment, or as a chain cut at
/// `cuts` (offsets into `bytes`, ascending).
pub fn mbuf(pool: &Mempool, bytes: &[u8], cuts: &[usize]) -> Mbuf {
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(bytes.len());
    let mut head: Option<Mbuf> = None;
    for w in bounds.windows(2) {
        let mut m = pool.alloc().expect("a test pool with room");
        assert!(m.set_len(w[1] - w[0]));
        m.data_mut().copy_from_slice(&bytes[w[0]..w[1]]);
        match head.as_mut() {
            None => head = Some(m),
            Some(h) => assert!(h.chain(m).is_ok()),
        }
    }
    head.expect("at least one segment")
}

/// All of `m`'s bytes, across segments.
pub fn bytes(m: &Mbuf) -> Vec<u8> {
    let mut out = vec![0u8; m.len()];
    assert_eq!(m.read(0, &mut out), m.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkers_agree_with_published_values() {
        assert_eq!(rfc1071(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0xddf2);
        assert_eq!(crc32c_bitwise(b"123456789"), 0xe306_9283);
        let wikipedia = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
            0x00, 0xc7,
        ];
        assert!(ipv4_header_ok(&wikipedia, 0), "a published header with its checksum");
        let mut bad = wikipedia;
        bad[11] ^= 1;
        assert!(!ipv4_header_ok(&bad, 0));
    }
}
