//! Fuzz target `telemetry_request`: `telemetry::answer`, which turns one
//! request line from a local client into one reply line.
//!
//! The ports are real virtual ports (a loop port with 4 queues and RSS on,
//! a pair, a null port), configured and open, as testpmd has them; the
//! context has two streams. The fuzzer's bytes are the request line (as
//! UTF-8, invalid sequences replaced: the server only passes whole UTF-8
//! lines on).
//!
//! Checked for every line:
//! * the reply is one line (a newline in it would split the client's view
//!   of the protocol) and valid JSON by an independent strict parser;
//! * it is an object with one member: the command's own name for a known
//!   command with a usable argument, else `"error"` with a string;
//! * no object in it names a member twice (readers disagree on which
//!   value wins);
//! * it is at most a constant plus 6 bytes per request byte (the worst
//!   case of escaping an echoed command), so a request cannot make the
//!   server build an arbitrarily large reply.

#![no_main]

use std::sync::Arc;
use std::time::Instant;

use ferrite_apps::fwd::{StreamCounters, StreamId};
use ferrite_apps::telemetry::{answer, Context, COMMANDS};
use ferrite_fuzz::json::{self as oracle, Tree};
use ferrite_fuzz::pool;
use ferrite_pmd::rss::{RssConfig, RssHashTypes};
use ferrite_pmd::{NetDevice, PortConfig, Queues};
use libfuzzer_sys::fuzz_target;

/// What every request is answered against, built once.
struct World {
    /// Kept so the ports stay open (running) for the whole run; declared
    /// first so that, if the world is ever dropped, the queues go before
    /// their ports, as the port life cycle requires.
    _queues: Vec<Queues>,
    ports: Vec<Box<dyn NetDevice>>,
    streams: Vec<(StreamId, Arc<StreamCounters>)>,
    started: Instant,
}

impl World {
    fn new() -> World {
        let mut ports = ferrite_pmd::drivers::virt::create_ports(&["loop0", "pair0", "pair1", "null0"])
            .unwrap_or_else(|e| panic!("fuzz harness: virtual ports: {e}"));
        let mut queues = Vec::new();
        for (i, p) in ports.iter_mut().enumerate() {
            let q = if i == 0 { 4 } else { 1 };
            let conf =
                PortConfig { rx_queues: q, tx_queues: q, rx_ring_size: 64, tx_ring_size: 64, ..PortConfig::default() };
            p.configure(&conf, pool()).unwrap_or_else(|e| panic!("fuzz harness: configure {}: {e}", p.name()));
            if i == 0 {
                p.set_rss_config(&RssConfig::new(4, RssHashTypes::ALL)).expect("fuzz harness: RSS on loop0");
            }
            queues.push(p.open().unwrap_or_else(|e| panic!("fuzz harness: open {}: {e}", p.name())));
        }
        let streams = (0..2u16)
            .map(|q| {
                let id = StreamId { rx_port: 0, rx_queue: q, tx_port: 0, tx_queue: q };
                (id, Arc::new(StreamCounters::default()))
            })
            .collect();
        World { _queues: queues, ports, streams, started: Instant::now() }
    }
}

thread_local! {
    static WORLD: World = World::new();
}

/// Commands that take `,N`.
fn takes_port(cmd: &str) -> bool {
    cmd.starts_with("/port/") || cmd == "/ethdev/info"
}

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    WORLD.with(|w| {
        let ctx = Context { mode: "io", cores: 2, streams: &w.streams };
        let reply = answer(&line, &w.ports, &ctx, w.started);
        check(&line, &reply, w.ports.len());
    });
});

fn check(line: &str, reply: &str, nports: usize) {
    assert!(!reply.contains(['\n', '\r']), "reply to {line:?} spans lines: {reply:?}");
    let limit = 64 * 1024 + 6 * line.len();
    assert!(reply.len() <= limit, "reply to a {}-byte request is {} bytes", line.len(), reply.len());
    let tree = oracle::parse(reply).unwrap_or_else(|e| panic!("reply to {line:?} is not JSON ({e}): {reply}"));
    let Tree::Obj(m) = &tree else { panic!("reply to {line:?} is not an object: {reply}") };
    assert_eq!(m.len(), 1, "reply to {line:?} has {} members: {reply}", m.len());
    let (key, val) = &m[0];

    // What the request asks for, by the protocol: "CMD" or "CMD,PARAM",
    // both trimmed.
    let (cmd, param) = match line.split_once(',') {
        Some((c, p)) => (c.trim(), Some(p.trim())),
        None => (line.trim(), None),
    };
    let known = COMMANDS.contains(&cmd);
    let port = param.and_then(|p| p.parse::<usize>().ok()).filter(|&n| n < nports);
    if known && (!takes_port(cmd) || port.is_some()) {
        assert_eq!(key, cmd, "request {line:?} got {reply}");
        let member = |v: &Tree, name: &str| match v {
            Tree::Obj(m) => m.iter().find(|(k, _)| k == name).map(|(_, x)| x.clone()),
            _ => None,
        };
        match (cmd, val) {
            ("/ports", Tree::Arr(a)) => assert_eq!(a.len(), nports, "{reply}"),
            ("/ports", _) => panic!("/ports is not an array: {reply}"),
            ("/port/stats" | "/port/info" | "/port/rss" | "/ethdev/info", v) => match member(v, "port") {
                Some(Tree::Num(n)) => assert_eq!(n.as_u64().map(|n| n as usize), port, "{reply}"),
                _ => panic!("{cmd} does not say which port: {reply}"),
            },
            _ => {}
        }
    } else {
        assert_eq!(key, "error", "request {line:?} should fail, got {reply}");
        assert!(matches!(val, Tree::Str(_)), "error is not a string: {reply}");
    }

    assert!(!tree.has_repeated_keys(), "reply to {line:?} names a member twice: {reply}");
}
