//! Tests of what every virtual port does alike (run on `loop` ports, whose
//! datapath shows the effect directly) and of `create_ports`.

use std::time::Duration;

use super::testutil::{frame, frames, pool, seq_of, seqs, STRANGER};
use super::*;
use crate::mem::{MbufBatch, Mempool};
use crate::port::{
    Channels, Duplex, EthtoolOps, LinkSettings, LinkStatus, MacAddr, PortConfig, Queues, RingParams, RxMode,
};

fn open_loop(p: &Mempool) -> (LoopPort, Queues) {
    let mut port = LoopPort::new("loop0");
    port.configure(&PortConfig { rx_ring_size: 256, tx_ring_size: 256, ..PortConfig::default() }, p).unwrap();
    let q = port.open().unwrap();
    (port, q)
}

fn stat(port: &dyn NetDevice, name: &str) -> u64 {
    port.named_stats().into_iter().find(|s| s.0 == name).unwrap_or_else(|| panic!("no stat {name}")).1
}

fn expect_err<T>(r: Result<T, PortError>, what: &str) -> PortError {
    r.err().unwrap_or_else(|| panic!("{what} should fail"))
}

#[test]
fn without_promiscuous_only_our_broadcast_and_chosen_multicast_pass() {
    let p = pool(256);
    let (mut port, mut q) = open_loop(&p);
    let me = port.mac_address();
    let group = MacAddr([0x01, 0x00, 0x5e, 0, 0, 1]);
    let send = |q: &mut Queues| {
        let mut b = MbufBatch::new();
        for (seq, dst, len) in
            [(0, me, 64), (1, STRANGER, 64), (2, MacAddr::BROADCAST, 64), (3, group, 64), (4, me, 13)]
        {
            b.push(frame(&p, dst, seq, len)).unwrap();
        }
        assert_eq!(q.tx[0].tx_burst(&mut b), 5);
        let mut got = MbufBatch::new();
        q.rx[0].rx_burst(&mut got, 32);
        got.iter()
            .map(|m| m.data().get(14..22).map_or(99, |s| u64::from_le_bytes(s.try_into().unwrap())))
            .collect::<Vec<_>>()
    };
    assert_eq!(send(&mut q), vec![0, 1, 2, 3, 99], "promiscuous (the default) takes everything");
    assert_eq!(stat(&port, "rx_filtered_drops"), 0);

    port.set_rx_mode(RxMode { promiscuous: false, all_multicast: false }).unwrap();
    assert_eq!(send(&mut q), vec![0, 2]);
    assert_eq!(stat(&port, "rx_filtered_drops"), 3, "stranger, multicast, runt");
    port.set_rx_mode(RxMode { promiscuous: false, all_multicast: true }).unwrap();
    assert_eq!(send(&mut q), vec![0, 2, 3]);
    assert_eq!(stat(&port, "rx_filtered_drops"), 5);
    assert_eq!(stat(&port, "rx_dropped"), 5);
    assert_eq!(stat(&port, "rx_packets"), 5 + 2 + 3);
    assert_eq!(stat(&port, "rx_bytes"), 4 * 64 + 13 + 2 * 64 + 3 * 64, "refused frames' bytes are not counted");

    let new_mac = MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
    port.set_mac_address(new_mac).unwrap();
    assert_eq!(send(&mut q), vec![2, 3], "the filter follows the new address");
    for bad in [MacAddr::BROADCAST, group, MacAddr([0; 6])] {
        assert!(matches!(port.set_mac_address(bad), Err(PortError::InvalidConfig(_))), "{bad}");
    }
    assert_eq!(port.mac_address(), new_mac);
    drop(q);
    assert_eq!(p.available(), p.capacity());
}

#[test]
fn extra_unicast_addresses_and_a_multicast_list_open_the_filter_exactly() {
    let p = pool(256);
    let (mut port, mut q) = open_loop(&p);
    let me = port.mac_address();
    let (listed, unlisted) = (MacAddr([0x33, 0x33, 0, 0, 0, 1]), MacAddr([0x33, 0x33, 0, 0, 0, 2]));
    let alias = MacAddr([0x02, 0, 0, 0, 0, 0x77]);
    let dsts = [me, alias, listed, unlisted, STRANGER];
    let received = |q: &mut Queues| {
        let mut b = MbufBatch::new();
        for (seq, &dst) in dsts.iter().enumerate() {
            b.push(frame(&p, dst, seq as u64, 64)).unwrap();
        }
        assert_eq!(q.tx[0].tx_burst(&mut b), dsts.len());
        let mut got = MbufBatch::new();
        q.rx[0].rx_burst(&mut got, 32);
        got.iter().map(seq_of).collect::<Vec<_>>()
    };
    port.set_rx_mode(RxMode { promiscuous: false, all_multicast: false }).unwrap();
    assert_eq!(received(&mut q), vec![0], "only our own address without lists");

    port.mac_addr_add(alias).unwrap();
    port.set_mc_addr_list(&[listed]).unwrap();
    assert_eq!(port.mac_addrs(), vec![me, alias]);
    assert_eq!(port.mc_addr_list(), vec![listed]);
    assert_eq!(received(&mut q), vec![0, 1, 2], "the alias and the listed group, not the unlisted one");
    assert_eq!(stat(&port, "rx_filtered_drops"), 4 + 2);

    port.mac_addr_remove(alias).unwrap();
    port.set_mc_addr_list(&[]).unwrap();
    assert_eq!(received(&mut q), vec![0], "removed again");
    let e = expect_err(port.set_mc_addr_list(&[alias]), "a unicast address is not a group");
    assert!(e.to_string().contains("loop0: 02:00:00:00:00:77 is not a multicast group address"), "{e}");
    drop(q);
    assert_eq!(p.available(), p.capacity());
}

#[test]
fn oversize_frames_are_taken_dropped_and_counted_and_mtu_changes_apply_live() {
    let p = pool(256);
    let (mut port, mut q) = open_loop(&p);
    // 1522: a full-size QinQ frame (two VLAN tags) fits MTU 1500.
    let mut b = frames(&p, 0..3, 1522);
    b.push(frame(&p, STRANGER, 3, 1523)).unwrap();
    b.push(frame(&p, STRANGER, 4, 1000)).unwrap();
    assert_eq!(q.tx[0].tx_burst(&mut b), 5, "the oversize frame is taken too");
    let mut got = MbufBatch::new();
    q.rx[0].rx_burst(&mut got, 32);
    assert_eq!(seqs(&got), vec![0, 1, 2, 4]);
    assert_eq!((stat(&port, "tx_oversize_errors"), stat(&port, "tx_errors"), stat(&port, "tx_packets")), (1, 1, 4));

    port.change_mtu(978).unwrap();
    let mut b = frames(&p, 10..12, 1000);
    assert_eq!(q.tx[0].tx_burst(&mut b), 2);
    assert_eq!(q.rx[0].rx_burst(&mut got, 32), 2, "1000 = 978 + 22 still fits");
    port.change_mtu(977).unwrap();
    let mut b = frames(&p, 12..14, 1000);
    assert_eq!(q.tx[0].tx_burst(&mut b), 2);
    assert_eq!(q.rx[0].rx_burst(&mut got, 32), 0, "the running queue saw the new MTU");
    assert_eq!(stat(&port, "tx_oversize_errors"), 3);
    for bad in [0, 67, 9001] {
        assert!(matches!(port.change_mtu(bad), Err(PortError::InvalidConfig(_))), "{bad}");
    }
    assert_eq!(port.mtu(), 977);
    drop((q, got));
    assert_eq!(p.available(), p.capacity());
}

#[test]
fn admin_down_on_a_loop_drops_counts_and_tells() {
    let p = pool(128);
    let (mut port, mut q) = open_loop(&p);
    let events = port.link_events();
    assert_eq!(port.link_status(), LinkStatus { up: true, speed_mbps: 10_000, duplex: Duplex::Full, autoneg: false });
    port.set_link(false).unwrap();
    assert_eq!(events.wait(Duration::from_secs(1)).unwrap().status, LinkStatus::DOWN);
    let mut b = frames(&p, 0..7, 64);
    assert_eq!(q.tx[0].tx_burst(&mut b), 7);
    assert_eq!((stat(&port, "tx_link_down_drops"), stat(&port, "tx_dropped")), (7, 7));
    port.set_link(false).unwrap();
    assert!(events.try_next().is_none(), "no change, no event");
    port.set_link(true).unwrap();
    assert!(events.wait(Duration::from_secs(1)).unwrap().status.up);
    assert_eq!(p.available(), p.capacity());
}

#[test]
fn nway_reset_flaps_the_link_once() {
    let p = pool(64);
    let mut port = LoopPort::new("loop0");
    assert!(matches!(port.nway_reset(), Err(PortError::InvalidState(_))), "not running");
    port.configure(&PortConfig::default(), &p).unwrap();
    let events = port.link_events();
    let _q = port.open().unwrap();
    assert!(events.wait(Duration::from_secs(1)).unwrap().status.up);
    port.nway_reset().unwrap();
    let (down, up) = (events.try_next().unwrap(), events.try_next().unwrap());
    assert!(!down.status.up && up.status.up && down.at <= up.at);
    assert_eq!(&*up.port, "loop0");
    assert!(events.try_next().is_none());
    assert!(port.link_status().up);
}

#[test]
fn link_settings_are_recorded_and_reported() {
    let p = pool(64);
    let (mut port, _q) = open_loop(&p);
    let events = port.link_events();
    let s = LinkSettings { autoneg: true, speed_mbps: 25_000, duplex: Duplex::Full };
    port.set_link_settings(&s).unwrap();
    assert_eq!(port.link_settings().unwrap(), s);
    assert_eq!(port.link_status(), LinkStatus { up: true, speed_mbps: 25_000, duplex: Duplex::Full, autoneg: true });
    assert!(!events.try_next().unwrap().status.up);
    assert_eq!(events.try_next().unwrap().status.speed_mbps, 25_000, "subscribers learn the new speed");
    for bad in [
        LinkSettings { speed_mbps: 2_500, ..s },
        LinkSettings { duplex: Duplex::Half, ..s },
        LinkSettings { duplex: Duplex::Unknown, ..s },
    ] {
        assert!(matches!(port.set_link_settings(&bad), Err(PortError::InvalidConfig(_))), "{bad:?}");
    }
    assert_eq!(port.link_settings().unwrap(), s, "a refused change records nothing");
}

#[test]
fn configuration_errors_say_what_is_wrong() {
    let p = pool(64);
    let mut port = LoopPort::new("loop0");
    let e = expect_err(port.open(), "open before configure");
    assert!(matches!(e, PortError::InvalidState(_)) && e.to_string().contains("configure"), "{e}");
    for (conf, words) in [
        (PortConfig { rx_ring_size: 100, tx_ring_size: 100, ..PortConfig::default() }, "power of two"),
        (PortConfig { rx_ring_size: 16, ..PortConfig::default() }, "out of range"),
        (PortConfig { tx_ring_size: 8192, ..PortConfig::default() }, "out of range"),
        (PortConfig { rx_queues: 0, tx_queues: 0, ..PortConfig::default() }, "queue count 0"),
        (PortConfig { rx_queues: 17, tx_queues: 17, ..PortConfig::default() }, "queue count 17"),
        (PortConfig { rx_queues: 2, tx_queues: 1, ..PortConfig::default() }, "as many rx as tx"),
    ] {
        let e = expect_err(port.configure(&conf, &p), words);
        assert!(matches!(e, PortError::InvalidConfig(_)) && e.to_string().contains(words), "{e}");
    }
    port.configure(&PortConfig::default(), &p).unwrap();
    let _q = port.open().unwrap();
    let e = expect_err(port.configure(&PortConfig::default(), &p), "configure while running");
    assert!(matches!(e, PortError::InvalidState(_)) && e.to_string().contains("stop it"), "{e}");
    assert!(matches!(port.open(), Err(PortError::InvalidState(_))), "open twice");
    let rings = RingParams { rx_max: 4096, tx_max: 4096, rx: 1024, tx: 1024 };
    assert!(matches!(port.set_ringparam(&rings), Err(PortError::InvalidState(_))));
    let ch = Channels { max_rx: 16, max_tx: 16, rx: 2, tx: 2 };
    assert!(matches!(port.set_channels(&ch), Err(PortError::InvalidState(_))));
    port.stop().unwrap();
    assert!(matches!(port.stop(), Err(PortError::InvalidState(_))), "stop twice");
    port.set_ringparam(&rings).unwrap();
    port.set_channels(&ch).unwrap();
    assert!(port.set_ringparam(&RingParams { rx: 48, ..rings }).is_err());
    assert!(port.set_channels(&Channels { rx: 3, ..ch }).is_err(), "loop needs rx == tx");
    assert_eq!(port.ringparam(), rings);
    assert_eq!(port.channels(), ch);
    let q = port.open().unwrap();
    assert_eq!((q.rx.len(), q.tx.len(), q.rx[1].queue_id()), (2, 2, 1));
}

#[test]
fn ethtool_views_agree_with_each_other() {
    let p = pool(64);
    let (mut port, mut q) = open_loop(&p);
    let info = port.drvinfo();
    assert_eq!((info.driver.as_str(), info.bus_info.as_str()), ("net_loop", "virtual"));
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(NullPort::new("null0", 64).drvinfo().driver, "net_null");
    assert_eq!(PairPort::new_pair("pair0", "pair1").0.drvinfo().driver, "net_pair");
    let mut b = frames(&p, 0..5, 100);
    q.tx[0].tx_burst(&mut b);
    let (names, values) = (port.stat_names(), port.stat_values());
    assert_eq!(names.len(), values.len());
    assert_eq!(names.len(), 13 + 7, "thirteen port rows, three per receive queue, four per transmit queue");
    assert_eq!(&names[13..16], ["rx_queue_0_packets", "rx_queue_0_bytes", "rx_queue_0_drops"]);
    assert_eq!((stat(&port, "tx_bytes"), stat(&port, "tx_queue_0_packets")), (500, 5));
    let regs = port.regs().unwrap();
    let reg = |n: &str| regs.regs.iter().find(|r| r.0 == n).unwrap_or_else(|| panic!("no reg {n}")).1;
    assert_eq!((reg("carrier"), reg("running"), reg("mtu"), reg("rx_ring_size")), (1, 1, 1500, 256));
    assert_eq!((reg("promiscuous"), reg("speed_mbps")), (1, 10_000));
    port.reset_stats().unwrap();
    assert!(port.stat_values().iter().all(|&v| v == 0));
    let mut got = MbufBatch::new();
    assert_eq!(q.rx[0].rx_burst(&mut got, 32), 5, "resetting counters does not touch frames");
}

#[test]
fn create_ports_builds_wired_ports_in_order() {
    let p = pool(256);
    let mut ports = create_ports(&["null0", "pair0", "loop1", "pair7"]).unwrap();
    let names: Vec<&str> = ports.iter().map(|d| d.name()).collect();
    assert_eq!(names, ["null0", "pair0", "loop1", "pair7"]);
    let drivers: Vec<String> = ports.iter().map(|d| d.drvinfo().driver).collect();
    assert_eq!(drivers, ["net_null", "net_pair", "net_loop", "net_pair"]);
    let mut queues = Vec::new();
    for port in ports.iter_mut() {
        port.configure(&PortConfig::default(), &p).unwrap();
        queues.push(port.open().unwrap());
    }
    let mut b = frames(&p, 0..3, 64);
    assert_eq!(queues[1].tx[0].tx_burst(&mut b), 3);
    let mut got = MbufBatch::new();
    assert_eq!(queues[3].rx[0].rx_burst(&mut got, 32), 3, "pair0 is wired to pair7");
    assert!(got.iter().all(|m| m.port() == 3), "port ids follow the list");
    let macs: std::collections::HashSet<MacAddr> = ports.iter().map(|d| d.mac_address()).collect();
    assert_eq!(macs.len(), 4);
    assert!(create_ports(&[]).unwrap().is_empty());
}

#[test]
fn create_ports_refuses_bad_lists_helpfully() {
    let msg = |names: &[&str]| expect_err(create_ports(names), &format!("{names:?}")).to_string();
    let m = msg(&["loop0", "eth0"]);
    assert!(m.contains("'eth0'") && m.contains("loopN, pairN, nullN"), "{m}");
    for bad in ["loop", "loopx", "pair-1", "null1a", "Loop0", "loop99999999999999999999999"] {
        assert!(msg(&[bad]).contains("valid kinds"), "{bad}");
    }
    let m = msg(&["pair0", "pair1", "pair2"]);
    assert!(m.contains("pair2 has no peer: add pair3"), "{m}");
    let m = msg(&["pair2", "loop0", "pair3", "pair4", "pair5", "pair9"]);
    assert!(m.contains("pair9 has no peer: add pair10"), "{m}");
    let m = msg(&["pair3", "pair4", "pair1"]);
    assert!(m.contains("pair1 has no peer: add pair2"), "{m}");
    let m = msg(&["pair1", "pair2", "pair0"]);
    assert!(m.contains("pair0 has no peer: add pair3"), "skips taken numbers: {m}");
    let m = msg(&["loop0", "null0", "loop0"]);
    assert!(m.contains("'loop0' is given twice"), "{m}");
    let m = msg(&["null1", "null01"]);
    assert!(m.contains("same port"), "{m}");
}

#[test]
fn offload_flags_do_not_travel_over_the_wire_but_the_receivers_rss_hash_does() {
    use crate::mem::OffloadFlags;
    use crate::rss::{RssConfig, RssHashTypes};
    let p = pool(64);
    let (mut port, mut q) = open_loop(&p);
    let stale = OffloadFlags::TX_VLAN_INSERT | OffloadFlags::TX_IP_CKSUM | OffloadFlags::RX_VLAN_STRIPPED;
    let send = |q: &mut Queues| {
        let mut b = MbufBatch::new();
        for seq in 0..4 {
            let mut m = frame(&p, STRANGER, seq, 64);
            m.set_ol_flags(stale);
            m.set_vlan_tci(100);
            b.push(m).unwrap();
        }
        assert_eq!(q.tx[0].tx_burst(&mut b), 4);
        let mut got = MbufBatch::new();
        assert_eq!(q.rx[0].rx_burst(&mut got, 32), 4);
        got.iter().map(|m| m.ol_flags()).collect::<Vec<_>>()
    };
    assert_eq!(send(&mut q), vec![OffloadFlags::default(); 4], "one queue: nothing of the sender's");
    drop(q);
    port.stop().unwrap();
    let conf = PortConfig { rx_queues: 2, tx_queues: 2, rx_ring_size: 256, tx_ring_size: 256, ..PortConfig::default() };
    port.configure(&conf, &p).unwrap();
    port.set_rss_config(&RssConfig::new(2, RssHashTypes::ALL)).unwrap();
    let mut q = port.open().unwrap();
    let mut b = MbufBatch::new();
    let mut m = frame(&p, STRANGER, 9, 64);
    m.set_ol_flags(stale);
    b.push(m).unwrap();
    assert_eq!(q.tx[0].tx_burst(&mut b), 1);
    let mut got = MbufBatch::new();
    let n: usize = q.rx.iter_mut().map(|rx| rx.rx_burst(&mut got, 32)).sum();
    assert_eq!(n, 1);
    let flags = got.iter().next().unwrap().ol_flags();
    assert_eq!(flags.0 & !OffloadFlags::RX_RSS_HASH.0, 0, "with RSS: only the receiver's hash flag, got {flags:?}");
}

#[test]
fn every_name_null_and_loop_ports_show_is_in_the_statistics_table() {
    let p = pool(256);
    let (port, _q) = open_loop(&p);
    crate::port::stat_names::assert_documented("loop", port.stat_names());
    let mut null = NullPort::new("null0", 64);
    null.configure(&PortConfig::default(), &p).unwrap();
    crate::port::stat_names::assert_documented("null", null.stat_names());
}
