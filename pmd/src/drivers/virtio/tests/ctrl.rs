//! The control queue against the fake device, on every ring layout: the
//! exact bytes of each command, an open that restores the whole state, a
//! refused command, a device that never answers, multi-queue and VLAN
//! filtering.

use std::time::Duration;

use super::fake::CtrlReply;
use super::*;
use crate::port::MacAddr;

type Cmds = Vec<(u8, u8, Vec<u8>)>;

fn take(dev: &Arc<Mutex<Dev>>) -> Cmds {
    std::mem::take(&mut dev.lock().unwrap().commands)
}

fn reply(dev: &Arc<Mutex<Dev>>, r: CtrlReply) {
    dev.lock().unwrap().ctrl_reply = r;
}

const PROMISC_OFF: RxMode = RxMode { promiscuous: false, all_multicast: false };
const A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x11]);
const G: MacAddr = MacAddr([1, 0, 0x5e, 0, 0, 1]);

#[test]
fn every_command_reaches_the_device_with_its_exact_bytes() {
    for rings in ALL_RINGS {
        exact_bytes(rings);
    }
}

fn exact_bytes(rings: Rings) {
    let (mut port, dev) = ring_port(rings, 256);
    let pool = pool(1024);
    let q = open(&mut port, &pool, RxOffloads::empty(), 256);
    // A reset device is told the whole state: promiscuous (QEMU's reset
    // state, kept), no all-multicast, an empty MAC table.
    let table0 = vec![0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(take(&dev), vec![(0, 0, vec![1]), (0, 1, vec![0]), (1, 0, table0)], "{rings:?}");
    port.set_rx_mode(RxMode { promiscuous: false, all_multicast: true }).unwrap();
    assert_eq!(take(&dev), vec![(0, 0, vec![0]), (0, 1, vec![1])], "{rings:?}");
    port.mac_addr_add(A).unwrap();
    assert_eq!(take(&dev), vec![(1, 0, vec![1, 0, 0, 0, 2, 0, 0, 0, 0, 0x11, 0, 0, 0, 0])]);
    // Broadcast or a unicast address is no group to join: refused, as by
    // the other drivers, before anything reaches the device.
    for bad in [MacAddr::BROADCAST, A] {
        let e = port.set_mc_addr_list(&[G, bad]).unwrap_err().to_string();
        assert!(e.contains("is not a multicast group address"), "{e}");
    }
    assert!(take(&dev).is_empty(), "{rings:?}");
    port.set_mc_addr_list(&[G]).unwrap();
    let both = vec![1, 0, 0, 0, 2, 0, 0, 0, 0, 0x11, 1, 0, 0, 0, 1, 0, 0x5e, 0, 0, 1];
    assert_eq!(take(&dev), vec![(1, 0, both)]);
    port.set_mac_address(MacAddr([2, 0, 0, 0, 0, 0x22])).unwrap();
    assert_eq!(take(&dev), vec![(1, 1, vec![2, 0, 0, 0, 0, 0x22])]);
    assert_eq!(port.mac_addrs(), [MacAddr([2, 0, 0, 0, 0, 0x22]), A]);
    port.mac_addr_remove(A).unwrap();
    assert_eq!(take(&dev), vec![(1, 0, vec![0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0x5e, 0, 0, 1])]);
    // 3 descriptors a command round a 64-entry ring, many times.
    for i in 0..200 {
        port.set_rx_mode(RxMode { promiscuous: i % 2 == 0, all_multicast: true }).unwrap();
    }
    assert_eq!(take(&dev).len(), 200, "{rings:?}");
    drop(q);
    port.stop().unwrap();
    // Stopped: kept, and sent again by the next open.
    port.set_rx_mode(PROMISC_OFF).unwrap();
    assert!(take(&dev).is_empty());
    let _q = port.open().unwrap();
    let again = take(&dev);
    assert_eq!(again[0], (1, 1, vec![2, 0, 0, 0, 0, 0x22]), "{rings:?}");
    assert_eq!(again[1..3], [(0, 0, vec![0]), (0, 1, vec![0])]);
    assert_eq!(again[3], (1, 0, vec![0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0x5e, 0, 0, 1]));
}

#[test]
fn a_refused_command_is_an_error_naming_it_and_changes_nothing() {
    for rings in ALL_RINGS {
        let (mut port, dev) = ring_port(rings, 256);
        let pool = pool(1024);
        let _q = open(&mut port, &pool, RxOffloads::empty(), 256);
        reply(&dev, CtrlReply::Nak);
        let e = port.set_rx_mode(PROMISC_OFF).unwrap_err().to_string();
        assert!(e.contains("refused VIRTIO_NET_CTRL_RX_PROMISC"), "{rings:?}: {e}");
        assert!(port.rx_mode().promiscuous);
        let e = port.mac_addr_add(A).unwrap_err().to_string();
        assert!(e.contains("refused VIRTIO_NET_CTRL_MAC_TABLE_SET"), "{e}");
        assert_eq!(port.mac_addrs().len(), 1);
        reply(&dev, CtrlReply::Ack);
        port.set_rx_mode(PROMISC_OFF).unwrap();
        assert!(!port.rx_mode().promiscuous);
    }
}

#[test]
fn a_device_that_never_answers_times_out_and_the_next_open_works() {
    for rings in ALL_RINGS {
        let (mut port, dev) = ring_port(rings, 256);
        port.ctrl_timeout = Duration::from_millis(30);
        let pool = pool(1024);
        let q = open(&mut port, &pool, RxOffloads::empty(), 256);
        reply(&dev, CtrlReply::Silent);
        let e = port.set_rx_mode(PROMISC_OFF).unwrap_err();
        assert!(
            matches!(&e, PortError::Timeout(m) if m.contains("did not complete VIRTIO_NET_CTRL_RX_PROMISC")),
            "{e}"
        );
        assert!(port.rx_mode().promiscuous, "{rings:?}");
        let e = port.mac_addr_add(A).unwrap_err().to_string();
        assert!(e.contains("never completed"), "{e}");
        drop(q);
        port.stop().unwrap();
        assert_eq!(stat(&port, "mbufs_left_to_device"), 0);
        assert_eq!(pool.in_use(), 0, "every receive buffer back in its pool");
        reply(&dev, CtrlReply::Ack);
        let _q = port.open().unwrap();
        port.set_rx_mode(PROMISC_OFF).unwrap();
        assert_eq!(take(&dev).last(), Some(&(0, 0, vec![0])), "{rings:?}");
    }
}

#[test]
fn an_open_whose_commands_fail_fails_and_leaves_the_device_reset() {
    let (mut port, dev) = ring_port(Rings::Split, 256);
    let pool = pool(1024);
    reply(&dev, CtrlReply::Nak);
    let conf = PortConfig { rx_ring_size: 256, tx_ring_size: 256, ..PortConfig::default() };
    port.configure(&conf, &pool).unwrap();
    let e = port.open().err().expect("refused").to_string();
    assert!(e.contains("refused VIRTIO_NET_CTRL_RX_PROMISC"), "{e}");
    assert!(!port.is_running());
    assert_eq!(dev.lock().unwrap().status, 0, "reset");
    assert_eq!(pool.in_use(), 0);
}

fn mq_port(rings: Rings, pairs: u16) -> (VirtioPort, Arc<Mutex<Dev>>) {
    let dev = Dev::with_pairs(rings.features() | bit(NET_F_MQ), 256, pairs);
    let args = DeviceArgs { packed_vq: true };
    let port = VirtioPort::probe("fake", fake::transport(&dev), IovaMode::Va, None, true, args).unwrap();
    (port, dev)
}

#[test]
fn multi_queue_sets_up_the_pairs_asked_for_and_tells_the_device() {
    for rings in ALL_RINGS {
        let (mut port, dev) = mq_port(rings, 4);
        let pool = pool(4096);
        assert!(port.features().has(NET_F_MQ));
        assert_eq!((port.caps().max_rx_queues, port.channels().max_rx, port.channels().rx), (4, 4, 1));
        let conf = |rx, tx| PortConfig {
            rx_queues: rx,
            tx_queues: tx,
            rx_ring_size: 64,
            tx_ring_size: 64,
            ..PortConfig::default()
        };
        let e = port.configure(&conf(5, 5), &pool).unwrap_err().to_string();
        assert!(e.contains("5 queue pairs") && e.contains("at most 4"), "{e}");
        let e = port.configure(&conf(2, 3), &pool).unwrap_err().to_string();
        assert!(e.contains("--rxq N --txq N"), "{e}");
        port.configure(&conf(2, 2), &pool).unwrap();
        let mut q = port.open().unwrap();
        assert_eq!((q.rx.len(), q.tx.len(), port.channels().rx, port.channels().tx), (2, 2, 2, 2));
        assert_eq!(take(&dev)[0], (4, 0, vec![2, 0]), "VQ_PAIRS_SET first, {rings:?}");
        {
            let d = dev.lock().unwrap();
            let enabled: Vec<u16> = d.queues.iter().map(|q| q.enable).collect();
            assert_eq!(enabled, [1, 1, 1, 1, 0, 0, 0, 0, 1], "pairs 0-1 and the control queue 8, {rings:?}");
        }
        // Pair 1's transmit queue is virtqueue 3.
        let mut batch = MbufBatch::new();
        batch.push(frame_mbuf(&pool, &pattern(60, 1))).unwrap();
        assert_eq!(q.tx[1].tx_burst(&mut batch), 1);
        let mut d = dev.lock().unwrap();
        let (_, chain) = d.pop_avail(3).expect("the frame on virtqueue 3");
        assert_eq!(chain.iter().map(|c| c.len).sum::<u32>(), (NET_HDR_LEN + 60) as u32);
        assert!(d.pop_avail(1).is_none(), "nothing on pair 0");
        assert_eq!(port.stats64().rx_queues.len(), 2);
    }
}

#[test]
fn vlan_filtering_negotiates_ctrl_vlan_and_sets_every_entry() {
    let (mut port, dev) = ring_port(Rings::SplitEventIdx, 256);
    let pool = pool(1024);
    assert!(port.caps().rx_offload_capa.contains(RxOffloads::VLAN_FILTER));
    // Without the offload CTRL_VLAN is declined: the device lets every VLAN in.
    let q = open(&mut port, &pool, RxOffloads::empty(), 256);
    assert!(!port.features().has(NET_F_CTRL_VLAN));
    assert!(take(&dev).iter().all(|c| c.0 != CTRL_CLASS_VLAN));
    drop(q);
    port.stop().unwrap();
    port.vlan_filter_set(5, true).unwrap();
    let _q = open(&mut port, &pool, RxOffloads::VLAN_FILTER, 256);
    assert!(port.features().has(NET_F_CTRL_VLAN));
    let vlan: Cmds = take(&dev).into_iter().filter(|c| c.0 == CTRL_CLASS_VLAN).collect();
    assert_eq!(vlan.len(), 4096);
    assert!(vlan.iter().enumerate().all(|(i, c)| c.2 == (i as u16).to_le_bytes()), "every ID in order");
    let added: Vec<u16> =
        vlan.iter().filter(|c| c.1 == CTRL_VLAN_ADD).map(|c| u16::from_le_bytes([c.2[0], c.2[1]])).collect();
    assert_eq!(added, [5]);
    port.vlan_filter_set(7, true).unwrap();
    assert_eq!(take(&dev), vec![(2, 0, vec![7, 0])]);
    assert_eq!(port.vlan_filters(), [5, 7]);
    assert!(port.vlan_filter_set(4096, true).unwrap_err().to_string().contains("4096"));
}
