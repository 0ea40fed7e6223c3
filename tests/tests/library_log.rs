//! The library crates report through the `log` facade, and testpmd's logger
//! puts those reports on stderr in their old words, under `RUST_LOG`'s
//! control. The warning provoked: a virtual port's pool larger than every
//! 2 MiB hugepage of this machine, which falls back to 4 KiB pages.

use std::process::{Command, Stdio};
use std::time::Duration;

use ferrite_tests::Group;

const BIN: &str = env!("CARGO_BIN_EXE_testpmd-under-test");
const WARNING: &str = "ferrite: warning: not enough free 2048 kB hugepages";
const MBUF_SIZE: usize = 65_000;

/// Buffers enough that one pool outgrows all 2 MiB hugepages reserved (not
/// only the free ones: others may free theirs meanwhile), by 64 MiB.
fn mbufs_beyond_hugepages() -> usize {
    let reserved: usize = std::fs::read_to_string("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    ((reserved << 21) + (64 << 20)) / MBUF_SIZE
}

/// Runs testpmd on two null ports with that pool; returns its stderr.
fn testpmd_stderr(rust_log: Option<&str>) -> String {
    let n = mbufs_beyond_hugepages().max(1024).to_string();
    let size = MBUF_SIZE.to_string();
    let mut cmd = Command::new(BIN);
    cmd.args(["--vdev", "null0,null1", "--shared-pool", "--duration", "0.2", "--mbuf-size", &size])
        .args(["--total-num-mbufs", &n])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(level) = rust_log {
        cmd.env("RUST_LOG", level);
    }
    let (status, out, err) = Group::spawn(&mut cmd).finish("testpmd", Duration::from_secs(120));
    assert!(status.success(), "testpmd failed ({status}).\nstdout: {out}\nstderr: {err}");
    err
}

#[test]
fn a_library_warning_reaches_stderr_through_the_logger() {
    let err = testpmd_stderr(None);
    let line = err.lines().find(|l| l.starts_with(WARNING));
    let line = line.unwrap_or_else(|| panic!("no '{WARNING}...' line on stderr:\n{err}"));
    assert!(line.contains("fall back to 4 KiB pages") && line.contains("nr_hugepages"), "{line}");
    assert_eq!(err.matches(WARNING).count(), 1, "said once per process:\n{err}");
}

#[test]
fn rust_log_off_silences_library_warnings() {
    // Printed with eprintln! the line would ignore RUST_LOG; through the
    // logger it obeys it.
    let err = testpmd_stderr(Some("off"));
    assert!(!err.contains(WARNING), "RUST_LOG=off, yet:\n{err}");
    assert!(testpmd_stderr(Some("warn")).contains(WARNING), "RUST_LOG=warn hid the warning");
}
