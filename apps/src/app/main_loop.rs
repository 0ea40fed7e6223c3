//! The main thread while forwarding runs: rates, link events, telemetry,
//! stop conditions, and sleeping in between.

use std::time::{Duration, Instant};

use ferrite_pmd::NetDevice;

use super::cores::Running;
use super::ports::PortSet;
use super::Console;
use crate::cli::Args;
use crate::event::Epoll;
use crate::signal;

/// The main thread's timer while it must poll: no eventfd to sleep on, or
/// waiting for `--tx-count` (the generating cores never sleep then, so
/// there is no idle CPU to save).
pub(crate) const MAIN_POLL: Duration = Duration::from_millis(20);

/// How long the main thread may sleep: until the first of `timers` (the
/// end of --duration, the next stats line), or until an event if there is
/// none; at most [`MAIN_POLL`] when it must `poll`.
pub(crate) fn nap(now: Instant, timers: [Option<Instant>; 2], poll: bool) -> Option<Duration> {
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
pub(crate) struct MainWake {
    pub(crate) ep: Option<Epoll>,
    /// Every source is watched; if not, sleeps are capped at [`MAIN_POLL`]
    /// so an unwatched one is still noticed.
    pub(crate) complete: bool,
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
pub(crate) fn log_link_events(con: &Console, events: &[ferrite_pmd::port::LinkEvents]) {
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

pub(crate) fn snapshot_ports(ports: &[Box<dyn NetDevice>]) -> Vec<(u64, u64)> {
    ports
        .iter()
        .map(|p| {
            let s = p.stats64();
            (s.rx_total().packets, s.tx_total().packets)
        })
        .collect()
}

pub(crate) fn print_rates(
    con: &Console,
    ports: &[Box<dyn NetDevice>],
    before: &[(u64, u64)],
    now: &[(u64, u64)],
    secs: f64,
) {
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
pub(crate) fn print_queue_rows(con: &Console, ports: &[Box<dyn NetDevice>]) {
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

/// The telemetry socket, unless `--no-telemetry`; a failure (no right to
/// create the directory, say) is a warning, not a reason to stop.
pub(crate) fn start_telemetry(con: &Console, args: &Args) -> Option<crate::telemetry::Telemetry> {
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

/// The main thread while the cores forward: rates, stop conditions, link
/// events, telemetry. Between rounds it sleeps until the next stats line
/// or --duration's end, or until a signal, a telemetry request or a link
/// event wakes it. Returns the seconds forwarded.
pub(crate) fn main_loop(con: &Console, args: &Args, set: &PortSet, running: &Running) -> f64 {
    let started = running.started;
    let deadline = args.duration.map(|d| started + Duration::from_secs_f64(d));
    let period = args.stats_period.map(Duration::from_secs_f64);
    let mut next_stats = period.map(|p| started + p);
    let mut last = (started, snapshot_ports(&set.ports));
    let telemetry = start_telemetry(con, args);
    let mode = args.forward_mode;
    let tctx = crate::telemetry::Context { mode: mode.name(), cores: running.cores(), streams: &running.counters };
    let wake = MainWake::new(&set.link_events, telemetry.as_ref());
    let counting = mode.generates() && args.tx_count.is_some();
    loop {
        let now = Instant::now();
        if should_stop(con, now, deadline, counting, running) {
            break;
        }
        if let (Some(at), Some(p)) = (next_stats, period) {
            if now >= at {
                let cur = snapshot_ports(&set.ports);
                print_rates(con, &set.ports, &last.1, &cur, now.duration_since(last.0).as_secs_f64());
                print_queue_rows(con, &set.ports);
                last = (now, cur);
                next_stats = Some(at + p);
            }
        }
        log_link_events(con, &set.link_events);
        if let Some(t) = &telemetry {
            t.serve(&set.ports, &tctx);
        }
        wake.sleep(nap(now, [deadline, next_stats], counting));
    }
    started.elapsed().as_secs_f64()
}

/// A signal, the end of `--duration`, or every `--tx-count` frame sent.
fn should_stop(con: &Console, now: Instant, deadline: Option<Instant>, counting: bool, running: &Running) -> bool {
    if signal::requested() {
        con.say("Signal received, stopping forwarding...");
        return true;
    }
    if deadline.is_some_and(|d| now >= d) {
        return true;
    }
    if counting && running.counters.iter().all(|(_, c)| c.is_done()) {
        con.say("All frames sent (--tx-count reached), stopping forwarding...");
        return true;
    }
    false
}
