//! Fuzz target `frame_parse`: everything in the forwarding path that reads
//! the bytes of a frame a peer sent.
//!
//! Per frame, against models written here independently of the code:
//! * `fwd::pkt::parse` (rxonly's verifier) gives the verdict of
//!   [`model_parse`]; `pkt::sum16` is the plain word sum and `pkt::fold`
//!   keeps the value mod 0xffff in 16 bits.
//! * `rss::Toeplitz::hash_frame` (the virtual ports' RSS, the NIC's job on
//!   igb) hashes the tuple [`model_rss_tuple`] picks, and its table-driven
//!   hash equals the bit-by-bit `toeplitz_hash`.
//!
//! Then all frames go through a real `fwd::Stream` running the engine the
//! input picks (io, mac, macswap or rxonly; txonly/flowgen read no peer
//! bytes), between a scripted receive queue and a scripted transmit queue
//! that takes as many frames per burst as the input says, then
//! `Stream::drain`:
//! * accounting: every frame received is sent, dropped, consumed or
//!   drained, and the counters say so;
//! * each frame sent is the frame received, edited as the engine promises
//!   (mac: addresses rewritten; macswap: swapped; io: untouched), in order,
//!   once;
//! * rxonly's bad/out-of-order/gap counts equal a model verifier's;
//! * every mbuf is back in the pool afterwards.
//!
//! And once per input, a frame built by `pkt::Template` from fuzzed
//! settings parses back as sent, and one flipped byte changes the verdict
//! exactly as the layout says.
//!
//! Input: a header of settings, then frames (see `fuzz_target!` below).
//! Fix-up flags per frame rewrite the fields a fuzzer cannot guess (the
//! signature, lengths, both checksums), so it reaches the "good frame" path
//! with arbitrary senders and sequence numbers.

#![no_main]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use ferrite_apps::fwd::pkt::{self, FrameSpec, Template, Verdict, MAGIC, MAX_SENDERS, PAYLOAD_OFF, SIG_LEN};
use ferrite_apps::fwd::{EngineConfig, Stream, StreamId};
use ferrite_fuzz::{assert_pool_full, ones_checksum, ones_ok, ones_sum, pool, Input, DATA_ROOM};
use ferrite_pmd::port::MacAddr;
use ferrite_pmd::rss::{toeplitz_hash, RssConfig, RssHashTypes, Toeplitz, MAX_INPUT, MS_RSS_KEY, RSS_KEY_LEN};
use ferrite_pmd::{Mbuf, MbufBatch, RxQueue, TxQueue, MAX_BURST};
use libfuzzer_sys::fuzz_target;

/// Frames per input: enough for several bursts, few enough to stay fast.
const MAX_FRAMES: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Engine {
    Io,
    Mac { src: [u8; 6], dst: [u8; 6] },
    MacSwap,
    RxOnly,
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    // Header.
    let engine = match inp.u8() % 4 {
        0 => Engine::Io,
        1 => Engine::Mac { src: inp.array(), dst: inp.array() },
        2 => Engine::MacSwap,
        _ => Engine::RxOnly,
    };
    let burst = 1 + usize::from(inp.u8()) % 64;
    // Polls before the stream is stopped and drained (0: until empty), and
    // how many frames the drain may take (255: all).
    let polls = usize::from(inp.u8());
    let drain_max = match inp.u8() {
        255 => usize::MAX,
        n => usize::from(n),
    };
    // How many frames each tx_burst takes, cycled (none listed: all).
    let n_takes = usize::from(inp.u8() % 9);
    let takes = inp.bytes(n_takes).to_vec();
    let rss_types = RssHashTypes(u32::from(inp.u8()) & RssHashTypes::ALL.0);
    let rss_queues = 1 + u16::from(inp.u8() % 16);
    let key = if inp.u8() & 1 == 1 { inp.array::<RSS_KEY_LEN>() } else { MS_RSS_KEY };
    check_template(&mut inp);

    // Frames.
    let mut frames = Vec::new();
    while !inp.is_empty() && frames.len() < MAX_FRAMES {
        frames.push(read_frame(&mut inp));
    }

    TOEPLITZ.with(|cache| {
        let mut cache = cache.lock().unwrap();
        if cache.as_ref().is_none_or(|t| *t.key() != key) {
            *cache = Some(Toeplitz::new(&key));
        }
        let t = cache.as_ref().unwrap();
        let reta = RssConfig::new(rss_queues, rss_types);
        for f in &frames {
            check_checksum_helpers(f);
            let verdict = pkt::parse(f);
            assert_eq!(verdict, model_parse(f), "pkt::parse disagrees with the model on {f:02x?}");
            check_rss(f, t, &key, rss_types, &reta, rss_queues);
        }
    });

    run_engine(engine, burst, polls, drain_max, &takes, &frames);
});

thread_local! {
    /// The last Toeplitz table built (36 KiB of work): most inputs keep the key.
    static TOEPLITZ: Mutex<Option<Toeplitz>> = const { Mutex::new(None) };
}

/// One frame: flags (1), a length (1 byte, or 2 with flag bit 7), then up to
/// that many bytes, repeated to fill the length if the input runs short.
fn read_frame(inp: &mut Input) -> Vec<u8> {
    let flags = inp.u8();
    let len = if flags & 0x80 != 0 { usize::from(inp.u16()) % (DATA_ROOM + 1) } else { usize::from(inp.u8()) };
    let body = inp.bytes(len);
    let mut f: Vec<u8> = if body.is_empty() { vec![0; len] } else { body.iter().copied().cycle().take(len).collect() };
    fix_up(&mut f, flags);
    f
}

/// Rewrites what a random frame almost never has right. Bit 0: the ferrite
/// signature (ethertype IPv4, version/IHL 0x45, protocol UDP, magic); bit
/// 1: the IPv4 total length = frame length - 14; bit 2: the payload
/// checksum; bit 3: the IPv4 header checksum.
fn fix_up(f: &mut [u8], flags: u8) {
    const IP: usize = 14;
    if flags & 1 != 0 && f.len() >= PAYLOAD_OFF + 4 {
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[IP] = 0x45;
        f[IP + 9] = 17;
        f[PAYLOAD_OFF..PAYLOAD_OFF + 4].copy_from_slice(&MAGIC);
    }
    if flags & 2 != 0 && f.len() >= IP + 4 {
        let ip_len = u16::try_from(f.len() - IP).unwrap_or(u16::MAX);
        f[IP + 2..IP + 4].copy_from_slice(&ip_len.to_be_bytes());
    }
    if flags & 4 != 0 && f.len() >= PAYLOAD_OFF + 8 {
        // Over the payload as far as the IPv4 length says (clamped).
        let ip_len = usize::from(u16::from_be_bytes([f[IP + 2], f[IP + 3]]));
        let end = (IP + ip_len).clamp(PAYLOAD_OFF + 8, f.len());
        f[PAYLOAD_OFF + 6..PAYLOAD_OFF + 8].fill(0);
        let ck = ones_checksum(&f[PAYLOAD_OFF..end]);
        f[PAYLOAD_OFF + 6..PAYLOAD_OFF + 8].copy_from_slice(&ck.to_be_bytes());
    }
    if flags & 8 != 0 && f.len() >= IP + 20 {
        f[IP + 10..IP + 12].fill(0);
        let ck = ones_checksum(&f[IP..IP + 20]);
        f[IP + 10..IP + 12].copy_from_slice(&ck.to_be_bytes());
    }
}

/// The verifier's rules, as `pkt`'s documentation states them: a ferrite
/// frame is Ethernet/IPv4 without options/UDP with the magic at the start
/// of the payload; it is good when the IPv4 length fits the frame and
/// covers the signature, and the IPv4 header and the payload (up to the
/// IPv4 length) both pass the Internet checksum.
fn model_parse(f: &[u8]) -> Verdict {
    let be16 = |i: usize| u16::from_be_bytes([f[i], f[i + 1]]);
    if f.len() < PAYLOAD_OFF + SIG_LEN
        || be16(12) != 0x0800
        || f[14] != 0x45
        || f[14 + 9] != 17
        || f[PAYLOAD_OFF..PAYLOAD_OFF + 4] != MAGIC
    {
        return Verdict::Foreign;
    }
    let end = 14 + usize::from(be16(16));
    if end > f.len() || end < PAYLOAD_OFF + SIG_LEN || !ones_ok(&f[14..34]) || !ones_ok(&f[PAYLOAD_OFF..end]) {
        return Verdict::Bad;
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&f[PAYLOAD_OFF + 8..PAYLOAD_OFF + 16]);
    Verdict::Good { sender: be16(PAYLOAD_OFF + 4), seq: u64::from_be_bytes(seq) }
}

/// `sum16` against the plain sum (with and without a carried-in value, on
/// every alignment of a short window), `fold` against arithmetic mod 0xffff.
fn check_checksum_helpers(f: &[u8]) {
    assert_eq!(pkt::sum16(f, 0), ones_sum(f), "sum16 of {} bytes", f.len());
    for start in 0..f.len().min(9) {
        let w = &f[start..];
        assert_eq!(pkt::sum16(w, 0x1234_5678), 0x1234_5678 + ones_sum(w), "sum16 from offset {start}");
    }
    for x in [ones_sum(f), u64::from_be_bytes(std::array::from_fn(|i| *f.get(i).unwrap_or(&0))), u64::MAX] {
        let r = pkt::fold(x);
        assert_eq!(u64::from(r) % 0xffff, x % 0xffff, "fold({x:#x}) = {r:#x} is not congruent mod 0xffff");
        assert_eq!(r == 0, x == 0, "fold({x:#x}) = {r:#x}: only zero folds to zero");
    }
}

/// The bytes the RSS hash covers, per `Toeplitz::hash_frame`'s contract:
/// one optional 802.1Q/802.1ad tag; IPv4 source and destination, plus the
/// ports for TCP/UDP (when that type is on, the packet is not a fragment,
/// the IHL is sane and the ports are in the frame); IPv6 likewise with the
/// fixed header's next header; `None` when no enabled type applies.
fn model_rss_tuple(f: &[u8], types: RssHashTypes) -> Option<Vec<u8>> {
    let be16 = |i: usize| -> Option<u16> { Some(u16::from_be_bytes([*f.get(i)?, *f.get(i + 1)?])) };
    let mut l3 = 14;
    let mut ethertype = be16(12)?;
    if ethertype == 0x8100 || ethertype == 0x88a8 {
        ethertype = be16(16)?;
        l3 = 18;
    }
    let has = |t: RssHashTypes| types.contains(t);
    let (addrs, l4_at, l4) = match ethertype {
        0x0800 if f.len() >= l3 + 20 && f[l3] >> 4 == 4 => {
            let ihl = usize::from(f[l3] & 0x0f) * 4;
            let fragment = be16(l3 + 6)? & 0x3fff != 0;
            let proto_on = match f[l3 + 9] {
                6 => has(RssHashTypes::TCP_IPV4),
                17 => has(RssHashTypes::UDP_IPV4),
                _ => false,
            };
            let addrs = has(RssHashTypes::IPV4).then(|| f[l3 + 12..l3 + 20].to_vec());
            (addrs, l3 + ihl, proto_on && !fragment && ihl >= 20)
        }
        0x86dd if f.len() >= l3 + 40 && f[l3] >> 4 == 6 => {
            let proto_on = match f[l3 + 6] {
                6 => has(RssHashTypes::TCP_IPV6),
                17 => has(RssHashTypes::UDP_IPV6),
                _ => false,
            };
            let addrs = has(RssHashTypes::IPV6).then(|| f[l3 + 8..l3 + 40].to_vec());
            (addrs, l3 + 40, proto_on)
        }
        _ => return None,
    };
    if l4 && f.len() >= l4_at + 4 {
        let mut t = if ethertype == 0x0800 { f[l3 + 12..l3 + 20].to_vec() } else { f[l3 + 8..l3 + 40].to_vec() };
        t.extend_from_slice(&f[l4_at..l4_at + 4]);
        return Some(t);
    }
    addrs
}

fn check_rss(f: &[u8], t: &Toeplitz, key: &[u8; RSS_KEY_LEN], types: RssHashTypes, reta: &RssConfig, queues: u16) {
    let got = t.hash_frame(f, types);
    let want = model_rss_tuple(f, types).map(|tuple| toeplitz_hash(key, &tuple));
    assert_eq!(got, want, "hash_frame({types}) disagrees with the model");
    let head = &f[..f.len().min(MAX_INPUT)];
    assert_eq!(t.hash(head), toeplitz_hash(key, head), "table Toeplitz != bit-by-bit Toeplitz");
    if let Some(h) = got {
        assert!(reta.queue(h) < queues, "RETA sends hash {h:#x} to queue {} of {queues}", reta.queue(h));
    }
}

/// Builds a frame from fuzzed settings with `Template`, checks it parses
/// back, then flips one byte and checks the verdict the layout implies.
fn check_template(inp: &mut Input) {
    let min = PAYLOAD_OFF + SIG_LEN;
    let len = min + usize::from(inp.u16()) % (DATA_ROOM - min + 1);
    let spec = FrameSpec {
        len,
        src_mac: inp.array(),
        dst_mac: inp.array(),
        src_ip: inp.array(),
        dst_ip: inp.array(),
        src_port: inp.u16(),
        dst_port: inp.u16(),
        sender: inp.u16(),
    };
    let (seq, flow, use_flow) = (inp.u64(), inp.u16(), inp.u8() & 1 == 1);
    let (flip_at, flip_mask) = (usize::from(inp.u16()) % len, inp.u8());
    let t = Template::new(&spec);
    assert_eq!(t.len(), len);
    // One spare byte past the frame: write must leave it alone.
    let mut f = vec![0xa5u8; len + 1];
    if use_flow {
        t.write_flow(&mut f, seq, flow);
    } else {
        t.write(&mut f, seq);
    }
    assert_eq!(f[len], 0xa5, "Template wrote past the frame's length");
    let f = &mut f[..len];
    let good = Verdict::Good { sender: spec.sender, seq };
    assert_eq!(pkt::parse(f), good, "a Template frame does not verify: {spec:?} seq {seq} flow {use_flow}/{flow}");
    assert_eq!(model_parse(f), good, "a Template frame breaks the documented layout");
    assert_eq!((&f[0..6], &f[6..12]), (&spec.dst_mac[..], &spec.src_mac[..]));
    let (src_lo, sport) = if use_flow {
        (flow, 1024u16.wrapping_add(flow))
    } else {
        (u16::from_be_bytes([spec.src_ip[2], spec.src_ip[3]]), spec.src_port)
    };
    assert_eq!(&f[28..30], &src_lo.to_be_bytes(), "IPv4 source (low half)");
    assert_eq!(&f[34..36], &sport.to_be_bytes(), "UDP source port");
    if flip_mask == 0 {
        return;
    }
    f[flip_at] ^= flip_mask;
    // Addresses and the UDP header are not checked; the signature fields
    // make it foreign; anything else checksummed (every single-byte change
    // alters a ones'-complement sum) makes it bad.
    let expected = match flip_at {
        0..=11 | 34..=41 => good,
        12 | 13 | 14 | 23 | 42..=45 => Verdict::Foreign,
        _ => Verdict::Bad,
    };
    assert_eq!(pkt::parse(f), expected, "byte {flip_at} ^= {flip_mask:#04x} of a {len}-byte frame");
}

/// Hands out the frames of one input, up to the budget per burst.
struct ScriptRx {
    frames: VecDeque<Mbuf>,
    delivered: Arc<AtomicUsize>,
}

impl RxQueue for ScriptRx {
    fn rx_burst(&mut self, batch: &mut MbufBatch, budget: usize) -> usize {
        let n = budget.min(batch.room()).min(self.frames.len());
        for m in self.frames.drain(..n) {
            assert!(batch.push(m).is_ok(), "batch had room");
        }
        self.delivered.fetch_add(n, Relaxed);
        n
    }
    fn queue_id(&self) -> u16 {
        0
    }
}

/// (frame index, bytes) of every frame a [`ScriptTx`] took, in order.
type Sent = Arc<Mutex<Vec<(u64, Vec<u8>)>>>;

/// Takes as many frames per burst as the script says (cycled; 255 = all),
/// records (frame index, bytes) of each, and frees them.
struct ScriptTx {
    takes: Vec<u8>,
    calls: usize,
    sent: Sent,
}

impl TxQueue for ScriptTx {
    fn tx_burst(&mut self, batch: &mut MbufBatch) -> usize {
        let want = match self.takes.get(self.calls % self.takes.len().max(1)) {
            None | Some(255) => usize::MAX,
            Some(&n) => usize::from(n),
        };
        self.calls += 1;
        let mut sent = self.sent.lock().unwrap();
        let mut n = 0;
        for m in batch.drain_front(want) {
            sent.push((m.user(), m.data().to_vec()));
            n += 1;
        }
        n
    }
    fn queue_id(&self) -> u16 {
        0
    }
}

fn run_engine(engine: Engine, burst: usize, polls: usize, drain_max: usize, takes: &[u8], frames: &[Vec<u8>]) {
    assert!(burst <= MAX_BURST);
    let mut queued = VecDeque::new();
    for (i, f) in frames.iter().enumerate() {
        let mut m = pool().alloc().expect("fuzz pool is larger than MAX_FRAMES");
        assert!(m.set_len(f.len()), "{} bytes fit the data room", f.len());
        m.data_mut().copy_from_slice(f);
        m.set_user(i as u64);
        queued.push_back(m);
    }
    let delivered = Arc::new(AtomicUsize::new(0));
    let sent: Sent = Arc::new(Mutex::new(Vec::new()));
    let rx = ScriptRx { frames: queued, delivered: Arc::clone(&delivered) };
    let tx = ScriptTx { takes: takes.to_vec(), calls: 0, sent: Arc::clone(&sent) };
    let config = match engine {
        Engine::Io => EngineConfig::Io,
        Engine::Mac { src, dst } => EngineConfig::Mac { src: MacAddr(src), dst: MacAddr(dst) },
        Engine::MacSwap => EngineConfig::MacSwap,
        Engine::RxOnly => EngineConfig::RxOnly,
    };
    let id = StreamId { rx_port: 0, rx_queue: 0, tx_port: 1, tx_queue: 0 };
    let mut s = Stream::new(id, Box::new(rx), Box::new(tx), burst, config).expect("burst is in range");
    let rounds = if polls == 0 { usize::MAX } else { polls };
    for _ in 0..rounds {
        if s.poll() == 0 {
            break;
        }
    }
    let drained = s.drain(drain_max);
    let st = s.counters().snapshot();
    drop(s); // frees what the rx queue still holds
    assert_pool_full("after a stream ran");

    let delivered = delivered.load(Relaxed);
    let sent = std::mem::take(&mut *sent.lock().unwrap());
    let ctx = format!("{engine:?} burst {burst}: {st:?}");
    assert_eq!(st.rx as usize, delivered, "rx counts what the queue delivered; {ctx}");
    assert_eq!(st.drained as usize, drained, "{ctx}");
    assert!(drained <= drain_max, "drain({drain_max}) took {drained}; {ctx}");
    assert_eq!(st.generated, 0, "{ctx}");
    assert!(st.balanced(), "{ctx}");
    if engine == Engine::RxOnly {
        assert!(sent.is_empty() && st.tx == 0 && st.fwd_drops == 0, "rxonly transmitted; {ctx}");
        assert_eq!(st.consumed + st.drained, st.rx, "{ctx}");
    } else {
        assert_eq!(st.consumed, 0, "{ctx}");
        assert_eq!(st.tx as usize, sent.len(), "tx counts what the queue took; {ctx}");
        assert_eq!(st.tx + st.fwd_drops + st.drained, st.rx, "{ctx}");
    }

    // What left is what came in (in order, each once), edited as promised;
    // frames are drained only after all polled ones.
    let polled = (st.rx - st.drained) as usize;
    let mut last = None;
    for (idx, bytes) in &sent {
        let i = *idx as usize;
        assert!(i < polled, "frame {i} sent but it was never polled; {ctx}");
        assert!(last < Some(i), "frame {i} sent after frame {last:?}; {ctx}");
        last = Some(i);
        let mut want = frames[i].clone();
        if want.len() >= 12 {
            match engine {
                Engine::Mac { src, dst } => {
                    want[..6].copy_from_slice(&dst);
                    want[6..12].copy_from_slice(&src);
                }
                Engine::MacSwap => {
                    let (d, s) = want[..12].split_at_mut(6);
                    d.swap_with_slice(s);
                }
                Engine::Io | Engine::RxOnly => {}
            }
        }
        assert!(bytes == &want, "frame {i} was changed in transit by {engine:?}");
    }

    if engine == Engine::RxOnly {
        check_verifier_counts(&frames[..polled], st.bad_payload, st.out_of_order, st.seq_gaps);
    }
}

/// The rxonly verifier, modelled with exact arithmetic: per sender (mod
/// MAX_SENDERS) the next sequence number expected; a frame at or past it
/// adds the numbers skipped to the gaps, one before it is out of order.
fn check_verifier_counts(frames: &[Vec<u8>], bad: u64, ooo: u64, gaps: u64) {
    let mut next = vec![0u128; MAX_SENDERS];
    let (mut m_bad, mut m_ooo, mut m_gaps) = (0u64, 0u64, 0u128);
    let mut exact = true;
    for f in frames {
        match model_parse(f) {
            Verdict::Foreign => {}
            Verdict::Bad => m_bad += 1,
            Verdict::Good { sender, seq } => {
                // After u64::MAX there is no next number; how the code
                // should count what follows is a choice, so only "does not
                // panic" is checked from here on.
                exact &= seq != u64::MAX;
                let e = &mut next[usize::from(sender) % MAX_SENDERS];
                if u128::from(seq) >= *e {
                    m_gaps += u128::from(seq) - *e;
                    *e = u128::from(seq) + 1;
                } else {
                    m_ooo += 1;
                }
            }
        }
    }
    assert_eq!(bad, m_bad, "rxonly bad_payload");
    if exact && m_gaps <= u128::from(u64::MAX) {
        assert_eq!((ooo, gaps), (m_ooo, m_gaps as u64), "rxonly (out_of_order, seq_gaps)");
    }
}
