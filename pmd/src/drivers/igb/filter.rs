//! Receive filters of the 82576 (datasheet §7.1.1 and §7.4): the extra
//! unicast addresses in receive address entries 1..15, the multicast hash
//! table (MTA), the VLAN filter table (VFTA) and the VLAN EtherTypes it
//! recognises tags by (VET: inner/single in bits 15:0, outer in 31:16).
//!
//! Each list lives in software as well as in the registers. The software
//! copy answers `mac_addrs`, `mc_addr_list` and `vlan_filters` (the MTA is a
//! hash: it cannot be read back as a list), and [`RxFilters::program`]
//! writes all of it again wherever the driver reinitialises the MAC (probe,
//! after the global reset; every open), so the filters survive a stop/start
//! and a reset, and nothing a previous owner left in the tables stays.
//!
//! Semantics and messages are the virtual ports' (`drivers/virt/filter.rs`):
//! 15 extra unicast addresses, adding one twice is a no-op, a list that is
//! refused changes nothing, at most 64 multicast groups. One difference is
//! the hardware's: the multicast table is a 4096-bit hash of destination
//! bits 47:36 (RCTL.MO = 00), so an unlisted group that shares a listed
//! group's bit gets through too; software above must not take it for an
//! exact filter. IPv6 neighbour discovery works because its solicited-node
//! groups (33:33:ff:xx:xx:xx) hash like any other listed group.
//!
//! # QEMU's igb
//!
//! Outside VMDq mode (this driver never enables it) QEMU implements all
//! three tables as the datasheet describes: RAR 0..15 compared exactly with
//! the valid bit honoured and the pool bits ignored, the MTA hash for all
//! four RCTL.MO settings, and the VFTA whenever RCTL.VFE is set, checked on
//! the frame's (inner, with double VLAN) tag before the address filters.

use super::mac::Hw;
use super::regs::{rah, ral, MTA_BASE, MTA_LEN, RAH_AV, RAH_POOL_0, RAR_ENTRIES, VET, VFTA_BASE, VFTA_LEN};
use crate::port::{check_multicast_groups, MacAddr, PortError, VlanType, MIN_ETHERTYPE};

/// Unicast addresses a port accepts besides its own: RAR 1..15.
pub const EXTRA_UNICAST: usize = RAR_ENTRIES as usize - 1;
/// Multicast groups a port can list (as the virtual ports).
pub const MAX_MULTICAST: usize = 64;
/// Largest VLAN ID (12 bits).
pub const MAX_VLAN_ID: u16 = 4095;

/// The MTA bit a destination address selects with RCTL.MO = 00: address
/// bits 47:36, that is byte 5 and the upper half of byte 4 (byte 0 is the
/// first on the wire). Linux's and DPDK's `hash_mc_addr` compute the same.
pub fn mta_bit(mac: MacAddr) -> u32 {
    let m = mac.0;
    ((u32::from(m[5]) << 4) | (u32::from(m[4]) >> 4)) & 0xFFF
}

/// The MTA words that let every group of `groups` through.
fn mta_words(groups: &[MacAddr]) -> [u32; MTA_LEN as usize] {
    let mut words = [0u32; MTA_LEN as usize];
    for &g in groups {
        let bit = mta_bit(g);
        words[(bit >> 5) as usize] |= 1 << (bit & 31);
    }
    words
}

/// RAL and RAH for a receive address entry: the address in wire order from
/// the low byte of RAL, valid, pool 0; both zero for an empty entry.
pub fn rar_words(mac: Option<MacAddr>) -> (u32, u32) {
    match mac {
        None => (0, 0),
        Some(MacAddr(m)) => {
            let lo = u32::from_le_bytes([m[0], m[1], m[2], m[3]]);
            let hi = u32::from_le_bytes([m[4], m[5], 0, 0]) | RAH_AV | RAH_POOL_0;
            (lo, hi)
        }
    }
}

/// Writes receive address entry `index`. The entry is invalid while its
/// halves disagree, and each write is flushed on its own (Linux and DPDK do
/// so: some bridges merge back-to-back writes, which some parts mishandle).
fn write_rar(hw: &Hw, index: u32, mac: Option<MacAddr>) {
    let (lo, hi) = rar_words(mac);
    hw.write(rah(index), 0);
    hw.flush();
    hw.write(ral(index), lo);
    hw.flush();
    hw.write(rah(index), hi);
    hw.flush();
}

/// Refuses a multicast list the virtual ports would refuse, with their words.
fn check_groups(port: &str, groups: &[MacAddr]) -> Result<(), PortError> {
    check_multicast_groups(port, groups)?;
    if groups.len() > MAX_MULTICAST {
        return Err(PortError::InvalidConfig(format!(
            "{port}: {} multicast groups asked, at most {MAX_MULTICAST}; use all-multicast mode for more",
            groups.len()
        )));
    }
    Ok(())
}

/// The port's extra unicast addresses, multicast groups and VLAN IDs.
#[derive(Clone, Debug)]
pub struct RxFilters {
    /// Slot `i` is receive address entry `i + 1`.
    unicast: [Option<MacAddr>; EXTRA_UNICAST],
    multicast: Vec<MacAddr>,
    /// The VFTA as it should be: bit `id & 31` of word `id >> 5`.
    vfta: [u32; VFTA_LEN as usize],
    /// VET as it should be: the inner (or single) tag's TPID in 15:0, the
    /// outer one's (double VLAN) in 31:16.
    vet: u32,
}

/// VET after reset: 0x8100 for both tags.
const VET_DEFAULT: u32 = 0x8100_8100;

impl Default for RxFilters {
    fn default() -> Self {
        RxFilters {
            unicast: [None; EXTRA_UNICAST],
            multicast: Vec::new(),
            vfta: [0; VFTA_LEN as usize],
            vet: VET_DEFAULT,
        }
    }
}

impl RxFilters {
    /// Adds an extra unicast address (`rte_eth_dev_mac_addr_add`) and
    /// programs its entry; adding one already present is a no-op.
    pub fn add_unicast(&mut self, hw: &Hw, port: &str, mac: MacAddr) -> Result<(), PortError> {
        if !mac.is_valid_unicast() {
            return Err(PortError::InvalidConfig(format!(
                "{port}: {mac} is not a unicast address; list multicast groups with set_mc_addr_list"
            )));
        }
        if self.unicast.contains(&Some(mac)) {
            return Ok(());
        }
        let Some(slot) = self.unicast.iter().position(Option::is_none) else {
            return Err(PortError::InvalidConfig(format!(
                "{port}: all {EXTRA_UNICAST} extra unicast addresses are in use; remove one or use promiscuous mode"
            )));
        };
        self.unicast[slot] = Some(mac);
        write_rar(hw, slot as u32 + 1, Some(mac));
        Ok(())
    }

    /// Removes an extra unicast address (`rte_eth_dev_mac_addr_remove`):
    /// its entry is invalidated and zeroed.
    pub fn remove_unicast(&mut self, hw: &Hw, port: &str, mac: MacAddr) -> Result<(), PortError> {
        let Some(slot) = self.unicast.iter().position(|e| *e == Some(mac)) else {
            return Err(PortError::InvalidConfig(format!("{port}: {mac} is not one of the port's extra addresses")));
        };
        self.unicast[slot] = None;
        write_rar(hw, slot as u32 + 1, None);
        Ok(())
    }

    /// The extra unicast addresses, in entry order.
    pub fn unicast(&self) -> Vec<MacAddr> {
        self.unicast.iter().flatten().copied().collect()
    }

    /// Replaces the multicast list (`rte_eth_dev_set_mc_addr_list`) and
    /// rewrites the MTA from it; an empty list clears it. Checked whole
    /// before anything changes.
    pub fn set_multicast(&mut self, hw: &Hw, port: &str, groups: &[MacAddr]) -> Result<(), PortError> {
        check_groups(port, groups)?;
        self.multicast = groups.to_vec();
        write_mta(hw, &self.multicast);
        Ok(())
    }

    /// The multicast list, as last set.
    pub fn multicast(&self) -> Vec<MacAddr> {
        self.multicast.clone()
    }

    /// Adds (`on`) or removes a VLAN ID in the VFTA (`rte_eth_dev_vlan_filter`).
    /// The table only filters with the `vlan_filter` offload (RCTL.VFE), but
    /// may be filled before: Linux adds IDs whatever the feature state too.
    pub fn set_vlan(&mut self, hw: &Hw, port: &str, vlan_id: u16, on: bool) -> Result<(), PortError> {
        if vlan_id > MAX_VLAN_ID {
            return Err(PortError::InvalidConfig(format!(
                "{port}: VLAN ID {vlan_id} is out of range 0..={MAX_VLAN_ID} (the tag's 12-bit VID)"
            )));
        }
        let (word, bit) = ((vlan_id >> 5) as usize, 1u32 << (vlan_id & 31));
        if on {
            self.vfta[word] |= bit;
        } else {
            self.vfta[word] &= !bit;
        }
        hw.write(VFTA_BASE + 4 * word as u32, self.vfta[word]);
        Ok(())
    }

    /// The VLAN IDs in the table, ascending.
    pub fn vlans(&self) -> Vec<u16> {
        (0..=MAX_VLAN_ID).filter(|&id| self.vfta[(id >> 5) as usize] & (1 << (id & 31)) != 0).collect()
    }

    /// Sets the TPID of the inner (or single) or the outer VLAN tag
    /// (`rte_eth_dev_set_vlan_ether_type`) and programs VET. QEMU's igb
    /// honours both halves on receive (tag recognition, strip, VFTA); its
    /// transmit insertion always uses the inner one.
    pub fn set_tpid(&mut self, hw: &Hw, port: &str, which: VlanType, tpid: u16) -> Result<(), PortError> {
        if tpid < MIN_ETHERTYPE {
            return Err(PortError::InvalidConfig(format!(
                "{port}: VLAN TPID {tpid:#06x} is an 802.3 length, not an EtherType: give {MIN_ETHERTYPE:#06x} or \
                 above (0x8100 for 802.1Q, 0x88a8 for an 802.1ad outer tag)"
            )));
        }
        self.vet = match which {
            VlanType::Inner => (self.vet & 0xffff_0000) | u32::from(tpid),
            VlanType::Outer => (self.vet & 0x0000_ffff) | u32::from(tpid) << 16,
        };
        hw.write(VET, self.vet);
        Ok(())
    }

    /// Writes every table from the software lists: VET, RAR 1..15 (empty
    /// ones invalid), MTA, VFTA. RAR 0 is the port's own address
    /// (`write_mac`).
    pub fn program(&self, hw: &Hw) {
        hw.write(VET, self.vet);
        for (slot, mac) in self.unicast.iter().enumerate() {
            write_rar(hw, slot as u32 + 1, *mac);
        }
        write_mta(hw, &self.multicast);
        for (i, w) in self.vfta.iter().enumerate() {
            hw.write(VFTA_BASE + 4 * i as u32, *w);
        }
        hw.flush();
    }
}

/// Rewrites the whole MTA for `groups`. Each word is written once with its
/// final value, so a group in both the old and the new list is never
/// dropped on the way.
fn write_mta(hw: &Hw, groups: &[MacAddr]) {
    for (i, w) in mta_words(groups).iter().enumerate() {
        hw.write(MTA_BASE + 4 * i as u32, *w);
    }
    hw.flush();
}
