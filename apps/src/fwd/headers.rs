//! Finding a frame's headers: Ethernet with up to two VLAN tags, IPv4 or
//! IPv6 (extension headers skipped), TCP, UDP or SCTP.
//!
//! The engines that edit headers (csum, 5tswap, icmpecho) need them in the
//! first segment of a chain, where they write; the L4 payload may run on
//! into later segments. Every step checks its bounds against the bytes in
//! hand and the lengths the headers claim, and answers `None` when a layer
//! is cut short or does not add up: the caller then leaves that layer (and
//! those above it) alone. Nothing here panics on any input.

// The link-layer constants are the library's (`ferrite_pmd::ether`), so
// the engines and the drivers agree on them.
pub use ferrite_pmd::ether::{
    ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN, ETH_HLEN, MAX_VLAN_TAGS,
};
/// The pre-standard QinQ outer tag some switches still send.
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;

/// ICMP.
pub const PROTO_ICMP: u8 = 1;
/// TCP.
pub const PROTO_TCP: u8 = 6;
/// UDP.
pub const PROTO_UDP: u8 = 17;
/// SCTP.
pub const PROTO_SCTP: u8 = 132;

/// The link layer: where the network header starts and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L2 {
    /// Ethernet header and tags (DPDK's `l2_len`).
    pub len: usize,
    /// The EtherType after the tags.
    pub ethertype: u16,
    /// VLAN tags walked over.
    pub tags: u8,
}

fn be16(f: &[u8], at: usize) -> Option<u16> {
    f.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

fn is_tag(ethertype: u16) -> bool {
    matches!(ethertype, ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD)
}

/// The Ethernet header of `f` (the first segment) and up to
/// [`MAX_VLAN_TAGS`] tags. A third tag is left as the EtherType, which
/// no caller knows: the frame is then "not IP".
pub fn l2(f: &[u8]) -> Option<L2> {
    let mut l = L2 { len: ETH_HLEN, ethertype: be16(f, 12)?, tags: 0 };
    while is_tag(l.ethertype) && (l.tags as usize) < MAX_VLAN_TAGS {
        l.ethertype = be16(f, l.len + 2)?;
        l.len += 4;
        l.tags += 1;
    }
    Some(l)
}

/// IPv4 or IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L3 {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

/// Whether, and which part of, a fragmented datagram this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fragment {
    /// A whole datagram.
    No,
    /// The first fragment: the L4 header is here, its payload is not all.
    First,
    /// A later fragment: no L4 header at all.
    Later,
}

/// The network layer of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ip {
    /// IPv4 or IPv6.
    pub kind: L3,
    /// Offset of the IP header in the frame.
    pub off: usize,
    /// Header bytes: IPv4 with options, IPv6 with extension headers
    /// (DPDK's `l3_len`).
    pub hdr_len: usize,
    /// Offset where the datagram ends, by its length field (Ethernet
    /// padding after it is not part of it).
    pub end: usize,
    /// The upper-layer protocol after any extension headers.
    pub proto: u8,
    /// Fragmentation.
    pub fragment: Fragment,
}

impl Ip {
    /// Offset of the L4 header.
    pub fn l4_off(&self) -> usize {
        self.off + self.hdr_len
    }
}

/// The IP header after `l2` in `f` (the first segment) of a frame of
/// `pkt_len` bytes in all.
pub fn ip(f: &[u8], pkt_len: usize, l2: &L2) -> Option<Ip> {
    match l2.ethertype {
        ETHERTYPE_IPV4 => ipv4(f, pkt_len, l2.len),
        ETHERTYPE_IPV6 => ipv6(f, pkt_len, l2.len),
        _ => None,
    }
}

fn ipv4(f: &[u8], pkt_len: usize, off: usize) -> Option<Ip> {
    let vihl = *f.get(off)?;
    let hdr_len = usize::from(vihl & 0x0f) * 4;
    if vihl >> 4 != 4 || hdr_len < 20 || f.len() < off + hdr_len {
        return None;
    }
    let total = usize::from(be16(f, off + 2)?);
    if total < hdr_len || off + total > pkt_len {
        return None;
    }
    let frag = be16(f, off + 6)?;
    let fragment = match (frag & 0x1fff, frag & 0x2000) {
        (0, 0) => Fragment::No,
        (0, _) => Fragment::First,
        _ => Fragment::Later,
    };
    Some(Ip { kind: L3::Ipv4, off, hdr_len, end: off + total, proto: f[off + 9], fragment })
}

/// Extension headers walked over before giving up.
const MAX_IPV6_EXTENSIONS: usize = 8;

fn ipv6(f: &[u8], pkt_len: usize, off: usize) -> Option<Ip> {
    if f.len() < off + 40 || f[off] >> 4 != 6 {
        return None;
    }
    let end = off + 40 + usize::from(be16(f, off + 4)?);
    if end > pkt_len {
        return None;
    }
    let mut ip = Ip { kind: L3::Ipv6, off, hdr_len: 40, end, proto: f[off + 6], fragment: Fragment::No };
    for _ in 0..MAX_IPV6_EXTENSIONS {
        let at = ip.l4_off();
        let len = match ip.proto {
            // Hop-by-hop, routing, destination options: 8-byte units after the first 8.
            0 | 43 | 60 => (usize::from(*f.get(at + 1)?) + 1) * 8,
            // Authentication header: 4-byte units after the first 8.
            51 => (usize::from(*f.get(at + 1)?) + 2) * 4,
            44 => {
                let frag = be16(f, at + 2)?;
                ip.fragment = match (frag & 0xfff8, frag & 1) {
                    (0, 0) => Fragment::No,
                    (0, _) => Fragment::First,
                    _ => Fragment::Later,
                };
                8
            }
            _ => return Some(ip),
        };
        if at + len > end || at + len > f.len() {
            return None;
        }
        ip.proto = f[at];
        ip.hdr_len += len;
    }
    None
}

/// The transport layer of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L4 {
    /// TCP, UDP or SCTP.
    pub proto: u8,
    /// Offset of the L4 header.
    pub off: usize,
    /// Header bytes (TCP with options; DPDK's `l4_len`).
    pub hdr_len: usize,
    /// Offset where the L4 data ends: the datagram's end, or for UDP the
    /// end its own length field gives (a receiver trims to that).
    pub end: usize,
}

impl L4 {
    /// Offset of the checksum field (two bytes; SCTP's is four).
    pub fn cksum_off(&self) -> usize {
        self.off
            + match self.proto {
                PROTO_TCP => 16,
                PROTO_UDP => 6,
                _ => 8,
            }
    }
}

/// The TCP, UDP or SCTP header of `ip`, whole in `f` (the first segment)
/// and inside the datagram; `None` for other protocols, later fragments
/// and headers that do not fit.
pub fn l4(f: &[u8], ip: &Ip) -> Option<L4> {
    if ip.fragment == Fragment::Later {
        return None;
    }
    let off = ip.l4_off();
    let room = ip.end.checked_sub(off)?.min(f.len().checked_sub(off)?);
    let (hdr_len, end) = match ip.proto {
        PROTO_TCP => (usize::from(*f.get(off + 12)? >> 4) * 4, ip.end),
        PROTO_UDP => {
            let ulen = usize::from(be16(f, off + 4)?);
            if ulen < 8 || off + ulen > ip.end {
                return None;
            }
            (8, off + ulen)
        }
        PROTO_SCTP => (12, ip.end),
        _ => return None,
    };
    if hdr_len < 8 || hdr_len > room || (ip.proto == PROTO_TCP && hdr_len < 20) {
        return None;
    }
    Some(L4 { proto: ip.proto, off, hdr_len, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(tags: &[u16], ethertype: u16) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        for t in tags {
            f.extend_from_slice(&t.to_be_bytes());
            f.extend_from_slice(&[0, 5]);
        }
        f.extend_from_slice(&ethertype.to_be_bytes());
        f
    }

    fn ipv4_udp(payload: usize) -> Vec<u8> {
        let mut f = eth(&[], ETHERTYPE_IPV4);
        let total = (20 + 8 + payload) as u16;
        f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0, 0, 64, 17, 0, 0]);
        f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        let ulen = (8 + payload) as u16;
        f.extend_from_slice(&[0, 1, 0, 2, (ulen >> 8) as u8, ulen as u8, 0, 0]);
        f.resize(f.len() + payload, 0xab);
        f
    }

    #[test]
    fn tags_are_walked_up_to_two() {
        assert_eq!(l2(&eth(&[], ETHERTYPE_IPV4)), Some(L2 { len: 14, ethertype: ETHERTYPE_IPV4, tags: 0 }));
        let qinq = eth(&[ETHERTYPE_QINQ, ETHERTYPE_VLAN], ETHERTYPE_IPV6);
        assert_eq!(l2(&qinq), Some(L2 { len: 22, ethertype: ETHERTYPE_IPV6, tags: 2 }));
        let three = eth(&[ETHERTYPE_VLAN, ETHERTYPE_VLAN, ETHERTYPE_VLAN], ETHERTYPE_IPV4);
        assert_eq!(l2(&three).unwrap().ethertype, ETHERTYPE_VLAN, "a third tag is not IP");
        assert_eq!(l2(&qinq[..19]), None, "a tag cut short");
        assert_eq!(l2(&[0u8; 13]), None);
    }

    #[test]
    fn udp_over_ipv4_is_found_and_padding_is_not_payload() {
        let mut f = ipv4_udp(10);
        f.resize(60, 0); // Ethernet padding to the minimum frame
        let l = l2(&f).unwrap();
        let ip = ip(&f, f.len(), &l).unwrap();
        assert_eq!((ip.off, ip.hdr_len, ip.end, ip.proto), (14, 20, 52, PROTO_UDP));
        assert_eq!(l4(&f, &ip), Some(L4 { proto: PROTO_UDP, off: 34, hdr_len: 8, end: 52 }));
    }

    #[test]
    fn lengths_that_do_not_add_up_stop_the_parse() {
        let f = ipv4_udp(10);
        let l = l2(&f).unwrap();
        assert_eq!(ip(&f, f.len() - 1, &l), None, "total length beyond the frame");
        let mut short_ihl = f.clone();
        short_ihl[14] = 0x44;
        assert_eq!(ip(&short_ihl, f.len(), &l), None);
        let mut long_udp = f.clone();
        long_udp[14 + 20 + 5] = 19; // UDP length 19 > the 18 bytes there
        let i = ip(&long_udp, f.len(), &l).unwrap();
        assert_eq!(l4(&long_udp, &i), None);
        assert_eq!(ip(&f[..30], f.len(), &l), None, "header not in the first segment");
    }

    #[test]
    fn ipv6_extension_headers_are_skipped_and_fragments_flagged() {
        let mut f = eth(&[ETHERTYPE_VLAN], ETHERTYPE_IPV6);
        let plen: u16 = 8 + 8 + 20;
        f.extend_from_slice(&[0x60, 0, 0, 0, (plen >> 8) as u8, plen as u8, 0, 64]);
        f.extend_from_slice(&[0u8; 32]);
        f.extend_from_slice(&[44, 0, 0, 0, 0, 0, 0, 0]); // hop-by-hop -> fragment
        f.extend_from_slice(&[6, 0, 0, 1, 0, 0, 0, 0]); // fragment (first, M set) -> TCP
        let tcp = f.len();
        f.extend_from_slice(&[0u8; 20]);
        f[tcp + 12] = 0x50; // data offset: 5 words
        let l = l2(&f).unwrap();
        let ip = ip(&f, f.len(), &l).unwrap();
        assert_eq!((ip.hdr_len, ip.proto, ip.fragment), (56, PROTO_TCP, Fragment::First));
        assert_eq!(l4(&f, &ip).map(|x| (x.off, x.hdr_len)), Some((18 + 56, 20)));
    }
}
