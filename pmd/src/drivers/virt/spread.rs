//! Software RSS for `loop` and `pair`: a transmit burst is spread over the
//! receiving end's wires by the Toeplitz hash and its redirection table,
//! as a multi-queue NIC would spread what it receives.
//!
//! Only used when the receiving end has RSS on (`set_rss_config` with hash
//! types) and more than one receive queue; otherwise transmit queue q feeds
//! receive queue q (`wire.rs`). The hash is written into each mbuf
//! (`set_rss_hash`) before it goes on the wire, so the receiver sees it as
//! it would a NIC's.
//!
//! One burst: classify every frame (hash → queue), take the longest prefix
//! of the batch that fits the wires' room, order the prefix's addresses by
//! destination (a counting sort into preallocated scratch), and move each
//! destination's run with one bulk enqueue. Several transmit queues may
//! feed one wire now, so the room seen can shrink before the enqueue: what
//! a wire then refuses is freed and counted as a transmit drop (as a NIC
//! drops what its receive queue has no descriptor for). No allocation.

use super::common::{take_oversize, End, MAX_QUEUES};
use super::wire::Wire;
use crate::mem::{MbufBatch, OffloadFlags, MAX_BURST};
use crate::rss::RssEngine;

/// Per transmit queue scratch, allocated once at open.
pub(crate) struct Spread {
    dest: [u8; MAX_BURST],
    rank: [u16; MAX_BURST],
    addrs: [usize; MAX_BURST],
}

impl Spread {
    /// Boxed: 5.6 KiB.
    pub fn new() -> Box<Spread> {
        Box::new(Spread { dest: [0; MAX_BURST], rank: [0; MAX_BURST], addrs: [0; MAX_BURST] })
    }
}

/// Sends what fits of `batch` from transmit queue `q` of `end` to `wires`,
/// spread by `rss`. Returns how many frames it took (sent, or dropped and
/// counted); the rest stay in the batch, in order.
#[inline(never)]
pub(crate) fn tx_spread(
    end: &End,
    q: usize,
    wires: &[Wire],
    rss: &RssEngine,
    batch: &mut MbufBatch,
    s: &mut Spread,
) -> usize {
    let limit = end.frame_limit();
    let mut taken = 0;
    if batch.iter().any(|m| m.len() > limit) {
        taken = take_oversize(end, q, batch, limit);
    }
    let nw = wires.len().min(MAX_QUEUES);
    if nw == 0 {
        return taken;
    }
    let mut room = [0usize; MAX_QUEUES];
    for (r, w) in room.iter_mut().zip(wires) {
        *r = w.room();
    }
    let mut count = [0usize; MAX_QUEUES];
    let (mut n, mut bytes) = (0, 0u64);
    for m in batch.iter_mut() {
        let (hash, dq) = match rss.classify(m.data()) {
            Some((h, dq)) if (dq as usize) < nw => (Some(h), dq as usize),
            Some((h, _)) => (Some(h), 0),
            None => (None, 0),
        };
        if count[dq] == room[dq] {
            break;
        }
        m.set_ol_flags(OffloadFlags::default());
        if let Some(h) = hash {
            m.set_rss_hash(h);
        }
        s.dest[n] = dq as u8;
        count[dq] += 1;
        bytes += m.len() as u64;
        n += 1;
    }
    if n == 0 {
        return taken;
    }
    let mut start = [0usize; MAX_QUEUES];
    let mut acc = 0;
    for (st, c) in start.iter_mut().zip(&count).take(nw) {
        *st = acc;
        acc += c;
    }
    let mut cursor = start;
    // SAFETY: `Mbuf` is `repr(transparent)` over a non-null pointer, the
    // layout `Wire::send` relies on too; the first `n` slots are initialised.
    // Only the addresses are read.
    let addrs = unsafe { std::slice::from_raw_parts(batch.as_slice().as_ptr().cast::<usize>(), n) };
    for (i, &a) in addrs.iter().enumerate() {
        let dq = s.dest[i] as usize;
        s.addrs[cursor[dq]] = a;
        s.rank[i] = (cursor[dq] - start[dq]) as u16;
        cursor[dq] += 1;
    }
    let mut sent = [0usize; MAX_QUEUES];
    for dq in 0..nw {
        if count[dq] > 0 {
            sent[dq] = wires[dq].push_addrs(&s.addrs[start[dq]..start[dq] + count[dq]]);
        }
    }
    // The wires own what they took (a receiver may hold it already): forget
    // those without touching them; free what a wire refused.
    let (mut dropped, mut dropped_bytes) = (0u64, 0u64);
    for (i, m) in batch.drain_front(n).enumerate() {
        if usize::from(s.rank[i]) < sent[s.dest[i] as usize] {
            let _ = m.into_raw();
        } else {
            dropped += 1;
            dropped_bytes += m.len() as u64;
            drop(m);
        }
    }
    for (w, &k) in wires.iter().zip(&sent) {
        if k > 0 {
            w.notify();
        }
    }
    let c = &end.tx[q].stats;
    c.add(n as u64 - dropped, bytes - dropped_bytes);
    if dropped > 0 {
        c.add_drops(dropped);
    }
    taken + n
}
