//! The checked plan of a run: arguments that are wrong on their own, which
//! lcores run the main thread and the forwarding cores, and how many
//! streams the ports make.

use ferrite_pmd::lcore;

use super::{usage, AppError, Console};
use crate::cli::Args;
use crate::fwd::ForwardMode;

pub(crate) fn cpu_list(cpus: &[usize]) -> String {
    cpus.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",")
}

/// The checked plan of a run.
pub(crate) struct Plan {
    pub(crate) main_cpu: Option<usize>,
    pub(crate) fwd_cpus: Vec<usize>,
}

pub(crate) fn plan_lcores(args: &Args) -> Result<Plan, AppError> {
    let allowed = lcore::allowed_cpus();
    let (lcores, explicit) = match &args.lcores {
        Some(l) => (l.0.clone(), true),
        None => (allowed.clone(), false),
    };
    if lcores.is_empty() {
        return usage("-l: empty lcore list (want e.g. -l 0-1)");
    }
    if let Some(bad) = lcores.iter().find(|c| !allowed.contains(c)) {
        return usage(format!(
            "lcore {bad} is not available: this process may run on CPUs {} (-l takes a subset of them)",
            cpu_list(&allowed)
        ));
    }
    let (main_cpu, fwd_cpus) = if let Some(main) = args.main_lcore {
        if !lcores.contains(&main) {
            return usage(format!("--main-lcore {main} is not in the lcore list {}", cpu_list(&lcores)));
        }
        let rest: Vec<usize> = lcores.iter().copied().filter(|&c| c != main).collect();
        if rest.is_empty() {
            return usage(format!(
                "--main-lcore {main} leaves no forwarding core in -l {}: give at least two lcores",
                cpu_list(&lcores)
            ));
        }
        (Some(main), rest)
    } else if lcores.len() >= 2 {
        (Some(lcores[0]), lcores[1..].to_vec())
    } else if explicit {
        return usage(format!(
            "-l {} leaves no forwarding core: the first lcore runs the main thread, give at least two (e.g. -l 0-1)",
            cpu_list(&lcores)
        ));
    } else {
        // One CPU in all: share it, unpinned main thread.
        (None, lcores.clone())
    };
    if args.nb_cores == 0 {
        return usage("--nb-cores 0: want at least 1 forwarding core");
    }
    // As many forwarding cores as lcores (e.g. -l 0,1 --nb-cores 2 on a
    // two-CPU machine): every lcore forwards and the main thread runs
    // unpinned, sharing a CPU with a forwarding core (it mostly sleeps).
    if args.main_lcore.is_none() && lcores.len() >= 2 && args.nb_cores == lcores.len() {
        return Ok(Plan { main_cpu: None, fwd_cpus: lcores });
    }
    if args.nb_cores > fwd_cpus.len() {
        return usage(format!(
            "--nb-cores {} is more than the {} forwarding lcore(s) in -l {} (the first lcore is the main thread); \
             use --nb-cores {} or give more lcores",
            args.nb_cores,
            fwd_cpus.len(),
            cpu_list(&lcores),
            fwd_cpus.len()
        ));
    }
    Ok(Plan { main_cpu, fwd_cpus: fwd_cpus[..args.nb_cores].to_vec() })
}

pub(crate) fn check_args(args: &Args) -> Result<(), AppError> {
    let mode = args.forward_mode;
    if args.vdev.is_empty() && args.allow.is_empty() {
        return usage(
            "no ports: give --vdev NAME (loopN, pairN, nullN, or af_xdpN,iface=IF for a kernel interface) or -a \
             PCI_ADDRESS",
        );
    }
    if let Some(v) = args.vdev.iter().find(|v| v.trim().is_empty()) {
        return usage(format!("--vdev '{v}': empty port name (want loopN, pairN, nullN or af_xdpN,iface=IF)"));
    }
    // The stream of rx queue i transmits on tx queue i: forwarded frames,
    // and in rxonly mode those of --tx-first.
    let pairs_queues = mode.forwards() || (mode == ForwardMode::RxOnly && args.tx_first > 0);
    if pairs_queues && args.txq < args.rxq {
        let how = if mode == ForwardMode::RxOnly { "with --tx-first" } else { "forwards" };
        return usage(format!(
            "--txq {} is less than --rxq {}: in {} mode rx queue i's stream {how} to tx queue i, so give --txq {}",
            args.txq, args.rxq, mode, args.rxq
        ));
    }
    if sends_generated(args) {
        if let Some(&big) = args.txpkts.segments().iter().find(|&&l| l > args.mbuf_size) {
            return usage(format!(
                "--txpkts {}: a {big} B segment does not fit in --mbuf-size {}: raise --mbuf-size to at least \
                 {big}, or split the frame into segments that fit (--txpkts {})",
                args.txpkts,
                args.mbuf_size,
                split_into(args.txpkts.total(), args.mbuf_size)
            ));
        }
    }
    Ok(())
}

/// Whether streams transmit: every mode but rxonly, and rxonly too when
/// `--tx-first` primes the ports (as dpdk-testpmd's `start tx_first`).
pub(crate) fn transmits(args: &Args) -> bool {
    args.forward_mode.transmits() || args.tx_first > 0
}

/// Whether generated frames are sent: by txonly/flowgen, or by `--tx-first`.
pub(crate) fn sends_generated(args: &Args) -> bool {
    args.forward_mode.generates() || args.tx_first > 0
}

/// `total` bytes as `--txpkts` segments of at most `room` bytes each.
pub(crate) fn split_into(total: usize, room: usize) -> String {
    let room = room.max(1);
    let full = std::iter::repeat_n(room.to_string(), total / room);
    let rest = (!total.is_multiple_of(room)).then(|| (total % room).to_string());
    full.chain(rest).collect::<Vec<_>>().join(",")
}

/// Refuses per-port flags naming a port that does not exist, or given
/// twice for one port where once is the rule.
pub(crate) fn check_port_flags(args: &Args, n: usize) -> Result<(), AppError> {
    let last = n - 1;
    let named = args
        .tx_vlan
        .iter()
        .map(|v| ("--tx-vlan", v.port))
        .chain(args.vlan_filter.iter().map(|v| ("--vlan-filter", v.port)))
        .chain(args.vlan_tpid.iter().map(|v| ("--vlan-tpid", v.port)))
        .chain(args.mc_addr.iter().map(|v| ("--mc-addr", v.port)))
        .chain(args.mac_addr_add.iter().map(|v| ("--mac-addr-add", v.port)));
    for (flag, port) in named {
        if port >= n {
            return usage(format!("{flag} names port {port}, but there are only {n} port(s) (0..={last})"));
        }
    }
    for (i, v) in args.tx_vlan.iter().enumerate() {
        if let Some(w) = args.tx_vlan[..i].iter().find(|w| w.port == v.port) {
            return usage(format!(
                "--tx-vlan {},{} and --tx-vlan {},{}: a port sends one tag; give --tx-vlan once per port",
                w.port, w.id, v.port, v.id
            ));
        }
    }
    if args.tso_segsz.is_some() && args.forward_mode != ForwardMode::Csum {
        return usage(format!(
            "--tso-segsz is for the csum forwarding engine, not {} (add --forward-mode csum)",
            args.forward_mode
        ));
    }
    Ok(())
}

/// Checks the arguments on their own and plans the lcores.
pub(crate) fn plan_run(con: &Console, args: &Args) -> Result<Plan, AppError> {
    check_args(args)?;
    let plan = plan_lcores(args)?;
    let mode = args.forward_mode;
    if !mode.generates() && (args.tx_rate.is_some() || args.tx_count.is_some()) {
        con.warn(&format!("--tx-rate and --tx-count only apply to txonly and flowgen, not {mode}; ignored"));
    }
    Ok(plan)
}

/// How many streams and cores a run has once the ports are known.
pub(crate) struct Layout {
    /// Streams per port: one per rx queue, or per tx queue for generators.
    pub(crate) per_port: usize,
    /// Streams in all.
    pub(crate) nstreams: usize,
    /// Forwarding cores used: no more than there are streams.
    pub(crate) cores: usize,
}

impl Layout {
    pub(crate) fn new(con: &Console, args: &Args, plan: &Plan, n: usize) -> Layout {
        let per_port = if args.forward_mode.generates() { args.txq } else { args.rxq } as usize;
        let nstreams = n * per_port;
        let cores = plan.fwd_cpus.len().min(nstreams);
        if cores < plan.fwd_cpus.len() {
            con.warn(&format!("only {nstreams} stream(s) for {} forwarding cores: using {cores}", plan.fwd_cpus.len()));
        }
        Layout { per_port, nstreams, cores }
    }
}
