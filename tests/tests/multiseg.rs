//! Multi-segment frames end to end on virtual ports: `--txpkts 2048,2048,818`
//! builds 4914-byte frames as chains of three 2 KiB mbufs, the pair carries
//! them whole (`scatter` in, `multi_segs` out), rxonly verifies them across
//! segments, the capture keeps every segment, and every buffer of every
//! chain goes back to its pool.

use std::process::Command;
use std::time::Duration;

use ferrite_apps::capture::read_packets;
use ferrite_apps::fwd::pkt::{self, FrameSpec, Verdict};
use ferrite_apps::fwd::{EngineConfig, NoQueue, Stream, StreamId, TxGenConfig};
use ferrite_pmd::port::{RxOffloads, TxOffloads};
use ferrite_pmd::PortConfig;
use ferrite_tests::{conservation_problems, lcores, run_cores, udp_spec, virt_ports, Json};

const TESTPMD: &str = env!("CARGO_BIN_EXE_testpmd-under-test");
const SEGMENTS: [usize; 3] = [2048, 2048, 818];
const FRAME: u64 = 4914;

/// What makes testpmd send and receive 4914-byte frames as 3-segment chains.
const CHAINED: [&str; 6] = ["--txpkts", "2048,2048,818", "--mtu", "9000", "--rx-offloads", "scatter"];

/// Runs testpmd, which must exit 0; returns its JSON report and stderr.
fn testpmd_json(args: &[&str]) -> (Json, String) {
    let out = Command::new(TESTPMD).args(args).output().expect("spawn testpmd");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "args {args:?}\nstdout: {stdout}\nstderr: {stderr}");
    let r = Json::parse(stdout.trim()).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"));
    (r, stderr)
}

fn names(list: &Json) -> Vec<&str> {
    list.arr().iter().map(Json::str).collect()
}

/// txonly on pair0's transmit queue, rxonly on pair1's receive queue, one
/// core polling both in turn (so the wire never fills and no frame may be
/// lost): every frame arrives, counted at 4914 bytes, verified, in order.
#[test]
fn txonly_chains_on_one_pair_port_arrive_verified_on_the_other() {
    const COUNT: u64 = 3000;
    let conf = PortConfig {
        rx_ring_size: 256,
        tx_ring_size: 256,
        rx_offloads: RxOffloads::SCATTER,
        tx_offloads: TxOffloads::MULTI_SEGS,
        ..PortConfig::default()
    };
    let mut setup = virt_ports(&["pair0", "pair1"], &conf, 4096);
    for p in setup.ports.iter_mut() {
        p.change_mtu(9000).expect("MTU 9000");
    }
    let tx = setup.queues[0].tx.remove(0);
    let rx = setup.queues[1].rx.remove(0);
    let cfg = TxGenConfig {
        pool: setup.pools[0].clone(),
        spec: FrameSpec { len: FRAME as usize, ..udp_spec(64) },
        flows: 1,
        rate_pps: None,
        count: Some(COUNT),
        segments: SEGMENTS.to_vec(),
    };
    let gen_id = StreamId { rx_port: 0, rx_queue: 0, tx_port: 0, tx_queue: 0 };
    let sink_id = StreamId { rx_port: 1, rx_queue: 0, tx_port: 1, tx_queue: 0 };
    let streams = vec![
        Stream::new(gen_id, Box::new(NoQueue), tx, 32, EngineConfig::TxGen(cfg)).unwrap(),
        Stream::new(sink_id, rx, Box::new(NoQueue), 32, EngineConfig::RxOnly).unwrap(),
    ];
    let mut streams = run_cores(streams, 1, &setup.pools, Duration::from_secs(120), |cs| {
        cs[1].snapshot().consumed + cs[0].snapshot().fwd_drops >= COUNT
    });
    for s in streams.iter_mut() {
        s.drain(4096);
    }
    let (sent, got) = (streams[0].counters().snapshot(), streams[1].counters().snapshot());
    assert_eq!((sent.generated, sent.tx, sent.fwd_drops), (COUNT, COUNT, 0), "{sent:?}");
    assert_eq!((got.consumed, got.drained), (COUNT, 0), "{got:?}");
    assert_eq!((got.bad_payload, got.out_of_order, got.seq_gaps), (0, 0, 0), "{got:?}");
    assert!(sent.balanced() && got.balanced());
    let rx = setup.ports[1].stats64().rx_total();
    assert_eq!((rx.packets, rx.bytes), (COUNT, COUNT * FRAME), "the driver counted whole frames");
    drop(streams);
    setup.queues.clear();
    setup.stop();
    setup.assert_pools_full();
}

/// testpmd itself: rxonly on pair0/pair1 primed by `--tx-first 4` (32-frame
/// bursts, so 128 chained frames each way, all fitting the 512-deep wires),
/// received frames captured. The report counts every frame at 4914 bytes,
/// verified and in order, pools full; the capture holds each frame whole.
#[test]
fn testpmd_sends_receives_and_captures_chained_frames() {
    let pcap = std::env::temp_dir().join(format!("ferrite-{}-multiseg.pcapng", std::process::id()));
    let l = lcores();
    let run = ["-l", &l, "--vdev", "pair0,pair1", "--forward-mode", "rxonly", "--tx-first", "4", "--burst", "32"];
    let out = ["--duration", "0.5", "--no-telemetry", "--json", "--pcap-rx", pcap.to_str().unwrap()];
    let (r, stderr) = testpmd_json(&[&run[..], &CHAINED, &out].concat());
    let problems = conservation_problems(&r);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(r.get("accounting_ok").bool());
    for p in r.get("ports").arr() {
        assert_eq!(p.get("rx_packets").u64(), 128, "{p:?}");
        assert_eq!(p.get("rx_bytes").u64(), 128 * FRAME, "{p:?}");
        assert_eq!(names(p.get("rx_offloads")), ["scatter"]);
        assert_eq!(names(p.get("tx_offloads")), ["multi_segs"], "asked for by --txpkts with three segments");
    }
    for s in r.get("streams").arr() {
        let counts = ["consumed", "bad_payload", "out_of_order", "seq_gaps"].map(|k| s.get(k).u64());
        assert_eq!(counts, [128, 0, 0, 0], "{s:?}");
    }
    for m in r.get("mempools").arr() {
        assert_eq!(m.get("available").u64(), m.get("capacity").u64(), "{m:?}");
    }
    assert!(stderr.contains("rx-offloads scatter tx-offloads multi_segs"), "startup lines: {stderr}");

    let (ifaces, frames) = read_packets(&pcap).unwrap();
    assert_eq!(ifaces, ["port0/rxq0", "port1/rxq0"]);
    assert_eq!(frames.len(), 256, "every frame received, none lost by the capture");
    let mut next_seq = [0u64; 2];
    for f in &frames {
        assert_eq!((f.orig_len as u64, f.data.len() as u64), (FRAME, FRAME), "captured whole");
        // The bytes are the frame the sender wrote: checksums and sequence.
        let Verdict::Good { seq, .. } = pkt::parse(&f.data) else { panic!("a damaged capture: {:?}", &f.data[..64]) };
        assert_eq!(seq, next_seq[f.iface], "interface {}", ifaces[f.iface]);
        next_seq[f.iface] += 1;
    }
    let _ = std::fs::remove_file(&pcap);
}

/// txonly and flowgen through testpmd with nobody receiving: the wires fill
/// and the rest are forwarding drops, but every frame sent is counted at
/// its whole length and every segment of every chain comes back.
#[test]
fn testpmd_generators_send_whole_chains_and_free_every_segment() {
    let l = lcores();
    for mode in ["txonly", "flowgen"] {
        let run = ["-l", &l, "--vdev", "pair0,pair1", "--forward-mode", mode];
        let out = ["--tx-count", "2000", "--no-telemetry", "--json"];
        let (r, _) = testpmd_json(&[&run[..], &CHAINED, &out].concat());
        let problems = conservation_problems(&r);
        assert!(problems.is_empty(), "{mode}: {problems:#?}");
        let generated: u64 = r.get("streams").arr().iter().map(|s| s.get("generated").u64()).sum();
        assert_eq!(generated, 2000, "{mode}");
        let mut sent = 0;
        for p in r.get("ports").arr() {
            assert_eq!(p.get("tx_bytes").u64(), p.get("tx_packets").u64() * FRAME, "{mode}: {p:?}");
            sent += p.get("tx_packets").u64();
        }
        assert!(sent > 0, "{mode}: nothing sent");
    }
}
