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

mod cores;
mod engines;
mod napi;
mod stream;
pub use cores::*;
pub use engines::*;
pub use napi::*;
pub use stream::*;

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
