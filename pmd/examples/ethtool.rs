//! What `ethtool -i`, `ethtool`, `-g`, `-l` and `-S` print for a Linux
//! interface, for a ferrite port opened by name, laid out as ethtool lays
//! it out. After DPDK's `ethtool` example. The port is configured with
//! `-q` queues and started, so the link and the counters are live; more
//! ports may be named when the first needs them (a `pair` port's peer).
//!
//! ```text
//! cargo run --example ethtool -- null0
//! cargo run --example ethtool -- -q 2 pair0 pair1
//! sudo cargo run --example ethtool -- 0000:03:00.0
//! ```

use std::error::Error;
use std::process::ExitCode;

use clap::Parser;
use ferrite_pmd::port::Duplex;
use ferrite_pmd::{open_ports, Mempool, MempoolConfig, NetDevice, OpenOptions, PortConfig};

#[derive(Parser)]
#[command(about = "Prints driver, link, rings, channels and statistics of a port, as ethtool does")]
struct Args {
    /// Receive and transmit queues to configure.
    #[arg(short = 'q', long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    queues: u16,
    /// The port to show, then any ports it needs (null0, pair0 pair1, 0000:03:00.0).
    #[arg(required = true)]
    ports: Vec<String>,
}

fn drvinfo(port: &dyn NetDevice) {
    let i = port.drvinfo();
    println!("driver: {}\nversion: {}\nfirmware-version: {}", i.driver, i.version, i.fw_version);
    println!("bus-info: {}\n", i.bus_info);
}

fn settings(port: &dyn NetDevice) {
    let link = port.link_update(true);
    println!("Settings for {}:", port.name());
    if link.up {
        let duplex = match link.duplex {
            Duplex::Full => "Full",
            Duplex::Half => "Half",
            Duplex::Unknown => "Unknown! (255)",
        };
        println!("\tSpeed: {}Mb/s\n\tDuplex: {duplex}", link.speed_mbps);
    } else {
        println!("\tSpeed: Unknown!\n\tDuplex: Unknown! (255)");
    }
    println!("\tAuto-negotiation: {}", if link.autoneg { "on" } else { "off" });
    println!("\tLink detected: {}\n", if link.up { "yes" } else { "no" });
}

fn rings(port: &dyn NetDevice) {
    let r = port.ringparam();
    println!("Ring parameters for {}:", port.name());
    println!("Pre-set maximums:\nRX:\t\t{}\nTX:\t\t{}", r.rx_max, r.tx_max);
    println!("Current hardware settings:\nRX:\t\t{}\nTX:\t\t{}\n", r.rx, r.tx);
}

fn channels(port: &dyn NetDevice) {
    let c = port.channels();
    println!("Channel parameters for {}:", port.name());
    println!("Pre-set maximums:\nRX:\t\t{}\nTX:\t\t{}\nOther:\t\tn/a\nCombined:\tn/a", c.max_rx, c.max_tx);
    println!("Current hardware settings:\nRX:\t\t{}\nTX:\t\t{}\nOther:\t\tn/a\nCombined:\tn/a\n", c.rx, c.tx);
}

fn statistics(port: &dyn NetDevice) {
    println!("NIC statistics:");
    for (name, value) in port.named_stats() {
        println!("     {name}: {value}");
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let mut ports = open_ports(&args.ports, &OpenOptions::default())?;
    let pool = Mempool::new(&MempoolConfig::for_ports("ethtool", 4096, &ports))?;
    let conf = PortConfig { rx_queues: args.queues, tx_queues: args.queues, ..PortConfig::default() };
    let mut queues = Vec::new();
    for port in ports.iter_mut() {
        port.configure(&conf, &pool)?;
        queues.push(port.open()?);
    }
    let port = ports[0].as_ref();
    drvinfo(port);
    settings(port);
    rings(port);
    channels(port);
    statistics(port);
    drop(queues);
    for port in ports.iter_mut() {
        port.stop()?;
    }
    Ok(())
}

fn main() -> ExitCode {
    ferrite_pmd::logging::log_to_stderr(log::LevelFilter::Info);
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ethtool: {e}");
            ExitCode::FAILURE
        }
    }
}
