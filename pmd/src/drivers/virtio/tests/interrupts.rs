//! MSI-X and receive interrupts against the device in software: which
//! vectors the port asks for and what it does when the device has too few
//! or refuses one; that arming a queue lets through exactly the used-buffer
//! notifications the spec's rules give (the fake decides as §2.7.10 and
//! §2.8.10 say, from what the driver wrote), disarming stops them, and
//! arming with work already waiting wakes the caller at once; and that the
//! link thread sleeps on the configuration vector.

use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

/// Whether `fd` is readable now.
fn readable(fd: RawFd) -> bool {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: polls one live local pollfd without waiting.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n == 1 && p.revents & libc::POLLIN != 0
}

/// What VFIO does when the device sends an MSI-X message: adds 1 to the
/// vector's eventfd.
fn deliver(fd: RawFd) {
    let one = 1u64.to_ne_bytes();
    // SAFETY: writes 8 bytes from a local array to an eventfd the queue owns.
    assert_eq!(unsafe { libc::write(fd, one.as_ptr().cast(), 8) }, 8);
}

/// A port on `rings` whose "VFIO" offers `vectors` MSI-X vectors, opened
/// with 64-entry rings.
fn irq_port(rings: Rings, vectors: u32) -> (VirtioPort, Arc<Mutex<Dev>>, Mempool, Queues) {
    let (mut port, dev) = ring_port(rings, 64);
    port.set_soft_msix(vectors);
    let pool = pool(512);
    let q = open(&mut port, &pool, RxOffloads::empty(), 64);
    (port, dev, pool, q)
}

#[test]
fn the_config_and_receive_queues_get_vectors_and_transmit_none() {
    for rings in ALL_RINGS {
        let (mut port, dev, pool, q) = irq_port(rings, 3);
        {
            let d = dev.lock().unwrap();
            assert_eq!(d.config_msix, 0, "{rings:?}: configuration changes on vector 0");
            assert_eq!(d.queues[RX].msix, 1, "{rings:?}: receive queue 0 on vector 1");
            assert_eq!(d.queues[TX].msix, VIRTIO_MSI_NO_VECTOR, "{rings:?}: transmit gets none");
        }
        assert_eq!(stat(&port, "msix_vectors"), 2);
        assert!(q.rx[0].interrupt_fd().is_some());
        drop(q);
        port.stop().unwrap();
        assert!(port.msix.is_none(), "released on stop");
        assert_eq!(stat(&port, "msix_vectors"), 2, "what the last open had, for final reports");
        assert_eq!(dev.lock().unwrap().config_msix, VIRTIO_MSI_NO_VECTOR, "the reset forgot them");
        // A reopen asks again (the reset made the device forget them).
        let q = port.open().unwrap();
        assert_eq!(dev.lock().unwrap().queues[RX].msix, 1);
        drop(q);
        port.stop().unwrap();
        assert_eq!(pool.available(), pool.capacity());
    }
}

#[test]
fn too_few_vectors_or_a_refused_one_leaves_that_part_polled() {
    // One vector from VFIO, two needed: no MSI-X at all, polled as before.
    let (mut port, dev, _pool, mut q) = irq_port(Rings::SplitEventIdx, 1);
    let e = q.rx[0].enable_interrupt().unwrap_err();
    assert!(matches!(e, PortError::NotSupported(_)), "{e}");
    assert!(q.rx[0].interrupt_fd().is_none());
    assert_eq!(stat(&port, "msix_vectors"), 0);
    assert_eq!(dev.lock().unwrap().config_msix, VIRTIO_MSI_NO_VECTOR);
    assert_eq!(dev.lock().unwrap().queues[RX].msix, VIRTIO_MSI_NO_VECTOR);
    drop(q);
    port.stop().unwrap();
    // The device's table has one entry: vector 0 (configuration) kept,
    // vector 1 refused (reads back NO_VECTOR): the queue stays polled.
    dev.lock().unwrap().msix_vectors = 1;
    port.set_soft_msix(3);
    let mut q = port.open().unwrap();
    assert_eq!(dev.lock().unwrap().config_msix, 0);
    assert_eq!(dev.lock().unwrap().queues[RX].msix, VIRTIO_MSI_NO_VECTOR);
    assert!(q.rx[0].enable_interrupt().is_err() && q.rx[0].interrupt_fd().is_none());
    assert_eq!(stat(&port, "msix_vectors"), 1);
    // Polling still works.
    assert!(dev.lock().unwrap().rx_frame(&pattern(60, 1), true));
    let mut batch = MbufBatch::new();
    assert_eq!(q.rx[0].rx_burst(&mut batch, 32), 1);
}

#[test]
fn armed_queues_get_the_notifications_the_spec_gives_and_disarmed_ones_none() {
    for rings in ALL_RINGS {
        armed_and_disarmed(rings);
    }
}

fn armed_and_disarmed(rings: Rings) {
    let (mut port, dev, pool, mut q) = irq_port(rings, 3);
    let rx = &mut q.rx[0];
    let fd = rx.interrupt_fd().unwrap();
    let irqs = || dev.lock().unwrap().interrupts(RX);
    let mut batch = MbufBatch::new();
    // 300 rounds on a 64-entry ring: every slot, both wrap counters.
    for round in 0..300u32 {
        // Poll mode: a completion is not notified.
        let before = irqs();
        assert!(dev.lock().unwrap().rx_frame(&pattern(60, round), true));
        assert_eq!(irqs(), before, "{rings:?} round {round}: notified in poll mode");
        assert_eq!(rx.rx_burst(&mut batch, 32), 1);
        // Armed with nothing waiting: no wake-up yet; the next completion
        // is notified.
        rx.enable_interrupt().unwrap();
        assert!(!readable(fd), "{rings:?} round {round}: woken with nothing waiting");
        assert!(dev.lock().unwrap().rx_frame(&pattern(61, round), true));
        assert_eq!(irqs(), before + 1, "{rings:?} round {round}: the armed completion");
        // A second one: with EVENT_IDX the request was for one index or
        // slot, so it is not notified again; without, the flag stays
        // open until disarmed.
        assert!(dev.lock().unwrap().rx_frame(&pattern(62, round), true));
        let want = if rings.event_idx() { before + 1 } else { before + 2 };
        assert_eq!(irqs(), want, "{rings:?} round {round}: the second armed completion");
        deliver(fd);
        assert!(readable(fd));
        rx.disable_interrupt();
        assert!(!readable(fd), "{rings:?}: disable drains the eventfd");
        assert_eq!(rx.rx_burst(&mut batch, 32), 2);
        // Disarmed: silence again.
        assert!(dev.lock().unwrap().rx_frame(&pattern(63, round), true));
        assert_eq!(irqs(), want, "{rings:?} round {round}: notified after disarming");
        assert_eq!(rx.rx_burst(&mut batch, 32), 1);
        batch.clear();
    }
    assert_eq!(stat(&port, "rx_queue_0_interrupts"), 300, "{rings:?}: one delivered per round");
    drop(batch);
    drop(q);
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn arming_with_work_waiting_wakes_at_once_and_is_not_counted_as_a_device_interrupt() {
    for rings in ALL_RINGS {
        let (port, dev, _pool, mut q) = irq_port(rings, 3);
        let rx = &mut q.rx[0];
        let fd = rx.interrupt_fd().unwrap();
        let mut batch = MbufBatch::new();
        for round in 0..100u32 {
            // Arrives between the last empty poll and the arming.
            assert!(dev.lock().unwrap().rx_frame(&pattern(60, round), true));
            rx.enable_interrupt().unwrap();
            assert!(readable(fd), "{rings:?} round {round}: armed with a frame waiting, not woken");
            rx.disable_interrupt();
            assert!(!readable(fd));
            assert_eq!(rx.rx_burst(&mut batch, 32), 1);
            batch.clear();
        }
        assert_eq!(stat(&port, "rx_queue_0_interrupts"), 0, "{rings:?}: the queue's own wake-ups");
        drop(batch);
    }
}

/// With the configuration vector, the link thread reads `status` when the
/// vector fires (and only at its safety-net period otherwise, here an
/// hour), counting the interrupts. Every step waits for an observable fact
/// (a device read, an event), never for time to pass, except the check
/// that nothing happens without an interrupt, which cannot fail by delay.
#[test]
fn the_link_thread_sleeps_on_the_configuration_vector() {
    use super::super::link::{LinkState, LinkThread};
    use ferrite_vfio::EventFd;
    use std::sync::atomic::Ordering::Relaxed;
    let dev = Dev::new(Rings::SplitEventIdx.features(), 64);
    let t = Arc::new(fake::transport(&dev));
    let link = Arc::new(LinkState::new("fake".into(), true, false));
    let events = link.notifier.subscribe();
    let config = Arc::new(EventFd::new().unwrap());
    let hour = Duration::from_secs(3600);
    let thread =
        LinkThread::spawn(Arc::clone(&t), Arc::clone(&link), Some(Arc::clone(&config)), hour, Vec::new()).unwrap();
    let reads = || dev.lock().unwrap().cfg_reads;
    // Its first look (link up, the first observation: no event).
    let deadline = Instant::now() + Duration::from_secs(5);
    while reads() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(reads() > 0, "the thread never read the configuration");
    // Link down and the device's configuration interrupt: an event.
    dev.lock().unwrap().cfg[NET_CFG_STATUS as usize] = 0;
    config.write(1).unwrap();
    let ev = events.wait(Duration::from_secs(5)).expect("a link event after the interrupt");
    assert!(!ev.status.up, "{ev:?}");
    assert_eq!(link.config_irqs.load(Relaxed), 1);
    // Link up without an interrupt: the thread, asleep, reads nothing.
    let before = reads();
    dev.lock().unwrap().cfg[NET_CFG_STATUS as usize] = NET_S_LINK_UP as u8;
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(reads(), before, "the thread read the configuration without an interrupt: it polls");
    assert!(events.try_next().is_none());
    config.write(1).unwrap();
    let ev = events.wait(Duration::from_secs(5)).expect("a link event after the second interrupt");
    assert!(ev.status.up, "{ev:?}");
    assert_eq!(link.config_irqs.load(Relaxed), 2);
    drop(thread);
}
