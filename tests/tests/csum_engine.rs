//! The csum engine on hand-built frames: every checksum it leaves is
//! checked by an independent RFC 1071 sum (or a bitwise CRC-32C), on the
//! software path (virtual ports' case: no offloads) and on the offload
//! path (flags, lengths, pseudo-header); receive verdicts are counted;
//! frames it cannot parse pass unchanged and nothing panics.

use ferrite_apps::fwd::csum::CsumConfig;
use ferrite_apps::fwd::{EngineConfig, Stream, StreamId, StreamStats};
use ferrite_pmd::mem::{OffloadFlags, TxOffload};
use ferrite_pmd::port::TxOffloads;
use ferrite_pmd::{Mbuf, Mempool};
use ferrite_tests::frames::{self, eth, ipv4, ipv6, l4_sum, rfc1071, sctp, tcp, udp};
use ferrite_tests::scripted::{GivenRx, KeepTx};

const SRC_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xaa];
const DST_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xbb];
const A4: [u8; 4] = [198, 18, 0, 1];
const B4: [u8; 4] = [198, 19, 7, 2];
const A6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const B6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xab, 0xcd];

fn config(tx_offloads: TxOffloads, tso_segsz: u16) -> CsumConfig {
    CsumConfig { src: SRC_MAC, dst: DST_MAC, tx_offloads, tso_segsz }
}

/// Runs `frames` through one csum stream; returns what it sent and its counters.
fn run(cfg: CsumConfig, frames: Vec<Mbuf>) -> (Vec<Mbuf>, StreamStats) {
    let id = StreamId { rx_port: 0, rx_queue: 0, tx_port: 1, tx_queue: 0 };
    let out = KeepTx::default();
    let mut s = Stream::new(id, Box::new(GivenRx(frames)), Box::new(out.clone()), 64, EngineConfig::Csum(cfg)).unwrap();
    while s.poll() > 0 {}
    let st = s.counters().snapshot();
    assert!(st.balanced(), "{st:?}");
    (out.take(), st)
}

fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn v4(l2: Vec<u8>, proto: u8, l4: Vec<u8>) -> Vec<u8> {
    [l2, ipv4(proto, A4, B4, 0, &l4)].concat()
}

fn plain() -> Vec<u8> {
    eth([0xff; 6], [0xee; 6], &[], 0x0800)
}

/// The frames of the software test, with the offset of their IP header,
/// their protocol and where their L4 data ends.
fn software_frames() -> Vec<(Vec<u8>, usize, u8)> {
    let vlan = eth([0xff; 6], [0xee; 6], &[(0x8100, 7)], 0x0800);
    let qinq = eth([0xff; 6], [0xee; 6], &[(0x88a8, 100), (0x8100, 200)], 0x0800);
    let qinq6 = eth([0xff; 6], [0xee; 6], &[(0x88a8, 1), (0x8100, 2)], 0x86dd);
    vec![
        (v4(plain(), 6, tcp(1000, 80, 0, &payload(101, 1))), 14, 6),
        (v4(plain(), 17, udp(53, 5353, 0x1234, &payload(33, 2))), 14, 17),
        (v4(vlan, 6, tcp(22, 2222, 0xffff, &payload(0, 3))), 18, 6),
        (v4(qinq, 17, udp(1, 2, 0xbeef, &payload(1400, 4))), 22, 17),
        ([eth([0xff; 6], [0xee; 6], &[], 0x86dd), ipv6(17, A6, B6, &udp(7, 9, 0, &payload(77, 5)))].concat(), 14, 17),
        ([qinq6, ipv6(6, A6, B6, &tcp(443, 50000, 0, &payload(900, 6)))].concat(), 22, 6),
    ]
}

#[test]
fn software_checksums_verify_on_their_own() {
    let pool = ferrite_tests::pool("csum-sw", 64);
    let cases = software_frames();
    let frames = cases.iter().map(|(f, _, _)| frames::mbuf(&pool, f, &[])).collect();
    let (sent, st) = run(config(TxOffloads::empty(), 0), frames);
    assert_eq!(sent.len(), cases.len());
    for ((orig, ip, proto), m) in cases.iter().zip(&sent) {
        let f = frames::bytes(m);
        assert_eq!((&f[..6], &f[6..12]), (&DST_MAC[..], &SRC_MAC[..]), "MACs as the mac engine writes them");
        assert_eq!(f.len(), orig.len(), "nothing added or cut");
        if f[*ip] >> 4 == 4 {
            assert!(frames::ipv4_header_ok(&f, *ip), "IPv4 header checksum: {f:02x?}");
        }
        let l4 = ip + if f[*ip] >> 4 == 4 { 20 } else { 40 };
        assert_eq!(l4_sum(&f, *ip, *proto, l4, f.len()), 0xffff, "L4 checksum of {f:02x?}");
        assert_eq!(m.ol_flags().0 & OffloadFlags::TX_ANY.0, 0, "no request to a port without offloads");
    }
    assert_eq!((st.tx_cksum_sw, st.tx_cksum_offload, st.tx_tso), (cases.len() as u64, 0, 0), "{st:?}");
    drop(sent);
    assert_eq!(pool.available(), 64);
}

#[test]
fn a_zero_udp_checksum_over_ipv4_stays_zero_as_in_dpdk() {
    let pool = ferrite_tests::pool("csum-udp0", 8);
    let f = v4(plain(), 17, udp(53, 53, 0, &payload(20, 9)));
    let (sent, st) = run(config(TxOffloads::empty(), 0), vec![frames::mbuf(&pool, &f, &[])]);
    let out = frames::bytes(&sent[0]);
    assert_eq!(out[40..42], [0, 0], "0 means 'no checksum' for UDP over IPv4");
    assert!(frames::ipv4_header_ok(&out, 14), "the IP header is still fixed");
    assert_eq!(st.tx_cksum_sw, 1);
}

#[test]
fn chains_are_summed_across_segments_cut_at_odd_offsets() {
    let pool = ferrite_tests::pool("csum-chain", 32);
    let tcp_frame = v4(plain(), 6, tcp(1, 2, 0, &payload(3001, 7)));
    let sctp_frame = v4(plain(), 132, sctp(5000, 5001, [0xde, 0xad, 0xbe, 0xef], &payload(400, 8)));
    let frames_in =
        vec![frames::mbuf(&pool, &tcp_frame, &[60, 1001, 2501]), frames::mbuf(&pool, &sctp_frame, &[47, 300])];
    let (sent, st) = run(config(TxOffloads::empty(), 0), frames_in);
    let f = frames::bytes(&sent[0]);
    assert_eq!(sent[0].nb_segs(), 4, "forwarded whole");
    assert!(frames::ipv4_header_ok(&f, 14));
    assert_eq!(l4_sum(&f, 14, 6, 34, f.len()), 0xffff);
    let s = frames::bytes(&sent[1]);
    assert!(frames::ipv4_header_ok(&s, 14));
    assert!(frames::sctp_ok(&s[34..]), "CRC-32C over the chain: {:02x?}", &s[34..46]);
    assert_eq!(st.tx_cksum_sw, 2);
}

#[test]
fn receive_verdicts_are_counted_and_not_sent_on() {
    let pool = ferrite_tests::pool("csum-rxflags", 16);
    let f = v4(plain(), 17, udp(1, 2, 1, &payload(10, 1)));
    let flags = [
        OffloadFlags::RX_IP_CKSUM_BAD,
        OffloadFlags::RX_L4_CKSUM_BAD,
        OffloadFlags::RX_IP_CKSUM_BAD | OffloadFlags::RX_L4_CKSUM_BAD,
        OffloadFlags::RX_IP_CKSUM_GOOD | OffloadFlags::RX_L4_CKSUM_GOOD,
        OffloadFlags::default(),
    ];
    let frames_in = flags
        .iter()
        .map(|&fl| {
            let mut m = frames::mbuf(&pool, &f, &[]);
            m.set_ol_flags(fl);
            m
        })
        .collect();
    let (sent, st) = run(config(TxOffloads::empty(), 0), frames_in);
    assert_eq!((st.rx_bad_ip_csum, st.rx_bad_l4_csum), (2, 2), "{st:?}");
    assert!(sent.iter().all(|m| m.ol_flags() == OffloadFlags::default()), "receive flags dropped");
}

/// The pseudo-header sum a NIC expects in the L4 field, built by hand.
fn pseudo_v4(src: [u8; 4], dst: [u8; 4], proto: u8, len: u16) -> u16 {
    let mut p = [src, dst].concat();
    p.extend_from_slice(&[0, proto]);
    p.extend_from_slice(&len.to_be_bytes());
    rfc1071(&p)
}

#[test]
fn the_offload_path_sets_flags_lengths_and_the_pseudo_header() {
    let pool = ferrite_tests::pool("csum-hw", 16);
    let vlan = eth([0xff; 6], [0xee; 6], &[(0x8100, 3)], 0x0800);
    let t = v4(vlan, 6, tcp(1, 2, 0xaaaa, &payload(200, 2)));
    let u6 = [eth([0xff; 6], [0xee; 6], &[], 0x86dd), ipv6(17, A6, B6, &udp(3, 4, 0, &payload(50, 3)))].concat();
    let all = TxOffloads::IPV4_CKSUM | TxOffloads::TCP_CKSUM | TxOffloads::UDP_CKSUM | TxOffloads::SCTP_CKSUM;
    let frames_in = vec![frames::mbuf(&pool, &t, &[]), frames::mbuf(&pool, &u6, &[])];
    let (sent, st) = run(config(all, 0), frames_in);
    let f = frames::bytes(&sent[0]);
    let want = OffloadFlags::TX_IPV4 | OffloadFlags::TX_IP_CKSUM | OffloadFlags::TX_TCP_CKSUM;
    assert_eq!(sent[0].ol_flags(), want);
    assert_eq!(sent[0].tx_offload(), TxOffload { l2_len: 18, l3_len: 20, l4_len: 20, tso_segsz: 0 });
    assert_eq!(f[18 + 10..18 + 12], [0, 0], "the NIC fills the IPv4 checksum");
    let ph = pseudo_v4(A4, B4, 6, 220);
    assert_eq!(u16::from_be_bytes([f[38 + 16], f[38 + 17]]), ph, "pseudo-header sum, not complemented");
    let g = frames::bytes(&sent[1]);
    assert_eq!(sent[1].ol_flags(), OffloadFlags::TX_IPV6 | OffloadFlags::TX_UDP_CKSUM);
    assert_eq!(sent[1].tx_offload(), TxOffload { l2_len: 14, l3_len: 40, l4_len: 8, tso_segsz: 0 });
    let mut p6 = [A6, B6].concat();
    p6.extend_from_slice(&[0, 0, 0, 58, 0, 0, 0, 17]);
    assert_eq!(u16::from_be_bytes([g[60], g[61]]), rfc1071(&p6));
    assert_eq!((st.tx_cksum_offload, st.tx_cksum_sw), (2, 0), "{st:?}");
}

#[test]
fn tso_is_asked_for_long_tcp_frames_on_ports_with_tcp_tso_only() {
    let pool = ferrite_tests::pool("csum-tso", 16);
    let long = v4(plain(), 6, tcp(1, 2, 0, &payload(1000, 4)));
    let short = v4(plain(), 6, tcp(1, 2, 0, &payload(100, 5)));
    let frames_in = vec![frames::mbuf(&pool, &long, &[]), frames::mbuf(&pool, &short, &[])];
    let (sent, st) = run(config(TxOffloads::TCP_TSO, 100), frames_in);
    let f = frames::bytes(&sent[0]);
    assert_eq!(sent[0].ol_flags(), OffloadFlags::TX_IPV4 | OffloadFlags::TX_IP_CKSUM | OffloadFlags::TX_TCP_SEG);
    assert_eq!(sent[0].tx_offload(), TxOffload { l2_len: 14, l3_len: 20, l4_len: 20, tso_segsz: 100 });
    assert_eq!(u16::from_be_bytes([f[50], f[51]]), pseudo_v4(A4, B4, 6, 0), "TSO: pseudo-header without length");
    assert_eq!(f.len(), long.len(), "the NIC segments, not testpmd");
    let s = frames::bytes(&sent[1]);
    assert_eq!(sent[1].ol_flags().0 & OffloadFlags::TX_ANY.0, 0, "100 B of payload fit one segment");
    assert_eq!(l4_sum(&s, 14, 6, 34, s.len()), 0xffff, "so it gets its checksum in software");
    assert_eq!((st.tx_tso, st.tx_cksum_sw), (1, 1), "{st:?}");
    // Without tcp_tso the long frame leaves whole, with its checksum.
    let (sent, st) = run(config(TxOffloads::empty(), 100), vec![frames::mbuf(&pool, &long, &[])]);
    let f = frames::bytes(&sent[0]);
    assert_eq!((f.len(), l4_sum(&f, 14, 6, 34, f.len())), (long.len(), 0xffff));
    assert_eq!((st.tx_tso, st.tx_cksum_sw), (0, 1));
}

#[test]
fn fragments_keep_their_l4_bytes() {
    let pool = ferrite_tests::pool("csum-frag", 8);
    let mut f = v4(plain(), 17, udp(1, 2, 0x4242, &payload(64, 6)));
    f[14 + 6] = 0x20; // more fragments
    let (sent, _) = run(config(TxOffloads::empty(), 0), vec![frames::mbuf(&pool, &f, &[])]);
    let out = frames::bytes(&sent[0]);
    assert!(frames::ipv4_header_ok(&out, 14));
    assert_eq!(out[34..], f[34..], "a fragment's L4 checksum covers bytes that are not here");
}

/// A deterministic byte source for the frames below (xorshift).
fn noise(seed: &mut u64) -> u8 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed as u8
}

#[test]
fn cut_short_or_inconsistent_frames_pass_unchanged_after_the_macs() {
    let pool = ferrite_tests::pool("csum-bad", 4096);
    let good = v4(plain(), 6, tcp(1, 2, 0, &payload(40, 1)));
    let mut broken: Vec<(Vec<u8>, Vec<usize>)> = vec![
        (good[..10].to_vec(), vec![]),
        (good[..14].to_vec(), vec![]),
        (good[..30].to_vec(), vec![]),
        (good[..50].to_vec(), vec![]),
        (good.clone(), vec![40]), // TCP header cut by the segment boundary
    ];
    let mut long_total = good.clone();
    long_total[16..18].copy_from_slice(&2000u16.to_be_bytes());
    broken.push((long_total, vec![]));
    let mut bad_offset = good.clone();
    bad_offset[34 + 12] = 0x20; // TCP data offset 2 words
    broken.push((bad_offset, vec![]));
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for len in 0..400 {
        let mut f: Vec<u8> = (0..len % 120).map(|_| noise(&mut seed)).collect();
        if len % 3 == 0 && f.len() >= 14 {
            f[12..14].copy_from_slice(if len % 2 == 0 { &[0x08, 0x00] } else { &[0x86, 0xdd] });
        }
        broken.push((f, vec![]));
    }
    let frames_in: Vec<Mbuf> = broken.iter().map(|(f, cuts)| frames::mbuf(&pool, f, cuts)).collect();
    let (sent, st) = run(config(TxOffloads::all(), 100), frames_in);
    assert_eq!(sent.len(), broken.len(), "every frame forwarded");
    for ((f, _), m) in broken.iter().zip(&sent).take(7) {
        let out = frames::bytes(m);
        let keep = f.len().min(12);
        assert_eq!(out[keep..], f[keep..], "a frame it cannot parse is left alone: {f:02x?}");
    }
    assert_eq!(st.rx, broken.len() as u64);
    drop(sent);
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn many_random_payloads_all_verify() {
    // Catches a sum that is right for most data but wrong at a corner
    // (a computed 0, an odd length, a carry out of the last word).
    let pool: Mempool = ferrite_tests::pool("csum-many", 4096);
    let mut seed = 42u64;
    let mut cases = Vec::new();
    for i in 0..2000usize {
        let p: Vec<u8> = (0..i % 97).map(|_| noise(&mut seed)).collect();
        let f = if i % 2 == 0 { v4(plain(), 17, udp(1, 2, 1, &p)) } else { v4(plain(), 6, tcp(3, 4, 0, &p)) };
        cases.push(f);
    }
    let frames_in = cases.iter().map(|f| frames::mbuf(&pool, f, &[])).collect();
    let (sent, _) = run(config(TxOffloads::empty(), 0), frames_in);
    for (f, m) in cases.iter().zip(&sent) {
        let out = frames::bytes(m);
        assert_eq!(l4_sum(&out, 14, out[23], 34, f.len()), 0xffff, "{out:02x?}");
        if out[23] == 17 {
            assert_ne!(out[40..42], [0, 0], "a computed UDP checksum is never sent as 0");
        }
    }
}

#[test]
fn a_udp_checksum_that_computes_to_zero_is_sent_as_all_ones() {
    let pool = ferrite_tests::pool("csum-udp-ffff", 8);
    // Choose the last payload word so that everything the checksum covers
    // sums to 0xffff: its complement, the checksum, is then 0, which UDP
    // must send as 0xffff (0 would mean "none").
    let mut f = v4(plain(), 17, udp(1, 2, 0, &[0x12, 0x34, 0, 0]));
    let s = l4_sum(&f, 14, 17, 34, f.len());
    f[44..46].copy_from_slice(&(0xffff - s).to_be_bytes());
    assert_eq!(l4_sum(&f, 14, 17, 34, f.len()), 0xffff);
    f[40..42].copy_from_slice(&[0xab, 0xcd]); // something to fix, not 0
    let (sent, _) = run(config(TxOffloads::empty(), 0), vec![frames::mbuf(&pool, &f, &[])]);
    let out = frames::bytes(&sent[0]);
    assert_eq!(out[40..42], [0xff, 0xff]);
    assert_eq!(l4_sum(&out, 14, 17, 34, out.len()), 0xffff);
}

#[test]
fn padding_goes_where_the_nic_sums_and_stays_where_software_does() {
    let pool = ferrite_tests::pool("csum-pad", 8);
    let mut f = v4(plain(), 6, tcp(1, 2, 0, &[])); // a bare ACK: 54 bytes
    f.resize(60, 0); // padded to the minimum frame, as received
    let (sent, _) = run(config(TxOffloads::TCP_CKSUM, 0), vec![frames::mbuf(&pool, &f, &[])]);
    assert_eq!(sent[0].len(), 54, "the NIC pads again; it must not sum the padding");
    let (sent, _) = run(config(TxOffloads::empty(), 0), vec![frames::mbuf(&pool, &f, &[])]);
    let out = frames::bytes(&sent[0]);
    assert_eq!(out.len(), 60, "forwarded as received");
    assert_eq!(l4_sum(&out, 14, 6, 34, 54), 0xffff, "the checksum covers the segment, not the padding");
}

#[test]
fn padding_spread_over_segments_is_cut_whole_before_the_nic_sums_or_segments() {
    let pool = ferrite_tests::pool("csum-pad-chain", 16);
    // 1054 bytes of TCP over IPv4, then 3942 bytes of trailing junk: the
    // junk fills the last segment and most of the one before.
    let frame = v4(plain(), 6, tcp(1, 2, 0, &payload(1000, 9)));
    let mut padded = frame.clone();
    padded.extend(std::iter::repeat_n(0xee, 4996 - frame.len()));
    let chain = || frames::mbuf(&pool, &padded, &[2048, 4096]);
    let (sent, st) =
        run(config(TxOffloads::TCP_TSO | TxOffloads::TCP_CKSUM | TxOffloads::IPV4_CKSUM, 500), vec![chain()]);
    assert_eq!((sent[0].len(), sent[0].nb_segs()), (frame.len(), 1), "the datagram only, no empty segment left");
    assert!(sent[0].ol_flags().contains(OffloadFlags::TX_TCP_SEG));
    assert_eq!(&frames::bytes(&sent[0])[54..], &frame[54..], "the payload the NIC segments is the datagram's");
    assert_eq!(st.tx_tso, 1);
    drop(sent);
    // Padding that is exactly the last segment goes with it.
    let exact = [frame.clone(), vec![0xee; 100]].concat();
    let (sent, _) = run(config(TxOffloads::TCP_CKSUM, 0), vec![frames::mbuf(&pool, &exact, &[frame.len()])]);
    assert_eq!((sent[0].len(), sent[0].nb_segs()), (frame.len(), 1));
    drop(sent);
    assert_eq!(pool.in_use(), 0, "cut segments went back to the pool");
}

#[test]
fn headers_no_nic_can_describe_get_software_checksums() {
    let pool = ferrite_tests::pool("csum-long-hdr", 8);
    // IPv6 with a 512-byte destination-options header: 552 bytes of IP
    // header, more than a context descriptor's 9-bit IPLEN holds.
    let seg = tcp(1, 2, 0, &payload(3000, 3));
    let mut ext = vec![6u8, 63];
    ext.resize(512, 0);
    let f = [eth([0xff; 6], [0xee; 6], &[], 0x86dd), ipv6(60, A6, B6, &[ext, seg].concat())].concat();
    let all = TxOffloads::TCP_CKSUM | TxOffloads::TCP_TSO;
    let (sent, st) = run(config(all, 1000), vec![frames::mbuf(&pool, &f, &[2048])]);
    let out = frames::bytes(&sent[0]);
    assert_eq!(sent[0].ol_flags().0 & OffloadFlags::TX_ANY.0, 0, "nothing asked of the NIC");
    assert_eq!(l4_sum(&out, 14, 6, 14 + 40 + 512, out.len()), 0xffff, "the TCP checksum, in software");
    assert_eq!((st.tx_cksum_sw, st.tx_cksum_offload, st.tx_tso), (1, 0, 0));
}
