//! `ethtool -k`: the offload flags seen as Linux's netdev feature names.
//!
//! ethtool users read offloads as features ("rx-checksumming: on",
//! "scatter-gather: off [fixed]"); DPDK users as offload flags. Both views
//! come from the same two sets here: what the port can do
//! ([`DeviceCaps`]'s capabilities) and what it was configured with. A
//! feature the port cannot do at all is `[fixed]`, as ethtool prints it.
//!
//! [`DeviceCaps`]: super::DeviceCaps

use super::{RxOffloads, TxOffloads};

/// One line of `ethtool -k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Feature {
    /// Linux's feature name (`rx-checksumming`, `tcp-segmentation-offload`).
    pub name: &'static str,
    /// Whether it is on for the port as configured.
    pub on: bool,
    /// Whether it cannot be changed (the port cannot do it).
    pub fixed: bool,
}

/// Which offload bits make up a feature: the feature is available if the
/// port can do any of them and on if any of them is configured.
enum Bits {
    Rx(RxOffloads),
    Tx(TxOffloads),
}

const FEATURES: &[(&str, Bits)] = &[
    (
        "rx-checksumming",
        Bits::Rx(
            RxOffloads::IPV4_CKSUM
                .union(RxOffloads::TCP_CKSUM)
                .union(RxOffloads::UDP_CKSUM)
                .union(RxOffloads::SCTP_CKSUM),
        ),
    ),
    ("tx-checksum-ipv4", Bits::Tx(TxOffloads::IPV4_CKSUM.union(TxOffloads::TCP_CKSUM).union(TxOffloads::UDP_CKSUM))),
    ("tx-checksum-sctp", Bits::Tx(TxOffloads::SCTP_CKSUM)),
    ("scatter-gather", Bits::Tx(TxOffloads::MULTI_SEGS)),
    ("tcp-segmentation-offload", Bits::Tx(TxOffloads::TCP_TSO)),
    ("rx-vlan-offload", Bits::Rx(RxOffloads::VLAN_STRIP)),
    ("tx-vlan-offload", Bits::Tx(TxOffloads::VLAN_INSERT)),
    ("rx-vlan-filter", Bits::Rx(RxOffloads::VLAN_FILTER)),
    ("rx-vlan-stag-hw-parse", Bits::Rx(RxOffloads::QINQ_STRIP)),
    ("tx-vlan-stag-hw-insert", Bits::Tx(TxOffloads::QINQ_INSERT)),
    ("receive-hashing", Bits::Rx(RxOffloads::RSS_HASH)),
];

/// The `ethtool -k` view of a port that can do `capa` and is configured
/// with `conf` (rx, tx), in ethtool's order.
pub fn features(capa: (RxOffloads, TxOffloads), conf: (RxOffloads, TxOffloads)) -> Vec<Feature> {
    FEATURES
        .iter()
        .map(|(name, bits)| {
            let (can, on) = match bits {
                Bits::Rx(b) => (capa.0.intersects(*b), conf.0.intersects(*b)),
                Bits::Tx(b) => (capa.1.intersects(*b), conf.1.intersects(*b)),
            };
            Feature { name, on: on && can, fixed: !can }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(f: &[Feature], name: &str) -> Feature {
        *f.iter().find(|x| x.name == name).unwrap_or_else(|| panic!("no feature {name}"))
    }

    #[test]
    fn capability_and_configuration_decide_on_and_fixed() {
        let capa = (RxOffloads::SCATTER | RxOffloads::RSS_HASH, TxOffloads::MULTI_SEGS);
        let f = features(capa, (RxOffloads::RSS_HASH, TxOffloads::empty()));
        assert_eq!(find(&f, "receive-hashing"), Feature { name: "receive-hashing", on: true, fixed: false });
        assert_eq!(find(&f, "scatter-gather"), Feature { name: "scatter-gather", on: false, fixed: false });
        let tso = find(&f, "tcp-segmentation-offload");
        assert!(tso.fixed && !tso.on, "a port without TSO shows it off [fixed]");
    }

    #[test]
    fn one_checksum_offload_turns_the_feature_on() {
        let capa = (RxOffloads::all(), TxOffloads::all());
        let f = features(capa, (RxOffloads::TCP_CKSUM, TxOffloads::empty()));
        assert!(find(&f, "rx-checksumming").on);
        assert!(!find(&f, "tx-checksum-ipv4").on);
    }

    #[test]
    fn every_offload_bit_shows_in_some_feature() {
        let mut rx = RxOffloads::empty();
        let mut tx = TxOffloads::empty();
        for (_, bits) in FEATURES {
            match bits {
                Bits::Rx(b) => rx |= *b,
                Bits::Tx(b) => tx |= *b,
            }
        }
        // Not ethtool features: VLAN_EXTEND is a mode of the VLAN ones, and
        // Linux always spreads large frames over pages (SCATTER).
        assert_eq!(rx | RxOffloads::VLAN_EXTEND | RxOffloads::SCATTER, RxOffloads::all());
        assert_eq!(tx, TxOffloads::all());
    }
}
