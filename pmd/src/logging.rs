//! Where ferrite's messages go.
//!
//! The library crates (`ferrite-pmd`, `ferrite-vfio`, `ferrite-hugepages`)
//! report what they cannot return as an error — a pool falling back to
//! 4 KiB pages, a device refusing an interrupt vector, a leak on drop —
//! through the [`log`] facade, at `warn` (or `info` for notes). With no
//! logger installed they print nothing: an application picks the logger it
//! already uses (`env_logger`, `syslog`, `tracing`'s bridge, ...).
//!
//! [`log_to_stderr`] is the logger ferrite's own programs install: each
//! message on its own line on standard error, exactly as worded (every
//! message already names who speaks, e.g. `ferrite igb: ...`).
//!
//! ```
//! ferrite_pmd::logging::log_to_stderr(log::LevelFilter::Info);
//! log::warn!("ferrite: warning: shown on stderr");
//! log::debug!("below the level: not shown");
//! ```

use std::io::Write;

/// Prints each record's message, and nothing else, on standard error.
///
/// Hand-written rather than `env_logger`: that crate's lines start with a
/// timestamp, level and target, which would change the lines ferrite's
/// users and tests have always read; this is all the formatting needed.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            // One write under the lock so lines from several threads do not
            // interleave; a closed stderr is no reason to fail the caller.
            let _ = writeln!(std::io::stderr().lock(), "{}", record.args());
        }
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Installs a logger that prints messages up to `default` (or the level
/// `RUST_LOG` names: `off`, `error`, `warn`, `info`, `debug`, `trace`) on
/// standard error. Does nothing if a logger is already installed.
pub fn log_to_stderr(default: log::LevelFilter) {
    if log::set_logger(&StderrLogger).is_ok() {
        log::set_max_level(level_from_env(std::env::var("RUST_LOG").ok().as_deref(), default));
    }
}

/// The level `RUST_LOG` names, or `default` when it is unset or not a plain
/// level name (module filters are `env_logger`'s, not understood here).
fn level_from_env(var: Option<&str>, default: log::LevelFilter) -> log::LevelFilter {
    var.and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        static CAPTURED: RefCell<Vec<(log::Level, String)>> = const { RefCell::new(Vec::new()) };
    }

    /// Keeps the records logged on the calling thread (tests run on many
    /// threads: each sees only its own).
    struct CaptureLogger;

    impl log::Log for CaptureLogger {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, record: &log::Record) {
            CAPTURED.with(|c| c.borrow_mut().push((record.level(), record.args().to_string())));
        }
        fn flush(&self) {}
    }

    /// Runs `f` and returns what it logged on this thread.
    pub(crate) fn capture(f: impl FnOnce()) -> Vec<(log::Level, String)> {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        INSTALL.call_once(|| {
            log::set_logger(&CaptureLogger).expect("no other logger in pmd's unit tests");
            log::set_max_level(log::LevelFilter::Trace);
        });
        CAPTURED.with(|c| c.borrow_mut().clear());
        f();
        CAPTURED.with(|c| c.borrow_mut().drain(..).collect())
    }

    #[test]
    fn rust_log_names_a_level_or_keeps_the_default() {
        use log::LevelFilter::*;
        assert_eq!(level_from_env(None, Info), Info);
        assert_eq!(level_from_env(Some("debug"), Info), Debug);
        assert_eq!(level_from_env(Some("OFF"), Warn), Off);
        assert_eq!(level_from_env(Some("ferrite_pmd=trace"), Warn), Warn);
    }

    #[test]
    fn a_pool_leaked_on_drop_is_logged_as_a_warning() {
        let logged = capture(|| {
            let pool = crate::mem::mempool::tests::pool(8);
            // Never returned: the pool's drop must leak it and say so.
            std::mem::forget(pool.alloc().unwrap());
            drop(pool);
        });
        let leak = logged.iter().find(|(_, m)| m.contains("dropped with 1 buffers still in use; leaking it"));
        assert!(matches!(leak, Some((log::Level::Warn, _))), "logged: {logged:?}");
    }
}
