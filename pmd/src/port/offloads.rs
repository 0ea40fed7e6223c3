//! Offloads: what a port can do in hardware (or in its driver) on receive
//! and transmit, and what an application asks of it.
//!
//! The model is DPDK's, in three layers:
//! 1. a port advertises its capabilities ([`DeviceCaps`]'s `rx_offload_capa`
//!    and `tx_offload_capa`, read with `NetDevice::caps`);
//! 2. the application asks for a subset when it configures the port
//!    ([`PortConfig`]'s `rx_offloads` / `tx_offloads`); asking for what the
//!    port lacks is refused with an error naming the offload;
//! 3. per packet, transmit offloads are requested through the mbuf's flags
//!    (`OffloadFlags::TX_*`) and header lengths (`TxOffload`), and receive
//!    offloads report their result through flags (`RX_*_CKSUM_GOOD/BAD`,
//!    `RX_VLAN_STRIPPED`) and fields (`vlan_tci`).
//!
//! The names are DPDK's offload names in lower case, as dpdk-testpmd's
//! `--rx-offloads` / `--tx-offloads` and `show port N rx_offload` use them;
//! the bit values are DPDK's too, so a DPDK user's hex masks mean the same.
//!
//! [`DeviceCaps`]: super::DeviceCaps
//! [`PortConfig`]: super::PortConfig

use std::fmt;
use std::str::FromStr;

use bitflags::bitflags;

use super::PortError;

bitflags! {
    /// Receive offloads (`RTE_ETH_RX_OFFLOAD_*`).
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct RxOffloads: u64 {
        /// Strip a VLAN tag into `vlan_tci`. Of a double-tagged frame
        /// (`vlan_extend`) the 82576 strips the inner tag.
        const VLAN_STRIP = 1 << 0;
        /// Check IPv4 header checksums.
        const IPV4_CKSUM = 1 << 1;
        /// Check UDP checksums.
        const UDP_CKSUM = 1 << 2;
        /// Check TCP checksums.
        const TCP_CKSUM = 1 << 3;
        /// Strip both tags of a double-tagged (QinQ) frame.
        const QINQ_STRIP = 1 << 5;
        /// Drop frames whose VLAN ID is not in the port's filter table.
        const VLAN_FILTER = 1 << 9;
        /// Double VLAN (QinQ): the outer tag is the service tag.
        const VLAN_EXTEND = 1 << 10;
        /// Receive frames larger than one buffer as mbuf chains.
        const SCATTER = 1 << 13;
        /// Check SCTP checksums (CRC32c).
        const SCTP_CKSUM = 1 << 17;
        /// Deliver the RSS hash in the mbuf.
        const RSS_HASH = 1 << 19;
    }
}

bitflags! {
    /// Transmit offloads (`RTE_ETH_TX_OFFLOAD_*`).
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct TxOffloads: u64 {
        /// Insert `vlan_tci` as a VLAN tag.
        const VLAN_INSERT = 1 << 0;
        /// Compute IPv4 header checksums.
        const IPV4_CKSUM = 1 << 1;
        /// Compute UDP checksums.
        const UDP_CKSUM = 1 << 2;
        /// Compute TCP checksums.
        const TCP_CKSUM = 1 << 3;
        /// Compute SCTP checksums (CRC32c).
        const SCTP_CKSUM = 1 << 4;
        /// Segment TCP (TSO) to the mbuf's `tso_segsz`.
        const TCP_TSO = 1 << 5;
        /// Insert an outer VLAN tag too (QinQ).
        const QINQ_INSERT = 1 << 8;
        /// Send mbuf chains (more than one segment per frame).
        const MULTI_SEGS = 1 << 15;
    }
}

/// The lower-case names of a flag type's bits, in bit order.
trait Named: Sized + Copy + 'static {
    const NAMES: &'static [(&'static str, Self)];
    const KIND: &'static str;
}

impl Named for RxOffloads {
    const KIND: &'static str = "rx";
    const NAMES: &'static [(&'static str, RxOffloads)] = &[
        ("vlan_strip", RxOffloads::VLAN_STRIP),
        ("ipv4_cksum", RxOffloads::IPV4_CKSUM),
        ("udp_cksum", RxOffloads::UDP_CKSUM),
        ("tcp_cksum", RxOffloads::TCP_CKSUM),
        ("qinq_strip", RxOffloads::QINQ_STRIP),
        ("vlan_filter", RxOffloads::VLAN_FILTER),
        ("vlan_extend", RxOffloads::VLAN_EXTEND),
        ("scatter", RxOffloads::SCATTER),
        ("sctp_cksum", RxOffloads::SCTP_CKSUM),
        ("rss_hash", RxOffloads::RSS_HASH),
    ];
}

impl Named for TxOffloads {
    const KIND: &'static str = "tx";
    const NAMES: &'static [(&'static str, TxOffloads)] = &[
        ("vlan_insert", TxOffloads::VLAN_INSERT),
        ("ipv4_cksum", TxOffloads::IPV4_CKSUM),
        ("udp_cksum", TxOffloads::UDP_CKSUM),
        ("tcp_cksum", TxOffloads::TCP_CKSUM),
        ("sctp_cksum", TxOffloads::SCTP_CKSUM),
        ("tcp_tso", TxOffloads::TCP_TSO),
        ("qinq_insert", TxOffloads::QINQ_INSERT),
        ("multi_segs", TxOffloads::MULTI_SEGS),
    ];
}

macro_rules! named_flags {
    ($t:ty) => {
        impl $t {
            /// Every offload's name, in bit order.
            pub fn all_names() -> impl Iterator<Item = &'static str> {
                <$t as Named>::NAMES.iter().map(|(n, _)| *n)
            }

            /// The names of the offloads set here, in bit order.
            pub fn names(self) -> impl Iterator<Item = &'static str> {
                <$t as Named>::NAMES.iter().filter(move |(_, f)| self.contains(*f)).map(|(n, _)| *n)
            }
        }

        impl fmt::Display for $t {
            /// Comma-separated names; `none` when empty.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let names: Vec<&str> = self.names().collect();
                if names.is_empty() {
                    f.write_str("none")
                } else {
                    f.write_str(&names.join(","))
                }
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($t), self)
            }
        }

        impl FromStr for $t {
            type Err = PortError;

            /// Parses a comma-separated list of names (`none` or empty for
            /// no offload).
            fn from_str(s: &str) -> Result<Self, PortError> {
                let mut out = <$t>::empty();
                for word in s.split(',').map(str::trim).filter(|w| !w.is_empty() && *w != "none") {
                    let Some((_, flag)) = <$t as Named>::NAMES.iter().find(|(n, _)| *n == word) else {
                        let known: Vec<&str> = <$t>::all_names().collect();
                        return Err(PortError::InvalidConfig(format!(
                            "'{word}' is not a known {} offload; known: {}",
                            <$t as Named>::KIND,
                            known.join(", ")
                        )));
                    };
                    out |= *flag;
                }
                Ok(out)
            }
        }
    };
}

named_flags!(RxOffloads);
named_flags!(TxOffloads);

/// Refuses `asked` offloads that are not in `capa`, naming them.
pub(super) fn check_offloads(
    asked_rx: RxOffloads,
    capa_rx: RxOffloads,
    asked_tx: TxOffloads,
    capa_tx: TxOffloads,
) -> Result<(), PortError> {
    let missing_rx = asked_rx - capa_rx;
    let missing_tx = asked_tx - capa_tx;
    if missing_rx.is_empty() && missing_tx.is_empty() {
        return Ok(());
    }
    let mut parts = Vec::new();
    if !missing_rx.is_empty() {
        parts.push(format!("rx offload {missing_rx} (the port offers: {capa_rx})"));
    }
    if !missing_tx.is_empty() {
        parts.push(format!("tx offload {missing_tx} (the port offers: {capa_tx})"));
    }
    Err(PortError::InvalidConfig(format!("unsupported {}", parts.join("; "))))
}

/// Which VLAN tag a TPID setting is for (DPDK's `rte_vlan_type`): a
/// single tag and the inner (customer) tag of a double-tagged frame are
/// `Inner`; the outer (service) tag, with the `vlan_extend` receive
/// offload, is `Outer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VlanType {
    /// A single tag, or the inner one (0x8100 by default).
    Inner,
    /// The outer tag of a double-tagged frame (0x8100 by default; 0x88a8
    /// for IEEE 802.1ad).
    Outer,
}

impl std::fmt::Display for VlanType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VlanType::Inner => "inner",
            VlanType::Outer => "outer",
        })
    }
}

impl std::str::FromStr for VlanType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "inner" => Ok(VlanType::Inner),
            "outer" => Ok(VlanType::Outer),
            _ => Err(format!("'{s}' is not a VLAN tag kind (inner or outer)")),
        }
    }
}

/// The smallest EtherType: below it the field is an 802.3 length, so no
/// tag can be recognised by it.
pub const MIN_ETHERTYPE: u16 = 0x0600;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        let rx: RxOffloads = "vlan_strip, scatter,ipv4_cksum".parse().unwrap();
        assert_eq!(rx, RxOffloads::VLAN_STRIP | RxOffloads::SCATTER | RxOffloads::IPV4_CKSUM);
        assert_eq!(rx.to_string(), "vlan_strip,ipv4_cksum,scatter");
        assert_eq!(rx.to_string().parse::<RxOffloads>().unwrap(), rx);
        assert_eq!("none".parse::<TxOffloads>().unwrap(), TxOffloads::empty());
        assert_eq!(TxOffloads::empty().to_string(), "none");
        let e = "tcp_tso".parse::<RxOffloads>().unwrap_err().to_string();
        assert!(e.contains("'tcp_tso' is not a known rx offload") && e.contains("scatter"), "{e}");
    }

    #[test]
    fn every_flag_has_a_name() {
        assert_eq!(RxOffloads::all_names().count(), RxOffloads::all().iter().count());
        assert_eq!(TxOffloads::all_names().count(), TxOffloads::all().iter().count());
    }

    #[test]
    fn a_missing_offload_is_named() {
        let asked = RxOffloads::SCATTER | RxOffloads::VLAN_STRIP;
        let e = check_offloads(asked, RxOffloads::SCATTER, TxOffloads::TCP_TSO, TxOffloads::empty())
            .unwrap_err()
            .to_string();
        assert!(e.contains("unsupported rx offload vlan_strip (the port offers: scatter)"), "{e}");
        assert!(e.contains("tx offload tcp_tso (the port offers: none)"), "{e}");
        assert!(
            check_offloads(RxOffloads::SCATTER, RxOffloads::all(), TxOffloads::MULTI_SEGS, TxOffloads::all()).is_ok()
        );
    }
}
