//! RSS on the 82576 (datasheet 7.1.2.8; Linux `igb_setup_mrqc`).
//!
//! * `RSSRK[0..10]`: the 40-byte Toeplitz key, byte 0 in the low byte of
//!   `RSSRK[0]` (QEMU hashes with the register file's bytes in memory
//!   order, as Linux writes them).
//! * `RETA[0..32]`: 128 one-byte entries, entry `i` in byte `i % 4` of
//!   register `i / 4`; on the 82576 the byte is the queue index itself.
//! * `MRQC`: `ENABLE_RSS` (0b010 in bits 2:0) and one bit per hashed
//!   header type (IPv4, IPv4/TCP, IPv4/UDP, IPv6, IPv6/TCP, IPv6/UDP).
//! * `RXCSUM.PCSD`: the descriptor's second dword carries the RSS hash
//!   instead of the packet checksum. QEMU's igb spreads frames only with
//!   PCSD set.
//!
//! RSS is programmed only with more than one receive queue and some hash
//! type on; otherwise `MRQC = 0` and every frame goes to queue 0, as before.

use super::mac::Hw;
use super::regs::{MRQC, RXCSUM, RXCSUM_PCSD};
use crate::rss::{RssConfig, RssHashTypes, RETA_SIZE, RSS_KEY_LEN};

/// Redirection table: 32 registers of four entries.
pub const fn reta(n: u32) -> u32 {
    0x5C00 + 4 * n
}
/// RSS random key: 10 registers.
pub const fn rssrk(n: u32) -> u32 {
    0x5C80 + 4 * n
}
/// MRQC: multiple receive queues with RSS.
pub const MRQC_ENABLE_RSS: u32 = 0b010;
/// MRQC: hash IPv4/TCP.
pub const MRQC_RSS_FIELD_IPV4_TCP: u32 = 1 << 16;
/// MRQC: hash IPv4.
pub const MRQC_RSS_FIELD_IPV4: u32 = 1 << 17;
/// MRQC: hash IPv6/TCP with extension headers.
pub const MRQC_RSS_FIELD_IPV6_TCP_EX: u32 = 1 << 18;
/// MRQC: hash IPv6.
pub const MRQC_RSS_FIELD_IPV6: u32 = 1 << 20;
/// MRQC: hash IPv6/TCP.
pub const MRQC_RSS_FIELD_IPV6_TCP: u32 = 1 << 21;
/// MRQC: hash IPv4/UDP.
pub const MRQC_RSS_FIELD_IPV4_UDP: u32 = 1 << 22;
/// MRQC: hash IPv6/UDP.
pub const MRQC_RSS_FIELD_IPV6_UDP: u32 = 1 << 23;

/// The hash types a fresh port uses (Linux igb's default: addresses, and
/// TCP ports; UDP ports only on request, as fragments would split flows).
pub const DEFAULT_TYPES: RssHashTypes = RssHashTypes(RssHashTypes::IP.0 | RssHashTypes::TCP.0);

/// MRQC for `types` (RSS enabled).
pub fn mrqc_value(types: RssHashTypes) -> u32 {
    let mut v = MRQC_ENABLE_RSS;
    for (t, bits) in [
        (RssHashTypes::IPV4, MRQC_RSS_FIELD_IPV4),
        (RssHashTypes::TCP_IPV4, MRQC_RSS_FIELD_IPV4_TCP),
        (RssHashTypes::UDP_IPV4, MRQC_RSS_FIELD_IPV4_UDP),
        (RssHashTypes::IPV6, MRQC_RSS_FIELD_IPV6),
        (RssHashTypes::TCP_IPV6, MRQC_RSS_FIELD_IPV6_TCP | MRQC_RSS_FIELD_IPV6_TCP_EX),
        (RssHashTypes::UDP_IPV6, MRQC_RSS_FIELD_IPV6_UDP),
    ] {
        if types.contains(t) {
            v |= bits;
        }
    }
    v
}

/// Whether `conf` spreads frames on a port with `rx_queues` queues.
pub fn active(conf: &RssConfig, rx_queues: u16) -> bool {
    conf.enabled() && rx_queues > 1
}

/// Programs key, table, hash types and RXCSUM.PCSD (RSS on), or turns RSS
/// off (MRQC = 0, PCSD clear). RXCSUM's checksum enables are the receive
/// offloads' (`rx::program_offloads`) and are left as they are. Safe while
/// running: the device applies each register as it is written.
pub fn program(hw: &Hw, conf: &RssConfig, rx_queues: u16) {
    let rxcsum = hw.read(RXCSUM) & !RXCSUM_PCSD;
    if !active(conf, rx_queues) {
        hw.write(MRQC, 0);
        hw.write(RXCSUM, rxcsum);
        return;
    }
    for (i, k) in conf.key.chunks_exact(4).enumerate() {
        hw.write(rssrk(i as u32), u32::from_le_bytes([k[0], k[1], k[2], k[3]]));
    }
    for (i, e) in conf.reta.chunks_exact(4).enumerate() {
        let b = |q: u16| (q & 0x0F) as u8;
        hw.write(reta(i as u32), u32::from_le_bytes([b(e[0]), b(e[1]), b(e[2]), b(e[3])]));
    }
    hw.write(RXCSUM, rxcsum | RXCSUM_PCSD);
    hw.write(MRQC, mrqc_value(conf.hash_types));
}

/// Key and table as the registers hold them now (`ethtool -d`-style check).
pub fn read_back(hw: &Hw) -> ([u8; RSS_KEY_LEN], [u16; RETA_SIZE]) {
    let mut key = [0u8; RSS_KEY_LEN];
    for (i, k) in key.chunks_exact_mut(4).enumerate() {
        k.copy_from_slice(&hw.read(rssrk(i as u32)).to_le_bytes());
    }
    let mut table = [0u16; RETA_SIZE];
    for (i, e) in table.chunks_exact_mut(4).enumerate() {
        for (j, b) in hw.read(reta(i as u32)).to_le_bytes().into_iter().enumerate() {
            e[j] = u16::from(b);
        }
    }
    (key, table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrqc_bits_follow_linux() {
        assert_eq!(mrqc_value(RssHashTypes::NONE), 0b010);
        // igb_setup_mrqc's default: IPv4, IPv4/TCP, IPv6, IPv6/TCP (+EX).
        assert_eq!(
            mrqc_value(DEFAULT_TYPES),
            0b010 | 0x0002_0000 | 0x0001_0000 | 0x0010_0000 | 0x0020_0000 | 0x0004_0000
        );
        assert_eq!(mrqc_value(RssHashTypes::UDP) & (0x0040_0000 | 0x0080_0000), 0x00C0_0000);
    }
}
