//! The port API: what every driver implements and every application calls.
//!
//! It mirrors the two operation tables of a Linux network driver:
//!
//! | Linux                     | ferrite                                  |
//! |---------------------------|------------------------------------------|
//! | `struct net_device`       | a value implementing [`NetDevice`]       |
//! | `net_device_ops`          | [`NetDevice`]'s methods                  |
//! | `ethtool_ops`             | [`EthtoolOps`] (a supertrait)            |
//! | `ndo_open` / `ndo_stop`   | [`NetDevice::open`] / [`NetDevice::stop`]|
//! | `ndo_start_xmit`          | [`TxQueue::tx_burst`] (a burst, not one) |
//! | NAPI `poll(budget)`       | [`RxQueue::rx_burst`] with a budget      |
//! | `sk_buff`                 | [`crate::Mbuf`] from a [`crate::Mempool`]|
//! | `netif_carrier_on/off`    | [`LinkStatus`] + [`LinkEvents`]          |
//!
//! The one deliberate difference from Linux: [`NetDevice::open`] hands out
//! the queues as owned values ([`Queues`]). A forwarding core takes the
//! queues it polls and nobody else can touch them, so the datapath needs no
//! locks; the port keeps only what is shared (counters, link state).

mod counters;
mod error;
mod features;
mod link;
mod offloads;
pub mod stat_names;
mod types;

pub use counters::{Counter, QueueCounters, TxStops};
pub use error::PortError;
pub use features::{features, Feature};
pub use link::{LinkEvent, LinkEvents, LinkNotifier};
pub use offloads::{RxOffloads, TxOffloads, VlanType, MIN_ETHERTYPE};
pub use stat_names::{per_queue_stat_rows, QueueExtras};
pub use types::{
    check_multicast_groups, Channels, Coalesce, DeviceCaps, DrvInfo, Duplex, LinkSettings, LinkStatus, MacAddr,
    PortConfig, PortStats, QueueStats, RegDump, RingParams, RxMode, SelfTestRow, TestResult,
};

use std::os::fd::RawFd;
use std::time::Duration;

use crate::mem::{MbufBatch, Mempool};
pub use crate::rss::{RssConfig, RssHashTypes, RETA_SIZE, RSS_KEY_LEN};

/// One receive queue, owned by the core that polls it.
pub trait RxQueue: Send {
    /// Receives at most `budget` frames (and never more than the batch has
    /// room for), appending them to `batch`. Returns how many were added.
    /// Like a NAPI poll: returning less than the budget means "ring empty".
    fn rx_burst(&mut self, batch: &mut MbufBatch, budget: usize) -> usize;

    /// This queue's index on its port.
    fn queue_id(&self) -> u16;

    /// Arms this queue's receive interrupt (NAPI's `napi_complete_done`
    /// re-enabling the IRQ): from now on, work arriving on the queue makes
    /// [`RxQueue::interrupt_fd`] readable. If work is already waiting when
    /// it is armed, the fd is made readable at once, so a caller that arms
    /// and then sleeps on the fd never misses a frame. The default says the
    /// driver cannot do it (the caller keeps polling).
    fn enable_interrupt(&mut self) -> Result<(), PortError> {
        Err(PortError::NotSupported("rx interrupts"))
    }

    /// Disarms the interrupt (NAPI's `napi_schedule` masking the IRQ) and
    /// consumes any pending wake-up, so the fd is no longer readable.
    fn disable_interrupt(&mut self) {}

    /// A descriptor that becomes readable (`epoll`/`poll` `EPOLLIN`) while
    /// the queue is armed and has work; `None` without interrupt support.
    /// It stays the same for the life of the queue handle.
    fn interrupt_fd(&self) -> Option<RawFd> {
        None
    }
}

/// One transmit queue, owned by the core that fills it.
pub trait TxQueue: Send {
    /// Takes frames from the front of `batch` and returns how many it took.
    /// A frame taken is either queued for transmission or dropped and
    /// counted by the driver (oversize, link down); either way it is no
    /// longer in the batch. Frames left in the batch were not taken (the
    /// ring is full): the caller may retry or drop them.
    fn tx_burst(&mut self, batch: &mut MbufBatch) -> usize;

    /// Returns to their pools the frames the device has finished sending
    /// but the driver still holds, and says how many (DPDK's
    /// `rte_eth_tx_done_cleanup`, Linux's NAPI TX clean).
    ///
    /// A driver may reclaim completions only inside `tx_burst`, and a
    /// device may write them back late. A loop that skips `tx_burst` when it
    /// has nothing to send (nothing received, or no buffer to build a frame
    /// in) must call this instead, or buffers parked in the ring never come
    /// back once the ring holds the pool, and the loop stalls for good.
    /// Cheap when there is nothing to reclaim. Drivers that free frames as
    /// they take them keep the default (nothing held, returns 0).
    fn tx_done_cleanup(&mut self) -> usize {
        0
    }

    /// This queue's index on its port.
    fn queue_id(&self) -> u16;
}

/// The queues of a started port, to be handed to forwarding cores.
#[derive(Default)]
pub struct Queues {
    /// Receive queues, index = queue id.
    pub rx: Vec<Box<dyn RxQueue>>,
    /// Transmit queues, index = queue id.
    pub tx: Vec<Box<dyn TxQueue>>,
}

/// Device operations, after Linux's `net_device_ops`.
///
/// Life cycle: `configure` (stopped) → `open` (returns the queues) → run →
/// drop the queue handles → `stop` → (`configure` again, or drop the port to
/// close it). Calls made out of order return [`PortError::InvalidState`].
pub trait NetDevice: EthtoolOps + Send {
    /// The port's name (`loop0`, `0000:01:00.0`).
    fn name(&self) -> &str;

    /// Limits the driver enforces in `configure` and `change_mtu`.
    fn caps(&self) -> DeviceCaps;

    /// Sets queue counts, ring sizes and offloads; `pool` supplies receive
    /// buffers. Only while stopped.
    fn configure(&mut self, conf: &PortConfig, pool: &Mempool) -> Result<(), PortError>;

    /// The receive and transmit offloads of the last successful
    /// `configure` (none before the first).
    fn offloads(&self) -> (RxOffloads, TxOffloads) {
        (RxOffloads::empty(), TxOffloads::empty())
    }

    /// `ethtool -k`: the offloads as Linux's feature names, from what the
    /// port can do and what it was configured with.
    fn features(&self) -> Vec<Feature> {
        let caps = self.caps();
        features((caps.rx_offload_capa, caps.tx_offload_capa), self.offloads())
    }

    /// Brings the port up (`ndo_open`) and hands out its queues.
    fn open(&mut self) -> Result<Queues, PortError>;

    /// Takes the port down (`ndo_stop`): queues still held elsewhere become
    /// inert, in-flight buffers return to their pools.
    fn stop(&mut self) -> Result<(), PortError>;

    /// Whether the port is open.
    fn is_running(&self) -> bool;

    /// Receive filtering (`ndo_set_rx_mode`).
    fn set_rx_mode(&mut self, mode: RxMode) -> Result<(), PortError> {
        let _ = mode;
        Err(PortError::NotSupported("set_rx_mode"))
    }

    /// Current receive filtering.
    fn rx_mode(&self) -> RxMode;

    /// The port's unicast address.
    fn mac_address(&self) -> MacAddr;

    /// Changes the unicast address (`ndo_set_mac_address`).
    fn set_mac_address(&mut self, mac: MacAddr) -> Result<(), PortError> {
        let _ = mac;
        Err(PortError::NotSupported("set_mac_address"))
    }

    /// Also receives frames sent to `mac` in non-promiscuous mode
    /// (`rte_eth_dev_mac_addr_add`; Linux's unicast list). Adding an address
    /// already there is a no-op. Hardware has a fixed number of slots.
    fn mac_addr_add(&mut self, mac: MacAddr) -> Result<(), PortError> {
        let _ = mac;
        Err(PortError::NotSupported("mac_addr_add"))
    }

    /// Stops receiving frames sent to an address added with
    /// [`NetDevice::mac_addr_add`] (`rte_eth_dev_mac_addr_remove`).
    fn mac_addr_remove(&mut self, mac: MacAddr) -> Result<(), PortError> {
        let _ = mac;
        Err(PortError::NotSupported("mac_addr_remove"))
    }

    /// The port's own address first, then the extra unicast addresses.
    fn mac_addrs(&self) -> Vec<MacAddr> {
        vec![self.mac_address()]
    }

    /// Replaces the multicast groups the port receives in non-promiscuous,
    /// non-all-multicast mode (`rte_eth_dev_set_mc_addr_list`; Linux's
    /// multicast list). An empty list clears it; a refused list changes
    /// nothing.
    fn set_mc_addr_list(&mut self, groups: &[MacAddr]) -> Result<(), PortError> {
        let _ = groups;
        Err(PortError::NotSupported("set_mc_addr_list"))
    }

    /// The multicast groups set with [`NetDevice::set_mc_addr_list`].
    fn mc_addr_list(&self) -> Vec<MacAddr> {
        Vec::new()
    }

    /// Adds (`on`) or removes a VLAN ID from the receive VLAN filter
    /// (`rte_eth_dev_vlan_filter`, Linux's `ndo_vlan_rx_add_vid`). With the
    /// `vlan_filter` receive offload, tagged frames whose ID is not in the
    /// filter are dropped; untagged frames always pass.
    fn vlan_filter_set(&mut self, vlan_id: u16, on: bool) -> Result<(), PortError> {
        let _ = (vlan_id, on);
        Err(PortError::NotSupported("vlan_filter_set"))
    }

    /// The VLAN IDs in the receive filter, ascending.
    fn vlan_filters(&self) -> Vec<u16> {
        Vec::new()
    }

    /// Sets the EtherType (TPID) that marks a VLAN tag of kind `which`
    /// (`rte_eth_dev_set_vlan_ether_type`). Both are 0x8100 by default; an
    /// IEEE 802.1ad network tags its outer (service) tag 0x88a8, which a
    /// port with the `vlan_extend` receive offload must be told to strip
    /// and filter the inner tag under it. A TPID below 0x0600 (a length,
    /// not an EtherType) is refused.
    fn vlan_tpid_set(&mut self, which: VlanType, tpid: u16) -> Result<(), PortError> {
        let _ = (which, tpid);
        Err(PortError::NotSupported("vlan_tpid_set"))
    }

    /// Current MTU (L3 payload bytes; a frame may be MTU + 14 header bytes
    /// + 4 per VLAN tag, up to two: [`crate::ether::max_frame_len`]).
    fn mtu(&self) -> u16;

    /// Changes the MTU (`ndo_change_mtu`).
    fn change_mtu(&mut self, mtu: u16) -> Result<(), PortError> {
        let _ = mtu;
        Err(PortError::NotSupported("change_mtu"))
    }

    /// Counters with the per-queue breakdown (`ndo_get_stats64`).
    fn stats64(&self) -> PortStats;

    /// Zeroes the counters.
    fn reset_stats(&mut self) -> Result<(), PortError> {
        Err(PortError::NotSupported("reset_stats"))
    }

    /// Carrier state now, without waiting.
    fn link_status(&self) -> LinkStatus;

    /// Sets the link administratively up or down (`rte_eth_dev_set_link_up`).
    fn set_link(&mut self, up: bool) -> Result<(), PortError> {
        let _ = up;
        Err(PortError::NotSupported("set_link"))
    }

    /// Subscribes to link-change events.
    fn link_events(&self) -> LinkEvents;

    /// Re-reads the carrier from the device, tells link-event subscribers
    /// if it changed, and returns it (`rte_eth_link_get`). With
    /// `wait_to_complete`, waits (up to 9 s, as DPDK) for the link to come
    /// up. The default returns [`NetDevice::link_status`] at once.
    fn link_update(&self, wait_to_complete: bool) -> LinkStatus {
        let _ = wait_to_complete;
        self.link_status()
    }

    /// The transmit watchdog's timeout (`net_device.watchdog_timeo`): a
    /// transmit queue whose pending frames have not moved for this long
    /// while the link is up is reset, its frames freed and counted
    /// (`tx_timeout_count`). Applies at once, to running queues too.
    fn set_tx_timeout(&mut self, timeout: Duration) -> Result<(), PortError> {
        let _ = timeout;
        Err(PortError::NotSupported("set_tx_timeout"))
    }

    /// The IOMMU mapping that buffer pools for this port must use (hardware
    /// ports behind VFIO); `None` when any memory will do (virtual ports).
    fn dma_mapper(&self) -> Option<std::sync::Arc<dyn ferrite_hugepages::DmaMapper>> {
        None
    }

    /// The memory a buffer pool must be in for this port to receive into
    /// it: for a port that hands buffers to a device, hugepages in the
    /// port's IOVA mode, mapped into its IOMMU when it has one (PA mode has
    /// none); `None` when any memory will do (virtual and AF_XDP ports).
    /// [`crate::MempoolConfig::for_ports`] builds on it.
    fn pool_dma_options(&self) -> Option<ferrite_hugepages::DmaOptions> {
        None
    }
}

/// Ethtool operations, after Linux's `ethtool_ops`.
pub trait EthtoolOps {
    /// `ethtool -i`.
    fn drvinfo(&self) -> DrvInfo;

    /// `ethtool` (no flags): link settings.
    fn link_settings(&self) -> Result<LinkSettings, PortError> {
        Err(PortError::NotSupported("get_link_ksettings"))
    }

    /// `ethtool -s`.
    fn set_link_settings(&mut self, settings: &LinkSettings) -> Result<(), PortError> {
        let _ = settings;
        Err(PortError::NotSupported("set_link_ksettings"))
    }

    /// `ethtool -g`.
    fn ringparam(&self) -> RingParams;

    /// `ethtool -G` (only while stopped).
    fn set_ringparam(&mut self, rings: &RingParams) -> Result<(), PortError> {
        let _ = rings;
        Err(PortError::NotSupported("set_ringparam"))
    }

    /// `ethtool -l`.
    fn channels(&self) -> Channels;

    /// `ethtool -L` (only while stopped).
    fn set_channels(&mut self, channels: &Channels) -> Result<(), PortError> {
        let _ = channels;
        Err(PortError::NotSupported("set_channels"))
    }

    /// `ethtool -S` names, in the order of [`EthtoolOps::stat_values`]
    /// (Linux's `get_strings(ETH_SS_STATS)`).
    fn stat_names(&self) -> Vec<String>;

    /// `ethtool -S` values (Linux's `get_ethtool_stats`).
    fn stat_values(&self) -> Vec<u64>;

    /// Names and values together.
    fn named_stats(&self) -> Vec<(String, u64)> {
        self.stat_names().into_iter().zip(self.stat_values()).collect()
    }

    /// `ethtool -d`.
    fn regs(&self) -> Result<RegDump, PortError> {
        Err(PortError::NotSupported("get_regs"))
    }

    /// `ethtool -r`: restart autonegotiation.
    fn nway_reset(&mut self) -> Result<(), PortError> {
        Err(PortError::NotSupported("nway_reset"))
    }

    /// `ethtool -x`: RSS key, redirection table and hashed header types
    /// (Linux's `get_rxfh` + `get_rxnfc(ETHTOOL_GRXFH)`).
    fn rss_config(&self) -> Result<RssConfig, PortError> {
        Err(PortError::NotSupported("get_rxfh"))
    }

    /// `ethtool -X` (and `-N rx-flow-hash`): sets all three at once. The
    /// redirection table may only name configured receive queues. Takes
    /// effect at once on a running port.
    fn set_rss_config(&mut self, conf: &RssConfig) -> Result<(), PortError> {
        let _ = conf;
        Err(PortError::NotSupported("set_rxfh"))
    }

    /// `ethtool -x`: the RSS key.
    fn rss_key(&self) -> Result<[u8; RSS_KEY_LEN], PortError> {
        self.rss_config().map(|c| c.key)
    }

    /// `ethtool -X hkey`.
    fn set_rss_key(&mut self, key: &[u8; RSS_KEY_LEN]) -> Result<(), PortError> {
        let conf = RssConfig { key: *key, ..self.rss_config()? };
        self.set_rss_config(&conf)
    }

    /// `ethtool -x`: the redirection table.
    fn rss_reta(&self) -> Result<[u16; RETA_SIZE], PortError> {
        self.rss_config().map(|c| c.reta)
    }

    /// `ethtool -X weight/equal`.
    fn set_rss_reta(&mut self, reta: &[u16; RETA_SIZE]) -> Result<(), PortError> {
        let conf = RssConfig { reta: *reta, ..self.rss_config()? };
        self.set_rss_config(&conf)
    }

    /// `ethtool -n rx-flow-hash`: what is hashed.
    fn rss_hash_types(&self) -> Result<RssHashTypes, PortError> {
        self.rss_config().map(|c| c.hash_types)
    }

    /// `ethtool -N rx-flow-hash`; [`RssHashTypes::NONE`] turns RSS off.
    fn set_rss_hash_types(&mut self, types: RssHashTypes) -> Result<(), PortError> {
        let conf = RssConfig { hash_types: types, ..self.rss_config()? };
        self.set_rss_config(&conf)
    }

    /// `ethtool -e`: the size of the EEPROM/NVM in bytes (Linux's
    /// `get_eeprom_len`); 0 when the driver cannot read one.
    fn eeprom_len(&self) -> usize {
        0
    }

    /// `ethtool -e offset N length N`: `len` bytes of the EEPROM/NVM from
    /// byte `offset` (Linux's `get_eeprom`). A range past
    /// [`EthtoolOps::eeprom_len`] is refused.
    fn read_eeprom(&self, offset: usize, len: usize) -> Result<Vec<u8>, PortError> {
        let _ = (offset, len);
        Err(PortError::NotSupported("get_eeprom"))
    }

    /// Whether [`EthtoolOps::self_test`] does anything (`ethtool -i`'s
    /// `supports-test`).
    fn supports_self_test(&self) -> bool {
        false
    }

    /// `ethtool -t [offline|online]`: runs the driver's self-test and
    /// returns its rows (Linux's `self_test`). The offline test may take the
    /// device over for a while, so it needs a stopped port; the online test
    /// leaves the port alone.
    fn self_test(&mut self, offline: bool) -> Result<Vec<SelfTestRow>, PortError> {
        let _ = offline;
        Err(PortError::NotSupported("self_test"))
    }

    /// `ethtool -p`: blinks the port's LEDs for `duration` so a person can
    /// find it, then puts the LED setting back (Linux's `set_phys_id`).
    /// Blocks for the duration.
    fn identify(&mut self, duration: Duration) -> Result<(), PortError> {
        let _ = duration;
        Err(PortError::NotSupported("set_phys_id"))
    }

    /// `ethtool -c`: interrupt coalescing.
    fn coalesce(&self) -> Result<Coalesce, PortError> {
        Err(PortError::NotSupported("get_coalesce"))
    }

    /// `ethtool -C`: interrupt coalescing (the receive interrupt throttle).
    fn set_coalesce(&mut self, coalesce: &Coalesce) -> Result<(), PortError> {
        let _ = coalesce;
        Err(PortError::NotSupported("set_coalesce"))
    }
}
