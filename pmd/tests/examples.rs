//! The examples in `pmd/examples/`, run as a user runs them, on virtual
//! ports: each must forward, count every frame, stop cleanly on Ctrl-C
//! (SIGINT) and get every buffer back. And l2fwd's forwarding step, called
//! in-process on pair ports, must rewrite the MACs as documented.
//!
//! The examples are built (debug) by the test itself, see [`example`].

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ferrite_pmd::ether::EthernetFrame;
use ferrite_pmd::port::MacAddr;
use ferrite_pmd::{open_ports, MbufBatch, Mempool, MempoolConfig, OpenOptions, PortConfig};

#[allow(dead_code)] // its main and argument parsing are not called here
#[path = "../examples/l2fwd.rs"]
mod l2fwd;

/// The example `name`, built from the sources now: `cargo test` builds
/// examples only as test harnesses under `--all-targets`, and a binary left
/// by an earlier build may be stale. Builds them all once per run, in the
/// target directory this test runs from (cargo has released its lock by
/// the time tests run).
fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let me = std::env::current_exe().expect("own path");
        // target/<profile>/deps/examples-HASH
        let target = me.ancestors().nth(3).expect("a test runs from target/<profile>/deps");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "-q", "-p", "ferrite-pmd", "--examples", "--target-dir"])
            .arg(target)
            .output()
            .expect("run cargo");
        assert!(out.status.success(), "building the examples failed:\n{}", text(&out.stderr));
        target.join("debug/examples")
    });
    dir.join(name)
}

/// When to send SIGINT, as Ctrl-C would: once stdout holds a line starting
/// with `line`, and `then` after it.
struct Interrupt {
    line: &'static str,
    then: Duration,
}

/// Runs an example in its own process group, interrupted as `interrupt`
/// says (if given). Whatever is still alive 60 s after the start is killed
/// with its group, and the test fails naming the command.
fn run(name: &str, args: &[&str], interrupt: Option<Interrupt>) -> Output {
    let mut child = Command::new(example(name))
        .args(args)
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let pid = child.id() as libc::pid_t;
    // stdout is read as it comes, to see the line that says when to interrupt.
    let stdout = Arc::new(Mutex::new(String::new()));
    let reader = {
        let (pipe, stdout) = (child.stdout.take().expect("piped"), Arc::clone(&stdout));
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = stdout.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        })
    };
    let started = Instant::now();
    let mut seen: Option<Instant> = None;
    let mut interrupted = false;
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if let (Some(i), None) = (&interrupt, seen) {
            if stdout.lock().unwrap().lines().any(|l| l.starts_with(i.line)) {
                seen = Some(Instant::now());
            }
        }
        if let (Some(i), Some(at), false) = (&interrupt, seen, interrupted) {
            if at.elapsed() >= i.then {
                // SAFETY: kill(2) on the child we spawned and have not reaped.
                unsafe { libc::kill(pid, libc::SIGINT) };
                interrupted = true;
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            // SAFETY: the child leads its own process group (process_group(0)).
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let _ = child.wait();
            let _ = reader.join();
            let out = stdout.lock().unwrap().clone();
            panic!("{name} {args:?} hung (SIGINT sent: {interrupted}); its output:\n{out}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = child.wait_with_output().expect("output");
    reader.join().expect("stdout reader");
    out.stdout = std::mem::take(&mut *stdout.lock().unwrap()).into_bytes();
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The number after `key ` in `line` (`"rx 12 tx 3"`, `"rx"` -> 12).
fn field(line: &str, key: &str) -> u64 {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == key).unwrap_or_else(|| panic!("no '{key}' in '{line}'"));
    words[at + 1].parse().unwrap_or_else(|e| panic!("'{key}' in '{line}': {e}"))
}

/// The last line starting with `prefix`.
fn last_line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines().rev().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no '{prefix}' line in:\n{out}"))
}

fn assert_all_mbufs_back(out: &str) {
    let line = last_line(out, "mbufs in the pool:");
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[4], words[6], "{line}");
}

#[test]
fn skeleton_forwards_between_null_ports_and_accounts_for_every_frame() {
    // Interrupted a second after it says it forwards (not a fixed time
    // after the start, which a loaded machine may spend starting up).
    let after = Interrupt { line: "forwarding; Ctrl-C", then: Duration::from_secs(1) };
    let out = run("skeleton", &["null0", "null1"], Some(after));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{:?}\n{stdout}\n{}", out.status, text(&out.stderr));
    for (from, to) in [("port 0", "port 1"), ("port 1", "port 0")] {
        let (rx, tx) = (last_line(&stdout, from), last_line(&stdout, to));
        let received = field(rx, "rx");
        assert!(received > 0, "{from} received nothing:\n{stdout}");
        assert_eq!(received, field(tx, "tx") + field(tx, "tx-dropped") + field(tx, "unsent"), "\n{stdout}");
    }
    assert_all_mbufs_back(&stdout);
}

#[test]
fn skeleton_refuses_an_odd_port_count() {
    let out = run("skeleton", &["null0"], None);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("an even number"), "{}", text(&out.stderr));
}

#[test]
fn l2fwd_on_two_cores_prints_periodic_stats_and_totals_that_add_up() {
    // Interrupted once the first periodic print is out, so the totals
    // follow at least one periodic print however slow the machine.
    let after = Interrupt { line: "Port statistics", then: Duration::ZERO };
    let out = run("l2fwd", &["-q", "2", "-T", "1", "null0", "null1"], Some(after));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{:?}\n{stdout}\n{}", out.status, text(&out.stderr));
    assert!(stdout.matches("Port statistics").count() >= 2, "a periodic print and the totals:\n{stdout}");
    let totals = &stdout[stdout.find("stopped; totals:").expect("totals")..];
    let (p0, p1) = (last_line(totals, "port 0"), last_line(totals, "port 1"));
    for (rx, tx) in [(p0, p1), (p1, p0)] {
        let received = field(rx, "received");
        assert!(received > 0, "{rx}");
        assert_eq!(received, field(tx, "sent") + field(tx, "tx-dropped") + field(tx, "fwd-dropped"), "\n{totals}");
    }
    assert_all_mbufs_back(&stdout);
}

#[test]
fn ethtool_prints_what_ethtool_would_for_a_pair_port() {
    let out = run("ethtool", &["-q", "2", "pair0", "pair1"], None);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for want in [
        "driver: net_pair\n",
        "Settings for pair0:\n\tSpeed: 10000Mb/s\n\tDuplex: Full\n",
        "\tLink detected: yes\n",
        "Ring parameters for pair0:\nPre-set maximums:\nRX:\t\t4096\n",
        "Current hardware settings:\nRX:\t\t2\nTX:\t\t2\n",
        "NIC statistics:\n     rx_packets: 0\n",
        "     tx_queue_1_packets: 0\n",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    let out = run("ethtool", &["pair0"], None);
    assert!(!out.status.success() && text(&out.stderr).contains("pair0 has no peer"), "{}", text(&out.stderr));
}

/// Frames of `len` bytes from `src` to `dst`, the payload byte i = i.
fn frames(pool: &Mempool, n: usize, len: usize, src: MacAddr, dst: MacAddr) -> MbufBatch {
    let mut batch = MbufBatch::new();
    for _ in 0..n {
        let mut m = pool.alloc().expect("pool");
        let data = m.append(len).expect("room");
        data.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        if let Ok(mut eth) = EthernetFrame::new_checked(data) {
            eth.set_src(src);
            eth.set_dst(dst);
        }
        batch.push(m).expect("batch room");
    }
    batch
}

#[test]
fn l2fwd_rewrites_macs_to_the_output_port_and_its_peer_and_drops_runts() {
    // pair0 -> pair1 (l2fwd reads) -> forward -> pair2 (l2fwd sends) -> pair3 (we read)
    let mut ports = open_ports(&["pair0", "pair1", "pair2", "pair3"], &OpenOptions::default()).unwrap();
    let pool = Mempool::new(&MempoolConfig::for_ports("l2fwd-test", 1024, &ports)).unwrap();
    let mut q = Vec::new();
    for p in ports.iter_mut() {
        p.configure(&PortConfig::default(), &pool).unwrap();
        q.push(p.open().unwrap());
    }
    let (a, b) = (MacAddr([0x02, 0xaa, 0, 0, 0, 1]), MacAddr([0x02, 0xbb, 0, 0, 0, 2]));
    let mut batch = frames(&pool, 30, 64, a, b);
    let mut runts = frames(&pool, 4, 10, a, b);
    assert_eq!(q[0].tx[0].tx_burst(&mut batch) + q[0].tx[0].tx_burst(&mut runts), 34);

    let (src, peer) = (ports[2].mac_address(), MacAddr([0x02, 0, 0, 0, 0, 2]));
    let (pair1, pair2) = q.split_at_mut(2);
    let mut work = MbufBatch::new();
    let (mut got, mut dropped) = (0, 0);
    loop {
        let (rx, tx) = (pair1[1].rx[0].as_mut(), pair2[0].tx[0].as_mut());
        match l2fwd::forward(rx, tx, Some((src, peer)), &mut work) {
            (0, _) => break,
            (r, d) => (got, dropped) = (got + r, dropped + d),
        }
    }
    assert_eq!((got, dropped), (34, 4), "34 received (in bursts of 32 at most), the 4 runts dropped");

    let mut out = MbufBatch::new();
    assert_eq!(q[3].rx[0].rx_burst(&mut out, 64), 30);
    for m in out.iter() {
        let eth = EthernetFrame::new_checked(m.data()).unwrap();
        assert_eq!((eth.src(), eth.dst()), (src, peer), "source = output port, destination = its peer");
        assert!(m.data()[12..].iter().enumerate().all(|(i, &x)| x == (i + 12) as u8), "rest untouched");
    }
    out.clear();
    drop(q);
    for p in ports.iter_mut() {
        p.stop().unwrap();
    }
    assert_eq!(pool.available(), pool.capacity());
}
