//! 82576 register offsets and bit fields, as named constants.
//!
//! Section numbers refer to the Intel 82576 GbE Controller Datasheet (rev.
//! 2.x). Where a register's own subsection is not given, the section of its
//! group is: §8.2 general, §8.4 EEPROM, §8.8 interrupts, §8.10 receive,
//! §8.12 transmit, §8.19 statistics. Offsets are bytes into BAR 0.
//!
//! Only what the driver uses (or dumps) is here; like ixy's constants file
//! this is a quarantine for numbers, so nothing else in the driver spells a
//! raw offset or bit.

#![allow(dead_code)]
#![allow(clippy::unreadable_literal)]

// ---------------------------------------------------------------------------
// PCI identity (datasheet §1.4 / Linux e1000_hw.h). Every ID below is an
// 82576 with the same register set; they differ in PHY/media only.
// ---------------------------------------------------------------------------

/// Intel's PCI vendor ID.
pub const VENDOR_INTEL: u16 = 0x8086;

/// 82576 device IDs sharing one register set (copper, fiber, SerDes, quad
/// port, NS variants, ET2 quad).
pub const DEVICE_IDS_82576: &[(u16, &str)] = &[
    (0x10C9, "82576 copper"),
    (0x10E6, "82576 fiber"),
    (0x10E7, "82576 SerDes"),
    (0x10E8, "82576 quad copper"),
    (0x1526, "82576 quad copper ET2"),
    (0x150A, "82576 NS"),
    (0x1518, "82576 NS SerDes"),
    (0x150D, "82576 SerDes quad"),
];

/// I350 copper: an igb-family NIC this driver deliberately does not claim.
pub const DEVICE_I350_COPPER: u16 = 0x1521;

/// The 82576 virtual function (SR-IOV); not a PF, not ours.
pub const DEVICE_82576_VF: u16 = 0x10CA;

// ---------------------------------------------------------------------------
// General registers (§8.2)
// ---------------------------------------------------------------------------

/// Device Control (§8.2.1).
pub const CTRL: u32 = 0x0000;
/// Full duplex (used when duplex is forced).
pub const CTRL_FD: u32 = 1 << 0;
/// Link reset (SerDes; reserved on copper).
pub const CTRL_LRST: u32 = 1 << 3;
/// Auto-speed detection enable.
pub const CTRL_ASDE: u32 = 1 << 5;
/// Set link up: the MAC follows the PHY's link indication.
pub const CTRL_SLU: u32 = 1 << 6;
/// Speed selection when forced (bits 9:8).
pub const CTRL_SPD_SHIFT: u32 = 8;
/// Speed selection mask.
pub const CTRL_SPD_MASK: u32 = 0b11 << CTRL_SPD_SHIFT;
/// Forced 10 Mb/s.
pub const CTRL_SPD_10: u32 = 0b00 << CTRL_SPD_SHIFT;
/// Forced 100 Mb/s.
pub const CTRL_SPD_100: u32 = 0b01 << CTRL_SPD_SHIFT;
/// Forced 1000 Mb/s.
pub const CTRL_SPD_1000: u32 = 0b10 << CTRL_SPD_SHIFT;
/// Force speed from CTRL.SPD instead of the PHY.
pub const CTRL_FRCSPD: u32 = 1 << 11;
/// Force duplex from CTRL.FD instead of the PHY.
pub const CTRL_FRCDPX: u32 = 1 << 12;
/// Stop issuing new master (DMA) requests.
pub const CTRL_GIO_MASTER_DISABLE: u32 = 1 << 2;
/// Global device reset; self-clearing (§4.3).
pub const CTRL_RST: u32 = 1 << 26;
/// Receive flow control enable.
pub const CTRL_RFCE: u32 = 1 << 27;
/// Transmit flow control enable.
pub const CTRL_TFCE: u32 = 1 << 28;
/// VLAN mode enable (tag stripping).
pub const CTRL_VME: u32 = 1 << 30;
/// PHY reset.
pub const CTRL_PHY_RST: u32 = 1 << 31;

/// Device Status (§8.2.2), read only.
pub const STATUS: u32 = 0x0008;
/// Link is full duplex.
pub const STATUS_FD: u32 = 1 << 0;
/// Link up.
pub const STATUS_LU: u32 = 1 << 1;
/// LAN function ID (bits 3:2).
pub const STATUS_FUNC_SHIFT: u32 = 2;
/// LAN function ID mask.
pub const STATUS_FUNC_MASK: u32 = 0b11 << STATUS_FUNC_SHIFT;
/// Transmission paused (flow control).
pub const STATUS_TXOFF: u32 = 1 << 4;
/// Link speed (bits 7:6): 00 = 10, 01 = 100, 1x = 1000 Mb/s.
pub const STATUS_SPEED_SHIFT: u32 = 6;
/// Link speed mask.
pub const STATUS_SPEED_MASK: u32 = 0b11 << STATUS_SPEED_SHIFT;
/// PHY reset asserted.
pub const STATUS_PHYRA: u32 = 1 << 10;
/// PCIe master requests enabled (clears after CTRL.GIO_MASTER_DISABLE).
pub const STATUS_GIO_MASTER_ENABLE: u32 = 1 << 19;

/// EEPROM/Flash Control (EEC, §8.4.1).
pub const EECD: u32 = 0x0010;
/// EEPROM present.
pub const EECD_PRES: u32 = 1 << 8;
/// Hardware finished reading the EEPROM after reset (auto-read done).
pub const EECD_AUTO_RD: u32 = 1 << 9;

/// EEC bits 14:11: the NVM size, as a power of two above 64 words.
pub const EECD_SIZE_EX_MASK: u32 = 0xF << 11;
/// Shift of [`EECD_SIZE_EX_MASK`].
pub const EECD_SIZE_EX_SHIFT: u32 = 11;
/// The NVM's smallest size, as a power of two of 16-bit words.
pub const NVM_WORD_SIZE_BASE_SHIFT: u32 = 6;
/// Words 0..=0x3F of the NVM sum (wrapping) to this when its checksum is
/// valid (the checksum word 0x3F is chosen to make it so).
pub const NVM_SUM: u16 = 0xBABA;
/// Words covered by the checksum.
pub const NVM_CHECKSUM_WORDS: u16 = 0x40;

/// LED Control (§8.2.5): one byte per LED (0..3), mode in bits 3:0.
pub const LEDCTL: u32 = 0x0E00;
/// Every LED's mode set to "always on".
pub const LEDCTL_ALL_ON: u32 = 0x0E0E_0E0E;
/// Every LED's mode set to "always off".
pub const LEDCTL_ALL_OFF: u32 = 0x0F0F_0F0F;

/// Extended Interrupt Cause Set (§8.8.7): writing a bit raises that vector's cause.
pub const EICS: u32 = 0x1520;

/// EEPROM Read (EERD, §8.4.2).
pub const EERD: u32 = 0x0014;
/// Start a read.
pub const EERD_START: u32 = 1 << 0;
/// Read finished.
pub const EERD_DONE: u32 = 1 << 1;
/// Word address shift.
pub const EERD_ADDR_SHIFT: u32 = 2;
/// Data shift.
pub const EERD_DATA_SHIFT: u32 = 16;

/// EEPROM word: NVM image version (major in 15:12, minor in 11:4).
pub const NVM_WORD_VERSION: u16 = 0x05;

/// Extended Device Control (§8.2.3).
pub const CTRL_EXT: u32 = 0x0018;
/// PF reset done (tells VFs the PF is ready).
pub const CTRL_EXT_PFRSTD: u32 = 1 << 14;
/// Driver loaded (tells manageability firmware a driver owns the port).
pub const CTRL_EXT_DRV_LOAD: u32 = 1 << 28;

/// MDI Control: PHY register access (§8.2.4).
pub const MDIC: u32 = 0x0020;
/// Data field (15:0).
pub const MDIC_DATA_MASK: u32 = 0xFFFF;
/// PHY register address (20:16).
pub const MDIC_REG_SHIFT: u32 = 16;
/// PHY address (25:21).
pub const MDIC_PHY_SHIFT: u32 = 21;
/// Opcode: write.
pub const MDIC_OP_WRITE: u32 = 0b01 << 26;
/// Opcode: read.
pub const MDIC_OP_READ: u32 = 0b10 << 26;
/// Transaction finished.
pub const MDIC_READY: u32 = 1 << 28;
/// Transaction failed.
pub const MDIC_ERROR: u32 = 1 << 30;

/// The internal copper PHY of the 82576 answers at MDIO address 1.
pub const PHY_ADDR: u32 = 1;

// IEEE 802.3 clause 22 PHY registers, reached through MDIC.

/// PHY control (BMCR).
pub const PHY_BMCR: u32 = 0x00;
/// 1000 Mb/s when forced (with BMCR_SPEED100 clear).
pub const BMCR_SPEED1000: u16 = 1 << 6;
/// Full duplex when forced.
pub const BMCR_FULL_DUPLEX: u16 = 1 << 8;
/// Restart autonegotiation (self-clearing).
pub const BMCR_ANRESTART: u16 = 1 << 9;
/// Power down.
pub const BMCR_PDOWN: u16 = 1 << 11;
/// Autonegotiation enable.
pub const BMCR_ANENABLE: u16 = 1 << 12;
/// 100 Mb/s when forced.
pub const BMCR_SPEED100: u16 = 1 << 13;
/// PHY reset (self-clearing).
pub const BMCR_RESET: u16 = 1 << 15;

/// PHY status (BMSR).
pub const PHY_BMSR: u32 = 0x01;
/// Link up (latched low).
pub const BMSR_LSTATUS: u16 = 1 << 2;
/// Autonegotiation complete.
pub const BMSR_ANEGCOMPLETE: u16 = 1 << 5;

/// PHY identifier, high word.
pub const PHY_ID1: u32 = 0x02;
/// PHY identifier, low word.
pub const PHY_ID2: u32 = 0x03;

/// Autonegotiation advertisement (10/100).
pub const PHY_ANAR: u32 = 0x04;
/// IEEE 802.3 selector field.
pub const ANAR_CSMA: u16 = 0x0001;
/// 10BASE-T half duplex.
pub const ANAR_10HALF: u16 = 1 << 5;
/// 10BASE-T full duplex.
pub const ANAR_10FULL: u16 = 1 << 6;
/// 100BASE-TX half duplex.
pub const ANAR_100HALF: u16 = 1 << 7;
/// 100BASE-TX full duplex.
pub const ANAR_100FULL: u16 = 1 << 8;
/// Symmetric pause.
pub const ANAR_PAUSE: u16 = 1 << 10;
/// Asymmetric pause.
pub const ANAR_ASYM_PAUSE: u16 = 1 << 11;

/// 1000BASE-T control (advertisement).
pub const PHY_CTRL1000: u32 = 0x09;
/// 1000BASE-T half duplex.
pub const CTRL1000_HALF: u16 = 1 << 8;
/// 1000BASE-T full duplex.
pub const CTRL1000_FULL: u16 = 1 << 9;

// ---------------------------------------------------------------------------
// Interrupts (§8.8). The driver polls; it only ever masks.
// ---------------------------------------------------------------------------

/// Interrupt Cause Read (clear on read in some modes; never read it casually).
pub const ICR: u32 = 0x00C0;
/// Interrupt Mask Set/Read.
pub const IMS: u32 = 0x00D0;
/// Interrupt Mask Clear.
pub const IMC: u32 = 0x00D8;
/// Extended Interrupt Cause Read.
pub const EICR: u32 = 0x1580;
/// Extended Interrupt Mask Set/Read.
pub const EIMS: u32 = 0x1524;
/// Extended Interrupt Mask Clear.
pub const EIMC: u32 = 0x1528;
/// Extended Interrupt Auto Clear.
pub const EIAC: u32 = 0x152C;
/// Extended Interrupt Auto Mask.
pub const EIAM: u32 = 0x1530;
/// General Purpose Interrupt Enable.
pub const GPIE: u32 = 0x1514;
/// Every interrupt cause.
pub const IRQ_ALL: u32 = 0xFFFF_FFFF;
/// ICR/IMS: link status change.
pub const ICR_LSC: u32 = 1 << 2;
/// GPIE: non-selective interrupt clear on read (reading ICR clears it all).
pub const GPIE_NSICR: u32 = 1 << 0;
/// GPIE: MSI-X mode (EICR bits are vectors, not queue causes).
pub const GPIE_MSIX_MODE: u32 = 1 << 4;
/// GPIE: extended interrupt auto-mask enable (EIAM applies on MSI-X).
pub const GPIE_EIAME: u32 = 1 << 30;
/// GPIE: PBA support (MSI-X pending bits).
pub const GPIE_PBA: u32 = 1 << 31;
/// Interrupt Vector Allocation, row `n` (0..8). On the 82576, row `q & 7`
/// holds rx queue q in bits 7:0 (q < 8) or 23:16 (q >= 8) and tx queue q
/// in bits 15:8 or 31:24.
pub const fn ivar0(n: u32) -> u32 {
    0x1700 + 4 * n
}
/// IVAR for "other causes" (bits 15:8) and the TCP timer (7:0).
pub const IVAR_MISC: u32 = 0x1740;
/// IVAR entry valid.
pub const IVAR_VALID: u32 = 0x80;
/// Extended Interrupt Throttle, vector `n` (0..25).
pub const fn eitr(n: u32) -> u32 {
    0x1680 + 4 * n
}
/// EITR interval field (bits 14:2), in µs units shifted left by 2.
pub const EITR_INTERVAL_MASK: u32 = 0x7FFC;
/// MSI-X vectors the 82576 PF offers.
pub const MSIX_VECTORS: u32 = 10;

// ---------------------------------------------------------------------------
// Receive (§8.10)
// ---------------------------------------------------------------------------

/// Receive Control (§8.10.1).
pub const RCTL: u32 = 0x0100;
/// Receiver enable.
pub const RCTL_EN: u32 = 1 << 1;
/// Store bad packets.
pub const RCTL_SBP: u32 = 1 << 2;
/// Unicast promiscuous.
pub const RCTL_UPE: u32 = 1 << 3;
/// Multicast promiscuous.
pub const RCTL_MPE: u32 = 1 << 4;
/// Long packet enable: frames up to RLPML are accepted.
pub const RCTL_LPE: u32 = 1 << 5;
/// Loopback mode (7:6); 00 = normal.
pub const RCTL_LBM_MASK: u32 = 0b11 << 6;
/// Loopback mode: the MAC loops transmitted frames back to receive.
pub const RCTL_LBM_MAC: u32 = 0b01 << 6;
/// Receive descriptor minimum threshold (9:8): 00 = half the ring.
pub const RCTL_RDMTS_HALF: u32 = 0b00 << 8;
/// Descriptor type (11:10); must be 00 (advanced layout comes from SRRCTL).
pub const RCTL_DTYP_MASK: u32 = 0b11 << 10;
/// Multicast offset (13:12).
pub const RCTL_MO_MASK: u32 = 0b11 << 12;
/// Accept broadcast.
pub const RCTL_BAM: u32 = 1 << 15;
/// Buffer size (17:16); ignored when SRRCTL.BSIZEPKT is set.
pub const RCTL_BSIZE_MASK: u32 = 0b11 << 16;
/// VLAN filter enable.
pub const RCTL_VFE: u32 = 1 << 18;
/// Discard pause frames.
pub const RCTL_DPF: u32 = 1 << 22;
/// Pass MAC control frames.
pub const RCTL_PMCF: u32 = 1 << 23;
/// Strip the Ethernet CRC before DMA.
pub const RCTL_SECRC: u32 = 1 << 26;

/// Receive Checksum Control.
pub const RXCSUM: u32 = 0x5000;
/// IP header checksum offload.
pub const RXCSUM_IPOFLD: u32 = 1 << 8;
/// TCP/UDP checksum offload.
pub const RXCSUM_TUOFLD: u32 = 1 << 9;
/// Packet checksum disable (required for RSS hashes in the descriptor).
pub const RXCSUM_PCSD: u32 = 1 << 13;

/// Receive Long Packet Maximum Length: largest frame accepted with
/// RCTL.LPE, CRC included (bits 13:0).
pub const RLPML: u32 = 0x5004;
/// RLPML field mask.
pub const RLPML_MASK: u32 = 0x3FFF;

/// Multiple Receive Queues Command (RSS/VMDq select).
pub const MRQC: u32 = 0x5818;
/// Receive Packet Buffer Size.
pub const RXPBS: u32 = 0x2404;
/// Transmit Packet Buffer Size.
pub const TXPBS: u32 = 0x3404;

/// Multicast Table Array: 128 dwords.
pub const MTA_BASE: u32 = 0x5200;
/// Number of MTA dwords.
pub const MTA_LEN: u32 = 128;

/// Receive Address Low, entry `n` (0..16).
pub const fn ral(n: u32) -> u32 {
    0x5400 + 8 * n
}
/// Receive Address High, entry `n` (0..16).
pub const fn rah(n: u32) -> u32 {
    0x5404 + 8 * n
}
/// Address valid.
pub const RAH_AV: u32 = 1 << 31;

/// Receive Descriptor Base Address Low, queue `q` (0..16).
pub const fn rdbal(q: u32) -> u32 {
    0xC000 + 0x40 * q
}
/// Receive Descriptor Base Address High.
pub const fn rdbah(q: u32) -> u32 {
    0xC004 + 0x40 * q
}
/// Receive Descriptor Ring Length in bytes (multiple of 128).
pub const fn rdlen(q: u32) -> u32 {
    0xC008 + 0x40 * q
}
/// Split and Replication Receive Control.
pub const fn srrctl(q: u32) -> u32 {
    0xC00C + 0x40 * q
}
/// Receive Descriptor Head.
pub const fn rdh(q: u32) -> u32 {
    0xC010 + 0x40 * q
}
/// Receive Descriptor Tail (the doorbell).
pub const fn rdt(q: u32) -> u32 {
    0xC018 + 0x40 * q
}
/// Receive Descriptor Control.
pub const fn rxdctl(q: u32) -> u32 {
    0xC028 + 0x40 * q
}
/// Receive Queue Drop Packet Count (clear on read).
pub const fn rqdpc(q: u32) -> u32 {
    0xC030 + 0x40 * q
}

/// SRRCTL packet buffer size in 1 KB units (6:0).
pub const SRRCTL_BSIZEPKT_MASK: u32 = 0x7F;
/// SRRCTL header buffer size in 64 B units (11:8).
pub const SRRCTL_BSIZEHDR_SHIFT: u32 = 8;
/// SRRCTL descriptor type (27:25): advanced, one buffer.
pub const SRRCTL_DESCTYPE_ADV_ONEBUF: u32 = 0b001 << 25;
/// SRRCTL descriptor type mask.
pub const SRRCTL_DESCTYPE_MASK: u32 = 0b111 << 25;
/// Drop frames for this queue when it has no descriptors, instead of
/// stalling the shared packet buffer (and thus every other queue).
pub const SRRCTL_DROP_EN: u32 = 1 << 31;

/// RXDCTL/TXDCTL prefetch threshold (4:0).
pub const DCTL_PTHRESH_SHIFT: u32 = 0;
/// RXDCTL/TXDCTL host threshold (12:8).
pub const DCTL_HTHRESH_SHIFT: u32 = 8;
/// RXDCTL/TXDCTL write-back threshold (20:16).
pub const DCTL_WTHRESH_SHIFT: u32 = 16;
/// RXDCTL/TXDCTL queue enable; reads back 1 once the queue really runs
/// and 0 once it really stopped.
pub const DCTL_ENABLE: u32 = 1 << 25;
/// RXDCTL software flush.
pub const RXDCTL_SWFLSH: u32 = 1 << 26;

// ---------------------------------------------------------------------------
// Receive filters and receive offloads (filter.rs, rx.rs): extra unicast
// addresses (RAR 1..15), the multicast hash table, the VLAN filter table,
// VLAN stripping, double VLAN, checksum offload enables (§7.1.1, §7.1.2,
// §7.4, §8.10).
// ---------------------------------------------------------------------------

/// CTRL_EXT: extended (double) VLAN: every frame carries an outer tag of
/// ethertype VET.VET_EXT, and stripping and filtering act on the inner one.
pub const CTRL_EXT_EXT_VLAN: u32 = 1 << 26;
/// RCTL.MO (13:12): which 12 destination address bits index the MTA;
/// 00 = bits 47:36.
pub const RCTL_MO_SHIFT: u32 = 12;
/// RXCSUM: SCTP CRC32c check (82576 and later; QEMU checks SCTP under
/// TUOFLD and ignores this bit).
pub const RXCSUM_CRCOFL: u32 = 1 << 11;
/// RAH pool select (25:18), bit for pool 0: ignored outside VMDq mode; set
/// as Linux and DPDK set it for the PF's own pool.
pub const RAH_POOL_0: u32 = 1 << 18;
/// Receive address entries in the first bank (RAR0 = the port's own).
pub const RAR_ENTRIES: u32 = 16;
/// VLAN Filter Table Array: 128 dwords, one bit per VLAN ID.
pub const VFTA_BASE: u32 = 0x5600;
/// Number of VFTA dwords.
pub const VFTA_LEN: u32 = 128;
/// VLAN Ether Type: VET (15:0) and VET_EXT (31:16), both 0x8100 after reset.
pub const VET: u32 = 0x0038;
/// Advanced receive write-back, first dword: packet type (16:4) says SCTP.
pub const RXD_PKTTYPE_SCTP: u32 = 1 << 10;

// ---------------------------------------------------------------------------
// Transmit (§8.12)
// ---------------------------------------------------------------------------

/// Transmit Control (§8.12.1).
pub const TCTL: u32 = 0x0400;
/// Transmitter enable.
pub const TCTL_EN: u32 = 1 << 1;
/// Pad short packets to 64 bytes.
pub const TCTL_PSP: u32 = 1 << 3;
/// Collision threshold (11:4).
pub const TCTL_CT_SHIFT: u32 = 4;
/// Collision threshold mask.
pub const TCTL_CT_MASK: u32 = 0xFF << TCTL_CT_SHIFT;
/// Collision distance (21:12).
pub const TCTL_COLD_SHIFT: u32 = 12;
/// Collision distance mask.
pub const TCTL_COLD_MASK: u32 = 0x3FF << TCTL_COLD_SHIFT;
/// Re-transmit on late collision.
pub const TCTL_RTLC: u32 = 1 << 24;
/// IEEE 802.3 recommended collision threshold.
pub const COLLISION_THRESHOLD: u32 = 15;
/// Collision distance for full duplex (64-byte slot time).
pub const COLLISION_DISTANCE: u32 = 63;

/// Transmit Inter Packet Gap.
pub const TIPG: u32 = 0x0410;

/// Transmit Descriptor Base Address Low, queue `q` (0..16).
pub const fn tdbal(q: u32) -> u32 {
    0xE000 + 0x40 * q
}
/// Transmit Descriptor Base Address High.
pub const fn tdbah(q: u32) -> u32 {
    0xE004 + 0x40 * q
}
/// Transmit Descriptor Ring Length in bytes (multiple of 128).
pub const fn tdlen(q: u32) -> u32 {
    0xE008 + 0x40 * q
}
/// Transmit Descriptor Head.
pub const fn tdh(q: u32) -> u32 {
    0xE010 + 0x40 * q
}
/// Transmit Descriptor Tail (the doorbell).
pub const fn tdt(q: u32) -> u32 {
    0xE018 + 0x40 * q
}
/// Transmit Descriptor Control.
pub const fn txdctl(q: u32) -> u32 {
    0xE028 + 0x40 * q
}
/// Transmit descriptor completion write-back address low (head write-back).
pub const fn tdwbal(q: u32) -> u32 {
    0xE038 + 0x40 * q
}
/// Transmit descriptor completion write-back address high.
pub const fn tdwbah(q: u32) -> u32 {
    0xE03C + 0x40 * q
}

// ---------------------------------------------------------------------------
// Statistics (§8.19). All clear on read; 64-bit ones are low then high,
// and reading the high half clears both.
// ---------------------------------------------------------------------------

/// CRC error count.
pub const CRCERRS: u32 = 0x4000;
/// Alignment error count.
pub const ALGNERRC: u32 = 0x4004;
/// Symbol error count.
pub const SYMERRS: u32 = 0x4008;
/// RX error count.
pub const RXERRC: u32 = 0x400C;
/// Missed packets (packet buffer full).
pub const MPC: u32 = 0x4010;
/// Single collision count.
pub const SCC: u32 = 0x4014;
/// Excessive collisions count.
pub const ECOL: u32 = 0x4018;
/// Multiple collision count.
pub const MCC: u32 = 0x401C;
/// Late collisions count.
pub const LATECOL: u32 = 0x4020;
/// Collision count.
pub const COLC: u32 = 0x4028;
/// Defer count.
pub const DC: u32 = 0x4030;
/// Transmit with no CRS.
pub const TNCRS: u32 = 0x4034;
/// Carrier extension error count.
pub const CEXTERR: u32 = 0x403C;
/// Receive length error count.
pub const RLEC: u32 = 0x4040;
/// XON received.
pub const XONRXC: u32 = 0x4048;
/// XON transmitted.
pub const XONTXC: u32 = 0x404C;
/// XOFF received.
pub const XOFFRXC: u32 = 0x4050;
/// XOFF transmitted.
pub const XOFFTXC: u32 = 0x4054;
/// Unsupported flow control received.
pub const FCRUC: u32 = 0x4058;
/// Packets received, 64 bytes.
pub const PRC64: u32 = 0x405C;
/// Packets received, 65–127 bytes.
pub const PRC127: u32 = 0x4060;
/// Packets received, 128–255 bytes.
pub const PRC255: u32 = 0x4064;
/// Packets received, 256–511 bytes.
pub const PRC511: u32 = 0x4068;
/// Packets received, 512–1023 bytes.
pub const PRC1023: u32 = 0x406C;
/// Packets received, 1024 bytes and up.
pub const PRC1522: u32 = 0x4070;
/// Good packets received.
pub const GPRC: u32 = 0x4074;
/// Broadcast packets received.
pub const BPRC: u32 = 0x4078;
/// Multicast packets received.
pub const MPRC: u32 = 0x407C;
/// Good packets transmitted.
pub const GPTC: u32 = 0x4080;
/// Good octets received, low (CRC included).
pub const GORCL: u32 = 0x4088;
/// Good octets received, high.
pub const GORCH: u32 = 0x408C;
/// Good octets transmitted, low (CRC included).
pub const GOTCL: u32 = 0x4090;
/// Good octets transmitted, high.
pub const GOTCH: u32 = 0x4094;
/// Receive no buffers count.
pub const RNBC: u32 = 0x40A0;
/// Receive undersize count.
pub const RUC: u32 = 0x40A4;
/// Receive fragment count.
pub const RFC: u32 = 0x40A8;
/// Receive oversize count (longer than RLPML / 1522).
pub const ROC: u32 = 0x40AC;
/// Receive jabber count.
pub const RJC: u32 = 0x40B0;
/// Total octets received, low.
pub const TORL: u32 = 0x40C0;
/// Total octets received, high.
pub const TORH: u32 = 0x40C4;
/// Total octets transmitted, low.
pub const TOTL: u32 = 0x40C8;
/// Total octets transmitted, high.
pub const TOTH: u32 = 0x40CC;
/// Total packets received.
pub const TPR: u32 = 0x40D0;
/// Total packets transmitted.
pub const TPT: u32 = 0x40D4;
/// Packets transmitted, 64 bytes.
pub const PTC64: u32 = 0x40D8;
/// Packets transmitted, 65–127 bytes.
pub const PTC127: u32 = 0x40DC;
/// Packets transmitted, 128–255 bytes.
pub const PTC255: u32 = 0x40E0;
/// Packets transmitted, 256–511 bytes.
pub const PTC511: u32 = 0x40E4;
/// Packets transmitted, 512–1023 bytes.
pub const PTC1023: u32 = 0x40E8;
/// Packets transmitted, 1024 bytes and up.
pub const PTC1522: u32 = 0x40EC;
/// Multicast packets transmitted.
pub const MPTC: u32 = 0x40F0;
/// Broadcast packets transmitted.
pub const BPTC: u32 = 0x40F4;
/// TCP segmentation context transmitted.
pub const TSCTC: u32 = 0x40F8;
/// Interrupt assertion count.
pub const IAC: u32 = 0x4100;

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

/// Receive and transmit queues of an 82576 PF.
pub const MAX_QUEUES: u16 = 16;
/// Smallest ring the driver accepts (descriptors).
pub const MIN_RING: u16 = 32;
/// Largest ring (descriptors; RDLEN is 20 bits of bytes, the PMDs cap at 4096).
pub const MAX_RING: u16 = 4096;
/// Ring length must be a multiple of 128 bytes = 8 descriptors of 16 bytes.
pub const RING_ALIGN: u16 = 8;
/// Largest frame the 82576 accepts or sends (jumbo limit, CRC included).
pub const MAX_FRAME: u32 = 9728;
/// The Ethernet CRC, stripped by the hardware (RCTL.SECRC) on receive.
pub const CRC_LEN: u32 = 4;
/// Largest MTU offered (9000-byte jumbo frames).
pub const MAX_MTU: u16 = 9000;
/// Smallest MTU (IPv4 minimum).
pub const MIN_MTU: u16 = 68;
