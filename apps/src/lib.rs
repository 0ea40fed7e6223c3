//! ferrite's testpmd, as a library so tests can drive the forwarding engines
//! without the command line.
//!
//! * [`fwd`]: streams, forwarding engines (io, mac, macswap, rxonly, txonly,
//!   flowgen, csum, icmpecho, 5tswap) and the per-core polling loop.
//! * [`cli`]: the dpdk-testpmd-like command line.
//! * [`app`]: a whole run: ports, pools, cores, stats, clean stop.
//! * [`interactive`]: `testpmd -i`, dpdk-testpmd's commands at a prompt.
//! * [`report`]: the final report, as text or JSON.
//! * [`devinfo`]: a port's capabilities and offloads (`pmdinfo -k`,
//!   telemetry's `/ethdev/info`).

// The command-line docs are clap's --help text, where `[,Y]` means
// "optional", not a link; rustdoc would read them as broken links.
#![allow(rustdoc::broken_intra_doc_links)]

pub mod app;
pub mod capture;
pub mod cli;
pub mod devinfo;
pub mod ethtool;
mod event;
pub mod fwd;
pub mod interactive;
pub mod pmdstat;
pub mod report;
pub mod signal;
pub mod telemetry;

use std::process::ExitCode;

use clap::Parser;

/// The whole `testpmd` program: parse, run, report, exit code (0 ok,
/// 1 runtime failure, 2 bad input, 3 accounting failure, 4 device failure;
/// see [`app::AppError`]).
pub fn testpmd_main() -> ExitCode {
    // dpdk-testpmd separates EAL and application options with `--`; here
    // they are one set, so a lone `--` is skipped.
    let argv = std::env::args_os().enumerate().filter(|(i, a)| *i == 0 || a != "--").map(|(_, a)| a);
    let args = match cli::Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            // --help / --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("testpmd: {}", cli::one_line(&e));
            return ExitCode::from(2);
        }
    };
    if let Err(e) = signal::install() {
        eprintln!("testpmd: cannot install signal handlers: {e}");
        return ExitCode::from(1);
    }
    if args.interactive {
        return interactive_main(&args);
    }
    match app::run(&args) {
        Ok(report) => {
            if args.json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_text());
            }
            if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                for p in &report.problems {
                    eprintln!("testpmd: accounting problem: {p}");
                }
                ExitCode::from(3)
            }
        }
        Err(e) => {
            eprintln!("testpmd: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// `testpmd -i`: the session, then its exit code (0, 2 when a command
/// failed, 3 for an accounting problem; 1, 2 or 4 when it cannot start).
fn interactive_main(args: &cli::Args) -> ExitCode {
    match interactive::run(args) {
        Ok(outcome) => {
            if outcome.failures > 0 {
                eprintln!("testpmd: {} command(s) failed", outcome.failures);
            }
            ExitCode::from(interactive::exit_code(&outcome))
        }
        Err(e) => {
            eprintln!("testpmd: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
