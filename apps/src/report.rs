//! The final report: testpmd's familiar text layout, or one JSON object.
//!
//! Both make packet conservation checkable: per stream,
//! `rx + generated == tx + fwd_drops + consumed + drained`; per port and rx
//! queue, what the driver counted as received equals what the stream polling
//! that queue received; after stop, every pool is full again.

use std::fmt::Write;

use ferrite_pmd::port::{PortStats, QueueStats, RxOffloads, TxOffloads};

use crate::fwd::{StreamId, StreamStats};
use serde_json::{json, Map, Value};

/// One port's part of the report.
#[derive(Clone, Debug)]
pub struct PortReport {
    /// Index in the port list.
    pub id: usize,
    /// Name (`null0`, `0000:01:00.0`).
    pub name: String,
    /// Driver name (`ethtool -i`).
    pub driver: String,
    /// The port's MAC address.
    pub mac: String,
    /// Driver counters after stop.
    pub stats: PortStats,
    /// Frames the streams transmitting on this port freed because its tx
    /// queue did not take them.
    pub fwd_tx_drops: u64,
    /// Named (`ethtool -S`) statistics after stop, when `--xstats` asked
    /// for them (empty otherwise).
    pub xstats: Vec<(String, u64)>,
    /// Receive offloads the port was configured with.
    pub rx_offloads: RxOffloads,
    /// Transmit offloads the port was configured with.
    pub tx_offloads: TxOffloads,
    /// Unicast addresses the port receives: its own, then those of
    /// `--mac-addr-add`.
    pub mac_addrs: Vec<String>,
    /// Multicast groups listed (`--mc-addr`).
    pub mc_addrs: Vec<String>,
    /// VLAN IDs in the receive filter (`--vlan-filter`).
    pub vlan_filters: Vec<u16>,
}

/// One stream's part of the report.
#[derive(Clone, Debug)]
pub struct StreamReport {
    /// Ports and queues.
    pub id: StreamId,
    /// Forwarding core index (0-based, in -l order after the main lcore).
    pub core: usize,
    /// The CPU that core ran on.
    pub cpu: Option<usize>,
    /// Counters after stop and drain.
    pub stats: StreamStats,
}

/// One pool's part of the report.
#[derive(Clone, Debug)]
pub struct PoolReport {
    /// Pool name.
    pub name: String,
    /// Buffers in the pool.
    pub capacity: usize,
    /// Buffers free after stop.
    pub available: usize,
}

/// Everything the final report shows.
#[derive(Clone, Debug)]
pub struct Report {
    /// Forward mode name.
    pub mode: String,
    /// Port topology name.
    pub topology: String,
    /// Burst size.
    pub burst: usize,
    /// Forwarding cores.
    pub cores: usize,
    /// Seconds between start and stop of forwarding.
    pub duration_s: f64,
    /// Ports.
    pub ports: Vec<PortReport>,
    /// Streams.
    pub streams: Vec<StreamReport>,
    /// Pools.
    pub mempools: Vec<PoolReport>,
    /// Accounting problems found (empty when every check passed).
    pub problems: Vec<String>,
    /// Per forwarding core: how its rx wait went (`--rx-mode`).
    pub core_sleep: Vec<CoreSleep>,
}

/// How much of its run a forwarding core slept on rx interrupts.
#[derive(Clone, Debug, Default)]
pub struct CoreSleep {
    /// Forwarding core index.
    pub core: usize,
    /// The CPU it ran on.
    pub cpu: Option<usize>,
    /// `poll`, `interrupt` or `adaptive`.
    pub rx_mode: String,
    /// Seconds asleep in epoll.
    pub slept_s: f64,
    /// Seconds from start to stop of forwarding.
    pub ran_s: f64,
}

impl CoreSleep {
    /// Fraction of the run spent asleep (0..=1).
    pub fn fraction(&self) -> f64 {
        if self.ran_s > 0.0 {
            (self.slept_s / self.ran_s).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

fn mpps(packets: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        packets as f64 / secs / 1e6
    } else {
        0.0
    }
}

impl PortReport {
    /// RX-dropped as testpmd shows it: driver queue drops plus device misses.
    pub fn rx_dropped(&self) -> u64 {
        self.stats.rx_total().drops + self.stats.rx_missed
    }

    /// TX-dropped as testpmd shows it: frames the forwarding engine could not
    /// hand to the tx queue, plus what the driver dropped.
    pub fn tx_dropped(&self) -> u64 {
        self.fwd_tx_drops + self.stats.tx_total().drops
    }
}

impl Report {
    /// Frames received over all ports.
    pub fn rx_packets(&self) -> u64 {
        self.ports.iter().map(|p| p.stats.rx_total().packets).sum()
    }

    /// Frames transmitted over all ports.
    pub fn tx_packets(&self) -> u64 {
        self.ports.iter().map(|p| p.stats.tx_total().packets).sum()
    }

    /// Receive rate over all ports, Mpps.
    pub fn rx_mpps(&self) -> f64 {
        mpps(self.rx_packets(), self.duration_s)
    }

    /// Transmit rate over all ports, Mpps.
    pub fn tx_mpps(&self) -> f64 {
        mpps(self.tx_packets(), self.duration_s)
    }

    /// The headline rate: received packets per second over all ports (as
    /// the DPDK baselines sum Rx-pps), or transmitted for txonly/flowgen.
    pub fn mpps(&self) -> f64 {
        if self.mode == "txonly" || self.mode == "flowgen" {
            self.tx_mpps()
        } else {
            self.rx_mpps()
        }
    }

    /// Checks conservation and pool accounting; fills `problems`.
    pub fn check(&mut self) {
        let mut problems = Vec::new();
        for s in &self.streams {
            let (id, st) = (s.id, s.stats);
            if !st.balanced() {
                problems.push(format!(
                    "stream {}/{} -> {}/{}: rx {} + generated {} != tx {} + fwd_drops {} + consumed {} + drained {}",
                    id.rx_port,
                    id.rx_queue,
                    id.tx_port,
                    id.tx_queue,
                    st.rx,
                    st.generated,
                    st.tx,
                    st.fwd_drops,
                    st.consumed,
                    st.drained
                ));
            }
            if st.rx > 0 || st.drained > 0 {
                let port = &self.ports[id.rx_port as usize];
                let drv = port.stats.rx_queues.get(id.rx_queue as usize).map_or(0, |q| q.packets);
                if drv != st.rx {
                    problems.push(format!(
                        "port {} ({}) rx queue {}: driver counted {} received, the stream {}",
                        port.id, port.name, id.rx_queue, drv, st.rx
                    ));
                }
            }
        }
        for p in &self.mempools {
            if p.available != p.capacity {
                problems.push(format!(
                    "mempool {}: {} of {} buffers free after stop ({} leaked)",
                    p.name,
                    p.available,
                    p.capacity,
                    p.capacity as i64 - p.available as i64
                ));
            }
        }
        self.problems = problems;
    }

    /// testpmd's text layout.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let w = &mut o;
        for s in &self.streams {
            let (id, st) = (s.id, s.stats);
            let _ = writeln!(
                w,
                "\n  ------- Forward Stats for RX Port={:>2}/Queue={:>2} -> TX Port={:>2}/Queue={:>2} -------",
                id.rx_port, id.rx_queue, id.tx_port, id.tx_queue
            );
            let _ =
                writeln!(w, "  RX-packets: {:<14} TX-packets: {:<14} TX-dropped: {:<14}", st.rx, st.tx, st.fwd_drops);
            if st.generated + st.consumed + st.drained > 0 {
                let _ = writeln!(
                    w,
                    "  Generated: {:<15} Consumed: {:<16} Drained: {:<14}",
                    st.generated, st.consumed, st.drained
                );
            }
            if st.consumed > 0 || st.bad_payload + st.out_of_order + st.seq_gaps > 0 {
                let _ = writeln!(
                    w,
                    "  Bad-payload: {:<13} Out-of-order: {:<12} Seq-gaps: {:<14}",
                    st.bad_payload, st.out_of_order, st.seq_gaps
                );
            }
            let csum_work = st.csum_named().iter().any(|(_, v)| *v > 0);
            if self.mode == "csum" || csum_work {
                // dpdk-testpmd's words for the receive verdicts, then what
                // the engine asked of the NIC or did itself.
                let _ = writeln!(w, "  Bad-ipcsum: {:<14} Bad-l4csum: {:<14}", st.rx_bad_ip_csum, st.rx_bad_l4_csum);
                let _ = writeln!(
                    w,
                    "  Cksum-offload: {:<11} TSO: {:<21} Cksum-sw: {}",
                    st.tx_cksum_offload, st.tx_tso, st.tx_cksum_sw
                );
            }
            if st.polls + st.sleeps > 0 {
                let _ = writeln!(
                    w,
                    "  Polls: {:<14} Empty-polls: {:<13} Interrupts: {:<12} Sleeps: {}",
                    st.polls, st.empty_polls, st.interrupts, st.sleeps
                );
            }
        }
        for p in &self.ports {
            let (rx, tx) = (p.stats.rx_total(), p.stats.tx_total());
            let _ = writeln!(
                w,
                "\n  ---------------------- Forward statistics for port {:<2} ----------------------",
                p.id
            );
            let _ = writeln!(w, "  Port {} ({}, {}, {})", p.id, p.name, p.driver, p.mac);
            let _ = writeln!(
                w,
                "  RX-packets: {:<14} RX-dropped: {:<14} RX-total: {}",
                rx.packets,
                p.rx_dropped(),
                rx.packets + p.rx_dropped() + rx.errors
            );
            if rx.errors > 0 {
                let _ = writeln!(w, "  RX-error: {}", rx.errors);
            }
            let _ = writeln!(
                w,
                "  TX-packets: {:<14} TX-dropped: {:<14} TX-total: {}",
                tx.packets,
                p.tx_dropped(),
                tx.packets + p.tx_dropped() + tx.errors
            );
            if tx.errors > 0 {
                let _ = writeln!(w, "  TX-error: {}", tx.errors);
            }
            let _ = writeln!(w, "  RX-bytes: {:<16} TX-bytes: {}", rx.bytes, tx.bytes);
            queue_lines(w, "RX", &p.stats.rx_queues);
            queue_lines(w, "TX", &p.stats.tx_queues);
            if !p.xstats.is_empty() {
                let _ = writeln!(w, "  xstats (ethtool -S):");
                for (name, v) in &p.xstats {
                    let _ = writeln!(w, "    {name}: {v}");
                }
            }
            let _ = writeln!(
                w,
                "  Throughput (Mpps): RX {:.3}  TX {:.3}",
                mpps(rx.packets, self.duration_s),
                mpps(tx.packets, self.duration_s)
            );
            let _ = writeln!(w, "  {}", "-".repeat(76));
        }
        let (mut rxp, mut rxd, mut rxe, mut txp, mut txd, mut txe) = (0, 0, 0, 0, 0, 0);
        for p in &self.ports {
            let (rx, tx) = (p.stats.rx_total(), p.stats.tx_total());
            rxp += rx.packets;
            rxd += p.rx_dropped();
            rxe += rx.errors;
            txp += tx.packets;
            txd += p.tx_dropped();
            txe += tx.errors;
        }
        let _ = writeln!(w, "\n  +++++++++++++++ Accumulated forward statistics for all ports+++++++++++++++");
        let _ = writeln!(w, "  RX-packets: {:<14} RX-dropped: {:<14} RX-total: {}", rxp, rxd, rxp + rxd + rxe);
        let _ = writeln!(w, "  TX-packets: {:<14} TX-dropped: {:<14} TX-total: {}", txp, txd, txp + txd + txe);
        let _ = writeln!(
            w,
            "  Throughput (Mpps): RX {:.3}  TX {:.3}  over {:.3} s ({} mode, {} core(s), burst {})",
            self.rx_mpps(),
            self.tx_mpps(),
            self.duration_s,
            self.mode,
            self.cores,
            self.burst
        );
        let _ = writeln!(w, "  {}", "+".repeat(76));
        for c in &self.core_sleep {
            let cpu = c.cpu.map_or("any".to_string(), |c| c.to_string());
            let _ = writeln!(
                w,
                "  Core {} (CPU {cpu}, rx-mode {}): slept {:.1}% of {:.3} s",
                c.core,
                c.rx_mode,
                100.0 * c.fraction(),
                c.ran_s
            );
        }
        for p in &self.mempools {
            let _ = writeln!(w, "  Mempool {}: {} of {} buffers free", p.name, p.available, p.capacity);
        }
        if self.problems.is_empty() {
            let _ = writeln!(w, "  Accounting: every packet accounted for, every buffer back in its pool.");
        } else {
            for pr in &self.problems {
                let _ = writeln!(w, "  ACCOUNTING PROBLEM: {pr}");
            }
        }
        o
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> String {
        json!({
            "mode": self.mode, "topology": self.topology,
            // "nb_cores" (testpmd's --nb-cores word): "cores" is the per-core array below.
            "burst": self.burst, "nb_cores": self.cores, "duration_s": self.duration_s,
            "mpps": self.mpps(), "rx_mpps": self.rx_mpps(), "tx_mpps": self.tx_mpps(),
            "ports": self.ports.iter().map(|p| self.port_json(p)).collect::<Vec<_>>(),
            "streams": self.streams.iter().map(stream_json).collect::<Vec<_>>(),
            "cores": self.core_sleep.iter().map(|c| json!({
                "core": c.core, "cpu": cpu_json(c.cpu), "rx_mode": c.rx_mode, "slept_s": c.slept_s,
                "ran_s": c.ran_s, "sleep_fraction": c.fraction(),
            })).collect::<Vec<_>>(),
            "mempools": self.mempools.iter().map(|p| json!({
                "name": p.name, "capacity": p.capacity, "available": p.available,
            })).collect::<Vec<_>>(),
            "accounting_ok": self.problems.is_empty(),
            "problems": self.problems,
        })
        .to_string()
    }

    fn port_json(&self, p: &PortReport) -> Value {
        let (rx, tx) = (p.stats.rx_total(), p.stats.tx_total());
        let nq = p.stats.rx_queues.len().max(p.stats.tx_queues.len());
        let queues: Vec<Value> = (0..nq)
            .map(|q| {
                let r = p.stats.rx_queues.get(q).copied().unwrap_or_default();
                let t = p.stats.tx_queues.get(q).copied().unwrap_or_default();
                json!({
                    "queue": q,
                    "rx_packets": r.packets, "rx_bytes": r.bytes, "rx_drops": r.drops, "rx_errors": r.errors,
                    "tx_packets": t.packets, "tx_bytes": t.bytes, "tx_drops": t.drops, "tx_errors": t.errors,
                })
            })
            .collect();
        let mut o = json!({
            "id": p.id, "name": p.name, "driver": p.driver, "mac": p.mac,
            "rx_packets": rx.packets, "rx_bytes": rx.bytes, "rx_drops": rx.drops, "rx_errors": rx.errors,
            "rx_missed": p.stats.rx_missed,
            "tx_packets": tx.packets, "tx_bytes": tx.bytes, "tx_drops": tx.drops, "tx_errors": tx.errors,
            "fwd_tx_drops": p.fwd_tx_drops,
            "rx_mpps": mpps(rx.packets, self.duration_s), "tx_mpps": mpps(tx.packets, self.duration_s),
            "rx_offloads": p.rx_offloads.names().collect::<Vec<_>>(),
            "tx_offloads": p.tx_offloads.names().collect::<Vec<_>>(),
            "mac_addrs": p.mac_addrs, "mc_addrs": p.mc_addrs, "vlan_filters": p.vlan_filters,
            "queues": queues,
        });
        if !p.xstats.is_empty() {
            let xstats: Map<String, Value> = p.xstats.iter().map(|(k, v)| (k.clone(), Value::from(*v))).collect();
            o["xstats"] = Value::Object(xstats);
        }
        o
    }
}

/// A core's CPU, or "any" when it was not pinned.
fn cpu_json(cpu: Option<usize>) -> Value {
    cpu.map_or_else(|| Value::from("any"), Value::from)
}

fn stream_json(s: &StreamReport) -> Value {
    let (id, st) = (s.id, s.stats);
    let mut o = json!({
        "rx_port": id.rx_port, "rx_queue": id.rx_queue, "tx_port": id.tx_port, "tx_queue": id.tx_queue,
        "core": s.core, "cpu": cpu_json(s.cpu),
        "rx": st.rx, "tx": st.tx, "fwd_drops": st.fwd_drops, "generated": st.generated, "consumed": st.consumed,
        "drained": st.drained, "bad_payload": st.bad_payload, "out_of_order": st.out_of_order,
        "seq_gaps": st.seq_gaps,
    });
    let m = o.as_object_mut().expect("an object");
    for (name, v) in st.csum_named().into_iter().chain(st.napi_named()) {
        m.insert(name.to_string(), v.into());
    }
    m.insert("balanced".into(), st.balanced().into());
    o
}

fn queue_lines(w: &mut String, dir: &str, qs: &[QueueStats]) {
    if qs.is_empty() {
        return;
    }
    for (i, q) in qs.iter().enumerate() {
        let _ = writeln!(
            w,
            "    {dir}-queue {i:<3} packets: {:<14} bytes: {:<16} dropped: {:<10} errors: {}",
            q.packets, q.bytes, q.drops, q.errors
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_pmd::port::QueueStats;

    #[test]
    fn counters_above_2_pow_53_survive_the_json_round_trip() {
        // 2^53 + 1 is the first whole number an f64 cannot hold: a writer
        // or reader that goes through f64 gives back 2^53.
        let big = (1u64 << 53) + 1;
        assert_ne!(big as f64 as u64, big, "the test value must be one f64 rounds");
        let q = QueueStats { packets: big, bytes: u64::MAX, drops: 3, errors: 4 };
        let port = PortReport {
            id: 0,
            name: "pair0".into(),
            driver: "net_pair".into(),
            mac: "02:00:00:00:00:01".into(),
            stats: PortStats { rx_queues: vec![q], tx_queues: vec![q], rx_missed: big },
            fwd_tx_drops: big,
            xstats: vec![("rx_queue_0_packets".into(), big)],
            rx_offloads: RxOffloads::default(),
            tx_offloads: TxOffloads::default(),
            mac_addrs: vec![],
            mc_addrs: vec![],
            vlan_filters: vec![7],
        };
        let r = Report {
            mode: "io".into(),
            topology: "paired".into(),
            burst: 32,
            cores: 1,
            duration_s: 1.5,
            ports: vec![port],
            streams: vec![],
            mempools: vec![],
            problems: vec![],
            core_sleep: vec![],
        };
        let v: Value = serde_json::from_str(&r.to_json()).unwrap();
        let p = &v["ports"][0];
        for k in ["rx_packets", "tx_packets", "rx_missed", "fwd_tx_drops"] {
            assert_eq!(p[k].as_u64(), Some(big), "{k}");
        }
        assert_eq!(p["queues"][0]["rx_bytes"].as_u64(), Some(u64::MAX));
        assert_eq!(p["xstats"]["rx_queue_0_packets"].as_u64(), Some(big));
        assert_eq!((v["duration_s"].as_f64(), v["accounting_ok"].as_bool()), (Some(1.5), Some(true)));
    }
}
