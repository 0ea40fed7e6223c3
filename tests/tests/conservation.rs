//! Packet conservation at library level over null ports, several queues and
//! two forwarding threads: per stream rx = tx + forwarding drops, per port
//! and queue the driver's counters match the streams', and what one port's
//! driver received the other port's driver transmitted.

use std::time::Duration;

use ferrite_apps::fwd::{EngineConfig, Stream, StreamId};
use ferrite_pmd::port::MacAddr;
use ferrite_pmd::PortConfig;
use ferrite_tests::{run_cores, virt_ports};

fn run(engine: EngineConfig, queues: u16, target: u64) {
    let conf = PortConfig {
        rx_queues: queues,
        tx_queues: queues,
        rx_ring_size: 512,
        tx_ring_size: 512,
        ..PortConfig::default()
    };
    let mut setup = virt_ports(&["null0", "null1"], &conf, 8192);
    let mut txs: Vec<Vec<_>> = setup.queues.iter_mut().map(|q| q.tx.drain(..).map(Some).collect()).collect();
    let mut streams = Vec::new();
    for p in 0..2 {
        let rxs: Vec<_> = setup.queues[p].rx.drain(..).collect();
        for (q, rx) in rxs.into_iter().enumerate() {
            let id = StreamId { rx_port: p as u16, rx_queue: q as u16, tx_port: 1 - p as u16, tx_queue: q as u16 };
            let tx = txs[1 - p][q].take().unwrap();
            streams.push(Stream::new(id, rx, tx, 32, engine.clone()).unwrap());
        }
    }
    let streams = run_cores(streams, 2, &setup.pools, Duration::from_secs(300), |cs| {
        cs.iter().all(|c| c.snapshot().rx >= target)
    });
    for s in &streams {
        let (id, st) = (s.id(), s.counters().snapshot());
        assert!(st.balanced(), "{id:?}: {st:?}");
        assert_eq!(st.rx, st.tx + st.fwd_drops);
        let rxp = setup.ports[id.rx_port as usize].stats64();
        let txp = setup.ports[id.tx_port as usize].stats64();
        let rq = rxp.rx_queues[id.rx_queue as usize];
        let tq = txp.tx_queues[id.tx_queue as usize];
        assert_eq!(rq.packets, st.rx, "{id:?}: driver rx vs stream");
        assert_eq!(tq.packets + tq.drops + tq.errors, st.tx, "{id:?}: what tx took, the driver counted");
        assert_eq!(rq.bytes, 64 * rq.packets);
    }
    // Null transmit takes every frame, so nothing is dropped on the way and
    // each port's rx driver counters equal the peer's tx driver counters
    // (separate counters, in separate queue types).
    for s in &streams {
        assert_eq!(s.counters().snapshot().fwd_drops, 0, "{:?}: null tx refused frames", s.id());
    }
    for p in 0..2 {
        let (rx, tx) = (setup.ports[p].stats64().rx_total(), setup.ports[1 - p].stats64().tx_total());
        assert_eq!((rx.packets, rx.bytes), (tx.packets, tx.bytes), "port {p} rx vs port {} tx", 1 - p);
        assert_eq!((rx.drops, rx.errors, tx.drops, tx.errors), (0, 0, 0, 0), "port {p}");
    }
    drop(streams);
    drop(txs);
    setup.queues.clear();
    setup.stop();
    setup.assert_pools_full();
}

#[test]
fn io_over_null_three_queues() {
    run(EngineConfig::Io, 3, 200_000);
}

#[test]
fn mac_over_null() {
    let src = MacAddr([2, 0, 0, 0, 0, 1]);
    let dst = MacAddr([2, 0, 0, 0, 0, 2]);
    run(EngineConfig::Mac { src, dst }, 2, 200_000);
}

#[test]
fn macswap_over_null() {
    run(EngineConfig::MacSwap, 1, 200_000);
}
