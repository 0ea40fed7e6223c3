//! `testpmd` itself, one job per file: check the arguments and plan the
//! cores (`plan`), derive each port's configuration (`config`), open
//! and start the ports with their pools (`ports`), build the streams
//! (`streams`), announce them (`announce`), launch the forwarding
//! cores (`cores`), run the main loop (`main_loop`), and stop, drain
//! and report (`shutdown`). The parts are
//! separate so that interactive control can reuse them.

pub(crate) mod announce;
pub(crate) mod config;
pub(crate) mod cores;
pub(crate) mod main_loop;
pub(crate) mod plan;
pub(crate) mod ports;
pub(crate) mod shutdown;
pub(crate) mod streams;

use std::io::Write;

use ferrite_pmd::lcore;
use ferrite_pmd::port::PortError;

use crate::cli::Args;
use crate::report::Report;

#[cfg(test)]
use config::*;
#[cfg(test)]
use main_loop::*;
#[cfg(test)]
use plan::*;
/// Why a run failed, and so the exit code (3, accounting, is not an error
/// here: the run completed and its report says what did not add up).
#[derive(Debug)]
pub enum AppError {
    /// Bad input (exit 2): the command line asks for something impossible.
    Usage(String),
    /// The host failed us (exit 1): no hugepages, thread spawn, ...
    Runtime(String),
    /// A device failed (exit 4): a PCI port could not be opened (missing,
    /// not bound to vfio-pci, busy) or did not behave (a reset that never
    /// completes, an error from the hardware). Retrying the same command
    /// line may work once the device is sorted out, unlike exit 2.
    Device(String),
}

impl AppError {
    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Usage(_) => 2,
            AppError::Runtime(_) => 1,
            AppError::Device(_) => 4,
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Usage(s) | AppError::Runtime(s) | AppError::Device(s) => f.write_str(s),
        }
    }
}

pub(crate) fn usage<T>(s: impl Into<String>) -> Result<T, AppError> {
    Err(AppError::Usage(s.into()))
}

/// A port error as exit 2 (the user asked for something the port refuses),
/// 4 (the device failed or could not be had) or 1 (the host failed).
pub(crate) fn port_err(what: String, e: PortError) -> AppError {
    match e {
        PortError::InvalidConfig(_) | PortError::NotSupported(_) | PortError::InvalidState(_) => {
            AppError::Usage(format!("{what}: {e}"))
        }
        PortError::NoMemory(_) => AppError::Runtime(format!("{what}: {e}")),
        // Device and Timeout, and whatever a driver may report later.
        _ => AppError::Device(format!("{what}: {e}")),
    }
}

/// Where progress goes: stdout, or stderr when stdout carries JSON.
pub(crate) struct Console {
    pub(crate) json: bool,
}

impl Console {
    pub(crate) fn say(&self, s: &str) {
        if self.json {
            let _ = writeln!(std::io::stderr(), "{s}");
        } else {
            let _ = writeln!(std::io::stdout(), "{s}");
        }
    }

    pub(crate) fn warn(&self, s: &str) {
        let _ = writeln!(std::io::stderr(), "testpmd: warning: {s}");
    }
}

/// Runs testpmd with checked arguments; returns the final report.
pub fn run(args: &Args) -> Result<Report, AppError> {
    let con = Console { json: args.json };
    // `set` is declared first so that, on every path out of here, the
    // queues and streams built below drop before the ports, and the ports
    // (stopped by their drop) before the pools they received into.
    let (plan, mut set, layout, mut table) = open_and_start(&con, args)?;
    let mut capture = streams::capture_for(args, &set, layout.per_port)?;
    let streams = streams::build_streams(args, &set, &mut table, &layout, capture.as_mut().map(|c| &mut c.1))?;
    let assignment = crate::fwd::spread((0..streams.len()).collect::<Vec<_>>(), layout.cores);
    announce::announce(&con, args, &set, &layout, &plan, &streams, &assignment);
    pin_main_thread(&con, &plan);
    let running = cores::launch(args, &plan, streams, &assignment, &set.pools)?;
    let duration = main_loop::main_loop(&con, args, &set, &running);
    let stopped = shutdown::stop_cores(&con, args, &plan, &set, running)?;
    shutdown::finish_capture(&con, capture);
    drop(table);
    drop(stopped.queues);
    shutdown::stop_ports(&con, &mut set);
    let report = shutdown::report(args, &set, stopped.streams, stopped.core_sleep, duration);
    drop(set);
    Ok(report)
}

/// What a run and an interactive session both begin with: the plan, the
/// ports opened by name, their configurations checked against the drivers,
/// their pools made, and the ports configured and started (their queues in
/// the table).
pub(crate) fn open_and_start(
    con: &Console,
    args: &Args,
) -> Result<(plan::Plan, ports::PortSet, plan::Layout, streams::QueueTable), AppError> {
    let plan = plan::plan_run(con, args)?;
    let mut set = ports::PortSet::open(args)?;
    let layout = plan::Layout::new(con, args, &plan, set.len());
    set.check_configs(con, args)?;
    set.make_pools(args, &layout)?;
    let table = streams::QueueTable::new(set.start_all(con, args)?);
    Ok((plan, set, layout, table))
}

/// Pins the main thread to its lcore, if the plan gives it one.
pub(crate) fn pin_main_thread(con: &Console, plan: &plan::Plan) {
    if let Some(cpu) = plan.main_cpu {
        if let Err(e) = lcore::pin_to_cpu(cpu) {
            con.warn(&format!("cannot pin the main thread to CPU {cpu}: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    use ferrite_pmd::port::{DeviceCaps, RxOffloads, TxOffloads};

    #[test]
    fn device_failures_have_their_own_exit_code() {
        let code = |e: PortError| port_err("port 0".into(), e).exit_code();
        // A NIC that does not answer (reset never completes) or misbehaves.
        assert_eq!(code(PortError::Timeout("CTRL.RST did not clear".into())), 4);
        assert_eq!(code(PortError::Device("MDIC error".into())), 4);
        // The host, not the device: no hugepages.
        assert_eq!(code(PortError::NoMemory("no hugepages".into())), 1);
        // The user asked for something the port refuses.
        assert_eq!(code(PortError::InvalidConfig("ring size".into())), 2);
        assert_eq!(code(PortError::NotSupported("rss")), 2);
    }

    #[test]
    fn the_main_thread_sleeps_until_its_first_timer_or_an_event() {
        let now = Instant::now();
        let (a, b) = (now + Duration::from_secs(3), now + Duration::from_secs(1));
        assert_eq!(nap(now, [None, None], false), None, "nothing timed: sleep until an event");
        assert_eq!(nap(now, [Some(a), Some(b)], false), Some(Duration::from_secs(1)));
        assert_eq!(nap(now, [Some(now), None], false), Some(Duration::ZERO), "a timer due now");
        assert_eq!(nap(now, [None, None], true), Some(MAIN_POLL), "--tx-count polls");
        assert_eq!(nap(now, [Some(a), None], true), Some(MAIN_POLL));
    }

    fn args(extra: &[&str]) -> Args {
        use clap::Parser;
        Args::try_parse_from(["testpmd", "--vdev", "null0,null1"].iter().chain(extra)).unwrap()
    }

    /// A port like igb before it learnt multi-segment transmit.
    fn caps_without_chains() -> DeviceCaps {
        DeviceCaps {
            max_rx_queues: 8,
            max_tx_queues: 8,
            min_ring_size: 32,
            max_ring_size: 4096,
            ring_size_align: 8,
            ring_size_pow2: false,
            min_mtu: 68,
            max_mtu: 9216,
            rx_offload_capa: RxOffloads::SCATTER | RxOffloads::VLAN_STRIP,
            tx_offload_capa: TxOffloads::VLAN_INSERT,
        }
    }

    #[test]
    fn multi_segment_txpkts_asks_for_multi_segs_or_names_it_missing() {
        let con = Console { json: true };
        let chains = args(&["--forward-mode", "txonly", "--txpkts", "2048,2048,818", "--rx-offloads", "vlan_strip"]);
        let e = port_config(&con, &chains, 1, &caps_without_chains(), "port 1 (x)").unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.exit_code(), 2);
        assert!(msg.contains("port 1 (x)") && msg.contains("multi_segs") && msg.contains("3-segment"), "{msg}");
        let mut capable = caps_without_chains();
        capable.tx_offload_capa |= TxOffloads::MULTI_SEGS;
        let conf = port_config(&con, &chains, 1, &capable, "port 1 (x)").unwrap();
        assert_eq!((conf.rx_offloads, conf.tx_offloads), (RxOffloads::VLAN_STRIP, TxOffloads::MULTI_SEGS));
        // One segment, or no generated frames: nothing asked for.
        for one in [args(&["--forward-mode", "txonly", "--txpkts", "1500"]), args(&["--txpkts", "2048,2048"])] {
            let conf = port_config(&con, &one, 0, &caps_without_chains(), "p").unwrap();
            assert_eq!(conf.tx_offloads, TxOffloads::empty());
        }
    }

    #[test]
    fn a_tso_segment_size_over_the_mtu_is_refused_where_the_nic_segments() {
        let a = args(&["--forward-mode", "csum", "--tso-segsz", "1461"]);
        let e = check_tso_segsz(&a, "port 1 (x)", 1500, TxOffloads::TCP_TSO).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        assert!(msg.contains("port 1 (x): --tso-segsz 1461 makes segments of 1501 B") && msg.contains("1460"), "{msg}");
        // Largest that fits; without tcp_tso nothing is segmented; a jumbo MTU.
        check_tso_segsz(&args(&["--forward-mode", "csum", "--tso-segsz", "1460"]), "p", 1500, TxOffloads::TCP_TSO)
            .unwrap();
        check_tso_segsz(&a, "p", 1500, TxOffloads::empty()).unwrap();
        check_tso_segsz(&a, "p", 9000, TxOffloads::TCP_TSO).unwrap();
    }

    #[test]
    fn vlan_and_tso_flags_ask_for_the_offloads_the_port_has() {
        let con = Console { json: true };
        // This port can insert tags but has no TSO and no VLAN filter.
        let mut caps = caps_without_chains();
        let a = args(&["--forward-mode", "csum", "--tx-vlan", "1,5", "--tso-segsz", "1000"]);
        let c0 = port_config(&con, &a, 0, &caps, "p0").unwrap();
        assert_eq!(c0.tx_offloads, TxOffloads::empty(), "port 0 sends untagged; tcp_tso is not there to ask for");
        let c1 = port_config(&con, &a, 1, &caps, "p1").unwrap();
        assert_eq!(c1.tx_offloads, TxOffloads::VLAN_INSERT, "the NIC inserts port 1's tag");
        let f = args(&["--vlan-filter", "0,7,8"]);
        let e = port_config(&con, &f, 0, &caps, "port 0 (x)").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("port 0 (x): --vlan-filter 0,7,8 needs the vlan_filter rx offload"), "{e}");
        caps.tx_offload_capa |= TxOffloads::TCP_TSO;
        caps.rx_offload_capa |= RxOffloads::VLAN_FILTER;
        let b = args(&["--forward-mode", "csum", "--tso-segsz", "1000", "--vlan-filter", "0,7"]);
        let c = port_config(&con, &b, 0, &caps, "p0").unwrap();
        assert_eq!((c.rx_offloads, c.tx_offloads), (RxOffloads::VLAN_FILTER, TxOffloads::TCP_TSO));
        let other = port_config(&con, &b, 1, &caps, "p1").unwrap();
        assert_eq!(other.rx_offloads, RxOffloads::empty(), "the filter is port 0's only");
    }

    #[test]
    fn an_mtu_beyond_one_mbuf_needs_bigger_mbufs_or_scatter() {
        let a = args(&[]);
        let msg = check_rx_buffers(&a, "port 0 (p)", 9000, RxOffloads::empty()).unwrap_err().to_string();
        assert!(msg.contains("--mbuf-size 9216") && msg.contains("--rx-offloads scatter"), "{msg}");
        assert!(check_rx_buffers(&a, "p", 9000, RxOffloads::SCATTER).is_ok());
        // 2048 B holds MTU 2022's largest frame: 14 + 8 (tags) + 2022 + 4 (CRC).
        assert!(check_rx_buffers(&a, "p", 2022, RxOffloads::empty()).is_ok());
        assert!(check_rx_buffers(&a, "p", 2023, RxOffloads::empty()).is_err());
    }

    #[test]
    fn frames_split_into_segments_that_fit() {
        assert_eq!(split_into(3000, 2048), "2048,952");
        assert_eq!(split_into(4096, 2048), "2048,2048");
        assert_eq!(split_into(100, 2048), "100");
    }
}
