//! The driver against a virtio-net device in software ([`fake`]): the init
//! handshake and its refusals, queue setup, transmit and receive through
//! the rings in DMA memory, mergeable buffers, malformed completions, ring
//! wrap-around, reset on stop, and the allocation-free datapath; the
//! datapath tests run on every ring layout and notification scheme a port
//! can negotiate ([`Rings`]), and EVENT_IDX's doorbell rule has its own.

mod ctrl;
mod fake;
mod interrupts;
mod offloads;
mod rx_csum;

use std::sync::{Arc, Mutex};

use fake::{Dev, MAC, NOTIFY_MULT};
use ferrite_hugepages::{Fallback, IovaMode};

use super::regs::*;
use super::{DeviceArgs, VirtioPort};
use crate::mem::{Mbuf, MbufBatch, MempoolConfig, HEADROOM};
use crate::port::{NetDevice, PortConfig, PortError, Queues, RxMode, RxOffloads, TxOffloads};
use crate::{EthtoolOps, Mempool};

const RX: usize = RX_QUEUE_0 as usize;
const TX: usize = TX_QUEUE_0 as usize;

fn pool(n: usize) -> Mempool {
    let mut cfg = MempoolConfig::new("virtio-test", n);
    cfg.cache_size = 0;
    cfg.dma.fallback = Fallback::SmallPages;
    Mempool::new(&cfg).unwrap()
}

/// A port probed on a fake device offering `features`, queues of `qmax`.
fn port_on(features: u64, qmax: u16, iommu: bool) -> Result<(VirtioPort, Arc<Mutex<Dev>>), PortError> {
    let dev = Dev::new(features, qmax);
    // Packed rings when offered (opt-in for users: see `DeviceArgs`).
    let args = DeviceArgs { packed_vq: true };
    let port = VirtioPort::probe("fake", fake::transport(&dev), IovaMode::Va, None, iommu, args)?;
    Ok((port, dev))
}

fn qemu_port(qmax: u16) -> (VirtioPort, Arc<Mutex<Dev>>) {
    port_on(fake::qemu_features(), qmax, true).unwrap()
}

/// What the device offers, and so what the rings become: the layout, and
/// whether VIRTIO_F_EVENT_IDX replaces the notification flags. `Packed`
/// offers EVENT_IDX too (QEMU's default `event_idx=on`), which the port
/// declines with packed rings (see `virtq::packed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rings {
    Split,
    SplitEventIdx,
    Packed,
}

const ALL_RINGS: [Rings; 3] = [Rings::Split, Rings::SplitEventIdx, Rings::Packed];

impl Rings {
    fn packed(self) -> bool {
        self == Rings::Packed
    }

    /// Whether the port runs with EVENT_IDX.
    fn event_idx(self) -> bool {
        self == Rings::SplitEventIdx
    }

    /// QEMU's features with RING_PACKED (`packed=on`) and RING_EVENT_IDX
    /// as this variant offers them.
    fn features(self) -> u64 {
        let mut f = fake::qemu_features() & !bit(F_RING_EVENT_IDX) & !bit(F_RING_PACKED);
        if self.packed() {
            f |= bit(F_RING_PACKED) | bit(F_RING_EVENT_IDX);
        }
        if self.event_idx() {
            f |= bit(F_RING_EVENT_IDX);
        }
        f
    }
}

/// A port on a fake device offering `rings`' features, queues of `qmax`.
fn ring_port(rings: Rings, qmax: u16) -> (VirtioPort, Arc<Mutex<Dev>>) {
    let (port, dev) = port_on(rings.features(), qmax, true).unwrap();
    assert_eq!(port.features().has(F_RING_PACKED), rings.packed(), "{rings:?}");
    assert_eq!(port.features().has(F_RING_EVENT_IDX), rings.event_idx(), "{rings:?}");
    (port, dev)
}

fn open(port: &mut VirtioPort, pool: &Mempool, rx: RxOffloads, rings: u16) -> Queues {
    let conf = PortConfig {
        rx_ring_size: rings,
        tx_ring_size: rings,
        rx_offloads: rx,
        tx_offloads: TxOffloads::MULTI_SEGS,
        ..PortConfig::default()
    };
    port.configure(&conf, pool).unwrap();
    port.open().unwrap()
}

fn stat(port: &VirtioPort, name: &str) -> u64 {
    port.named_stats().into_iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no stat {name}")).1
}

/// `len` bytes that differ from one position to the next and from one
/// frame (`seed`) to the next.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(7).wrapping_add(seed.wrapping_mul(13)) as u8).collect()
}

fn frame_mbuf(pool: &Mempool, bytes: &[u8]) -> Mbuf {
    let mut m = pool.alloc().unwrap();
    assert!(m.set_len(bytes.len()));
    m.data_mut().copy_from_slice(bytes);
    m
}

fn contents(m: &Mbuf) -> Vec<u8> {
    let mut v = vec![0; m.len()];
    assert_eq!(m.read(0, &mut v), m.len());
    v
}

// ----- initialisation -----

#[test]
fn probe_negotiates_what_the_driver_uses_and_reads_the_config() {
    for rings in ALL_RINGS {
        let (port, dev) = ring_port(rings, 256);
        let d = dev.lock().unwrap();
        let mut want =
            bit(F_VERSION_1) | bit(F_ACCESS_PLATFORM) | bit(NET_F_MAC) | bit(NET_F_STATUS) | bit(NET_F_MRG_RXBUF);
        // The control queue and what goes through it; CTRL_VLAN waits for
        // an open that filters VLANs.
        want |= bit(NET_F_CTRL_VQ) | bit(NET_F_CTRL_RX) | bit(NET_F_CTRL_MAC_ADDR);
        // The ring kind and notification scheme offered (EVENT_IDX never
        // with packed rings), and the transmit offloads: the fake offers
        // what QEMU offers on a tap wire, HOST_TSO6 aside.
        let offloads = bit(NET_F_CSUM) | bit(NET_F_HOST_TSO4);
        want |= rings.features() & (bit(F_RING_PACKED) | offloads);
        if rings.event_idx() {
            want |= bit(F_RING_EVENT_IDX);
        }
        assert_eq!(d.driver, want, "{rings:?} accepted: {:?}", feature_names(d.driver));
        assert_eq!(port.features().features, want);
        // The spec's order, from a reset: ACKNOWLEDGE, DRIVER, FEATURES_OK.
        let ack = STATUS_ACKNOWLEDGE;
        assert_eq!(d.status_log, [0, ack, ack | STATUS_DRIVER, ack | STATUS_DRIVER | STATUS_FEATURES_OK]);
        drop(d);
        assert_eq!(port.mac_address().0, MAC);
        assert!(port.link_status().up);
        assert_eq!(port.mtu(), 1500);
        let info = port.drvinfo();
        assert_eq!(info.driver, "virtio_net");
        assert!(info.fw_version.contains("MRG_RXBUF") && info.fw_version.contains("CTRL_RX"), "{info:?}");
        // The ring kind and the notification scheme show by name.
        assert_eq!(info.fw_version.contains("RING_PACKED"), rings.packed(), "{info:?}");
        assert_eq!(info.fw_version.contains("RING_EVENT_IDX"), rings.event_idx(), "{info:?}");
        assert_eq!(stat(&port, "features_offered"), rings.features());
    }
}

#[test]
fn packed_vq_0_declines_packed_rings_and_the_port_runs_split_ones() {
    let dev = Dev::new(Rings::Packed.features(), 64);
    let args = DeviceArgs { packed_vq: false };
    let mut port = VirtioPort::probe("fake", fake::transport(&dev), IovaMode::Va, None, true, args).unwrap();
    assert!(!port.features().has(F_RING_PACKED) && port.features().has(F_RING_EVENT_IDX));
    assert!(!port.drvinfo().fw_version.contains("RING_PACKED"));
    let pool = pool(512);
    let mut q = open(&mut port, &pool, RxOffloads::empty(), 64);
    assert!(!dev.lock().unwrap().packed(), "the device runs split rings");
    let mut batch = MbufBatch::new();
    batch.push(frame_mbuf(&pool, &pattern(60, 1))).unwrap();
    assert_eq!(q.tx[0].tx_burst(&mut batch), 1);
    let sent = dev.lock().unwrap().tx_all();
    assert_eq!(sent[0].1, pattern(60, 1));
    assert!(dev.lock().unwrap().rx_frame(&pattern(70, 2), true));
    assert_eq!(q.rx[0].rx_burst(&mut batch, 32), 1);
    assert_eq!(batch.as_slice()[0].data(), &pattern(70, 2)[..]);
    drop((batch, q));
    // A stop and reopen negotiates the same way again.
    port.stop().unwrap();
    let q = port.open().unwrap();
    assert!(!dev.lock().unwrap().packed());
    drop(q);
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn a_device_without_version_1_is_refused_and_marked_failed() {
    let legacy = fake::qemu_features() & !bit(F_VERSION_1);
    let e = port_on(legacy, 256, true).err().expect("refused").to_string();
    assert!(e.contains("VERSION_1") && e.contains("disable-legacy=on"), "{e}");
    let dev = Dev::new(legacy, 256);
    let _ = VirtioPort::probe("fake", fake::transport(&dev), IovaMode::Va, None, true, DeviceArgs::default());
    assert_ne!(dev.lock().unwrap().status & STATUS_FAILED, 0, "FAILED set");
    assert_eq!(dev.lock().unwrap().status & STATUS_FEATURES_OK, 0, "never got to FEATURES_OK");
}

#[test]
fn access_platform_is_required_behind_an_iommu_only() {
    let no_ap = fake::qemu_features() & !bit(F_ACCESS_PLATFORM);
    let e = port_on(no_ap, 256, true).err().expect("refused").to_string();
    assert!(e.contains("ACCESS_PLATFORM") && e.contains("iommu_platform=on"), "{e}");
    let (port, _) = port_on(no_ap, 256, false).expect("without an IOMMU the device may use physical addresses");
    assert_eq!(port.features().features & bit(F_ACCESS_PLATFORM), 0);
}

#[test]
fn features_ok_that_does_not_stick_fails_the_device() {
    let dev = Dev::new(fake::qemu_features(), 256);
    dev.lock().unwrap().refuse_features_ok = true;
    let probe = VirtioPort::probe("fake", fake::transport(&dev), IovaMode::Va, None, true, DeviceArgs::default());
    let e = probe.err().unwrap().to_string();
    assert!(e.contains("FEATURES_OK did not stick"), "{e}");
    assert_ne!(dev.lock().unwrap().status & STATUS_FAILED, 0);
}

#[test]
fn a_transitional_device_gets_told_what_to_change() {
    let e = super::legacy_error("0000:01:00.0").to_string();
    assert!(e.contains("1af4:1000") && e.contains("disable-legacy=on"), "{e}");
    assert!(super::supports(0x1af4, 0x1041) && !super::supports(0x1af4, 0x1000));
}

#[test]
fn mtu_from_the_device_bounds_the_port() {
    let (port, _) = port_on(fake::qemu_features() | bit(NET_F_MTU), 256, true).unwrap();
    assert_eq!(port.caps().max_mtu, 1500, "VIRTIO_NET_F_MTU: the device's MTU is the limit");
    let (port, _) = qemu_port(256);
    assert_eq!(port.caps().max_mtu, super::DEFAULT_MAX_MTU);
}

#[test]
fn open_sets_queues_up_then_driver_ok_and_kicks_receive_once() {
    for rings in ALL_RINGS {
        let (mut port, dev) = ring_port(rings, 256);
        let pool = pool(1024);
        // 512 asked, the device allows 256: reduced, as DPDK does.
        let q = open(&mut port, &pool, RxOffloads::empty(), 512);
        assert_eq!(port.ringparam().rx, 256);
        {
            let d = dev.lock().unwrap();
            assert_ne!(d.status & STATUS_DRIVER_OK, 0);
            assert_eq!(d.packed(), rings.packed());
            for i in [RX, TX] {
                let qq = d.queues[i];
                assert_eq!((qq.size, qq.enable, qq.msix), (256, 1, VIRTIO_MSI_NO_VECTOR), "queue {i}");
                // Split: 16, 2, 4; packed: 16, 4, 4.
                assert!(qq.desc % 16 == 0 && qq.avail % 4 == 0 && qq.used % 4 == 0, "spec alignments");
                // We poll: no used-buffer notifications, by the means the
                // negotiated features give.
                match rings {
                    Rings::Split => assert_eq!(d.avail_flags(i), 1, "VIRTQ_AVAIL_F_NO_INTERRUPT"),
                    Rings::SplitEventIdx => {
                        assert_eq!(d.avail_flags(i), 0, "flags must be 0 with EVENT_IDX");
                        assert_eq!(d.used_event(i), 0xFFFF, "one behind used index 0");
                    }
                    Rings::Packed => {
                        assert_eq!(d.driver_event(i).1, 1, "driver event suppression DISABLE")
                    }
                }
            }
            assert_eq!(d.avail_count(RX), 256, "every receive buffer made available");
            assert_eq!(d.avail_count(TX), 0);
            assert_eq!((d.notifies[RX], d.notifies[TX], d.bad_notifies), (1, 0, 0));
            // The control queue is the third, and rang once per command
            // (promiscuous, all-multicast, the MAC table).
            assert_eq!((d.queues[2].enable, d.notifies[2], d.commands.len()), (1, 3, 3));
        }
        assert_eq!(pool.in_use(), 256);
        drop(q);
        port.stop().unwrap();
        assert_eq!(dev.lock().unwrap().status, 0, "stop resets the device");
        assert_eq!(pool.available(), pool.capacity());
    }
}

#[test]
fn more_queues_than_the_device_has_and_filters_it_lacks_are_refused_with_the_reason() {
    let (mut port, _) = qemu_port(256);
    let pool = pool(512);
    let e = port.configure(&PortConfig { rx_queues: 2, tx_queues: 2, ..PortConfig::default() }, &pool);
    let e = e.unwrap_err().to_string();
    assert!(e.contains("at most 1") && e.contains("VIRTIO_NET_F_MQ"), "{e}");
    let e = port.configure(&PortConfig { rx_offloads: RxOffloads::VLAN_STRIP, ..PortConfig::default() }, &pool);
    assert!(e.unwrap_err().to_string().contains("vlan_strip"));
    // No control queue: the device receives everything, and says so.
    let (mut port, _) = port_on(fake::qemu_features() & !bit(NET_F_CTRL_VQ), 256, true).unwrap();
    assert!(port.set_rx_mode(RxMode { promiscuous: true, all_multicast: true }).is_ok());
    let e = port.set_rx_mode(RxMode::default()).unwrap_err();
    assert!(matches!(e, PortError::NotSupported(m) if m.contains("CTRL_RX")), "{e}");
    assert!(port.rx_mode().promiscuous);
    let e = port.mac_addr_add(crate::port::MacAddr([2, 0, 0, 0, 0, 9])).unwrap_err().to_string();
    assert!(e.contains("CTRL_RX"), "{e}");
    assert!(!port.caps().rx_offload_capa.contains(RxOffloads::VLAN_FILTER));
}

// ----- transmit -----

#[test]
fn transmit_prepends_a_zero_header_and_sends_every_shape() {
    for rings in ALL_RINGS {
        transmit_every_shape(rings);
    }
}

fn transmit_every_shape(rings: Rings) {
    let (mut port, dev) = ring_port(rings, 64);
    let pool = pool(512);
    let mut q = open(&mut port, &pool, RxOffloads::empty(), 64);
    let mut batch = MbufBatch::new();
    // A one-buffer frame, a three-segment chain, and a frame whose
    // headroom is used up (the header then takes a descriptor of its own).
    let a = pattern(60, 1);
    let b = pattern(3000, 2);
    let c = pattern(200, 3);
    batch.push(frame_mbuf(&pool, &a)).unwrap();
    let mut chain = frame_mbuf(&pool, &b[..1000]);
    chain.chain(frame_mbuf(&pool, &b[1000..2500])).unwrap();
    chain.chain(frame_mbuf(&pool, &b[2500..])).unwrap();
    batch.push(chain).unwrap();
    // The frame starts 4 bytes into the buffer: no room for the header.
    let mut full = pool.alloc().unwrap();
    full.prepend(HEADROOM - 4).unwrap().copy_from_slice(&c[..HEADROOM - 4]);
    full.append(200 - (HEADROOM - 4)).unwrap().copy_from_slice(&c[HEADROOM - 4..]);
    assert!(full.headroom() < NET_HDR_LEN);
    batch.push(full).unwrap();
    let kicks = dev.lock().unwrap().notifies[TX];
    if rings.event_idx() {
        // An idle device asks to hear of the next descriptor.
        dev.lock().unwrap().ask_kick_at(TX, 0);
    }
    assert_eq!(q.tx[0].tx_burst(&mut batch), 3);
    assert!(batch.is_empty());
    assert_eq!(dev.lock().unwrap().notifies[TX], kicks + 1, "one doorbell for the burst");
    // Six descriptors: a packed ring counts them, a split one the chains.
    let made_available = if rings.packed() { 1 + 3 + 2 } else { 3 };
    assert_eq!(dev.lock().unwrap().avail_count(TX), made_available, "{rings:?}");
    let sent = dev.lock().unwrap().tx_all();
    assert_eq!(sent.len(), 3);
    for ((hdr, bytes), want) in sent.iter().zip([&a, &b, &c]) {
        assert_eq!(hdr, &[0u8; NET_HDR_LEN], "no offload asked: the header is all zero");
        assert_eq!(bytes, want);
    }
    assert_eq!(stat(&port, "tx_separate_headers"), 1);
    assert_eq!(port.stats64().tx_queues[0].packets, 3);
    assert_eq!(port.stats64().tx_queues[0].bytes, 60 + 3000 + 200);
    assert_eq!(q.tx[0].tx_done_cleanup(), 3, "all three completed and freed");
    assert_eq!(dev.lock().unwrap().interrupts(TX), 0, "{rings:?}: no used-buffer notification");
    drop(q);
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn a_full_ring_takes_what_fits_and_no_kick_while_the_device_says_no() {
    for rings in ALL_RINGS {
        full_ring(rings);
    }
}

fn full_ring(rings: Rings) {
    let (mut port, dev) = ring_port(rings, 32);
    let pool = pool(512);
    let mut q = open(&mut port, &pool, RxOffloads::empty(), 32);
    let mut batch = MbufBatch::new();
    for i in 0..40 {
        batch.push(frame_mbuf(&pool, &pattern(64, i))).unwrap();
    }
    // The device does not want a doorbell for these: the flag, or with
    // EVENT_IDX a kick only at descriptor 32, which this burst does not
    // reach (the flag is then ignored, so it is set to say "kick").
    if rings.event_idx() {
        dev.lock().unwrap().set_no_notify(TX, false);
        dev.lock().unwrap().ask_kick_at(TX, 32);
    } else {
        dev.lock().unwrap().set_no_notify(TX, true);
    }
    let kicks = dev.lock().unwrap().notifies[TX];
    assert_eq!(q.tx[0].tx_burst(&mut batch), 32, "32 descriptors, 32 frames");
    assert_eq!(batch.len(), 8, "the rest stay with the caller");
    assert_eq!(dev.lock().unwrap().notifies[TX], kicks, "{rings:?}: no doorbell");
    assert_eq!(q.tx[0].tx_burst(&mut batch), 0, "still full");
    if !rings.event_idx() {
        dev.lock().unwrap().set_no_notify(TX, false);
    }
    let sent = dev.lock().unwrap().tx_all();
    assert_eq!(sent.len(), 32);
    assert_eq!(q.tx[0].tx_burst(&mut batch), 8, "room again once the device used them");
    // The ring filled once: two bursts cut short in a row (32 of 40, then
    // 0 of 8) are one stop, as Linux counts it.
    assert_eq!((stat(&port, "tx_queue_0_restart"), stat(&port, "tx_restart_queue")), (1, 1), "{rings:?}");
    assert_eq!(dev.lock().unwrap().notifies[TX], kicks + 1, "{rings:?}");
    let sent: Vec<_> = dev.lock().unwrap().tx_all();
    assert_eq!(
        sent.iter().map(|(_, f)| f.clone()).collect::<Vec<_>>(),
        (32..40).map(|i| pattern(64, i)).collect::<Vec<_>>()
    );
    // Empty and overlong frames are taken, dropped and counted.
    batch.push(pool.alloc().unwrap()).unwrap();
    let mut long = frame_mbuf(&pool, &pattern(2000, 0));
    for _ in 0..5 {
        long.chain(frame_mbuf(&pool, &pattern(2000, 1))).unwrap();
    }
    batch.push(long).unwrap();
    assert_eq!(q.tx[0].tx_burst(&mut batch), 2);
    assert_eq!((stat(&port, "tx_bad_frames"), port.stats64().tx_queues[0].drops), (2, 2));
    crate::port::stat_names::assert_documented("virtio", port.stat_names());
    drop(q);
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

/// Packed rings decline EVENT_IDX though the device offers it, and kick
/// on every publish unless the device says DISABLE. In particular a device
/// that leaves DESC mode with an offset the driver passed long ago (what
/// QEMU's packed ring does, see `virtq::packed`) still gets its doorbells;
/// trusting the offset stalled an unpaced sender in the guest.
#[test]
fn a_packed_ring_kicks_on_every_publish_unless_the_device_disables_them() {
    let (mut port, dev) = ring_port(Rings::Packed, 64);
    let pool = pool(512);
    let mut q = open(&mut port, &pool, RxOffloads::empty(), 64);
    let mut batch = MbufBatch::new();
    let mut sent = 0u64;
    for burst in 0..60u64 {
        let disabled = burst % 3 == 1;
        match burst % 3 {
            0 => dev.lock().unwrap().set_no_notify(TX, false),
            1 => dev.lock().unwrap().set_no_notify(TX, true),
            // DESC naming the first descriptor ever made available.
            _ => dev.lock().unwrap().ask_kick_at(TX, 0),
        }
        for i in 0..5 {
            batch.push(frame_mbuf(&pool, &pattern(60, (sent + i) as u32))).unwrap();
        }
        let before = dev.lock().unwrap().notifies[TX];
        assert_eq!(q.tx[0].tx_burst(&mut batch), 5);
        let kicked = dev.lock().unwrap().notifies[TX] - before;
        assert_eq!(kicked, u32::from(!disabled), "burst {burst}");
        assert_eq!(dev.lock().unwrap().tx_all().len(), 5);
        sent += 5;
    }
    assert!(sent > 4 * 64, "several laps of the ring");
    drop(q);
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

/// EVENT_IDX (split rings): the device names the index it wants a
/// doorbell for; a burst kicks exactly when it makes that index available,
/// across the 16-bit index wrap, and the NO_NOTIFY flag is ignored.
#[test]
fn with_event_idx_exactly_the_bursts_that_reach_the_asked_index_kick() {
    for rings in [Rings::SplitEventIdx] {
        let (mut port, dev) = ring_port(rings, 64);
        let pool = pool(512);
        let mut q = open(&mut port, &pool, RxOffloads::empty(), 64);
        dev.lock().unwrap().set_no_notify(TX, true);
        let mut batch = MbufBatch::new();
        let (mut sent, mut kicks_wanted) = (0u64, 0u32);
        for burst in 0..9500u64 {
            // The asked index moves around the burst's range [sent, sent + 7):
            // before it, at each of its descriptors, and just after it.
            let k = (sent + burst % 9).wrapping_sub(1);
            let wanted = (sent..sent + 7).contains(&k);
            dev.lock().unwrap().ask_kick_at(TX, k);
            for i in 0..7 {
                batch.push(frame_mbuf(&pool, &pattern(60, (sent + i) as u32))).unwrap();
            }
            let before = dev.lock().unwrap().notifies[TX];
            assert_eq!(q.tx[0].tx_burst(&mut batch), 7);
            let kicked = dev.lock().unwrap().notifies[TX] - before;
            assert_eq!(kicked, u32::from(wanted), "{rings:?}: burst {burst} of [{sent}, {}), asked {k}", sent + 7);
            kicks_wanted += u32::from(wanted);
            assert_eq!(dev.lock().unwrap().tx_all().len(), 7);
            sent += 7;
        }
        assert!(sent > 65536, "past the 16-bit wrap");
        assert_eq!(dev.lock().unwrap().notifies[TX], kicks_wanted);
        assert_eq!(dev.lock().unwrap().interrupts(TX), 0, "{rings:?}: used_event never matched");
        drop(q);
        port.stop().unwrap();
        assert_eq!(pool.available(), pool.capacity());
    }
}

#[test]
fn transmit_completions_for_unknown_ids_are_counted_and_skipped() {
    for rings in ALL_RINGS {
        let (mut port, dev) = ring_port(rings, 64);
        let pool = pool(512);
        let mut q = open(&mut port, &pool, RxOffloads::empty(), 64);
        let mut batch = MbufBatch::new();
        for i in 0..3 {
            batch.push(frame_mbuf(&pool, &pattern(60, i))).unwrap();
        }
        assert_eq!(q.tx[0].tx_burst(&mut batch), 3);
        {
            let mut d = dev.lock().unwrap();
            // The first frame completes; the second is reported under an id
            // out of range, then the third under an id in range but not in
            // flight (the first, again).
            let (first, _) = d.pop_avail(TX).unwrap();
            d.push_used(TX, &[(first as u32, 0)]);
            d.bogus_used(TX, 5000, 0);
            d.bogus_used(TX, first as u32, 0);
        }
        assert_eq!(q.tx[0].tx_done_cleanup(), 1, "{rings:?}: only the real completion frees a frame");
        assert_eq!(stat(&port, "tx_bad_used_ids"), 2);
        assert_eq!(port.stats64().tx_queues[0].errors, 2);
        // The queue goes on: more frames out and back.
        for i in 3..6 {
            batch.push(frame_mbuf(&pool, &pattern(60, i))).unwrap();
        }
        assert_eq!(q.tx[0].tx_burst(&mut batch), 3);
        let sent = dev.lock().unwrap().tx_all();
        assert_eq!(
            sent.iter().map(|(_, f)| f.clone()).collect::<Vec<_>>(),
            (3..6).map(|i| pattern(60, i)).collect::<Vec<_>>()
        );
        assert_eq!(q.tx[0].tx_done_cleanup(), 3);
        // The two misreported frames are the device's until the reset.
        drop(q);
        port.stop().unwrap();
        assert_eq!(pool.available(), pool.capacity());
    }
}

// ----- receive -----

#[test]
fn received_frames_start_at_the_usual_data_offset() {
    for rings in ALL_RINGS {
        received_frames_start_at_the_usual_data_offset_on(rings);
    }
}

fn received_frames_start_at_the_usual_data_offset_on(rings: Rings) {
    let (mut port, dev) = ring_port(rings, 64);
    let pool = pool(512);
    let mut q = open(&mut port, &pool, RxOffloads::empty(), 64);
    for i in 0..10 {
        assert!(dev.lock().unwrap().rx_frame(&pattern(60 + i, i as u32), true));
    }
    let mut batch = MbufBatch::new();
    assert_eq!(q.rx[0].rx_burst(&mut batch, 32), 10);
    for (i, m) in batch.iter().enumerate() {
        assert_eq!(m.data(), &pattern(60 + i, i as u32)[..]);
        assert_eq!(m.headroom(), HEADROOM, "the header stayed in the headroom");
        assert_eq!(m.queue(), 0);
    }
    assert_eq!(port.stats64().rx_queues[0].packets, 10);
    assert_eq!(port.stats64().rx_queues[0].bytes, (60..70).sum::<u64>());
    drop((batch, q));
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn a_poll_that_finds_every_buffer_used_counts_the_ring_exhausted() {
    for rings in ALL_RINGS {
        a_poll_that_finds_every_buffer_used_counts_the_ring_exhausted_on(rings);
    }
}

fn a_poll_that_finds_every_buffer_used_counts_the_ring_exhausted_on(rings: Rings) {
    let (mut port, dev) = ring_port(rings, 64);
    let pool = pool(512);
    let mut q = open(&mut port, &pool, RxOffloads::empty(), 64);
    let mut batch = MbufBatch::new();
    // Some buffers used, some still posted: not exhausted.
    for i in 0..10 {
        assert!(dev.lock().unwrap().rx_frame(&pattern(60, i), false));
    }
    assert_eq!(q.rx[0].rx_burst(&mut batch, 64), 10);
    assert_eq!(stat(&port, "rx_buffers_exhausted"), 0);
    batch.clear();
    // The device fills every posted buffer and finds no more.
    let mut n = 0;
    while dev.lock().unwrap().rx_frame(&pattern(60, n), false) {
        n += 1;
    }
    assert!(n > 32, "the refill posted buffers again ({n} frames fitted)");
    let mut got = 0;
    while got < n as usize {
        got += q.rx[0].rx_burst(&mut batch, 32);
        batch.clear();
    }
    assert_eq!(stat(&port, "rx_buffers_exhausted"), 1, "counted once, on the poll that found the ring used up");
    drop(q);
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn a_mergeable_frame_becomes_a_chain_with_scatter_and_a_counted_drop_without() {
    for rings in ALL_RINGS {
        a_mergeable_frame_becomes_a_chain_with_scatter_and_a_counted_drop_without_on(rings);
    }
}

fn a_mergeable_frame_becomes_a_chain_with_scatter_and_a_counted_drop_without_on(rings: Rings) {
    for scatter in [true, false] {
        let (mut port, dev) = ring_port(rings, 64);
        let pool = pool(512);
        let offloads = if scatter { RxOffloads::SCATTER } else { RxOffloads::empty() };
        let mut q = open(&mut port, &pool, offloads, 64);
        if scatter {
            port.change_mtu(9000).unwrap();
        }
        let big = pattern(5000, 9);
        assert!(dev.lock().unwrap().rx_frame(&big, true), "three 2060-byte buffers");
        assert!(dev.lock().unwrap().rx_frame(&pattern(100, 1), true));
        let mut batch = MbufBatch::new();
        let got = q.rx[0].rx_burst(&mut batch, 32);
        if scatter {
            assert_eq!(got, 2);
            assert_eq!(batch.as_slice()[0].nb_segs(), 3);
            assert_eq!(contents(&batch.as_slice()[0]), big);
            assert_eq!(batch.as_slice()[1].data(), &pattern(100, 1)[..]);
        } else {
            assert_eq!(got, 1, "the chain dropped, the next frame delivered");
            assert_eq!(batch.as_slice()[0].data(), &pattern(100, 1)[..]);
            assert_eq!(stat(&port, "rx_unscattered_drops"), 1);
            assert_eq!(port.stats64().rx_queues[0].drops, 1);
        }
        drop((batch, q));
        port.stop().unwrap();
        assert_eq!(pool.available(), pool.capacity(), "scatter {scatter}");
    }
}

#[test]
fn a_chain_split_across_bursts_is_assembled() {
    for rings in ALL_RINGS {
        a_chain_split_across_bursts_is_assembled_on(rings);
    }
}

fn a_chain_split_across_bursts_is_assembled_on(rings: Rings) {
    let (mut port, dev) = ring_port(rings, 64);
    let pool = pool(512);
    let mut q = open(&mut port, &pool, RxOffloads::SCATTER, 64);
    port.change_mtu(9000).unwrap();
    let big = pattern(4000, 5);
    // The device hands the two buffers over in two used-ring updates.
    let first = Dev::with_hdr(2, &big[..2048]);
    dev.lock().unwrap().rx_raw(&first, first.len() as u32);
    let mut batch = MbufBatch::new();
    assert_eq!(q.rx[0].rx_burst(&mut batch, 32), 0, "waiting for the second buffer");
    dev.lock().unwrap().rx_raw(&big[2048..], (4000 - 2048) as u32);
    assert_eq!(q.rx[0].rx_burst(&mut batch, 32), 1);
    assert_eq!(contents(&batch.as_slice()[0]), big);
    drop((batch, q));
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn malformed_completions_are_dropped_and_counted_never_delivered() {
    for rings in ALL_RINGS {
        malformed_completions_are_dropped_and_counted_never_delivered_on(rings);
    }
}

fn malformed_completions_are_dropped_and_counted_never_delivered_on(rings: Rings) {
    let (mut port, dev) = ring_port(rings, 64);
    let pool = pool(512);
    let mut q = open(&mut port, &pool, RxOffloads::SCATTER, 64);
    let ok = pattern(80, 7);
    {
        let mut d = dev.lock().unwrap();
        // Shorter than the header; exactly the header (no frame byte);
        // longer than the buffer the driver gave.
        d.rx_raw(&[0; 8], 8);
        d.rx_raw(&Dev::with_hdr(1, &[]), NET_HDR_LEN as u32);
        d.rx_raw(&Dev::with_hdr(1, &ok), 5000);
        // num_buffers 0, and more than the ring holds.
        d.rx_raw(&Dev::with_hdr(0, &ok), (NET_HDR_LEN + 80) as u32);
        d.rx_raw(&Dev::with_hdr(65, &ok), (NET_HDR_LEN + 80) as u32);
        // A frame over the MTU (1500 + 22).
        assert!(d.rx_frame(&pattern(1523, 0), true));
        // A used entry for a descriptor the device does not hold.
        d.bogus_used(RX, 1000, 60);
        // And a good one after all that.
        assert!(d.rx_frame(&ok, true));
    }
    let mut batch = MbufBatch::new();
    assert_eq!(q.rx[0].rx_burst(&mut batch, 32), 1);
    assert_eq!(batch.as_slice()[0].data(), &ok[..]);
    assert_eq!(stat(&port, "rx_short_frames"), 3);
    assert_eq!(stat(&port, "rx_bad_num_buffers"), 2);
    assert_eq!(stat(&port, "rx_mtu_oversize_drops"), 1);
    assert_eq!(stat(&port, "rx_bad_used_ids"), 1);
    let s = port.stats64().rx_queues[0];
    assert_eq!((s.packets, s.drops, s.errors), (1, 6, 7));
    drop((batch, q));
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn a_refused_first_buffer_takes_its_mergeable_followers_with_it() {
    for rings in ALL_RINGS {
        a_refused_first_buffer_takes_its_mergeable_followers_with_it_on(rings);
    }
}

fn a_refused_first_buffer_takes_its_mergeable_followers_with_it_on(rings: Rings) {
    let (mut port, dev) = ring_port(rings, 64);
    let pool = pool(512);
    let mut q = open(&mut port, &pool, RxOffloads::SCATTER, 64);
    let ok = pattern(80, 9);
    {
        let mut d = dev.lock().unwrap();
        // A three-buffer frame whose first completion claims more than the
        // buffer holds: its two followers carry bytes that, read as a
        // header, would say "one buffer" and deliver payload as frames.
        d.rx_raw(&Dev::with_hdr(3, &ok), 5000);
        d.rx_raw(&Dev::with_hdr(1, &ok), (NET_HDR_LEN + 80) as u32);
        d.rx_raw(&Dev::with_hdr(1, &ok), (NET_HDR_LEN + 80) as u32);
        assert!(d.rx_frame(&ok, true));
    }
    let mut batch = MbufBatch::new();
    assert_eq!(q.rx[0].rx_burst(&mut batch, 32), 1, "only the good frame after the refused one");
    assert_eq!(batch.as_slice()[0].data(), &ok[..]);
    assert_eq!(stat(&port, "rx_short_frames"), 1);
    drop((batch, q));
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

/// Several thousand frames through rings of 64: both rings wrap many
/// times (packed: over a thousand laps of the wrap counters), the
/// free-running 16-bit indexes too (70 000 > 65 536), every frame arrives
/// intact and in order, and the device never had to notify the driver.
/// The device may complete transmit chains in any order: chains of 1 to 4
/// descriptors, completed newest first, many times round a 64-entry ring.
/// On a packed ring a used slot then holds another chain than the one
/// that was made available there, and the driver must step over the
/// completed chain's own length.
#[test]
fn transmit_chains_completed_out_of_order_come_back_whole() {
    for rings in ALL_RINGS {
        let (mut port, dev) = ring_port(rings, 64);
        let pool = pool(512);
        let mut q = open(&mut port, &pool, RxOffloads::empty(), 64);
        let mut batch = MbufBatch::new();
        let mut n = 0u32;
        for round in 0..200u32 {
            let frames = 3 + round % 5;
            for _ in 0..frames {
                let segs = 1 + (n % 4) as usize;
                let bytes = pattern(60 + 40 * segs, n);
                let mut m = frame_mbuf(&pool, &bytes[..40]);
                for k in 1..segs {
                    let end = if k + 1 == segs { bytes.len() } else { 40 * (k + 1) };
                    m.chain(frame_mbuf(&pool, &bytes[40 * k..end])).unwrap();
                }
                batch.push(m).unwrap();
                n += 1;
            }
            assert_eq!(q.tx[0].tx_burst(&mut batch), frames as usize, "{rings:?} round {round}");
            let mut d = dev.lock().unwrap();
            let mut chains = Vec::new();
            while let Some((head, descs)) = d.pop_avail(TX) {
                chains.push((head, descs.len()));
            }
            assert_eq!(chains.len(), frames as usize, "{rings:?} round {round}: one chain per frame");
            let newest_first: Vec<(u32, u32)> = chains.iter().rev().map(|&(head, _)| (head as u32, 0)).collect();
            d.push_used(TX, &newest_first);
            drop(d);
            assert_eq!(q.tx[0].tx_done_cleanup(), frames as usize, "{rings:?} round {round}: all back");
        }
        assert_eq!(stat(&port, "tx_bad_used_ids"), 0, "{rings:?}");
        drop(q);
        port.stop().unwrap();
        assert_eq!(pool.available(), pool.capacity(), "{rings:?}");
    }
}

#[test]
fn thousands_of_frames_wrap_both_rings() {
    for rings in ALL_RINGS {
        thousands_of_frames_wrap_both_rings_on(rings);
    }
}

fn thousands_of_frames_wrap_both_rings_on(rings: Rings) {
    let (mut port, dev) = ring_port(rings, 64);
    let pool = pool(1024);
    let mut q = open(&mut port, &pool, RxOffloads::SCATTER, 64);
    port.change_mtu(9000).unwrap();
    let mut batch = MbufBatch::new();
    let (mut sent, mut received) = (0u32, 0u32);
    while received < 70_000 {
        // Transmit a burst of 20 (every 50th a two-segment chain).
        for _ in 0..20 {
            let bytes = pattern(64 + (sent % 200) as usize, sent);
            let m = if sent.is_multiple_of(50) {
                let mut h = frame_mbuf(&pool, &bytes[..30]);
                h.chain(frame_mbuf(&pool, &bytes[30..])).unwrap();
                h
            } else {
                frame_mbuf(&pool, &bytes)
            };
            batch.push(m).unwrap();
            sent += 1;
        }
        assert_eq!(q.tx[0].tx_burst(&mut batch), 20);
        let frames = dev.lock().unwrap().tx_all();
        // Loop them back into the receive ring; every 97th as a frame
        // spread over two buffers.
        for (i, (_, f)) in frames.iter().enumerate() {
            let n = received + i as u32;
            let mut d = dev.lock().unwrap();
            if n.is_multiple_of(97) {
                let fake_big: Vec<u8> = f.iter().chain(&pattern(2100, n)).copied().collect();
                assert!(d.rx_frame(&fake_big, true));
            } else {
                assert!(d.rx_frame(f, true));
            }
        }
        let got = q.rx[0].rx_burst(&mut batch, 32);
        assert_eq!(got, 20);
        for m in batch.iter() {
            let mut want = pattern(64 + (received % 200) as usize, received);
            if received.is_multiple_of(97) {
                want.extend(pattern(2100, received));
                assert_eq!(m.nb_segs(), 2);
            }
            assert!(contents(m) == want, "frame {received} differs");
            received += 1;
        }
        batch.clear();
    }
    assert_eq!(port.stats64().rx_queues[0].packets, 70_000);
    assert_eq!(port.stats64().rx_queues[0].drops, 0);
    let d = dev.lock().unwrap();
    assert_eq!((d.interrupts(RX), d.interrupts(TX)), (0, 0), "{rings:?}: no used-buffer notification ever");
    drop(d);
    drop(q);
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

// ----- stop, close, link -----

#[test]
fn a_queue_dropped_early_resets_the_device_before_freeing() {
    for rings in ALL_RINGS {
        a_queue_dropped_early_resets_the_device_before_freeing_on(rings);
    }
}

fn a_queue_dropped_early_resets_the_device_before_freeing_on(rings: Rings) {
    let (mut port, dev) = ring_port(rings, 64);
    let pool = pool(512);
    let mut q = open(&mut port, &pool, RxOffloads::empty(), 64);
    let mut batch = MbufBatch::new();
    batch.push(frame_mbuf(&pool, &pattern(60, 0))).unwrap();
    q.tx[0].tx_burst(&mut batch);
    let rx = q.rx.pop().unwrap();
    drop(rx);
    assert_eq!(dev.lock().unwrap().status, 0, "the device was reset first");
    assert_eq!(q.tx[0].tx_burst(&mut batch), 0, "the other queue is inert now");
    drop(q);
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
    // And the port opens again from a fresh handshake.
    let q = port.open().unwrap();
    assert_ne!(dev.lock().unwrap().status & STATUS_DRIVER_OK, 0);
    drop(q);
    drop(port);
    assert_eq!(dev.lock().unwrap().status, 0, "closing resets the device");
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn a_reset_the_device_never_confirms_leaves_the_memory_to_it() {
    for rings in ALL_RINGS {
        a_reset_the_device_never_confirms_leaves_the_memory_to_it_on(rings);
    }
}

fn a_reset_the_device_never_confirms_leaves_the_memory_to_it_on(rings: Rings) {
    let (mut port, dev) = ring_port(rings, 64);
    let pool = pool(512);
    let q = open(&mut port, &pool, RxOffloads::empty(), 64);
    dev.lock().unwrap().stuck_reset = true;
    let e = port.stop().unwrap_err().to_string();
    assert!(e.contains("did not finish its reset"), "{e}");
    drop(q);
    assert_eq!(stat(&port, "mbufs_left_to_device"), 64);
    assert_eq!(pool.in_use(), 64, "none went back to the pool while the device may write them");
}

#[test]
fn link_status_follows_the_status_field_with_events() {
    let (port, dev) = qemu_port(64);
    let ev = port.link_events();
    assert!(port.link_update(false).up);
    dev.lock().unwrap().cfg[NET_CFG_STATUS as usize] = 0;
    assert!(!port.link_update(false).up);
    assert!(!ev.try_next().expect("a down event").status.up);
    // Without VIRTIO_NET_F_STATUS the link is up, whatever the field says.
    let (port, dev) = port_on(fake::qemu_features() & !bit(NET_F_STATUS), 64, true).unwrap();
    dev.lock().unwrap().cfg[NET_CFG_STATUS as usize] = 0;
    assert!(port.link_status().up);
}

/// When the link comes back, the link thread rings the transmit doorbell
/// once (QEMU's packed ring stops asking for doorbells while its link is
/// down), and at no other time.
#[test]
fn the_link_thread_rings_the_transmit_doorbell_once_when_the_link_comes_back() {
    use super::link::{LinkState, LinkThread};
    use super::transport::Doorbell;
    use std::time::{Duration, Instant};
    let dev = Dev::new(Rings::Packed.features(), 64);
    let t = Arc::new(fake::transport(&dev));
    let link = Arc::new(LinkState::new("fake".into(), true, false));
    let tx = Doorbell { offset: TX as u32 * NOTIFY_MULT, queue: TX as u16 };
    let thread =
        LinkThread::spawn(Arc::clone(&t), Arc::clone(&link), None, Duration::from_millis(2), vec![tx]).unwrap();
    let kicks = || dev.lock().unwrap().notifies[TX];
    let settle = || std::thread::sleep(Duration::from_millis(40));
    settle();
    assert_eq!(kicks(), 0, "up from the start: no doorbell");
    dev.lock().unwrap().cfg[NET_CFG_STATUS as usize] = 0;
    settle();
    assert_eq!(kicks(), 0, "none while down");
    dev.lock().unwrap().cfg[NET_CFG_STATUS as usize] = NET_S_LINK_UP as u8;
    let deadline = Instant::now() + Duration::from_secs(5);
    while kicks() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    settle();
    assert_eq!(kicks(), 1, "one when the link came back");
    // A down and up between two looks shows only as a new configuration
    // generation (QEMU bumps it on every link change): one more doorbell.
    {
        let mut d = dev.lock().unwrap();
        d.generation = d.generation.wrapping_add(1);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while kicks() == 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    settle();
    assert_eq!(kicks(), 2, "one for a flap the thread did not see");
    drop(thread);
    assert_eq!(dev.lock().unwrap().bad_notifies, 0);
}

#[test]
fn doorbells_land_at_queue_notify_off_times_the_multiplier() {
    let (mut port, dev) = qemu_port(64);
    let pool = pool(512);
    let mut q = open(&mut port, &pool, RxOffloads::empty(), 64);
    let mut batch = MbufBatch::new();
    batch.push(frame_mbuf(&pool, &pattern(60, 0))).unwrap();
    q.tx[0].tx_burst(&mut batch);
    let d = dev.lock().unwrap();
    assert_eq!((d.notifies[TX], d.bad_notifies), (1, 0), "multiplier {NOTIFY_MULT}");
    drop(d);
    drop(q);
    port.stop().unwrap();
}

/// No heap allocation on the per-packet path: transmit (one-buffer frames
/// and chains), completion, receive (mergeable chains included) and refill,
/// counted by the test binary's allocator (`crate::alloc_count`).
#[test]
fn the_datapath_allocates_nothing() {
    for rings in ALL_RINGS {
        the_datapath_allocates_nothing_on(rings);
    }
}

fn the_datapath_allocates_nothing_on(rings: Rings) {
    let (mut port, dev) = ring_port(rings, 64);
    let pool = pool(1024);
    // Receive checksums on: the small frames come with partial checksums
    // to complete, the big one (a chain) with DATA_VALID.
    let mut q = open(&mut port, &pool, RxOffloads::SCATTER | RxOffloads::TCP_CKSUM, 64);
    port.change_mtu(9000).unwrap();
    let small = pattern(60, 1);
    let big = pattern(4914, 2);
    let mut needs_csum = [0u8; NET_HDR_NUM_BUFFERS];
    needs_csum[0] = 1;
    needs_csum[6] = 14;
    needs_csum[8] = 16;
    let mut data_valid = [0u8; NET_HDR_NUM_BUFFERS];
    data_valid[0] = 2;
    let mut batch = MbufBatch::new();
    // The fake's own bookkeeping allocates (Vecs): only the driver's calls
    // are counted, after a warm-up (one-time lazy initialisations are not
    // per packet).
    let count = |f: &mut dyn FnMut()| -> u64 {
        let before = crate::alloc_count::allocations();
        f();
        crate::alloc_count::allocations() - before
    };
    let mut driver_allocs = 0;
    for round in 0..600 {
        for _ in 0..8 {
            assert!(dev.lock().unwrap().rx_frame_with(&small, true, needs_csum));
        }
        assert!(dev.lock().unwrap().rx_frame_with(&big, true, data_valid));
        let (mut got, mut sent) = (0, 0);
        let mut allocs = count(&mut || got = q.rx[0].rx_burst(&mut batch, 32));
        assert_eq!(got, 9);
        allocs += count(&mut || sent = q.tx[0].tx_burst(&mut batch));
        assert_eq!(sent, 9);
        let frames = dev.lock().unwrap().tx_all();
        assert_eq!(frames.len(), 9);
        assert_eq!(frames[8].1, big);
        allocs += count(&mut || {
            q.tx[0].tx_done_cleanup();
        });
        if round >= 100 {
            driver_allocs += allocs;
        }
    }
    assert_eq!(driver_allocs, 0, "the per-packet path allocated {driver_allocs} times");
    assert_eq!((stat(&port, "rx_csum_completed"), stat(&port, "rx_csum_valid")), (8 * 600, 600));
    drop(q);
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}
