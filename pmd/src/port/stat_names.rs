//! The one vocabulary of software statistic names every driver uses for
//! `ethtool -S` (`EthtoolOps::named_stats`).
//!
//! A counter that Linux's igb or the netdev statistics (`struct
//! rtnl_link_stats64`) also keep carries Linux's name and meaning, so an
//! ethtool user reads ferrite's output without a glossary; counters Linux
//! has no word for get a name in the same style. Hardware counters keep
//! their own tables (igb's in `drivers/igb/stats.rs`) and driver-specific
//! counters stay in their driver, but a software counter two drivers share
//! is named here and nowhere else. `docs/STATISTICS.md` maps every name to
//! its Linux and DPDK equivalent; a test keeps the two in step.

use super::PortStats;

/// Frames received (netdev `rx_packets`).
pub const RX_PACKETS: &str = "rx_packets";
/// Bytes received (netdev `rx_bytes`).
pub const RX_BYTES: &str = "rx_bytes";
/// Frames received and dropped by the driver (netdev `rx_dropped`).
pub const RX_DROPPED: &str = "rx_dropped";
/// Frames received in error (netdev `rx_errors`).
pub const RX_ERRORS: &str = "rx_errors";
/// Frames sent (netdev `tx_packets`).
pub const TX_PACKETS: &str = "tx_packets";
/// Bytes sent (netdev `tx_bytes`).
pub const TX_BYTES: &str = "tx_bytes";
/// Frames taken for sending and dropped by the driver (netdev `tx_dropped`).
pub const TX_DROPPED: &str = "tx_dropped";
/// Frames that failed to send (netdev `tx_errors`).
pub const TX_ERRORS: &str = "tx_errors";

/// igb only: frames its receive queues delivered (software count; igb's
/// `rx_packets` is the device's GPRC, as in Linux).
pub const RX_SW_PACKETS: &str = "rx_sw_packets";
/// igb only: bytes its receive queues delivered.
pub const RX_SW_BYTES: &str = "rx_sw_bytes";
/// igb only: frames its receive queues found in error.
pub const RX_SW_ERRORS: &str = "rx_sw_errors";
/// igb only: frames its transmit queues handed to the device.
pub const TX_SW_PACKETS: &str = "tx_sw_packets";
/// igb only: bytes its transmit queues handed to the device.
pub const TX_SW_BYTES: &str = "tx_sw_bytes";

/// Receive refills that got fewer buffers than wanted (Linux igb's
/// per-queue `alloc_failed`, summed).
pub const RX_ALLOC_FAILED: &str = "rx_alloc_failed";
/// Frames longer than the MTU allows, dropped on receive.
pub const RX_MTU_OVERSIZE_DROPS: &str = "rx_mtu_oversize_drops";
/// Frames the receive filter (MAC, promiscuous, multicast) turned away.
pub const RX_FILTERED_DROPS: &str = "rx_filtered_drops";
/// Frames still on a virtual wire when the port stopped, freed and counted.
pub const RX_FLUSHED: &str = "rx_flushed";
/// Frames refused on transmit for being longer than the MTU allows.
pub const TX_OVERSIZE_ERRORS: &str = "tx_oversize_errors";
/// Frames dropped on transmit because the link was down.
pub const TX_LINK_DOWN_DROPS: &str = "tx_link_down_drops";
/// Transmit rings the watchdog found stuck and reset (Linux igb's name).
pub const TX_TIMEOUT_COUNT: &str = "tx_timeout_count";
/// Frames dropped because their transmit offload request cannot be met.
pub const TX_OFFLOAD_ERRORS: &str = "tx_offload_errors";
/// Times a transmit ring filled, summed over queues
/// (ixgbe's `tx_restart_queue`; per queue, igb's `tx_queue_N_restart`).
pub const TX_RESTART_QUEUE: &str = "tx_restart_queue";
/// Buffers left to a device that would not stop: memory gone for good.
pub const MBUFS_LEFT_TO_DEVICE: &str = "mbufs_left_to_device";
/// Link-state-change interrupts taken.
pub const LSC_INTERRUPTS: &str = "lsc_interrupts";

/// Every port-level software name above, for the documentation test.
pub const SOFTWARE: &[&str] = &[
    RX_PACKETS,
    RX_BYTES,
    RX_DROPPED,
    RX_ERRORS,
    TX_PACKETS,
    TX_BYTES,
    TX_DROPPED,
    TX_ERRORS,
    RX_SW_PACKETS,
    RX_SW_BYTES,
    RX_SW_ERRORS,
    TX_SW_PACKETS,
    TX_SW_BYTES,
    RX_ALLOC_FAILED,
    RX_MTU_OVERSIZE_DROPS,
    RX_FILTERED_DROPS,
    RX_FLUSHED,
    TX_OVERSIZE_ERRORS,
    TX_LINK_DOWN_DROPS,
    TX_TIMEOUT_COUNT,
    TX_OFFLOAD_ERRORS,
    TX_RESTART_QUEUE,
    MBUFS_LEFT_TO_DEVICE,
    LSC_INTERRUPTS,
];

/// Per-queue receive counters, as `rx_queue_<N>_<suffix>` (Linux igb's
/// per-queue strings).
pub const RX_QUEUE_SUFFIXES: &[&str] = &["packets", "bytes", "drops", "csum_err", "alloc_failed", "interrupts"];
/// Per-queue transmit counters, as `tx_queue_<N>_<suffix>`.
pub const TX_QUEUE_SUFFIXES: &[&str] = &["packets", "bytes", "drops", "restart"];

/// `rx_queue_<q>_<suffix>`.
pub fn rx_queue_name(q: usize, suffix: &str) -> String {
    format!("rx_queue_{q}_{suffix}")
}

/// `tx_queue_<q>_<suffix>`.
pub fn tx_queue_name(q: usize, suffix: &str) -> String {
    format!("tx_queue_{q}_{suffix}")
}

/// Per-queue counters beyond packets/bytes/drops, one value per queue, for
/// the ones a driver keeps (`None`: the driver has no such counter, and the
/// rows are left out rather than shown as a zero that means nothing).
#[derive(Debug, Default, Clone)]
pub struct QueueExtras {
    /// Frames the device said had a bad IP or L4 checksum (`csum_err`).
    pub rx_csum_err: Option<Vec<u64>>,
    /// Refills that got fewer buffers than wanted (`alloc_failed`).
    pub rx_alloc_failed: Option<Vec<u64>>,
    /// Times the ring (or wire) filled: the poll-mode counterpart of Linux
    /// stopping and restarting the queue (`restart`; see `TxStops`).
    pub tx_restart: Option<Vec<u64>>,
}

/// The per-queue `ethtool -S` rows, in Linux's naming: for each receive
/// queue `packets`, `bytes`, `drops`, then `csum_err` and `alloc_failed`
/// where the driver keeps them; for each transmit queue `packets`, `bytes`,
/// `drops` and `restart` where kept.
pub fn per_queue_stat_rows(stats: &PortStats, extras: &QueueExtras) -> Vec<(String, u64)> {
    let at = |v: &Option<Vec<u64>>, i: usize| v.as_ref().map(|v| v.get(i).copied().unwrap_or(0));
    let mut rows = Vec::new();
    for (i, q) in stats.rx_queues.iter().enumerate() {
        rows.push((rx_queue_name(i, "packets"), q.packets));
        rows.push((rx_queue_name(i, "bytes"), q.bytes));
        rows.push((rx_queue_name(i, "drops"), q.drops));
        rows.extend(at(&extras.rx_csum_err, i).map(|v| (rx_queue_name(i, "csum_err"), v)));
        rows.extend(at(&extras.rx_alloc_failed, i).map(|v| (rx_queue_name(i, "alloc_failed"), v)));
    }
    for (i, q) in stats.tx_queues.iter().enumerate() {
        rows.push((tx_queue_name(i, "packets"), q.packets));
        rows.push((tx_queue_name(i, "bytes"), q.bytes));
        rows.push((tx_queue_name(i, "drops"), q.drops));
        rows.extend(at(&extras.tx_restart, i).map(|v| (tx_queue_name(i, "restart"), v)));
    }
    rows
}

/// Receive-buffer allocation failures of a port from its named statistics
/// (DPDK's `rx_nombuf`): the port-wide [`RX_ALLOC_FAILED`] where the driver
/// shows one, else the sum of its `rx_queue_N_alloc_failed` rows (a driver
/// that shows both shows the same failures twice, so they are not added).
pub fn rx_alloc_failed_total(named: &[(String, u64)]) -> u64 {
    if let Some((_, v)) = named.iter().find(|(k, _)| k == RX_ALLOC_FAILED) {
        return *v;
    }
    let per_queue = |k: &str| generic_name(k) == "rx_queue_N_alloc_failed";
    named.iter().filter(|(k, _)| per_queue(k)).map(|(_, v)| v).sum()
}

/// A statistic name with a queue number replaced by `N` (`rx_queue_3_bytes`
/// → `rx_queue_N_bytes`), as the documentation table lists them.
pub fn generic_name(name: &str) -> String {
    for dir in ["rx_queue_", "tx_queue_"] {
        if let Some(rest) = name.strip_prefix(dir) {
            if let Some((num, suffix)) = rest.split_once('_') {
                if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) {
                    return format!("{dir}N_{suffix}");
                }
            }
        }
    }
    name.to_string()
}

/// Names in the first column of `docs/STATISTICS.md`'s tables: a cell
/// holding exactly one name in backquotes (the renaming table's cells hold
/// more, so old names do not count as documented).
#[cfg(test)]
pub(crate) fn documented_names() -> std::collections::HashSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/STATISTICS.md");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`'))
        .filter(|(_, rest)| rest.starts_with(" |"))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Panics listing every name a driver showed that the table lacks.
#[cfg(test)]
pub(crate) fn assert_documented<S: AsRef<str>>(driver: &str, names: impl IntoIterator<Item = S>) {
    let table = documented_names();
    let missing: Vec<String> =
        names.into_iter().map(|n| generic_name(n.as_ref())).filter(|n| !table.contains(n)).collect();
    assert!(missing.is_empty(), "{driver} shows names docs/STATISTICS.md does not list: {missing:?}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::QueueStats;

    #[test]
    fn alloc_failures_are_the_port_total_or_the_sum_of_queues_never_both() {
        let s = |v: &[(&str, u64)]| v.iter().map(|(k, n)| (k.to_string(), *n)).collect::<Vec<_>>();
        assert_eq!(rx_alloc_failed_total(&s(&[("rx_alloc_failed", 5), ("rx_queue_0_alloc_failed", 5)])), 5);
        assert_eq!(rx_alloc_failed_total(&s(&[("rx_queue_0_alloc_failed", 2), ("rx_queue_12_alloc_failed", 3)])), 5);
        assert_eq!(rx_alloc_failed_total(&s(&[("rx_queue_x_alloc_failed", 2), ("tx_queue_0_restart", 3)])), 0);
    }

    #[test]
    fn queue_numbers_become_n_and_nothing_else_does() {
        assert_eq!(generic_name("rx_queue_12_csum_err"), "rx_queue_N_csum_err");
        assert_eq!(generic_name("tx_queue_0_restart"), "tx_queue_N_restart");
        assert_eq!(generic_name("rx_queue_drop_x"), "rx_queue_drop_x");
        assert_eq!(generic_name("rx_packets"), "rx_packets");
    }

    #[test]
    fn the_table_parser_reads_names_and_not_renamed_ones() {
        let names = documented_names();
        assert!(names.contains("tx_carrier_errors") && names.contains("rx_queue_N_csum_err"), "{names:?}");
        assert!(!names.contains("tx_no_crs"), "an old name from the renaming table counted as shown");
    }

    #[test]
    fn per_queue_rows_carry_each_queue_its_own_values_and_only_kept_extras() {
        let q = |n| QueueStats { packets: n, bytes: 10 * n, drops: 100 * n, errors: 0 };
        let stats = PortStats { rx_queues: vec![q(1), q(2)], tx_queues: vec![q(3)], rx_missed: 0 };
        let extras = QueueExtras { rx_alloc_failed: Some(vec![7, 8]), tx_restart: Some(vec![9]), ..Default::default() };
        let rows = per_queue_stat_rows(&stats, &extras);
        let get = |n: &str| rows.iter().find(|r| r.0 == n).map(|r| r.1);
        assert_eq!(get("rx_queue_1_packets"), Some(2));
        assert_eq!(get("rx_queue_1_bytes"), Some(20));
        assert_eq!(get("rx_queue_1_drops"), Some(200));
        assert_eq!(get("rx_queue_1_alloc_failed"), Some(8));
        assert_eq!(get("tx_queue_0_restart"), Some(9));
        assert_eq!(get("rx_queue_0_csum_err"), None, "a counter the driver does not keep is not shown");
    }

    #[test]
    fn every_shared_software_name_is_in_the_table() {
        assert_documented("the shared vocabulary", SOFTWARE.iter().copied());
        let queues = RX_QUEUE_SUFFIXES
            .iter()
            .map(|s| rx_queue_name(0, s))
            .chain(TX_QUEUE_SUFFIXES.iter().map(|s| tx_queue_name(0, s)));
        assert_documented("the per-queue vocabulary", queues);
    }
}
