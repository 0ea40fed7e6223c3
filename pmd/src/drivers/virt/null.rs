//! `null`: a port with an infinite source and an infinite sink, for
//! measuring everything but a device.
//!
//! It does exactly the work of DPDK's `net_null`, so that a forwarding
//! benchmark between two null ports compares like with like: receive takes
//! `budget` buffers from the configured pool in one bulk allocation and
//! sets their length (and port and queue); transmit counts the frames and
//! frees them in one bulk free. Per burst that is one generation check, one
//! or two tunable loads and two counter updates; per frame, a few header
//! stores on receive and a length read on transmit.

use std::sync::Arc;

use super::cable::{Cable, Session, Tap};
use super::common::{deliver, measure, take_all_link_down, take_oversize, End};
use super::device::{sealed::Sealed, Flavor, Kind, VirtPort};
use crate::mem::MbufBatch;
use crate::port::{PortConfig, Queues, RxQueue, TxQueue};

/// The `null` kind: receive makes frames up, transmit throws them away.
#[derive(Debug)]
pub enum Null {}
impl Sealed for Null {}
impl Kind for Null {}

/// A port whose receive queues always have frames and whose transmit
/// queues always take them (DPDK's `net_null`).
pub type NullPort = VirtPort<Null>;

/// Length of the frames a null port receives unless told otherwise.
pub const DEFAULT_PACKET_SIZE: usize = 64;

/// Driver tag in the default MAC (`02:00:00:03:..`).
pub(crate) const MAC_TAG: u8 = 3;

impl VirtPort<Null> {
    /// A null port receiving frames of `packet_size` bytes
    /// ([`DEFAULT_PACKET_SIZE`] is DPDK's default). The size is checked
    /// against the pool at `configure`: 14 bytes up to the pool's data room.
    pub fn new(name: &str, packet_size: usize) -> NullPort {
        let end = End::new(name, super::common::default_mac(MAC_TAG, name));
        VirtPort::attach(Cable::new(vec![end]), 0, Flavor::Null { packet_size })
    }

    /// Length of the frames receive produces.
    pub fn packet_size(&self) -> usize {
        match self.flavor() {
            Flavor::Null { packet_size } => packet_size,
            _ => 0,
        }
    }
}

/// Builds the queues of a freshly opened null port.
pub(crate) fn queues(
    cable: &Arc<Cable>,
    me: usize,
    session: &Arc<Session>,
    conf: &PortConfig,
    packet_size: usize,
) -> Queues {
    Queues {
        rx: (0..conf.rx_queues)
            .map(|q| {
                Box::new(NullRx { tap: Tap::new(cable, me, me, session), queue: q, packet_size }) as Box<dyn RxQueue>
            })
            .collect(),
        tx: (0..conf.tx_queues)
            .map(|q| Box::new(NullTx { tap: Tap::new(cable, me, me, session), queue: q }) as Box<dyn TxQueue>)
            .collect(),
    }
}

/// A receive queue that allocates its frames.
struct NullRx {
    tap: Tap,
    queue: u16,
    packet_size: usize,
}

impl RxQueue for NullRx {
    #[inline]
    fn rx_burst(&mut self, batch: &mut MbufBatch, budget: usize) -> usize {
        let (q, size) = (self.queue as usize, self.packet_size);
        let Some((session, end)) = self.tap.poll() else { return 0 };
        let n = budget.min(batch.room());
        let start = batch.len();
        // All or nothing, like `rte_pktmbuf_alloc_bulk`: an empty pool
        // means an empty burst.
        if n == 0 || !session.pool.alloc_bulk(batch, n) {
            return 0;
        }
        // `configure` checked that `size` fits the pool's buffers, so
        // `set_len` cannot refuse it.
        deliver(end, q, batch, start, |m| {
            let _ = m.set_len(size);
        })
    }

    fn queue_id(&self) -> u16 {
        self.queue
    }
}

/// A transmit queue that frees what it is given.
struct NullTx {
    tap: Tap,
    queue: u16,
}

impl TxQueue for NullTx {
    #[inline]
    fn tx_burst(&mut self, batch: &mut MbufBatch) -> usize {
        let q = self.queue as usize;
        let Some((_, end)) = self.tap.poll() else { return take_all_link_down(self.tap.end(), q, batch) };
        let limit = end.frame_limit();
        let (mut bytes, longest) = measure(batch.as_slice());
        let mut taken = 0;
        if longest > limit {
            taken = take_oversize(end, q, batch, limit);
            bytes = measure(batch.as_slice()).0;
        }
        let n = batch.len();
        end.tx[q].stats.add(n as u64, bytes);
        batch.clear();
        taken + n
    }

    fn queue_id(&self) -> u16 {
        self.queue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::virt::testutil::{frames, pool};
    use crate::mem::Mempool;
    use crate::port::{NetDevice, PortError, RxMode};

    fn open(size: usize, queues: u16, p: &Mempool) -> (NullPort, Queues) {
        let mut port = NullPort::new("null0", size);
        port.configure(&PortConfig { rx_queues: queues, tx_queues: queues, ..PortConfig::default() }, p).unwrap();
        let q = port.open().unwrap();
        (port, q)
    }

    #[test]
    fn receive_makes_frames_of_the_configured_size() {
        let p = pool(256);
        let (mut port, mut q) = open(DEFAULT_PACKET_SIZE, 2, &p);
        port.set_port_id(3);
        let mut b = MbufBatch::new();
        assert_eq!(q.rx[1].rx_burst(&mut b, 32), 32);
        assert_eq!(q.rx[1].rx_burst(&mut b, 16), 16);
        assert_eq!(b.len(), 48);
        assert!(b.iter().all(|m| m.len() == 64 && m.port() == 3 && m.queue() == 1));
        let s = port.stats64();
        assert_eq!((s.rx_queues[1].packets, s.rx_queues[1].bytes, s.rx_queues[0].packets), (48, 48 * 64, 0));
        assert_eq!(p.in_use(), 48);
        drop(b);
        let (_big, mut q) = open(1500, 1, &p);
        let mut b = MbufBatch::new();
        assert_eq!(q.rx[0].rx_burst(&mut b, 8), 8);
        assert!(b.iter().all(|m| m.len() == 1500));
    }

    #[test]
    fn receive_is_all_or_nothing_when_the_pool_runs_dry() {
        let p = pool(40);
        let (_port, mut q) = open(64, 1, &p);
        let mut b = MbufBatch::new();
        assert_eq!(q.rx[0].rx_burst(&mut b, 32), 32);
        assert_eq!(q.rx[0].rx_burst(&mut b, 32), 0, "8 left: not enough for a burst");
        assert_eq!(q.rx[0].rx_burst(&mut b, 8), 8);
    }

    #[test]
    fn transmit_counts_and_frees_everything() {
        let p = pool(512);
        let (port, mut q) = open(64, 1, &p);
        let mut b = frames(&p, 0..300, 100);
        assert_eq!(q.tx[0].tx_burst(&mut b), 300);
        assert!(b.is_empty());
        assert_eq!(p.available(), p.capacity());
        let s = port.stats64().tx_total();
        assert_eq!((s.packets, s.bytes, s.drops, s.errors), (300, 30_000, 0, 0));
    }

    #[test]
    fn forwarding_between_two_null_ports_conserves_buffers() {
        let p = pool(1024);
        let (src, mut qs) = open(64, 1, &p);
        let (dst, mut qd) = open(64, 1, &p);
        let mut b = MbufBatch::new();
        for _ in 0..1000 {
            assert_eq!(qs.rx[0].rx_burst(&mut b, 32), 32);
            assert_eq!(qd.tx[0].tx_burst(&mut b), 32);
        }
        assert_eq!(src.stats64().rx_total().packets, 32_000);
        assert_eq!(dst.stats64().tx_total().bytes, 32_000 * 64);
        assert_eq!(p.available(), p.capacity());
    }

    #[test]
    fn oversize_and_filtered_frames_are_counted_here_too() {
        let p = pool(256);
        let (mut port, mut q) = open(64, 1, &p);
        let mut b = frames(&p, 0..10, 1523);
        b.push(crate::drivers::virt::testutil::frame(&p, crate::port::MacAddr::BROADCAST, 10, 1522)).unwrap();
        assert_eq!(q.tx[0].tx_burst(&mut b), 11);
        let s = port.stats64().tx_total();
        assert_eq!((s.packets, s.errors), (1, 10));
        // Made-up frames are addressed to nobody in particular: a
        // non-promiscuous null port refuses them all.
        port.set_rx_mode(RxMode { promiscuous: false, all_multicast: false }).unwrap();
        let mut b = MbufBatch::new();
        assert_eq!(q.rx[0].rx_burst(&mut b, 32), 0);
        assert_eq!(port.stats64().rx_total().drops, 32);
        assert_eq!(p.available(), p.capacity());
    }

    #[test]
    fn packet_size_must_fit_the_pool() {
        let p = pool(8);
        for size in [0, 13, p.data_room() + 1] {
            let mut port = NullPort::new("null0", size);
            let e = port.configure(&PortConfig::default(), &p).expect_err("refused");
            assert!(matches!(e, PortError::InvalidConfig(_)) && e.to_string().contains("packet size"), "{e}");
        }
        let mut port = NullPort::new("null0", p.data_room());
        assert!(port.configure(&PortConfig::default(), &p).is_ok());
        assert_eq!(port.packet_size(), p.data_room());
    }
}
