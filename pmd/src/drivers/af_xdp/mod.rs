//! `af_xdp`: a port over Linux AF_XDP sockets, so ferrite runs on any
//! Linux interface while its kernel driver keeps the device (DPDK's
//! `net_af_xdp`).
//!
//! `--vdev af_xdp0,iface=NAME[,start_queue=N][,queue_count=N]` takes the
//! interface's receive queues `start_queue..start_queue+queue_count`, one
//! socket per queue (receive queue q and transmit queue q of the port
//! share socket q). The kernel's RSS spreads frames over those queues;
//! `queue_count` beyond what the interface has now is asked of its driver
//! with `ethtool -L` (`ETHTOOL_SCHANNELS`), and the count found is put
//! back when the port stops (a SIGKILLed run leaves them raised).
//!
//! One concept per file:
//! * `args.rs` the device arguments; `iface.rs` the interface (index,
//!   flags, carrier, MTU, MAC, driver, channels);
//! * `sys.rs` the kernel ABI `libc` lacks; `bpf.rs` `bpf(2)` (XSKMAP,
//!   program load, `bpf_link`); `prog.rs` the steering program and why it
//!   is assembled in Rust (libxdp/libbpf bindings and aya weighed there);
//! * `umem.rs` the mempool's DMA region as UMEM (unaligned chunks: an
//!   mbuf's buffer is a chunk, so frames are mbufs where they land);
//!   `ring.rs` the four shared rings as typed producer/consumer rings;
//!   `socket.rs` one socket: rings, UMEM registration or sharing, bind
//!   (zero-copy when the driver has it, else copy mode);
//! * `session.rs` what a queue's halves and the port share, and the
//!   reclaim of every mbuf the kernel still held at close;
//! * `rx_mode.rs` promiscuous/all-multicast, held by a packet socket's
//!   memberships so the kernel gives them back even after SIGKILL;
//! * `rx.rs`/`tx.rs` the queues; `link.rs` carrier from netlink events.
//!
//! The program is attached through a `bpf_link`: the kernel detaches it
//! when the link's last descriptor closes, so a run killed with SIGKILL
//! leaves nothing on the interface and the next start just works. An
//! interface that already has a program (someone else's, or one attached
//! with `ip link`) is refused with what to run. Native (driver) XDP is
//! tried first, generic (skb) XDP when the driver has none; drvinfo says
//! which, and whether the sockets bound zero-copy or copy mode.

mod args;
mod bpf;
mod channel_record;
mod iface;
mod link;
mod prog;
mod ring;
mod rx;
mod rx_mode;
mod session;
mod socket;
mod sys;
mod tx;
mod umem;

#[cfg(test)]
mod tests;

pub use args::{AfXdpArgs, XdpModeChoice};
pub use bpf::XdpMode;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bpf::{BpfError, Program, XdpLink, XskMap};
use iface::Iface;
use session::Session;
use socket::{RingSizes, XskError, XskSocket, XskStats};
use umem::UmemLayout;

use crate::drivers::watcher::Watcher;
use crate::mem::Mempool;
use crate::port::{
    per_queue_stat_rows, stat_names, Channels, Counter, DeviceCaps, DrvInfo, Duplex, EthtoolOps, LinkEvents,
    LinkNotifier, LinkStatus, MacAddr, NetDevice, PortConfig, PortError, PortStats, QueueCounters, QueueExtras, Queues,
    RingParams, RxMode, RxOffloads, RxQueue, TxOffloads, TxQueue,
};

/// Most queues one port takes.
const MAX_QUEUES: u16 = 64;

/// Link state shared by the port, its link thread and its transmit queues.
pub struct LinkShared {
    name: Arc<str>,
    notifier: LinkNotifier,
    carrier: AtomicBool,
    /// Longest frame transmit accepts: the interface's MTU plus header and
    /// two VLAN tags.
    frame_limit: AtomicU32,
}

impl LinkShared {
    fn status(&self, iface: &Iface, up: bool) -> LinkStatus {
        if !up {
            return LinkStatus::DOWN;
        }
        LinkStatus { up, speed_mbps: iface.speed_mbps(), duplex: Duplex::Full, autoneg: false }
    }
}

/// Driver counters of one transmit queue (single writer: its core).
#[derive(Default)]
pub struct TxExtra {
    copies: Counter,
    no_buffer_drops: Counter,
    link_down_drops: Counter,
    /// Times the TX ring filled (`tx_queue_N_restart`, see `TxStops`).
    restart: Counter,
}

/// What an open port's queues share with it.
pub struct PortShared {
    port_id: u16,
    rx: Vec<QueueCounters>,
    tx: Vec<QueueCounters>,
    txx: Vec<TxExtra>,
    link: Arc<LinkShared>,
}

impl PortShared {
    fn new(port_id: u16, queues: usize, link: Arc<LinkShared>) -> PortShared {
        PortShared {
            port_id,
            rx: (0..queues).map(|_| QueueCounters::default()).collect(),
            tx: (0..queues).map(|_| QueueCounters::default()).collect(),
            txx: (0..queues).map(|_| TxExtra::default()).collect(),
            link,
        }
    }
}

/// What exists only while the port is open. Field order is drop order:
/// the program comes off the interface first.
struct Running {
    _link: XdpLink,
    _prog: Program,
    _map: XskMap,
    sessions: Vec<Arc<Session>>,
    mode: XdpMode,
    zero_copy: bool,
}

/// An AF_XDP port on one kernel interface.
pub struct AfXdpPort {
    name: String,
    args: AfXdpArgs,
    iface: Iface,
    mac: MacAddr,
    link: Arc<LinkShared>,
    _watcher: Watcher,
    conf: PortConfig,
    pool: Option<Mempool>,
    shared: Arc<PortShared>,
    run: Option<Running>,
    /// Socket counters of earlier opens.
    xsk_base: XskStats,
    rx_mode: RxMode,
    /// Promiscuous/all-multicast as held on the interface (given back
    /// when dropped, by the kernel too if the process dies).
    rx_mode_hold: Option<rx_mode::RxModeHold>,
    /// The interface's channels before ferrite raised them, until they
    /// are put back (at stop, or at drop if a socket still held a queue).
    channels_found: Option<sys::ethtool_channels>,
    port_id: u16,
}

fn bpf_err(iface: &Iface, e: BpfError) -> PortError {
    let name = iface.name();
    match e {
        BpfError::Permission(_) => PortError::InvalidConfig(format!("{name}: {e}")),
        BpfError::Busy(_) => {
            let which = match iface.xdp_prog_id() {
                Some(id) => match bpf::program_name(id) {
                    Some(n) => format!("program {id} '{n}'"),
                    None => format!("program {id}"),
                },
                None => "an XDP program".to_string(),
            };
            PortError::Device(format!(
                "{name} already has {which} attached (someone else's, or one left by `ip link set dev {name} xdp \
                 ...`): ferrite cannot take its queues. If it is stale, remove it with `ip link set dev {name} xdp \
                 off` (or `xdpgeneric off`)"
            ))
        }
        _ => PortError::Device(format!("{name}: {e}")),
    }
}

fn xsk_err(iface: &Iface, queue: u32, e: XskError) -> PortError {
    match e {
        XskError::Permission => PortError::InvalidConfig(format!("{}: {e}", iface.name())),
        _ => PortError::Device(format!("{} queue {queue}: {e}", iface.name())),
    }
}

impl AfXdpPort {
    /// The port `name` over the interface `args` name. The interface must
    /// exist now; sockets and the program are made at `open`.
    pub fn open(name: &str, args: AfXdpArgs) -> Result<AfXdpPort, PortError> {
        let iface = Iface::lookup(&args.iface).map_err(|e| match e {
            PortError::InvalidConfig(s) => PortError::InvalidConfig(format!("{name}: {s}")),
            other => other,
        })?;
        socket::probe().map_err(|e| xsk_err(&iface, args.start_queue, e))?;
        let mac = iface.mac()?;
        let link = Arc::new(LinkShared {
            name: Arc::from(name),
            notifier: LinkNotifier::default(),
            carrier: AtomicBool::new(iface.has_carrier()),
            frame_limit: AtomicU32::new(crate::ether::max_frame_len(iface.mtu()? as u16) as u32),
        });
        let watcher = link::spawn(iface.clone(), Arc::clone(&link))
            .map_err(|e| PortError::Device(format!("{name}: cannot start the link thread: {e}")))?;
        let shared = Arc::new(PortShared::new(0, 1, Arc::clone(&link)));
        // Channels a killed run raised and could not put back: this run
        // puts them back when it stops.
        let channels_found = channel_record::take_over(&iface);
        if channels_found.is_some() {
            log::info!(
                "ferrite: {name}: {} has channels a killed run raised: they go back when this port stops",
                iface.name()
            );
        }
        Ok(AfXdpPort {
            name: name.to_string(),
            args,
            iface,
            mac,
            link,
            _watcher: watcher,
            conf: PortConfig::default(),
            pool: None,
            shared,
            run: None,
            xsk_base: XskStats::default(),
            rx_mode: RxMode::default(),
            rx_mode_hold: None,
            channels_found,
            port_id: 0,
        })
    }

    /// Sets the port id stamped into received mbufs (next open on).
    pub fn set_port_id(&mut self, id: u16) {
        self.port_id = id;
    }

    /// The XDP mode and whether the sockets are zero-copy, while open.
    pub fn bind_mode(&self) -> Option<(XdpMode, bool)> {
        self.run.as_ref().map(|r| (r.mode, r.zero_copy))
    }

    /// The socket counters, summed over queues and earlier opens.
    fn xsk_stats(&self) -> XskStats {
        let mut t = self.xsk_base;
        for s in self.run.iter().flat_map(|r| r.sessions.iter()) {
            t += &socket::stats(s.fd());
        }
        t
    }

    /// The queue count an open makes sockets for, checked against the
    /// device arguments.
    fn check_queue_counts(&self, conf: &PortConfig) -> Result<(), PortError> {
        let n = conf.rx_queues;
        if conf.tx_queues != n {
            return Err(PortError::InvalidConfig(format!(
                "{}: rx queues {} and tx queues {} differ: an AF_XDP socket is one queue pair, give --rxq {n} --txq {n}",
                self.name, conf.rx_queues, conf.tx_queues
            )));
        }
        if let Some(q) = self.args.queue_count.filter(|&q| q != u32::from(n)) {
            return Err(PortError::InvalidConfig(format!(
                "{}: queue_count={q} but {n} queue(s) configured: give --rxq {q} --txq {q}",
                self.name
            )));
        }
        Ok(())
    }

    /// Makes sure the interface has receive queues up to `need`, asking
    /// its driver for more when queue_count asked for them.
    fn ensure_queues(&mut self, need: u32) -> Result<(), PortError> {
        let have = self.iface.rx_queues();
        if have >= need {
            return Ok(());
        }
        let name = self.iface.name();
        if self.args.queue_count.is_some() {
            if self.channels_found.is_none() {
                self.channels_found = self.iface.channels();
                if let Some(found) = &self.channels_found {
                    channel_record::write(&self.iface, found);
                }
            }
            self.iface.set_queues(need)?;
            if self.iface.rx_queues() >= need {
                return Ok(());
            }
        }
        Err(PortError::InvalidConfig(format!(
            "{}: {name} has {have} receive queue(s) but queues {}..{need} were asked for: give a smaller \
             start_queue/queue_count, or more channels (`ethtool -L {name} combined {need}`, or for veth \
             `ip link add ... numrxqueues {need} numtxqueues {need}`)",
            self.name, self.args.start_queue
        )))
    }

    fn attach(&self, prog: &Program) -> Result<XdpLink, PortError> {
        let idx = self.iface.index();
        let native = || XdpLink::attach(prog, idx, XdpMode::Native);
        let generic = || XdpLink::attach(prog, idx, XdpMode::Generic);
        let r = match self.args.xdp_mode {
            XdpModeChoice::Native => native(),
            XdpModeChoice::Generic => generic(),
            XdpModeChoice::Auto => match native() {
                Err(e @ (BpfError::Unsupported(..) | BpfError::Other(..))) => {
                    // Said, since generic XDP is slower and the cause can
                    // often be fixed (veth: fewer rx queues than its peer
                    // has tx queues).
                    let hint = if self.iface.driver() == "veth" {
                        " (veth takes native XDP only with at least as many rx queues as its peer has tx \
                         queues: `ethtool -L PEER tx N`)"
                    } else {
                        ""
                    };
                    log::warn!(
                        "ferrite: warning: {}: native XDP on {} refused ({e}){hint}; using generic XDP",
                        self.name,
                        self.iface.name()
                    );
                    generic()
                }
                other => other,
            },
        };
        r.map_err(|e| bpf_err(&self.iface, e))
    }

    /// Sockets for queues `start..start + n`, each in the map.
    fn sockets(&self, layout: &UmemLayout, map: &XskMap) -> Result<Vec<XskSocket>, PortError> {
        let sizes = RingSizes {
            rx: u32::from(self.conf.rx_ring_size),
            fill: fill_size(&self.conf),
            tx: u32::from(self.conf.tx_ring_size),
            completion: u32::from(self.conf.tx_ring_size),
        };
        let mut out = Vec::with_capacity(self.conf.rx_queues as usize);
        for q in 0..u32::from(self.conf.rx_queues) {
            let queue = self.args.start_queue + q;
            let copy = self.args.force_copy || !layout.hugepage;
            let sock = XskSocket::open(self.iface.index(), queue, layout, sizes, copy)
                .map_err(|e| xsk_err(&self.iface, queue, e))?;
            map.set(queue, &*sock.fd).map_err(|e| bpf_err(&self.iface, e))?;
            out.push(sock);
        }
        Ok(out)
    }

    /// Checks what must hold before sockets are made: the port
    /// configured, the interface up, its MTU within the buffers.
    fn check_open(&self) -> Result<(Mempool, UmemLayout), PortError> {
        if self.run.is_some() {
            return Err(PortError::InvalidState(format!("{}: already open", self.name)));
        }
        let pool = self
            .pool
            .clone()
            .ok_or_else(|| PortError::InvalidState(format!("{}: configure the port before opening it", self.name)))?;
        let name = self.iface.name();
        if !self.iface.is_up()? {
            return Err(PortError::Device(format!(
                "{}: interface {name} is down: bring it up with `ip link set dev {name} up`",
                self.name
            )));
        }
        let layout = UmemLayout::of(&pool)?;
        let mtu = self.iface.mtu()?;
        let frame = crate::ether::max_frame_len(mtu.min(u32::from(u16::MAX)) as u16);
        if frame > layout.max_frame() {
            return Err(PortError::InvalidConfig(format!(
                "{}: {name}'s MTU {mtu} makes frames of up to {frame} B, more than the {} B an AF_XDP chunk of \
                 this pool holds: give --mbuf-size {} or more, or lower the MTU",
                self.name,
                layout.max_frame(),
                frame + sys::XDP_PACKET_HEADROOM - crate::mem::HEADROOM
            )));
        }
        Ok((pool, layout))
    }

    /// Puts the channels ferrite raised back to what it found, once every
    /// socket on the extra queues is closed (until then the kernel refuses:
    /// tried again at drop).
    fn restore_channels(&mut self) -> Result<(), PortError> {
        let Some(found) = self.channels_found else { return Ok(()) };
        // The kernel releases a closed socket's hold on its queue a moment
        // after the close (deferred work), and refuses to remove a queue
        // still held (EINVAL): measured on veth right after the sockets
        // closed. So retry for a while, as the bind does.
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            match self.iface.restore_channels(&found) {
                Ok(()) => break,
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        self.channels_found = None;
        channel_record::remove(&self.iface);
        Ok(())
    }
}

/// The fill ring holds twice the RX ring: the kernel can then keep the
/// RX ring full and still have buffers for what arrives while the core
/// catches up (with equal sizes a burst found the fill ring empty and the
/// kernel dropped it: measured as rx_fill_ring_empty_descs on veth).
fn fill_size(conf: &PortConfig) -> u32 {
    2 * u32::from(conf.rx_ring_size)
}

impl NetDevice for AfXdpPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn caps(&self) -> DeviceCaps {
        DeviceCaps {
            max_rx_queues: MAX_QUEUES,
            max_tx_queues: MAX_QUEUES,
            min_ring_size: 64,
            max_ring_size: 4096,
            ring_size_align: 1,
            ring_size_pow2: true,
            min_mtu: 68,
            max_mtu: 9000,
            rx_offload_capa: RxOffloads::empty(),
            tx_offload_capa: TxOffloads::empty(),
        }
    }

    fn configure(&mut self, conf: &PortConfig, pool: &Mempool) -> Result<(), PortError> {
        if self.run.is_some() {
            return Err(PortError::InvalidState(format!("{}: stop the port before configuring it", self.name)));
        }
        conf.check(&self.caps())?;
        self.check_queue_counts(conf)?;
        UmemLayout::of(pool)?;
        self.conf = conf.clone();
        self.pool = Some(pool.clone());
        Ok(())
    }

    fn open(&mut self) -> Result<Queues, PortError> {
        let (pool, layout) = self.check_open()?;
        let n = u32::from(self.conf.rx_queues);
        let need = self.args.start_queue + n;
        self.ensure_queues(need)?;
        let map = XskMap::create(self.iface.rx_queues().max(need)).map_err(|e| bpf_err(&self.iface, e))?;
        let socks = self.sockets(&layout, &map)?;
        let prog = Program::load_xdp(&prog::steering_program(std::os::fd::AsRawFd::as_raw_fd(map.fd())), "ferrite_xsk")
            .map_err(|e| bpf_err(&self.iface, e))?;
        let xdp = self.attach(&prog)?;
        let shared = Arc::new(PortShared::new(self.port_id, n as usize, Arc::clone(&self.link)));
        let zero_copy = socks.iter().all(|s| s.zero_copy);
        let mut queues = Queues::default();
        let mut sessions = Vec::with_capacity(socks.len());
        for (q, s) in socks.into_iter().enumerate() {
            let session = Arc::new(Session::new(Arc::clone(&s.fd), pool.clone(), s.zero_copy));
            let fill = fill_size(&self.conf);
            let (sh, ss) = (Arc::clone(&shared), Arc::clone(&session));
            queues
                .rx
                .push(Box::new(rx::AfXdpRx::new(s.rx, s.fill, fill, layout, sh, q as u16, ss)) as Box<dyn RxQueue>);
            let (sh, ss) = (Arc::clone(&shared), Arc::clone(&session));
            queues
                .tx
                .push(Box::new(tx::AfXdpTx::new(s.tx, s.completion, layout, sh, q as u16, ss)) as Box<dyn TxQueue>);
            sessions.push(session);
        }
        self.shared = shared;
        let mode = xdp.mode();
        self.run = Some(Running { _link: xdp, _prog: prog, _map: map, sessions, mode, zero_copy });
        self.link.refresh(&self.iface);
        Ok(queues)
    }

    fn stop(&mut self) -> Result<(), PortError> {
        let Some(run) = self.run.take() else { return Ok(()) };
        for s in &run.sessions {
            self.xsk_base += &socket::stats(s.fd());
            s.stopped.store(true, Ordering::Relaxed);
        }
        // Queue objects still alive keep their sockets on the queues, and
        // the kernel would refuse: then the channels go back at drop.
        let queues_gone = run.sessions.iter().all(|s| Arc::strong_count(s) == 1);
        drop(run);
        if queues_gone {
            let _ = self.restore_channels();
        }
        Ok(())
    }

    fn is_running(&self) -> bool {
        self.run.is_some()
    }

    fn set_rx_mode(&mut self, mode: RxMode) -> Result<(), PortError> {
        // The new hold is taken before the old one goes, so a change keeps
        // the interface in what both ask for meanwhile.
        let hold = rx_mode::RxModeHold::take(self.iface.index(), mode).map_err(|e| {
            PortError::Device(format!("{}: setting promiscuous/all-multicast mode: {e}", self.iface.name()))
        })?;
        self.rx_mode_hold = Some(hold);
        self.rx_mode = mode;
        Ok(())
    }

    fn rx_mode(&self) -> RxMode {
        self.rx_mode
    }

    fn mac_address(&self) -> MacAddr {
        self.mac
    }

    fn mtu(&self) -> u16 {
        self.iface.mtu().map_or(1500, |m| m.min(u32::from(u16::MAX)) as u16)
    }

    fn change_mtu(&mut self, mtu: u16) -> Result<(), PortError> {
        self.iface.set_mtu(u32::from(mtu))?;
        self.link.refresh(&self.iface);
        Ok(())
    }

    fn stats64(&self) -> PortStats {
        PortStats {
            rx_queues: self.shared.rx.iter().map(QueueCounters::snapshot).collect(),
            tx_queues: self.shared.tx.iter().map(QueueCounters::snapshot).collect(),
            rx_missed: {
                let x = self.xsk_stats();
                x.rx_dropped + x.rx_ring_full
            },
        }
    }

    fn reset_stats(&mut self) -> Result<(), PortError> {
        for c in self.shared.rx.iter().chain(self.shared.tx.iter()) {
            c.reset();
        }
        for x in &self.shared.txx {
            x.copies.reset();
            x.no_buffer_drops.reset();
            x.link_down_drops.reset();
            x.restart.reset();
        }
        Ok(())
    }

    fn link_status(&self) -> LinkStatus {
        self.link.status(&self.iface, self.link.carrier.load(Ordering::Acquire))
    }

    fn link_events(&self) -> LinkEvents {
        self.link.notifier.subscribe()
    }

    fn link_update(&self, wait_to_complete: bool) -> LinkStatus {
        let deadline = Instant::now() + Duration::from_secs(9);
        loop {
            self.link.refresh(&self.iface);
            let s = self.link_status();
            if s.up || !wait_to_complete || Instant::now() >= deadline {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl AfXdpPort {
    fn stat_rows(&self) -> Vec<(String, u64)> {
        let restart = self.shared.txx.iter().map(|x| x.restart.get()).collect();
        let extras = QueueExtras { tx_restart: Some(restart), ..QueueExtras::default() };
        let mut rows = per_queue_stat_rows(&self.stats64(), &extras);
        let x = self.xsk_stats();
        rows.extend([
            (stat_names::RX_DROPPED.to_string(), x.rx_dropped),
            ("rx_invalid_descs".to_string(), x.rx_invalid_descs),
            ("tx_invalid_descs".to_string(), x.tx_invalid_descs),
            ("rx_ring_full".to_string(), x.rx_ring_full),
            ("rx_fill_ring_empty_descs".to_string(), x.rx_fill_ring_empty_descs),
            ("tx_ring_empty_descs".to_string(), x.tx_ring_empty_descs),
        ]);
        let sum = |f: fn(&TxExtra) -> &Counter| self.shared.txx.iter().map(|x| f(x).get()).sum::<u64>();
        rows.push(("tx_copied".to_string(), sum(|x| &x.copies)));
        rows.push(("tx_no_buffer_drops".to_string(), sum(|x| &x.no_buffer_drops)));
        rows.push((stat_names::TX_LINK_DOWN_DROPS.to_string(), sum(|x| &x.link_down_drops)));
        rows.push((stat_names::TX_RESTART_QUEUE.to_string(), sum(|x| &x.restart)));
        rows
    }
}

impl EthtoolOps for AfXdpPort {
    fn drvinfo(&self) -> DrvInfo {
        let kernel = self.iface.driver();
        let mode = match self.bind_mode() {
            Some((xdp, zc)) => format!("{} mode, {} XDP", if zc { "zero-copy" } else { "copy" }, xdp.name()),
            None => "not open".to_string(),
        };
        let (start, n) = (self.args.start_queue, u32::from(self.conf.rx_queues));
        DrvInfo {
            driver: "af_xdp".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            fw_version: mode,
            bus_info: format!("{} ({kernel}) queues {start}..{}", self.iface.name(), start + n),
        }
    }

    fn ringparam(&self) -> RingParams {
        RingParams { rx_max: 4096, tx_max: 4096, rx: self.conf.rx_ring_size, tx: self.conf.tx_ring_size }
    }

    fn channels(&self) -> Channels {
        let max = self.iface.rx_queues().saturating_sub(self.args.start_queue).clamp(1, u32::from(MAX_QUEUES)) as u16;
        Channels { max_rx: max, max_tx: max, rx: self.conf.rx_queues, tx: self.conf.tx_queues }
    }

    fn stat_names(&self) -> Vec<String> {
        self.stat_rows().into_iter().map(|(n, _)| n).collect()
    }

    fn stat_values(&self) -> Vec<u64> {
        self.stat_rows().into_iter().map(|(_, v)| v).collect()
    }

    fn named_stats(&self) -> Vec<(String, u64)> {
        self.stat_rows()
    }
}

impl Drop for AfXdpPort {
    fn drop(&mut self) {
        let _ = self.stop();
        if let Err(e) = self.restore_channels() {
            log::warn!("ferrite: warning: {}: {e}", self.name);
        }
    }
}
