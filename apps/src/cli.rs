//! Command line of `testpmd`, close to dpdk-testpmd's so a DPDK user is at
//! home. Parsing never panics: every problem becomes one line naming what is
//! wrong and what would be right, and the binary exits with code 2.

use std::fmt;

use clap::Parser;
use ferrite_hugepages::IovaMode;
use ferrite_pmd::port::{MacAddr, PortError, RxOffloads, TxOffloads, VlanType, MIN_ETHERTYPE};
use ferrite_pmd::MAX_BURST;

use crate::fwd::{ForwardMode, RxWaitMode};

/// Smallest `--txpkts`: Ethernet + IPv4 + UDP headers (42 B) plus the 16 B
/// ferrite signature, rounded up to the classic 64 B minimum frame (FCS not
/// counted: it is the NIC's business).
pub const MIN_TXPKTS: usize = 64;
/// Largest `--txpkts`: a 9000 B jumbo MTU + 14 B Ethernet header + 4 B VLAN tag.
pub const MAX_TXPKTS: usize = 9018;

/// How ports are wired into streams (`--port-topology`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// Port 0 ↔ 1, 2 ↔ 3, … (needs an even number of ports).
    Paired,
    /// Port i → i + 1, the last → 0.
    Chained,
    /// Every port forwards to itself.
    Loop,
}

impl Topology {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Topology::Paired => "paired",
            Topology::Chained => "chained",
            Topology::Loop => "loop",
        }
    }

    /// The port port `p` (of `n`) transmits to.
    pub fn peer(self, p: usize, n: usize) -> usize {
        match self {
            Topology::Paired => p ^ 1,
            Topology::Chained => (p + 1) % n,
            Topology::Loop => p,
        }
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn parse_topology(s: &str) -> Result<Topology, String> {
    match s {
        "paired" => Ok(Topology::Paired),
        "chained" => Ok(Topology::Chained),
        "loop" => Ok(Topology::Loop),
        _ => Err(format!("unknown port topology '{s}' (want paired, chained or loop)")),
    }
}

fn parse_mode(s: &str) -> Result<ForwardMode, String> {
    ForwardMode::from_name(s).ok_or_else(|| {
        format!("unknown forward mode '{s}' (want one of: {})", ForwardMode::ALL.map(|m| m.name()).join(", "))
    })
}

fn parse_rx_mode(s: &str) -> Result<RxWaitMode, String> {
    RxWaitMode::from_name(s).ok_or_else(|| format!("unknown rx mode '{s}' (want poll, interrupt or adaptive)"))
}

fn parse_idle_polls(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{s}' is not a poll count (want a whole number 1..={})", u32::MAX)),
    }
}

fn parse_itr(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if n <= 8191 => Ok(n),
        _ => Err(format!("'{s}' is not an interrupt throttle (want 0..=8191 microseconds)")),
    }
}

fn parse_iova(s: &str) -> Result<IovaMode, String> {
    match s {
        "va" => Ok(IovaMode::Va),
        "pa" => Ok(IovaMode::Pa),
        _ => Err(format!("unknown IOVA mode '{s}' (want va or pa)")),
    }
}

fn parse_burst(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|_| format!("'{s}' is not a number (want a burst size 1..={MAX_BURST})"))?;
    if n == 0 || n > MAX_BURST {
        return Err(format!("burst size {n} is out of range (want 1..={MAX_BURST})"));
    }
    Ok(n)
}

fn parse_queues(s: &str) -> Result<u16, String> {
    let n: u16 = s.parse().map_err(|_| format!("'{s}' is not a queue count (want 1..=1024)"))?;
    if n == 0 || n > 1024 {
        return Err(format!("queue count {n} is out of range (want 1..=1024)"));
    }
    Ok(n)
}

fn parse_ring(s: &str) -> Result<u16, String> {
    let n: u32 = s.parse().map_err(|_| format!("'{s}' is not a ring size (want a power of two, 2..=32768)"))?;
    if !(2..=32768).contains(&n) {
        return Err(format!("ring size {n} is out of range (want a power of two, 2..=32768)"));
    }
    if !n.is_power_of_two() {
        let (lo, hi) = (1u32 << (31 - n.leading_zeros()), n.next_power_of_two());
        return Err(format!("ring size {n} is not a power of two (try {lo} or {hi})"));
    }
    Ok(n as u16)
}

/// `--txpkts X[,Y]*`: the lengths of the segments a generated frame is
/// built of, as dpdk-testpmd's option; the frame is their sum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxPkts(Vec<usize>);

impl TxPkts {
    /// The frame length: all segments together.
    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }

    /// Segment lengths, first to last.
    pub fn segments(&self) -> &[usize] {
        &self.0
    }

    /// Whether frames are chains of more than one buffer.
    pub fn is_multi_seg(&self) -> bool {
        self.0.len() > 1
    }
}

impl fmt::Display for TxPkts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lens: Vec<String> = self.0.iter().map(usize::to_string).collect();
        f.write_str(&lens.join(","))
    }
}

fn parse_txpkts(s: &str) -> Result<TxPkts, String> {
    let want = format!("want X[,Y]*: segment lengths in bytes summing to {MIN_TXPKTS}..={MAX_TXPKTS}");
    let mut lens = Vec::new();
    for part in s.split(',').map(str::trim) {
        match part.parse::<usize>() {
            Ok(0) => return Err(format!("segment length 0 in --txpkts '{s}' ({want})")),
            Ok(n) => lens.push(n),
            Err(_) => return Err(format!("'{part}' in --txpkts '{s}' is not a length ({want})")),
        }
    }
    let max_segs = crate::fwd::MAX_TX_SEGMENTS;
    if lens.len() > max_segs {
        return Err(format!("--txpkts '{s}' has {} segments, more than {max_segs}", lens.len()));
    }
    let total = lens.iter().fold(0usize, |t, &n| t.saturating_add(n));
    if !(MIN_TXPKTS..=MAX_TXPKTS).contains(&total) {
        return Err(format!(
            "frame length {total} is out of range (want {MIN_TXPKTS}..={MAX_TXPKTS} bytes, Ethernet header included, \
             FCS not)"
        ));
    }
    Ok(TxPkts(lens))
}

fn parse_rx_offloads(s: &str) -> Result<RxOffloads, String> {
    match hex_mask(s)? {
        Some(bits) => RxOffloads::from_bits(bits).ok_or_else(|| unknown_bits(s, "rx", RxOffloads::all().bits())),
        None => s.parse::<RxOffloads>().map_err(offload_message),
    }
}

fn parse_tx_offloads(s: &str) -> Result<TxOffloads, String> {
    match hex_mask(s)? {
        Some(bits) => TxOffloads::from_bits(bits).ok_or_else(|| unknown_bits(s, "tx", TxOffloads::all().bits())),
        None => s.parse::<TxOffloads>().map_err(offload_message),
    }
}

/// dpdk-testpmd's form of an offload list, a hexadecimal bitmask
/// (`0x2000`), whose bits are DPDK's; `None` for a list of names.
fn hex_mask(s: &str) -> Result<Option<u64>, String> {
    let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) else { return Ok(None) };
    u64::from_str_radix(hex, 16).map(Some).map_err(|_| format!("'{s}' is not a hexadecimal offload mask"))
}

fn unknown_bits(s: &str, kind: &str, known: u64) -> String {
    format!("offload mask {s} has bits that name no {kind} offload (the known ones: {known:#x})")
}

/// The library's words for a bad offload name, without its "invalid
/// configuration" prefix (clap already says the value is invalid).
fn offload_message(e: PortError) -> String {
    match e {
        PortError::InvalidConfig(msg) => msg,
        other => other.to_string(),
    }
}

fn parse_positive_u64(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a positive whole number")),
    }
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x < 1e9 => Ok(x),
        _ => Err(format!("'{s}' is not a positive number of seconds")),
    }
}

fn parse_mbcache(s: &str) -> Result<usize, String> {
    let max = ferrite_pmd::mem::MAX_CACHE_SIZE;
    let n: usize = s.parse().map_err(|_| format!("'{s}' is not a cache size (want 0..={max})"))?;
    if n > max {
        return Err(format!("mbuf cache size {n} is above the maximum {max}"));
    }
    Ok(n)
}

fn parse_mbuf_size(s: &str) -> Result<usize, String> {
    let max = u16::MAX as usize - ferrite_pmd::mem::HEADROOM;
    let n: usize = s.parse().map_err(|_| format!("'{s}' is not an mbuf data room (want 64..={max} bytes)"))?;
    if !(64..=max).contains(&n) {
        return Err(format!("mbuf data room {n} is out of range (want 64..={max} bytes)"));
    }
    Ok(n)
}

fn parse_total_mbufs(s: &str) -> Result<usize, String> {
    let max = 1usize << 24;
    let n: usize = s.parse().map_err(|_| format!("'{s}' is not a buffer count (want 1024..={max})"))?;
    if !(1024..=max).contains(&n) {
        return Err(format!("total mbuf count {n} is out of range (want 1024..={max})"));
    }
    Ok(n)
}

fn parse_mtu(s: &str) -> Result<u16, String> {
    let n: u16 = s.parse().map_err(|_| format!("'{s}' is not an MTU (want 68..=9000)"))?;
    if !(68..=9000).contains(&n) {
        return Err(format!("MTU {n} is out of range (want 68..=9000)"));
    }
    Ok(n)
}

/// A `--eth-peer PORT,MAC` pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthPeer {
    /// Port index.
    pub port: usize,
    /// The peer's address.
    pub mac: MacAddr,
}

fn parse_eth_peer(s: &str) -> Result<EthPeer, String> {
    let want = "want PORT,MAC such as 0,02:00:00:00:00:01";
    let (p, m) = s.split_once(',').ok_or_else(|| format!("'{s}' is not PORT,MAC ({want})"))?;
    let port = p.trim().parse().map_err(|_| format!("'{p}' is not a port index ({want})"))?;
    let mac = m.trim().parse::<MacAddr>().map_err(|_| format!("'{m}' is not a MAC address ({want})"))?;
    Ok(EthPeer { port, mac })
}

/// Largest VLAN ID (12 bits).
pub const MAX_VLAN_ID: u16 = 4095;

/// `PORT,REST`: the port index and the rest, or a message saying what to give.
fn port_and<'a>(s: &'a str, flag: &str, want: &str) -> Result<(usize, &'a str), String> {
    let (p, rest) = s.split_once(',').ok_or_else(|| format!("{flag} '{s}' is not {want}"))?;
    let port = p.trim().parse().map_err(|_| format!("{flag} '{s}': '{p}' is not a port index (want {want})"))?;
    Ok((port, rest.trim()))
}

fn parse_vlan_id(id: &str, flag: &str, s: &str, want: &str) -> Result<u16, String> {
    match id.trim().parse::<u16>() {
        Ok(v) if v <= MAX_VLAN_ID => Ok(v),
        _ => Err(format!("{flag} '{s}': '{id}' is not a VLAN ID (want {want}, IDs 0..={MAX_VLAN_ID})")),
    }
}

/// A `--tx-vlan PORT,ID` pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxVlanArg {
    /// Port index.
    pub port: usize,
    /// VLAN ID every frame the port sends carries.
    pub id: u16,
}

fn parse_tx_vlan(s: &str) -> Result<TxVlanArg, String> {
    let want = "PORT,ID such as 0,100";
    let (port, id) = port_and(s, "--tx-vlan", want)?;
    Ok(TxVlanArg { port, id: parse_vlan_id(id, "--tx-vlan", s, want)? })
}

/// A `--vlan-filter PORT,ID[,ID...]` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VlanFilterArg {
    /// Port index.
    pub port: usize,
    /// VLAN IDs the port receives (tagged frames with other IDs are dropped).
    pub ids: Vec<u16>,
}

fn parse_vlan_filter(s: &str) -> Result<VlanFilterArg, String> {
    let want = "PORT,ID[,ID...] such as 0,100,200";
    let (port, rest) = port_and(s, "--vlan-filter", want)?;
    let ids = rest.split(',').map(|id| parse_vlan_id(id, "--vlan-filter", s, want)).collect::<Result<_, _>>()?;
    Ok(VlanFilterArg { port, ids })
}

/// A `--vlan-tpid PORT,inner|outer,TPID` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VlanTpidArg {
    /// Port index.
    pub port: usize,
    /// Which tag the TPID marks.
    pub which: VlanType,
    /// The EtherType (hexadecimal with 0x, or decimal).
    pub tpid: u16,
}

fn parse_vlan_tpid(s: &str) -> Result<VlanTpidArg, String> {
    let want = "PORT,inner|outer,TPID such as 0,outer,0x88a8";
    let (port, rest) = port_and(s, "--vlan-tpid", want)?;
    let (which, tpid) = rest.split_once(',').ok_or_else(|| format!("--vlan-tpid '{s}' is not {want}"))?;
    let which = which.trim().parse::<VlanType>().map_err(|e| format!("--vlan-tpid '{s}': {e}"))?;
    let t = tpid.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => t.parse::<u16>(),
    };
    let tpid = parsed.map_err(|_| format!("--vlan-tpid '{s}': '{t}' is not a 16-bit EtherType (want {want})"))?;
    if tpid < MIN_ETHERTYPE {
        return Err(format!(
            "--vlan-tpid '{s}': {tpid:#06x} is an 802.3 length, not an EtherType (want {MIN_ETHERTYPE:#06x} or above)"
        ));
    }
    Ok(VlanTpidArg { port, which, tpid })
}

/// A `--mc-addr` or `--mac-addr-add` `PORT,MAC` pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortMac {
    /// Port index.
    pub port: usize,
    /// The address.
    pub mac: MacAddr,
}

fn parse_port_mac(s: &str, flag: &str, want: &str) -> Result<PortMac, String> {
    let (port, m) = port_and(s, flag, want)?;
    let mac = m.parse::<MacAddr>().map_err(|_| format!("{flag} '{s}': '{m}' is not a MAC address (want {want})"))?;
    Ok(PortMac { port, mac })
}

fn parse_mc_addr(s: &str) -> Result<PortMac, String> {
    let want = "PORT,MAC with a multicast group address such as 0,01:00:5e:00:00:01";
    let pm = parse_port_mac(s, "--mc-addr", want)?;
    if !pm.mac.is_multicast() || pm.mac.is_broadcast() {
        return Err(format!(
            "--mc-addr '{s}': {} is not a multicast group (the group bit, 01:00:00:00:00:00, must be set; broadcast \
             is always received): want {want}",
            pm.mac
        ));
    }
    Ok(pm)
}

fn parse_mac_addr_add(s: &str) -> Result<PortMac, String> {
    let want = "PORT,MAC with a unicast address such as 0,02:00:00:00:00:09";
    let pm = parse_port_mac(s, "--mac-addr-add", want)?;
    if !pm.mac.is_valid_unicast() {
        return Err(format!(
            "--mac-addr-add '{s}': {} is not a unicast address (zero, or the group bit set; multicast groups go to \
             --mc-addr): want {want}",
            pm.mac
        ));
    }
    Ok(pm)
}

/// Largest `--tso-segsz`: a jumbo frame's TCP payload.
pub const MAX_TSO_SEGSZ: u16 = 9000;

fn parse_tso_segsz(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(n) if (1..=MAX_TSO_SEGSZ).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{s}' is not a TSO segment size (want the TCP payload bytes per segment, 1..={MAX_TSO_SEGSZ})"
        )),
    }
}

/// A parsed `-l` list: sorted CPU numbers, no duplicates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LcoreList(pub Vec<usize>);

fn parse_lcore_list(s: &str) -> Result<LcoreList, String> {
    parse_lcores(s).map(LcoreList)
}

/// Parses an lcore list such as `0-3,5` (DPDK's `-l`): sorted, no duplicates.
pub fn parse_lcores(s: &str) -> Result<Vec<usize>, String> {
    let want = "want a CPU list such as 0-1 or 0,2,4";
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let num = |x: &str| {
            x.trim().parse::<usize>().map_err(|_| format!("'{x}' in lcore list '{s}' is not a CPU number ({want})"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b || b >= 1024 {
                    return Err(format!("lcore range '{part}' is invalid ({want})"));
                }
                out.extend(a..=b);
            }
            None => {
                let c = num(part)?;
                if c >= 1024 {
                    return Err(format!("lcore {c} is out of range ({want})"));
                }
                out.push(c);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// `testpmd` arguments. Defaults follow dpdk-testpmd where it has one.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "testpmd",
    version,
    allow_negative_numbers = true,
    about = "ferrite testpmd: forward packets between ports, in the manner of dpdk-testpmd",
    after_help = "Virtual ports: loopN (tx comes back on its own rx), pairN (wired to the next pair in order \
                  of appearance), nullN (rx makes frames, tx frees them). Stop with Ctrl-C, SIGTERM, \
                  --duration or (txonly) --tx-count. Exit codes: 0 ok, 1 runtime failure (hugepages, threads), \
                  2 bad input, 3 accounting failure (buffers leaked or packets unaccounted for), \
                  4 device failure (a PCI port could not be opened or stopped responding)."
)]
pub struct Args {
    /// Interactive mode: a `testpmd>` prompt taking dpdk-testpmd's commands (start, stop, show port stats
    /// all, port config all rxd N, ...; type help); without a terminal, commands are read one a line from
    /// standard input (testpmd -i < cmds). The other flags set the initial configuration; those of a
    /// non-interactive run (the final report, its periodic lines, a capture, a time limit, telemetry) are
    /// refused with it
    #[arg(short = 'i', long = "interactive", conflicts_with_all = [
        "pcap_rx", "pcap_tx", "duration", "json", "stats_period", "telemetry_dir", "file_prefix",
    ])]
    pub interactive: bool,

    /// CPUs to use (e.g. 0-1 or 0,2): the first runs the main (stats)
    /// thread, the others forwarding cores [default: all allowed CPUs]
    #[arg(short = 'l', long = "lcores", value_name = "LIST", value_parser = parse_lcore_list)]
    pub lcores: Option<LcoreList>,

    /// The lcore (one of -l) that runs the main thread, as DPDK's EAL
    /// option; the others forward, in -l order [default: the lowest]
    #[arg(long = "main-lcore", value_name = "CPU")]
    pub main_lcore: Option<usize>,

    /// Virtual port(s) to create: loopN, pairN, nullN, or af_xdpN,iface=IF[,start_queue=N][,queue_count=N]
    /// (AF_XDP on a kernel interface); repeatable, comma lists allowed, a key=value belongs to the port before it
    #[arg(long = "vdev", value_name = "NAME", value_delimiter = ',')]
    pub vdev: Vec<String>,

    /// PCI device to use (0000:01:00.0), with device arguments after commas as DPDK's
    /// (virtio-net: 0000:03:00.0,packed_vq=1 for packed rings); repeatable
    #[arg(short = 'a', long = "allow", value_name = "PCI[,KEY=VALUE...]")]
    pub allow: Vec<String>,

    /// IOVA mode for hardware ports' buffer pools: va or pa
    #[arg(long = "iova-mode", value_name = "MODE", default_value = "va", value_parser = parse_iova)]
    pub iova_mode: IovaMode,

    /// Forwarding engine: io, mac, macswap, rxonly, txonly, flowgen, csum (as mac, and every
    /// checksum made right: by the NIC where the tx port offloads it, else in software),
    /// icmpecho (answer ARP and ping, drop the rest), 5tswap (swap MACs, IPs and L4 ports)
    #[arg(long = "forward-mode", value_name = "MODE", default_value = "io", value_parser = parse_mode)]
    pub forward_mode: ForwardMode,

    /// How ports are wired: paired (0<->1, 2<->3), chained (0->1->...->0), loop (p->p)
    #[arg(long = "port-topology", value_name = "T", default_value = "paired", value_parser = parse_topology)]
    pub port_topology: Topology,

    /// Receive queues per port
    #[arg(long = "rxq", value_name = "N", default_value = "1", value_parser = parse_queues)]
    pub rxq: u16,

    /// Transmit queues per port (>= --rxq for io/mac/macswap)
    #[arg(long = "txq", value_name = "N", default_value = "1", value_parser = parse_queues)]
    pub txq: u16,

    /// Forwarding cores to use (1..=number of lcores after the first)
    #[arg(long = "nb-cores", value_name = "N", default_value = "1")]
    pub nb_cores: usize,

    /// Packets per burst (1..=512)
    #[arg(long = "burst", value_name = "N", default_value = "32", value_parser = parse_burst)]
    pub burst: usize,

    /// Receive descriptors per queue (power of two; the driver sets the range)
    #[arg(long = "rxd", value_name = "N", default_value = "512", value_parser = parse_ring)]
    pub rxd: u16,

    /// Transmit descriptors per queue (power of two; the driver sets the range)
    #[arg(long = "txd", value_name = "N", default_value = "512", value_parser = parse_ring)]
    pub txd: u16,

    /// txonly/flowgen/--tx-first frame: segment lengths X[,Y]* in bytes, each at most --mbuf-size;
    /// the frame is their sum (64..=9018, Ethernet header included, FCS not), sent as a chain of
    /// that many mbufs (more than one needs the multi_segs tx offload, asked for automatically)
    #[arg(long = "txpkts", value_name = "X[,Y]*", default_value = "64", value_parser = parse_txpkts)]
    pub txpkts: TxPkts,

    /// Receive offloads for every port, a comma list of DPDK's names (scatter, rss_hash,
    /// vlan_strip, ipv4_cksum, ...), none, or dpdk-testpmd's hexadecimal bitmask (0x2000)
    #[arg(long = "rx-offloads", value_name = "LIST", default_value = "none", value_parser = parse_rx_offloads)]
    pub rx_offloads: RxOffloads,

    /// Transmit offloads for every port, a comma list of DPDK's names (multi_segs, ipv4_cksum,
    /// tcp_tso, ...), none, or dpdk-testpmd's hexadecimal bitmask (0x8000)
    #[arg(long = "tx-offloads", value_name = "LIST", default_value = "none", value_parser = parse_tx_offloads)]
    pub tx_offloads: TxOffloads,

    /// txonly/flowgen: total transmit rate over all streams, packets per second [default: unpaced]
    #[arg(long = "tx-rate", value_name = "PPS", value_parser = parse_positive_u64)]
    pub tx_rate: Option<u64>,

    /// txonly/flowgen: stop after sending this many frames in total [default: no limit]
    #[arg(long = "tx-count", value_name = "N", value_parser = parse_positive_u64)]
    pub tx_count: Option<u64>,

    /// flowgen: number of UDP flows (source IP/port pairs) to cycle through
    #[arg(long = "flowgen-flows", value_name = "N", default_value = "1024", value_parser = parse_positive_u64)]
    pub flowgen_flows: u64,

    /// Before forwarding, each stream sends N bursts of txonly frames
    /// (testpmd's `start tx_first N`): gives io/mac/macswap/rxonly traffic on loop and pair ports
    #[arg(long = "tx-first", value_name = "N", default_value = "0")]
    pub tx_first: usize,

    /// Data room per mbuf in bytes, after the 128 B headroom
    #[arg(long = "mbuf-size", value_name = "N", default_value = "2048", value_parser = parse_mbuf_size)]
    pub mbuf_size: usize,

    /// Buffers per port pool [default: sized for rings, caches and bursts in flight]
    #[arg(long = "total-num-mbufs", value_name = "N", value_parser = parse_total_mbufs)]
    pub total_num_mbufs: Option<usize>,

    /// Per-core mempool cache size (0..=512; keep it well above the burst)
    #[arg(long = "mbcache", value_name = "N", default_value = "512", value_parser = parse_mbcache)]
    pub mbcache: usize,

    /// Print per-port rates every SECS seconds [default: only the final report]
    #[arg(long = "stats-period", value_name = "SECS", value_parser = parse_secs)]
    pub stats_period: Option<f64>,

    /// Stop after SECS seconds [default: run until SIGINT/SIGTERM]
    #[arg(long = "duration", value_name = "SECS", value_parser = parse_secs)]
    pub duration: Option<f64>,

    /// Print the final report as one JSON object on stdout (progress goes to stderr)
    #[arg(long = "json")]
    pub json: bool,

    /// One mempool for every port (as dpdk-testpmd's one pool per NUMA node) instead of one per
    /// port: frames then forward between AF_XDP ports without a copy (their sockets share one UMEM)
    #[arg(long = "shared-pool")]
    pub shared_pool: bool,

    /// Leave promiscuous mode off
    #[arg(long = "no-promisc")]
    pub no_promisc: bool,

    /// Receive every multicast frame (dpdk-testpmd's `set allmulti all on`); matters with
    /// --no-promisc
    #[arg(long = "all-multicast")]
    pub all_multicast: bool,

    /// Set every port's MTU
    #[arg(long = "mtu", value_name = "N", value_parser = parse_mtu)]
    pub mtu: Option<u16>,

    /// How forwarding cores wait for traffic: poll (spin), interrupt (sleep on the rx
    /// interrupt whenever idle) or adaptive (poll, sleep after --idle-polls empty rounds)
    #[arg(long = "rx-mode", value_name = "MODE", default_value = "adaptive", value_parser = parse_rx_mode)]
    pub rx_mode: RxWaitMode,

    /// adaptive rx mode: empty polling rounds before a core arms its rx interrupts and sleeps
    #[arg(long = "idle-polls", value_name = "N", default_value = "1000", value_parser = parse_idle_polls)]
    pub idle_polls: u32,

    /// Least microseconds between two rx interrupts of a queue (ethtool -C rx-usecs; igb EITR)
    /// [default: the driver's]
    #[arg(long = "itr-usecs", value_name = "N", value_parser = parse_itr)]
    pub itr_usecs: Option<u32>,

    /// Transmit watchdog: reset a tx queue whose frames have not moved for MS milliseconds
    /// while the link is up [default: the driver's, 5000]
    #[arg(long = "tx-timeout", value_name = "MS", value_parser = parse_positive_u64)]
    pub tx_timeout_ms: Option<u64>,

    /// Destination MAC for frames sent on PORT in mac and csum mode (PORT,MAC); repeatable
    #[arg(long = "eth-peer", value_name = "PORT,MAC", value_parser = parse_eth_peer)]
    pub eth_peer: Vec<EthPeer>,

    /// csum: TCP payload bytes per segment for TSO (dpdk-testpmd's `tso set N`): longer TCP
    /// frames ask the NIC to segment them (the tcp_tso tx offload, turned on where a port has
    /// it; without it they leave whole, with their checksum)
    #[arg(long = "tso-segsz", value_name = "N", value_parser = parse_tso_segsz)]
    pub tso_segsz: Option<u16>,

    /// Every frame PORT sends carries VLAN tag ID, in every forwarding mode (dpdk-testpmd's
    /// `tx_vlan set`): inserted by the NIC where it has the vlan_insert tx offload, else in
    /// software; once per port
    #[arg(long = "tx-vlan", value_name = "PORT,ID", value_parser = parse_tx_vlan)]
    pub tx_vlan: Vec<TxVlanArg>,

    /// PORT receives only these VLAN IDs among tagged frames (dpdk-testpmd's `rx_vlan add`;
    /// asks for the vlan_filter rx offload, refused on a port without it); repeatable
    #[arg(long = "vlan-filter", value_name = "PORT,ID[,ID...]", value_parser = parse_vlan_filter)]
    pub vlan_filter: Vec<VlanFilterArg>,

    /// The EtherType that marks PORT's inner (single) or outer VLAN tag (dpdk-testpmd's `vlan set
    /// inner|outer tpid`): 0x8100 for both by default; 0,outer,0x88a8 for 802.1ad with the
    /// vlan_extend rx offload; refused on a port that cannot set it; repeatable
    #[arg(long = "vlan-tpid", value_name = "PORT,inner|outer,TPID", value_parser = parse_vlan_tpid)]
    pub vlan_tpid: Vec<VlanTpidArg>,

    /// Add a multicast group to PORT's list (dpdk-testpmd's `mcast_addr add`); repeatable
    #[arg(long = "mc-addr", value_name = "PORT,MAC", value_parser = parse_mc_addr)]
    pub mc_addr: Vec<PortMac>,

    /// PORT also receives frames to this unicast MAC (dpdk-testpmd's `mac_addr add`); repeatable
    #[arg(long = "mac-addr-add", value_name = "PORT,MAC", value_parser = parse_mac_addr_add)]
    pub mac_addr_add: Vec<PortMac>,

    /// Add every port's named (`ethtool -S`) statistics, hardware counters
    /// included, to the final report (testpmd's `show port xstats`)
    #[arg(long = "xstats")]
    pub xstats: bool,

    /// RSS: hash IP addresses only (dpdk-testpmd's --rss-ip; the default
    /// when --rxq > 1: ipv4, ipv6 and their TCP ports)
    #[arg(long = "rss-ip")]
    pub rss_ip: bool,

    /// RSS: hash UDP ports too (dpdk-testpmd's --rss-udp)
    #[arg(long = "rss-udp")]
    pub rss_udp: bool,

    /// RSS hash types as a list (ip, tcp, udp, all, none, ipv4, ipv4-tcp, ...)
    #[arg(long = "rss-types", value_name = "LIST", value_parser = parse_rss_types)]
    pub rss_types: Option<ferrite_pmd::rss::RssHashTypes>,

    /// Directory of the telemetry socket testpmd.PID.sock, created 0700 if missing; an existing
    /// one is never changed, and refused if someone else could replace the socket there (owned by
    /// another user, or writable by others without the sticky bit) [default: /run/ferrite as
    /// root, else $XDG_RUNTIME_DIR/ferrite or /tmp/ferrite-UID]
    #[arg(long = "telemetry-dir", value_name = "DIR")]
    pub telemetry_dir: Option<std::path::PathBuf>,

    /// Serve no telemetry socket
    #[arg(long = "no-telemetry")]
    pub no_telemetry: bool,

    /// Also answer DPDK's telemetry protocol, where dpdk-telemetry.py -f PREFIX looks:
    /// /var/run/dpdk/PREFIX/dpdk_telemetry.v2 as root, else under $XDG_RUNTIME_DIR or /tmp
    /// ($RUNTIME_DIRECTORY first, as the script)
    #[arg(long = "file-prefix", value_name = "PREFIX", conflicts_with = "no_telemetry",
          value_parser = parse_file_prefix)]
    pub file_prefix: Option<String>,

    /// Write every received frame to FILE (pcapng; one interface per port/queue)
    #[arg(long = "pcap-rx", value_name = "FILE")]
    pub pcap_rx: Option<std::path::PathBuf>,

    /// Write every transmitted frame to FILE (pcapng; may be the same file as --pcap-rx)
    #[arg(long = "pcap-tx", value_name = "FILE")]
    pub pcap_tx: Option<std::path::PathBuf>,
}

/// `--file-prefix`: one directory name, as DPDK's EAL takes it.
fn parse_file_prefix(s: &str) -> Result<String, String> {
    crate::telemetry::dpdk::check_prefix(s).map(|()| s.to_string())
}

fn parse_rss_types(s: &str) -> Result<ferrite_pmd::rss::RssHashTypes, String> {
    ferrite_pmd::rss::RssHashTypes::parse(s)
}

/// Turns a clap error into one line (clap's own rendering spans several).
pub fn one_line(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let mut parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information") && !l.starts_with("Usage:"))
        .collect();
    if let Some(first) = parts.first_mut() {
        *first = first.strip_prefix("error: ").unwrap_or(first);
    }
    let mut line = parts.join("; ");
    if err.kind() == clap::error::ErrorKind::UnknownArgument {
        line.push_str(" (see testpmd --help for the options)");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcore_lists() {
        assert_eq!(parse_lcores("0-1").unwrap(), vec![0, 1]);
        assert_eq!(parse_lcores("3,0-1,1").unwrap(), vec![0, 1, 3]);
        assert!(parse_lcores("1-0").is_err());
        assert!(parse_lcores("a").is_err());
        assert!(parse_lcores("").is_err());
    }

    #[test]
    fn ring_sizes_suggest_a_fix() {
        assert_eq!(parse_ring("512").unwrap(), 512);
        let e = parse_ring("1000").unwrap_err();
        assert!(e.contains("512 or 1024"), "{e}");
        assert!(parse_ring("0").is_err());
        assert!(parse_ring("65536").is_err());
    }

    #[test]
    fn main_lcore_and_xstats() {
        let a =
            Args::try_parse_from(["testpmd", "-l", "0,1", "--main-lcore", "1", "--xstats", "--vdev", "null0"]).unwrap();
        assert_eq!(a.main_lcore, Some(1));
        assert!(a.xstats);
        let a = Args::try_parse_from(["testpmd", "--vdev", "null0"]).unwrap();
        assert_eq!((a.main_lcore, a.xstats), (None, false));
    }

    #[test]
    fn args_parse_like_testpmd() {
        let a = Args::try_parse_from([
            "testpmd",
            "-l",
            "0,1",
            "--vdev",
            "pair0,pair1",
            "--vdev",
            "null0",
            "--forward-mode",
            "macswap",
            "--eth-peer",
            "1,02:00:00:00:00:09",
        ])
        .unwrap();
        assert_eq!(a.vdev, vec!["pair0", "pair1", "null0"]);
        assert_eq!(a.forward_mode, ForwardMode::MacSwap);
        assert_eq!(a.eth_peer[0].port, 1);
        let e = Args::try_parse_from(["testpmd", "--forward-mode", "bogus"]).unwrap_err();
        let line = one_line(&e);
        assert!(!line.contains('\n') && line.contains("unknown forward mode 'bogus'"), "{line}");
        let e = Args::try_parse_from(["testpmd", "--burst", "0"]).unwrap_err();
        assert!(one_line(&e).contains("out of range"));
    }

    #[test]
    fn txpkts_is_a_list_of_segment_lengths() {
        let t = parse_txpkts("2048,2048,818").unwrap();
        assert_eq!((t.segments(), t.total(), t.is_multi_seg()), (&[2048, 2048, 818][..], 4914, true));
        assert_eq!(t.to_string(), "2048,2048,818");
        let one = parse_txpkts("64").unwrap();
        assert_eq!((one.total(), one.is_multi_seg()), (64, false));
        assert!(parse_txpkts("40").unwrap_err().contains("frame length 40 is out of range"));
        assert!(parse_txpkts("9000,100").unwrap_err().contains("frame length 9100"));
        assert!(parse_txpkts("64,0").unwrap_err().contains("segment length 0"));
        assert!(parse_txpkts("64,,1").unwrap_err().contains("'' in --txpkts"));
        let many = vec!["1"; 256].join(",");
        assert!(parse_txpkts(&many).unwrap_err().contains("256 segments, more than 255"));
        assert!(parse_txpkts(&format!("{},1", usize::MAX)).unwrap_err().contains("out of range"), "no overflow");
    }

    #[test]
    fn port_scoped_flags_parse_and_bad_values_say_what_to_give() {
        let a = Args::try_parse_from([
            "testpmd",
            "--tx-vlan",
            "1,4095",
            "--vlan-filter",
            "0, 1,2",
            "--mc-addr",
            "0,01:00:5e:00:00:01",
            "--mc-addr",
            "0,33:33:00:00:00:01",
            "--mac-addr-add",
            "1,02:00:00:00:00:09",
            "--tso-segsz",
            "1460",
        ])
        .unwrap();
        assert_eq!(a.tx_vlan, vec![TxVlanArg { port: 1, id: 4095 }]);
        assert_eq!(a.vlan_filter, vec![VlanFilterArg { port: 0, ids: vec![1, 2] }]);
        assert_eq!(
            a.mc_addr.iter().map(|m| m.mac.to_string()).collect::<Vec<_>>(),
            ["01:00:5e:00:00:01", "33:33:00:00:00:01"]
        );
        assert_eq!((a.mac_addr_add[0].port, a.tso_segsz), (1, Some(1460)));
        let err = |argv: &[&str]| one_line(&Args::try_parse_from([&["testpmd"][..], argv].concat()).unwrap_err());
        assert!(err(&["--vlan-filter", "0"]).contains("--vlan-filter '0' is not PORT,ID[,ID...]"));
        assert!(err(&["--vlan-filter", "0,"]).contains("'' is not a VLAN ID"));
        assert!(err(&["--tx-vlan", "a,1"]).contains("'a' is not a port index"));
        assert!(err(&["--mac-addr-add", "0,00:00:00:00:00:00"]).contains("is not a unicast address"));
        assert!(err(&["--tso-segsz", "9001"]).contains("1..=9000"));
    }

    #[test]
    fn offload_lists_parse_with_the_librarys_names() {
        let a =
            Args::try_parse_from(["testpmd", "--rx-offloads", "scatter,rss_hash", "--tx-offloads", "none"]).unwrap();
        assert_eq!((a.rx_offloads, a.tx_offloads), (RxOffloads::SCATTER | RxOffloads::RSS_HASH, TxOffloads::empty()));
        let a = Args::try_parse_from(["testpmd"]).unwrap();
        assert_eq!((a.rx_offloads, a.tx_offloads), (RxOffloads::empty(), TxOffloads::empty()), "none by default");
        let e = one_line(&Args::try_parse_from(["testpmd", "--tx-offloads", "tso"]).unwrap_err());
        assert!(e.contains("'tso' is not a") && e.contains("tcp_tso"), "{e}");
        // dpdk-testpmd's hexadecimal masks, DPDK's bits.
        let a = Args::try_parse_from(["testpmd", "--rx-offloads", "0x2000", "--tx-offloads", "0X8020"]).unwrap();
        assert_eq!((a.rx_offloads, a.tx_offloads), (RxOffloads::SCATTER, TxOffloads::MULTI_SEGS | TxOffloads::TCP_TSO));
        let e = one_line(&Args::try_parse_from(["testpmd", "--rx-offloads", "0x4000"]).unwrap_err());
        assert!(e.contains("offload mask 0x4000 has bits that name no rx offload"), "{e}");
        let e = one_line(&Args::try_parse_from(["testpmd", "--rx-offloads", "0xzz"]).unwrap_err());
        assert!(e.contains("'0xzz' is not a hexadecimal offload mask"), "{e}");
    }
}
