//! Queues a test scripts: a receive queue handing out frames it was given
//! or copies of a fixed set, and a transmit queue keeping what it is sent.

use std::sync::{Arc, Mutex};

use ferrite_pmd::{Mbuf, MbufBatch, Mempool, RxQueue, TxQueue};

/// Hands out the frames it holds, in order, a burst at a time.
pub struct GivenRx(pub Vec<Mbuf>);

impl RxQueue for GivenRx {
    fn rx_burst(&mut self, batch: &mut MbufBatch, budget: usize) -> usize {
        let n = budget.min(self.0.len()).min(batch.room());
        for m in self.0.drain(..n) {
            assert!(batch.push(m).is_ok(), "room was checked");
        }
        n
    }
    fn queue_id(&self) -> u16 {
        0
    }
}

/// Receives copies of `frames`, round and round, built from `pool` (pool
/// buffers and byte copies only: no heap allocation per frame). A burst
/// the pool cannot fill whole is not received.
pub struct ReplayRx {
    /// Where buffers come from.
    pub pool: Mempool,
    /// The frames, each one segment.
    pub frames: Vec<Vec<u8>>,
    /// The next frame to hand out.
    pub next: usize,
}

impl RxQueue for ReplayRx {
    fn rx_burst(&mut self, batch: &mut MbufBatch, budget: usize) -> usize {
        let n = budget.min(batch.room());
        let start = batch.len();
        if !self.pool.alloc_bulk(batch, n) {
            return 0;
        }
        for m in &mut batch.as_mut_slice()[start..] {
            let f = &self.frames[self.next];
            self.next = (self.next + 1) % self.frames.len();
            assert!(m.set_len(f.len()));
            m.data_mut().copy_from_slice(f);
        }
        n
    }
    fn queue_id(&self) -> u16 {
        0
    }
}

/// Takes every frame and keeps it, for the test to look at.
#[derive(Clone, Default)]
pub struct KeepTx(pub Arc<Mutex<Vec<Mbuf>>>);

impl KeepTx {
    /// The frames sent so far (taken out).
    pub fn take(&self) -> Vec<Mbuf> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl TxQueue for KeepTx {
    fn tx_burst(&mut self, batch: &mut MbufBatch) -> usize {
        let n = batch.len();
        self.0.lock().unwrap().extend(batch.drain_front(n));
        n
    }
    fn queue_id(&self) -> u16 {
        0
    }
}
