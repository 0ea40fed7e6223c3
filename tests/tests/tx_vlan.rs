//! `--tx-vlan` at the stream: software insertion puts an 802.1Q tag right
//! after the MAC addresses (chains and all), the offload path only asks
//! for it, a frame that cannot be tagged is dropped and counted rather
//! than sent bare, and a generator tags each frame once.

use ferrite_apps::fwd::csum::CsumConfig;
use ferrite_apps::fwd::vlan::TxVlan;
use ferrite_apps::fwd::{EngineConfig, NoQueue, Stream, StreamId, TxGenConfig};
use ferrite_pmd::mem::{OffloadFlags, TxOffload};
use ferrite_pmd::port::TxOffloads;
use ferrite_pmd::Mbuf;
use ferrite_tests::frames::{self, eth, ipv4, udp};
use ferrite_tests::scripted::{GivenRx, KeepTx};

const ID: StreamId = StreamId { rx_port: 0, rx_queue: 0, tx_port: 1, tx_queue: 0 };

fn forward(engine: EngineConfig, vlan: TxVlan, frames: Vec<Mbuf>) -> (Vec<Mbuf>, ferrite_apps::fwd::StreamStats) {
    let out = KeepTx::default();
    let mut s = Stream::new(ID, Box::new(GivenRx(frames)), Box::new(out.clone()), 32, engine).unwrap();
    s.set_tx_vlan(vlan);
    while s.poll() > 0 {}
    let st = s.counters().snapshot();
    assert!(st.balanced(), "{st:?}");
    (out.take(), st)
}

fn frame() -> Vec<u8> {
    [
        eth([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], &[], 0x0800),
        ipv4(17, [1, 1, 1, 1], [2, 2, 2, 2], 0, &udp(1, 2, 0, &[9; 40])),
    ]
    .concat()
}

/// `f` as it should leave with tag `tci` inserted after the addresses.
fn tagged(f: &[u8], tci: u16) -> Vec<u8> {
    [&f[..12], &[0x81, 0x00], &tci.to_be_bytes()[..], &f[12..]].concat()
}

#[test]
fn software_insertion_puts_the_tag_after_the_macs() {
    let pool = ferrite_tests::pool("vlan-sw", 16);
    let f = frame();
    let qinq_inner = [&f[..12], &[0x81, 0x00, 0x00, 0x07][..], &f[12..]].concat();
    let frames_in = vec![
        frames::mbuf(&pool, &f, &[]),
        frames::mbuf(&pool, &f, &[20, 50]),
        frames::mbuf(&pool, &qinq_inner, &[]),
        frames::mbuf(&pool, &f, &[11]), // the addresses are not all in the first segment
    ];
    let vlan = TxVlan { tci: 0x2064, offload: false }; // priority 1, VLAN 100
    let (sent, st) = forward(EngineConfig::Io, vlan, frames_in);
    assert_eq!(sent.len(), 3);
    assert_eq!(frames::bytes(&sent[0]), tagged(&f, 0x2064));
    assert_eq!((frames::bytes(&sent[1]), sent[1].nb_segs()), (tagged(&f, 0x2064), 3));
    assert_eq!(frames::bytes(&sent[2]), tagged(&qinq_inner, 0x2064), "an existing tag becomes the inner one");
    assert_eq!(st.fwd_drops, 1, "dropped and counted, not sent untagged: {st:?}");
    drop(sent);
    assert_eq!(pool.available(), 16);
}

#[test]
fn the_offload_path_only_asks_the_nic() {
    let pool = ferrite_tests::pool("vlan-hw", 8);
    let f = frame();
    let (sent, _) =
        forward(EngineConfig::MacSwap, TxVlan { tci: 100, offload: true }, vec![frames::mbuf(&pool, &f, &[])]);
    assert!(sent[0].ol_flags().contains(OffloadFlags::TX_VLAN_INSERT));
    assert_eq!((sent[0].vlan_tci(), sent[0].len()), (100, f.len()));
}

#[test]
fn a_software_tag_lengthens_the_l2_header_a_checksum_request_counts() {
    // csum asks the NIC for the IPv4 checksum with l2_len 14; the tag
    // inserted afterwards makes the header 18 bytes.
    let pool = ferrite_tests::pool("vlan-csum", 8);
    let cfg = CsumConfig { src: [2; 6], dst: [4; 6], tx_offloads: TxOffloads::IPV4_CKSUM, tso_segsz: 0 };
    let (sent, _) =
        forward(EngineConfig::Csum(cfg), TxVlan { tci: 9, offload: false }, vec![frames::mbuf(&pool, &frame(), &[])]);
    assert!(sent[0].ol_flags().contains(OffloadFlags::TX_IP_CKSUM));
    assert_eq!(sent[0].tx_offload(), TxOffload { l2_len: 18, l3_len: 20, l4_len: 8, tso_segsz: 0 });
    assert_eq!(frames::bytes(&sent[0])[12..16], [0x81, 0, 0, 9]);
}

#[test]
fn a_generator_tags_each_frame_once_retries_included() {
    let pool = ferrite_tests::pool("vlan-gen", 256);
    let gen = TxGenConfig {
        pool: pool.clone(),
        spec: ferrite_tests::udp_spec(64),
        flows: 1,
        rate_pps: None,
        count: Some(40),
        segments: vec![],
    };
    /// Takes at most 3 frames a burst, so the rest are retried.
    struct Slow(KeepTx);
    impl ferrite_pmd::TxQueue for Slow {
        fn tx_burst(&mut self, b: &mut ferrite_pmd::MbufBatch) -> usize {
            let n = b.len().min(3);
            self.0 .0.lock().unwrap().extend(b.drain_front(n));
            n
        }
        fn queue_id(&self) -> u16 {
            0
        }
    }
    let out = KeepTx::default();
    let mut s = Stream::new(ID, Box::new(NoQueue), Box::new(Slow(out.clone())), 16, EngineConfig::TxGen(gen)).unwrap();
    s.set_tx_vlan(TxVlan { tci: 7, offload: false });
    while !s.is_done() {
        s.poll();
    }
    let sent = out.take();
    assert_eq!(sent.len(), 40);
    for m in &sent {
        let f = frames::bytes(m);
        assert_eq!((f.len(), &f[12..16]), (68, &[0x81, 0, 0, 7][..]), "one tag, 4 bytes longer");
        assert_eq!(f[16..18], [0x08, 0x00]);
    }
}
