//! Helpers for the workspace-level integration tests in `tests/tests/`:
//! virtual-port setup for library-level forwarding, a small JSON reader for
//! `testpmd --json`, and checks shared by several test files; hand-built
//! frames with independent checksum checks ([`frames`]) and scripted
//! queues ([`scripted`]) for the engines' tests.

pub mod frames;
pub mod scripted;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrite_apps::fwd::{self, Stream, StreamCounters};
use ferrite_hugepages::Fallback;
use ferrite_pmd::{Mempool, MempoolConfig, NetDevice, PortConfig, Queues};

/// A pool on huge pages if there are any, else on locked 4 KiB pages.
pub fn pool(name: &str, capacity: usize) -> Mempool {
    let mut cfg = MempoolConfig::new(name, capacity);
    cfg.dma.fallback = Fallback::SmallPages;
    Mempool::new(&cfg).expect("mempool")
}

/// `-l` for runs: the first two CPUs this process may use (main + one
/// forwarding core).
pub fn lcores() -> String {
    let cpus = ferrite_pmd::lcore::allowed_cpus();
    match cpus.as_slice() {
        [a, b, ..] => format!("{a},{b}"),
        [a] => format!("{a}"),
        [] => "0".into(),
    }
}

/// Opened virtual ports, one pool each, and their queues.
pub struct VirtSetup {
    /// The ports, in the order named.
    pub ports: Vec<Box<dyn NetDevice>>,
    /// One pool per port.
    pub pools: Vec<Mempool>,
    /// Each port's queues, as `open` handed them out.
    pub queues: Vec<Queues>,
}

/// Creates, configures and opens virtual ports `names` with `conf`, one pool
/// of `pool_size` buffers per port.
pub fn virt_ports(names: &[&str], conf: &PortConfig, pool_size: usize) -> VirtSetup {
    let mut ports = ferrite_pmd::drivers::virt::create_ports(names).expect("create_ports");
    let mut pools = Vec::new();
    let mut queues = Vec::new();
    for (i, p) in ports.iter_mut().enumerate() {
        let pl = pool(&format!("test_pool_{i}"), pool_size);
        p.configure(conf, &pl).expect("configure");
        queues.push(p.open().expect("open"));
        pools.push(pl);
    }
    VirtSetup { ports, pools, queues }
}

impl VirtSetup {
    /// Stops every port (queues must have been dropped).
    pub fn stop(&mut self) {
        for p in self.ports.iter_mut() {
            p.stop().expect("stop");
        }
    }

    /// Asserts every pool is full.
    pub fn assert_pools_full(&self) {
        for p in &self.pools {
            assert_eq!(p.available(), p.capacity(), "pool {} not full after stop", p.name());
        }
    }
}

/// Runs `cores` forwarding threads (each a registered lcore, unpinned) over
/// `streams`, spread round-robin, until `until` says so (checked every few
/// milliseconds) or `limit` passes; returns the streams. Panics if `limit`
/// passes first: that is a hang, not a slow machine (keep limits generous).
pub fn run_cores(
    streams: Vec<Stream>,
    cores: usize,
    pools: &[Mempool],
    limit: Duration,
    mut until: impl FnMut(&[Arc<StreamCounters>]) -> bool,
) -> Vec<Stream> {
    let counters: Vec<_> = streams.iter().map(|s| s.counters()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = fwd::spread(streams, cores)
        .into_iter()
        .enumerate()
        .map(|(i, ss)| fwd::spawn_core(i, None, ss, pools.to_vec(), Arc::clone(&stop)).expect("spawn"))
        .collect();
    let start = Instant::now();
    let mut finished = false;
    while start.elapsed() < limit {
        if until(&counters) {
            finished = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Relaxed);
    let mut out = Vec::new();
    for h in handles {
        let exit = h.join().expect("forwarding core panicked");
        assert!(exit.lcore.is_some(), "forwarding core got no lcore id: {:?}", exit.warnings);
        out.extend(exit.streams);
    }
    assert!(finished, "forwarding did not reach its goal within {limit:?} (a hang?)");
    out
}

/// A child in a process group of its own, killed with the group when
/// dropped (a failed assertion included), so nothing outlives the test.
pub struct Group(pub std::process::Child);

impl Group {
    /// Starts `cmd` as the leader of a new process group.
    pub fn spawn(cmd: &mut std::process::Command) -> Group {
        Group(
            std::os::unix::process::CommandExt::process_group(cmd, 0)
                .spawn()
                .unwrap_or_else(|e| panic!("start {cmd:?}: {e}")),
        )
    }

    /// Waits at most `limit` for the exit; on timeout kills the group and
    /// fails saying what was stuck, with what it printed.
    pub fn finish(mut self, what: &str, limit: Duration) -> (std::process::ExitStatus, String, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.0.try_wait().expect("wait") {
                break s;
            }
            if start.elapsed() > limit {
                self.kill();
                let (out, err) = self.output();
                panic!("{what} still running after {limit:?}: killed.\nstdout: {out}\nstderr: {err}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let (out, err) = self.output();
        (status, out, err)
    }

    fn output(&mut self) -> (String, String) {
        let read = |r: Option<&mut dyn std::io::Read>| {
            let mut s = String::new();
            if let Some(r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        };
        let out = read(self.0.stdout.as_mut().map(|s| s as &mut dyn std::io::Read));
        let err = read(self.0.stderr.as_mut().map(|s| s as &mut dyn std::io::Read));
        (out, err)
    }

    fn kill(&mut self) {
        // SAFETY: signals the process group this child leads (its pid).
        unsafe { libc::killpg(self.0.id() as libc::pid_t, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

/// A parsed JSON value, read by serde_json. Numbers keep serde_json's
/// exact form, so a u64 counter above 2^53 reads back as it was written
/// (an f64 would round it). The accessors panic with what was expected:
/// a test that reads a missing or mistyped member fails saying so.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    /// null
    Null,
    /// true / false
    Bool(bool),
    /// Any number, exact as written when it is an integer.
    Num(serde_json::Number),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object (keys sorted; a key written twice is a parse error).
    Obj(BTreeMap<String, Json>),
}

impl Json {
    /// Parses one JSON text (surrounding whitespace allowed).
    pub fn parse(s: &str) -> Result<Json, String> {
        serde_json::from_str(s).map_err(|e| e.to_string())
    }

    /// Member `k` of an object (panics with the key name if absent).
    pub fn get(&self, k: &str) -> &Json {
        match self {
            Json::Obj(m) => m.get(k).unwrap_or_else(|| panic!("no key '{k}' in {self:?}")),
            _ => panic!("not an object looking up '{k}': {self:?}"),
        }
    }

    /// The elements of an array.
    pub fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(v) => v,
            _ => panic!("not an array: {self:?}"),
        }
    }

    /// A number as u64 (panics if it is not a whole non-negative number
    /// that fits).
    pub fn u64(&self) -> u64 {
        match self {
            Json::Num(n) => n.as_u64().unwrap_or_else(|| panic!("not a whole number: {n}")),
            _ => panic!("not a whole number: {self:?}"),
        }
    }

    /// A number.
    pub fn f64(&self) -> f64 {
        match self {
            Json::Num(n) => n.as_f64().unwrap_or_else(|| panic!("not a number: {n}")),
            _ => panic!("not a number: {self:?}"),
        }
    }

    /// A string.
    pub fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            _ => panic!("not a string: {self:?}"),
        }
    }

    /// A boolean.
    pub fn bool(&self) -> bool {
        match self {
            Json::Bool(b) => *b,
            _ => panic!("not a boolean: {self:?}"),
        }
    }
}

/// Builds [`Json`] from serde_json's parser. Written out rather than
/// derived to refuse a key written twice in one object: readers disagree
/// on which value wins (jq and Python keep the last), so a report must not
/// depend on that, and serde_json's own `Value` keeps one silently.
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
        Ok(Json::Num(n.into()))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Num(n.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(n).map(Json::Num).ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::Str(s.to_string()))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(Json::Arr(v))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut m = BTreeMap::new();
        while let Some(k) = map.next_key::<String>()? {
            if m.contains_key(&k) {
                return Err(serde::de::Error::custom(format!("duplicate key \"{k}\"")));
            }
            let v = map.next_value()?;
            m.insert(k, v);
        }
        Ok(Json::Obj(m))
    }
}

/// Checks the conservation rules on a `testpmd --json` report and returns
/// the problems found (empty = all good):
/// * every stream: `rx + generated == tx + fwd_drops + consumed + drained`;
/// * every port rx queue polled by a stream: driver rx packets == stream rx;
/// * every port: driver rx packets == the rx of the streams polling it;
/// * every pool: available == capacity;
/// * the report's own verdict agrees.
pub fn conservation_problems(r: &Json) -> Vec<String> {
    let mut bad = Vec::new();
    let ports = r.get("ports").arr();
    for s in r.get("streams").arr() {
        let g = |k: &str| s.get(k).u64();
        if g("rx") + g("generated") != g("tx") + g("fwd_drops") + g("consumed") + g("drained") {
            bad.push(format!("stream not balanced: {s:?}"));
        }
        if g("rx") > 0 {
            let port = &ports[g("rx_port") as usize];
            let q = &port.get("queues").arr()[g("rx_queue") as usize];
            if q.get("rx_packets").u64() != g("rx") {
                bad.push(format!("rx queue count {} != stream rx {}", q.get("rx_packets").u64(), g("rx")));
            }
        }
    }
    for p in ports {
        // Everything received was forwarded, dropped by forwarding, consumed or drained.
        let streams_rx: u64 = r
            .get("streams")
            .arr()
            .iter()
            .filter(|s| s.get("rx_port").u64() == p.get("id").u64())
            .map(|s| s.get("rx").u64())
            .sum();
        if streams_rx != p.get("rx_packets").u64() {
            bad.push(format!(
                "port {}: rx_packets {} != streams' rx {streams_rx}",
                p.get("name").str(),
                p.get("rx_packets").u64()
            ));
        }
    }
    for m in r.get("mempools").arr() {
        if m.get("available").u64() != m.get("capacity").u64() {
            bad.push(format!("mempool not full: {m:?}"));
        }
    }
    if r.get("accounting_ok").bool() != bad.is_empty() {
        bad.push(format!("report says accounting_ok={} but the test found otherwise", r.get("accounting_ok").bool()));
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_reader_reads_what_the_writer_writes() {
        let v = Json::parse(r#" {"a": [1, 2.5e3, -3], "b": {"c": "x\"y\u0041"}, "t": true, "n": null} "#).unwrap();
        assert_eq!(v.get("a").arr()[1].f64(), 2500.0);
        assert_eq!(v.get("b").get("c").str(), "x\"yA");
        assert!(v.get("t").bool());
        assert_eq!(v.get("n"), &Json::Null);
        assert!(Json::parse("{").is_err());
        assert!(Json::parse("[1,]").is_err());
    }

    #[test]
    fn json_reader_rejects_duplicate_keys() {
        let err = Json::parse(r#"{"cores": 2, "x": {"cores": 1}, "cores": [{"core": 0}]}"#).unwrap_err();
        assert!(err.contains("duplicate key \"cores\""), "{err}");
        // The same key in different objects is fine.
        let v = Json::parse(r#"{"n": 1, "a": [{"n": 2}, {"n": 3}], "o": {"n": 4}}"#).unwrap();
        assert_eq!(v.get("o").get("n").u64(), 4);
    }

    #[test]
    fn counters_above_2_pow_53_read_back_exactly() {
        // 2^53 + 1 is the first whole number an f64 cannot hold: the
        // f64-based reader this replaced read it as 2^53.
        let n = (1u64 << 53) + 1;
        assert_ne!(n as f64 as u64, n, "the test value must be one f64 rounds");
        for n in [n, u64::MAX] {
            assert_eq!(Json::parse(&format!(r#"{{"rx_packets": {n}}}"#)).unwrap().get("rx_packets").u64(), n);
        }
    }
}

/// A global allocator that counts allocations per thread, for proving that a
/// datapath loop allocates nothing. A test file installs it with
/// `#[global_allocator] static A: CountingAlloc = CountingAlloc;` and reads
/// [`allocations_on_this_thread`] before and after the measured loop.
pub struct CountingAlloc;

thread_local! {
    static ALLOCS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn count_allocation() {
    // try_with: allocations during thread teardown must not panic.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

/// Allocations (including reallocations) made by the calling thread so far.
pub fn allocations_on_this_thread() -> u64 {
    ALLOCS.with(|c| c.get())
}

// SAFETY: every method forwards to the system allocator with the caller's
// arguments unchanged; counting touches only a thread-local integer.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: std::alloc::Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, n: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.realloc(p, l, n) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.dealloc(p, l) }
    }
}

/// A plain UDP/IPv4 test frame of `len` bytes between two fixed hosts
/// (02:00:00:00:00:01, 10.0.0.1:1 → 02:00:00:00:00:02, 10.0.0.2:2).
pub fn udp_spec(len: usize) -> ferrite_apps::fwd::pkt::FrameSpec {
    ferrite_apps::fwd::pkt::FrameSpec {
        len,
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src_ip: [10, 0, 0, 1],
        dst_ip: [10, 0, 0, 2],
        src_port: 1,
        dst_port: 2,
        sender: 0,
    }
}

/// Polls every stream 1,000 times to warm up (lazy statics, first touch of
/// pool caches), then `rounds` times more; returns the frames the measured
/// rounds moved and the heap allocations this thread made during them
/// (counted when the test binary installs [`CountingAlloc`]).
pub fn poll_counting_allocations(streams: &mut [ferrite_apps::fwd::Stream], rounds: usize) -> (usize, u64) {
    for _ in 0..1000 {
        streams.iter_mut().for_each(|s| {
            s.poll();
        });
    }
    let before = allocations_on_this_thread();
    let mut work = 0usize;
    for _ in 0..rounds {
        for s in streams.iter_mut() {
            work += s.poll();
        }
    }
    (work, allocations_on_this_thread() - before)
}
