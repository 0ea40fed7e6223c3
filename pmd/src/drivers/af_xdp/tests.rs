//! Root tests on real veth pairs: frames sent by the kernel arrive through
//! AF_XDP and ours reach the kernel, every mbuf comes back, the program
//! leaves with the port (and with a process killed by SIGKILL), and bad
//! input fails clearly with nothing left attached.
//!
//! Each test makes its own veth pair named `h26<pid><tag>a`/`...b` in the
//! namespace it runs in, with IPv6 off so the kernel sends nothing of its
//! own on it, and deletes it on the way out (a guard, so a failing
//! assertion cleans up too). Frames carry EtherType 0x88b5 (IEEE local
//! experimental) and a sequence number; the kernel side is an AF_PACKET
//! socket on the `b` end.

use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::mem::{MbufBatch, MempoolConfig};
use ferrite_hugepages::{DmaOptions, Fallback};

const ETHERTYPE: u16 = 0x88b5;
const FRAME_LEN: usize = 100;
const SRC: [u8; 6] = [0x02, 0, 0, 0, 0x26, 0x01];

/// Why a root test cannot run here, if it cannot.
fn cannot_run() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (veth pairs, XDP, AF_XDP)");
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("needs iproute2's ip");
    }
    None
}

macro_rules! root_or_skip {
    () => {
        if let Some(why) = cannot_run() {
            println!("SKIP: {why}");
            return;
        }
    };
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// A veth pair, deleted on drop.
struct Veth {
    a: String,
    b: String,
}

impl Veth {
    fn new(tag: &str, queues: u32) -> Veth {
        let pid = std::process::id() % 100_000;
        let (a, b) = (format!("h26{pid}{tag}a"), format!("h26{pid}{tag}b"));
        let q = queues.to_string();
        let mq = ["numrxqueues", &q, "numtxqueues", &q];
        let mut args = vec!["link", "add", &a];
        args.extend(mq);
        args.extend(["type", "veth", "peer", "name", &b]);
        args.extend(mq);
        ip(&args);
        let v = Veth { a, b };
        for end in [&v.a, &v.b] {
            let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{end}/disable_ipv6"), "1");
            ip(&["link", "set", end, "up"]);
        }
        // The kernel marks a link running (IFF_RUNNING, the carrier ports
        // read) from deferred work, a moment after `up`: a port opened
        // before then started with the link down and reported it coming
        // up as an event, which a test awaiting "down" took instead (seen
        // on a loaded machine). 10 s bounds a hang; it takes milliseconds.
        let deadline = Instant::now() + Duration::from_secs(10);
        while ![&v.a, &v.b].iter().all(|e| Iface::lookup(e).is_ok_and(|i| i.has_carrier())) {
            assert!(Instant::now() < deadline, "{} and {} not running 10 s after `ip link set up`", v.a, v.b);
            std::thread::sleep(Duration::from_millis(10));
        }
        v
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.a]).output();
    }
}

/// Whether an XDP program is attached to `dev` (`ip link` shows it).
fn xdp_attached(dev: &str) -> bool {
    let out = Command::new("ip").args(["-d", "link", "show", "dev", dev]).output().expect("ip link show");
    String::from_utf8_lossy(&out.stdout).contains("prog/xdp")
}

/// Whether the program leaves `dev` within 10 s. Not at once: another
/// test of this process may fork (the hugepage tests do) and the forked
/// child holds a copy of every descriptor, our `bpf_link` included, until
/// it execs or exits; the kernel detaches when the last copy closes. (A
/// full-suite run saw exactly that.) A program that never leaves fails.
fn xdp_detached(dev: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while xdp_attached(dev) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn pool(name: &str, n: usize) -> Mempool {
    let mut cfg = MempoolConfig::new(name, n);
    cfg.dma = DmaOptions { fallback: Fallback::SmallPages, ..DmaOptions::default() };
    Mempool::new(&cfg).expect("test pool")
}

fn args(iface: &str) -> AfXdpArgs {
    AfXdpArgs {
        iface: iface.to_string(),
        start_queue: 0,
        queue_count: None,
        force_copy: false,
        xdp_mode: XdpModeChoice::Auto,
    }
}

fn frame_bytes(seq: u32) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&SRC);
    f[12..14].copy_from_slice(&ETHERTYPE.to_be_bytes());
    f[14..18].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f[18..].iter_mut().enumerate() {
        *b = (seq as usize + i) as u8;
    }
    f
}

fn seq_of(frame: &[u8]) -> Option<u32> {
    if frame.len() != FRAME_LEN || frame[12..14] != ETHERTYPE.to_be_bytes() {
        return None;
    }
    let seq = u32::from_be_bytes(frame[14..18].try_into().ok()?);
    (frame == frame_bytes(seq)).then_some(seq)
}

/// An AF_PACKET socket on one interface: the kernel side of the wire.
struct PacketSocket(OwnedFd);

impl PacketSocket {
    fn open(dev: &str) -> PacketSocket {
        let all = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket creation, checked below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, i32::from(all)) };
        assert!(fd >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
        // SAFETY: a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: sockaddr_ll is plain data; zeros are valid.
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_protocol = all;
        sa.sll_ifindex = Iface::lookup(dev).unwrap().index() as i32;
        // SAFETY: a live sockaddr_ll, its size given.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(r, 0, "bind AF_PACKET: {}", std::io::Error::last_os_error());
        PacketSocket(fd)
    }

    fn send(&self, frame: &[u8]) {
        // SAFETY: sends from a live buffer, its length given.
        let n = unsafe { libc::send(self.0.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        assert_eq!(n, frame.len() as isize, "AF_PACKET send: {}", std::io::Error::last_os_error());
    }

    /// The next frame arriving at the interface (not one it sent), or
    /// None after `timeout`.
    fn recv_incoming(&self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 2048];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut p = libc::pollfd { fd: self.0.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: polls one live pollfd.
            if unsafe { libc::poll(&mut p, 1, left.as_millis() as i32) } <= 0 {
                return None;
            }
            // SAFETY: plain data; zeros are valid.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: receives into live buffers, their lengths given.
            let n = unsafe {
                libc::recvfrom(
                    self.0.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&mut from as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            if n > 0 && from.sll_pkttype != libc::PACKET_OUTGOING {
                return Some(buf[..n as usize].to_vec());
            }
        }
    }
}

fn open_port(name: &str, a: AfXdpArgs, pool: &Mempool, queues: u16) -> (AfXdpPort, Queues) {
    let mut port = AfXdpPort::open(name, a).expect("port");
    let conf = PortConfig { rx_queues: queues, tx_queues: queues, ..PortConfig::default() };
    port.configure(&conf, pool).expect("configure");
    let q = port.open().expect("open");
    (port, q)
}

/// Receives on `rx` until `want` frames are in `out` or 10 s pass;
/// returns the heap allocations the bursts made.
fn receive(rx: &mut dyn RxQueue, out: &mut Vec<u32>, want: usize, port_id: u16) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut b = MbufBatch::new();
    let mut allocs = 0;
    while out.len() < want && Instant::now() < deadline {
        let before = crate::alloc_count::allocations();
        let n = rx.rx_burst(&mut b, 32);
        allocs += crate::alloc_count::allocations() - before;
        for m in b.iter() {
            assert_eq!((m.port(), m.queue()), (port_id, rx.queue_id()));
            out.push(seq_of(m.data()).unwrap_or_else(|| panic!("a frame we did not send: {:02x?}", m.data())));
        }
        let before = crate::alloc_count::allocations();
        b.clear();
        allocs += crate::alloc_count::allocations() - before;
        if n == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    allocs
}

#[test]
#[ignore = "needs root: veth pair, XDP and AF_XDP"]
fn frames_cross_both_ways_without_allocating_and_every_mbuf_returns() {
    root_or_skip!();
    let v = Veth::new("r", 1);
    let p = pool("afxdp-rt", 4096);
    let (mut port, mut q) = open_port("af_xdp0", args(&v.a), &p, 1);
    assert!(xdp_attached(&v.a), "the steering program is on {} while open", v.a);
    let (mode, zc) = port.bind_mode().expect("open");
    let info = port.drvinfo();
    assert!(info.fw_version.contains(&format!("{} XDP", mode.name())), "{info:?}");
    assert!(info.fw_version.contains(if zc { "zero-copy" } else { "copy mode" }), "{info:?}");
    println!("{}: {} XDP, {}", v.a, mode.name(), if zc { "zero-copy" } else { "copy mode" });
    let kernel = PacketSocket::open(&v.b);

    // Kernel → port, in bursts the RX ring holds.
    let mut got = Vec::new();
    let mut allocs = 0;
    for chunk in 0..16u32 {
        for seq in chunk * 64..(chunk + 1) * 64 {
            kernel.send(&frame_bytes(seq));
        }
        allocs += receive(&mut *q.rx[0], &mut got, (chunk as usize + 1) * 64, 0);
    }
    assert_eq!(got, (0..1024).collect::<Vec<_>>(), "every frame, in order, intact");
    assert_eq!(allocs, 0, "receiving allocated {allocs} times");
    let s = port.stats64().rx_total();
    assert_eq!((s.packets, s.bytes), (1024, 1024 * FRAME_LEN as u64));

    // Port → kernel: mbufs of the port's pool (zero-copy), then of another
    // pool (copied into the port's).
    let other = pool("afxdp-other", 256);
    let mut sent = 0u32;
    let mut b = MbufBatch::new();
    let mut arrived = Vec::new();
    for (src, count) in [(&p, 512u32), (&other, 64)] {
        for _ in 0..count / 32 {
            for seq in sent..sent + 32 {
                let mut m = src.alloc().unwrap();
                m.append(FRAME_LEN).unwrap().copy_from_slice(&frame_bytes(seq));
                b.push(m).unwrap();
            }
            sent += 32;
            let before = crate::alloc_count::allocations();
            while !b.is_empty() {
                q.tx[0].tx_burst(&mut b);
                q.tx[0].tx_done_cleanup();
            }
            allocs += crate::alloc_count::allocations() - before;
            while let Some(f) =
                (arrived.len() < sent as usize).then(|| kernel.recv_incoming(Duration::from_secs(5))).flatten()
            {
                arrived.push(seq_of(&f).expect("our frame"));
            }
        }
    }
    assert_eq!(arrived, (0..576).collect::<Vec<_>>(), "the kernel got every frame, in order, intact");
    assert_eq!(allocs, 0, "sending allocated {allocs} times");
    let stats: std::collections::HashMap<String, u64> = port.named_stats().into_iter().collect();
    assert_eq!(stats["tx_copied"], 64, "only the other pool's frames were copied");
    assert_eq!(stats["tx_queue_0_packets"], 576);
    crate::port::stat_names::assert_documented("af_xdp", stats.keys());
    assert_eq!(port.stats64().tx_total().packets, 576);
    let deadline = Instant::now() + Duration::from_secs(5);
    while other.available() < other.capacity() && Instant::now() < deadline {
        q.tx[0].tx_done_cleanup();
    }
    assert_eq!(other.available(), other.capacity(), "copied frames went back to their own pool at once");

    // Stop while the queues are still held: they go inert; dropping them
    // brings back every buffer the kernel held (fill ring, TX ring).
    port.stop().unwrap();
    assert!(xdp_detached(&v.a), "stop takes the program off");
    kernel.send(&frame_bytes(9999));
    assert_eq!(q.rx[0].rx_burst(&mut b, 32), 0, "an inert queue receives nothing");
    assert!(p.in_use() > 0, "the fill ring still holds buffers while the queue handle lives");
    drop(q);
    assert_eq!(p.available(), p.capacity(), "every mbuf back after the queues are gone");
    drop(port);
    assert!(xdp_detached(&v.a));
}

#[test]
#[ignore = "needs root: veth pair, XDP and AF_XDP"]
fn two_ports_on_one_pool_share_the_umem_and_forward_without_copies() {
    root_or_skip!();
    let (v1, v2) = (Veth::new("s", 1), Veth::new("t", 1));
    let p = pool("afxdp-shared", 4096);
    let (mut port1, mut q1) = open_port("af_xdp0", args(&v1.a), &p, 1);
    let (mut port2, mut q2) = open_port("af_xdp1", args(&v2.a), &p, 1);
    let (in1, out2) = (PacketSocket::open(&v1.b), PacketSocket::open(&v2.b));
    for seq in 0..64 {
        in1.send(&frame_bytes(seq));
    }
    let mut b = MbufBatch::new();
    let mut forwarded = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while forwarded < 64 && Instant::now() < deadline {
        q1.rx[0].rx_burst(&mut b, 32);
        forwarded += q2.tx[0].tx_burst(&mut b);
    }
    let mut arrived = Vec::new();
    while let Some(f) = (arrived.len() < 64).then(|| out2.recv_incoming(Duration::from_secs(5))).flatten() {
        arrived.push(seq_of(&f).expect("our frame"));
    }
    assert_eq!(arrived, (0..64).collect::<Vec<_>>());
    let copied: u64 = port2.named_stats().into_iter().find(|(n, _)| n == "tx_copied").unwrap().1;
    assert_eq!(copied, 0, "one pool, one UMEM: no copies");
    port1.stop().unwrap();
    port2.stop().unwrap();
    drop((q1, q2));
    assert_eq!(p.available(), p.capacity());
}

/// Not a test of its own: the child that [`a_port_killed_with_sigkill_leaves_nothing_behind`]
/// runs and kills. It opens a port on `H26_AFXDP_CHILD_IFACE`, says READY, and waits.
#[test]
#[ignore = "needs root; run by a_port_killed_with_sigkill_leaves_nothing_behind"]
fn sigkill_child() {
    let Ok(iface) = std::env::var("H26_AFXDP_CHILD_IFACE") else {
        println!("SKIP: only run as the child of a_port_killed_with_sigkill_leaves_nothing_behind");
        return;
    };
    let p = pool("afxdp-child", 2048);
    let (_port, _q) = open_port("af_xdp0", args(&iface), &p, 1);
    println!("READY");
    std::thread::sleep(Duration::from_secs(60));
}

/// Kills the child (and so its process group's work) when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "needs root: veth pair, XDP and AF_XDP"]
fn a_port_killed_with_sigkill_leaves_nothing_behind() {
    root_or_skip!();
    let v = Veth::new("k", 1);
    let exe = std::env::current_exe().unwrap();
    let mut child = Killed(
        Command::new(exe)
            .args(["--include-ignored", "--exact", "drivers::af_xdp::tests::sigkill_child", "--nocapture"])
            .env("H26_AFXDP_CHILD_IFACE", &v.a)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let out = BufReader::new(child.0.stdout.take().unwrap());
    let ready = out.lines().map_while(Result::ok).any(|l| l.contains("READY"));
    assert!(ready, "the child opened the port");
    assert!(xdp_attached(&v.a), "the child's program is attached");
    // kill() is SIGKILL: no destructor runs in the child.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    assert!(xdp_detached(&v.a), "the kernel took the program off with the dead process's link");
    let p = pool("afxdp-after-kill", 2048);
    let (port, q) = open_port("af_xdp0", args(&v.a), &p, 1);
    assert!(xdp_attached(&v.a), "a new run starts on the same interface");
    drop((q, port));
    assert!(xdp_detached(&v.a));
}

#[test]
#[ignore = "needs root: veth pair, XDP and AF_XDP"]
fn bad_input_fails_clearly_and_leaves_nothing_attached() {
    root_or_skip!();
    let v = Veth::new("e", 2);
    let p = pool("afxdp-bad", 2048);
    let conf = PortConfig::default();
    let open = |a: AfXdpArgs, conf: &PortConfig| -> String {
        let mut port = match AfXdpPort::open("af_xdp0", a) {
            Ok(port) => port,
            Err(e) => return e.to_string(),
        };
        if let Err(e) = port.configure(conf, &p) {
            return e.to_string();
        }
        port.open().err().map(|e| e.to_string()).unwrap_or_default()
    };
    let e = open(args("h26-nonesuch"), &conf);
    assert!(e.contains("no such interface 'h26-nonesuch'"), "{e}");

    ip(&["link", "set", &v.a, "down"]);
    let e = open(args(&v.a), &conf);
    assert!(e.contains("is down") && e.contains(&format!("ip link set dev {} up", v.a)), "{e}");
    ip(&["link", "set", &v.a, "up"]);

    let e = open(
        AfXdpArgs { start_queue: 1, queue_count: Some(2), ..args(&v.a) },
        &PortConfig { rx_queues: 2, tx_queues: 2, ..conf.clone() },
    );
    assert!(e.contains("receive queue(s)") || e.contains("channels"), "{e}");
    let e = open(AfXdpArgs { queue_count: Some(2), ..args(&v.a) }, &conf);
    assert!(e.contains("queue_count=2 but 1 queue(s)"), "{e}");

    // Someone else's program, attached as ferrite attaches its own.
    let map = XskMap::create(2).unwrap();
    let prog = Program::load_xdp(&prog::steering_program(map.fd().as_raw_fd()), "not_ferrite").unwrap();
    let theirs = XdpLink::attach(&prog, Iface::lookup(&v.a).unwrap().index(), XdpMode::Generic).unwrap();
    let e = open(args(&v.a), &conf);
    assert!(e.contains("already has program") && e.contains("'not_ferrite'"), "names the program: {e}");
    assert!(e.contains(&format!("ip link set dev {} xdp off", v.a)), "{e}");
    drop(theirs);
    assert!(xdp_detached(&v.a), "nothing of ours stayed attached");
    assert_eq!(p.available(), p.capacity(), "failed opens returned their buffers");
}

#[test]
#[ignore = "needs root: veth pair, XDP and AF_XDP"]
fn carrier_changes_arrive_as_link_events_and_the_mtu_is_the_interfaces() {
    root_or_skip!();
    let v = Veth::new("l", 1);
    let p = pool("afxdp-link", 2048);
    let (mut port, mut q) = open_port("af_xdp0", args(&v.a), &p, 1);
    let events = port.link_events();
    assert!(port.link_status().up);
    // The peer going down takes the carrier of this end with it.
    ip(&["link", "set", &v.b, "down"]);
    let e = events.wait(Duration::from_secs(10)).expect("a link event");
    assert!(!e.status.up && &*e.port == "af_xdp0", "{e:?}");
    assert!(!port.link_status().up);
    let mut b = MbufBatch::new();
    for seq in 0..8 {
        let mut m = p.alloc().unwrap();
        m.append(FRAME_LEN).unwrap().copy_from_slice(&frame_bytes(seq));
        b.push(m).unwrap();
    }
    assert_eq!(q.tx[0].tx_burst(&mut b), 8, "taken, and dropped while the link is down");
    let drops: u64 = port.named_stats().into_iter().find(|(n, _)| n == "tx_link_down_drops").unwrap().1;
    assert_eq!(drops, 8);
    ip(&["link", "set", &v.b, "up"]);
    let e = events.wait(Duration::from_secs(10)).expect("a link event");
    assert!(e.status.up, "{e:?}");
    // The MTU is the interface's, both ways.
    port.change_mtu(1400).unwrap();
    assert_eq!(Iface::lookup(&v.a).unwrap().mtu().unwrap(), 1400);
    ip(&["link", "set", &v.a, "mtu", "1300"]);
    assert_eq!(port.mtu(), 1300);
    port.stop().unwrap();
    drop(q);
    assert_eq!(p.available(), p.capacity());
}

#[test]
#[ignore = "needs root: veth pair, XDP and AF_XDP"]
fn queue_count_beyond_the_interfaces_queues_sets_its_channels() {
    root_or_skip!();
    let v = Veth::new("c", 4);
    let iface = Iface::lookup(&v.a).unwrap();
    iface.set_queues(1).unwrap();
    assert_eq!(iface.rx_queues(), 1);
    let p = pool("afxdp-chan", 4096);
    // Without queue_count nothing is changed: the error says what to do.
    let mut port = AfXdpPort::open("af_xdp0", args(&v.a)).unwrap();
    port.configure(&PortConfig { rx_queues: 2, tx_queues: 2, ..PortConfig::default() }, &p).unwrap();
    let e = port.open().err().expect("refused").to_string();
    assert!(e.contains("has 1 receive queue(s)") && e.contains("ethtool -L"), "{e}");
    drop(port);
    let (port, q) = open_port("af_xdp0", AfXdpArgs { queue_count: Some(2), ..args(&v.a) }, &p, 2);
    assert_eq!(iface.rx_queues(), 2, "ETHTOOL_SCHANNELS asked the driver for two");
    assert_eq!((q.rx.len(), q.tx.len()), (2, 2));
    assert!(port.drvinfo().bus_info.contains("queues 0..2"), "{:?}", port.drvinfo());
    drop((q, port));
    assert_eq!(p.available(), p.capacity());
    assert_eq!(iface.rx_queues(), 1, "the channels ferrite raised are put back when the port goes");
}

/// Not a test of its own: run without capabilities by
/// [`without_capabilities_the_error_says_run_as_root`]; prints what opening
/// a port on `H26_AFXDP_PERM_IFACE` said.
#[test]
#[ignore = "run by without_capabilities_the_error_says_run_as_root"]
fn permission_child() {
    let Ok(iface) = std::env::var("H26_AFXDP_PERM_IFACE") else {
        println!("SKIP: only run as the child of without_capabilities_the_error_says_run_as_root");
        return;
    };
    match AfXdpPort::open("af_xdp0", args(&iface)) {
        Ok(_) => println!("OPENED"),
        Err(e) => println!("ERROR: {e}"),
    }
}

#[test]
#[ignore = "needs root (to drop its capabilities) and util-linux's setpriv"]
fn without_capabilities_the_error_says_run_as_root() {
    root_or_skip!();
    if Command::new("setpriv").arg("--version").output().is_err() {
        println!("SKIP: needs util-linux's setpriv");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    // Still uid 0, but with an empty bounding set the exec'd child has no
    // capability at all: as an unprivileged user would be.
    let out = Command::new("setpriv")
        .args(["--bounding-set=-all", "--inh-caps=-all", "--"])
        .arg(exe)
        .args(["--include-ignored", "--exact", "drivers::af_xdp::tests::permission_child", "--nocapture"])
        .env("H26_AFXDP_PERM_IFACE", "lo")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ERROR:") && text.contains("run as root"), "{text}");
}

#[test]
#[ignore = "needs root: loads an XDP program"]
fn the_steering_program_passes_the_verifier() {
    root_or_skip!();
    let map = XskMap::create(4).unwrap();
    Program::load_xdp(&prog::steering_program(map.fd().as_raw_fd()), "ferrite_t").unwrap();
    // A broken program is refused with the verifier's words.
    let mut bad = prog::steering_program(map.fd().as_raw_fd()).to_vec();
    bad.pop();
    let e = Program::load_xdp(&bad, "ferrite_bad").err().expect("refused").to_string();
    assert!(e.contains("verifier"), "{e}");
}

#[test]
#[ignore = "needs root (veth pairs, XDP, AF_XDP): run scripts/test as root"]
fn open_ports_opens_an_af_xdp_port_by_spec_among_virtual_ones() {
    root_or_skip!();
    let v = Veth::new("o", 1);
    let spec = format!("net_af_xdp0,iface={}", v.a);
    let mut ports = crate::open_ports(&["null0", &spec, "pair0", "pair1"], &crate::OpenOptions::default()).unwrap();
    let got: Vec<(&str, String)> = ports.iter().map(|p| (p.name(), p.drvinfo().driver)).collect();
    let want = [("null0", "net_null"), ("af_xdp0", "af_xdp"), ("pair0", "net_pair"), ("pair1", "net_pair")];
    assert_eq!(got, want.map(|(n, d)| (n, d.to_string())));
    let p = pool("open-ports", 4096);
    ports[1].configure(&PortConfig::default(), &p).unwrap();
    let queues = ports[1].open().unwrap();
    assert!(xdp_attached(&v.a), "the AF_XDP port opened through open_ports runs on {}", v.a);
    drop(queues);
    ports[1].stop().unwrap();
    drop(ports);
    assert!(xdp_detached(&v.a), "the program leaves with the port");
}
