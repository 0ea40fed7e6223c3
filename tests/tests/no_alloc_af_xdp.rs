//! No heap allocation on the per-packet path of an AF_XDP port, forwarding
//! with a virtual `pair` in one mempool: frames the kernel sends into a veth
//! arrive on `af_xdp0`, cross `pair0` → `pair1` and leave through
//! `af_xdp0` again (io engine both ways), while a thread of this test
//! keeps sending from the veth's other end through an AF_PACKET socket.
//! Then every buffer is back in the pool and the XDP program is gone.
//! Needs root (veth, XDP, AF_XDP): ignored otherwise, as the other root
//! tests; prints SKIP when run ignored without root.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrite_apps::fwd::{EngineConfig, Stream, StreamId};
use ferrite_pmd::drivers::vdev::{create_vdevs, parse_vdev_tokens};
use ferrite_pmd::{lcore, PortConfig};
use ferrite_tests::{poll_counting_allocations, pool, CountingAlloc};

#[global_allocator]
static A: CountingAlloc = CountingAlloc;

fn ip(args: &[&str]) -> bool {
    Command::new("ip").args(args).output().is_ok_and(|o| o.status.success())
}

/// A veth pair with IPv6 off (so the kernel sends nothing of its own),
/// deleted on drop.
struct Veth(String, String);

impl Drop for Veth {
    fn drop(&mut self) {
        ip(&["link", "del", &self.0]);
    }
}

/// Sends 100-byte frames (EtherType 0x88b5) out of `dev` until `stop`, at
/// most for 60 s; counts them.
fn sender(dev: &str, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) -> std::thread::JoinHandle<()> {
    let index = std::fs::read_to_string(format!("/sys/class/net/{dev}/ifindex")).unwrap().trim().parse().unwrap();
    std::thread::spawn(move || {
        let all = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket creation, checked below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(all)) };
        assert!(fd >= 0);
        // SAFETY: a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: plain data; zeros are valid.
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_protocol = all;
        sa.sll_ifindex = index;
        // SAFETY: a live sockaddr_ll, its size given.
        let r =
            unsafe { libc::bind(fd.as_raw_fd(), (&sa as *const libc::sockaddr_ll).cast(), size_of_val(&sa) as u32) };
        assert_eq!(r, 0);
        let mut frame = [0u8; 100];
        frame[..6].copy_from_slice(&[0xff; 6]);
        frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0x26, 2]);
        frame[12..14].copy_from_slice(&[0x88, 0xb5]);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            // SAFETY: sends from a live buffer, its length given.
            if unsafe { libc::send(fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) } > 0 {
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
}

#[test]
#[ignore = "needs root: veth pair, XDP and AF_XDP"]
fn an_af_xdp_port_forwarding_with_a_pair_does_not_allocate() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !ip(&["-V"]) {
        println!("SKIP: needs root and iproute2's ip");
        return;
    }
    let pid = std::process::id() % 100_000;
    let v = Veth(format!("h26{pid}na"), format!("h26{pid}nb"));
    assert!(ip(&["link", "add", &v.0, "type", "veth", "peer", "name", &v.1]), "ip link add");
    for end in [&v.0, &v.1] {
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{end}/disable_ipv6"), "1");
        assert!(ip(&["link", "set", end, "up"]));
    }
    let _lc = lcore::register().expect("lcore");
    let iface = format!("iface={}", v.0);
    let mut ports = create_vdevs(&parse_vdev_tokens(&["af_xdp0", &iface, "pair0", "pair1"]).unwrap(), 0).unwrap();
    let p = pool("afxdp-noalloc", 8192);
    let conf = PortConfig::default();
    let mut queues = Vec::new();
    for port in ports.iter_mut() {
        port.configure(&conf, &p).unwrap();
        queues.push(port.open().unwrap());
    }
    let id = |rx: u16, tx: u16| StreamId { rx_port: rx, rx_queue: 0, tx_port: tx, tx_queue: 0 };
    let (x_rx, x_tx) = (queues[0].rx.remove(0), queues[0].tx.remove(0));
    let (p0_tx, p1_rx) = (queues[1].tx.remove(0), queues[2].rx.remove(0));
    let mut streams = vec![
        Stream::new(id(0, 1), x_rx, p0_tx, 32, EngineConfig::Io).unwrap(),
        Stream::new(id(2, 0), p1_rx, x_tx, 32, EngineConfig::Io).unwrap(),
    ];
    let (stop, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let t = sender(&v.1, Arc::clone(&stop), Arc::clone(&sent));
    // Allocations are counted once frames flow both ways: the veths come
    // up (and the kernel starts passing frames to the socket) a moment
    // after `ip link set up`, and a fixed number of polls can end before
    // (seen once: nothing moved in 300,000 rounds).
    let rx_counts = |streams: &[Stream]| streams.iter().map(|s| s.counters().snapshot().rx).collect::<Vec<u64>>();
    let flowing = Instant::now() + Duration::from_secs(30);
    while rx_counts(&streams).contains(&0) && Instant::now() < flowing {
        streams.iter_mut().for_each(|s| {
            s.poll();
        });
    }
    let (work, allocations) = poll_counting_allocations(&mut streams, 300_000);
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
    assert_eq!(allocations, 0, "the per-packet path allocated {allocations} times");
    let forwarded = rx_counts(&streams);
    assert!(forwarded.iter().all(|&n| n > 0), "frames crossed both ways: {forwarded:?} ({work} moved)");
    assert!(work > 0, "frames moved while allocations were counted ({forwarded:?} in all)");
    let s = ports[0].stats64();
    assert_eq!(s.tx_total().packets, forwarded[1], "af_xdp0 sent what came back through the pair");
    drop(streams);
    drop(queues);
    for port in ports.iter_mut() {
        port.stop().unwrap();
    }
    assert_eq!(p.available(), p.capacity(), "every buffer back in the pool");
    let shown = Command::new("ip").args(["-d", "link", "show", "dev", &v.0]).output().unwrap();
    assert!(!String::from_utf8_lossy(&shown.stdout).contains("prog/xdp"), "the program went with stop");
    println!("sent {} by the kernel, forwarded {forwarded:?}", sent.load(Ordering::Relaxed));
}
