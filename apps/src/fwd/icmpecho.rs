//! The `icmpecho` engine: answer ARP requests and ICMP echo requests in
//! place, drop everything else, as dpdk-testpmd's
//! (`app/test-pmd/icmpecho.c`).
//!
//! Which addresses does the port answer for? As DPDK's: every one. The port
//! has no IP address of its own; an ARP request for any IPv4 address gets a
//! reply giving the tx port's MAC for it, and an echo request to any
//! address is answered from that address. So a host on the link can ping
//! whatever address it likes through the port. Two kinds of ARP request
//! are not answered, where DPDK would: announcements (sender IP = target
//! IP, a host telling others its own address) and probes (sender IP
//! 0.0.0.0, RFC 5227 duplicate address detection), because a reply would
//! tell that host its own address is taken.
//!
//! Replies, built in the received buffer (VLAN tags kept):
//! * ARP: opcode 2; target hardware/protocol address = the request's
//!   sender; sender hardware address = the tx port's MAC, sender protocol
//!   address = the IP asked about; Ethernet destination = the requester,
//!   source = the tx port's MAC.
//! * ICMP echo: type 0, the checksum updated for the type change (RFC 1624,
//!   so the payload is not summed again); IP source and destination
//!   swapped (header checksum unchanged, a sum does not depend on word
//!   order); Ethernet addresses swapped. To a multicast or broadcast
//!   destination, as DPDK, the reply comes from the requester's address
//!   with its two low bits changed (a unicast neighbour) and the IP header
//!   checksum is recomputed; and the Ethernet source is then the tx port's
//!   MAC, never a group address.
//!
//! Not answered, and counted by the stream as consumed: anything else,
//! and requests that are cut short, fragmented, or whose lengths do not
//! add up.

use ferrite_pmd::mem::{Mbuf, OffloadFlags};

use super::checksum::{self, fold};
use super::headers::{self, Fragment, ETHERTYPE_ARP, ETHERTYPE_IPV4, L2, L3, PROTO_ICMP};

/// ARP over Ethernet for IPv4: header and addresses.
const ARP_LEN: usize = 28;
const ARP_REQUEST: [u8; 2] = [0, 1];
const ARP_REPLY: [u8; 2] = [0, 2];
const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_ECHO_REQUEST: u8 = 8;

/// What [`answer`] made of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// An ARP reply, ready to send.
    Arp,
    /// An ICMP echo reply, ready to send.
    Echo,
    /// Nothing to answer: drop it.
    None,
}

/// Turns a request in `m` into its reply, sent by a port with MAC
/// `port_mac` (see the module docs). `m` is unchanged when the answer is
/// [`Answer::None`].
#[inline]
pub fn answer(m: &mut Mbuf, port_mac: [u8; 6]) -> Answer {
    let pkt_len = m.len();
    let f = m.data_mut();
    let Some(l2) = headers::l2(f) else { return Answer::None };
    let a = match l2.ethertype {
        ETHERTYPE_ARP if arp_reply(f, l2.len, port_mac) => Answer::Arp,
        ETHERTYPE_IPV4 if echo_reply(f, pkt_len, &l2, port_mac) => Answer::Echo,
        _ => Answer::None,
    };
    if a != Answer::None {
        // Whatever the request arrived with is no transmit request.
        m.set_ol_flags(OffloadFlags::default());
    }
    a
}

/// The ARP reply to a request at `off` in `f`; false if it is not one to answer.
fn arp_reply(f: &mut [u8], off: usize, port_mac: [u8; 6]) -> bool {
    let Some(a) = f.get_mut(off..off + ARP_LEN) else { return false };
    // Ethernet hardware (1), IPv4 protocol (0x0800), 6- and 4-byte addresses.
    if a[..6] != [0, 1, 8, 0, 6, 4] || a[6..8] != ARP_REQUEST {
        return false;
    }
    let (mut sip, mut tip) = ([0u8; 4], [0u8; 4]);
    sip.copy_from_slice(&a[14..18]);
    tip.copy_from_slice(&a[24..28]);
    if sip == tip || sip == [0; 4] {
        return false;
    }
    a[6..8].copy_from_slice(&ARP_REPLY);
    a.copy_within(8..14, 18); // target hardware address: the requester
    a[8..14].copy_from_slice(&port_mac);
    a[14..18].copy_from_slice(&tip);
    a[24..28].copy_from_slice(&sip);
    f.copy_within(6..12, 0);
    f[6..12].copy_from_slice(&port_mac);
    true
}

fn is_group_ipv4(a: &[u8]) -> bool {
    a[0] & 0xf0 == 0xe0 || a == [255; 4]
}

/// The echo reply to an ICMP echo request; false if it is not one to answer.
fn echo_reply(f: &mut [u8], pkt_len: usize, l2: &L2, port_mac: [u8; 6]) -> bool {
    let Some(ip) = headers::ip(f, pkt_len, l2) else { return false };
    let at = ip.l4_off();
    let whole = ip.kind == L3::Ipv4 && ip.proto == PROTO_ICMP && ip.fragment == Fragment::No;
    if !whole || ip.end < at + 8 || f.len() < at + 8 || f[at..at + 2] != [ICMP_ECHO_REQUEST, 0] {
        return false;
    }
    // ICMP: type 8 -> 0. HC' = ~(~HC + ~m + m'), m the old word, m' the new.
    let hc = u16::from_be_bytes([f[at + 2], f[at + 3]]);
    let old = u16::from_be_bytes([ICMP_ECHO_REQUEST, 0]);
    let new = u16::from_be_bytes([ICMP_ECHO_REPLY, 0]);
    let ck = !fold(u64::from(!hc) + u64::from(!old) + u64::from(new));
    f[at] = ICMP_ECHO_REPLY;
    f[at + 2..at + 4].copy_from_slice(&ck.to_be_bytes());
    let h = &mut f[ip.off..ip.off + ip.hdr_len];
    if is_group_ipv4(&h[16..20]) {
        let mut src = [0u8; 4];
        src.copy_from_slice(&h[12..16]);
        h[16..20].copy_from_slice(&src);
        src[3] = (src[3] & 0xfc) | if src[3] & 3 == 1 { 2 } else { 1 };
        h[12..16].copy_from_slice(&src);
        let ck = checksum::ipv4_header(h);
        h[10..12].copy_from_slice(&ck.to_be_bytes());
    } else {
        let (s, d) = h[12..20].split_at_mut(4);
        s.swap_with_slice(d);
    }
    let group_dst = f[0] & 1 != 0;
    let (d, s) = f[..12].split_at_mut(6);
    d.swap_with_slice(s);
    if group_dst {
        f[6..12].copy_from_slice(&port_mac);
    }
    true
}
