//! The streams of a run: which queue each receives on and transmits to,
//! its engine and generated frames, and the capture taps.

use ferrite_pmd::port::TxOffloads;
use ferrite_pmd::{Queues, RxQueue, TxQueue};

use super::config::rss_types;
use super::plan::{transmits, Layout};
use super::ports::PortSet;
use super::AppError;
use crate::cli::Args;
use crate::fwd::csum::CsumConfig;
use crate::fwd::pkt::FrameSpec;
use crate::fwd::vlan::TxVlan;
use crate::fwd::{EngineConfig, ForwardMode, NoQueue, Stream, StreamId, TxGenConfig};

pub(crate) type CaptureTaps = std::collections::HashMap<(usize, usize), crate::capture::StreamTaps>;

/// Sets up `--pcap-rx` / `--pcap-tx`: one interface per stream direction
/// (`port0/rxq1`, `port1/txq1`), the files created and the writer running.
/// Frames are kept whole up to the largest a port may carry (`largest_frame`),
/// at least [`crate::capture::SNAPLEN`] bytes.
pub(crate) fn start_capture(
    args: &Args,
    largest_frame: usize,
    n: usize,
    per_port: usize,
    peer: impl Fn(usize) -> usize,
) -> Result<Option<(crate::capture::Capture, CaptureTaps)>, AppError> {
    if args.pcap_rx.is_none() && args.pcap_tx.is_none() {
        return Ok(None);
    }
    let mode = args.forward_mode;
    let mut cap = crate::capture::Capture::with_snaplen(largest_frame.max(crate::capture::SNAPLEN));
    let mut taps = CaptureTaps::new();
    for p in 0..n {
        for q in 0..per_port {
            let mut t = crate::capture::StreamTaps::default();
            if let (Some(f), true) = (&args.pcap_rx, mode.receives()) {
                t.rx = Some(cap.add(f, format!("port{p}/rxq{q}")));
            }
            if let (Some(f), true) = (&args.pcap_tx, transmits(args)) {
                t.tx = Some(cap.add(f, format!("port{}/txq{q}", peer(p))));
            }
            taps.insert((p, q), t);
        }
    }
    cap.start().map_err(|e| AppError::Usage(format!("cannot write the capture: {e}")))?;
    Ok(Some((cap, taps)))
}

/// The queues the ports handed out, by port and queue id, until a stream
/// takes them (and, under `testpmd -i`, when `stop` gives them back).
pub(crate) struct QueueTable {
    pub(crate) rx: Vec<Vec<Option<Box<dyn RxQueue>>>>,
    pub(crate) tx: Vec<Vec<Option<Box<dyn TxQueue>>>>,
}

impl QueueTable {
    pub(crate) fn new(queues: Vec<Queues>) -> QueueTable {
        let mut table = QueueTable { rx: Vec::new(), tx: Vec::new() };
        for q in queues {
            table.rx.push(q.rx.into_iter().map(Some).collect());
            table.tx.push(q.tx.into_iter().map(Some).collect());
        }
        table
    }

    /// Puts port `p`'s queues in (after `port start`).
    pub(crate) fn replace(&mut self, p: usize, q: Queues) {
        self.rx[p] = q.rx.into_iter().map(Some).collect();
        self.tx[p] = q.tx.into_iter().map(Some).collect();
    }

    /// Drops port `p`'s queues (before `port stop`).
    pub(crate) fn clear(&mut self, p: usize) {
        self.rx[p].clear();
        self.tx[p].clear();
    }

    /// Takes back a stopped stream's queues; `NoQueue` stand-ins (the rx
    /// side of a generator, the tx side of rxonly) are dropped.
    pub(crate) fn give_back(&mut self, args: &Args, id: StreamId, rx: Box<dyn RxQueue>, tx: Box<dyn TxQueue>) {
        if args.forward_mode.receives() {
            if let Some(slot) = self.rx.get_mut(id.rx_port as usize).and_then(|v| v.get_mut(id.rx_queue as usize)) {
                *slot = Some(rx);
            }
        }
        if transmits(args) {
            if let Some(slot) = self.tx.get_mut(id.tx_port as usize).and_then(|v| v.get_mut(id.tx_queue as usize)) {
                *slot = Some(tx);
            }
        }
    }

    fn take_rx(&mut self, p: usize, q: usize) -> Result<Box<dyn RxQueue>, AppError> {
        self.rx.get_mut(p).and_then(|v| v.get_mut(q)).and_then(Option::take).ok_or_else(|| missing(p, "rx", q))
    }

    fn take_tx(&mut self, p: usize, q: usize) -> Result<Box<dyn TxQueue>, AppError> {
        self.tx.get_mut(p).and_then(|v| v.get_mut(q)).and_then(Option::take).ok_or_else(|| missing(p, "tx", q))
    }
}

fn missing(p: usize, dir: &str, q: usize) -> AppError {
    AppError::Runtime(format!("port {p}: no {dir} queue {q} (the driver handed out none, or the port is stopped)"))
}

/// Builds every stream: (rx port p, queue q) -> (peer(p), q).
pub(crate) fn build_streams(
    args: &Args,
    set: &PortSet,
    table: &mut QueueTable,
    layout: &Layout,
    mut taps: Option<&mut CaptureTaps>,
) -> Result<Vec<Stream>, AppError> {
    let n = set.len();
    let mut streams = Vec::with_capacity(layout.nstreams);
    for p in 0..n {
        for q in 0..layout.per_port {
            let tap = taps.as_deref_mut().map(|t| t.remove(&(p, q)).unwrap_or_default());
            streams.push(build_stream(args, set, table, (p, q), tap, (streams.len(), layout.nstreams))?);
        }
    }
    Ok(streams)
}

/// Stream number `idx` of `nstreams`, receiving on port `p` queue `q`,
/// with its capture taps.
fn build_stream(
    args: &Args,
    set: &PortSet,
    table: &mut QueueTable,
    (p, q): (usize, usize),
    tap: Option<crate::capture::StreamTaps>,
    (idx, nstreams): (usize, usize),
) -> Result<Stream, AppError> {
    let mode = args.forward_mode;
    let peer = args.port_topology.peer(p, set.len());
    let id = StreamId { rx_port: p as u16, rx_queue: q as u16, tx_port: peer as u16, tx_queue: q as u16 };
    let rx: Box<dyn RxQueue> = if mode.receives() { table.take_rx(p, q)? } else { Box::new(NoQueue) };
    let tx: Box<dyn TxQueue> = if transmits(args) { table.take_tx(peer, q)? } else { Box::new(NoQueue) };
    let txgen = txgen_for(args, set, p, peer, nstreams);
    let engine = engine_for(args, set, peer, &txgen, idx, nstreams);
    let mut stream = Stream::new(id, rx, tx, args.burst, engine).map_err(AppError::Usage)?;
    // Before --tx-first, so that its frames are captured too.
    if let Some(t) = tap {
        stream.set_capture(t);
    }
    if let Some(v) = args.tx_vlan.iter().find(|v| v.port == peer) {
        let offload = set.confs[peer].tx_offloads.contains(TxOffloads::VLAN_INSERT);
        stream.set_tx_vlan(TxVlan { tci: v.id, offload });
    }
    if args.tx_first > 0 && !mode.generates() {
        stream.tx_first(&txgen, args.tx_first).map_err(AppError::Usage)?;
    }
    Ok(stream)
}

/// The frames a stream from port `p` generates towards `peer`.
pub(crate) fn txgen_for(args: &Args, set: &PortSet, p: usize, peer: usize, nstreams: usize) -> TxGenConfig {
    let mode = args.forward_mode;
    TxGenConfig {
        pool: set.pools[peer].clone(),
        spec: FrameSpec {
            len: args.txpkts.total(),
            src_mac: set.macs[peer].0,
            dst_mac: set.peer_mac[peer].0,
            src_ip: [198, 18, p as u8, 1],
            dst_ip: [198, 19, peer as u8, 1],
            src_port: 1024,
            dst_port: 1024,
            sender: 0,
        },
        // --tx-first frames vary their flow too when RSS spreads them, so
        // every queue gets some.
        flows: if mode == ForwardMode::FlowGen || (args.tx_first > 0 && rss_types(args).is_some()) {
            args.flowgen_flows.min(65535) as u32
        } else {
            1
        },
        rate_pps: args.tx_rate.map(|r| r as f64 / nstreams as f64),
        count: None,
        segments: args.txpkts.segments().to_vec(),
    }
}

/// The engine of stream number `idx`, transmitting on `peer`.
fn engine_for(args: &Args, set: &PortSet, peer: usize, txgen: &TxGenConfig, idx: usize, n: usize) -> EngineConfig {
    let (mac, peer_mac) = (set.macs[peer], set.peer_mac[peer]);
    match args.forward_mode {
        ForwardMode::Io => EngineConfig::Io,
        ForwardMode::Mac => EngineConfig::Mac { src: mac, dst: peer_mac },
        ForwardMode::Csum => EngineConfig::Csum(CsumConfig {
            src: mac.0,
            dst: peer_mac.0,
            tx_offloads: set.confs[peer].tx_offloads,
            tso_segsz: args.tso_segsz.unwrap_or(0),
        }),
        ForwardMode::IcmpEcho => EngineConfig::IcmpEcho { port_mac: mac },
        ForwardMode::FiveTupleSwap => EngineConfig::FiveTupleSwap,
        ForwardMode::MacSwap => EngineConfig::MacSwap,
        ForwardMode::RxOnly => EngineConfig::RxOnly,
        ForwardMode::TxOnly | ForwardMode::FlowGen => {
            // --tx-count shared out, the first streams taking the remainder.
            let count = args.tx_count.map(|c| c / n as u64 + u64::from((idx as u64) < c % n as u64));
            EngineConfig::TxGen(TxGenConfig { count, ..txgen.clone() })
        }
    }
}

/// `--pcap-rx` / `--pcap-tx` for these ports, frames kept whole up to the
/// largest any of them may carry.
pub(crate) fn capture_for(
    args: &Args,
    set: &PortSet,
    per_port: usize,
) -> Result<Option<(crate::capture::Capture, CaptureTaps)>, AppError> {
    let n = set.len();
    let largest_frame = set.ports.iter().map(|p| ferrite_pmd::ether::max_frame_len(p.mtu())).max().unwrap_or(0);
    start_capture(args, largest_frame, n, per_port, |p| args.port_topology.peer(p, n))
}
