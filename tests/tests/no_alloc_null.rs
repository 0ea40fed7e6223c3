//! No heap allocation on the per-packet path: with a counting global
//! allocator, polling every engine over null ports for many bursts after a
//! warm-up allocates nothing, multi-segment generation included. (One test in this file: the allocator counts
//! per thread, but keeping the file to one test keeps it obvious.)

use ferrite_apps::fwd::{EngineConfig, NoQueue, Stream, StreamId, TxGenConfig};
use ferrite_pmd::port::MacAddr;
use ferrite_pmd::{lcore, PortConfig};
use ferrite_tests::{poll_counting_allocations, udp_spec, virt_ports, CountingAlloc};

#[global_allocator]
static A: CountingAlloc = CountingAlloc;

#[test]
fn engines_over_null_ports_do_not_allocate() {
    let _lc = lcore::register().expect("lcore");
    let conf = PortConfig { rx_queues: 4, tx_queues: 4, rx_ring_size: 512, tx_ring_size: 512, ..PortConfig::default() };
    let mut setup = virt_ports(&["null0", "null1"], &conf, 8192);
    let mut rx0: Vec<_> = setup.queues[0].rx.drain(..).collect();
    let mut tx1: Vec<_> = setup.queues[1].tx.drain(..).collect();
    let id = |q: u16| StreamId { rx_port: 0, rx_queue: q, tx_port: 1, tx_queue: q };
    let mac = EngineConfig::Mac { src: MacAddr([2, 0, 0, 0, 0, 1]), dst: MacAddr([2, 0, 0, 0, 0, 2]) };
    let gen = |flows: u32, rate: Option<f64>, segments: Vec<usize>| {
        EngineConfig::TxGen(TxGenConfig {
            pool: setup.pools[1].clone(),
            spec: udp_spec(segments.iter().sum::<usize>().max(64)),
            flows,
            rate_pps: rate,
            count: None,
            segments,
        })
    };
    let mut streams = vec![
        Stream::new(id(0), rx0.remove(0), tx1.remove(0), 32, EngineConfig::Io).unwrap(),
        Stream::new(id(1), rx0.remove(0), tx1.remove(0), 32, mac).unwrap(),
        Stream::new(id(2), rx0.remove(0), tx1.remove(0), 32, EngineConfig::MacSwap).unwrap(),
        Stream::new(id(3), rx0.remove(0), Box::new(NoQueue), 32, EngineConfig::RxOnly).unwrap(),
        Stream::new(id(3), Box::new(NoQueue), tx1.remove(0), 64, gen(100, None, vec![])).unwrap(),
    ];
    let mut extra_tx: Vec<_> = setup.queues[0].tx.drain(..).collect();
    streams.push(Stream::new(id(0), Box::new(NoQueue), extra_tx.remove(0), 8, gen(1, Some(1e9), vec![])).unwrap());
    // Chains of three segments (`--txpkts 14,50,36`): built from the pool alone.
    let chained = gen(1, None, vec![14, 50, 36]);
    streams.push(Stream::new(id(1), Box::new(NoQueue), extra_tx.remove(0), 32, chained).unwrap());
    let (work, allocations) = poll_counting_allocations(&mut streams, 100_000);
    assert_eq!(allocations, 0, "the per-packet path allocated {allocations} times");
    assert!(work > 1_000_000, "engines did work ({work} frames)");
    for s in &streams {
        let st = s.counters().snapshot();
        assert!(st.rx + st.generated > 0, "{:?}: {st:?}", s.id());
    }
    drop(streams);
    drop((rx0, tx1, extra_tx));
    setup.queues.clear();
    setup.stop();
    setup.assert_pools_full();
}
