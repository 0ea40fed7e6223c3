//! The icmpecho engine on hand-built frames: ARP and echo replies with
//! every field and checksum as a Linux host checks them (checksums summed
//! independently), everything else dropped and counted; and, end to end
//! over a pair of virtual ports, a request sent on one port comes back
//! answered.

use ferrite_apps::fwd::{EngineConfig, Stream, StreamId, StreamStats};
use ferrite_pmd::port::MacAddr;
use ferrite_pmd::{Mbuf, MbufBatch, PortConfig};
use ferrite_tests::frames::{self, arp_request, eth, icmp_echo_request, ipv4, rfc1071, udp};
use ferrite_tests::scripted::{GivenRx, KeepTx};

const PORT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
const HOST_MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
const HOST_IP: [u8; 4] = [10, 1, 0, 2];
const ASKED_IP: [u8; 4] = [10, 1, 0, 99];

fn run(frames: Vec<Mbuf>) -> (Vec<Mbuf>, StreamStats) {
    let id = StreamId { rx_port: 0, rx_queue: 0, tx_port: 0, tx_queue: 0 };
    let out = KeepTx::default();
    let engine = EngineConfig::IcmpEcho { port_mac: MacAddr(PORT_MAC) };
    let mut s = Stream::new(id, Box::new(GivenRx(frames)), Box::new(out.clone()), 64, engine).unwrap();
    while s.poll() > 0 {}
    let st = s.counters().snapshot();
    assert!(st.balanced(), "{st:?}");
    (out.take(), st)
}

fn arp_frame(tags: &[(u16, u16)], sip: [u8; 4], tip: [u8; 4]) -> Vec<u8> {
    [eth([0xff; 6], HOST_MAC, tags, 0x0806), arp_request(HOST_MAC, sip, tip)].concat()
}

fn echo_frame(dst_mac: [u8; 6], dst_ip: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let icmp = icmp_echo_request(0x4242, 7, payload);
    let mut ip = ipv4(1, HOST_IP, dst_ip, 0, &icmp);
    let ck = !rfc1071(&ip[..20]);
    ip[10..12].copy_from_slice(&ck.to_be_bytes());
    [eth(dst_mac, HOST_MAC, &[], 0x0800), ip].concat()
}

/// Checks an ARP reply at `off` (after the Ethernet header and tags).
fn assert_arp_reply(f: &[u8], off: usize) {
    assert_eq!((&f[..6], &f[6..12]), (&HOST_MAC[..], &PORT_MAC[..]), "to the requester, from the port");
    assert_eq!(f[off - 2..off], [0x08, 0x06]);
    let a = &f[off..off + 28];
    assert_eq!(a[..8], [0, 1, 8, 0, 6, 4, 0, 2], "Ethernet/IPv4, opcode 2 (reply)");
    assert_eq!((&a[8..14], &a[14..18]), (&PORT_MAC[..], &ASKED_IP[..]), "sender: the port, at the IP asked about");
    assert_eq!((&a[18..24], &a[24..28]), (&HOST_MAC[..], &HOST_IP[..]), "target: the requester");
}

#[test]
fn an_arp_request_for_any_address_gets_the_ports_mac() {
    let pool = ferrite_tests::pool("echo-arp", 8);
    let plain = arp_frame(&[], HOST_IP, ASKED_IP);
    let tagged = arp_frame(&[(0x8100, 42)], HOST_IP, ASKED_IP);
    let (sent, st) = run(vec![frames::mbuf(&pool, &plain, &[]), frames::mbuf(&pool, &tagged, &[])]);
    assert_eq!((sent.len(), st.consumed), (2, 0));
    let f = frames::bytes(&sent[0]);
    assert_eq!(f.len(), plain.len());
    assert_arp_reply(&f, 14);
    let g = frames::bytes(&sent[1]);
    assert_eq!(g[12..16], [0x81, 0x00, 0, 42], "the tag stays");
    assert_arp_reply(&g, 18);
}

/// Checks an echo reply to `echo_frame(_, asked, payload)`.
fn assert_echo_reply(f: &[u8], request: &[u8], from_ip: [u8; 4]) {
    assert_eq!(f.len(), request.len());
    assert_eq!(&f[..6], &HOST_MAC[..], "back to the requester");
    assert!(frames::ipv4_header_ok(f, 14), "IP header checksum");
    assert_eq!((&f[26..30], &f[30..34]), (&from_ip[..], &HOST_IP[..]));
    assert_eq!(f[22], request[22], "TTL kept");
    assert_eq!(f[34..36], [0, 0], "echo reply, code 0");
    assert_eq!(rfc1071(&f[34..]), 0xffff, "ICMP checksum over the whole message");
    assert_eq!(f[38..], request[38..], "identifier, sequence and data echoed");
}

#[test]
fn an_echo_request_gets_a_reply_a_host_accepts() {
    let pool = ferrite_tests::pool("echo-icmp", 16);
    let unicast = echo_frame(PORT_MAC, ASKED_IP, &(0..57u8).collect::<Vec<_>>());
    let to_group = echo_frame([1, 0, 0x5e, 0, 0, 1], [224, 0, 0, 1], b"ping");
    let chained = echo_frame(PORT_MAC, ASKED_IP, &[0xa5; 1500]);
    let frames_in = vec![
        frames::mbuf(&pool, &unicast, &[]),
        frames::mbuf(&pool, &to_group, &[]),
        frames::mbuf(&pool, &chained, &[100, 1001]),
    ];
    let (sent, st) = run(frames_in);
    assert_eq!((sent.len(), st.tx, st.consumed), (3, 3, 0));
    let f = frames::bytes(&sent[0]);
    assert_eq!(&f[6..12], &PORT_MAC[..], "from the address it was sent to");
    assert_echo_reply(&f, &unicast, ASKED_IP);
    let g = frames::bytes(&sent[1]);
    assert_eq!(&g[6..12], &PORT_MAC[..], "never from a group address");
    // As DPDK: from the requester's neighbour (low two bits changed).
    assert_echo_reply(&g, &to_group, [10, 1, 0, 1]);
    assert_echo_reply(&frames::bytes(&sent[2]), &chained, ASKED_IP);
}

#[test]
fn many_echo_payloads_all_get_valid_checksums() {
    // The reply's checksum is updated, not recomputed: try it against
    // every corner many payloads reach (0x0000 and 0xffff included).
    let pool = ferrite_tests::pool("echo-many", 4096);
    let mut seed = 7u64;
    let requests: Vec<Vec<u8>> = (0..3000usize)
        .map(|i| {
            let p: Vec<u8> = (0..i % 64)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (seed >> 56) as u8
                })
                .collect();
            echo_frame(PORT_MAC, ASKED_IP, &p)
        })
        .collect();
    let (sent, _) = run(requests.iter().map(|f| frames::mbuf(&pool, f, &[])).collect());
    assert_eq!(sent.len(), requests.len());
    for (req, m) in requests.iter().zip(&sent) {
        assert_echo_reply(&frames::bytes(m), req, ASKED_IP);
    }
}

#[test]
fn what_it_does_not_answer_is_dropped_and_counted() {
    let pool = ferrite_tests::pool("echo-drop", 64);
    let mut reply = arp_frame(&[], HOST_IP, ASKED_IP);
    reply[21] = 2; // an ARP reply
    let mut echo_reply = echo_frame(PORT_MAC, ASKED_IP, b"x");
    echo_reply[34] = 0;
    let mut fragment = echo_frame(PORT_MAC, ASKED_IP, b"frag");
    fragment[20] = 0x20; // more fragments follow
    let mut bad_len = echo_frame(PORT_MAC, ASKED_IP, b"len");
    bad_len[16..18].copy_from_slice(&500u16.to_be_bytes());
    let udp_frame =
        [eth(PORT_MAC, HOST_MAC, &[], 0x0800), ipv4(17, HOST_IP, ASKED_IP, 0, &udp(1, 2, 0, b"u"))].concat();
    let dropped = [
        reply,
        arp_frame(&[], HOST_IP, HOST_IP),                 // an announcement
        arp_frame(&[], [0; 4], ASKED_IP),                 // a probe
        arp_frame(&[], HOST_IP, ASKED_IP)[..30].to_vec(), // cut short
        echo_reply,
        fragment,
        bad_len,
        echo_frame(PORT_MAC, ASKED_IP, b"cut")[..37].to_vec(),
        udp_frame,
        eth(PORT_MAC, HOST_MAC, &[], 0x86dd),
        vec![0u8; 5],
    ];
    let answered = arp_frame(&[], HOST_IP, ASKED_IP);
    let mut frames_in: Vec<Mbuf> = dropped.iter().map(|f| frames::mbuf(&pool, f, &[])).collect();
    frames_in.push(frames::mbuf(&pool, &answered, &[]));
    let (sent, st) = run(frames_in);
    assert_eq!((st.rx, st.tx, st.consumed), (12, 1, 11), "{st:?}");
    assert_arp_reply(&frames::bytes(&sent[0]), 14);
    drop(sent);
    assert_eq!(pool.available(), 64, "dropped frames went back to the pool");
}

#[test]
fn requests_sent_over_a_pair_come_back_answered() {
    let _lc = ferrite_pmd::lcore::register().expect("lcore");
    let conf = PortConfig::default();
    let mut setup = ferrite_tests::virt_ports(&["pair0", "pair1"], &conf, 1024);
    let mut host_tx = setup.queues[0].tx.remove(0);
    let mut host_rx = setup.queues[0].rx.remove(0);
    let (rx1, tx1) = (setup.queues[1].rx.remove(0), setup.queues[1].tx.remove(0));
    let port_mac = setup.ports[1].mac_address();
    let id = StreamId { rx_port: 1, rx_queue: 0, tx_port: 1, tx_queue: 0 };
    let mut echo = Stream::new(id, rx1, tx1, 32, EngineConfig::IcmpEcho { port_mac }).unwrap();
    let request = echo_frame(port_mac.0, ASKED_IP, b"over the wire");
    let mut batch = MbufBatch::new();
    for f in [arp_frame(&[], HOST_IP, ASKED_IP), request.clone()] {
        assert!(batch.push(frames::mbuf(&setup.pools[0], &f, &[])).is_ok());
    }
    assert_eq!(host_tx.tx_burst(&mut batch), 2);
    for _ in 0..100 {
        echo.poll();
    }
    let mut got = MbufBatch::new();
    while host_rx.rx_burst(&mut got, 32) > 0 {}
    assert_eq!(got.len(), 2, "both answered");
    let arp = frames::bytes(&got.as_slice()[0]);
    assert_eq!(&arp[28..32], &ASKED_IP[..]);
    assert_eq!(&arp[22..28], &port_mac.0[..], "the port's MAC for the address asked about");
    assert_echo_reply(&frames::bytes(&got.as_slice()[1]), &request, ASKED_IP);
    let st = echo.counters().snapshot();
    assert_eq!((st.rx, st.tx, st.consumed), (2, 2, 0));
    got.clear();
    drop((echo, host_tx, host_rx));
    setup.queues.clear();
    setup.stop();
    setup.assert_pools_full();
}
