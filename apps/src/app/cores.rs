//! Launching the forwarding cores and stopping them.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrite_pmd::Mempool;
use ferrite_vfio::EventFd;

use super::plan::Plan;
use super::AppError;
use crate::cli::Args;
use crate::fwd::{self, Stream, StreamCounters, StreamId};

/// The forwarding cores while they run.
pub(crate) struct Running {
    pub(crate) handles: Vec<std::thread::JoinHandle<fwd::CoreExit>>,
    pub(crate) stop: Arc<AtomicBool>,
    /// Rung after `stop` is set, to wake cores asleep on rx interrupts.
    pub(crate) stop_bell: Option<Arc<EventFd>>,
    /// Every stream's counters, read while the cores run.
    pub(crate) counters: Vec<(StreamId, Arc<StreamCounters>)>,
    /// When forwarding started.
    pub(crate) started: Instant,
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
pub(crate) const CORE_RECHECK: Duration = Duration::from_secs(1);

/// Starts one forwarding thread per core of `assignment` (stream indices
/// per core), pinned to the plan's lcores.
pub(crate) fn launch(
    args: &Args,
    plan: &Plan,
    streams: Vec<Stream>,
    assignment: &[Vec<usize>],
    pools: &[Mempool],
) -> Result<Running, AppError> {
    let cores = assignment.len();
    let counters = streams.iter().map(|s| (s.id(), s.counters())).collect();
    let mut core_of = vec![0usize; streams.len()];
    for (c, ids) in assignment.iter().enumerate() {
        for &i in ids {
            core_of[i] = c;
        }
    }
    let mut per_core: Vec<Vec<Stream>> = (0..cores).map(|_| Vec::new()).collect();
    for (i, s) in streams.into_iter().enumerate() {
        per_core[core_of[i]].push(s);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stop_bell = EventFd::new().ok().map(Arc::new);
    let mut running =
        Running { handles: Vec::with_capacity(cores), stop, stop_bell, counters, started: Instant::now() };
    for (c, ss) in per_core.into_iter().enumerate() {
        let mut wait = fwd::RxWait { mode: args.rx_mode, idle_polls: args.idle_polls, ..fwd::RxWait::default() };
        if running.stop_bell.is_some() {
            wait.max_sleep = CORE_RECHECK;
        }
        let (bell, stop) = (running.stop_bell.clone(), Arc::clone(&running.stop));
        match fwd::spawn_core_woken(c, Some(plan.fwd_cpus[c]), ss, pools.to_vec(), stop, wait, bell) {
            Ok(h) => running.handles.push(h),
            Err(e) => {
                let _ = running.join();
                return Err(AppError::Runtime(format!("cannot start forwarding core {c}: {e}")));
            }
        }
    }
    Ok(running)
}

impl Running {
    /// Stops every core and waits for it; a core that panicked is an error.
    pub(crate) fn join(mut self) -> Result<Vec<fwd::CoreExit>, AppError> {
        self.stop();
        let mut exits = Vec::with_capacity(self.handles.len());
        let mut panicked = 0;
        for h in self.handles.drain(..) {
            match h.join() {
                Ok(e) => exits.push(e),
                Err(_) => panicked += 1,
            }
        }
        if panicked > 0 {
            return Err(AppError::Runtime(format!("{panicked} forwarding core(s) panicked")));
        }
        Ok(exits)
    }

    /// Forwarding cores running.
    pub(crate) fn cores(&self) -> usize {
        self.handles.len()
    }
}
