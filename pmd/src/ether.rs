//! Ethernet framing: the sizes every driver agrees on.
//!
//! The MTU counts L3 payload bytes. A frame adds a 14-byte header and, on a
//! tagged network, one 802.1Q tag (4 bytes) or two for QinQ (802.1ad outer
//! tag + 802.1Q inner tag). A port with MTU 1500 must therefore take frames
//! of up to 1522 bytes (FCS excluded), or TCP over a VLAN interface stalls on
//! its first full-size segment.
//!
//! The limit is the same for every frame, tagged or not, as in Linux's igb
//! (`IGB_ETH_PKT_HDR_PAD` = header + FCS + two tags): the check costs one
//! compare per frame and needs no parsing. DPDK's e1000 PMD allows one tag
//! by default and a second with `RTE_ETH_RX_OFFLOAD_VLAN_EXTEND`; ferrite
//! takes Linux's more permissive rule so that a QinQ network works without
//! configuration.

/// An Ethernet header without tags: two addresses and the EtherType.
pub const ETH_HLEN: usize = 14;
/// One VLAN tag (TPID + TCI).
pub const VLAN_HLEN: usize = 4;
/// The frame check sequence (CRC), stripped on receive and added on
/// transmit by the hardware.
pub const ETH_FCS_LEN: usize = 4;
/// VLAN tags a frame may carry within the MTU's allowance (QinQ).
pub const MAX_VLAN_TAGS: usize = 2;
/// What a frame may add to the MTU, FCS excluded: header and two tags.
pub const MAX_L2_OVERHEAD: usize = ETH_HLEN + MAX_VLAN_TAGS * VLAN_HLEN;

/// The longest frame (FCS excluded) a port with this MTU sends or accepts.
#[inline(always)]
pub const fn max_frame_len(mtu: u16) -> usize {
    mtu as usize + MAX_L2_OVERHEAD
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_size_frames_with_up_to_two_tags_fit_a_1500_mtu() {
        let untagged = 1514;
        let one_tag = untagged + VLAN_HLEN;
        let qinq = one_tag + VLAN_HLEN;
        assert_eq!((one_tag, qinq), (1518, 1522), "sizes as Linux's VLAN_ETH_FRAME_LEN and 802.1ad give them");
        assert!(qinq <= max_frame_len(1500));
        assert!(qinq + 1 > max_frame_len(1500), "a third tag's worth is over the limit");
        assert_eq!(max_frame_len(9000) + ETH_FCS_LEN, 9026, "jumbo: Linux igb's max_frame for MTU 9000");
    }
}
