//! Numbers from the virtio 1.x specification (OASIS virtio v1.2): PCI IDs,
//! the vendor capabilities of the PCI transport (§4.1.4), the common
//! configuration layout (§4.1.4.3), device status bits (§2.1), feature bits
//! (§6 and §5.1.3), the virtio-net configuration (§5.1.4) and its packet
//! header (§5.1.6). Everything the device sees is little-endian.

// ----- PCI identity (§4.1.2) -----

/// Red Hat / Qumranet, the virtio vendor ID.
pub const VENDOR_VIRTIO: u16 = 0x1af4;
/// A modern-only (virtio 1.x, "non-transitional") network device:
/// 0x1040 + device type 1. QEMU: `-device virtio-net-pci,disable-legacy=on`.
pub const DEVICE_NET_MODERN: u16 = 0x1041;
/// A transitional network device (legacy I/O-port interface plus, in QEMU,
/// the modern one): what `virtio-net-pci` is without `disable-legacy=on`.
pub const DEVICE_NET_TRANSITIONAL: u16 = 0x1000;

// ----- PCI capabilities (§4.1.4) -----

/// Config-space offset of the capability list pointer.
pub const PCI_CAPABILITY_LIST: u64 = 0x34;
/// Config-space status register; bit 4 says a capability list exists.
pub const PCI_STATUS: u64 = 0x06;
/// PCI_STATUS: the capability list is valid.
pub const PCI_STATUS_CAP_LIST: u16 = 1 << 4;
/// Capability ID of a vendor-specific capability (what virtio uses).
pub const PCI_CAP_ID_VNDR: u8 = 0x09;

/// `struct virtio_pci_cap` field offsets, from the capability's start.
pub const CAP_NEXT: u64 = 1;
/// Length of the capability structure.
pub const CAP_LEN: u64 = 2;
/// Which structure this capability locates (`VIRTIO_PCI_CAP_*`).
pub const CAP_CFG_TYPE: u64 = 3;
/// BAR holding the structure.
pub const CAP_BAR: u64 = 4;
/// Offset of the structure inside the BAR (le32).
pub const CAP_OFFSET: u64 = 8;
/// Length of the structure (le32).
pub const CAP_LENGTH: u64 = 12;
/// `struct virtio_pci_notify_cap`: multiplier for `queue_notify_off` (le32).
pub const CAP_NOTIFY_OFF_MULTIPLIER: u64 = 16;
/// Smallest `cap_len` of a `virtio_pci_cap`.
pub const CAP_MIN_LEN: u8 = 16;
/// Smallest `cap_len` of a notify capability (with its multiplier).
pub const CAP_NOTIFY_MIN_LEN: u8 = 20;

/// Common configuration structure.
pub const VIRTIO_PCI_CAP_COMMON_CFG: u8 = 1;
/// Notifications (queue doorbells).
pub const VIRTIO_PCI_CAP_NOTIFY_CFG: u8 = 2;
/// ISR status (INTx only; read to acknowledge).
pub const VIRTIO_PCI_CAP_ISR_CFG: u8 = 3;
/// Device-specific configuration (`virtio_net_config`).
pub const VIRTIO_PCI_CAP_DEVICE_CFG: u8 = 4;

// ----- common configuration (§4.1.4.3), offsets in the structure -----

/// le32 RW: which 32-bit half of the device features `device_feature` shows.
pub const COMMON_DFSELECT: u32 = 0x00;
/// le32 RO: device features, the half selected.
pub const COMMON_DF: u32 = 0x04;
/// le32 RW: which half of the driver features `driver_feature` takes.
pub const COMMON_GFSELECT: u32 = 0x08;
/// le32 RW: driver (accepted) features, the half selected.
pub const COMMON_GF: u32 = 0x0C;
/// le16 RW: MSI-X vector for configuration changes.
pub const COMMON_MSIX: u32 = 0x10;
/// le16 RO: number of virtqueues.
pub const COMMON_NUMQ: u32 = 0x12;
/// u8 RW: device status (`STATUS_*`); writing 0 resets the device.
pub const COMMON_STATUS: u32 = 0x14;
/// u8 RO: configuration generation (changes when device config changes).
pub const COMMON_CFGGENERATION: u32 = 0x15;
/// le16 RW: the queue the `COMMON_Q_*` fields below refer to.
pub const COMMON_Q_SELECT: u32 = 0x16;
/// le16 RW: queue size (the device's maximum on reset; 0 = no such queue).
pub const COMMON_Q_SIZE: u32 = 0x18;
/// le16 RW: MSI-X vector of the queue.
pub const COMMON_Q_MSIX: u32 = 0x1A;
/// le16 RW: write 1 to enable the queue (after setting it up).
pub const COMMON_Q_ENABLE: u32 = 0x1C;
/// le16 RO: this queue's notification offset (times the multiplier).
pub const COMMON_Q_NOFF: u32 = 0x1E;
/// le64 RW: descriptor table IOVA (written as two le32 halves).
pub const COMMON_Q_DESCLO: u32 = 0x20;
/// High half of the descriptor table IOVA.
pub const COMMON_Q_DESCHI: u32 = 0x24;
/// le64 RW: driver area (available ring) IOVA.
pub const COMMON_Q_AVAILLO: u32 = 0x28;
/// High half of the driver area IOVA.
pub const COMMON_Q_AVAILHI: u32 = 0x2C;
/// le64 RW: device area (used ring) IOVA.
pub const COMMON_Q_USEDLO: u32 = 0x30;
/// High half of the device area IOVA.
pub const COMMON_Q_USEDHI: u32 = 0x34;
/// Bytes of the common configuration a virtio 1.0 device must have.
pub const COMMON_CFG_MIN_LEN: u32 = 0x38;

/// "No MSI-X vector" for `COMMON_MSIX` / `COMMON_Q_MSIX`.
pub const VIRTIO_MSI_NO_VECTOR: u16 = 0xFFFF;

// ----- device status (§2.1) -----

/// The guest has noticed the device.
pub const STATUS_ACKNOWLEDGE: u8 = 1;
/// The guest knows how to drive it.
pub const STATUS_DRIVER: u8 = 2;
/// The driver is set up and ready to drive the device.
pub const STATUS_DRIVER_OK: u8 = 4;
/// Feature negotiation is complete (the device clears it if it refuses).
pub const STATUS_FEATURES_OK: u8 = 8;
/// The device hit an error it cannot recover from without a reset.
pub const STATUS_DEVICE_NEEDS_RESET: u8 = 64;
/// The driver gave up on the device.
pub const STATUS_FAILED: u8 = 128;

// ----- feature bits (§6 reserved bits, §5.1.3 network device bits) -----

/// The device checksums partial packets (host side of TX csum offload).
pub const NET_F_CSUM: u32 = 0;
/// The driver handles partial checksums on receive.
pub const NET_F_GUEST_CSUM: u32 = 1;
/// `mtu` in the device configuration is valid (and binding).
pub const NET_F_MTU: u32 = 3;
/// `mac` in the device configuration is valid.
pub const NET_F_MAC: u32 = 5;
/// The device segments TCP/IPv4 frames (TSO; needs CSUM).
pub const NET_F_HOST_TSO4: u32 = 11;
/// The device segments TCP/IPv6 frames (TSO; needs CSUM).
pub const NET_F_HOST_TSO6: u32 = 12;
/// TSO frames may have TCP's CWR flag set (needs HOST_TSO4 or HOST_TSO6).
pub const NET_F_HOST_ECN: u32 = 13;
/// The driver can merge receive buffers (`num_buffers` in the header).
pub const NET_F_MRG_RXBUF: u32 = 15;
/// `status` in the device configuration is valid (link up/down).
pub const NET_F_STATUS: u32 = 16;
/// A control virtqueue exists.
pub const NET_F_CTRL_VQ: u32 = 17;
/// Receive filtering through the control queue (promiscuous,
/// all-multicast, the MAC table).
pub const NET_F_CTRL_RX: u32 = 18;
/// VLAN filtering through the control queue.
pub const NET_F_CTRL_VLAN: u32 = 19;
/// Multiple queue pairs (needs the control queue).
pub const NET_F_MQ: u32 = 22;
/// The default MAC address is set through the control queue.
pub const NET_F_CTRL_MAC_ADDR: u32 = 23;
/// Descriptors may point to indirect tables.
pub const F_RING_INDIRECT_DESC: u32 = 28;
/// `used_event` / `avail_event` notification suppression.
pub const F_RING_EVENT_IDX: u32 = 29;
/// A virtio 1.x (non-legacy) device.
pub const F_VERSION_1: u32 = 32;
/// The device's DMA goes through the platform's IOMMU (was IOMMU_PLATFORM).
pub const F_ACCESS_PLATFORM: u32 = 33;
/// Packed virtqueues.
pub const F_RING_PACKED: u32 = 34;
/// Buffers are used in the order they were made available.
pub const F_IN_ORDER: u32 = 35;
/// `speed` and `duplex` in the device configuration are valid.
pub const NET_F_SPEED_DUPLEX: u32 = 63;

/// `1 << bit` as a 64-bit feature mask.
pub const fn bit(b: u32) -> u64 {
    1u64 << b
}

/// Feature names, for error messages, drvinfo and pmdinfo (the spec's
/// names without the `VIRTIO_NET_F_` / `VIRTIO_F_` prefixes).
pub const FEATURE_NAMES: &[(u32, &str)] = &[
    (NET_F_CSUM, "CSUM"),
    (NET_F_GUEST_CSUM, "GUEST_CSUM"),
    (2, "CTRL_GUEST_OFFLOADS"),
    (NET_F_MTU, "MTU"),
    (NET_F_MAC, "MAC"),
    (7, "GUEST_TSO4"),
    (8, "GUEST_TSO6"),
    (9, "GUEST_ECN"),
    (10, "GUEST_UFO"),
    (NET_F_HOST_TSO4, "HOST_TSO4"),
    (NET_F_HOST_TSO6, "HOST_TSO6"),
    (NET_F_HOST_ECN, "HOST_ECN"),
    (14, "HOST_UFO"),
    (NET_F_MRG_RXBUF, "MRG_RXBUF"),
    (NET_F_STATUS, "STATUS"),
    (NET_F_CTRL_VQ, "CTRL_VQ"),
    (NET_F_CTRL_RX, "CTRL_RX"),
    (NET_F_CTRL_VLAN, "CTRL_VLAN"),
    (21, "GUEST_ANNOUNCE"),
    (NET_F_MQ, "MQ"),
    (NET_F_CTRL_MAC_ADDR, "CTRL_MAC_ADDR"),
    (F_RING_INDIRECT_DESC, "RING_INDIRECT_DESC"),
    (F_RING_EVENT_IDX, "RING_EVENT_IDX"),
    (F_VERSION_1, "VERSION_1"),
    (F_ACCESS_PLATFORM, "ACCESS_PLATFORM"),
    (F_RING_PACKED, "RING_PACKED"),
    (F_IN_ORDER, "IN_ORDER"),
    (36, "ORDER_PLATFORM"),
    (37, "SR_IOV"),
    (38, "NOTIFICATION_DATA"),
    (40, "RING_RESET"),
    (61, "RSC_EXT"),
    (62, "STANDBY"),
    (NET_F_SPEED_DUPLEX, "SPEED_DUPLEX"),
];

/// The names of the bits set in `features`, in bit order; unnamed bits as
/// `bit N`.
pub fn feature_names(features: u64) -> Vec<String> {
    (0..64u32)
        .filter(|b| features & bit(*b) != 0)
        .map(|b| match FEATURE_NAMES.iter().find(|(n, _)| *n == b) {
            Some((_, name)) => (*name).to_string(),
            None => format!("bit {b}"),
        })
        .collect()
}

// ----- virtio-net device configuration (§5.1.4) -----

/// 6 bytes: the MAC address (with `NET_F_MAC`).
pub const NET_CFG_MAC: u32 = 0;
/// le16: `VIRTIO_NET_S_*` (with `NET_F_STATUS`).
pub const NET_CFG_STATUS: u32 = 6;
/// le16: queue pairs (with `NET_F_MQ`).
pub const NET_CFG_MAX_QUEUE_PAIRS: u32 = 8;
/// le16: the MTU the driver must not exceed (with `NET_F_MTU`).
pub const NET_CFG_MTU: u32 = 10;
/// le32: link speed in Mbit/s, 0xFFFFFFFF unknown (with `NET_F_SPEED_DUPLEX`).
pub const NET_CFG_SPEED: u32 = 12;
/// u8: 0 half, 1 full, 0xFF unknown (with `NET_F_SPEED_DUPLEX`).
pub const NET_CFG_DUPLEX: u32 = 16;
/// `status`: the link is up.
pub const NET_S_LINK_UP: u16 = 1;

// ----- virtio-net packet header (§5.1.6) -----

/// `struct virtio_net_hdr_v1`: flags u8, gso_type u8, hdr_len le16,
/// gso_size le16, csum_start le16, csum_offset le16, num_buffers le16. With
/// `VERSION_1` it is always 12 bytes, `num_buffers` included.
pub const NET_HDR_LEN: usize = 12;
/// Offset of `num_buffers` in the header.
pub const NET_HDR_NUM_BUFFERS: usize = 10;

// ----- queues of a virtio-net device (§5.1.2) -----

/// Receive queue of pair 0.
pub const RX_QUEUE_0: u16 = 0;
/// Transmit queue of pair 0.
pub const TX_QUEUE_0: u16 = 1;

/// The receive queue of pair `p` (2p); its transmit queue is 2p + 1.
pub const fn rx_queue(p: u16) -> u16 {
    2 * p
}

/// The control queue's index: after every pair the device has, so 2 ×
/// `max_virtqueue_pairs` with MQ, 2 without (§5.1.2).
pub const fn ctrl_queue(max_pairs: u16) -> u16 {
    2 * max_pairs
}

// ----- control queue commands (§5.1.6.5) -----

/// `virtio_net_ctrl_hdr`: class u8, command u8; then the command's data,
/// then one device-written ack byte.
pub const CTRL_HDR_LEN: usize = 2;
/// The ack the device writes when the command worked.
pub const CTRL_ACK_OK: u8 = 0;
/// Class: receive mode (CTRL_RX). Data: one byte, 0 off, 1 on.
pub const CTRL_CLASS_RX: u8 = 0;
/// Receive every frame.
pub const CTRL_RX_PROMISC: u8 = 0;
/// Receive every multicast frame.
pub const CTRL_RX_ALLMULTI: u8 = 1;
/// Class: MAC filter (CTRL_RX for the table, CTRL_MAC_ADDR for the address).
pub const CTRL_CLASS_MAC: u8 = 1;
/// Data: le32 count + unicast addresses, le32 count + multicast addresses.
pub const CTRL_MAC_TABLE_SET: u8 = 0;
/// Data: the 6-byte default (own) address.
pub const CTRL_MAC_ADDR_SET: u8 = 1;
/// Class: VLAN filter (CTRL_VLAN). Data: le16 VLAN ID.
pub const CTRL_CLASS_VLAN: u8 = 2;
/// Let tagged frames of this ID in.
pub const CTRL_VLAN_ADD: u8 = 0;
/// Keep tagged frames of this ID out.
pub const CTRL_VLAN_DEL: u8 = 1;
/// Class: multi-queue (MQ).
pub const CTRL_CLASS_MQ: u8 = 4;
/// Data: le16 number of queue pairs the device may use.
pub const CTRL_MQ_VQ_PAIRS_SET: u8 = 0;
/// Most queue pairs a device may have (§5.1.4: 0x8000).
pub const MQ_PAIRS_MAX: u16 = 0x8000;
