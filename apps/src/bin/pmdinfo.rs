//! `pmdinfo`: what ferrite sees of PCI devices through VFIO.
//!
//! ```text
//! pmdinfo [--iova-mode va|pa] [-k] PCI_ADDR[,KEY=VALUE...]...
//! pmdinfo --vdev NAME[,NAME...]
//! ```
//!
//! For each address: vendor:device and the driver that would claim it, the
//! bound kernel driver, the IOMMU group, BAR sizes, the IOMMU's valid IOVA
//! ranges and address width, the MSI-X vector count, and for an 82576 the
//! MAC address and link state read from its registers (read-only: the
//! device is not reset); for a virtio-net device the features it offers,
//! its MAC and link, and where its virtio structures are. Exits non-zero, saying what to run, if any address
//! cannot be inspected.
//!
//! `-k` adds what the driver says of the port, as dpdk-testpmd's `show port
//! info` and `ethtool -k`: MTU range and largest frame, queue and descriptor
//! limits, rx/tx offload capabilities, and the features view. That takes
//! opening the port with its driver, which resets the NIC (so not while
//! another process uses it). `--vdev` shows the same for virtual ports.
//! For a virtio-net port, `-k` also shows the negotiated features (as the
//! device arguments allow: `-k ADDR,packed_vq=1` takes packed rings, as
//! testpmd's `-a` does), and the control queue's: which of CTRL_VQ,
//! CTRL_RX, CTRL_MAC_ADDR and MQ were negotiated, and the queue pairs.
//!
//! ethtool's verbs, laid out as ethtool prints them (`apps/src/ethtool.rs`):
//!
//! ```text
//! pmdinfo [--iova-mode va|pa] -i|-g|-l|-c|-S|-d|-x DEVICE
//! pmdinfo -e DEVICE [offset N] [length N] [raw on|off]
//! pmdinfo -t DEVICE [offline|online]
//! pmdinfo -p DEVICE [SECONDS]
//! ```
//!
//! DEVICE is a PCI address bound to vfio-pci or a virtual port name. Each
//! verb opens the port with its driver (which resets a NIC) and leaves it
//! stopped. A verb the driver cannot do exits with ethtool's status for it.

use std::process::ExitCode;

use ferrite_apps::ethtool::Verb;
use ferrite_pmd::drivers::igb::{self, vfio};
use ferrite_pmd::drivers::virtio;
use vfio::{IommuMode, IrqKind, VfioDevice};

const USAGE: &str = "usage: pmdinfo [--iova-mode va|pa] [-k] PCI_ADDR[,KEY=VALUE...]... | pmdinfo --vdev \
                     NAME[,NAME...] | pmdinfo [--iova-mode va|pa] -i|-g|-l|-c|-S|-d|-x DEVICE | pmdinfo -e DEVICE \
                     [offset N] [length N] [raw on|off] | pmdinfo -t DEVICE [offline|online] | pmdinfo -p DEVICE \
                     [SECONDS] (e.g. pmdinfo -k 0000:01:00.0, pmdinfo -k 0000:03:00.0,packed_vq=1, pmdinfo \
                     --vdev pair0,pair1; bind a PCI device first with \
                     `sudo scripts/devbind --bind vfio-pci ADDR`; -k opens the port, which resets the NIC)";

fn human(bytes: u64) -> String {
    match bytes {
        0 => "-".to_string(),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

fn inspect(spec: &str, mode: IommuMode) -> Result<(), String> {
    let info = vfio::pci_device_info(ferrite_pmd::drivers::pci_addr_of(spec)).map_err(|e| e.to_string())?;
    let claim = if igb::supports(info.vendor, info.device) {
        format!("igb ({})", igb::device_name(info.device))
    } else if virtio::supports(info.vendor, info.device) {
        format!("{} (modern virtio-net)", virtio::DRIVER_NAME)
    } else if (info.vendor, info.device) == (virtio::regs::VENDOR_VIRTIO, virtio::regs::DEVICE_NET_TRANSITIONAL) {
        "none (a transitional virtio-net: start QEMU with disable-legacy=on)".to_string()
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
    if virtio::supports(info.vendor, info.device) {
        let p = virtio::peek(&dev).map_err(|e| e.to_string())?;
        println!("  mac            {}", p.mac.map_or("(no VIRTIO_NET_F_MAC)".to_string(), |m| m.to_string()));
        let link = match p.status {
            Some(s) if s & virtio::regs::NET_S_LINK_UP != 0 => "up",
            Some(_) => "down",
            None => "up (no VIRTIO_NET_F_STATUS)",
        };
        println!("  link           {link}  (device status {:#04x})", p.device_status);
        println!("  offered        {}", virtio::regs::feature_names(p.offered).join(" "));
        let at = |r: &virtio::pci::Region| format!("BAR{}+{:#x} ({:#x} B)", r.bar, r.offset, r.length);
        let c = &p.caps;
        println!(
            "  virtio caps    common {}, notify {} x{}, isr {}, device {}",
            at(&c.common),
            at(&c.notify),
            c.notify_off_multiplier,
            c.isr.as_ref().map_or("-".to_string(), at),
            c.device.as_ref().map_or("-".to_string(), at)
        );
    }
    Ok(())
}

/// What the command line asks for.
struct Opts {
    mode: IommuMode,
    iova: ferrite_hugepages::IovaMode,
    /// `-k`: capabilities and features through the driver.
    dev_info: bool,
    addrs: Vec<String>,
    vdevs: Vec<String>,
    /// An ethtool verb, its device and the words after it.
    verb: Option<(Verb, String)>,
}

fn parse_args() -> Result<Option<Opts>, String> {
    let mut o = Opts {
        mode: IommuMode::Type1,
        iova: ferrite_hugepages::IovaMode::Va,
        dev_info: false,
        addrs: Vec::new(),
        vdevs: Vec::new(),
        verb: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "-k" | "--show-features" => o.dev_info = true,
            flag if Verb::from_flag(flag).is_some() => {
                let verb = Verb::from_flag(flag).unwrap_or(Verb::DrvInfo);
                let Some(device) = args.next() else { return Err(format!("{flag} wants a device")) };
                let rest: Vec<String> = args.by_ref().collect();
                o.verb = Some((verb.with_args(&rest)?, device));
            }
            "--iova-mode" => match args.next().as_deref() {
                Some("va") => (o.mode, o.iova) = (IommuMode::Type1, ferrite_hugepages::IovaMode::Va),
                Some("pa") => (o.mode, o.iova) = (IommuMode::NoIommu, ferrite_hugepages::IovaMode::Pa),
                other => return Err(format!("--iova-mode wants va or pa, got {other:?}")),
            },
            "--vdev" => match args.next() {
                Some(v) => o.vdevs.extend(v.split(',').map(|n| n.trim().to_string()).filter(|n| !n.is_empty())),
                None => return Err("--vdev wants NAME[,NAME...] (loopN, pairN, nullN)".into()),
            },
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ => o.addrs.push(a),
        }
    }
    if o.verb.is_some() && (o.dev_info || !o.addrs.is_empty() || !o.vdevs.is_empty()) {
        return Err("an ethtool verb takes one device and nothing else but --iova-mode".into());
    }
    if o.verb.is_none() && o.addrs.is_empty() && o.vdevs.is_empty() {
        return Err("no PCI address or --vdev given".into());
    }
    Ok(Some(o))
}

/// `-k` for a PCI port: open it with its driver and show what it says.
fn show_dev_info(addr: &str, iova: ferrite_hugepages::IovaMode) -> Result<(), String> {
    let port = ferrite_pmd::drivers::open_pci(addr, iova).map_err(|e| e.to_string())?;
    println!("  port (through the driver):");
    print!("{}", ferrite_apps::devinfo::DevInfo::of(&*port).to_text());
    if port.drvinfo().driver == virtio::DRIVER_NAME {
        if let Some((_, f)) = port.named_stats().into_iter().find(|(n, _)| n == "features_negotiated") {
            println!("  negotiated     {}", virtio::regs::feature_names(f).join(" "));
            println!("  control queue  {}", control_line(f, &port.channels()));
        }
    }
    Ok(())
}

/// The negotiated control-queue features of a virtio-net port and its
/// queue pairs (`ethtool -l`: most, current).
fn control_line(features: u64, ch: &ferrite_pmd::port::Channels) -> String {
    use virtio::regs::*;
    let ctrl = [NET_F_CTRL_VQ, NET_F_CTRL_RX, NET_F_CTRL_VLAN, NET_F_CTRL_MAC_ADDR, NET_F_MQ]
        .iter()
        .fold(0, |m, b| m | bit(*b));
    if features & bit(NET_F_CTRL_VQ) == 0 {
        return "none (no CTRL_VQ: no receive filters, one queue pair)".to_string();
    }
    format!(
        "{}; queue pairs {} of at most {} (CTRL_VLAN is negotiated by the opens that filter VLANs)",
        feature_names(features & ctrl).join(" "),
        ch.rx,
        ch.max_rx
    )
}

fn show_vdevs(names: &[String]) -> Result<(), String> {
    use ferrite_pmd::drivers::vdev;
    let specs = vdev::parse_vdev_tokens(names).map_err(|e| format!("--vdev: {e}"))?;
    let ports = vdev::create_vdevs(&specs, 0).map_err(|e| format!("--vdev: {e}"))?;
    for p in &ports {
        println!("{}:", p.name());
        print!("{}", ferrite_apps::devinfo::DevInfo::of(&**p).to_text());
    }
    Ok(())
}

/// Opens DEVICE (a PCI address, or a virtual port name) with its driver,
/// through the library's one way to open a port by name (its errors name
/// the device and, for PCI, the devbind command to run).
fn open_device(device: &str, iova: ferrite_hugepages::IovaMode) -> Result<Box<dyn ferrite_pmd::NetDevice>, String> {
    ferrite_pmd::open_port(device, &ferrite_pmd::OpenOptions { iova_mode: iova }).map_err(|e| e.to_string())
}

/// Runs one ethtool verb; the exit status is ethtool's.
fn run_verb(verb: &Verb, device: &str, iova: ferrite_hugepages::IovaMode) -> ExitCode {
    use std::io::Write;
    let mut port = match open_device(device, iova) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("pmdinfo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = Vec::new();
    let status = match verb.run(&mut *port, &mut out) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pmdinfo: {}", e.message);
            e.status
        }
    };
    if let Err(e) = std::io::stdout().write_all(&out) {
        eprintln!("pmdinfo: writing the output: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::from(status)
}

fn main() -> ExitCode {
    // The libraries' warnings (e.g. VFIO's) on stderr.
    ferrite_pmd::logging::log_to_stderr(log::LevelFilter::Info);
    let o = match parse_args() {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("pmdinfo: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some((verb, device)) = &o.verb {
        return run_verb(verb, device, o.iova);
    }
    let mut failed = false;
    if !o.vdevs.is_empty() {
        if let Err(e) = show_vdevs(&o.vdevs) {
            eprintln!("pmdinfo: {e}");
            failed = true;
        }
    }
    for addr in &o.addrs {
        let shown = inspect(addr, o.mode).and_then(|()| if o.dev_info { show_dev_info(addr, o.iova) } else { Ok(()) });
        if let Err(e) = shown {
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
