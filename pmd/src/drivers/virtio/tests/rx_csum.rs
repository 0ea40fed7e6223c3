//! Receive checksum offload (GUEST_CSUM) against the fake device: when it
//! is negotiated, DATA_VALID marking, NEEDS_CSUM completion (one buffer,
//! and mergeable chains cut at odd offsets of the summed range), and
//! offsets outside the frame. Expected checksums come from
//! `test_frames` (RFC 1071 written out separately), never from
//! `crate::checksum`.

use super::*;
use crate::mem::OffloadFlags;
use crate::test_frames::{frame, pseudo, rfc1071, Ip, TCP, UDP};

const CSUM: RxOffloads = RxOffloads::TCP_CKSUM.union(RxOffloads::UDP_CKSUM);

/// A header saying NEEDS_CSUM from `start`, field at `start + offset`.
fn needs_csum(start: u16, offset: u16) -> [u8; NET_HDR_NUM_BUFFERS] {
    let mut h = [0u8; NET_HDR_NUM_BUFFERS];
    h[0] = 1;
    h[6..8].copy_from_slice(&start.to_le_bytes());
    h[8..10].copy_from_slice(&offset.to_le_bytes());
    h
}

fn data_valid() -> [u8; NET_HDR_NUM_BUFFERS] {
    let mut h = [0u8; NET_HDR_NUM_BUFFERS];
    h[0] = 2;
    h
}

/// `f` (an IPv4/IPv6 TCP or UDP frame from `test_frames::frame`) made
/// right, and the same frame as a sender offloading its checksum hands it
/// over: the field holding the folded pseudo-header sum only.
fn correct_and_partial(f: &[u8], ip: Ip, proto: u8) -> (Vec<u8>, Vec<u8>, u16, u16) {
    let (l3, at) = match ip {
        Ip::V4 => (14..34, 34),
        Ip::V6 => (14..54, 54),
    };
    let field = at + if proto == TCP { 16 } else { 6 };
    let mut good = f.to_vec();
    good[field..field + 2].fill(0);
    let ph = pseudo(&good[l3], ip, proto, f.len() - at);
    let ck = rfc1071(&[&ph, &good[at..]]);
    good[field..field + 2].copy_from_slice(&ck.to_be_bytes());
    let mut partial = good.clone();
    // The seed: the pseudo-header's sum, folded, not complemented.
    let seed = !rfc1071(&[&ph]);
    partial[field..field + 2].copy_from_slice(&seed.to_be_bytes());
    (good, partial, at as u16, (field - at) as u16)
}

/// A 2,500-byte frame of arbitrary bytes made right for a checksum over
/// `start..` stored at `start + offset` (an even offset: a ones'-complement
/// field sits on a 16-bit word of its range), and the same with the field
/// holding only a seed, as the partial frame the device hands over.
fn synthetic(start: usize, offset: usize) -> (Vec<u8>, Vec<u8>) {
    let field = start + offset;
    let seed = 0x1234u16;
    let mut good = pattern(2500, start as u32);
    good[field..field + 2].fill(0);
    let ck = rfc1071(&[&seed.to_be_bytes(), &good[start..]]);
    good[field..field + 2].copy_from_slice(&ck.to_be_bytes());
    let mut partial = good.clone();
    partial[field..field + 2].copy_from_slice(&seed.to_be_bytes());
    (good, partial)
}

/// Receives `frames` (header, bytes) on a port opened with `rx` offloads
/// and a pool of `room`-byte buffers; returns the delivered frames' bytes,
/// flags and segment counts, and the port (for its statistics).
fn receive(
    rings: Rings,
    rx: RxOffloads,
    room: usize,
    frames: &[([u8; NET_HDR_NUM_BUFFERS], Vec<u8>)],
) -> (Vec<(Vec<u8>, OffloadFlags, u16)>, VirtioPort) {
    let (mut port, dev) = ring_port(rings, 64);
    let mut cfg = MempoolConfig::new("virtio-csum", 512);
    cfg.cache_size = 0;
    cfg.data_room = room;
    cfg.dma.fallback = Fallback::SmallPages;
    let pool = Mempool::new(&cfg).unwrap();
    let mut q = open(&mut port, &pool, rx | RxOffloads::SCATTER, 64);
    port.change_mtu(9000).unwrap();
    for (h, f) in frames {
        assert!(dev.lock().unwrap().rx_frame_with(f, true, *h), "{rings:?}: room for the frame");
    }
    let mut batch = MbufBatch::new();
    let got = q.rx[0].rx_burst(&mut batch, 32);
    assert_eq!(got, frames.len(), "{rings:?}: every frame delivered");
    let out = batch.as_slice().iter().map(|m| (contents(m), m.ol_flags(), m.nb_segs())).collect();
    drop((batch, q));
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity(), "{rings:?}: every mbuf home");
    (out, port)
}

#[test]
fn guest_csum_is_negotiated_only_for_opens_asking_for_receive_checksums() {
    let (mut port, dev) = qemu_port(64);
    let capa = port.caps().rx_offload_capa;
    assert!(capa.contains(CSUM), "offered with GUEST_CSUM: {capa:?}");
    assert_eq!(dev.lock().unwrap().driver & bit(NET_F_GUEST_CSUM), 0, "not at probe");
    let pool = pool(256);
    for (rx, want) in [
        (RxOffloads::empty(), false),
        (RxOffloads::TCP_CKSUM, true),
        (RxOffloads::SCATTER, false),
        (RxOffloads::UDP_CKSUM, true),
    ] {
        let q = open(&mut port, &pool, rx, 64);
        let taken = dev.lock().unwrap().driver & bit(NET_F_GUEST_CSUM) != 0;
        assert_eq!(taken, want, "rx offloads {rx:?}");
        drop(q);
        port.stop().unwrap();
    }
    for tso in [7u32, 8, 9, 10] {
        let (mut p, d) = port_on(fake::qemu_features() | bit(tso), 64, true).unwrap();
        let q = open(&mut p, &pool, CSUM, 64);
        assert_eq!(d.lock().unwrap().driver & bit(tso), 0, "feature {tso} stays declined");
        drop(q);
        p.stop().unwrap();
    }
    let (bare, _) = port_on(fake::qemu_features() & !bit(NET_F_GUEST_CSUM), 64, true).unwrap();
    assert!(!bare.caps().rx_offload_capa.intersects(CSUM), "not offered without GUEST_CSUM");
}

#[test]
fn data_valid_marks_the_l4_checksum_good_and_nothing_else() {
    for rings in ALL_RINGS {
        let f = frame(Ip::V4, TCP, 20, 100);
        let plain = [0u8; NET_HDR_NUM_BUFFERS];
        let (out, port) = receive(rings, CSUM, 2048, &[(data_valid(), f.clone()), (plain, f.clone())]);
        assert_eq!(out[0].0, f, "bytes untouched");
        assert_eq!(out[0].1, OffloadFlags::RX_L4_CKSUM_GOOD, "{rings:?}: IP flags stay unknown");
        assert_eq!(out[1].1, OffloadFlags::default(), "{rings:?}: no flag, no mark");
        assert_eq!(stat(&port, "rx_csum_valid"), 1);
        // Without the offload asked for, the header's flags are not read.
        let (out, _) = receive(rings, RxOffloads::empty(), 2048, &[(data_valid(), f.clone())]);
        assert_eq!(out[0].1, OffloadFlags::default(), "{rings:?}");
    }
}

#[test]
fn needs_csum_on_one_buffer_is_completed_to_the_rfc_1071_checksum() {
    for rings in ALL_RINGS {
        let mut frames = Vec::new();
        let mut want = Vec::new();
        for (ip, proto) in [(Ip::V4, TCP), (Ip::V4, UDP), (Ip::V6, TCP), (Ip::V6, UDP)] {
            // Odd payload: the last word is padded.
            let (good, partial, start, off) = correct_and_partial(&frame(ip, proto, 20, 333), ip, proto);
            assert_ne!(good, partial);
            frames.push((needs_csum(start, off), partial));
            want.push(good);
        }
        let (out, port) = receive(rings, CSUM, 2048, &frames);
        for (i, (bytes, flags, segs)) in out.iter().enumerate() {
            assert_eq!(*segs, 1);
            assert_eq!(bytes, &want[i], "{rings:?}: frame {i} completed");
            assert_eq!(*flags, OffloadFlags::RX_L4_CKSUM_GOOD, "{rings:?}");
        }
        assert_eq!(stat(&port, "rx_csum_completed"), 4);
    }
}

#[test]
fn needs_csum_over_a_mergeable_chain_cut_at_odd_offsets_is_completed() {
    // 1001-byte buffers: the frame is cut at 1001, 2014 and 3027, that is
    // at offsets 967 and 2993 of a range starting at 34 (odd), and 1980.
    for rings in ALL_RINGS {
        let (good, partial, start, off) = correct_and_partial(&frame(Ip::V4, TCP, 20, 3000), Ip::V4, TCP);
        // Ranges the device may ask for in general: one starting at an odd
        // byte (35), one whose field straddles the first cut (bytes 1000
        // and 1001, from 36).
        let (odd_good, odd_partial) = synthetic(35, 100);
        let (cut_good, cut_partial) = synthetic(36, 964);
        let frames =
            [(needs_csum(start, off), partial), (needs_csum(35, 100), odd_partial), (needs_csum(36, 964), cut_partial)];
        let (out, port) = receive(rings, CSUM, 1001, &frames);
        assert_eq!(out[0].2, 4, "{rings:?}: a four-segment chain");
        assert_eq!(out[0].0, good, "{rings:?}: TCP checksum over the chain");
        assert_eq!(out[1].2, 3);
        assert_eq!(out[1].0, odd_good, "{rings:?}: odd start");
        assert_eq!(out[2].0, cut_good, "{rings:?}: field across a cut");
        assert!(out.iter().all(|o| o.1 == OffloadFlags::RX_L4_CKSUM_GOOD));
        assert_eq!(stat(&port, "rx_csum_completed"), 3);
    }
}

#[test]
fn needs_csum_with_offsets_outside_the_frame_is_delivered_unmarked_and_counted() {
    for rings in ALL_RINGS {
        let f = frame(Ip::V4, UDP, 8, 50);
        let len = f.len() as u16;
        let frames = [
            (needs_csum(len - 1, 0), f.clone()),
            (needs_csum(34, len), f.clone()),
            (needs_csum(u16::MAX, u16::MAX), f.clone()),
            (needs_csum(len - 2, 0), f.clone()),
        ];
        let (out, port) = receive(rings, CSUM, 2048, &frames);
        for (bytes, flags, _) in &out[..3] {
            assert_eq!(bytes, &f, "{rings:?}: left as it came");
            assert_eq!(*flags, OffloadFlags::default(), "{rings:?}");
        }
        assert_eq!(out[3].1, OffloadFlags::RX_L4_CKSUM_GOOD, "the last two bytes are a field that fits");
        assert_eq!(stat(&port, "rx_csum_bad_offsets"), 3);
        assert_eq!(stat(&port, "rx_csum_completed"), 1);
        assert_eq!(port.stats64().rx_queues[0].packets, 4, "delivered, not dropped");
    }
}
