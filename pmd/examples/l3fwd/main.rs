//! IPv4 routing, after DPDK's `l3fwd`: each frame received on any port is
//! checked as a router must (RFC 1812), its destination looked up in a
//! longest-prefix-match table read from a route file, its TTL lowered (the
//! checksum updated to match) and its MACs rewritten (source: the output
//! port's own; destination: the next hop's, `--eth-peer`), then sent on the
//! route's port. What is not forwarded is counted by reason: not IPv4, a bad
//! header, TTL expired, no route, no room on the output ring. On Ctrl-C it
//! stops, prints totals, and checks that every frame received was sent or
//! counted as dropped and that every buffer is back in the pool.
//!
//! ```text
//! # routes.txt: 10.1.0.0/16 0, 10.2.0.0/16 1, ...
//! cargo run --release --example l3fwd -- --routes routes.txt \
//!     --eth-peer 0,52:54:00:00:00:01 --eth-peer 1,52:54:00:00:00:02 af_xdp0,iface=veth0 af_xdp1,iface=veth1
//! ```
//!
//! One forwarding core polls every port (DPDK's l3fwd gives each core a
//! queue of each port; l2fwd here shows that layout). The lookup structure,
//! DIR-24-8, was chosen by measuring it against a hash per prefix length
//! (`cargo run --release --example lpm_bench`; see `lpm.rs`).

pub mod ipv4;
#[allow(dead_code)] // PrefixHash: the alternative lpm_bench measures it against
pub mod lpm;
pub mod routes;

use std::error::Error;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use ferrite_pmd::ether::EthernetFrame;
use ferrite_pmd::port::{MacAddr, RxMode};
use ferrite_pmd::{lcore, open_ports, MbufBatch, Mempool, MempoolConfig, NetDevice, OpenOptions, PortConfig};
use ferrite_pmd::{RxQueue, TxQueue};

use ipv4::Verdict;
use lpm::Dir24;

const BURST: usize = 32;
const ETHERTYPE_IPV4: u16 = 0x0800;

#[derive(Parser)]
#[command(about = "Routes IPv4 frames between ports by longest-prefix match on a route file")]
struct Args {
    /// The route file: one `NETWORK/LENGTH PORT` per line (`#` comments).
    #[arg(long)]
    routes: std::path::PathBuf,
    /// `PORT,MAC`: the next hop's MAC on PORT, written as the destination
    /// of frames sent there (default 02:00:00:00:00:PORT). Repeatable.
    #[arg(long = "eth-peer", value_parser = parse_peer)]
    peers: Vec<(u16, MacAddr)>,
    /// Seconds between statistics prints (0: only at the end).
    #[arg(short = 'T', long, default_value_t = 10)]
    period: u64,
    /// Ports by name (null0, pair0, af_xdp0,iface=eth0, 0000:03:00.0).
    #[arg(required = true)]
    ports: Vec<String>,
}

fn parse_peer(s: &str) -> Result<(u16, MacAddr), String> {
    let (port, mac) = s.split_once(',').ok_or("want PORT,MAC, e.g. 1,52:54:00:12:34:56")?;
    let port = port.parse().map_err(|_| format!("'{port}' is not a port number"))?;
    let mac = mac.parse().map_err(|_| format!("'{mac}' is not a MAC address (xx:xx:xx:xx:xx:xx)"))?;
    Ok((port, mac))
}

/// Frames not forwarded, by reason.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Drops {
    pub not_ipv4: u64,
    pub bad_header: u64,
    pub ttl_expired: u64,
    pub no_route: u64,
    /// Per output port: routed there, but its TX ring had no room.
    pub tx_full: [u64; MAX_PORTS],
}

/// Ports l3fwd routes between (the per-port counters are arrays).
pub const MAX_PORTS: usize = 8;

impl Drops {
    fn total(&self) -> u64 {
        self.not_ipv4 + self.bad_header + self.ttl_expired + self.no_route + self.tx_full.iter().sum::<u64>()
    }
}

/// The output side of one port: the MACs a frame sent there gets.
#[derive(Clone, Copy)]
pub struct Egress {
    pub src: MacAddr,
    pub dst: MacAddr,
}

/// Routes one frame in place: `Ok(port)` with its TTL lowered and its MACs
/// those of `egress[port]`, or why it is not forwarded (untouched then).
pub fn route_frame(frame: &mut [u8], table: &Dir24, egress: &[Egress]) -> Result<usize, Verdict> {
    let mut eth = EthernetFrame::new_checked(frame).map_err(|_| Verdict::NotIpv4)?;
    if eth.ethertype() != ETHERTYPE_IPV4 {
        return Err(Verdict::NotIpv4);
    }
    let dst = ipv4::check(eth.payload())?;
    let port = usize::from(table.lookup(dst).ok_or(Verdict::NoRoute)?);
    let out = egress.get(port).ok_or(Verdict::NoRoute)?;
    ipv4::decrement_ttl(eth.payload_mut());
    eth.set_src(out.src);
    eth.set_dst(out.dst);
    Ok(port)
}

/// Routes every frame of `batch` into `outs` (one batch per port), sends
/// each, and counts what is not forwarded in `drops`; `batch` and `outs`
/// are empty after.
pub fn route_burst(
    batch: &mut MbufBatch,
    outs: &mut [MbufBatch],
    txs: &mut [Box<dyn TxQueue>],
    table: &Dir24,
    egress: &[Egress],
    drops: &mut Drops,
) {
    for mut m in batch.drain_front(usize::MAX) {
        match route_frame(m.data_mut(), table, egress) {
            Ok(port) => {
                // A burst holds at most BURST frames, as does each out batch.
                let _ = outs[port].push(m);
            }
            Err(Verdict::NotIpv4) => drops.not_ipv4 += 1,
            Err(Verdict::BadHeader) => drops.bad_header += 1,
            Err(Verdict::TtlExpired) => drops.ttl_expired += 1,
            Err(Verdict::NoRoute) => drops.no_route += 1,
        }
    }
    for (port, (out, tx)) in outs.iter_mut().zip(txs.iter_mut()).enumerate() {
        if !out.is_empty() {
            tx.tx_burst(out);
            drops.tx_full[port] += out.len() as u64;
            out.clear();
        }
    }
}

/// The forwarding core: polls every port until `stop`.
fn core_loop(
    mut rxs: Vec<Box<dyn RxQueue>>,
    mut txs: Vec<Box<dyn TxQueue>>,
    table: Dir24,
    egress: Vec<Egress>,
    pool: Mempool,
    stop: Arc<AtomicBool>,
) -> Drops {
    let _lcore = lcore::register().expect("an lcore id for the forwarding core");
    let (mut batch, mut drops) = (MbufBatch::new(), Drops::default());
    let mut outs: Vec<MbufBatch> = txs.iter().map(|_| MbufBatch::new()).collect();
    while !stop.load(Relaxed) {
        for rx in rxs.iter_mut() {
            if rx.rx_burst(&mut batch, BURST) > 0 {
                route_burst(&mut batch, &mut outs, &mut txs, &table, &egress, &mut drops);
            }
        }
        for tx in txs.iter_mut() {
            tx.tx_done_cleanup();
        }
    }
    drop((rxs, txs));
    pool.flush_local_cache(); // hand this core's cached buffers back
    drops
}

fn print_stats(ports: &[Box<dyn NetDevice>]) {
    for (id, port) in ports.iter().enumerate() {
        let s = port.stats64();
        let (rx, tx) = (s.rx_total(), s.tx_total());
        println!("port {id} {}: received {} sent {} rx-missed {}", port.name(), rx.packets, tx.packets, s.rx_missed);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    if args.ports.len() > MAX_PORTS {
        return Err(format!("{} ports: l3fwd routes between at most {MAX_PORTS}", args.ports.len()).into());
    }
    let text = std::fs::read_to_string(&args.routes)
        .map_err(|e| format!("cannot read the route file {}: {e}", args.routes.display()))?;
    let routes = routes::parse(&text, args.ports.len())?;
    let table = Dir24::new(&routes);
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let mut ports = open_ports(&args.ports, &OpenOptions::default())?;
    let n = ports.len();
    let pool = Mempool::new(&MempoolConfig::for_ports("l3fwd", n * (2 * 512 + BURST) + 2048, &ports))?;
    let mut egress = Vec::new();
    for (id, port) in ports.iter().enumerate() {
        let peer = args.peers.iter().rev().find(|(p, _)| usize::from(*p) == id).map(|(_, m)| *m);
        egress.push(Egress { src: port.mac_address(), dst: peer.unwrap_or(MacAddr([0x02, 0, 0, 0, 0, id as u8])) });
    }
    if let Some((p, _)) = args.peers.iter().find(|(p, _)| usize::from(*p) >= n) {
        return Err(format!("--eth-peer names port {p}, but {n} port(s) were opened").into());
    }
    let (mut rxs, mut txs) = (Vec::new(), Vec::new());
    for port in ports.iter_mut() {
        port.configure(&PortConfig::default(), &pool)?;
        let mut q = port.open()?;
        port.set_rx_mode(RxMode { promiscuous: true, all_multicast: false })?;
        rxs.push(q.rx.remove(0));
        txs.push(q.tx.remove(0));
    }
    println!("l3fwd: {n} ports, {} routes; Ctrl-C to stop", routes.len());
    let core = {
        let (pool, stop) = (pool.clone(), Arc::clone(&stop));
        std::thread::spawn(move || core_loop(rxs, txs, table, egress, pool, stop))
    };
    let mut next_print = Instant::now() + Duration::from_secs(args.period);
    while !stop.load(Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        if args.period > 0 && Instant::now() >= next_print {
            print_stats(&ports);
            next_print += Duration::from_secs(args.period);
        }
    }
    let drops = core.join().map_err(|_| "the forwarding core panicked")?;
    for port in ports.iter_mut() {
        port.stop()?;
    }
    finish(&ports, &drops, &pool)
}

/// Prints the totals and checks them: every frame received was sent or
/// counted as dropped, and every buffer is back.
fn finish(ports: &[Box<dyn NetDevice>], drops: &Drops, pool: &Mempool) -> Result<(), Box<dyn Error>> {
    println!("\nstopped; totals:");
    print_stats(ports);
    let received: u64 = ports.iter().map(|p| p.stats64().rx_total().packets).sum();
    let sent: u64 = ports.iter().map(|p| p.stats64().tx_total().packets).sum();
    println!(
        "dropped: not-ipv4 {} bad-header {} ttl-expired {} no-route {} tx-full {:?}",
        drops.not_ipv4,
        drops.bad_header,
        drops.ttl_expired,
        drops.no_route,
        &drops.tx_full[..ports.len()]
    );
    println!("frames: received {received} sent {sent} dropped {}", drops.total());
    println!("mbufs in the pool: {} of {}", pool.available(), pool.capacity());
    if received != sent + drops.total() {
        return Err(format!("received {received} != sent {sent} + dropped {}", drops.total()).into());
    }
    if pool.available() != pool.capacity() {
        return Err("some mbufs never came back".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    ferrite_pmd::logging::log_to_stderr(log::LevelFilter::Info);
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("l3fwd: {e}");
            ExitCode::FAILURE
        }
    }
}
