//! `testpmd -i` against dpdk-testpmd 22.11 (Debian's) as the judge of
//! layout: the same commands on a null port, and `show port stats` and
//! `stop`'s forward statistics must put the same keys in the same columns
//! and the same header and rule lines. Needs root (dpdk-testpmd mounts a
//! hugetlbfs of its own) and 64 MiB of 2 MiB hugepages; otherwise SKIP.

use std::process::{Command, Stdio};
use std::time::Duration;

use ferrite_tests::{lcores, Group};

const BIN: &str = env!("CARGO_BIN_EXE_testpmd-under-test");
const WRAPPER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/host/lib/dpdk-testpmd");
const SCRIPT: &str = "show port stats 0\nstart\nstop\n";

/// Runs `cmd` with SCRIPT on stdin in a process group of its own, killed
/// with it after 60 s (a hang); returns stdout.
fn run(cmd: &mut Command) -> String {
    use std::io::Write;
    let mut child = Group::spawn(cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()));
    child.0.stdin.take().unwrap().write_all(SCRIPT.as_bytes()).unwrap();
    let what = format!("{cmd:?}");
    let (status, out, err) = child.finish(&what, Duration::from_secs(60));
    assert!(status.success(), "{what}: {err}");
    out
}

/// The statistics blocks of `out`, each line as its layout: a line with
/// `key:` words becomes the keys with their columns (values differ from
/// run to run); a header or rule line stays as it is.
fn layout(out: &str) -> Vec<String> {
    let mut shapes = Vec::new();
    let mut inside = false;
    for line in out.lines().map(|l| l.trim_end_matches('\r')) {
        let line = line.trim_start_matches("testpmd> ");
        let header = line.contains("NIC statistics for port")
            || line.contains("Forward statistics for port")
            || line.contains("Accumulated forward statistics");
        if header {
            inside = true;
        } else if !inside || line.trim().is_empty() {
            continue;
        }
        let rule = !header && line.trim().chars().all(|c| "#-+".contains(c));
        if header || rule || !line.contains(':') {
            shapes.push(line.trim_end().to_string());
        } else {
            shapes.push(keys(line));
        }
        inside &= !rule;
    }
    shapes
}

/// `RX-packets:@2 RX-missed:@25 ...`: each `key:` and its column.
fn keys(line: &str) -> String {
    let mut out = Vec::new();
    let mut col = 0;
    for word in line.split(' ') {
        if word.ends_with(':') {
            out.push(format!("{word}@{col}"));
        }
        col += word.len() + 1;
    }
    out.join(" ")
}

#[test]
fn stats_layouts_match_dpdk_testpmd() {
    // SAFETY: geteuid(2) takes nothing and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let dpdk = std::path::Path::new("/usr/bin/dpdk-testpmd").exists();
    let free = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find(|l| l.starts_with("HugePages_Free:")).map(|l| l[15..].trim().parse().unwrap_or(0)))
        .unwrap_or(0u64);
    if !root || !dpdk || free < 32 {
        println!("SKIP: needs root, /usr/bin/dpdk-testpmd and 32 free 2 MiB hugepages (root {root}, dpdk {dpdk}, free {free})");
        return;
    }
    // Line-buffered: dpdk-testpmd's printf output is otherwise cut by
    // the prompt and echo its command line writes straight to the fd.
    let dpdk_args = ["-oL", WRAPPER, "--vdev", "net_null0", "-m", "64", "--no-pci", "-l"];
    let theirs = run(Command::new("stdbuf").args(dpdk_args).arg(lcores()).args(["--", "-i"]));
    let ours = run(Command::new(BIN)
        .args(["-i", "--vdev", "null0", "--port-topology", "loop", "--no-telemetry", "-l"])
        .arg(lcores()));
    let (theirs, ours) = (layout(&theirs), layout(&ours));
    assert!(theirs.len() >= 14, "dpdk-testpmd's blocks: {theirs:#?}");
    assert_eq!(ours, theirs, "ferrite's layout (left) against dpdk-testpmd's (right)");
}
