//! NAPI-style receive on virtual ports: a forwarding core in adaptive mode
//! sleeps on its rx interrupts when idle (the kernel shows its thread
//! blocked; between sleeps it polls no more than `idle_polls` times), is
//! woken by the interrupt when traffic comes and forwards everything; in
//! poll mode it never sleeps; in interrupt mode it sleeps after every empty
//! round. The transmit watchdog frees frames stuck on a stalled wire.
//! The NAPI checks assert no time or CPU share: a loaded machine slows the
//! core down but does not change what it records.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrite_apps::fwd::{self, EngineConfig, RxWait, RxWaitMode, Stream, StreamCounters, StreamId};
use ferrite_pmd::drivers::virt::PairPort;
use ferrite_pmd::{lcore, MbufBatch, Mempool, NetDevice, PortConfig, Queues, RxQueue, TxQueue};
use ferrite_tests::pool;

/// Generous: only a hang takes this long.
const LIMIT: Duration = Duration::from_secs(60);

/// Waits until `cond` holds; panics after [`LIMIT`] (a hang).
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < LIMIT, "{what}: not within {LIMIT:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The scheduler state of thread `tid` of this process (`R`, `S`, ...).
fn thread_state(tid: i64) -> char {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).expect("thread stat");
    // The state follows the parenthesised name.
    stat[stat.rfind(')').expect("comm") + 2..].chars().next().expect("state")
}

fn conf() -> PortConfig {
    PortConfig { rx_queues: 1, tx_queues: 1, rx_ring_size: 512, tx_ring_size: 512, ..PortConfig::default() }
}

/// pair0 <-> pair1; the test keeps pair0's queues, a forwarding core runs
/// pair1 rx -> pair1 tx (io), so what the test sends on pair0 comes back.
struct Bench {
    a: PairPort,
    b: PairPort,
    pool: Mempool,
    qa: Queues,
    stream: Option<Stream>,
}

fn bench(name: &str) -> Bench {
    let p = pool(name, 4096);
    let (mut a, mut b) = PairPort::new_pair("pair0", "pair1");
    a.configure(&conf(), &p).unwrap();
    b.configure(&conf(), &p).unwrap();
    let qa = a.open().unwrap();
    let mut qb = b.open().unwrap();
    let id = StreamId { rx_port: 1, rx_queue: 0, tx_port: 1, tx_queue: 0 };
    let (rx, tx): (Box<dyn RxQueue>, Box<dyn TxQueue>) = (qb.rx.remove(0), qb.tx.remove(0));
    let stream = Stream::new(id, rx, tx, 32, EngineConfig::Io).unwrap();
    Bench { a, b, pool: p, qa, stream: Some(stream) }
}

/// A forwarding core running one stream on its own thread until `stop`.
struct Core {
    handle: std::thread::JoinHandle<(Stream, Duration)>,
    /// The stream's live counters.
    counters: Arc<StreamCounters>,
    /// The thread's kernel id.
    tid: i64,
}

/// Starts the bench's stream on its own thread (as a forwarding core).
fn run_core(bench: &mut Bench, wait: RxWait, stop: &Arc<AtomicBool>) -> Core {
    let stream = bench.stream.take().unwrap();
    let counters = stream.counters();
    let (stop, pool) = (Arc::clone(stop), bench.pool.clone());
    let tid = Arc::new(AtomicI64::new(0));
    let tid2 = Arc::clone(&tid);
    let handle = std::thread::spawn(move || {
        // SAFETY: gettid has no arguments and cannot fail.
        tid2.store(unsafe { libc::syscall(libc::SYS_gettid) }, Relaxed);
        let _lcore = lcore::register().expect("lcore");
        let mut streams = [stream];
        let slept = match wait.mode {
            RxWaitMode::Poll => {
                fwd::run_core(&mut streams, &stop);
                Duration::ZERO
            }
            _ => fwd::run_core_napi(&mut streams, &stop, &wait),
        };
        pool.flush_local_cache();
        let [stream] = streams;
        (stream, slept)
    });
    wait_for("core thread started", || tid.load(Relaxed) != 0);
    Core { handle, counters, tid: tid.load(Relaxed) }
}

/// Waits until the core goes to sleep once more (it has armed its rx
/// interrupt by then), so frames sent next must wake it.
fn wait_for_next_sleep(core: &Core) {
    let s0 = core.counters.snapshot().sleeps;
    wait_for("the core went to sleep", || core.counters.snapshot().sleeps > s0);
}

fn send(qa: &mut Queues, pool: &Mempool, n: usize) {
    let mut left = n;
    while left > 0 {
        let mut b = MbufBatch::new();
        let k = left.min(32);
        assert!(pool.alloc_bulk(&mut b, k));
        for m in b.iter_mut() {
            assert!(m.set_len(64));
            m.data_mut()[..12].fill(0x02);
        }
        while !b.is_empty() {
            qa.tx[0].tx_burst(&mut b);
        }
        left -= k;
    }
}

/// Receives `n` frames on pair0 (panics after [`LIMIT`]).
fn receive(qa: &mut Queues, n: usize) {
    let mut got = 0;
    let mut b = MbufBatch::new();
    wait_for(&format!("{n} frames back"), || {
        let k = qa.rx[0].rx_burst(&mut b, 32);
        got += k;
        b.clear();
        assert!(got <= n, "more frames back than sent: {got} > {n}");
        got == n
    });
}

fn finish(mut bench: Bench, stream: Stream) {
    let st = stream.counters().snapshot();
    assert!(st.balanced(), "{st:?}");
    drop(stream);
    bench.qa.rx.clear();
    bench.qa.tx.clear();
    bench.a.stop().unwrap();
    bench.b.stop().unwrap();
    assert_eq!(bench.pool.available(), bench.pool.capacity(), "pool full after stop");
}

#[test]
fn adaptive_core_sleeps_when_idle_and_forwards_everything_after_wakeups() {
    let mut bench = bench("napi_adaptive");
    let stop = Arc::new(AtomicBool::new(false));
    let idle_polls = 1000;
    let wait = RxWait { mode: RxWaitMode::Adaptive, idle_polls, max_sleep: Duration::from_millis(100) };
    let core = run_core(&mut bench, wait, &stop);

    // No traffic. The first arming signals once (the wire's first arm
    // always fires), so look from the second sleep on: the core keeps
    // going to sleep, nothing wakes it but the sleep's time limit, and the
    // kernel shows its thread blocked.
    wait_for("the core went to sleep twice", || core.counters.snapshot().sleeps >= 2);
    let idle0 = core.counters.snapshot();
    wait_for("the idle core sleeps 3 more times", || core.counters.snapshot().sleeps >= idle0.sleeps + 3);
    wait_for("the idle core's thread seen blocked", || thread_state(core.tid) == 'S');
    let idle1 = core.counters.snapshot();
    assert_eq!(idle1.interrupts, idle0.interrupts, "no traffic, no rx interrupt: {idle0:?} -> {idle1:?}");
    assert_eq!((idle1.rx, idle1.tx), (0, 0));
    // Between two sleeps it polls `idle_polls` empty rounds, no more: it
    // does not spin. (+2: the two snapshots are not atomic.)
    let (polled, slept) = (idle1.empty_polls - idle0.empty_polls, idle1.sleeps - idle0.sleeps);
    assert!(polled <= u64::from(idle_polls) * (slept + 2), "{polled} empty polls over {slept} sleeps");

    // Bursts of traffic, each sent while the core sleeps: the rx interrupt
    // wakes it and every frame comes back.
    let mut total = 0;
    for round in 0..5 {
        let n = 100 + 50 * round;
        wait_for_next_sleep(&core);
        send(&mut bench.qa, &bench.pool, n);
        receive(&mut bench.qa, n);
        total += n;
    }
    stop.store(true, Relaxed);
    let (stream, slept) = core.handle.join().unwrap();
    let st = stream.counters().snapshot();
    eprintln!("{st:?}, slept {slept:?}");
    assert_eq!((st.rx, st.tx, st.fwd_drops), (total as u64, total as u64, 0));
    // Each round was sent to a sleeping core; one may land in the few
    // polls after a sleep timed out, not all five.
    assert!(st.interrupts > idle1.interrupts, "traffic woke the core by rx interrupt: {st:?}");
    assert!(st.sleeps >= idle1.sleeps + 5, "the core slept before every round: {st:?}");
    assert!(st.empty_polls > 0 && st.polls >= st.empty_polls, "{st:?}");
    assert!(slept > Duration::ZERO, "the core reports time asleep");
    finish(bench, stream);
}

#[test]
fn poll_mode_never_sleeps() {
    let mut bench = bench("napi_poll");
    let stop = Arc::new(AtomicBool::new(false));
    let wait = RxWait { mode: RxWaitMode::Poll, ..RxWait::default() };
    let core = run_core(&mut bench, wait, &stop);
    for _ in 0..5 {
        send(&mut bench.qa, &bench.pool, 200);
        receive(&mut bench.qa, 200);
    }
    stop.store(true, Relaxed);
    let (stream, slept) = core.handle.join().unwrap();
    let st = stream.counters().snapshot();
    assert_eq!((st.rx, st.tx, st.fwd_drops), (1000, 1000, 0));
    assert_eq!(slept, Duration::ZERO);
    assert_eq!((st.sleeps, st.interrupts), (0, 0), "a polling core never arms its interrupt: {st:?}");
    finish(bench, stream);
}

#[test]
fn interrupt_mode_sleeps_after_every_empty_round() {
    let mut bench = bench("napi_irq");
    let stop = Arc::new(AtomicBool::new(false));
    let wait = RxWait { mode: RxWaitMode::Interrupt, ..RxWait::default() };
    let core = run_core(&mut bench, wait, &stop);
    // The first sleep's wake-up is the wire's first-arm signal: count
    // interrupts from the second sleep on, when that one has been counted.
    wait_for("the core went to sleep twice", || core.counters.snapshot().sleeps >= 2);
    let before = core.counters.snapshot();
    for _ in 0..20 {
        wait_for_next_sleep(&core);
        send(&mut bench.qa, &bench.pool, 64);
        receive(&mut bench.qa, 64);
    }
    stop.store(true, Relaxed);
    let (stream, _) = core.handle.join().unwrap();
    let st = stream.counters().snapshot();
    assert_eq!((st.rx, st.tx, st.fwd_drops), (20 * 64, 20 * 64, 0));
    assert_eq!(st.sleeps, st.empty_polls, "one sleep per empty round: {st:?}");
    assert!(st.polls > st.empty_polls, "rounds with frames: {st:?}");
    // Sent to a sleeping core each time; one may land just after a sleep
    // timed out, not all twenty.
    assert!(st.interrupts > before.interrupts && st.interrupts <= st.sleeps, "{st:?}");
    finish(bench, stream);
}

fn stat(port: &dyn NetDevice, name: &str) -> u64 {
    port.named_stats().into_iter().find(|s| s.0 == name).unwrap_or_else(|| panic!("no stat {name}")).1
}

#[test]
fn tx_watchdog_frees_frames_stuck_on_a_stalled_wire_and_traffic_recovers() {
    let p = pool("napi_watchdog", 2048);
    let (mut a, mut b) = PairPort::new_pair("pair0", "pair1");
    let small =
        PortConfig { rx_queues: 1, tx_queues: 1, rx_ring_size: 128, tx_ring_size: 128, ..PortConfig::default() };
    a.configure(&small, &p).unwrap();
    b.configure(&small, &p).unwrap();
    a.set_tx_timeout(Duration::from_millis(100)).unwrap();
    let mut qa = a.open().unwrap();
    let mut qb = b.open().unwrap();
    assert!(a.link_status().up);
    b.set_stalled(true);

    // Keep offering frames: the wire fills (128), nobody takes them off.
    let t0 = Instant::now();
    let mut offered = 0u64;
    let mut refused = 0u64;
    while stat(&a, "tx_timeout_count") == 0 {
        assert!(t0.elapsed() < Duration::from_secs(60), "the watchdog never fired");
        let mut batch = MbufBatch::new();
        assert!(p.alloc_bulk(&mut batch, 16));
        batch.iter_mut().for_each(|m| assert!(m.set_len(64)));
        offered += 16;
        qa.tx[0].tx_burst(&mut batch);
        refused += batch.len() as u64;
        drop(batch);
        std::thread::sleep(Duration::from_millis(1));
    }
    let waited = t0.elapsed();
    let flushed = stat(&b, "rx_flushed");
    eprintln!("watchdog fired after {waited:?}; {flushed} frames freed from the wire");
    assert!(waited >= Duration::from_millis(100));
    assert!(flushed >= 128, "the full wire was freed: {flushed}");
    assert_eq!(stat(&a, "tx_packets"), offered - refused);
    let mut got = MbufBatch::new();
    assert_eq!(qb.rx[0].rx_burst(&mut got, 32), 0, "stalled: nothing received");
    assert!(a.link_status().up, "the carrier stayed up");

    // Recovery: unstall, frames flow again.
    b.set_stalled(false);
    let before = stat(&a, "tx_packets");
    let mut batch = MbufBatch::new();
    assert!(p.alloc_bulk(&mut batch, 32));
    batch.iter_mut().for_each(|m| assert!(m.set_len(64)));
    assert_eq!(qa.tx[0].tx_burst(&mut batch), 32);
    let mut received = 0;
    while qb.rx[0].rx_burst(&mut got, 32) > 0 {
        received += got.len();
        got.clear();
    }
    assert_eq!(received as u64, stat(&a, "tx_packets") - before, "everything sent after recovery arrives");
    assert_eq!(received, 32);
    assert_eq!(flushed, before, "every frame sent while stalled was freed by the watchdog");
    drop((qa, qb, got));
    a.stop().unwrap();
    b.stop().unwrap();
    assert_eq!(p.available(), p.capacity(), "every stuck frame went back to the pool");
}
