//! Ethernet framing: the sizes every driver agrees on, and
//! [`EthernetFrame`], a typed view of a frame's header.
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

use crate::port::MacAddr;

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

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType (TPID) of an 802.1Q VLAN tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// EtherType (TPID) of an 802.1ad service (outer) tag.
pub const ETHERTYPE_QINQ: u16 = 0x88a8;

/// A buffer too short to hold an Ethernet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameTooShort {
    /// The buffer's length in bytes (less than [`ETH_HLEN`]).
    pub len: usize,
}

impl std::fmt::Display for FrameTooShort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a {}-byte buffer cannot hold a {ETH_HLEN}-byte Ethernet header", self.len)
    }
}

impl std::error::Error for FrameTooShort {}

/// A typed view of an Ethernet frame in a byte buffer (after smoltcp's
/// `EthernetFrame`): the destination and source addresses and the
/// EtherType, read and written in place. The length is checked once, when
/// the view is made, so the accessors cannot go out of bounds. Works on an
/// mbuf's data (`Mbuf::data` / `Mbuf::data_mut`) or any slice; costs
/// nothing over indexing by hand.
///
/// ```
/// use ferrite_pmd::ether::{EthernetFrame, ETHERTYPE_IPV4};
/// use ferrite_pmd::port::MacAddr;
///
/// let mut bytes = [0u8; 60];
/// let mut frame = EthernetFrame::new_checked(&mut bytes[..])?;
/// frame.set_dst(MacAddr::BROADCAST);
/// frame.set_src(MacAddr([0x02, 0, 0, 0, 0, 1]));
/// frame.set_ethertype(ETHERTYPE_IPV4);
/// assert_eq!(frame.payload().len(), 60 - 14);
/// assert_eq!(bytes[..6], [0xff; 6]);
/// assert_eq!(bytes[12..14], [0x08, 0x00]);
/// assert!(EthernetFrame::new_checked(&bytes[..13]).is_err());
/// # Ok::<(), ferrite_pmd::ether::FrameTooShort>(())
/// ```
#[derive(Debug)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// A view of `buffer`, which must hold at least the 14-byte header.
    pub fn new_checked(buffer: T) -> Result<EthernetFrame<T>, FrameTooShort> {
        let len = buffer.as_ref().len();
        if len < ETH_HLEN {
            return Err(FrameTooShort { len });
        }
        Ok(EthernetFrame { buffer })
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The header bytes; `new_checked` proved they exist.
    #[inline(always)]
    fn header(&self) -> &[u8; ETH_HLEN] {
        let b = self.buffer.as_ref();
        // The length was checked in `new_checked` and a view never shrinks
        // its buffer, so this never fails.
        b[..ETH_HLEN].try_into().unwrap_or(&[0; ETH_HLEN])
    }

    /// The destination address (bytes 0..6).
    #[inline]
    pub fn dst(&self) -> MacAddr {
        let h = self.header();
        MacAddr([h[0], h[1], h[2], h[3], h[4], h[5]])
    }

    /// The source address (bytes 6..12).
    #[inline]
    pub fn src(&self) -> MacAddr {
        let h = self.header();
        MacAddr([h[6], h[7], h[8], h[9], h[10], h[11]])
    }

    /// The EtherType (bytes 12..14, big-endian); on a tagged frame this is
    /// the tag's TPID ([`ETHERTYPE_VLAN`], [`ETHERTYPE_QINQ`]).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        let h = self.header();
        u16::from_be_bytes([h[12], h[13]])
    }

    /// Everything after the 14-byte header (a VLAN tag, if any, included).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[ETH_HLEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// The header bytes, writable.
    #[inline(always)]
    fn header_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[..ETH_HLEN]
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst(&mut self, mac: MacAddr) {
        self.header_mut()[0..6].copy_from_slice(&mac.0);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src(&mut self, mac: MacAddr) {
        self.header_mut()[6..12].copy_from_slice(&mac.0);
    }

    /// Sets the EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: u16) {
        self.header_mut()[12..14].copy_from_slice(&ethertype.to_be_bytes());
    }

    /// Everything after the header, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[ETH_HLEN..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_reads_and_writes_the_header_fields_where_the_wire_has_them() {
        let mut bytes: Vec<u8> = (0..20).collect();
        let mut f = EthernetFrame::new_checked(&mut bytes[..]).unwrap();
        assert_eq!(f.dst(), MacAddr([0, 1, 2, 3, 4, 5]));
        assert_eq!(f.src(), MacAddr([6, 7, 8, 9, 10, 11]));
        assert_eq!(f.ethertype(), 0x0c0d);
        assert_eq!(f.payload(), &[14, 15, 16, 17, 18, 19]);
        let (d, s) = (f.dst(), f.src());
        f.set_dst(s);
        f.set_src(d);
        f.set_ethertype(ETHERTYPE_IPV6);
        f.payload_mut()[0] = 0xee;
        assert_eq!(bytes[..14], [6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 0x86, 0xdd]);
        assert_eq!(bytes[14], 0xee);
        assert_eq!(EthernetFrame::new_checked(&bytes[..14]).unwrap().payload(), &[] as &[u8]);
        let e = EthernetFrame::new_checked(&bytes[..13]).unwrap_err();
        assert_eq!(e, FrameTooShort { len: 13 });
        assert!(e.to_string().contains("13-byte buffer"), "{e}");
    }

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
