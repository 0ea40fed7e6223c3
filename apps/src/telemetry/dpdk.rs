//! DPDK's telemetry protocol (v2), so that `dpdk-telemetry.py` and other
//! DPDK tools read a running ferrite testpmd as they read a DPDK app.
//!
//! * Where: `RUNDIR/dpdk/PREFIX/dpdk_telemetry.v2`, where DPDK's EAL and
//!   `dpdk-telemetry.py` look for the app started with `--file-prefix
//!   PREFIX`: RUNDIR is `$RUNTIME_DIRECTORY` if set, else `/var/run` for
//!   root and `$XDG_RUNTIME_DIR` (or `/tmp`) for anyone else. testpmd
//!   serves it only when given `--file-prefix`: DPDK apps default to the
//!   prefix `rte`, and ferrite must not take that socket from one.
//! * Wire: a `SOCK_SEQPACKET` Unix socket, one message per request and
//!   per reply. On connect the server sends `{"version", "pid",
//!   "max_output_len"}`; a request is `CMD` or `CMD,PARAM`; the reply is
//!   `{"CMD": BODY}`, with `null` as the body for an unknown command or an
//!   unusable parameter (as DPDK 22.11 answers).
//! * Commands: `/`, `/info`, `/help[,CMD]`, `/ethdev/list`, and with a
//!   port id `/ethdev/stats`, `/ethdev/xstats`, `/ethdev/link_status`,
//!   `/ethdev/info`, laid out as DPDK 22.11 lays them out.
//!
//! Requests are answered by the thread that owns the ports, as ferrite's
//! own protocol is (see the parent module): only the socket differs.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use ferrite_pmd::port::stat_names;
use ferrite_pmd::NetDevice;
use serde_json::{json, Map, Value};

/// The socket's file name (DPDK's telemetry v2).
pub const SOCKET_NAME: &str = "dpdk_telemetry.v2";
/// Longest reply, announced on connect: `dpdk-telemetry.py` receives with
/// a buffer this long, so a longer message would reach it cut. (DPDK's own
/// is 16 KiB; an igb port's xstats with 8 queues is about 6 KiB.)
pub const MAX_OUTPUT_LEN: usize = 64 * 1024;
/// Longest request DPDK reads; a longer message is cut to it, and the
/// command is then unknown.
pub const MAX_REQUEST: usize = 1024;
/// Per-queue entries in `/ethdev/stats` (DPDK's RTE_ETHDEV_QUEUE_STAT_CNTRS
/// as Debian builds it): queues beyond are in `/ethdev/xstats`.
pub const QUEUE_STAT_CNTRS: usize = 16;

/// Every command, with the help DPDK gives for it.
const COMMANDS: [(&str, &str); 8] = [
    ("/", "Returns list of available commands, Takes no parameters"),
    ("/ethdev/info", "Returns the device info for a port. Parameters: int port_id"),
    ("/ethdev/link_status", "Returns the link status for a port. Parameters: int port_id"),
    ("/ethdev/list", "Returns list of available ethdev ports. Takes no parameters"),
    ("/ethdev/stats", "Returns the common stats for a port. Parameters: int port_id"),
    ("/ethdev/xstats", "Returns the extended stats for a port. Parameters: int port_id"),
    ("/help", "Returns help text for a command. Parameters: string command"),
    ("/info", "Returns DPDK Telemetry information. Takes no parameters"),
];

/// The directory DPDK tools look in for file prefix `prefix`.
pub fn runtime_dir(prefix: &str) -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let base = env("RUNTIME_DIRECTORY").unwrap_or_else(|| {
        if super::euid() == 0 {
            PathBuf::from("/var/run")
        } else {
            env("XDG_RUNTIME_DIR").unwrap_or_else(|| PathBuf::from("/tmp"))
        }
    });
    base.join("dpdk").join(prefix)
}

/// Checks a `--file-prefix`: one path component DPDK would also accept.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    let ok = !prefix.is_empty()
        && prefix != "."
        && prefix != ".."
        && prefix.len() <= 64
        && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!("--file-prefix '{prefix}': want 1 to 64 letters, digits, '-', '_' or '.' (one directory name)"))
    }
}

/// The greeting: what DPDK's `/info` says, sent on connect.
pub fn info() -> Value {
    json!({
        "version": concat!("ferrite ", env!("CARGO_PKG_VERSION")),
        "pid": std::process::id(),
        "max_output_len": MAX_OUTPUT_LEN,
    })
}

/// Binds the listening socket at `path`, refusing one a live process
/// still answers on (another app with the same file prefix); a stale
/// socket file of a process that died is replaced.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Ok(fd) = seqpacket() {
        if connect(&fd, path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("{} is in use by a running app: choose another --file-prefix", path.display()),
            ));
        }
    }
    let _ = std::fs::remove_file(path);
    let fd = seqpacket()?;
    let addr = sockaddr(path)?;
    // SAFETY: `fd` is a socket we own; `addr` is a valid sockaddr_un whose
    // size is passed with it.
    let r = unsafe {
        libc::bind(fd.as_raw_fd(), &addr as *const _ as *const libc::sockaddr, size_of_val(&addr) as libc::socklen_t)
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: listen on a bound socket we own.
    if unsafe { libc::listen(fd.as_raw_fd(), 16) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // std's listener only calls accept4 on the descriptor, which works the
    // same on a SOCK_SEQPACKET socket; each accepted stream then carries
    // one message per read and per write.
    Ok(UnixListener::from(fd))
}

/// A new `AF_UNIX` `SOCK_SEQPACKET` socket.
pub(super) fn seqpacket() -> std::io::Result<OwnedFd> {
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(super) fn connect(fd: &OwnedFd, path: &Path) -> std::io::Result<()> {
    let addr = sockaddr(path)?;
    // SAFETY: as in `bind`.
    let r = unsafe {
        libc::connect(fd.as_raw_fd(), &addr as *const _ as *const libc::sockaddr, size_of_val(&addr) as libc::socklen_t)
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn sockaddr(path: &Path) -> std::io::Result<libc::sockaddr_un> {
    // SAFETY: sockaddr_un is plain data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    // One byte stays zero: the path is NUL-terminated.
    if bytes.len() >= addr.sun_path.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("socket path {} is longer than {} bytes", path.display(), addr.sun_path.len() - 1),
        ));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    Ok(addr)
}

/// Sends one reply message, replacing one longer than [`MAX_OUTPUT_LEN`]
/// (which the client would receive cut) by `{"CMD": null}`.
pub fn send(stream: &mut UnixStream, cmd: &str, reply: &str) -> std::io::Result<()> {
    use std::io::Write;
    let text = if reply.len() > MAX_OUTPUT_LEN { reply_of(cmd, Value::Null) } else { reply.to_string() };
    stream.write(text.as_bytes()).map(|_| ())
}

/// The command word of a request (what its reply is keyed by).
pub fn command(line: &str) -> &str {
    line.split_once(',').map_or(line, |(c, _)| c)
}

fn reply_of(cmd: &str, body: Value) -> String {
    let mut m = Map::new();
    m.insert(cmd.to_string(), body);
    Value::Object(m).to_string()
}

/// The reply to one request, as DPDK 22.11 gives it.
pub fn answer(line: &str, ports: &[Box<dyn NetDevice>]) -> String {
    let (cmd, param) = match line.split_once(',') {
        Some((c, p)) => (c, Some(p)),
        None => (line, None),
    };
    // DPDK parses the id with strtoul and checks the port exists.
    let port = || param.and_then(|p| p.trim().parse::<usize>().ok()).and_then(|id| ports.get(id).map(|p| (id, &**p)));
    let body = match cmd {
        "/" => json!(COMMANDS.map(|(c, _)| c)),
        "/info" => info(),
        "/help" => help(param),
        "/ethdev/list" => json!((0..ports.len()).collect::<Vec<_>>()),
        "/ethdev/stats" => port().map_or(Value::Null, |(_, p)| stats(p)),
        "/ethdev/xstats" => port().map_or(Value::Null, |(_, p)| xstats(p)),
        "/ethdev/link_status" => port().map_or(Value::Null, |(_, p)| link_status(p)),
        "/ethdev/info" => port().map_or(Value::Null, |(id, p)| dev_info(id, p)),
        _ => Value::Null,
    };
    reply_of(cmd, body)
}

fn help(param: Option<&str>) -> Value {
    let own = COMMANDS.iter().find(|(c, _)| *c == "/help").map(|(_, h)| *h).unwrap_or_default();
    match param {
        None => json!(own),
        Some(p) => match COMMANDS.iter().find(|(c, _)| *c == p) {
            Some((c, h)) => json!({ *c: h }),
            None => Value::Null,
        },
    }
}

/// `rte_eth_stats` under DPDK's names, from ferrite's counters:
/// * `imissed`: frames the port got but no queue delivered (the device's
///   missed count plus the queues' drops: ring full, link down);
/// * `oerrors`: frames a queue took but did not send (errors and drops);
/// * `rx_nombuf`: receive buffer allocation failures, from the named
///   statistics (`rx_alloc_failed`, else the per-queue
///   `rx_queue_N_alloc_failed`; 0 where a driver has neither);
/// * `q_*`: the first [`QUEUE_STAT_CNTRS`] queues, zero beyond the port's.
fn stats(p: &dyn NetDevice) -> Value {
    let s = p.stats64();
    let (rx, tx) = (s.rx_total(), s.tx_total());
    let per_queue = |qs: &[ferrite_pmd::port::QueueStats], f: fn(&ferrite_pmd::port::QueueStats) -> u64| {
        (0..QUEUE_STAT_CNTRS).map(|q| qs.get(q).map_or(0, f)).collect::<Vec<u64>>()
    };
    json!({
        "ipackets": rx.packets, "opackets": tx.packets, "ibytes": rx.bytes, "obytes": tx.bytes,
        "imissed": s.rx_missed + rx.drops, "ierrors": rx.errors, "oerrors": tx.errors + tx.drops,
        "rx_nombuf": stat_names::rx_alloc_failed_total(&p.named_stats()),
        "q_ipackets": per_queue(&s.rx_queues, |q| q.packets),
        "q_opackets": per_queue(&s.tx_queues, |q| q.packets),
        "q_ibytes": per_queue(&s.rx_queues, |q| q.bytes),
        "q_obytes": per_queue(&s.tx_queues, |q| q.bytes),
        "q_errors": per_queue(&s.rx_queues, |q| q.errors),
    })
}

/// The port's named statistics (ferrite's, the `ethtool -S` rows).
fn xstats(p: &dyn NetDevice) -> Value {
    Value::Object(p.named_stats().into_iter().map(|(k, v)| (k, Value::from(v))).collect())
}

fn link_status(p: &dyn NetDevice) -> Value {
    let l = p.link_status();
    if l.up {
        json!({ "status": "UP", "speed": l.speed_mbps, "duplex": l.duplex.to_string() })
    } else {
        json!({ "status": "DOWN" })
    }
}

/// The cheap part of DPDK's `/ethdev/info`: what ferrite knows under the
/// same names (flags as DPDK's 0/1 numbers).
fn dev_info(id: usize, p: &dyn NetDevice) -> Value {
    let (ch, mode, running) = (p.channels(), p.rx_mode(), p.is_running());
    json!({
        "name": p.name(), "state": 1, "nb_rx_queues": ch.rx, "nb_tx_queues": ch.tx, "port_id": id,
        "mtu": p.mtu(), "mac_addr": p.mac_address().to_string().to_uppercase(),
        "promiscuous": u8::from(mode.promiscuous), "all_multicast": u8::from(mode.all_multicast),
        "dev_started": u8::from(running), "dev_configured": 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_one_directory_name() {
        for ok in ["rte", "h32-test_1.a"] {
            assert!(check_prefix(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", &"x".repeat(65)] {
            assert!(check_prefix(bad).unwrap_err().contains("--file-prefix"), "{bad:?}");
        }
    }

    #[test]
    fn unknown_commands_and_bad_ports_answer_null_as_dpdk() {
        let ports = ferrite_pmd::drivers::virt::create_ports(&["null0"]).unwrap();
        for (req, key) in [("/nope", "/nope"), ("/ethdev/stats", "/ethdev/stats"), ("/ethdev/stats,1", "/ethdev/stats")]
        {
            assert_eq!(answer(req, &ports), format!(r#"{{"{key}":null}}"#));
        }
        assert_eq!(answer("/ethdev/stats,x", &ports), r#"{"/ethdev/stats":null}"#);
        assert_eq!(answer("/ethdev/list", &ports), r#"{"/ethdev/list":[0]}"#);
        assert_eq!(answer("/help,/nope", &ports), r#"{"/help":null}"#);
        let h: Value = serde_json::from_str(&answer("/help,/ethdev/stats", &ports)).unwrap();
        assert!(h["/help"]["/ethdev/stats"].as_str().unwrap().contains("int port_id"));
        let st: Value = serde_json::from_str(&answer("/ethdev/stats,0", &ports)).unwrap();
        assert_eq!(st["/ethdev/stats"]["q_ipackets"].as_array().unwrap().len(), QUEUE_STAT_CNTRS);
    }
}
