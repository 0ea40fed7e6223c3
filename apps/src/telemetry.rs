//! Telemetry: a running testpmd answers JSON requests on a Unix-domain
//! socket, in the manner of DPDK's telemetry (`dpdk-telemetry.py`); with
//! `--file-prefix` also on a second socket in DPDK's own protocol, for
//! DPDK's tools ([`dpdk`]).
//!
//! * One socket per process: `DIR/testpmd.PID.sock` (DIR from
//!   [`default_dir`] unless `--telemetry-dir` names one), the socket 0600:
//!   only the owner may read the counters. A missing directory is created
//!   0700; an existing one is never changed, only checked (see
//!   [`Telemetry::start`]). Sockets of processes that died are removed when
//!   the next one starts; [`list_sockets`] finds the live ones.
//! * Limits: a request line is at most [`MAX_REQUEST_LINE`] bytes and at
//!   most [`MAX_CLIENTS`] clients are served at once, so a local client can
//!   neither grow testpmd's heap nor its thread count without end.
//! * Protocol: on connect the server sends one greeting line
//!   (`{"version":…,"pid":…,"app":"testpmd"}`); then each request line
//!   (`/ports`, `/port/stats,0`) gets one reply line, a JSON object keyed by
//!   the command, as DPDK's (`{"/port/stats":{…}}`). Unknown commands get
//!   `{"error":"…"}`.
//!
//! Commands: `/` (the list), `/info`, `/ports`, `/port/info,N`,
//! `/ethdev/info,N` (capabilities as DPDK's `dev_info`: limits, offload
//! capabilities and configuration, the `ethtool -k` features, address and
//! VLAN filters),
//! `/port/stats,N` (with the per-queue breakdown), `/port/xstats,N` (the
//! `ethtool -S` rows), `/port/link,N`, `/port/rss,N`, `/streams`.
//!
//! Threads: a listener thread accepts connections and one small thread per
//! client reads its requests. Port state is read by the main thread, which
//! owns the ports: requests reach it over a channel, and an eventfd rung
//! with each ([`Telemetry::wake_fd`]) wakes it from its `epoll` sleep to
//! answer ([`Telemetry::serve`]). Every thread sleeps in `poll` until a
//! connection, a request or the stop eventfd (rung by `drop`) arrives, so
//! an idle server costs nothing and stops at once. The forwarding cores are
//! never involved: every counter is a single-writer atomic read without a
//! lock, so reading stats does not slow the datapath.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrite_pmd::NetDevice;
use ferrite_vfio::EventFd;

use crate::event;
use crate::fwd::{StreamCounters, StreamId};
use serde_json::{json, Map, Value};

/// Where root's sockets go unless `--telemetry-dir` says otherwise.
pub const DEFAULT_DIR: &str = "/run/ferrite";

/// The default socket directory, as DPDK picks its runtime directory:
/// `/run/ferrite` for root; else `$XDG_RUNTIME_DIR/ferrite` when that
/// directory really is the user's own private one; else `/tmp/ferrite-UID`.
/// testpmd binds there and pmdstat looks there, both through this function.
pub fn default_dir() -> PathBuf {
    default_dir_for(euid(), std::env::var_os("XDG_RUNTIME_DIR").as_deref())
}

fn default_dir_for(uid: u32, xdg: Option<&OsStr>) -> PathBuf {
    if uid == 0 {
        return PathBuf::from(DEFAULT_DIR);
    }
    // The XDG spec promises an absolute path to a directory owned by the
    // user with mode 0700, but the variable is only a hint that may be
    // stale (inherited through su or sudo -E): check the promise.
    if let Some(x) = xdg.map(Path::new) {
        let private = std::fs::symlink_metadata(x).is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o077 == 0);
        if x.is_absolute() && private {
            return x.join("ferrite");
        }
    }
    tmp_fallback(uid)
}

/// A non-root user's last resort: a predictable name in a directory
/// everyone may write to, so another user can create it first. It is held
/// to [`Trust::Private`].
fn tmp_fallback(uid: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/ferrite-{uid}"))
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// How much an existing socket directory must be ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trust {
    /// `/tmp/ferrite-UID`: it must look exactly as testpmd creates it, the
    /// user's own with no access for anyone else. Whoever made it before us
    /// could otherwise swap the socket.
    Private,
    /// Any other directory (root's `/run/ferrite`, `$XDG_RUNTIME_DIR/ferrite`
    /// inside a directory checked to be private, one the user named): owned
    /// by the user or by root (who can do anything anyway), and writable by
    /// nobody else unless the sticky bit stops them from removing or
    /// renaming our socket (as in `/tmp`).
    Named,
}

impl Trust {
    fn of(dir: &Path) -> Trust {
        let me = euid();
        if me != 0 && dir == tmp_fallback(me) {
            Trust::Private
        } else {
            Trust::Named
        }
    }
}

fn refuse(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::PermissionDenied, msg)
}

/// Checks that the existing `dir` is safe to bind a socket in (or, for
/// pmdstat, to trust the sockets found there), without changing it.
pub fn check_dir(dir: &Path) -> std::io::Result<()> {
    check_dir_as(dir, Trust::of(dir))
}

fn check_dir_as(dir: &Path, trust: Trust) -> std::io::Result<()> {
    let d = dir.display();
    // lstat: a symbolic link could be re-pointed after the check.
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Err(refuse(format!(
            "{d} is a symbolic link, which could be re-pointed elsewhere: name the directory itself"
        )));
    }
    if !meta.is_dir() {
        return Err(refuse(format!("{d} is not a directory")));
    }
    let (owner, mode, me) = (meta.uid(), meta.mode() & 0o7777, euid());
    match trust {
        Trust::Private => {
            if owner != me {
                return Err(refuse(format!(
                    "{d} belongs to uid {owner}, not to you (uid {me}): someone else created it, and could \
                     replace the socket; remove it, or give --telemetry-dir a directory of yours"
                )));
            }
            if mode & 0o077 != 0 {
                return Err(refuse(format!(
                    "{d} has mode {mode:04o}, but testpmd's own directory must be private: \
                     `chmod 0700 {d}` (or remove it and testpmd creates it 0700)"
                )));
            }
        }
        Trust::Named => {
            if owner != me && owner != 0 {
                return Err(refuse(format!(
                    "{d} belongs to uid {owner}, neither you (uid {me}) nor root, and its owner could \
                     replace the socket; use a directory of yours (testpmd creates a missing one with mode 0700)"
                )));
            }
            if mode & 0o022 != 0 && mode & 0o1000 == 0 {
                let who = if mode & 0o002 != 0 { "everyone" } else { "its group" };
                return Err(refuse(format!(
                    "{d} is writable by {who} (mode {mode:04o}) without the sticky bit, so they could \
                     replace the socket; use a directory only you can write to (testpmd creates a missing \
                     one with mode 0700)"
                )));
            }
        }
    }
    Ok(())
}

/// Creates `dir` (and missing parents) with mode 0700 if it does not exist,
/// then checks it. An existing directory is never changed: `--telemetry-dir
/// /tmp` as root must not take `/tmp` away from everyone else.
fn prepare_dir(dir: &Path, trust: Trust) -> std::io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // `recursive` also succeeds if someone else creates it between
            // the lstat and here; the check below then judges theirs.
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    check_dir_as(dir, trust)
}
/// Version of the protocol, in the greeting.
pub const VERSION: &str = "ferrite-telemetry/1";
/// Every command the server knows, for `/`.
pub const COMMANDS: [&str; 11] = [
    "/",
    "/info",
    "/ports",
    "/port/info",
    "/ethdev/info",
    "/port/stats",
    "/port/xstats",
    "/port/link",
    "/port/rss",
    "/streams",
    "/help",
];

/// Longest request line, newline included. Commands are a few dozen bytes;
/// the cap keeps one client from growing testpmd's heap without end.
pub const MAX_REQUEST_LINE: usize = 4096;
/// Clients served at once; more are refused with an error line.
pub const MAX_CLIENTS: usize = 16;
/// How long a client may stall in the middle of a request line, or leave a
/// reply unread, before it is dropped and its slot freed.
const CLIENT_STALL: Duration = Duration::from_secs(10);
/// Longest reply [`Client`] reads: far above any real one (a port with
/// 1024 queue pairs answers `/port/xstats` in well under 1 MiB), and a
/// bound against a server that never ends its line.
const MAX_REPLY_LINE: usize = 16 << 20;

pub mod dpdk;

/// Which protocol a request came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dialect {
    /// ferrite's own (this module's doc).
    Ferrite,
    /// DPDK's telemetry v2 ([`dpdk`]).
    Dpdk,
}

/// A request waiting for the main thread.
struct Request {
    line: String,
    dialect: Dialect,
    reply: SyncSender<String>,
}

/// The running server. Dropping it stops the threads and removes the socket.
pub struct Telemetry {
    path: PathBuf,
    shared: Shared,
    listener: Option<JoinHandle<()>>,
    requests: Receiver<Request>,
    started: Instant,
    /// The DPDK-protocol socket, when [`serve_dpdk`](Telemetry::serve_dpdk)
    /// started one.
    dpdk: Option<DpdkSocket>,
}

/// The DPDK-protocol socket and its listener thread.
struct DpdkSocket {
    path: PathBuf,
    /// The `dpdk/PREFIX` directory if testpmd created it (removed again
    /// when empty).
    created_dir: Option<PathBuf>,
    listener: Option<JoinHandle<()>>,
}

/// What the server's threads share.
#[derive(Clone)]
struct Shared {
    /// Requests for the main thread.
    requests: Sender<Request>,
    /// Rung after each request is sent, to wake the main thread.
    bell: Arc<EventFd>,
    /// Set, then `stop_bell` rung, when the server stops.
    stop: Arc<AtomicBool>,
    /// Never reset: once rung, every thread's `poll` returns at once.
    stop_bell: Arc<EventFd>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Relaxed)
    }

    /// Sleeps until `fd` is readable or the server stops; whether `fd` is.
    fn wait_readable(&self, fd: &impl AsRawFd) -> bool {
        event::wait_readable(fd.as_raw_fd(), self.stop_bell.as_raw_fd(), None)
    }

    /// Has the main thread answer `line`; `None` if it does not (stopping).
    fn ask(&self, line: String, dialect: Dialect) -> Option<String> {
        let (rtx, rrx) = mpsc::sync_channel(1);
        self.requests.send(Request { line, dialect, reply: rtx }).ok()?;
        let _ = self.bell.write(1);
        rrx.recv_timeout(Duration::from_secs(5)).ok()
    }
}

/// What the main thread shares with answers besides the ports.
pub struct Context<'a> {
    /// Forwarding mode name.
    pub mode: &'a str,
    /// Forwarding cores.
    pub cores: usize,
    /// Stream ids and their counters.
    pub streams: &'a [(StreamId, Arc<StreamCounters>)],
}

/// The socket path of process `pid` in `dir`.
pub fn socket_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("testpmd.{pid}.sock"))
}

/// The pid in a socket name `testpmd.PID.sock`.
fn pid_of(name: &str) -> Option<u32> {
    name.strip_prefix("testpmd.")?.strip_suffix(".sock")?.parse().ok()
}

fn alive(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 || *libc::__errno_location() == libc::EPERM }
}

/// Live sockets in `dir`, `(pid, path)` by pid; stale ones (their process
/// is gone) are left out, and removed when `clean` is set if they are ours:
/// in a shared directory such as `/tmp`, a root testpmd must not delete
/// other users' files.
pub fn list_sockets(dir: &Path, clean: bool) -> Vec<(u32, PathBuf)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = pid_of(&name) else { continue };
        // Not followed: a symbolic link or a plain file is no server.
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else { continue };
        if !meta.file_type().is_socket() {
            continue;
        }
        if alive(pid) {
            out.push((pid, e.path()));
        } else if clean && meta.uid() == euid() {
            let _ = std::fs::remove_file(e.path());
        }
    }
    out.sort();
    out
}

impl Telemetry {
    /// Creates `dir` (0700) if needed, binds `testpmd.PID.sock` (0600) and
    /// starts listening.
    ///
    /// An existing `dir` is left as it is, and refused (with a message that
    /// says why and what to do) unless it is safe: the default directory
    /// ([`default_dir`]) must be the user's own with mode 0700; a directory
    /// given by the user must belong to the user or root and be writable by
    /// no one else, unless it has the sticky bit (as `/tmp`).
    pub fn start(dir: &Path) -> std::io::Result<Telemetry> {
        prepare_dir(dir, Trust::of(dir))?;
        list_sockets(dir, true);
        let path = socket_path(dir, std::process::id());
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        // Non-blocking: a connection `poll` announced may be gone (reset)
        // by the time `accept` runs, and the thread must not block there.
        listener.set_nonblocking(true)?;
        let (tx, rx) = mpsc::channel();
        let shared = Shared {
            requests: tx,
            bell: Arc::new(EventFd::new()?),
            stop: Arc::new(AtomicBool::new(false)),
            stop_bell: Arc::new(EventFd::new()?),
        };
        let for_thread = shared.clone();
        let handle = std::thread::Builder::new()
            .name("telemetry".into())
            .spawn(move || listen(listener, for_thread, client, turn_away))?;
        Ok(Telemetry { path, shared, listener: Some(handle), requests: rx, started: Instant::now(), dpdk: None })
    }

    /// Also answers DPDK's telemetry protocol, on the socket DPDK tools
    /// look for with file prefix `prefix` (see [`dpdk`]); returns its path.
    /// A missing `dpdk/PREFIX` directory is created 0700, as DPDK's EAL
    /// does; a socket a live app still answers on is refused.
    pub fn serve_dpdk(&mut self, prefix: &str) -> std::io::Result<PathBuf> {
        dpdk::check_prefix(prefix).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let dir = dpdk::runtime_dir(prefix);
        let created_dir = match std::fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(dir.clone()),
            _ => None,
        };
        prepare_dir(&dir, Trust::Named)?;
        let path = dir.join(dpdk::SOCKET_NAME);
        let listener = dpdk::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        let for_thread = self.shared.clone();
        let handle = std::thread::Builder::new()
            .name("telemetry-dpdk".into())
            .spawn(move || listen(listener, for_thread, dpdk_client, turn_away_dpdk))?;
        self.dpdk = Some(DpdkSocket { path: path.clone(), created_dir, listener: Some(handle) });
        Ok(path)
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Readable while a request may be waiting: sleep on it (`epoll`), then
    /// call [`serve`](Self::serve), which resets it.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&*self.shared.bell)
    }

    /// Answers every request waiting (call from the thread owning the ports;
    /// never blocks).
    pub fn serve(&self, ports: &[Box<dyn NetDevice>], ctx: &Context<'_>) {
        // Reset the bell before emptying the channel: a request sent after
        // the reset rings it again, one sent before is answered now.
        let _ = self.shared.bell.read();
        while let Ok(req) = self.requests.try_recv() {
            let reply = match req.dialect {
                Dialect::Ferrite => answer(&req.line, ports, ctx, self.started),
                Dialect::Dpdk => dpdk::answer(&req.line, ports),
            };
            let _ = req.reply.try_send(reply);
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shared.stop.store(true, Relaxed);
        // Wakes the listener (joined here, at once) and every client thread.
        let _ = self.shared.stop_bell.write(1);
        if let Some(h) = self.listener.take() {
            let _ = h.join();
        }
        let _ = std::fs::remove_file(&self.path);
        if let Some(d) = &mut self.dpdk {
            if let Some(h) = d.listener.take() {
                let _ = h.join();
            }
            let _ = std::fs::remove_file(&d.path);
            if let Some(dir) = &d.created_dir {
                // Only if empty: a DPDK app may have put files there since.
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

/// One client thread's claim on [`MAX_CLIENTS`]; dropping it (the thread
/// ends, however it ends, or was never spawned) gives the slot back.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// Tells a client there is no room for it, without ever blocking the
/// listener, and closes the connection.
fn turn_away(stream: UnixStream) {
    let _ = stream.set_nonblocking(true);
    let msg = format!("too many telemetry clients ({MAX_CLIENTS} connected): close one and try again");
    let _ = writeln!(&stream, "{}", error(&msg));
}

/// Turns a DPDK client away as DPDK's telemetry does: the connection is
/// closed unanswered (a line of ferrite's protocol would mean nothing to
/// it).
fn turn_away_dpdk(stream: UnixStream) {
    drop(stream);
}

/// How a telemetry socket serves one client's connection.
type Serve = fn(UnixStream, Shared) -> std::io::Result<()>;

/// Accepts connections until the server stops, asleep in between.
/// `serve` runs each client's connection on a thread of its own; `refuse`
/// answers one there is no room for, in the socket's own protocol.
fn listen(listener: UnixListener, shared: Shared, serve: Serve, refuse: fn(UnixStream)) {
    // Only this thread adds to it, so checking then adding cannot overshoot.
    let clients = Arc::new(AtomicUsize::new(0));
    while !shared.stopping() {
        if !shared.wait_readable(&listener) {
            continue;
        }
        match listener.accept() {
            Ok((stream, _)) => {
                if clients.load(Relaxed) >= MAX_CLIENTS {
                    refuse(stream);
                    continue;
                }
                clients.fetch_add(1, Relaxed);
                let slot = Slot(clients.clone());
                let shared = shared.clone();
                // If the spawn fails, the closure and its slot are dropped.
                let _ = std::thread::Builder::new().name("telemetry-client".into()).spawn(move || {
                    let _slot = slot;
                    let _ = serve(stream, shared);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            // Out of descriptors, say: the connection stays queued and
            // `poll` would return at once, so back off instead of spinning.
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Serves one connection: greeting, then a reply per request line, until
/// the client hangs up or the server stops.
fn client(stream: UnixStream, shared: Shared) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    // Reads start only once `poll` saw data, so the read timeout bounds a
    // stall mid-line; the write timeout bounds a client that never reads
    // its replies. Either way the thread ends and its slot frees.
    stream.set_read_timeout(Some(CLIENT_STALL))?;
    stream.set_write_timeout(Some(CLIENT_STALL))?;
    let mut out = stream.try_clone()?;
    let greeting =
        json!({ "version": VERSION, "pid": std::process::id(), "app": "testpmd", "max_output_len": 1 << 20 });
    writeln!(out, "{greeting}")?;
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    while !shared.stopping() {
        // Sleep until the client writes (or hangs up) or the server stops,
        // unless requests sent back to back left a whole line buffered. (A
        // client that stalls mid-line then blocks this thread in the read,
        // for CLIENT_STALL at most.)
        let buffered = reader.buffer().contains(&b'\n');
        if !buffered && !shared.wait_readable(reader.get_ref()) {
            continue;
        }
        line.clear();
        // At most MAX_REQUEST_LINE bytes, newline included.
        match (&mut reader).take(MAX_REQUEST_LINE as u64).read_until(b'\n', &mut line) {
            Ok(0) => return Ok(()),
            Ok(n) if n == MAX_REQUEST_LINE && line.last() != Some(&b'\n') => {
                // Whatever follows is the same runaway line: answer and
                // hang up rather than resynchronise on a later newline.
                let msg = format!("request line longer than {MAX_REQUEST_LINE} bytes: closing the connection");
                writeln!(out, "{}", error(&msg))?;
                return Ok(());
            }
            Ok(_) => {
                // Not UTF-8: the replacement characters make it an unknown
                // command, answered as any other.
                let req = String::from_utf8_lossy(&line).trim().to_string();
                if req.is_empty() {
                    continue;
                }
                let reply = shared
                    .ask(req, Dialect::Ferrite)
                    .unwrap_or_else(|| r#"{"error":"testpmd is not answering (stopping?)"}"#.to_string());
                writeln!(out, "{reply}")?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Serves one DPDK-protocol connection: the info message, then a reply
/// message per request message, until the client hangs up (an empty
/// message too, as DPDK) or the server stops.
fn dpdk_client(mut stream: UnixStream, shared: Shared) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(CLIENT_STALL))?;
    stream.write_all(dpdk::info().to_string().as_bytes())?;
    // A longer message is cut to the buffer (SOCK_SEQPACKET drops the
    // rest), as DPDK reads it.
    let mut buf = [0u8; dpdk::MAX_REQUEST];
    while !shared.stopping() {
        if !shared.wait_readable(&stream) {
            continue;
        }
        let n = match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let line = String::from_utf8_lossy(&buf[..n]).into_owned();
        let cmd = dpdk::command(&line).to_string();
        let Some(reply) = shared.ask(line, Dialect::Dpdk) else { return Ok(()) };
        dpdk::send(&mut stream, &cmd, &reply)?;
    }
    Ok(())
}

fn error(msg: &str) -> String {
    json!({ "error": msg }).to_string()
}

/// The reply to one request line.
pub fn answer(line: &str, ports: &[Box<dyn NetDevice>], ctx: &Context<'_>, started: Instant) -> String {
    let (cmd, param) = match line.split_once(',') {
        Some((c, p)) => (c.trim(), Some(p.trim())),
        None => (line.trim(), None),
    };
    let port = || -> Result<(usize, &dyn NetDevice), String> {
        let p = param.ok_or_else(|| format!("{cmd} wants a port id: {cmd},N"))?;
        let id: usize = p.parse().map_err(|_| format!("'{p}' is not a port id"))?;
        let dev = ports.get(id).ok_or_else(|| format!("no port {id}: there are {} (0..)", ports.len()))?;
        Ok((id, &**dev))
    };
    let uptime = started.elapsed().as_secs_f64();
    let body = match cmd {
        "/" | "/help" => json!(COMMANDS),
        "/info" => json!({
            "pid": std::process::id(), "app": "testpmd", "version": env!("CARGO_PKG_VERSION"),
            "mode": ctx.mode, "cores": ctx.cores, "ports": ports.len(), "uptime_s": uptime,
        }),
        "/ports" => Value::Array(
            ports
                .iter()
                .enumerate()
                .map(|(i, p)| json!({ "id": i, "name": p.name(), "driver": p.drvinfo().driver }))
                .collect(),
        ),
        "/streams" => Value::Array(ctx.streams.iter().map(|(id, c)| stream_json(id, c)).collect()),
        _ if !COMMANDS.contains(&cmd) => return error(&format!("unknown command '{cmd}' (try /)")),
        _ => match port() {
            Ok((id, p)) => port_answer(cmd, id, p, uptime),
            Err(e) => return error(&e),
        },
    };
    let mut reply = Map::new();
    reply.insert(cmd.to_string(), body);
    Value::Object(reply).to_string()
}

/// The reply body of a command about one port.
fn port_answer(cmd: &str, id: usize, p: &dyn NetDevice, uptime: f64) -> Value {
    match cmd {
        "/port/info" => port_info(id, p),
        "/ethdev/info" => crate::devinfo::DevInfo::of(p).to_json(Some(id)),
        "/port/stats" => port_stats(id, p, uptime),
        "/port/xstats" => Value::Object(p.named_stats().into_iter().map(|(k, v)| (k, Value::from(v))).collect()),
        "/port/link" => link_json(&p.link_status()),
        "/port/rss" => port_rss(id, p),
        _ => unreachable!("{cmd} is not a port command"),
    }
}

fn port_info(id: usize, p: &dyn NetDevice) -> Value {
    let (info, rings, ch) = (p.drvinfo(), p.ringparam(), p.channels());
    json!({
        "port": id, "name": p.name(), "driver": info.driver, "version": info.version,
        "bus_info": info.bus_info, "fw_version": info.fw_version,
        "mac": p.mac_address().to_string(), "mtu": p.mtu(),
        "running": p.is_running(), "promiscuous": p.rx_mode().promiscuous,
        "link": link_json(&p.link_status()),
        "rx_queues": ch.rx, "tx_queues": ch.tx, "max_rx_queues": ch.max_rx, "max_tx_queues": ch.max_tx,
        "rx_ring": rings.rx, "tx_ring": rings.tx,
    })
}

fn port_stats(id: usize, p: &dyn NetDevice, uptime: f64) -> Value {
    let s = p.stats64();
    let (rx, tx) = (s.rx_total(), s.tx_total());
    let queues = |qs: &[ferrite_pmd::port::QueueStats]| -> Vec<Value> {
        qs.iter()
            .enumerate()
            .map(|(q, st)| {
                json!({ "queue": q, "packets": st.packets, "bytes": st.bytes, "drops": st.drops, "errors": st.errors })
            })
            .collect()
    };
    json!({
        "port": id, "name": p.name(), "uptime_s": uptime,
        "rx_packets": rx.packets, "rx_bytes": rx.bytes, "rx_drops": rx.drops, "rx_errors": rx.errors,
        "tx_packets": tx.packets, "tx_bytes": tx.bytes, "tx_drops": tx.drops, "tx_errors": tx.errors,
        "rx_missed": s.rx_missed,
        "rx_queues": queues(&s.rx_queues), "tx_queues": queues(&s.tx_queues),
    })
}

fn port_rss(id: usize, p: &dyn NetDevice) -> Value {
    match p.rss_config() {
        Ok(c) => json!({
            "port": id, "supported": true, "enabled": c.enabled(), "hash_function": "toeplitz",
            "hash_types": c.hash_types.to_string(), "key": c.key_hex(), "rx_queues": p.channels().rx,
            "reta": &c.reta[..],
        }),
        Err(e) => json!({ "port": id, "supported": false, "reason": e.to_string() }),
    }
}

fn stream_json(id: &StreamId, c: &StreamCounters) -> Value {
    let s = c.snapshot();
    let mut o = json!({
        "rx_port": id.rx_port, "rx_queue": id.rx_queue, "tx_port": id.tx_port, "tx_queue": id.tx_queue,
        "rx": s.rx, "tx": s.tx, "fwd_drops": s.fwd_drops, "generated": s.generated, "consumed": s.consumed,
    });
    if let Value::Object(m) = &mut o {
        m.extend(s.csum_named().into_iter().map(|(name, v)| (name.to_string(), Value::from(v))));
    }
    o
}

fn link_json(l: &ferrite_pmd::port::LinkStatus) -> Value {
    json!({ "up": l.up, "speed_mbps": l.speed_mbps, "duplex": l.duplex.to_string(), "autoneg": l.autoneg })
}

/// A client connection (used by `pmdstat` and the tests).
pub struct Client {
    reader: BufReader<UnixStream>,
    out: UnixStream,
    /// The server's greeting line.
    pub greeting: String,
}

impl Client {
    /// Connects and reads the greeting; a server with no room for another
    /// client says so instead, and that is an error.
    pub fn connect(path: &Path) -> std::io::Result<Client> {
        let s = UnixStream::connect(path)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let out = s.try_clone()?;
        let mut c = Client { reader: BufReader::new(s), out, greeting: String::new() };
        let greeting = c.read_reply()?;
        if let Ok(v) = serde_json::from_str::<Value>(&greeting) {
            if let Some(e) = v.get("error").and_then(Value::as_str) {
                return Err(std::io::Error::other(format!("testpmd refused the connection: {e}")));
            }
        }
        c.greeting = greeting;
        Ok(c)
    }

    /// Sends one request, returns the reply line.
    pub fn request(&mut self, cmd: &str) -> std::io::Result<String> {
        writeln!(self.out, "{cmd}")?;
        self.read_reply()
    }

    /// One line from the server, at most [`MAX_REPLY_LINE`] bytes.
    fn read_reply(&mut self) -> std::io::Result<String> {
        let mut line = Vec::new();
        let n = (&mut self.reader).take(MAX_REPLY_LINE as u64).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "testpmd closed the connection"));
        }
        if n == MAX_REPLY_LINE && line.last() != Some(&b'\n') {
            let msg = format!("reply longer than {MAX_REPLY_LINE} bytes: not a ferrite telemetry server?");
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, msg));
        }
        String::from_utf8(line)
            .map(|l| l.trim().to_string())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "reply is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::net::UnixStream;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use super::*;

    /// A fresh path under the temp directory (nothing there yet).
    fn scratch(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("ferrite-telemetry-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        let _ = std::fs::remove_file(&p);
        p
    }

    /// Creates `p` with exactly `mode` (the umask would mask some bits).
    fn make_dir(p: &Path, mode: u32) {
        std::fs::create_dir(p).unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    fn is_root() -> bool {
        euid() == 0
    }

    fn chown(p: &Path, uid: u32) {
        std::os::unix::fs::chown(p, Some(uid), None).unwrap();
    }

    /// The start error, which must be there (`Telemetry` is not `Debug`).
    fn refusal(dir: &Path) -> String {
        match Telemetry::start(dir) {
            Ok(t) => panic!("{} was accepted (socket {})", dir.display(), t.path().display()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn an_existing_directory_keeps_its_mode() {
        // /tmp-like (sticky, world-writable), a plain 0755 directory and a
        // private one: all safe to bind in, none ours to change.
        for m in [0o1777, 0o755, 0o700] {
            let d = scratch(&format!("keep-{m:o}"));
            make_dir(&d, m);
            let t = Telemetry::start(&d).unwrap_or_else(|e| panic!("mode {m:04o} refused: {e}"));
            assert!(t.path().starts_with(&d));
            assert_eq!(mode(&d), m, "testpmd changed the mode of a directory it did not create");
            drop(t);
            assert_eq!(mode(&d), m);
            std::fs::remove_dir_all(&d).unwrap();
        }
    }

    #[test]
    fn a_directory_others_may_write_is_refused_and_left_alone() {
        for m in [0o777, 0o770, 0o702] {
            let d = scratch(&format!("unsafe-{m:o}"));
            make_dir(&d, m);
            let e = refusal(&d);
            assert!(e.contains(&format!("{m:04o}")) && e.contains("sticky"), "mode {m:04o}: {e}");
            assert_eq!(mode(&d), m, "a refused directory is not changed");
            assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0, "nothing created in {}", d.display());
            std::fs::remove_dir_all(&d).unwrap();
        }
    }

    #[test]
    fn a_directory_of_another_user_is_refused() {
        if !is_root() {
            eprintln!("skipped: only root can give a directory to another user");
            return;
        }
        let d = scratch("theirs");
        make_dir(&d, 0o700);
        chown(&d, 65534);
        let e = refusal(&d);
        assert!(e.contains("uid 65534"), "{e}");
        assert_eq!(mode(&d), 0o700);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_symlink_or_a_file_is_refused() {
        let real = scratch("link-target");
        make_dir(&real, 0o700);
        let link = scratch("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = refusal(&link);
        assert!(e.contains("symbolic link"), "{e}");
        std::fs::remove_file(&link).unwrap();
        std::fs::remove_dir_all(&real).unwrap();

        let file = scratch("file");
        std::fs::write(&file, b"").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = refusal(&file);
        assert!(e.contains("not a directory"), "{e}");
        assert_eq!(mode(&file), 0o644, "a refused file is not changed");
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn a_missing_directory_is_created_private() {
        let top = scratch("new");
        let d = top.join("a/b");
        let t = Telemetry::start(&d).expect("create");
        assert_eq!(mode(&d), 0o700);
        assert_eq!(mode(t.path()) & 0o777, 0o600);
        drop(t);
        std::fs::remove_dir_all(&top).unwrap();
    }

    #[test]
    fn the_tmp_fallback_must_be_ours_and_private() {
        let me = euid();
        let want = if me == 0 { Trust::Named } else { Trust::Private };
        assert_eq!(Trust::of(&PathBuf::from(format!("/tmp/ferrite-{me}"))), want);
        assert_eq!(Trust::of(Path::new(DEFAULT_DIR)), Trust::Named, "only root writes in /run");
        // What `/tmp/ferrite-UID` is held to, tried on a stand-in: testpmd
        // creates it 0700, so anything else there was made by someone
        // else, or loosened since.
        let d = scratch("private");
        prepare_dir(&d, Trust::Private).expect("created");
        assert_eq!(mode(&d), 0o700);
        prepare_dir(&d, Trust::Private).expect("ours and 0700: used as it is");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = prepare_dir(&d, Trust::Private).unwrap_err().to_string();
        assert!(e.contains("mode 0755") && e.contains("chmod 0700"), "{e}");
        assert_eq!(mode(&d), 0o755, "refused, not repaired");
        // The same 0755 directory is fine when the user names it.
        prepare_dir(&d, Trust::Named).expect("named 0755");
        if is_root() {
            // Another user got there first (here: made it for uid 65534).
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
            chown(&d, 65534);
            let e = prepare_dir(&d, Trust::Private).unwrap_err().to_string();
            assert!(e.contains("belongs to uid 65534") && e.contains("remove it"), "{e}");
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// A connection's first line (greeting or refusal), or why none came.
    fn first_line(path: &Path) -> (UnixStream, std::io::Result<String>) {
        let s = UnixStream::connect(path).unwrap();
        // Only a guard against hanging the test: a server that never
        // answers fails it instead.
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        let res = r.read_line(&mut line).map(|_| line);
        (s, res)
    }

    #[test]
    fn an_overlong_request_line_gets_an_error_and_the_connection_closes() {
        let d = scratch("long-line");
        let t = Telemetry::start(&d).unwrap();
        let (mut s, greeting) = first_line(t.path());
        assert!(greeting.unwrap().contains("\"version\""));
        // No newline: a server that waits for one buffers it all.
        let _ = s.write_all(&vec![b'x'; 2 * MAX_REQUEST_LINE]);
        let mut r = BufReader::new(s);
        let mut reply = String::new();
        r.read_line(&mut reply).expect("an error line");
        assert!(reply.starts_with("{\"error\":") && reply.contains(&MAX_REQUEST_LINE.to_string()), "{reply}");
        // Then the server hangs up: end of stream, or a reset because it
        // left some of our bytes unread. A timeout means it kept reading.
        let mut more = String::new();
        match r.read_line(&mut more) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("the connection stayed open: {other:?} {more:?}"),
        }
        drop(t);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn clients_beyond_the_limit_are_refused_and_a_slot_frees_on_hangup() {
        let d = scratch("clients");
        let t = Telemetry::start(&d).unwrap();
        let mut held = Vec::new();
        for i in 0..MAX_CLIENTS {
            let (s, g) = first_line(t.path());
            let g = g.unwrap_or_else(|e| panic!("client {i}: {e}"));
            assert!(g.contains("\"version\""), "client {i}: {g}");
            held.push(s);
        }
        let (_extra, g) = first_line(t.path());
        let g = g.expect("a refusal line");
        assert!(g.contains("\"error\"") && g.contains("too many"), "client {MAX_CLIENTS} got: {g}");
        // Client::connect (pmdstat) reports the refusal as an error.
        let e = Client::connect(t.path()).err().expect("refused").to_string();
        assert!(e.contains("too many"), "{e}");
        // Once one client hangs up, its slot is free again. The server
        // notices the hangup asynchronously, so poll for it (no deadline
        // assertion beyond "eventually", with a generous bound).
        drop(held.pop());
        let mut tries = 0;
        loop {
            let (_s, g) = first_line(t.path());
            if g.as_deref().is_ok_and(|g| g.contains("\"version\"")) {
                break;
            }
            tries += 1;
            assert!(tries < 500, "the freed slot never came back: {g:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(held);
        drop(t);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn dpdk_clients_beyond_the_limit_are_closed_unanswered_as_dpdk_does() {
        use std::io::Read;
        let d = scratch("dpdk-clients");
        let mut t = Telemetry::start(&d).unwrap();
        let path = t.serve_dpdk(&format!("ferrite-test-{}", std::process::id())).unwrap();
        // A SOCK_SEQPACKET client and the first message it reads (0 bytes:
        // the server closed the connection).
        let first_message = || {
            let fd = dpdk::seqpacket().unwrap();
            dpdk::connect(&fd, &path).unwrap();
            let mut s = UnixStream::from(fd);
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).expect("a greeting or end of stream, not a stall");
            (s, String::from_utf8_lossy(&buf[..n]).into_owned())
        };
        let mut held = Vec::new();
        for i in 0..MAX_CLIENTS {
            let (s, greeting) = first_message();
            assert!(greeting.contains("\"max_output_len\""), "client {i}: {greeting:?}");
            held.push(s);
        }
        let (_extra, got) = first_message();
        assert_eq!(got, "", "client {MAX_CLIENTS}: closed without a word of another protocol");
        drop(held);
        drop(t);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn xdg_runtime_dir_is_used_only_when_it_is_the_users_and_private() {
        let xdg = scratch("xdg");
        make_dir(&xdg, 0o700);
        // The check is about the owner matching the user: as root, play a
        // user by giving the directory to uid 65534.
        let uid = if is_root() { 65534 } else { euid() };
        if is_root() {
            chown(&xdg, uid);
        }
        let fallback = PathBuf::from(format!("/tmp/ferrite-{uid}"));
        assert_eq!(default_dir_for(uid, Some(xdg.as_os_str())), xdg.join("ferrite"));
        assert_eq!(default_dir_for(uid, None), fallback);
        assert_eq!(default_dir_for(uid, Some("".as_ref())), fallback);
        // The same private directory, named relative to the working
        // directory: it would move with every `cd`, so it is not used.
        let up: PathBuf = std::env::current_dir().unwrap().components().skip(1).map(|_| "..").collect();
        let relative = up.join(xdg.strip_prefix("/").unwrap());
        assert!(relative.is_relative() && relative.is_dir(), "{}", relative.display());
        assert_eq!(default_dir_for(uid, Some(relative.as_os_str())), fallback, "not absolute");
        assert_eq!(default_dir_for(0, Some(xdg.as_os_str())), PathBuf::from(DEFAULT_DIR), "root");
        std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(default_dir_for(uid, Some(xdg.as_os_str())), fallback, "XDG_RUNTIME_DIR open to others");
        std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(
            default_dir_for(uid + 1, Some(xdg.as_os_str())),
            PathBuf::from(format!("/tmp/ferrite-{}", uid + 1)),
            "another user's"
        );
        let missing = xdg.join("gone");
        assert_eq!(default_dir_for(uid, Some(missing.as_os_str())), fallback, "missing");
        std::fs::remove_dir_all(&xdg).unwrap();
    }
}
