//! Drives the igb driver directly on two wired 82576 ports: sends numbered
//! frames from port A to port B, checks every byte that arrives, prints
//! rates and counters, and checks that every buffer went back to its pool.
//!
//! ```text
//! igb_smoke ADDR_A ADDR_B [--count N] [--size BYTES] [--mtu MTU] [--mbuf-size N]
//!           [--oversize N] [--iova-mode va|pa] [--rate PPS]
//! igb_smoke --mode fwd ADDR_A ADDR_B [--until-file PATH] [--seconds S] [--cpu N]
//! ```
//!
//! `--size` is the frame size with CRC (64 = 60 bytes in the buffer).
//! `--oversize N` additionally sends N frames one byte over B's MTU, which
//! must not arrive. `--mode fwd` forwards A<->B (promiscuous, io style)
//! until PATH exists or S seconds pass. Exit status 0 only if everything
//! checked out.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use ferrite_hugepages::{DmaOptions, IovaMode};
use ferrite_pmd::drivers::open_pci;
use ferrite_pmd::port::{MacAddr, RxMode};
use ferrite_pmd::{lcore, Mbuf, MbufBatch, Mempool, MempoolConfig, NetDevice, PortConfig, Queues};

const ETHERTYPE: [u8; 2] = [0x88, 0xb5]; // IEEE local experimental
const BURST: usize = 32;

struct Args {
    a: String,
    b: String,
    count: u64,
    size: usize,
    mtu: u16,
    mbuf_size: usize,
    oversize: u64,
    iova: IovaMode,
    rate: u64,
    fwd: bool,
    until_file: Option<String>,
    seconds: u64,
    cpu: Option<usize>,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut pos = Vec::new();
    let mut a = Args {
        a: String::new(),
        b: String::new(),
        count: 10_000,
        size: 64,
        mtu: 1500,
        mbuf_size: 2048,
        oversize: 0,
        iova: IovaMode::Va,
        rate: 0,
        fwd: false,
        until_file: None,
        seconds: 0,
        cpu: None,
    };
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        let num = |s: String| s.parse::<u64>().map_err(|e| format!("{s}: {e}"));
        match arg.as_str() {
            "--count" => a.count = num(val("--count")?)?,
            "--size" => a.size = num(val("--size")?)? as usize,
            "--mtu" => a.mtu = num(val("--mtu")?)? as u16,
            "--mbuf-size" => a.mbuf_size = num(val("--mbuf-size")?)? as usize,
            "--oversize" => a.oversize = num(val("--oversize")?)?,
            "--rate" => a.rate = num(val("--rate")?)?,
            "--seconds" => a.seconds = num(val("--seconds")?)?,
            "--cpu" => a.cpu = Some(num(val("--cpu")?)? as usize),
            "--until-file" => a.until_file = Some(val("--until-file")?),
            "--mode" => {
                a.fwd = match val("--mode")?.as_str() {
                    "fwd" => true,
                    "both" => false,
                    m => return Err(format!("--mode {m}: want both or fwd")),
                }
            }
            "--iova-mode" => {
                a.iova = match val("--iova-mode")?.as_str() {
                    "va" => IovaMode::Va,
                    "pa" => IovaMode::Pa,
                    m => return Err(format!("--iova-mode {m}: want va or pa")),
                }
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ => pos.push(arg),
        }
    }
    if pos.len() != 2 {
        return Err("usage: igb_smoke ADDR_A ADDR_B [--count N] [--size BYTES] [--mtu MTU] [--mbuf-size N] \
                    [--oversize N] [--iova-mode va|pa] [--rate PPS]"
            .into());
    }
    a.b = pos.pop().unwrap_or_default();
    a.a = pos.pop().unwrap_or_default();
    if a.size < 64 || a.size > 9018 {
        return Err(format!("--size {} out of range 64..=9018", a.size));
    }
    Ok(a)
}

fn fill(m: &mut Mbuf, dst: MacAddr, src: MacAddr, seq: u64, len: usize) -> bool {
    if !m.set_len(len) {
        return false;
    }
    let d = m.data_mut();
    d[0..6].copy_from_slice(&dst.0);
    d[6..12].copy_from_slice(&src.0);
    d[12..14].copy_from_slice(&ETHERTYPE);
    d[14..22].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in d[22..].iter_mut().enumerate() {
        *b = (seq as u8).wrapping_add(i as u8);
    }
    true
}

fn check(m: &Mbuf, len: usize) -> Option<u64> {
    let d = m.data();
    if d.len() != len || d[12..14] != ETHERTYPE {
        return None;
    }
    let seq = u64::from_le_bytes(d[14..22].try_into().ok()?);
    d[22..].iter().enumerate().all(|(i, &b)| b == (seq as u8).wrapping_add(i as u8)).then_some(seq)
}

fn wait_link(p: &dyn NetDevice) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        if p.link_status().up {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn run(a: Args) -> Result<(), String> {
    let _lcore = lcore::register().map_err(|e| e.to_string())?;
    if let Some(cpu) = a.cpu {
        lcore::pin_to_cpu(cpu).map_err(|e| format!("pinning to CPU {cpu}: {e}"))?;
    }
    let t0 = Instant::now();
    let mut pa = open_pci(&a.a, a.iova).map_err(|e| e.to_string())?;
    let mut pb = open_pci(&a.b, a.iova).map_err(|e| e.to_string())?;
    println!(
        "probe: {:.2} s; A {} {}  B {} {}",
        t0.elapsed().as_secs_f64(),
        pa.name(),
        pa.mac_address(),
        pb.name(),
        pb.mac_address()
    );
    println!("A drvinfo {:?}", pa.drvinfo());

    let mut cfg = MempoolConfig::new("smoke", 8192);
    cfg.data_room = a.mbuf_size;
    cfg.dma = DmaOptions { iova_mode: a.iova, mapper: pa.dma_mapper(), ..DmaOptions::default() };
    let pool = Mempool::new(&cfg).map_err(|e| e.to_string())?;
    let conf = PortConfig::default();
    for p in [&mut pa, &mut pb] {
        p.change_mtu(a.mtu).map_err(|e| e.to_string())?;
        p.configure(&conf, &pool).map_err(|e| e.to_string())?;
    }
    let mut qa = pa.open().map_err(|e| e.to_string())?;
    let mut qb = pb.open().map_err(|e| e.to_string())?;
    let (la, lb) = (wait_link(pa.as_ref()), wait_link(pb.as_ref()));
    println!("open+link: {:.2} s; link A {} B {}", t0.elapsed().as_secs_f64(), pa.link_status(), pb.link_status());
    if !la || !lb {
        return Err("link did not come up".into());
    }

    if a.fwd {
        return forward(&a, [pa, pb], [qa, qb], &pool);
    }
    let (src, dst) = (pa.mac_address(), pb.mac_address());
    let len = a.size - 4;
    let total = a.count + a.oversize;
    let (mut sent, mut oversent, mut received, mut bad, mut expect) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut out = MbufBatch::new();
    let mut inb = MbufBatch::new();
    let start = Instant::now();
    let mut last_rx = Instant::now();
    while (sent + oversent < total || received < a.count) && last_rx.elapsed() < Duration::from_secs(2) {
        if sent + oversent < total && out.is_empty() {
            let allowed = if a.rate == 0 { u64::MAX } else { (start.elapsed().as_secs_f64() * a.rate as f64) as u64 };
            let n = (total - sent - oversent).min(BURST as u64).min(allowed.saturating_sub(sent + oversent)) as usize;
            if n > 0 && pool.alloc_bulk(&mut out, n) {
                for m in out.iter_mut() {
                    // Interleave the oversize frames among the good ones.
                    let over = oversent < a.oversize && (sent + oversent) % 64 == 63 || sent == a.count;
                    if over {
                        fill(m, dst, src, u64::MAX, a.mtu as usize + 15);
                        oversent += 1;
                    } else {
                        fill(m, dst, src, sent, len);
                        sent += 1;
                    }
                }
            }
        }
        if !out.is_empty() {
            qa.tx[0].tx_burst(&mut out);
        }
        let got = qb.rx[0].rx_burst(&mut inb, BURST);
        if got > 0 {
            last_rx = Instant::now();
        }
        for m in inb.iter() {
            match check(m, len) {
                Some(s) if s == expect => expect += 1,
                Some(s) => {
                    if bad < 5 {
                        eprintln!("out of order: got seq {s}, expected {expect}");
                    }
                    bad += 1;
                    expect = s + 1;
                }
                None => {
                    if bad < 5 {
                        eprintln!("bad frame: len {} (want {len}) head {:02x?}", m.len(), &m.data()[..m.len().min(24)]);
                    }
                    bad += 1;
                }
            }
            received += 1;
        }
        inb.clear();
    }
    let secs = start.elapsed().as_secs_f64();
    out.clear();
    // Let late frames (and oversize ones that must not come) show up.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_millis(300) {
        received += qb.rx[0].rx_burst(&mut inb, BURST) as u64;
        inb.clear();
    }
    println!(
        "sent {sent} (+{oversent} oversize) received {received} bad {bad} in {secs:.2} s: {:.0} pps",
        received as f64 / secs
    );
    for (name, p) in [("A", &pa), ("B", &pb)] {
        let rows: Vec<String> =
            p.named_stats().into_iter().filter(|(_, v)| *v != 0).map(|(n, v)| format!("{n}={v}")).collect();
        println!("{name} stats: {}", rows.join(" "));
    }
    // Hardware counters must agree with the driver's software counters
    // (octet counters include the 4-byte CRC the software never sees).
    let stat = |p: &dyn NetDevice, name: &str| {
        p.named_stats().into_iter().find(|(n, _)| n == name).map(|(_, v)| v).unwrap_or(u64::MAX)
    };
    let mut ok = true;
    let (sa, sb) = (pa.stats64(), pb.stats64());
    let (txp, txb) = (sa.tx_total().packets, sa.tx_total().bytes);
    let (rxp, rxb) = (sb.rx_total().packets, sb.rx_total().bytes);
    let checks = [
        ("A tx_packets (GPTC) == sw tx packets", stat(pa.as_ref(), "tx_packets"), txp),
        ("A tx_bytes (GOTC) == sw tx bytes + 4/frame", stat(pa.as_ref(), "tx_bytes"), txb + 4 * txp),
        ("B rx_packets (GPRC) == sw rx packets", stat(pb.as_ref(), "rx_packets"), rxp),
        ("B rx_bytes (GORC) == sw rx bytes + 4/frame", stat(pb.as_ref(), "rx_bytes"), rxb + 4 * rxp),
        ("B rx_queue_0_packets == frames received", stat(pb.as_ref(), "rx_queue_0_packets"), received),
        ("A tx_queue_0_packets == frames sent", stat(pa.as_ref(), "tx_queue_0_packets"), sent + oversent),
    ];
    for (what, got, want) in checks {
        let verdict = if got == want { "ok" } else { "MISMATCH" };
        println!("stats check: {what}: {got} vs {want} {verdict}");
        ok &= got == want;
    }
    println!("B rx_long_length_errors (ROC) = {}", stat(pb.as_ref(), "rx_long_length_errors"));
    drop(qa);
    drop(qb);
    pa.stop().map_err(|e| e.to_string())?;
    pb.stop().map_err(|e| e.to_string())?;
    pool.flush_local_cache();
    println!("pool: {} of {} free after stop", pool.available(), pool.capacity());
    if received != a.count || bad != 0 {
        eprintln!("FAIL: received {received} of {} ({bad} bad)", a.count);
        ok = false;
    }
    if pool.available() != pool.capacity() {
        eprintln!("FAIL: {} buffers missing from the pool", pool.capacity() - pool.available());
        ok = false;
    }
    if ok {
        Ok(())
    } else {
        Err("checks failed".into())
    }
}

fn forward(a: &Args, mut ports: [Box<dyn NetDevice>; 2], mut qs: [Queues; 2], pool: &Mempool) -> Result<(), String> {
    for p in ports.iter_mut() {
        p.set_rx_mode(RxMode { promiscuous: true, all_multicast: true }).map_err(|e| e.to_string())?;
    }
    println!("forwarding {} <-> {}", ports[0].name(), ports[1].name());
    let start = Instant::now();
    let mut batch = MbufBatch::new();
    let (mut fwd, mut dropped, mut spins) = ([0u64; 2], 0u64, 0u64);
    loop {
        for (dir, count) in fwd.iter_mut().enumerate() {
            let (from, to) = if dir == 0 { (0, 1) } else { (1, 0) };
            let n = qs[from].rx[0].rx_burst(&mut batch, BURST);
            if n > 0 {
                let sent = qs[to].tx[0].tx_burst(&mut batch);
                *count += sent as u64;
                dropped += batch.len() as u64;
                batch.clear();
            }
        }
        spins += 1;
        if spins % 4096 == 0 {
            let stop_file = a.until_file.as_ref().is_some_and(|f| std::path::Path::new(f).exists());
            if stop_file || (a.seconds > 0 && start.elapsed().as_secs() >= a.seconds) {
                break;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!("forwarded A->B {} B->A {} dropped {dropped} in {secs:.1} s", fwd[0], fwd[1]);
    for p in ports.iter() {
        let rows: Vec<String> =
            p.named_stats().into_iter().filter(|(_, v)| *v != 0).map(|(n, v)| format!("{n}={v}")).collect();
        println!("{} stats: {}", p.name(), rows.join(" "));
    }
    drop(qs);
    for p in ports.iter_mut() {
        p.stop().map_err(|e| e.to_string())?;
    }
    pool.flush_local_cache();
    println!("pool: {} of {} free after stop", pool.available(), pool.capacity());
    if pool.available() != pool.capacity() {
        return Err("buffers missing from the pool".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    ferrite_pmd::logging::log_to_stderr(log::LevelFilter::Info);
    match parse().and_then(run) {
        Ok(()) => {
            println!("OK");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("igb_smoke: {e}");
            ExitCode::FAILURE
        }
    }
}
