//! The state `testpmd -i` works on: the ports and their queues, the
//! current configuration (the flags, changed by commands), and the
//! forwarding cores while forwarding runs. Commands that need a stopped
//! port or stopped forwarding say so in dpdk-testpmd's words.

use std::time::Instant;

use ferrite_pmd::port::PortError;
use ferrite_pmd::NetDevice;

use super::command::Target;
use crate::app::cores::{self, Running};
use crate::app::plan::{self, Layout, Plan};
use crate::app::ports::PortSet;
use crate::app::shutdown;
use crate::app::streams::{self, QueueTable};
use crate::app::{announce, AppError, Console};
use crate::cli::Args;
use crate::report::StreamReport;

/// Forwarding while it runs: the cores, and the configuration they were
/// started with (a later `set fwd` applies at the next `start`).
pub(crate) struct Forwarding {
    pub(crate) running: Running,
    pub(crate) args: Args,
    /// Each port's rx drops when forwarding started.
    pub(crate) base_rx_drops: Vec<u64>,
}

/// What a finished run leaves for `show fwd stats all`.
pub(crate) struct LastRun {
    pub(crate) streams: Vec<StreamReport>,
    /// Each port's rx drops counted by the driver during the run.
    pub(crate) rx_dropped: Vec<u64>,
}

pub(crate) struct Session {
    pub(crate) con: Console,
    /// The configuration: the command line's, as commands changed it.
    pub(crate) args: Args,
    pub(crate) plan: Plan,
    /// Declared before `table` and `set`: fields drop in order, so cores
    /// stop using the queues before those go, and queues before ports.
    pub(crate) fwd: Option<Forwarding>,
    pub(crate) table: QueueTable,
    pub(crate) set: PortSet,
    pub(crate) last: Option<LastRun>,
    /// When `show port stats` last ran per port, and what it saw then
    /// (rx packets, rx bytes, tx packets, tx bytes): its throughput lines.
    pub(crate) shown: Vec<Option<(Instant, [u64; 4])>>,
    /// Commands that failed: the exit status says so.
    pub(crate) failures: usize,
    /// Streams that did not balance at a stop, or buffers missing from a
    /// pool at quit: the exit status says so.
    pub(crate) accounting_problem: bool,
}

/// A command's failure, printed and counted; the session goes on.
pub(crate) type CmdResult = Result<(), String>;

impl Session {
    /// Opens, configures and starts the ports as the flags say, without
    /// forwarding (as dpdk-testpmd's interactive mode).
    pub(crate) fn open(args: &Args) -> Result<Session, AppError> {
        let con = Console { json: false };
        let mut args = args.clone();
        args.tx_first = 0; // `start tx_first N` asks for it per run.
        let (plan, set, _, table) = crate::app::open_and_start(&con, &args)?;
        crate::app::pin_main_thread(&con, &plan);
        let n = set.len();
        let (fwd, last, shown, failures, accounting_problem) = (None, None, vec![None; n], 0, false);
        Ok(Session { con, args, plan, fwd, table, set, last, shown, failures, accounting_problem })
    }

    /// The ports a target names, or why not.
    pub(crate) fn ports(&self, t: Target) -> Result<Vec<usize>, String> {
        let n = self.set.len();
        match t {
            Target::All => Ok((0..n).collect()),
            Target::Port(p) if p < n => Ok(vec![p]),
            Target::Port(p) => Err(format!("Invalid port {p}: there are {n} port(s), 0..={}", n - 1)),
        }
    }

    pub(crate) fn port(&self, p: usize) -> Result<usize, String> {
        self.ports(Target::Port(p)).map(|v| v[0])
    }

    pub(crate) fn dev(&mut self, p: usize) -> &mut dyn NetDevice {
        self.set.ports[p].as_mut()
    }

    /// `start [tx_first N]`: streams over the running ports, cores launched.
    pub(crate) fn start(&mut self, tx_first: usize) -> CmdResult {
        if self.fwd.is_some() {
            return Err("Packet forwarding already started".into());
        }
        if let Some(p) = self.set.ports.iter().position(|d| !d.is_running()) {
            return Err(format!("Port {p} is stopped: port start {p} (or all) first"));
        }
        let mut args = self.args.clone();
        args.tx_first = tx_first;
        plan::check_args(&args).map_err(|e| e.to_string())?;
        for i in 0..self.set.len() {
            self.set.check_frame_fits(&args, i).map_err(|e| e.to_string())?;
        }
        let layout = Layout::new(&self.con, &args, &self.plan, self.set.len());
        let streams = match streams::build_streams(&args, &self.set, &mut self.table, &layout, None) {
            Ok(s) => s,
            Err(e) => {
                self.reclaim_after_failed_build();
                return Err(e.to_string());
            }
        };
        let assignment = crate::fwd::spread((0..streams.len()).collect::<Vec<_>>(), layout.cores);
        announce::announce(&self.con, &args, &self.set, &layout, &self.plan, &streams, &assignment);
        let base_rx_drops = self.rx_drops_since(&vec![0; self.set.len()]);
        match cores::launch(&args, &self.plan, streams, &assignment, &self.set.pools) {
            Ok(running) => {
                self.fwd = Some(Forwarding { running, args, base_rx_drops });
                Ok(())
            }
            Err(e) => {
                // The streams, and with them their queues, are gone.
                self.reclaim_after_failed_build();
                Err(e.to_string())
            }
        }
    }

    /// A start that failed half-way (a stream refused, a core that did not
    /// spawn) dropped the queues its streams took; the ports are restarted
    /// so that they hand out a full set again.
    fn reclaim_after_failed_build(&mut self) {
        for i in 0..self.set.len() {
            self.table.clear(i);
            let _ = self.set.ports[i].stop();
            match self.set.reopen(&self.con, &self.args, i) {
                Ok(q) => self.table.replace(i, q),
                Err(e) => self.con.warn(&format!("port {i}: cannot restart: {e}")),
            }
        }
    }

    /// `stop`: cores stopped, streams drained, queues taken back; their
    /// counts are checked to balance.
    pub(crate) fn stop(&mut self) -> CmdResult {
        let Some(fwd) = self.fwd.take() else { return Err("Packet forwarding not started".into()) };
        self.con.say("Telling cores to stop...\nWaiting for lcores to finish...");
        let stopped = shutdown::stop_cores(&self.con, &fwd.args, &self.plan, &self.set, fwd.running)
            .map_err(|e| e.to_string())?;
        for (id, rx, tx) in stopped.queues {
            self.table.give_back(&fwd.args, id, rx, tx);
        }
        let rx_dropped = self.rx_drops_since(&fwd.base_rx_drops);
        let unbalanced: Vec<String> = stopped
            .streams
            .iter()
            .filter(|s| !s.stats.balanced())
            .map(|s| format!("stream {}/{} -> {}/{}", s.id.rx_port, s.id.rx_queue, s.id.tx_port, s.id.tx_queue))
            .collect();
        self.last = Some(LastRun { streams: stopped.streams, rx_dropped });
        if !unbalanced.is_empty() {
            self.accounting_problem = true;
            return Err(format!("accounting problem: {} do not balance", unbalanced.join(", ")));
        }
        Ok(())
    }

    /// Refuses while forwarding runs (dpdk-testpmd's words).
    pub(crate) fn check_not_forwarding(&self, p: usize) -> CmdResult {
        if self.fwd.is_some() {
            return Err(format!("Please remove port {p} from forwarding configuration (stop forwarding first)."));
        }
        Ok(())
    }

    /// `port stop`: the port's queues dropped, then the port stopped.
    pub(crate) fn port_stop(&mut self, p: usize) -> CmdResult {
        self.check_not_forwarding(p)?;
        if !self.set.ports[p].is_running() {
            self.con.say(&format!("Port {p} is already stopped"));
            return Ok(());
        }
        self.table.clear(p);
        self.set.ports[p].stop().map_err(|e| format!("port {p}: stop: {e}"))
    }

    /// `port start`: configured from the current configuration and opened.
    pub(crate) fn port_start(&mut self, p: usize) -> CmdResult {
        if self.set.ports[p].is_running() {
            self.con.say(&format!("Port {p} is now not stopped"));
            return Ok(());
        }
        self.con.say(&format!("Configuring Port {p}"));
        let q = self.set.reopen(&self.con, &self.args, p).map_err(|e| e.to_string())?;
        self.table.replace(p, q);
        self.con.say(&format!("Port {p}: {}", self.set.ports[p].mac_address()));
        Ok(())
    }

    /// Refuses unless every port is stopped (dpdk-testpmd's words).
    pub(crate) fn check_all_stopped(&self) -> CmdResult {
        if self.set.ports.iter().any(|p| p.is_running()) {
            return Err("Please stop all ports first".into());
        }
        Ok(())
    }

    /// A new configuration for every port, checked against the drivers
    /// before it is taken; the ports pick it up at `port start`.
    pub(crate) fn reconfigure(&mut self, args: Args) -> CmdResult {
        self.check_all_stopped()?;
        let old = std::mem::take(&mut self.set.confs);
        match self.set.check_configs(&self.con, &args) {
            Ok(()) => {
                self.args = args;
                self.resize_pools()
            }
            Err(e) => {
                self.set.confs = old;
                Err(e.to_string())
            }
        }
    }

    /// New pools when more queues or longer rings need more buffers than
    /// the pools hold (every port is stopped, so every buffer is home).
    fn resize_pools(&mut self) -> CmdResult {
        let layout = Layout::new(&self.con, &self.args, &self.plan, self.set.len());
        let want = crate::app::config::pool_size(&self.args, layout.nstreams, layout.cores);
        let have = self.set.pools.first().map_or(0, |p| p.capacity());
        if self.args.total_num_mbufs.is_some() || want <= have {
            return Ok(());
        }
        self.set.pools.clear();
        self.set.make_pools(&self.args, &layout).map_err(|e| e.to_string())?;
        self.con.say(&format!("New mbuf pools of {} buffers for the larger rings", self.set.pools[0].capacity()));
        Ok(())
    }

    /// `quit`: forwarding stopped, queues dropped, ports stopped; then
    /// every buffer must be back in its pool.
    pub(crate) fn quit(&mut self) -> CmdResult {
        if self.fwd.is_some() {
            self.stop()?;
            super::show::fwd_stats(self);
        }
        for p in 0..self.set.len() {
            self.table.clear(p);
        }
        self.con.say("Stopping ports...");
        shutdown::stop_ports(&self.con, &mut self.set);
        let pools = &self.set.pools;
        for (i, p) in pools.iter().enumerate().filter(|(i, p)| !pools[..*i].iter().any(|q| q.same_pool(p))) {
            if p.available() != p.capacity() {
                self.accounting_problem = true;
                return Err(format!(
                    "accounting problem: mempool {i} ({}): {} of {} buffers free after stop ({} leaked)",
                    p.name(),
                    p.available(),
                    p.capacity(),
                    p.capacity() - p.available()
                ));
            }
        }
        Ok(())
    }

    /// Each port's rx drops (the driver's drops and misses) since `base`.
    pub(crate) fn rx_drops_since(&self, base: &[u64]) -> Vec<u64> {
        let drops = |p: &dyn NetDevice| {
            let s = p.stats64();
            s.rx_total().drops + s.rx_missed
        };
        self.set.ports.iter().zip(base).map(|(p, b)| drops(p.as_ref()).saturating_sub(*b)).collect()
    }

    /// A port error in a command's words.
    pub(crate) fn port_error(what: &str, p: usize, e: PortError) -> String {
        format!("{what} for port {p}: {e}")
    }
}
