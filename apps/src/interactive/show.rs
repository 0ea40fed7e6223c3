//! What `show ...` prints, laid out as dpdk-testpmd lays it out (lines
//! for facts ferrite does not have, such as NUMA sockets, are left out).

use std::fmt::Write;
use std::time::Instant;

use ferrite_pmd::port::stat_names;

use super::session::Session;

/// `show port info N`.
pub(crate) fn port_info(s: &Session, p: usize) {
    let dev = s.set.ports[p].as_ref();
    let (info, link, mode, caps) = (dev.drvinfo(), dev.link_status(), dev.rx_mode(), dev.caps());
    let rings = dev.ringparam();
    let ch = dev.channels();
    let on = |b: bool| if b { "enabled" } else { "disabled" };
    let mut o = String::new();
    let _ = writeln!(o, "\n********************* Infos for port {p}  *********************");
    let _ = writeln!(o, "MAC address: {}", dev.mac_address());
    let _ = writeln!(o, "Device name: {}", dev.name());
    let _ = writeln!(o, "Driver name: {}", info.driver);
    let _ = writeln!(
        o,
        "Firmware-version: {}",
        if info.fw_version.is_empty() { "not available" } else { &info.fw_version }
    );
    let _ = writeln!(o, "Port status: {}", if dev.is_running() { "started" } else { "stopped" });
    let _ = writeln!(o, "Link status: {}", if link.up { "up" } else { "down" });
    let _ = writeln!(o, "Link speed: {}", speed(link.speed_mbps));
    let _ = writeln!(o, "Link duplex: {}", if link.up { link.duplex.to_string() } else { "half-duplex".into() });
    let _ = writeln!(o, "Autoneg status: {}", if link.autoneg { "On" } else { "Off" });
    let _ = writeln!(o, "MTU: {}", dev.mtu());
    let _ = writeln!(o, "Promiscuous mode: {}", on(mode.promiscuous));
    let _ = writeln!(o, "Allmulticast mode: {}", on(mode.all_multicast));
    let macs: Vec<String> = dev.mac_addrs().iter().map(ToString::to_string).collect();
    let _ = writeln!(o, "MAC addresses: {}", macs.join(" "));
    let _ = writeln!(o, "Current number of RX queues: {}", ch.rx);
    let _ = writeln!(o, "Max possible RX queues: {}", caps.max_rx_queues);
    let _ = writeln!(o, "Current number of RXDs per queue: {}", rings.rx);
    let _ = writeln!(o, "Max possible number of RXDs per queue: {}", caps.max_ring_size);
    let _ = writeln!(o, "Min possible number of RXDs per queue: {}", caps.min_ring_size);
    let _ = writeln!(o, "RXDs number alignment: {}", caps.ring_size_align);
    let _ = writeln!(o, "Current number of TX queues: {}", ch.tx);
    let _ = writeln!(o, "Max possible TX queues: {}", caps.max_tx_queues);
    let _ = writeln!(o, "Current number of TXDs per queue: {}", rings.tx);
    let _ = writeln!(o, "Max possible number of TXDs per queue: {}", caps.max_ring_size);
    let _ = writeln!(o, "Min possible number of TXDs per queue: {}", caps.min_ring_size);
    let _ = write!(o, "TXDs number alignment: {}", caps.ring_size_align);
    s.con.say(&o);
}

/// `Link speed:` as dpdk-testpmd prints it.
fn speed(mbps: u32) -> String {
    match mbps {
        0 => "None".into(),
        m if m % 1000 == 0 => format!("{} Gbps", m / 1000),
        m => format!("{m} Mbps"),
    }
}

/// `show port stats N`, with throughput since the last time it was shown.
pub(crate) fn port_stats(s: &mut Session, p: usize) {
    let st = s.set.ports[p].stats64();
    let (rx, tx) = (st.rx_total(), st.tx_total());
    let nombuf = stat_names::rx_alloc_failed_total(&s.set.ports[p].named_stats());
    let now = (Instant::now(), [rx.packets, rx.bytes, tx.packets, tx.bytes]);
    let rate = |i: usize, bits: bool| {
        s.shown[p].map_or(0, |(t, c): (Instant, [u64; 4])| {
            let secs = now.0.duration_since(t).as_secs_f64().max(1e-9);
            (now.1[i].saturating_sub(c[i]) as f64 * if bits { 8.0 } else { 1.0 } / secs) as u64
        })
    };
    let mut o = String::new();
    let _ = writeln!(o, "\n  ######################## NIC statistics for port {p:<2} ########################");
    let _ = writeln!(o, "  RX-packets: {:<10} RX-missed: {:<10} RX-bytes:  {}", rx.packets, st.rx_missed, rx.bytes);
    let _ = writeln!(o, "  RX-errors: {}", rx.errors);
    let _ = writeln!(o, "  RX-nombuf:  {nombuf:<10}");
    let _ = writeln!(o, "  TX-packets: {:<10} TX-errors: {:<10} TX-bytes:  {}", tx.packets, tx.errors, tx.bytes);
    let _ = writeln!(o, "\n  Throughput (since last show)");
    let _ = writeln!(o, "  Rx-pps: {:>12}          Rx-bps: {:>12}", rate(0, false), rate(1, true));
    let _ = writeln!(o, "  Tx-pps: {:>12}          Tx-bps: {:>12}", rate(2, false), rate(3, true));
    let _ = write!(o, "  ############################################################################");
    s.shown[p] = Some(now);
    s.con.say(&o);
}

/// `show port xstats N`: every named counter of the driver.
pub(crate) fn port_xstats(s: &Session, p: usize) {
    let mut o = format!("###### NIC extended statistics for port {p} ");
    for (name, v) in s.set.ports[p].named_stats() {
        let _ = write!(o, "\n{name}: {v}");
    }
    s.con.say(&o);
}

/// `show fwd stats all` (and what `stop` prints): per port, then all.
pub(crate) fn fwd_stats(s: &Session) {
    let (streams, dropped) = match (&s.fwd, &s.last) {
        (Some(f), _) => {
            let live = f.running.counters.iter().map(|(id, c)| (*id, c.snapshot())).collect::<Vec<_>>();
            (live, s.rx_drops_since(&f.base_rx_drops))
        }
        (None, Some(l)) => (l.streams.iter().map(|r| (r.id, r.stats)).collect(), l.rx_dropped.clone()),
        (None, None) => (Vec::new(), vec![0; s.set.len()]),
    };
    let mut total = [0u64; 4];
    let mut o = String::new();
    for (p, &rx_dropped) in dropped.iter().enumerate() {
        let rx: u64 = streams.iter().filter(|(id, _)| id.rx_port as usize == p).map(|(_, st)| st.rx).sum();
        let tx: u64 = streams.iter().filter(|(id, _)| id.tx_port as usize == p).map(|(_, st)| st.tx).sum();
        // Frames received but never sent: refused by the tx queue, or
        // drained from the rx queue at stop.
        let txd: u64 =
            streams.iter().filter(|(id, _)| id.tx_port as usize == p).map(|(_, st)| st.fwd_drops + st.drained).sum();
        let c = [rx, rx_dropped, tx, txd];
        (0..4).for_each(|i| total[i] += c[i]);
        let _ = writeln!(o, "\n  ---------------------- Forward statistics for port {p:<2} ----------------------");
        fwd_lines(&mut o, c);
        let _ = writeln!(o, "  ----------------------------------------------------------------------------");
    }
    let _ = writeln!(o, "\n  +++++++++++++++ Accumulated forward statistics for all ports+++++++++++++++");
    fwd_lines(&mut o, total);
    let _ = write!(o, "  ++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++");
    s.con.say(&o);
}

/// `[rx, rx dropped, tx, tx dropped]` in dpdk-testpmd's two lines.
fn fwd_lines(o: &mut String, [rx, rxd, tx, txd]: [u64; 4]) {
    let _ = writeln!(o, "  RX-packets: {rx:<14} RX-dropped: {rxd:<14}RX-total: {}", rx + rxd);
    let _ = writeln!(o, "  TX-packets: {tx:<14} TX-dropped: {txd:<14}TX-total: {}", tx + txd);
}

/// `show port N rss reta`: one line per redirection table entry.
pub(crate) fn rss_reta(s: &Session, p: usize) -> Result<(), String> {
    let reta = s.set.ports[p].rss_reta().map_err(|e| format!("port {p}: no RSS redirection table: {e}"))?;
    let mut o = String::new();
    for (i, q) in reta.iter().enumerate() {
        let _ = writeln!(o, "RSS RETA configuration: hash index={i}, queue={q}");
    }
    s.con.say(o.trim_end());
    Ok(())
}

/// `show port N rss-hash`: the hash types RSS uses.
pub(crate) fn rss_hash(s: &Session, p: usize) -> Result<(), String> {
    let types = s.set.ports[p].rss_hash_types().map_err(|e| format!("port {p}: no RSS: {e}"))?;
    if types.is_empty() {
        s.con.say("RSS disabled");
    } else {
        s.con.say(&format!("RSS functions:\n  {types}"));
    }
    Ok(())
}
