//! `pmdstat`: per-port and per-queue packet rates of a running ferrite
//! testpmd, over its telemetry socket. See `pmdstat --help` and
//! [`ferrite_apps::pmdstat`].

fn main() -> std::process::ExitCode {
    ferrite_apps::pmdstat::pmdstat_main()
}
