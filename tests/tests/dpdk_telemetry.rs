//! DPDK's own telemetry client, `/usr/bin/dpdk-telemetry.py` (Debian's
//! dpdk package), reads a running ferrite testpmd started with
//! `--file-prefix`, and what it reads is what testpmd's final report says.
//!
//! The ports: `loop0` (2 queues) sends 3 bursts to itself with `--tx-first`
//! and receives them in rxonly mode, after which its counters stand still,
//! so they must match the report exactly; `null0` sends the same bursts,
//! but its receive side makes frames without end (as DPDK's net_null), so
//! only its transmit side is exact and its receive side may only grow.
//! The run is asymmetric on purpose: a reply that swapped receive and
//! transmit, bytes and packets, or two ports, would not match.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferrite_tests::{Group, Json};

const TESTPMD: &str = env!("CARGO_BIN_EXE_testpmd-under-test");
const SCRIPT: &str = "/usr/bin/dpdk-telemetry.py";

/// Removes the test's runtime directory however the test ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn testpmd(rt: &Path, prefix: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(TESTPMD);
    c.env("RUNTIME_DIRECTORY", rt)
        .args(["--telemetry-dir"])
        .arg(rt.join("ferrite"))
        .args(["--file-prefix", prefix])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs dpdk-telemetry.py non-interactively (commands on stdin, one JSON
/// reply per line on stdout) and returns the replies in order.
fn ask_script(rt: &Path, prefix: &str, cmds: &[&str]) -> Vec<Json> {
    let mut input = cmds.join("\n");
    input.push('\n');
    let stdin_file = rt.join("cmds");
    std::fs::write(&stdin_file, input).unwrap();
    let child = Group::spawn(
        Command::new("python3")
            .arg(SCRIPT)
            .args(["-f", prefix])
            .env("RUNTIME_DIRECTORY", rt)
            .stdin(std::fs::File::open(&stdin_file).unwrap())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let (status, out, err) = child.finish("dpdk-telemetry.py", Duration::from_secs(30));
    assert!(status.success(), "dpdk-telemetry.py failed: {err}\n{out}");
    let replies: Vec<Json> = out
        .lines()
        .map(|l| Json::parse(l).unwrap_or_else(|e| panic!("dpdk-telemetry.py printed {l:?}, not JSON ({e})\n{err}")))
        .collect();
    assert_eq!(replies.len(), cmds.len(), "one reply per command: {out}\n{err}");
    replies
}

fn wait_for(path: &Path, limit: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < limit, "no {} after {limit:?}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The member of `reply` named after the command `cmd`.
fn body<'a>(reply: &'a Json, cmd: &str) -> &'a Json {
    reply.get(cmd.split(',').next().unwrap())
}

#[test]
fn dpdk_telemetry_py_reads_the_numbers_testpmd_reports() {
    if !Path::new(SCRIPT).exists() {
        println!("SKIP: {SCRIPT} is missing (Debian's dpdk package; scripts/setup-host installs it)");
        return;
    }
    let rt = TempDir(std::env::temp_dir().join(format!("ferrite-dpdk-telemetry-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&rt.0);
    std::fs::create_dir_all(&rt.0).unwrap();
    let prefix = format!("ferrite-test-{}", std::process::id());
    let sock = rt.0.join("dpdk").join(&prefix).join("dpdk_telemetry.v2");
    let run = [
        "-l",
        &ferrite_tests::lcores(),
        "--vdev",
        "loop0,null0",
        "--port-topology",
        "loop",
        "--rxq",
        "2",
        "--txq",
        "2",
        "--forward-mode",
        "rxonly",
        "--tx-first",
        "3",
        "--txpkts",
        "60,40",
        "--xstats",
        "--duration",
        "10",
        "--json",
    ];
    let main = Group::spawn(&mut testpmd(&rt.0, &prefix, &run));
    wait_for(&sock, Duration::from_secs(60));

    // loop0's frames are back once it has received as many as it sent
    // (the replies are read in one connection, so both counts are one
    // moment's).
    let cmds = [
        "/ethdev/stats,0",
        "/ethdev/stats,1",
        "/ethdev/xstats,0",
        "/ethdev/xstats,1",
        "/ethdev/list",
        "/ethdev/link_status,0",
        "/ethdev/info,1",
        "/ethdev/stats,2",
        "/help,/ethdev/xstats",
    ];
    let mut replies = ask_script(&rt.0, &prefix, &cmds);
    for _ in 0..40 {
        let s = body(&replies[0], cmds[0]);
        if s.get("ipackets").u64() == s.get("opackets").u64() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        replies = ask_script(&rt.0, &prefix, &cmds);
    }

    // A second app with the same file prefix must not take the socket.
    let second =
        Group::spawn(&mut testpmd(&rt.0, &prefix, &["--vdev", "null0", "--port-topology", "loop", "--duration", "1"]));
    let (_, _, err) = second.finish("second testpmd", Duration::from_secs(60));
    assert!(err.contains("is in use by a running app"), "second testpmd: {err}");

    let (status, out, err) = main.finish("testpmd", Duration::from_secs(90));
    assert!(status.success(), "testpmd failed: {err}");
    let report = Json::parse(out.trim()).unwrap_or_else(|e| panic!("report not JSON ({e}): {out}"));
    assert!(!sock.exists(), "the DPDK socket is removed on exit");
    assert!(!sock.parent().unwrap().exists(), "the dpdk/PREFIX directory testpmd made is removed on exit");

    let ports = report.get("ports").arr();
    let by = |r: &Json, k: &str| r.get(k).u64();
    for (id, exact_rx) in [(0usize, true), (1, false)] {
        let (p, s) = (&ports[id], body(&replies[id], cmds[id]));
        let queues = p.get("queues").arr();
        let q = |k: &str, i: usize| queues.get(i).map_or(0, |x| x.get(k).u64());
        // Transmit: exact on both ports (only --tx-first sends).
        assert_eq!(by(s, "opackets"), by(p, "tx_packets"), "port {id} opackets");
        assert_eq!(by(s, "obytes"), by(p, "tx_bytes"), "port {id} obytes");
        assert_eq!(by(s, "oerrors"), by(p, "tx_errors") + by(p, "tx_drops"), "port {id} oerrors");
        assert_eq!(by(p, "tx_packets"), 3 * 32 * 2, "port {id}: 3 bursts of 32 on 2 queues");
        assert_eq!(by(p, "tx_bytes"), 100 * by(p, "tx_packets"), "port {id}: 100-byte frames");
        for i in 0..16 {
            assert_eq!(s.get("q_opackets").arr()[i].u64(), q("tx_packets", i), "port {id} q_opackets[{i}]");
            assert_eq!(s.get("q_obytes").arr()[i].u64(), q("tx_bytes", i), "port {id} q_obytes[{i}]");
        }
        // Receive: exact on loop0, a prefix of the final count on null0.
        let (ip, ib) = (by(s, "ipackets"), by(s, "ibytes"));
        if exact_rx {
            assert_eq!(ip, by(p, "rx_packets"), "port {id} ipackets");
            assert_eq!(ib, by(p, "rx_bytes"), "port {id} ibytes");
            for i in 0..16 {
                assert_eq!(s.get("q_ipackets").arr()[i].u64(), q("rx_packets", i), "port {id} q_ipackets[{i}]");
                assert_eq!(s.get("q_ibytes").arr()[i].u64(), q("rx_bytes", i), "port {id} q_ibytes[{i}]");
            }
            assert_eq!(by(s, "imissed"), by(p, "rx_missed") + by(p, "rx_drops"), "port {id} imissed");
        } else {
            assert!(ip > by(p, "tx_packets") && ip <= by(p, "rx_packets"), "port {id} ipackets {ip}: {p:?}");
            assert!(ib > 0 && ib <= by(p, "rx_bytes"), "port {id} ibytes {ib}");
        }
        assert_eq!(by(s, "ierrors"), by(p, "rx_errors"), "port {id} ierrors");
    }
    // xstats: ferrite's named statistics, as the report lists them.
    let Json::Obj(x0) = body(&replies[2], cmds[2]) else { panic!("{:?}", replies[2]) };
    let Json::Obj(r0) = ports[0].get("xstats") else { panic!("no xstats in the report") };
    assert_eq!(x0, r0, "loop0 xstats");
    let Json::Obj(x1) = body(&replies[3], cmds[3]) else { panic!("{:?}", replies[3]) };
    for (k, v) in x1.iter().filter(|(k, _)| k.starts_with("tx_")) {
        assert_eq!(v, ports[1].get("xstats").get(k), "null0 {k}");
    }
    assert!(x1.len() >= 6, "null0 has its named statistics: {x1:?}");

    let list: Vec<u64> = body(&replies[4], cmds[4]).arr().iter().map(Json::u64).collect();
    assert_eq!(list, [0, 1]);
    let link = body(&replies[5], cmds[5]);
    assert_eq!((link.get("status").str(), link.get("duplex").str()), ("UP", "full-duplex"));
    assert!(link.get("speed").u64() > 0);
    let info = body(&replies[6], cmds[6]);
    assert_eq!((info.get("name").str(), info.get("port_id").u64(), info.get("nb_rx_queues").u64()), ("null0", 1, 2));
    assert_eq!(body(&replies[7], cmds[7]), &Json::Null, "no port 2: null, as DPDK");
    assert!(body(&replies[8], cmds[8]).get("/ethdev/xstats").str().contains("port_id"));
}

/// The layout of a reply: object members (by name) with their layouts,
/// array lengths, the kind of each value (numbers as "number"), so that
/// two replies with other counts compare equal when laid out alike.
fn layout(j: &Json) -> String {
    match j {
        Json::Null => "null".into(),
        Json::Bool(_) => "bool".into(),
        Json::Num(_) => "number".into(),
        Json::Str(_) => "string".into(),
        Json::Arr(a) => format!("[{}]", a.iter().map(layout).collect::<Vec<_>>().join(",")),
        Json::Obj(m) => {
            format!("{{{}}}", m.iter().map(|(k, v)| format!("{k}:{}", layout(v))).collect::<Vec<_>>().join(","))
        }
    }
}

#[test]
#[ignore = "needs root and free hugepages: runs DPDK's dpdk-testpmd"]
fn replies_are_laid_out_as_dpdk_22_11_lays_them_out() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let wrapper = concat!(env!("CARGO_MANIFEST_DIR"), "/host/lib/dpdk-testpmd");
    if !root || !Path::new(SCRIPT).exists() || !Path::new("/usr/bin/dpdk-testpmd").exists() {
        println!("SKIP: needs root, {SCRIPT} and dpdk-testpmd (Debian's dpdk package)");
        return;
    }
    // The judge: DPDK 22.11's own testpmd on a net_null port. Its EAL
    // puts the socket in /var/run/dpdk/PREFIX for root, whatever the
    // environment says; the directory is removed at the end.
    let judge_prefix = format!("ferrite-judge-{}", std::process::id());
    let judge_dir = TempDir(PathBuf::from("/var/run/dpdk").join(&judge_prefix));
    let mut judge = Group::spawn(
        Command::new(wrapper)
            .args(["-l", &ferrite_tests::lcores(), "-m", "64", "--no-pci", "--file-prefix", &judge_prefix])
            .args(["--vdev", "net_null0", "--", "-i", "--auto-start"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    // The wrapper starts dpdk-testpmd in a mount namespace of its own; its
    // runtime directory is still the host's /var/run.
    wait_for(&judge_dir.0.join("dpdk_telemetry.v2"), Duration::from_secs(60));

    let rt = TempDir(std::env::temp_dir().join(format!("ferrite-dpdk-layout-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&rt.0);
    std::fs::create_dir_all(&rt.0).unwrap();
    let prefix = format!("ferrite-test-{}", std::process::id());
    let ours = Group::spawn(&mut testpmd(
        &rt.0,
        &prefix,
        &["-l", &ferrite_tests::lcores(), "--vdev", "null0", "--port-topology", "loop", "--duration", "8"],
    ));
    wait_for(&rt.0.join("dpdk").join(&prefix).join("dpdk_telemetry.v2"), Duration::from_secs(60));

    let cmds = [
        "/ethdev/list",
        "/ethdev/stats,0",
        "/ethdev/link_status,0",
        "/ethdev/stats,9",
        "/ethdev/xstats,x",
        "/help,/ethdev/stats",
        "/help,/ethdev/xstats",
        "/help,/nope",
        "/help",
        "/info",
        "/no/such/command",
    ];
    // The judge's answers, read with the same script, its runtime
    // directory the default one. DPDK's EAL opens the socket before
    // testpmd starts the port: wait for its link to be up (the null
    // port's is as soon as it starts).
    let judge_rt = Path::new("/var/run");
    let start = Instant::now();
    let link_up = |rt: &Path, prefix: &str| {
        let reply = &ask_script(rt, prefix, &["/ethdev/link_status,0"])[0];
        body(reply, "/ethdev/link_status").get("status").str() == "UP"
    };
    while !link_up(judge_rt, &judge_prefix) {
        assert!(start.elapsed() < Duration::from_secs(60), "dpdk-testpmd's port is not up after 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let theirs = ask_script(judge_rt, &judge_prefix, &cmds);
    let mine = ask_script(&rt.0, &prefix, &cmds);
    for ((cmd, t), m) in cmds.iter().zip(&theirs).zip(&mine) {
        if cmd.starts_with("/help") {
            assert_eq!(m, t, "{cmd}: the same help as DPDK's");
        } else {
            assert_eq!(layout(m), layout(t), "{cmd}: laid out as DPDK's\n ours:   {m:?}\n theirs: {t:?}");
        }
    }
    let _ = judge.0.stdin.take().map(|mut s| std::io::Write::write_all(&mut s, b"quit\n"));
    judge.finish("dpdk-testpmd", Duration::from_secs(60));
    let (status, _, err) = ours.finish("testpmd", Duration::from_secs(60));
    assert!(status.success(), "testpmd: {err}");
}
