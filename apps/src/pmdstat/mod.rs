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

use crate::json::JsonWriter;
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
    /// OpenMetrics text for Prometheus (one sample, no rates)
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

/// A parsed JSON value (enough for telemetry replies).
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    /// null
    Null,
    /// true/false
    Bool(bool),
    /// a number (an f64: whole numbers above 2^53 are rounded)
    Num(f64),
    /// a string
    Str(String),
    /// an array
    Arr(Vec<Json>),
    /// an object, in order (`-S` prints the driver's rows as it sent them)
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// Parses one JSON text. serde_json does the parsing: it refuses
    /// nesting deeper than 128 levels, so a hostile or broken server cannot
    /// exhaust pmdstat's stack.
    pub fn parse(s: &str) -> Result<Json, String> {
        serde_json::from_str(s).map_err(|e| e.to_string())
    }

    /// Member `k` of an object (`Null` if absent).
    pub fn get(&self, k: &str) -> &Json {
        match self {
            Json::Obj(m) => m.iter().find(|(n, _)| n == k).map_or(&Json::Null, |(_, v)| v),
            _ => &Json::Null,
        }
    }

    /// The elements of an array (empty otherwise).
    pub fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            _ => &[],
        }
    }

    /// A number as u64, truncated and clamped (0 otherwise).
    pub fn u64(&self) -> u64 {
        match self {
            Json::Num(n) => *n as u64,
            _ => 0,
        }
    }

    /// A number (0 otherwise).
    pub fn f64(&self) -> f64 {
        match self {
            Json::Num(n) => *n,
            _ => 0.0,
        }
    }

    /// A string ("" otherwise).
    pub fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            _ => "",
        }
    }
}

/// Builds [`Json`] straight from serde_json's parser (no `serde_json::Value`
/// in between, whose maps would lose the members' order).
impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Num(n as f64))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Num(n as f64))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Json, E> {
        Ok(Json::Num(n))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::Str(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::Str(s))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(Json::Arr(v))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut m = Vec::new();
        while let Some((k, v)) = map.next_entry()? {
            m.push((k, v));
        }
        Ok(Json::Obj(m))
    }
}

/// Counters of one queue (or a port's total) at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
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

fn reply(c: &mut Client, cmd: &str) -> Result<Json, String> {
    let line = c.request(cmd).map_err(|e| format!("{cmd}: {e}"))?;
    let v = Json::parse(&line).map_err(|e| format!("{cmd}: bad reply ({e}): {line}"))?;
    if let Json::Str(e) = v.get("error") {
        return Err(format!("{cmd}: {e}"));
    }
    Ok(v.get(cmd.split(',').next().unwrap_or(cmd)).clone())
}

fn counters(o: &Json, prefix: &str) -> Counters {
    let g = |k: &str| o.get(&format!("{prefix}{k}")).u64();
    Counters { packets: g("packets"), bytes: g("bytes"), drops: g("drops"), errors: g("errors") }
}

/// Reads every port's counters.
pub fn sample(c: &mut Client) -> Result<Sample, String> {
    let ports = reply(c, "/ports")?;
    let mut s = Sample::default();
    for (k, p) in ports.arr().iter().enumerate() {
        let id = p.get("id").u64() as usize;
        let st = reply(c, &format!("/port/stats,{id}"))?;
        if k == 0 {
            s.t = st.get("uptime_s").f64();
        }
        s.ports.push(PortSample {
            id,
            name: p.get("name").str().to_string(),
            driver: p.get("driver").str().to_string(),
            rx: counters(&st, "rx_"),
            tx: counters(&st, "tx_"),
            rxq: st.get("rx_queues").arr().iter().map(|q| counters(q, "")).collect(),
            txq: st.get("tx_queues").arr().iter().map(|q| counters(q, "")).collect(),
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

fn counters_json(w: &mut JsonWriter, b: &Counters, n: &Counters, secs: f64) {
    let (pps, mbps) = rate(b, n, secs);
    w.field_u64("packets", n.packets).field_u64("bytes", n.bytes).field_u64("drops", n.drops);
    w.field_u64("errors", n.errors).field_f64("pps", pps).field_f64("mbps", mbps);
}

/// The `--json` output.
pub fn to_json(pid: u32, a: &Sample, b: &Sample) -> String {
    let secs = b.t - a.t;
    let mut w = JsonWriter::new();
    w.begin_object().field_u64("pid", u64::from(pid)).field_f64("interval_s", secs).field_f64("uptime_s", b.t);
    w.key("ports").begin_array();
    let z = Counters::default();
    for p in &b.ports {
        let old = a.ports.iter().find(|o| o.id == p.id).cloned().unwrap_or_default();
        w.begin_object().field_u64("id", p.id as u64).field_str("name", &p.name).field_str("driver", &p.driver);
        for (k, before, now) in [("rx", &old.rx, &p.rx), ("tx", &old.tx, &p.tx)] {
            w.key(k).begin_object();
            counters_json(&mut w, before, now, secs);
            w.end_object();
        }
        for (k, before, now) in [("rx_queues", &old.rxq, &p.rxq), ("tx_queues", &old.txq, &p.txq)] {
            w.key(k).begin_array();
            for (q, c) in now.iter().enumerate() {
                w.begin_object().field_u64("queue", q as u64);
                counters_json(&mut w, before.get(q).unwrap_or(&z), c, secs);
                w.end_object();
            }
            w.end_array();
        }
        w.end_object();
    }
    w.end_array().end_object();
    w.finish()
}

/// The `--prometheus` output (OpenMetrics text).
pub fn to_openmetrics(pid: u32, s: &Sample) -> String {
    let mut out = String::new();
    type Family = (&'static str, &'static str, fn(&Counters) -> u64);
    let fams: [Family; 4] = [
        ("packets", "Frames", |c| c.packets),
        ("bytes", "Bytes", |c| c.bytes),
        ("drops", "Frames dropped", |c| c.drops),
        ("errors", "Frames in error", |c| c.errors),
    ];
    for dir in ["rx", "tx"] {
        for (what, help, get) in fams {
            let name = format!("ferrite_{dir}_{what}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "# HELP {name} {help} {}, per queue.", if dir == "rx" { "received" } else { "sent" });
            for p in &s.ports {
                let qs = if dir == "rx" { &p.rxq } else { &p.txq };
                for (q, c) in qs.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "{name}_total{{pid=\"{pid}\",port=\"{}\",name=\"{}\",queue=\"{q}\"}} {}",
                        p.id,
                        p.name,
                        get(c)
                    );
                }
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// `ethtool -S`: the port's named statistics.
pub fn xstats(c: &mut Client, port: usize) -> Result<String, String> {
    let v = reply(c, &format!("/port/xstats,{port}"))?;
    let mut out = String::from("NIC statistics:\n");
    if let Json::Obj(m) = v {
        for (k, v) in m {
            let _ = writeln!(out, "     {k}: {}", v.u64());
        }
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
        print!("{}", to_openmetrics(pid, &sample(&mut c)?));
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

    #[test]
    fn json_values_read_as_written_and_members_keep_their_order() {
        let v = Json::parse(r#"{"z":4294967296,"a":[-3,2.5,"x\u0041",true,null],"m":1e3}"#).unwrap();
        assert_eq!((v.get("z").u64(), v.get("m").u64()), (1 << 32, 1000));
        // In the order sent: `pmdstat -S` prints the driver's rows so.
        let Json::Obj(members) = &v else { panic!("{v:?}") };
        assert_eq!(members.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["z", "a", "m"]);
        let a = v.get("a").arr();
        assert_eq!((a[0].u64(), a[0].f64(), a[1].f64(), a[2].str()), (0, -3.0, 2.5, "xA"));
        assert_eq!((&a[3], &a[4]), (&Json::Bool(true), &Json::Null));
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "[1] x", "nan", "\"\\q\""] {
            assert!(Json::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn json_nesting_is_bounded() {
        // Telemetry replies nest three or four levels; a hostile or broken
        // server must not be able to exhaust pmdstat's stack.
        let ok = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(Json::parse(&ok).is_ok());
        let deep = format!("{}1{}", "[".repeat(1000), "]".repeat(1000));
        let e = Json::parse(&deep).expect_err("1000 levels accepted");
        assert!(e.contains("recursion limit"), "{e}");
        let objs = format!("{}1{}", "{\"a\":".repeat(1000), "}".repeat(1000));
        assert!(Json::parse(&objs).is_err());
    }

    #[test]
    fn a_megabyte_of_open_brackets_is_an_error_not_a_crash() {
        assert!(Json::parse(&"[".repeat(1 << 20)).is_err());
        assert!(Json::parse(&"{\"a\":".repeat(1 << 18)).is_err());
    }
}
