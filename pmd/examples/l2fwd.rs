//! Layer-2 forwarding, after DPDK's `l2fwd`: ports work in pairs (0 <-> 1,
//! 2 <-> 3, ...). Each of `-q` cores owns receive queue c of every port and
//! transmit queue c of its partner, so no two cores share a queue and the
//! datapath takes no lock. A forwarded frame's source MAC becomes the output
//! port's own and its destination `02:00:00:00:00:XX` (XX = output port id),
//! standing for the peer on that port, as in DPDK. Every `-T` seconds it
//! prints per-port counters; on Ctrl-C it stops, prints totals and checks
//! that every buffer is back in the pool.
//!
//! ```text
//! cargo run --release --example l2fwd -- -q 2 -T 1 null0 null1
//! sudo cargo run --release --example l2fwd -- 0000:03:00.0 0000:04:00.0
//! ```

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

const BURST: usize = 32;

#[derive(Parser)]
#[command(about = "Forwards frames between port pairs (0<->1, 2<->3, ...), rewriting MACs")]
struct Args {
    /// Forwarding cores; each port gets this many queues.
    #[arg(short = 'q', long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    cores: u16,
    /// Seconds between statistics prints (0: only at the end).
    #[arg(short = 'T', long, default_value_t = 10)]
    period: u64,
    /// Leave the MAC addresses as they arrive.
    #[arg(long)]
    no_mac_updating: bool,
    /// Ports by name (null0, pair0, af_xdp0,iface=eth0, 0000:03:00.0); an even number.
    #[arg(required = true)]
    ports: Vec<String>,
}

/// What one core owns: per port, its receive queue and the partner's
/// transmit queue, with the MACs to write.
struct Lane {
    rx: Box<dyn RxQueue>,
    tx: Box<dyn TxQueue>,
    tx_port: usize,
    macs: Option<(MacAddr, MacAddr)>,
}

/// Receives one burst, rewrites each frame's (source, destination) MACs
/// to `macs` (a frame too short for a header is dropped) and sends it.
/// Returns the frames received and the frames dropped (freed, counted by
/// the caller), whatever the transmit ring had no room for included.
pub fn forward(
    rx: &mut dyn RxQueue,
    tx: &mut dyn TxQueue,
    macs: Option<(MacAddr, MacAddr)>,
    batch: &mut MbufBatch,
) -> (u64, u64) {
    let got = rx.rx_burst(batch, BURST);
    if got == 0 {
        tx.tx_done_cleanup(); // nothing to send: reclaim finished transmits
        return (0, 0);
    }
    let mut dropped = 0;
    if let Some((src, dst)) = macs {
        dropped += batch.retain(|m| match EthernetFrame::new_checked(m.data_mut()) {
            Ok(mut eth) => {
                eth.set_src(src);
                eth.set_dst(dst);
                true
            }
            Err(_) => false,
        }) as u64;
    }
    tx.tx_burst(batch);
    dropped += batch.len() as u64;
    batch.clear();
    (got as u64, dropped)
}

/// One forwarding core: polls its lanes until `stop`, returns the frames it
/// dropped per output port.
fn core_loop(mut lanes: Vec<Lane>, ports: usize, pool: Mempool, stop: Arc<AtomicBool>) -> Vec<u64> {
    let _lcore = lcore::register().expect("fewer cores than lcore ids");
    let (mut batch, mut dropped) = (MbufBatch::new(), vec![0; ports]);
    while !stop.load(Relaxed) {
        for lane in lanes.iter_mut() {
            dropped[lane.tx_port] += forward(lane.rx.as_mut(), lane.tx.as_mut(), lane.macs, &mut batch).1;
        }
    }
    drop(lanes);
    pool.flush_local_cache(); // hand this core's cached buffers back
    dropped
}

fn print_stats(ports: &[Box<dyn NetDevice>], dropped: Option<&[u64]>) {
    println!("Port statistics ====================================");
    for (id, port) in ports.iter().enumerate() {
        let s = port.stats64();
        let (rx, tx) = (s.rx_total(), s.tx_total());
        let fwd_dropped = dropped.map_or(String::new(), |d| format!(" fwd-dropped {}", d[id]));
        println!(
            "port {id} {}: received {} sent {} rx-dropped {} rx-missed {} tx-dropped {}{fwd_dropped}",
            port.name(),
            rx.packets,
            tx.packets,
            rx.drops,
            s.rx_missed,
            tx.drops
        );
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    if !args.ports.len().is_multiple_of(2) {
        return Err("give an even number of ports: they forward in pairs, 0<->1, 2<->3, ...".into());
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let mut ports = open_ports(&args.ports, &OpenOptions::default())?;
    let (n, q) = (ports.len(), args.cores);
    // Every ring full, every core's cache full, and a burst per lane.
    let mbufs = n * q as usize * (2 * 512 + BURST) + q as usize * 1024 + 1024;
    let pool = Mempool::new(&MempoolConfig::for_ports("l2fwd", mbufs, &ports))?;
    let conf = PortConfig { rx_queues: q, tx_queues: q, ..PortConfig::default() };
    let mut queues = Vec::new();
    for port in ports.iter_mut() {
        port.configure(&conf, &pool)?;
        queues.push(port.open()?);
        port.set_rx_mode(RxMode { promiscuous: true, all_multicast: true })?;
    }
    let mut rx: Vec<_> = queues.iter_mut().map(|qs| std::mem::take(&mut qs.rx).into_iter()).collect();
    let mut tx: Vec<_> = queues.iter_mut().map(|qs| std::mem::take(&mut qs.tx).into_iter()).collect();
    let mut cores = Vec::new();
    for _ in 0..q {
        let mut lanes = Vec::new();
        for p in 0..n {
            let tx_port = p ^ 1;
            let peer = MacAddr([0x02, 0, 0, 0, 0, tx_port as u8]);
            let macs = (!args.no_mac_updating).then(|| (ports[tx_port].mac_address(), peer));
            let missing = || format!("{} opened fewer queues than the {q} asked", ports[p].name());
            let (rx, tx) = (rx[p].next().ok_or_else(missing)?, tx[tx_port].next().ok_or_else(missing)?);
            lanes.push(Lane { rx, tx, tx_port, macs });
        }
        let (pool, stop) = (pool.clone(), Arc::clone(&stop));
        cores.push(std::thread::spawn(move || core_loop(lanes, n, pool, stop)));
    }
    println!("l2fwd: {n} ports, {q} cores; Ctrl-C to stop");

    let mut next_print = Instant::now() + Duration::from_secs(args.period);
    while !stop.load(Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        if args.period > 0 && Instant::now() >= next_print {
            print_stats(&ports, None);
            next_print += Duration::from_secs(args.period);
        }
    }
    let mut dropped = vec![0u64; n];
    for core in cores {
        let counts = core.join().map_err(|_| "a forwarding core panicked")?;
        dropped.iter_mut().zip(counts).for_each(|(d, c)| *d += c);
    }
    for port in ports.iter_mut() {
        port.stop()?;
    }
    println!("\nstopped; totals:");
    print_stats(&ports, Some(&dropped));
    println!("mbufs in the pool: {} of {}", pool.available(), pool.capacity());
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
            eprintln!("l2fwd: {e}");
            ExitCode::FAILURE
        }
    }
}
