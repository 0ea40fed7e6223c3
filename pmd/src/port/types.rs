//! Plain data exchanged through the port API: addresses, configuration,
//! link state and statistics snapshots.

use std::fmt;
use std::str::FromStr;

use super::{PortError, RxOffloads, TxOffloads};

/// An Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// Group bit set (multicast or broadcast).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// All ones.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Neither multicast nor all zeros: usable as a port address.
    pub fn is_valid_unicast(&self) -> bool {
        !self.is_multicast() && self.0 != [0; 6]
    }

    /// A multicast group a port can be asked to join: group bit set, not
    /// broadcast (which every port receives anyway).
    pub fn is_multicast_group(&self) -> bool {
        self.is_multicast() && !self.is_broadcast()
    }
}

/// Refuses a multicast list (`set_mc_addr_list`) that names anything but
/// multicast groups, with the same words on every driver.
pub fn check_multicast_groups(port: &str, groups: &[MacAddr]) -> Result<(), PortError> {
    match groups.iter().find(|g| !g.is_multicast_group()) {
        Some(bad) => Err(PortError::InvalidConfig(format!(
            "{port}: {bad} is not a multicast group address (the group bit, 01:00:00:00:00:00, must be set; \
             broadcast is always received)"
        ))),
        None => Ok(()),
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = PortError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PortError::InvalidConfig(format!("'{s}' is not a MAC address (want aa:bb:cc:dd:ee:ff)"));
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in out.iter_mut() {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

/// Queue counts and ring sizes asked of a port (`rte_eth_dev_configure`
/// plus the per-queue setup calls, folded into one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConfig {
    /// Number of receive queues.
    pub rx_queues: u16,
    /// Number of transmit queues.
    pub tx_queues: u16,
    /// Descriptors per receive ring. On virtual `loop` and `pair` ports
    /// this is the depth of the wire into each receive queue: at most this
    /// many frames can be in flight before the receiver polls, and a
    /// transmit burst beyond that takes only what fits
    /// ([`TxQueue::tx_burst`](crate::TxQueue::tx_burst) returns fewer and
    /// leaves the rest in the batch). A single thread that sends more than
    /// this before receiving should free (and count) what was not taken;
    /// if it keeps retrying instead, the transmit watchdog
    /// ([`NetDevice::set_tx_timeout`](crate::NetDevice::set_tx_timeout),
    /// 5 s by default) frees the stuck wire and counts its frames in the
    /// receiver's [`PortStats::rx_missed`].
    pub rx_ring_size: u16,
    /// Descriptors per transmit ring.
    pub tx_ring_size: u16,
    /// Receive offloads asked for (see [`RxOffloads`]); none by default.
    pub rx_offloads: RxOffloads,
    /// Transmit offloads asked for (see [`TxOffloads`]); none by default.
    pub tx_offloads: TxOffloads,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_ring_size: 512,
            tx_ring_size: 512,
            rx_offloads: RxOffloads::empty(),
            tx_offloads: TxOffloads::empty(),
        }
    }
}

/// What a driver can do; `PortConfig::check` validates against it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceCaps {
    /// Most receive queues.
    pub max_rx_queues: u16,
    /// Most transmit queues.
    pub max_tx_queues: u16,
    /// Smallest ring, in descriptors.
    pub min_ring_size: u16,
    /// Largest ring, in descriptors.
    pub max_ring_size: u16,
    /// Ring sizes must be a multiple of this.
    pub ring_size_align: u16,
    /// Whether ring sizes must be powers of two.
    pub ring_size_pow2: bool,
    /// Smallest MTU.
    pub min_mtu: u16,
    /// Largest MTU.
    pub max_mtu: u16,
    /// Receive offloads the port can do.
    pub rx_offload_capa: RxOffloads,
    /// Transmit offloads the port can do.
    pub tx_offload_capa: TxOffloads,
}

impl PortConfig {
    /// Checks queue counts and ring sizes against what the device can do.
    pub fn check(&self, caps: &DeviceCaps) -> Result<(), PortError> {
        super::offloads::check_offloads(
            self.rx_offloads,
            caps.rx_offload_capa,
            self.tx_offloads,
            caps.tx_offload_capa,
        )?;
        check_queues("rx", self.rx_queues, caps.max_rx_queues)?;
        check_queues("tx", self.tx_queues, caps.max_tx_queues)?;
        check_ring("rx", self.rx_ring_size, caps)?;
        check_ring("tx", self.tx_ring_size, caps)
    }
}

fn check_queues(dir: &str, n: u16, max: u16) -> Result<(), PortError> {
    if n == 0 || n > max {
        return Err(PortError::InvalidConfig(format!(
            "{dir} queue count {n} is out of range: this port has 1..={max}"
        )));
    }
    Ok(())
}

fn check_ring(dir: &str, n: u16, caps: &DeviceCaps) -> Result<(), PortError> {
    let (lo, hi) = (caps.min_ring_size, caps.max_ring_size);
    if n < lo || n > hi {
        return Err(PortError::InvalidConfig(format!("{dir} ring size {n} is out of range {lo}..={hi}")));
    }
    if caps.ring_size_pow2 && !n.is_power_of_two() {
        return Err(PortError::InvalidConfig(format!("{dir} ring size {n} must be a power of two")));
    }
    if !n.is_multiple_of(caps.ring_size_align) {
        return Err(PortError::InvalidConfig(format!(
            "{dir} ring size {n} must be a multiple of {}",
            caps.ring_size_align
        )));
    }
    Ok(())
}

/// Duplex of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Duplex {
    /// Half duplex.
    Half,
    /// Full duplex.
    Full,
    /// Not known (link down).
    Unknown,
}

impl fmt::Display for Duplex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Duplex::Half => "half-duplex",
            Duplex::Full => "full-duplex",
            Duplex::Unknown => "unknown-duplex",
        })
    }
}

/// Carrier state, as `netif_carrier_ok` plus what ethtool reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkStatus {
    /// Carrier present.
    pub up: bool,
    /// Speed in Mbit/s (0 when down or not reported).
    pub speed_mbps: u32,
    /// Duplex.
    pub duplex: Duplex,
    /// Whether the speed was autonegotiated.
    pub autoneg: bool,
}

impl LinkStatus {
    /// A link that is down.
    pub const DOWN: LinkStatus = LinkStatus { up: false, speed_mbps: 0, duplex: Duplex::Unknown, autoneg: false };
}

impl fmt::Display for LinkStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.up && self.speed_mbps == 0 {
            // A device that does not report a speed (virtio without
            // VIRTIO_NET_F_SPEED_DUPLEX): ethtool's "Speed: Unknown!".
            f.write_str("up, speed unknown")
        } else if self.up {
            write!(f, "up {} Mbps {}", self.speed_mbps, self.duplex)
        } else {
            f.write_str("down")
        }
    }
}

/// Ethtool link settings (`ethtool_link_ksettings`, reduced).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkSettings {
    /// Autonegotiation on.
    pub autoneg: bool,
    /// Forced (or, with autoneg, current) speed in Mbit/s.
    pub speed_mbps: u32,
    /// Forced (or current) duplex.
    pub duplex: Duplex,
}

/// Interrupt coalescing (`ethtool -c`/`-C`, reduced).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Coalesce {
    /// Least time between two receive interrupts of one vector, in µs
    /// (`rx-usecs`; 0 = no throttling).
    pub rx_usecs: u32,
}

/// Receive filtering (`ndo_set_rx_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RxMode {
    /// Accept every unicast destination.
    pub promiscuous: bool,
    /// Accept every multicast destination.
    pub all_multicast: bool,
}

/// Counters of one queue at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Frames received or sent.
    pub packets: u64,
    /// Bytes received or sent (without CRC).
    pub bytes: u64,
    /// Frames dropped by this queue (ring full, filtered, link down, ...).
    pub drops: u64,
    /// Frames in error (oversize, malformed, device-reported errors).
    pub errors: u64,
}

/// Port statistics (`rtnl_link_stats64`) with a per-queue breakdown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Per receive queue.
    pub rx_queues: Vec<QueueStats>,
    /// Per transmit queue.
    pub tx_queues: Vec<QueueStats>,
    /// Frames that arrived but never reached a receive burst (DPDK's
    /// `imissed`): hardware missed/no-buffer counters; for virtual ports,
    /// frames freed from their receive wires when the port stopped or the
    /// link went down (`rx_flushed` in `ethtool -S`). Sent = received +
    /// dropped + missed holds across a pair of ports.
    pub rx_missed: u64,
}

impl PortStats {
    /// Sum over receive queues.
    pub fn rx_total(&self) -> QueueStats {
        sum(&self.rx_queues)
    }

    /// Sum over transmit queues.
    pub fn tx_total(&self) -> QueueStats {
        sum(&self.tx_queues)
    }
}

fn sum(q: &[QueueStats]) -> QueueStats {
    q.iter().fold(QueueStats::default(), |a, b| QueueStats {
        packets: a.packets + b.packets,
        bytes: a.bytes + b.bytes,
        drops: a.drops + b.drops,
        errors: a.errors + b.errors,
    })
}

/// The outcome of one self-test row (`ethtool -t`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestResult {
    /// Passed (ethtool shows 0).
    Pass,
    /// Failed with a driver-specific code (ethtool shows it; never 0).
    Fail(u64),
    /// Not run, and why: shown as such rather than as a pass.
    NotRun(String),
}

/// One row of a self-test (`ethtool -t`), named as Linux's driver names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelfTestRow {
    /// The row's name, e.g. `Register test  (offline)`.
    pub name: String,
    /// What came of it.
    pub result: TestResult,
}

/// Driver identity (`ethtool -i`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrvInfo {
    /// Driver name, e.g. `net_loop` or `igb`.
    pub driver: String,
    /// Driver version.
    pub version: String,
    /// Firmware version, if any.
    pub fw_version: String,
    /// Bus address (`0000:01:00.0`) or a virtual name.
    pub bus_info: String,
}

/// Ring sizes (`ethtool -g`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingParams {
    /// Largest receive ring.
    pub rx_max: u16,
    /// Largest transmit ring.
    pub tx_max: u16,
    /// Current receive ring size.
    pub rx: u16,
    /// Current transmit ring size.
    pub tx: u16,
}

/// Queue counts (`ethtool -l`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channels {
    /// Most receive queues.
    pub max_rx: u16,
    /// Most transmit queues.
    pub max_tx: u16,
    /// Current receive queues.
    pub rx: u16,
    /// Current transmit queues.
    pub tx: u16,
}

/// A register dump (`ethtool -d`): a layout version and 32-bit words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegDump {
    /// Layout version, driver-defined.
    pub version: u32,
    /// (register name, value) pairs in dump order.
    pub regs: Vec<(String, u32)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_status_reads_as_testpmd_prints_it() {
        let up = |speed_mbps| LinkStatus { up: true, speed_mbps, duplex: Duplex::Full, autoneg: true };
        assert_eq!(up(1000).to_string(), "up 1000 Mbps full-duplex");
        assert_eq!(up(0).to_string(), "up, speed unknown");
        assert_eq!(LinkStatus::DOWN.to_string(), "down");
    }

    #[test]
    fn mac_round_trip_and_bits() {
        let m: MacAddr = "52:54:00:12:34:56".parse().unwrap();
        assert_eq!(m.to_string(), "52:54:00:12:34:56");
        assert!(m.is_valid_unicast());
        assert!(MacAddr::BROADCAST.is_multicast() && MacAddr::BROADCAST.is_broadcast());
        assert!("01:00:5e:00:00:01".parse::<MacAddr>().unwrap().is_multicast());
        for bad in ["", "52:54:00:12:34", "52:54:00:12:34:56:78", "zz:54:00:12:34:56", "5:54:00:12:34:56"] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn config_check_names_the_problem() {
        let caps = DeviceCaps {
            max_rx_queues: 4,
            max_tx_queues: 4,
            min_ring_size: 32,
            max_ring_size: 4096,
            ring_size_align: 8,
            ring_size_pow2: true,
            min_mtu: 68,
            max_mtu: 9000,
            rx_offload_capa: RxOffloads::SCATTER,
            tx_offload_capa: TxOffloads::empty(),
        };
        assert!(PortConfig::default().check(&caps).is_ok());
        let e = PortConfig { tx_offloads: TxOffloads::TCP_TSO, ..Default::default() }.check(&caps).unwrap_err();
        assert!(e.to_string().contains("unsupported tx offload tcp_tso"), "{e}");
        let e = PortConfig { rx_queues: 0, ..Default::default() }.check(&caps).unwrap_err();
        assert!(e.to_string().contains("rx queue count 0"), "{e}");
        let e = PortConfig { tx_ring_size: 16, ..Default::default() }.check(&caps).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
        let e = PortConfig { tx_ring_size: 1000, ..Default::default() }.check(&caps).unwrap_err();
        assert!(e.to_string().contains("power of two"), "{e}");
    }
}
