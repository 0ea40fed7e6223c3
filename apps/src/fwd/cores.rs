//! Forwarding cores: the busy-polling loop, spawning pinned threads over a
//! set of streams, and spreading streams over cores.

use super::*;

/// Polls `streams` round-robin until `stop` is set (checked once per round).
pub fn run_core(streams: &mut [Stream], stop: &AtomicBool) {
    while !stop.load(Relaxed) {
        for s in streams.iter_mut() {
            s.poll();
        }
    }
}

/// What a forwarding thread hands back when it stops.
pub struct CoreExit {
    /// The streams it polled, with their queues.
    pub streams: Vec<Stream>,
    /// The lcore id it held, if registration worked.
    pub lcore: Option<usize>,
    /// Non-fatal problems (pinning, registration) to show the user.
    pub warnings: Vec<String>,
    /// Time spent asleep waiting for rx interrupts.
    pub slept: std::time::Duration,
    /// Time from start of forwarding to stop.
    pub ran: std::time::Duration,
}

/// Starts one forwarding thread: pins it to `cpu` (if given), registers it
/// as an lcore, polls `streams` until `stop`, then flushes its cache of each
/// of `pools` and hands the streams back.
pub fn spawn_core(
    index: usize,
    cpu: Option<usize>,
    streams: Vec<Stream>,
    pools: Vec<Mempool>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<CoreExit>> {
    spawn_core_with(index, cpu, streams, pools, stop, RxWait::default())
}

/// As [`spawn_core`], waiting for receive work as `wait` says.
pub fn spawn_core_with(
    index: usize,
    cpu: Option<usize>,
    streams: Vec<Stream>,
    pools: Vec<Mempool>,
    stop: Arc<AtomicBool>,
    wait: RxWait,
) -> std::io::Result<JoinHandle<CoreExit>> {
    spawn_core_woken(index, cpu, streams, pools, stop, wait, None)
}

/// As [`spawn_core_with`]; a sleeping core also wakes when `stop_bell` is
/// rung (after `stop` is set), see [`run_core_napi_woken`].
pub fn spawn_core_woken(
    index: usize,
    cpu: Option<usize>,
    mut streams: Vec<Stream>,
    pools: Vec<Mempool>,
    stop: Arc<AtomicBool>,
    wait: RxWait,
    stop_bell: Option<Arc<EventFd>>,
) -> std::io::Result<JoinHandle<CoreExit>> {
    std::thread::Builder::new().name(format!("fwd-core-{index}")).spawn(move || {
        let mut warnings = Vec::new();
        if let Some(cpu) = cpu {
            if let Err(e) = lcore::pin_to_cpu(cpu) {
                warnings.push(format!("forwarding core {index}: cannot pin to CPU {cpu}: {e}"));
            }
        }
        let guard = match lcore::register() {
            Ok(g) => Some(g),
            Err(e) => {
                warnings.push(format!("forwarding core {index}: no lcore id ({e}); running without pool caches"));
                None
            }
        };
        for s in streams.iter_mut() {
            s.start_clock();
        }
        let started = Instant::now();
        let slept = match wait.mode {
            RxWaitMode::Poll => {
                run_core(&mut streams, &stop);
                std::time::Duration::ZERO
            }
            _ => run_core_napi_woken(&mut streams, &stop, &wait, stop_bell.as_deref()),
        };
        let ran = started.elapsed();
        // Frames a generator still holds go back before the cache flush.
        for s in streams.iter_mut() {
            if !s.batch.is_empty() {
                s.counters.fwd_drops.add(s.batch.len() as u64);
                s.batch.clear();
            }
        }
        for p in &pools {
            p.flush_local_cache();
        }
        CoreExit { streams, lcore: guard.as_ref().map(|g| g.id()), warnings, slept, ran }
    })
}

/// Spreads streams round-robin over `cores` cores, as testpmd does.
pub fn spread<T>(items: Vec<T>, cores: usize) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = (0..cores.max(1)).map(|_| Vec::new()).collect();
    let n = out.len();
    for (i, s) in items.into_iter().enumerate() {
        out[i % n].push(s);
    }
    out
}
