//! A port's capabilities and offload state, as dpdk-testpmd's `show port
//! info` (`rte_eth_dev_info`) and Linux's `ethtool -k` show them: shared by
//! `pmdinfo -k` and the telemetry command `/ethdev/info`.

use std::fmt::Write;

use ferrite_pmd::ether::max_frame_len;
use ferrite_pmd::port::{DeviceCaps, Feature, MacAddr, RxOffloads, TxOffloads};
use ferrite_pmd::NetDevice;

use crate::json::JsonWriter;

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
    pub fn write_json(&self, w: &mut JsonWriter, port: Option<usize>) {
        let c = &self.caps;
        w.begin_object();
        if let Some(id) = port {
            w.field_u64("port", id as u64);
        }
        w.field_str("name", &self.name).field_str("driver", &self.driver);
        w.field_u64("mtu", u64::from(self.mtu)).field_u64("min_mtu", u64::from(c.min_mtu));
        w.field_u64("max_mtu", u64::from(c.max_mtu)).field_u64("max_rx_pktlen", self.max_rx_pktlen() as u64);
        w.field_u64("nb_rx_queues", u64::from(self.queues.0)).field_u64("nb_tx_queues", u64::from(self.queues.1));
        w.field_u64("max_rx_queues", u64::from(c.max_rx_queues)).field_u64("max_tx_queues", u64::from(c.max_tx_queues));
        w.key("desc_lim").begin_object().field_u64("nb_min", u64::from(c.min_ring_size));
        w.field_u64("nb_max", u64::from(c.max_ring_size)).field_u64("nb_align", u64::from(c.ring_size_align));
        w.field_bool("power_of_two", c.ring_size_pow2).end_object();
        names(w, "rx_offload_capa", c.rx_offload_capa.names());
        names(w, "tx_offload_capa", c.tx_offload_capa.names());
        names(w, "rx_offloads", self.rx_offloads.names());
        names(w, "tx_offloads", self.tx_offloads.names());
        w.key("features").begin_object();
        for f in &self.features {
            w.key(f.name).begin_object().field_bool("on", f.on).field_bool("fixed", f.fixed).end_object();
        }
        w.end_object();
        let macs: Vec<String> = self.mac_addrs.iter().map(MacAddr::to_string).collect();
        names(w, "mac_addrs", macs.iter().map(String::as_str));
        let groups: Vec<String> = self.mc_addrs.iter().map(MacAddr::to_string).collect();
        names(w, "mc_addrs", groups.iter().map(String::as_str));
        w.key("vlan_filters").begin_array();
        for id in &self.vlan_filters {
            w.u64(u64::from(*id));
        }
        w.end_array().end_object();
    }
}

fn names<'a>(w: &mut JsonWriter, key: &str, items: impl Iterator<Item = &'a str>) {
    w.key(key).begin_array();
    for n in items {
        w.str(n);
    }
    w.end_array();
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
        let mut w = JsonWriter::new();
        d.write_json(&mut w, Some(0));
        let j = crate::pmdstat::Json::parse(&w.finish()).unwrap();
        assert_eq!(j.get("rx_offloads"), &crate::pmdstat::Json::Arr(vec![crate::pmdstat::Json::Str("scatter".into())]));
        let tso = j.get("features").get("tcp-segmentation-offload");
        assert_eq!(tso.get("fixed"), &crate::pmdstat::Json::Bool(true));
        assert_eq!(j.get("max_mtu"), &crate::pmdstat::Json::Num(f64::from(caps.max_mtu)));
    }
}
