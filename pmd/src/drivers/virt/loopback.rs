//! `loop`: a port wired to itself.
//!
//! What transmit queue `q` sends, receive queue `q` of the same port
//! receives, in order. The simplest complete driver: every concept of a
//! real one (queues, rings, carrier, filtering, counters, ethtool) with a
//! ring of mbufs where the hardware would be. Lets applications and tests
//! run on a machine with no NIC.

use super::cable::Cable;
use super::common::{default_mac, End};
use super::device::{sealed::Sealed, Flavor, Kind, VirtPort};

/// The `loop` kind: transmit queue q feeds receive queue q of the same port.
#[derive(Debug)]
pub enum Loop {}
impl Sealed for Loop {}
impl Kind for Loop {}

/// A port whose transmit queues feed its own receive queues.
pub type LoopPort = VirtPort<Loop>;

/// Driver tag in the default MAC (`02:00:00:01:..`).
pub(crate) const MAC_TAG: u8 = 1;

impl VirtPort<Loop> {
    /// A stopped loopback port named `name`, with MAC `02:00:00:01:NN:NN`
    /// (`NNNN` the number ending the name).
    pub fn new(name: &str) -> LoopPort {
        VirtPort::attach(Cable::new(vec![End::new(name, default_mac(MAC_TAG, name))]), 0, Flavor::Loop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::virt::testutil::{frames, pool, seq_of, seqs};
    use crate::mem::{MbufBatch, Mempool};
    use crate::port::{EthtoolOps, NetDevice, PortConfig, Queues};

    fn open(queues: u16, ring: u16, p: &Mempool) -> (LoopPort, Queues) {
        let mut port = LoopPort::new("loop0");
        let conf = PortConfig {
            rx_queues: queues,
            tx_queues: queues,
            rx_ring_size: ring,
            tx_ring_size: ring,
            ..PortConfig::default()
        };
        port.configure(&conf, p).unwrap();
        let q = port.open().unwrap();
        (port, q)
    }

    #[test]
    fn each_queue_delivers_its_own_frames_intact_and_in_order() {
        let p = pool(2048);
        let (mut port, mut q) = open(4, 256, &p);
        port.set_port_id(7);
        for round in 0..3u64 {
            for (i, tx) in q.tx.iter_mut().enumerate() {
                let base = 1000 * i as u64 + 100 * round;
                let mut b = frames(&p, base..base + 40, 60 + 100 * i);
                assert_eq!(tx.tx_burst(&mut b), 40);
                assert!(b.is_empty());
            }
        }
        for (i, rx) in q.rx.iter_mut().enumerate() {
            let mut got = MbufBatch::new();
            while rx.rx_burst(&mut got, 32) > 0 {}
            let want: Vec<u64> = (0..3).flat_map(|r| (0..40).map(move |k| 1000 * i as u64 + 100 * r + k)).collect();
            assert_eq!(seqs(&got), want, "queue {i}");
            assert!(got.iter().all(|m| m.len() == 60 + 100 * i && m.port() == 7 && m.queue() == i as u16));
        }
        let s = port.stats64();
        assert_eq!(s.rx_total().packets, 480);
        assert_eq!(s.tx_queues[2].packets, 120);
        assert_eq!(s.tx_queues[2].bytes, 120 * 260);
        assert_eq!(s.rx_queues[2], s.tx_queues[2], "nothing lost on the way");
        drop(q);
        assert_eq!(p.available(), p.capacity());
    }

    #[test]
    fn a_full_wire_leaves_the_rest_in_the_batch() {
        let p = pool(512);
        let (port, mut q) = open(1, 32, &p);
        let mut b = frames(&p, 0..50, 64);
        assert_eq!(q.tx[0].tx_burst(&mut b), 32);
        assert_eq!(seqs(&b), (32..50).collect::<Vec<_>>(), "not taken, still in order");
        assert_eq!(q.tx[0].tx_burst(&mut b), 0, "still full");
        let mut got = MbufBatch::new();
        assert_eq!(q.rx[0].rx_burst(&mut got, 10), 10, "budget respected");
        assert_eq!(q.tx[0].tx_burst(&mut b), 10, "room for exactly ten more");
        while q.rx[0].rx_burst(&mut got, 64) > 0 {}
        assert_eq!(seqs(&got), (0..42).collect::<Vec<_>>());
        let (tx, rx) = (port.stats64().tx_total(), port.stats64().rx_total());
        assert_eq!((tx.packets, tx.drops, rx.packets), (42, 0, 42));
        assert_eq!(tx.packets + b.len() as u64, 50, "frames in = sent + left with the caller");
        drop((b, got, q));
        assert_eq!(p.available(), p.capacity());
    }

    #[test]
    fn stop_returns_every_buffer_and_leaves_inert_handles() {
        let p = pool(512);
        let (mut port, mut q) = open(2, 128, &p);
        for tx in q.tx.iter_mut() {
            let mut b = frames(&p, 0..100, 64);
            assert_eq!(tx.tx_burst(&mut b), 100);
        }
        assert_eq!(p.in_use(), 200, "frames are on the wires");
        port.stop().unwrap();
        assert!(!port.is_running());
        assert_eq!(p.available(), p.capacity(), "stop drained the wires");
        let mut got = MbufBatch::new();
        assert_eq!(q.rx[0].rx_burst(&mut got, 32), 0);
        let mut b = frames(&p, 0..5, 64);
        assert_eq!(q.tx[1].tx_burst(&mut b), 5, "an inert handle takes the frames");
        assert!(b.is_empty());
        assert_eq!(port.stats64().tx_queues[1].drops, 5);
        assert_eq!(p.available(), p.capacity(), "and frees them");
        assert_eq!(port.regs().unwrap().regs.iter().find(|r| r.0 == "rx_flushed").unwrap().1, 200);

        // Reopen: the old handles stay inert, the new ones work.
        let mut fresh = port.open().unwrap();
        let mut b = frames(&p, 0..3, 64);
        assert_eq!(q.tx[0].tx_burst(&mut b), 3);
        assert_eq!(fresh.rx[0].rx_burst(&mut got, 32), 0, "the stale handle's frames were dropped");
        let mut b = frames(&p, 7..9, 64);
        assert_eq!(fresh.tx[0].tx_burst(&mut b), 2);
        assert_eq!(q.rx[0].rx_burst(&mut got, 32), 0, "a stale receive handle sees nothing");
        assert_eq!(fresh.rx[0].rx_burst(&mut got, 32), 2);
        assert_eq!(seq_of(&got.as_slice()[0]), 7);
    }

    #[test]
    fn frames_sent_while_stopped_from_a_dropped_port_come_back() {
        let p = pool(256);
        let (port, mut q) = open(1, 64, &p);
        let mut b = frames(&p, 0..64, 64);
        assert_eq!(q.tx[0].tx_burst(&mut b), 64);
        drop(port);
        assert_eq!(p.available(), p.capacity(), "dropping a running port stops it");
        let mut b = frames(&p, 0..4, 64);
        assert_eq!(q.tx[0].tx_burst(&mut b), 4);
        drop(q);
        assert_eq!(p.available(), p.capacity());
    }
}
