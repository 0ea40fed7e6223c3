//! Property tests: the header-editing engines (csum, icmpecho, 5tswap) and
//! software VLAN insertion take any bytes, in one segment or a chain cut
//! anywhere, without panicking, and never change a frame's length (but
//! for the tag's 4 bytes, and Ethernet padding csum drops for a NIC that
//! computes checksums, with the segments made only of it) or lose a segment
//! of the frame.
//!
//! Random bytes alone rarely reach past the EtherType, so each frame is
//! nudged towards a layout: an EtherType from the known ones, an IP
//! version nibble, and length fields that are right, a little off, or
//! anything.

use proptest::prelude::*;

use ferrite_hugepages::Fallback;
use ferrite_pmd::port::TxOffloads;
use ferrite_pmd::{Mbuf, Mempool, MempoolConfig};

use super::csum::{self, CsumConfig, CsumTally};
use super::{icmpecho, swap, vlan};

fn pool() -> Mempool {
    use std::sync::OnceLock;
    static POOL: OnceLock<Mempool> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut cfg = MempoolConfig::new("engines-props", 256);
        cfg.dma.fallback = Fallback::SmallPages;
        Mempool::new(&cfg).unwrap()
    })
    .clone()
}

/// `bytes` with a layout pushed onto them (see the module docs).
fn shaped(mut f: Vec<u8>, ethertype: u16, tags: usize, lens: u8) -> Vec<u8> {
    let mut at = 12;
    for _ in 0..tags {
        if f.len() >= at + 4 {
            f[at..at + 2].copy_from_slice(&0x8100u16.to_be_bytes());
        }
        at += 4;
    }
    if f.len() >= at + 2 {
        f[at..at + 2].copy_from_slice(&ethertype.to_be_bytes());
    }
    let ip = at + 2;
    let rest = f.len().saturating_sub(ip);
    let fix = |v: usize| (v as isize + (lens % 5) as isize - 2).max(0) as u16;
    let proto = [6u8, 17, 132, 1][usize::from(lens >> 5) & 3];
    if f.len() >= ip + 10 && ethertype == 0x0800 {
        let ihl = if lens & 0x80 != 0 { 5 } else { f[ip] & 0x0f };
        f[ip] = 0x40 | ihl;
        f[ip + 2..ip + 4].copy_from_slice(&fix(rest).to_be_bytes());
        f[ip + 6] &= if lens & 0x10 != 0 { 0 } else { 0xff }; // mostly not a fragment
        f[ip + 7] &= if lens & 0x10 != 0 { 0 } else { 0xff };
        f[ip + 9] = proto;
        shape_l4(&mut f, ip + usize::from(ihl) * 4, lens);
    }
    if f.len() >= ip + 40 && ethertype == 0x86dd {
        f[ip] = 0x60 | (f[ip] & 0x0f);
        f[ip + 4..ip + 6].copy_from_slice(&fix(rest - 40).to_be_bytes());
        f[ip + 6] = proto;
        shape_l4(&mut f, ip + 40, lens);
    }
    f
}

/// Makes a TCP data offset or UDP length at `l4` plausible.
fn shape_l4(f: &mut [u8], l4: usize, lens: u8) {
    if let Some(b) = f.get_mut(l4 + 12) {
        *b = (5 + (lens & 3)) << 4;
    }
    let len = f.len().saturating_sub(l4) as u16;
    if let Some(u) = f.get_mut(l4 + 4..l4 + 6) {
        u.copy_from_slice(&len.to_be_bytes());
    }
}

/// `f` in mbufs, cut at `cuts` (taken modulo the length).
fn chained(f: &[u8], cuts: &[usize]) -> Option<Mbuf> {
    let p = pool();
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (f.len() + 1)).collect();
    bounds.extend([0, f.len()]);
    bounds.sort_unstable();
    bounds.dedup();
    let mut head: Option<Mbuf> = None;
    for w in bounds.windows(2) {
        let mut m = p.alloc()?;
        assert!(m.set_len(w[1] - w[0]));
        m.data_mut().copy_from_slice(&f[w[0]..w[1]]);
        match head.as_mut() {
            None => head = Some(m),
            Some(h) => h.chain(m).ok()?,
        }
    }
    head
}

fn frame() -> impl Strategy<Value = Vec<u8>> {
    let ethertypes = prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x0806), Just(0x88a8), any::<u16>()];
    (proptest::collection::vec(any::<u8>(), 0..200), ethertypes, 0usize..3, any::<u8>())
        .prop_map(|(b, et, tags, lens)| shaped(b, et, tags, lens))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_pass_every_engine_whole(f in frame(), cuts in proptest::collection::vec(any::<usize>(), 0..3)) {
        let Some(m0) = chained(&f, &cuts) else { return Ok(()) };
        let segs = m0.nb_segs();
        drop(m0);
        let cfgs = [TxOffloads::empty(), TxOffloads::all()].map(|tx_offloads| CsumConfig {
            src: [2; 6], dst: [4; 6], tx_offloads, tso_segsz: 40,
        });
        for cfg in &cfgs {
            let mut m = chained(&f, &cuts).unwrap();
            csum::prepare(&mut m, cfg, &mut CsumTally::default());
            // Only Ethernet padding may go (segments made only of it with
            // it), and only when the NIC sums.
            if cfg.tx_offloads.is_empty() {
                prop_assert_eq!((m.nb_segs(), m.len()), (segs, f.len()));
            } else {
                prop_assert!(m.nb_segs() <= segs && m.len() <= f.len());
            }
            let lens: Vec<usize> = m.segments().map(|s| s.len()).collect();
            prop_assert_eq!(lens.len(), usize::from(m.nb_segs()));
            prop_assert_eq!(lens.iter().sum::<usize>(), m.len(), "segments add up to the packet");
        }
        let mut m = chained(&f, &cuts).unwrap();
        if icmpecho::answer(&mut m, [2; 6]) == icmpecho::Answer::None {
            let mut out = vec![0u8; m.len()];
            m.read(0, &mut out);
            prop_assert_eq!(&out, &f, "a frame not answered is not touched");
        }
        prop_assert_eq!(m.len(), f.len());
        let mut m = chained(&f, &cuts).unwrap();
        swap::five_tuple_swap(&mut m);
        prop_assert_eq!(m.len(), f.len());
        let mut m = chained(&f, &cuts).unwrap();
        let tagged = vlan::insert(&mut m, 5);
        prop_assert_eq!(m.len(), f.len() + if tagged { 4 } else { 0 });
    }
}
