//! `testpmd -i` driven through standard input on virtual ports, as a user
//! at the prompt would: each test sends commands, waits for what they
//! print (never for a time), and checks the session's exit status.
//! Forwarding starts and stops, counts balance, configuration changes show
//! in `show port info`, bad commands are refused without ending the
//! session, and end of input quits with every buffer back in its pool.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use ferrite_tests::lcores;

const BIN: &str = env!("CARGO_BIN_EXE_testpmd-under-test");

/// How long a test waits for an expected line: only a bound on a hang.
const LIMIT: Duration = Duration::from_secs(60);

/// A running `testpmd -i`, in a process group of its own.
struct Prompt {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Everything read from stdout so far, for failure messages.
    seen: Vec<String>,
}

impl Prompt {
    fn start(ports: &str, extra: &[&str]) -> Prompt {
        let mut child = Command::new(BIN)
            .args(["-i", "--vdev", ports, "--no-telemetry", "-l", &lcores()])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("spawn testpmd -i");
        let (tx, lines) = channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Prompt { child, stdin, lines, seen: Vec::new() }
    }

    fn send(&mut self, cmd: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        if let Err(e) = writeln!(stdin, "{cmd}") {
            let mut err = String::new();
            let _ = self.child.stderr.take().map(|mut s| s.read_to_string(&mut err));
            panic!("cannot send '{cmd}' ({e}): testpmd -i ended; stderr:\n{err}");
        }
    }

    /// Reads stdout until a line satisfies `want`; returns the lines read.
    /// A hang (no such line within [`LIMIT`]) kills the session's process
    /// group and fails, showing what was printed.
    fn wait_for(&mut self, what: &str, want: impl Fn(&str) -> bool) -> Vec<String> {
        let start = Instant::now();
        let mut got = Vec::new();
        loop {
            let left = LIMIT.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    let done = want(&l);
                    got.push(l);
                    if done {
                        return got;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    self.kill();
                    panic!("no {what} from testpmd -i; it printed:\n{}", self.seen.join("\n"));
                }
            }
        }
    }

    /// Sends `cmd` followed by a marker command whose output is known
    /// (`show port info 0`'s first line) and returns what `cmd` printed.
    fn run(&mut self, cmd: &str) -> Vec<String> {
        self.send(cmd);
        self.send("show port info 0");
        let mut got = self.wait_for(&format!("the output of '{cmd}'"), |l| l.contains("Infos for port 0"));
        got.pop();
        self.wait_for("the end of show port info", |l| l.starts_with("TXDs number alignment"));
        got
    }

    /// `show port info N`, as a list of "key: value" lines.
    fn info(&mut self, port: usize) -> Vec<String> {
        self.send(&format!("show port info {port}"));
        self.wait_for("show port info", |l| l.contains(&format!("Infos for port {port}")));
        self.wait_for("the end of show port info", |l| l.starts_with("TXDs number alignment"))
    }

    /// Closes stdin (end of input: quit) and waits for the exit; returns
    /// (exit code, stdout after this point, stderr).
    fn finish(mut self) -> (i32, Vec<String>, String) {
        drop(self.stdin.take());
        let mut err = String::new();
        let mut stderr = self.child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let _ = stderr.read_to_string(&mut err);
            err
        });
        let rest = if self.seen.iter().any(|l| l == "Bye...") {
            Vec::new()
        } else {
            self.wait_for("Bye... at end of input", |l| l == "Bye...")
        };
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            if start.elapsed() > LIMIT {
                self.kill();
                panic!("testpmd -i did not exit after Bye...");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        (status.code().unwrap_or(-1), rest, reader.join().unwrap())
    }

    fn kill(&mut self) {
        // SAFETY: kill(2) on the process group this test created.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Drop for Prompt {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

/// The number after `key` in `line` (`RX-packets: 12  ...`).
fn num(line: &str, key: &str) -> u64 {
    let at = line.find(key).unwrap_or_else(|| panic!("no {key} in {line:?}")) + key.len();
    line[at..].split_whitespace().next().unwrap().parse().unwrap()
}

/// The accumulated forward statistics: (RX-packets, RX-dropped,
/// TX-packets, TX-dropped), from the lines of `stop` or `show fwd stats all`.
fn accumulated(lines: &[String]) -> [u64; 4] {
    let at = lines.iter().rposition(|l| l.contains("Accumulated forward statistics")).expect("accumulated block");
    let (rx, tx) = (&lines[at + 1], &lines[at + 2]);
    [num(rx, "RX-packets:"), num(rx, "RX-dropped:"), num(tx, "TX-packets:"), num(tx, "TX-dropped:")]
}

/// The closing line of the accumulated forward statistics.
fn end_of_fwd_stats(l: &str) -> bool {
    let l = l.trim();
    !l.is_empty() && l.chars().all(|c| c == '+')
}

fn value<'a>(info: &'a [String], key: &str) -> &'a str {
    let l = info.iter().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("no {key} in {info:?}"));
    l[key.len()..].trim()
}

/// Waits until forwarding has moved `enough` frames (asking `show fwd
/// stats all` again and again), then stops it; returns stop's lines.
fn forward_then_stop(p: &mut Prompt, enough: impl Fn([u64; 4]) -> bool) -> Vec<String> {
    let start = Instant::now();
    loop {
        p.send("show fwd stats all");
        let got = p.wait_for("forward statistics", end_of_fwd_stats);
        if enough(accumulated(&got)) || start.elapsed() > LIMIT {
            break;
        }
    }
    p.send("stop");
    p.wait_for("stop's Done.", |l| l == "Done.")
}

#[test]
fn start_tx_first_and_stop_balance_over_pair_ports() {
    let mut p = Prompt::start("pair0,pair1", &[]);
    p.send("start tx_first 4");
    // 4 bursts of 32 per stream, two streams: 256 frames made up, which
    // then circulate between the ports until stop.
    let stop = forward_then_stop(&mut p, |[rx, ..]| rx > 10_000);
    let [rx, rx_dropped, tx, tx_dropped] = accumulated(&stop);
    assert!(rx > 10_000, "forwarding moved frames: {stop:?}");
    assert_eq!(rx_dropped, 0, "{stop:?}");
    assert_eq!(rx + 256, tx + tx_dropped, "received + made up == sent + dropped (drained at stop): {stop:?}");
    let (code, rest, err) = p.finish();
    assert_eq!(code, 0, "stderr: {err}; stdout: {rest:?}");
}

#[test]
fn set_fwd_switches_the_engine_at_the_next_start() {
    let mut p = Prompt::start("pair0,pair1", &[]);
    assert!(p.run("set fwd txonly").iter().any(|l| l == "Set txonly packet forwarding mode"));
    p.send("start");
    let stop = forward_then_stop(&mut p, |[_, _, tx, _]| tx > 1000);
    let [rx, _, tx, _] = accumulated(&stop);
    assert!(rx == 0 && tx > 1000, "txonly sends and receives nothing: {stop:?}");
    // The peers' rx rings now hold txonly frames nobody received: rxonly
    // takes them and sends nothing.
    p.send("set fwd rxonly");
    p.send("start");
    let stop = forward_then_stop(&mut p, |[rx, ..]| rx > 0);
    let [rx, _, tx, _] = accumulated(&stop);
    assert!(rx > 0 && tx == 0, "rxonly receives and sends nothing: {stop:?}");
    // io on the same queues the two runs before gave back at stop; stop
    // drained the wires, so what circulates is what tx_first made.
    p.send("set fwd io");
    p.send("start tx_first");
    let stop = forward_then_stop(&mut p, |[rx, ..]| rx > 1000);
    let [rx, _, tx, tx_dropped] = accumulated(&stop);
    assert!(rx > 1000, "io forwards: {stop:?}");
    assert_eq!(rx + 64, tx + tx_dropped, "{stop:?}");
    let (code, _, err) = p.finish();
    assert_eq!(code, 0, "{err}");
}

#[test]
fn port_config_needs_stopped_ports_and_shows_in_port_info() {
    let mut p = Prompt::start("pair0,pair1", &["--rxd", "512"]);
    let info = p.info(0);
    assert_eq!(value(&info, "Current number of RXDs per queue:"), "512");
    assert_eq!(value(&info, "Port status:"), "started");
    p.send("port config all rxd 256");
    p.send("port config mtu 0 1400");
    p.send("port stop all");
    p.wait_for("port stop's Done", |l| l == "Done");
    p.send("port config all rxd 256");
    p.send("port config mtu 0 1400");
    let info = p.info(0);
    assert_eq!(value(&info, "Port status:"), "stopped");
    assert_eq!(value(&info, "MTU:"), "1400", "accepted on a stopped port");
    p.send("port start all");
    p.wait_for("port start's Done", |l| l == "Done");
    let info = p.info(1);
    assert_eq!(value(&info, "Current number of RXDs per queue:"), "256", "{info:?}");
    assert_eq!(value(&info, "Current number of TXDs per queue:"), "512", "{info:?}");
    assert_eq!(value(&info, "Port status:"), "started");
    // The restarted ports forward.
    p.send("start tx_first");
    let stop = forward_then_stop(&mut p, |[rx, ..]| rx > 1000);
    let [rx, _, tx, tx_dropped] = accumulated(&stop);
    assert_eq!(rx + 64, tx + tx_dropped, "{stop:?}");
    let (code, _, err) = p.finish();
    assert_eq!(code, 2, "two commands were refused: {err}");
    assert!(err.contains("Please stop all ports first"), "{err}");
    assert!(err.contains("Please stop port 0 first"), "{err}");
    assert!(err.contains("testpmd: 2 command(s) failed"), "{err}");
}

#[test]
fn promisc_allmulti_and_mac_addr_show_in_port_info() {
    let mut p = Prompt::start("loop0", &["--port-topology", "loop"]);
    let info = p.info(0);
    assert_eq!(value(&info, "Promiscuous mode:"), "enabled");
    assert_eq!(value(&info, "Allmulticast mode:"), "disabled");
    p.send("set promisc 0 off");
    p.send("set allmulti all on");
    p.send("mac_addr add 0 02:11:22:33:44:55");
    let info = p.info(0);
    assert_eq!(value(&info, "Promiscuous mode:"), "disabled");
    assert_eq!(value(&info, "Allmulticast mode:"), "enabled");
    assert!(value(&info, "MAC addresses:").contains("02:11:22:33:44:55"), "{info:?}");
    p.send("mac_addr remove 0 02:11:22:33:44:55");
    p.send("set promisc all on");
    let info = p.info(0);
    assert_eq!(value(&info, "Promiscuous mode:"), "enabled");
    assert!(!value(&info, "MAC addresses:").contains("02:11:22:33:44:55"), "{info:?}");
    let (code, _, err) = p.finish();
    assert_eq!(code, 0, "{err}");
}

#[test]
fn clear_port_stats_zeroes_them() {
    let mut p = Prompt::start("loop0", &["--port-topology", "loop"]);
    p.send("start tx_first");
    forward_then_stop(&mut p, |[rx, ..]| rx > 1000);
    p.send("show port stats 0");
    let before = p.wait_for("NIC statistics", |l| l.contains("TX-packets:"));
    let rx_line = before.iter().find(|l| l.contains("RX-packets:")).unwrap();
    assert!(num(rx_line, "RX-packets:") > 1000, "{before:?}");
    p.send("clear port stats all");
    p.wait_for("cleared", |l| l.contains("NIC statistics for port 0 cleared"));
    p.send("show port stats 0");
    let after = p.wait_for("NIC statistics", |l| l.contains("TX-packets:"));
    let (rx_line, tx_line) = (&after[after.len() - 2..][0], &after[after.len() - 1]);
    assert!(rx_line.contains("RX-errors") || rx_line.contains("RX-nombuf"), "layout: {after:?}");
    let rx_line = after.iter().find(|l| l.contains("RX-packets:")).unwrap();
    assert_eq!((num(rx_line, "RX-packets:"), num(tx_line, "TX-packets:")), (0, 0), "{after:?}");
    let (code, _, err) = p.finish();
    assert_eq!(code, 0, "{err}");
}

#[test]
fn set_link_down_shows_in_link_status_and_events() {
    let mut p = Prompt::start("pair0,pair1", &[]);
    p.send("set link-down port 0");
    p.wait_for("a link-down event on port 0", |l| l == "Port 0: link down");
    assert_eq!(value(&p.info(1), "Link status:"), "down", "the peer lost its carrier");
    assert_eq!(value(&p.info(0), "Link status:"), "down");
    p.send("set link-up port 0");
    p.wait_for("a link-up event on port 0", |l| l.starts_with("Port 0: link up"));
    assert_eq!(value(&p.info(1), "Link status:"), "up");
    let (code, _, err) = p.finish();
    assert_eq!(code, 0, "{err}");
}

#[test]
fn bad_commands_fail_without_ending_the_session() {
    let mut p = Prompt::start("null0", &["--port-topology", "loop"]);
    for bad in
        ["frobnicate", "set promisc 0 maybe", "show port info 7", "stop", "set fwd warp", "port config all rxq x"]
    {
        p.send(bad);
    }
    // The session is still there and answers.
    assert_eq!(value(&p.info(0), "Device name:"), "null0");
    let (code, _, err) = p.finish();
    assert_eq!(code, 2, "{err}");
    for want in [
        "frobnicate: Command not found",
        "maybe: want on or off",
        "Invalid port 7",
        "Packet forwarding not started",
        "warp: no such mode",
        "testpmd: 6 command(s) failed",
    ] {
        assert!(err.contains(want), "no {want:?} in stderr:\n{err}");
    }
}

#[test]
fn end_of_input_while_forwarding_stops_and_returns_every_buffer() {
    let mut p = Prompt::start("pair0,pair1", &["--rxq", "2", "--txq", "2"]);
    p.send("start tx_first 8");
    p.send("show fwd stats all");
    p.wait_for("forwarding", end_of_fwd_stats);
    // End of input with the cores running: quit stops them, drains the
    // streams, stops the ports and checks the pools (exit 3 otherwise).
    let (code, rest, err) = p.finish();
    assert_eq!(code, 0, "stderr: {err}\nstdout: {rest:?}");
    let [rx, _, tx, tx_dropped] = accumulated(&rest);
    assert_eq!(rx + 2 * 2 * 8 * 32, tx + tx_dropped, "{rest:?}");
    assert!(!err.contains("accounting problem"), "{err}");
}

#[test]
fn more_queues_and_longer_rings_after_port_config_forward_and_balance() {
    let mut p = Prompt::start("pair0,pair1", &[]);
    assert_eq!(value(&p.info(0), "Current number of RX queues:"), "1");
    p.send("port stop all");
    for c in ["port config all rxq 4", "port config all txq 4", "port config all rxd 4096", "port config all txd 4096"]
    {
        p.send(c);
    }
    p.send("port start all");
    p.wait_for("port start's Done", |l| l == "Done");
    let info = p.info(1);
    assert_eq!(value(&info, "Current number of RX queues:"), "4", "{info:?}");
    assert_eq!(value(&info, "Current number of TX queues:"), "4", "{info:?}");
    assert_eq!(value(&info, "Current number of RXDs per queue:"), "4096", "{info:?}");
    // With several queues RSS spreads flows (IP and TCP, as at start-up
    // with --rxq 4), not only when the first configuration had them.
    let rss = p.run("show port 1 rss-hash");
    assert!(rss.iter().any(|l| l.starts_with("RSS functions")), "{rss:?}");
    // 4 queues x 2 ports x 64 bursts x 32 frames made up: 8192 per port,
    // more than the pools the first configuration was sized for hold.
    p.send("start tx_first 64");
    let stop = forward_then_stop(&mut p, |[rx, ..]| rx > 20_000);
    let [rx, rx_dropped, tx, tx_dropped] = accumulated(&stop);
    // Rings long enough for every frame: none is lost while forwarding,
    // and all are still circulating at stop, where they are drained.
    assert_eq!((rx_dropped, tx_dropped), (0, 4 * 2 * 64 * 32), "{stop:?}");
    assert_eq!(rx + 4 * 2 * 64 * 32, tx + tx_dropped, "{stop:?}");
    let (code, _, err) = p.finish();
    assert_eq!(code, 0, "{err}");
}

#[test]
fn sigterm_at_the_prompt_stops_forwarding_and_quits_cleanly() {
    let mut p = Prompt::start("pair0,pair1", &[]);
    p.send("start tx_first 2");
    p.send("show fwd stats all");
    p.wait_for("forwarding", end_of_fwd_stats);
    // Standard input stays open: only the signal can end the wait.
    // SAFETY: kill(2) on our child.
    assert_eq!(unsafe { libc::kill(p.child.id() as i32, libc::SIGTERM) }, 0);
    let rest = p.wait_for("Bye... after SIGTERM", |l| l == "Bye...");
    assert!(rest.iter().any(|l| l == "Signal received, stopping..."), "{rest:?}");
    let [rx, _, tx, tx_dropped] = accumulated(&rest);
    assert_eq!(rx + 2 * 2 * 32, tx + tx_dropped, "{rest:?}");
    let (code, _, err) = p.finish();
    assert_eq!(code, 0, "{err}");
}
