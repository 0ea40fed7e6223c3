//! Forwarding engines and the per-core polling loop, after dpdk-testpmd.
//!
//! A [`Stream`] is one (rx port, rx queue) → (tx port, tx queue) path with
//! its own [`MbufBatch`], allocated once; forwarding cores each own a set of
//! streams and call [`Stream::poll`] round-robin until told to stop
//! ([`run_core`]). Nothing on that path allocates, locks, or makes more than
//! two dynamic calls per burst (`rx_burst`, `tx_burst`). Per-stream counters
//! are single-writer atomics updated once per burst ([`StreamCounters`]).
//!
//! Frames may be mbuf chains (`--rx-offloads scatter`, `--txpkts X,Y,...`):
//! io, mac and macswap forward them whole, editing only the first segment
//! (which holds the Ethernet header); rxonly verifies them across segments;
//! generators build them from the pool, never from the heap.
//!
//! Offload engines (after dpdk-testpmd's csum, icmpecho and 5tswap) parse
//! headers in place ([`headers`]), fix checksums ([`checksum`], [`crc32c`])
//! or answer requests, and `--tx-vlan` tags what a stream sends ([`vlan`]),
//! each per frame, without allocating.
//!
//! Every stream keeps the books so that, once stopped and drained,
//! `rx + generated == tx + fwd_drops + consumed` holds exactly
//! ([`StreamStats::balanced`]).

/// The checksum arithmetic lives in the pmd crate (drivers complete
/// checksums too); re-exported so the engines keep one path to it.
pub use ferrite_pmd::checksum;
pub mod crc32c;
pub mod csum;
#[cfg(test)]
mod engines_props;
pub mod headers;
pub mod icmpecho;
pub mod pkt;
pub mod swap;
pub mod vlan;

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrite_pmd::lcore;
use ferrite_pmd::port::{Counter, MacAddr};
use ferrite_pmd::{Mbuf, MbufBatch, Mempool, RxQueue, TxQueue, MAX_BURST};
use ferrite_vfio::EventFd;

use crate::capture::StreamTaps;
use crate::event::Epoll;
use csum::{CsumConfig, CsumTally};
use pkt::{FrameSpec, Template, Verdict, MAX_SENDERS};
use vlan::TxVlan;

/// The forwarding engines (`--forward-mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForwardMode {
    /// Receive a burst, send it unchanged.
    Io,
    /// As io, with source MAC = tx port's, destination = the peer's.
    Mac,
    /// As io, with source and destination MAC swapped.
    MacSwap,
    /// Receive, verify ferrite payloads, free.
    RxOnly,
    /// Build UDP/IPv4 frames with a verifiable payload and send them.
    TxOnly,
    /// As txonly, cycling through many UDP flows.
    FlowGen,
    /// As mac, with every checksum made right (in the NIC where the tx
    /// port offloads it, else in software) and receive errors counted.
    Csum,
    /// Answer ARP and ICMP echo requests, drop the rest.
    IcmpEcho,
    /// Swap MAC, IP addresses and TCP/UDP ports, send back.
    FiveTupleSwap,
}

impl ForwardMode {
    /// Every mode, in `--help` order.
    pub const ALL: [ForwardMode; 9] = [
        ForwardMode::Io,
        ForwardMode::Mac,
        ForwardMode::MacSwap,
        ForwardMode::RxOnly,
        ForwardMode::TxOnly,
        ForwardMode::FlowGen,
        ForwardMode::Csum,
        ForwardMode::IcmpEcho,
        ForwardMode::FiveTupleSwap,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ForwardMode::Io => "io",
            ForwardMode::Mac => "mac",
            ForwardMode::MacSwap => "macswap",
            ForwardMode::RxOnly => "rxonly",
            ForwardMode::TxOnly => "txonly",
            ForwardMode::FlowGen => "flowgen",
            ForwardMode::Csum => "csum",
            ForwardMode::IcmpEcho => "icmpecho",
            ForwardMode::FiveTupleSwap => "5tswap",
        }
    }

    /// Parses a mode name.
    pub fn from_name(s: &str) -> Option<ForwardMode> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Whether the mode generates frames (and does not receive).
    pub fn generates(self) -> bool {
        matches!(self, ForwardMode::TxOnly | ForwardMode::FlowGen)
    }

    /// Whether the mode transmits.
    pub fn transmits(self) -> bool {
        self != ForwardMode::RxOnly
    }

    /// Whether the mode receives.
    pub fn receives(self) -> bool {
        !self.generates()
    }

    /// Whether the mode sends what it receives (rx queue i's stream on tx
    /// queue i).
    pub fn forwards(self) -> bool {
        self.receives() && self.transmits()
    }
}

impl std::fmt::Display for ForwardMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a stream reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamId {
    /// Receiving port index.
    pub rx_port: u16,
    /// Receiving queue.
    pub rx_queue: u16,
    /// Transmitting port index.
    pub tx_port: u16,
    /// Transmitting queue.
    pub tx_queue: u16,
}

/// Counters of one stream: written by the core that polls it, read by anyone.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct StreamCounters {
    rx: Counter,
    tx: Counter,
    fwd_drops: Counter,
    generated: Counter,
    consumed: Counter,
    drained: Counter,
    bad_payload: Counter,
    out_of_order: Counter,
    seq_gaps: Counter,
    rx_bad_ip_csum: Counter,
    rx_bad_l4_csum: Counter,
    tx_cksum_offload: Counter,
    tx_tso: Counter,
    tx_cksum_sw: Counter,
    polls: Counter,
    empty_polls: Counter,
    interrupts: Counter,
    sleeps: Counter,
    done: AtomicBool,
}

impl StreamCounters {
    /// A snapshot.
    pub fn snapshot(&self) -> StreamStats {
        StreamStats {
            rx: self.rx.get(),
            tx: self.tx.get(),
            fwd_drops: self.fwd_drops.get(),
            generated: self.generated.get(),
            consumed: self.consumed.get(),
            drained: self.drained.get(),
            bad_payload: self.bad_payload.get(),
            out_of_order: self.out_of_order.get(),
            seq_gaps: self.seq_gaps.get(),
            rx_bad_ip_csum: self.rx_bad_ip_csum.get(),
            rx_bad_l4_csum: self.rx_bad_l4_csum.get(),
            tx_cksum_offload: self.tx_cksum_offload.get(),
            tx_tso: self.tx_tso.get(),
            tx_cksum_sw: self.tx_cksum_sw.get(),
            polls: self.polls.get(),
            empty_polls: self.empty_polls.get(),
            interrupts: self.interrupts.get(),
            sleeps: self.sleeps.get(),
        }
    }

    /// Whether a generating stream has sent all it was asked to.
    pub fn is_done(&self) -> bool {
        self.done.load(Relaxed)
    }

    /// Adds a burst's csum work (one update per counter that moved).
    fn add_csum(&self, t: &CsumTally) {
        for (c, v) in [
            (&self.rx_bad_ip_csum, t.bad_ip),
            (&self.rx_bad_l4_csum, t.bad_l4),
            (&self.tx_cksum_offload, t.offload),
            (&self.tx_tso, t.tso),
            (&self.tx_cksum_sw, t.software),
        ] {
            if v != 0 {
                c.add(v);
            }
        }
    }
}

/// A stream's counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Frames received (drained ones included).
    pub rx: u64,
    /// Frames the tx queue took.
    pub tx: u64,
    /// Frames freed because the tx queue did not take them (or, for
    /// generators, still unsent at stop).
    pub fwd_drops: u64,
    /// Frames built by txonly/flowgen.
    pub generated: u64,
    /// Frames received and freed without being sent: all of rxonly's, and
    /// those icmpecho does not answer.
    pub consumed: u64,
    /// Frames received at shutdown and freed (part of `rx`).
    pub drained: u64,
    /// ferrite frames whose checksum or lengths were wrong (rxonly).
    pub bad_payload: u64,
    /// ferrite frames older than one already seen from the same sender.
    pub out_of_order: u64,
    /// Sequence numbers skipped (frames lost between sender and receiver).
    pub seq_gaps: u64,
    /// csum: frames received with a bad IPv4 header checksum (the
    /// driver's `RX_IP_CKSUM_BAD`; DPDK's "Bad-ipcsum").
    pub rx_bad_ip_csum: u64,
    /// csum: frames received with a bad L4 checksum (`RX_L4_CKSUM_BAD`;
    /// DPDK's "Bad-l4csum").
    pub rx_bad_l4_csum: u64,
    /// csum: frames handed to the tx queue asking the NIC for a checksum.
    pub tx_cksum_offload: u64,
    /// csum: frames handed to the tx queue asking the NIC for TSO.
    pub tx_tso: u64,
    /// csum: frames handed to the tx queue with a checksum computed in
    /// software (a frame may count here and in `tx_cksum_offload`).
    pub tx_cksum_sw: u64,
    /// Bursts polled (counted in interrupt and adaptive rx modes only).
    pub polls: u64,
    /// Polls that found nothing (interrupt and adaptive rx modes only).
    pub empty_polls: u64,
    /// Wake-ups by this stream's rx interrupt.
    pub interrupts: u64,
    /// Times the core slept with this stream's rx interrupt armed.
    pub sleeps: u64,
}

impl StreamStats {
    /// Packet conservation: `rx + generated == tx + fwd_drops + consumed + drained`.
    pub fn balanced(&self) -> bool {
        self.rx + self.generated == self.tx + self.fwd_drops + self.consumed + self.drained
    }

    /// The csum engine's counters by name, for reports and telemetry.
    pub fn csum_named(&self) -> [(&'static str, u64); 5] {
        [
            ("rx_bad_ip_csum", self.rx_bad_ip_csum),
            ("rx_bad_l4_csum", self.rx_bad_l4_csum),
            ("tx_cksum_offload", self.tx_cksum_offload),
            ("tx_tso", self.tx_tso),
            ("tx_cksum_sw", self.tx_cksum_sw),
        ]
    }

    /// The per-queue NAPI statistics by name, for reports and telemetry.
    pub fn napi_named(&self) -> [(&'static str, u64); 4] {
        [
            ("polls", self.polls),
            ("empty_polls", self.empty_polls),
            ("interrupts", self.interrupts),
            ("sleeps", self.sleeps),
        ]
    }
}

/// How forwarding cores wait for receive work (`--rx-mode`), after Linux's
/// NAPI: poll while busy, sleep on the rx interrupt once idle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RxWaitMode {
    /// Spin on every queue forever (DPDK's default; 100% CPU when idle).
    Poll,
    /// Arm the rx interrupts and sleep after every empty round.
    Interrupt,
    /// Poll; after `idle_polls` empty rounds arm the interrupts and sleep.
    #[default]
    Adaptive,
}

impl RxWaitMode {
    /// Parses `poll`, `interrupt` or `adaptive`.
    pub fn from_name(s: &str) -> Option<RxWaitMode> {
        match s {
            "poll" => Some(RxWaitMode::Poll),
            "interrupt" => Some(RxWaitMode::Interrupt),
            "adaptive" => Some(RxWaitMode::Adaptive),
            _ => None,
        }
    }

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            RxWaitMode::Poll => "poll",
            RxWaitMode::Interrupt => "interrupt",
            RxWaitMode::Adaptive => "adaptive",
        }
    }
}

/// How a forwarding core waits (see [`RxWaitMode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxWait {
    /// The mode.
    pub mode: RxWaitMode,
    /// Empty rounds before an adaptive core sleeps.
    pub idle_polls: u32,
    /// Longest sleep. Without a stop bell (see [`run_core_napi_woken`])
    /// the stop flag is checked this often; with one it is only a safety
    /// net for an rx interrupt lost by the device, and can be long.
    pub max_sleep: std::time::Duration,
}

impl Default for RxWait {
    fn default() -> Self {
        RxWait { mode: RxWaitMode::Poll, idle_polls: 1000, max_sleep: std::time::Duration::from_millis(100) }
    }
}

/// A queue placeholder for streams that do not receive (txonly) or do not
/// transmit (rxonly).
pub struct NoQueue;

impl RxQueue for NoQueue {
    fn rx_burst(&mut self, _: &mut MbufBatch, _: usize) -> usize {
        0
    }
    fn queue_id(&self) -> u16 {
        u16::MAX
    }
}

impl TxQueue for NoQueue {
    fn tx_burst(&mut self, _: &mut MbufBatch) -> usize {
        0
    }
    fn queue_id(&self) -> u16 {
        u16::MAX
    }
}

/// What a generating stream sends.
#[derive(Clone)]
pub struct TxGenConfig {
    /// Pool to build frames from.
    pub pool: Mempool,
    /// Frame layout; `sender` is overwritten from the stream's tx port/queue.
    pub spec: FrameSpec,
    /// Flows to cycle through (1 = txonly).
    pub flows: u32,
    /// Frames per second for this stream (`None`: as fast as possible).
    pub rate_pps: Option<f64>,
    /// Frames to send before stopping (`None`: no limit).
    pub count: Option<u64>,
    /// Lengths of the segments each frame is built of, first to last
    /// (`--txpkts X,Y,...`), summing to `spec.len`; empty for one segment.
    pub segments: Vec<usize>,
}

/// Most segments a generated frame may have (DPDK's `RTE_MAX_SEGS_PER_PKT`).
pub const MAX_TX_SEGMENTS: usize = 255;

impl TxGenConfig {
    /// The segment lengths, checked against the frame length and the
    /// pool's buffers (one segment of `spec.len` when none are given).
    fn segment_lengths(&self) -> Result<Box<[usize]>, String> {
        let len = self.spec.len;
        let room = self.pool.data_room();
        let min = pkt::PAYLOAD_OFF + pkt::SIG_LEN;
        let segs: Box<[usize]> = if self.segments.is_empty() { Box::new([len]) } else { self.segments.clone().into() };
        if len < min {
            return Err(format!("frame length {len} is less than the {min} B of headers and signature"));
        }
        let sum: usize = segs.iter().sum();
        if sum != len {
            return Err(format!("segments {segs:?} add up to {sum} B, not the frame length {len}"));
        }
        if segs.len() > MAX_TX_SEGMENTS || segs.contains(&0) {
            return Err(format!("{segs:?}: want 1..={MAX_TX_SEGMENTS} segments per frame, none empty"));
        }
        if let Some(big) = segs.iter().find(|&&l| l > room) {
            return Err(format!("a {big} B segment does not fit the pool's {room} B buffers"));
        }
        Ok(segs)
    }
}

/// Makes the fresh buffer `m` the first of a chain of `segments` lengths
/// (each checked against the data room when the stream was built), the
/// rest taken from `pool`. False if the pool ran short; `m` may then hold
/// part of the chain, which goes back with it.
#[inline]
fn build_chain(m: &mut Mbuf, pool: &Mempool, segments: &[usize]) -> bool {
    let Some((&first, rest)) = segments.split_first() else { return false };
    if !m.set_len(first) {
        return false;
    }
    for &len in rest {
        let Some(mut seg) = pool.alloc() else { return false };
        if !seg.set_len(len) || m.chain(seg).is_err() {
            return false;
        }
    }
    true
}

/// Takes `n` frames from `pool` into the (empty) `batch`, each a chain of
/// buffers of `segments` lengths, ready for [`Template::write_mbuf`]. All or
/// nothing: when the pool runs short, what was taken goes back and it
/// returns false. Pool allocations only, no heap.
fn alloc_frames(pool: &Mempool, batch: &mut MbufBatch, n: usize, segments: &[usize]) -> bool {
    debug_assert!(batch.is_empty());
    if !pool.alloc_bulk(batch, n) {
        return false;
    }
    for m in batch.iter_mut() {
        if !build_chain(m, pool, segments) {
            batch.clear();
            return false;
        }
    }
    true
}

/// An engine and its settings, to build a [`Stream`].
#[derive(Clone)]
pub enum EngineConfig {
    /// io
    Io,
    /// mac: source and destination written into every frame.
    Mac {
        /// Source (the tx port's address).
        src: MacAddr,
        /// Destination (the peer's address).
        dst: MacAddr,
    },
    /// macswap
    MacSwap,
    /// rxonly
    RxOnly,
    /// txonly/flowgen
    TxGen(TxGenConfig),
    /// csum: the tx port's addresses, offloads and `--tso-segsz`.
    Csum(CsumConfig),
    /// icmpecho: replies are sent from this address (the tx port's).
    IcmpEcho {
        /// The tx port's MAC address.
        port_mac: MacAddr,
    },
    /// 5tswap
    FiveTupleSwap,
}

/// How long a generator keeps retrying frames its tx queue refuses before
/// it frees them as forwarding drops (DPDK's txonly frees at once; a short
/// retry keeps runs against a slower receiver lossless).
pub const TX_RETRY: std::time::Duration = std::time::Duration::from_millis(2);

struct TxGen {
    stuck_since: Option<Instant>,
    pool: Mempool,
    tmpl: Template,
    segments: Box<[usize]>,
    flows: u32,
    flow: u32,
    seq: u64,
    limit: u64,
    rate: Option<(Instant, f64)>,
}

struct Verifier {
    expected: Box<[u64; MAX_SENDERS]>,
}

enum Engine {
    Io,
    Mac { src: [u8; 6], dst: [u8; 6] },
    MacSwap,
    RxOnly(Verifier),
    TxGen(Box<TxGen>),
    Csum(CsumConfig),
    IcmpEcho([u8; 6]),
    FiveTupleSwap,
}

/// One rx queue → tx queue path, polled by one core.
pub struct Stream {
    id: StreamId,
    rx: Box<dyn RxQueue>,
    tx: Box<dyn TxQueue>,
    batch: Box<MbufBatch>,
    burst: usize,
    counters: Arc<StreamCounters>,
    engine: Engine,
    /// Capture points (`--pcap-rx/--pcap-tx`); `None`: one branch per burst.
    capture: Option<Box<StreamTaps>>,
    /// `--tx-vlan` for the tx port; `None`: one branch per burst.
    tx_vlan: Option<TxVlan>,
}

impl Stream {
    /// Builds a stream. Fails (with a message) if the burst is out of range
    /// or a generator's frames do not fit its pool's buffers.
    pub fn new(
        id: StreamId,
        rx: Box<dyn RxQueue>,
        tx: Box<dyn TxQueue>,
        burst: usize,
        engine: EngineConfig,
    ) -> Result<Stream, String> {
        if burst == 0 || burst > MAX_BURST {
            return Err(format!("burst {burst} is out of range 1..={MAX_BURST}"));
        }
        let engine = match engine {
            EngineConfig::Io => Engine::Io,
            EngineConfig::Mac { src, dst } => Engine::Mac { src: src.0, dst: dst.0 },
            EngineConfig::MacSwap => Engine::MacSwap,
            EngineConfig::RxOnly => Engine::RxOnly(Verifier { expected: Box::new([0; MAX_SENDERS]) }),
            EngineConfig::Csum(cfg) => Engine::Csum(cfg),
            EngineConfig::IcmpEcho { port_mac } => Engine::IcmpEcho(port_mac.0),
            EngineConfig::FiveTupleSwap => Engine::FiveTupleSwap,
            EngineConfig::TxGen(cfg) => {
                let segments = cfg.segment_lengths()?;
                let mut spec = cfg.spec;
                spec.sender = pkt::sender_id(id.tx_port, id.tx_queue);
                Engine::TxGen(Box::new(TxGen {
                    tmpl: Template::new(&spec),
                    segments,
                    pool: cfg.pool,
                    flows: cfg.flows.max(1),
                    flow: 0,
                    seq: 0,
                    limit: cfg.count.unwrap_or(u64::MAX),
                    rate: cfg.rate_pps.filter(|r| *r > 0.0).map(|r| (Instant::now(), r)),
                    stuck_since: None,
                }))
            }
        };
        Ok(Stream {
            id,
            rx,
            tx,
            batch: Box::new(MbufBatch::new()),
            burst,
            counters: Arc::new(StreamCounters::default()),
            engine,
            capture: None,
            tx_vlan: None,
        })
    }

    /// Where the stream reads and writes.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// The stream's counters (shared with whoever reports them).
    pub fn counters(&self) -> Arc<StreamCounters> {
        Arc::clone(&self.counters)
    }

    /// Captures what this stream receives and/or transmits from now on.
    pub fn set_capture(&mut self, taps: StreamTaps) {
        self.capture = (taps.rx.is_some() || taps.tx.is_some()).then(|| Box::new(taps));
    }

    /// Tags every frame this stream sends from now on (`--tx-vlan`),
    /// generated, forwarded or answered, `--tx-first` frames included.
    pub fn set_tx_vlan(&mut self, vlan: TxVlan) {
        self.tx_vlan = Some(vlan);
    }

    /// Restarts a generator's rate clock (call right before forwarding starts).
    pub fn start_clock(&mut self) {
        if let Engine::TxGen(g) = &mut self.engine {
            if let Some((t, _)) = &mut g.rate {
                *t = Instant::now();
            }
        }
    }

    /// One burst's worth of work. Returns frames received or generated.
    #[inline]
    pub fn poll(&mut self) -> usize {
        let Stream { rx, tx, batch, burst, counters, engine, capture, tx_vlan, .. } = self;
        let (burst, c): (usize, &StreamCounters) = (*burst, counters);
        let out = Egress { cap: capture.as_deref(), vlan: *tx_vlan };
        let (rx, tx) = (&mut **rx, &mut **tx);
        match engine {
            Engine::Io => forward(rx, tx, batch, burst, c, out, |_| {}),
            Engine::Mac { src, dst } => {
                let (src, dst) = (*src, *dst);
                forward(rx, tx, batch, burst, c, out, |b| {
                    // The addresses are in the first segment; a frame whose
                    // first segment is shorter goes out unchanged.
                    for m in b.iter_mut() {
                        if let Some(h) = m.data_mut().get_mut(..12) {
                            h[..6].copy_from_slice(&dst);
                            h[6..].copy_from_slice(&src);
                        }
                    }
                })
            }
            Engine::MacSwap => forward(rx, tx, batch, burst, c, out, |b| {
                for m in b.iter_mut() {
                    if let Some(h) = m.data_mut().get_mut(..12) {
                        let (d, s) = h.split_at_mut(6);
                        d.swap_with_slice(s);
                    }
                }
            }),
            Engine::Csum(cfg) => forward(rx, tx, batch, burst, c, out, |b| {
                let mut t = CsumTally::default();
                for m in b.iter_mut() {
                    csum::prepare(m, cfg, &mut t);
                }
                c.add_csum(&t);
            }),
            Engine::IcmpEcho(mac) => forward(rx, tx, batch, burst, c, out, |b| {
                let dropped = b.retain(|m| icmpecho::answer(m, *mac) != icmpecho::Answer::None);
                if dropped != 0 {
                    c.consumed.add(dropped as u64);
                }
            }),
            Engine::FiveTupleSwap => forward(rx, tx, batch, burst, c, out, |b| {
                for m in b.iter_mut() {
                    swap::five_tuple_swap(m);
                }
            }),
            Engine::RxOnly(v) => rx_only(rx, batch, burst, c, v, out.cap),
            Engine::TxGen(g) => tx_gen(tx, batch, burst, c, g, out),
        }
    }

    /// Whether a generator has sent everything `count` asked for.
    pub fn is_done(&self) -> bool {
        self.counters.is_done()
    }

    /// After the core stopped: receives what is still queued (at most `max`
    /// frames), counts it as received and drained, frees it. Then frees any
    /// frames a generator still held, counting them as forwarding drops.
    /// Returns the frames drained.
    pub fn drain(&mut self, max: usize) -> usize {
        let mut total = 0;
        if !matches!(self.engine, Engine::TxGen(_)) {
            while total < max {
                let n = self.rx.rx_burst(&mut self.batch, MAX_BURST.min(max - total));
                if n == 0 {
                    break;
                }
                self.counters.rx.add(n as u64);
                self.counters.drained.add(n as u64);
                self.batch.clear();
                total += n;
            }
        }
        if !self.batch.is_empty() {
            self.counters.fwd_drops.add(self.batch.len() as u64);
            self.batch.clear();
        }
        total
    }

    /// Sends `bursts` bursts of generated frames before forwarding starts
    /// (testpmd's `start tx_first`), so wired ports (loop, pair) have
    /// traffic to forward. Frames the tx queue refuses are freed and counted
    /// as forwarding drops. Returns the frames sent.
    pub fn tx_first(&mut self, cfg: &TxGenConfig, bursts: usize) -> Result<usize, String> {
        let segments = cfg.segment_lengths().map_err(|e| format!("tx_first: {e}"))?;
        let mut spec = cfg.spec.clone();
        spec.sender = pkt::sender_id(self.id.tx_port, self.id.tx_queue);
        let tmpl = Template::new(&spec);
        let mut sent = 0;
        for b in 0..bursts {
            if !alloc_frames(&cfg.pool, &mut self.batch, self.burst, &segments) {
                break;
            }
            for (i, m) in self.batch.iter_mut().enumerate() {
                let seq = (b * self.burst + i) as u64;
                let flow = (cfg.flows > 1).then(|| (seq % u64::from(cfg.flows)) as u16);
                tmpl.write_mbuf(m, seq, flow);
            }
            self.counters.generated.add(self.burst as u64);
            tag(&mut self.batch, self.tx_vlan, &self.counters);
            let n = tx_captured(&mut *self.tx, &mut self.batch, self.capture.as_deref());
            self.counters.tx.add(n as u64);
            sent += n;
            if !self.batch.is_empty() {
                self.counters.fwd_drops.add(self.batch.len() as u64);
                self.batch.clear();
            }
        }
        Ok(sent)
    }

    /// Gives the queues back (to drop them before stopping the ports).
    pub fn into_queues(mut self) -> (Box<dyn RxQueue>, Box<dyn TxQueue>) {
        self.drain(0);
        let Stream { rx, tx, .. } = self;
        (rx, tx)
    }
}

/// Where a stream's frames go out: the capture tap and the VLAN tag.
#[derive(Clone, Copy)]
struct Egress<'a> {
    cap: Option<&'a StreamTaps>,
    vlan: Option<TxVlan>,
}

/// Tags every frame of `batch` (`--tx-vlan`); a frame that cannot be
/// tagged is freed and counted as a forwarding drop, never sent untagged.
#[inline]
fn tag(batch: &mut MbufBatch, vlan: Option<TxVlan>, c: &StreamCounters) {
    if let Some(v) = vlan {
        let dropped = batch.retain(|m| v.apply(m));
        if dropped != 0 {
            c.fwd_drops.add(dropped as u64);
        }
    }
}

/// rx burst → edit → tx burst; what tx does not take is freed and counted.
#[inline(always)]
fn forward(
    rx: &mut dyn RxQueue,
    tx: &mut dyn TxQueue,
    batch: &mut MbufBatch,
    burst: usize,
    c: &StreamCounters,
    out: Egress<'_>,
    edit: impl FnOnce(&mut MbufBatch),
) -> usize {
    let n = rx.rx_burst(batch, burst);
    if n == 0 {
        // Nothing to send, so no tx_burst to reclaim completions in: do it
        // here, or a ring that holds the pool starves the receive refill.
        tx.tx_done_cleanup();
        return 0;
    }
    if let Some(t) = out.cap.and_then(|c| c.rx.as_ref()) {
        t.record(batch.as_slice());
    }
    c.rx.add(n as u64);
    edit(batch);
    tag(batch, out.vlan, c);
    let sent = tx_captured(tx, batch, out.cap);
    c.tx.add(sent as u64);
    if !batch.is_empty() {
        c.fwd_drops.add(batch.len() as u64);
        batch.clear();
    }
    n
}

#[inline(always)]
fn rx_only(
    rx: &mut dyn RxQueue,
    batch: &mut MbufBatch,
    burst: usize,
    c: &StreamCounters,
    v: &mut Verifier,
    cap: Option<&StreamTaps>,
) -> usize {
    let n = rx.rx_burst(batch, burst);
    if n == 0 {
        return 0;
    }
    if let Some(t) = cap.and_then(|c| c.rx.as_ref()) {
        t.record(batch.as_slice());
    }
    let (mut bad, mut ooo, mut gaps) = (0u64, 0u64, 0u64);
    for m in batch.iter() {
        match pkt::parse_mbuf(m) {
            Verdict::Foreign => {}
            Verdict::Bad => bad += 1,
            Verdict::Good { sender, seq } => {
                // `seq` is whatever the peer wrote, up to u64::MAX: saturate
                // rather than overflow. After u64::MAX (2^64 frames, never
                // reached by a real sender) the expectation stays there.
                let e = &mut v.expected[sender as usize % MAX_SENDERS];
                if seq >= *e {
                    gaps = gaps.saturating_add(seq - *e);
                    *e = seq.saturating_add(1);
                } else {
                    ooo += 1;
                }
            }
        }
    }
    batch.clear();
    c.rx.add(n as u64);
    c.consumed.add(n as u64);
    if bad | ooo | gaps != 0 {
        c.bad_payload.add(bad);
        c.out_of_order.add(ooo);
        c.seq_gaps.add(gaps);
    }
    n
}

#[inline(always)]
fn tx_gen(
    tx: &mut dyn TxQueue,
    batch: &mut MbufBatch,
    burst: usize,
    c: &StreamCounters,
    g: &mut TxGen,
    out: Egress<'_>,
) -> usize {
    let mut made = 0;
    if batch.is_empty() {
        // Leftovers are retried before anything new is built, so each
        // sender's frames leave in sequence order.
        let mut n = (g.limit - g.seq).min(burst as u64);
        if n == 0 {
            c.done.store(true, Relaxed);
            return 0;
        }
        if let Some((start, rate)) = &mut g.rate {
            let mut due = (start.elapsed().as_secs_f64() * *rate) as u64;
            // A token bucket two bursts deep: a sender that was held up
            // (descheduled, a slow doorbell) does not flood the wire to
            // catch up; the missed time is forgiven instead. Flooding after a
            // stall overflowed QEMU's igb receive queue, which drops silently.
            let depth = 2 * burst as u64;
            if due > g.seq + depth {
                *start += Duration::from_secs_f64((due - g.seq - depth) as f64 / *rate);
                due = g.seq + depth;
            }
            n = n.min(due.saturating_sub(g.seq));
            if n == 0 {
                return 0;
            }
        }
        let n = n as usize;
        if !alloc_frames(&g.pool, batch, n, &g.segments) {
            // The pool may be empty because the ring holds it: completions
            // come back only if someone reclaims them.
            tx.tx_done_cleanup();
            return 0;
        }
        for m in batch.iter_mut() {
            let flow = (g.flows > 1).then_some(g.flow as u16);
            g.tmpl.write_mbuf(m, g.seq, flow);
            if flow.is_some() {
                g.flow += 1;
                if g.flow == g.flows {
                    g.flow = 0;
                }
            }
            g.seq += 1;
        }
        c.generated.add(n as u64);
        made = n;
        // Tagged once, when built: leftovers retried are tagged already.
        tag(batch, out.vlan, c);
    }
    let sent = tx_captured(tx, batch, out.cap);
    c.tx.add(sent as u64);
    if sent == 0 && !batch.is_empty() {
        let since = *g.stuck_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= TX_RETRY {
            c.fwd_drops.add(batch.len() as u64);
            batch.clear();
            g.stuck_since = None;
        }
    } else {
        g.stuck_since = None;
    }
    made
}

/// `tx_burst`, copying the frames the queue takes to the capture, if any.
#[inline(always)]
fn tx_captured(tx: &mut dyn TxQueue, batch: &mut MbufBatch, cap: Option<&StreamTaps>) -> usize {
    match cap.and_then(|c| c.tx.as_ref()) {
        None => tx.tx_burst(batch),
        Some(t) => {
            let staged = t.stage(batch.as_slice());
            let sent = tx.tx_burst(batch);
            t.publish(sent, staged);
            sent
        }
    }
}

/// Polls `streams` round-robin until `stop` is set (checked once per round).
pub fn run_core(streams: &mut [Stream], stop: &AtomicBool) {
    while !stop.load(Relaxed) {
        for s in streams.iter_mut() {
            s.poll();
        }
    }
}

/// Arms every stream's rx interrupt. Returns false (with nothing left
/// armed) if some queue cannot interrupt, e.g. a generator's placeholder.
fn arm_all(streams: &mut [Stream], ep: &Epoll, watched: &mut [bool]) -> bool {
    for i in 0..streams.len() {
        let rx = &mut streams[i].rx;
        let ok =
            rx.enable_interrupt().is_ok() && (watched[i] || rx.interrupt_fd().is_some_and(|fd| ep.add(fd, i as u64)));
        if !ok {
            for s in streams[..=i].iter_mut() {
                s.rx.disable_interrupt();
            }
            return false;
        }
        watched[i] = true;
    }
    true
}

/// The NAPI loop: polls `streams` round-robin until `stop`; once every
/// stream found nothing for `idle_polls` rounds (1 in interrupt mode), arms
/// their rx interrupts and sleeps in `epoll_wait` (at most `max_sleep`, so
/// `stop` is honoured); on wake-up disarms them and polls again. Streams
/// that cannot interrupt (generators, null ports) keep the core polling.
/// Costs, per empty poll, one counter. Returns the time spent asleep.
pub fn run_core_napi(streams: &mut [Stream], stop: &AtomicBool, wait: &RxWait) -> std::time::Duration {
    run_core_napi_woken(streams, stop, wait, None)
}

/// Tag of the stop bell among the epoll tags (stream indexes).
const STOP_TAG: u64 = u64::MAX;

/// As [`run_core_napi`], and `stop_bell`, rung (and never reset) after
/// `stop` is set, ends a sleep at once: an idle core then sleeps until
/// traffic or the stop, not `max_sleep` at a time.
pub fn run_core_napi_woken(
    streams: &mut [Stream],
    stop: &AtomicBool,
    wait: &RxWait,
    stop_bell: Option<&EventFd>,
) -> std::time::Duration {
    let mut slept = std::time::Duration::ZERO;
    let ep = match Epoll::new() {
        Ok(ep) => ep,
        Err(_) => {
            run_core(streams, stop);
            return slept;
        }
    };
    // Level-triggered and never read here: once rung it keeps every later
    // wait short, and the loop sees `stop`. (If it cannot be watched, the
    // loop still checks `stop` every `max_sleep`.)
    if let Some(bell) = stop_bell {
        ep.add(bell.as_raw_fd(), STOP_TAG);
    }
    let threshold = if wait.mode == RxWaitMode::Interrupt { 1 } else { wait.idle_polls.max(1) };
    let mut watched = vec![false; streams.len()];
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 16];
    let (mut can_sleep, mut idle, mut rounds) = (true, 0u32, 0u64);
    while !stop.load(Relaxed) {
        let mut got = 0;
        for s in streams.iter_mut() {
            let n = s.poll();
            if n == 0 {
                s.counters.empty_polls.add(1);
            }
            got += n;
        }
        rounds += 1;
        if got != 0 {
            idle = 0;
            continue;
        }
        idle += 1;
        if idle < threshold || !can_sleep {
            continue;
        }
        idle = 0;
        for s in streams.iter() {
            s.counters.polls.add(rounds);
        }
        rounds = 0;
        if !arm_all(streams, &ep, &mut watched) {
            can_sleep = false;
            continue;
        }
        for s in streams.iter() {
            s.counters.sleeps.add(1);
        }
        let t = Instant::now();
        for ev in ep.wait(&mut events, Some(wait.max_sleep)) {
            if let Some(s) = streams.get(ev.u64 as usize) {
                s.counters.interrupts.add(1);
            }
        }
        slept += t.elapsed();
        for s in streams.iter_mut() {
            s.rx.disable_interrupt();
        }
    }
    if wait.mode != RxWaitMode::Poll {
        for s in streams.iter() {
            s.counters.polls.add(rounds);
        }
    }
    slept
}

/// What a forwarding thread hands back when it stops.
pub struct CoreExit {
    /// The streams it polled, with their queues.
    pub streams: Vec<Stream>,
    /// The lcore id it held, if registration worked.
    pub lcore: Option<usize>,
    /// Non-fatal problems (pinning, registration) to show the user.
    pub warnings: Vec<String>,
    /// Time spent asleep waiting for rx interrupts.
    pub slept: std::time::Duration,
    /// Time from start of forwarding to stop.
    pub ran: std::time::Duration,
}

/// Starts one forwarding thread: pins it to `cpu` (if given), registers it
/// as an lcore, polls `streams` until `stop`, then flushes its cache of each
/// of `pools` and hands the streams back.
pub fn spawn_core(
    index: usize,
    cpu: Option<usize>,
    streams: Vec<Stream>,
    pools: Vec<Mempool>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<CoreExit>> {
    spawn_core_with(index, cpu, streams, pools, stop, RxWait::default())
}

/// As [`spawn_core`], waiting for receive work as `wait` says.
pub fn spawn_core_with(
    index: usize,
    cpu: Option<usize>,
    streams: Vec<Stream>,
    pools: Vec<Mempool>,
    stop: Arc<AtomicBool>,
    wait: RxWait,
) -> std::io::Result<JoinHandle<CoreExit>> {
    spawn_core_woken(index, cpu, streams, pools, stop, wait, None)
}

/// As [`spawn_core_with`]; a sleeping core also wakes when `stop_bell` is
/// rung (after `stop` is set), see [`run_core_napi_woken`].
pub fn spawn_core_woken(
    index: usize,
    cpu: Option<usize>,
    mut streams: Vec<Stream>,
    pools: Vec<Mempool>,
    stop: Arc<AtomicBool>,
    wait: RxWait,
    stop_bell: Option<Arc<EventFd>>,
) -> std::io::Result<JoinHandle<CoreExit>> {
    std::thread::Builder::new().name(format!("fwd-core-{index}")).spawn(move || {
        let mut warnings = Vec::new();
        if let Some(cpu) = cpu {
            if let Err(e) = lcore::pin_to_cpu(cpu) {
                warnings.push(format!("forwarding core {index}: cannot pin to CPU {cpu}: {e}"));
            }
        }
        let guard = match lcore::register() {
            Ok(g) => Some(g),
            Err(e) => {
                warnings.push(format!("forwarding core {index}: no lcore id ({e}); running without pool caches"));
                None
            }
        };
        for s in streams.iter_mut() {
            s.start_clock();
        }
        let started = Instant::now();
        let slept = match wait.mode {
            RxWaitMode::Poll => {
                run_core(&mut streams, &stop);
                std::time::Duration::ZERO
            }
            _ => run_core_napi_woken(&mut streams, &stop, &wait, stop_bell.as_deref()),
        };
        let ran = started.elapsed();
        // Frames a generator still holds go back before the cache flush.
        for s in streams.iter_mut() {
            if !s.batch.is_empty() {
                s.counters.fwd_drops.add(s.batch.len() as u64);
                s.batch.clear();
            }
        }
        for p in &pools {
            p.flush_local_cache();
        }
        CoreExit { streams, lcore: guard.as_ref().map(|g| g.id()), warnings, slept, ran }
    })
}

/// Spreads streams round-robin over `cores` cores, as testpmd does.
pub fn spread<T>(items: Vec<T>, cores: usize) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = (0..cores.max(1)).map(|_| Vec::new()).collect();
    let n = out.len();
    for (i, s) in items.into_iter().enumerate() {
        out[i % n].push(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_hugepages::Fallback;
    use ferrite_pmd::{Mbuf, MempoolConfig};

    struct FakeRx(Vec<Mbuf>);

    impl RxQueue for FakeRx {
        fn rx_burst(&mut self, batch: &mut MbufBatch, budget: usize) -> usize {
            let n = budget.min(self.0.len());
            for m in self.0.drain(..n) {
                batch.push(m).unwrap();
            }
            n
        }
        fn queue_id(&self) -> u16 {
            0
        }
    }

    /// A pool on ordinary pages (tests need no hugepages).
    fn small_pool(name: &str, n: usize) -> Mempool {
        let mut cfg = MempoolConfig::new(name, n);
        cfg.dma.fallback = Fallback::SmallPages;
        Mempool::new(&cfg).unwrap()
    }

    /// A transmit queue that takes at most `.0` frames per burst and frees them.
    struct Takes(usize);

    impl TxQueue for Takes {
        fn tx_burst(&mut self, batch: &mut MbufBatch) -> usize {
            let n = self.0.min(batch.len());
            drop(batch.drain_front(n));
            n
        }
        fn queue_id(&self) -> u16 {
            0
        }
    }

    fn spec() -> FrameSpec {
        FrameSpec {
            len: 100,
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip: [10, 0, 0, 1],
            dst_ip: [10, 0, 0, 2],
            src_port: 1,
            dst_port: 2,
            sender: pkt::sender_id(0, 0),
        }
    }

    #[test]
    fn rxonly_counts_damage_gaps_and_reordering() {
        let pool = small_pool("fwd-test", 64);
        let t = Template::new(&spec());
        let mut frames = Vec::new();
        for (seq, damage) in [(0, false), (1, false), (3, false), (2, false), (4, true), (4, false)] {
            let mut m = pool.alloc().unwrap();
            assert!(m.set_len(t.len()));
            t.write(m.data_mut(), seq);
            if damage {
                m.data_mut()[70] ^= 1;
            }
            frames.push(m);
        }
        let mut foreign = pool.alloc().unwrap();
        assert!(foreign.set_len(60));
        frames.push(foreign);
        let id = StreamId { rx_port: 0, rx_queue: 0, tx_port: 0, tx_queue: 0 };
        let mut s = Stream::new(id, Box::new(FakeRx(frames)), Box::new(NoQueue), 4, EngineConfig::RxOnly).unwrap();
        while s.poll() > 0 {}
        let st = s.counters().snapshot();
        assert_eq!((st.rx, st.consumed), (7, 7));
        assert_eq!(st.bad_payload, 1, "{st:?}");
        assert_eq!(st.seq_gaps, 1, "2 skipped after 1: {st:?}");
        assert_eq!(st.out_of_order, 1, "2 after 3: {st:?}");
        assert!(st.balanced());
        drop(s);
        assert_eq!(pool.available(), 64);
    }

    #[test]
    fn rxonly_survives_the_last_sequence_numbers() {
        // Sequence numbers come off the wire: a peer can send any value,
        // u64::MAX included, and the verifier must count, not overflow.
        let pool = small_pool("fwd-seq-max", 64);
        let first = Template::new(&spec());
        let mut other = spec();
        other.sender = pkt::sender_id(1, 0);
        let second = Template::new(&other);
        let mut frames = Vec::new();
        for (t, seq) in [(&first, 0), (&first, u64::MAX), (&first, 5), (&second, u64::MAX)] {
            let mut m = pool.alloc().unwrap();
            assert!(m.set_len(t.len()));
            t.write(m.data_mut(), seq);
            frames.push(m);
        }
        let id = StreamId { rx_port: 0, rx_queue: 0, tx_port: 0, tx_queue: 0 };
        // One burst: the per-burst gap sum must not overflow either.
        let mut s = Stream::new(id, Box::new(FakeRx(frames)), Box::new(NoQueue), 8, EngineConfig::RxOnly).unwrap();
        while s.poll() > 0 {}
        let st = s.counters().snapshot();
        assert_eq!((st.rx, st.bad_payload), (4, 0), "{st:?}");
        // First sender: 0, then a jump to the top (u64::MAX - 1 missing),
        // then 5, which is behind it.
        assert_eq!(st.out_of_order, 1, "{st:?}");
        // The second sender alone claims u64::MAX missing frames: the total
        // saturates instead of wrapping to a small, plausible number.
        assert_eq!(st.seq_gaps, u64::MAX, "{st:?}");
        drop(s);
        assert_eq!(pool.available(), 64);
    }

    #[test]
    fn generator_honours_count_and_keeps_unsent_frames() {
        let pool = small_pool("fwd-gen", 256);
        let id = StreamId { rx_port: 0, rx_queue: 0, tx_port: 0, tx_queue: 0 };
        let gen = TxGenConfig {
            pool: pool.clone(),
            spec: spec(),
            flows: 1,
            rate_pps: None,
            count: Some(100),
            segments: vec![],
        };
        let mut s = Stream::new(id, Box::new(NoQueue), Box::new(Takes(5)), 32, EngineConfig::TxGen(gen)).unwrap();
        while !s.is_done() {
            s.poll();
        }
        let st = s.counters().snapshot();
        assert_eq!((st.generated, st.tx, st.fwd_drops), (100, 100, 0), "leftovers are retried, not dropped");
        drop(s);
        assert_eq!(pool.available(), 256);
    }

    #[test]
    fn paced_generator_does_not_flood_after_a_stall() {
        let pool = small_pool("fwd-pace", 1024);
        let id = StreamId { rx_port: 0, rx_queue: 0, tx_port: 0, tx_queue: 0 };
        // 10,000 pps; a 300 ms stall owes 3,000 frames under "catch up".
        let gen = TxGenConfig {
            pool: pool.clone(),
            spec: spec(),
            flows: 1,
            rate_pps: Some(10_000.0),
            count: None,
            segments: vec![],
        };
        let mut s =
            Stream::new(id, Box::new(NoQueue), Box::new(Takes(usize::MAX)), 32, EngineConfig::TxGen(gen)).unwrap();
        s.start_clock();
        std::thread::sleep(std::time::Duration::from_millis(300));
        // Right after the stall only the bucket's depth (two bursts) may
        // leave, plus what the polling time itself earns.
        let t0 = Instant::now();
        let sent: usize = (0..200).map(|_| s.poll()).sum();
        let earned = (t0.elapsed().as_secs_f64() * 10_000.0) as usize;
        assert!(sent <= 2 * 32 + earned + 32, "a stalled sender flooded {sent} frames at once");
        assert!(sent >= 32, "the bucket still lets a burst through ({sent})");
        drop(s);
        assert_eq!(pool.available(), 1024);
    }

    /// A transmit queue on a device that completes late, as igb on real
    /// hardware: a frame it takes is written back by the device, but the
    /// driver only frees what it finds done when it looks (in `tx_burst` or
    /// `tx_done_cleanup`), and a frame is found done only `delay` looks
    /// after it was queued.
    struct LazyTx {
        parked: std::collections::VecDeque<(u64, Mbuf)>,
        looks: u64,
        delay: u64,
        ring: usize,
    }

    impl LazyTx {
        fn new(ring: usize) -> LazyTx {
            LazyTx { parked: Default::default(), looks: 0, delay: 2, ring }
        }
        fn reclaim(&mut self) -> usize {
            self.looks += 1;
            let mut freed = 0;
            while self.parked.front().is_some_and(|(at, _)| self.looks >= at + self.delay) {
                self.parked.pop_front();
                freed += 1;
            }
            freed
        }
    }

    impl TxQueue for LazyTx {
        fn tx_burst(&mut self, batch: &mut MbufBatch) -> usize {
            self.reclaim();
            let n = batch.len().min(self.ring - self.parked.len());
            for m in batch.drain_front(n) {
                self.parked.push_back((self.looks, m));
            }
            n
        }
        fn tx_done_cleanup(&mut self) -> usize {
            self.reclaim()
        }
        fn queue_id(&self) -> u16 {
            0
        }
    }

    /// A receive queue on a device that fills a whole burst whenever the
    /// pool has the buffers for it (and nothing when it has not).
    struct PoolRx(Mempool);

    impl RxQueue for PoolRx {
        fn rx_burst(&mut self, batch: &mut MbufBatch, budget: usize) -> usize {
            if !self.0.alloc_bulk(batch, budget) {
                return 0;
            }
            for m in batch.iter_mut() {
                assert!(m.set_len(64));
            }
            budget
        }
        fn queue_id(&self) -> u16 {
            0
        }
    }

    /// Regression: txonly returned before `tx_burst` when it could not
    /// allocate a burst, so once the ring held the whole pool nobody
    /// reclaimed completions and the generator stopped for good.
    #[test]
    fn txonly_keeps_sending_when_the_ring_holds_the_pool() {
        let pool = small_pool("fwd-lazy-gen", 64);
        let id = StreamId { rx_port: 0, rx_queue: 0, tx_port: 0, tx_queue: 0 };
        let gen = TxGenConfig {
            pool: pool.clone(),
            spec: spec(),
            flows: 1,
            rate_pps: None,
            count: Some(2000),
            segments: vec![],
        };
        let mut s =
            Stream::new(id, Box::new(NoQueue), Box::new(LazyTx::new(128)), 32, EngineConfig::TxGen(gen)).unwrap();
        for _ in 0..20_000 {
            if s.is_done() {
                break;
            }
            s.poll();
        }
        let st = s.counters().snapshot();
        assert_eq!((st.generated, st.tx), (2000, 2000), "the generator stalled: {st:?}");
        drop(s);
        assert_eq!(pool.available(), 64);
    }

    /// Regression: io forwarding skipped `tx_burst` when nothing arrived,
    /// so once the transmit ring held the pool the receive side could not
    /// refill, nothing arrived again, and forwarding stopped for good.
    #[test]
    fn io_keeps_forwarding_when_the_ring_holds_the_pool() {
        let pool = small_pool("fwd-lazy-io", 64);
        let id = StreamId { rx_port: 0, rx_queue: 0, tx_port: 0, tx_queue: 0 };
        let rx = Box::new(PoolRx(pool.clone()));
        let mut s = Stream::new(id, rx, Box::new(LazyTx::new(128)), 32, EngineConfig::Io).unwrap();
        for _ in 0..2000 {
            s.poll();
        }
        let st = s.counters().snapshot();
        assert!(st.rx >= 2000, "forwarding stalled after {} frames: {st:?}", st.rx);
        assert_eq!((st.tx, st.fwd_drops), (st.rx, 0), "{st:?}");
        drop(s);
        assert_eq!(pool.available(), 64);
    }

    /// A transmit queue that keeps every frame it takes, for inspection.
    #[derive(Clone, Default)]
    struct Keep(Arc<std::sync::Mutex<Vec<Mbuf>>>);

    impl TxQueue for Keep {
        fn tx_burst(&mut self, batch: &mut MbufBatch) -> usize {
            let n = batch.len();
            self.0.lock().unwrap().extend(batch.drain_front(n));
            n
        }
        fn queue_id(&self) -> u16 {
            0
        }
    }

    /// A frame of `lens` segments from `pool`, written from `t` with `seq`.
    fn chained_frame(pool: &Mempool, t: &Template, lens: &[usize], seq: u64) -> Mbuf {
        let mut m = pool.alloc().unwrap();
        assert!(build_chain(&mut m, pool, lens));
        assert_eq!((m.len(), m.nb_segs() as usize), (lens.iter().sum(), lens.len()));
        t.write_mbuf(&mut m, seq, None);
        m
    }

    fn spec_of(len: usize) -> FrameSpec {
        FrameSpec { len, ..spec() }
    }

    #[test]
    fn rxonly_verifies_chains_and_catches_damage_in_the_last_segment() {
        let pool = small_pool("fwd-chain-rx", 64);
        let t = Template::new(&spec_of(4914));
        let lens = [2048, 2048, 818];
        let good = chained_frame(&pool, &t, &lens, 0);
        let mut bad = chained_frame(&pool, &t, &lens, 1);
        bad.segments_mut().last().unwrap()[700] ^= 0x80;
        let after = chained_frame(&pool, &t, &lens, 2);
        let id = StreamId { rx_port: 0, rx_queue: 0, tx_port: 0, tx_queue: 0 };
        let rx = Box::new(FakeRx(vec![good, bad, after]));
        let mut s = Stream::new(id, rx, Box::new(NoQueue), 8, EngineConfig::RxOnly).unwrap();
        while s.poll() > 0 {}
        let st = s.counters().snapshot();
        assert_eq!((st.consumed, st.bad_payload), (3, 1), "{st:?}");
        assert_eq!(st.seq_gaps, 1, "the damaged frame's number is missing: {st:?}");
        drop(s);
        assert_eq!(pool.available(), 64, "every segment went back");
    }

    #[test]
    fn txonly_sends_chains_of_the_asked_segments_in_sequence() {
        let pool = small_pool("fwd-chain-tx", 256);
        let id = StreamId { rx_port: 0, rx_queue: 0, tx_port: 0, tx_queue: 0 };
        let gen = TxGenConfig {
            pool: pool.clone(),
            spec: spec_of(4914),
            flows: 3,
            rate_pps: None,
            count: Some(20),
            segments: vec![2048, 2048, 818],
        };
        let sent = Keep::default();
        let mut s = Stream::new(id, Box::new(NoQueue), Box::new(sent.clone()), 8, EngineConfig::TxGen(gen)).unwrap();
        while !s.is_done() {
            s.poll();
        }
        let frames = std::mem::take(&mut *sent.0.lock().unwrap());
        assert_eq!(frames.len(), 20);
        for (i, m) in frames.iter().enumerate() {
            let lens: Vec<usize> = m.segments().map(|seg| seg.len()).collect();
            assert_eq!((m.len(), lens), (4914, vec![2048, 2048, 818]));
            let seq = i as u64;
            assert_eq!(pkt::parse_mbuf(m), Verdict::Good { sender: pkt::sender_id(0, 0), seq });
        }
        assert_eq!(pool.in_use(), 60);
        drop((frames, s));
        assert_eq!(pool.available(), 256);
    }

    #[test]
    fn a_burst_short_of_segments_gives_back_what_it_took_and_retries() {
        // 40 buffers, 8 frames of 3 segments a burst: the second burst gets
        // its 8 first segments but not the 16 others while the first is held.
        let pool = small_pool("fwd-chain-short", 40);
        let id = StreamId { rx_port: 0, rx_queue: 0, tx_port: 0, tx_queue: 0 };
        let segments = vec![100, 100, 100];
        let gen =
            TxGenConfig { pool: pool.clone(), spec: spec_of(300), flows: 1, rate_pps: None, count: None, segments };
        let held = Keep::default();
        let mut s = Stream::new(id, Box::new(NoQueue), Box::new(held.clone()), 8, EngineConfig::TxGen(gen)).unwrap();
        assert_eq!(s.poll(), 8);
        assert_eq!(s.poll(), 0, "not enough segments for a second burst");
        assert_eq!(pool.available(), 16, "the partial burst went back whole");
        held.0.lock().unwrap().clear();
        assert_eq!(s.poll(), 8, "and it is built once buffers are back");
        let st = s.counters().snapshot();
        assert_eq!((st.generated, st.tx, st.fwd_drops), (16, 16, 0));
        let seqs: Vec<Verdict> = held.0.lock().unwrap().iter().map(pkt::parse_mbuf).collect();
        let want: Vec<Verdict> = (8..16).map(|seq| Verdict::Good { sender: pkt::sender_id(0, 0), seq }).collect();
        assert_eq!(seqs, want, "no sequence number lost to the failed burst");
        held.0.lock().unwrap().clear();
        drop(s);
        assert_eq!(pool.available(), 40);
    }

    #[test]
    fn mac_engines_forward_chains_whole_and_skip_short_first_segments() {
        let pool = small_pool("fwd-chain-mac", 64);
        let t = Template::new(&spec_of(300));
        let frames = vec![chained_frame(&pool, &t, &[60, 140, 100], 0), chained_frame(&pool, &t, &[10, 190, 100], 1)];
        let mut before = [[0u8; 300]; 2];
        for (b, m) in before.iter_mut().zip(&frames) {
            assert_eq!(m.read(0, b), 300);
        }
        let id = StreamId { rx_port: 0, rx_queue: 0, tx_port: 0, tx_queue: 0 };
        let out = Keep::default();
        let mut s = Stream::new(id, Box::new(FakeRx(frames)), Box::new(out.clone()), 8, EngineConfig::MacSwap).unwrap();
        assert_eq!(s.poll(), 2);
        let sent = std::mem::take(&mut *out.0.lock().unwrap());
        let mut after = [[0u8; 300]; 2];
        for (a, m) in after.iter_mut().zip(&sent) {
            assert_eq!((m.len(), m.nb_segs()), (300, 3), "forwarded whole");
            m.read(0, a);
        }
        // Swapped where the first segment holds both addresses...
        assert_eq!((&after[0][..6], &after[0][6..12]), (&before[0][6..12], &before[0][..6]));
        assert_eq!(after[0][12..], before[0][12..]);
        // ...and left alone (no panic) where it does not.
        assert_eq!(after[1], before[1]);
        drop((sent, s));
        assert_eq!(pool.available(), 64);
    }
}
