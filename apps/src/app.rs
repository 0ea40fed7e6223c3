//! `testpmd` itself: validates the arguments, opens and configures the ports
//! with one mempool each, builds the streams, runs the forwarding cores,
//! prints rates, stops cleanly and reports.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrite_hugepages::{DmaOptions, Fallback, IovaMode, PageSize};
use ferrite_pmd::port::{DeviceCaps, MacAddr, PortError, RxMode, RxOffloads, TxOffloads};
use ferrite_pmd::{lcore, Mempool, MempoolConfig, NetDevice, PortConfig, Queues, RxQueue, TxQueue, MAX_BURST};
use ferrite_vfio::EventFd;

use crate::cli::{Args, Topology};
use crate::event::Epoll;
use crate::fwd::csum::CsumConfig;
use crate::fwd::pkt::FrameSpec;
use crate::fwd::vlan::TxVlan;
use crate::fwd::{self, EngineConfig, ForwardMode, NoQueue, Stream, StreamId, TxGenConfig};
use crate::report::{CoreSleep, PoolReport, PortReport, Report, StreamReport};
use crate::signal;

/// Why a run failed, and so the exit code (3, accounting, is not an error
/// here: the run completed and its report says what did not add up).
#[derive(Debug)]
pub enum AppError {
    /// Bad input (exit 2): the command line asks for something impossible.
    Usage(String),
    /// The host failed us (exit 1): no hugepages, thread spawn, ...
    Runtime(String),
    /// A device failed (exit 4): a PCI port could not be opened (missing,
    /// not bound to vfio-pci, busy) or did not behave (a reset that never
    /// completes, an error from the hardware). Retrying the same command
    /// line may work once the device is sorted out, unlike exit 2.
    Device(String),
}

impl AppError {
    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Usage(_) => 2,
            AppError::Runtime(_) => 1,
            AppError::Device(_) => 4,
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Usage(s) | AppError::Runtime(s) | AppError::Device(s) => f.write_str(s),
        }
    }
}

fn usage<T>(s: impl Into<String>) -> Result<T, AppError> {
    Err(AppError::Usage(s.into()))
}

/// A port error as exit 2 (the user asked for something the port refuses),
/// 4 (the device failed or could not be had) or 1 (the host failed).
fn port_err(what: String, e: PortError) -> AppError {
    match e {
        PortError::InvalidConfig(_) | PortError::NotSupported(_) | PortError::InvalidState(_) => {
            AppError::Usage(format!("{what}: {e}"))
        }
        PortError::NoMemory(_) => AppError::Runtime(format!("{what}: {e}")),
        // Device and Timeout, and whatever a driver may report later.
        _ => AppError::Device(format!("{what}: {e}")),
    }
}

/// Where progress goes: stdout, or stderr when stdout carries JSON.
struct Console {
    json: bool,
}

impl Console {
    fn say(&self, s: &str) {
        if self.json {
            let _ = writeln!(std::io::stderr(), "{s}");
        } else {
            let _ = writeln!(std::io::stdout(), "{s}");
        }
    }

    fn warn(&self, s: &str) {
        let _ = writeln!(std::io::stderr(), "testpmd: warning: {s}");
    }
}

fn cpu_list(cpus: &[usize]) -> String {
    cpus.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",")
}

/// The checked plan of a run.
struct Plan {
    main_cpu: Option<usize>,
    fwd_cpus: Vec<usize>,
}

fn plan_lcores(args: &Args) -> Result<Plan, AppError> {
    let allowed = lcore::allowed_cpus();
    let (lcores, explicit) = match &args.lcores {
        Some(l) => (l.0.clone(), true),
        None => (allowed.clone(), false),
    };
    if lcores.is_empty() {
        return usage("-l: empty lcore list (want e.g. -l 0-1)");
    }
    if let Some(bad) = lcores.iter().find(|c| !allowed.contains(c)) {
        return usage(format!(
            "lcore {bad} is not available: this process may run on CPUs {} (-l takes a subset of them)",
            cpu_list(&allowed)
        ));
    }
    let (main_cpu, fwd_cpus) = if let Some(main) = args.main_lcore {
        if !lcores.contains(&main) {
            return usage(format!("--main-lcore {main} is not in the lcore list {}", cpu_list(&lcores)));
        }
        let rest: Vec<usize> = lcores.iter().copied().filter(|&c| c != main).collect();
        if rest.is_empty() {
            return usage(format!(
                "--main-lcore {main} leaves no forwarding core in -l {}: give at least two lcores",
                cpu_list(&lcores)
            ));
        }
        (Some(main), rest)
    } else if lcores.len() >= 2 {
        (Some(lcores[0]), lcores[1..].to_vec())
    } else if explicit {
        return usage(format!(
            "-l {} leaves no forwarding core: the first lcore runs the main thread, give at least two (e.g. -l 0-1)",
            cpu_list(&lcores)
        ));
    } else {
        // One CPU in all: share it, unpinned main thread.
        (None, lcores.clone())
    };
    if args.nb_cores == 0 {
        return usage("--nb-cores 0: want at least 1 forwarding core");
    }
    // As many forwarding cores as lcores (e.g. -l 0,1 --nb-cores 2 on a
    // two-CPU machine): every lcore forwards and the main thread runs
    // unpinned, sharing a CPU with a forwarding core (it mostly sleeps).
    if args.main_lcore.is_none() && lcores.len() >= 2 && args.nb_cores == lcores.len() {
        return Ok(Plan { main_cpu: None, fwd_cpus: lcores });
    }
    if args.nb_cores > fwd_cpus.len() {
        return usage(format!(
            "--nb-cores {} is more than the {} forwarding lcore(s) in -l {} (the first lcore is the main thread); \
             use --nb-cores {} or give more lcores",
            args.nb_cores,
            fwd_cpus.len(),
            cpu_list(&lcores),
            fwd_cpus.len()
        ));
    }
    Ok(Plan { main_cpu, fwd_cpus: fwd_cpus[..args.nb_cores].to_vec() })
}

fn check_args(args: &Args) -> Result<(), AppError> {
    let mode = args.forward_mode;
    if args.vdev.is_empty() && args.allow.is_empty() {
        return usage(
            "no ports: give --vdev NAME (loopN, pairN, nullN, or af_xdpN,iface=IF for a kernel interface) or -a \
             PCI_ADDRESS",
        );
    }
    if let Some(v) = args.vdev.iter().find(|v| v.trim().is_empty()) {
        return usage(format!("--vdev '{v}': empty port name (want loopN, pairN, nullN or af_xdpN,iface=IF)"));
    }
    // The stream of rx queue i transmits on tx queue i: forwarded frames,
    // and in rxonly mode those of --tx-first.
    let pairs_queues = mode.forwards() || (mode == ForwardMode::RxOnly && args.tx_first > 0);
    if pairs_queues && args.txq < args.rxq {
        let how = if mode == ForwardMode::RxOnly { "with --tx-first" } else { "forwards" };
        return usage(format!(
            "--txq {} is less than --rxq {}: in {} mode rx queue i's stream {how} to tx queue i, so give --txq {}",
            args.txq, args.rxq, mode, args.rxq
        ));
    }
    if sends_generated(args) {
        if let Some(&big) = args.txpkts.segments().iter().find(|&&l| l > args.mbuf_size) {
            return usage(format!(
                "--txpkts {}: a {big} B segment does not fit in --mbuf-size {}: raise --mbuf-size to at least \
                 {big}, or split the frame into segments that fit (--txpkts {})",
                args.txpkts,
                args.mbuf_size,
                split_into(args.txpkts.total(), args.mbuf_size)
            ));
        }
    }
    Ok(())
}

/// Whether streams transmit: every mode but rxonly, and rxonly too when
/// `--tx-first` primes the ports (as dpdk-testpmd's `start tx_first`).
fn transmits(args: &Args) -> bool {
    args.forward_mode.transmits() || args.tx_first > 0
}

/// Whether generated frames are sent: by txonly/flowgen, or by `--tx-first`.
fn sends_generated(args: &Args) -> bool {
    args.forward_mode.generates() || args.tx_first > 0
}

/// `total` bytes as `--txpkts` segments of at most `room` bytes each.
fn split_into(total: usize, room: usize) -> String {
    let room = room.max(1);
    let full = std::iter::repeat_n(room.to_string(), total / room);
    let rest = (!total.is_multiple_of(room)).then(|| (total % room).to_string());
    full.chain(rest).collect::<Vec<_>>().join(",")
}

/// One port's configuration: queues and rings as asked, the offloads of
/// `--rx-offloads`/`--tx-offloads`, and `multi_segs` wherever frames sent
/// may be chains: refused on a port without it when `--txpkts` makes them,
/// asked for where the port has it when `scatter` may receive them for
/// forwarding; and what the VLAN and TSO flags ask of port `port`
/// ([`vlan_offloads`]).
fn port_config(con: &Console, args: &Args, port: usize, caps: &DeviceCaps, what: &str) -> Result<PortConfig, AppError> {
    let mut conf = PortConfig {
        rx_queues: args.rxq,
        tx_queues: args.txq,
        rx_ring_size: args.rxd,
        tx_ring_size: args.txd,
        rx_offloads: args.rx_offloads,
        tx_offloads: args.tx_offloads,
    };
    let can_chain = caps.tx_offload_capa.contains(TxOffloads::MULTI_SEGS);
    let mode = args.forward_mode;
    if sends_generated(args) && args.txpkts.is_multi_seg() {
        if !can_chain {
            return usage(format!(
                "{what}: --txpkts {} sends {}-segment frames, which needs the multi_segs tx offload; the port \
                 offers: {} (give one --txpkts length that fits --mbuf-size)",
                args.txpkts,
                args.txpkts.segments().len(),
                caps.tx_offload_capa
            ));
        }
        conf.tx_offloads |= TxOffloads::MULTI_SEGS;
    } else if args.rx_offloads.contains(RxOffloads::SCATTER) && mode.transmits() && !mode.generates() {
        if can_chain {
            conf.tx_offloads |= TxOffloads::MULTI_SEGS;
        } else {
            con.warn(&format!(
                "{what}: --rx-offloads scatter may deliver multi-segment frames to forward, but the port cannot \
                 send them (no multi_segs tx offload)"
            ));
        }
    }
    vlan_offloads(con, args, port, caps, what, &mut conf)?;
    Ok(conf)
}

/// The offloads the VLAN and TSO flags ask of port `port`, as
/// dpdk-testpmd's commands turn them on: `vlan_insert` for `--tx-vlan`
/// and `tcp_tso` for `--tso-segsz` where the port has them (software
/// tagging, or whole TCP frames, otherwise), `vlan_filter` for
/// `--vlan-filter`, which no software stands in for: refused without it.
fn vlan_offloads(
    con: &Console,
    args: &Args,
    port: usize,
    caps: &DeviceCaps,
    what: &str,
    conf: &mut PortConfig,
) -> Result<(), AppError> {
    if args.tx_vlan.iter().any(|v| v.port == port) && caps.tx_offload_capa.contains(TxOffloads::VLAN_INSERT) {
        conf.tx_offloads |= TxOffloads::VLAN_INSERT;
    }
    if let Some(f) = args.vlan_filter.iter().find(|f| f.port == port) {
        if !caps.rx_offload_capa.contains(RxOffloads::VLAN_FILTER) {
            let ids: Vec<String> = f.ids.iter().map(u16::to_string).collect();
            return usage(format!(
                "{what}: --vlan-filter {port},{} needs the vlan_filter rx offload, which this port does not have \
                 (it offers: {}); drop --vlan-filter for it",
                ids.join(","),
                caps.rx_offload_capa
            ));
        }
        conf.rx_offloads |= RxOffloads::VLAN_FILTER;
    }
    if args.tso_segsz.is_some() && args.forward_mode == ForwardMode::Csum {
        if caps.tx_offload_capa.contains(TxOffloads::TCP_TSO) {
            conf.tx_offloads |= TxOffloads::TCP_TSO;
        } else {
            con.warn(&format!(
                "{what}: no tcp_tso tx offload: TCP frames longer than --tso-segsz leave whole, with their checksum \
                 (testpmd does not segment in software)"
            ));
        }
    }
    Ok(())
}

/// Refuses per-port flags naming a port that does not exist, or given
/// twice for one port where once is the rule.
fn check_port_flags(args: &Args, n: usize) -> Result<(), AppError> {
    let last = n - 1;
    let named = args
        .tx_vlan
        .iter()
        .map(|v| ("--tx-vlan", v.port))
        .chain(args.vlan_filter.iter().map(|v| ("--vlan-filter", v.port)))
        .chain(args.vlan_tpid.iter().map(|v| ("--vlan-tpid", v.port)))
        .chain(args.mc_addr.iter().map(|v| ("--mc-addr", v.port)))
        .chain(args.mac_addr_add.iter().map(|v| ("--mac-addr-add", v.port)));
    for (flag, port) in named {
        if port >= n {
            return usage(format!("{flag} names port {port}, but there are only {n} port(s) (0..={last})"));
        }
    }
    for (i, v) in args.tx_vlan.iter().enumerate() {
        if let Some(w) = args.tx_vlan[..i].iter().find(|w| w.port == v.port) {
            return usage(format!(
                "--tx-vlan {},{} and --tx-vlan {},{}: a port sends one tag; give --tx-vlan once per port",
                w.port, w.id, v.port, v.id
            ));
        }
    }
    if args.tso_segsz.is_some() && args.forward_mode != ForwardMode::Csum {
        return usage(format!(
            "--tso-segsz is for the csum forwarding engine, not {} (add --forward-mode csum)",
            args.forward_mode
        ));
    }
    Ok(())
}

/// The port's receive filters: `--vlan-tpid` EtherTypes, `--vlan-filter`
/// IDs, `--mac-addr-add` addresses and the `--mc-addr` multicast list
/// (after `configure`).
fn receive_filters(args: &Args, port: usize, dev: &mut dyn NetDevice, what: &str) -> Result<(), AppError> {
    for t in args.vlan_tpid.iter().filter(|t| t.port == port) {
        dev.vlan_tpid_set(t.which, t.tpid)
            .map_err(|e| port_err(format!("{what}: --vlan-tpid {port},{},{:#06x}", t.which, t.tpid), e))?;
    }
    for f in args.vlan_filter.iter().filter(|f| f.port == port) {
        for &id in &f.ids {
            dev.vlan_filter_set(id, true).map_err(|e| port_err(format!("{what}: --vlan-filter {port},{id}"), e))?;
        }
    }
    for a in args.mac_addr_add.iter().filter(|a| a.port == port) {
        dev.mac_addr_add(a.mac).map_err(|e| port_err(format!("{what}: --mac-addr-add {port},{}", a.mac), e))?;
    }
    let groups: Vec<MacAddr> = args.mc_addr.iter().filter(|a| a.port == port).map(|a| a.mac).collect();
    if !groups.is_empty() {
        dev.set_mc_addr_list(&groups).map_err(|e| port_err(format!("{what}: --mc-addr"), e))?;
    }
    Ok(())
}

/// Refuses an MTU whose largest frame (two VLAN tags and the CRC included,
/// as a NIC writes it) does not fit one mbuf, unless `scatter` lets the
/// port receive it as a chain (as DPDK's ethdev refuses it).
fn check_rx_buffers(args: &Args, what: &str, mtu: u16, rx_offloads: RxOffloads) -> Result<(), AppError> {
    let need = ferrite_pmd::ether::max_frame_len(mtu) + ferrite_pmd::ether::ETH_FCS_LEN;
    if need <= args.mbuf_size || rx_offloads.contains(RxOffloads::SCATTER) {
        return Ok(());
    }
    usage(format!(
        "{what}: MTU {mtu} frames take up to {need} B (with two VLAN tags and the CRC), more than one {} B mbuf \
         holds: give --mbuf-size {} or larger, or --rx-offloads scatter to receive them as mbuf chains",
        args.mbuf_size,
        need.next_multiple_of(1024)
    ))
}

/// The smallest IP and TCP headers a TSO segment carries (IPv4, no options).
const MIN_IP_TCP_HEADERS: u16 = 40;

/// Refuses a TSO segment size whose segments would not fit the port's MTU:
/// the NIC would send frames the peer must drop (the MTU is the largest
/// IP datagram, and each segment is `--tso-segsz` payload bytes plus at
/// least 40 bytes of IPv4 and TCP headers).
fn check_tso_segsz(args: &Args, what: &str, mtu: u16, tx_offloads: TxOffloads) -> Result<(), AppError> {
    let Some(segsz) = args.tso_segsz else { return Ok(()) };
    let most = mtu.saturating_sub(MIN_IP_TCP_HEADERS);
    if !tx_offloads.contains(TxOffloads::TCP_TSO) || segsz <= most {
        return Ok(());
    }
    usage(format!(
        "{what}: --tso-segsz {segsz} makes segments of {} B or more (with at least {MIN_IP_TCP_HEADERS} B of IPv4 and \
         TCP headers), over the port's MTU {mtu}: give --tso-segsz {most} or less, or a larger --mtu",
        u32::from(segsz) + u32::from(MIN_IP_TCP_HEADERS)
    ))
}

/// Destination and source MAC addresses: where a software tag goes after.
const MAC_HEADER: usize = 12;

/// A tag inserted in software goes after the MAC addresses, which must
/// then be in a generated frame's first segment (`--txpkts`' first length).
fn check_software_tag(args: &Args, port: usize, conf: &PortConfig, what: &str) -> Result<(), AppError> {
    let software = args.tx_vlan.iter().any(|v| v.port == port) && !conf.tx_offloads.contains(TxOffloads::VLAN_INSERT);
    let first = args.txpkts.segments().first().copied().unwrap_or(0);
    if software && sends_generated(args) && first < MAC_HEADER {
        return usage(format!(
            "{what}: --tx-vlan inserts the tag in software (no vlan_insert tx offload), after the MAC addresses, which \
             must be in the first segment: make the first --txpkts length at least {MAC_HEADER} (got --txpkts {})",
            args.txpkts
        ));
    }
    Ok(())
}

fn open_ports(args: &Args) -> Result<Vec<Box<dyn NetDevice>>, AppError> {
    check_distinct_pci(&args.allow)?;
    let mut ports = Vec::new();
    for addr in &args.allow {
        match ferrite_pmd::drivers::open_pci(addr, args.iova_mode) {
            Ok(p) => ports.push(p),
            Err(e) => return Err(port_err(format!("cannot open PCI port {addr}"), e)),
        }
    }
    if !args.vdev.is_empty() {
        // Port names (DPDK's net_ prefix accepted) with their key=value
        // device arguments after them (af_xdp0,iface=eth0).
        use ferrite_pmd::drivers::vdev;
        let specs = vdev::parse_vdev_tokens(&args.vdev).or_else(|e| usage(format!("--vdev: {e}")))?;
        let first = ports.len();
        match vdev::create_vdevs(&specs, first) {
            Ok(v) => ports.extend(v),
            Err(e) => return Err(port_err("--vdev".to_string(), e)),
        }
    }
    Ok(ports)
}

/// One driver per device: the same NIC given twice (perhaps written two
/// ways, `01:00.0` and `0000:01:00.0`) is bad input. (VFIO would refuse the
/// second open too, as a device error; this names the flags.)
fn check_distinct_pci(allow: &[String]) -> Result<(), AppError> {
    let mut seen: Vec<(String, &str)> = Vec::new();
    for given in allow {
        let Ok(addr) = ferrite_vfio::normalize_pci_addr(ferrite_pmd::drivers::pci_addr_of(given)) else { continue };
        if let Some((_, first)) = seen.iter().find(|(a, _)| *a == addr) {
            return usage(format!("-a {first} and -a {given} are the same device ({addr}): give each NIC once"));
        }
        seen.push((addr, given));
    }
    Ok(())
}

/// Buffers per port pool, as testpmd sizes them: every ring a buffer of this
/// pool can sit in (own rx rings, the peer's tx rings, and the wire between
/// for virtual cables), every core's cache at its flush threshold, and a
/// burst per stream in flight, plus slack.
fn pool_size(args: &Args, streams: usize, cores: usize) -> usize {
    let rings = 2 * (args.rxq as usize * args.rxd as usize + args.txq as usize * args.txd as usize);
    let caches = (cores + 1) * (args.mbcache * 3 / 2 + MAX_BURST);
    let bursts = 2 * streams * args.burst;
    (rings + caches + bursts + 1024).next_multiple_of(1024).clamp(4096, 1 << 24)
}

/// Default peer address of port `p`, as testpmd's `02:00:00:00:00:0p`.
fn default_peer(p: usize) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, (p >> 8) as u8, p as u8])
}

struct Running {
    handles: Vec<std::thread::JoinHandle<fwd::CoreExit>>,
    stop: Arc<AtomicBool>,
    /// Rung after `stop` is set, to wake cores asleep on rx interrupts.
    stop_bell: Option<Arc<EventFd>>,
}

impl Running {
    /// Tells every forwarding core to stop, waking those asleep.
    fn stop(&self) {
        self.stop.store(true, Relaxed);
        if let Some(bell) = &self.stop_bell {
            let _ = bell.write(1);
        }
    }
}

/// Longest sleep of a forwarding core waiting for rx interrupts when the
/// stop bell can wake it: only a safety net against an interrupt the device
/// lost, so one wake-up a second.
const CORE_RECHECK: Duration = Duration::from_secs(1);

/// The main thread's timer while it must poll: no eventfd to sleep on, or
/// waiting for `--tx-count` (the generating cores never sleep then, so
/// there is no idle CPU to save).
const MAIN_POLL: Duration = Duration::from_millis(20);

/// Runs testpmd with checked arguments; returns the final report.
pub fn run(args: &Args) -> Result<Report, AppError> {
    let con = Console { json: args.json };
    check_args(args)?;
    let plan = plan_lcores(args)?;
    let mode = args.forward_mode;
    if !mode.generates() && (args.tx_rate.is_some() || args.tx_count.is_some()) {
        con.warn(&format!("--tx-rate and --tx-count only apply to txonly and flowgen, not {mode}; ignored"));
    }

    // Declared before the ports so that, on every path out of here, ports
    // are stopped (their drop quiets the device) before the pools they
    // received into go: locals drop in reverse order, and the normal path
    // stops the ports explicitly first too.
    let mut pools: Vec<Mempool> = Vec::new();
    let mut ports = open_ports(args)?;
    let n = ports.len();
    if args.port_topology == Topology::Paired && n % 2 == 1 {
        let names: Vec<&str> = ports.iter().map(|p| p.name()).collect();
        return usage(format!(
            "port topology paired needs an even number of ports, got {n} ({}): add a port or use \
             --port-topology chained or loop",
            names.join(", ")
        ));
    }
    if let Some(p) = args.eth_peer.iter().find(|p| p.port >= n) {
        return usage(format!("--eth-peer {},{}: there are only {n} port(s) (0..={})", p.port, p.mac, n - 1));
    }
    check_port_flags(args, n)?;

    let per_port = if mode.generates() { args.txq } else { args.rxq } as usize;
    let nstreams = n * per_port;
    let cores = plan.fwd_cpus.len().min(nstreams);
    if cores < plan.fwd_cpus.len() {
        con.warn(&format!("only {nstreams} stream(s) for {} forwarding cores: using {cores}", plan.fwd_cpus.len()));
    }

    // Queue counts, ring sizes and offloads against each driver's limits,
    // and the MTU against the buffers, before any memory is reserved.
    let mut confs = Vec::with_capacity(n);
    for (i, port) in ports.iter().enumerate() {
        let what = format!("port {i} ({})", port.name());
        let caps = port.caps();
        let conf = port_config(&con, args, i, &caps, &what)?;
        check_software_tag(args, i, &conf, &what)?;
        conf.check(&caps).map_err(|e| port_err(what.clone(), e))?;
        let mtu = args.mtu.unwrap_or(port.mtu());
        check_rx_buffers(args, &what, mtu, conf.rx_offloads)?;
        check_tso_segsz(args, &what, mtu, conf.tx_offloads)?;
        confs.push(conf);
    }

    // Pools: hardware ports need memory their IOMMU maps, on huge pages.
    let mapper = ports.iter().find_map(|p| p.dma_mapper());
    let hardware = !args.allow.is_empty();
    let capacity = args.total_num_mbufs.unwrap_or_else(|| pool_size(args, nstreams, cores));
    pools.reserve(n);
    // --shared-pool: one pool for every port, n times the size.
    let (capacity, pools_made) = if args.shared_pool { ((capacity * n).min(1 << 24), 1) } else { (capacity, n) };
    for (i, port) in ports.iter().enumerate().take(pools_made) {
        let cfg = MempoolConfig {
            name: format!("mb_pool_{i}"),
            capacity,
            data_room: args.mbuf_size,
            cache_size: args.mbcache,
            dma: DmaOptions {
                page_size: PageSize::Huge2M,
                iova_mode: if hardware { args.iova_mode } else { IovaMode::Va },
                fallback: if hardware { Fallback::Refuse } else { Fallback::SmallPages },
                mapper: mapper.clone(),
            },
        };
        let pool = Mempool::new(&cfg).map_err(|e| port_err(format!("port {i} ({}): mempool", port.name()), e))?;
        pools.push(pool);
    }
    while pools.len() < n {
        pools.push(pools[0].clone());
    }

    // Configure and open.
    let mut queues: Vec<Queues> = Vec::with_capacity(n);
    let mut link_events = Vec::with_capacity(n);
    for (i, port) in ports.iter_mut().enumerate() {
        let what = format!("port {i} ({})", port.name());
        port.configure(&confs[i], &pools[i]).map_err(|e| port_err(what.clone(), e))?;
        if let Some(mtu) = args.mtu {
            port.change_mtu(mtu).map_err(|e| port_err(format!("{what}: cannot set MTU {mtu}"), e))?;
        }
        receive_filters(args, i, port.as_mut(), &what)?;
        let frame = args.txpkts.total();
        if sends_generated(args) && frame > port.mtu() as usize + 14 {
            return usage(format!(
                "--txpkts {} ({frame} B) is longer than {what} accepts (MTU {} + 14 B header); give --mtu {} or a \
                 smaller --txpkts",
                args.txpkts,
                port.mtu(),
                frame - 14
            ));
        }
        let all_multicast = args.all_multicast || port.rx_mode().all_multicast;
        let rx_mode = RxMode { promiscuous: !args.no_promisc, all_multicast };
        match port.set_rx_mode(rx_mode) {
            Ok(()) => {}
            Err(PortError::NotSupported(_)) if !args.no_promisc && !args.all_multicast => {}
            Err(e) => con.warn(&format!("{what}: cannot set promiscuous/all-multicast mode: {e}")),
        }
        napi_settings(&con, args, &what, port.as_mut())?;
        rss_settings(&con, args, &what, port.as_mut())?;
        link_events.push(port.link_events());
        let q = port.open().map_err(|e| port_err(format!("{what}: open"), e))?;
        queues.push(q);
    }
    let macs: Vec<MacAddr> = ports.iter().map(|p| p.mac_address()).collect();
    let mut peer_mac: Vec<MacAddr> = (0..n).map(default_peer).collect();
    for p in &args.eth_peer {
        peer_mac[p.port] = p.mac;
    }

    // Streams: (rx port p, queue q) -> (peer(p), q).
    let mut rxq: Vec<Vec<Option<Box<dyn RxQueue>>>> = Vec::with_capacity(n);
    let mut txq: Vec<Vec<Option<Box<dyn TxQueue>>>> = Vec::with_capacity(n);
    for q in queues {
        rxq.push(q.rx.into_iter().map(Some).collect());
        txq.push(q.tx.into_iter().map(Some).collect());
    }
    let rate = args.tx_rate.map(|r| r as f64 / nstreams as f64);
    let largest_frame = ports.iter().map(|p| ferrite_pmd::ether::max_frame_len(p.mtu())).max().unwrap_or(0);
    let mut capture = start_capture(args, largest_frame, n, per_port, |p| args.port_topology.peer(p, n))?;
    let mut streams = Vec::with_capacity(nstreams);
    #[allow(clippy::needless_range_loop)] // p indexes several tables
    for p in 0..n {
        let peer = args.port_topology.peer(p, n);
        for q in 0..per_port {
            let id = StreamId { rx_port: p as u16, rx_queue: q as u16, tx_port: peer as u16, tx_queue: q as u16 };
            let missing = |dir: &str| AppError::Runtime(format!("port {p}: driver handed out no {dir} queue {q}"));
            let rx: Box<dyn RxQueue> = if mode.receives() {
                rxq[p].get_mut(q).and_then(Option::take).ok_or_else(|| missing("rx"))?
            } else {
                Box::new(NoQueue)
            };
            let tx: Box<dyn TxQueue> = if transmits(args) {
                txq[peer].get_mut(q).and_then(Option::take).ok_or_else(|| missing("tx"))?
            } else {
                Box::new(NoQueue)
            };
            let txgen = TxGenConfig {
                pool: pools[peer].clone(),
                spec: FrameSpec {
                    len: args.txpkts.total(),
                    src_mac: macs[peer].0,
                    dst_mac: peer_mac[peer].0,
                    src_ip: [198, 18, p as u8, 1],
                    dst_ip: [198, 19, peer as u8, 1],
                    src_port: 1024,
                    dst_port: 1024,
                    sender: 0,
                },
                // --tx-first frames vary their flow too when RSS spreads
                // them, so every queue gets some.
                flows: if mode == ForwardMode::FlowGen || (args.tx_first > 0 && rss_types(args).is_some()) {
                    args.flowgen_flows.min(65535) as u32
                } else {
                    1
                },
                rate_pps: rate,
                count: None,
                segments: args.txpkts.segments().to_vec(),
            };
            let engine = match mode {
                ForwardMode::Io => EngineConfig::Io,
                ForwardMode::Mac => EngineConfig::Mac { src: macs[peer], dst: peer_mac[peer] },
                ForwardMode::Csum => EngineConfig::Csum(CsumConfig {
                    src: macs[peer].0,
                    dst: peer_mac[peer].0,
                    tx_offloads: confs[peer].tx_offloads,
                    tso_segsz: args.tso_segsz.unwrap_or(0),
                }),
                ForwardMode::IcmpEcho => EngineConfig::IcmpEcho { port_mac: macs[peer] },
                ForwardMode::FiveTupleSwap => EngineConfig::FiveTupleSwap,
                ForwardMode::MacSwap => EngineConfig::MacSwap,
                ForwardMode::RxOnly => EngineConfig::RxOnly,
                ForwardMode::TxOnly | ForwardMode::FlowGen => {
                    let idx = streams.len() as u64;
                    let count = args.tx_count.map(|c| c / nstreams as u64 + u64::from(idx < c % nstreams as u64));
                    EngineConfig::TxGen(TxGenConfig { count, ..txgen.clone() })
                }
            };
            let mut stream = Stream::new(id, rx, tx, args.burst, engine).map_err(AppError::Usage)?;
            if let Some((_, taps)) = &mut capture {
                stream.set_capture(taps.remove(&(p, q)).unwrap_or_default());
            }
            if let Some(v) = args.tx_vlan.iter().find(|v| v.port == peer) {
                let offload = confs[peer].tx_offloads.contains(TxOffloads::VLAN_INSERT);
                stream.set_tx_vlan(TxVlan { tci: v.id, offload });
            }
            if args.tx_first > 0 && !mode.generates() {
                stream.tx_first(&txgen, args.tx_first).map_err(AppError::Usage)?;
            }
            streams.push(stream);
        }
    }
    let counters: Vec<_> = streams.iter().map(|s| (s.id(), s.counters())).collect();
    let assignment = fwd::spread((0..nstreams).collect::<Vec<_>>(), cores);
    let mut core_of = vec![0usize; nstreams];
    for (c, ids) in assignment.iter().enumerate() {
        for &i in ids {
            core_of[i] = c;
        }
    }

    // Announce, as testpmd does.
    for (i, port) in ports.iter().enumerate() {
        con.say(&format!(
            "Port {i}: {} ({}) {} link {} mtu {} pool {} x {} B rx-offloads {} tx-offloads {}",
            port.name(),
            port.drvinfo().driver,
            macs[i],
            // As dpdk-testpmd's "Checking link statuses...": hardware
            // ports get up to 9 s to finish autonegotiation.
            port.link_update(true),
            port.mtu(),
            pools[i].capacity(),
            pools[i].data_room(),
            confs[i].rx_offloads,
            confs[i].tx_offloads
        ));
    }
    for (i, port) in ports.iter().enumerate() {
        // AF_XDP: which interface and queues, and how the kernel bound them.
        let info = port.drvinfo();
        if info.driver == "af_xdp" {
            con.say(&format!("Port {i}: {}: {}", info.bus_info, info.fw_version));
        }
    }
    for v in &args.tx_vlan {
        let by = if confs[v.port].tx_offloads.contains(TxOffloads::VLAN_INSERT) { "the NIC" } else { "software" };
        con.say(&format!("Port {}: every frame sent carries VLAN {} (inserted by {by})", v.port, v.id));
    }
    if let (Some(mss), ForwardMode::Csum) = (args.tso_segsz, mode) {
        con.say(&format!("TSO segment size {mss} for TCP frames on ports with tcp_tso"));
    }
    con.say(&format!(
        "{mode} packet forwarding - ports={n} - cores={cores} - streams={nstreams} - topology={} - burst={}",
        args.port_topology, args.burst
    ));
    for (c, ids) in assignment.iter().enumerate() {
        let list: Vec<String> = ids
            .iter()
            .map(|&i| {
                let id = counters[i].0;
                format!("RX P={}/Q={} -> TX P={}/Q={}", id.rx_port, id.rx_queue, id.tx_port, id.tx_queue)
            })
            .collect();
        con.say(&format!("Logical core {} (fwd core {c}) streams: {}", plan.fwd_cpus[c], list.join("; ")));
    }

    if let Some(cpu) = plan.main_cpu {
        if let Err(e) = lcore::pin_to_cpu(cpu) {
            con.warn(&format!("cannot pin the main thread to CPU {cpu}: {e}"));
        }
    }

    // Start the cores.
    let stop = Arc::new(AtomicBool::new(false));
    let mut per_core: Vec<Vec<Stream>> = (0..cores).map(|_| Vec::new()).collect();
    for (i, s) in streams.into_iter().enumerate() {
        per_core[core_of[i]].push(s);
    }
    let stop_bell = EventFd::new().ok().map(Arc::new);
    let mut running = Running { handles: Vec::with_capacity(cores), stop: Arc::clone(&stop), stop_bell };
    let started = Instant::now();
    for (c, ss) in per_core.into_iter().enumerate() {
        let mut wait = fwd::RxWait { mode: args.rx_mode, idle_polls: args.idle_polls, ..fwd::RxWait::default() };
        if running.stop_bell.is_some() {
            wait.max_sleep = CORE_RECHECK;
        }
        let bell = running.stop_bell.clone();
        match fwd::spawn_core_woken(c, Some(plan.fwd_cpus[c]), ss, pools.clone(), Arc::clone(&stop), wait, bell) {
            Ok(h) => running.handles.push(h),
            Err(e) => {
                running.stop();
                for h in running.handles.drain(..) {
                    let _ = h.join();
                }
                return Err(AppError::Runtime(format!("cannot start forwarding core {c}: {e}")));
            }
        }
    }

    // Main loop: rates, stop conditions, link events, telemetry. Between
    // rounds it sleeps until the next stats line or --duration's end, or
    // until a signal, a telemetry request or a link event wakes it.
    let deadline = args.duration.map(|d| started + Duration::from_secs_f64(d));
    let period = args.stats_period.map(Duration::from_secs_f64);
    let mut next_stats = period.map(|p| started + p);
    let mut last = (started, snapshot_ports(&ports));
    let telemetry = start_telemetry(&con, args);
    let tctx = crate::telemetry::Context { mode: mode.name(), cores, streams: &counters };
    let wake = MainWake::new(&link_events, telemetry.as_ref());
    let counting = mode.generates() && args.tx_count.is_some();
    loop {
        let now = Instant::now();
        if signal::requested() {
            con.say("Signal received, stopping forwarding...");
            break;
        }
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        if counting && counters.iter().all(|(_, c)| c.is_done()) {
            con.say("All frames sent (--tx-count reached), stopping forwarding...");
            break;
        }
        if let (Some(at), Some(p)) = (next_stats, period) {
            if now >= at {
                let cur = snapshot_ports(&ports);
                print_rates(&con, &ports, &last.1, &cur, now.duration_since(last.0).as_secs_f64());
                print_queue_rows(&con, &ports);
                last = (now, cur);
                next_stats = Some(at + p);
            }
        }
        log_link_events(&con, &link_events);
        if let Some(t) = &telemetry {
            t.serve(&ports, &tctx);
        }
        wake.sleep(nap(now, [deadline, next_stats], counting));
    }
    let duration = started.elapsed().as_secs_f64();
    drop(wake);
    drop(telemetry);
    running.stop();
    let mut exits = Vec::with_capacity(cores);
    let mut panicked = 0;
    for h in running.handles.drain(..) {
        match h.join() {
            Ok(e) => exits.push(e),
            Err(_) => panicked += 1,
        }
    }
    if panicked > 0 {
        return Err(AppError::Runtime(format!("{panicked} forwarding core(s) panicked")));
    }

    // Drain what is still queued, then give every queue back and stop.
    // A queue holds at most its ring plus a burst in flight; null ports make
    // frames up on every receive, so there is nothing queued to drain.
    let drain_max = 2 * args.rxd as usize + MAX_BURST;
    let makes_frames: Vec<bool> = ports.iter().map(|p| p.drvinfo().driver == "net_null").collect();
    let mut stream_reports = Vec::with_capacity(nstreams);
    let mut held: Vec<(Box<dyn RxQueue>, Box<dyn TxQueue>)> = Vec::new();
    let mut core_sleep = Vec::with_capacity(cores);
    for (c, exit) in exits.into_iter().enumerate() {
        core_sleep.push(CoreSleep {
            core: c,
            cpu: Some(plan.fwd_cpus[c]),
            rx_mode: args.rx_mode.name().to_string(),
            slept_s: exit.slept.as_secs_f64(),
            ran_s: exit.ran.as_secs_f64(),
        });
        for w in &exit.warnings {
            con.warn(w);
        }
        for mut s in exit.streams {
            s.drain(if makes_frames[s.id().rx_port as usize] { 0 } else { drain_max });
            stream_reports.push(StreamReport {
                id: s.id(),
                core: c,
                cpu: Some(plan.fwd_cpus[c]),
                stats: s.counters().snapshot(),
            });
            held.push(s.into_queues());
        }
    }
    if let Some((cap, _)) = capture {
        match cap.finish() {
            Ok(files) => {
                for f in files {
                    con.say(&format!(
                        "Capture: {} frames written to {} ({} not captured: ring full)",
                        f.written,
                        f.path.display(),
                        f.dropped
                    ));
                }
            }
            Err(e) => con.warn(&format!("capture: {e}")),
        }
    }
    drop(held);
    drop(rxq);
    drop(txq);
    for (i, port) in ports.iter_mut().enumerate() {
        if let Err(e) = port.stop() {
            con.warn(&format!("port {i} ({}): stop: {e}", port.name()));
        }
    }
    stream_reports.sort_by_key(|s| (s.id.rx_port, s.id.rx_queue));

    let mut port_reports = Vec::with_capacity(n);
    for (i, port) in ports.iter().enumerate() {
        let fwd_tx_drops =
            stream_reports.iter().filter(|s| s.id.tx_port as usize == i).map(|s| s.stats.fwd_drops).sum();
        port_reports.push(PortReport {
            id: i,
            name: port.name().to_string(),
            driver: port.drvinfo().driver,
            mac: macs[i].to_string(),
            stats: port.stats64(),
            fwd_tx_drops,
            xstats: if args.xstats { port.named_stats() } else { Vec::new() },
            rx_offloads: confs[i].rx_offloads,
            tx_offloads: confs[i].tx_offloads,
            mac_addrs: port.mac_addrs().iter().map(MacAddr::to_string).collect(),
            mc_addrs: port.mc_addr_list().iter().map(MacAddr::to_string).collect(),
            vlan_filters: port.vlan_filters(),
        });
    }
    let mempools = pools
        .iter()
        .enumerate()
        .filter(|(i, p)| !pools[..*i].iter().any(|q| q.same_pool(p)))
        .map(|(_, p)| p)
        .map(|p| PoolReport { name: p.name().to_string(), capacity: p.capacity(), available: p.available() })
        .collect();
    let mut report = Report {
        mode: mode.name().to_string(),
        topology: args.port_topology.name().to_string(),
        burst: args.burst,
        cores,
        duration_s: duration,
        ports: port_reports,
        streams: stream_reports,
        mempools,
        problems: Vec::new(),
        core_sleep,
    };
    report.check();
    drop(ports);
    Ok(report)
}

/// Interrupt throttle and tx watchdog settings, before a port opens.
/// Drivers without them (virtual ports have no throttle) are skipped.
fn napi_settings(con: &Console, args: &Args, what: &str, port: &mut dyn NetDevice) -> Result<(), AppError> {
    if let Some(usecs) = args.itr_usecs {
        match port.set_coalesce(&ferrite_pmd::port::Coalesce { rx_usecs: usecs }) {
            Ok(()) | Err(PortError::NotSupported(_)) => {}
            Err(e) => return Err(port_err(format!("{what}: --itr-usecs {usecs}"), e)),
        }
    }
    if let Some(ms) = args.tx_timeout_ms {
        if let Err(e) = port.set_tx_timeout(Duration::from_millis(ms)) {
            con.warn(&format!("{what}: --tx-timeout {ms}: {e}"));
        }
    }
    Ok(())
}

/// How long the main thread may sleep: until the first of `timers` (the
/// end of --duration, the next stats line), or until an event if there is
/// none; at most [`MAIN_POLL`] when it must `poll`.
fn nap(now: Instant, timers: [Option<Instant>; 2], poll: bool) -> Option<Duration> {
    let timer = timers.into_iter().flatten().min().map(|t| t.saturating_duration_since(now));
    match (timer, poll) {
        (Some(t), true) => Some(t.min(MAIN_POLL)),
        (None, true) => Some(MAIN_POLL),
        (t, false) => t,
    }
}

/// What wakes the main thread before its timer: the signal handler's
/// eventfd, the telemetry request bell and each port's link-event bell, in
/// one epoll set (level-triggered: serving requests and draining link
/// events resets those bells; the signal's stays rung, and the loop stops).
struct MainWake {
    ep: Option<Epoll>,
    /// Every source is watched; if not, sleeps are capped at [`MAIN_POLL`]
    /// so an unwatched one is still noticed.
    complete: bool,
}

impl MainWake {
    fn new(links: &[ferrite_pmd::port::LinkEvents], telemetry: Option<&crate::telemetry::Telemetry>) -> MainWake {
        use std::os::fd::AsRawFd;
        let Ok(ep) = Epoll::new() else { return MainWake { ep: None, complete: false } };
        let mut complete = signal::wake_fd().is_none_or(|fd| ep.add(fd, 0));
        if let Some(t) = telemetry {
            complete &= ep.add(t.wake_fd().as_raw_fd(), 0);
        }
        for ev in links {
            complete &= ev.wake_fd().is_some_and(|fd| ep.add(fd.as_raw_fd(), 0));
        }
        MainWake { ep: Some(ep), complete }
    }

    /// Sleeps up to `timeout` (`None`: until woken).
    fn sleep(&self, timeout: Option<Duration>) {
        let timeout = if self.complete { timeout } else { Some(timeout.map_or(MAIN_POLL, |t| t.min(MAIN_POLL))) };
        match &self.ep {
            Some(ep) => {
                let mut events = [libc::epoll_event { events: 0, u64: 0 }; 8];
                ep.wait(&mut events, timeout);
            }
            None => std::thread::sleep(timeout.unwrap_or(MAIN_POLL)),
        }
    }
}

/// Prints link changes as testpmd users know them: `Port 0: link down`,
/// `Port 0: link up 1000 Mbps full-duplex`, and dpdk-testpmd's words for a
/// device that is gone: `Port 1: device removal event`.
fn log_link_events(con: &Console, events: &[ferrite_pmd::port::LinkEvents]) {
    for (i, ev) in events.iter().enumerate() {
        while let Some(e) = ev.try_next() {
            if e.removed {
                con.say(&format!(
                    "Port {i}: device removal event ({}): the port is gone; frames for it are dropped and counted",
                    e.port
                ));
            } else {
                con.say(&format!("Port {i}: link {}", e.status));
            }
        }
    }
}

fn snapshot_ports(ports: &[Box<dyn NetDevice>]) -> Vec<(u64, u64)> {
    ports
        .iter()
        .map(|p| {
            let s = p.stats64();
            (s.rx_total().packets, s.tx_total().packets)
        })
        .collect()
}

fn print_rates(con: &Console, ports: &[Box<dyn NetDevice>], before: &[(u64, u64)], now: &[(u64, u64)], secs: f64) {
    let secs = secs.max(1e-9);
    let mut line = String::from("Rates:");
    let (mut trx, mut ttx) = (0.0, 0.0);
    for (i, p) in ports.iter().enumerate() {
        let rx = (now[i].0 - before[i].0) as f64 / secs / 1e6;
        let tx = (now[i].1 - before[i].1) as f64 / secs / 1e6;
        trx += rx;
        ttx += tx;
        line.push_str(&format!("  port {i} ({}) RX {rx:.3} TX {tx:.3} Mpps;", p.name()));
    }
    line.push_str(&format!("  total RX {trx:.3} TX {ttx:.3} Mpps"));
    con.say(&line);
}

/// Under each `Rates:` line, every queue's running totals (what the driver
/// counted so far), one line per port and queue.
fn print_queue_rows(con: &Console, ports: &[Box<dyn NetDevice>]) {
    for (i, p) in ports.iter().enumerate() {
        let s = p.stats64();
        for q in 0..s.rx_queues.len().max(s.tx_queues.len()) {
            let (r, t) =
                (s.rx_queues.get(q).copied().unwrap_or_default(), s.tx_queues.get(q).copied().unwrap_or_default());
            con.say(&format!(
                "    port {i} queue {q}: RX {} pkts {} dropped  TX {} pkts {} dropped",
                r.packets, r.drops, t.packets, t.drops
            ));
        }
    }
}

/// The RSS hash types testpmd asks for: `--rss-types`, else `--rss-ip` /
/// `--rss-udp` as dpdk-testpmd, else (with several rx queues) IP addresses
/// and TCP ports. `None`: leave RSS as the driver has it.
fn rss_types(args: &Args) -> Option<ferrite_pmd::rss::RssHashTypes> {
    use ferrite_pmd::rss::RssHashTypes;
    if let Some(t) = args.rss_types {
        return Some(t);
    }
    let mut t = RssHashTypes::NONE;
    if args.rss_ip {
        t = t | RssHashTypes::IP;
    }
    if args.rss_udp {
        t = t | RssHashTypes::IP | RssHashTypes::UDP;
    }
    if t.is_empty() && args.rxq > 1 {
        t = RssHashTypes::IP | RssHashTypes::TCP;
    }
    (!t.is_empty()).then_some(t)
}

/// Turns RSS on (or sets its hash types) before a port opens. Ports
/// without RSS are told once, not failed, unless the user asked for it.
fn rss_settings(con: &Console, args: &Args, what: &str, port: &mut dyn NetDevice) -> Result<(), AppError> {
    let Some(types) = rss_types(args) else { return Ok(()) };
    let asked = args.rss_types.is_some() || args.rss_ip || args.rss_udp;
    match port.set_rss_hash_types(types) {
        Ok(()) => Ok(()),
        Err(PortError::NotSupported(_)) if !asked => Ok(()),
        Err(PortError::NotSupported(e)) => {
            con.warn(&format!("{what}: no RSS ({e}); frames stay on the queue they arrive on"));
            Ok(())
        }
        Err(e) => Err(port_err(format!("{what}: RSS hash types {types}"), e)),
    }
}

/// The telemetry socket, unless `--no-telemetry`; a failure (no right to
/// create the directory, say) is a warning, not a reason to stop.
fn start_telemetry(con: &Console, args: &Args) -> Option<crate::telemetry::Telemetry> {
    if args.no_telemetry {
        return None;
    }
    let dir = args.telemetry_dir.clone().unwrap_or_else(crate::telemetry::default_dir);
    match crate::telemetry::Telemetry::start(&dir) {
        Ok(mut t) => {
            con.say(&format!("Telemetry: {}", t.path().display()));
            if let Some(prefix) = &args.file_prefix {
                match t.serve_dpdk(prefix) {
                    Ok(p) => con.say(&format!("Telemetry (DPDK protocol): {}", p.display())),
                    Err(e) => con.warn(&format!("no DPDK telemetry socket for --file-prefix {prefix}: {e}")),
                }
            }
            Some(t)
        }
        Err(e) => {
            con.warn(&format!(
                "no telemetry socket in {}: {e} (give --telemetry-dir DIR, or --no-telemetry)",
                dir.display()
            ));
            None
        }
    }
}

type CaptureTaps = std::collections::HashMap<(usize, usize), crate::capture::StreamTaps>;

/// Sets up `--pcap-rx` / `--pcap-tx`: one interface per stream direction
/// (`port0/rxq1`, `port1/txq1`), the files created and the writer running.
/// Frames are kept whole up to the largest a port may carry (`largest_frame`),
/// at least [`crate::capture::SNAPLEN`] bytes.
fn start_capture(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_failures_have_their_own_exit_code() {
        let code = |e: PortError| port_err("port 0".into(), e).exit_code();
        // A NIC that does not answer (reset never completes) or misbehaves.
        assert_eq!(code(PortError::Timeout("CTRL.RST did not clear".into())), 4);
        assert_eq!(code(PortError::Device("MDIC error".into())), 4);
        // The host, not the device: no hugepages.
        assert_eq!(code(PortError::NoMemory("no hugepages".into())), 1);
        // The user asked for something the port refuses.
        assert_eq!(code(PortError::InvalidConfig("ring size".into())), 2);
        assert_eq!(code(PortError::NotSupported("rss")), 2);
    }

    #[test]
    fn the_main_thread_sleeps_until_its_first_timer_or_an_event() {
        let now = Instant::now();
        let (a, b) = (now + Duration::from_secs(3), now + Duration::from_secs(1));
        assert_eq!(nap(now, [None, None], false), None, "nothing timed: sleep until an event");
        assert_eq!(nap(now, [Some(a), Some(b)], false), Some(Duration::from_secs(1)));
        assert_eq!(nap(now, [Some(now), None], false), Some(Duration::ZERO), "a timer due now");
        assert_eq!(nap(now, [None, None], true), Some(MAIN_POLL), "--tx-count polls");
        assert_eq!(nap(now, [Some(a), None], true), Some(MAIN_POLL));
    }

    fn args(extra: &[&str]) -> Args {
        use clap::Parser;
        Args::try_parse_from(["testpmd", "--vdev", "null0,null1"].iter().chain(extra)).unwrap()
    }

    /// A port like igb before it learnt multi-segment transmit.
    fn caps_without_chains() -> DeviceCaps {
        DeviceCaps {
            max_rx_queues: 8,
            max_tx_queues: 8,
            min_ring_size: 32,
            max_ring_size: 4096,
            ring_size_align: 8,
            ring_size_pow2: false,
            min_mtu: 68,
            max_mtu: 9216,
            rx_offload_capa: RxOffloads::SCATTER | RxOffloads::VLAN_STRIP,
            tx_offload_capa: TxOffloads::VLAN_INSERT,
        }
    }

    #[test]
    fn multi_segment_txpkts_asks_for_multi_segs_or_names_it_missing() {
        let con = Console { json: true };
        let chains = args(&["--forward-mode", "txonly", "--txpkts", "2048,2048,818", "--rx-offloads", "vlan_strip"]);
        let e = port_config(&con, &chains, 1, &caps_without_chains(), "port 1 (x)").unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.exit_code(), 2);
        assert!(msg.contains("port 1 (x)") && msg.contains("multi_segs") && msg.contains("3-segment"), "{msg}");
        let mut capable = caps_without_chains();
        capable.tx_offload_capa |= TxOffloads::MULTI_SEGS;
        let conf = port_config(&con, &chains, 1, &capable, "port 1 (x)").unwrap();
        assert_eq!((conf.rx_offloads, conf.tx_offloads), (RxOffloads::VLAN_STRIP, TxOffloads::MULTI_SEGS));
        // One segment, or no generated frames: nothing asked for.
        for one in [args(&["--forward-mode", "txonly", "--txpkts", "1500"]), args(&["--txpkts", "2048,2048"])] {
            let conf = port_config(&con, &one, 0, &caps_without_chains(), "p").unwrap();
            assert_eq!(conf.tx_offloads, TxOffloads::empty());
        }
    }

    #[test]
    fn a_tso_segment_size_over_the_mtu_is_refused_where_the_nic_segments() {
        let a = args(&["--forward-mode", "csum", "--tso-segsz", "1461"]);
        let e = check_tso_segsz(&a, "port 1 (x)", 1500, TxOffloads::TCP_TSO).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        assert!(msg.contains("port 1 (x): --tso-segsz 1461 makes segments of 1501 B") && msg.contains("1460"), "{msg}");
        // Largest that fits; without tcp_tso nothing is segmented; a jumbo MTU.
        check_tso_segsz(&args(&["--forward-mode", "csum", "--tso-segsz", "1460"]), "p", 1500, TxOffloads::TCP_TSO)
            .unwrap();
        check_tso_segsz(&a, "p", 1500, TxOffloads::empty()).unwrap();
        check_tso_segsz(&a, "p", 9000, TxOffloads::TCP_TSO).unwrap();
    }

    #[test]
    fn vlan_and_tso_flags_ask_for_the_offloads_the_port_has() {
        let con = Console { json: true };
        // This port can insert tags but has no TSO and no VLAN filter.
        let mut caps = caps_without_chains();
        let a = args(&["--forward-mode", "csum", "--tx-vlan", "1,5", "--tso-segsz", "1000"]);
        let c0 = port_config(&con, &a, 0, &caps, "p0").unwrap();
        assert_eq!(c0.tx_offloads, TxOffloads::empty(), "port 0 sends untagged; tcp_tso is not there to ask for");
        let c1 = port_config(&con, &a, 1, &caps, "p1").unwrap();
        assert_eq!(c1.tx_offloads, TxOffloads::VLAN_INSERT, "the NIC inserts port 1's tag");
        let f = args(&["--vlan-filter", "0,7,8"]);
        let e = port_config(&con, &f, 0, &caps, "port 0 (x)").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("port 0 (x): --vlan-filter 0,7,8 needs the vlan_filter rx offload"), "{e}");
        caps.tx_offload_capa |= TxOffloads::TCP_TSO;
        caps.rx_offload_capa |= RxOffloads::VLAN_FILTER;
        let b = args(&["--forward-mode", "csum", "--tso-segsz", "1000", "--vlan-filter", "0,7"]);
        let c = port_config(&con, &b, 0, &caps, "p0").unwrap();
        assert_eq!((c.rx_offloads, c.tx_offloads), (RxOffloads::VLAN_FILTER, TxOffloads::TCP_TSO));
        let other = port_config(&con, &b, 1, &caps, "p1").unwrap();
        assert_eq!(other.rx_offloads, RxOffloads::empty(), "the filter is port 0's only");
    }

    #[test]
    fn an_mtu_beyond_one_mbuf_needs_bigger_mbufs_or_scatter() {
        let a = args(&[]);
        let msg = check_rx_buffers(&a, "port 0 (p)", 9000, RxOffloads::empty()).unwrap_err().to_string();
        assert!(msg.contains("--mbuf-size 9216") && msg.contains("--rx-offloads scatter"), "{msg}");
        assert!(check_rx_buffers(&a, "p", 9000, RxOffloads::SCATTER).is_ok());
        // 2048 B holds MTU 2022's largest frame: 14 + 8 (tags) + 2022 + 4 (CRC).
        assert!(check_rx_buffers(&a, "p", 2022, RxOffloads::empty()).is_ok());
        assert!(check_rx_buffers(&a, "p", 2023, RxOffloads::empty()).is_err());
    }

    #[test]
    fn frames_split_into_segments_that_fit() {
        assert_eq!(split_into(3000, 2048), "2048,952");
        assert_eq!(split_into(4096, 2048), "2048,2048");
        assert_eq!(split_into(100, 2048), "100");
    }
}
