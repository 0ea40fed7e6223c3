//! Receive filters and receive offloads against the fake register file:
//! the multicast hash table, the extra unicast address entries, the VLAN
//! filter table, VLAN stripping, double VLAN and checksum reporting. The
//! expected register values are worked out here from the datasheet's
//! rules, not taken from the driver's functions.

use super::*;
use crate::mem::OffloadFlags;
use crate::port::VlanType;

/// Configures `port` on `pool` (64 descriptors, one queue each way) with the
/// receive offloads `rx`, and opens it.
fn open_rx(port: &mut IgbPort, pool: &Mempool, rx: RxOffloads) -> Queues {
    let conf = PortConfig { rx_ring_size: 64, tx_ring_size: 64, rx_offloads: rx, ..PortConfig::default() };
    port.configure(&conf, pool).unwrap();
    port.open().unwrap()
}

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

/// A register as the fake holds it (no read side effects).
fn reg(regs: &RegMap, off: u32) -> u32 {
    regs.lock().unwrap().get(&off).copied().unwrap_or(0)
}

/// The 128 MTA words.
fn mta(regs: &RegMap) -> Vec<u32> {
    (0..MTA_LEN).map(|i| reg(regs, MTA_BASE + 4 * i)).collect()
}

/// The 128 VFTA words.
fn vfta(regs: &RegMap) -> Vec<u32> {
    (0..VFTA_LEN).map(|i| reg(regs, VFTA_BASE + 4 * i)).collect()
}

/// 128 zero words except `set` (word, value).
fn words_with(set: &[(usize, u32)]) -> Vec<u32> {
    let mut w = vec![0; 128];
    for &(i, v) in set {
        w[i] |= v;
    }
    w
}

/// Plays the device: writes receive descriptor `slot` of queue 0 back with
/// packet info (RSS and packet type), `len` bytes, the VLAN field and
/// `status` (with DD and EOP), the status word last.
fn device_rx(hw: &Hw, slot: usize, pkt_info: u32, len: u16, vlan: u16, status: u32) {
    assert!(slot < 64, "the tests' receive rings hold 64 descriptors");
    let d = desc(hw, rdbal(0), rdbah(0), slot);
    // SAFETY: `d` is descriptor `slot` of the live 64-descriptor ring the
    // driver programmed; the driver reads it only volatile, and only after
    // it sees DD, which the status word written last carries.
    unsafe {
        d.write_volatile(pkt_info);
        d.add(1).write_volatile(0);
        d.add(3).write_volatile(u32::from(len) | u32::from(vlan) << 16);
        d.add(2).write_volatile(status | desc::RXD_STAT_DD | desc::RXD_STAT_EOP);
    }
}

/// The checksum and VLAN flags of a received frame.
fn rx_flags(m: &crate::mem::Mbuf) -> u64 {
    let all = OffloadFlags::RX_IP_CKSUM_GOOD
        | OffloadFlags::RX_IP_CKSUM_BAD
        | OffloadFlags::RX_L4_CKSUM_GOOD
        | OffloadFlags::RX_L4_CKSUM_BAD
        | OffloadFlags::RX_VLAN
        | OffloadFlags::RX_VLAN_STRIPPED
        | OffloadFlags::RX_QINQ_STRIPPED;
    m.ol_flags().0 & all.0
}

#[test]
fn listed_groups_set_the_mta_bits_of_destination_bits_47_to_36() {
    let (mut port, _hw, regs) = fake_port_and_regs();
    assert_eq!(mta(&regs), words_with(&[]), "probe leaves the table empty");
    let groups = [mac("01:00:5e:00:00:01"), mac("33:33:00:00:00:01"), mac("33:33:ff:12:34:56")];
    port.set_mc_addr_list(&groups).unwrap();
    // With RCTL.MO = 00 the hash is destination bits 47:36: byte 5, then the
    // upper nibble of byte 4; bits 11:5 pick the word, 4:0 the bit.
    //   01:00:5e:00:00:01 and 33:33:00:00:00:01: 0x01 << 4 | 0x0 = 0x010
    //     -> word 0, bit 16 (both groups share it);
    //   33:33:ff:12:34:56 (IPv6 solicited-node): 0x56 << 4 | 0x3 = 0x563
    //     -> word 0x2b = 43, bit 3.
    assert_eq!(mta(&regs), words_with(&[(0, 1 << 16), (43, 1 << 3)]));
    assert_eq!(port.mc_addr_list(), groups);
    // The datasheet-style example Intel's base code documents: 01:aa:00:12:34:56
    // hashes to 0x563 with MO = 00.
    assert_eq!(filter::mta_bit(mac("01:aa:00:12:34:56")), 0x563);

    // Open without promiscuous or all-multicast: RCTL.MPE is off, so the
    // device takes multicast frames only through the table, with MO = 00.
    let pool = pool(256);
    let q = open_rx(&mut port, &pool, RxOffloads::empty());
    let rctl = reg(&regs, RCTL);
    assert_eq!(rctl & (RCTL_MPE | RCTL_UPE | RCTL_MO_MASK), 0, "{rctl:#x}");
    assert_eq!(mta(&regs), words_with(&[(0, 1 << 16), (43, 1 << 3)]), "open keeps the groups");

    port.set_mc_addr_list(&[]).unwrap();
    assert_eq!(mta(&regs), words_with(&[]), "an empty list clears the table");
    assert!(port.mc_addr_list().is_empty());
    drop(q);
    port.stop().unwrap();
}

#[test]
fn a_refused_multicast_list_changes_nothing() {
    let (mut port, _hw, regs) = fake_port_and_regs();
    let group = mac("01:00:5e:00:00:fb");
    port.set_mc_addr_list(&[group]).unwrap();
    // Bytes 4 and 5 are 00 and fb: 0xfb << 4 | 0x0 = 0xfb0 -> word 125, bit 16.
    let before = words_with(&[(125, 1 << 16)]);
    assert_eq!(mta(&regs), before);

    let e = port.set_mc_addr_list(&[mac("01:00:5e:00:00:01"), mac("02:00:00:00:00:01")]).unwrap_err().to_string();
    assert!(e.contains("02:00:00:00:00:01 is not a multicast group address"), "{e}");
    let e = port.set_mc_addr_list(&[MacAddr::BROADCAST]).unwrap_err().to_string();
    assert!(e.contains("broadcast is always received"), "{e}");
    let many: Vec<MacAddr> = (0..65u8).map(|i| MacAddr([1, 0, 0x5e, 0, 1, i])).collect();
    let e = port.set_mc_addr_list(&many).unwrap_err().to_string();
    assert!(e.contains("65 multicast groups asked, at most 64"), "{e}");

    assert_eq!(mta(&regs), before, "the table is untouched");
    assert_eq!(port.mc_addr_list(), [group], "and so is the list");
}

#[test]
fn an_extra_unicast_address_takes_the_next_entry_until_removed() {
    let (mut port, _hw, regs) = fake_port_and_regs();
    let own = port.mac_address();
    let a = mac("02:00:00:00:00:42");
    port.mac_addr_add(a).unwrap();
    // RAL holds bytes 0..3 from its low byte, RAH bytes 4..5, AV = bit 31,
    // pool 0 = bit 18.
    assert_eq!(reg(&regs, ral(1)), 0x0000_0002);
    assert_eq!(reg(&regs, rah(1)), 0x8004_4200);
    port.mac_addr_add(a).unwrap();
    assert_eq!(port.mac_addrs(), [own, a], "adding twice keeps one entry");
    assert_eq!(reg(&regs, rah(2)), 0, "and does not take a second one");

    let b = mac("0a:1b:2c:3d:4e:5f");
    port.mac_addr_add(b).unwrap();
    assert_eq!((reg(&regs, ral(2)), reg(&regs, rah(2))), (0x3d2c_1b0a, 0x8004_5f4e));

    port.mac_addr_remove(a).unwrap();
    assert_eq!((reg(&regs, ral(1)), reg(&regs, rah(1))), (0, 0), "removal invalidates the entry");
    assert_eq!(port.mac_addrs(), [own, b]);
    let e = port.mac_addr_remove(a).unwrap_err().to_string();
    assert!(e.contains("02:00:00:00:00:42 is not one of the port's extra addresses"), "{e}");
    assert_eq!(reg(&regs, rah(0)) & RAH_AV, RAH_AV, "the port's own entry stays valid");

    let e = port.mac_addr_add(mac("01:00:5e:00:00:01")).unwrap_err().to_string();
    assert!(e.contains("is not a unicast address"), "{e}");
}

#[test]
fn the_sixteenth_extra_address_is_refused_and_the_first_freed_entry_is_reused() {
    let (mut port, _hw, regs) = fake_port_and_regs();
    for i in 0..15u8 {
        port.mac_addr_add(MacAddr([2, 0, 0, 0, 1, i])).unwrap();
    }
    for n in 1..16 {
        assert_ne!(reg(&regs, rah(n)) & RAH_AV, 0, "entry {n} in use");
    }
    let e = port.mac_addr_add(MacAddr([2, 0, 0, 0, 2, 0])).unwrap_err().to_string();
    assert!(e.contains("all 15 extra unicast addresses are in use"), "{e}");
    assert_eq!(port.mac_addrs().len(), 16, "own + 15, the refused one not among them");

    port.mac_addr_remove(MacAddr([2, 0, 0, 0, 1, 4])).unwrap();
    port.mac_addr_add(MacAddr([2, 0, 0, 0, 2, 0])).unwrap();
    assert_eq!(reg(&regs, ral(5)), 0x0000_0002, "the freed entry 5 (slot of the 5th address) is reused");
    assert_eq!(reg(&regs, rah(5)), 0x8004_0002);
}

#[test]
fn vlan_ids_set_their_vfta_bit_and_vfe_follows_the_offload() {
    let (mut port, _hw, regs) = fake_port_and_regs();
    port.vlan_filter_set(100, true).unwrap();
    // 100 = 3 * 32 + 4: word 3, bit 4.
    assert_eq!(vfta(&regs), words_with(&[(3, 1 << 4)]));
    port.vlan_filter_set(4095, true).unwrap();
    port.vlan_filter_set(0, true).unwrap();
    assert_eq!(vfta(&regs), words_with(&[(0, 1), (3, 1 << 4), (127, 1 << 31)]));
    assert_eq!(port.vlan_filters(), [0, 100, 4095]);
    port.vlan_filter_set(100, false).unwrap();
    assert_eq!(vfta(&regs), words_with(&[(0, 1), (127, 1 << 31)]), "removal clears the bit");
    assert_eq!(port.vlan_filters(), [0, 4095]);
    let e = port.vlan_filter_set(4096, true).unwrap_err().to_string();
    assert!(e.contains("VLAN ID 4096 is out of range 0..=4095"), "{e}");

    let pool = pool(256);
    let q = open_rx(&mut port, &pool, RxOffloads::empty());
    assert_eq!(reg(&regs, RCTL) & RCTL_VFE, 0, "no vlan_filter offload: the table does not filter");
    drop(q);
    port.stop().unwrap();
    let q = open_rx(&mut port, &pool, RxOffloads::VLAN_FILTER);
    assert_ne!(reg(&regs, RCTL) & RCTL_VFE, 0, "vlan_filter: RCTL.VFE");
    port.set_rx_mode(RxMode { promiscuous: true, all_multicast: false }).unwrap();
    assert_ne!(reg(&regs, RCTL) & RCTL_VFE, 0, "a receive mode change keeps VFE");
    assert_eq!(vfta(&regs), words_with(&[(0, 1), (127, 1 << 31)]));
    drop(q);
    port.stop().unwrap();
}

#[test]
fn vlan_strip_moves_the_descriptors_tag_into_vlan_tci() {
    let (mut port, hw, regs) = fake_port_and_regs();
    let pool = pool(256);
    let mut q = open_rx(&mut port, &pool, RxOffloads::VLAN_STRIP);
    assert_ne!(reg(&regs, CTRL) & CTRL_VME, 0, "vlan_strip: CTRL.VME");
    // PCP 3, VID 100 in the VLAN field; then an untagged frame.
    device_rx(&hw, 0, 0, 60, 0x6064, desc::RXD_STAT_VP);
    device_rx(&hw, 1, 0, 60, 0, 0);
    let mut batch = MbufBatch::new();
    assert_eq!(q.rx[0].rx_burst(&mut batch, 32), 2);
    let (tagged, plain) = (&batch.as_slice()[0], &batch.as_slice()[1]);
    assert_eq!(rx_flags(tagged), (OffloadFlags::RX_VLAN | OffloadFlags::RX_VLAN_STRIPPED).0);
    assert_eq!(tagged.vlan_tci(), 0x6064);
    assert_eq!((rx_flags(plain), plain.vlan_tci()), (0, 0), "no VP, no VLAN flags");
    drop((batch, q));
    port.stop().unwrap();

    // Without strip the tag stays in the frame: VP (a real 82576 may set it)
    // gives RX_VLAN alone and no vlan_tci.
    let mut q = open_rx(&mut port, &pool, RxOffloads::empty());
    assert_eq!(reg(&regs, CTRL) & CTRL_VME, 0, "no vlan_strip: CTRL.VME off again");
    device_rx(&hw, 0, 0, 64, 0x6064, desc::RXD_STAT_VP);
    let mut batch = MbufBatch::new();
    assert_eq!(q.rx[0].rx_burst(&mut batch, 32), 1);
    let m = &batch.as_slice()[0];
    assert_eq!((rx_flags(m), m.vlan_tci()), (OffloadFlags::RX_VLAN.0, 0));
    drop((batch, q));
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn vlan_extend_is_ext_vlan_and_qinq_strip_is_refused() {
    let (mut port, _hw, regs) = fake_port_and_regs();
    assert_eq!(port.offloads(), (RxOffloads::empty(), TxOffloads::empty()), "none before configure");
    let pool = pool(256);
    let both = RxOffloads::VLAN_EXTEND | RxOffloads::VLAN_STRIP;
    let q = open_rx(&mut port, &pool, both);
    let ext = reg(&regs, CTRL_EXT);
    assert_eq!(ext & (CTRL_EXT_EXT_VLAN | CTRL_EXT_DRV_LOAD), CTRL_EXT_EXT_VLAN | CTRL_EXT_DRV_LOAD, "{ext:#x}");
    assert_eq!(port.offloads(), (both, TxOffloads::empty()));
    let on: Vec<&str> = port.features().into_iter().filter(|f| f.on).map(|f| f.name).collect();
    assert_eq!(on, ["rx-vlan-offload"], "ethtool -k follows the configuration");
    drop(q);
    port.stop().unwrap();
    let q = open_rx(&mut port, &pool, RxOffloads::VLAN_STRIP);
    assert_eq!(reg(&regs, CTRL_EXT) & CTRL_EXT_EXT_VLAN, 0, "off again without vlan_extend");
    assert_ne!(reg(&regs, CTRL_EXT) & CTRL_EXT_DRV_LOAD, 0, "the other bits stay");
    drop(q);
    port.stop().unwrap();

    let conf = PortConfig { rx_offloads: RxOffloads::QINQ_STRIP, ..PortConfig::default() };
    let e = port.configure(&conf, &pool).unwrap_err().to_string();
    assert!(e.contains("unsupported rx offload qinq_strip"), "{e}");
    assert_eq!(port.offloads().0, RxOffloads::VLAN_STRIP, "a refused configuration changes nothing");
}

#[test]
fn rxcsum_enables_only_the_checks_asked_for() {
    // The 82576's RXCSUM bits, spelled out (datasheet 8.10.9; Linux's
    // E1000_RXCSUM_*), not the driver's constants: a wrong bit there fails.
    const RXCSUM_IPOFLD: u32 = 0x100;
    const RXCSUM_TUOFLD: u32 = 0x200;
    const RXCSUM_CRCOFL: u32 = 0x800;
    const RXCSUM_PCSD: u32 = 0x2000;
    let (mut port, _hw, regs) = fake_port_and_regs();
    let pool = pool(256);
    let checks = RXCSUM_IPOFLD | RXCSUM_TUOFLD | RXCSUM_CRCOFL;
    for (rx, want) in [
        (RxOffloads::empty(), 0),
        (RxOffloads::IPV4_CKSUM, RXCSUM_IPOFLD),
        (RxOffloads::UDP_CKSUM, RXCSUM_TUOFLD),
        (RxOffloads::TCP_CKSUM, RXCSUM_TUOFLD),
        (RxOffloads::SCTP_CKSUM, RXCSUM_TUOFLD | RXCSUM_CRCOFL),
        (RxOffloads::IPV4_CKSUM | RxOffloads::TCP_CKSUM, RXCSUM_IPOFLD | RXCSUM_TUOFLD),
    ] {
        let q = open_rx(&mut port, &pool, rx);
        assert_eq!(reg(&regs, RXCSUM) & checks, want, "{rx}");
        drop(q);
        port.stop().unwrap();
    }
    // RSS (two queues) adds PCSD and keeps the checks.
    let conf = PortConfig {
        rx_queues: 2,
        rx_ring_size: 64,
        tx_ring_size: 64,
        rx_offloads: RxOffloads::IPV4_CKSUM | RxOffloads::RSS_HASH,
        ..PortConfig::default()
    };
    port.configure(&conf, &pool).unwrap();
    let q = port.open().unwrap();
    assert_eq!(reg(&regs, RXCSUM) & (checks | RXCSUM_PCSD), RXCSUM_IPOFLD | RXCSUM_PCSD);
    drop(q);
    port.stop().unwrap();
}

#[test]
fn checksum_flags_come_from_the_status_and_error_bits() {
    // The advanced write-back's bits, spelled out (Linux's
    // E1000_RXD_STAT_*, E1000_RXDEXT_STATERR_*, E1000_RXDADV_PKTTYPE_*),
    // not the driver's constants: a wrong bit there fails.
    const UDPCS: u32 = 0x10;
    const L4CS: u32 = 0x20;
    const IPCS: u32 = 0x40;
    const L4E: u32 = 0x2000_0000;
    const IPE: u32 = 0x4000_0000;
    const TCP: u32 = 0x100; // packet type bits in the first write-back dword
    const SCTP: u32 = 0x400;
    let (ip_ok, ip_bad) = (OffloadFlags::RX_IP_CKSUM_GOOD.0, OffloadFlags::RX_IP_CKSUM_BAD.0);
    let (l4_ok, l4_bad) = (OffloadFlags::RX_L4_CKSUM_GOOD.0, OffloadFlags::RX_L4_CKSUM_BAD.0);
    let cases: [(&str, u32, u16, u32, u64); 12] = [
        ("IPv4/TCP good", TCP, 100, IPCS | L4CS, ip_ok | l4_ok),
        ("IPv4 header bad", 0, 100, IPCS | IPE, ip_bad),
        ("IPv4 good, TCP bad", TCP, 100, IPCS | L4CS | L4E, ip_ok | l4_bad),
        ("both bad", TCP, 100, IPCS | IPE | L4CS | L4E, ip_bad | l4_bad),
        ("UDP good (QEMU: L4CS and UDPCS)", 0, 100, IPCS | L4CS | UDPCS, ip_ok | l4_ok),
        ("UDP bad, UDPCS alone", 0, 100, IPCS | UDPCS | L4E, ip_ok | l4_bad),
        ("SCTP good", SCTP, 100, IPCS | L4CS, ip_ok | l4_ok),
        ("SCTP bad", SCTP, 100, IPCS | L4CS | L4E, ip_ok | l4_bad),
        ("60-byte SCTP, the L4E erratum: unknown", SCTP, 60, IPCS | L4CS | L4E, ip_ok),
        ("60-byte TCP bad: no erratum", TCP, 60, IPCS | L4CS | L4E, ip_ok | l4_bad),
        ("not checked (IPv6, offload off)", 0, 100, 0, 0),
        ("error bits without the checked bits", 0, 100, IPE | L4E, 0),
    ];
    let (mut port, hw) = fake_port();
    let pool = pool(256);
    let all = RxOffloads::IPV4_CKSUM | RxOffloads::TCP_CKSUM | RxOffloads::UDP_CKSUM | RxOffloads::SCTP_CKSUM;
    let mut q = open_rx(&mut port, &pool, all);
    for (slot, &(_, info, len, status, _)) in cases.iter().enumerate() {
        device_rx(&hw, slot, info, len, 0, status);
    }
    let mut batch = MbufBatch::new();
    assert_eq!(q.rx[0].rx_burst(&mut batch, 32), cases.len(), "checksum errors do not drop frames");
    for (m, (what, _, _, _, want)) in batch.iter().zip(cases) {
        assert_eq!(rx_flags(m), want, "{what}: {:?}", m.ol_flags());
    }
    // Linux igb's csum_err: every frame reported bad, not the erratum's.
    let bad = cases.iter().filter(|c| c.4 & (ip_bad | l4_bad) != 0).count() as u64;
    let stats: std::collections::HashMap<String, u64> = port.named_stats().into_iter().collect();
    assert_eq!(bad, 6);
    assert_eq!(stats["rx_queue_0_csum_err"], bad);
    assert_eq!(stats["rx_queue_0_packets"], cases.len() as u64);
    crate::port::stat_names::assert_documented("igb", stats.keys());
    drop((batch, q));
    port.stop().unwrap();
}

#[test]
fn filters_are_written_again_at_every_open() {
    let (mut port, _hw, regs) = fake_port_and_regs();
    let (a, group) = (mac("02:00:00:00:00:42"), mac("33:33:ff:00:00:01"));
    port.mac_addr_add(a).unwrap();
    port.set_mc_addr_list(&[group]).unwrap();
    port.vlan_filter_set(100, true).unwrap();
    let pool = pool(256);
    let q = open_rx(&mut port, &pool, RxOffloads::VLAN_FILTER);
    drop(q);
    port.stop().unwrap();

    // A reset (or another owner) wipes the tables and leaves a stray entry.
    {
        let mut m = regs.lock().unwrap();
        for i in 0..128 {
            m.insert(MTA_BASE + 4 * i, 0);
            m.insert(VFTA_BASE + 4 * i, 0);
        }
        m.insert(ral(1), 0);
        m.insert(rah(1), 0);
        m.insert(ral(7), 0x1234_5678);
        m.insert(rah(7), RAH_AV | 0x9abc);
    }
    let q = open_rx(&mut port, &pool, RxOffloads::VLAN_FILTER);
    assert_eq!((reg(&regs, ral(1)), reg(&regs, rah(1))), (0x0000_0002, 0x8004_4200), "the extra address is back");
    assert_eq!(reg(&regs, rah(7)) & RAH_AV, 0, "the stray entry is gone");
    // 33:33:ff:00:00:01: bytes 4, 5 = 00, 01: 0x010 -> word 0, bit 16.
    assert_eq!(mta(&regs), words_with(&[(0, 1 << 16)]));
    assert_eq!(vfta(&regs), words_with(&[(3, 1 << 4)]));
    assert_eq!(port.mac_addrs()[1..], [a]);
    assert_eq!(port.mc_addr_list(), [group]);
    assert_eq!(port.vlan_filters(), [100]);
    drop(q);
    port.stop().unwrap();
}

#[test]
fn vlan_tpids_go_to_vet_and_come_back_after_a_reset() {
    // VET (0x0038): inner/single TPID in 15:0, outer (double VLAN) in 31:16.
    const VET_REG: u32 = 0x0038;
    let (mut port, _hw, regs) = fake_port_and_regs();
    assert_eq!(reg(&regs, VET_REG), 0x8100_8100, "probe writes the reset value");
    port.vlan_tpid_set(VlanType::Outer, 0x88a8).unwrap();
    assert_eq!(reg(&regs, VET_REG), 0x88a8_8100, "the outer half, at once");
    port.vlan_tpid_set(VlanType::Inner, 0x9100).unwrap();
    assert_eq!(reg(&regs, VET_REG), 0x88a8_9100);
    let e = port.vlan_tpid_set(VlanType::Outer, 0x05dc).unwrap_err().to_string();
    assert!(e.contains("0x05dc is an 802.3 length") && e.contains("0x88a8"), "{e}");
    assert_eq!(reg(&regs, VET_REG), 0x88a8_9100, "a refused TPID changes nothing");
    regs.lock().unwrap().insert(VET_REG, 0x8100_8100); // a reset
    let pool = pool(256);
    let q = open_rx(&mut port, &pool, RxOffloads::VLAN_EXTEND | RxOffloads::VLAN_STRIP);
    assert_eq!(reg(&regs, VET_REG), 0x88a8_9100, "open writes the TPIDs again");
    drop(q);
    port.stop().unwrap();
}

#[test]
fn probe_clears_what_a_previous_owner_left_in_the_tables() {
    let map: RegMap = Arc::new(Mutex::new(HashMap::from([
        (STATUS, STATUS_LU | STATUS_FD | (2 << STATUS_SPEED_SHIFT)),
        (ral(0), 0x0000_5452),
        (rah(0), RAH_AV | 0x001b),
        (EECD, EECD_AUTO_RD),
        (ral(3), 0x0000_0002),
        (rah(3), RAH_AV | 0x0042),
        (MTA_BASE + 4 * 9, 0xffff),
        (VFTA_BASE + 4 * 2, 1),
    ])));
    let regs = FakeRegs(Arc::clone(&map));
    let port = IgbPort::probe("fake", Hw::new(Box::new(regs), Media::Copper), 0x10C9, IovaMode::Va, None).unwrap();
    assert_eq!(reg(&map, rah(3)), 0, "entry 3 invalidated");
    assert_eq!(reg(&map, rah(0)) & RAH_AV, RAH_AV, "the port's own address stays");
    assert_eq!(mta(&map), words_with(&[]));
    assert_eq!(vfta(&map), words_with(&[]));
    assert_eq!(port.mac_addrs(), [port.mac_address()]);
    assert!(port.vlan_filters().is_empty() && port.mc_addr_list().is_empty());
}

#[test]
fn a_pool_for_an_igb_port_in_pa_mode_is_on_hugepages_by_physical_address() {
    let fake = || {
        let map: RegMap = Arc::new(Mutex::new(HashMap::from([(EECD, EECD_AUTO_RD)])));
        Hw::new(Box::new(FakeRegs(map)), Media::Copper)
    };
    let pa = IgbPort::probe("fake-pa", fake(), 0x10C9, IovaMode::Pa, None).unwrap();
    let ports: Vec<Box<dyn NetDevice>> = vec![Box::new(pa)];
    let dma = crate::MempoolConfig::for_ports("pa", 64, &ports).dma;
    // PA mode has no IOMMU mapping, yet the NIC DMAs into the pool: the
    // pool must be where the port's configure() accepts it.
    assert_eq!((dma.iova_mode, dma.fallback), (IovaMode::Pa, ferrite_hugepages::Fallback::Refuse));
    // A register-file port (neither IOMMU nor PA) may use small pages.
    let va = IgbPort::probe("fake-va", fake(), 0x10C9, IovaMode::Va, None).unwrap();
    let ports: Vec<Box<dyn NetDevice>> = vec![Box::new(va)];
    assert_eq!(crate::MempoolConfig::for_ports("va", 64, &ports).dma.fallback, ferrite_hugepages::Fallback::SmallPages);
}
