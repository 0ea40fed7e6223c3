//! Mempool microbenchmark, measured the way DPDK's `mempool_perf_autotest`
//! measures: take `keep` objects in bulks of `bulk`, put them back in bulks,
//! repeat; the rate is objects taken (and returned) per second. Objects are
//! not touched (raw get/put, like `rte_mempool_get_bulk`), so the figure is
//! comparable with DPDK's; a second case does the same with mbufs
//! (`alloc_bulk` resets each header, a batch `clear` frees them).
//!
//! `cargo run --release -p ferrite-pmd --example mempool_bench -- [seconds]`
//!
//! One line per case:
//! `case=<name> cache=<n> cores=<n> bulk=<n> keep=<n> rate_persec=<r> ns_per_obj=<ns>`

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use ferrite_hugepages::Fallback;
use ferrite_pmd::mem::{BulkRing, Mbuf, Mempool, MempoolConfig};
use ferrite_pmd::{lcore, MbufBatch};

fn pool(cache: usize) -> Mempool {
    let mut cfg = MempoolConfig::new("bench", 8192);
    cfg.cache_size = cache;
    cfg.dma.fallback = Fallback::SmallPages;
    Mempool::new(&cfg).expect("mempool")
}

/// Runs `round` (which moves `keep` objects) until `secs` pass; objects/s.
fn rate(keep: usize, secs: f64, mut round: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut done = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        for _ in 0..1024 {
            round();
        }
        done += 1024 * keep as u64;
    }
    done as f64 / start.elapsed().as_secs_f64()
}

fn raw_get_put(p: &Mempool, bulk: usize, keep: usize, secs: f64) -> f64 {
    let mut held = vec![0usize; keep];
    rate(keep, secs, || {
        for chunk in held.chunks_mut(bulk) {
            assert!(p.get_bulk_raw(chunk), "pool ran dry");
        }
        black_box(&held);
        for chunk in held.chunks(bulk) {
            // SAFETY: these objects came from `p` just above and are unused.
            unsafe { p.put_bulk_raw(chunk) };
        }
    })
}

fn mbuf_alloc_free(p: &Mempool, bulk: usize, keep: usize, secs: f64) -> f64 {
    let mut held = MbufBatch::new();
    rate(keep, secs, || {
        while held.len() < keep {
            assert!(p.alloc_bulk(&mut held, bulk), "pool ran dry");
        }
        black_box(&held);
        held.clear();
    })
}

/// Allocates on this core, frees on `cpu`: buffers cross cores through a
/// burst ring, the way a forwarder hands them from one port to another.
fn cross_core(p: &Mempool, cpu: usize, secs: f64) -> f64 {
    let wire = Arc::new(BulkRing::with_capacity(1024));
    let stop = Arc::new(AtomicBool::new(false));
    let (p2, wire2, stop2) = (p.clone(), Arc::clone(&wire), Arc::clone(&stop));
    let freer = std::thread::spawn(move || {
        let _ = lcore::pin_to_cpu(cpu);
        let _g = lcore::register().expect("lcore");
        let mut objs = [0usize; 32];
        loop {
            let n = wire2.dequeue_burst(&mut objs);
            if n == 0 && stop2.load(Relaxed) && wire2.is_empty() {
                break;
            }
            // SAFETY: every address on the wire is an mbuf whose owner gave
            // it up with `into_raw` on the other side.
            let mut b = MbufBatch::new();
            for &o in &objs[..n] {
                let _ = b.push(unsafe { Mbuf::from_raw(std::ptr::NonNull::new(o as *mut _).unwrap()) });
            }
            b.clear();
        }
        p2.flush_local_cache();
    });
    let _g = lcore::register().expect("lcore");
    let mut sent = 0u64;
    let start = Instant::now();
    let mut b = MbufBatch::new();
    let mut objs = [0usize; 32];
    while start.elapsed().as_secs_f64() < secs {
        for _ in 0..64 {
            if !p.alloc_bulk(&mut b, 32) {
                continue;
            }
            for (o, m) in objs.iter_mut().zip(b.drain_front(32)) {
                *o = m.into_raw().as_ptr() as usize;
            }
            let mut off = 0;
            while off < 32 {
                off += wire.enqueue_burst(&objs[off..]);
            }
            sent += 32;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Relaxed);
    freer.join().expect("freer thread");
    p.flush_local_cache();
    assert_eq!(p.available(), p.capacity(), "a buffer went missing");
    sent as f64 / elapsed
}

fn report(case: &str, cache: usize, cores: usize, bulk: usize, keep: usize, rate: f64) {
    println!(
        "case={case} cache={cache} cores={cores} bulk={bulk} keep={keep} rate_persec={rate:.0} ns_per_obj={:.3}",
        1e9 / rate
    );
}

fn main() {
    let secs: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let cpus = lcore::allowed_cpus();
    let _ = lcore::pin_to_cpu(*cpus.last().unwrap_or(&0));
    for &(bulk, keep) in &[(32usize, 32usize), (32, 128)] {
        let g = lcore::register().expect("lcore");
        report("raw-cache", 512, 1, bulk, keep, raw_get_put(&pool(512), bulk, keep, secs));
        report("mbuf-cache", 512, 1, bulk, keep, mbuf_alloc_free(&pool(512), bulk, keep, secs));
        drop(g);
        report("raw-ring", 0, 1, bulk, keep, raw_get_put(&pool(0), bulk, keep, secs));
    }
    // The row of DPDK's mempool_perf_autotest that needs no cache: bulk 1.
    report("raw-ring", 0, 1, 1, 32, raw_get_put(&pool(0), 1, 32, secs));
    if cpus.len() >= 2 {
        report("mbuf-cross-core", 512, 2, 32, 32, cross_core(&pool(512), cpus[0], secs));
    }
}
