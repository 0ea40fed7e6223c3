//! The 5tswap engine on hand-built frames: MACs, IP addresses and TCP/UDP
//! ports swapped exactly, every other byte kept (so checksums that were
//! right stay right), and the walk stops at the first layer it cannot read.

use ferrite_apps::fwd::{EngineConfig, Stream, StreamId};
use ferrite_pmd::Mbuf;
use ferrite_tests::frames::{self, eth, ipv4, ipv6, l4_sum, rfc1071, sctp, tcp, udp};
use ferrite_tests::scripted::{GivenRx, KeepTx};

const M1: [u8; 6] = [2, 0, 0, 0, 0, 1];
const M2: [u8; 6] = [2, 0, 0, 0, 0, 2];

fn run(frames: Vec<Mbuf>) -> Vec<Vec<u8>> {
    let id = StreamId { rx_port: 0, rx_queue: 0, tx_port: 0, tx_queue: 0 };
    let out = KeepTx::default();
    let mut s =
        Stream::new(id, Box::new(GivenRx(frames)), Box::new(out.clone()), 64, EngineConfig::FiveTupleSwap).unwrap();
    while s.poll() > 0 {}
    assert!(s.counters().snapshot().balanced());
    out.take().iter().map(frames::bytes).collect()
}

/// `f` with the byte ranges of each pair exchanged (the expected result,
/// built without the engine's parser).
fn swapped(f: &[u8], pairs: &[(usize, usize, usize)]) -> Vec<u8> {
    let mut g = f.to_vec();
    for &(a, b, len) in pairs {
        g[a..a + len].copy_from_slice(&f[b..b + len]);
        g[b..b + len].copy_from_slice(&f[a..a + len]);
    }
    g
}

/// An IPv4 frame with correct checksums (header and L4).
fn v4(tags: &[(u16, u16)], proto: u8, l4: Vec<u8>) -> Vec<u8> {
    let l2 = eth(M1, M2, tags, 0x0800);
    let mut ip = ipv4(proto, [10, 0, 0, 1], [172, 16, 9, 200], 0, &l4);
    let ck = !rfc1071(&ip[..20]);
    ip[10..12].copy_from_slice(&ck.to_be_bytes());
    let mut f = [l2.clone(), ip].concat();
    let (ipo, l4o) = (l2.len(), l2.len() + 20);
    let at = l4o + if proto == 6 { 16 } else { 6 };
    let ck = !l4_sum(&f, ipo, proto, l4o, f.len());
    f[at..at + 2].copy_from_slice(&ck.to_be_bytes());
    f
}

#[test]
fn macs_addresses_and_ports_are_swapped_and_nothing_else() {
    let pool = ferrite_tests::pool("swap-ok", 16);
    let t = v4(&[], 6, tcp(1111, 80, 0, b"hello"));
    let u = v4(&[(0x8100, 5)], 17, udp(5353, 53, 0, b"query"));
    let q = v4(&[(0x88a8, 1), (0x8100, 2)], 17, udp(9, 10, 0, &[7; 31]));
    let a6 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let b6 = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    let s6 = [eth(M1, M2, &[], 0x86dd), ipv6(17, a6, b6, &udp(4000, 4001, 0x1234, b"six"))].concat();
    let cases = [
        (t.clone(), vec![(0, 6, 6), (26, 30, 4), (34, 36, 2)]),
        (u.clone(), vec![(0, 6, 6), (30, 34, 4), (38, 40, 2)]),
        (q.clone(), vec![(0, 6, 6), (34, 38, 4), (42, 44, 2)]),
        (s6.clone(), vec![(0, 6, 6), (22, 38, 16), (54, 56, 2)]),
    ];
    let sent = run(cases.iter().map(|(f, _)| frames::mbuf(&pool, f, &[])).collect());
    for ((f, pairs), out) in cases.iter().zip(&sent) {
        assert_eq!(out, &swapped(f, pairs), "{f:02x?}");
    }
    // Sums do not depend on word order: what was right is still right.
    assert!(frames::ipv4_header_ok(&sent[0], 14));
    assert_eq!(l4_sum(&sent[0], 14, 6, 34, sent[0].len()), 0xffff);
    assert_eq!(l4_sum(&sent[2], 22, 17, 42, sent[2].len()), 0xffff);
}

#[test]
fn the_walk_stops_at_the_first_layer_it_cannot_read() {
    let pool = ferrite_tests::pool("swap-short", 16);
    let t = v4(&[], 6, tcp(1111, 80, 0, b"hello"));
    let s = v4(&[], 132, sctp(1, 2, [0; 4], b"data"));
    let mut later = v4(&[], 17, udp(1, 2, 0, b"x"));
    later[20] = 0x00;
    later[21] = 0x10; // fragment offset 16: no UDP header here
    let cases = [
        (t[..8].to_vec(), vec![]),
        (t[..13].to_vec(), vec![(0, 6, 6)]),
        (t[..30].to_vec(), vec![(0, 6, 6)]),           // IPv4 header cut
        (t[..36].to_vec(), vec![(0, 6, 6)]),           // total length beyond the frame
        (s.clone(), vec![(0, 6, 6), (26, 30, 4)]),     // SCTP ports kept: its CRC depends on order
        (later.clone(), vec![(0, 6, 6), (26, 30, 4)]), // a later fragment has no ports
    ];
    let sent = run(cases.iter().map(|(f, _)| frames::mbuf(&pool, f, &[])).collect());
    for ((f, pairs), out) in cases.iter().zip(&sent) {
        assert_eq!(out, &swapped(f, pairs), "{f:02x?}");
    }
}
