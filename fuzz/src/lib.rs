//! Helpers shared by ferrite's fuzz targets (one target per file in
//! `fuzz_targets/`).
//!
//! * [`Input`]: reads structured fields from the fuzzer's bytes. Reading past
//!   the end yields zeros instead of failing, so every input, however short,
//!   is a complete test case and the fuzzer never wastes runs on rejects.
//! * [`pool`]: one mempool for the whole process, on ordinary pages (no
//!   hugepages or root needed). Built once because a pool costs an mmap and
//!   a carve; each target checks it is full again after every input, which
//!   is how a leaked or double-freed mbuf shows up.
//! * [`json`]: a strict JSON reader (serde_json) and the checks that
//!   pmdstat's `Json` reads a text the same way, through its public accessors.
//! * [`ones_sum`], [`ones_ok`]: the Internet checksum (RFC 1071) written the
//!   slow, obvious way, as the model the optimised code is checked against.

use std::sync::OnceLock;

use ferrite_hugepages::Fallback;
use ferrite_pmd::{Mempool, MempoolConfig};

pub mod json;

/// Reads fields off the front of the fuzzer's input; zeros once it runs out.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Wraps the fuzzer's bytes.
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data }
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Bytes not read yet.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// One byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// Big-endian, as on the wire.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.array())
    }

    /// Big-endian.
    pub fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.array())
    }

    /// `N` bytes, zero-padded past the end.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        out
    }

    /// Up to `n` bytes (fewer near the end).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }
}

/// Data room of [`pool`]'s buffers: a 9018-byte jumbo frame (testpmd's
/// largest) fits, with room to spare for frames longer than any MTU.
pub const DATA_ROOM: usize = 9216;
/// Buffers in [`pool`]: more than any target holds at once.
pub const POOL_SIZE: usize = 1024;

/// The process's mempool (created on first use).
pub fn pool() -> &'static Mempool {
    static POOL: OnceLock<Mempool> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut cfg = MempoolConfig::new("fuzz", POOL_SIZE);
        cfg.data_room = DATA_ROOM;
        // No lcore is registered, so no per-core cache either: `available`
        // is then exact at every moment, which the leak check relies on.
        cfg.cache_size = 0;
        cfg.dma.fallback = Fallback::SmallPages;
        Mempool::new(&cfg).unwrap_or_else(|e| panic!("fuzz harness: cannot create the mempool: {e}"))
    })
}

/// Panics unless every buffer of [`pool`] is back: after an input, anything
/// missing was leaked by the code under test (a double free shows as too
/// many, or as a crash before this).
pub fn assert_pool_full(context: &str) {
    let p = pool();
    assert_eq!(p.available(), p.capacity(), "{context}: mbufs leaked ({} of {} in use)", p.in_use(), p.capacity());
}

/// Plain sum of the big-endian 16-bit words of `d` (odd length: the last
/// byte is the high half of a zero-padded word), no folding.
pub fn ones_sum(d: &[u8]) -> u64 {
    d.chunks(2).map(|c| (u64::from(c[0]) << 8) | u64::from(*c.get(1).unwrap_or(&0))).sum()
}

/// Whether `d` passes the Internet checksum check: its ones'-complement sum
/// is negative zero (all ones), i.e. the plain sum is a non-zero multiple of
/// 0xffff.
pub fn ones_ok(d: &[u8]) -> bool {
    let s = ones_sum(d);
    s != 0 && s.is_multiple_of(0xffff)
}

/// The checksum that makes `d` (with its checksum field zero) pass
/// [`ones_ok`]: the ones' complement of its folded sum.
pub fn ones_checksum(d: &[u8]) -> u16 {
    let mut s = ones_sum(d);
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}
