//! `testpmd`: forward packets between ferrite ports, in the manner of
//! dpdk-testpmd. See `testpmd --help`; the program lives in
//! [`ferrite_apps::testpmd_main`] so the integration tests build the very
//! same binary.

fn main() -> std::process::ExitCode {
    // The libraries' warnings (no hugepages, refused vectors, ...) on stderr.
    ferrite_pmd::logging::log_to_stderr(log::LevelFilter::Info);
    ferrite_apps::testpmd_main()
}
