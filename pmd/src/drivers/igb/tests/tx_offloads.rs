//! Transmit offloads against the fake register file: the context and data
//! descriptors a request turns into, the context cache, ring accounting
//! with context slots, refused requests, the pseudo-header preparation and
//! the allocation-free offload path.
//!
//! Expected descriptor words are spelled with the 82576's bit values as
//! Linux's and DPDK's igb headers give them, not with the driver's
//! constants, so a wrong constant fails here.

use super::chains::{device_tx_all, one, open_with, tx_desc, ALLOCS};
use super::*;
use crate::drivers::igb::ctx::{self, OffloadError};
use crate::mem::{Mbuf, OffloadFlags as F, TxOffload};
use crate::test_frames::{device_l4, frame, pseudo, rfc1071, Ip, SCTP, TCP, UDP};
use std::cell::Cell;

// Data descriptor (cmd_type_len, olinfo_status).
const DTYP_DATA: u32 = 0x0030_0000;
const EOP: u32 = 0x0100_0000;
const IFCS: u32 = 0x0200_0000;
const RS: u32 = 0x0800_0000;
const DEXT: u32 = 0x2000_0000;
const VLE: u32 = 0x4000_0000;
const TSE: u32 = 0x8000_0000;
const IXSM: u32 = 0x100;
const TXSM: u32 = 0x200;
// Context descriptor (type_tucmd_mlhl).
const DTYP_CTX: u32 = 0x0020_0000;
const TUCMD_IPV4: u32 = 0x400;
const L4T_TCP: u32 = 0x800;
const L4T_SCTP: u32 = 0x1000;

/// Sets the request: flags and header lengths.
fn ask(mut m: Mbuf, flags: F, l2: u8, l3: u16, l4: u8, mss: u16) -> Mbuf {
    m.set_ol_flags(flags);
    m.set_tx_offload(TxOffload { l2_len: l2, l3_len: l3, l4_len: l4, tso_segsz: mss });
    m
}

/// A one-buffer IPv4/TCP frame asking for both checksums.
fn tcp4(pool: &Mempool, payload: usize) -> Mbuf {
    let f = frame(Ip::V4, TCP, 20, payload);
    ask(mbuf_of(pool, &f, &[f.len()]), F::TX_IPV4 | F::TX_IP_CKSUM | F::TX_TCP_CKSUM, 14, 20, 20, 0)
}

/// A one-buffer IPv4/UDP frame asking for the UDP checksum.
fn udp4(pool: &Mempool, payload: usize) -> Mbuf {
    let f = frame(Ip::V4, UDP, 8, payload);
    ask(mbuf_of(pool, &f, &[f.len()]), F::TX_IPV4 | F::TX_UDP_CKSUM, 14, 20, 8, 0)
}

fn burst(q: &mut Queues, frames: Vec<Mbuf>) -> usize {
    let mut b = MbufBatch::new();
    frames.into_iter().for_each(|m| b.push(m).unwrap());
    let n = q.tx[0].tx_burst(&mut b);
    assert!(b.is_empty(), "every frame taken");
    n
}

fn addr(d: [u32; 4]) -> u64 {
    d[0] as u64 | (d[1] as u64) << 32
}

/// Whether slot `i` holds a context descriptor.
fn is_ctx(hw: &Hw, i: usize) -> bool {
    tx_desc(hw, i)[2] & 0x00F0_0000 == DTYP_CTX
}

fn tx_in_use(pool: &Mempool) -> usize {
    pool.in_use() - 64
}

fn done(q: Queues, mut port: IgbPort, pool: &Mempool) {
    drop(q);
    port.stop().unwrap();
    assert_eq!(pool.available(), pool.capacity(), "every buffer back, once");
}

#[test]
fn ipv4_tcp_checksums_get_a_context_and_ixsm_txsm_even_on_a_port_not_configured_for_them() {
    let (mut port, hw) = fake_port();
    let pool = pool(256);
    // Not configured for any offload: a request the hardware can carry out
    // is honoured anyway (the rule this driver picked).
    let mut q = open_with(&mut port, &pool, RxOffloads::empty(), TxOffloads::empty(), 64);
    let m = tcp4(&pool, 26);
    let iova = m.data_iova();
    assert_eq!(burst(&mut q, vec![m]), 1);
    assert_eq!(hw.read(tdt(0)), 2, "a context and a data descriptor");

    let c = tx_desc(&hw, 0);
    assert_eq!(c[0], 14 << 9 | 20, "MACLEN 14, IPLEN 20, no VLAN");
    assert_eq!(c[1], 0);
    assert_eq!(c[2], DEXT | DTYP_CTX | TUCMD_IPV4 | L4T_TCP);
    assert_eq!(c[3], 0, "IDX 0, no MSS or L4LEN without TSO");

    let d = tx_desc(&hw, 1);
    assert_eq!(addr(d), iova);
    assert_eq!(d[2], 80 | DTYP_DATA | DEXT | IFCS | EOP, "80-byte frame, no VLE/TSE");
    assert_eq!(d[3], 80 << 14 | IXSM | TXSM, "PAYLEN is the frame; IDX 0");
    let s = port.stats64().tx_queues[0];
    assert_eq!((s.packets, s.bytes, s.drops, s.errors), (1, 80, 0, 0));
    done(q, port, &pool);
}

#[test]
fn ipv6_udp_and_sctp_contexts() {
    let (mut port, hw) = fake_port();
    let pool = pool(256);
    let mut q = open_with(&mut port, &pool, RxOffloads::empty(), TxOffloads::UDP_CKSUM | TxOffloads::SCTP_CKSUM, 64);
    let f6 = frame(Ip::V6, UDP, 8, 40);
    let udp6 = ask(mbuf_of(&pool, &f6, &[f6.len()]), F::TX_IPV6 | F::TX_UDP_CKSUM, 14, 40, 8, 0);
    let fs = frame(Ip::V4, SCTP, 12, 40);
    let sctp4 = ask(mbuf_of(&pool, &fs, &[fs.len()]), F::TX_IPV4 | F::TX_SCTP_CKSUM, 14, 20, 12, 0);
    assert_eq!(burst(&mut q, vec![udp6, sctp4]), 2);
    assert_eq!(hw.read(tdt(0)), 4);

    let c = tx_desc(&hw, 0);
    assert_eq!(c[0], 14 << 9 | 40, "IPLEN 40");
    assert_eq!(c[2], DEXT | DTYP_CTX, "IPv6 (no TUCMD.IPV4), L4T UDP (00b)");
    let d = tx_desc(&hw, 1);
    assert_eq!(d[3], 102 << 14 | TXSM, "no IXSM: IPv6 has no header checksum");

    let c = tx_desc(&hw, 2);
    assert_eq!(c[0], 14 << 9 | 20);
    assert_eq!(c[2], DEXT | DTYP_CTX | TUCMD_IPV4 | L4T_SCTP);
    let d = tx_desc(&hw, 3);
    assert_eq!(d[3], 86 << 14 | TXSM, "SCTP CRC through TXSM, no IP checksum asked");
    done(q, port, &pool);
}

#[test]
fn tso_puts_mss_and_l4len_in_the_context_and_the_payload_in_paylen() {
    let (mut port, hw) = fake_port();
    let pool = pool(256);
    let mut q = open_with(&mut port, &pool, RxOffloads::empty(), TxOffloads::TCP_TSO | TxOffloads::MULTI_SEGS, 64);
    // IPv4, a 32-byte TCP header (options), the headers alone in the first
    // segment and 20000 bytes of payload in ten more: over twice the
    // largest frame, which TSO may be.
    let f = frame(Ip::V4, TCP, 32, 20000);
    assert_eq!(f.len(), 20066);
    let lens = [66, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000];
    let m = ask(mbuf_of(&pool, &f, &lens), F::TX_IPV4 | F::TX_TCP_SEG, 14, 20, 32, 1448);
    let iovas: Vec<u64> = m.segments().map(|s| s.data_iova()).collect();
    // IPv6 TSO, one buffer: no IPv4 bits anywhere.
    let f6 = frame(Ip::V6, TCP, 20, 1800);
    let m6 = ask(mbuf_of(&pool, &f6, &[f6.len()]), F::TX_IPV6 | F::TX_TCP_SEG, 14, 40, 20, 1220);
    assert_eq!(burst(&mut q, vec![m, m6]), 2);
    assert_eq!(hw.read(tdt(0)), 1 + 11 + 1 + 1);

    let c = tx_desc(&hw, 0);
    assert_eq!(c[0], 14 << 9 | 20);
    assert_eq!(c[2], DEXT | DTYP_CTX | TUCMD_IPV4 | L4T_TCP);
    assert_eq!(c[3], 1448 << 16 | 32 << 8, "MSS 1448, L4LEN 32, IDX 0");
    for (k, (&len, &iova)) in lens.iter().zip(&iovas).enumerate() {
        let d = tx_desc(&hw, 1 + k);
        assert_eq!(addr(d), iova, "segment {k}");
        let eop = if k == 10 { EOP } else { 0 };
        assert_eq!(d[2], len as u32 | DTYP_DATA | DEXT | IFCS | TSE | eop, "segment {k}: TSE on each");
        // The IPv4 header checksum of every segment is inserted even
        // without TX_IP_CKSUM: each has its own length and ID.
        assert_eq!(d[3], 20000 << 14 | IXSM | TXSM, "segment {k}: PAYLEN = TCP payload only");
    }
    let c = tx_desc(&hw, 12);
    assert_eq!((c[0], c[2], c[3]), (14 << 9 | 40, DEXT | DTYP_CTX | L4T_TCP, 1220 << 16 | 20 << 8));
    assert_eq!(tx_desc(&hw, 13)[3], 1800 << 14 | TXSM);
    let s = port.stats64().tx_queues[0];
    assert_eq!((s.packets, s.bytes), (2, 20066 + f6.len() as u64));
    done(q, port, &pool);
}

#[test]
fn vlan_insertion_sets_vle_and_puts_the_tag_in_the_context() {
    let (mut port, hw) = fake_port();
    let pool = pool(256);
    let mut q = open_with(&mut port, &pool, RxOffloads::empty(), TxOffloads::VLAN_INSERT, 64);
    let mut m = one(&pool, 60);
    m.set_vlan_tci(0x6064); // priority 3, VLAN 100
    m.set_ol_flags(F::TX_VLAN_INSERT);
    let mut both = tcp4(&pool, 10);
    both.set_vlan_tci(0x0FFF);
    both.set_ol_flags(both.ol_flags() | F::TX_VLAN_INSERT);
    assert_eq!(burst(&mut q, vec![m, both]), 2);
    assert_eq!(hw.read(tdt(0)), 4);

    let c = tx_desc(&hw, 0);
    assert_eq!((c[0], c[2], c[3]), (0x6064 << 16, DEXT | DTYP_CTX, 0), "the tag alone");
    let d = tx_desc(&hw, 1);
    assert_eq!(d[2], 60 | DTYP_DATA | DEXT | IFCS | EOP | VLE);
    assert_eq!(d[3], 60 << 14, "no checksum bits for a tag");
    let c = tx_desc(&hw, 2);
    assert_eq!(c[0], 0x0FFF << 16 | 14 << 9 | 20, "tag and header lengths together");
    let d = tx_desc(&hw, 3);
    assert_eq!(d[2] & VLE, VLE);
    assert_eq!(d[3] & (IXSM | TXSM), IXSM | TXSM);
    done(q, port, &pool);
}

#[test]
fn an_unchanged_context_is_written_once_across_frames_and_bursts() {
    let (mut port, hw) = fake_port();
    let pool = pool(256);
    let mut q = open_with(&mut port, &pool, RxOffloads::empty(), TxOffloads::empty(), 64);
    // TCP, TCP (other length: PAYLEN is per frame, not per context),
    // a plain frame, TCP, then UDP (new context), then TCP (new again).
    let frames =
        vec![tcp4(&pool, 10), tcp4(&pool, 500), one(&pool, 60), tcp4(&pool, 10), udp4(&pool, 30), tcp4(&pool, 10)];
    assert_eq!(burst(&mut q, frames), 6);
    let ctx_slots: Vec<usize> = (0..hw.read(tdt(0)) as usize).filter(|&i| is_ctx(&hw, i)).collect();
    assert_eq!(ctx_slots, [0, 5, 7], "contexts before the first TCP, the UDP and the TCP after it");
    assert_eq!(hw.read(tdt(0)), 9);
    assert_eq!(tx_desc(&hw, 2)[3], 554 << 14 | IXSM | TXSM, "the second TCP frame reuses the context");
    assert_eq!(tx_desc(&hw, 3)[3], 60 << 14, "the plain frame in between");

    // The next burst still knows the last context.
    assert_eq!(burst(&mut q, vec![tcp4(&pool, 10)]), 1);
    assert_eq!(hw.read(tdt(0)), 10, "no context: the device still holds the TCP one");
    assert!(!is_ctx(&hw, 9));
    // A refused frame writes nothing and leaves the cache alone.
    let mut bad = udp4(&pool, 10);
    bad.set_ol_flags(F::TX_UDP_CKSUM);
    assert_eq!(burst(&mut q, vec![bad, tcp4(&pool, 10)]), 2);
    assert_eq!(hw.read(tdt(0)), 11);
    done(q, port, &pool);
}

#[test]
fn a_chain_with_checksum_offload_carries_the_bits_on_every_descriptor() {
    let (mut port, hw) = fake_port();
    let pool = pool(256);
    let mut q = open_with(&mut port, &pool, RxOffloads::empty(), TxOffloads::MULTI_SEGS, 64);
    let f = frame(Ip::V4, TCP, 20, 3000);
    let m = ask(mbuf_of(&pool, &f, &[54, 1500, 1500]), F::TX_IPV4 | F::TX_TCP_CKSUM, 14, 20, 20, 0);
    assert_eq!(burst(&mut q, vec![m]), 1);
    assert_eq!(hw.read(tdt(0)), 4);
    assert!(is_ctx(&hw, 0));
    assert_eq!(tx_desc(&hw, 0)[2], DEXT | DTYP_CTX | TUCMD_IPV4 | L4T_TCP);
    for (slot, len) in [(1, 54u32), (2, 1500), (3, 1500)] {
        let d = tx_desc(&hw, slot);
        assert_eq!(d[2] & 0xFFFF, len);
        assert_eq!(d[2] & EOP != 0, slot == 3, "slot {slot}");
        assert_eq!(d[3], 3054 << 14 | TXSM, "slot {slot}: no IXSM (not asked), PAYLEN the frame");
    }
    assert_eq!(tx_in_use(&pool), 3, "parked once, whole, until its group completes");
    done(q, port, &pool);
}

#[test]
fn context_slots_count_in_the_ring_the_groups_and_the_rs_placement() {
    let (mut port, hw) = fake_port();
    let pool = pool(512);
    let mut q = open_with(&mut port, &pool, RxOffloads::empty(), TxOffloads::empty(), 64);
    assert_eq!(tx::rs_thresh_for(64), 32);
    // A plain frame in slot 0, then TCP and UDP frames alternating, so each
    // takes a context and a data slot: frame k in slots 1 + 2k, 2 + 2k.
    // Frame 15's context lands on slot 31, the first group's last slot.
    let mut b = MbufBatch::new();
    b.push(one(&pool, 60)).unwrap();
    for k in 0..32 {
        b.push(if k % 2 == 0 { tcp4(&pool, 10) } else { udp4(&pool, 22) }).unwrap();
    }
    assert_eq!(q.tx[0].tx_burst(&mut b), 32, "63 slots: the last frame (2 slots) waits");
    assert_eq!(b.len(), 1);
    assert_eq!(hw.read(tdt(0)), 63);
    assert!(is_ctx(&hw, 31) && !is_ctx(&hw, 32));
    let rs: Vec<usize> = (0..63).filter(|&i| tx_desc(&hw, i)[2] & RS != 0).collect();
    assert_eq!(rs, [32], "RS on the EOP of the frame whose context ends the group, not on the context");
    assert_eq!(tx_in_use(&pool), 32 + 1, "32 on the ring, 1 waiting");

    // The device finishes: frames ending in slots 0..=31 come back (the
    // plain one and frames 0..=14); frame 15, parked at 32, stays.
    device_tx_all(&hw, 64);
    assert_eq!(q.tx[0].tx_done_cleanup(), 16);
    assert_eq!(tx_in_use(&pool), 17);

    // The waiting frame goes: context in slot 63 (the second group's last),
    // data wrapping to slot 0, which reports for the group.
    assert_eq!(q.tx[0].tx_burst(&mut b), 1);
    assert_eq!(hw.read(tdt(0)), 1);
    assert!(is_ctx(&hw, 63));
    assert_eq!(tx_desc(&hw, 0)[2] & (EOP | RS), EOP | RS);
    assert_eq!(tx_desc(&hw, 63)[2] & RS, 0);
    device_tx_all(&hw, 64);
    assert_eq!(q.tx[0].tx_done_cleanup(), 16, "frames 15..=30");
    assert_eq!(tx_in_use(&pool), 1, "frame 31, parked at slot 0");
    let s = port.stats64().tx_queues[0];
    assert_eq!((s.packets, s.drops), (33, 0));
    done(q, port, &pool);
}

#[test]
fn the_largest_offloaded_chain_keeps_a_slot_for_its_context() {
    let (mut port, hw) = fake_port();
    let pool = pool(512);
    // 32 descriptors in groups of 16: a plain frame may take 16, an
    // offloaded one 15 data descriptors plus its context.
    let mut q = open_with(&mut port, &pool, RxOffloads::empty(), TxOffloads::MULTI_SEGS, 32);
    let chain = |segs: usize| {
        let f = frame(Ip::V4, TCP, 20, 100 * (segs - 1));
        let lens: Vec<usize> = [54].into_iter().chain(std::iter::repeat_n(100, segs - 1)).collect();
        ask(mbuf_of(&pool, &f, &lens), F::TX_IPV4 | F::TX_TCP_CKSUM, 14, 20, 20, 0)
    };
    let (over, fit) = (chain(16), chain(15));
    assert_eq!(burst(&mut q, vec![over, fit]), 2);
    assert_eq!(hw.read(tdt(0)), 16);
    let s = port.stats64().tx_queues[0];
    assert_eq!((s.packets, s.drops, s.errors), (1, 1, 0), "16 segments dropped for their shape, not their request");
    assert_eq!(sw_stat(&port, "tx_offload_errors"), 0);
    done(q, port, &pool);
}

#[test]
fn refused_requests_are_dropped_counted_and_freed_and_write_nothing() {
    let (mut port, hw) = fake_port();
    let pool = pool(512);
    let mut q = open_with(&mut port, &pool, RxOffloads::empty(), TxOffloads::MULTI_SEGS, 64);
    let with = |mut m: Mbuf, flags: F| {
        m.set_ol_flags(flags);
        m
    };
    let tso = |mss: u16, lens: &[usize], payload: usize| {
        let f = frame(Ip::V4, TCP, 20, payload);
        ask(mbuf_of(&pool, &f, lens), F::TX_IPV4 | F::TX_TCP_SEG, 14, 20, 20, mss)
    };
    let f6 = frame(Ip::V6, TCP, 20, 10);
    let mut short_tcp_header = tso(1448, &[54, 1000], 1000);
    short_tcp_header.set_tx_offload(TxOffload { l4_len: 12, ..short_tcp_header.tx_offload() });
    let over_64k: Vec<usize> = [54].into_iter().chain([2000; 33]).collect();
    // 9722 bytes fit the queue's 9724-byte limit (9728 with the CRC); the
    // inserted tag does not.
    let long = with(mbuf_of(&pool, &[0; 9722], &[2048, 2048, 2048, 2048, 1530]), F::TX_VLAN_INSERT);
    let refused: Vec<(Mbuf, OffloadError)> = vec![
        (with(one(&pool, 60), F::TX_QINQ_INSERT | F::TX_VLAN_INSERT), OffloadError::QinqInsert),
        (with(tcp4(&pool, 10), F::TX_TCP_CKSUM), OffloadError::IpVersion),
        (with(tcp4(&pool, 10), F::TX_IPV4 | F::TX_IPV6 | F::TX_TCP_CKSUM), OffloadError::IpVersion),
        (
            ask(mbuf_of(&pool, &f6, &[f6.len()]), F::TX_IPV6 | F::TX_IP_CKSUM, 14, 40, 20, 0),
            OffloadError::IpCksumNotIpv4,
        ),
        (with(tcp4(&pool, 10), F::TX_IPV4 | F::TX_TCP_CKSUM | F::TX_UDP_CKSUM), OffloadError::L4Type),
        (with(udp4(&pool, 10), F::TX_IPV4 | F::TX_UDP_CKSUM | F::TX_TCP_SEG), OffloadError::L4Type),
        (ask(tcp4(&pool, 10), F::TX_IPV4 | F::TX_TCP_CKSUM, 0, 20, 20, 0), OffloadError::HeaderLengths),
        (ask(tcp4(&pool, 10), F::TX_IPV4 | F::TX_TCP_CKSUM, 14, 64, 20, 0), OffloadError::HeaderLengths),
        (ask(tcp4(&pool, 10), F::TX_IPV4 | F::TX_TCP_CKSUM, 128, 20, 20, 0), OffloadError::HeaderLengths),
        (short_tcp_header, OffloadError::HeaderLengths),
        (ask(tcp4(&pool, 10), F::TX_IPV4 | F::TX_TCP_CKSUM, 14, 60, 20, 0), OffloadError::HeadersOutsideFrame),
        (tso(0, &[1054], 1000), OffloadError::TsoSize),
        (tso(9700, &[1054], 1000), OffloadError::TsoSize),
        (tso(1448, &[54], 0), OffloadError::TsoSize),
        (tso(1448, &[30, 24, 1000], 1000), OffloadError::HeadersOutsideFrame),
        (tso(1448, &over_64k, 66000), OffloadError::TsoSize),
        (long, OffloadError::FrameTooLong),
    ];
    for (m, why) in &refused {
        assert_eq!(ctx::plan(m, 9724), Err(*why), "{why}");
    }
    let n = refused.len() as u64;
    let mut frames: Vec<Mbuf> = refused.into_iter().map(|(m, _)| m).collect();
    // Two good frames among them; the tag alone fits 9724 bytes.
    frames.insert(3, tcp4(&pool, 10));
    frames.push(with(mbuf_of(&pool, &[0; 9720], &[2048, 2048, 2048, 2048, 1528]), F::TX_VLAN_INSERT));
    let total = frames.len();
    assert_eq!(burst(&mut q, frames), total);
    assert_eq!(hw.read(tdt(0)), 2 + 6, "two frames with a context each; nothing for the refused ones");
    assert_eq!(tx_desc(&hw, 3)[3] >> 14, 9720, "the tagged frame's PAYLEN");
    assert_eq!(tx_desc(&hw, 3)[2] & VLE, VLE);
    let s = port.stats64().tx_queues[0];
    assert_eq!((s.packets, s.drops, s.errors), (2, n, n));
    assert_eq!(sw_stat(&port, "tx_offload_errors"), n);
    assert_eq!(tx_in_use(&pool), 1 + 5, "the refused frames and all their segments went back");
    port.reset_stats().unwrap();
    assert_eq!(sw_stat(&port, "tx_offload_errors"), 0);
    done(q, port, &pool);
}

#[test]
fn the_capabilities_are_what_is_built_and_qinq_insertion_is_refused() {
    let (mut port, _hw) = fake_port();
    let pool = pool(256);
    let all = TxOffloads::VLAN_INSERT
        | TxOffloads::IPV4_CKSUM
        | TxOffloads::UDP_CKSUM
        | TxOffloads::TCP_CKSUM
        | TxOffloads::SCTP_CKSUM
        | TxOffloads::TCP_TSO
        | TxOffloads::MULTI_SEGS;
    let conf = |tx| PortConfig { rx_ring_size: 64, tx_ring_size: 64, tx_offloads: tx, ..PortConfig::default() };
    port.configure(&conf(all), &pool).unwrap();
    let e = port.configure(&conf(TxOffloads::QINQ_INSERT), &pool).unwrap_err().to_string();
    assert!(e.contains("qinq_insert"), "{e}");
}

fn check_l4(frame: &[u8], v: Ip, proto: u8, l3: usize, at: usize) {
    let (ip, l4) = (&frame[14..14 + l3], &frame[14 + l3..]);
    let mut zeroed = l4.to_vec();
    zeroed[at..at + 2].fill(0);
    let want = rfc1071(&[&pseudo(ip, v, proto, l4.len()), &zeroed]);
    assert_eq!(device_l4(l4, 0), want, "the device's checksum over the seeded field is the real one");
}

#[test]
fn tx_prepare_seeds_what_the_device_completes_into_the_right_checksums() {
    let pool = pool(64);
    // IPv4/TCP with an odd payload, both checksums.
    let f = frame(Ip::V4, TCP, 20, 101);
    let mut m = ask(mbuf_of(&pool, &f, &[f.len()]), F::TX_IPV4 | F::TX_IP_CKSUM | F::TX_TCP_CKSUM, 14, 20, 20, 0);
    ctx::tx_prepare(&mut m).unwrap();
    let out = m.data().to_vec();
    assert_eq!(&out[24..26], [0, 0], "the IPv4 checksum the device inserts starts at 0");
    check_l4(&out, Ip::V4, TCP, 20, 16);
    assert_eq!(out[..24], f[..24], "nothing else in the IP header changes");
    assert_eq!(out[26..50], f[26..50]);

    // IPv6/UDP, padded to a longer frame: the IPv6 payload length decides,
    // not the frame's.
    let mut f6 = frame(Ip::V6, UDP, 8, 3);
    let real = f6.len();
    f6.extend([0; 9]);
    let mut m6 = ask(mbuf_of(&pool, &f6, &[f6.len()]), F::TX_IPV6 | F::TX_UDP_CKSUM, 14, 40, 8, 0);
    ctx::tx_prepare(&mut m6).unwrap();
    check_l4(&m6.data()[..real], Ip::V6, UDP, 40, 6);

    // IPv4 with a TCP header of options, no IP checksum asked: the IP
    // header stays as it was.
    let f = frame(Ip::V4, TCP, 40, 1000);
    let mut m = ask(mbuf_of(&pool, &f, &[f.len()]), F::TX_IPV4 | F::TX_TCP_CKSUM, 14, 20, 40, 0);
    ctx::tx_prepare(&mut m).unwrap();
    assert_eq!(m.data()[24..26], [0xBE, 0xEF]);
    check_l4(m.data(), Ip::V4, TCP, 20, 16);

    // SCTP: the CRC field is cleared for the device.
    let f = frame(Ip::V4, SCTP, 12, 20);
    let mut m = ask(mbuf_of(&pool, &f, &[f.len()]), F::TX_IPV4 | F::TX_SCTP_CKSUM, 14, 20, 12, 0);
    ctx::tx_prepare(&mut m).unwrap();
    assert_eq!(m.data()[42..46], [0; 4]);
}

#[test]
fn tx_prepare_for_tso_leaves_the_length_to_the_device() {
    let pool = pool(64);
    for v in [Ip::V4, Ip::V6] {
        let (l3, flag) = if v == Ip::V4 { (20, F::TX_IPV4) } else { (40, F::TX_IPV6) };
        let f = frame(v, TCP, 20, 3000);
        let hdr = 14 + l3 + 20;
        let mut m = ask(mbuf_of(&pool, &f, &[hdr, 1500, 1500]), flag | F::TX_TCP_SEG, 14, l3 as u16, 20, 1000);
        ctx::tx_prepare(&mut m).unwrap();
        let head = m.data().to_vec();
        if v == Ip::V4 {
            assert_eq!(head[24..26], [0, 0], "each segment's IPv4 checksum is the device's");
        }
        // The device's first segment: the headers, then MSS bytes of
        // payload, its TCP checksum completed with the segment's length.
        let mut seg = head[14 + l3..].to_vec();
        seg.extend(&f[hdr..hdr + 1000]);
        let got = device_l4(&seg, seg.len() as u16);
        let mut zeroed = seg.clone();
        zeroed[16..18].fill(0);
        let want = rfc1071(&[&pseudo(&head[14..14 + l3], v, TCP, seg.len()), &zeroed]);
        assert_eq!(got, want, "{}", if v == Ip::V4 { "IPv4" } else { "IPv6" });
    }
}

#[test]
fn tx_prepare_refuses_without_writing() {
    let pool = pool(64);
    let f = frame(Ip::V4, TCP, 20, 100);
    // The TCP header runs into the second segment.
    let mut split = ask(mbuf_of(&pool, &f, &[40, f.len() - 40]), F::TX_IPV4 | F::TX_TCP_CKSUM, 14, 20, 20, 0);
    assert_eq!(ctx::tx_prepare(&mut split), Err(OffloadError::HeadersOutsideFrame));
    assert_eq!(split.data(), &f[..40]);
    // The IPv4 total length says more than the frame holds.
    let mut lying = f.clone();
    lying[16..18].copy_from_slice(&500u16.to_be_bytes());
    let mut m =
        ask(mbuf_of(&pool, &lying, &[lying.len()]), F::TX_IPV4 | F::TX_IP_CKSUM | F::TX_UDP_CKSUM, 14, 20, 8, 0);
    assert_eq!(ctx::tx_prepare(&mut m), Err(OffloadError::IpLength));
    assert_eq!(m.data(), &lying[..], "not even the IP checksum was cleared");
    // A tag alone needs nothing.
    let mut tag = ask(mbuf_of(&pool, &f, &[f.len()]), F::TX_VLAN_INSERT, 0, 0, 0, 0);
    assert_eq!(ctx::tx_prepare(&mut tag), Ok(()));
    assert_eq!(tag.data(), &f[..]);
}

#[test]
fn sending_offloaded_frames_allocates_nothing() {
    let (mut port, hw) = fake_port();
    let pool = pool(512);
    let mut q = open_with(&mut port, &pool, RxOffloads::empty(), TxOffloads::empty(), 64);
    let tso = frame(Ip::V4, TCP, 20, 4000);
    let tcp = frame(Ip::V4, TCP, 20, 100);
    let udp6 = frame(Ip::V6, UDP, 8, 100);
    let mut batch = MbufBatch::new();
    // A TSO chain, a TCP frame, an IPv6/UDP frame and a tagged one per
    // round: three contexts written, prepared, sent, completed, reclaimed.
    let mut round = || {
        let mut ms = [
            ask(mbuf_of(&pool, &tso, &[54, 2000, 2000]), F::TX_IPV4 | F::TX_TCP_SEG, 14, 20, 20, 1448),
            ask(mbuf_of(&pool, &tcp, &[tcp.len()]), F::TX_IPV4 | F::TX_IP_CKSUM | F::TX_TCP_CKSUM, 14, 20, 20, 0),
            ask(mbuf_of(&pool, &udp6, &[udp6.len()]), F::TX_IPV6 | F::TX_UDP_CKSUM, 14, 40, 8, 0),
            ask(mbuf_of(&pool, &tcp, &[tcp.len()]), F::TX_VLAN_INSERT, 0, 0, 0, 0),
        ];
        for m in &mut ms {
            ctx::tx_prepare(m).unwrap();
        }
        ms.into_iter().for_each(|m| batch.push(m).unwrap());
        let sent = q.tx[0].tx_burst(&mut batch);
        device_tx_all(&hw, 64);
        q.tx[0].tx_done_cleanup();
        assert_eq!(sent, 4);
    };
    for _ in 0..100 {
        round();
    }
    let before = ALLOCS.with(Cell::get);
    for _ in 0..1000 {
        round();
    }
    let allocations = ALLOCS.with(Cell::get) - before;
    assert_eq!(allocations, 0, "the offload path allocated {allocations} times");
    let s = port.stats64().tx_queues[0];
    assert_eq!((s.packets, s.drops), (4400, 0));
    done(q, port, &pool);
}

#[test]
fn a_frame_reusing_the_last_context_fits_the_last_free_slot() {
    let (mut port, hw) = fake_port();
    let pool = pool(256);
    let mut q = open_with(&mut port, &pool, RxOffloads::empty(), TxOffloads::empty(), 64);
    let mut frames = vec![tcp4(&pool, 10)];
    frames.extend((0..60).map(|_| one(&pool, 60)));
    assert_eq!(burst(&mut q, frames), 61);
    assert_eq!(hw.read(tdt(0)), 62, "one free slot left");
    // The context on the ring is still the one this frame needs: one slot.
    assert_eq!(burst(&mut q, vec![tcp4(&pool, 10)]), 1);
    assert_eq!(hw.read(tdt(0)), 63);
    done(q, port, &pool);
}

#[test]
fn a_watchdog_reset_forgets_the_context() {
    let (mut port, hw) = fake_port();
    let pool = pool(1024);
    port.configure(&PortConfig { rx_ring_size: 64, tx_ring_size: 64, ..PortConfig::default() }, &pool).unwrap();
    port.set_tx_timeout(std::time::Duration::from_millis(50)).unwrap();
    let mut q = port.open().unwrap();
    assert!(port.link_update(false).up);
    // The device never completes: the ring fills with TCP frames behind one
    // context, and the watchdog resets the queue.
    let t0 = std::time::Instant::now();
    while sw_stat(&port, "tx_timeout_count") == 0 {
        assert!(t0.elapsed() < std::time::Duration::from_secs(30), "watchdog never fired");
        let mut b = MbufBatch::new();
        (0..16).for_each(|_| b.push(tcp4(&pool, 10)).unwrap());
        q.tx[0].tx_burst(&mut b);
        drop(b);
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!((hw.read(tdh(0)), hw.read(tdt(0))), (0, 0));
    // Whatever the restarted queue's slots hold, the next frame brings its
    // own context again.
    assert_eq!(burst(&mut q, vec![tcp4(&pool, 10)]), 1);
    assert_eq!(hw.read(tdt(0)), 2);
    assert!(is_ctx(&hw, 0));
    done(q, port, &pool);
}
