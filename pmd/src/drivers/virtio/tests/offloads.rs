//! Transmit offloads through the virtio-net header, seen from the device:
//! what a port offers for what the device negotiated, and the headers and
//! frames the fake device reads.

use super::*;
use crate::mem::{OffloadFlags as F, TxOffload};
use crate::test_frames::{frame, Ip, SCTP, TCP};

/// An opened port, its fake device, its pool and its queues.
type Opened = (VirtioPort, Arc<Mutex<Dev>>, Mempool, Queues);

fn tx_port(features: u64, tx: TxOffloads) -> Result<Opened, PortError> {
    let (mut port, dev) = port_on(features, 64, true)?;
    let pool = pool(256);
    let conf = PortConfig { rx_ring_size: 64, tx_ring_size: 64, tx_offloads: tx, ..PortConfig::default() };
    port.configure(&conf, &pool)?;
    let q = port.open()?;
    Ok((port, dev, pool, q))
}

fn asking(pool: &Mempool, bytes: &[u8], flags: F, l3: u16, l4: u8, mss: u16) -> Mbuf {
    let mut m = frame_mbuf(pool, bytes);
    m.set_ol_flags(flags);
    m.set_tx_offload(TxOffload { l2_len: 14, l3_len: l3, l4_len: l4, tso_segsz: mss });
    m
}

#[test]
fn offered_offloads_follow_the_negotiated_features() {
    let tso6 = bit(NET_F_HOST_TSO6);
    let (full, _) = port_on(fake::qemu_features() | tso6, 64, true).unwrap();
    let capa = full.caps().tx_offload_capa;
    assert!(capa.contains(TxOffloads::TCP_CKSUM | TxOffloads::UDP_CKSUM | TxOffloads::TCP_TSO), "{capa:?}");
    assert!(!capa.intersects(TxOffloads::IPV4_CKSUM | TxOffloads::SCTP_CKSUM), "the header has no bit for those");
    // TSO needs both IP versions (one `tcp_tso` covers both), and CSUM.
    let (only4, _) = port_on(fake::qemu_features(), 64, true).unwrap();
    assert!(!only4.caps().tx_offload_capa.contains(TxOffloads::TCP_TSO));
    let no_csum = (fake::qemu_features() | tso6) & !bit(NET_F_CSUM);
    let (bare, dev) = port_on(no_csum, 64, true).unwrap();
    assert_eq!(bare.caps().tx_offload_capa, TxOffloads::MULTI_SEGS);
    assert_eq!(dev.lock().unwrap().driver & (bit(NET_F_HOST_TSO4) | tso6), 0, "TSO is not taken without CSUM");
    drop((bare, dev));
    let e = tx_port(no_csum, TxOffloads::TCP_CKSUM).err().expect("refused").to_string();
    assert!(e.contains("tcp_cksum"), "{e}");
}

#[test]
fn checksum_and_tso_requests_reach_the_device_in_the_header() {
    let features = fake::qemu_features() | bit(NET_F_HOST_TSO6);
    let (mut port, dev, pool, mut q) =
        tx_port(features, TxOffloads::TCP_CKSUM | TxOffloads::UDP_CKSUM | TxOffloads::TCP_TSO).unwrap();
    let tcp = frame(Ip::V4, TCP, 20, 100);
    let big = frame(Ip::V6, TCP, 20, 1800);
    let sctp = frame(Ip::V4, SCTP, 12, 20);
    let mut batch = MbufBatch::new();
    batch.push(asking(&pool, &tcp, F::TX_IPV4 | F::TX_TCP_CKSUM, 20, 20, 0)).unwrap();
    batch.push(asking(&pool, &big, F::TX_IPV6 | F::TX_TCP_SEG, 40, 20, 600)).unwrap();
    batch.push(asking(&pool, &sctp, F::TX_IPV4 | F::TX_SCTP_CKSUM, 20, 12, 0)).unwrap();
    // An offload needs the header in the headroom: without room, refused.
    let mut cramped = pool.alloc().unwrap();
    cramped.prepend(HEADROOM - 4).unwrap().copy_from_slice(&tcp[..HEADROOM - 4]);
    cramped.append(tcp.len() - (HEADROOM - 4)).unwrap().copy_from_slice(&tcp[HEADROOM - 4..]);
    cramped.set_ol_flags(F::TX_IPV4 | F::TX_TCP_CKSUM);
    cramped.set_tx_offload(TxOffload { l2_len: 14, l3_len: 20, l4_len: 20, tso_segsz: 0 });
    batch.push(cramped).unwrap();
    assert_eq!(q.tx[0].tx_burst(&mut batch), 4, "all taken: two sent, two dropped");
    let sent = dev.lock().unwrap().tx_all();
    assert_eq!(sent.len(), 2);
    let le = |h: &[u8; NET_HDR_LEN], at: usize| u16::from_le_bytes([h[at], h[at + 1]]);
    let (h, bytes) = &sent[0];
    assert_eq!((h[0], h[1], le(h, 6), le(h, 8)), (1, 0, 34, 16), "NEEDS_CSUM from byte 34, field at +16");
    assert_eq!(bytes, &tcp);
    let (h, bytes) = &sent[1];
    assert_eq!((h[0], h[1], le(h, 2), le(h, 4), le(h, 6)), (1, 4, 74, 600, 54), "TCPV6 GSO, MSS 600");
    assert_eq!(bytes.len(), big.len());
    assert_eq!(stat(&port, "tx_csum_offload"), 1);
    assert_eq!(stat(&port, "tx_tso"), 1);
    assert_eq!(stat(&port, "tx_offload_errors"), 1, "the SCTP request (the cramped frame is a bad frame)");
    assert_eq!(stat(&port, "tx_bad_frames"), 2);
    assert_eq!(port.stats64().tx_queues[0].drops, 2);
    // reset_stats zeroes every counter `ethtool -S` shows, the offload ones
    // with the others; what it keeps are facts of the open, not counts.
    port.reset_stats().unwrap();
    let kept = ["mbufs_left_to_device", "msix_vectors", "features_offered", "features_negotiated"];
    for (name, v) in port.named_stats() {
        if !kept.contains(&name.as_str()) {
            assert_eq!(v, 0, "{name} after reset_stats");
        }
    }
    q.tx[0].tx_done_cleanup();
    drop(q);
    drop(port);
    assert_eq!(pool.available(), pool.capacity(), "every mbuf back, dropped ones too");
}
