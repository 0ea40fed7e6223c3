//! l3fwd's routing step (`pmd/examples/l3fwd/`), called in-process on pair
//! ports with frames made to take every path: routed by the longest prefix,
//! TTL lowered with a checksum that a fresh computation agrees with, MACs
//! rewritten; and each kind of frame a router must not forward counted under
//! its reason. The example itself, run as a user runs it, routes the Linux
//! kernel's pings between two namespaces in `tests/host/75-l3fwd.sh`.

use ferrite_pmd::ether::EthernetFrame;
use ferrite_pmd::port::MacAddr;
use ferrite_pmd::{open_ports, MbufBatch, Mempool, MempoolConfig, OpenOptions, PortConfig};

#[allow(dead_code)] // its main and argument parsing are not called here
#[path = "../examples/l3fwd/main.rs"]
mod l3fwd;

use l3fwd::{Drops, Egress};

/// An Ethernet + IPv4 + 8-byte payload frame to `dst` with TTL `ttl`, its
/// header checksum right; `ethertype` as given (0x0806 makes it ARP).
fn frame(dst: [u8; 4], ttl: u8, ethertype: u16) -> Vec<u8> {
    let mut f = vec![0x02, 0xaa, 0, 0, 0, 1, 0x02, 0xbb, 0, 0, 0, 2];
    f.extend(ethertype.to_be_bytes());
    f.extend([0x45, 0, 0, 28, 0xbe, 0xef, 0x40, 0, ttl, 17, 0, 0, 192, 168, 7, 1]);
    f.extend(dst);
    f.extend(*b"payload!");
    let c = l3fwd_checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

/// RFC 1071, written here again so the test does not trust l3fwd's own.
fn l3fwd_checksum(h: &[u8]) -> u16 {
    let mut s: u32 = h.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn to_batch(pool: &Mempool, frames: &[Vec<u8>]) -> MbufBatch {
    let mut b = MbufBatch::new();
    for f in frames {
        let mut m = pool.alloc().expect("pool");
        m.append(f.len()).expect("room").copy_from_slice(f);
        b.push(m).expect("batch room");
    }
    b
}

#[test]
fn l3fwd_routes_by_longest_prefix_lowers_ttl_and_counts_each_drop_by_reason() {
    // pair0 -> pair1 (l3fwd port 0) ... l3fwd port 1 (pair2) -> pair3.
    let mut ports = open_ports(&["pair0", "pair1", "pair2", "pair3"], &OpenOptions::default()).unwrap();
    let pool = Mempool::new(&MempoolConfig::for_ports("l3fwd-test", 1024, &ports)).unwrap();
    let mut q = Vec::new();
    for p in ports.iter_mut() {
        p.configure(&PortConfig::default(), &pool).unwrap();
        q.push(p.open().unwrap());
    }
    let routes = "10.1.0.0/16 0\n10.2.0.0/16 1\n10.2.5.0/24 0 # more specific: back out of port 0\n";
    let table = l3fwd::lpm::Dir24::new(&l3fwd::routes::parse(routes, 2).unwrap());
    let (peer0, peer1) = (MacAddr([0x02, 0, 0, 0, 0xa0, 0]), MacAddr([0x02, 0, 0, 0, 0xa1, 1]));
    let egress =
        [Egress { src: ports[1].mac_address(), dst: peer0 }, Egress { src: ports[2].mac_address(), dst: peer1 }];
    let mut sent = Vec::new();
    sent.extend(std::iter::repeat_n(frame([10, 2, 0, 7], 64, 0x0800), 10)); // port 1
    sent.extend(std::iter::repeat_n(frame([10, 2, 5, 9], 64, 0x0800), 5)); // port 0 (/24 beats /16)
    sent.extend(std::iter::repeat_n(frame([10, 1, 3, 3], 2, 0x0800), 3)); // port 0, TTL 2 -> 1
    sent.extend(std::iter::repeat_n(frame([10, 1, 3, 3], 1, 0x0800), 2)); // TTL expired
    let mut bad = frame([10, 1, 3, 3], 64, 0x0800);
    bad[25] ^= 0x40;
    sent.extend([bad.clone(), bad]); // bad header checksum
    sent.extend(std::iter::repeat_n(frame([10, 1, 3, 3], 64, 0x0806), 2)); // not IPv4
    sent.extend(std::iter::repeat_n(frame([192, 0, 2, 1], 64, 0x0800), 2)); // no route
    let mut b = to_batch(&pool, &sent);
    assert_eq!(q[0].tx[0].tx_burst(&mut b), 26);

    let mut burst = MbufBatch::new();
    assert_eq!(q[1].rx[0].rx_burst(&mut burst, 32), 26);
    let (left, right) = q.split_at_mut(2);
    let mut txs = vec![std::mem::take(&mut left[1].tx).remove(0), std::mem::take(&mut right[0].tx).remove(0)];
    let mut outs = [MbufBatch::new(), MbufBatch::new()];
    let mut drops = Drops::default();
    l3fwd::route_burst(&mut burst, &mut outs, &mut txs, &table, &egress, &mut drops);
    let want = Drops { not_ipv4: 2, bad_header: 2, ttl_expired: 2, no_route: 2, ..Drops::default() };
    assert_eq!(drops, want);
    drop(txs);

    // What came out of each l3fwd port, read at the far end of its wire.
    for (far, want_n, out_port, peer) in [(3, 10, 2, peer1), (0, 8, 1, peer0)] {
        let mut got = MbufBatch::new();
        assert_eq!(q[far].rx[0].rx_burst(&mut got, 32), want_n, "frames out of l3fwd port via pair{out_port}");
        for m in got.iter() {
            let d = m.data();
            let eth = EthernetFrame::new_checked(d).unwrap();
            assert_eq!((eth.src(), eth.dst()), (ports[out_port].mac_address(), peer));
            let ip = &d[14..34];
            assert!(ip[8] == 63 || (ip[8] == 1 && ip[16..18] == [10, 1]), "TTL lowered by one: {}", ip[8]);
            assert_eq!(l3fwd_checksum(ip), 0, "the header checksum is right after the TTL change");
            assert_eq!(&d[34..], b"payload!", "payload untouched");
            let dst = [ip[16], ip[17], ip[18]];
            let to_port1 = dst == [10, 2, 0];
            assert_eq!(to_port1, out_port == 2, "routed by longest prefix: {dst:?}");
        }
    }
    drop(q);
    for p in ports.iter_mut() {
        p.stop().unwrap();
    }
    assert_eq!(pool.available(), pool.capacity(), "every mbuf back");
}
