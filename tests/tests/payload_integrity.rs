//! txonly/flowgen on one side, rxonly verification on the other, through
//! loop and pair ports with several queues and two forwarding threads:
//! every frame arrives intact and, per sender queue, in order.

use std::time::Duration;

use ferrite_apps::fwd::pkt::FrameSpec;
use ferrite_apps::fwd::{EngineConfig, NoQueue, Stream, StreamId, StreamStats, TxGenConfig};
use ferrite_pmd::PortConfig;
use ferrite_tests::{run_cores, virt_ports};

/// Sends `per_queue` frames on every (port, queue) of `names` and verifies
/// them where they come out (loop: the same port; pair: the peer).
fn integrity(names: &[&str], queues: u16, per_queue: u64, len: usize, flows: u32) {
    let conf = PortConfig {
        rx_queues: queues,
        tx_queues: queues,
        rx_ring_size: 256,
        tx_ring_size: 256,
        ..PortConfig::default()
    };
    let mut setup = virt_ports(names, &conf, 8192);
    let n = names.len();
    let peer = |p: usize| if n == 1 { p } else { p ^ 1 };
    let mut streams = Vec::new();
    let mut rx_queues: Vec<Vec<_>> = setup.queues.iter_mut().map(|q| q.rx.drain(..).map(Some).collect()).collect();
    for (p, q_all) in setup.queues.iter_mut().enumerate() {
        for (q, tx) in q_all.tx.drain(..).enumerate() {
            let to = peer(p);
            let id = StreamId { rx_port: p as u16, rx_queue: q as u16, tx_port: p as u16, tx_queue: q as u16 };
            let cfg = TxGenConfig {
                pool: setup.pools[p].clone(),
                spec: FrameSpec {
                    len,
                    src_mac: [2, 0, 0, 0, 0, p as u8],
                    dst_mac: [2, 0, 0, 0, 0, to as u8],
                    src_ip: [198, 18, 0, p as u8],
                    dst_ip: [198, 18, 1, to as u8],
                    src_port: 1024,
                    dst_port: 1024,
                    sender: 0,
                },
                flows,
                rate_pps: None,
                count: Some(per_queue),
                segments: Vec::new(),
            };
            streams.push(Stream::new(id, Box::new(NoQueue), tx, 32, EngineConfig::TxGen(cfg)).unwrap());
            let rx = rx_queues[to][q].take().unwrap();
            let id = StreamId { rx_port: to as u16, rx_queue: q as u16, tx_port: to as u16, tx_queue: q as u16 };
            streams.push(Stream::new(id, rx, Box::new(NoQueue), 32, EngineConfig::RxOnly).unwrap());
        }
    }
    let senders = n as u64 * queues as u64;
    let mut streams = run_cores(streams, 2, &setup.pools, Duration::from_secs(300), |cs| {
        let s: Vec<StreamStats> = cs.iter().map(|c| c.snapshot()).collect();
        let sent: u64 = s.iter().map(|x| x.tx + x.fwd_drops).sum();
        let got: u64 = s.iter().map(|x| x.consumed).sum();
        let generated: u64 = s.iter().map(|x| x.generated).sum();
        generated == senders * per_queue
            && sent == generated
            && got + s.iter().map(|x| x.fwd_drops).sum::<u64>() == sent
    });
    for s in streams.iter_mut() {
        s.drain(4096);
    }
    let stats: Vec<(StreamId, StreamStats)> = streams.iter().map(|s| (s.id(), s.counters().snapshot())).collect();
    let (mut generated, mut tx, mut drops, mut consumed) = (0, 0, 0, 0);
    for (id, st) in &stats {
        assert!(st.balanced(), "{id:?}: {st:?}");
        assert_eq!(st.bad_payload, 0, "{names:?} {id:?}: damaged frames");
        assert_eq!(st.out_of_order, 0, "{names:?} {id:?}: frames out of order");
        assert_eq!(st.drained, 0, "{names:?} {id:?}: frames left over");
        generated += st.generated;
        tx += st.tx;
        drops += st.fwd_drops;
        consumed += st.consumed;
    }
    assert_eq!(generated, senders * per_queue);
    assert_eq!(tx + drops, generated);
    assert_eq!(consumed, tx, "every frame sent was received and verified");
    // The wires never lose a frame they took (a full wire refuses), but a
    // generator frees frames its queue refuses for TX_RETRY (2 ms: a
    // descheduled receiver thread), so drops are possible by design. Per
    // sender, a gap is a dropped frame; dropped frames at the end of a
    // sender's sequence leave no gap, hence <= and not ==. With no drops,
    // no gap: a frame damaged beyond recognition (counted as foreign, not
    // bad) would show as one.
    for (gid, g) in stats.iter().filter(|(_, s)| s.generated > 0) {
        // Its receiver: tx queue q feeds the peer's (loop: its own) rx queue q.
        let is_receiver = |id: &StreamId, s: &StreamStats| {
            s.generated == 0 && id.rx_port as usize == peer(gid.tx_port as usize) && id.rx_queue == gid.tx_queue
        };
        let (rid, r) = stats.iter().find(|(id, s)| is_receiver(id, s)).expect("a receiver per sender");
        assert_eq!(r.consumed, g.tx, "{names:?}: {rid:?} received what {gid:?} sent");
        assert!(
            r.seq_gaps <= g.fwd_drops,
            "{names:?}: {rid:?} saw {} gaps, {gid:?} dropped {}",
            r.seq_gaps,
            g.fwd_drops
        );
    }
    // The driver saw the same: per rx queue, what it delivered was verified.
    for (id, st) in &stats {
        if st.consumed > 0 {
            let ps = setup.ports[id.rx_port as usize].stats64();
            assert_eq!(ps.rx_queues[id.rx_queue as usize].packets, st.consumed, "{id:?}");
            assert_eq!(ps.rx_queues[id.rx_queue as usize].bytes, st.consumed * len as u64, "{id:?}");
        }
    }
    drop(streams);
    drop(rx_queues);
    setup.queues.clear();
    setup.stop();
    setup.assert_pools_full();
}

#[test]
fn loop_port_four_queues() {
    integrity(&["loop0"], 4, 50_000, 64, 1);
}

#[test]
fn pair_ports_four_queues_both_ways() {
    integrity(&["pair0", "pair1"], 4, 25_000, 64, 1);
}

#[test]
fn pair_ports_flowgen_large_frames() {
    integrity(&["pair2", "pair3"], 2, 20_000, 1514, 1000);
}

#[test]
fn loop_port_jumbo_frames_single_queue() {
    // Odd length, beyond one cache line of payload.
    integrity(&["loop1"], 1, 20_000, 1001, 1);
}
