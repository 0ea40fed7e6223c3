//! No heap allocation on the per-packet path of loop and pair ports: io
//! streams forward primed frames (on queue 1, mbuf chains) round and round
//! under a counting global allocator; after a warm-up the count does not move.

use ferrite_apps::fwd::{EngineConfig, Stream, StreamId, TxGenConfig};
use ferrite_pmd::{lcore, PortConfig};
use ferrite_tests::{poll_counting_allocations, udp_spec, virt_ports, CountingAlloc};

#[global_allocator]
static A: CountingAlloc = CountingAlloc;

#[test]
fn io_over_loop_and_pair_does_not_allocate() {
    let _lc = lcore::register().expect("lcore");
    let conf = PortConfig { rx_queues: 2, tx_queues: 2, rx_ring_size: 256, tx_ring_size: 256, ..PortConfig::default() };
    let mut setup = virt_ports(&["loop0", "pair0", "pair1"], &conf, 8192);
    // loop0 q -> loop0 q; pair0 q -> pair1 q; pair1 q -> pair0 q.
    let peer = [0usize, 2, 1];
    let mut txs: Vec<Vec<_>> = setup.queues.iter_mut().map(|q| q.tx.drain(..).map(Some).collect()).collect();
    let mut streams = Vec::new();
    for (p, &to) in peer.iter().enumerate() {
        let rxs: Vec<_> = setup.queues[p].rx.drain(..).collect();
        for (q, rx) in rxs.into_iter().enumerate() {
            let id = StreamId { rx_port: p as u16, rx_queue: q as u16, tx_port: to as u16, tx_queue: q as u16 };
            let mut s = Stream::new(id, rx, txs[to][q].take().unwrap(), 32, EngineConfig::Io).unwrap();
            let prime = TxGenConfig {
                pool: setup.pools[to].clone(),
                spec: udp_spec(128),
                flows: 1,
                rate_pps: None,
                count: None,
                // Queue 1 circulates two-segment chains.
                segments: if q == 1 { vec![60, 68] } else { Vec::new() },
            };
            s.tx_first(&prime, 4).unwrap();
            streams.push(s);
        }
    }
    let (work, allocations) = poll_counting_allocations(&mut streams, 100_000);
    assert_eq!(allocations, 0, "the per-packet path allocated {allocations} times");
    assert!(work > 1_000_000, "frames kept circulating ({work})");
    for s in streams.iter_mut() {
        s.drain(4096);
        assert!(s.counters().snapshot().balanced());
    }
    drop(streams);
    drop(txs);
    setup.queues.clear();
    setup.stop();
    setup.assert_pools_full();
}
