//! `soak`: a long forwarding run on virtual ports with every disturbance the
//! datapath has to survive happening at once, then an audit of every frame
//! and every buffer. `scripts/soak MINUTES` builds it in release and runs it.
//!
//! What runs:
//!
//! * Two `pair` ports wired to each other, 4 queues each, RSS on (IPv4
//!   addresses and UDP ports, a different random key per port, so a flow
//!   lands on unrelated queues hop after hop), 256-slot rings, and one small
//!   pool per port (1536 buffers, 64 cached per core). Each pool is smaller
//!   than the 2048 ring slots its frames can fill and the two together are
//!   larger: pools run dry and rings overflow, both.
//! * Per port, the last queue pair belongs to a flowgen generator (tx) and an
//!   rxonly sink (rx, checking every payload's checksum); queues 0..=2 carry
//!   forwarding streams rx q -> tx q (mac engine on port 0, macswap on port
//!   1), so what a port receives goes back to the other until RSS drops it
//!   into a sink or a ring refuses it. Port 0's generator is unpaced, 64 B
//!   frames; port 1's is paced, 1000 B frames to a stranger's MAC (what
//!   port 0 filters while it is not promiscuous).
//! * Two forwarding threads: core 0 polls (generators and three streams),
//!   core 1 is adaptive (sinks and three streams): it sleeps on the rx
//!   interrupts when idle, which happens while the link is down.
//! * The main thread is the control plane: one episode at a time, at random
//!   (link down on one end for a while, renegotiation, a speed change, a
//!   small MTU, promiscuous mode off, a new RSS key, RSS off, a 1 ms transmit
//!   watchdog that flushes rings under a descheduled receiver), a pool hog
//!   that takes most of a pool's free buffers for a while, a progress line
//!   every 30 s, and a telemetry server.
//! * Two readers: one calls `stats64`/`named_stats` (and the other getters)
//!   in a loop and checks that no counter goes backwards and no port receives
//!   more than its peer sent; one asks the telemetry socket in a loop, as
//!   pmdstat does, and checks the replies the same way.
//!
//! At the end everything stops (cores, readers, hog), queues are drained,
//! ports stopped, and the audit checks: every stream balanced; driver
//! counters per queue equal to the streams' counts; per direction, what one
//! port sent equals what the other received, filtered or flushed; every
//! frame generated is accounted for by a named reason; every pool full;
//! link events as many as flaps were made, alternating; no payload
//! damaged; and, during the run, some frames forwarded and sunk in every
//! 30 s. Exit 0 if all holds, 1 with the list of violations otherwise
//! (2: bad command line). Rates are printed, never asserted.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrite_apps::fwd::pkt::FrameSpec;
use ferrite_apps::fwd::{
    self, EngineConfig, NoQueue, RxWait, RxWaitMode, Stream, StreamCounters, StreamId, StreamStats, TxGenConfig,
};
use ferrite_apps::telemetry::{Client, Context, Telemetry};
use ferrite_hugepages::Fallback;
use ferrite_pmd::drivers::igb::vfio::EventFd;
use ferrite_pmd::drivers::virt::LINK_SPEEDS;
use ferrite_pmd::port::{Duplex, LinkEvents, LinkSettings, MacAddr, RssHashTypes, RxMode};
use ferrite_pmd::{MbufBatch, Mempool, MempoolConfig, NetDevice, PortConfig, Queues, RxQueue, TxQueue};
use ferrite_tests::Json;

const PORTS: usize = 2;
const QUEUES: usize = 4;
/// The queue pair of the generator (tx) and the sink (rx) on each port.
const SINK_Q: usize = QUEUES - 1;
const RING: u16 = 256;
const POOL_SIZE: usize = 1536;
const POOL_CACHE: usize = 64;
const BURST: usize = 32;
const FLOWS: u32 = 1024;
/// Frame length of each port's generator.
const GEN_LEN: [usize; PORTS] = [64, 1000];
/// Pace of each port's generator (`None`: as fast as it can).
const GEN_RATE: [Option<f64>; PORTS] = [None, Some(200_000.0)];
/// The MTU of a "small MTU" episode: port 1's 1000 B frames no longer fit.
const SMALL_MTU: u16 = 576;
const MTU: u16 = 1500;
const TX_TIMEOUT: Duration = Duration::from_secs(5);
/// A watchdog this short fires whenever a receiving core is descheduled
/// with its ring full, flushing the ring under the receiver's feet.
const SHORT_TX_TIMEOUT: Duration = Duration::from_millis(1);
/// Port 1's generator sends here: port 0 filters it while not promiscuous.
const STRANGER: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x99]);
const RSS_TYPES: RssHashTypes = RssHashTypes(RssHashTypes::IP.0 | RssHashTypes::UDP.0);
/// How long a forwarding core or reader may take to stop before the soak
/// calls it a hang.
const STOP_LIMIT: Duration = Duration::from_secs(30);
/// Violations printed and kept in full (the rest are only counted).
const MAX_SHOWN: u64 = 40;
/// Forwarding must make some progress in every window this long. The
/// longest disturbance lasts 1 s, so an idle window is a stall (as the igb
/// soak found one: conservation holds while nothing moves), whatever the
/// machine's speed. Progress is checked, never a rate.
const STALL_WINDOW: Duration = Duration::from_secs(30);

const USAGE: &str = "usage: soak [--seed N] [--progress SECS] MINUTES

Forwards on two virtual pair ports (4 queues, RSS, small pools) with link
flaps, MTU/rx-mode/RSS changes, a short tx watchdog, a pool hog and stats
readers for MINUTES (a decimal number), then checks packet conservation and
that every buffer is back in its pool. Exit 0: all checks passed; 1: a check
failed (each violation is printed); 2: bad command line.

  --seed N         seed of the random schedule (printed at start, to repeat a run)
  --progress SECS  seconds between progress lines (default 30)";

struct Args {
    minutes: f64,
    seed: u64,
    progress: Duration,
}

fn parse_args() -> Result<Option<Args>, String> {
    let (mut minutes, mut seed, mut progress) = (None, None, 30.0);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--seed" => {
                let v = it.next().ok_or("--seed wants a number")?;
                seed = Some(v.parse().map_err(|_| format!("--seed {v}: not a whole number"))?);
            }
            "--progress" => {
                let v = it.next().ok_or("--progress wants a number of seconds")?;
                progress = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s >= 0.1 && *s <= 3600.0)
                    .ok_or(format!("--progress {v}: want seconds from 0.1 to 3600"))?;
            }
            m if minutes.is_none() && !m.starts_with('-') => {
                minutes = Some(
                    m.parse()
                        .ok()
                        .filter(|x: &f64| *x > 0.0 && *x <= 10_000.0)
                        .ok_or(format!("'{m}' is not a number of minutes (want e.g. 10 or 0.5)"))?,
                );
            }
            other => return Err(format!("unexpected argument '{other}'")),
        }
    }
    let minutes = minutes.ok_or("how long? give MINUTES")?;
    let seed = seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        (t.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32)
    });
    Ok(Some(Args { minutes, seed, progress: Duration::from_secs_f64(progress) }))
}

/// xorshift64*: the schedule only needs to vary and to repeat from a seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so that 0 and small seeds start well.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }

    fn key(&mut self) -> [u8; 40] {
        let mut k = [0u8; 40];
        for chunk in k.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes()[..chunk.len()]);
        }
        k
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Violations found so far, by any thread. Each is printed when found, so a
/// long run shows a problem when it happens, not ten minutes later.
#[derive(Clone)]
struct Problems {
    start: Instant,
    list: Arc<Mutex<Vec<String>>>,
    count: Arc<AtomicU64>,
}

impl Problems {
    fn new(start: Instant) -> Problems {
        Problems { start, list: Arc::default(), count: Arc::default() }
    }

    fn add(&self, what: impl Into<String>) {
        let n = self.count.fetch_add(1, Relaxed) + 1;
        let msg = format!("[{:7.1} s] {}", self.start.elapsed().as_secs_f64(), what.into());
        if n <= MAX_SHOWN {
            eprintln!("soak: VIOLATION {msg}");
            lock(&self.list).push(msg);
        } else if n == MAX_SHOWN + 1 {
            eprintln!("soak: more violations follow; only their number is kept");
        }
    }

    fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }
}

/// A generator's transmit queue, counting `tx_done_cleanup` calls: the
/// txonly/flowgen engine makes that call exactly when it could not allocate
/// a burst, so this counts the generator's allocation failures (the pool
/// pressure), which the library does not count.
struct CountingTx {
    inner: Box<dyn TxQueue>,
    alloc_failures: Arc<AtomicU64>,
}

impl TxQueue for CountingTx {
    fn tx_burst(&mut self, batch: &mut MbufBatch) -> usize {
        self.inner.tx_burst(batch)
    }

    fn tx_done_cleanup(&mut self) -> usize {
        self.alloc_failures.fetch_add(1, Relaxed);
        self.inner.tx_done_cleanup()
    }

    fn queue_id(&self) -> u16 {
        self.inner.queue_id()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Forward,
    Sink,
    Gen,
}

/// Generators have no rx queue and sinks no tx queue: their ids say so with
/// `u16::MAX` (the queue id of [`NoQueue`]).
fn role(id: StreamId) -> Role {
    if id.rx_queue == u16::MAX {
        Role::Gen
    } else if id.tx_queue == u16::MAX {
        Role::Sink
    } else {
        Role::Forward
    }
}

type SharedPorts = Arc<Mutex<Vec<Box<dyn NetDevice>>>>;

/// A named counter of `ethtool -S` rows.
fn named(rows: &[(String, u64)], name: &str) -> Option<u64> {
    rows.iter().find(|r| r.0 == name).map(|r| r.1)
}

/// Frames that arrived on `rows`' port's wires so far: received, filtered
/// or flushed.
fn arrived(rows: &[(String, u64)]) -> u64 {
    ["rx_packets", "rx_dropped", "rx_flushed"].iter().map(|n| named(rows, n).unwrap_or(0)).sum()
}

/// Checks that no counter went backwards since the last read of this port
/// (nothing resets them during a soak), and remembers this read.
fn check_monotonic(who: &str, port: usize, rows: &[(String, u64)], last: &mut BTreeMap<String, u64>, p: &Problems) {
    for (name, v) in rows {
        if let Some(&before) = last.get(name) {
            if *v < before {
                p.add(format!("{who}: port {port} counter {name} went back from {before} to {v}"));
            }
        }
        last.insert(name.clone(), *v);
    }
}

/// What a receiver counted can exceed what its peer counted as sent only by
/// the frames a transmit queue has put on the wire and not counted yet: at
/// most one burst per transmit queue. The receiver is read first, so any
/// more means frames were counted twice or made up.
fn check_arrived_within_sent(
    who: &str,
    sender: usize,
    sent: &[(String, u64)],
    received: &[(String, u64)],
    p: &Problems,
) {
    let slack = (QUEUES * BURST) as u64;
    let (tx, rx) = (named(sent, "tx_packets").unwrap_or(0), arrived(received));
    if rx > tx + slack {
        p.add(format!(
            "{who}: port {} took {rx} frames off its wires (received + filtered + flushed) but port {sender} \
             has sent only {tx} (+{slack} in flight)",
            1 - sender
        ));
    }
}

/// Reader 1: the port API, straight. Holds the ports' lock only to read.
fn direct_reader(ports: SharedPorts, stop: Arc<AtomicBool>, reads: Arc<AtomicU64>, p: Problems) {
    let mut last: [BTreeMap<String, u64>; PORTS] = Default::default();
    while !stop.load(Relaxed) {
        let (a, b, c) = {
            let ports = lock(&ports);
            // Receiver before sender, for both directions: 1, 0, then 1 again.
            let a = ports[1].named_stats();
            let b = ports[0].named_stats();
            let c = ports[1].named_stats();
            for port in ports.iter() {
                // The rest of what a monitoring tool calls; their results
                // only have to come back (the datapath must not care).
                let s = port.stats64();
                let _ = (port.link_status(), port.rss_config(), port.channels(), port.ringparam(), port.regs());
                if s.rx_queues.len() != QUEUES || s.tx_queues.len() != QUEUES {
                    p.add(format!(
                        "stats64 of {} has {} rx / {} tx queue rows, want {QUEUES}",
                        port.name(),
                        s.rx_queues.len(),
                        s.tx_queues.len()
                    ));
                }
            }
            (a, b, c)
        };
        reads.fetch_add(3 + PORTS as u64, Relaxed);
        check_monotonic("stats reader", 1, &a, &mut last[1], &p);
        check_monotonic("stats reader", 0, &b, &mut last[0], &p);
        check_monotonic("stats reader", 1, &c, &mut last[1], &p);
        check_arrived_within_sent("stats reader", 0, &b, &a, &p);
        check_arrived_within_sent("stats reader", 1, &c, &b, &p);
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn field<'a>(j: &'a Json, k: &str) -> Option<&'a Json> {
    match j {
        Json::Obj(m) => m.get(k),
        _ => None,
    }
}

fn whole(j: Option<&Json>) -> Option<u64> {
    match j {
        Some(Json::Num(n)) => n.as_u64(),
        _ => None,
    }
}

/// What the telemetry reader remembers between rounds.
#[derive(Default)]
struct TelemetrySeen {
    /// Per port: rx_packets, tx_packets of the last `/port/stats,N`.
    ports: [(u64, u64); PORTS],
    /// Per stream (by position in `/streams`): rx, tx.
    streams: Vec<(u64, u64)>,
}

/// Checks one telemetry reply: JSON, keyed by the command, no error, and
/// counters that only grow.
fn check_reply(cmd: &str, line: &str, seen: &mut TelemetrySeen, p: &Problems) {
    let reply = match Json::parse(line) {
        Ok(j) => j,
        Err(e) => return p.add(format!("telemetry: reply to {cmd} is not JSON ({e}): {line:.200}")),
    };
    if let Some(e) = field(&reply, "error") {
        return p.add(format!("telemetry: {cmd} answered an error: {e:?}"));
    }
    let key = cmd.split(',').next().unwrap_or(cmd);
    let Some(body) = field(&reply, key) else {
        return p.add(format!("telemetry: reply to {cmd} has no '{key}' member: {line:.200}"));
    };
    if key == "/port/stats" {
        let port: usize = cmd[key.len() + 1..].parse().unwrap_or(0);
        let (rx, tx) = (whole(field(body, "rx_packets")), whole(field(body, "tx_packets")));
        let (Some(rx), Some(tx)) = (rx, tx) else {
            return p.add(format!("telemetry: {cmd} lacks rx_packets/tx_packets: {line:.200}"));
        };
        let (lrx, ltx) = seen.ports[port];
        if rx < lrx || tx < ltx {
            p.add(format!("telemetry: {cmd}: rx/tx packets went back from {lrx}/{ltx} to {rx}/{tx}"));
        }
        seen.ports[port] = (rx, tx);
    } else if key == "/streams" {
        let Json::Arr(streams) = body else {
            return p.add(format!("telemetry: /streams is not an array: {line:.200}"));
        };
        seen.streams.resize(streams.len(), (0, 0));
        for (i, s) in streams.iter().enumerate() {
            let (Some(rx), Some(tx)) = (whole(field(s, "rx")), whole(field(s, "tx"))) else {
                return p.add(format!("telemetry: /streams entry {i} lacks rx/tx: {line:.200}"));
            };
            let (lrx, ltx) = seen.streams[i];
            if rx < lrx || tx < ltx {
                p.add(format!("telemetry: stream {i}: rx/tx went back from {lrx}/{ltx} to {rx}/{tx}"));
            }
            seen.streams[i] = (rx, tx);
        }
    }
}

const TELEMETRY_COMMANDS: [&str; 13] = [
    "/ports",
    "/info",
    "/port/stats,0",
    "/port/stats,1",
    "/port/xstats,0",
    "/port/xstats,1",
    "/port/link,0",
    "/port/link,1",
    "/port/rss,0",
    "/port/rss,1",
    "/port/info,0",
    "/port/info,1",
    "/streams",
];

/// Reader 2: a telemetry client, as pmdstat (one connection, many requests;
/// a new connection after an error).
fn telemetry_reader(path: PathBuf, stop: Arc<AtomicBool>, reads: Arc<AtomicU64>, p: Problems) {
    let mut seen = TelemetrySeen::default();
    let mut client: Option<Client> = None;
    while !stop.load(Relaxed) {
        let c = match client.as_mut() {
            Some(c) => c,
            None => match Client::connect(&path) {
                Ok(c) => client.insert(c),
                Err(e) => {
                    p.add(format!("telemetry: cannot connect to {}: {e}", path.display()));
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            },
        };
        for cmd in TELEMETRY_COMMANDS {
            if stop.load(Relaxed) {
                break;
            }
            match c.request(cmd) {
                Ok(line) => {
                    reads.fetch_add(1, Relaxed);
                    check_reply(cmd, &line, &mut seen, &p);
                }
                Err(e) => {
                    p.add(format!("telemetry: request {cmd} failed: {e}"));
                    client = None;
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(3));
        }
    }
}

/// The control plane's disturbances. One runs at a time, so that each link
/// flap yields exactly one down and one up event on each end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    /// `set_link(false)` on one end for a while, then `set_link(true)`.
    LinkDown,
    /// `nway_reset`: the link drops and comes back at once.
    Renegotiate,
    /// `set_link_settings` with another speed: also a flap.
    Speed,
    /// MTU 576 for a while: port 1's 1000 B frames become oversize.
    SmallMtu,
    /// Promiscuous mode off for a while: frames to the stranger's MAC are filtered.
    NoPromisc,
    /// A new random RSS key: flows move to other queues.
    NewRssKey,
    /// RSS off for a while: tx queue q feeds rx queue q.
    RssOff,
    /// A 1 ms transmit watchdog on one port, RSS off on its peer, for a
    /// while. (With RSS on, a transmit queue drops what the receiving rings
    /// cannot take and never holds frames back, so the watchdog, which
    /// watches for frames held back too long, has nothing to watch.)
    ShortWatchdog,
}

impl Action {
    /// The draw: link-down episodes are the likeliest.
    const DRAW: [Action; 10] = [
        Action::LinkDown,
        Action::LinkDown,
        Action::LinkDown,
        Action::Renegotiate,
        Action::Speed,
        Action::SmallMtu,
        Action::NoPromisc,
        Action::NewRssKey,
        Action::RssOff,
        Action::ShortWatchdog,
    ];

    fn name(self) -> &'static str {
        match self {
            Action::LinkDown => "link-down",
            Action::Renegotiate => "renegotiate",
            Action::Speed => "speed",
            Action::SmallMtu => "small-mtu",
            Action::NoPromisc => "no-promisc",
            Action::NewRssKey => "rss-key",
            Action::RssOff => "rss-off",
            Action::ShortWatchdog => "short-watchdog",
        }
    }

    fn flaps(self) -> bool {
        matches!(self, Action::LinkDown | Action::Renegotiate | Action::Speed)
    }
}

struct Episode {
    action: Action,
    port: usize,
    until: Instant,
}

/// Buffers taken from a pool by the control thread, to starve the
/// generator that allocates from it.
struct Hog {
    /// Kept only to be dropped: that gives the buffers back.
    _held: Vec<MbufBatch>,
    until: Instant,
}

/// Link events seen on one port.
#[derive(Default)]
struct EventTally {
    ups: u64,
    downs: u64,
    last_up: Option<bool>,
}

/// The main thread's state.
struct Control {
    ports: SharedPorts,
    pools: Vec<Mempool>,
    events: Vec<LinkEvents>,
    tally: Vec<EventTally>,
    rng: Rng,
    p: Problems,
    episode: Option<Episode>,
    next_episode: Instant,
    hog: Option<Hog>,
    next_hog: Instant,
    /// Episodes run, by action.
    episodes: BTreeMap<Action, u64>,
    flaps: u64,
    hog_grabs: u64,
    hog_most: usize,
    pool_min: Vec<usize>,
}

impl Control {
    fn ports(&self) -> MutexGuard<'_, Vec<Box<dyn NetDevice>>> {
        lock(&self.ports)
    }

    fn both_links(&self, up: bool, after: &str) {
        let ports = self.ports();
        for port in ports.iter() {
            if port.link_status().up != up {
                self.p.add(format!(
                    "after {after}, {} reports link {} (want {})",
                    port.name(),
                    if up { "down" } else { "up" },
                    if up { "up" } else { "down" }
                ));
            }
        }
    }

    fn start_episode(&mut self, now: Instant) {
        let action = Action::DRAW[self.rng.below(Action::DRAW.len() as u64) as usize];
        let port = self.rng.below(PORTS as u64) as usize;
        let what = format!("{} on port {port}", action.name());
        let (result, hold) = {
            let mut ports = lock(&self.ports);
            let dev = &mut ports[port];
            match action {
                Action::LinkDown => (dev.set_link(false), self.rng.ms(5, 400)),
                Action::Renegotiate => (dev.nway_reset(), Duration::ZERO),
                Action::Speed => {
                    let speed = LINK_SPEEDS[self.rng.below(LINK_SPEEDS.len() as u64) as usize];
                    let s = LinkSettings { autoneg: false, speed_mbps: speed, duplex: Duplex::Full };
                    (dev.set_link_settings(&s), Duration::ZERO)
                }
                Action::SmallMtu => (dev.change_mtu(SMALL_MTU), self.rng.ms(20, 500)),
                Action::NoPromisc => {
                    (dev.set_rx_mode(RxMode { promiscuous: false, all_multicast: false }), self.rng.ms(20, 500))
                }
                Action::NewRssKey => (dev.set_rss_key(&self.rng.key()), Duration::ZERO),
                Action::RssOff => (dev.set_rss_hash_types(RssHashTypes::NONE), self.rng.ms(20, 500)),
                Action::ShortWatchdog => {
                    let r = dev.set_tx_timeout(SHORT_TX_TIMEOUT);
                    (r.and_then(|()| ports[1 - port].set_rss_hash_types(RssHashTypes::NONE)), self.rng.ms(50, 1000))
                }
            }
        };
        if let Err(e) = result {
            self.p.add(format!("{what}: {e}"));
        }
        *self.episodes.entry(action).or_default() += 1;
        if action.flaps() {
            self.flaps += 1;
        }
        if action == Action::LinkDown {
            self.both_links(false, &format!("set_link(false) on port {port}"));
        }
        self.episode = Some(Episode { action, port, until: now + hold });
    }

    /// Undoes the episode's change (nothing to undo for the instant ones,
    /// but the link must be up again after them).
    fn end_episode(&mut self) {
        let Some(Episode { action, port, .. }) = self.episode.take() else { return };
        let result = {
            let mut ports = lock(&self.ports);
            let dev = &mut ports[port];
            match action {
                Action::LinkDown => dev.set_link(true),
                Action::SmallMtu => dev.change_mtu(MTU),
                Action::NoPromisc => dev.set_rx_mode(RxMode { promiscuous: true, all_multicast: false }),
                Action::RssOff => dev.set_rss_hash_types(RSS_TYPES),
                Action::ShortWatchdog => {
                    dev.set_tx_timeout(TX_TIMEOUT).and_then(|()| ports[1 - port].set_rss_hash_types(RSS_TYPES))
                }
                Action::Renegotiate | Action::Speed | Action::NewRssKey => Ok(()),
            }
        };
        if let Err(e) = result {
            self.p.add(format!("undoing {} on port {port}: {e}", action.name()));
        }
        if action.flaps() {
            self.both_links(true, &format!("{} on port {port}", action.name()));
        }
    }

    /// Takes half to all of one pool's free buffers, in bursts.
    fn grab(&mut self, now: Instant) {
        let which = self.rng.below(PORTS as u64) as usize;
        let pool = &self.pools[which];
        let want = pool.available() * (50 + self.rng.below(51) as usize) / 100;
        let (mut held, mut got) = (Vec::new(), 0);
        let mut batch = MbufBatch::new();
        while got + BURST <= want && pool.alloc_bulk(&mut batch, BURST) {
            got += BURST;
            if batch.room() < BURST {
                held.push(std::mem::replace(&mut batch, MbufBatch::new()));
            }
        }
        held.push(batch);
        self.hog_grabs += 1;
        self.hog_most = self.hog_most.max(got);
        self.hog = Some(Hog { _held: held, until: now + self.rng.ms(20, 800) });
    }

    /// Counts link events and checks they alternate down/up.
    fn drain_events(&mut self) {
        for (i, ev) in self.events.iter().enumerate() {
            while let Some(e) = ev.try_next() {
                let t = &mut self.tally[i];
                if e.removed {
                    self.p.add(format!("port {i}: a virtual port reported its device removed"));
                }
                if t.last_up == Some(e.status.up) {
                    self.p
                        .add(format!("port {i}: two link-{} events in a row", if e.status.up { "up" } else { "down" }));
                }
                t.last_up = Some(e.status.up);
                if e.status.up {
                    t.ups += 1;
                } else {
                    t.downs += 1;
                }
            }
        }
    }

    fn sample_pools(&mut self) {
        for (m, p) in self.pool_min.iter_mut().zip(&self.pools) {
            *m = (*m).min(p.available());
        }
    }

    /// One round of the control loop: episodes, hog, events.
    fn tick(&mut self, now: Instant, running: bool) {
        if self.episode.as_ref().is_some_and(|e| now >= e.until) {
            self.end_episode();
            self.next_episode = now + self.rng.ms(50, 800);
        } else if running && self.episode.is_none() && now >= self.next_episode {
            self.start_episode(now);
        }
        if self.hog.as_ref().is_some_and(|h| now >= h.until) || (!running && self.hog.is_some()) {
            self.hog = None;
            self.next_hog = now + self.rng.ms(100, 2000);
        } else if running && self.hog.is_none() && now >= self.next_hog {
            self.grab(now);
        }
        self.drain_events();
        self.sample_pools();
    }
}

/// Live counters of a stream, for progress lines.
struct Live {
    id: StreamId,
    counters: Arc<StreamCounters>,
}

/// Sums over streams of one role.
fn sum_role(stats: &[(StreamId, StreamStats)], r: Role, f: impl Fn(&StreamStats) -> u64) -> u64 {
    stats.iter().filter(|(id, _)| role(*id) == r).map(|(_, s)| f(s)).sum()
}

fn total(rows: &[Vec<(String, u64)>], name: &str) -> u64 {
    rows.iter().map(|r| named(r, name).unwrap_or(0)).sum()
}

fn m(n: u64) -> String {
    if n >= 10_000_000 {
        format!("{:.1}M", n as f64 / 1e6)
    } else if n >= 10_000 {
        format!("{:.1}k", n as f64 / 1e3)
    } else {
        n.to_string()
    }
}

/// Drops by reason, from stream stats and the ports' named counters.
fn drops_line(stats: &[(StreamId, StreamStats)], rows: &[Vec<(String, u64)>]) -> String {
    let (dropped, link_down) = (total(rows, "tx_dropped"), total(rows, "tx_link_down_drops"));
    format!(
        "ring full {} (fwd {} + gen {}), link down {}, rx ring full under RSS {}, oversize {}, filtered {}, \
         flushed {}, drained {}; watchdog resets {}",
        m(stats.iter().map(|(_, s)| s.fwd_drops).sum()),
        m(sum_role(stats, Role::Forward, |s| s.fwd_drops)),
        m(sum_role(stats, Role::Gen, |s| s.fwd_drops)),
        m(link_down),
        m(dropped.saturating_sub(link_down)),
        m(total(rows, "tx_oversize_errors")),
        m(total(rows, "rx_filtered_drops")),
        m(total(rows, "rx_flushed")),
        m(stats.iter().map(|(_, s)| s.drained).sum()),
        total(rows, "tx_timeout_count"),
    )
}

fn pools_line(pools: &[Mempool], min: &[usize]) -> String {
    pools
        .iter()
        .zip(min)
        .map(|(p, mn)| format!("{} {}/{} (min {mn})", p.name(), p.available(), p.capacity()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Counts the reader threads keep.
struct Reads {
    direct: Arc<AtomicU64>,
    telemetry: Arc<AtomicU64>,
}

fn progress(
    t: f64,
    live: &[Live],
    last: &mut (f64, u64),
    ctl: &Control,
    reads: &Reads,
    alloc_failures: &[Arc<AtomicU64>],
) {
    let stats: Vec<(StreamId, StreamStats)> = live.iter().map(|l| (l.id, l.counters.snapshot())).collect();
    let rows: Vec<Vec<(String, u64)>> = ctl.ports().iter().map(|p| p.named_stats()).collect();
    let fwd = sum_role(&stats, Role::Forward, |s| s.tx);
    let mpps = (fwd - last.1) as f64 / (t - last.0).max(1e-9) / 1e6;
    *last = (t, fwd);
    println!(
        "[{t:7.1} s] forwarded {} ({mpps:.3} Mpps now), generated {} (alloc failures {}), sunk {} | drops: {} | \
         pools: {} | flaps {}, episodes {}, hog grabs {} | stats reads {}, telemetry requests {}",
        m(fwd),
        m(sum_role(&stats, Role::Gen, |s| s.generated)),
        m(alloc_failures.iter().map(|a| a.load(Relaxed)).sum()),
        m(sum_role(&stats, Role::Sink, |s| s.consumed)),
        drops_line(&stats, &rows),
        pools_line(&ctl.pools, &ctl.pool_min),
        ctl.flaps,
        ctl.episodes.values().sum::<u64>(),
        ctl.hog_grabs,
        m(reads.direct.load(Relaxed)),
        m(reads.telemetry.load(Relaxed)),
    );
}

/// Waits for a thread, but not forever: a core that does not stop is a hang,
/// and the soak must say so rather than hang too.
fn join_within<T>(h: JoinHandle<T>, what: &str, mut meanwhile: impl FnMut()) -> Result<T, String> {
    let t = Instant::now();
    while !h.is_finished() {
        if t.elapsed() > STOP_LIMIT {
            return Err(format!("{what} did not stop within {STOP_LIMIT:?} of being told to: a hang"));
        }
        meanwhile();
        std::thread::sleep(Duration::from_millis(2));
    }
    h.join().map_err(|_| format!("{what} panicked"))
}

/// Sleeps until a telemetry request arrives or `timeout` passes.
fn wait_for_request(t: &Telemetry, timeout: Duration) {
    let mut pfd = libc::pollfd { fd: t.wake_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd on the stack, for the duration of the call.
    unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int) };
}

/// Opens the ports and pools and builds the streams, two lists, one per core.
fn setup(rng: &mut Rng, alloc_failures: &[Arc<AtomicU64>]) -> Result<Rig, String> {
    let names = ["pair0", "pair1"];
    let mut ports = ferrite_pmd::drivers::virt::create_ports(&names).map_err(|e| format!("create ports: {e}"))?;
    let mut pools = Vec::new();
    for i in 0..PORTS {
        let mut c = MempoolConfig::new(&format!("soak_pool_{i}"), POOL_SIZE);
        c.cache_size = POOL_CACHE;
        c.dma.fallback = Fallback::SmallPages;
        pools.push(Mempool::new(&c).map_err(|e| format!("mempool {i}: {e}"))?);
    }
    // Subscribed before opening: the first event is the link coming up.
    let events: Vec<LinkEvents> = ports.iter().map(|p| p.link_events()).collect();
    let conf = PortConfig {
        rx_queues: QUEUES as u16,
        tx_queues: QUEUES as u16,
        rx_ring_size: RING,
        tx_ring_size: RING,
        ..PortConfig::default()
    };
    let mut queues: Vec<Queues> = Vec::new();
    for (i, port) in ports.iter_mut().enumerate() {
        let what = format!("port {i} ({})", port.name());
        port.configure(&conf, &pools[i]).map_err(|e| format!("{what}: configure: {e}"))?;
        port.set_rss_hash_types(RSS_TYPES).map_err(|e| format!("{what}: RSS: {e}"))?;
        port.set_rss_key(&rng.key()).map_err(|e| format!("{what}: RSS key: {e}"))?;
        port.set_tx_timeout(TX_TIMEOUT).map_err(|e| format!("{what}: tx timeout: {e}"))?;
    }
    for (i, port) in ports.iter_mut().enumerate() {
        queues.push(port.open().map_err(|e| format!("port {i}: open: {e}"))?);
    }
    let macs: Vec<MacAddr> = ports.iter().map(|p| p.mac_address()).collect();
    let mut rxq: Vec<Vec<Option<Box<dyn RxQueue>>>> = Vec::new();
    let mut txq: Vec<Vec<Option<Box<dyn TxQueue>>>> = Vec::new();
    for q in queues {
        rxq.push(q.rx.into_iter().map(Some).collect());
        txq.push(q.tx.into_iter().map(Some).collect());
    }
    let missing = |p: usize, dir: &str, q: usize| format!("port {p}: no {dir} queue {q}");
    let mut cores: [Vec<Stream>; 2] = Default::default();
    for p in 0..PORTS {
        let peer = 1 - p;
        let (pu, su) = (p as u16, SINK_Q as u16);
        for q in 0..SINK_Q {
            let id = StreamId { rx_port: pu, rx_queue: q as u16, tx_port: pu, tx_queue: q as u16 };
            let rx = rxq[p][q].take().ok_or_else(|| missing(p, "rx", q))?;
            let tx = txq[p][q].take().ok_or_else(|| missing(p, "tx", q))?;
            let engine =
                if p == 0 { EngineConfig::Mac { src: macs[p], dst: macs[peer] } } else { EngineConfig::MacSwap };
            // Streams of both ports interleave over the cores: core 0 gets
            // queue 0 of both ports and queue 1 of port 0, core 1 the rest.
            let core = usize::from((q * PORTS + p) >= 3);
            cores[core].push(Stream::new(id, rx, tx, BURST, engine)?);
        }
        let sink = StreamId { rx_port: pu, rx_queue: su, tx_port: pu, tx_queue: u16::MAX };
        let rx = rxq[p][SINK_Q].take().ok_or_else(|| missing(p, "rx", SINK_Q))?;
        cores[1].push(Stream::new(sink, rx, Box::new(NoQueue), BURST, EngineConfig::RxOnly)?);
        let gen = StreamId { rx_port: pu, rx_queue: u16::MAX, tx_port: pu, tx_queue: su };
        let tx = txq[p][SINK_Q].take().ok_or_else(|| missing(p, "tx", SINK_Q))?;
        let tx = Box::new(CountingTx { inner: tx, alloc_failures: Arc::clone(&alloc_failures[p]) });
        let spec = FrameSpec {
            len: GEN_LEN[p],
            src_mac: macs[p].0,
            dst_mac: if p == 0 { macs[peer].0 } else { STRANGER.0 },
            src_ip: [198, 18, p as u8, 1],
            dst_ip: [198, 19, peer as u8, 1],
            src_port: 1024,
            dst_port: 1024,
            sender: 0,
        };
        let cfg = TxGenConfig {
            pool: pools[p].clone(),
            spec,
            flows: FLOWS,
            rate_pps: GEN_RATE[p],
            count: None,
            segments: Vec::new(),
        };
        cores[0].push(Stream::new(gen, Box::new(NoQueue), tx, BURST, EngineConfig::TxGen(cfg))?);
    }
    Ok(Rig { ports: Arc::new(Mutex::new(ports)), pools, events, cores })
}

struct Rig {
    ports: SharedPorts,
    pools: Vec<Mempool>,
    events: Vec<LinkEvents>,
    cores: [Vec<Stream>; 2],
}

/// What the audit reads after everything stopped.
struct Final {
    stats: Vec<(StreamId, StreamStats)>,
    rows: Vec<Vec<(String, u64)>>,
    port_stats: Vec<ferrite_pmd::port::PortStats>,
}

/// The end-of-run checks. Each failure names what does not add up.
fn audit(f: &Final, pools: &[Mempool], tally: &[EventTally], flaps: u64, p: &Problems) {
    // Every queue is polled by exactly one stream (a soak bug otherwise).
    for port in 0..PORTS {
        for q in 0..QUEUES {
            let (port16, q16) = (port as u16, q as u16);
            let rxs = f.stats.iter().filter(|(id, _)| (id.rx_port, id.rx_queue) == (port16, q16)).count();
            let txs = f.stats.iter().filter(|(id, _)| (id.tx_port, id.tx_queue) == (port16, q16)).count();
            if (rxs, txs) != (1, 1) {
                p.add(format!("soak bug: port {port} queue {q} has {rxs} rx and {txs} tx streams, want 1 and 1"));
            }
        }
    }
    for (id, s) in &f.stats {
        let name = stream_name(*id);
        if !s.balanced() {
            p.add(format!(
                "{name} not balanced: rx {} + generated {} != tx {} + fwd_drops {} + consumed {} + drained {}",
                s.rx, s.generated, s.tx, s.fwd_drops, s.consumed, s.drained
            ));
        }
        if role(*id) != Role::Gen {
            let q = f.port_stats[id.rx_port as usize].rx_queues[id.rx_queue as usize];
            if q.packets != s.rx {
                p.add(format!("{name}: driver counted {} received on the queue, the stream {}", q.packets, s.rx));
            }
        }
        if role(*id) != Role::Sink {
            let q = f.port_stats[id.tx_port as usize].tx_queues[id.tx_queue as usize];
            if q.packets + q.drops + q.errors != s.tx {
                p.add(format!(
                    "{name}: the stream handed {} frames to its tx queue, the driver counted {} sent + {} dropped \
                     + {} errors",
                    s.tx, q.packets, q.drops, q.errors
                ));
            }
        }
        if s.bad_payload != 0 {
            p.add(format!("{name}: {} frames with a damaged payload (checksum or lengths)", s.bad_payload));
        }
    }
    for (port, rows) in f.rows.iter().enumerate() {
        let get = |n: &str| {
            named(rows, n).unwrap_or_else(|| {
                p.add(format!("port {port}: no '{n}' in named_stats"));
                0
            })
        };
        let (tx_err, oversize) = (get("tx_errors"), get("tx_oversize_errors"));
        if tx_err != oversize {
            p.add(format!(
                "port {port}: tx_errors {tx_err} but tx_oversize_errors {oversize}: an error with no reason"
            ));
        }
        let (rx_drop, filtered) = (get("rx_dropped"), get("rx_filtered_drops"));
        if rx_drop != filtered {
            p.add(format!("port {port}: rx_dropped {rx_drop} but rx_filtered_drops {filtered}: a drop with no reason"));
        }
        let (tx_drop, link_down) = (get("tx_dropped"), get("tx_link_down_drops"));
        if tx_drop < link_down {
            p.add(format!("port {port}: tx_dropped {tx_drop} < tx_link_down_drops {link_down}"));
        }
        // What this port put on the wire, the peer took off it: received,
        // filtered, or flushed (link down, watchdog, stop). Nothing is left
        // on a wire of a stopped port.
        let peer = &f.rows[1 - port];
        let sent = get("tx_packets");
        if sent != arrived(peer) {
            p.add(format!(
                "port {port} sent {sent} frames but port {} took {} off its wires (rx {} + filtered {} + flushed {})",
                1 - port,
                arrived(peer),
                named(peer, "rx_packets").unwrap_or(0),
                named(peer, "rx_dropped").unwrap_or(0),
                named(peer, "rx_flushed").unwrap_or(0)
            ));
        }
    }
    // The ledger: every frame generated left through a named door.
    let generated: u64 = f.stats.iter().map(|(_, s)| s.generated).sum();
    let out = [
        ("consumed by sinks", f.stats.iter().map(|(_, s)| s.consumed).sum::<u64>()),
        ("drained at stop", f.stats.iter().map(|(_, s)| s.drained).sum()),
        ("freed by streams (ring full)", f.stats.iter().map(|(_, s)| s.fwd_drops).sum()),
        ("tx dropped", total(&f.rows, "tx_dropped")),
        ("tx errors", total(&f.rows, "tx_errors")),
        ("rx dropped", total(&f.rows, "rx_dropped")),
        ("flushed from wires", total(&f.rows, "rx_flushed")),
    ];
    let accounted: u64 = out.iter().map(|o| o.1).sum();
    if generated != accounted {
        let parts: Vec<String> = out.iter().map(|(n, v)| format!("{n} {v}")).collect();
        p.add(format!("ledger: generated {generated} != {accounted} accounted for ({})", parts.join(" + ")));
    }
    for pool in pools {
        if pool.available() != pool.capacity() {
            p.add(format!(
                "pool {}: {} of {} buffers back after stop: {} leaked",
                pool.name(),
                pool.available(),
                pool.capacity(),
                pool.in_use()
            ));
        }
    }
    for (port, t) in tally.iter().enumerate() {
        // One up when the second end opened, then a down and an up per flap.
        if (t.downs, t.ups) != (flaps, flaps + 1) {
            p.add(format!(
                "port {port}: {} link-down and {} link-up events for {flaps} flaps (want {flaps} and {})",
                t.downs,
                t.ups,
                flaps + 1
            ));
        }
    }
    if sum_role(&f.stats, Role::Forward, |s| s.tx) == 0 || sum_role(&f.stats, Role::Sink, |s| s.consumed) == 0 {
        p.add("nothing was forwarded or nothing reached a sink: the soak exercised nothing");
    }
}

fn stream_name(id: StreamId) -> String {
    match role(id) {
        Role::Gen => format!("generator on port {} tx queue {}", id.tx_port, id.tx_queue),
        Role::Sink => format!("sink on port {} rx queue {}", id.rx_port, id.rx_queue),
        Role::Forward => format!("stream port {} queue {} (rx -> tx)", id.rx_port, id.rx_queue),
    }
}

/// The whole soak; returns the number of violations. `Err` is a failure
/// that ended the run early (setup, or a thread that would not stop).
fn run(args: &Args) -> Result<u64, String> {
    let start = Instant::now();
    let p = Problems::new(start);
    let mut rng = Rng::new(args.seed);
    let alloc_failures: Vec<Arc<AtomicU64>> = (0..PORTS).map(|_| Arc::default()).collect();
    let Rig { ports, pools, events, cores } = setup(&mut rng, &alloc_failures)?;
    println!(
        "soak: {} min, seed {}; ports pair0+pair1, {QUEUES} queues, RSS {RSS_TYPES}, rings {RING}, pools {POOL_SIZE} \
         (cache {POOL_CACHE}); generators: port 0 {} B unpaced, port 1 {} B at {} pps to {STRANGER}; \
         core 0 polls {} streams, core 1 adaptive {} streams",
        args.minutes,
        args.seed,
        GEN_LEN[0],
        GEN_LEN[1],
        GEN_RATE[1].unwrap_or(0.0),
        cores[0].len(),
        cores[1].len(),
    );
    let live: Vec<Live> = cores.iter().flatten().map(|s| Live { id: s.id(), counters: s.counters() }).collect();
    let ids: Vec<(StreamId, Arc<StreamCounters>)> = live.iter().map(|l| (l.id, Arc::clone(&l.counters))).collect();

    // A private socket directory: nothing else's telemetry in the way, and
    // nothing left behind.
    let dir = std::env::temp_dir().join(format!("ferrite-soak-{}", std::process::id()));
    let telemetry = Telemetry::start(&dir).map_err(|e| format!("telemetry socket in {}: {e}", dir.display()))?;
    let remove_dir = |d: &Path| {
        let _ = std::fs::remove_dir(d);
    };

    let stop = Arc::new(AtomicBool::new(false));
    let bell = EventFd::new().ok().map(Arc::new);
    let [c0, c1] = cores;
    let poll = RxWait { mode: RxWaitMode::Poll, ..RxWait::default() };
    let adaptive = RxWait { mode: RxWaitMode::Adaptive, idle_polls: 1000, max_sleep: Duration::from_secs(1) };
    let spawn = |i, ss, wait, bell| {
        fwd::spawn_core_woken(i, None, ss, pools.clone(), Arc::clone(&stop), wait, bell)
            .map_err(|e| format!("cannot start forwarding core {i}: {e}"))
    };
    let h0 = spawn(0, c0, poll, None)?;
    let h1 = match spawn(1, c1, adaptive, bell.clone()) {
        Ok(h) => h,
        Err(e) => {
            stop.store(true, Relaxed);
            let _ = h0.join();
            return Err(e);
        }
    };

    let readers_stop = Arc::new(AtomicBool::new(false));
    let reads = Reads { direct: Arc::default(), telemetry: Arc::default() };
    let thread = |name: &str, f: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new().name(name.into()).spawn(f).map_err(|e| format!("cannot start {name}: {e}"))
    };
    let direct = {
        let (ports, stop, n, p) = (Arc::clone(&ports), Arc::clone(&readers_stop), Arc::clone(&reads.direct), p.clone());
        thread("stats-reader", Box::new(move || direct_reader(ports, stop, n, p)))?
    };
    let treader = {
        let (path, stop, n, p) =
            (telemetry.path().to_path_buf(), Arc::clone(&readers_stop), Arc::clone(&reads.telemetry), p.clone());
        thread("telemetry-reader", Box::new(move || telemetry_reader(path, stop, n, p)))?
    };

    let fwd_start = Instant::now();
    let (next_episode, next_hog) = (fwd_start + rng.ms(50, 800), fwd_start + rng.ms(100, 2000));
    let mut ctl = Control {
        ports: Arc::clone(&ports),
        pools: pools.clone(),
        events,
        tally: (0..PORTS).map(|_| EventTally::default()).collect(),
        rng,
        p: p.clone(),
        episode: None,
        next_episode,
        hog: None,
        next_hog,
        episodes: BTreeMap::new(),
        flaps: 0,
        hog_grabs: 0,
        hog_most: 0,
        pool_min: vec![POOL_SIZE; PORTS],
    };
    let ctx = Context { mode: "soak", cores: 2, streams: &ids };
    let deadline = fwd_start + Duration::from_secs_f64(args.minutes * 60.0);
    let mut next_progress = fwd_start + args.progress;
    let mut last = (0.0, 0);
    let moved = || -> u64 {
        live.iter().filter(|l| role(l.id) != Role::Gen).map(|l| l.counters.snapshot()).map(|s| s.tx + s.consumed).sum()
    };
    let mut stall_check = (fwd_start + STALL_WINDOW, 0);
    // The control loop: after the deadline it only finishes the episode in
    // progress and gives the hog's buffers back.
    loop {
        let now = Instant::now();
        let running = now < deadline;
        telemetry.serve(&ctl.ports(), &ctx);
        ctl.tick(now, running);
        if running && now >= stall_check.0 {
            let m = moved();
            if m == stall_check.1 {
                p.add(format!("nothing forwarded or sunk in the last {STALL_WINDOW:?}: the datapath stalled"));
            }
            stall_check = (now + STALL_WINDOW, m);
        }
        if now >= next_progress {
            let t = now.duration_since(fwd_start).as_secs_f64();
            progress(t, &live, &mut last, &ctl, &reads, &alloc_failures);
            next_progress += args.progress;
        }
        if !running && ctl.episode.is_none() && ctl.hog.is_none() {
            break;
        }
        wait_for_request(&telemetry, Duration::from_millis(5));
    }
    let ran = fwd_start.elapsed();

    // Readers first; the telemetry one may be waiting for an answer, so
    // keep answering until it is gone.
    readers_stop.store(true, Relaxed);
    join_within(direct, "the stats reader", || {})?;
    join_within(treader, "the telemetry reader", || telemetry.serve(&lock(&ports), &ctx))?;
    drop(telemetry);
    remove_dir(&dir);
    ctl.drain_events();

    // Then the cores (the bell wakes the adaptive one if it sleeps).
    stop.store(true, Relaxed);
    if let Some(b) = &bell {
        let _ = b.write(1);
    }
    let exits = [join_within(h0, "forwarding core 0", || {})?, join_within(h1, "forwarding core 1", || {})?];
    let mut stats = Vec::new();
    let mut held = Vec::new();
    let mut slept = Vec::new();
    for (c, exit) in exits.into_iter().enumerate() {
        for w in &exit.warnings {
            eprintln!("soak: warning: {w}");
        }
        if exit.lcore.is_none() {
            p.add(format!("forwarding core {c} got no lcore id (pool caches unused): {:?}", exit.warnings));
        }
        slept.push((exit.slept, exit.ran));
        for mut s in exit.streams {
            // What is still on the wires now is received and counted as
            // drained; whatever is left after that, stop flushes.
            if role(s.id()) != Role::Gen {
                s.drain(2 * RING as usize + ferrite_pmd::MAX_BURST);
            }
            let (id, c) = (s.id(), s.counters());
            held.push(s.into_queues());
            stats.push((id, c.snapshot()));
        }
    }
    drop(held);
    {
        let mut ports = lock(&ports);
        for port in ports.iter_mut() {
            if let Err(e) = port.stop() {
                p.add(format!("{}: stop: {e}", port.name()));
            }
        }
    }
    stats.sort_by_key(|(id, _)| (id.rx_port, id.rx_queue, id.tx_queue));
    let fin = {
        let ports = lock(&ports);
        Final {
            stats,
            rows: ports.iter().map(|d| d.named_stats()).collect(),
            port_stats: ports.iter().map(|d| d.stats64()).collect(),
        }
    };
    audit(&fin, &pools, &ctl.tally, ctl.flaps, &p);
    report(&fin, ran, &ctl, &reads, &alloc_failures, &slept, &p);
    Ok(p.count())
}

/// The closing figures. Printed, never asserted.
fn report(
    f: &Final,
    ran: Duration,
    ctl: &Control,
    reads: &Reads,
    alloc_failures: &[Arc<AtomicU64>],
    slept: &[(Duration, Duration)],
    p: &Problems,
) {
    let secs = ran.as_secs_f64().max(1e-9);
    let per_port = |port: u16, r: Role, g: fn(&StreamStats) -> u64| -> u64 {
        f.stats.iter().filter(|(id, _)| role(*id) == r && id.tx_port.min(id.rx_port) == port).map(|(_, s)| g(s)).sum()
    };
    let fwd = sum_role(&f.stats, Role::Forward, |s| s.tx);
    let gen = sum_role(&f.stats, Role::Gen, |s| s.generated);
    println!("== soak figures ({secs:.1} s of forwarding)");
    println!(
        "frames: generated {gen} (port 0 {}, port 1 {}; {:.3} Mpps), forwarded {fwd} ({:.3} Mpps), consumed by \
         sinks {} (payload damage {}, sequence gaps {}, out of order {})",
        per_port(0, Role::Gen, |s| s.generated),
        per_port(1, Role::Gen, |s| s.generated),
        gen as f64 / secs / 1e6,
        fwd as f64 / secs / 1e6,
        sum_role(&f.stats, Role::Sink, |s| s.consumed),
        sum_role(&f.stats, Role::Sink, |s| s.bad_payload),
        sum_role(&f.stats, Role::Sink, |s| s.seq_gaps),
        sum_role(&f.stats, Role::Sink, |s| s.out_of_order),
    );
    println!(
        "generator allocation failures (pool short): port 0 {}, port 1 {}",
        alloc_failures[0].load(Relaxed),
        alloc_failures[1].load(Relaxed)
    );
    println!("drops by reason: {}", drops_line(&f.stats, &f.rows));
    for (port, (rows, t)) in f.rows.iter().zip(&ctl.tally).enumerate() {
        let g = |n: &str| named(rows, n).unwrap_or(0);
        println!(
            "port {port}: rx {} tx {} | rx dropped {} (filtered {}), tx dropped {} (link down {}), tx errors {} \
             (oversize {}), flushed {}, watchdog resets {} | link events down {} up {}",
            g("rx_packets"),
            g("tx_packets"),
            g("rx_dropped"),
            g("rx_filtered_drops"),
            g("tx_dropped"),
            g("tx_link_down_drops"),
            g("tx_errors"),
            g("tx_oversize_errors"),
            g("rx_flushed"),
            g("tx_timeout_count"),
            t.downs,
            t.ups
        );
    }
    let episodes: Vec<String> = ctl.episodes.iter().map(|(a, n)| format!("{} {n}", a.name())).collect();
    println!("control: {} link flaps; episodes: {}", ctl.flaps, episodes.join(", "));
    println!("pool hog: {} grabs, at most {} buffers held at once", ctl.hog_grabs, ctl.hog_most);
    println!(
        "stats reads: {} port API calls (stats64/named_stats), {} telemetry requests",
        reads.direct.load(Relaxed),
        reads.telemetry.load(Relaxed)
    );
    for (c, (s, r)) in slept.iter().enumerate() {
        println!("core {c}: ran {:.1} s, slept {:.1} s on rx interrupts", r.as_secs_f64(), s.as_secs_f64());
    }
    // Sleeps and polls are added to every stream of the core, wake-ups and
    // empty polls to the stream concerned.
    let most = |g: fn(&StreamStats) -> u64| f.stats.iter().map(|(_, s)| g(s)).max().unwrap_or(0);
    let sum = |g: fn(&StreamStats) -> u64| f.stats.iter().map(|(_, s)| g(s)).sum::<u64>();
    println!(
        "adaptive core: {} sleeps, {} interrupt wake-ups, {} polling rounds, {} empty polls",
        most(|s| s.sleeps),
        sum(|s| s.interrupts),
        most(|s| s.polls),
        sum(|s| s.empty_polls)
    );
    println!("pools at end: {}", pools_line(&ctl.pools, &ctl.pool_min));
    let shown = lock(&p.list);
    if !shown.is_empty() {
        println!("violations ({} in all):", p.count());
        for v in shown.iter() {
            println!("  {v}");
        }
    }
}

fn main() -> ExitCode {
    // The drivers' warnings (watchdog resets, abandoned rings, ...) on stderr.
    ferrite_pmd::logging::log_to_stderr(log::LevelFilter::Info);
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("soak: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(0) => {
            println!("soak: PASS (seed {})", args.seed);
            ExitCode::SUCCESS
        }
        Ok(n) => {
            println!("soak: FAIL: {n} violation(s) (seed {}, to repeat the schedule)", args.seed);
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("soak: FAIL: {e} (seed {})", args.seed);
            ExitCode::from(1)
        }
    }
}
