//! A port's capabilities and offload state, as dpdk-testpmd's `show port
//! info` (`rte_eth_dev_info`) and Linux's `ethtool -k` show them: shared by
//! `pmdinfo -k` and the telemetry command `/ethdev/info`.

use std::fmt::Write;

use ferrite_pmd::ether::max_frame_len;
use ferrite_pmd::port::{DeviceCaps, Feature, MacAddr, RxOffloads, TxOffloads};
use ferrite_pmd::NetDevice;

use serde_json::{json, Map, Value};

/// What a port can do and how it is set up.
#[derive(Clone, Debug)]
pub struct DevInfo {
    /// Port name.
    pub name: String,
    /// Driver (`ethtool -i`).
    pub driver: String,
    /// Current MTU.
    pub mtu: u16,
    /// The driver's limits and offload capabilities.
    pub caps: DeviceCaps,
    /// Receive offloads configured.
    pub rx_offloads: RxOffloads,
    /// Transmit offloads configured.
    pub tx_offloads: TxOffloads,
    /// Receive and transmit queues configured (`ethtool -l`).
    pub queues: (u16, u16),
    /// The `ethtool -k` view.
    pub features: Vec<Feature>,
    /// Own address first, then extra unicast addresses.
    pub mac_addrs: Vec<MacAddr>,
    /// Multicast groups listed.
    pub mc_addrs: Vec<MacAddr>,
    /// VLAN IDs in the receive filter.
    pub vlan_filters: Vec<u16>,
}

impl DevInfo {
    /// Reads it all from `dev`.
    pub fn of(dev: &dyn NetDevice) -> DevInfo {
        let (rx_offloads, tx_offloads) = dev.offloads();
        let ch = dev.channels();
        DevInfo {
            name: dev.name().to_string(),
            driver: dev.drvinfo().driver,
            mtu: dev.mtu(),
            caps: dev.caps(),
            rx_offloads,
            tx_offloads,
            queues: (ch.rx, ch.tx),
            features: dev.features(),
            mac_addrs: dev.mac_addrs(),
            mc_addrs: dev.mc_addr_list(),
            vlan_filters: dev.vlan_filters(),
        }
    }

    /// The longest frame the port takes (FCS excluded), at its largest MTU:
    /// DPDK's `max_rx_pktlen`.
    pub fn max_rx_pktlen(&self) -> usize {
        max_frame_len(self.caps.max_mtu)
    }

    /// Ring size rule in words: `32..=4096, multiple of 8`.
    fn ring_rule(&self) -> String {
        let c = &self.caps;
        let rule = if c.ring_size_pow2 {
            ", power of two".to_string()
        } else if c.ring_size_align > 1 {
            format!(", multiple of {}", c.ring_size_align)
        } else {
            String::new()
        };
        format!("{}..={}{rule}", c.min_ring_size, c.max_ring_size)
    }

    /// Lines as `show port info` and `ethtool -k` print them.
    pub fn to_text(&self) -> String {
        let (c, mut o) = (&self.caps, String::new());
        let list = |v: &[MacAddr]| v.iter().map(MacAddr::to_string).collect::<Vec<_>>().join(", ");
        let mut line = |label: &str, value: String| {
            let _ = writeln!(o, "  {label:<16} {value}");
        };
        line("driver", self.driver.clone());
        line("mtu", format!("{} (min {}, max {})", self.mtu, c.min_mtu, c.max_mtu));
        line("max frame", format!("{} B (max_rx_pktlen, FCS excluded)", self.max_rx_pktlen()));
        let (rxq, txq) = self.queues;
        line("queues", format!("rx {rxq} of {}, tx {txq} of {}", c.max_rx_queues, c.max_tx_queues));
        line("descriptors", format!("{} per ring", self.ring_rule()));
        line("rx offload capa", format!("{} ({:#x})", c.rx_offload_capa, c.rx_offload_capa.bits()));
        line("tx offload capa", format!("{} ({:#x})", c.tx_offload_capa, c.tx_offload_capa.bits()));
        line("rx offloads", self.rx_offloads.to_string());
        line("tx offloads", self.tx_offloads.to_string());
        line("mac addresses", list(&self.mac_addrs));
        if !self.mc_addrs.is_empty() {
            line("multicast", list(&self.mc_addrs));
        }
        if !self.vlan_filters.is_empty() {
            line("vlan filter", self.vlan_filters.iter().map(u16::to_string).collect::<Vec<_>>().join(", "));
        }
        let _ = writeln!(o, "  features (ethtool -k):");
        for f in &self.features {
            let state = if f.on { "on" } else { "off" };
            let _ = writeln!(o, "    {}: {state}{}", f.name, if f.fixed { " [fixed]" } else { "" });
        }
        o
    }

    /// The same as one JSON object, the offload sets as name lists; with
    /// the port's index first when `port` gives it.
    pub fn to_json(&self, port: Option<usize>) -> Value {
        let c = &self.caps;
        let mut o = Map::new();
        if let Some(id) = port {
            o.insert("port".into(), id.into());
        }
        let features: Map<String, Value> =
            self.features.iter().map(|f| (f.name.to_string(), json!({ "on": f.on, "fixed": f.fixed }))).collect();
        let rest = json!({
            "name": self.name, "driver": self.driver,
            "mtu": self.mtu, "min_mtu": c.min_mtu, "max_mtu": c.max_mtu, "max_rx_pktlen": self.max_rx_pktlen(),
            "nb_rx_queues": self.queues.0, "nb_tx_queues": self.queues.1,
            "max_rx_queues": c.max_rx_queues, "max_tx_queues": c.max_tx_queues,
            "desc_lim": {
                "nb_min": c.min_ring_size, "nb_max": c.max_ring_size, "nb_align": c.ring_size_align,
                "power_of_two": c.ring_size_pow2,
            },
            "rx_offload_capa": c.rx_offload_capa.names().collect::<Vec<_>>(),
            "tx_offload_capa": c.tx_offload_capa.names().collect::<Vec<_>>(),
            "rx_offloads": self.rx_offloads.names().collect::<Vec<_>>(),
            "tx_offloads": self.tx_offloads.names().collect::<Vec<_>>(),
            "features": features,
            "mac_addrs": self.mac_addrs.iter().map(MacAddr::to_string).collect::<Vec<_>>(),
            "mc_addrs": self.mc_addrs.iter().map(MacAddr::to_string).collect::<Vec<_>>(),
            "vlan_filters": self.vlan_filters,
        });
        if let Value::Object(m) = rest {
            o.extend(m);
        }
        Value::Object(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_hugepages::Fallback;
    use ferrite_pmd::{Mempool, MempoolConfig, PortConfig};

    #[test]
    fn a_pair_port_shows_its_limits_offloads_and_filters() {
        let mut ports = ferrite_pmd::drivers::virt::create_ports(&["pair0", "pair1"]).unwrap();
        let mut cfg = MempoolConfig::new("devinfo-test", 1024);
        cfg.dma.fallback = Fallback::SmallPages;
        let pool = Mempool::new(&cfg).unwrap();
        let conf = PortConfig { rx_offloads: RxOffloads::SCATTER, ..PortConfig::default() };
        ports[0].configure(&conf, &pool).unwrap();
        let group: MacAddr = "01:00:5e:00:00:07".parse().unwrap();
        ports[0].set_mc_addr_list(&[group]).unwrap();
        let d = DevInfo::of(&*ports[0]);
        let caps = ports[0].caps();
        assert_eq!(d.max_rx_pktlen(), caps.max_mtu as usize + 22);
        let text = d.to_text();
        assert!(text.contains("  rx offloads      scatter\n"), "{text}");
        assert!(text.contains(&format!("rx offload capa  {}", caps.rx_offload_capa)), "{text}");
        assert!(text.contains("tcp-segmentation-offload: off [fixed]"), "virtual ports have no TSO:\n{text}");
        assert!(text.contains("multicast        01:00:5e:00:00:07"), "{text}");
        let j: Value = serde_json::from_str(&d.to_json(Some(0)).to_string()).unwrap();
        assert_eq!(j["port"], 0);
        assert_eq!(j["rx_offloads"], json!(["scatter"]));
        assert_eq!(j["features"]["tcp-segmentation-offload"]["fixed"], true);
        assert_eq!(j["max_mtu"], caps.max_mtu);
    }
}
