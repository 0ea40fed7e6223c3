//! `--tx-vlan PORT,ID`: every frame a port sends carries a VLAN tag.
//!
//! As dpdk-testpmd's `tx_vlan set`: where the port has the `vlan_insert`
//! transmit offload (testpmd then configures it), the frame only asks for
//! it (`TX_VLAN_INSERT` and `vlan_tci`) and the NIC writes the tag. A port
//! without it (virtual ports) gets the tag in software: four bytes grown
//! into the headroom in front of the frame, the two MAC addresses moved
//! forward, and the 802.1Q tag written between them and the EtherType.
//! Any tag already in the frame stays, inside the new one.

use ferrite_pmd::mem::{Mbuf, OffloadFlags, TxOffload};

use super::headers::ETHERTYPE_VLAN;

/// Transmit checksum and TSO requests, whose `l2_len` a software tag
/// lengthens.
const TX_LENGTHS_USED: OffloadFlags = OffloadFlags(
    OffloadFlags::TX_IP_CKSUM.0
        | OffloadFlags::TX_TCP_CKSUM.0
        | OffloadFlags::TX_UDP_CKSUM.0
        | OffloadFlags::TX_SCTP_CKSUM.0
        | OffloadFlags::TX_TCP_SEG.0,
);

/// How a stream tags what it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxVlan {
    /// Tag control information: VLAN ID (12 bits), priority and DEI.
    pub tci: u16,
    /// The port inserts it (`vlan_insert` configured); else software does.
    pub offload: bool,
}

impl TxVlan {
    /// Tags `m`; false if it cannot be done (software insertion into a
    /// frame whose first segment does not hold both MAC addresses, or
    /// whose headroom is gone), in which case `m` is unchanged.
    #[inline]
    pub fn apply(&self, m: &mut Mbuf) -> bool {
        if self.offload {
            m.set_vlan_tci(self.tci);
            m.set_ol_flags(m.ol_flags() | OffloadFlags::TX_VLAN_INSERT);
            true
        } else {
            insert(m, self.tci)
        }
    }
}

/// Inserts an 802.1Q tag with `tci` after the MAC addresses, in software.
/// False (and `m` unchanged) if the first segment holds fewer than 12
/// bytes or the headroom fewer than 4.
pub fn insert(m: &mut Mbuf, tci: u16) -> bool {
    if m.data_len() < 12 || m.headroom() < 4 {
        return false;
    }
    let Some(_) = m.prepend(4) else { return false };
    let f = m.data_mut();
    f.copy_within(4..16, 0);
    f[12..14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
    f[14..16].copy_from_slice(&tci.to_be_bytes());
    // A checksum or TSO request counts its headers from the frame start:
    // the Ethernet header just grew by the tag.
    if m.ol_flags().intersects(TX_LENGTHS_USED) {
        let t = m.tx_offload();
        m.set_tx_offload(TxOffload { l2_len: t.l2_len.saturating_add(4), ..t });
    }
    true
}
