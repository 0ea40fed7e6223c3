//! NAPI-style polling: a core that sleeps on rx interrupts when its queues
//! are idle and polls them while busy (`--rx-mode`).

use super::*;

/// How forwarding cores wait for receive work (`--rx-mode`), after Linux's
/// NAPI: poll while busy, sleep on the rx interrupt once idle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RxWaitMode {
    /// Spin on every queue forever (DPDK's default; 100% CPU when idle).
    Poll,
    /// Arm the rx interrupts and sleep after every empty round.
    Interrupt,
    /// Poll; after `idle_polls` empty rounds arm the interrupts and sleep.
    #[default]
    Adaptive,
}

impl RxWaitMode {
    /// Parses `poll`, `interrupt` or `adaptive`.
    pub fn from_name(s: &str) -> Option<RxWaitMode> {
        match s {
            "poll" => Some(RxWaitMode::Poll),
            "interrupt" => Some(RxWaitMode::Interrupt),
            "adaptive" => Some(RxWaitMode::Adaptive),
            _ => None,
        }
    }

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            RxWaitMode::Poll => "poll",
            RxWaitMode::Interrupt => "interrupt",
            RxWaitMode::Adaptive => "adaptive",
        }
    }
}

/// How a forwarding core waits (see [`RxWaitMode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxWait {
    /// The mode.
    pub mode: RxWaitMode,
    /// Empty rounds before an adaptive core sleeps.
    pub idle_polls: u32,
    /// Longest sleep. Without a stop bell (see [`run_core_napi_woken`])
    /// the stop flag is checked this often; with one it is only a safety
    /// net for an rx interrupt lost by the device, and can be long.
    pub max_sleep: std::time::Duration,
}

impl Default for RxWait {
    fn default() -> Self {
        RxWait { mode: RxWaitMode::Poll, idle_polls: 1000, max_sleep: std::time::Duration::from_millis(100) }
    }
}

/// Arms every stream's rx interrupt. Returns false (with nothing left
/// armed) if some queue cannot interrupt, e.g. a generator's placeholder.
pub(crate) fn arm_all(streams: &mut [Stream], ep: &Epoll, watched: &mut [bool]) -> bool {
    for i in 0..streams.len() {
        let rx = &mut streams[i].rx;
        let ok =
            rx.enable_interrupt().is_ok() && (watched[i] || rx.interrupt_fd().is_some_and(|fd| ep.add(fd, i as u64)));
        if !ok {
            for s in streams[..=i].iter_mut() {
                s.rx.disable_interrupt();
            }
            return false;
        }
        watched[i] = true;
    }
    true
}

/// The NAPI loop: polls `streams` round-robin until `stop`; once every
/// stream found nothing for `idle_polls` rounds (1 in interrupt mode), arms
/// their rx interrupts and sleeps in `epoll_wait` (at most `max_sleep`, so
/// `stop` is honoured); on wake-up disarms them and polls again. Streams
/// that cannot interrupt (generators, null ports) keep the core polling.
/// Costs, per empty poll, one counter. Returns the time spent asleep.
pub fn run_core_napi(streams: &mut [Stream], stop: &AtomicBool, wait: &RxWait) -> std::time::Duration {
    run_core_napi_woken(streams, stop, wait, None)
}

/// Tag of the stop bell among the epoll tags (stream indexes).
pub(crate) const STOP_TAG: u64 = u64::MAX;

/// As [`run_core_napi`], and `stop_bell`, rung (and never reset) after
/// `stop` is set, ends a sleep at once: an idle core then sleeps until
/// traffic or the stop, not `max_sleep` at a time.
pub fn run_core_napi_woken(
    streams: &mut [Stream],
    stop: &AtomicBool,
    wait: &RxWait,
    stop_bell: Option<&EventFd>,
) -> std::time::Duration {
    let mut slept = std::time::Duration::ZERO;
    let ep = match Epoll::new() {
        Ok(ep) => ep,
        Err(_) => {
            run_core(streams, stop);
            return slept;
        }
    };
    // Level-triggered and never read here: once rung it keeps every later
    // wait short, and the loop sees `stop`. (If it cannot be watched, the
    // loop still checks `stop` every `max_sleep`.)
    if let Some(bell) = stop_bell {
        ep.add(bell.as_raw_fd(), STOP_TAG);
    }
    let threshold = if wait.mode == RxWaitMode::Interrupt { 1 } else { wait.idle_polls.max(1) };
    let mut watched = vec![false; streams.len()];
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 16];
    let (mut can_sleep, mut idle, mut rounds) = (true, 0u32, 0u64);
    while !stop.load(Relaxed) {
        let got = poll_round(streams);
        rounds += 1;
        if got != 0 {
            idle = 0;
            continue;
        }
        idle += 1;
        if idle < threshold || !can_sleep {
            continue;
        }
        idle = 0;
        add_polls(streams, rounds);
        rounds = 0;
        if !arm_all(streams, &ep, &mut watched) {
            can_sleep = false;
            continue;
        }
        slept += sleep_on_interrupts(streams, &ep, &mut events, wait.max_sleep);
    }
    if wait.mode != RxWaitMode::Poll {
        add_polls(streams, rounds);
    }
    slept
}

/// Polls every stream once; returns the frames they received.
fn poll_round(streams: &mut [Stream]) -> usize {
    let mut got = 0;
    for s in streams.iter_mut() {
        let n = s.poll();
        if n == 0 {
            s.counters.empty_polls.add(1);
        }
        got += n;
    }
    got
}

/// Counts `rounds` polls on every stream (once per sleep, not per poll).
fn add_polls(streams: &[Stream], rounds: u64) {
    for s in streams {
        s.counters.polls.add(rounds);
    }
}

/// Sleeps on the armed rx interrupts (and the stop bell) for at most
/// `max_sleep`, counts the sleep and the interrupts that ended it, then
/// turns the interrupts off again for polling. Returns the time asleep.
fn sleep_on_interrupts(
    streams: &mut [Stream],
    ep: &Epoll,
    events: &mut [libc::epoll_event],
    max_sleep: Duration,
) -> Duration {
    for s in streams.iter() {
        s.counters.sleeps.add(1);
    }
    let t = Instant::now();
    for ev in ep.wait(events, Some(max_sleep)) {
        if let Some(s) = streams.get(ev.u64 as usize) {
            s.counters.interrupts.add(1);
        }
    }
    let slept = t.elapsed();
    for s in streams.iter_mut() {
        s.rx.disable_interrupt();
    }
    slept
}
