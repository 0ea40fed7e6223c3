//! `pmdstat --prometheus` passes Prometheus's own checker, `promtool check
//! metrics` (Debian's prometheus package; scripts/setup-host installs it).
//! promtool is chosen over the Python client's parser because it is strict:
//! it rejects what a Prometheus server would reject (a HELP or TYPE line
//! for another name than the samples', a label value not escaped, a
//! sample after its family ended) and also lints (counters must end in
//! `_total`, every family needs HELP), where the Python parser reads
//! most such text without complaint.
//!
//! Checked on pmdstat's output for a running testpmd (whose counts must
//! also be the right ones) and on port names that need escaping.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferrite_apps::pmdstat::{to_prometheus, Counters, PortSample, Sample};
use ferrite_tests::Group;

const TESTPMD: &str = env!("CARGO_BIN_EXE_testpmd-under-test");
const PMDSTAT: &str = env!("CARGO_BIN_EXE_pmdstat-under-test");

/// promtool's path, or why the check cannot run.
fn promtool() -> Result<&'static str, String> {
    let p = "/usr/bin/promtool";
    if Path::new(p).exists() {
        Ok(p)
    } else {
        Err(format!("{p} is missing (Debian package prometheus; scripts/setup-host installs it)"))
    }
}

/// promtool's verdict on `text`: `Err` with what it says is wrong.
fn check(promtool: &str, text: &str) -> Result<(), String> {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // Exit 0 with nothing said: no error and no lint problem either.
    if out.status.success() && said.trim().is_empty() {
        Ok(())
    } else {
        Err(format!("promtool ({}): {said}\n--- text ---\n{text}", out.status))
    }
}

#[test]
fn port_names_that_need_escaping_pass_promtool() {
    let promtool = match promtool() {
        Ok(p) => p,
        Err(why) => return println!("SKIP: {why}"),
    };
    let q = Counters { packets: (1 << 53) + 1, bytes: u64::MAX, drops: 0, errors: 7 };
    let port = |id: usize, name: &str| PortSample {
        id,
        name: name.into(),
        driver: "x".into(),
        rxq: vec![q, Counters::default()],
        txq: vec![q],
        ..PortSample::default()
    };
    let s = Sample { t: 1.0, ports: vec![port(0, r#"a"b\c"#), port(1, "line\nbreak"), port(2, "plain")] };
    let text = to_prometheus(42, &s);
    check(promtool, &text).unwrap();
    // The values are the counters, exact (no float formatting).
    assert!(text
        .contains(&format!(r#"ferrite_rx_packets_total{{pid="42",port="2",name="plain",queue="0"}} {}"#, q.packets)));
    assert!(
        text.contains(&format!(r#"ferrite_tx_bytes_total{{pid="42",port="0",name="a\"b\\c",queue="0"}} {}"#, u64::MAX))
    );
}

#[test]
fn pmdstat_prometheus_output_of_a_running_testpmd_passes_promtool() {
    let promtool = match promtool() {
        Ok(p) => p,
        Err(why) => return println!("SKIP: {why}"),
    };
    let dir = std::env::temp_dir().join(format!("ferrite-prometheus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // loop0 sends 3 bursts of 32 on each of 2 queues to itself and
    // receives them (rxonly): 96 per queue, then still.
    let testpmd = Group::spawn(
        Command::new(TESTPMD)
            .args(["-l", &ferrite_tests::lcores(), "--vdev", "loop0", "--port-topology", "loop", "--rxq", "2"])
            .args(["--txq", "2", "--forward-mode", "rxonly", "--tx-first", "3", "--duration", "6", "--telemetry-dir"])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let start = Instant::now();
    let want = r#"ferrite_rx_packets_total{pid="PID",port="0",name="loop0",queue="1"} 96"#
        .replace("PID", &testpmd.0.id().to_string());
    let text = loop {
        let out = Command::new(PMDSTAT).arg("--dir").arg(&dir).arg("--prometheus").output().expect("run pmdstat");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && text.contains(&want) {
            break text;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no {want} from pmdstat: {text}{:?}", out);
        std::thread::sleep(Duration::from_millis(100));
    };
    check(promtool, &text).unwrap();
    for dir in ["rx", "tx"] {
        for what in ["packets", "bytes", "drops", "errors"] {
            let n = text.lines().filter(|l| l.starts_with(&format!("ferrite_{dir}_{what}_total{{"))).count();
            assert_eq!(n, 2, "{dir}_{what}: one sample per queue:\n{text}");
        }
    }
    assert!(text.contains(&want.replace("rx_packets", "tx_packets").replace("queue=\"1\"", "queue=\"0\"")), "{text}");
    let (status, _, err) = testpmd.finish("testpmd", Duration::from_secs(60));
    assert!(status.success(), "testpmd: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}
