//! The guest runner's time bound (`tests/guest/lib/run-bounded`), run on
//! the host: a script that hangs, or leaves a child that ignores signals, is
//! killed and reported within its timeout + 10 s, and nothing it started is
//! left running. (Regression: `timeout` once waited forever on such a test.)

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn run_bounded(secs: u32, script: &str) -> (i32, String, Duration) {
    let tool = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("guest/lib/run-bounded");
    let dir = tempfile_dir();
    let log = dir.join("test.log");
    let start = Instant::now();
    let status = Command::new(&tool)
        .arg(secs.to_string())
        .arg(&log)
        .args(["bash", "-c", script])
        .stderr(std::process::Stdio::null()) // the same report is in the log
        .status()
        .expect("run tests/guest/lib/run-bounded");
    let elapsed = start.elapsed();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    std::fs::remove_dir_all(&dir).ok();
    (status.code().unwrap_or(-1), text, elapsed)
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrite-run-bounded-{}-{:?}", std::process::id(), Instant::now()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Processes whose command line contains `marker`.
fn running(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let state = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = state.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z'));
        if cmdline.contains(marker) && !zombie {
            found.push(format!("{}: {cmdline}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

fn marker(name: &str) -> String {
    format!("ferrite-{name}-{}", std::process::id())
}

#[test]
fn a_hanging_script_with_a_child_that_ignores_sigterm_is_killed_and_described() {
    let m = marker("hang");
    let script =
        format!("echo started; (trap '' TERM INT HUP; exec -a {m} sleep 1000) & exec -a {m}-parent sleep 1000");
    let (code, log, elapsed) = run_bounded(2, &script);
    assert_eq!(code, 124, "log:\n{log}");
    assert!(elapsed < Duration::from_secs(2 + 10), "took {elapsed:?}");
    assert!(log.contains("started"), "the script's own output is in the log:\n{log}");
    assert!(log.contains("timed out after 2s"), "{log}");
    assert!(log.contains(&format!("{m}-parent")) && log.contains("wchan"), "stuck processes named:\n{log}");
    assert_eq!(running(&m), Vec::<String>::new(), "left running");
}

#[test]
fn a_child_left_running_after_the_script_ends_is_killed_and_fails_the_script() {
    let m = marker("left");
    let script = format!("(trap '' TERM INT HUP; exec -a {m} sleep 1000) & exit 0");
    let (code, log, elapsed) = run_bounded(30, &script);
    assert_eq!(code, 125, "log:\n{log}");
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    assert!(log.contains("left processes running") && log.contains(&m), "{log}");
    assert_eq!(running(&m), Vec::<String>::new(), "left running");
}

#[test]
fn a_script_that_ends_in_time_keeps_its_status_and_output() {
    let (code, log, _) = run_bounded(30, "echo hello; echo oops >&2; exit 3");
    assert_eq!(code, 3);
    assert_eq!(log, "hello\noops\n");
}

/// The host side: a guest paused for good (the self-test script freezes
/// its vCPUs through QMP) is noticed by its silent results file and killed
/// long before the whole-boot TIMEOUT, the runner names the script, runs it
/// once more in a new guest (where it freezes again and fails), and the
/// scripts after it run in a new guest.
#[test]
#[ignore = "needs QEMU (scripts/setup-host); boots a TCG guest"]
fn a_guest_that_makes_no_progress_is_stopped_by_the_host() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let start = Instant::now();
    let out = Command::new(root.join("guest/run"))
        .env("TESTS_DIR", root.join("guest/selftest"))
        .env("PROGRESS_TIMEOUT", "20")
        .env("TEST_TIMEOUT", "900")
        .env("TIMEOUT", "1800")
        .output()
        .expect("run tests/guest/run");
    let elapsed = start.elapsed();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("made no progress"), "the host names the stall:\n{text}");
    assert!(text.contains("RETRY loop/01-freeze.sh (the guest died or was stopped"), "once more:\n{text}");
    assert!(text.contains("FAIL loop/01-freeze.sh (the guest died or was stopped"), "then fails:\n{text}");
    assert!(
        text.contains("note: re-run in a new guest after their guest stalled or died: loop/01-freeze.sh"),
        "{text}"
    );
    assert!(text.contains("a new guest for the 1 script(s) left"), "the rest goes on in a new guest:\n{text}");
    assert!(text.contains("PASS loop/02-next.sh"), "{text}");
    assert!(text.contains("1 passed, 1 failed, 0 skipped"), "{text}");
    // Only the progress watchdog can end it this early (TIMEOUT is 1800 s).
    assert!(elapsed < Duration::from_secs(600), "took {elapsed:?}:\n{text}");
}
