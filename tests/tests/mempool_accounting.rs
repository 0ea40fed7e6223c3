//! About a million frames forwarded (io) through loop and pair ports by two
//! forwarding threads: afterwards every stream balances, the drivers agree
//! with the streams, and every pool is full again.

use std::time::Duration;

use ferrite_apps::fwd::{EngineConfig, Stream, StreamId, TxGenConfig};
use ferrite_pmd::PortConfig;
use ferrite_tests::{run_cores, udp_spec, virt_ports};

const TARGET: u64 = 1_000_000;

/// io streams rx (p, q) → tx (peer(p), q), primed with `prime` bursts each.
fn forward_a_million(names: &[&str], queues: u16, prime: usize) {
    let conf = PortConfig {
        rx_queues: queues,
        tx_queues: queues,
        rx_ring_size: 512,
        tx_ring_size: 512,
        ..PortConfig::default()
    };
    let mut setup = virt_ports(names, &conf, 4096);
    let n = names.len();
    let peer = |p: usize| if n == 1 { p } else { p ^ 1 };
    let mut txs: Vec<Vec<_>> = setup.queues.iter_mut().map(|q| q.tx.drain(..).map(Some).collect()).collect();
    let mut streams = Vec::new();
    for p in 0..n {
        let rxs: Vec<_> = setup.queues[p].rx.drain(..).collect();
        for (q, rx) in rxs.into_iter().enumerate() {
            let to = peer(p);
            let id = StreamId { rx_port: p as u16, rx_queue: q as u16, tx_port: to as u16, tx_queue: q as u16 };
            let tx = txs[to][q].take().unwrap();
            let mut s = Stream::new(id, rx, tx, 32, EngineConfig::Io).unwrap();
            let prime_cfg = TxGenConfig {
                pool: setup.pools[to].clone(),
                spec: udp_spec(64),
                flows: 1,
                rate_pps: None,
                count: None,
                segments: Vec::new(),
            };
            assert!(s.tx_first(&prime_cfg, prime).unwrap() > 0);
            streams.push(s);
        }
    }
    let in_use_while_running: usize = setup.pools.iter().map(|p| p.in_use()).sum();
    assert!(in_use_while_running > 0, "primed frames are out of the pools");
    let mut streams = run_cores(streams, 2, &setup.pools, Duration::from_secs(300), |cs| {
        cs.iter().map(|c| c.snapshot().tx).sum::<u64>() >= TARGET
    });
    for s in streams.iter_mut() {
        s.drain(4096);
    }
    let mut forwarded = 0;
    let mut generated = 0;
    let mut gone = 0;
    for s in &streams {
        let (id, st) = (s.id(), s.counters().snapshot());
        assert!(st.balanced(), "{id:?}: {st:?}");
        forwarded += st.tx;
        generated += st.generated;
        gone += st.drained + st.fwd_drops;
        let ps = setup.ports[id.rx_port as usize].stats64();
        assert_eq!(ps.rx_queues[id.rx_queue as usize].packets, st.rx, "{id:?}: driver vs stream");
    }
    assert!(forwarded >= TARGET);
    assert_eq!(generated, gone, "every primed frame was finally drained or dropped, once");
    let rx: u64 = setup.ports.iter().map(|p| p.stats64().rx_total().packets).sum();
    let tx: u64 = setup.ports.iter().map(|p| p.stats64().tx_total().packets).sum();
    assert_eq!(rx, tx, "wires lose nothing");
    drop(streams);
    drop(txs);
    setup.queues.clear();
    setup.stop();
    setup.assert_pools_full();
}

#[test]
fn loop_two_queues_two_threads() {
    forward_a_million(&["loop0"], 2, 8);
}

#[test]
fn pair_two_threads() {
    forward_a_million(&["pair0", "pair1"], 1, 8);
}

#[test]
fn pair_two_queues_each_two_threads() {
    forward_a_million(&["pair2", "pair3"], 2, 4);
}
