//! Basic forwarding, after DPDK's `skeleton` (basicfwd): every frame received
//! on port 0 leaves through port 1 unchanged, and the other way round (and
//! 2 <-> 3, ...), until Ctrl-C. Then it prints each port's counters and
//! checks that every buffer is back in the pool.
//!
//! ```text
//! cargo run --example skeleton -- null0 null1
//! sudo cargo run --example skeleton -- 0000:03:00.0 0000:04:00.0
//! ```

use std::error::Error;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use ferrite_pmd::port::RxMode;
use ferrite_pmd::{lcore, open_ports, MbufBatch, Mempool, MempoolConfig, OpenOptions, PortConfig};

const BURST: usize = 32;
const NUM_MBUFS: usize = 8191;

fn run() -> Result<(), Box<dyn Error>> {
    let names: Vec<String> = std::env::args().skip(1).collect();
    if names.is_empty() || !names.len().is_multiple_of(2) {
        return Err("usage: skeleton PORT PORT [PORT PORT]... (an even number: 0<->1, 2<->3, ...)".into());
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let _lcore = lcore::register()?;
    let mut ports = open_ports(&names, &OpenOptions::default())?;
    let pool = Mempool::new(&MempoolConfig::for_ports("mbuf_pool", NUM_MBUFS, &ports))?;
    let mut queues = Vec::new();
    for (id, port) in ports.iter_mut().enumerate() {
        port.configure(&PortConfig::default(), &pool)?;
        queues.push(port.open()?);
        port.set_rx_mode(RxMode { promiscuous: true, all_multicast: true })?;
        println!("port {id}: {} MAC {}", port.name(), port.mac_address());
    }

    let mut unsent = vec![0u64; ports.len()];
    let mut batch = MbufBatch::new();
    println!("forwarding; Ctrl-C to stop");
    while !stop.load(Relaxed) {
        for rx_port in 0..queues.len() {
            let tx_port = rx_port ^ 1;
            if queues[rx_port].rx[0].rx_burst(&mut batch, BURST) == 0 {
                // Nothing to send: reclaim what the NIC finished sending.
                queues[tx_port].tx[0].tx_done_cleanup();
                continue;
            }
            queues[tx_port].tx[0].tx_burst(&mut batch);
            // What the transmit ring had no room for is dropped (freed).
            unsent[tx_port] += batch.len() as u64;
            batch.clear();
        }
    }

    drop(queues);
    for (id, port) in ports.iter_mut().enumerate() {
        port.stop()?;
        let (s, name) = (port.stats64(), port.name());
        let (rx, tx) = (s.rx_total(), s.tx_total());
        println!(
            "port {id} {name}: rx {} rx-dropped {} rx-missed {} | tx {} tx-dropped {} unsent {}",
            rx.packets, rx.drops, s.rx_missed, tx.packets, tx.drops, unsent[id]
        );
    }
    pool.flush_local_cache();
    println!("mbufs in the pool: {} of {}", pool.available(), pool.capacity());
    if pool.available() != pool.capacity() {
        return Err("some mbufs never came back".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    // The library's warnings (e.g. no hugepages: 4 KiB pages) on stderr.
    ferrite_pmd::logging::log_to_stderr(log::LevelFilter::Info);
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("skeleton: {e}");
            ExitCode::FAILURE
        }
    }
}
