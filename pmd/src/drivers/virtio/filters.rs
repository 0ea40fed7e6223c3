//! What the port asks the device to receive, kept by the driver and sent
//! through the control queue (see `ctrl`): receive mode (CTRL_RX's
//! PROMISC and ALLMULTI), the MAC table (extra unicast addresses and
//! multicast groups, CTRL_RX's MAC_TABLE_SET), the default address
//! (CTRL_MAC_ADDR's ADDR_SET) and the VLAN filter (CTRL_VLAN).
//!
//! The device forgets all of it on every reset, and a port is reset on
//! every stop, so the state lives here: an operation on a stopped port
//! only changes it, an operation on a running port sends the command and
//! changes it once the device acknowledged, and every open sends it all
//! again ([`RxFilters::commands`]).
//!
//! # VLAN filtering and QEMU's table
//!
//! What a device's VLAN table holds before the first command differs
//! between QEMU versions: older ones emptied it when CTRL_VLAN was
//! negotiated (every tagged frame dropped); since the 2023 change "do not
//! reset vlan filtering at set_features" negotiation leaves it alone, and
//! QEMU 10.0.2 starts with it full (every VLAN passes, measured); a 2025
//! change ("Fix VLAN filter table reset timing") moved when it is filled
//! again. Without CTRL_VLAN QEMU fills it (every VLAN passes). So the port
//! negotiates CTRL_VLAN only for an open that asks for the `vlan_filter`
//! receive offload, and then sets every one of the 4,096 entries itself
//! (ADD for the listed IDs, DEL for the rest): 4,096 commands, about 1 s
//! per open in the TCG test guest (`tests/guest/bump/65-virtio-mq.sh`),
//! paid only by who asks for VLAN filtering. Without the offload,
//! CTRL_VLAN is declined and every VLAN passes.

use super::regs::*;
use super::VirtioPort;
use crate::port::{check_multicast_groups, MacAddr, PortError, RxMode};

/// Entries per table (unicast, multicast) this driver sends; QEMU keeps
/// 64 in all and falls back to "receive all of that kind" beyond.
pub const MAC_TABLE_MAX: usize = 32;
/// VLAN IDs (12 bits).
pub const VLAN_IDS: u16 = 4096;

/// One control command: class, command, data.
pub type Command = (u8, u8, Vec<u8>);

/// The receive filters of a port.
#[derive(Clone, Debug)]
pub struct RxFilters {
    /// Promiscuous and all-multicast (QEMU's reset state is promiscuous).
    pub mode: RxMode,
    /// Extra unicast addresses (`mac_addr_add`).
    pub unicast: Vec<MacAddr>,
    /// Multicast groups (`set_mc_addr_list`).
    pub multicast: Vec<MacAddr>,
    /// A default address set by the user (`set_mac_address`), if any.
    pub mac: Option<MacAddr>,
    /// VLAN IDs let in, ascending (used with the `vlan_filter` offload).
    pub vlans: Vec<u16>,
}

impl Default for RxFilters {
    fn default() -> RxFilters {
        RxFilters {
            mode: RxMode { promiscuous: true, all_multicast: false },
            unicast: Vec::new(),
            multicast: Vec::new(),
            mac: None,
            vlans: Vec::new(),
        }
    }
}

/// CTRL_RX PROMISC or ALLMULTI with `on`.
pub fn rx_mode_command(cmd: u8, on: bool) -> Command {
    (CTRL_CLASS_RX, cmd, vec![u8::from(on)])
}

/// CTRL_MAC TABLE_SET: le32 count, the unicast addresses, le32 count, the
/// multicast addresses.
pub fn mac_table_command(unicast: &[MacAddr], multicast: &[MacAddr]) -> Command {
    let mut data = Vec::with_capacity(8 + 6 * (unicast.len() + multicast.len()));
    for table in [unicast, multicast] {
        data.extend_from_slice(&(table.len() as u32).to_le_bytes());
        for m in table {
            data.extend_from_slice(&m.0);
        }
    }
    (CTRL_CLASS_MAC, CTRL_MAC_TABLE_SET, data)
}

/// CTRL_MAC ADDR_SET.
pub fn mac_addr_command(mac: MacAddr) -> Command {
    (CTRL_CLASS_MAC, CTRL_MAC_ADDR_SET, mac.0.to_vec())
}

/// CTRL_VLAN ADD (`on`) or DEL of `id`.
pub fn vlan_command(id: u16, on: bool) -> Command {
    (CTRL_CLASS_VLAN, if on { CTRL_VLAN_ADD } else { CTRL_VLAN_DEL }, id.to_le_bytes().to_vec())
}

/// CTRL_MQ VQ_PAIRS_SET.
pub fn mq_command(pairs: u16) -> Command {
    (CTRL_CLASS_MQ, CTRL_MQ_VQ_PAIRS_SET, pairs.to_le_bytes().to_vec())
}

/// Checks a unicast address for the table.
pub fn check_unicast(who: &str, mac: MacAddr) -> Result<(), PortError> {
    if !mac.is_valid_unicast() {
        return Err(PortError::InvalidConfig(format!(
            "{who}: {mac} is not a unicast address (zero, or the group bit set)"
        )));
    }
    Ok(())
}

/// Checks a table's length.
pub fn check_table_len(who: &str, kind: &str, n: usize) -> Result<(), PortError> {
    if n > MAC_TABLE_MAX {
        return Err(PortError::InvalidConfig(format!(
            "{who}: {n} {kind} addresses; this driver's MAC table holds {MAC_TABLE_MAX} of each kind"
        )));
    }
    Ok(())
}

/// Which control features the open negotiated.
#[derive(Clone, Copy, Debug)]
pub struct CtrlFeatures {
    /// CTRL_RX.
    pub rx: bool,
    /// CTRL_MAC_ADDR.
    pub mac_addr: bool,
    /// CTRL_VLAN (only when the open asked for VLAN filtering).
    pub vlan: bool,
}

impl RxFilters {
    /// Every command that puts a freshly reset device in this state.
    pub fn commands(&self, f: CtrlFeatures) -> Vec<Command> {
        let mut out = Vec::new();
        if f.mac_addr {
            if let Some(mac) = self.mac {
                out.push(mac_addr_command(mac));
            }
        }
        if f.rx {
            out.push(rx_mode_command(CTRL_RX_PROMISC, self.mode.promiscuous));
            out.push(rx_mode_command(CTRL_RX_ALLMULTI, self.mode.all_multicast));
            out.push(mac_table_command(&self.unicast, &self.multicast));
        }
        if f.vlan {
            out.extend((0..VLAN_IDS).map(|id| vlan_command(id, self.vlans.binary_search(&id).is_ok())));
        }
        out
    }
}

// ----- the port's filter operations -----

impl VirtioPort {
    /// Sends `c` when the port runs (the device then applies it at once);
    /// a stopped port keeps the state for its next open.
    fn send(&mut self, c: Command) -> Result<(), PortError> {
        match self.ctrl.as_mut() {
            Some(ctrl) if self.session.is_some() => ctrl.command(c.0, c.1, &c.2),
            _ => Ok(()),
        }
    }

    /// NotSupported, saying which feature the device lacks, unless `b`
    /// was negotiated (CTRL_VLAN: offered, it is negotiated per open).
    fn need(&self, b: u32, op: &'static str) -> Result<(), PortError> {
        let ctrl = bit(NET_F_CTRL_VQ) | bit(b);
        if self.negotiated.offered & ctrl == ctrl {
            return Ok(());
        }
        Err(PortError::NotSupported(match b {
            NET_F_CTRL_RX => {
                "the virtio device offers no VIRTIO_NET_F_CTRL_RX (with CTRL_VQ), so it receives every frame and \
                 cannot filter by address"
            }
            NET_F_CTRL_MAC_ADDR => "the virtio device offers no VIRTIO_NET_F_CTRL_MAC_ADDR: its address is fixed",
            NET_F_CTRL_VLAN => "the virtio device offers no VIRTIO_NET_F_CTRL_VLAN: it cannot filter VLANs",
            _ => op,
        }))
    }

    pub(super) fn current_rx_mode(&self) -> RxMode {
        if self.need(NET_F_CTRL_RX, "rx_mode").is_ok() {
            self.filters.mode
        } else {
            RxMode { promiscuous: true, all_multicast: true }
        }
    }

    /// PROMISC and ALLMULTI, each sent only if it changes.
    pub(super) fn set_rx_mode_ctrl(&mut self, mode: RxMode) -> Result<(), PortError> {
        if self.need(NET_F_CTRL_RX, "set_rx_mode").is_err() && mode.promiscuous && mode.all_multicast {
            return Ok(());
        }
        self.need(NET_F_CTRL_RX, "set_rx_mode")?;
        if mode.promiscuous != self.filters.mode.promiscuous {
            self.send(rx_mode_command(CTRL_RX_PROMISC, mode.promiscuous))?;
            self.filters.mode.promiscuous = mode.promiscuous;
        }
        if mode.all_multicast != self.filters.mode.all_multicast {
            self.send(rx_mode_command(CTRL_RX_ALLMULTI, mode.all_multicast))?;
            self.filters.mode.all_multicast = mode.all_multicast;
        }
        Ok(())
    }

    pub(super) fn set_mac_address_ctrl(&mut self, mac: MacAddr) -> Result<(), PortError> {
        self.need(NET_F_CTRL_MAC_ADDR, "set_mac_address")?;
        check_unicast(&self.name, mac)?;
        self.send(mac_addr_command(mac))?;
        self.filters.mac = Some(mac);
        self.mac = mac;
        Ok(())
    }

    pub(super) fn mac_addr_add_ctrl(&mut self, mac: MacAddr) -> Result<(), PortError> {
        self.need(NET_F_CTRL_RX, "mac_addr_add")?;
        check_unicast(&self.name, mac)?;
        if mac == self.mac || self.filters.unicast.contains(&mac) {
            return Ok(());
        }
        let mut unicast = self.filters.unicast.clone();
        unicast.push(mac);
        check_table_len(&self.name, "unicast", unicast.len())?;
        self.send(mac_table_command(&unicast, &self.filters.multicast))?;
        self.filters.unicast = unicast;
        Ok(())
    }

    pub(super) fn mac_addr_remove_ctrl(&mut self, mac: MacAddr) -> Result<(), PortError> {
        self.need(NET_F_CTRL_RX, "mac_addr_remove")?;
        let Some(i) = self.filters.unicast.iter().position(|m| *m == mac) else {
            return Err(PortError::InvalidConfig(format!(
                "{}: {mac} was not added with mac_addr_add (the port's own address cannot be removed)",
                self.name
            )));
        };
        let mut unicast = self.filters.unicast.clone();
        unicast.remove(i);
        self.send(mac_table_command(&unicast, &self.filters.multicast))?;
        self.filters.unicast = unicast;
        Ok(())
    }

    pub(super) fn set_mc_addr_list_ctrl(&mut self, groups: &[MacAddr]) -> Result<(), PortError> {
        self.need(NET_F_CTRL_RX, "set_mc_addr_list")?;
        check_multicast_groups(&self.name, groups)?;
        check_table_len(&self.name, "multicast", groups.len())?;
        self.send(mac_table_command(&self.filters.unicast, groups))?;
        self.filters.multicast = groups.to_vec();
        Ok(())
    }

    /// Applies at once when this open filters VLANs (CTRL_VLAN negotiated);
    /// otherwise kept for the next open with the `vlan_filter` offload.
    pub(super) fn vlan_filter_set_ctrl(&mut self, id: u16, on: bool) -> Result<(), PortError> {
        self.need(NET_F_CTRL_VLAN, "vlan_filter_set")?;
        if id >= VLAN_IDS {
            return Err(PortError::InvalidConfig(format!("{}: VLAN ID {id} is not below {VLAN_IDS}", self.name)));
        }
        if self.negotiated.has(NET_F_CTRL_VLAN) {
            self.send(vlan_command(id, on))?;
        }
        match (self.filters.vlans.binary_search(&id), on) {
            (Err(at), true) => self.filters.vlans.insert(at, id),
            (Ok(at), false) => {
                self.filters.vlans.remove(at);
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_have_the_spec_layout() {
        let a = MacAddr([2, 0, 0, 0, 0, 1]);
        let g = MacAddr([0x01, 0, 0x5e, 0, 0, 7]);
        let (c, k, d) = mac_table_command(&[a], &[g]);
        assert_eq!((c, k), (1, 0));
        assert_eq!(d, [1, 0, 0, 0, 2, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0x01, 0, 0x5e, 0, 0, 7]);
        assert_eq!(vlan_command(0x123, false), (2, 1, vec![0x23, 0x01]));
        assert_eq!(mq_command(2), (4, 0, vec![2, 0]));
        assert_eq!(rx_mode_command(CTRL_RX_ALLMULTI, true), (0, 1, vec![1]));
    }

    #[test]
    fn an_open_sends_the_whole_state_and_vlans_only_with_ctrl_vlan() {
        let f = RxFilters { vlans: vec![5, 7], ..RxFilters::default() };
        let no_vlan = f.commands(CtrlFeatures { rx: true, mac_addr: true, vlan: false });
        assert_eq!(no_vlan.len(), 3, "promisc, allmulti, table; no address set by the user");
        let all = f.commands(CtrlFeatures { rx: false, mac_addr: false, vlan: true });
        assert_eq!(all.len(), 4096);
        let added: Vec<u16> =
            all.iter().filter(|c| c.1 == CTRL_VLAN_ADD).map(|c| u16::from_le_bytes([c.2[0], c.2[1]])).collect();
        assert_eq!(added, [5, 7]);
    }
}
