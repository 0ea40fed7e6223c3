//! Per-queue counters: written by the one core that owns the queue, read by
//! anyone (the main thread, telemetry) without locks.
//!
//! A queue has exactly one writer, so an increment is a relaxed load plus a
//! relaxed store: no `lock`-prefixed instruction on the per-packet path. On
//! x86-64 both compile to plain moves; readers see each counter torn-free.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::QueueStats;

/// Packet/byte/drop/error counters of one queue. Cache-line aligned so two
/// queues polled by two cores never share a line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct QueueCounters {
    packets: AtomicU64,
    bytes: AtomicU64,
    drops: AtomicU64,
    errors: AtomicU64,
}

#[inline(always)]
fn bump(c: &AtomicU64, n: u64) {
    // Single writer: load + store is enough and avoids a locked RMW.
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

impl QueueCounters {
    /// Counts `packets` frames of `bytes` bytes in total. Owner only.
    #[inline(always)]
    pub fn add(&self, packets: u64, bytes: u64) {
        bump(&self.packets, packets);
        bump(&self.bytes, bytes);
    }

    /// Counts dropped frames. Owner only.
    #[inline(always)]
    pub fn add_drops(&self, n: u64) {
        bump(&self.drops, n);
    }

    /// Counts frames in error. Owner only.
    #[inline(always)]
    pub fn add_errors(&self, n: u64) {
        bump(&self.errors, n);
    }

    /// A consistent-enough snapshot for reporting.
    pub fn snapshot(&self) -> QueueStats {
        QueueStats {
            packets: self.packets.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            drops: self.drops.load(Relaxed),
            errors: self.errors.load(Relaxed),
        }
    }

    /// Zeroes the counters. Only meaningful while the owner is not running.
    pub fn reset(&self) {
        for c in [&self.packets, &self.bytes, &self.drops, &self.errors] {
            c.store(0, Relaxed);
        }
    }
}

/// A single named counter with one writer (for driver-specific stats such as
/// `tx_link_down_drops`).
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Owner only.
    #[inline(always)]
    pub fn add(&self, n: u64) {
        bump(&self.0, n);
    }

    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }

    /// Sets to zero.
    pub fn reset(&self) {
        self.0.store(0, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_and_snapshots() {
        let c = QueueCounters::default();
        c.add(3, 180);
        c.add(1, 60);
        c.add_drops(2);
        c.add_errors(1);
        assert_eq!(c.snapshot(), QueueStats { packets: 4, bytes: 240, drops: 2, errors: 1 });
        c.reset();
        assert_eq!(c.snapshot(), QueueStats::default());
    }

    #[test]
    fn another_thread_reads_what_the_owner_wrote() {
        let c = Arc::new(QueueCounters::default());
        let w = Arc::clone(&c);
        std::thread::spawn(move || (0..1000).for_each(|_| w.add(1, 64))).join().unwrap();
        assert_eq!(c.snapshot().packets, 1000);
        assert_eq!(c.snapshot().bytes, 64_000);
    }
}
