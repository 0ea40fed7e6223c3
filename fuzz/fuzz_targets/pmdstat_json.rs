//! Fuzz target `pmdstat_json`: pmdstat's JSON reader (`pmdstat::Json`),
//! which parses whatever comes back over a telemetry socket, and what
//! pmdstat builds from the values it reads.
//!
//! Only `Json`'s public reading API is used (`parse`, `get`, `arr`, `u64`,
//! `f64`, `str`), so the target holds whatever `Json` looks like inside.
//! For every input (taken as UTF-8; others are skipped, `parse` takes a
//! `&str`):
//! * `parse` never panics, overflows the stack or hangs, and the value it
//!   returns can be read and dropped;
//! * whatever a strict RFC 8259 parser accepts, `parse` accepts and reads
//!   the same: members by name (the first of a repeated name), elements,
//!   strings, numbers (`u64` is the number truncated and clamped), and
//!   neutral values (0, "", empty, null) from accessors of another kind;
//! * round trip: the value written back with testpmd's `JsonWriter`
//!   (unless an object repeats a name, which the writer refuses) reads
//!   back the same, numbers within 2 ULP;
//! * the value read as telemetry samples (the fields `pmdstat::sample`
//!   reads) prints as pmdstat's table, `--json` and `--prometheus` without
//!   a panic, and the `--json` output is JSON.
//!
//! Input texts `parse` accepts but a strict parser rejects are not a
//! failure (pmdstat may be lenient); they are still read and dropped.

#![no_main]

use ferrite_apps::json::JsonWriter;
use ferrite_apps::pmdstat::{self, Counters, Json, PortSample, Sample};
use ferrite_fuzz::json::{self as oracle, Numbers};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parsed = Json::parse(text);
    let Ok(tree) = oracle::parse(text) else {
        // Not JSON (or nested past serde_json's 128 levels). Whatever parse
        // made of it, reading the top level must work.
        if let Ok(j) = &parsed {
            let _ = (j.get("ports").arr().len(), j.u64(), j.f64(), j.str().len());
        }
        return;
    };
    let j = parsed.unwrap_or_else(|e| panic!("Json::parse rejects valid JSON ({e}): {text:?}"));
    if let Err(e) = oracle::agree(&j, &tree, Numbers::Exact) {
        panic!("Json::parse misreads {text:?}: {e}");
    }
    if !tree.has_repeated_keys() {
        let mut w = JsonWriter::new();
        tree.write(&mut w);
        let out = w.finish();
        let back = Json::parse(&out).unwrap_or_else(|e| panic!("Json::parse cannot read JsonWriter's {out:?} ({e})"));
        let as_written = oracle::parse(&out).unwrap_or_else(|e| panic!("JsonWriter wrote invalid JSON {out:?} ({e})"));
        if let Err(e) = oracle::agree(&back, &as_written, Numbers::Exact) {
            panic!("Json::parse misreads JsonWriter's {out:?}: {e}");
        }
        // Null stands for non-finite numbers in the writer; all else must
        // survive the trip (numbers within 2 ULP).
        if let Err(e) = oracle::agree(&back, &tree, Numbers::Close) {
            panic!("{text:?} written as {out:?} reads back differently: {e}");
        }
    }
    print_as_sample(&j);
});

/// Reads `v` the way `pmdstat::sample` reads `/ports` and `/port/stats`
/// replies (each element of `ports` plays both the port and its stats),
/// twice (`v` and `v.next`), and prints the result every way pmdstat can.
fn print_as_sample(v: &Json) {
    let a = sample_from(v);
    let next = v.get("next");
    let b = if next.get("ports").arr().is_empty() { a.clone() } else { sample_from(next) };
    let pid = v.get("pid").u64() as u32;
    let _ = pmdstat::table(pid, &a, &b);
    let _ = pmdstat::to_openmetrics(pid, &b);
    let out = pmdstat::to_json(pid, &a, &b);
    if let Err(e) = oracle::parse(&out) {
        panic!("pmdstat --json wrote invalid JSON ({e}): {out}");
    }
}

fn sample_from(v: &Json) -> Sample {
    let counters = |o: &Json, prefix: &str| {
        let g = |k: &str| o.get(&format!("{prefix}{k}")).u64();
        Counters { packets: g("packets"), bytes: g("bytes"), drops: g("drops"), errors: g("errors") }
    };
    Sample {
        t: v.get("uptime_s").f64(),
        ports: v
            .get("ports")
            .arr()
            .iter()
            .map(|p| PortSample {
                id: p.get("id").u64() as usize,
                name: p.get("name").str().to_string(),
                driver: p.get("driver").str().to_string(),
                rx: counters(p, "rx_"),
                tx: counters(p, "tx_"),
                rxq: p.get("rx_queues").arr().iter().map(|q| counters(q, "")).collect(),
                txq: p.get("tx_queues").arr().iter().map(|q| counters(q, "")).collect(),
            })
            .collect(),
    }
}
