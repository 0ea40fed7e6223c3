//! Transmit offloads through the `virtio_net_hdr`: a frame's checksum and
//! TSO requests (the framework's `TX_*` flags and `TxOffload` lengths)
//! written as the header the device reads in front of the frame.
//!
//! # What the header can say (virtio 1.2 §5.1.6.2)
//!
//! * `flags = NEEDS_CSUM` with `csum_start` / `csum_offset`: "sum every
//!   byte from `csum_start` to the end, fold, invert, and store it at
//!   `csum_start + csum_offset`" — one ones'-complement checksum, with the
//!   pseudo-header sum already in the field. That is TCP's and UDP's
//!   checksum over IPv4 and IPv6 (negotiated as `VIRTIO_NET_F_CSUM`). It
//!   cannot say "IPv4 header checksum" (a second checksum) or SCTP's CRC32c.
//! * `gso_type = TCPV4 / TCPV6` with `gso_size` (the MSS) and `hdr_len`:
//!   segment a TCP frame (`HOST_TSO4` / `HOST_TSO6`). The device (QEMU, or
//!   the host kernel behind a tap) rewrites each segment's IP header — its
//!   length, ID and checksum — and TCP sequence numbers, flags and checksum.
//!
//! # The pseudo-header seed
//!
//! The framework's contract is DPDK's (see `drivers::igb::ctx`): the
//! application puts the pseudo-header sum in the L4 checksum field, with
//! the L4 length for a plain checksum and without it for TSO. virtio (that
//! is, Linux's GSO code behind it) wants the length in both cases: it takes
//! the whole frame's L4 length out of the seed and puts each segment's in.
//! So for TSO this module adds the L4 length to the seed in the frame,
//! as DPDK's virtio PMD does. An IPv4 header checksum asked for
//! (`TX_IP_CKSUM`, which virtio has no bit for) is computed here, over at
//! most 60 bytes, so the request is honoured rather than dropped — for TSO
//! frames too, although the device rewrites each segment's: whatever
//! stands between the device and the segmentation may check the big
//! frame's header first (Linux's bridge netfilter drops an IPv4 frame with
//! a bad header checksum before it segments anything).
//!
//! A request the header cannot carry (SCTP, a checksum or TSO the device
//! did not negotiate, headers outside the first segment, lengths that do
//! not fit the frame) is refused: the queue drops and counts the frame
//! (`tx_offload_errors`) rather than send one with a wrong checksum.

use super::regs::NET_HDR_LEN;
use crate::mem::{Mbuf, OffloadFlags, TxOffload};

/// Byte offsets in the 12-byte `virtio_net_hdr_v1`.
const FLAGS: usize = 0;
const GSO_TYPE: usize = 1;
const HDR_LEN: usize = 2;
const GSO_SIZE: usize = 4;
const CSUM_START: usize = 6;
const CSUM_OFFSET: usize = 8;

/// `flags`: the device must complete a partial checksum.
pub const HDR_F_NEEDS_CSUM: u8 = 1;
/// `gso_type`: not a GSO frame.
pub const HDR_GSO_NONE: u8 = 0;
/// `gso_type`: TCP over IPv4.
pub const HDR_GSO_TCPV4: u8 = 1;
/// `gso_type`: TCP over IPv6.
pub const HDR_GSO_TCPV6: u8 = 4;
/// `gso_type` bit: the frame has TCP's CWR flag set (needs HOST_ECN).
pub const HDR_GSO_ECN: u8 = 0x80;

/// Where a TCP and a UDP header keep their checksum.
const TCP_CSUM_AT: u16 = 16;
const UDP_CSUM_AT: u16 = 6;
/// TCP header sizes, IPv4 header sizes (IHL), the fixed IPv6 header.
const TCP_MIN: u8 = 20;
const IPV4_HDR: std::ops::RangeInclusive<u16> = 20..=60;
const IPV6_HDR: u16 = 40;
/// TCP's flags byte and its CWR bit.
const TCP_FLAGS_AT: usize = 13;
const TCP_CWR: u8 = 0x80;
/// The largest IP length field (IPv4 total length, IPv6 payload length).
const IP_LEN_MAX: usize = 65_535;
/// No TSO frame can be longer: the largest L2 header (`l2_len` is a byte)
/// and IPv6 header in front of the largest payload length. The exact limit
/// for a frame's own headers is checked with its request.
pub const TSO_MAX_FRAME: usize = 255 + IPV6_HDR as usize + IP_LEN_MAX;

/// Which header offloads the device negotiated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HdrOffloads {
    /// `VIRTIO_NET_F_CSUM`: partial TCP/UDP checksums.
    pub csum: bool,
    /// `VIRTIO_NET_F_HOST_TSO4`.
    pub tso4: bool,
    /// `VIRTIO_NET_F_HOST_TSO6`.
    pub tso6: bool,
    /// `VIRTIO_NET_F_HOST_ECN`: TSO frames may carry TCP's CWR flag.
    pub ecn: bool,
}

/// What a frame asked of the device, for the queue's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxHdr {
    /// Nothing: an all-zero header.
    Plain,
    /// A TCP or UDP checksum.
    Csum,
    /// TCP segmentation (with its checksums).
    Tso,
}

/// Why a frame's request cannot go into a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HdrError {
    /// SCTP's CRC32c, or a checksum without `TX_IPV4`/`TX_IPV6`.
    Unsupported,
    /// The device did not negotiate the feature the request needs.
    NotNegotiated,
    /// The lengths do not describe headers inside the first segment, or a
    /// TSO frame without payload or with an MSS of 0.
    BadLengths,
}

/// The parsed request of one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Request {
    kind: TxHdr,
    ipv4: bool,
    /// IPv4 header checksum in software (asked for).
    ip_cksum: bool,
    l4_start: u16,
    csum_offset: u16,
    tx: TxOffload,
}

/// Checks frame `m`'s request against what the device negotiated; `Plain`
/// when it asks for no checksum or TSO (VLAN requests are not ours to
/// judge here: the port does not offer them, and they are ignored as
/// DPDK's virtio PMD ignores flags it does not offer).
fn request(m: &Mbuf, caps: HdrOffloads) -> Result<Request, HdrError> {
    let f = m.ol_flags();
    let tx = m.tx_offload();
    let tso = f.contains(OffloadFlags::TX_TCP_SEG);
    let tcp = tso || f.contains(OffloadFlags::TX_TCP_CKSUM);
    let udp = f.contains(OffloadFlags::TX_UDP_CKSUM);
    let ipv4 = f.contains(OffloadFlags::TX_IPV4);
    let ip_cksum = f.contains(OffloadFlags::TX_IP_CKSUM);
    let mut r = Request { kind: TxHdr::Plain, ipv4, ip_cksum, l4_start: 0, csum_offset: 0, tx };
    if f.contains(OffloadFlags::TX_SCTP_CKSUM) || (tcp && udp) {
        return Err(HdrError::Unsupported);
    }
    if !tcp && !udp && !ip_cksum {
        return Ok(r);
    }
    if ipv4 == f.contains(OffloadFlags::TX_IPV6) || (ip_cksum && !ipv4) {
        return Err(HdrError::Unsupported);
    }
    // The lengths are the application's: checked in usize, so no sum of
    // them can wrap, against the first segment (where the headers must be).
    let l4_start = usize::from(tx.l2_len) + usize::from(tx.l3_len);
    let l4_min = match (tcp, udp) {
        (true, _) => tx.l4_len.max(TCP_MIN),
        (_, true) => 8,
        _ => 0,
    };
    let l3_fits = if ipv4 { IPV4_HDR.contains(&tx.l3_len) } else { tx.l3_len >= IPV6_HDR };
    if !l3_fits || l4_start + usize::from(l4_min) > m.data_len() {
        return Err(HdrError::BadLengths);
    }
    // Below the first segment's length, a u16.
    r.l4_start = l4_start as u16;
    if tso {
        let need = if ipv4 { caps.tso4 } else { caps.tso6 };
        if !need {
            return Err(HdrError::NotNegotiated);
        }
        let hdrs = l4_start + usize::from(tx.l4_len);
        let max = usize::from(tx.l2_len) + IP_LEN_MAX + if ipv4 { 0 } else { usize::from(IPV6_HDR) };
        if tx.tso_segsz == 0 || tx.l4_len < TCP_MIN || m.len() <= hdrs || m.len() > max {
            return Err(HdrError::BadLengths);
        }
        // virtio 1.2 §5.1.6.2.1: a TSO frame with CWR set needs HOST_ECN
        // (and says so in gso_type).
        if m.data()[l4_start + TCP_FLAGS_AT] & TCP_CWR != 0 && !caps.ecn {
            return Err(HdrError::NotNegotiated);
        }
        r.kind = TxHdr::Tso;
    } else if tcp || udp {
        r.kind = TxHdr::Csum;
    }
    if r.kind != TxHdr::Plain {
        if !caps.csum {
            return Err(HdrError::NotNegotiated);
        }
        r.csum_offset = if tcp { TCP_CSUM_AT } else { UDP_CSUM_AT };
    }
    Ok(r)
}

/// Readies frame `m` for its request and returns the header to send with
/// it; nothing in the frame is changed when the request is refused.
pub fn prepare(m: &mut Mbuf, caps: HdrOffloads) -> Result<(TxHdr, [u8; NET_HDR_LEN]), HdrError> {
    let r = request(m, caps)?;
    let mut hdr = [0u8; NET_HDR_LEN];
    if r.ip_cksum {
        ipv4_header_checksum(&mut m.data_mut()[usize::from(r.tx.l2_len)..usize::from(r.l4_start)]);
    }
    if r.kind == TxHdr::Plain {
        return Ok((TxHdr::Plain, hdr));
    }
    hdr[FLAGS] = HDR_F_NEEDS_CSUM;
    hdr[CSUM_START..CSUM_START + 2].copy_from_slice(&r.l4_start.to_le_bytes());
    hdr[CSUM_OFFSET..CSUM_OFFSET + 2].copy_from_slice(&r.csum_offset.to_le_bytes());
    hdr[GSO_TYPE] = match (r.kind, r.ipv4) {
        (TxHdr::Tso, true) => HDR_GSO_TCPV4,
        (TxHdr::Tso, false) => HDR_GSO_TCPV6,
        _ => HDR_GSO_NONE,
    };
    if r.kind == TxHdr::Tso && m.data()[usize::from(r.l4_start) + TCP_FLAGS_AT] & TCP_CWR != 0 {
        hdr[GSO_TYPE] |= HDR_GSO_ECN;
    }
    if r.kind == TxHdr::Tso {
        let l4_len = (m.len() - usize::from(r.l4_start)) as u32;
        let field = usize::from(r.l4_start + r.csum_offset);
        add_to_checksum_field(&mut m.data_mut()[field..field + 2], l4_len);
        let hdr_len = r.l4_start + u16::from(r.tx.l4_len);
        hdr[HDR_LEN..HDR_LEN + 2].copy_from_slice(&hdr_len.to_le_bytes());
        hdr[GSO_SIZE..GSO_SIZE + 2].copy_from_slice(&r.tx.tso_segsz.to_le_bytes());
    }
    Ok((r.kind, hdr))
}

/// Adds `value` (ones' complement, both 16-bit halves) to the big-endian
/// sum in `field`: the L4 length that the TSO seed leaves out.
fn add_to_checksum_field(field: &mut [u8], value: u32) {
    let mut sum = u32::from(u16::from_be_bytes([field[0], field[1]])) + (value >> 16) + (value & 0xFFFF);
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    field.copy_from_slice(&(sum as u16).to_be_bytes());
}

/// Computes an IPv4 header's checksum in place (`ip` is the whole header).
fn ipv4_header_checksum(ip: &mut [u8]) {
    ip[10..12].fill(0);
    let mut sum: u32 = ip.chunks_exact(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::{Mempool, MempoolConfig, OffloadFlags as F};
    use crate::test_frames::{device_l4, frame, mbuf_of, pseudo, rfc1071, sum16, Ip, SCTP, TCP, UDP};
    use ferrite_hugepages::Fallback;

    const ALL: HdrOffloads = HdrOffloads { csum: true, tso4: true, tso6: true, ecn: true };

    fn pool() -> Mempool {
        let mut cfg = MempoolConfig::new("net-hdr-test", 64);
        cfg.cache_size = 0;
        cfg.dma.fallback = Fallback::SmallPages;
        Mempool::new(&cfg).unwrap()
    }

    fn l3(v: Ip) -> usize {
        if v == Ip::V4 {
            20
        } else {
            40
        }
    }

    /// `f` with its L4 checksum field seeded the framework's way: the
    /// pseudo-header sum, with the L4 length unless `tso`.
    fn seeded(mut f: Vec<u8>, v: Ip, proto: u8, at: usize, tso: bool) -> Vec<u8> {
        let start = 14 + l3(v);
        let len = if tso { 0 } else { f.len() - start };
        let seed = sum16(&pseudo(&f[14..start], v, proto, len)) as u16;
        f[start + at..start + at + 2].copy_from_slice(&seed.to_be_bytes());
        f
    }

    fn ask(pool: &Mempool, f: &[u8], lens: &[usize], flags: F, v: Ip, l4: u8, mss: u16) -> Mbuf {
        let mut m = mbuf_of(pool, f, lens);
        m.set_ol_flags(flags);
        m.set_tx_offload(TxOffload { l2_len: 14, l3_len: l3(v) as u16, l4_len: l4, tso_segsz: mss });
        m
    }

    fn le16(h: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([h[at], h[at + 1]])
    }

    /// What the spec says the device does with NEEDS_CSUM: sum from
    /// `csum_start` to the end (the seeded field included), fold, invert,
    /// store at `csum_start + csum_offset`.
    fn device_completes(frame: &mut [u8], hdr: &[u8; NET_HDR_LEN]) {
        assert_eq!(hdr[FLAGS], HDR_F_NEEDS_CSUM);
        let (start, at) = (le16(hdr, CSUM_START) as usize, le16(hdr, CSUM_OFFSET) as usize);
        let c = device_l4(&frame[start..], 0);
        frame[start + at..start + at + 2].copy_from_slice(&c.to_be_bytes());
    }

    /// The checksum a receiver computes over the L4 bytes with the field
    /// zeroed and the pseudo-header in front.
    fn real_l4_checksum(frame: &[u8], v: Ip, proto: u8, at: usize) -> u16 {
        let start = 14 + l3(v);
        let mut l4 = frame[start..].to_vec();
        l4[at..at + 2].fill(0);
        rfc1071(&[&pseudo(&frame[14..start], v, proto, l4.len()), &l4])
    }

    #[test]
    fn checksum_requests_become_headers_the_device_completes_correctly() {
        let pool = pool();
        for (v, proto, l4, at, flag) in [
            (Ip::V4, TCP, 20, 16, F::TX_TCP_CKSUM),
            (Ip::V6, TCP, 32, 16, F::TX_TCP_CKSUM),
            (Ip::V4, UDP, 8, 6, F::TX_UDP_CKSUM),
            (Ip::V6, UDP, 8, 6, F::TX_UDP_CKSUM),
        ] {
            let f = seeded(frame(v, proto, l4, 101), v, proto, at, false);
            let ipf = if v == Ip::V4 { F::TX_IPV4 } else { F::TX_IPV6 };
            let mut m = ask(&pool, &f, &[f.len()], flag | ipf, v, l4 as u8, 0);
            let (kind, hdr) = prepare(&mut m, ALL).unwrap();
            assert_eq!(kind, TxHdr::Csum);
            assert_eq!((hdr[GSO_TYPE], le16(&hdr, GSO_SIZE), le16(&hdr, HDR_LEN)), (HDR_GSO_NONE, 0, 0));
            assert_eq!(le16(&hdr, CSUM_START) as usize, 14 + l3(v));
            assert_eq!(m.data(), &f[..], "a plain checksum request leaves the frame as it was");
            let mut out = m.data().to_vec();
            device_completes(&mut out, &hdr);
            let got = u16::from_be_bytes([out[14 + l3(v) + at], out[14 + l3(v) + at + 1]]);
            assert_eq!(got, real_l4_checksum(&out, v, proto, at), "{v:?} proto {proto}");
        }
    }

    #[test]
    fn tso_adds_the_length_the_seed_left_out_and_describes_the_segments() {
        let pool = pool();
        for (v, gso) in [(Ip::V4, HDR_GSO_TCPV4), (Ip::V6, HDR_GSO_TCPV6)] {
            let f = seeded(frame(v, TCP, 32, 3000), v, TCP, 16, true);
            let ipf = if v == Ip::V4 { F::TX_IPV4 | F::TX_IP_CKSUM } else { F::TX_IPV6 };
            let mut m = ask(&pool, &f, &[1000, 1000, f.len() - 2000], ipf | F::TX_TCP_SEG, v, 32, 1200);
            let (kind, hdr) = prepare(&mut m, ALL).unwrap();
            assert_eq!(kind, TxHdr::Tso);
            let start = 14 + l3(v);
            assert_eq!(hdr[GSO_TYPE], gso);
            assert_eq!(le16(&hdr, GSO_SIZE), 1200);
            assert_eq!(le16(&hdr, HDR_LEN) as usize, start + 32);
            assert_eq!((le16(&hdr, CSUM_START) as usize, le16(&hdr, CSUM_OFFSET)), (start, 16));
            // Linux's GSO expects the seed of the whole L4 length.
            let d = m.data();
            let want = sum16(&pseudo(&f[14..start], v, TCP, f.len() - start)) as u16;
            assert_eq!(u16::from_be_bytes([d[start + 16], d[start + 17]]), want, "{v:?}");
            assert_eq!(d[start..start + 16], f[start..start + 16], "the TCP header is as it was");
            if v == Ip::V4 {
                assert_eq!(rfc1071(&[&d[14..34]]), 0, "the big frame's IPv4 header checksum is valid too");
            }
        }
    }

    #[test]
    fn an_ipv4_header_checksum_is_computed_here() {
        let pool = pool();
        let f = frame(Ip::V4, UDP, 8, 10);
        let mut m = ask(&pool, &f, &[f.len()], F::TX_IPV4 | F::TX_IP_CKSUM, Ip::V4, 8, 0);
        let (kind, hdr) = prepare(&mut m, HdrOffloads::default()).unwrap();
        assert_eq!((kind, hdr), (TxHdr::Plain, [0; NET_HDR_LEN]), "no header offload needed");
        let ip = &m.data()[14..34];
        assert_ne!(&ip[10..12], &f[24..26], "the junk checksum was replaced");
        assert_eq!(rfc1071(&[ip]), 0, "a correct IPv4 header sums to 0xFFFF");
    }

    #[test]
    fn requests_the_header_cannot_carry_are_refused_and_the_frame_left_alone() {
        let pool = pool();
        let tcp4 = seeded(frame(Ip::V4, TCP, 20, 500), Ip::V4, TCP, 16, true);
        let tcp6 = frame(Ip::V6, TCP, 20, 500);
        let sctp = frame(Ip::V4, SCTP, 12, 20);
        let no_tso6 = HdrOffloads { tso6: false, ..ALL };
        // (frame, segment lengths, flags, IP version, l4_len, MSS, device, error)
        type Case<'a> = (&'a [u8], &'a [usize], F, Ip, u8, u16, HdrOffloads, HdrError);
        let cases: [Case; 8] = [
            (&sctp, &[sctp.len()], F::TX_IPV4 | F::TX_SCTP_CKSUM, Ip::V4, 12, 0, ALL, HdrError::Unsupported),
            (&tcp4, &[tcp4.len()], F::TX_TCP_CKSUM, Ip::V4, 20, 0, ALL, HdrError::Unsupported),
            (
                &tcp4,
                &[tcp4.len()],
                F::TX_IPV4 | F::TX_TCP_CKSUM,
                Ip::V4,
                20,
                0,
                HdrOffloads::default(),
                HdrError::NotNegotiated,
            ),
            (&tcp6, &[tcp6.len()], F::TX_IPV6 | F::TX_TCP_SEG, Ip::V6, 20, 500, no_tso6, HdrError::NotNegotiated),
            (&tcp4, &[tcp4.len()], F::TX_IPV4 | F::TX_TCP_SEG, Ip::V4, 20, 0, ALL, HdrError::BadLengths),
            (&tcp4, &[40, tcp4.len() - 40], F::TX_IPV4 | F::TX_TCP_SEG, Ip::V4, 20, 100, ALL, HdrError::BadLengths),
            (
                &tcp4,
                &[tcp4.len()],
                F::TX_IPV4 | F::TX_TCP_CKSUM | F::TX_UDP_CKSUM,
                Ip::V4,
                20,
                0,
                ALL,
                HdrError::Unsupported,
            ),
            (&tcp4[..54], &[54], F::TX_IPV4 | F::TX_TCP_SEG, Ip::V4, 20, 100, ALL, HdrError::BadLengths),
        ];
        for (i, (f, lens, flags, v, l4, mss, caps, want)) in cases.into_iter().enumerate() {
            let mut m = ask(&pool, f, lens, flags, v, l4, mss);
            let before: Vec<u8> = m.segments().flat_map(|s| s.data().to_vec()).collect();
            assert_eq!(prepare(&mut m, caps), Err(want), "case {i}");
            let after: Vec<u8> = m.segments().flat_map(|s| s.data().to_vec()).collect();
            assert_eq!(before, after, "case {i}: refused, so unchanged");
        }
        // IP header lengths out of range: shorter than IPv4's minimum,
        // longer than its IHL allows, and sums that would wrap a u16.
        for (flags, l3) in [
            (F::TX_IPV4 | F::TX_TCP_CKSUM, 16),
            (F::TX_IPV4 | F::TX_TCP_CKSUM, 64),
            (F::TX_IPV4 | F::TX_IP_CKSUM | F::TX_TCP_CKSUM, 65_530),
            (F::TX_IPV6 | F::TX_TCP_SEG, 65_530),
            (F::TX_IPV6 | F::TX_UDP_CKSUM, u16::MAX),
        ] {
            let mut m = ask(&pool, &tcp4, &[tcp4.len()], flags, Ip::V4, 20, 100);
            m.set_tx_offload(TxOffload { l2_len: 14, l3_len: l3, l4_len: 20, tso_segsz: 100 });
            assert_eq!(prepare(&mut m, ALL), Err(HdrError::BadLengths), "l3_len {l3}");
            assert_eq!(m.data(), &tcp4[..], "l3_len {l3}: unchanged");
        }
    }

    #[test]
    fn a_tso_frame_with_cwr_needs_host_ecn_and_says_so() {
        let pool = pool();
        let mut f = seeded(frame(Ip::V4, TCP, 20, 3000), Ip::V4, TCP, 16, true);
        f[34 + 13] |= 0x80; // CWR
        let tso = F::TX_IPV4 | F::TX_TCP_SEG;
        let mut m = ask(&pool, &f, &[1500, f.len() - 1500], tso, Ip::V4, 20, 1000);
        let no_ecn = HdrOffloads { ecn: false, ..ALL };
        assert_eq!(prepare(&mut m, no_ecn), Err(HdrError::NotNegotiated));
        let (_, hdr) = prepare(&mut m, ALL).unwrap();
        assert_eq!(hdr[GSO_TYPE], HDR_GSO_TCPV4 | HDR_GSO_ECN);
        // Without CWR: no ECN bit, whatever was negotiated.
        f[34 + 13] &= !0x80;
        let mut m = ask(&pool, &f, &[1500, f.len() - 1500], tso, Ip::V4, 20, 1000);
        assert_eq!(prepare(&mut m, no_ecn).unwrap().1[GSO_TYPE], HDR_GSO_TCPV4);
    }
}
