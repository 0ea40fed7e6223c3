//! Packet capture to pcapng (`testpmd --pcap-rx FILE --pcap-tx FILE`), in
//! the manner of dpdk-pdump/dumpcap: Wireshark and tshark read the files.
//!
//! * The forwarding core copies each frame of a burst into a preallocated
//!   single-producer/single-consumer ring of fixed slots ([`Tap`]): no heap
//!   allocation, no lock, no system call per packet (one clock read per
//!   burst). A full ring drops the copy and counts it (`dropped`); the
//!   datapath never waits for the disk.
//! * A writer thread drains the rings and writes pcapng by hand: a Section
//!   Header Block, one Interface Description Block per port/queue/direction
//!   (`if_name` `port0/rxq1`, `port1/txq0`, nanosecond timestamps), and an
//!   Enhanced Packet Block per frame.
//! * Transmit capture copies a burst before `tx_burst` and publishes only
//!   the frames the queue took ([`Tap::stage`] / [`Tap::publish`]).

use std::cell::UnsafeCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrite_pmd::Mbuf;

/// Bytes of each frame kept by default, and at least (longer frames are
/// truncated; the original length is recorded). testpmd raises it to the
/// largest frame its ports' MTUs allow.
pub const SNAPLEN: usize = 2048;
/// Slots per ring (per port/queue/direction) at the default snap length;
/// longer snap lengths get fewer, so a ring's memory stays about the same.
pub const SLOTS: usize = 2048;
/// Fewest slots per ring, whatever the snap length.
const MIN_SLOTS: usize = 256;

const HDR: usize = 16;
/// Memory of one ring at the default snap length.
const RING_BYTES: usize = SLOTS * (HDR + SNAPLEN);

/// One ring of captured frames: written by one forwarding core, read by the
/// writer thread.
pub struct Ring {
    buf: Box<[UnsafeCell<u8>]>,
    /// Bytes kept of each frame.
    snaplen: usize,
    /// Slots in `buf`, each `HDR + snaplen` bytes.
    slots: usize,
    /// Next slot the writer reads (consumer-owned).
    head: AtomicUsize,
    /// Next slot published (producer-owned).
    tail: AtomicUsize,
    dropped: AtomicU64,
    written: AtomicU64,
}

// SAFETY: the producer writes only slots in [tail, head + SLOTS) before
// publishing them with a release store of `tail`; the consumer reads only
// slots in [head, tail) after an acquire load of `tail`, and releases them
// with a release store of `head`. No slot is ever accessed by both at once.
unsafe impl Sync for Ring {}
unsafe impl Send for Ring {}

impl Ring {
    fn new(snaplen: usize) -> Ring {
        let slots = (RING_BYTES / (HDR + snaplen)).clamp(MIN_SLOTS, SLOTS);
        Ring {
            buf: (0..slots * (HDR + snaplen)).map(|_| UnsafeCell::new(0)).collect(),
            snaplen,
            slots,
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            written: AtomicU64::new(0),
        }
    }

    fn slot(&self, i: usize) -> *mut u8 {
        self.buf[(i % self.slots) * (HDR + self.snaplen)].get()
    }
}

/// The forwarding core's end of one ring.
#[derive(Clone)]
pub struct Tap {
    ring: Arc<Ring>,
}

impl Tap {
    /// Copies `frames` into free slots without publishing them; returns how
    /// many were copied (the rest are counted as dropped when published).
    #[inline]
    pub fn stage(&self, frames: &[Mbuf]) -> usize {
        let r = &*self.ring;
        let tail = r.tail.load(Ordering::Relaxed);
        let free = r.slots - (tail - r.head.load(Ordering::Acquire));
        let n = frames.len().min(free);
        if n == 0 {
            return 0;
        }
        let ts = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        for (i, m) in frames[..n].iter().enumerate() {
            let p = r.slot(tail + i);
            // SAFETY: slot tail+i is free (see `Ring`'s Sync comment) and
            // holds HDR + snaplen bytes, which nothing else views now.
            let kept = unsafe { std::slice::from_raw_parts_mut(p.add(HDR), r.snaplen) };
            // The whole frame, every segment of a chain, up to the snap length.
            let cap = m.read(0, &mut kept[..m.len().min(r.snaplen)]);
            // SAFETY: as above; the header fields are written unaligned.
            unsafe {
                p.cast::<u32>().write_unaligned(m.len() as u32);
                p.add(4).cast::<u32>().write_unaligned(cap as u32);
                p.add(8).cast::<u64>().write_unaligned(ts);
            }
        }
        n
    }

    /// Publishes the first `n` frames of the last `stage` (which copied
    /// `staged`); frames of those `n` that found no slot count as dropped.
    #[inline]
    pub fn publish(&self, n: usize, staged: usize) {
        let r = &*self.ring;
        let k = n.min(staged);
        if k > 0 {
            r.tail.store(r.tail.load(Ordering::Relaxed) + k, Ordering::Release);
        }
        if n > staged {
            r.dropped.fetch_add((n - staged) as u64, Ordering::Relaxed);
        }
    }

    /// Copies and publishes (receive capture).
    #[inline]
    pub fn record(&self, frames: &[Mbuf]) {
        let staged = self.stage(frames);
        self.publish(frames.len(), staged);
    }
}

/// A stream's capture points.
#[derive(Clone, Default)]
pub struct StreamTaps {
    /// Frames received.
    pub rx: Option<Tap>,
    /// Frames transmitted.
    pub tx: Option<Tap>,
}

struct Iface {
    name: String,
    ring: Arc<Ring>,
}

struct Output {
    path: PathBuf,
    ifaces: Vec<Iface>,
}

/// Capture files being written.
pub struct Capture {
    snaplen: usize,
    outputs: Vec<Output>,
    stop: Arc<AtomicBool>,
    writer: Option<JoinHandle<std::io::Result<()>>>,
}

/// What one file received.
#[derive(Clone, Debug)]
pub struct FileSummary {
    /// The file.
    pub path: PathBuf,
    /// Frames written.
    pub written: u64,
    /// Frames not captured (ring full).
    pub dropped: u64,
}

impl Capture {
    /// No files yet; frames kept up to [`SNAPLEN`] bytes.
    pub fn new() -> Capture {
        Capture::with_snaplen(SNAPLEN)
    }

    /// No files yet; frames kept up to `snaplen` bytes (at least 64).
    pub fn with_snaplen(snaplen: usize) -> Capture {
        Capture {
            snaplen: snaplen.clamp(64, u16::MAX as usize),
            outputs: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            writer: None,
        }
    }

    /// Bytes kept of each frame.
    pub fn snaplen(&self) -> usize {
        self.snaplen
    }

    /// A new interface `name` (`port0/rxq1`) in file `path`; returns the
    /// forwarding core's tap for it.
    pub fn add(&mut self, path: &Path, name: String) -> Tap {
        let ring = Arc::new(Ring::new(self.snaplen));
        let i = match self.outputs.iter().position(|o| o.path == path) {
            Some(i) => i,
            None => {
                self.outputs.push(Output { path: path.to_path_buf(), ifaces: Vec::new() });
                self.outputs.len() - 1
            }
        };
        self.outputs[i].ifaces.push(Iface { name, ring: Arc::clone(&ring) });
        Tap { ring }
    }

    /// Creates the files, writes their headers and starts the writer thread.
    pub fn start(&mut self) -> std::io::Result<()> {
        let mut files = Vec::new();
        for o in &self.outputs {
            let f = File::create(&o.path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", o.path.display())))?;
            let mut w = BufWriter::with_capacity(1 << 20, f);
            write_shb(&mut w)?;
            for i in &o.ifaces {
                write_idb(&mut w, &i.name, self.snaplen)?;
            }
            let rings: Vec<Arc<Ring>> = o.ifaces.iter().map(|i| Arc::clone(&i.ring)).collect();
            files.push((w, rings));
        }
        let stop = Arc::clone(&self.stop);
        let snaplen = self.snaplen;
        self.writer = Some(std::thread::Builder::new().name("pcap-writer".into()).spawn(move || {
            let mut scratch = vec![0u8; snaplen];
            loop {
                let last = stop.load(Ordering::Acquire);
                let mut moved = 0;
                for (w, rings) in files.iter_mut() {
                    for (id, r) in rings.iter().enumerate() {
                        moved += drain(w, id as u32, r, &mut scratch)?;
                    }
                }
                if last {
                    for (w, _) in files.iter_mut() {
                        w.flush()?;
                    }
                    return Ok(());
                }
                if moved == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })?);
        Ok(())
    }

    /// Stops the writer after it wrote everything published, flushes and
    /// closes the files; returns what each got.
    pub fn finish(mut self) -> std::io::Result<Vec<FileSummary>> {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.writer.take() {
            h.join().map_err(|_| std::io::Error::other("capture writer panicked"))??;
        }
        Ok(self
            .outputs
            .iter()
            .map(|o| FileSummary {
                path: o.path.clone(),
                written: o.ifaces.iter().map(|i| i.ring.written.load(Ordering::Relaxed)).sum(),
                dropped: o.ifaces.iter().map(|i| i.ring.dropped.load(Ordering::Relaxed)).sum(),
            })
            .collect())
    }
}

impl Default for Capture {
    fn default() -> Self {
        Capture::new()
    }
}

fn drain(w: &mut impl Write, id: u32, r: &Ring, scratch: &mut [u8]) -> std::io::Result<usize> {
    let tail = r.tail.load(Ordering::Acquire);
    let mut head = r.head.load(Ordering::Relaxed);
    let n = tail - head;
    while head < tail {
        let p = r.slot(head);
        // SAFETY: slot `head` was published (head < tail, acquired) and the
        // producer does not touch it until `head` moves past it.
        let (orig, cap, ts) = unsafe {
            let orig = p.cast::<u32>().read_unaligned();
            let cap = (p.add(4).cast::<u32>().read_unaligned() as usize).min(r.snaplen).min(scratch.len());
            let ts = p.add(8).cast::<u64>().read_unaligned();
            std::ptr::copy_nonoverlapping(p.add(HDR), scratch.as_mut_ptr(), cap);
            (orig, cap, ts)
        };
        head += 1;
        r.head.store(head, Ordering::Release);
        write_epb(w, id, ts, &scratch[..cap], orig)?;
    }
    r.written.fetch_add(n as u64, Ordering::Relaxed);
    Ok(n)
}

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

fn write_option(buf: &mut Vec<u8>, code: u16, value: &[u8]) {
    buf.extend_from_slice(&code.to_le_bytes());
    buf.extend_from_slice(&(value.len() as u16).to_le_bytes());
    buf.extend_from_slice(value);
    buf.resize(pad4(buf.len()), 0);
}

fn write_block(w: &mut impl Write, kind: u32, body: &[u8]) -> std::io::Result<()> {
    let len = (12 + body.len()) as u32;
    w.write_all(&kind.to_le_bytes())?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(body)?;
    w.write_all(&len.to_le_bytes())
}

fn write_shb(w: &mut impl Write) -> std::io::Result<()> {
    let mut b = Vec::new();
    b.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&(-1i64).to_le_bytes());
    write_option(&mut b, 4, format!("ferrite testpmd {}", env!("CARGO_PKG_VERSION")).as_bytes()); // shb_userappl
    write_option(&mut b, 0, &[]);
    write_block(w, 0x0A0D_0D0A, &b)
}

fn write_idb(w: &mut impl Write, name: &str, snaplen: usize) -> std::io::Result<()> {
    let mut b = Vec::new();
    b.extend_from_slice(&1u16.to_le_bytes()); // LINKTYPE_ETHERNET
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&(snaplen as u32).to_le_bytes());
    write_option(&mut b, 2, name.as_bytes()); // if_name
    write_option(&mut b, 9, &[9]); // if_tsresol: nanoseconds
    write_option(&mut b, 0, &[]);
    write_block(w, 1, &b)
}

fn write_epb(w: &mut impl Write, id: u32, ts: u64, data: &[u8], orig: u32) -> std::io::Result<()> {
    let len = (12 + 20 + pad4(data.len())) as u32;
    w.write_all(&6u32.to_le_bytes())?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(&id.to_le_bytes())?;
    w.write_all(&((ts >> 32) as u32).to_le_bytes())?;
    w.write_all(&(ts as u32).to_le_bytes())?;
    w.write_all(&(data.len() as u32).to_le_bytes())?;
    w.write_all(&orig.to_le_bytes())?;
    w.write_all(data)?;
    w.write_all(&[0u8; 3][..pad4(data.len()) - data.len()])?;
    w.write_all(&len.to_le_bytes())
}

/// One frame read back from a pcapng file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedFrame {
    /// Index of its interface (Interface Description Block) in the file.
    pub iface: usize,
    /// The frame's length on the wire.
    pub orig_len: u32,
    /// The bytes kept (all of them unless the frame was longer than the
    /// snap length).
    pub data: Vec<u8>,
}

/// A pcapng file's interface names and frames (a tiny reader for tests and
/// tools; only what testpmd writes).
pub fn read_packets(path: &Path) -> std::io::Result<(Vec<String>, Vec<CapturedFrame>)> {
    let b = std::fs::read(path)?;
    let le32 = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let (mut names, mut frames) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i + 12 <= b.len() {
        let (kind, len) = (le32(i), le32(i + 4) as usize);
        if len < 12 || i + len > b.len() {
            return Err(std::io::Error::other(format!("bad block at offset {i}")));
        }
        match kind {
            1 => names.push(idb_name(&b[i + 16..i + len - 4])),
            6 if len >= 32 => {
                let kept = (le32(i + 20) as usize).min(len - 32);
                frames.push(CapturedFrame {
                    iface: le32(i + 8) as usize,
                    orig_len: le32(i + 24),
                    data: b[i + 28..i + 28 + kept].to_vec(),
                });
            }
            _ => {}
        }
        i += len;
    }
    Ok((names, frames))
}

/// The `if_name` option among an Interface Description Block's options.
fn idb_name(options: &[u8]) -> String {
    let mut o = 0;
    while o + 4 <= options.len() {
        let code = u16::from_le_bytes([options[o], options[o + 1]]);
        let l = u16::from_le_bytes([options[o + 2], options[o + 3]]) as usize;
        let value = options.get(o + 4..o + 4 + l).unwrap_or_default();
        match code {
            0 => break,
            2 => return String::from_utf8_lossy(value).to_string(),
            _ => o += 4 + pad4(l),
        }
    }
    String::new()
}

/// Counts the Enhanced Packet Blocks of a pcapng file per interface name
/// (a tiny reader for tests and tools).
pub fn count_packets(path: &Path) -> std::io::Result<Vec<(String, u64)>> {
    let (names, frames) = read_packets(path)?;
    let mut counts: Vec<(String, u64)> = names.into_iter().map(|n| (n, 0)).collect();
    for f in frames {
        if let Some(c) = counts.get_mut(f.iface) {
            c.1 += 1;
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_hugepages::Fallback;
    use ferrite_pmd::{MbufBatch, Mempool, MempoolConfig};

    #[test]
    fn writes_blocks_a_reader_counts() {
        let mut cfg = MempoolConfig::new("cap-test", 64);
        cfg.dma.fallback = Fallback::SmallPages;
        let pool = Mempool::new(&cfg).unwrap();
        let dir = std::env::temp_dir().join(format!("ferrite-cap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.pcapng");
        let mut cap = Capture::new();
        let rx = cap.add(&path, "port0/rxq0".into());
        let tx = cap.add(&path, "port1/txq0".into());
        cap.start().unwrap();
        let mut b = MbufBatch::new();
        assert!(pool.alloc_bulk(&mut b, 10));
        for (i, m) in b.iter_mut().enumerate() {
            assert!(m.set_len(60 + i));
        }
        rx.record(b.as_slice());
        let staged = tx.stage(b.as_slice());
        tx.publish(7, staged);
        let sums = cap.finish().unwrap();
        assert_eq!((sums[0].written, sums[0].dropped), (17, 0));
        let counts = count_packets(&path).unwrap();
        assert_eq!(counts, vec![("port0/rxq0".to_string(), 10), ("port1/txq0".to_string(), 7)]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A chain of `lens` segments whose byte `i` (over the whole frame) is `i * 7 mod 251`.
    fn patterned_chain(pool: &Mempool, lens: &[usize]) -> (ferrite_pmd::Mbuf, Vec<u8>) {
        let bytes: Vec<u8> = (0..lens.iter().sum::<usize>()).map(|i| (i * 7 % 251) as u8).collect();
        let mut head = pool.alloc().unwrap();
        assert!(head.set_len(lens[0]));
        for &l in &lens[1..] {
            let mut seg = pool.alloc().unwrap();
            assert!(seg.set_len(l));
            head.chain(seg).unwrap();
        }
        let mut at = 0;
        for seg in head.segments_mut() {
            seg.copy_from_slice(&bytes[at..at + seg.len()]);
            at += seg.len();
        }
        (head, bytes)
    }

    #[test]
    fn a_chained_frame_is_captured_whole_up_to_the_snap_length() {
        let mut cfg = MempoolConfig::new("cap-chain", 16);
        cfg.dma.fallback = Fallback::SmallPages;
        let pool = Mempool::new(&cfg).unwrap();
        let dir = std::env::temp_dir().join(format!("ferrite-cap-chain-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (m, bytes) = patterned_chain(&pool, &[2048, 2048, 818]);
        for (snaplen, kept) in [(9022, 4914), (SNAPLEN, SNAPLEN)] {
            let path = dir.join(format!("chain-{snaplen}.pcapng"));
            let mut cap = Capture::with_snaplen(snaplen);
            let tap = cap.add(&path, "port0/rxq0".into());
            cap.start().unwrap();
            tap.record(std::slice::from_ref(&m));
            assert_eq!(cap.finish().unwrap()[0].written, 1);
            let (names, frames) = read_packets(&path).unwrap();
            assert_eq!(names, ["port0/rxq0"]);
            assert_eq!(frames.len(), 1);
            assert_eq!(frames[0].orig_len, 4914, "snap length {snaplen}");
            assert_eq!(frames[0].data, bytes[..kept], "snap length {snaplen}: every segment, in order");
        }
        drop(m);
        assert_eq!(pool.available(), 16);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
