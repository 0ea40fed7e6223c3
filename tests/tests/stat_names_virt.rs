//! testpmd's named statistics (`--xstats`) on `pair` ports, end to end:
//! the per-queue rows under Linux igb's names carry each queue's own
//! counts, agree with the report and with what the peer took off the wire,
//! and `tx_queue_N_restart` counts each time a wire filled, once.

use std::process::{Command, Stdio};
use std::time::Duration;

use ferrite_tests::{lcores, Group, Json};

const BIN: &str = env!("CARGO_BIN_EXE_testpmd-under-test");

fn json_run(args: &[&str]) -> Json {
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let (status, stdout, stderr) =
        Group::spawn(&mut cmd).finish(&format!("testpmd {args:?}"), Duration::from_secs(120));
    assert_eq!(status.code(), Some(0), "args {args:?}\nstdout: {stdout}\nstderr: {stderr}");
    Json::parse(stdout.trim()).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"))
}

/// A named statistic of port `p`; fails if the port does not show it.
fn xstat(r: &Json, p: usize, name: &str) -> u64 {
    r.get("ports").arr()[p].get("xstats").get(name).u64()
}

#[test]
fn per_queue_rows_carry_each_queues_counts_and_match_the_wire() {
    let l = lcores();
    let r = json_run(&[
        "-l",
        &l,
        "--vdev",
        "pair0,pair1",
        "--rxq",
        "2",
        "--txq",
        "2",
        "--forward-mode",
        "mac",
        "--tx-first",
        "2",
        "--eth-peer",
        "0,02:00:00:02:00:01",
        "--eth-peer",
        "1,02:00:00:02:00:00",
        "--duration",
        "0.5",
        "--xstats",
        "--json",
        "--no-telemetry",
    ]);
    for p in 0..2 {
        let port = &r.get("ports").arr()[p];
        for (q, queue) in port.get("queues").arr().iter().enumerate() {
            for (named, reported) in [
                (format!("rx_queue_{q}_packets"), "rx_packets"),
                (format!("rx_queue_{q}_bytes"), "rx_bytes"),
                (format!("tx_queue_{q}_packets"), "tx_packets"),
                (format!("tx_queue_{q}_bytes"), "tx_bytes"),
            ] {
                assert_eq!(xstat(&r, p, &named), queue.get(reported).u64(), "port {p} {named}");
            }
            assert!(xstat(&r, p, &format!("rx_queue_{q}_packets")) > 0, "port {p} queue {q} received nothing");
        }
        // What this port put on its wires the peer received, dropped,
        // filtered or flushed at stop: nothing else.
        let peer = 1 - p;
        let sent: u64 = (0..2).map(|q| xstat(&r, p, &format!("tx_queue_{q}_packets"))).sum();
        let taken: u64 = (0..2)
            .map(|q| {
                xstat(&r, peer, &format!("rx_queue_{q}_packets")) + xstat(&r, peer, &format!("rx_queue_{q}_drops"))
            })
            .sum::<u64>()
            + xstat(&r, peer, "rx_filtered_drops")
            + xstat(&r, peer, "rx_flushed");
        assert_eq!(sent, taken, "port {p} sent {sent}, port {peer} took {taken} off the wires");
    }
}

#[test]
fn a_wire_that_fills_counts_one_restart_not_one_per_retry() {
    let l = lcores();
    // txonly never receives: each wire (as deep as the peer's 64-entry
    // receive ring) fills once and stays full while the generator retries
    // thousands of times. Only the watchdog's flush (after 5 s without
    // progress) could empty it, and each flush allows one more filling.
    let r = json_run(&[
        "-l",
        &l,
        "--vdev",
        "pair0,pair1",
        "--forward-mode",
        "txonly",
        "--tx-count",
        "4000",
        "--burst",
        "64",
        "--rxd",
        "64",
        "--xstats",
        "--json",
        "--no-telemetry",
    ]);
    for p in 0..2 {
        let fillings = 1 + xstat(&r, p, "tx_timeout_count");
        assert_eq!(xstat(&r, p, "tx_queue_0_restart"), fillings, "port {p}");
        assert_eq!(xstat(&r, p, "tx_restart_queue"), fillings, "port {p}");
        assert_eq!(xstat(&r, p, "tx_queue_0_packets"), 64 * fillings, "port {p}: a full wire each time");
        assert_eq!(xstat(&r, 1 - p, "rx_flushed"), 64 * fillings, "the peer flushed what was on the wire");
    }
}
