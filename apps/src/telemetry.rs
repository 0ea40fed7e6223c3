//! Telemetry: a running testpmd answers JSON requests on a Unix-domain
//! socket, in the manner of DPDK's telemetry (`dpdk-telemetry.py`).
//!
//! * One socket per process: `DIR/testpmd.PID.sock` (DIR `/run/ferrite` by
//!   default), the directory mode 0700 and the socket 0600: only the owner
//!   may read the counters. Sockets of processes that died are removed when
//!   the next one starts; [`list_sockets`] finds the live ones.
//! * Protocol: on connect the server sends one greeting line
//!   (`{"version":…,"pid":…,"app":"testpmd"}`); then each request line
//!   (`/ports`, `/port/stats,0`) gets one reply line, a JSON object keyed by
//!   the command, as DPDK's (`{"/port/stats":{…}}`). Unknown commands get
//!   `{"error":"…"}`.
//!
//! Commands: `/` (the list), `/info`, `/ports`, `/port/info,N`,
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

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrite_pmd::NetDevice;
use ferrite_vfio::EventFd;

use crate::event;
use crate::fwd::{StreamCounters, StreamId};
use crate::json::JsonWriter;

/// Where root's sockets go unless `--telemetry-dir` says otherwise.
pub const DEFAULT_DIR: &str = "/run/ferrite";

/// The default socket directory, as DPDK picks its runtime directory:
/// `/run/ferrite` for root, else `$XDG_RUNTIME_DIR/ferrite`, else
/// `/tmp/ferrite-UID`.
pub fn default_dir() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        return PathBuf::from(DEFAULT_DIR);
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("ferrite"),
        _ => PathBuf::from(format!("/tmp/ferrite-{uid}")),
    }
}
/// Version of the protocol, in the greeting.
pub const VERSION: &str = "ferrite-telemetry/1";
/// Every command the server knows, for `/`.
pub const COMMANDS: [&str; 10] = [
    "/",
    "/info",
    "/ports",
    "/port/info",
    "/port/stats",
    "/port/xstats",
    "/port/link",
    "/port/rss",
    "/streams",
    "/help",
];

/// A request waiting for the main thread.
struct Request {
    line: String,
    reply: SyncSender<String>,
}

/// The running server. Dropping it stops the threads and removes the socket.
pub struct Telemetry {
    path: PathBuf,
    shared: Shared,
    listener: Option<JoinHandle<()>>,
    requests: Receiver<Request>,
    started: Instant,
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
/// is gone) are left out (and removed when `clean` is set).
pub fn list_sockets(dir: &Path, clean: bool) -> Vec<(u32, PathBuf)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = pid_of(&name) else { continue };
        if alive(pid) {
            out.push((pid, e.path()));
        } else if clean {
            let _ = std::fs::remove_file(e.path());
        }
    }
    out.sort();
    out
}

impl Telemetry {
    /// Creates `dir` (0700) if needed, binds `testpmd.PID.sock` (0600) and
    /// starts listening.
    pub fn start(dir: &Path) -> std::io::Result<Telemetry> {
        if !dir.exists() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        let meta = std::fs::metadata(dir)?;
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        if std::os::unix::fs::MetadataExt::uid(&meta) == me {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
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
        let handle =
            std::thread::Builder::new().name("telemetry".into()).spawn(move || listen(listener, for_thread))?;
        Ok(Telemetry { path, shared, listener: Some(handle), requests: rx, started: Instant::now() })
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
            let _ = req.reply.try_send(answer(&req.line, ports, ctx, self.started));
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
    }
}

/// Accepts connections until the server stops, asleep in between.
fn listen(listener: UnixListener, shared: Shared) {
    while !shared.stopping() {
        if !shared.wait_readable(&listener) {
            continue;
        }
        match listener.accept() {
            Ok((stream, _)) => {
                let shared = shared.clone();
                let _ = std::thread::Builder::new().name("telemetry-client".into()).spawn(move || {
                    let _ = client(stream, shared);
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
    let mut out = stream.try_clone()?;
    let greeting = {
        let mut w = JsonWriter::new();
        w.begin_object().field_str("version", VERSION).field_u64("pid", u64::from(std::process::id()));
        w.field_str("app", "testpmd").field_u64("max_output_len", 1 << 20).end_object();
        w.finish()
    };
    writeln!(out, "{greeting}")?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    while !shared.stopping() {
        // Sleep until the client writes (or hangs up) or the server stops,
        // unless requests sent back to back left a whole line buffered. (A
        // client that stalls mid-line keeps its thread in `read_line`, as
        // any blocking reader; it holds no lock and stops with the process.)
        let buffered = reader.buffer().contains(&b'\n');
        if !buffered && !shared.wait_readable(reader.get_ref()) {
            continue;
        }
        match reader.read_line(&mut line) {
            Ok(0) => return Ok(()),
            Ok(_) => {
                let req = line.trim().to_string();
                line.clear();
                if req.is_empty() {
                    continue;
                }
                let (rtx, rrx) = mpsc::sync_channel(1);
                if shared.requests.send(Request { line: req, reply: rtx }).is_err() {
                    return Ok(());
                }
                let _ = shared.bell.write(1);
                let reply = rrx
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap_or_else(|_| r#"{"error":"testpmd is not answering (stopping?)"}"#.to_string());
                writeln!(out, "{reply}")?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn error(msg: &str) -> String {
    let mut w = JsonWriter::new();
    w.begin_object().field_str("error", msg).end_object();
    w.finish()
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
    let mut w = JsonWriter::new();
    w.begin_object().key(cmd);
    let uptime = started.elapsed().as_secs_f64();
    match cmd {
        "/" | "/help" => {
            w.begin_array();
            for c in COMMANDS {
                w.str(c);
            }
            w.end_array();
        }
        "/info" => {
            w.begin_object().field_u64("pid", u64::from(std::process::id())).field_str("app", "testpmd");
            w.field_str("version", env!("CARGO_PKG_VERSION")).field_str("mode", ctx.mode);
            w.field_u64("cores", ctx.cores as u64).field_u64("ports", ports.len() as u64);
            w.field_f64("uptime_s", uptime).end_object();
        }
        "/ports" => {
            w.begin_array();
            for (i, p) in ports.iter().enumerate() {
                w.begin_object().field_u64("id", i as u64).field_str("name", p.name());
                w.field_str("driver", &p.drvinfo().driver).end_object();
            }
            w.end_array();
        }
        "/port/info" => match port() {
            Ok((id, p)) => {
                let (info, link, rings, ch) = (p.drvinfo(), p.link_status(), p.ringparam(), p.channels());
                w.begin_object().field_u64("port", id as u64).field_str("name", p.name());
                w.field_str("driver", &info.driver).field_str("version", &info.version);
                w.field_str("bus_info", &info.bus_info).field_str("fw_version", &info.fw_version);
                w.field_str("mac", &p.mac_address().to_string()).field_u64("mtu", u64::from(p.mtu()));
                w.field_bool("running", p.is_running()).field_bool("promiscuous", p.rx_mode().promiscuous);
                link_fields(w.key("link"), &link);
                w.field_u64("rx_queues", u64::from(ch.rx)).field_u64("tx_queues", u64::from(ch.tx));
                w.field_u64("max_rx_queues", u64::from(ch.max_rx)).field_u64("max_tx_queues", u64::from(ch.max_tx));
                w.field_u64("rx_ring", u64::from(rings.rx)).field_u64("tx_ring", u64::from(rings.tx));
                w.end_object();
            }
            Err(e) => return error(&e),
        },
        "/port/stats" => match port() {
            Ok((id, p)) => {
                let s = p.stats64();
                let (rx, tx) = (s.rx_total(), s.tx_total());
                w.begin_object().field_u64("port", id as u64).field_str("name", p.name());
                w.field_f64("uptime_s", uptime);
                for (dir, t) in [("rx", rx), ("tx", tx)] {
                    w.field_u64(&format!("{dir}_packets"), t.packets).field_u64(&format!("{dir}_bytes"), t.bytes);
                    w.field_u64(&format!("{dir}_drops"), t.drops).field_u64(&format!("{dir}_errors"), t.errors);
                }
                w.field_u64("rx_missed", s.rx_missed);
                for (dir, qs) in [("rx_queues", &s.rx_queues), ("tx_queues", &s.tx_queues)] {
                    w.key(dir).begin_array();
                    for (q, st) in qs.iter().enumerate() {
                        w.begin_object().field_u64("queue", q as u64).field_u64("packets", st.packets);
                        w.field_u64("bytes", st.bytes).field_u64("drops", st.drops).field_u64("errors", st.errors);
                        w.end_object();
                    }
                    w.end_array();
                }
                w.end_object();
            }
            Err(e) => return error(&e),
        },
        "/port/xstats" => match port() {
            Ok((_, p)) => {
                w.begin_object();
                for (k, v) in p.named_stats() {
                    w.field_u64(&k, v);
                }
                w.end_object();
            }
            Err(e) => return error(&e),
        },
        "/port/link" => match port() {
            Ok((_, p)) => link_fields(&mut w, &p.link_status()),
            Err(e) => return error(&e),
        },
        "/port/rss" => match port() {
            Ok((id, p)) => {
                w.begin_object().field_u64("port", id as u64);
                match p.rss_config() {
                    Ok(c) => {
                        w.field_bool("supported", true).field_bool("enabled", c.enabled());
                        w.field_str("hash_function", "toeplitz").field_str("hash_types", &c.hash_types.to_string());
                        w.field_str("key", &c.key_hex()).field_u64("rx_queues", u64::from(p.channels().rx));
                        w.key("reta").begin_array();
                        for q in c.reta {
                            w.u64(u64::from(q));
                        }
                        w.end_array();
                    }
                    Err(e) => {
                        w.field_bool("supported", false).field_str("reason", &e.to_string());
                    }
                }
                w.end_object();
            }
            Err(e) => return error(&e),
        },
        "/streams" => {
            w.begin_array();
            for (id, c) in ctx.streams {
                let s = c.snapshot();
                w.begin_object().field_u64("rx_port", u64::from(id.rx_port));
                w.field_u64("rx_queue", u64::from(id.rx_queue)).field_u64("tx_port", u64::from(id.tx_port));
                w.field_u64("tx_queue", u64::from(id.tx_queue)).field_u64("rx", s.rx).field_u64("tx", s.tx);
                w.field_u64("fwd_drops", s.fwd_drops).field_u64("generated", s.generated);
                w.field_u64("consumed", s.consumed).end_object();
            }
            w.end_array();
        }
        _ => return error(&format!("unknown command '{cmd}' (try /)")),
    }
    w.end_object();
    w.finish()
}

fn link_fields(w: &mut JsonWriter, l: &ferrite_pmd::port::LinkStatus) {
    w.begin_object().field_bool("up", l.up).field_u64("speed_mbps", u64::from(l.speed_mbps));
    w.field_str("duplex", &l.duplex.to_string()).field_bool("autoneg", l.autoneg).end_object();
}

/// A client connection (used by `pmdstat` and the tests).
pub struct Client {
    reader: BufReader<UnixStream>,
    out: UnixStream,
    /// The server's greeting line.
    pub greeting: String,
}

impl Client {
    /// Connects and reads the greeting.
    pub fn connect(path: &Path) -> std::io::Result<Client> {
        let s = UnixStream::connect(path)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let out = s.try_clone()?;
        let mut reader = BufReader::new(s);
        let mut greeting = String::new();
        reader.read_line(&mut greeting)?;
        Ok(Client { reader, out, greeting: greeting.trim().to_string() })
    }

    /// Sends one request, returns the reply line.
    pub fn request(&mut self, cmd: &str) -> std::io::Result<String> {
        writeln!(self.out, "{cmd}")?;
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "testpmd closed the connection"));
        }
        Ok(line.trim().to_string())
    }
}
