//! The IPv4 header as a router sees it: checked (RFC 1812 section 5.2.2:
//! version 4, a header of at least 20 bytes that fits the frame, a total
//! length that covers the header and fits, a correct checksum), and
//! forwarded with its TTL one lower and the checksum updated to match.

use ferrite_pmd::checksum;

/// Why a frame is not forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not IPv4 (another EtherType, or a frame too short for the header).
    NotIpv4,
    /// An IPv4 header a router must drop: see the module docs.
    BadHeader,
    /// TTL 1 or 0: it would expire here (a router would send ICMP Time
    /// Exceeded; l3fwd, like DPDK's, only counts it).
    TtlExpired,
    /// No route covers the destination (set by the caller's lookup).
    NoRoute,
}

/// The destination address of the IPv4 header at the start of `ip`, when
/// the header is one a router may forward.
pub fn check(ip: &[u8]) -> Result<u32, Verdict> {
    if ip.len() < 20 || ip[0] >> 4 != 4 {
        return Err(if ip.len() < 20 { Verdict::NotIpv4 } else { Verdict::BadHeader });
    }
    let hlen = usize::from(ip[0] & 0xf) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if hlen < 20
        || hlen > ip.len()
        || total < hlen
        || total > ip.len()
        || checksum::finish(checksum::sum16(&ip[..hlen], 0)) != 0
    {
        return Err(Verdict::BadHeader);
    }
    if ip[8] <= 1 {
        return Err(Verdict::TtlExpired);
    }
    Ok(u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]))
}

/// Lowers the TTL of the (checked) header at the start of `ip` by one and
/// updates its checksum in place (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m'),
/// m the 16-bit word holding TTL and protocol), without summing the header
/// again.
pub fn decrement_ttl(ip: &mut [u8]) {
    let old = u16::from_be_bytes([ip[8], ip[9]]);
    ip[8] -= 1;
    let new = u16::from_be_bytes([ip[8], ip[9]]);
    let hc = u16::from_be_bytes([ip[10], ip[11]]);
    let sum = u64::from(!hc) + u64::from(!old) + u64::from(new);
    ip[10..12].copy_from_slice(&checksum::finish(sum).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header to 10.1.2.3 with TTL `ttl`, its checksum set.
    fn header(ttl: u8) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 28, 0x12, 0x34, 0x40, 0, ttl, 17, 0, 0, 192, 168, 0, 1, 10, 1, 2, 3];
        h.extend([0u8; 8]);
        let c = checksum::ipv4_header(&h[..20]);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    }

    #[test]
    fn the_updated_checksum_equals_one_computed_afresh_for_every_ttl() {
        for ttl in 2..=255u8 {
            for id in [0u16, 0x00ff, 0xfffe, 0xffff] {
                let mut h = header(ttl);
                h[4..6].copy_from_slice(&id.to_be_bytes());
                h[10..12].fill(0);
                let c = checksum::ipv4_header(&h[..20]);
                h[10..12].copy_from_slice(&c.to_be_bytes());
                decrement_ttl(&mut h);
                assert_eq!(h[8], ttl - 1);
                let mut fresh = h.clone();
                fresh[10..12].fill(0);
                let want = checksum::ipv4_header(&fresh[..20]);
                // 0x0000 and 0xffff are the same sum in ones' complement.
                let got = u16::from_be_bytes([h[10], h[11]]);
                assert!(
                    got == want || (got, want) == (0xffff, 0) || (got, want) == (0, 0xffff),
                    "ttl {ttl} id {id:#x}"
                );
                assert_eq!(check(&h).map(|_| ()), if ttl > 2 { Ok(()) } else { Err(Verdict::TtlExpired) });
            }
        }
    }

    #[test]
    fn a_router_refuses_what_rfc_1812_says_it_must() {
        assert_eq!(check(&header(64)), Ok(0x0a01_0203));
        assert_eq!(check(&header(1)), Err(Verdict::TtlExpired));
        assert_eq!(check(&header(64)[..19]), Err(Verdict::NotIpv4));
        let mut bad = header(64);
        bad[11] ^= 1;
        assert_eq!(check(&bad), Err(Verdict::BadHeader), "checksum");
        let mut v6 = header(64);
        v6[0] = 0x65;
        assert_eq!(check(&v6), Err(Verdict::BadHeader), "version");
        let mut long = header(64);
        long[3] = 200;
        assert_eq!(check(&long), Err(Verdict::BadHeader), "total length beyond the frame");
        let mut short_ihl = header(64);
        short_ihl[0] = 0x44;
        assert_eq!(check(&short_ihl), Err(Verdict::BadHeader), "IHL 4");
    }
}
