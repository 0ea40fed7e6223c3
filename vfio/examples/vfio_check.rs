//! `vfio_check`: end-to-end check of ferrite-vfio on emulated 82576 NICs.
//!
//! ```text
//! vfio_check [--no-dma] <BDF>[=<MAC>] [<BDF>[=<MAC>]]
//! ```
//!
//! For each device: open it through VFIO, check vendor:device 8086:10c9 in
//! config space, map BAR0, read the MAC from RAL0/RAH0 (and compare it with
//! `MAC` if given), report STATUS.LU, the IOMMU's IOVA ranges and the MSI-X
//! vector count, then enable MSI-X, fire vector 0 from software and check
//! its eventfd.
//!
//! With two devices wired to each other (QEMU loop layout), it then does a
//! DMA round trip: one 2 MiB hugepage mapped once into the shared container,
//! one advanced TX descriptor on the first NIC and one advanced RX
//! descriptor on the second; the frame must arrive byte-identical with DD
//! set. Then the negative case: an RX descriptor whose buffer IOVA is not
//! mapped; the frame must not land in memory (the IOMMU blocks the write).
//!
//! Exit status: 0 all checks passed, 1 a check failed, 2 bad usage or the
//! device could not be opened (the message says what to run).

use std::process::ExitCode;
use std::ptr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrite_hugepages::{DmaOptions, DmaRegion, HUGE_2M};
use ferrite_vfio::{Bar, IommuMode, IrqKind, VfioDevice, VfioError};

/// 82576 registers (offsets into BAR0). Sources: Intel 82576EB datasheet
/// chapter 8 (register descriptions) and Linux `igb/e1000_regs.h`.
mod reg {
    pub const STATUS: usize = 0x0008; // Device Status
    pub const MDIC: usize = 0x0020; // MDI Control: PHY register access
    pub const IMC: usize = 0x00d8; // Interrupt Mask Clear
    pub const RCTL: usize = 0x0100; // Receive Control
    pub const TCTL: usize = 0x0400; // Transmit Control
    pub const RAL0: usize = 0x5400; // Receive Address Low, entry 0
    pub const RAH0: usize = 0x5404; // Receive Address High, entry 0
                                    // Queue 0 of the per-queue blocks at 0xC000 (RX) and 0xE000 (TX).
    pub const RDBAL0: usize = 0xc000;
    pub const RDBAH0: usize = 0xc004;
    pub const RDLEN0: usize = 0xc008;
    pub const SRRCTL0: usize = 0xc00c; // Split and Replication Receive Control
    pub const RDH0: usize = 0xc010;
    pub const RDT0: usize = 0xc018;
    pub const RXDCTL0: usize = 0xc028;
    pub const TDBAL0: usize = 0xe000;
    pub const TDBAH0: usize = 0xe004;
    pub const TDLEN0: usize = 0xe008;
    pub const TDH0: usize = 0xe010;
    pub const TDT0: usize = 0xe018;
    pub const TXDCTL0: usize = 0xe028;
}

const STATUS_LU: u32 = 1 << 1; // link up
const RCTL_EN: u32 = 1 << 1;
const RCTL_UPE: u32 = 1 << 3; // unicast promiscuous
const RCTL_MPE: u32 = 1 << 4; // multicast promiscuous
const RCTL_BAM: u32 = 1 << 15; // accept broadcast
const RCTL_SECRC: u32 = 1 << 26; // strip Ethernet CRC
const TCTL_EN: u32 = 1 << 1;
const TCTL_PSP: u32 = 1 << 3; // pad short packets
const SRRCTL_BSIZEPKT_2K: u32 = 2; // packet buffer size, 1 KiB units (bits 6:0)
const SRRCTL_DESCTYPE_ADV_ONEBUF: u32 = 1 << 25; // DESCTYPE (bits 27:25) = 001b
const XDCTL_ENABLE: u32 = 1 << 25; // RXDCTL/TXDCTL queue enable
const RAH_AV: u32 = 1 << 31; // address valid
                             // MDIC: data 15:0, register 20:16, PHY address 25:21, op 27:26 (01b write),
                             // ready bit 28, error bit 30. The internal PHY answers at address 1.
const MDIC_PHY1: u32 = 1 << 21;
const MDIC_OP_WRITE: u32 = 1 << 26;
const MDIC_READY: u32 = 1 << 28;
const MDIC_ERROR: u32 = 1 << 30;
// PHY control register 0 (IEEE 802.3 clause 22 BMCR): autoneg enable,
// restart autoneg, full duplex, 1000 Mb/s.
const BMCR_RESTART_AUTONEG: u32 = 0x1000 | 0x0200 | 0x0100 | 0x0040;

// Advanced TX data descriptor (datasheet §7.2, transmit descriptors):
// cmd_type_len = DCMD (31:24) | DTYP (23:20) | DTALEN (15:0).
const TXD_DTYP_DATA: u32 = 0x3 << 20;
const TXD_CMD_EOP: u32 = 1 << 24;
const TXD_CMD_IFCS: u32 = 1 << 25;
const TXD_CMD_RS: u32 = 1 << 27;
const TXD_CMD_DEXT: u32 = 1 << 29;
const TXD_PAYLEN_SHIFT: u32 = 14; // olinfo_status bits 31:14
const TXD_STAT_DD: u32 = 1 << 0;
// Advanced RX descriptor, write-back format (datasheet §7.1, receive
// descriptors): status in bits 19:0 of the third dword, length in the fourth.
const RXD_STAT_DD: u32 = 1 << 0;
const RXD_STAT_EOP: u32 = 1 << 1;

const VENDOR_INTEL: u16 = 0x8086;
const DEVICE_82576: u16 = 0x10c9;
const RING_DESCS: u32 = 8; // 8 x 16 B = 128 B, the minimum ring length

// Layout of the one 2 MiB DMA page.
const TX_RING: usize = 0x0000;
const RX_RING: usize = 0x1000;
const TX_BUF: usize = 0x2000;
const RX_BUF: usize = 0x3000;
const TX_BUF2: usize = 0x4000;

struct Checks {
    failed: u32,
}

impl Checks {
    fn ok(&mut self, what: impl AsRef<str>) {
        println!("ok   {}", what.as_ref());
    }
    fn fail(&mut self, what: impl AsRef<str>) {
        println!("FAIL {}", what.as_ref());
        self.failed += 1;
    }
    fn check(&mut self, cond: bool, what: impl AsRef<str>) -> bool {
        if cond {
            self.ok(what)
        } else {
            self.fail(what)
        }
        cond
    }
}

struct Target {
    addr: String,
    mac: Option<[u8; 6]>,
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return None;
        }
        *m = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

fn fmt_mac(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

const USAGE: &str = "usage: vfio_check [--no-dma] <BDF>[=<MAC>] [<BDF>[=<MAC>]]\n\
    e.g. vfio_check 0000:01:00.0=52:54:00:00:1b:00 0000:02:00.0=52:54:00:00:1b:01";

fn main() -> ExitCode {
    let mut no_dma = false;
    let mut targets = Vec::new();
    for arg in std::env::args().skip(1) {
        if arg == "--no-dma" {
            no_dma = true;
            continue;
        }
        if arg == "-h" || arg == "--help" {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        let (addr, mac) = match arg.split_once('=') {
            Some((a, m)) => match parse_mac(m) {
                Some(mac) => (a.to_string(), Some(mac)),
                None => {
                    eprintln!("error: '{m}' is not a MAC address (aa:bb:cc:dd:ee:ff)\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            None => (arg, None),
        };
        targets.push(Target { addr, mac });
    }
    if targets.is_empty() || targets.len() > 2 {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }

    let t0 = Instant::now();
    let mut checks = Checks { failed: 0 };
    let mut opened = Vec::new();
    for t in &targets {
        match check_device(&mut checks, t) {
            Ok(d) => opened.push(d),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if opened.len() == 2 && !no_dma {
        let t = Instant::now();
        dma_round_trip(&mut checks, &opened[0], &opened[1]);
        println!("info dma checks took {:.3} s", t.elapsed().as_secs_f64());
    }
    for (dev, _) in &opened {
        // Stop all DMA before the memory goes away (the region is already
        // dropped, but leave the NICs quiet for the next user too).
        if let Err(e) = dev.reset() {
            println!("info {}: reset: {e}", dev.pci_addr());
        }
    }
    println!("info total {:.3} s", t0.elapsed().as_secs_f64());
    if checks.failed == 0 {
        println!("PASS vfio_check: all checks passed");
        ExitCode::SUCCESS
    } else {
        println!("FAIL vfio_check: {} check(s) failed", checks.failed);
        ExitCode::from(1)
    }
}

fn check_device(c: &mut Checks, t: &Target) -> Result<(Arc<VfioDevice>, Bar), VfioError> {
    let start = Instant::now();
    let dev = VfioDevice::open(&t.addr, IommuMode::Type1)?;
    let a = dev.pci_addr().to_string();
    c.ok(format!(
        "{a}: opened in {:.3} s, IOMMU group {}, container mode {:?}, reset {}",
        start.elapsed().as_secs_f64(),
        dev.group(),
        dev.container().mode(),
        if dev.can_reset() { "supported" } else { "unsupported" }
    ));

    // One driver per device: the same NIC again, even written without its
    // domain, must be refused while the first handle lives.
    let short = a.strip_prefix("0000:").unwrap_or(&a);
    match VfioDevice::open(short, IommuMode::Type1) {
        Err(e @ VfioError::AlreadyOpen { .. }) => c.ok(format!("{a}: a second open in this process is refused: {e}")),
        Err(e) => c.fail(format!("{a}: a second open failed, but not as AlreadyOpen: {e}")),
        Ok(_) => c.fail(format!("{a}: opened a second time as {short}: two drivers could program it")),
    }

    let (v, d) = dev.vendor_device()?;
    c.check(
        (v, d) == (VENDOR_INTEL, DEVICE_82576),
        format!("{a}: config space vendor:device {v:04x}:{d:04x} (want 8086:10c9)"),
    );
    let r0 = dev.region_info(0)?;
    println!("info {a}: BAR0 size {:#x} offset {:#x} flags {:#x} mmap {}", r0.size, r0.offset, r0.flags, r0.mmappable);
    dev.enable_bus_master()?;
    let cmd = dev.config_read_u16(4)?;
    c.check(cmd & 0x6 == 0x6, format!("{a}: COMMAND {cmd:#06x} has MEMORY|BUS_MASTER"));

    let bar = dev.map_bar(0)?;
    c.check(bar.len() == 0x20000, format!("{a}: BAR0 mapped, {:#x} bytes", bar.len()));
    let ral = bar.read32(reg::RAL0);
    let rah = bar.read32(reg::RAH0);
    let mac = [ral as u8, (ral >> 8) as u8, (ral >> 16) as u8, (ral >> 24) as u8, rah as u8, (rah >> 8) as u8];
    match t.mac {
        Some(want) => c.check(
            mac == want && rah & RAH_AV != 0,
            format!("{a}: MAC {} from RAL0/RAH0 (want {}, AV={})", fmt_mac(&mac), fmt_mac(&want), rah >> 31),
        ),
        None => c.check(rah & RAH_AV != 0, format!("{a}: MAC {} from RAL0/RAH0 (AV set)", fmt_mac(&mac))),
    };
    let status = bar.read32(reg::STATUS);
    println!(
        "info {a}: STATUS {status:#010x}, link {}",
        if status & STATUS_LU != 0 { "up" } else { "down (autoneg not started yet)" }
    );
    let ranges: Vec<String> =
        dev.container().iova_ranges().iter().map(|r| format!("{:#x}-{:#x}", r.start(), r.end())).collect();
    c.check(!ranges.is_empty(), format!("{a}: IOVA ranges [{}]", ranges.join(", ")));

    let msix = dev.irq_count(IrqKind::Msix)?;
    c.check(msix >= 1, format!("{a}: MSI-X vectors: {msix}"));
    let (kind, fds) = dev.enable_interrupts(msix)?;
    c.check(
        kind == IrqKind::Msix && fds.len() == msix as usize,
        format!("{a}: enabled {} {kind:?} vectors", fds.len()),
    );
    dev.trigger_irq(kind, 0)?;
    match fds[0].wait(Duration::from_secs(2)) {
        Ok(Some(n)) => c.ok(format!("{a}: {kind:?} vector 0 triggered, eventfd counted {n}")),
        Ok(None) => c.fail(format!("{a}: {kind:?} vector 0 triggered but the eventfd stayed silent for 2 s")),
        Err(e) => c.fail(format!("{a}: reading the eventfd failed: {e}")),
    }
    let quiet = fds.iter().skip(1).all(|f| matches!(f.read(), Ok(None)));
    c.check(quiet, format!("{a}: the other {} eventfds stayed silent", fds.len().saturating_sub(1)));
    dev.disable_irqs(kind)?;
    Ok((dev, bar))
}

/// Reads a little-endian u32 from the DMA region (the device writes it).
fn dma_read32(region: &DmaRegion, off: usize) -> u32 {
    assert!(off + 4 <= region.len());
    // SAFETY: in bounds (assert) and 4-byte aligned (callers pass descriptor
    // offsets); volatile because the device writes it behind our back.
    unsafe { ptr::read_volatile(region.as_ptr().add(off).cast::<u32>()) }
}

fn dma_write(region: &DmaRegion, off: usize, bytes: &[u8]) {
    assert!(off + bytes.len() <= region.len());
    // SAFETY: in bounds (assert); the device does not own these bytes yet
    // (the descriptor that hands them over is written afterwards).
    unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), region.as_ptr().add(off), bytes.len()) }
}

fn dma_bytes(region: &DmaRegion, off: usize, len: usize) -> Vec<u8> {
    assert!(off + len <= region.len());
    let mut v = vec![0u8; len];
    // SAFETY: in bounds (assert); a volatile copy of device-written memory.
    for (i, b) in v.iter_mut().enumerate() {
        *b = unsafe { ptr::read_volatile(region.as_ptr().add(off + i)) };
    }
    v
}

/// Writes a 16-byte descriptor: two little-endian u64 words.
fn write_desc(region: &DmaRegion, off: usize, lo: u64, hi: u64) {
    let mut d = [0u8; 16];
    d[..8].copy_from_slice(&lo.to_le_bytes());
    d[8..].copy_from_slice(&hi.to_le_bytes());
    dma_write(region, off, &d);
    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
}

fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if f() {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    if f() {
        Some(t.elapsed())
    } else {
        None
    }
}

/// Restarts PHY autonegotiation through MDIC (QEMU's igb raises STATUS.LU
/// when its autoneg timer, about 500 ms, expires).
fn link_up(c: &mut Checks, name: &str, bar: &Bar) -> bool {
    if bar.read32(reg::STATUS) & STATUS_LU != 0 {
        return true;
    }
    bar.write32(reg::MDIC, MDIC_PHY1 | MDIC_OP_WRITE | BMCR_RESTART_AUTONEG);
    let ready = wait_for(Duration::from_millis(100), || bar.read32(reg::MDIC) & (MDIC_READY | MDIC_ERROR) != 0);
    let mdic = bar.read32(reg::MDIC);
    if ready.is_none() || mdic & MDIC_ERROR != 0 {
        c.fail(format!("{name}: PHY write through MDIC failed (MDIC {mdic:#010x})"));
        return false;
    }
    match wait_for(Duration::from_secs(5), || bar.read32(reg::STATUS) & STATUS_LU != 0) {
        Some(t) => {
            c.ok(format!("{name}: link up after autoneg restart ({:.3} s)", t.as_secs_f64()));
            true
        }
        None => {
            c.fail(format!("{name}: link still down 5 s after autoneg restart"));
            false
        }
    }
}

fn dma_round_trip(c: &mut Checks, tx: &(Arc<VfioDevice>, Bar), rx: &(Arc<VfioDevice>, Bar)) {
    let (txd, txb) = tx;
    let (rxd, rxb) = rx;
    let (tn, rn) = (txd.pci_addr().to_string(), rxd.pci_addr().to_string());
    c.check(Arc::ptr_eq(txd.container(), rxd.container()), "both devices share one VFIO container");

    let opts = DmaOptions { mapper: Some(txd.container().clone()), ..DmaOptions::default() };
    let region = match DmaRegion::allocate(HUGE_2M, &opts) {
        Ok(r) => r,
        Err(e) => {
            c.fail(format!("allocating and mapping a 2 MiB DMA page: {e}"));
            return;
        }
    };
    let base_va = region.as_ptr() as u64;
    let base_iova = region.iova(0);
    c.ok(format!(
        "DMA page va {base_va:#x} mapped at iova {base_iova:#x} ({})",
        if base_va == base_iova { "IOVA = VA" } else { "allocated IOVA" }
    ));
    if !(link_up(c, &tn, txb) & link_up(c, &rn, rxb)) {
        return;
    }

    // Receive side (datasheet §4.5 receive initialisation, §7.1 receive
    // functionality): ring registers, SRRCTL with the advanced one-buffer
    // descriptor type (QEMU's igb implements no legacy RX descriptors), queue
    // enable, then RCTL.EN with promiscuous filters so any frame is taken.
    rxb.write32(reg::IMC, u32::MAX);
    rxb.write32(reg::RCTL, 0);
    rxb.write32(reg::SRRCTL0, SRRCTL_DESCTYPE_ADV_ONEBUF | SRRCTL_BSIZEPKT_2K);
    let rx_ring = region.iova(RX_RING);
    rxb.write32(reg::RDBAL0, rx_ring as u32);
    rxb.write32(reg::RDBAH0, (rx_ring >> 32) as u32);
    rxb.write32(reg::RDLEN0, RING_DESCS * 16);
    rxb.write32(reg::RDH0, 0);
    rxb.write32(reg::RDT0, 0);
    rxb.write32(reg::RXDCTL0, rxb.read32(reg::RXDCTL0) | XDCTL_ENABLE);
    if wait_for(Duration::from_millis(100), || rxb.read32(reg::RXDCTL0) & XDCTL_ENABLE != 0).is_none() {
        c.fail(format!("{rn}: RXDCTL0.ENABLE did not stick"));
    }
    rxb.write32(reg::RCTL, RCTL_EN | RCTL_UPE | RCTL_MPE | RCTL_BAM | RCTL_SECRC);

    // Transmit side (datasheet §4.5 transmit initialisation, §7.2 transmit
    // functionality): ring registers, TXDCTL.ENABLE, TCTL.EN; frames go out
    // when TDT moves past them.
    txb.write32(reg::IMC, u32::MAX);
    let tx_ring = region.iova(TX_RING);
    txb.write32(reg::TDBAL0, tx_ring as u32);
    txb.write32(reg::TDBAH0, (tx_ring >> 32) as u32);
    txb.write32(reg::TDLEN0, RING_DESCS * 16);
    txb.write32(reg::TDH0, 0);
    txb.write32(reg::TDT0, 0);
    txb.write32(reg::TXDCTL0, txb.read32(reg::TXDCTL0) | XDCTL_ENABLE);
    txb.write32(reg::TCTL, txb.read32(reg::TCTL) | TCTL_EN | TCTL_PSP);

    // A 96-byte frame: dst = RX NIC's MAC, src = TX NIC's MAC, ethertype
    // 0x88b5 (IEEE 802 local experimental), then a recognisable payload.
    let frame = |marker: &str| -> Vec<u8> {
        let mac = |b: &Bar| {
            let (l, h) = (b.read32(reg::RAL0), b.read32(reg::RAH0));
            [l as u8, (l >> 8) as u8, (l >> 16) as u8, (l >> 24) as u8, h as u8, (h >> 8) as u8]
        };
        let mut f = Vec::with_capacity(96);
        f.extend_from_slice(&mac(rxb));
        f.extend_from_slice(&mac(txb));
        f.extend_from_slice(&[0x88, 0xb5]);
        f.extend_from_slice(marker.as_bytes());
        while f.len() < 96 {
            f.push(f.len() as u8 ^ 0x5a);
        }
        f
    };
    let tx_desc = |len: usize| -> u64 {
        let cmd = TXD_CMD_DEXT | TXD_CMD_RS | TXD_CMD_IFCS | TXD_CMD_EOP | TXD_DTYP_DATA | len as u32;
        let olinfo = (len as u32) << TXD_PAYLEN_SHIFT;
        (cmd as u64) | ((olinfo as u64) << 32)
    };

    // --- positive: TX desc 0 -> wire -> RX desc 0 ---
    let f1 = frame("ferrite vfio_check DMA round trip #1");
    dma_write(&region, TX_BUF, &f1);
    write_desc(&region, RX_RING, region.iova(RX_BUF), 0);
    rxb.write32(reg::RDT0, 1);
    write_desc(&region, TX_RING, region.iova(TX_BUF), tx_desc(f1.len()));
    let sent = Instant::now();
    txb.write32(reg::TDT0, 1);
    let rx_done = wait_for(Duration::from_secs(3), || dma_read32(&region, RX_RING + 8) & RXD_STAT_DD != 0);
    let tx_status = dma_read32(&region, TX_RING + 12);
    c.check(
        tx_status & TXD_STAT_DD != 0,
        format!("{tn}: TX descriptor 0 done (status {tx_status:#x}), TDH={}", txb.read32(reg::TDH0)),
    );
    match rx_done {
        None => c.fail(format!("{rn}: RX descriptor 0 not done 3 s after TDT write (RDH={})", rxb.read32(reg::RDH0))),
        Some(t) => {
            let st = dma_read32(&region, RX_RING + 8);
            let len = (dma_read32(&region, RX_RING + 12) & 0xffff) as usize;
            c.ok(format!(
                "{rn}: RX descriptor 0 done after {:.1} ms: status {:#x} (DD{}), length {len}",
                t.as_secs_f64() * 1e3,
                st & 0xfffff,
                if st & RXD_STAT_EOP != 0 { " EOP" } else { "" }
            ));
            let got = dma_bytes(&region, RX_BUF, f1.len());
            c.check(
                len == f1.len() && got == f1,
                format!("{rn}: received frame is byte-identical to the {}-byte frame sent by {tn}", f1.len()),
            );
        }
    }
    println!("info round trip (TDT write to RX DD seen) {:.1} ms", sent.elapsed().as_secs_f64() * 1e3);

    // --- negative: RX desc 1 points at an IOVA nobody mapped ---
    let unmapped: u64 = if base_iova >= 0x1_0000_0000 { 0x4000_0000 } else { base_iova + 0x1000_0000 };
    let f2 = frame("ferrite vfio_check UNMAPPED IOVA #2");
    dma_write(&region, TX_BUF2, &f2);
    write_desc(&region, RX_RING + 16, unmapped, 0);
    rxb.write32(reg::RDT0, 2);
    write_desc(&region, TX_RING + 16, region.iova(TX_BUF2), tx_desc(f2.len()));
    txb.write32(reg::TDT0, 2);
    let rx_done = wait_for(Duration::from_secs(2), || dma_read32(&region, RX_RING + 16 + 8) & RXD_STAT_DD != 0);
    let tx_status = dma_read32(&region, TX_RING + 16 + 12);
    c.check(tx_status & TXD_STAT_DD != 0, format!("{tn}: TX descriptor 1 done (status {tx_status:#x})"));
    // The marker must appear nowhere in the page except where we wrote it.
    let page = dma_bytes(&region, 0, region.len());
    let marker = b"UNMAPPED IOVA #2";
    let hits: Vec<usize> =
        page.windows(marker.len()).enumerate().filter(|(_, w)| *w == marker).map(|(i, _)| i).collect();
    let landed = hits.iter().any(|&i| !(TX_BUF2..TX_BUF2 + f2.len()).contains(&i));
    c.check(!landed, format!("{rn}: frame for unmapped iova {unmapped:#x} did not land in mapped memory"));
    match rx_done {
        None => c.ok(format!(
            "{rn}: stuck ring: RX descriptor 1 (buffer at unmapped iova {unmapped:#x}) never got DD within 2 s \
             (RDH={}); the IOMMU blocked the DMA",
            rxb.read32(reg::RDH0)
        )),
        Some(t) => println!(
            "info {rn}: RX descriptor 1 got DD after {:.1} ms (length {}) although its buffer DMA to unmapped iova \
             {unmapped:#x} was blocked: the emulated NIC ignores DMA errors and still writes back the descriptor; \
             see dmesg for the DMAR fault",
            t.as_secs_f64() * 1e3,
            dma_read32(&region, RX_RING + 16 + 12) & 0xffff
        ),
    }

    // Quiesce both NICs before the page is unmapped and freed.
    rxb.write32(reg::RCTL, 0);
    txb.write32(reg::TCTL, txb.read32(reg::TCTL) & !TCTL_EN);
    for d in [txd, rxd] {
        if let Err(e) = d.reset() {
            println!("info {}: reset: {e}", d.pci_addr());
        }
    }
    drop(region);
}
