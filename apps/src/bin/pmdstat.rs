//! `pmdstat`: per-port and per-queue packet rates of a running ferrite
//! testpmd, over its telemetry socket. See `pmdstat --help` and
//! [`ferrite_apps::pmdstat`].

fn main() -> std::process::ExitCode {
    // The libraries' warnings (no hugepages, refused vectors, ...) on stderr.
    ferrite_pmd::logging::log_to_stderr(log::LevelFilter::Info);
    ferrite_apps::pmdstat::pmdstat_main()
}
