//! Statistics: the 82576's clear-on-read hardware counters (§8.19),
//! accumulated into 64-bit totals, plus the per-queue software counters.
//!
//! Hardware counters are 32 bits and reset when read, so every read must be
//! added to a running total, and every read must go through [`HwStats`].
//! QEMU's igb never increments MPC or RNBC and has no per-queue packet
//! counters, so loss on QEMU shows only end to end.
//!
//! The octet counters (GORC, GOTC, TOR, TOT) are 64 bits in two registers:
//! the low half must be read first, and reading the high half resets both.
//! Octets counted between those two reads are lost unless the device
//! latches the pair on the low read. The datasheet does not promise that,
//! and QEMU's model does not do it: there a frame that lands between the two
//! reads vanishes from the total (a vCPU preempted between two MMIO reads
//! makes that window milliseconds wide). Nothing in the register interface
//! lets a driver avoid this, so the octet counters are read only when a
//! caller asks for the named statistics (`ethtool -S`, `--xstats`), not by
//! [`HwStats::get32`], which the periodic `stats64()` path uses. Octet totals
//! are exact when the named statistics are read while no frames move (as the
//! tests do, after stopping traffic).
//!
//! The 32-bit counters do not have that problem, but they do run out: at
//! line rate with 64-byte frames GPRC passes 2^32 in under 50 minutes. So
//! the port's link thread folds them into the totals every
//! [`STATS_PERIOD`] (Linux igb's watchdog does every 2 s), off the datapath.
//! The octet pairs are 64 bits wide and never run out; they stay out of the
//! periodic read for the reason above.

use std::sync::Mutex;
use std::time::Duration;

use super::mac::Hw;
use super::regs::*;

/// One hardware counter and its `ethtool -S` name: Linux igb's name where
/// Linux shows the register under one, else DPDK's (`rx_carrier_ext_errors`)
/// or one in the same style. Linux's `rx_errors` and `rx_length_errors` are
/// sums (see [`DERIVED`]), so the single registers RXERRC and RLEC go by
/// `rx_phy_errors` and `rx_hw_length_errors`.
struct HwStat {
    name: &'static str,
    lo: u32,
    /// High half for 64-bit counters.
    hi: Option<u32>,
}

const fn c32(name: &'static str, lo: u32) -> HwStat {
    HwStat { name, lo, hi: None }
}

const fn c64(name: &'static str, lo: u32, hi: u32) -> HwStat {
    HwStat { name, lo, hi: Some(hi) }
}

/// Every hardware counter the port reports, in `ethtool -S` order.
const HW_STATS: &[HwStat] = &[
    c32("rx_packets", GPRC),
    c64("rx_bytes", GORCL, GORCH),
    c32("rx_broadcast", BPRC),
    c32("rx_multicast", MPRC),
    c32("rx_total_packets", TPR),
    c64("rx_total_bytes", TORL, TORH),
    c32("rx_crc_errors", CRCERRS),
    c32("rx_align_errors", ALGNERRC),
    c32("rx_symbol_errors", SYMERRS),
    c32("rx_phy_errors", RXERRC),
    c32("rx_missed_errors", MPC),
    c32("rx_no_buffer_count", RNBC),
    c32("rx_short_length_errors", RUC),
    c32("rx_long_length_errors", ROC),
    c32("rx_fragment_errors", RFC),
    c32("rx_jabber_errors", RJC),
    c32("rx_hw_length_errors", RLEC),
    c32("rx_carrier_ext_errors", CEXTERR),
    c32("rx_size_64", PRC64),
    c32("rx_size_65_to_127", PRC127),
    c32("rx_size_128_to_255", PRC255),
    c32("rx_size_256_to_511", PRC511),
    c32("rx_size_512_to_1023", PRC1023),
    c32("rx_size_1024_and_up", PRC1522),
    c32("tx_packets", GPTC),
    c64("tx_bytes", GOTCL, GOTCH),
    c32("tx_broadcast", BPTC),
    c32("tx_multicast", MPTC),
    c32("tx_total_packets", TPT),
    c64("tx_total_bytes", TOTL, TOTH),
    c32("tx_size_64", PTC64),
    c32("tx_size_65_to_127", PTC127),
    c32("tx_size_128_to_255", PTC255),
    c32("tx_size_256_to_511", PTC511),
    c32("tx_size_512_to_1023", PTC1023),
    c32("tx_size_1024_and_up", PTC1522),
    c32("tx_single_coll_ok", SCC),
    c32("tx_multi_coll_ok", MCC),
    c32("tx_aborted_errors", ECOL),
    c32("tx_window_errors", LATECOL),
    c32("collisions", COLC),
    c32("tx_deferred_ok", DC),
    c32("tx_carrier_errors", TNCRS),
    c32("rx_flow_control_xon", XONRXC),
    c32("tx_flow_control_xon", XONTXC),
    c32("rx_flow_control_xoff", XOFFRXC),
    c32("tx_flow_control_xoff", XOFFTXC),
    c32("rx_fc_unsupported", FCRUC),
    c32("tx_tcp_seg_good", TSCTC),
    c32("interrupt_assert_count", IAC),
];

/// How often the link thread folds the 32-bit counters into the totals.
pub const STATS_PERIOD: Duration = Duration::from_secs(2);

/// Name of the summed per-queue drop counters (RQDPC), appended after the
/// registers: Linux igb adds RQDPC to the netdev `rx_fifo_errors`.
const RQDPC_NAME: &str = "rx_fifo_errors";

/// A netdev aggregate Linux igb computes from the registers (its
/// `igb_update_stats`), shown under the netdev name: the sum of the named
/// hardware counters.
struct Derived {
    name: &'static str,
    sum_of: &'static [&'static str],
}

/// The aggregates, appended after [`RQDPC_NAME`]. Linux builds
/// `rx_length_errors` from RUC + ROC rather than reading RLEC, which it
/// distrusts on newer parts; so does this.
const DERIVED: &[Derived] = &[
    Derived {
        name: "rx_errors",
        sum_of: &[
            "rx_phy_errors",
            "rx_crc_errors",
            "rx_align_errors",
            "rx_short_length_errors",
            "rx_long_length_errors",
            "rx_carrier_ext_errors",
        ],
    },
    Derived { name: "rx_length_errors", sum_of: &["rx_short_length_errors", "rx_long_length_errors"] },
    Derived { name: "rx_frame_errors", sum_of: &["rx_align_errors"] },
    Derived { name: "tx_errors", sum_of: &["tx_aborted_errors", "tx_window_errors"] },
];

/// The aggregates' values from the register totals (in `HW_STATS` order).
fn derived_values(totals: &[u64]) -> impl Iterator<Item = u64> + '_ {
    let total = |name: &str| HW_STATS.iter().position(|s| s.name == name).map_or(0, |i| totals[i]);
    DERIVED.iter().map(move |d| d.sum_of.iter().map(|n| total(n)).fold(0u64, u64::wrapping_add))
}

/// Running 64-bit totals of the hardware counters.
#[derive(Default)]
pub struct HwStats {
    totals: Mutex<Vec<u64>>,
}

impl HwStats {
    /// Names, in value order.
    pub fn names() -> impl Iterator<Item = &'static str> {
        HW_STATS.iter().map(|s| s.name).chain(std::iter::once(RQDPC_NAME)).chain(DERIVED.iter().map(|d| d.name))
    }

    /// Reads (and so clears) every hardware counter and adds it to the totals.
    pub fn update(&self, hw: &Hw) {
        self.fold(hw, true);
    }

    /// Reads (and so clears) every 32-bit counter, not the octet pairs, and
    /// adds them to the totals: the periodic read (see the module docs).
    pub fn update_counts(&self, hw: &Hw) {
        self.fold(hw, false);
    }

    fn fold(&self, hw: &Hw, octets: bool) {
        if hw.is_gone() {
            // All ones from a removed device are not counts: keep the totals.
            return;
        }
        let mut totals = self.totals.lock().unwrap_or_else(|p| p.into_inner());
        if totals.is_empty() {
            totals.resize(HW_STATS.len() + 1, 0);
        }
        for (t, s) in totals.iter_mut().zip(HW_STATS) {
            let v = match s.hi {
                Some(hi) if octets => hw.read(s.lo) as u64 | (hw.read(hi) as u64) << 32,
                Some(_) => continue,
                None => hw.read(s.lo) as u64,
            };
            *t = t.wrapping_add(v);
        }
        let drops: u64 = (0..MAX_QUEUES as u32).map(|q| hw.read(rqdpc(q)) as u64).sum();
        let last = HW_STATS.len();
        totals[last] = totals[last].wrapping_add(drops);
    }

    /// One 32-bit counter by name: reads (and so clears) only that register
    /// and returns its running total. For the per-period paths, which must
    /// not touch the octet pairs (see the module docs).
    pub fn get32(&self, hw: &Hw, name: &str) -> u64 {
        let Some(i) = HW_STATS.iter().position(|s| s.name == name && s.hi.is_none()) else {
            debug_assert!(false, "{name} is not a 32-bit hardware counter");
            return 0;
        };
        let mut totals = self.totals.lock().unwrap_or_else(|p| p.into_inner());
        if totals.is_empty() {
            totals.resize(HW_STATS.len() + 1, 0);
        }
        if !hw.is_gone() {
            totals[i] = totals[i].wrapping_add(hw.read(HW_STATS[i].lo) as u64);
        }
        totals[i]
    }

    /// Reads the device's counters to clear them and zeroes the totals.
    pub fn clear(&self, hw: &Hw) {
        self.update(hw);
        let mut totals = self.totals.lock().unwrap_or_else(|p| p.into_inner());
        totals.iter_mut().for_each(|t| *t = 0);
    }

    /// Totals after an update, in `names()` order.
    pub fn values(&self, hw: &Hw) -> Vec<u64> {
        self.update(hw);
        let mut v = self.totals.lock().unwrap_or_else(|p| p.into_inner()).clone();
        v.resize(HW_STATS.len() + 1, 0);
        let derived: Vec<u64> = derived_values(&v).collect();
        v.extend(derived);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_aggregate_sums_registers_that_exist() {
        for d in DERIVED {
            for n in d.sum_of {
                assert!(HW_STATS.iter().any(|s| s.name == *n), "{}: no register named {n}", d.name);
            }
        }
    }

    #[test]
    fn names_are_unique_and_documented() {
        let names: Vec<&str> = HwStats::names().collect();
        let unique: std::collections::HashSet<&&str> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "a name shown twice: {names:?}");
        crate::port::stat_names::assert_documented("igb (hardware)", names);
    }
}
