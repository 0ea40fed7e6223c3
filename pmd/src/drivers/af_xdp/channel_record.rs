//! A note, kept in `/run`, of the channel counts an interface had before
//! ferrite raised them, so that a run killed before it could put them back
//! (SIGKILL, a crash) does not leave them raised for good: the next run on
//! the interface finds the note of a process that is gone, takes its
//! counts as the ones to restore, and puts them back when it stops.
//!
//! One file per interface, `/run/ferrite/af_xdp/IFINDEX-NAME`, holding
//! `rx tx combined pid`. The index in the name keeps a note from matching
//! an interface deleted and made again under the same name; `/run` is
//! emptied at boot, when the channels go back to the driver's defaults too.
//! A note whose process still runs belongs to it and is left alone.

use std::fs;
use std::path::PathBuf;

use super::iface::Iface;
use super::sys::ethtool_channels;

/// Where the notes live.
const DIR: &str = "/run/ferrite/af_xdp";

fn path(iface: &Iface) -> PathBuf {
    PathBuf::from(format!("{DIR}/{}-{}", iface.index(), iface.name()))
}

/// Whether process `pid` exists (a zombie counts: it has not been reaped).
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 sends nothing; it only checks that `pid` exists.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// The counts in `text` (`rx tx combined pid`), with the pid.
fn parse(text: &str) -> Option<(ethtool_channels, i32)> {
    let f: Vec<i64> = text.split_whitespace().map(str::parse).collect::<Result<_, _>>().ok()?;
    let [rx, tx, combined, pid] = f[..] else { return None };
    let count = |v: i64| u32::try_from(v).ok();
    let c = ethtool_channels {
        rx_count: count(rx)?,
        tx_count: count(tx)?,
        combined_count: count(combined)?,
        ..Default::default()
    };
    Some((c, i32::try_from(pid).ok()?))
}

/// The counts a run that is gone found on `iface` before it raised them,
/// when such a run left a note; the note becomes this process's, which now
/// owes putting them back (and is noted for it, should it be killed too).
pub fn take_over(iface: &Iface) -> Option<ethtool_channels> {
    let (counts, pid) = parse(&fs::read_to_string(path(iface)).ok()?)?;
    if alive(pid) {
        return None;
    }
    write(iface, &counts);
    Some(counts)
}

/// Notes `found` as `iface`'s counts before this process raised them.
/// Best effort: without the note only a killed run's channels stay raised.
pub fn write(iface: &Iface, found: &ethtool_channels) {
    let text = format!("{} {} {} {}\n", found.rx_count, found.tx_count, found.combined_count, std::process::id());
    if fs::create_dir_all(DIR).and_then(|()| fs::write(path(iface), text)).is_err() {
        log_unwritable(iface);
    }
}

fn log_unwritable(iface: &Iface) {
    log::warn!(
        "ferrite: warning: cannot note {}'s channel counts in {DIR}: if this run is killed, put them back with ethtool -L",
        iface.name()
    );
}

/// Removes this process's note on `iface` (its channels are back).
pub fn remove(iface: &Iface) {
    let p = path(iface);
    if fs::read_to_string(&p).ok().and_then(|t| parse(&t)).is_some_and(|(_, pid)| pid == std::process::id() as i32) {
        let _ = fs::remove_file(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_reads_back_and_a_malformed_one_is_ignored() {
        let (c, pid) = parse("2 3 0 4242\n").unwrap();
        assert_eq!((c.rx_count, c.tx_count, c.combined_count, pid), (2, 3, 0, 4242));
        assert!(parse("2 3 0").is_none());
        assert!(parse("2 3 x 7").is_none());
        assert!(parse("-1 3 0 7").is_none());
        assert!(parse("").is_none());
    }

    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_not() {
        assert!(alive(std::process::id() as i32));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        assert!(!alive(pid));
        assert!(!alive(0));
    }
}
