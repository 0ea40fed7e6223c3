//! The `csum` engine: forward as `mac` does, and make every frame leave
//! with correct checksums, as dpdk-testpmd's csum engine
//! (`app/test-pmd/csumonly.c`).
//!
//! Per frame:
//! 1. count the receive verdicts: `RX_IP_CKSUM_BAD` and `RX_L4_CKSUM_BAD`
//!    (DPDK's "Bad-ipcsum" and "Bad-l4csum");
//! 2. write the MAC addresses (source: the tx port's; destination: the
//!    peer's, `--eth-peer`), as DPDK's default `csum mac-swap on`;
//! 3. find the headers: Ethernet (up to two VLAN tags), IPv4 or IPv6, TCP,
//!    UDP or SCTP. A frame that is not IP, or whose headers are cut short
//!    or do not add up, leaves unchanged, as DPDK leaves a packet type it
//!    does not know;
//! 4. for each checksum: where the tx port was configured with the offload
//!    (`--tx-offloads ipv4_cksum,tcp_cksum,...`), ask for it (`TX_*_CKSUM`,
//!    `TX_IPV4`/`TX_IPV6`, `l2_len`/`l3_len`/`l4_len`) and put the
//!    pseudo-header sum in the L4 field, which the NIC completes;
//!    otherwise compute it here. With `--tso-segsz N`, a TCP frame whose
//!    payload exceeds N asks for TSO (`TX_TCP_SEG`, `tso_segsz`, the
//!    pseudo-header without its length, and the IPv4 header checksum from
//!    the NIC, which rewrites each segment's header) if the port has
//!    `tcp_tso`.
//!
//! A frame whose checksums the NIC computes loses its Ethernet padding
//! (the bytes after the IP datagram): the NIC pads again on the wire, and
//! one that sums everything after the IP header (QEMU's igb) would count it.
//!
//! As DPDK: a UDP-over-IPv4 checksum of 0 ("none sent", RFC 768) is left
//! 0, and nothing is segmented in software (DPDK does that only in its
//! separate GSO library): without `tcp_tso` a long TCP frame gets its
//! checksum and leaves whole. Where this engine differs, it is to stay
//! correct: UDP over IPv6 always gets a checksum (zero is not allowed
//! there, RFC 8200 8.1), SCTP gets its CRC-32C in software where DPDK
//! leaves the field zero, and fragments keep their L4 bytes (a fragment's
//! L4 checksum covers the whole datagram, which is not here).

use ferrite_pmd::mem::{Mbuf, OffloadFlags, TxOffload};
use ferrite_pmd::port::TxOffloads;

use super::checksum::{self, finish, finish_l4, pseudo_for_offload, sum_range};
use super::crc32c::crc_range;
use super::headers::{self, Fragment, Ip, L3, L4, PROTO_SCTP, PROTO_TCP, PROTO_UDP};

/// The csum engine's settings for one stream, from its tx port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsumConfig {
    /// Source MAC written into every frame (the tx port's).
    pub src: [u8; 6],
    /// Destination MAC written into every frame (the peer's).
    pub dst: [u8; 6],
    /// Transmit offloads the tx port was configured with.
    pub tx_offloads: TxOffloads,
    /// TCP payload bytes per segment for TSO (`--tso-segsz`); 0: no TSO.
    pub tso_segsz: u16,
}

/// What the engine did to a burst, added to the stream's counters once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsumTally {
    /// Frames received with `RX_IP_CKSUM_BAD`.
    pub bad_ip: u64,
    /// Frames received with `RX_L4_CKSUM_BAD`.
    pub bad_l4: u64,
    /// Frames asking the NIC for a checksum (TSO not included).
    pub offload: u64,
    /// Frames asking the NIC for TSO.
    pub tso: u64,
    /// Frames with a checksum computed here (may also count in `offload`
    /// when the port offloads one checksum but not the other).
    pub software: u64,
}

/// Transmit requests that ask the NIC for a checksum.
const CKSUM_REQUESTS: OffloadFlags = OffloadFlags(
    OffloadFlags::TX_IP_CKSUM.0
        | OffloadFlags::TX_TCP_CKSUM.0
        | OffloadFlags::TX_UDP_CKSUM.0
        | OffloadFlags::TX_SCTP_CKSUM.0,
);

/// How one frame is to leave.
#[derive(Default)]
struct Plan {
    flags: OffloadFlags,
    software: bool,
}

/// Prepares one frame for its tx port (see the module docs).
#[inline]
pub fn prepare(m: &mut Mbuf, cfg: &CsumConfig, t: &mut CsumTally) {
    let rx = m.ol_flags();
    t.bad_ip += u64::from(rx.contains(OffloadFlags::RX_IP_CKSUM_BAD));
    t.bad_l4 += u64::from(rx.contains(OffloadFlags::RX_L4_CKSUM_BAD));
    // Receive results are not transmit requests.
    m.set_ol_flags(OffloadFlags::default());
    if let Some(h) = m.data_mut().get_mut(..12) {
        h[..6].copy_from_slice(&cfg.dst);
        h[6..].copy_from_slice(&cfg.src);
    }
    let Some((ip, l2_len)) = network(m) else { return };
    let l4 = if ip.fragment == Fragment::No { headers::l4(m.data(), &ip) } else { None };
    // Headers a NIC cannot describe get their checksums here instead.
    let offloads = if l2_len <= MAX_L2_LEN && ip.hdr_len <= MAX_L3_LEN { cfg.tx_offloads } else { TxOffloads::empty() };
    let tso = l4.filter(|l4| tso_applies(cfg, offloads, m, &ip, l4, l2_len)).map(|_| cfg.tso_segsz);
    let mut plan = Plan::default();
    if ip.kind == L3::Ipv4 {
        ipv4_header(m, &ip, offloads.contains(TxOffloads::IPV4_CKSUM) || tso.is_some(), &mut plan);
    }
    if let Some(l4) = &l4 {
        transport(m, &ip, l4, offloads, tso.is_some(), &mut plan);
    }
    if plan.flags.intersects(CKSUM_REQUESTS) || tso.is_some() {
        plan.flags |= if ip.kind == L3::Ipv4 { OffloadFlags::TX_IPV4 } else { OffloadFlags::TX_IPV6 };
        drop_padding(m, ip.end);
        m.set_tx_offload(TxOffload {
            l2_len: l2_len as u8,
            l3_len: ip.hdr_len as u16,
            l4_len: l4.map_or(0, |l| l.hdr_len as u8),
            tso_segsz: tso.unwrap_or(0),
        });
        m.set_ol_flags(plan.flags);
    }
    t.tso += u64::from(plan.flags.contains(OffloadFlags::TX_TCP_SEG));
    t.offload += u64::from(plan.flags.intersects(CKSUM_REQUESTS) && !plan.flags.contains(OffloadFlags::TX_TCP_SEG));
    t.software += u64::from(plan.software);
}

/// The IP layer and the L2 length, if the frame has a whole one.
fn network(m: &Mbuf) -> Option<(Ip, usize)> {
    let f = m.data();
    let l2 = headers::l2(f)?;
    headers::ip(f, m.len(), &l2).map(|ip| (ip, l2.len))
}

/// Largest L2 header (MAC addresses, tags, EtherType) and IP header (with
/// options or IPv6 extension headers) a checksum offload is asked for, and
/// the most header bytes a TSO frame may have (a tag the NIC inserts
/// included). These are the 82576's context-descriptor limits (MACLEN is 7
/// bits, IPLEN 9, and it replays at most 512 header bytes per segment), the
/// narrowest of ferrite's drivers: beyond them the engine computes the
/// checksums itself and sends the frame whole, so no port refuses it.
const MAX_L2_LEN: usize = 127;
const MAX_L3_LEN: usize = 511;
const MAX_TSO_HEADERS: usize = 512 - 4;

/// Cuts Ethernet padding after the datagram off a frame whose checksums
/// the NIC computes: the NIC pads short frames again on the wire, and a
/// NIC that sums "everything after the IP header" (QEMU's igb does) would
/// otherwise sum the padding too, or cut it into TSO segments. Segments
/// wholly made of padding go back to their pools.
fn drop_padding(m: &mut Mbuf, ip_end: usize) {
    if ip_end < m.len() {
        m.truncate(ip_end);
    }
}

/// Whether `l4` is TCP carrying more than one segment's worth and the
/// port can cut it (as DPDK: payload beyond `tso_segsz` and `tcp_tso`),
/// with headers a NIC can replay: within [`MAX_TSO_HEADERS`] and all in the
/// first segment, where a NIC reads them.
fn tso_applies(cfg: &CsumConfig, offloads: TxOffloads, m: &Mbuf, ip: &Ip, l4: &L4, l2_len: usize) -> bool {
    let headers = l2_len + ip.hdr_len + l4.hdr_len;
    l4.proto == PROTO_TCP
        && cfg.tso_segsz != 0
        && offloads.contains(TxOffloads::TCP_TSO)
        && headers <= MAX_TSO_HEADERS.min(m.data_len())
        && ip.end > headers + usize::from(cfg.tso_segsz)
}

fn put16(m: &mut Mbuf, at: usize, v: u16) {
    m.data_mut()[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// The IPv4 header checksum: asked of the NIC (the field zeroed, as
/// DPDK's `tx_prepare` does) or computed here.
fn ipv4_header(m: &mut Mbuf, ip: &Ip, offload: bool, plan: &mut Plan) {
    if offload {
        put16(m, ip.off + 10, 0);
        plan.flags |= OffloadFlags::TX_IP_CKSUM;
    } else {
        let ck = checksum::ipv4_header(&m.data()[ip.off..ip.off + ip.hdr_len]);
        put16(m, ip.off + 10, ck);
        plan.software = true;
    }
}

/// The pseudo-header sum of `ip` for `proto` and `len` L4 bytes.
fn pseudo(f: &[u8], ip: &Ip, proto: u8, len: usize) -> u64 {
    match ip.kind {
        L3::Ipv4 => checksum::ipv4_pseudo(&f[ip.off..], proto, len),
        L3::Ipv6 => checksum::ipv6_pseudo(&f[ip.off..], proto, len),
    }
}

/// The TCP, UDP or SCTP checksum: TSO, offload or software.
fn transport(m: &mut Mbuf, ip: &Ip, l4: &L4, offloads: TxOffloads, tso: bool, plan: &mut Plan) {
    let at = l4.cksum_off();
    let len = l4.end - l4.off;
    let (flag, offloaded) = match l4.proto {
        PROTO_TCP => (OffloadFlags::TX_TCP_CKSUM, offloads.contains(TxOffloads::TCP_CKSUM)),
        PROTO_UDP => {
            let none_sent = ip.kind == L3::Ipv4 && m.data()[at..at + 2] == [0, 0];
            if none_sent {
                return;
            }
            (OffloadFlags::TX_UDP_CKSUM, offloads.contains(TxOffloads::UDP_CKSUM))
        }
        // The NIC's CRC engines want the SCTP packet in 4-byte words.
        _ => (OffloadFlags::TX_SCTP_CKSUM, offloads.contains(TxOffloads::SCTP_CKSUM) && len.is_multiple_of(4)),
    };
    if tso {
        // Each segment's length differs: the NIC adds it.
        let ph = pseudo_for_offload(pseudo(m.data(), ip, l4.proto, 0));
        put16(m, at, ph);
        plan.flags |= OffloadFlags::TX_TCP_SEG;
    } else if offloaded && l4.proto == PROTO_SCTP {
        m.data_mut()[at..at + 4].fill(0);
        plan.flags |= flag;
    } else if offloaded {
        let ph = pseudo_for_offload(pseudo(m.data(), ip, l4.proto, len));
        put16(m, at, ph);
        plan.flags |= flag;
    } else {
        l4_software(m, ip, l4);
        plan.software = true;
    }
}

/// Computes the L4 checksum over the whole L4 data, across segments.
fn l4_software(m: &mut Mbuf, ip: &Ip, l4: &L4) {
    let at = l4.cksum_off();
    if l4.proto == PROTO_SCTP {
        m.data_mut()[at..at + 4].fill(0);
        let crc = crc_range(m.segments().map(|s| s.data()), l4.off, l4.end);
        m.data_mut()[at..at + 4].copy_from_slice(&crc.to_le_bytes());
        return;
    }
    put16(m, at, 0);
    let ph = pseudo(m.data(), ip, l4.proto, l4.end - l4.off);
    let sum = ph + sum_range(m.segments().map(|s| s.data()), l4.off, l4.end);
    // UDP: a computed 0 goes out as 0xffff (0 means "no checksum").
    let ck = if l4.proto == PROTO_UDP { finish_l4(sum) } else { finish(sum) };
    put16(m, at, ck);
}
