//! The receive address filter of a virtual port, in software: what an
//! 82576 does with its receive address registers (RAR) and multicast table
//! (MTA), and Linux with `ndo_set_rx_mode`'s unicast and multicast lists.
//!
//! A non-promiscuous port accepts a frame addressed to its own address, to
//! one of up to [`EXTRA_UNICAST`] more unicast addresses, to broadcast, or
//! to a listed multicast group (any group with all-multicast). Unlike the
//! hardware's hashed multicast table the group list here is exact, so an
//! unlisted group is never let through by a hash collision.
//!
//! The control plane writes the lists while queues read them, so each entry
//! is one atomic word (the address in the low 48 bits, bit 63 = in use):
//! no lock on the receive path, and a reader sees each entry whole. A frame
//! racing a change may be judged by the old or the new list, as on hardware.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::port::{check_multicast_groups, MacAddr, PortError};

/// Unicast addresses a port accepts besides its own (the 82576 has 16
/// receive address registers, the first holding the port's own address).
pub const EXTRA_UNICAST: usize = 15;
/// Multicast groups a port can list.
pub const MAX_MULTICAST: usize = 64;

const IN_USE: u64 = 1 << 63;

fn pack(mac: MacAddr) -> u64 {
    let m = mac.0;
    u64::from_le_bytes([m[0], m[1], m[2], m[3], m[4], m[5], 0, 0]) | IN_USE
}

fn unpack(word: u64) -> Option<MacAddr> {
    (word & IN_USE != 0).then(|| {
        let b = word.to_le_bytes();
        MacAddr([b[0], b[1], b[2], b[3], b[4], b[5]])
    })
}

/// Extra unicast addresses and multicast groups of one port.
#[derive(Debug)]
pub(crate) struct AddressFilter {
    unicast: [AtomicU64; EXTRA_UNICAST],
    multicast: [AtomicU64; MAX_MULTICAST],
}

impl Default for AddressFilter {
    fn default() -> Self {
        AddressFilter {
            unicast: std::array::from_fn(|_| AtomicU64::new(0)),
            multicast: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl AddressFilter {
    /// Adds an extra unicast address (`rte_eth_dev_mac_addr_add`). Adding
    /// one already present is a no-op, as in DPDK.
    pub fn add_unicast(&self, port: &str, mac: MacAddr) -> Result<(), PortError> {
        if !mac.is_valid_unicast() {
            return Err(PortError::InvalidConfig(format!(
                "{port}: {mac} is not a unicast address; list multicast groups with set_mc_addr_list"
            )));
        }
        let word = pack(mac);
        if self.unicast.iter().any(|e| e.load(Relaxed) == word) {
            return Ok(());
        }
        let Some(free) = self.unicast.iter().find(|e| e.load(Relaxed) & IN_USE == 0) else {
            return Err(PortError::InvalidConfig(format!(
                "{port}: all {EXTRA_UNICAST} extra unicast addresses are in use; remove one or use promiscuous mode"
            )));
        };
        free.store(word, Relaxed);
        Ok(())
    }

    /// Removes an extra unicast address (`rte_eth_dev_mac_addr_remove`).
    pub fn remove_unicast(&self, port: &str, mac: MacAddr) -> Result<(), PortError> {
        let word = pack(mac);
        match self.unicast.iter().find(|e| e.load(Relaxed) == word) {
            Some(e) => {
                e.store(0, Relaxed);
                Ok(())
            }
            None => Err(PortError::InvalidConfig(format!("{port}: {mac} is not one of the port's extra addresses"))),
        }
    }

    /// The extra unicast addresses, in slot order.
    pub fn unicast(&self) -> Vec<MacAddr> {
        self.unicast.iter().filter_map(|e| unpack(e.load(Relaxed))).collect()
    }

    /// Replaces the multicast list (`rte_eth_dev_set_mc_addr_list`); an
    /// empty list clears it. Checked whole before anything changes.
    pub fn set_multicast(&self, port: &str, groups: &[MacAddr]) -> Result<(), PortError> {
        check_multicast_groups(port, groups)?;
        if groups.len() > MAX_MULTICAST {
            return Err(PortError::InvalidConfig(format!(
                "{port}: {} multicast groups asked, at most {MAX_MULTICAST}; use all-multicast mode for more",
                groups.len()
            )));
        }
        // New groups first, into free slots, then the old ones out: a group
        // in both lists stays listed throughout, so a frame racing the
        // change is judged by the old list or the new one, never by a list
        // missing a group both have. (With both lists near full there may
        // be no free slot: then a slot of an old group is reused early.)
        for g in groups.iter().map(|&g| pack(g)) {
            if self.multicast.iter().any(|e| e.load(Relaxed) == g) {
                continue;
            }
            let wanted = |w: u64| groups.iter().any(|&k| pack(k) == w);
            let slot = self.multicast.iter().find(|e| e.load(Relaxed) & IN_USE == 0);
            let slot = slot.or_else(|| self.multicast.iter().find(|e| !wanted(e.load(Relaxed))));
            if let Some(e) = slot {
                e.store(g, Relaxed);
            }
        }
        for e in &self.multicast {
            let w = e.load(Relaxed);
            if w & IN_USE != 0 && !groups.iter().any(|&k| pack(k) == w) {
                e.store(0, Relaxed);
            }
        }
        Ok(())
    }

    /// The multicast list.
    pub fn multicast(&self) -> Vec<MacAddr> {
        self.multicast.iter().filter_map(|e| unpack(e.load(Relaxed))).collect()
    }

    /// The non-promiscuous receive rule for a frame's destination address.
    pub fn accepts(&self, dst: MacAddr, own: MacAddr, all_multicast: bool) -> bool {
        if dst == own || dst.is_broadcast() {
            return true;
        }
        let word = pack(dst);
        if dst.is_multicast() {
            all_multicast || self.multicast.iter().any(|e| e.load(Relaxed) == word)
        } else {
            self.unicast.iter().any(|e| e.load(Relaxed) == word)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: MacAddr = MacAddr([2, 0, 0, 1, 0, 0]);

    fn mac(s: &str) -> MacAddr {
        s.parse().unwrap()
    }

    #[test]
    fn own_broadcast_and_nothing_else_by_default() {
        let f = AddressFilter::default();
        assert!(f.accepts(ME, ME, false));
        assert!(f.accepts(MacAddr::BROADCAST, ME, false));
        assert!(!f.accepts(mac("02:00:00:01:00:01"), ME, false), "someone else's unicast");
        assert!(!f.accepts(mac("01:00:5e:00:00:01"), ME, false), "an unlisted group");
        assert!(f.accepts(mac("01:00:5e:00:00:01"), ME, true), "any group with all-multicast");
        assert!(!f.accepts(mac("02:00:00:01:00:01"), ME, true), "all-multicast is not promiscuous");
    }

    #[test]
    fn extra_unicast_addresses_are_received_until_removed() {
        let f = AddressFilter::default();
        let other = mac("02:00:00:00:00:42");
        f.add_unicast("p0", other).unwrap();
        f.add_unicast("p0", other).unwrap();
        assert_eq!(f.unicast(), [other], "adding twice keeps one entry");
        assert!(f.accepts(other, ME, false));
        f.remove_unicast("p0", other).unwrap();
        assert!(!f.accepts(other, ME, false));
        let e = f.remove_unicast("p0", other).unwrap_err().to_string();
        assert!(e.contains("not one of the port's extra addresses"), "{e}");
    }

    #[test]
    fn the_unicast_table_has_fifteen_slots() {
        let f = AddressFilter::default();
        for i in 0..EXTRA_UNICAST as u8 {
            f.add_unicast("p0", MacAddr([2, 0, 0, 0, 1, i])).unwrap();
        }
        let e = f.add_unicast("p0", MacAddr([2, 0, 0, 0, 2, 0])).unwrap_err().to_string();
        assert!(e.contains("all 15 extra unicast addresses are in use"), "{e}");
        let e = f.add_unicast("p0", mac("01:00:5e:00:00:01")).unwrap_err().to_string();
        assert!(e.contains("not a unicast address"), "{e}");
    }

    #[test]
    fn the_multicast_list_is_exact_and_replaced_whole() {
        let f = AddressFilter::default();
        let (a, b) = (mac("33:33:00:00:00:01"), mac("01:00:5e:00:00:fb"));
        f.set_multicast("p0", &[a, b]).unwrap();
        assert!(f.accepts(a, ME, false) && f.accepts(b, ME, false));
        assert!(!f.accepts(mac("01:00:5e:00:00:fc"), ME, false), "exact, not hashed");
        f.set_multicast("p0", &[b]).unwrap();
        assert_eq!(f.multicast(), [b]);
        assert!(!f.accepts(a, ME, false), "the new list replaces the old");
        let e = f.set_multicast("p0", &[b, ME]).unwrap_err().to_string();
        assert!(e.contains("is not a multicast group address"), "{e}");
        assert_eq!(f.multicast(), [b], "a refused list changes nothing");
        let many: Vec<MacAddr> = (0..=MAX_MULTICAST as u8).map(|i| MacAddr([1, 0, 0x5e, 0, 1, i])).collect();
        assert!(f.set_multicast("p0", &many).unwrap_err().to_string().contains("at most 64"));
        f.set_multicast("p0", &[]).unwrap();
        assert!(f.multicast().is_empty(), "an empty list clears it");
    }

    #[test]
    fn a_group_in_both_lists_is_never_missing_while_the_list_changes() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let f = AddressFilter::default();
        let (a, b, c) = (mac("01:00:5e:00:00:0a"), mac("01:00:5e:00:00:0b"), mac("01:00:5e:00:00:0c"));
        f.set_multicast("p0", &[a, b]).unwrap();
        let done = AtomicBool::new(false);
        let misses = std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut misses = 0u64;
                while !done.load(Ordering::Relaxed) {
                    misses += u64::from(!f.accepts(a, ME, false));
                }
                misses
            });
            // `a` moves between slots: first in [a, b], second in [c, a].
            for _ in 0..20_000 {
                f.set_multicast("p0", &[c, a]).unwrap();
                f.set_multicast("p0", &[a, b]).unwrap();
            }
            done.store(true, Ordering::Relaxed);
            reader.join().unwrap()
        });
        assert_eq!(misses, 0, "a group listed before and after was dropped during a change");
        let mut now = f.multicast();
        now.sort_by_key(|m| m.0);
        assert_eq!(now, [a, b]);
        // The full table replaced by another full table.
        let full = |k: u8| (0..MAX_MULTICAST as u8).map(|i| MacAddr([1, 0, 0x5e, k, 0, i])).collect::<Vec<_>>();
        f.set_multicast("p0", &full(1)).unwrap();
        f.set_multicast("p0", &full(2)).unwrap();
        let mut now = f.multicast();
        now.sort_by_key(|m| m.0);
        assert_eq!(now, full(2));
    }
}
