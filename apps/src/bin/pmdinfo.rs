//! `pmdinfo`: what ferrite sees of PCI devices through VFIO.
//!
//! ```text
//! pmdinfo [--iova-mode va|pa] PCI_ADDR...
//! ```
//!
//! For each address: vendor:device and the driver that would claim it, the
//! bound kernel driver, the IOMMU group, BAR sizes, the IOMMU's valid IOVA
//! ranges and address width, the MSI-X vector count, and for an 82576 the
//! MAC address and link state read from its registers (read-only: the
//! device is not reset). Exits non-zero, saying what to run, if any address
//! cannot be inspected.

use std::process::ExitCode;

use ferrite_pmd::drivers::igb::{self, vfio};
use vfio::{IommuMode, IrqKind, VfioDevice};

const USAGE: &str = "usage: pmdinfo [--iova-mode va|pa] PCI_ADDR... (e.g. pmdinfo 0000:01:00.0; \
                     bind the device first with `sudo scripts/devbind --bind vfio-pci ADDR`)";

fn human(bytes: u64) -> String {
    match bytes {
        0 => "-".to_string(),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

fn inspect(addr: &str, mode: IommuMode) -> Result<(), String> {
    let info = vfio::pci_device_info(addr).map_err(|e| e.to_string())?;
    let claim = if igb::supports(info.vendor, info.device) {
        format!("igb ({})", igb::device_name(info.device))
    } else {
        "none (no ferrite driver claims this ID)".to_string()
    };
    println!("{}:", info.addr);
    println!("  ids            {:04x}:{:04x}  ferrite driver: {claim}", info.vendor, info.device);
    println!("  kernel driver  {}", info.driver.as_deref().unwrap_or("(none)"));
    println!("  iommu group    {}", info.group.map_or("(none)".to_string(), |g| g.to_string()));

    let dev = VfioDevice::open(&info.addr, mode).map_err(|e| e.to_string())?;
    let bars: Vec<String> = (0..6)
        .map(|i| match dev.region_info(i) {
            Ok(r) if r.size > 0 => format!("BAR{i} {}{}", human(r.size), if r.mmappable { "" } else { " (no mmap)" }),
            _ => format!("BAR{i} -"),
        })
        .collect();
    println!("  bars           {}", bars.join(", "));
    let ranges = dev.container().iova_ranges();
    if ranges.is_empty() {
        println!("  iova ranges    (none reported{})", if mode == IommuMode::NoIommu { ": no-IOMMU mode" } else { "" });
    } else {
        let top = ranges.iter().map(|r| *r.end()).max().unwrap_or(0);
        let width = 64 - top.leading_zeros();
        let list: Vec<String> = ranges.iter().map(|r| format!("{:#x}-{:#x}", r.start(), r.end())).collect();
        println!("  iova ranges    {}  (width {width} bits)", list.join(", "));
    }
    let msix = dev.irq_count(IrqKind::Msix).map_err(|e| e.to_string())?;
    let msi = dev.irq_count(IrqKind::Msi).map_err(|e| e.to_string())?;
    println!("  interrupts     MSI-X {msix} vectors, MSI {msi}");
    if igb::supports(info.vendor, info.device) {
        let p = igb::peek(&dev).map_err(|e| e.to_string())?;
        println!("  mac            {}", p.mac.map_or("(RAH0.AV clear: not loaded)".to_string(), |m| m.to_string()));
        println!("  link           {}  (STATUS {:#010x}, CTRL {:#010x})", p.link, p.status, p.ctrl);
    }
    Ok(())
}

fn main() -> ExitCode {
    let mut mode = IommuMode::Type1;
    let mut addrs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--iova-mode" => match args.next().as_deref() {
                Some("va") => mode = IommuMode::Type1,
                Some("pa") => mode = IommuMode::NoIommu,
                other => {
                    eprintln!("pmdinfo: --iova-mode wants va or pa, got {other:?}\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            s if s.starts_with('-') => {
                eprintln!("pmdinfo: unknown option {s}\n{USAGE}");
                return ExitCode::from(2);
            }
            _ => addrs.push(a),
        }
    }
    if addrs.is_empty() {
        eprintln!("pmdinfo: no PCI address given\n{USAGE}");
        return ExitCode::from(2);
    }
    let mut failed = false;
    for addr in &addrs {
        if let Err(e) = inspect(addr, mode) {
            eprintln!("pmdinfo: {addr}: {e}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
