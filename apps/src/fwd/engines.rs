//! The forwarding engines: what a stream does to each burst (io, mac, csum,
//! rxonly, txonly/flowgen, ...), and the frame generator they share.

use super::*;

/// An engine and its settings, to build a [`Stream`].
#[derive(Clone)]
pub enum EngineConfig {
    /// io
    Io,
    /// mac: source and destination written into every frame.
    Mac {
        /// Source (the tx port's address).
        src: MacAddr,
        /// Destination (the peer's address).
        dst: MacAddr,
    },
    /// macswap
    MacSwap,
    /// rxonly
    RxOnly,
    /// txonly/flowgen
    TxGen(TxGenConfig),
    /// csum: the tx port's addresses, offloads and `--tso-segsz`.
    Csum(CsumConfig),
    /// icmpecho: replies are sent from this address (the tx port's).
    IcmpEcho {
        /// The tx port's MAC address.
        port_mac: MacAddr,
    },
    /// 5tswap
    FiveTupleSwap,
}

/// How long a generator keeps retrying frames its tx queue refuses before
/// it frees them as forwarding drops (DPDK's txonly frees at once; a short
/// retry keeps runs against a slower receiver lossless).
pub const TX_RETRY: std::time::Duration = std::time::Duration::from_millis(2);

pub(crate) struct TxGen {
    pub(crate) stuck_since: Option<Instant>,
    pub(crate) pool: Mempool,
    pub(crate) tmpl: Template,
    pub(crate) segments: Box<[usize]>,
    pub(crate) flows: u32,
    pub(crate) flow: u32,
    pub(crate) seq: u64,
    pub(crate) limit: u64,
    pub(crate) rate: Option<(Instant, f64)>,
}

pub(crate) struct Verifier {
    pub(crate) expected: Box<[u64; MAX_SENDERS]>,
}

pub(crate) enum Engine {
    Io,
    Mac { src: [u8; 6], dst: [u8; 6] },
    MacSwap,
    RxOnly(Verifier),
    TxGen(Box<TxGen>),
    Csum(CsumConfig),
    IcmpEcho([u8; 6]),
    FiveTupleSwap,
}

/// What a generating stream sends.
#[derive(Clone)]
pub struct TxGenConfig {
    /// Pool to build frames from.
    pub pool: Mempool,
    /// Frame layout; `sender` is overwritten from the stream's tx port/queue.
    pub spec: FrameSpec,
    /// Flows to cycle through (1 = txonly).
    pub flows: u32,
    /// Frames per second for this stream (`None`: as fast as possible).
    pub rate_pps: Option<f64>,
    /// Frames to send before stopping (`None`: no limit).
    pub count: Option<u64>,
    /// Lengths of the segments each frame is built of, first to last
    /// (`--txpkts X,Y,...`), summing to `spec.len`; empty for one segment.
    pub segments: Vec<usize>,
}

/// Most segments a generated frame may have (DPDK's `RTE_MAX_SEGS_PER_PKT`).
pub const MAX_TX_SEGMENTS: usize = 255;

impl TxGenConfig {
    /// The segment lengths, checked against the frame length and the
    /// pool's buffers (one segment of `spec.len` when none are given).
    pub(crate) fn segment_lengths(&self) -> Result<Box<[usize]>, String> {
        let len = self.spec.len;
        let room = self.pool.data_room();
        let min = pkt::PAYLOAD_OFF + pkt::SIG_LEN;
        let segs: Box<[usize]> = if self.segments.is_empty() { Box::new([len]) } else { self.segments.clone().into() };
        if len < min {
            return Err(format!("frame length {len} is less than the {min} B of headers and signature"));
        }
        let sum: usize = segs.iter().sum();
        if sum != len {
            return Err(format!("segments {segs:?} add up to {sum} B, not the frame length {len}"));
        }
        if segs.len() > MAX_TX_SEGMENTS || segs.contains(&0) {
            return Err(format!("{segs:?}: want 1..={MAX_TX_SEGMENTS} segments per frame, none empty"));
        }
        if let Some(big) = segs.iter().find(|&&l| l > room) {
            return Err(format!("a {big} B segment does not fit the pool's {room} B buffers"));
        }
        Ok(segs)
    }
}

/// Makes the fresh buffer `m` the first of a chain of `segments` lengths
/// (each checked against the data room when the stream was built), the
/// rest taken from `pool`. False if the pool ran short; `m` may then hold
/// part of the chain, which goes back with it.
#[inline]
pub(crate) fn build_chain(m: &mut Mbuf, pool: &Mempool, segments: &[usize]) -> bool {
    let Some((&first, rest)) = segments.split_first() else { return false };
    if !m.set_len(first) {
        return false;
    }
    for &len in rest {
        let Some(mut seg) = pool.alloc() else { return false };
        if !seg.set_len(len) || m.chain(seg).is_err() {
            return false;
        }
    }
    true
}

/// Takes `n` frames from `pool` into the (empty) `batch`, each a chain of
/// buffers of `segments` lengths, ready for [`Template::write_mbuf`]. All or
/// nothing: when the pool runs short, what was taken goes back and it
/// returns false. Pool allocations only, no heap.
pub(crate) fn alloc_frames(pool: &Mempool, batch: &mut MbufBatch, n: usize, segments: &[usize]) -> bool {
    debug_assert!(batch.is_empty());
    if !pool.alloc_bulk(batch, n) {
        return false;
    }
    for m in batch.iter_mut() {
        if !build_chain(m, pool, segments) {
            batch.clear();
            return false;
        }
    }
    true
}

/// Where a stream's frames go out: the capture tap and the VLAN tag.
#[derive(Clone, Copy)]
pub(crate) struct Egress<'a> {
    pub(crate) cap: Option<&'a StreamTaps>,
    pub(crate) vlan: Option<TxVlan>,
}

/// Tags every frame of `batch` (`--tx-vlan`); a frame that cannot be
/// tagged is freed and counted as a forwarding drop, never sent untagged.
#[inline]
pub(crate) fn tag(batch: &mut MbufBatch, vlan: Option<TxVlan>, c: &StreamCounters) {
    if let Some(v) = vlan {
        let dropped = batch.retain(|m| v.apply(m));
        if dropped != 0 {
            c.fwd_drops.add(dropped as u64);
        }
    }
}

/// rx burst → edit → tx burst; what tx does not take is freed and counted.
#[inline(always)]
pub(crate) fn forward(
    rx: &mut dyn RxQueue,
    tx: &mut dyn TxQueue,
    batch: &mut MbufBatch,
    burst: usize,
    c: &StreamCounters,
    out: Egress<'_>,
    edit: impl FnOnce(&mut MbufBatch),
) -> usize {
    let n = rx.rx_burst(batch, burst);
    if n == 0 {
        // Nothing to send, so no tx_burst to reclaim completions in: do it
        // here, or a ring that holds the pool starves the receive refill.
        tx.tx_done_cleanup();
        return 0;
    }
    if let Some(t) = out.cap.and_then(|c| c.rx.as_ref()) {
        t.record(batch.as_slice());
    }
    c.rx.add(n as u64);
    edit(batch);
    tag(batch, out.vlan, c);
    let sent = tx_captured(tx, batch, out.cap);
    c.tx.add(sent as u64);
    if !batch.is_empty() {
        c.fwd_drops.add(batch.len() as u64);
        batch.clear();
    }
    n
}

#[inline(always)]
pub(crate) fn rx_only(
    rx: &mut dyn RxQueue,
    batch: &mut MbufBatch,
    burst: usize,
    c: &StreamCounters,
    v: &mut Verifier,
    cap: Option<&StreamTaps>,
) -> usize {
    let n = rx.rx_burst(batch, burst);
    if n == 0 {
        return 0;
    }
    if let Some(t) = cap.and_then(|c| c.rx.as_ref()) {
        t.record(batch.as_slice());
    }
    let (mut bad, mut ooo, mut gaps) = (0u64, 0u64, 0u64);
    for m in batch.iter() {
        match pkt::parse_mbuf(m) {
            Verdict::Foreign => {}
            Verdict::Bad => bad += 1,
            Verdict::Good { sender, seq } => {
                // `seq` is whatever the peer wrote, up to u64::MAX: saturate
                // rather than overflow. After u64::MAX (2^64 frames, never
                // reached by a real sender) the expectation stays there.
                let e = &mut v.expected[sender as usize % MAX_SENDERS];
                if seq >= *e {
                    gaps = gaps.saturating_add(seq - *e);
                    *e = seq.saturating_add(1);
                } else {
                    ooo += 1;
                }
            }
        }
    }
    batch.clear();
    c.rx.add(n as u64);
    c.consumed.add(n as u64);
    if bad | ooo | gaps != 0 {
        c.bad_payload.add(bad);
        c.out_of_order.add(ooo);
        c.seq_gaps.add(gaps);
    }
    n
}

#[inline(always)]
pub(crate) fn tx_gen(
    tx: &mut dyn TxQueue,
    batch: &mut MbufBatch,
    burst: usize,
    c: &StreamCounters,
    g: &mut TxGen,
    out: Egress<'_>,
) -> usize {
    let mut made = 0;
    if batch.is_empty() {
        // Leftovers are retried before anything new is built, so each
        // sender's frames leave in sequence order.
        let mut n = (g.limit - g.seq).min(burst as u64);
        if n == 0 {
            c.done.store(true, Relaxed);
            return 0;
        }
        n = n.min(due_by_rate(g, burst));
        if n == 0 {
            return 0;
        }
        let n = n as usize;
        if !alloc_frames(&g.pool, batch, n, &g.segments) {
            // The pool may be empty because the ring holds it: completions
            // come back only if someone reclaims them.
            tx.tx_done_cleanup();
            return 0;
        }
        write_frames(g, batch);
        c.generated.add(n as u64);
        made = n;
        // Tagged once, when built: leftovers retried are tagged already.
        tag(batch, out.vlan, c);
    }
    send_or_give_up(tx, batch, c, g, out.cap);
    made
}

/// How many frames `--tx-rate` allows now (any number without a rate).
fn due_by_rate(g: &mut TxGen, burst: usize) -> u64 {
    let Some((start, rate)) = &mut g.rate else { return u64::MAX };
    let mut due = (start.elapsed().as_secs_f64() * *rate) as u64;
    // A token bucket two bursts deep: a sender that was held up
    // (descheduled, a slow doorbell) does not flood the wire to
    // catch up; the missed time is forgiven instead. Flooding after a
    // stall overflowed QEMU's igb receive queue, which drops silently.
    let depth = 2 * burst as u64;
    if due > g.seq + depth {
        *start += Duration::from_secs_f64((due - g.seq - depth) as f64 / *rate);
        due = g.seq + depth;
    }
    due.saturating_sub(g.seq)
}

/// Writes the template into every frame of `batch`, each with the next
/// sequence number and, with several flows, the next flow.
fn write_frames(g: &mut TxGen, batch: &mut MbufBatch) {
    for m in batch.iter_mut() {
        let flow = (g.flows > 1).then_some(g.flow as u16);
        g.tmpl.write_mbuf(m, g.seq, flow);
        if flow.is_some() {
            g.flow += 1;
            if g.flow == g.flows {
                g.flow = 0;
            }
        }
        g.seq += 1;
    }
}

/// Sends what the batch holds; frames the queue keeps refusing for
/// [`TX_RETRY`] are dropped and counted.
fn send_or_give_up(
    tx: &mut dyn TxQueue,
    batch: &mut MbufBatch,
    c: &StreamCounters,
    g: &mut TxGen,
    cap: Option<&StreamTaps>,
) {
    let sent = tx_captured(tx, batch, cap);
    c.tx.add(sent as u64);
    if sent == 0 && !batch.is_empty() {
        let since = *g.stuck_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= TX_RETRY {
            c.fwd_drops.add(batch.len() as u64);
            batch.clear();
            g.stuck_since = None;
        }
    } else {
        g.stuck_since = None;
    }
}

/// `tx_burst`, copying the frames the queue takes to the capture, if any.
#[inline(always)]
pub(crate) fn tx_captured(tx: &mut dyn TxQueue, batch: &mut MbufBatch, cap: Option<&StreamTaps>) -> usize {
    match cap.and_then(|c| c.tx.as_ref()) {
        None => tx.tx_burst(batch),
        Some(t) => {
            let staged = t.stage(batch.as_slice());
            let sent = tx.tx_burst(batch);
            t.publish(sent, staged);
            sent
        }
    }
}
