//! Receive-side scaling: the Toeplitz hash, the 40-byte key and the
//! 128-entry redirection table (RETA), as NICs implement them and as
//! Linux's `ethtool -x/-X` shows and sets them.
//!
//! A NIC hashes the addresses (and, for TCP/UDP, the ports) of every frame
//! it receives with the Toeplitz function under a secret key, and picks the
//! receive queue `reta[hash & 127]`: every frame of one flow lands on one
//! queue, and many flows spread over all of them. The virtual ports do the
//! same in software ([`Toeplitz`] with a per-byte lookup table, so a frame
//! costs one table load per input byte); hardware drivers program the same
//! [`RssConfig`] into their registers.
//!
//! The hash input, in order: source address, destination address, then
//! (when the hash type includes L4) source port and destination port — the
//! layout of Microsoft's RSS specification, whose verification vectors the
//! tests check.

use std::fmt;

use crate::port::PortError;

/// Bytes in an RSS key (Toeplitz over up to 36 bytes of input needs 36 + 4).
pub const RSS_KEY_LEN: usize = 40;
/// Entries in the redirection table.
pub const RETA_SIZE: usize = 128;
/// Longest hash input: two IPv6 addresses and two ports.
pub const MAX_INPUT: usize = 36;

/// The key of Microsoft's RSS verification suite, the default of most NIC
/// drivers (Intel's, DPDK's testpmd).
pub const MS_RSS_KEY: [u8; RSS_KEY_LEN] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b,
    0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac,
    0x01, 0xfa,
];

/// A symmetric key (`6d5a` repeated, Woo and Park): swapping source and
/// destination gives the same hash, so both directions of a connection land
/// on the same queue.
pub const SYMMETRIC_RSS_KEY: [u8; RSS_KEY_LEN] = {
    let mut k = [0u8; RSS_KEY_LEN];
    let mut i = 0;
    while i < RSS_KEY_LEN {
        k[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    k
};

/// Which headers feed the hash (Linux's `ethtool -N rx-flow-hash`, DPDK's
/// `rss_hf`). A frame whose type is not enabled is not hashed and goes to
/// queue 0 (the NIC rule).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RssHashTypes(pub u32);

impl RssHashTypes {
    /// No hashing: RSS off.
    pub const NONE: RssHashTypes = RssHashTypes(0);
    /// IPv4 source and destination addresses.
    pub const IPV4: RssHashTypes = RssHashTypes(1 << 0);
    /// IPv4 addresses and TCP ports.
    pub const TCP_IPV4: RssHashTypes = RssHashTypes(1 << 1);
    /// IPv4 addresses and UDP ports.
    pub const UDP_IPV4: RssHashTypes = RssHashTypes(1 << 2);
    /// IPv6 source and destination addresses.
    pub const IPV6: RssHashTypes = RssHashTypes(1 << 3);
    /// IPv6 addresses and TCP ports.
    pub const TCP_IPV6: RssHashTypes = RssHashTypes(1 << 4);
    /// IPv6 addresses and UDP ports.
    pub const UDP_IPV6: RssHashTypes = RssHashTypes(1 << 5);
    /// Addresses only (dpdk-testpmd's `--rss-ip`).
    pub const IP: RssHashTypes = RssHashTypes(Self::IPV4.0 | Self::IPV6.0);
    /// TCP ports too.
    pub const TCP: RssHashTypes = RssHashTypes(Self::TCP_IPV4.0 | Self::TCP_IPV6.0);
    /// UDP ports too (dpdk-testpmd's `--rss-udp`).
    pub const UDP: RssHashTypes = RssHashTypes(Self::UDP_IPV4.0 | Self::UDP_IPV6.0);
    /// Everything this module can hash.
    pub const ALL: RssHashTypes = RssHashTypes(0x3f);

    const NAMES: [(RssHashTypes, &'static str); 6] = [
        (Self::IPV4, "ipv4"),
        (Self::TCP_IPV4, "ipv4-tcp"),
        (Self::UDP_IPV4, "ipv4-udp"),
        (Self::IPV6, "ipv6"),
        (Self::TCP_IPV6, "ipv6-tcp"),
        (Self::UDP_IPV6, "ipv6-udp"),
    ];

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: RssHashTypes) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether nothing is hashed.
    pub fn is_empty(self) -> bool {
        self.0 & Self::ALL.0 == 0
    }

    /// The names of the types set (`ipv4`, `ipv4-tcp`, ...).
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES.iter().filter(|(t, _)| self.contains(*t)).map(|&(_, n)| n).collect()
    }

    /// Parses a comma list of names as [`RssHashTypes::names`] writes them,
    /// plus `ip`, `tcp`, `udp`, `all` and `none`.
    pub fn parse(s: &str) -> Result<RssHashTypes, String> {
        let mut t = RssHashTypes::NONE;
        for w in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            t = t | match w {
                "ip" => Self::IP,
                "tcp" => Self::TCP,
                "udp" => Self::UDP,
                "all" => Self::ALL,
                "none" => Self::NONE,
                _ => Self::NAMES.iter().find(|(_, n)| *n == w).map(|&(t, _)| t).ok_or_else(|| {
                    format!(
                        "unknown RSS hash type '{w}' (want ip, tcp, udp, all, none or {})",
                        Self::NAMES.map(|(_, n)| n).join(", ")
                    )
                })?,
            };
        }
        Ok(t)
    }
}

impl std::ops::BitOr for RssHashTypes {
    type Output = RssHashTypes;
    fn bitor(self, rhs: RssHashTypes) -> RssHashTypes {
        RssHashTypes(self.0 | rhs.0)
    }
}

impl fmt::Debug for RssHashTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RssHashTypes({self})")
    }
}

impl fmt::Display for RssHashTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&self.names().join(","))
        }
    }
}

/// A port's RSS settings: `ethtool -x` shows them, `ethtool -X` sets them.
#[derive(Clone, PartialEq, Eq)]
pub struct RssConfig {
    /// The Toeplitz key.
    pub key: [u8; RSS_KEY_LEN],
    /// Receive queue for each value of `hash & 127`.
    pub reta: [u16; RETA_SIZE],
    /// What is hashed; [`RssHashTypes::NONE`] turns RSS off.
    pub hash_types: RssHashTypes,
}

impl fmt::Debug for RssConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RssConfig")
            .field("key", &hex(&self.key))
            .field("reta", &&self.reta[..])
            .field("hash_types", &self.hash_types)
            .finish()
    }
}

impl RssConfig {
    /// The Microsoft key, a RETA spread evenly over `rx_queues`, and
    /// `hash_types`.
    pub fn new(rx_queues: u16, hash_types: RssHashTypes) -> RssConfig {
        RssConfig { key: MS_RSS_KEY, reta: default_reta(rx_queues), hash_types }
    }

    /// Whether frames are spread at all.
    pub fn enabled(&self) -> bool {
        !self.hash_types.is_empty()
    }

    /// After the receive queue count changed: a table that was the default
    /// spread (or names a queue that no longer exists) becomes the default
    /// spread over `rx_queues`; a user's table that still fits is kept.
    pub fn follow_queues(&mut self, rx_queues: u16) {
        let was_default = (1..=RETA_SIZE as u16).any(|n| self.reta == default_reta(n));
        if was_default || self.check(rx_queues).is_err() {
            self.reta = default_reta(rx_queues);
        }
    }

    /// Checks the RETA names only queues that exist.
    pub fn check(&self, rx_queues: u16) -> Result<(), PortError> {
        if let Some((i, q)) = self.reta.iter().enumerate().find(|(_, &q)| q >= rx_queues.max(1)) {
            return Err(PortError::InvalidConfig(format!(
                "RSS redirection table entry {i} names rx queue {q}, but the port has {rx_queues} (0..={})",
                rx_queues.max(1) - 1
            )));
        }
        Ok(())
    }

    /// The queue for a hash.
    #[inline(always)]
    pub fn queue(&self, hash: u32) -> u16 {
        self.reta[hash as usize & (RETA_SIZE - 1)]
    }

    /// The key as lower-case hex bytes separated by colons (`ethtool -x`).
    pub fn key_hex(&self) -> String {
        hex(&self.key)
    }
}

/// `0, 1, .., n-1, 0, 1, ..`: every queue gets the same share.
pub fn default_reta(rx_queues: u16) -> [u16; RETA_SIZE] {
    let n = rx_queues.max(1);
    std::array::from_fn(|i| i as u16 % n)
}

/// Parses a key written as 40 hex bytes, with or without `:` separators.
pub fn parse_key(s: &str) -> Result<[u8; RSS_KEY_LEN], String> {
    let digits: String = s.chars().filter(|c| *c != ':').collect();
    if digits.len() != 2 * RSS_KEY_LEN || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("an RSS key is {RSS_KEY_LEN} hex bytes (e.g. 6d:5a:...), got '{s}'"));
    }
    let mut key = [0u8; RSS_KEY_LEN];
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(key)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

/// The Toeplitz hash of `input` under `key`, bit by bit (the specification's
/// algorithm; [`Toeplitz::hash`] is the fast equivalent).
///
/// # Panics
/// If `input` is longer than [`MAX_INPUT`].
pub fn toeplitz_hash(key: &[u8; RSS_KEY_LEN], input: &[u8]) -> u32 {
    assert!(input.len() <= MAX_INPUT, "Toeplitz input of {} bytes: at most {MAX_INPUT}", input.len());
    let mut result = 0u32;
    for (i, &byte) in input.iter().enumerate() {
        for b in 0..8 {
            if byte & (0x80 >> b) != 0 {
                result ^= window(key, i * 8 + b);
            }
        }
    }
    result
}

/// The 32 key bits starting at bit `k` (bit 0 = the first byte's MSB).
fn window(key: &[u8; RSS_KEY_LEN], k: usize) -> u32 {
    let (byte, shift) = (k / 8, k % 8);
    let mut w = 0u64;
    for i in 0..5 {
        w = (w << 8) | u64::from(*key.get(byte + i).unwrap_or(&0));
    }
    (w >> (8 - shift)) as u32
}

/// The Toeplitz hash under one key, with a lookup table per input byte:
/// `table[i][v]` is what byte value `v` at position `i` contributes.
pub struct Toeplitz {
    key: [u8; RSS_KEY_LEN],
    table: Box<[[u32; 256]; MAX_INPUT]>,
}

impl fmt::Debug for Toeplitz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Toeplitz").field("key", &hex(&self.key)).finish()
    }
}

impl Toeplitz {
    /// Precomputes the tables for `key` (36 KiB; do it on the control plane).
    pub fn new(key: &[u8; RSS_KEY_LEN]) -> Toeplitz {
        let mut table = Box::new([[0u32; 256]; MAX_INPUT]);
        for (i, row) in table.iter_mut().enumerate() {
            let bits: [u32; 8] = std::array::from_fn(|b| window(key, i * 8 + b));
            for (v, slot) in row.iter_mut().enumerate() {
                *slot = (0..8).filter(|b| v & (0x80 >> b) != 0).fold(0, |acc, b| acc ^ bits[b]);
            }
        }
        Toeplitz { key: *key, table }
    }

    /// The key the tables were built for.
    pub fn key(&self) -> &[u8; RSS_KEY_LEN] {
        &self.key
    }

    /// The hash of `input` (at most [`MAX_INPUT`] bytes; more are ignored).
    #[inline]
    pub fn hash(&self, input: &[u8]) -> u32 {
        input.iter().zip(self.table.iter()).fold(0, |acc, (&b, row)| acc ^ row[b as usize])
    }

    /// Parses an Ethernet frame (one optional VLAN tag) and hashes what
    /// `types` selects. `None` when the frame is not of an enabled type (not
    /// IP, too short, or that IP version is off): the NIC then uses queue 0
    /// and reports no hash. Fragments hash on addresses only; IPv6 is
    /// hashed on the fixed header's next header only (no extension headers).
    #[inline]
    pub fn hash_frame(&self, frame: &[u8], types: RssHashTypes) -> Option<u32> {
        let mut l3 = 12;
        let mut ethertype = u16::from_be_bytes([*frame.get(l3)?, *frame.get(l3 + 1)?]);
        if ethertype == 0x8100 || ethertype == 0x88a8 {
            l3 += 4;
            ethertype = u16::from_be_bytes([*frame.get(l3)?, *frame.get(l3 + 1)?]);
        }
        l3 += 2;
        let mut buf = [0u8; MAX_INPUT];
        match ethertype {
            0x0800 => {
                let ip = frame.get(l3..l3 + 20)?;
                if ip[0] >> 4 != 4 {
                    return None;
                }
                let ihl = usize::from(ip[0] & 0x0f) * 4;
                let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
                buf[..8].copy_from_slice(&ip[12..20]);
                let l4 = match ip[9] {
                    6 if types.contains(RssHashTypes::TCP_IPV4) => true,
                    17 if types.contains(RssHashTypes::UDP_IPV4) => true,
                    _ => false,
                };
                if l4 && !fragment && ihl >= 20 {
                    if let Some(ports) = frame.get(l3 + ihl..l3 + ihl + 4) {
                        buf[8..12].copy_from_slice(ports);
                        return Some(self.hash(&buf[..12]));
                    }
                }
                types.contains(RssHashTypes::IPV4).then(|| self.hash(&buf[..8]))
            }
            0x86dd => {
                let ip = frame.get(l3..l3 + 40)?;
                if ip[0] >> 4 != 6 {
                    return None;
                }
                buf[..32].copy_from_slice(&ip[8..40]);
                let l4 = match ip[6] {
                    6 if types.contains(RssHashTypes::TCP_IPV6) => true,
                    17 if types.contains(RssHashTypes::UDP_IPV6) => true,
                    _ => false,
                };
                if l4 {
                    if let Some(ports) = frame.get(l3 + 40..l3 + 44) {
                        buf[32..36].copy_from_slice(ports);
                        return Some(self.hash(&buf));
                    }
                }
                types.contains(RssHashTypes::IPV6).then(|| self.hash(&buf[..32]))
            }
            _ => None,
        }
    }
}

/// What a port's datapath needs to spread frames: the config and its
/// precomputed hash tables. Built on the control plane, shared read-only.
#[derive(Debug)]
pub struct RssEngine {
    /// The settings this engine applies.
    pub config: RssConfig,
    toeplitz: Toeplitz,
}

impl RssEngine {
    /// Builds the tables for `config`.
    pub fn new(config: RssConfig) -> RssEngine {
        RssEngine { toeplitz: Toeplitz::new(&config.key), config }
    }

    /// The hash of a frame and its queue; `(0, 0)`-like `None` when the
    /// frame is not hashed (it goes to queue 0).
    #[inline(always)]
    pub fn classify(&self, frame: &[u8]) -> Option<(u32, u16)> {
        let h = self.toeplitz.hash_frame(frame, self.config.hash_types)?;
        Some((h, self.config.queue(h)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::OnceLock;

    #[test]
    fn table_equals_bitwise() {
        let t = Toeplitz::new(&MS_RSS_KEY);
        let input: Vec<u8> = (0..36u8).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
        for n in [0, 1, 8, 12, 32, 36] {
            assert_eq!(t.hash(&input[..n]), toeplitz_hash(&MS_RSS_KEY, &input[..n]), "{n} bytes");
        }
    }

    #[test]
    fn symmetric_key_is_symmetric() {
        let t = Toeplitz::new(&SYMMETRIC_RSS_KEY);
        let a = [10, 0, 0, 1, 10, 0, 0, 2, 0x30, 0x39, 0x00, 0x50];
        let b = [10, 0, 0, 2, 10, 0, 0, 1, 0x00, 0x50, 0x30, 0x39];
        assert_eq!(t.hash(&a), t.hash(&b));
    }

    #[test]
    fn types_parse_and_print() {
        let t = RssHashTypes::parse("ip,udp").unwrap();
        assert_eq!(t.to_string(), "ipv4,ipv4-udp,ipv6,ipv6-udp");
        assert_eq!(RssHashTypes::parse(&t.to_string()).unwrap(), t);
        assert!(RssHashTypes::parse("sctp").is_err());
        assert_eq!(RssHashTypes::NONE.to_string(), "none");
    }

    #[test]
    fn key_round_trip_and_reta_check() {
        let c = RssConfig::new(4, RssHashTypes::ALL);
        assert_eq!(parse_key(&c.key_hex()).unwrap(), MS_RSS_KEY);
        assert!(parse_key("00:11").is_err());
        assert!(c.check(4).is_ok());
        assert!(c.check(3).is_err());
        assert_eq!(&c.reta[..5], &[0, 1, 2, 3, 0]);
    }

    /// Bit `k` of the key, bit 0 being the first byte's most significant;
    /// zero past the end.
    fn key_bit(key: &[u8; RSS_KEY_LEN], k: usize) -> u32 {
        key.get(k / 8).map_or(0, |&b| u32::from(b >> (7 - k % 8) & 1))
    }

    /// The Toeplitz hash as the specification words it, one bit at a time:
    /// for every input bit that is set (most significant first), XOR in
    /// the 32 key bits that start at the same position.
    fn reference_hash(key: &[u8; RSS_KEY_LEN], input: &[u8]) -> u32 {
        let mut hash = 0u32;
        for i in 0..input.len() * 8 {
            if input[i / 8] >> (7 - i % 8) & 1 == 1 {
                hash ^= (0..32).fold(0u32, |w, j| w << 1 | key_bit(key, i + j));
            }
        }
        hash
    }

    fn v4(a: &str) -> Vec<u8> {
        a.parse::<Ipv4Addr>().unwrap().octets().to_vec()
    }

    fn v6(a: &str) -> Vec<u8> {
        a.parse::<Ipv6Addr>().unwrap().octets().to_vec()
    }

    /// The reference must itself be right before it judges anything: two
    /// rows of Microsoft's verification suite, addresses then ports.
    #[test]
    fn reference_hash_gives_the_published_vectors() {
        let rows = [
            ([v4("66.9.149.187"), v4("161.142.100.80")].concat(), 2794u16, 1766u16, 0x323e8fc2, 0x51ccc178),
            ([v6("3ffe:2501:200:1fff::7"), v6("3ffe:2501:200:3::1")].concat(), 2794, 1766, 0x2cc18cd5, 0x40207d3d),
        ];
        for (addrs, sport, dport, ip_hash, l4_hash) in rows {
            assert_eq!(reference_hash(&MS_RSS_KEY, &addrs), ip_hash);
            let with_ports = [&addrs[..], &sport.to_be_bytes(), &dport.to_be_bytes()].concat();
            assert_eq!(reference_hash(&MS_RSS_KEY, &with_ports), l4_hash);
        }
    }

    fn tables(key: &[u8; RSS_KEY_LEN]) -> &'static Toeplitz {
        // Building the tables takes a while in a debug build: once per key.
        static MS: OnceLock<Toeplitz> = OnceLock::new();
        static SYMMETRIC: OnceLock<Toeplitz> = OnceLock::new();
        let cell = if *key == MS_RSS_KEY { &MS } else { &SYMMETRIC };
        let t = cell.get_or_init(|| Toeplitz::new(key));
        assert_eq!(t.key(), key, "only the two well-known keys are cached");
        t
    }

    /// A TCP or UDP flow over IPv4 or IPv6 and how its frame is dressed.
    #[derive(Clone, Debug)]
    struct Flow {
        v6: bool,
        src: Vec<u8>,
        dst: Vec<u8>,
        sport: u16,
        dport: u16,
        udp: bool,
        /// TPID and TCI of one VLAN tag.
        tag: Option<(u16, u16)>,
        /// IPv4 option words (IHL - 5).
        options: usize,
        /// IPv4 fragment field (flags and offset) other than DF.
        fragment: Option<u16>,
    }

    fn flow() -> impl Strategy<Value = Flow> {
        let tag = prop_oneof![Just(None), (prop_oneof![Just(0x8100u16), Just(0x88a8)], any::<u16>()).prop_map(Some)];
        let fragment = prop_oneof![3 => Just(None), 1 => (1..=0x3fffu16).prop_map(Some)];
        (
            any::<bool>(),
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            any::<u16>(),
            any::<u16>(),
            any::<bool>(),
            tag,
            0..=10usize,
            fragment,
        )
            .prop_map(|(v6, src, dst, sport, dport, udp, tag, options, fragment)| {
                let n = if v6 { 16 } else { 4 };
                Flow {
                    v6,
                    src: src[..n].to_vec(),
                    dst: dst[..n].to_vec(),
                    sport,
                    dport,
                    udp,
                    tag,
                    options: if v6 { 0 } else { options },
                    fragment: if v6 { None } else { fragment },
                }
            })
    }

    impl Flow {
        fn frame(&self) -> Vec<u8> {
            let mut f = vec![0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02];
            if let Some((tpid, tci)) = self.tag {
                f.extend(tpid.to_be_bytes());
                f.extend(tci.to_be_bytes());
            }
            let proto = if self.udp { 17 } else { 6 };
            if self.v6 {
                f.extend([0x86, 0xdd, 0x60, 0, 0, 0, 0, 20, proto, 64]);
                f.extend(&self.src);
                f.extend(&self.dst);
            } else {
                let ihl = 5 + self.options;
                let total = (ihl * 4 + 20) as u16;
                let frag = self.fragment.unwrap_or(0x4000); // DF alone: not a fragment
                f.extend([0x08, 0x00, 0x40 | ihl as u8, 0]);
                f.extend(total.to_be_bytes());
                f.extend([0, 0]);
                f.extend(frag.to_be_bytes());
                f.extend([64, proto, 0, 0]);
                f.extend(&self.src);
                f.extend(&self.dst);
                f.extend(vec![0u8; self.options * 4]);
            }
            f.extend(self.sport.to_be_bytes());
            f.extend(self.dport.to_be_bytes());
            f.extend([0u8; 16]);
            f
        }

        fn addresses(&self) -> Vec<u8> {
            [&self.src[..], &self.dst[..]].concat()
        }

        fn addresses_and_ports(&self) -> Vec<u8> {
            [&self.src[..], &self.dst[..], &self.sport.to_be_bytes(), &self.dport.to_be_bytes()].concat()
        }

        /// The hash types that select this flow's addresses, and its ports.
        fn types(&self) -> (RssHashTypes, RssHashTypes) {
            match (self.v6, self.udp) {
                (false, false) => (RssHashTypes::IPV4, RssHashTypes::TCP_IPV4),
                (false, true) => (RssHashTypes::IPV4, RssHashTypes::UDP_IPV4),
                (true, false) => (RssHashTypes::IPV6, RssHashTypes::TCP_IPV6),
                (true, true) => (RssHashTypes::IPV6, RssHashTypes::UDP_IPV6),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        /// Any key, any input up to the longest: the table hash and the
        /// bitwise one both equal the reference, and the hash is linear
        /// (hash(a ^ b) = hash(a) ^ hash(b)), as a Toeplitz matrix product is.
        #[test]
        fn hashes_equal_the_bitwise_reference_for_any_key(
            key in prop::array::uniform::<_, RSS_KEY_LEN>(any::<u8>()),
            pair in (0..=MAX_INPUT).prop_flat_map(|n| {
                (prop::collection::vec(any::<u8>(), n), prop::collection::vec(any::<u8>(), n))
            }),
        ) {
            let (a, b) = pair;
            let t = Toeplitz::new(&key);
            let expected = reference_hash(&key, &a);
            prop_assert_eq!(t.hash(&a), expected, "table hash");
            prop_assert_eq!(toeplitz_hash(&key, &a), expected, "bitwise hash");
            let xor: Vec<u8> = a.iter().zip(&b).map(|(x, y)| x ^ y).collect();
            prop_assert_eq!(t.hash(&xor), t.hash(&a) ^ t.hash(&b), "linearity");
        }

        /// A well-formed frame hashes as the reference does over what the
        /// enabled types select, whatever the VLAN tag and IPv4 options:
        /// ports when the flow's L4 type is on (addresses only for an IPv4
        /// fragment), else addresses when its IP type is on, else nothing.
        #[test]
        fn frames_hash_over_the_fields_the_types_select(f in flow(), types in 0..=RssHashTypes::ALL.0) {
            let types = RssHashTypes(types);
            let (ip, l4) = f.types();
            let expected = if types.contains(l4) && f.fragment.is_none() {
                Some(reference_hash(&MS_RSS_KEY, &f.addresses_and_ports()))
            } else if types.contains(ip) {
                Some(reference_hash(&MS_RSS_KEY, &f.addresses()))
            } else {
                None
            };
            prop_assert_eq!(tables(&MS_RSS_KEY).hash_frame(&f.frame(), types), expected);
        }

        /// Cut a frame anywhere: the parser never panics and never invents
        /// fields. Growing prefixes go from no hash, to the addresses-only
        /// hash, to the full hash, never back; the whole frame gets the
        /// full one.
        #[test]
        fn truncated_frames_hash_on_what_is_there(f in flow().prop_filter("not a fragment", |f| f.fragment.is_none())) {
            let frame = f.frame();
            let addresses = reference_hash(&MS_RSS_KEY, &f.addresses());
            let full = reference_hash(&MS_RSS_KEY, &f.addresses_and_ports());
            let mut stage = 0;
            for cut in 0..=frame.len() {
                let now = match tables(&MS_RSS_KEY).hash_frame(&frame[..cut], RssHashTypes::ALL) {
                    None => 0,
                    Some(h) if h == full => 2,
                    Some(h) if h == addresses => 1,
                    Some(h) => return Err(TestCaseError::fail(format!("{cut} bytes hash to {h:#x}, neither field set"))),
                };
                prop_assert!(now >= stage, "{} bytes went back from stage {} to {}", cut, stage, now);
                stage = now;
            }
            prop_assert_eq!(stage, 2, "the whole frame hashes over its ports");
        }

        /// Arbitrary bytes after an IP-ish ethertype: no panic, whatever
        /// the types.
        #[test]
        fn arbitrary_bytes_never_panic(
            ethertype in prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x8100), Just(0x88a8), any::<u16>()],
            body in prop::collection::vec(any::<u8>(), 0..80),
            types in 0..=RssHashTypes::ALL.0,
        ) {
            let mut frame = vec![0u8; 12];
            frame.extend(ethertype.to_be_bytes());
            frame.extend(body);
            for cut in 0..=frame.len() {
                let _ = tables(&MS_RSS_KEY).hash_frame(&frame[..cut], RssHashTypes(types));
            }
        }

        /// With the symmetric key both directions of a flow hash alike, over
        /// IPv4 and IPv6, through the table and the reference.
        #[test]
        fn symmetric_key_hashes_both_directions_alike(f in flow()) {
            let forward = f.addresses_and_ports();
            let back = [&f.dst[..], &f.src[..], &f.dport.to_be_bytes(), &f.sport.to_be_bytes()].concat();
            let t = tables(&SYMMETRIC_RSS_KEY);
            prop_assert_eq!(t.hash(&forward), t.hash(&back));
            prop_assert_eq!(reference_hash(&SYMMETRIC_RSS_KEY, &forward), t.hash(&forward));
        }
    }
}
