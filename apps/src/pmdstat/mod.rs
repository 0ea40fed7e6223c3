//! `pmdstat`: per-port and per-queue statistics of a running ferrite
//! process, read over its telemetry socket (see [`crate::telemetry`]) — a
//! `top` for poll-mode ports. The binary is `src/bin/pmdstat.rs`.
//!
//! A sample is `/ports` plus `/port/stats,N` for every port; rates are the
//! difference of two samples over the time between them (the server's
//! uptime clock, so a slow reply does not skew them).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::telemetry::{check_dir, default_dir, list_sockets, Client};

/// Command line.
#[derive(Parser, Debug)]
#[command(name = "pmdstat", version, about = "Per-port and per-queue statistics of a running ferrite testpmd")]
pub struct Args {
    /// List the live telemetry sockets and exit
    #[arg(long = "list")]
    pub list: bool,
    /// Directory of the telemetry sockets [default: as testpmd's: /run/ferrite for root, else
    /// $XDG_RUNTIME_DIR/ferrite or /tmp/ferrite-UID]
    #[arg(long = "dir", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Which process, when several run
    #[arg(short = 'p', long = "pid", value_name = "PID")]
    pub pid: Option<u32>,
    /// Seconds between the two samples rates are computed from (0.1..=86400)
    #[arg(short = 'i', long = "interval", value_name = "SECS", default_value_t = 1.0, value_parser = parse_period)]
    pub interval: f64,
    /// Refresh every SECS (0.1..=86400) like top, until Ctrl-C (or --count)
    #[arg(short = 'w', long = "watch", value_name = "SECS", value_parser = parse_period)]
    pub watch: Option<f64>,
    /// With --watch: stop after N refreshes
    #[arg(short = 'c', long = "count", value_name = "N")]
    pub count: Option<u64>,
    /// ethtool -S: the port's named statistics
    #[arg(short = 'S', long = "statistics", value_name = "PORT")]
    pub stats_port: Option<usize>,
    /// Machine-readable output
    #[arg(long = "json")]
    pub json: bool,
    /// Prometheus text exposition format (one sample of every queue's counters, no rates)
    #[arg(long = "prometheus")]
    pub prometheus: bool,
}

/// Shortest period: every sample makes testpmd's main thread read each
/// port's counters (some 70 device registers on igb), so pmdstat must not
/// spin on it.
pub const MIN_PERIOD: f64 = 0.1;
/// Longest period, a day: anything longer is surely a typo.
pub const MAX_PERIOD: f64 = 86400.0;

/// `--interval` / `--watch`: seconds, checked here so that the sleep later
/// (`Duration::from_secs_f64`, which panics on NaN, infinity or a negative
/// number) only ever sees a sane value.
fn parse_period(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (MIN_PERIOD..=MAX_PERIOD).contains(&x) => Ok(x),
        _ => Err(format!("want a number of seconds from {MIN_PERIOD} to {MAX_PERIOD}")),
    }
}

/// Counters of one queue (or a port's total) at one moment, as a
/// `/port/stats` reply gives them (other members are ignored).
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
pub struct Counters {
    /// Frames.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Drops.
    pub drops: u64,
    /// Errors.
    pub errors: u64,
}

/// One port in a sample.
#[derive(Clone, Debug, Default)]
pub struct PortSample {
    /// Port id.
    pub id: usize,
    /// Port name.
    pub name: String,
    /// Driver.
    pub driver: String,
    /// Totals.
    pub rx: Counters,
    /// Totals.
    pub tx: Counters,
    /// Per receive queue.
    pub rxq: Vec<Counters>,
    /// Per transmit queue.
    pub txq: Vec<Counters>,
}

/// A whole sample.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// The server's uptime when the first port was read, seconds.
    pub t: f64,
    /// Every port.
    pub ports: Vec<PortSample>,
}

/// One entry of the `/ports` reply.
#[derive(Debug, Deserialize)]
struct PortEntry {
    id: usize,
    name: String,
    driver: String,
}

/// The `/port/stats,N` reply: totals under `rx_`/`tx_` names, and per
/// queue.
#[derive(Debug, Deserialize)]
struct PortStatsReply {
    uptime_s: f64,
    rx_packets: u64,
    rx_bytes: u64,
    rx_drops: u64,
    rx_errors: u64,
    tx_packets: u64,
    tx_bytes: u64,
    tx_drops: u64,
    tx_errors: u64,
    rx_queues: Vec<Counters>,
    tx_queues: Vec<Counters>,
}

/// The body of the reply to `cmd`, as a `T`; the server's `error`, or a
/// reply that is not a `T`, is an error saying which command got it.
fn reply<T: DeserializeOwned>(c: &mut Client, cmd: &str) -> Result<T, String> {
    let line = c.request(cmd).map_err(|e| format!("{cmd}: {e}"))?;
    decode(cmd, &line)
}

/// [`reply`]'s reading of the reply `line` to `cmd`.
fn decode<T: DeserializeOwned>(cmd: &str, line: &str) -> Result<T, String> {
    let mut v: Value = serde_json::from_str(line).map_err(|e| format!("{cmd}: bad reply ({e}): {line}"))?;
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        return Err(format!("{cmd}: {e}"));
    }
    let body = v.get_mut(cmd.split(',').next().unwrap_or(cmd)).map(Value::take).unwrap_or_default();
    serde_json::from_value(body).map_err(|e| format!("{cmd}: unexpected reply ({e}): {line}"))
}

/// Reads every port's counters.
pub fn sample(c: &mut Client) -> Result<Sample, String> {
    let ports: Vec<PortEntry> = reply(c, "/ports")?;
    let mut s = Sample::default();
    for (k, p) in ports.into_iter().enumerate() {
        let st: PortStatsReply = reply(c, &format!("/port/stats,{}", p.id))?;
        if k == 0 {
            s.t = st.uptime_s;
        }
        s.ports.push(PortSample {
            id: p.id,
            name: p.name,
            driver: p.driver,
            rx: Counters { packets: st.rx_packets, bytes: st.rx_bytes, drops: st.rx_drops, errors: st.rx_errors },
            tx: Counters { packets: st.tx_packets, bytes: st.tx_bytes, drops: st.tx_drops, errors: st.tx_errors },
            rxq: st.rx_queues,
            txq: st.tx_queues,
        });
    }
    Ok(s)
}

/// Packets/s and Mbit/s between two counters.
pub fn rate(before: &Counters, now: &Counters, secs: f64) -> (f64, f64) {
    let secs = secs.max(1e-9);
    (
        now.packets.saturating_sub(before.packets) as f64 / secs,
        now.bytes.saturating_sub(before.bytes) as f64 * 8.0 / 1e6 / secs,
    )
}

/// Finds the socket to talk to.
pub fn pick_socket(dir: &Path, pid: Option<u32>) -> Result<(u32, PathBuf), String> {
    let live = list_sockets(dir, false);
    if live.is_empty() {
        return Err(format!("no ferrite process found in {}: start testpmd first", dir.display()));
    }
    match pid {
        Some(p) => live
            .into_iter()
            .find(|(q, _)| *q == p)
            .ok_or_else(|| format!("no ferrite process with pid {p} in {} (see pmdstat --list)", dir.display())),
        None if live.len() == 1 => Ok(live[0].clone()),
        None => Err(format!(
            "{} ferrite processes in {} (pids {}): choose one with --pid",
            live.len(),
            dir.display(),
            live.iter().map(|(p, _)| p.to_string()).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn row(out: &mut String, label: &str, b: &Counters, n: &Counters, rb: &Counters, tn: &Counters, secs: f64) {
    let (rpps, rmbps) = rate(b, n, secs);
    let (tpps, tmbps) = rate(rb, tn, secs);
    let _ = writeln!(
        out,
        "  {label:>6} {rpps:>12.0} {rmbps:>10.2} {:>14} {:>10} {:>8} | {tpps:>12.0} {tmbps:>10.2} {:>14} {:>10} {:>8}",
        n.packets, n.drops, n.errors, tn.packets, tn.drops, tn.errors
    );
}

/// The table `pmdstat` prints.
pub fn table(pid: u32, a: &Sample, b: &Sample) -> String {
    let secs = b.t - a.t;
    let mut out = String::new();
    let _ = writeln!(out, "testpmd pid {pid}: rates over {secs:.2} s (Mbit/s without preamble and FCS)");
    for p in &b.ports {
        let old = a.ports.iter().find(|o| o.id == p.id).cloned().unwrap_or_default();
        let _ = writeln!(out, "port {} ({}, {})", p.id, p.name, p.driver);
        let _ = writeln!(
            out,
            "  {:>6} {:>12} {:>10} {:>14} {:>10} {:>8} | {:>12} {:>10} {:>14} {:>10} {:>8}",
            "queue",
            "rx_pps",
            "rx_Mbps",
            "rx_packets",
            "rx_drops",
            "rx_errs",
            "tx_pps",
            "tx_Mbps",
            "tx_packets",
            "tx_drops",
            "tx_errs"
        );
        let z = Counters::default();
        for q in 0..p.rxq.len().max(p.txq.len()) {
            let get = |v: &[Counters], i: usize| v.get(i).copied().unwrap_or(z);
            row(&mut out, &q.to_string(), &get(&old.rxq, q), &get(&p.rxq, q), &get(&old.txq, q), &get(&p.txq, q), secs);
        }
        row(&mut out, "total", &old.rx, &p.rx, &old.tx, &p.tx, secs);
    }
    out
}

fn counters_json(b: &Counters, n: &Counters, secs: f64) -> Map<String, Value> {
    let (pps, mbps) = rate(b, n, secs);
    let v = json!({
        "packets": n.packets, "bytes": n.bytes, "drops": n.drops, "errors": n.errors, "pps": pps, "mbps": mbps,
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("json! of braces is an object"),
    }
}

/// `counters_json` of a queue, its index first.
fn queue_json(q: usize, b: &Counters, n: &Counters, secs: f64) -> Value {
    let mut m = Map::new();
    m.insert("queue".into(), q.into());
    m.extend(counters_json(b, n, secs));
    Value::Object(m)
}

/// The `--json` output.
pub fn to_json(pid: u32, a: &Sample, b: &Sample) -> String {
    let secs = b.t - a.t;
    let z = Counters::default();
    let queues = |before: &[Counters], now: &[Counters]| -> Vec<Value> {
        now.iter().enumerate().map(|(q, c)| queue_json(q, before.get(q).unwrap_or(&z), c, secs)).collect()
    };
    let ports: Vec<Value> = b
        .ports
        .iter()
        .map(|p| {
            let old = a.ports.iter().find(|o| o.id == p.id).cloned().unwrap_or_default();
            json!({
                "id": p.id, "name": p.name, "driver": p.driver,
                "rx": counters_json(&old.rx, &p.rx, secs), "tx": counters_json(&old.tx, &p.tx, secs),
                "rx_queues": queues(&old.rxq, &p.rxq), "tx_queues": queues(&old.txq, &p.txq),
            })
        })
        .collect();
    json!({ "pid": pid, "interval_s": secs, "uptime_s": b.t, "ports": ports }).to_string()
}

/// The `--prometheus` output: Prometheus's text exposition format
/// (version 0.0.4, what a scrape or node_exporter's textfile collector
/// reads and `promtool check metrics` checks). One family per direction and
/// counter, named `ferrite_DIR_WHAT_total` as counters are, HELP then TYPE
/// then one sample per queue, labelled with the process, port and queue.
pub fn to_prometheus(pid: u32, s: &Sample) -> String {
    let mut out = String::new();
    // Name, then the help text for receive and for transmit.
    type Family = (&'static str, [&'static str; 2], fn(&Counters) -> u64);
    let fams: [Family; 4] = [
        ("packets", ["Frames received", "Frames sent"], |c| c.packets),
        ("bytes", ["Bytes received", "Bytes sent"], |c| c.bytes),
        ("drops", ["Frames dropped on receive", "Frames dropped on transmit"], |c| c.drops),
        ("errors", ["Frames in error on receive", "Frames in error on transmit"], |c| c.errors),
    ];
    for (d, dir) in ["rx", "tx"].into_iter().enumerate() {
        for (what, help, get) in fams {
            let name = format!("ferrite_{dir}_{what}_total");
            let _ = writeln!(out, "# HELP {name} {}, per queue of a ferrite port.", help[d]);
            let _ = writeln!(out, "# TYPE {name} counter");
            for p in &s.ports {
                let qs = if dir == "rx" { &p.rxq } else { &p.txq };
                let port_name = label_value(&p.name);
                for (q, c) in qs.iter().enumerate() {
                    let labels = format!(r#"pid="{pid}",port="{}",name="{port_name}",queue="{q}""#, p.id);
                    let _ = writeln!(out, "{name}{{{labels}}} {}", get(c));
                }
            }
        }
    }
    out
}

/// A label value as the exposition format wants it between its quotes:
/// backslash, double quote and newline escaped.
fn label_value(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

/// `ethtool -S`: the port's named statistics.
pub fn xstats(c: &mut Client, port: usize) -> Result<String, String> {
    // A map that keeps the members in the order sent (serde_json's
    // preserve_order): the driver's rows, as ethtool -S prints them.
    let rows: Map<String, Value> = reply(c, &format!("/port/xstats,{port}"))?;
    let mut out = String::from("NIC statistics:\n");
    for (k, v) in rows {
        let n = v.as_u64().ok_or_else(|| format!("/port/xstats,{port}: {k} is not a counter: {v}"))?;
        let _ = writeln!(out, "     {k}: {n}");
    }
    Ok(out)
}

/// Runs pmdstat; returns the exit code.
pub fn main_with(args: &Args) -> Result<(), String> {
    let dir = args.dir.clone().unwrap_or_else(default_dir);
    // Sockets are trusted only where testpmd itself would bind one: in a
    // directory someone else controls, anyone could pose as testpmd.
    if std::fs::symlink_metadata(&dir).is_ok() {
        check_dir(&dir).map_err(|e| e.to_string())?;
    }
    if args.list {
        let live = list_sockets(&dir, false);
        if live.is_empty() {
            return Err(format!("no ferrite process found in {}: start testpmd first", dir.display()));
        }
        for (pid, path) in live {
            let app = Client::connect(&path).ok().map(|c| c.greeting).unwrap_or_default();
            println!("{pid}\t{}\t{app}", path.display());
        }
        return Ok(());
    }
    let (pid, path) = pick_socket(&dir, args.pid)?;
    let mut c = Client::connect(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(p) = args.stats_port {
        print!("{}", xstats(&mut c, p)?);
        return Ok(());
    }
    if args.prometheus {
        print!("{}", to_prometheus(pid, &sample(&mut c)?));
        return Ok(());
    }
    let period = args.watch.unwrap_or(args.interval);
    let mut prev = sample(&mut c)?;
    let mut shown = 0u64;
    loop {
        std::thread::sleep(Duration::from_secs_f64(period));
        let cur = sample(&mut c)?;
        let text = if args.json { to_json(pid, &prev, &cur) } else { table(pid, &prev, &cur) };
        if args.watch.is_some() && !args.json {
            print!("\x1b[H\x1b[2J{text}");
        } else {
            println!("{}", text.trim_end());
        }
        shown += 1;
        if args.watch.is_none() || args.count.is_some_and(|n| shown >= n) {
            return Ok(());
        }
        prev = cur;
    }
}

/// The `pmdstat` program (here so the integration tests build the very
/// same binary).
pub fn pmdstat_main() -> std::process::ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return std::process::ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("pmdstat: {}", crate::cli::one_line(&e));
            return std::process::ExitCode::from(2);
        }
    };
    match main_with(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pmdstat: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> Result<Args, String> {
        Args::try_parse_from(std::iter::once("pmdstat").chain(args.iter().copied()))
            .map_err(|e| crate::cli::one_line(&e))
    }

    #[test]
    fn watch_and_interval_take_only_a_sane_number_of_seconds() {
        for bad in ["nan", "NaN", "inf", "-inf", "-1", "0", "1e300", "soon"] {
            for flag in ["--watch", "--interval"] {
                let e =
                    parse_args(&[&format!("{flag}={bad}")]).err().unwrap_or_else(|| panic!("{flag} {bad} accepted"));
                assert!(e.contains(flag) && e.contains("seconds"), "{flag} {bad}: {e}");
            }
        }
        let a = parse_args(&["--watch", "0.5", "--interval", "2"]).unwrap();
        assert_eq!((a.watch, a.interval), (Some(0.5), 2.0));
    }

    /// A `/port/stats` reply with `rx_packets` = `n`.
    fn stats_line(n: u64) -> String {
        let q = r#"{"queue":0,"packets":1,"bytes":2,"drops":3,"errors":4}"#;
        format!(
            r#"{{"/port/stats":{{"port":0,"name":"p","uptime_s":1.5,"rx_packets":{n},"rx_bytes":1,"rx_drops":2,"rx_errors":3,"tx_packets":4,"tx_bytes":5,"tx_drops":6,"tx_errors":7,"rx_missed":0,"rx_queues":[{q}],"tx_queues":[]}}}}"#
        )
    }

    #[test]
    fn counters_above_2_pow_53_are_read_exactly() {
        // 2^53 + 1 is the first whole number an f64 cannot hold: a reader
        // that keeps numbers as f64 (as pmdstat's own did) reads 2^53.
        let n = (1u64 << 53) + 1;
        assert_ne!(n as f64 as u64, n, "the test value must be one f64 rounds");
        for n in [n, u64::MAX] {
            let st: PortStatsReply = decode("/port/stats,0", &stats_line(n)).unwrap();
            assert_eq!(st.rx_packets, n);
            assert_eq!((st.tx_errors, st.uptime_s), (7, 1.5));
            assert_eq!(st.rx_queues, [Counters { packets: 1, bytes: 2, drops: 3, errors: 4 }]);
        }
    }

    #[test]
    fn errors_and_unexpected_replies_say_which_command() {
        let e = decode::<Vec<PortEntry>>("/ports", r#"{"error":"no port 9"}"#).unwrap_err();
        assert_eq!(e, "/ports: no port 9");
        let e = decode::<PortStatsReply>("/port/stats,0", r#"{"/port/stats":{"rx_packets":-1}}"#).unwrap_err();
        assert!(e.starts_with("/port/stats,0: unexpected reply"), "{e}");
        let e = decode::<Vec<PortEntry>>("/ports", "{").unwrap_err();
        assert!(e.starts_with("/ports: bad reply"), "{e}");
    }

    #[test]
    fn xstats_rows_keep_the_order_sent() {
        let m: Map<String, Value> = decode("/port/xstats,0", r#"{"/port/xstats":{"z":1,"a":2,"m":3}}"#).unwrap();
        assert_eq!(m.keys().map(String::as_str).collect::<Vec<_>>(), ["z", "a", "m"]);
    }

    #[test]
    fn json_nesting_is_bounded() {
        // Telemetry replies nest three or four levels; a hostile or broken
        // server must not be able to exhaust pmdstat's stack.
        let wrap = |inner: String| format!(r#"{{"/":{inner}}}"#);
        let ok = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(decode::<Value>("/", &wrap(ok)).is_ok());
        let deep = format!("{}1{}", "[".repeat(1000), "]".repeat(1000));
        let e = decode::<Value>("/", &wrap(deep)).expect_err("1000 levels accepted");
        assert!(e.contains("recursion limit"), "{e}");
        assert!(decode::<Value>("/", &"[".repeat(1 << 20)).is_err());
    }
}
