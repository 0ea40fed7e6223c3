//! The frames txonly/flowgen build and rxonly verifies.
//!
//! ```text
//! Ethernet (14) | IPv4, no options (20) | UDP (8) | ferrite payload
//! payload: magic "FRTE" (4) | sender id (2, BE) | checksum (2) | sequence (8, BE) | fill ...
//! ```
//!
//! The sender id names the transmitting stream (`(port & 63) << 6 | (queue & 63)`),
//! the sequence number counts that stream's frames from 0, and the checksum is
//! the Internet checksum (RFC 1071) of the whole payload, so a receiver checks
//! it by summing the payload and getting 0xffff. The UDP checksum is 0 (allowed
//! for IPv4); the IPv4 header checksum is real.
//!
//! A frame may be spread over several segments (an mbuf chain, `--txpkts
//! 2048,2048,818`), split anywhere, even inside a header. Every field a
//! sender patches per frame lies in the first [`HEAD_LEN`] bytes, so both
//! directions work on a copy of that head: [`Template::write_segments`]
//! patches the copy and lays head and fill out over the segments, and
//! [`parse_segments`] gathers the head, checks it, and sums the payload
//! segment by segment. Contiguous frames keep the direct slice paths.

use ferrite_pmd::Mbuf;

// The RFC 1071 sums live in `checksum.rs`; re-exported here, where the
// fuzz targets and older callers find them.
use super::checksum::sum_range as sum16_range;
pub use super::checksum::{fold, sum16};

/// Offset of the payload in a frame.
pub const PAYLOAD_OFF: usize = 14 + 20 + 8;
/// Bytes of ferrite signature at the start of the payload.
pub const SIG_LEN: usize = 16;
/// The magic that marks a ferrite payload.
pub const MAGIC: [u8; 4] = *b"FRTE";
/// Distinct sender ids a verifier tracks.
pub const MAX_SENDERS: usize = 4096;

/// Headers and signature: every byte a sender patches per frame, and all a
/// receiver needs to see before it sums the payload.
pub const HEAD_LEN: usize = PAYLOAD_OFF + SIG_LEN;

const CKSUM_OFF: usize = PAYLOAD_OFF + 6;
const SEQ_OFF: usize = PAYLOAD_OFF + 8;
const SENDER_OFF: usize = PAYLOAD_OFF + 4;
const IP_OFF: usize = 14;

/// The sender id of transmit queue `queue` on port `port`.
pub fn sender_id(port: u16, queue: u16) -> u16 {
    ((port & 63) << 6) | (queue & 63)
}

#[inline]
fn seq_words(seq: u64) -> u64 {
    (seq >> 48) + ((seq >> 32) & 0xffff) + ((seq >> 16) & 0xffff) + (seq & 0xffff)
}

/// What a frame builder needs.
#[derive(Clone, Debug)]
pub struct FrameSpec {
    /// Frame length without FCS.
    pub len: usize,
    /// Ethernet source.
    pub src_mac: [u8; 6],
    /// Ethernet destination.
    pub dst_mac: [u8; 6],
    /// IPv4 source (flowgen varies the low 16 bits).
    pub src_ip: [u8; 4],
    /// IPv4 destination.
    pub dst_ip: [u8; 4],
    /// UDP source port (flowgen varies it).
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
    /// Sender id written into the payload.
    pub sender: u16,
}

/// A prebuilt frame with sequence 0, patched per packet.
pub struct Template {
    bytes: Box<[u8]>,
    /// Ones'-complement sum of the payload with sequence and checksum zero.
    payload_base: u64,
    /// Ones'-complement sum of the IPv4 header with checksum and the low
    /// source address word zero (flowgen patches that word).
    ip_base: u64,
}

impl Template {
    /// Builds the template.
    pub fn new(spec: &FrameSpec) -> Template {
        assert!(spec.len >= PAYLOAD_OFF + SIG_LEN && spec.len <= u16::MAX as usize);
        let mut f = vec![0u8; spec.len];
        f[0..6].copy_from_slice(&spec.dst_mac);
        f[6..12].copy_from_slice(&spec.src_mac);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip_len = (spec.len - 14) as u16;
        let ip = &mut f[IP_OFF..IP_OFF + 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
        ip[6] = 0x40; // don't fragment
        ip[8] = 64; // TTL
        ip[9] = 17; // UDP
        ip[12..16].copy_from_slice(&spec.src_ip);
        ip[16..20].copy_from_slice(&spec.dst_ip);
        let udp = &mut f[34..42];
        udp[0..2].copy_from_slice(&spec.src_port.to_be_bytes());
        udp[2..4].copy_from_slice(&spec.dst_port.to_be_bytes());
        udp[4..6].copy_from_slice(&(ip_len - 20).to_be_bytes());
        f[PAYLOAD_OFF..PAYLOAD_OFF + 4].copy_from_slice(&MAGIC);
        f[SENDER_OFF..SENDER_OFF + 2].copy_from_slice(&spec.sender.to_be_bytes());
        for (i, b) in f[PAYLOAD_OFF + SIG_LEN..].iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(7).wrapping_add(0x5a);
        }
        let payload_base = sum16(&f[PAYLOAD_OFF..], 0);
        let mut ip_hdr = [0u8; 20];
        ip_hdr.copy_from_slice(&f[IP_OFF..IP_OFF + 20]);
        ip_hdr[14..16].fill(0);
        let ip_base = sum16(&ip_hdr, 0);
        let mut t = Template { bytes: f.into_boxed_slice(), payload_base, ip_base };
        let src_lo = u16::from_be_bytes([spec.src_ip[2], spec.src_ip[3]]);
        let ip_ck = t.ip_checksum(src_lo);
        t.bytes[IP_OFF + 10..IP_OFF + 12].copy_from_slice(&ip_ck.to_be_bytes());
        t
    }

    /// Frame length.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never empty; here for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    #[inline(always)]
    fn ip_checksum(&self, src_lo: u16) -> u16 {
        !fold(self.ip_base + src_lo as u64)
    }

    /// Writes the frame with sequence `seq` into `out` (exactly `len()` bytes).
    #[inline(always)]
    pub fn write(&self, out: &mut [u8], seq: u64) {
        let out = &mut out[..self.bytes.len()];
        out.copy_from_slice(&self.bytes);
        self.patch_seq(out, seq);
    }

    /// As [`Template::write`], and makes the frame belong to flow `flow`:
    /// low 16 bits of the source IP and the UDP source port vary with it.
    #[inline(always)]
    pub fn write_flow(&self, out: &mut [u8], seq: u64, flow: u16) {
        self.write(out, seq);
        self.patch_flow(out, flow);
    }

    /// Writes the frame (with `seq`, and flow `flow` if given) over
    /// segments, first to last, as many bytes into each as it holds. Bytes
    /// past the frame's end are left alone; segments too short for the
    /// whole frame get what fits.
    pub fn write_segments<'a>(&self, segments: impl Iterator<Item = &'a mut [u8]>, seq: u64, flow: Option<u16>) {
        let mut head = [0u8; HEAD_LEN];
        head.copy_from_slice(&self.bytes[..HEAD_LEN]);
        self.patch_seq(&mut head, seq);
        if let Some(flow) = flow {
            self.patch_flow(&mut head, flow);
        }
        let mut at = 0;
        for seg in segments {
            if at == self.bytes.len() {
                break;
            }
            let n = seg.len().min(self.bytes.len() - at);
            let out = &mut seg[..n];
            // The part of this segment inside the head comes from the
            // patched copy, the rest from the template's fill.
            let from_head = HEAD_LEN.saturating_sub(at).min(n);
            if from_head > 0 {
                out[..from_head].copy_from_slice(&head[at..at + from_head]);
            }
            out[from_head..].copy_from_slice(&self.bytes[at + from_head..at + n]);
            at += n;
        }
    }

    /// Writes the frame into `m`, which holds exactly `len()` bytes in one
    /// segment or several.
    #[inline(always)]
    pub fn write_mbuf(&self, m: &mut Mbuf, seq: u64, flow: Option<u16>) {
        if m.is_contiguous() {
            match flow {
                Some(flow) => self.write_flow(m.data_mut(), seq, flow),
                None => self.write(m.data_mut(), seq),
            }
        } else {
            self.write_segments(m.segments_mut(), seq, flow);
        }
    }

    /// Sets the sequence number and the payload checksum that covers it.
    #[inline(always)]
    fn patch_seq(&self, head: &mut [u8], seq: u64) {
        head[SEQ_OFF..SEQ_OFF + 8].copy_from_slice(&seq.to_be_bytes());
        let ck = !fold(self.payload_base + seq_words(seq));
        head[CKSUM_OFF..CKSUM_OFF + 2].copy_from_slice(&ck.to_be_bytes());
    }

    /// Sets the flow's source address word, the IPv4 checksum that covers
    /// it, and its UDP source port.
    #[inline(always)]
    fn patch_flow(&self, head: &mut [u8], flow: u16) {
        head[IP_OFF + 14..IP_OFF + 16].copy_from_slice(&flow.to_be_bytes());
        head[IP_OFF + 10..IP_OFF + 12].copy_from_slice(&self.ip_checksum(flow).to_be_bytes());
        let sport = 1024u16.wrapping_add(flow);
        head[34..36].copy_from_slice(&sport.to_be_bytes());
    }
}

/// What [`parse`] makes of a received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not a ferrite frame (no signature): counted, not checked.
    Foreign,
    /// Signature present but the frame is damaged (checksum or lengths).
    Bad,
    /// A good ferrite frame.
    Good {
        /// Sender id.
        sender: u16,
        /// Sequence number.
        seq: u64,
    },
}

/// Checks a frame for the ferrite signature and, if present, its integrity.
#[inline]
pub fn parse(f: &[u8]) -> Verdict {
    let Some(head) = f.get(..HEAD_LEN) else { return Verdict::Foreign };
    match check_head(head, f.len()) {
        Err(v) => v,
        Ok((end, good)) if fold(sum16(&f[PAYLOAD_OFF..end], 0)) == 0xffff => good,
        Ok(_) => Verdict::Bad,
    }
}

/// As [`parse`], for a frame spread over segments: `segments()` walks them,
/// first to last (it is called twice: once for the head, once for the sum).
pub fn parse_segments<'a, I>(segments: impl Fn() -> I) -> Verdict
where
    I: Iterator<Item = &'a [u8]>,
{
    let mut head = [0u8; HEAD_LEN];
    let (mut len, mut got) = (0, 0);
    for seg in segments() {
        let n = seg.len().min(HEAD_LEN - got);
        head[got..got + n].copy_from_slice(&seg[..n]);
        got += n;
        len += seg.len();
    }
    if got < HEAD_LEN {
        return Verdict::Foreign;
    }
    match check_head(&head, len) {
        Err(v) => v,
        Ok((end, good)) if fold(sum16_range(segments(), PAYLOAD_OFF, end)) == 0xffff => good,
        Ok(_) => Verdict::Bad,
    }
}

/// Checks a received mbuf, chained or not.
#[inline]
pub fn parse_mbuf(m: &Mbuf) -> Verdict {
    if m.is_contiguous() {
        parse(m.data())
    } else {
        parse_segments(|| m.segments().map(|s| s.data()))
    }
}

/// The checks a frame's first [`HEAD_LEN`] bytes allow, for a frame of
/// `len` bytes: where the payload ends and the verdict if its checksum is
/// right, or the verdict already.
#[inline]
fn check_head(f: &[u8], len: usize) -> Result<(usize, Verdict), Verdict> {
    if f[12..14] != [0x08, 0x00] || f[IP_OFF] != 0x45 || f[IP_OFF + 9] != 17 || f[PAYLOAD_OFF..PAYLOAD_OFF + 4] != MAGIC
    {
        return Err(Verdict::Foreign);
    }
    let ip_len = u16::from_be_bytes([f[IP_OFF + 2], f[IP_OFF + 3]]) as usize;
    let end = IP_OFF + ip_len;
    if end > len || end < HEAD_LEN || fold(sum16(&f[IP_OFF..IP_OFF + 20], 0)) != 0xffff {
        return Err(Verdict::Bad);
    }
    let sender = u16::from_be_bytes([f[SENDER_OFF], f[SENDER_OFF + 1]]);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&f[SEQ_OFF..SEQ_OFF + 8]);
    Ok((end, Verdict::Good { sender, seq: u64::from_be_bytes(seq) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(len: usize) -> FrameSpec {
        FrameSpec {
            len,
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip: [198, 18, 0, 1],
            dst_ip: [198, 18, 1, 1],
            src_port: 1024,
            dst_port: 1024,
            sender: sender_id(1, 3),
        }
    }

    #[test]
    fn frames_verify_and_damage_is_caught() {
        for len in [64, 65, 1514, 9018] {
            let t = Template::new(&spec(len));
            let mut buf = vec![0u8; len];
            for seq in [0, 1, 0xffff, 0x1_0000_0001, u64::MAX] {
                t.write(&mut buf, seq);
                assert_eq!(parse(&buf), Verdict::Good { sender: sender_id(1, 3), seq }, "len {len} seq {seq}");
                t.write_flow(&mut buf, seq, (seq % 1000) as u16);
                assert_eq!(parse(&buf), Verdict::Good { sender: sender_id(1, 3), seq });
                for pos in [PAYLOAD_OFF + 9, len - 1, IP_OFF + 3] {
                    let mut bad = buf.clone();
                    bad[pos] ^= 0x10;
                    assert_eq!(parse(&bad), Verdict::Bad, "flip at {pos}");
                }
            }
        }
        assert_eq!(parse(&[0u8; 60]), Verdict::Foreign);
    }

    /// Buffers of `lens` bytes each, zeroed.
    fn buffers(lens: &[usize]) -> Vec<Vec<u8>> {
        lens.iter().map(|&l| vec![0u8; l]).collect()
    }

    #[test]
    fn a_frame_over_three_segments_verifies_and_damage_in_the_last_is_caught() {
        let t = Template::new(&spec(4914));
        let mut segs = buffers(&[2048, 2048, 818]);
        t.write_segments(segs.iter_mut().map(|s| s.as_mut_slice()), 77, None);
        let good = Verdict::Good { sender: sender_id(1, 3), seq: 77 };
        assert_eq!(parse_segments(|| segs.iter().map(|s| s.as_slice())), good);
        let mut whole = vec![0u8; 4914];
        t.write(&mut whole, 77);
        assert_eq!(segs.concat(), whole, "the same bytes as a frame written in one piece");
        segs[2][500] ^= 0x04;
        assert_eq!(parse_segments(|| segs.iter().map(|s| s.as_slice())), Verdict::Bad);
    }

    #[test]
    fn headers_split_inside_a_field_still_verify() {
        // Cuts inside the IPv4 header, the signature and the sequence
        // number, at odd offsets, and an empty segment.
        let t = Template::new(&spec(200));
        let mut segs = buffers(&[13, 0, 10, 27, 1, 149]);
        t.write_segments(segs.iter_mut().map(|s| s.as_mut_slice()), 0x0102_0304_0506_0708, Some(9));
        let mut whole = vec![0u8; 200];
        t.write_flow(&mut whole, 0x0102_0304_0506_0708, 9);
        assert_eq!(segs.concat(), whole);
        let v = parse_segments(|| segs.iter().map(|s| s.as_slice()));
        assert_eq!(v, Verdict::Good { sender: sender_id(1, 3), seq: 0x0102_0304_0506_0708 });
    }

    #[test]
    fn segments_shorter_than_the_head_are_foreign_not_a_panic() {
        let segs: [&[u8]; 2] = [&[0u8; 20], &[0u8; 30]];
        assert_eq!(parse_segments(|| segs.into_iter()), Verdict::Foreign);
        assert_eq!(parse_segments(std::iter::empty), Verdict::Foreign);
        // Too little room for the frame: what fits is written, no panic.
        let t = Template::new(&spec(100));
        let mut short = buffers(&[30, 30]);
        t.write_segments(short.iter_mut().map(|s| s.as_mut_slice()), 1, None);
        assert_eq!(short[0][..6], [2, 0, 0, 0, 0, 2]);
    }

    /// Property tests: the frame code against models written from the
    /// format description at the top of this file, not from the code.
    mod props {
        use proptest::prelude::*;

        use super::super::*;

        /// Ones'-complement addition of two 16-bit words (end-around carry).
        fn oc_add(a: u16, b: u16) -> u16 {
            let (s, carry) = a.overflowing_add(b);
            // With a carry, s <= 0xfffe, so adding it back cannot overflow.
            s + u16::from(carry)
        }

        /// RFC 1071 one word at a time: big-endian 16-bit words, an odd
        /// last byte padded with zero, added in ones' complement.
        fn oc_sum(data: &[u8]) -> u16 {
            data.chunks(2).fold(0, |acc, w| oc_add(acc, u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        }

        fn be16(f: &[u8], at: usize) -> u16 {
            u16::from_be_bytes([f[at], f[at + 1]])
        }

        /// The verdict, from the layout: Ethernet (14) | IPv4 (20) | UDP (8)
        /// | "FRTE", sender (2), checksum (2), sequence (8) | fill.
        fn model_verdict(f: &[u8]) -> Verdict {
            let signed =
                f.len() >= 58 && f[12..14] == [0x08, 0x00] && f[14] == 0x45 && f[23] == 17 && f[42..46] == *b"FRTE";
            if !signed {
                return Verdict::Foreign;
            }
            // The IPv4 total length says where the payload ends; Ethernet
            // padding may follow it.
            let end = 14 + be16(f, 16) as usize;
            if end > f.len() || end < 58 || oc_sum(&f[14..34]) != 0xffff || oc_sum(&f[42..end]) != 0xffff {
                return Verdict::Bad;
            }
            Verdict::Good { sender: be16(f, 46), seq: u64::from_be_bytes(f[50..58].try_into().unwrap()) }
        }

        /// A frame specification anywhere in the allowed range.
        fn any_spec() -> impl Strategy<Value = FrameSpec> {
            (PAYLOAD_OFF + SIG_LEN..=9018usize, any::<([u8; 6], [u8; 6], [u8; 4], [u8; 4])>(), any::<(u16, u16, u16)>())
                .prop_map(|(len, (src_mac, dst_mac, src_ip, dst_ip), (src_port, dst_port, sender))| FrameSpec {
                    len,
                    src_mac,
                    dst_mac,
                    src_ip,
                    dst_ip,
                    src_port,
                    dst_port,
                    sender,
                })
        }

        /// A frame as txonly (`None`) or flowgen (`Some(flow)`) writes it.
        fn written(spec: &FrameSpec, seq: u64, flow: Option<u16>) -> Vec<u8> {
            let t = Template::new(spec);
            let mut f = vec![0u8; spec.len];
            match flow {
                Some(flow) => t.write_flow(&mut f, seq, flow),
                None => t.write(&mut f, seq),
            }
            f
        }

        /// `0..len` cut at the given points (empty pieces included).
        fn pieces(len: usize, cuts: &[prop::sample::Index]) -> Vec<std::ops::Range<usize>> {
            let mut at: Vec<usize> = cuts.iter().map(|c| c.index(len + 1)).collect();
            at.sort_unstable();
            let mut out = Vec::new();
            let mut start = 0;
            for a in at {
                out.push(start..a);
                start = a;
            }
            out.push(start..len);
            out
        }

        proptest! {
            #[test]
            fn sum16_and_fold_agree_with_word_by_word_ones_complement(
                data in prop::collection::vec(any::<u8>(), 0..2048),
                acc in any::<u32>(),
            ) {
                let want = oc_add(oc_sum(&data), oc_sum(&acc.to_be_bytes()));
                prop_assert_eq!(fold(sum16(&data, u64::from(acc))), want);
            }

            #[test]
            fn an_appended_checksum_makes_the_sum_all_ones(
                data in prop::collection::vec(any::<u8>(), 0..1024).prop_map(|mut v| { v.truncate(v.len() & !1); v }),
            ) {
                let ck = !fold(sum16(&data, 0));
                let mut with = data.clone();
                with.extend_from_slice(&ck.to_be_bytes());
                prop_assert_eq!(oc_sum(&with), 0xffff);
            }

            #[test]
            fn sums_continue_across_an_even_split(
                a in prop::collection::vec(any::<u8>(), 0..512).prop_map(|mut v| { v.truncate(v.len() & !1); v }),
                b in prop::collection::vec(any::<u8>(), 0..512),
            ) {
                let whole: Vec<u8> = a.iter().chain(&b).copied().collect();
                prop_assert_eq!(fold(sum16(&b, sum16(&a, 0))), fold(sum16(&whole, 0)));
            }

            #[test]
            fn a_written_frame_parses_back_to_its_sender_sequence_and_flow(
                spec in any_spec(),
                seq in any::<u64>(),
                flow in any::<Option<u16>>(),
            ) {
                let f = written(&spec, seq, flow);
                let good = Verdict::Good { sender: spec.sender, seq };
                prop_assert_eq!(parse(&f), good);
                prop_assert_eq!(model_verdict(&f), good);
                prop_assert_eq!(be16(&f, 16) as usize, spec.len - 14, "IPv4 total length");
                if let Some(flow) = flow {
                    prop_assert_eq!(be16(&f, 28), flow, "low half of the source address");
                    prop_assert_eq!(be16(&f, 34), 1024u16.wrapping_add(flow), "UDP source port");
                }
                // Ethernet padding after the datagram changes nothing.
                let mut padded = f.clone();
                padded.extend_from_slice(&[0xa5; 7]);
                prop_assert_eq!(parse(&padded), good);
            }

            #[test]
            fn a_flipped_bit_is_caught_unless_no_checksum_covers_it(
                spec in any_spec(),
                seq in any::<u64>(),
                at in any::<prop::sample::Index>(),
                bit in 0..8u8,
            ) {
                let mut f = written(&spec, seq, None);
                let pos = at.index(f.len());
                f[pos] ^= 1 << bit;
                let v = parse(&f);
                prop_assert_eq!(v, model_verdict(&f), "flip at {}", pos);
                // MAC addresses and the UDP header (checksum 0: none) are
                // not covered; everything else is.
                let uncovered = pos < 12 || (34..42).contains(&pos);
                if uncovered {
                    prop_assert_eq!(v, Verdict::Good { sender: spec.sender, seq });
                } else {
                    prop_assert!(!matches!(v, Verdict::Good { .. }), "flip at {} went unnoticed", pos);
                }
            }

            #[test]
            fn damaged_frames_get_the_models_verdict(
                spec in any_spec(),
                seq in any::<u64>(),
                writes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
                cut in any::<prop::sample::Index>(),
                keep_all in any::<bool>(),
            ) {
                let mut f = written(&spec, seq, None);
                for (at, b) in &writes {
                    let i = at.index(f.len());
                    f[i] = *b;
                }
                if !keep_all {
                    f.truncate(cut.index(f.len() + 1));
                }
                prop_assert_eq!(parse(&f), model_verdict(&f));
            }

            #[test]
            fn any_ipv4_length_with_a_valid_header_checksum_gets_the_models_verdict(
                spec in any_spec(),
                seq in any::<u64>(),
                ip_len in prop_oneof![0..80u16, any::<u16>()],
            ) {
                // Random damage to the length field almost always breaks the
                // header checksum too; a sender that fixes it up reaches the
                // length checks (a payload shorter than the signature, a
                // datagram longer than the frame).
                let mut f = written(&spec, seq, None);
                f[16..18].copy_from_slice(&ip_len.to_be_bytes());
                f[24..26].fill(0);
                let ck = !oc_sum(&f[14..34]);
                f[24..26].copy_from_slice(&ck.to_be_bytes());
                prop_assert_eq!(parse(&f), model_verdict(&f), "IPv4 length {}", ip_len);
            }

            #[test]
            fn written_over_any_split_the_bytes_match_one_piece(
                spec in any_spec(),
                seq in any::<u64>(),
                flow in any::<Option<u16>>(),
                cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
            ) {
                let whole = written(&spec, seq, flow);
                let mut segs: Vec<Vec<u8>> = pieces(whole.len(), &cuts).iter().map(|r| vec![0u8; r.len()]).collect();
                Template::new(&spec).write_segments(segs.iter_mut().map(|s| s.as_mut_slice()), seq, flow);
                prop_assert_eq!(segs.concat(), whole);
            }

            #[test]
            fn any_split_of_any_frame_gets_the_verdict_of_the_whole(
                spec in any_spec(),
                seq in any::<u64>(),
                writes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
                cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
            ) {
                let mut f = written(&spec, seq, None);
                for (at, b) in &writes {
                    let i = at.index(f.len());
                    f[i] = *b;
                }
                let segs: Vec<&[u8]> = pieces(f.len(), &cuts).into_iter().map(|r| &f[r]).collect();
                prop_assert_eq!(parse_segments(|| segs.iter().copied()), model_verdict(&f));
            }

            #[test]
            fn arbitrary_bytes_never_panic_and_get_the_models_verdict(
                f in prop::collection::vec(any::<u8>(), 0..256),
            ) {
                prop_assert_eq!(parse(&f), model_verdict(&f));
            }
        }
    }
}
