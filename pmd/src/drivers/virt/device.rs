//! [`VirtPort`]: one implementation of [`NetDevice`] and [`EthtoolOps`] for
//! every kind of virtual port.
//!
//! The kinds differ only in their datapath (where frames come from and go
//! to) and in their driver name, so the control plane is written once here
//! and the kind picks its queues at `open`. The type parameter exists so
//! that `LoopPort`, `PairPort` and `NullPort` are distinct types, each with
//! its own constructor.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use super::cable::{Cable, CableCtl, EndCtl, Session};
use super::common::{caps, End, ETH_HLEN};
use super::wire::Wire;
use super::{null, wire};
use crate::mem::Mempool;
use crate::port::{
    Channels, DeviceCaps, DrvInfo, Duplex, EthtoolOps, LinkEvents, LinkSettings, LinkStatus, MacAddr, NetDevice,
    PortConfig, PortError, PortStats, Queues, RegDump, RingParams, RssConfig, RxMode, RxOffloads, TxOffloads,
};

pub(crate) mod sealed {
    /// Keeps [`super::Kind`] implemented only by this module's kinds.
    pub trait Sealed {}
}

/// Which kind of virtual port a [`VirtPort`] is: [`super::Loop`],
/// [`super::Pair`] or [`super::Null`].
pub trait Kind: sealed::Sealed + 'static {}

/// Link speeds `set_link_settings` accepts, in Mbit/s.
pub const LINK_SPEEDS: [u32; 6] = [10, 100, 1_000, 10_000, 25_000, 100_000];

/// What a port does with frames (the part of a kind that is not a type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Transmit lands on this port's receive wires.
    Loop,
    /// Transmit lands on the peer's receive wires.
    Pair,
    /// Receive allocates frames of this size; transmit frees.
    Null { packet_size: usize },
}

impl Flavor {
    fn driver(self) -> &'static str {
        match self {
            Flavor::Loop => "net_loop",
            Flavor::Pair => "net_pair",
            Flavor::Null { .. } => "net_null",
        }
    }

    /// Whether frames travel on wires (so receive and transmit queues pair
    /// up one to one).
    fn wired(self) -> bool {
        !matches!(self, Flavor::Null { .. })
    }
}

/// A virtual port of kind `K`. See the [module docs](super) for the kinds.
pub struct VirtPort<K: Kind> {
    cable: Arc<Cable>,
    me: usize,
    flavor: Flavor,
    kind: PhantomData<fn() -> K>,
}

impl<K: Kind> fmt::Debug for VirtPort<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtPort").field("name", &self.name()).field("driver", &self.flavor.driver()).finish()
    }
}

impl<K: Kind> VirtPort<K> {
    /// A port on end `me` of `cable`.
    pub(crate) fn attach(cable: Arc<Cable>, me: usize, flavor: Flavor) -> Self {
        VirtPort { cable, me, flavor, kind: PhantomData }
    }

    /// What this port does with frames.
    pub(crate) fn flavor(&self) -> Flavor {
        self.flavor
    }

    fn end(&self) -> &End {
        &self.cable.ends[self.me]
    }

    /// The id stamped into received mbufs (`Mbuf::port`); `create_ports`
    /// sets it to the port's position in its list, constructors to 0.
    pub fn port_id(&self) -> u16 {
        self.end().port_id()
    }

    /// Sets the id stamped into received mbufs.
    pub fn set_port_id(&mut self, id: u16) {
        self.end().set_port_id(id);
    }

    /// Test hook: while stalled, this port's receive queues take nothing
    /// off their wires (as a hung receiver or a stuck DMA engine would), so
    /// whoever transmits to it fills the wire and its transmit watchdog
    /// fires ([`NetDevice::set_tx_timeout`]). The carrier stays up.
    pub fn set_stalled(&mut self, stalled: bool) {
        let mut ctl = self.cable.lock();
        ctl.ends[self.me].stalled = stalled;
        self.cable.commit(&mut ctl);
    }

    /// This port's control state, if it is stopped.
    fn stopped<'c>(&self, ctl: &'c mut CableCtl, action: &str) -> Result<&'c mut EndCtl, PortError> {
        let name = self.name();
        let me = ctl.ends.get_mut(self.me).ok_or_else(|| PortError::InvalidState(format!("{name}: detached")))?;
        if me.session.is_some() {
            return Err(PortError::InvalidState(format!("{name} is running: stop it before {action}")));
        }
        Ok(me)
    }

    /// Everything `configure`, `set_ringparam` and `set_channels` must check.
    fn validate(&self, conf: &PortConfig, pool: Option<&Mempool>) -> Result<(), PortError> {
        conf.check(&self.caps())?;
        let name = self.name();
        if self.flavor.wired() && conf.rx_queues != conf.tx_queues {
            return Err(PortError::InvalidConfig(format!(
                "{name}: a {} port sends queue q to receive queue q, so it needs as many rx as tx queues \
                 (asked for {} rx, {} tx)",
                self.flavor.driver(),
                conf.rx_queues,
                conf.tx_queues
            )));
        }
        if let Flavor::Null { packet_size } = self.flavor {
            let room = pool.map_or(u16::MAX as usize, Mempool::data_room);
            if !(ETH_HLEN..=room).contains(&packet_size) {
                return Err(PortError::InvalidConfig(format!(
                    "{name}: packet size {packet_size} must be {ETH_HLEN}..={room} (the pool's data room)"
                )));
            }
        }
        Ok(())
    }

    /// A pair's ends must agree on queue counts: our transmit queue q feeds
    /// the peer's receive queue q and the other way round.
    fn check_peers(&self, ctl: &CableCtl, conf: &PortConfig) -> Result<(), PortError> {
        for (i, peer) in ctl.ends.iter().enumerate() {
            if i == self.me || peer.session.is_none() {
                continue;
            }
            let (prx, ptx) = (peer.conf.rx_queues, peer.conf.tx_queues);
            if prx != conf.tx_queues || ptx != conf.rx_queues {
                return Err(PortError::InvalidConfig(format!(
                    "{} has {} rx / {} tx queues but its peer {} runs with {prx} rx / {ptx} tx: \
                     configure both ends of a pair with the same queue counts",
                    self.name(),
                    conf.rx_queues,
                    conf.tx_queues,
                    self.cable.ends[i].name,
                )));
            }
        }
        Ok(())
    }

    /// A change to ring sizes or queue counts, while stopped.
    fn reconfigure(&mut self, action: &str, change: impl FnOnce(&mut PortConfig)) -> Result<(), PortError> {
        let mut ctl = self.cable.lock();
        let me = self.stopped(&mut ctl, action)?;
        let mut conf = me.conf.clone();
        change(&mut conf);
        self.validate(&conf, me.pool.as_ref())?;
        me.conf = conf;
        me.refresh_rss();
        self.cable.commit(&mut ctl);
        Ok(())
    }
}

impl<K: Kind> Drop for VirtPort<K> {
    /// Closing a running port stops it, so its buffers go home and a pair's
    /// peer sees the carrier drop.
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.stop();
        }
    }
}

impl<K: Kind> NetDevice for VirtPort<K> {
    fn name(&self) -> &str {
        &self.end().name
    }

    fn caps(&self) -> DeviceCaps {
        caps()
    }

    fn configure(&mut self, conf: &PortConfig, pool: &Mempool) -> Result<(), PortError> {
        let mut ctl = self.cable.lock();
        let me = self.stopped(&mut ctl, "configure")?;
        self.validate(conf, Some(pool))?;
        me.conf = conf.clone();
        me.pool = Some(pool.clone());
        me.refresh_rss();
        self.cable.commit(&mut ctl);
        Ok(())
    }

    fn open(&mut self) -> Result<Queues, PortError> {
        let mut ctl = self.cable.lock();
        let me = self.stopped(&mut ctl, "open")?;
        let Some(pool) = me.pool.clone() else {
            return Err(PortError::InvalidState(format!("{}: configure the port before opening it", self.name())));
        };
        let conf = me.conf.clone();
        self.check_peers(&ctl, &conf)?;
        let wires: Box<[Wire]> = match self.flavor {
            Flavor::Null { .. } => Box::new([]),
            _ => (0..conf.rx_queues).map(|_| Wire::new(conf.rx_ring_size)).collect(),
        };
        let session = Arc::new(Session { wires, pool });
        let queues = match self.flavor {
            Flavor::Null { packet_size } => null::queues(&self.cable, self.me, &session, &conf, packet_size),
            _ => wire::queues(&self.cable, self.me, &session, &conf),
        };
        ctl.ends[self.me].session = Some(session);
        self.cable.commit(&mut ctl);
        Ok(queues)
    }

    fn stop(&mut self) -> Result<(), PortError> {
        let mut ctl = self.cable.lock();
        let Some(session) = ctl.ends.get_mut(self.me).and_then(|e| e.session.take()) else {
            return Err(PortError::InvalidState(format!("{} is not running", self.name())));
        };
        self.cable.commit(&mut ctl);
        // The carrier is off now (it needs every end running), so whatever
        // is still on a wire of this cable will never be received.
        self.cable.flush(&ctl);
        self.cable.flush_session(self.me, &session);
        Ok(())
    }

    fn is_running(&self) -> bool {
        self.cable.lock().ends.get(self.me).is_some_and(|e| e.session.is_some())
    }

    fn set_rx_mode(&mut self, mode: RxMode) -> Result<(), PortError> {
        self.end().set_rx_mode(mode);
        Ok(())
    }

    fn rx_mode(&self) -> RxMode {
        self.end().rx_mode()
    }

    fn mac_address(&self) -> MacAddr {
        self.end().mac()
    }

    fn set_mac_address(&mut self, mac: MacAddr) -> Result<(), PortError> {
        if !mac.is_valid_unicast() {
            return Err(PortError::InvalidConfig(format!(
                "{}: {mac} is not a unicast address (group bit set, or all zeros)",
                self.name()
            )));
        }
        self.end().set_mac(mac);
        Ok(())
    }

    fn offloads(&self) -> (RxOffloads, TxOffloads) {
        let conf = &self.cable.lock().ends[self.me].conf;
        (conf.rx_offloads, conf.tx_offloads)
    }

    fn mac_addr_add(&mut self, mac: MacAddr) -> Result<(), PortError> {
        self.end().filter.add_unicast(self.name(), mac)
    }

    fn mac_addr_remove(&mut self, mac: MacAddr) -> Result<(), PortError> {
        self.end().filter.remove_unicast(self.name(), mac)
    }

    fn mac_addrs(&self) -> Vec<MacAddr> {
        let mut all = vec![self.end().mac()];
        all.extend(self.end().filter.unicast());
        all
    }

    fn set_mc_addr_list(&mut self, groups: &[MacAddr]) -> Result<(), PortError> {
        self.end().filter.set_multicast(self.name(), groups)
    }

    fn mc_addr_list(&self) -> Vec<MacAddr> {
        self.end().filter.multicast()
    }

    fn mtu(&self) -> u16 {
        self.end().mtu()
    }

    fn change_mtu(&mut self, mtu: u16) -> Result<(), PortError> {
        let c = self.caps();
        if !(c.min_mtu..=c.max_mtu).contains(&mtu) {
            return Err(PortError::InvalidConfig(format!(
                "{}: MTU {mtu} is out of range {}..={}",
                self.name(),
                c.min_mtu,
                c.max_mtu
            )));
        }
        self.end().set_mtu(mtu);
        Ok(())
    }

    fn stats64(&self) -> PortStats {
        let conf = self.cable.lock().ends[self.me].conf.clone();
        self.end().stats(&conf)
    }

    fn reset_stats(&mut self) -> Result<(), PortError> {
        self.end().reset_stats();
        Ok(())
    }

    fn link_status(&self) -> LinkStatus {
        let ctl = self.cable.lock();
        self.cable.status(&ctl, self.me)
    }

    fn set_link(&mut self, up: bool) -> Result<(), PortError> {
        let mut ctl = self.cable.lock();
        ctl.ends[self.me].admin_up = up;
        self.cable.commit(&mut ctl);
        Ok(())
    }

    fn link_events(&self) -> LinkEvents {
        self.end().notifier.subscribe()
    }

    fn set_tx_timeout(&mut self, timeout: std::time::Duration) -> Result<(), PortError> {
        self.end().set_tx_timeout(timeout);
        Ok(())
    }
}

impl<K: Kind> EthtoolOps for VirtPort<K> {
    fn drvinfo(&self) -> DrvInfo {
        DrvInfo {
            driver: self.flavor.driver().to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            fw_version: String::new(),
            bus_info: "virtual".to_string(),
        }
    }

    fn link_settings(&self) -> Result<LinkSettings, PortError> {
        Ok(self.cable.lock().ends[self.me].settings)
    }

    /// Records the settings; a virtual link can run at any standard speed.
    /// If the link is up it renegotiates (a down and an up event), so
    /// subscribers learn the new speed.
    fn set_link_settings(&mut self, settings: &LinkSettings) -> Result<(), PortError> {
        if !LINK_SPEEDS.contains(&settings.speed_mbps) {
            return Err(PortError::InvalidConfig(format!(
                "{}: speed {} Mbps is not one of {LINK_SPEEDS:?}",
                self.name(),
                settings.speed_mbps
            )));
        }
        if settings.duplex != Duplex::Full {
            return Err(PortError::InvalidConfig(format!(
                "{}: a virtual link is full duplex only (asked for {})",
                self.name(),
                settings.duplex
            )));
        }
        let mut ctl = self.cable.lock();
        ctl.ends[self.me].settings = *settings;
        self.cable.flap(&mut ctl);
        Ok(())
    }

    fn ringparam(&self) -> RingParams {
        let max = self.caps().max_ring_size;
        let conf = self.cable.lock().ends[self.me].conf.clone();
        RingParams { rx_max: max, tx_max: max, rx: conf.rx_ring_size, tx: conf.tx_ring_size }
    }

    fn set_ringparam(&mut self, rings: &RingParams) -> Result<(), PortError> {
        self.reconfigure("resizing rings", |c| {
            c.rx_ring_size = rings.rx;
            c.tx_ring_size = rings.tx;
        })
    }

    fn channels(&self) -> Channels {
        let c = self.caps();
        let conf = self.cable.lock().ends[self.me].conf.clone();
        Channels { max_rx: c.max_rx_queues, max_tx: c.max_tx_queues, rx: conf.rx_queues, tx: conf.tx_queues }
    }

    fn set_channels(&mut self, channels: &Channels) -> Result<(), PortError> {
        self.reconfigure("changing queue counts", |c| {
            c.rx_queues = channels.rx;
            c.tx_queues = channels.tx;
        })
    }

    fn stat_names(&self) -> Vec<String> {
        self.end().stat_rows(&self.stats64()).into_iter().map(|(name, _)| name).collect()
    }

    fn stat_values(&self) -> Vec<u64> {
        self.end().stat_rows(&self.stats64()).into_iter().map(|(_, v)| v).collect()
    }

    fn named_stats(&self) -> Vec<(String, u64)> {
        self.end().stat_rows(&self.stats64())
    }

    /// A virtual port has no registers; this dumps its state as named
    /// words instead, so `ethtool -d` still shows what the port is doing.
    fn regs(&self) -> Result<RegDump, PortError> {
        let ctl = self.cable.lock();
        let me = &ctl.ends[self.me];
        let end = self.end();
        let (mode, mac) = (end.rx_mode(), end.mac().0);
        let word = |b: bool| u32::from(b);
        let regs = [
            ("admin_up", word(me.admin_up)),
            ("carrier", word(ctl.carrier())),
            ("running", word(me.session.is_some())),
            ("mtu", u32::from(end.mtu())),
            ("rx_queues", u32::from(me.conf.rx_queues)),
            ("tx_queues", u32::from(me.conf.tx_queues)),
            ("rx_ring_size", u32::from(me.conf.rx_ring_size)),
            ("tx_ring_size", u32::from(me.conf.tx_ring_size)),
            ("promiscuous", word(mode.promiscuous)),
            ("all_multicast", word(mode.all_multicast)),
            ("speed_mbps", me.settings.speed_mbps),
            ("autoneg", word(me.settings.autoneg)),
            ("mac_high", u32::from_be_bytes([0, 0, mac[0], mac[1]])),
            ("mac_low", u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]])),
            ("port_id", u32::from(end.port_id())),
            ("stalled", word(me.stalled)),
            ("rx_flushed", u32::try_from(end.flushed.get()).unwrap_or(u32::MAX)),
        ];
        Ok(RegDump { version: 1, regs: regs.into_iter().map(|(n, v)| (n.to_string(), v)).collect() })
    }

    /// RSS is off on a fresh virtual port (hash types `none`: transmit
    /// queue q feeds receive queue q); the key and a redirection table
    /// spread over the receive queues are there to be shown and changed.
    fn rss_config(&self) -> Result<RssConfig, PortError> {
        Ok(self.cable.lock().ends[self.me].rss.clone())
    }

    /// Applies at once, also while running: frames sent to this port from
    /// the next burst on are spread by the new settings.
    fn set_rss_config(&mut self, conf: &RssConfig) -> Result<(), PortError> {
        if let Flavor::Null { .. } = self.flavor {
            return Err(PortError::NotSupported("RSS on a null port (its receive queues make frames up)"));
        }
        let mut ctl = self.cable.lock();
        let me = &mut ctl.ends[self.me];
        conf.check(me.conf.rx_queues).map_err(|e| PortError::InvalidConfig(format!("{}: {e}", self.name())))?;
        me.rss_reta_set = me.rss_reta_set || conf.reta != me.rss.reta;
        me.rss = conf.clone();
        me.refresh_rss();
        self.cable.commit(&mut ctl);
        Ok(())
    }

    /// Renegotiates: while the link is up, it goes down and up again and
    /// every end of the cable sees both events. A running port whose link
    /// is down (administratively, or its peer is) has nothing to renegotiate
    /// and stays down.
    fn nway_reset(&mut self) -> Result<(), PortError> {
        let mut ctl = self.cable.lock();
        if ctl.ends[self.me].session.is_none() {
            return Err(PortError::InvalidState(format!("{} is not running: open it first", self.name())));
        }
        self.cable.flap(&mut ctl);
        Ok(())
    }
}
