//! `--pcap-rx/--pcap-tx`: the pcapng files hold one interface per
//! port/queue and exactly the frames captured; tshark reads them (skipped
//! with a notice when tshark is not installed).

use std::path::{Path, PathBuf};
use std::process::Command;

use ferrite_apps::capture::count_packets;
use ferrite_tests::Json;

const TESTPMD: &str = env!("CARGO_BIN_EXE_testpmd-under-test");

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ferrite-{}-{name}", std::process::id()))
}

fn tshark_count(path: &Path) -> Option<u64> {
    let out =
        match Command::new("tshark").arg("-r").arg(path).arg("-T").arg("fields").arg("-e").arg("frame.number").output()
        {
            Ok(o) => o,
            Err(_) => {
                println!("notice: tshark is not installed; skipping the tshark check (scripts/setup-host installs it)");
                return None;
            }
        };
    assert!(out.status.success(), "tshark -r {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.trim().is_empty()).count() as u64)
}

#[test]
fn tx_capture_holds_every_frame_sent() {
    let f = tmp("tx.pcapng");
    let out = Command::new(TESTPMD)
        .args(["--vdev", "pair0,pair1", "--txq", "2", "--rxq", "2", "--forward-mode", "txonly"])
        .args(["--tx-count", "3000", "--tx-rate", "30000", "--json", "--no-telemetry", "--pcap-tx"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = Json::parse(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    let sent: u64 = r.get("ports").arr().iter().map(|p| p.get("tx_packets").u64()).sum();
    assert!(sent > 0);
    let counts = count_packets(&f).unwrap();
    let names: Vec<&str> = counts.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, ["port1/txq0", "port1/txq1", "port0/txq0", "port0/txq1"]);
    let captured: u64 = counts.iter().map(|c| c.1).sum();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("Capture: {captured} frames written")), "{err}");
    assert!(err.contains("(0 not captured"), "paced at 30 kpps the ring never fills: {err}");
    assert_eq!(captured, sent, "one frame in the file per frame sent");
    if let Some(n) = tshark_count(&f) {
        assert_eq!(n, sent, "tshark reads them all");
    }
    let _ = std::fs::remove_file(&f);
}

#[test]
fn rx_and_tx_capture_in_one_file_account_for_every_frame() {
    let f = tmp("rxtx.pcapng");
    let out = Command::new(TESTPMD)
        .args(["--vdev", "loop0", "--port-topology", "loop", "--tx-first", "2", "--duration", "1"])
        .args(["--json", "--no-telemetry", "--pcap-rx"])
        .arg(&f)
        .arg("--pcap-tx")
        .arg(&f)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.starts_with("Capture: ")).expect("a capture summary");
    let nums: Vec<u64> =
        line.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).filter_map(|s| s.parse().ok()).collect();
    let (written, dropped) = (nums[0], nums[nums.len() - 1]);
    let counts = count_packets(&f).unwrap();
    assert_eq!(counts.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["port0/rxq0", "port0/txq0"]);
    assert_eq!(counts.iter().map(|c| c.1).sum::<u64>(), written);
    let r = Json::parse(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    let s = &r.get("streams").arr()[0];
    // Every frame received (except those drained at shutdown) and every
    // frame sent was either written or counted as not captured.
    let expected = (s.get("rx").u64() - s.get("drained").u64()) + s.get("tx").u64();
    assert_eq!(written + dropped, expected, "{line}; stream {s:?}");
    if let Some(n) = tshark_count(&f) {
        assert_eq!(n, written);
    }
    let _ = std::fs::remove_file(&f);
}
