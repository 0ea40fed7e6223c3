//! The `5tswap` engine: swap source and destination at layers 2, 3 and 4
//! (MAC addresses; IPv4 or IPv6 addresses; TCP or UDP ports) and send the
//! frame back, as dpdk-testpmd's (`app/test-pmd/5tswap.h`).
//!
//! Each layer is swapped only if it is whole and the one below it was
//! understood; the walk stops at the first layer that is not (as DPDK's:
//! "when the next layer doesn't match it stops"). No checksum changes:
//! the IP header and TCP/UDP checksums are sums of 16-bit words, and a
//! swap only reorders words they cover (the pseudo-header included).
//! SCTP ports are left alone for the opposite reason: its CRC-32C does
//! depend on byte order (DPDK swaps only TCP and UDP too). Ports of a
//! later fragment are not there to swap.

use ferrite_pmd::Mbuf;

use super::headers::{self, L3, PROTO_TCP, PROTO_UDP};

/// Swaps `m`'s five-tuple (and MAC addresses) in place.
#[inline]
pub fn five_tuple_swap(m: &mut Mbuf) {
    let pkt_len = m.len();
    let f = m.data_mut();
    let Some(macs) = f.get_mut(..12) else { return };
    let (d, s) = macs.split_at_mut(6);
    d.swap_with_slice(s);
    let Some(l2) = headers::l2(f) else { return };
    let Some(ip) = headers::ip(f, pkt_len, &l2) else { return };
    let (src, len) = match ip.kind {
        L3::Ipv4 => (ip.off + 12, 4),
        L3::Ipv6 => (ip.off + 8, 16),
    };
    let (a, b) = f[src..src + 2 * len].split_at_mut(len);
    a.swap_with_slice(b);
    if let Some(l4) = headers::l4(f, &ip).filter(|l4| matches!(l4.proto, PROTO_TCP | PROTO_UDP)) {
        let (a, b) = f[l4.off..l4.off + 4].split_at_mut(2);
        a.swap_with_slice(b);
    }
}
