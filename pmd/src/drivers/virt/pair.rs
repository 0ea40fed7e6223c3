//! `pair`: two ports joined by a virtual cable, like DPDK's `net_ring` or
//! Linux's veth.
//!
//! Transmit queue `q` of one end feeds receive queue `q` of the other, in
//! both directions. The carrier needs both ends running and
//! administratively up: stopping or downing one end is pulling the cable,
//! and both ends see the link go down.

use super::cable::Cable;
use super::common::{default_mac, End};
use super::device::{sealed::Sealed, Flavor, Kind, VirtPort};

/// The `pair` kind: transmit queue q feeds the peer's receive queue q.
#[derive(Debug)]
pub enum Pair {}
impl Sealed for Pair {}
impl Kind for Pair {}

/// One end of a pair of ports wired to each other.
pub type PairPort = VirtPort<Pair>;

/// Driver tag in the default MAC (`02:00:00:02:..`).
pub(crate) const MAC_TAG: u8 = 2;

impl VirtPort<Pair> {
    /// Two stopped ports wired to each other. Configure both alike (same
    /// queue counts) and open both: the link comes up when the second opens.
    ///
    /// Each end's `rx_ring_size` ([`PortConfig`](crate::PortConfig)) is the
    /// depth of the wire into it: the peer's transmit takes at most that
    /// many frames until this end receives. Frames still on a wire when
    /// either end stops are freed and counted in the receiver's
    /// [`PortStats::rx_missed`](crate::port::PortStats::rx_missed).
    pub fn new_pair(name_a: &str, name_b: &str) -> (PairPort, PairPort) {
        let ends = vec![End::new(name_a, default_mac(MAC_TAG, name_a)), End::new(name_b, default_mac(MAC_TAG, name_b))];
        let cable = Cable::new(ends);
        (VirtPort::attach(cable.clone(), 0, Flavor::Pair), VirtPort::attach(cable, 1, Flavor::Pair))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::drivers::virt::testutil::{frame, frames, pool, seq_of, seqs, STRANGER};
    use crate::lcore;
    use crate::mem::{MbufBatch, Mempool};
    use crate::port::{EthtoolOps, NetDevice, PortConfig, Queues};

    fn conf(queues: u16, ring: u16) -> PortConfig {
        PortConfig {
            rx_queues: queues,
            tx_queues: queues,
            rx_ring_size: ring,
            tx_ring_size: ring,
            ..PortConfig::default()
        }
    }

    fn open_pair(queues: u16, ring: u16, p: &Mempool) -> ((PairPort, Queues), (PairPort, Queues)) {
        let (mut a, mut b) = PairPort::new_pair("pair0", "pair1");
        a.configure(&conf(queues, ring), p).unwrap();
        b.configure(&conf(queues, ring), p).unwrap();
        let (qa, qb) = (a.open().unwrap(), b.open().unwrap());
        ((a, qa), (b, qb))
    }

    fn drain(q: &mut Queues, queue: usize) -> MbufBatch {
        let mut got = MbufBatch::new();
        while q.rx[queue].rx_burst(&mut got, 32) > 0 {}
        got
    }

    #[test]
    fn each_end_receives_what_the_other_sends_per_queue_in_order() {
        let p = pool(2048);
        let ((a, mut qa), (b, mut qb)) = open_pair(3, 128, &p);
        assert_ne!(a.mac_address(), b.mac_address());
        for q in 0..3u64 {
            let mut fa = frames(&p, q * 100..q * 100 + 60, 128);
            let mut fb = frames(&p, 10_000 + q * 100..10_000 + q * 100 + 50, 200);
            assert_eq!(qa.tx[q as usize].tx_burst(&mut fa), 60);
            assert_eq!(qb.tx[q as usize].tx_burst(&mut fb), 50);
        }
        for q in 0..3u64 {
            assert_eq!(seqs(&drain(&mut qb, q as usize)), (q * 100..q * 100 + 60).collect::<Vec<_>>());
            assert_eq!(
                seqs(&drain(&mut qa, q as usize)),
                (10_000 + q * 100..10_000 + q * 100 + 50).collect::<Vec<_>>()
            );
        }
        assert!(drain(&mut qa, 0).is_empty(), "a loop would have its own frames here; a pair does not");
        assert_eq!(a.stats64().tx_total().packets, b.stats64().rx_total().packets);
        assert_eq!(b.stats64().rx_total().bytes, 180 * 128);
        assert_eq!(a.stats64().rx_total().bytes, 150 * 200);
        drop((qa, qb));
        assert_eq!(p.available(), p.capacity());
    }

    #[test]
    fn the_link_needs_both_ends() {
        let p = pool(256);
        let (mut a, mut b) = PairPort::new_pair("pair0", "pair1");
        let (ea, eb) = (a.link_events(), b.link_events());
        a.configure(&conf(1, 64), &p).unwrap();
        b.configure(&conf(1, 64), &p).unwrap();
        let mut qa = a.open().unwrap();
        assert!(!a.link_status().up, "the peer is not open yet");
        let mut f = frames(&p, 0..8, 64);
        assert_eq!(qa.tx[0].tx_burst(&mut f), 8, "taken and dropped");
        assert_eq!(a.stats64().tx_total().drops, 8);
        assert!(ea.try_next().is_none());
        let _qb = b.open().unwrap();
        assert!(a.link_status().up && b.link_status().up);
        assert!(ea.wait(Duration::from_secs(1)).unwrap().status.up);
        assert!(eb.wait(Duration::from_secs(1)).unwrap().status.up);
        let mut f = frames(&p, 0..8, 64);
        assert_eq!(qa.tx[0].tx_burst(&mut f), 8);
        assert_eq!(a.stats64().tx_total().packets, 8, "now it flows");
    }

    #[test]
    fn downing_one_end_downs_both_and_drops_are_counted() {
        let p = pool(512);
        let ((mut a, mut qa), (b, mut qb)) = open_pair(1, 64, &p);
        let (ea, eb) = (a.link_events(), b.link_events());
        let mut f = frames(&p, 0..20, 64);
        assert_eq!(qb.tx[0].tx_burst(&mut f), 20, "in flight towards a");
        a.set_link(false).unwrap();
        for (name, e) in [("pair0", &ea), ("pair1", &eb)] {
            let ev = e.wait(Duration::from_secs(1)).expect("a down event");
            assert_eq!((&*ev.port, ev.status.up), (name, false));
        }
        assert!(!a.link_status().up && !b.link_status().up);
        assert_eq!(p.in_use(), 0, "the frames in flight were lost with the carrier");
        for (port, q) in [(&a, &mut qa), (&b, &mut qb)] {
            let mut f = frames(&p, 0..10, 64);
            assert_eq!(q.tx[0].tx_burst(&mut f), 10);
            assert!(f.is_empty());
            let named = port.named_stats();
            assert_eq!(named.iter().find(|s| s.0 == "tx_link_down_drops").unwrap().1, 10, "{}", port.name());
            assert_eq!(named.iter().find(|s| s.0 == "tx_dropped").unwrap().1, 10);
            assert!(drain(q, 0).is_empty(), "nothing received while down");
        }
        assert_eq!(p.in_use(), 0);
        a.set_link(true).unwrap();
        assert!(ea.wait(Duration::from_secs(1)).unwrap().status.up);
        assert!(eb.wait(Duration::from_secs(1)).unwrap().status.up);
        let mut f = frames(&p, 0..4, 64);
        assert_eq!(qa.tx[0].tx_burst(&mut f), 4);
        assert_eq!(seqs(&drain(&mut qb, 0)), vec![0, 1, 2, 3]);
    }

    fn named(port: &PairPort) -> std::collections::HashMap<String, u64> {
        port.named_stats().into_iter().collect()
    }

    #[test]
    fn per_queue_rows_count_each_queue_under_linux_names_and_a_full_wire_restarts() {
        let p = pool(1024);
        let ((a, mut qa), (b, mut qb)) = open_pair(2, 64, &p);
        let mut f = frames(&p, 0..10, 64);
        assert_eq!(qa.tx[0].tx_burst(&mut f), 10);
        let mut f = frames(&p, 0..7, 100);
        assert_eq!(qa.tx[1].tx_burst(&mut f), 7);
        assert_eq!((drain(&mut qb, 0).len(), drain(&mut qb, 1).len()), (10, 7));
        let (sa, sb) = (named(&a), named(&b));
        assert_eq!((sa["tx_queue_0_packets"], sa["tx_queue_1_packets"]), (10, 7));
        assert_eq!((sb["rx_queue_0_packets"], sb["rx_queue_1_packets"]), (10, 7));
        assert_eq!((sb["rx_queue_0_bytes"], sb["rx_queue_1_bytes"]), (640, 700));
        assert_eq!((sa["tx_queue_0_restart"], sa["tx_restart_queue"]), (0, 0), "nothing was cut short yet");
        // The wire holds as many frames as the receiver's ring (64): a
        // burst of 100 is cut short once, on queue 1 only.
        let mut f = frames(&p, 0..100, 64);
        assert_eq!(qa.tx[1].tx_burst(&mut f), 64);
        let sa = named(&a);
        assert_eq!((sa["tx_queue_0_restart"], sa["tx_queue_1_restart"], sa["tx_restart_queue"]), (0, 1, 1));
        assert_eq!(sa["tx_queue_1_packets"], 7 + 64);
        drop(f);
        assert_eq!(drain(&mut qb, 1).len(), 64);
        crate::port::stat_names::assert_documented("pair", sa.keys());
    }

    #[test]
    fn queue_counts_must_match_the_running_peer() {
        let p = pool(64);
        let (mut a, mut b) = PairPort::new_pair("pair0", "pair1");
        a.configure(&conf(2, 64), &p).unwrap();
        b.configure(&conf(1, 64), &p).unwrap();
        let _qa = a.open().unwrap();
        let e = b.open().err().expect("mismatched queue counts");
        assert!(matches!(e, crate::PortError::InvalidConfig(_)), "{e}");
        assert!(e.to_string().contains("peer pair0"), "{e}");
        assert!(!b.is_running());
        b.configure(&conf(2, 64), &p).unwrap();
        assert!(b.open().is_ok());
    }

    #[test]
    fn stopping_either_end_returns_all_buffers() {
        let p = pool(512);
        let ((mut a, mut qa), (b, mut qb)) = open_pair(2, 128, &p);
        for q in 0..2 {
            let mut f = frames(&p, 0..100, 64);
            assert_eq!(qa.tx[q].tx_burst(&mut f), 100);
            let mut f = frames(&p, 0..100, 64);
            assert_eq!(qb.tx[q].tx_burst(&mut f), 100);
        }
        assert_eq!(p.in_use(), 400);
        a.stop().unwrap();
        assert_eq!(p.available(), p.capacity(), "both directions drained");
        assert!(b.is_running() && !b.link_status().up, "the peer runs, without carrier");
        assert!(drain(&mut qb, 0).is_empty());
        // Conservation for library users: every frame a port took is
        // received, dropped or missed at the other end, and the frames
        // freed from the wires are missed (DPDK's imissed), not lost.
        for (sender, receiver) in [(&a, &b), (&b, &a)] {
            let (sent, got) = (sender.stats64(), receiver.stats64());
            assert_eq!(sent.tx_total().packets, 200);
            assert_eq!(got.rx_missed, 200, "{} missed what was on its wires", receiver.name());
            assert_eq!(got.rx_total().packets + got.rx_total().drops + got.rx_missed, 200);
        }
    }

    #[test]
    fn a_sender_that_overfills_the_wire_is_unblocked_by_the_watchdog_and_every_frame_is_counted() {
        // The new user's case: 1000 frames into a 512-deep wire from one
        // thread that retries whatever tx_burst leaves before it receives.
        let p = pool(2048);
        let ((mut a, mut qa), (b, mut qb)) = open_pair(1, 512, &p);
        a.set_tx_timeout(Duration::from_millis(50)).unwrap();
        let mut batch = MbufBatch::new();
        let (mut next, deadline) = (0u64, Instant::now() + Duration::from_secs(60));
        while next < 1000 || !batch.is_empty() {
            assert!(Instant::now() < deadline, "stuck at frame {next}, {} not taken", batch.len());
            while batch.room() > 0 && next < 1000 {
                batch.push(frame(&p, STRANGER, next, 64)).unwrap();
                next += 1;
            }
            qa.tx[0].tx_burst(&mut batch);
        }
        let received = drain(&mut qb, 0).len() as u64;
        let (sent, got) = (a.stats64(), b.stats64());
        assert_eq!(sent.tx_total().packets, 1000);
        assert!(got.rx_missed >= 488, "the watchdog freed a full wire at least once: {}", got.rx_missed);
        assert_eq!(received + got.rx_missed, 1000, "received + missed = sent");
        let resets = a.named_stats().into_iter().find(|(n, _)| n == "tx_timeout_count").map(|(_, v)| v);
        assert!(resets >= Some(1), "{resets:?}");
        assert_eq!(p.available(), p.capacity());
    }

    #[test]
    fn two_threads_move_a_million_frames() {
        const N: u64 = 1_000_000;
        let p = pool(4096);
        let ((a, qa), (b, qb)) = open_pair(1, 1024, &p);
        let (Some(mut tx), Some(mut rx)) = (qa.tx.into_iter().next(), qb.rx.into_iter().next()) else {
            panic!("one queue each")
        };
        // Set if the receiver fails, so the sender cannot spin forever on a
        // full wire nobody drains.
        let abort = Arc::new(AtomicBool::new(false));
        let (sender_pool, stop) = (p.clone(), Arc::clone(&abort));
        let sender = std::thread::spawn(move || {
            let _lcore = lcore::register().expect("an lcore id");
            let mut batch = MbufBatch::new();
            let mut next = 0u64;
            while (next < N || !batch.is_empty()) && !stop.load(Relaxed) {
                while batch.len() < 32 && next < N && sender_pool.available() > 0 {
                    batch.push(frame(&sender_pool, STRANGER, next, 64)).unwrap();
                    next += 1;
                }
                if tx.tx_burst(&mut batch) == 0 {
                    std::thread::yield_now();
                }
            }
        });
        let receiver = std::thread::spawn(move || {
            let mut got = MbufBatch::new();
            let mut expect = 0u64;
            let deadline = Instant::now() + Duration::from_secs(300);
            while expect < N {
                assert!(Instant::now() < deadline, "stuck after {expect} frames");
                if rx.rx_burst(&mut got, 32) == 0 {
                    std::thread::yield_now();
                    continue;
                }
                for m in got.iter() {
                    assert_eq!(seq_of(m), expect, "lost, duplicated or reordered");
                    expect += 1;
                }
                got.clear();
            }
        });
        let received = receiver.join();
        abort.store(received.is_err(), Relaxed);
        sender.join().unwrap();
        received.unwrap();
        assert_eq!(a.stats64().tx_total().packets, N);
        assert_eq!(b.stats64().rx_total().packets, N);
        assert_eq!(b.stats64().rx_total().bytes, 64 * N);
        assert_eq!(p.available(), p.capacity());
    }
}
