//! No heap allocation on the per-packet path of the offload engines: csum
//! (software and offload paths, TSO included), icmpecho (answering and
//! dropping), 5tswap, and software `--tx-vlan` on a forwarder and a
//! generator, over a mix of hand-built frames (VLAN, QinQ, IPv6, SCTP,
//! ARP, ICMP, cut-short ones) replayed from the pool into null ports,
//! under a counting global allocator. (One test in this file, as the
//! other no_alloc files.)

use ferrite_apps::fwd::csum::CsumConfig;
use ferrite_apps::fwd::vlan::TxVlan;
use ferrite_apps::fwd::{EngineConfig, NoQueue, Stream, StreamId, TxGenConfig};
use ferrite_pmd::port::{MacAddr, TxOffloads};
use ferrite_pmd::{lcore, PortConfig};
use ferrite_tests::frames::{arp_request, eth, icmp_echo_request, ipv4, ipv6, sctp, tcp, udp};
use ferrite_tests::scripted::ReplayRx;
use ferrite_tests::{poll_counting_allocations, udp_spec, virt_ports, CountingAlloc};

#[global_allocator]
static A: CountingAlloc = CountingAlloc;

const PORT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const HOST: [u8; 6] = [2, 0, 0, 0, 0, 9];

fn mix() -> Vec<Vec<u8>> {
    let v4 = |tags: &[(u16, u16)], proto: u8, l4: Vec<u8>| {
        [eth(PORT_MAC, HOST, tags, 0x0800), ipv4(proto, [10, 0, 0, 9], [10, 0, 0, 1], 0, &l4)].concat()
    };
    let long_tcp = v4(&[], 6, tcp(1, 2, 0, &[3; 1400]));
    vec![
        long_tcp.clone(),
        v4(&[(0x8100, 5)], 17, udp(1, 2, 9, &[4; 99])),
        v4(&[(0x88a8, 1), (0x8100, 2)], 132, sctp(1, 2, [0; 4], &[5; 64])),
        [eth(PORT_MAC, HOST, &[], 0x86dd), ipv6(6, [1; 16], [2; 16], &tcp(5, 6, 0, &[6; 300]))].concat(),
        [eth([0xff; 6], HOST, &[], 0x0806), arp_request(HOST, [10, 0, 0, 9], [10, 0, 0, 1])].concat(),
        v4(&[], 1, icmp_echo_request(1, 2, &[7; 56])),
        long_tcp[..40].to_vec(),
        vec![0xff; 9],
    ]
}

#[test]
fn offload_engines_do_not_allocate() {
    let _lc = lcore::register().expect("lcore");
    let conf = PortConfig { rx_queues: 1, tx_queues: 8, rx_ring_size: 512, tx_ring_size: 512, ..PortConfig::default() };
    let mut setup = virt_ports(&["null0", "null1"], &conf, 8192);
    let mut txs: Vec<_> = setup.queues[1].tx.drain(..).collect();
    let pool = setup.pools[0].clone();
    let replay = || Box::new(ReplayRx { pool: pool.clone(), frames: mix(), next: 0 });
    let id = |q: u16| StreamId { rx_port: 0, rx_queue: 0, tx_port: 1, tx_queue: q };
    let csum = |tx_offloads| EngineConfig::Csum(CsumConfig { src: PORT_MAC, dst: HOST, tx_offloads, tso_segsz: 536 });
    let offloads = TxOffloads::IPV4_CKSUM | TxOffloads::TCP_CKSUM | TxOffloads::UDP_CKSUM | TxOffloads::TCP_TSO;
    let engines = [
        csum(TxOffloads::empty()),
        csum(offloads),
        EngineConfig::IcmpEcho { port_mac: MacAddr(PORT_MAC) },
        EngineConfig::FiveTupleSwap,
        EngineConfig::Io,
    ];
    let mut streams = Vec::new();
    for (q, engine) in engines.into_iter().enumerate() {
        let mut s = Stream::new(id(q as u16), replay(), txs.remove(0), 32, engine).unwrap();
        s.set_tx_vlan(TxVlan { tci: 100 + q as u16, offload: false });
        streams.push(s);
    }
    let gen = TxGenConfig {
        pool: setup.pools[1].clone(),
        spec: udp_spec(128),
        flows: 7,
        rate_pps: None,
        count: None,
        segments: vec![],
    };
    let mut g = Stream::new(id(7), Box::new(NoQueue), txs.remove(0), 32, EngineConfig::TxGen(gen)).unwrap();
    g.set_tx_vlan(TxVlan { tci: 7, offload: false });
    streams.push(g);
    let (work, allocations) = poll_counting_allocations(&mut streams, 20_000);
    assert_eq!(allocations, 0, "the per-packet path allocated {allocations} times");
    assert!(work > 100_000, "engines did work ({work} frames)");
    for s in &streams {
        let st = s.counters().snapshot();
        assert!(st.tx > 0 && st.balanced(), "{:?}: {st:?}", s.id());
    }
    let icmp = streams[2].counters().snapshot();
    assert!(icmp.consumed > 0 && icmp.tx > 0, "icmpecho both answered and dropped: {icmp:?}");
    let sw = streams[0].counters().snapshot();
    assert!(sw.tx_cksum_sw > 0, "{sw:?}");
    let hw = streams[1].counters().snapshot();
    assert!(hw.tx_tso > 0 && hw.tx_cksum_offload > 0, "{hw:?}");
    drop(streams);
    drop(txs);
    setup.queues.clear();
    setup.stop();
    setup.assert_pools_full();
}
