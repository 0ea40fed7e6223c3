//! CRC-32C (Castagnoli), the SCTP checksum (RFC 9260 appendix A).
//!
//! Table-driven, one byte at a time, with the table built at compile time:
//! SCTP is rare in testpmd traffic, so this favours being obviously right
//! over speed. The checksum covers the whole SCTP packet with its checksum
//! field zero and is stored in the field least significant byte first (the
//! CRC is bit-reflected, and that is its natural byte order).

/// The reflected Castagnoli polynomial.
const POLY: u32 = 0x82f6_3b78;

const fn table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static TABLE: [u32; 256] = table();

/// A CRC-32C in progress: [`Crc32c::update`] with each piece in order,
/// then [`Crc32c::finish`].
#[derive(Clone, Copy, Debug)]
pub struct Crc32c(u32);

impl Default for Crc32c {
    fn default() -> Self {
        Crc32c(!0)
    }
}

impl Crc32c {
    /// Adds `data`.
    #[inline]
    pub fn update(&mut self, data: &[u8]) {
        let mut c = self.0;
        for &b in data {
            c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
        }
        self.0 = c;
    }

    /// The CRC of everything added.
    #[inline]
    pub fn finish(self) -> u32 {
        !self.0
    }
}

/// CRC-32C of bytes `from..to` of a frame spread over `segments`.
pub fn crc_range<'a>(segments: impl Iterator<Item = &'a [u8]>, from: usize, to: usize) -> u32 {
    let (mut crc, mut at) = (Crc32c::default(), 0usize);
    for seg in segments {
        let (start, end) = (at.max(from), (at + seg.len()).min(to));
        if start < end {
            crc.update(&seg[start - at..end - at]);
        }
        at += seg.len();
        if at >= to {
            break;
        }
    }
    crc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crc(data: &[u8]) -> u32 {
        let mut c = Crc32c::default();
        c.update(data);
        c.finish()
    }

    #[test]
    fn the_standard_check_values() {
        // The CRC catalogue's check value for CRC-32/ISCSI.
        assert_eq!(crc(b"123456789"), 0xe306_9283);
        // RFC 3720 B.4: 32 bytes of zeros, and of 0xff.
        assert_eq!(crc(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc(&[0xffu8; 32]), 0x62a8_ab43);
    }

    #[test]
    fn a_range_over_segments_is_the_crc_of_the_bytes() {
        let whole: Vec<u8> = (0..100u8).collect();
        let segs = [&whole[..3], &whole[3..50], &whole[50..]];
        assert_eq!(crc_range(segs.iter().copied(), 10, 90), crc(&whole[10..90]));
        assert_eq!(crc_range(segs.iter().copied(), 0, 100), crc(&whole));
    }
}
