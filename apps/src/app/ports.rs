//! Opening the ports by name, their pools, and configuring and starting
//! them.

use ferrite_pmd::port::{LinkEvents, MacAddr, PortError, RxMode};
use ferrite_pmd::{Mempool, MempoolConfig, NetDevice, PortConfig, Queues};

use super::config::*;
use super::plan::{check_port_flags, sends_generated, Layout};
use super::{port_err, usage, AppError, Console};
use crate::cli::{Args, Topology};

/// The ports of `-a` (PCI) then `--vdev` (virtual, AF_XDP), in that order,
/// opened by the library's one function for every kind of port.
pub(crate) fn open_ports(args: &Args) -> Result<Vec<Box<dyn NetDevice>>, AppError> {
    check_distinct_pci(&args.allow)?;
    // Port names (DPDK's net_ prefix accepted) with their key=value device
    // arguments after them (af_xdp0,iface=eth0).
    let vdevs = ferrite_pmd::drivers::vdev::parse_vdev_tokens(&args.vdev).or_else(|e| usage(format!("--vdev: {e}")))?;
    let specs: Vec<String> = args.allow.iter().cloned().chain(vdevs.iter().map(|v| v.to_string())).collect();
    let opts = ferrite_pmd::OpenOptions { iova_mode: args.iova_mode };
    let what = if args.vdev.is_empty() {
        "-a"
    } else if args.allow.is_empty() {
        "--vdev"
    } else {
        "-a/--vdev"
    };
    ferrite_pmd::open_ports(&specs, &opts).map_err(|e| port_err(what.to_string(), e))
}

/// One driver per device: the same NIC given twice (perhaps written two
/// ways, `01:00.0` and `0000:01:00.0`) is bad input. (VFIO would refuse the
/// second open too, as a device error; this names the flags.)
pub(crate) fn check_distinct_pci(allow: &[String]) -> Result<(), AppError> {
    let mut seen: Vec<(String, &str)> = Vec::new();
    for given in allow {
        let Ok(addr) = ferrite_vfio::normalize_pci_addr(ferrite_pmd::drivers::pci_addr_of(given)) else { continue };
        if let Some((_, first)) = seen.iter().find(|(a, _)| *a == addr) {
            return usage(format!("-a {first} and -a {given} are the same device ({addr}): give each NIC once"));
        }
        seen.push((addr, given));
    }
    Ok(())
}

/// The ports of a run with what belongs to each: configuration, pool,
/// link-event subscription, own and peer MAC addresses.
pub(crate) struct PortSet {
    /// Declared before `pools`: fields drop in order, so the ports are
    /// stopped (their drop quiets the device) before their pools go.
    pub(crate) ports: Vec<Box<dyn NetDevice>>,
    pub(crate) pools: Vec<Mempool>,
    pub(crate) confs: Vec<PortConfig>,
    pub(crate) link_events: Vec<LinkEvents>,
    pub(crate) macs: Vec<MacAddr>,
    pub(crate) peer_mac: Vec<MacAddr>,
}

impl PortSet {
    /// Opens the ports of `--vdev` and `-a` and checks the flags that name
    /// ports against them.
    pub(crate) fn open(args: &Args) -> Result<PortSet, AppError> {
        let ports = open_ports(args)?;
        let n = ports.len();
        if args.port_topology == Topology::Paired && n % 2 == 1 {
            let names: Vec<&str> = ports.iter().map(|p| p.name()).collect();
            return usage(format!(
                "port topology paired needs an even number of ports, got {n} ({}): add a port or use \
                 --port-topology chained or loop",
                names.join(", ")
            ));
        }
        if let Some(p) = args.eth_peer.iter().find(|p| p.port >= n) {
            return usage(format!("--eth-peer {},{}: there are only {n} port(s) (0..={})", p.port, p.mac, n - 1));
        }
        check_port_flags(args, n)?;
        let mut peer_mac: Vec<MacAddr> = (0..n).map(default_peer).collect();
        for p in &args.eth_peer {
            peer_mac[p.port] = p.mac;
        }
        let (pools, confs, link_events, macs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        Ok(PortSet { ports, pools, confs, link_events, macs, peer_mac })
    }

    pub(crate) fn len(&self) -> usize {
        self.ports.len()
    }

    /// `port N (name)`, as messages name a port.
    pub(crate) fn what(&self, i: usize) -> String {
        format!("port {i} ({})", self.ports[i].name())
    }

    /// Queue counts, ring sizes and offloads against each driver's limits,
    /// and the MTU against the buffers, before any memory is reserved.
    pub(crate) fn check_configs(&mut self, con: &Console, args: &Args) -> Result<(), AppError> {
        let mut confs = Vec::with_capacity(self.len());
        for (i, port) in self.ports.iter().enumerate() {
            let what = self.what(i);
            let caps = port.caps();
            let conf = port_config(con, args, i, &caps, &what)?;
            check_software_tag(args, i, &conf, &what)?;
            conf.check(&caps).map_err(|e| port_err(what.clone(), e))?;
            let mtu = args.mtu.unwrap_or(port.mtu());
            check_rx_buffers(args, &what, mtu, conf.rx_offloads)?;
            check_tso_segsz(args, &what, mtu, conf.tx_offloads)?;
            confs.push(conf);
        }
        self.confs = confs;
        Ok(())
    }

    /// One pool per port (or one for all with `--shared-pool`): hardware
    /// ports need memory their IOMMU maps, on huge pages.
    pub(crate) fn make_pools(&mut self, args: &Args, layout: &Layout) -> Result<(), AppError> {
        let n = self.len();
        let capacity = args.total_num_mbufs.unwrap_or_else(|| pool_size(args, layout.nstreams, layout.cores));
        let (capacity, pools_made) = if args.shared_pool { ((capacity * n).min(1 << 24), 1) } else { (capacity, n) };
        for i in 0..pools_made {
            // In the memory the hardware ports ask for, if any.
            let mut cfg = MempoolConfig::for_ports(&format!("mb_pool_{i}"), capacity, &self.ports);
            cfg.data_room = args.mbuf_size;
            cfg.cache_size = args.mbcache;
            let pool = Mempool::new(&cfg).map_err(|e| port_err(format!("{}: mempool", self.what(i)), e))?;
            self.pools.push(pool);
        }
        while self.pools.len() < n {
            self.pools.push(self.pools[0].clone());
        }
        Ok(())
    }

    /// Configures and opens every port; returns their queues.
    pub(crate) fn start_all(&mut self, con: &Console, args: &Args) -> Result<Vec<Queues>, AppError> {
        let mut queues = Vec::with_capacity(self.len());
        for i in 0..self.len() {
            self.configure(i)?;
            self.settings(con, args, i)?;
            self.link_events.push(self.ports[i].link_events());
            queues.push(self.open_port(i)?);
        }
        self.macs = self.ports.iter().map(|p| p.mac_address()).collect();
        Ok(queues)
    }

    /// Configures port `i` from its checked configuration and opens it
    /// (also how `testpmd -i`'s `port start` restarts a stopped port).
    /// RSS is set again: its hash types follow the queue count `args` now
    /// asks for (`port config all rxq N`); the other settings are the
    /// port's own state and stay as they were.
    pub(crate) fn reopen(&mut self, con: &Console, args: &Args, i: usize) -> Result<Queues, AppError> {
        self.configure(i)?;
        let what = self.what(i);
        rss_settings(con, args, &what, self.ports[i].as_mut())?;
        self.open_port(i)
    }

    fn configure(&mut self, i: usize) -> Result<(), AppError> {
        let what = self.what(i);
        self.ports[i].configure(&self.confs[i], &self.pools[i]).map_err(|e| port_err(what, e))
    }

    fn open_port(&mut self, i: usize) -> Result<Queues, AppError> {
        let what = self.what(i);
        self.ports[i].open().map_err(|e| port_err(format!("{what}: open"), e))
    }

    /// Refuses generated frames (`--txpkts`) longer than port `i` accepts.
    pub(crate) fn check_frame_fits(&self, args: &Args, i: usize) -> Result<(), AppError> {
        let (frame, mtu) = (args.txpkts.total(), self.ports[i].mtu());
        if sends_generated(args) && frame > mtu as usize + 14 {
            return usage(format!(
                "--txpkts {} ({frame} B) is longer than {} accepts (MTU {mtu} + 14 B header); give --mtu {} or a \
                 smaller --txpkts",
                args.txpkts,
                self.what(i),
                frame - 14
            ));
        }
        Ok(())
    }

    /// What the flags set on port `i` besides its queues, before it opens:
    /// MTU, receive filters, promiscuous/all-multicast mode, interrupt
    /// throttle and tx watchdog, RSS.
    fn settings(&mut self, con: &Console, args: &Args, i: usize) -> Result<(), AppError> {
        let what = self.what(i);
        let port = &mut self.ports[i];
        if let Some(mtu) = args.mtu {
            port.change_mtu(mtu).map_err(|e| port_err(format!("{what}: cannot set MTU {mtu}"), e))?;
        }
        receive_filters(args, i, port.as_mut(), &what)?;
        self.check_frame_fits(args, i)?;
        let port = &mut self.ports[i];
        let all_multicast = args.all_multicast || port.rx_mode().all_multicast;
        let rx_mode = RxMode { promiscuous: !args.no_promisc, all_multicast };
        match port.set_rx_mode(rx_mode) {
            Ok(()) => {}
            Err(PortError::NotSupported(_)) if !args.no_promisc && !args.all_multicast => {}
            Err(e) => con.warn(&format!("{what}: cannot set promiscuous/all-multicast mode: {e}")),
        }
        napi_settings(con, args, &what, port.as_mut())?;
        rss_settings(con, args, &what, port.as_mut())
    }
}
