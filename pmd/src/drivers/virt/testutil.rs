//! Test helpers: small pools on ordinary pages, and frames that carry a
//! sequence number and a payload pattern derived from it, so a test can
//! tell order, loss and corruption apart.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use ferrite_hugepages::{DmaOptions, Fallback};

use crate::mem::{Mbuf, MbufBatch, Mempool, MempoolConfig};
use crate::port::MacAddr;

/// A destination no virtual port has.
pub(crate) const STRANGER: MacAddr = MacAddr([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]);
const ETHERTYPE: [u8; 2] = [0x88, 0xb5];
/// Header (14) + sequence number (8).
pub(crate) const MIN_FRAME: usize = 22;

/// A pool of `n` buffers on 4 KiB pages (the host has no huge pages).
pub(crate) fn pool(n: usize) -> Mempool {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let mut cfg = MempoolConfig::new(&format!("virt-test-{}", NEXT.fetch_add(1, Relaxed)), n);
    cfg.dma = DmaOptions { fallback: Fallback::SmallPages, ..DmaOptions::default() };
    Mempool::new(&cfg).expect("test pool")
}

/// A `len`-byte frame to `dst` carrying `seq` (len >= MIN_FRAME, or the
/// header only when shorter).
pub(crate) fn frame(pool: &Mempool, dst: MacAddr, seq: u64, len: usize) -> Mbuf {
    let mut m = pool.alloc().expect("pool has room");
    assert!(m.set_len(len));
    let d = m.data_mut();
    let mut head = [0u8; MIN_FRAME];
    head[..6].copy_from_slice(&dst.0);
    head[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    head[12..14].copy_from_slice(&ETHERTYPE);
    head[14..].copy_from_slice(&seq.to_le_bytes());
    let n = len.min(MIN_FRAME);
    d[..n].copy_from_slice(&head[..n]);
    for (i, b) in d.iter_mut().enumerate().skip(MIN_FRAME) {
        *b = pattern(seq, i);
    }
    m
}

fn pattern(seq: u64, i: usize) -> u8 {
    (seq as u8).wrapping_mul(31).wrapping_add(i as u8)
}

/// Frames `seqs` to STRANGER, `len` bytes each.
pub(crate) fn frames(pool: &Mempool, seqs: Range<u64>, len: usize) -> MbufBatch {
    let mut b = MbufBatch::new();
    for s in seqs {
        b.push(frame(pool, STRANGER, s, len)).expect("batch has room");
    }
    b
}

/// The sequence number a frame carries, after checking its payload.
pub(crate) fn seq_of(m: &Mbuf) -> u64 {
    let d = m.data();
    assert!(d.len() >= MIN_FRAME, "frame of {} bytes carries no sequence number", d.len());
    let seq = u64::from_le_bytes(d[14..22].try_into().unwrap());
    for (i, &b) in d.iter().enumerate().skip(MIN_FRAME) {
        assert_eq!(b, pattern(seq, i), "frame {seq}: payload byte {i} corrupted");
    }
    seq
}

/// Sequence numbers of a batch, in order.
pub(crate) fn seqs(batch: &MbufBatch) -> Vec<u64> {
    batch.iter().map(seq_of).collect()
}
