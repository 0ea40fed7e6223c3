//! What a virtual port shares with its queues, and the per-burst helpers
//! every virtual datapath uses.
//!
//! A port's queues run on other cores, so everything they read is either an
//! atomic tunable (MTU, receive mode, MAC, port id: read once per burst) or
//! a counter with a single writer (the queue's own core). This module holds
//! that state ([`End`]) and the small functions that filter, measure, drop
//! and count frames, so the wired (`loop`, `pair`) and the `null` datapaths
//! share one definition of each rule.

use std::sync::atomic::{AtomicU16, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

use super::filter::AddressFilter;

use crate::mem::{Mbuf, MbufBatch, OffloadFlags};
use crate::port::stat_names::*;
use crate::port::{
    Counter, DeviceCaps, LinkNotifier, MacAddr, PortConfig, PortStats, QueueCounters, RxMode, RxOffloads, TxOffloads,
};

/// Most queues per direction a virtual port offers.
pub(crate) const MAX_QUEUES: usize = 16;
/// Largest ring a virtual port accepts.
pub(crate) const MAX_RING: u16 = 4096;
/// MTU of a fresh port.
pub(crate) const DEFAULT_MTU: u16 = 1500;
/// Transmit watchdog timeout of a fresh port (Linux igb's `watchdog_timeo`).
pub(crate) const DEFAULT_TX_TIMEOUT_MS: u64 = 5_000;
/// An Ethernet header: shorter frames have no destination to filter on.
pub(crate) use crate::ether::ETH_HLEN;

/// The limits every virtual port enforces, and the offloads they really do:
/// frames travel as mbufs, so chains pass through whole (`multi_segs` out,
/// `scatter` in), and with several queues the software RSS of `spread.rs`
/// stores its hash in the mbuf (`rss_hash`). No checksum, VLAN or TSO work
/// is done in software: those are refused.
pub(crate) fn caps() -> DeviceCaps {
    DeviceCaps {
        max_rx_queues: MAX_QUEUES as u16,
        max_tx_queues: MAX_QUEUES as u16,
        min_ring_size: 32,
        max_ring_size: MAX_RING,
        ring_size_align: 1,
        ring_size_pow2: true,
        min_mtu: 68,
        max_mtu: 9000,
        rx_offload_capa: RxOffloads::SCATTER | RxOffloads::RSS_HASH,
        tx_offload_capa: TxOffloads::MULTI_SEGS,
    }
}

/// A deterministic, locally administered address: `02:00:00:KK:NN:NN`, with
/// `KK` the kind tag and `NNNN` the number ending the port's name (`loop3`
/// → 3), or a hash of the name when it ends in no number.
pub(crate) fn default_mac(kind_tag: u8, name: &str) -> MacAddr {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let n = match name[name.len() - digits..].parse::<u64>() {
        Ok(n) => n as u16,
        // FNV-1a, folded to 16 bits: stable across runs and platforms.
        Err(_) => {
            let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
            (h ^ (h >> 16) ^ (h >> 32) ^ (h >> 48)) as u16
        }
    };
    let [hi, lo] = n.to_be_bytes();
    MacAddr([0x02, 0, 0, kind_tag, hi, lo])
}

/// Counters of one receive queue.
#[derive(Debug, Default)]
pub(crate) struct RxCounters {
    /// Packets, bytes, drops (filtered frames are drops too).
    pub stats: QueueCounters,
    /// Frames the receive filter refused (`rx_filtered_drops`).
    pub filtered: Counter,
}

/// Counters of one transmit queue.
#[derive(Debug, Default)]
pub(crate) struct TxCounters {
    /// Packets, bytes, drops (link down), errors (oversize).
    pub stats: QueueCounters,
    /// Frames longer than MTU + 22 (`tx_oversize_errors`).
    pub oversize: Counter,
    /// Frames dropped because the carrier was off (`tx_link_down_drops`).
    pub link_down: Counter,
    /// Times the watchdog reset this queue (`tx_timeout_count`).
    pub timeouts: Counter,
    /// Times the wire filled (`tx_queue_N_restart`, see `TxStops`).
    pub restart: Counter,
}

const PROMISC: u8 = 1;
const ALL_MULTI: u8 = 2;

/// Settings the datapath reads once per burst. Written rarely (control
/// plane), so they get their own cache line, apart from the counters.
#[derive(Debug)]
#[repr(align(64))]
struct Tunables {
    mtu: AtomicU16,
    rx_mode: AtomicU8,
    port_id: AtomicU16,
    /// The MAC in the low 48 bits, byte 0 first (little-endian packing).
    mac: AtomicU64,
    /// Transmit watchdog timeout, ms (read only when a wire stays full).
    tx_timeout_ms: AtomicU64,
}

/// One end of a cable: the state a port shares with its queues.
#[derive(Debug)]
pub(crate) struct End {
    /// The port's name, as link events carry it.
    pub name: Arc<str>,
    /// Link-change subscribers.
    pub notifier: LinkNotifier,
    /// Frames found on this end's receive wires when the carrier went down
    /// or the port stopped, and freed. Written only under the cable's lock.
    pub flushed: Counter,
    tunables: Tunables,
    /// Extra unicast addresses and multicast groups (non-promiscuous mode).
    pub filter: AddressFilter,
    /// Per receive queue, indexed by queue id.
    pub rx: [RxCounters; MAX_QUEUES],
    /// Per transmit queue, indexed by queue id.
    pub tx: [TxCounters; MAX_QUEUES],
}

impl End {
    /// A fresh end: MTU 1500, promiscuous (as DPDK's testpmd sets ports).
    pub fn new(name: &str, mac: MacAddr) -> End {
        let end = End {
            name: name.into(),
            notifier: LinkNotifier::default(),
            flushed: Counter::default(),
            tunables: Tunables {
                mtu: AtomicU16::new(DEFAULT_MTU),
                rx_mode: AtomicU8::new(PROMISC),
                port_id: AtomicU16::new(0),
                mac: AtomicU64::new(0),
                tx_timeout_ms: AtomicU64::new(DEFAULT_TX_TIMEOUT_MS),
            },
            filter: AddressFilter::default(),
            rx: std::array::from_fn(|_| RxCounters::default()),
            tx: std::array::from_fn(|_| TxCounters::default()),
        };
        end.set_mac(mac);
        end
    }

    /// Longest frame transmit accepts: MTU + header + two VLAN tags, the
    /// same limit as igb's receive path ([`crate::ether::max_frame_len`]).
    #[inline(always)]
    pub fn frame_limit(&self) -> usize {
        crate::ether::max_frame_len(self.tunables.mtu.load(Relaxed))
    }

    /// Current MTU.
    pub fn mtu(&self) -> u16 {
        self.tunables.mtu.load(Relaxed)
    }

    /// Sets the MTU; queues see it on their next burst.
    pub fn set_mtu(&self, mtu: u16) {
        self.tunables.mtu.store(mtu, Relaxed);
    }

    /// Whether every frame is accepted (the receive fast path).
    #[inline(always)]
    pub fn promiscuous(&self) -> bool {
        self.tunables.rx_mode.load(Relaxed) & PROMISC != 0
    }

    /// Current receive filtering.
    pub fn rx_mode(&self) -> RxMode {
        let bits = self.tunables.rx_mode.load(Relaxed);
        RxMode { promiscuous: bits & PROMISC != 0, all_multicast: bits & ALL_MULTI != 0 }
    }

    /// Sets receive filtering; queues see it on their next burst.
    pub fn set_rx_mode(&self, mode: RxMode) {
        let bits = if mode.promiscuous { PROMISC } else { 0 } | if mode.all_multicast { ALL_MULTI } else { 0 };
        self.tunables.rx_mode.store(bits, Relaxed);
    }

    /// The port's unicast address.
    pub fn mac(&self) -> MacAddr {
        let b = self.tunables.mac.load(Relaxed).to_le_bytes();
        MacAddr([b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// Sets the address the receive filter compares against.
    pub fn set_mac(&self, mac: MacAddr) {
        let m = mac.0;
        self.tunables.mac.store(u64::from_le_bytes([m[0], m[1], m[2], m[3], m[4], m[5], 0, 0]), Relaxed);
    }

    /// The id stamped into received mbufs (`Mbuf::port`).
    #[inline(always)]
    pub fn port_id(&self) -> u16 {
        self.tunables.port_id.load(Relaxed)
    }

    /// Sets the id stamped into received mbufs.
    pub fn set_port_id(&self, id: u16) {
        self.tunables.port_id.store(id, Relaxed);
    }

    /// The transmit watchdog's timeout.
    pub fn tx_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.tunables.tx_timeout_ms.load(Relaxed))
    }

    /// Sets the transmit watchdog's timeout; queues see it at once.
    pub fn set_tx_timeout(&self, t: std::time::Duration) {
        self.tunables.tx_timeout_ms.store(t.as_millis().clamp(1, u64::MAX as u128) as u64, Relaxed);
    }

    /// Counters of the configured queues.
    pub fn stats(&self, conf: &PortConfig) -> PortStats {
        let rx = self.rx.iter().take(conf.rx_queues as usize).map(|c| c.stats.snapshot()).collect();
        let tx = self.tx.iter().take(conf.tx_queues as usize).map(|c| c.stats.snapshot()).collect();
        // Frames freed from this end's wires (stop, link down, watchdog)
        // arrived but never reached a receive burst: missed, as a NIC
        // counts frames it had no descriptor for. Without this they would
        // be counted nowhere but `rx_flushed` in `ethtool -S`.
        PortStats { rx_queues: rx, tx_queues: tx, rx_missed: self.flushed.get() }
    }

    /// Zeroes every counter, configured queues or not.
    pub fn reset_stats(&self) {
        for c in &self.rx {
            c.stats.reset();
            c.filtered.reset();
        }
        for c in &self.tx {
            c.stats.reset();
            c.oversize.reset();
            c.link_down.reset();
            c.timeouts.reset();
            c.restart.reset();
        }
    }

    /// `ethtool -S` rows: port totals in Linux naming, the driver's own
    /// counters, then the per-queue breakdown.
    pub fn stat_rows(&self, stats: &PortStats) -> Vec<(String, u64)> {
        let (rx, tx) = (stats.rx_total(), stats.tx_total());
        let filtered = self.rx.iter().map(|c| c.filtered.get()).sum();
        let oversize = self.tx.iter().map(|c| c.oversize.get()).sum();
        let link_down = self.tx.iter().map(|c| c.link_down.get()).sum();
        let timeouts = self.tx.iter().map(|c| c.timeouts.get()).sum();
        let restarts = self.tx.iter().map(|c| c.restart.get()).sum();
        let mut rows: Vec<(String, u64)> = [
            (RX_PACKETS, rx.packets),
            (RX_BYTES, rx.bytes),
            (RX_DROPPED, rx.drops),
            (TX_PACKETS, tx.packets),
            (TX_BYTES, tx.bytes),
            (TX_DROPPED, tx.drops),
            (TX_ERRORS, tx.errors),
            (RX_FILTERED_DROPS, filtered),
            (TX_OVERSIZE_ERRORS, oversize),
            (TX_LINK_DOWN_DROPS, link_down),
            (TX_TIMEOUT_COUNT, timeouts),
            (TX_RESTART_QUEUE, restarts),
            (RX_FLUSHED, self.flushed.get()),
        ]
        .into_iter()
        .map(|(name, v)| (name.to_string(), v))
        .collect();
        let restart = self.tx.iter().take(stats.tx_queues.len()).map(|c| c.restart.get()).collect();
        rows.extend(per_queue_stat_rows(stats, &QueueExtras { tx_restart: Some(restart), ..QueueExtras::default() }));
        rows
    }
}

/// Total bytes and the longest frame of a run of frames, in one pass.
#[inline(always)]
pub(crate) fn measure(frames: &[Mbuf]) -> (u64, usize) {
    frames.iter().fold((0, 0), |(bytes, longest), m| (bytes + m.len() as u64, longest.max(m.len())))
}

/// Clears the offload flags of frames going on a wire: what the sender's
/// mbuf said (a transmit request, or a receive verdict from the port it
/// came in on) does not travel with the bytes, so the receiver's flags are
/// only what the receiver found (its RSS hash). A stale `TX_VLAN_INSERT`
/// would otherwise be carried out by the next hardware port the frame is
/// forwarded to.
#[inline(always)]
pub(crate) fn forget_metadata(frames: &mut [Mbuf]) {
    for m in frames {
        m.set_ol_flags(OffloadFlags::default());
    }
}

/// Takes every frame longer than `limit` out of the batch, wherever it is
/// (it could never be sent, so retrying it is pointless), frees it and
/// counts it as a transmit error. Returns how many it took.
#[cold]
#[inline(never)]
pub(crate) fn take_oversize(end: &End, queue: usize, batch: &mut MbufBatch, limit: usize) -> usize {
    let n = batch.retain(|m| m.len() <= limit);
    let c = &end.tx[queue];
    c.stats.add_errors(n as u64);
    c.oversize.add(n as u64);
    n
}

/// Takes the whole batch while the carrier is off (or the handle is stale):
/// frees it and counts it as dropped. Returns how many it took.
#[cold]
#[inline(never)]
pub(crate) fn take_all_link_down(end: &End, queue: usize, batch: &mut MbufBatch) -> usize {
    let n = batch.len();
    batch.clear();
    let c = &end.tx[queue];
    c.stats.add_drops(n as u64);
    c.link_down.add(n as u64);
    n
}

/// Finishes a receive burst: the frames appended to `batch` from `start` on
/// get `prepare` applied and the port and queue stamped, pass the receive
/// filter and are counted. Returns how many remain.
///
/// Promiscuous mode (the default) costs one load per burst and nothing per
/// frame; only a port that filters pays for looking at addresses.
#[inline(always)]
pub(crate) fn deliver(
    end: &End,
    queue: usize,
    batch: &mut MbufBatch,
    start: usize,
    mut prepare: impl FnMut(&mut Mbuf),
) -> usize {
    let (port, qid) = (end.port_id(), queue as u16);
    let mut bytes = 0u64;
    for m in batch.iter_mut().skip(start) {
        prepare(m);
        m.set_port(port);
        m.set_queue(qid);
        bytes += m.len() as u64;
    }
    if !end.promiscuous() {
        bytes -= filter(end, queue, batch, start);
    }
    let n = batch.len() - start;
    end.rx[queue].stats.add(n as u64, bytes);
    n
}

/// Frees the frames from `start` on that the port's receive mode refuses,
/// counts them, and returns their bytes.
#[cold]
#[inline(never)]
fn filter(end: &End, queue: usize, batch: &mut MbufBatch, start: usize) -> u64 {
    let (mac, all_multi) = (end.mac(), end.rx_mode().all_multicast);
    let (mut index, mut refused_bytes) = (0, 0u64);
    let refused = batch.retain(|m| {
        let keep = index < start || accepts(&end.filter, m, mac, all_multi);
        index += 1;
        if !keep {
            refused_bytes += m.len() as u64;
        }
        keep
    });
    let c = &end.rx[queue];
    c.stats.add_drops(refused as u64);
    c.filtered.add(refused as u64);
    refused_bytes
}

/// The non-promiscuous receive rule: a whole Ethernet header (it may span
/// segments), addressed as the port's filter accepts.
fn accepts(filter: &AddressFilter, frame: &Mbuf, mac: MacAddr, all_multicast: bool) -> bool {
    let mut dst = [0u8; 6];
    if frame.len() < ETH_HLEN || frame.read(0, &mut dst) < dst.len() {
        return false;
    }
    filter.accepts(MacAddr(dst), mac, all_multicast)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_macs_are_local_unicast_and_distinct() {
        let a = default_mac(1, "loop3");
        assert_eq!(a.to_string(), "02:00:00:01:00:03");
        assert!(a.is_valid_unicast());
        assert_ne!(default_mac(2, "loop3"), a, "kind is part of the address");
        assert_ne!(default_mac(1, "alpha"), default_mac(1, "beta"), "names without numbers hash");
        assert!(default_mac(1, "").is_valid_unicast());
    }

    #[test]
    fn filter_rule() {
        let me = MacAddr([2, 0, 0, 1, 0, 0]);
        let lists = AddressFilter::default();
        let pool = super::super::testutil::pool(8);
        // `bytes` as a packet, its first segment `first` bytes long.
        let packet = |bytes: &[u8], first: usize| {
            let mut m = pool.alloc().unwrap();
            assert!(m.set_len(first.min(bytes.len())));
            m.data_mut().copy_from_slice(&bytes[..first.min(bytes.len())]);
            if first < bytes.len() {
                let mut tail = pool.alloc().unwrap();
                assert!(tail.set_len(bytes.len() - first));
                tail.data_mut().copy_from_slice(&bytes[first..]);
                m.chain(tail).unwrap();
            }
            m
        };
        let accepts = |f: &[u8], me, all| accepts(&lists, &packet(f, f.len()), me, all);
        let mut f = [0u8; 60];
        f[..6].copy_from_slice(&me.0);
        assert!(accepts(&f, me, false));
        assert!(!accepts(&f[..13], me, false), "shorter than a header");
        // The header split over two segments (`--txpkts 10,54`): read whole.
        assert!(super::accepts(&lists, &packet(&f, 4), me, false), "destination across segments");
        assert!(!super::accepts(&lists, &packet(&f[..13], 4), me, false), "a chain shorter than a header");
        f[..6].copy_from_slice(&[2, 0, 0, 1, 0, 1]);
        assert!(!accepts(&f, me, true), "someone else's unicast");
        assert!(!super::accepts(&lists, &packet(&f, 4), me, true), "someone else's, across segments");
        f[..6].copy_from_slice(&[0xff; 6]);
        assert!(accepts(&f, me, false), "broadcast");
        f[..6].copy_from_slice(&[1, 0, 0x5e, 0, 0, 1]);
        assert!(!accepts(&f, me, false) && accepts(&f, me, true), "multicast needs all-multicast");
    }

    #[test]
    fn end_tunables_round_trip() {
        let e = End::new("t0", MacAddr([2, 0, 0, 0, 0, 9]));
        assert_eq!(e.mac(), MacAddr([2, 0, 0, 0, 0, 9]));
        assert!(e.promiscuous());
        e.set_rx_mode(RxMode { promiscuous: false, all_multicast: true });
        assert_eq!(e.rx_mode(), RxMode { promiscuous: false, all_multicast: true });
        assert!(!e.promiscuous());
        e.set_mtu(9000);
        assert_eq!(e.frame_limit(), 9022);
        let names: Vec<String> = e.stat_rows(&e.stats(&PortConfig::default())).into_iter().map(|r| r.0).collect();
        assert_eq!(names[..3], ["rx_packets", "rx_bytes", "rx_dropped"]);
        assert_eq!(names[9], "tx_link_down_drops");
        assert_eq!(names[10], "tx_timeout_count");
        assert_eq!(names[13], "rx_queue_0_packets");
    }
}
