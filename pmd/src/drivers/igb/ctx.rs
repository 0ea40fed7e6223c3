//! Transmit offloads: the advanced context descriptor that tells the 82576
//! where a frame's headers are and what to do with them (insert a VLAN tag,
//! the IPv4 header checksum, the TCP/UDP/SCTP checksum; cut a TCP frame
//! into MSS-sized segments), built from the mbuf's request, and
//! [`tx_prepare`], which readies the headers the way the device needs.
//!
//! # The contract
//!
//! DPDK's: the application sets `ol_flags` (`TX_*`) and the header lengths
//! (`l2_len`, `l3_len`, `l4_len`, `tso_segsz` in [`TxOffload`]); the driver
//! turns them into descriptors and does not parse the frame. Like Intel's
//! other NICs, the 82576 adds the packet's bytes to whatever the L4 checksum
//! field holds, so the field must hold the pseudo-header sum first (without
//! the length for TSO, where the device adds each segment's own), and an
//! IPv4 header checksum it inserts must start at 0: DPDK's
//! `rte_eth_tx_prepare` (`rte_net_intel_cksum_prepare`) and Linux's
//! `igb_tso` prepare exactly that. [`tx_prepare`] does it for one mbuf.
//!
//! # What a queue does with a request
//!
//! [`plan`] validates it and says what the frame needs: a context (VLAN
//! field, MACLEN, IPLEN, TUCMD, MSS, L4LEN) and the bits of its data
//! descriptors (DCMD.VLE, DCMD.TSE, POPTS.IXSM/TXSM, PAYLEN). A request the
//! device cannot carry out is refused ([`OffloadError`]) and the queue drops
//! and counts the frame (`tx_offload_errors`) rather than send a descriptor
//! the device would misread. Requests are honoured whether or not the port
//! was configured with the matching `TxOffloads` (DPDK leaves that case
//! undefined; the hardware can do it, so it is done); QinQ insertion, which
//! the 82576 cannot do (see below), is always refused.
//!
//! # One context slot
//!
//! The 82576 keeps two contexts per queue (IDX 0 and 1). The queue uses
//! slot 0 only and remembers the last context it wrote, writing a new one
//! only when a frame needs a different one. A second slot pays off when two
//! kinds of frames alternate one by one (DPDK keeps two for that); bursts
//! from one flow or one forwarding loop repeat the same context, and a miss
//! costs one 16-byte descriptor write, so one slot keeps the ring
//! accounting simple for little loss.
//!
//! # Not offered
//!
//! QinQ insertion: the context has one VLAN field and DCMD.VLE inserts one
//! tag. The only other tag source is the per-pool default VLAN (VMVIR) of
//! VMDq mode, which this driver does not use; DPDK's igb does not offer
//! QinQ insertion either. UDP segmentation: the 82576 segments TCP only.
//!
//! # QEMU's igb (`hw/net/igb_core.c`, `net_tx_pkt.c`) and real hardware
//!
//! QEMU parses each frame itself and ignores MACLEN, IPLEN, L4LEN and
//! TUCMD.IPV4/L4T TCP-UDP; from the context it uses only the VLAN field,
//! the MSS and TUCMD.L4T = SCTP, and from the data descriptor VLE, TSE,
//! IXSM and TXSM of the first one. It does IPv4 header checksums, TCP/UDP
//! checksums over IPv4 and IPv6, SCTP CRC32c, one inserted tag (TPID from
//! VET; 8.0.0 also wanted CTRL.VME, which the 82576 does not: fixed in
//! 8.0.1) and TSO over IPv4 and IPv6 (in software unless its backend takes
//! virtio-net headers). Differences that show:
//! * without a virtio-net backend it computes the pseudo-header itself, so
//!   a wrong seed goes unnoticed there; a real 82576 (or a tap backend with
//!   vnet headers) sends a bad checksum: keep calling [`tx_prepare`];
//! * it sums everything after the IP header, Ethernet padding included,
//!   and with IXSM rewrites the IPv4 total length from the frame's length:
//!   send checksum-offloaded frames unpadded (TCTL.PSP pads on the wire);
//! * it drops a TSO frame whose IP datagram exceeds 64 KiB, silently; the
//!   82576 would take up to 256 KiB of payload. [`plan`] refuses those
//!   (they are not IP datagrams either, and Linux never hands igb one).

use crate::ether::{ETH_HLEN, VLAN_HLEN};
use crate::mem::{Mbuf, OffloadFlags, TxOffload};

use super::desc::{
    TXCTX_DTYP, TXCTX_IPLEN_MAX, TXCTX_L4LEN_SHIFT, TXCTX_MACLEN_MAX, TXCTX_MACLEN_SHIFT, TXCTX_MSS_SHIFT,
    TXCTX_TUCMD_IPV4, TXCTX_TUCMD_L4T_SCTP, TXCTX_TUCMD_L4T_TCP, TXCTX_TUCMD_L4T_UDP, TXCTX_VLAN_SHIFT, TXD_CMD_DEXT,
    TXD_CMD_TSE, TXD_CMD_VLE, TXD_MAX_PAYLEN, TXD_PAYLEN_SHIFT, TXD_POPTS_IXSM, TXD_POPTS_TXSM,
};

/// Smallest and largest IPv4 header (IHL 5..=15 words).
const IPV4_HDR: std::ops::RangeInclusive<u32> = 20..=60;
/// Fixed IPv6 header; extension headers may follow, up to what IPLEN holds.
const IPV6_HDR: u32 = 40;
/// Smallest and largest TCP header (data offset 5..=15 words).
const TCP_HDR: std::ops::RangeInclusive<u32> = 20..=60;
const UDP_HDR: u32 = 8;
const SCTP_HDR: u32 = 12;
/// MACLEN + IPLEN + L4LEN (+ the inserted tag) for TSO, at most (the
/// igb family's documented limit, which DPDK's igb checks too).
const TSO_MAX_HEADERS: u32 = 512;
/// Largest IP datagram a TSO frame may carry (see the module docs).
const MAX_IP_DATAGRAM: u32 = 65535;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

/// The three meaningful words of an advanced context descriptor. Equal
/// contexts program the device identically, which is what the queue's
/// cache compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    /// VLAN 31:16, MACLEN 15:9, IPLEN 8:0.
    pub vlan_macip_lens: u32,
    /// TUCMD, DTYP = context, DEXT.
    pub type_tucmd: u32,
    /// MSS 31:16, L4LEN 15:8, IDX 6:4 (always slot 0).
    pub mss_l4len_idx: u32,
}

/// How an offloaded frame goes on the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The context it needs; `None` when its flags ask the device for
    /// nothing (only `TX_IPV4`/`TX_IPV6`).
    pub ctx: Option<Context>,
    /// DCMD bits for each of its data descriptors (VLE, TSE).
    pub cmd: u32,
    /// olinfo of each of its data descriptors: PAYLEN, POPTS, IDX 0.
    pub olinfo: u32,
}

/// Why a transmit offload request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffloadError {
    /// `TX_QINQ_INSERT`: the 82576 inserts one tag per frame.
    QinqInsert,
    /// A checksum or TSO request without exactly one of `TX_IPV4`/`TX_IPV6`.
    IpVersion,
    /// `TX_IP_CKSUM` on a frame that is not IPv4.
    IpCksumNotIpv4,
    /// More than one of TCP/UDP/SCTP checksum, or TSO with UDP/SCTP.
    L4Type,
    /// `l2_len`, `l3_len` or `l4_len` out of range for the headers or for
    /// the context's fields.
    HeaderLengths,
    /// The headers named run past the frame (past its first segment for
    /// TSO and [`tx_prepare`]).
    HeadersOutsideFrame,
    /// The IP header's length field does not fit the frame ([`tx_prepare`]).
    IpLength,
    /// TSO: MSS 0, a segment longer than the device sends, no payload, or
    /// an IP datagram over 64 KiB.
    TsoSize,
    /// Longer than the device sends, counting the inserted tag.
    FrameTooLong,
}

impl std::fmt::Display for OffloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OffloadError::QinqInsert => "QinQ insertion: the 82576 inserts one VLAN tag per frame",
            OffloadError::IpVersion => "checksum or TSO request without exactly one of TX_IPV4 and TX_IPV6",
            OffloadError::IpCksumNotIpv4 => "IP header checksum requested for a frame that is not IPv4",
            OffloadError::L4Type => "more than one L4 checksum requested, or TSO for something other than TCP",
            OffloadError::HeaderLengths => "l2_len/l3_len/l4_len out of range",
            OffloadError::HeadersOutsideFrame => "the headers run past the frame (or its first segment)",
            OffloadError::IpLength => "the IP header's length field does not fit the frame",
            OffloadError::TsoSize => "TSO: MSS 0, segments too long, no payload, or over 64 KiB",
            OffloadError::FrameTooLong => "frame too long for the device once its tag is inserted",
        })
    }
}

impl std::error::Error for OffloadError {}

#[derive(Clone, Copy, PartialEq, Eq)]
enum L4 {
    None,
    Tcp,
    Udp,
    Sctp,
}

/// A request read from the mbuf, consistent but not yet checked against
/// the frame.
#[derive(Clone, Copy)]
struct Request {
    vlan: Option<u16>,
    ipv4: bool,
    ip_cksum: bool,
    l4: L4,
    tso: bool,
    o: TxOffload,
}

impl Request {
    fn l2(&self) -> u32 {
        self.o.l2_len as u32
    }

    fn l3(&self) -> u32 {
        self.o.l3_len as u32
    }

    /// Whether the device has to find the L3/L4 headers at all.
    fn checksums(&self) -> bool {
        self.ip_cksum || self.l4 != L4::None
    }

    /// Bytes in front of the payload: the headers the device reads or
    /// rewrites (the fixed part of the L4 header without TSO).
    fn headers_end(&self) -> u32 {
        let l4 = match self.l4 {
            _ if self.tso => self.o.l4_len as u32,
            L4::Tcp => *TCP_HDR.start(),
            L4::Udp => UDP_HDR,
            L4::Sctp => SCTP_HDR,
            L4::None => 0,
        };
        self.l2() + self.l3() + l4
    }

    fn tucmd(&self) -> u32 {
        let ip = if self.ipv4 { TXCTX_TUCMD_IPV4 } else { 0 };
        // L4T only matters with TXSM; 00b (UDP) stands for "none" then.
        ip | match self.l4 {
            L4::Tcp => TXCTX_TUCMD_L4T_TCP,
            L4::Sctp => TXCTX_TUCMD_L4T_SCTP,
            L4::Udp | L4::None => TXCTX_TUCMD_L4T_UDP,
        }
    }

    /// POPTS: each TSO segment of an IPv4 frame has a new total length and
    /// ID, so its header checksum is always inserted (as Linux's `igb_tso`
    /// asks), whether or not `TX_IP_CKSUM` was set.
    fn popts(&self) -> u32 {
        let ip = if self.ip_cksum || (self.tso && self.ipv4) { TXD_POPTS_IXSM } else { 0 };
        ip | if self.l4 != L4::None { TXD_POPTS_TXSM } else { 0 }
    }
}

/// Reads and checks the request in `m`'s flags and header lengths.
fn request(m: &Mbuf) -> Result<Request, OffloadError> {
    let f = m.ol_flags();
    if f.intersects(OffloadFlags::TX_QINQ_INSERT) {
        return Err(OffloadError::QinqInsert);
    }
    let tso = f.intersects(OffloadFlags::TX_TCP_SEG);
    let mut r = Request {
        vlan: f.intersects(OffloadFlags::TX_VLAN_INSERT).then(|| m.vlan_tci()),
        ipv4: false,
        ip_cksum: f.intersects(OffloadFlags::TX_IP_CKSUM),
        l4: l4_of(f, tso)?,
        tso,
        o: m.tx_offload(),
    };
    if r.checksums() {
        r.ipv4 = match (f.intersects(OffloadFlags::TX_IPV4), f.intersects(OffloadFlags::TX_IPV6)) {
            (true, false) => true,
            (false, true) => false,
            _ => return Err(OffloadError::IpVersion),
        };
        if r.ip_cksum && !r.ipv4 {
            return Err(OffloadError::IpCksumNotIpv4);
        }
        check_lengths(&r)?;
    }
    Ok(r)
}

/// The one L4 protocol asked for (TSO implies TCP).
fn l4_of(f: OffloadFlags, tso: bool) -> Result<L4, OffloadError> {
    let tcp = tso || f.intersects(OffloadFlags::TX_TCP_CKSUM);
    let udp = f.intersects(OffloadFlags::TX_UDP_CKSUM);
    let sctp = f.intersects(OffloadFlags::TX_SCTP_CKSUM);
    match (tcp, udp, sctp) {
        (false, false, false) => Ok(L4::None),
        (true, false, false) => Ok(L4::Tcp),
        (false, true, false) => Ok(L4::Udp),
        (false, false, true) => Ok(L4::Sctp),
        _ => Err(OffloadError::L4Type),
    }
}

/// Header lengths that the headers can have and the context can hold.
fn check_lengths(r: &Request) -> Result<(), OffloadError> {
    let l2 = (ETH_HLEN as u32..=TXCTX_MACLEN_MAX).contains(&r.l2());
    let l3 = if r.ipv4 { IPV4_HDR.contains(&r.l3()) } else { (IPV6_HDR..=TXCTX_IPLEN_MAX).contains(&r.l3()) };
    let tag = if r.vlan.is_some() { VLAN_HLEN as u32 } else { 0 };
    let l4 = !r.tso || (TCP_HDR.contains(&(r.o.l4_len as u32)) && r.headers_end() + tag <= TSO_MAX_HEADERS);
    if l2 && l3 && l4 {
        Ok(())
    } else {
        Err(OffloadError::HeaderLengths)
    }
}

/// What `m` needs on a ring whose frames may be `max_len` bytes long, or
/// why its request is refused.
pub fn plan(m: &Mbuf, max_len: u32) -> Result<Plan, OffloadError> {
    let r = request(m)?;
    let len = m.len() as u32;
    let tag = if r.vlan.is_some() { VLAN_HLEN as u32 } else { 0 };
    let mut ctx = Context {
        vlan_macip_lens: r.vlan.map_or(0, |tci| (tci as u32) << TXCTX_VLAN_SHIFT),
        type_tucmd: TXCTX_DTYP | TXD_CMD_DEXT,
        mss_l4len_idx: 0,
    };
    let mut cmd = if r.vlan.is_some() { TXD_CMD_VLE } else { 0 };
    if r.checksums() {
        if r.headers_end() > len {
            return Err(OffloadError::HeadersOutsideFrame);
        }
        ctx.vlan_macip_lens |= r.l2() << TXCTX_MACLEN_SHIFT | r.l3();
        ctx.type_tucmd |= r.tucmd();
    }
    let paylen = if r.tso {
        cmd |= TXD_CMD_TSE;
        ctx.mss_l4len_idx = (r.o.tso_segsz as u32) << TXCTX_MSS_SHIFT | (r.o.l4_len as u32) << TXCTX_L4LEN_SHIFT;
        tso_payload(&r, m, tag, max_len)?
    } else if len + tag > max_len {
        return Err(OffloadError::FrameTooLong);
    } else {
        len
    };
    Ok(Plan {
        ctx: (r.vlan.is_some() || r.checksums()).then_some(ctx),
        cmd,
        olinfo: paylen << TXD_PAYLEN_SHIFT | r.popts(),
    })
}

/// PAYLEN of a TSO frame (its TCP payload), once its sizes check out:
/// headers in the first segment (the device reads them once and replays
/// them per segment), segments no longer than the device sends, some
/// payload, an IP datagram of at most 64 KiB.
fn tso_payload(r: &Request, m: &Mbuf, tag: u32, max_len: u32) -> Result<u32, OffloadError> {
    let hdr = r.headers_end();
    if hdr > m.data_len() as u32 {
        return Err(OffloadError::HeadersOutsideFrame);
    }
    let (len, mss) = (m.len() as u32, r.o.tso_segsz as u32);
    let too_long = len - r.l2() > MAX_IP_DATAGRAM || len - hdr > TXD_MAX_PAYLEN;
    if mss == 0 || hdr + mss + tag > max_len || len <= hdr || too_long {
        return Err(OffloadError::TsoSize);
    }
    Ok(len - hdr)
}

/// Readies `m`'s headers for the offloads its flags request, as the 82576
/// needs them (DPDK's `rte_eth_tx_prepare` for igb): a zero IPv4 header
/// checksum where the device inserts one (`TX_IP_CKSUM`, and TSO over
/// IPv4), the pseudo-header sum in the TCP or UDP checksum field (without
/// the length for TSO), a zero SCTP checksum. The protocol in the
/// pseudo-header is the one the flags name, so IPv6 extension headers
/// (counted in `l3_len`) need no parsing; a routing header's final
/// destination is not looked for.
///
/// The headers must be in the first segment. Nothing is written when the
/// request is refused. Frames without checksum or TSO requests are left
/// alone.
pub fn tx_prepare(m: &mut Mbuf) -> Result<(), OffloadError> {
    let r = request(m)?;
    if !r.checksums() {
        return Ok(());
    }
    if r.headers_end() > m.data_len() as u32 {
        return Err(OffloadError::HeadersOutsideFrame);
    }
    let (l2, l4) = (r.l2() as usize, (r.l2() + r.l3()) as usize);
    let seed = match r.l4 {
        L4::Tcp | L4::Udp => {
            let proto = if r.l4 == L4::Tcp { IPPROTO_TCP } else { IPPROTO_UDP };
            let len = if r.tso { 0 } else { l4_length(m, &r)? };
            Some(pseudo_header_sum(&m.data()[l2..l4], r.ipv4, proto, len))
        }
        L4::Sctp | L4::None => None,
    };
    let hdr = m.data_mut();
    if r.ipv4 && (r.ip_cksum || r.tso) {
        hdr[l2 + 10..l2 + 12].fill(0);
    }
    match (r.l4, seed) {
        (L4::Tcp, Some(s)) => hdr[l4 + 16..l4 + 18].copy_from_slice(&s.to_be_bytes()),
        (L4::Udp, Some(s)) => hdr[l4 + 6..l4 + 8].copy_from_slice(&s.to_be_bytes()),
        (L4::Sctp, _) => hdr[l4 + 8..l4 + 12].fill(0),
        _ => {}
    }
    Ok(())
}

/// The L4 length for the pseudo-header, from the IP header's own length
/// field (not the frame's, which may carry Ethernet padding).
fn l4_length(m: &Mbuf, r: &Request) -> Result<u32, OffloadError> {
    let ip = &m.data()[r.l2() as usize..];
    let field = |at: usize| u16::from_be_bytes([ip[at], ip[at + 1]]) as u32;
    // The IP datagram's length: IPv4's total length covers its header;
    // IPv6's payload length covers the extension headers (which `l3_len`
    // counts beyond the fixed 40 bytes) but not the fixed header.
    let ip_len = if r.ipv4 { field(2) } else { IPV6_HDR + field(4) };
    if r.l2() + ip_len > m.len() as u32 || r.l2() + ip_len < r.headers_end() {
        return Err(OffloadError::IpLength);
    }
    Ok(ip_len - r.l3())
}

/// The ones' complement sum (folded, not inverted) of the pseudo-header
/// of RFC 793/768 (IPv4) or RFC 8200 §8.1 (IPv6): addresses, protocol and
/// L4 length. `ip` starts at the IP header.
fn pseudo_header_sum(ip: &[u8], ipv4: bool, proto: u8, l4_len: u32) -> u16 {
    let addrs = if ipv4 { &ip[12..20] } else { &ip[8..40] };
    let mut sum = proto as u32 + (l4_len >> 16) + (l4_len & 0xFFFF);
    for w in addrs.chunks_exact(2) {
        sum += u16::from_be_bytes([w[0], w[1]]) as u32;
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u16
}
