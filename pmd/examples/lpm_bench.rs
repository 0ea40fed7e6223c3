//! Measures l3fwd's two longest-prefix-match candidates (`l3fwd/lpm.rs`)
//! side by side: lookups per second on the same addresses, for route tables
//! of 16 routes (DPDK l3fwd's default table size), 1,000 and 100,000 random
//! routes with lengths spread as in an Internet table (most /24, many /16 to
//! /23, a few longer), half the probed addresses inside a route. A
//! benchmark, not a test: it prints figures and asserts nothing but that the
//! two tables agree.
//!
//! ```text
//! cargo run --release --example lpm_bench
//! ```

#[path = "l3fwd/lpm.rs"]
mod lpm;

use std::hint::black_box;
use std::time::Instant;

use lpm::{Dir24, PrefixHash, Route};

/// xorshift64: the same tables and addresses every run.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn routes(n: usize, seed: &mut u64) -> Vec<Route> {
    (0..n)
        .map(|i| {
            let r = next(seed);
            let len = match r % 100 {
                0..=59 => 24,
                60..=89 => 16 + (r >> 8) as u8 % 8,
                90..=97 => 8 + (r >> 8) as u8 % 8,
                _ => 25 + (r >> 8) as u8 % 8,
            };
            Route { addr: (r >> 16) as u32, len, port: (i % 8) as u16 }
        })
        .collect()
}

fn probes(routes: &[Route], n: usize, seed: &mut u64) -> Vec<u32> {
    (0..n)
        .map(|i| {
            let r = next(seed);
            if i % 2 == 0 {
                let route = &routes[(r as usize) % routes.len()];
                route.network() | ((r >> 32) as u32 & !lpm::mask(route.len))
            } else {
                r as u32
            }
        })
        .collect()
}

/// Millions of lookups per second of `lookup` over `addrs`, best of 5.
fn rate(addrs: &[u32], lookup: impl Fn(u32) -> Option<u16>) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let mut hits = 0u64;
        for &a in addrs {
            hits += u64::from(black_box(lookup(black_box(a))).is_some());
        }
        black_box(hits);
        best = best.min(t.elapsed().as_secs_f64());
    }
    addrs.len() as f64 / best / 1e6
}

fn main() {
    let mut seed = 0x2545_f491_4f6c_dd1d;
    println!("{:>8}  {:>16}  {:>16}  {:>6}", "routes", "DIR-24-8 (M/s)", "hash/len (M/s)", "ratio");
    for n in [16, 1_000, 100_000] {
        let table = routes(n, &mut seed);
        let addrs = probes(&table, 2_000_000, &mut seed);
        let (dir, hash) = (Dir24::new(&table), PrefixHash::new(&table));
        assert!(addrs.iter().all(|&a| dir.lookup(a) == hash.lookup(a)), "the two tables disagree");
        let (d, h) = (rate(&addrs, |a| dir.lookup(a)), rate(&addrs, |a| hash.lookup(a)));
        println!("{n:>8}  {d:>16.1}  {h:>16.1}  {:>5.1}x", d / h);
    }
}
