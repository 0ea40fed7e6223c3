//! Stopping: the cores joined, their streams drained, the capture closed,
//! the ports stopped, and the final report.

use ferrite_pmd::port::MacAddr;
use ferrite_pmd::{RxQueue, TxQueue, MAX_BURST};

use super::cores::Running;
use super::plan::Plan;
use super::ports::PortSet;
use super::streams::CaptureTaps;
use super::{AppError, Console};
use crate::cli::Args;
use crate::fwd::StreamId;
use crate::report::{CoreSleep, PoolReport, PortReport, Report, StreamReport};

/// A stopped stream's queues, with the stream they served.
pub(crate) type StreamQueues = (StreamId, Box<dyn RxQueue>, Box<dyn TxQueue>);

/// What the stopped cores leave: the streams' final counts, each core's
/// sleep, and the streams' queues (drained).
pub(crate) struct Stopped {
    pub(crate) streams: Vec<StreamReport>,
    pub(crate) core_sleep: Vec<CoreSleep>,
    pub(crate) queues: Vec<StreamQueues>,
}

/// Stops the cores, then drains what is still queued on every stream.
pub(crate) fn stop_cores(
    con: &Console,
    args: &Args,
    plan: &Plan,
    set: &PortSet,
    running: Running,
) -> Result<Stopped, AppError> {
    let exits = running.join()?;
    // A queue holds at most its ring plus a burst in flight; null ports
    // make frames up on every receive, so there is nothing queued to drain.
    let drain_max = 2 * args.rxd as usize + MAX_BURST;
    let makes_frames: Vec<bool> = set.ports.iter().map(|p| p.drvinfo().driver == "net_null").collect();
    let mut out = Stopped { streams: Vec::new(), core_sleep: Vec::new(), queues: Vec::new() };
    for (c, exit) in exits.into_iter().enumerate() {
        let cpu = plan.fwd_cpus.get(c).copied();
        out.core_sleep.push(CoreSleep {
            core: c,
            cpu,
            rx_mode: args.rx_mode.name().to_string(),
            slept_s: exit.slept.as_secs_f64(),
            ran_s: exit.ran.as_secs_f64(),
        });
        for w in &exit.warnings {
            con.warn(w);
        }
        for mut s in exit.streams {
            s.drain(if makes_frames[s.id().rx_port as usize] { 0 } else { drain_max });
            out.streams.push(StreamReport { id: s.id(), core: c, cpu, stats: s.counters().snapshot() });
            let id = s.id();
            let (rx, tx) = s.into_queues();
            out.queues.push((id, rx, tx));
        }
    }
    out.streams.sort_by_key(|s| (s.id.rx_port, s.id.rx_queue));
    Ok(out)
}

/// Closes the capture files and says what each holds.
pub(crate) fn finish_capture(con: &Console, capture: Option<(crate::capture::Capture, CaptureTaps)>) {
    let Some((cap, _)) = capture else { return };
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

/// Stops every running port (its queue handles must be dropped first).
pub(crate) fn stop_ports(con: &Console, set: &mut PortSet) {
    for (i, port) in set.ports.iter_mut().enumerate() {
        if !port.is_running() {
            continue;
        }
        if let Err(e) = port.stop() {
            con.warn(&format!("port {i} ({}): stop: {e}", port.name()));
        }
    }
}

/// The final report, checked.
pub(crate) fn report(
    args: &Args,
    set: &PortSet,
    streams: Vec<StreamReport>,
    core_sleep: Vec<CoreSleep>,
    duration_s: f64,
) -> Report {
    let ports = (0..set.len()).map(|i| port_report(args, set, i, &streams)).collect();
    let pools = &set.pools;
    let mempools = pools
        .iter()
        .enumerate()
        .filter(|(i, p)| !pools[..*i].iter().any(|q| q.same_pool(p)))
        .map(|(_, p)| PoolReport { name: p.name().to_string(), capacity: p.capacity(), available: p.available() })
        .collect();
    let mut report = Report {
        mode: args.forward_mode.name().to_string(),
        topology: args.port_topology.name().to_string(),
        burst: args.burst,
        cores: core_sleep.len(),
        duration_s,
        ports,
        streams,
        mempools,
        problems: Vec::new(),
        core_sleep,
    };
    report.check();
    report
}

fn port_report(args: &Args, set: &PortSet, i: usize, streams: &[StreamReport]) -> PortReport {
    let port = &set.ports[i];
    let fwd_tx_drops = streams.iter().filter(|s| s.id.tx_port as usize == i).map(|s| s.stats.fwd_drops).sum();
    PortReport {
        id: i,
        name: port.name().to_string(),
        driver: port.drvinfo().driver,
        mac: set.macs[i].to_string(),
        stats: port.stats64(),
        fwd_tx_drops,
        xstats: if args.xstats { port.named_stats() } else { Vec::new() },
        rx_offloads: set.confs[i].rx_offloads,
        tx_offloads: set.confs[i].tx_offloads,
        mac_addrs: port.mac_addrs().iter().map(MacAddr::to_string).collect(),
        mc_addrs: port.mc_addr_list().iter().map(MacAddr::to_string).collect(),
        vlan_filters: port.vlan_filters(),
    }
}
