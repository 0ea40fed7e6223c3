//! Software RSS on virtual ports: a pair with 4 receive queues spreads many
//! flows over every queue, one flow always on one queue, with the hash in
//! the mbuf; and multi-core flowgen → rxonly through RSS keeps every book.

use std::collections::HashMap;
use std::time::Duration;

use ferrite_apps::fwd::pkt::{FrameSpec, Template};
use ferrite_apps::fwd::{EngineConfig, NoQueue, Stream, StreamId, StreamStats, TxGenConfig};
use ferrite_pmd::mem::OffloadFlags;
use ferrite_pmd::rss::{RssConfig, RssHashTypes, MS_RSS_KEY};
use ferrite_pmd::{MbufBatch, PortConfig};
use ferrite_tests::{run_cores, virt_ports};

fn spec() -> FrameSpec {
    FrameSpec {
        len: 64,
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src_ip: [198, 18, 0, 1],
        dst_ip: [198, 19, 0, 1],
        src_port: 1024,
        dst_port: 1024,
        sender: 0,
    }
}

#[test]
fn pair_spreads_flows_over_four_queues_and_keeps_each_flow_on_one() {
    let conf =
        PortConfig { rx_queues: 4, tx_queues: 4, rx_ring_size: 1024, tx_ring_size: 1024, ..PortConfig::default() };
    let mut setup = virt_ports(&["pair0", "pair1"], &conf, 8192);
    // Off by default: queue q feeds queue q.
    assert_eq!(setup.ports[1].rss_hash_types().unwrap(), RssHashTypes::NONE);
    setup.ports[1].set_rss_hash_types(RssHashTypes::ALL).unwrap();
    let rc = setup.ports[1].rss_config().unwrap();
    assert_eq!(rc.key, MS_RSS_KEY);
    assert_eq!(rc.reta[..8], [0, 1, 2, 3, 0, 1, 2, 3], "spread evenly by default");
    assert!(setup.ports[1].set_rss_reta(&[4; 128]).is_err(), "queue 4 does not exist");

    let t = Template::new(&spec());
    let pool = setup.pools[0].clone();
    let flows = 256u16;
    let mut flow_queue: HashMap<u16, u16> = HashMap::new();
    let mut per_queue = [0u64; 4];
    let mut got = MbufBatch::new();
    for round in 0..8u64 {
        for tx in 0..2 {
            let mut b = MbufBatch::new();
            assert!(pool.alloc_bulk(&mut b, flows as usize / 2));
            for (i, m) in b.iter_mut().enumerate() {
                assert!(m.set_len(t.len()));
                let flow = (tx * flows as usize / 2 + i) as u16;
                t.write_flow(m.data_mut(), round * 1000 + i as u64, flow);
            }
            let n = b.len();
            assert_eq!(setup.queues[0].tx[tx].tx_burst(&mut b), n, "room for all");
        }
        for (q, rx) in setup.queues[1].rx.iter_mut().enumerate() {
            while rx.rx_burst(&mut got, 64) > 0 {}
            for m in got.iter() {
                assert_eq!(m.queue() as usize, q);
                assert!(m.ol_flags().contains(OffloadFlags::RX_RSS_HASH), "hash flag set");
                assert_eq!(rc.queue(m.rss_hash()) as usize, q, "queue = reta[hash & 127]");
                let sport = u16::from_be_bytes([m.data()[34], m.data()[35]]);
                let flow = sport.wrapping_sub(1024);
                let prev = *flow_queue.entry(flow).or_insert(q as u16);
                assert_eq!(prev as usize, q, "flow {flow} moved from queue {prev} to {q}");
                per_queue[q] += 1;
            }
            got.clear();
        }
    }
    assert_eq!(flow_queue.len(), flows as usize);
    assert!(per_queue.iter().all(|&n| n > 0), "every queue got traffic: {per_queue:?}");
    let s = setup.ports[1].stats64();
    assert_eq!(s.rx_total().packets, 8 * flows as u64);
    for (q, &n) in per_queue.iter().enumerate() {
        assert_eq!(s.rx_queues[q].packets, n, "driver counters agree, queue {q}");
    }

    // A redirection table with everything on queue 2, then RSS off again.
    setup.ports[1].set_rss_reta(&[2; 128]).unwrap();
    let mut b = MbufBatch::new();
    assert!(pool.alloc_bulk(&mut b, 32));
    for (i, m) in b.iter_mut().enumerate() {
        assert!(m.set_len(t.len()));
        t.write_flow(m.data_mut(), i as u64, i as u16);
    }
    assert_eq!(setup.queues[0].tx[0].tx_burst(&mut b), 32);
    assert_eq!(setup.queues[1].rx[2].rx_burst(&mut got, 64), 32, "all on queue 2");
    got.clear();
    setup.ports[1].set_rss_config(&RssConfig::new(4, RssHashTypes::NONE)).unwrap();
    assert!(pool.alloc_bulk(&mut b, 16));
    for (i, m) in b.iter_mut().enumerate() {
        assert!(m.set_len(t.len()));
        t.write_flow(m.data_mut(), i as u64, i as u16);
    }
    assert_eq!(setup.queues[0].tx[3].tx_burst(&mut b), 16);
    assert_eq!(setup.queues[1].rx[3].rx_burst(&mut got, 64), 16, "RSS off: queue 3 feeds queue 3");
    got.clear();
    setup.queues.clear();
    setup.stop();
    setup.assert_pools_full();
}

#[test]
fn two_cores_flowgen_through_rss_keeps_the_books() {
    let conf = PortConfig { rx_queues: 4, tx_queues: 4, rx_ring_size: 256, tx_ring_size: 256, ..PortConfig::default() };
    let mut setup = virt_ports(&["pair2", "pair3"], &conf, 8192);
    setup.ports[1].set_rss_hash_types(RssHashTypes::ALL).unwrap();
    let per_queue = 20_000u64;
    let mut streams = Vec::new();
    let mut txs: Vec<_> = setup.queues[0].tx.drain(..).collect();
    let mut rxs: Vec<_> = setup.queues[1].rx.drain(..).collect();
    for q in 0..4u16 {
        let id = StreamId { rx_port: 0, rx_queue: q, tx_port: 0, tx_queue: q };
        let cfg = TxGenConfig {
            pool: setup.pools[0].clone(),
            spec: spec(),
            flows: 500,
            rate_pps: None,
            count: Some(per_queue),
            segments: Vec::new(),
        };
        streams.push(Stream::new(id, Box::new(NoQueue), txs.remove(0), 32, EngineConfig::TxGen(cfg)).unwrap());
        let id = StreamId { rx_port: 1, rx_queue: q, tx_port: 1, tx_queue: q };
        streams.push(Stream::new(id, rxs.remove(0), Box::new(NoQueue), 32, EngineConfig::RxOnly).unwrap());
    }
    let mut streams = run_cores(streams, 2, &setup.pools, Duration::from_secs(300), |cs| {
        let s: Vec<StreamStats> = cs.iter().map(|c| c.snapshot()).collect();
        let generated: u64 = s.iter().map(|x| x.generated).sum();
        let sent: u64 = s.iter().map(|x| x.tx + x.fwd_drops).sum();
        let got: u64 = s.iter().map(|x| x.consumed).sum();
        generated == 4 * per_queue && sent == generated && got == s.iter().map(|x| x.tx).sum::<u64>()
    });
    for s in streams.iter_mut() {
        s.drain(4096);
    }
    let ps = setup.ports[1].stats64();
    let (mut tx, mut consumed) = (0, 0);
    for s in &streams {
        let (id, st) = (s.id(), s.counters().snapshot());
        assert!(st.balanced(), "{id:?} {st:?}");
        assert_eq!(st.bad_payload, 0);
        tx += st.tx;
        consumed += st.consumed;
        if id.rx_port == 1 {
            assert!(st.consumed > 0, "rx queue {} got traffic", id.rx_queue);
            assert_eq!(ps.rx_queues[id.rx_queue as usize].packets, st.consumed);
        }
    }
    let txs = setup.ports[0].stats64().tx_total();
    assert_eq!(tx, txs.packets + txs.drops, "every frame taken was sent or counted");
    assert_eq!(consumed, txs.packets, "every frame sent arrived");
    drop(streams);
    setup.queues.clear();
    setup.stop();
    setup.assert_pools_full();
}
