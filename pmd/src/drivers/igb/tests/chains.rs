//! Multi-segment frames against the fake register file: scattered receive
//! (the `scatter` offload) and chained transmit (`multi_segs`). The test
//! plays the device, writing receive buffers and descriptors back, and
//! completing transmit descriptors the way the 82576 does.

use super::*;
use crate::mem::{Mbuf, OffloadFlags};
use std::cell::Cell;

/// Receive buffer size of the tests' pools (the default data room).
const BUF: usize = 2048;

/// Configures `port` on `pool` (64 receive descriptors, `tx_ring` transmit
/// descriptors, one queue each) with the given offloads, and opens it.
pub(super) fn open_with(port: &mut IgbPort, pool: &Mempool, rx: RxOffloads, tx: TxOffloads, tx_ring: u16) -> Queues {
    let conf = PortConfig {
        rx_ring_size: 64,
        tx_ring_size: tx_ring,
        rx_offloads: rx,
        tx_offloads: tx,
        ..PortConfig::default()
    };
    port.configure(&conf, pool).unwrap();
    port.open().unwrap()
}

/// `len` bytes that differ from one position to the next, so a segment put
/// in the wrong place or cut at the wrong length shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Plays the device receiving `data` into receive descriptor `slot` of
/// queue 0: the bytes go into the buffer armed there, then the descriptor
/// is written back with the RSS hash (type 1) if given, the length, and
/// `status` last (DD), as the device orders it.
fn device_rx(hw: &Hw, slot: usize, data: &[u8], status: u32, rss: Option<u32>) {
    assert!(slot < 64 && data.len() <= BUF);
    let d = desc(hw, rdbal(0), rdbah(0), slot);
    // SAFETY: `d` is descriptor `slot` of the live 64-descriptor ring the
    // driver programmed, which holds a buffer address (IOVA = VA here) of a
    // BUF-byte data room the driver handed to the device and does not read
    // until DD is set; the driver reads the descriptor only volatile.
    unsafe {
        let buf = (d.read_volatile() as u64 | (d.add(1).read_volatile() as u64) << 32) as *mut u8;
        std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len());
        let (kind, hash) = rss.map_or((0, 0), |h| (1, h));
        d.write_volatile(kind);
        d.add(1).write_volatile(hash);
        d.add(3).write_volatile(data.len() as u32);
        d.add(2).write_volatile(status);
    }
}

/// Plays the device receiving one frame into consecutive descriptors from
/// `first` on (wrapping at 64), one buffer at a time: `status` on the last
/// one only (with EOP added), the earlier ones DD alone.
fn device_rx_frame(hw: &Hw, first: usize, frame: &[u8], status: u32) -> usize {
    let mut slot = first;
    let mut chunks = frame.chunks(BUF).peekable();
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let st = if last { status | desc::RXD_STAT_DD | desc::RXD_STAT_EOP } else { desc::RXD_STAT_DD };
        device_rx(hw, slot, chunk, st, None);
        slot = (slot + 1) % 64;
    }
    slot
}

/// The four words of transmit descriptor `i` of queue 0.
pub(super) fn tx_desc(hw: &Hw, i: usize) -> [u32; 4] {
    let d = desc(hw, tdbal(0), tdbah(0), i);
    // SAFETY: descriptor `i` of the live transmit ring (the callers stay
    // below its size); read volatile, as the device would.
    unsafe { [0, 1, 2, 3].map(|w| d.add(w).read_volatile()) }
}

/// Plays the device transmitting everything handed to it: every descriptor
/// from TDH up to TDT is processed, DD written back where RS is set, and
/// TDH moves to TDT.
pub(super) fn device_tx_all(hw: &Hw, ring: usize) {
    let (mut i, tail) = (hw.read(tdh(0)) as usize, hw.read(tdt(0)) as usize);
    while i != tail {
        let d = desc(hw, tdbal(0), tdbah(0), i);
        // SAFETY: descriptor `i` (< ring) of the live transmit ring, which
        // the driver handed over with TDT and does not rewrite before DD.
        unsafe {
            if d.add(2).read_volatile() & desc::TXD_CMD_RS != 0 {
                d.add(3).write_volatile(desc::TXD_STAT_DD);
            }
        }
        i = (i + 1) % ring;
    }
    hw.write(tdh(0), tail as u32);
}

/// A chain of `lens.len()` segments from `pool`, carrying `pattern(total)`.
fn chain_of(pool: &Mempool, lens: &[usize]) -> Mbuf {
    mbuf_of(pool, &pattern(lens.iter().sum()), lens)
}

/// A one-buffer frame of `len` bytes.
pub(super) fn one(pool: &Mempool, len: usize) -> Mbuf {
    let mut m = pool.alloc().unwrap();
    assert!(m.set_len(len));
    m
}

/// Every byte of a packet, across its segments.
fn bytes_of(m: &Mbuf) -> Vec<u8> {
    let mut out = vec![0; m.len()];
    assert_eq!(m.read(0, &mut out), m.len());
    out
}

fn seg_lens(m: &Mbuf) -> Vec<usize> {
    m.segments().map(|s| s.len()).collect()
}

fn rx0(port: &IgbPort) -> crate::port::QueueStats {
    port.stats64().rx_queues[0]
}

#[test]
fn scatter_delivers_a_three_buffer_frame_as_one_chain_with_the_last_descriptors_metadata() {
    let (mut port, hw) = fake_port();
    let pool = pool(256);
    let mut q = open_with(&mut port, &pool, RxOffloads::SCATTER, TxOffloads::empty(), 64);
    port.change_mtu(9000).expect("scatter lets the MTU outgrow one buffer");
    assert_eq!(hw.read(RLPML), 9000 + 14 + 8 + 4, "RLPML follows the MTU with scatter");
    assert_ne!(hw.read(RCTL) & RCTL_LPE, 0, "long frames are enabled");

    // 2048 + 2048 + 818. The first descriptor carries a bad IP checksum and
    // a different hash: the device writes the frame's real ones at EOP.
    let frame = pattern(4914);
    let bad = desc::RXD_STAT_DD | desc::RXD_STAT_IPCS | desc::RXD_ERR_IPE;
    device_rx(&hw, 0, &frame[..BUF], bad, Some(0x1111));
    device_rx(&hw, 1, &frame[BUF..2 * BUF], desc::RXD_STAT_DD, None);
    let eop = desc::RXD_STAT_DD | desc::RXD_STAT_EOP | desc::RXD_STAT_IPCS | desc::RXD_STAT_L4CS;
    device_rx(&hw, 2, &frame[2 * BUF..], eop, Some(0xdead_beef));

    let mut batch = MbufBatch::new();
    assert_eq!(q.rx[0].rx_burst(&mut batch, 32), 1, "one frame, not three");
    let m = &batch.as_slice()[0];
    assert_eq!((m.len(), m.nb_segs(), m.data_len()), (4914, 3, 2048));
    assert_eq!(seg_lens(m), [2048, 2048, 818]);
    assert!(bytes_of(m) == frame, "the bytes arrive whole and in order");
    assert_eq!(m.queue(), 0);
    let f = m.ol_flags();
    assert!(f.contains(OffloadFlags::RX_IP_CKSUM_GOOD | OffloadFlags::RX_L4_CKSUM_GOOD), "{f:?}");
    assert!(!f.contains(OffloadFlags::RX_IP_CKSUM_BAD), "{f:?}");
    assert_eq!(m.rss_hash(), 0xdead_beef);
    let s = rx0(&port);
    assert_eq!((s.packets, s.bytes, s.drops, s.errors), (1, 4914, 0, 0), "counted once, whole");
    assert_eq!(pool.in_use(), 64, "61 armed buffers and the 3 of the chain: nothing refilled yet");

    drop((batch, q));
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn a_frame_split_over_two_bursts_and_the_ring_wrap_is_one_chain_and_budget_counts_frames() {
    let (mut port, hw) = fake_port();
    let pool = pool(256);
    let mut q = open_with(&mut port, &pool, RxOffloads::SCATTER, TxOffloads::empty(), 64);
    port.change_mtu(9000).unwrap();
    let mut batch = MbufBatch::new();

    // Bring the ring's next slot to 62.
    for i in 0..62 {
        device_rx(&hw, i, &[7; 60], desc::RXD_STAT_DD | desc::RXD_STAT_EOP, None);
    }
    assert_eq!(q.rx[0].rx_burst(&mut batch, 64), 62);
    batch.clear();

    // Slots 62 and 63 arrive first; slot 0, with EOP, only later.
    let frame = pattern(4914);
    device_rx(&hw, 62, &frame[..BUF], desc::RXD_STAT_DD, None);
    device_rx(&hw, 63, &frame[BUF..2 * BUF], desc::RXD_STAT_DD, None);
    assert_eq!(q.rx[0].rx_burst(&mut batch, 32), 0, "no EOP yet");
    assert_eq!(rx0(&port).packets, 62, "nothing counted for half a frame");
    device_rx(&hw, 0, &frame[2 * BUF..], desc::RXD_STAT_DD | desc::RXD_STAT_EOP, None);
    assert_eq!(q.rx[0].rx_burst(&mut batch, 32), 1);
    let m = batch.pop().unwrap();
    assert_eq!((m.len(), m.nb_segs()), (4914, 3));
    assert_eq!(seg_lens(&m), [2048, 2048, 818]);
    assert!(bytes_of(&m) == frame);
    drop(m);

    // Two 3-buffer frames (slots 1..=6) and a budget of one: the budget is
    // one frame, not one descriptor, and the second frame waits its turn.
    let next = device_rx_frame(&hw, 1, &frame, 0);
    device_rx_frame(&hw, next, &pattern(5000), 0);
    assert_eq!(q.rx[0].rx_burst(&mut batch, 1), 1);
    assert_eq!(batch.as_slice()[0].len(), 4914);
    assert_eq!(q.rx[0].rx_burst(&mut batch, 1), 1);
    assert_eq!(batch.as_slice()[1].len(), 5000);
    assert_eq!(rx0(&port).bytes, 62 * 60 + 4914 * 2 + 5000);

    drop((batch, q));
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn an_error_on_a_middle_buffer_drops_the_whole_frame_once() {
    let (mut port, hw) = fake_port();
    let pool = pool(256);
    let mut q = open_with(&mut port, &pool, RxOffloads::SCATTER, TxOffloads::empty(), 64);
    port.change_mtu(9000).unwrap();

    let frame = pattern(4914);
    device_rx(&hw, 0, &frame[..BUF], desc::RXD_STAT_DD, None);
    device_rx(&hw, 1, &frame[BUF..2 * BUF], desc::RXD_STAT_DD | desc::RXD_ERR_RXE, None);
    device_rx(&hw, 2, &frame[2 * BUF..], desc::RXD_STAT_DD | desc::RXD_STAT_EOP, None);
    device_rx(&hw, 3, &[9; 100], desc::RXD_STAT_DD | desc::RXD_STAT_EOP, None);

    let mut batch = MbufBatch::new();
    assert_eq!(q.rx[0].rx_burst(&mut batch, 32), 1, "only the frame after it");
    assert_eq!((batch.as_slice()[0].len(), batch.as_slice()[0].nb_segs()), (100, 1));
    let s = rx0(&port);
    assert_eq!((s.packets, s.bytes, s.drops, s.errors), (1, 100, 1, 1), "one frame dropped, counted once");
    assert_eq!(sw_stat(&port, "rx_mtu_oversize_drops"), 0);
    // 60 buffers still armed (4 holes, below the refill threshold) and the
    // one delivered: the dropped frame's three buffers are back in the pool.
    assert_eq!(pool.in_use(), 61);

    drop((batch, q));
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn an_empty_last_buffer_ends_a_chain_and_an_empty_first_one_is_an_error() {
    let (mut port, hw) = fake_port();
    let pool = pool(256);
    let mut q = open_with(&mut port, &pool, RxOffloads::SCATTER, TxOffloads::empty(), 64);
    port.change_mtu(9000).unwrap();

    let frame = pattern(BUF);
    device_rx(&hw, 0, &frame, desc::RXD_STAT_DD, None);
    device_rx(&hw, 1, &[], desc::RXD_STAT_DD | desc::RXD_STAT_EOP, None);
    device_rx(&hw, 2, &[], desc::RXD_STAT_DD | desc::RXD_STAT_EOP, None);
    let mut batch = MbufBatch::new();
    assert_eq!(q.rx[0].rx_burst(&mut batch, 32), 1);
    let m = &batch.as_slice()[0];
    assert_eq!((m.len(), m.nb_segs()), (BUF, 1), "the empty buffer is not a segment");
    assert!(bytes_of(m) == frame);
    let s = rx0(&port);
    assert_eq!((s.packets, s.drops, s.errors), (1, 1, 1), "a frame of nothing is an error");
    assert_eq!(pool.in_use(), 61 + 1);

    drop((batch, q));
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn an_oversize_chain_is_dropped_whole_and_counted_as_over_the_mtu() {
    let (mut port, hw) = fake_port();
    let pool = pool(256);
    let mut q = open_with(&mut port, &pool, RxOffloads::SCATTER, TxOffloads::empty(), 64);
    port.change_mtu(3000).unwrap();
    assert_eq!(hw.read(RLPML), 3000 + 14 + 8 + 4);

    // 4914 B over a 3022 B limit (the device would not pass it, given that
    // RLPML; the receive path must not trust that), then 2948 B that fit.
    let next = device_rx_frame(&hw, 0, &pattern(4914), 0);
    device_rx_frame(&hw, next, &pattern(2948), 0);
    let mut batch = MbufBatch::new();
    assert_eq!(q.rx[0].rx_burst(&mut batch, 32), 1);
    let m = &batch.as_slice()[0];
    assert_eq!((m.len(), m.nb_segs()), (2948, 2));
    assert!(bytes_of(m) == pattern(2948));
    assert_eq!(sw_stat(&port, "rx_mtu_oversize_drops"), 1);
    let s = rx0(&port);
    assert_eq!((s.packets, s.drops, s.errors), (1, 1, 1));
    assert_eq!(pool.in_use(), 64 - 5 + 2, "the oversize frame's three buffers went back");

    drop((batch, q));
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn without_scatter_a_frame_over_several_buffers_is_still_dropped() {
    let (mut port, hw) = fake_port();
    let pool = pool(256);
    let mut q = open_with(&mut port, &pool, RxOffloads::empty(), TxOffloads::empty(), 64);
    assert_eq!(hw.read(RLPML), 2048 + 4, "RLPML stays the buffer size without scatter");

    let next = device_rx_frame(&hw, 0, &pattern(2866), 0);
    device_rx(&hw, next, &[5; 100], desc::RXD_STAT_DD | desc::RXD_STAT_EOP, None);
    let mut batch = MbufBatch::new();
    assert_eq!(q.rx[0].rx_burst(&mut batch, 32), 1);
    assert_eq!((batch.as_slice()[0].len(), batch.as_slice()[0].nb_segs()), (100, 1));
    let s = rx0(&port);
    assert_eq!((s.packets, s.drops, s.errors), (1, 1, 1));
    assert_eq!(sw_stat(&port, "rx_mtu_oversize_drops"), 0);
    assert_eq!(pool.in_use(), 64 - 3 + 1);

    drop((batch, q));
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn scatter_lets_the_mtu_outgrow_the_buffer_and_the_refusal_says_so() {
    let (mut port, hw) = fake_port();
    let pool = pool(256);
    let plain = PortConfig { rx_ring_size: 64, tx_ring_size: 64, ..PortConfig::default() };
    let scatter = PortConfig { rx_offloads: RxOffloads::SCATTER, ..plain.clone() };

    port.configure(&plain, &pool).unwrap();
    let e = port.change_mtu(9000).unwrap_err().to_string();
    assert!(e.contains("--mbuf-size 9216") && e.contains("--rx-offloads scatter"), "{e}");
    assert_eq!(port.mtu(), 1500);

    port.configure(&scatter, &pool).unwrap();
    port.change_mtu(9000).unwrap();
    let e = port.configure(&plain, &pool).unwrap_err().to_string();
    assert!(e.contains("MTU 9000") && e.contains("--rx-offloads scatter"), "{e}");

    port.configure(&scatter, &pool).unwrap();
    let q = port.open().unwrap();
    assert_eq!(hw.read(RLPML), 9026);
    port.change_mtu(1500).unwrap();
    assert_eq!(hw.read(RLPML), 1526, "a live MTU change moves RLPML with scatter");
    drop(q);
    port.stop().unwrap();
}

#[test]
fn a_chain_goes_out_as_one_descriptor_per_segment_and_comes_back_once() {
    let (mut port, hw) = fake_port();
    let pool = pool(512);
    let mut q = open_with(&mut port, &pool, RxOffloads::empty(), TxOffloads::MULTI_SEGS, 64);
    assert_eq!(tx::rs_thresh_for(64), 32, "the test's groups");
    let tx_in_use = |pool: &Mempool| pool.in_use() - 64;

    // 11 chains of 3: slots 0..=32; chain 10 (slots 30, 31, 32) straddles
    // the first group's last slot.
    let mut batch = MbufBatch::new();
    for _ in 0..11 {
        batch.push(chain_of(&pool, &[100, 200, 300])).unwrap();
    }
    let iovas: Vec<u64> = batch.as_slice()[0].segments().map(|s| s.data_iova()).collect();
    assert_eq!(q.tx[0].tx_burst(&mut batch), 11);
    assert_eq!(hw.read(tdt(0)), 33);
    for (k, (len, iova)) in [100u32, 200, 300].into_iter().zip(iovas).enumerate() {
        let d = tx_desc(&hw, k);
        assert_eq!(d[0] as u64 | (d[1] as u64) << 32, iova, "descriptor {k}: the segment's address");
        assert_eq!(d[2] & 0xFFFF, len, "descriptor {k}: the segment's length");
        assert_eq!(d[3] >> desc::TXD_PAYLEN_SHIFT, 600, "descriptor {k}: PAYLEN is the frame");
        assert_eq!(d[2] & desc::TXD_CMD_EOP != 0, k == 2, "descriptor {k}: EOP on the last only");
    }
    let rs: Vec<usize> = (0..33).filter(|&i| tx_desc(&hw, i)[2] & desc::TXD_CMD_RS != 0).collect();
    assert_eq!(rs, [32], "RS on the EOP of the frame covering slot 31, nowhere mid-frame");
    let s = port.stats64().tx_queues[0];
    assert_eq!((s.packets, s.bytes), (11, 11 * 600));
    assert_eq!(tx_in_use(&pool), 33);

    // Done up to slot 32: the ten chains ending in slots 0..=31 come back;
    // chain 10, parked at slot 32, belongs to the next group.
    device_tx_all(&hw, 64);
    assert_eq!(q.tx[0].tx_done_cleanup(), 10);
    assert_eq!(tx_in_use(&pool), 3);

    // Ten more chains (33..=62) and a one-buffer frame at 63 close the
    // second group; once done, every transmit buffer is back.
    for _ in 0..10 {
        batch.push(chain_of(&pool, &[100, 200, 300])).unwrap();
    }
    batch.push(one(&pool, 60)).unwrap();
    assert_eq!(q.tx[0].tx_burst(&mut batch), 11);
    assert_eq!(hw.read(tdt(0)), 0);
    device_tx_all(&hw, 64);
    assert_eq!(q.tx[0].tx_done_cleanup(), 12);
    assert_eq!(tx_in_use(&pool), 0, "each chain went back once, whole");

    drop(q);
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn a_chain_that_does_not_fit_waits_and_goes_later_across_the_wrap() {
    let (mut port, hw) = fake_port();
    let pool = pool(512);
    let mut q = open_with(&mut port, &pool, RxOffloads::empty(), TxOffloads::MULTI_SEGS, 64);
    let mut batch = MbufBatch::new();
    for _ in 0..20 {
        batch.push(chain_of(&pool, &[64, 64, 64])).unwrap();
    }
    assert_eq!(q.tx[0].tx_burst(&mut batch), 20);
    assert_eq!(hw.read(tdt(0)), 60, "three free descriptors left (one always stays empty)");

    // Five segments do not fit in three: the chain, and the frame behind
    // it, stay with the caller, in order; nothing is written.
    batch.push(chain_of(&pool, &[1000, 900, 800, 700, 600])).unwrap();
    batch.push(one(&pool, 60)).unwrap();
    let iovas: Vec<u64> = batch.as_slice()[0].segments().map(|s| s.data_iova()).collect();
    assert_eq!(q.tx[0].tx_burst(&mut batch), 0);
    assert_eq!((batch.len(), batch.as_slice()[0].nb_segs()), (2, 5));
    assert_eq!(hw.read(tdt(0)), 60);

    // The device finishes: the first group comes back and the chain goes
    // out on slots 60..=63 and 0, the frame behind it on slot 1.
    device_tx_all(&hw, 64);
    assert_eq!(q.tx[0].tx_burst(&mut batch), 2);
    assert!(batch.is_empty());
    assert_eq!(hw.read(tdt(0)), 2);
    for (k, (slot, len)) in [(60usize, 1000u32), (61, 900), (62, 800), (63, 700), (0, 600)].into_iter().enumerate() {
        let d = tx_desc(&hw, slot);
        assert_eq!(d[0] as u64 | (d[1] as u64) << 32, iovas[k]);
        assert_eq!(d[2] & 0xFFFF, len);
        assert_eq!(d[2] & desc::TXD_CMD_EOP != 0, slot == 0, "slot {slot}");
    }
    assert_ne!(tx_desc(&hw, 0)[2] & desc::TXD_CMD_RS, 0, "the wrapping chain covers slot 63: its EOP reports");
    assert_eq!(tx_desc(&hw, 63)[2] & desc::TXD_CMD_RS, 0);

    // Done again: the second group (frames ending in 32..=63) comes back;
    // the wrapped chain and the last frame are parked in the next one.
    device_tx_all(&hw, 64);
    assert_eq!(q.tx[0].tx_done_cleanup(), 10);
    assert_eq!(pool.in_use() - 64, 5 + 1);
    let s = port.stats64().tx_queues[0];
    assert_eq!((s.packets, s.bytes, s.drops), (22, 20 * 192 + 4000 + 60, 0));

    drop(q);
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity(), "the parked chain freed once by the queue's drop");
}

#[test]
fn chains_the_device_cannot_take_are_refused_and_counted() {
    let (mut port, hw) = fake_port();
    let pool = pool(512);
    // 32 descriptors in groups of 16: a frame may take 16.
    let mut q = open_with(&mut port, &pool, RxOffloads::empty(), TxOffloads::MULTI_SEGS, 32);
    assert_eq!(tx::rs_thresh_for(32), 16);
    let mut batch = MbufBatch::new();
    batch.push(chain_of(&pool, &[100, 100, 100])).unwrap();
    // An empty middle segment: no zero-length descriptor inside a frame.
    let mut holed = chain_of(&pool, &[100]);
    let mut empty = pool.alloc().unwrap();
    assert!(empty.set_len(0));
    holed.chain(empty).unwrap();
    holed.chain(chain_of(&pool, &[100])).unwrap();
    batch.push(holed).unwrap();
    batch.push(chain_of(&pool, &[10; 17])).unwrap();
    batch.push(chain_of(&pool, &[10; 16])).unwrap();
    batch.push(one(&pool, 60)).unwrap();

    assert_eq!(q.tx[0].tx_burst(&mut batch), 5, "all taken: three sent, two refused");
    assert!(batch.is_empty());
    assert_eq!(hw.read(tdt(0)), 3 + 16 + 1);
    let s = port.stats64().tx_queues[0];
    assert_eq!((s.packets, s.bytes, s.drops), (3, 300 + 160 + 60, 2));
    assert_eq!(pool.in_use() - 64, 3 + 16 + 1, "the refused chains went back whole");

    drop(q);
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn every_segment_of_a_chain_left_to_a_stuck_device_is_counted() {
    let (mut port, _hw) = fake_port();
    let pool = pool(512);
    let mut q = open_with(&mut port, &pool, RxOffloads::empty(), TxOffloads::MULTI_SEGS, 64);
    let mut batch = MbufBatch::new();
    for _ in 0..3 {
        batch.push(chain_of(&pool, &[100, 100, 100])).unwrap();
    }
    batch.push(one(&pool, 60)).unwrap();
    assert_eq!(q.tx[0].tx_burst(&mut batch), 4);
    let out = pool.in_use();
    assert_eq!(out, 64 + 10);
    STUCK.set(true);
    drop(q);
    STUCK.set(false);
    assert_eq!(sw_stat(&port, "mbufs_left_to_device"), out as u64, "buffers, not frames");
    port.stop().unwrap();
    assert_eq!(pool.in_use(), out, "none went back to the pool");
}

/// Heap allocations made by this thread, counted by the test binary's
/// global allocator (`crate::alloc_count`; also read by `tx_offloads`).
pub(super) use crate::alloc_count::ALLOCS;

#[test]
fn receiving_and_sending_chains_allocates_nothing() {
    let (mut port, hw) = fake_port();
    let pool = pool(512);
    let mut q = open_with(&mut port, &pool, RxOffloads::SCATTER, TxOffloads::MULTI_SEGS, 64);
    port.change_mtu(9000).unwrap();
    let frame = pattern(4914);
    let mut batch = MbufBatch::new();
    let mut slot = 0;
    // One jumbo frame in three buffers per round: received as a chain, sent
    // back out as three descriptors, completed and reclaimed.
    let mut round = |slot: &mut usize| -> usize {
        *slot = device_rx_frame(&hw, *slot, &frame, 0);
        let got = q.rx[0].rx_burst(&mut batch, 32);
        let sent = q.tx[0].tx_burst(&mut batch);
        device_tx_all(&hw, 64);
        q.tx[0].tx_done_cleanup();
        assert_eq!((got, sent), (1, 1));
        sent
    };
    for _ in 0..100 {
        round(&mut slot);
    }
    let before = ALLOCS.with(Cell::get);
    let moved: usize = (0..1000).map(|_| round(&mut slot)).sum();
    let allocations = ALLOCS.with(Cell::get) - before;
    assert_eq!(allocations, 0, "the per-packet path allocated {allocations} times");
    assert_eq!(moved, 1000);
    assert_eq!(port.stats64().tx_queues[0].bytes, 1100 * 4914);

    drop(q);
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity());
}
