//! Link management on virtual ports: ethtool link settings read back what
//! was set, `nway_reset` yields a fresh link-up event, `link_update`
//! reports the carrier, TX while the link is down is dropped and counted,
//! and testpmd logs link changes and how much each core slept.

use std::process::Command;
use std::time::{Duration, Instant};

use ferrite_pmd::drivers::virt::PairPort;
use ferrite_pmd::port::{Duplex, LinkSettings};
use ferrite_pmd::{EthtoolOps, MbufBatch, NetDevice, PortConfig};
use ferrite_tests::{pool, Json};

#[test]
fn link_settings_read_back_what_was_set() {
    let p = pool("link_settings", 1024);
    let (mut a, mut b) = PairPort::new_pair("pair0", "pair1");
    for port in [&mut a, &mut b] {
        port.configure(&PortConfig::default(), &p).unwrap();
    }
    let (_qa, _qb) = (a.open().unwrap(), b.open().unwrap());
    for want in [
        LinkSettings { autoneg: false, speed_mbps: 1000, duplex: Duplex::Full },
        LinkSettings { autoneg: true, speed_mbps: 25_000, duplex: Duplex::Full },
        LinkSettings { autoneg: false, speed_mbps: 100, duplex: Duplex::Full },
    ] {
        a.set_link_settings(&want).unwrap();
        assert_eq!(a.link_settings().unwrap(), want);
        let st = a.link_update(true);
        assert!(st.up && st.speed_mbps == want.speed_mbps && st.autoneg == want.autoneg, "{st:?}");
    }
    let bad = LinkSettings { autoneg: false, speed_mbps: 1000, duplex: Duplex::Half };
    assert!(a.set_link_settings(&bad).is_err(), "a virtual link is full duplex only");
    assert_eq!(a.link_settings().unwrap().speed_mbps, 100, "a refused setting changes nothing");
}

#[test]
fn nway_reset_yields_a_fresh_link_up_event() {
    let p = pool("link_nway", 1024);
    let (mut a, mut b) = PairPort::new_pair("pair0", "pair1");
    for port in [&mut a, &mut b] {
        port.configure(&PortConfig::default(), &p).unwrap();
    }
    let (_qa, _qb) = (a.open().unwrap(), b.open().unwrap());
    let ev = a.link_events();
    let before = Instant::now();
    a.nway_reset().unwrap();
    let down = ev.wait(Duration::from_secs(5)).expect("a down event");
    assert!(!down.status.up);
    let up = ev.wait(Duration::from_secs(5)).expect("a fresh up event");
    assert!(up.status.up && up.at >= before && up.at >= down.at, "{up:?}");
    assert!(a.link_update(false).up);
}

#[test]
fn tx_while_link_down_is_dropped_and_counted_and_traffic_resumes() {
    let p = pool("link_flap", 1024);
    let (mut a, mut b) = PairPort::new_pair("pair0", "pair1");
    for port in [&mut a, &mut b] {
        port.configure(&PortConfig::default(), &p).unwrap();
    }
    let (mut qa, mut qb) = (a.open().unwrap(), b.open().unwrap());
    let send = |qa: &mut ferrite_pmd::Queues, n: usize| {
        let mut batch = MbufBatch::new();
        assert!(p.alloc_bulk(&mut batch, n));
        batch.iter_mut().for_each(|m| assert!(m.set_len(64)));
        assert_eq!(qa.tx[0].tx_burst(&mut batch), n);
    };
    b.set_link(false).unwrap();
    assert!(!a.link_update(false).up);
    send(&mut qa, 20);
    let drops = a.named_stats().into_iter().find(|s| s.0 == "tx_link_down_drops").unwrap().1;
    assert_eq!(drops, 20);
    b.set_link(true).unwrap();
    assert!(a.link_update(true).up);
    send(&mut qa, 10);
    let mut got = MbufBatch::new();
    assert_eq!(qb.rx[0].rx_burst(&mut got, 32), 10, "traffic resumed by itself");
    drop((got, qa, qb));
    a.stop().unwrap();
    b.stop().unwrap();
    assert_eq!(p.available(), p.capacity());
}

#[test]
fn testpmd_logs_link_events_and_core_sleep() {
    let cpus = ferrite_pmd::lcore::allowed_cpus();
    let l = match cpus.as_slice() {
        [a, b, ..] => format!("{a},{b}"),
        [a] => format!("{a}"),
        [] => "0".into(),
    };
    let out = Command::new(env!("CARGO_BIN_EXE_testpmd-under-test"))
        .args(["-l", &l, "--vdev", "pair0,pair1", "--tx-first", "1", "--duration", "2", "--rx-mode", "adaptive"])
        .args(["--idle-polls", "100"])
        .output()
        .expect("run testpmd");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Port 0: link up 10000 Mbps full-duplex"), "{stdout}");
    assert!(stdout.contains("Port 1: link up 10000 Mbps full-duplex"), "{stdout}");
    assert!(stdout.contains("rx-mode adaptive): slept"), "{stdout}");
    assert!(stdout.contains("Polls:"), "{stdout}");

    // Poll mode in JSON: the core never sleeps; the NAPI fields are there.
    let out = Command::new(env!("CARGO_BIN_EXE_testpmd-under-test"))
        .args(["-l", &l, "--vdev", "pair0,pair1", "--tx-first", "1", "--duration", "1", "--rx-mode", "poll", "--json"])
        .output()
        .expect("run testpmd");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let r = Json::parse(stdout.trim()).unwrap();
    let core = &r.get("cores").arr()[0];
    assert_eq!(core.get("rx_mode").str(), "poll");
    assert_eq!(core.get("sleep_fraction").f64(), 0.0);
    assert_eq!(r.get("streams").arr()[0].get("sleeps").u64(), 0);
}
