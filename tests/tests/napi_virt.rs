//! NAPI-style receive on virtual ports: a forwarding core in adaptive mode
//! sleeps on its rx interrupts when idle (CPU time measured from
//! /proc/self/task/TID/stat, in clock ticks, not wall time), spins in poll
//! mode, forwards everything after each wake-up, and the transmit watchdog
//! frees frames stuck on a stalled wire.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrite_apps::fwd::{self, EngineConfig, RxWait, RxWaitMode, Stream, StreamId};
use ferrite_pmd::drivers::virt::PairPort;
use ferrite_pmd::{lcore, MbufBatch, Mempool, NetDevice, PortConfig, Queues, RxQueue, TxQueue};
use ferrite_tests::pool;

/// utime + stime of thread `tid` of this process, in clock ticks.
fn thread_ticks(tid: i64) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).expect("thread stat");
    // Fields after the parenthesised name: state is field 3; utime 14, stime 15.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

fn conf() -> PortConfig {
    PortConfig { rx_queues: 1, tx_queues: 1, rx_ring_size: 512, tx_ring_size: 512 }
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

/// Runs the stream on its own thread (as a forwarding core) until `stop`;
/// publishes the thread id for CPU accounting.
fn run_core(
    mut stream: Stream,
    wait: RxWait,
    stop: Arc<AtomicBool>,
    tid: Arc<AtomicI64>,
    pool: Mempool,
) -> std::thread::JoinHandle<(Stream, Duration)> {
    std::thread::spawn(move || {
        // SAFETY: gettid has no arguments and cannot fail.
        tid.store(unsafe { libc::syscall(libc::SYS_gettid) }, Relaxed);
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
        [stream] = streams;
        (stream, slept)
    })
}

fn wait_tid(tid: &AtomicI64) -> i64 {
    let t0 = Instant::now();
    loop {
        let t = tid.load(Relaxed);
        if t != 0 {
            return t;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "core thread never started");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// CPU share of thread `tid` over `secs` seconds of wall time.
fn cpu_share(tid: i64, secs: f64) -> (f64, u64) {
    let t0 = thread_ticks(tid);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let ticks = thread_ticks(tid) - t0;
    (ticks as f64 / ticks_per_sec() / start.elapsed().as_secs_f64(), ticks)
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

fn receive(qa: &mut Queues, n: usize, limit: Duration) -> usize {
    let t0 = Instant::now();
    let mut got = 0;
    let mut b = MbufBatch::new();
    while got < n && t0.elapsed() < limit {
        let k = qa.rx[0].rx_burst(&mut b, 32);
        got += k;
        b.clear();
        if k == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    got
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
    let tid = Arc::new(AtomicI64::new(0));
    let wait = RxWait { mode: RxWaitMode::Adaptive, idle_polls: 1000, max_sleep: Duration::from_millis(100) };
    let h = run_core(bench.stream.take().unwrap(), wait, Arc::clone(&stop), Arc::clone(&tid), bench.pool.clone());
    let tid = wait_tid(&tid);
    std::thread::sleep(Duration::from_millis(200));

    // No traffic for 5 s: the core sleeps.
    let (share, ticks) = cpu_share(tid, 5.0);
    eprintln!("adaptive, idle: {:.3}% CPU ({ticks} ticks in 5 s)", 100.0 * share);
    assert!(share < 0.02, "an idle adaptive core used {:.1}% of a CPU ({ticks} ticks)", 100.0 * share);

    // Bursts of traffic separated by idle gaps: every frame comes back.
    let mut total = 0;
    for round in 0..5 {
        let n = 100 + 50 * round;
        send(&mut bench.qa, &bench.pool, n);
        let got = receive(&mut bench.qa, n, Duration::from_secs(30));
        assert_eq!(got, n, "round {round}: frames forwarded after the wake-up");
        total += n;
        std::thread::sleep(Duration::from_millis(300));
    }
    stop.store(true, Relaxed);
    let (stream, slept) = h.join().unwrap();
    let st = stream.counters().snapshot();
    eprintln!("{st:?}, slept {slept:?}");
    assert_eq!((st.rx, st.tx, st.fwd_drops), (total as u64, total as u64, 0));
    assert!(st.sleeps >= 5, "the core slept between rounds: {st:?}");
    assert!(st.interrupts >= 5, "and was woken by the rx interrupt: {st:?}");
    assert!(st.empty_polls > 0 && st.polls >= st.empty_polls, "{st:?}");
    assert!(slept > Duration::from_secs(5), "slept {slept:?}");
    finish(bench, stream);
}

#[test]
fn poll_mode_spins() {
    let mut bench = bench("napi_poll");
    let stop = Arc::new(AtomicBool::new(false));
    let tid = Arc::new(AtomicI64::new(0));
    let wait = RxWait { mode: RxWaitMode::Poll, ..RxWait::default() };
    let h = run_core(bench.stream.take().unwrap(), wait, Arc::clone(&stop), Arc::clone(&tid), bench.pool.clone());
    let tid = wait_tid(&tid);
    let (share, ticks) = cpu_share(tid, 2.0);
    eprintln!("poll, idle: {:.1}% CPU ({ticks} ticks in 2 s)", 100.0 * share);
    assert!(share > 0.5, "a polling core spins: {:.1}% of a CPU", 100.0 * share);
    send(&mut bench.qa, &bench.pool, 200);
    assert_eq!(receive(&mut bench.qa, 200, Duration::from_secs(30)), 200);
    stop.store(true, Relaxed);
    let (stream, slept) = h.join().unwrap();
    assert_eq!(slept, Duration::ZERO);
    assert_eq!(stream.counters().snapshot().sleeps, 0);
    finish(bench, stream);
}

#[test]
fn interrupt_mode_sleeps_after_every_empty_round() {
    let mut bench = bench("napi_irq");
    let stop = Arc::new(AtomicBool::new(false));
    let tid = Arc::new(AtomicI64::new(0));
    let wait = RxWait { mode: RxWaitMode::Interrupt, ..RxWait::default() };
    let h = run_core(bench.stream.take().unwrap(), wait, Arc::clone(&stop), Arc::clone(&tid), bench.pool.clone());
    wait_tid(&tid);
    for _ in 0..20 {
        send(&mut bench.qa, &bench.pool, 64);
        assert_eq!(receive(&mut bench.qa, 64, Duration::from_secs(30)), 64);
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Relaxed);
    let (stream, _) = h.join().unwrap();
    let st = stream.counters().snapshot();
    assert_eq!((st.rx, st.tx), (20 * 64, 20 * 64));
    assert!(st.interrupts >= 10, "{st:?}");
    finish(bench, stream);
}

fn stat(port: &dyn NetDevice, name: &str) -> u64 {
    port.named_stats().into_iter().find(|s| s.0 == name).unwrap_or_else(|| panic!("no stat {name}")).1
}

#[test]
fn tx_watchdog_frees_frames_stuck_on_a_stalled_wire_and_traffic_recovers() {
    let p = pool("napi_watchdog", 2048);
    let (mut a, mut b) = PairPort::new_pair("pair0", "pair1");
    let small = PortConfig { rx_queues: 1, tx_queues: 1, rx_ring_size: 128, tx_ring_size: 128 };
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
