//! The `testpmd` binary end to end: bad input exits 2 and a device that
//! cannot be opened exits 4, each with one clear line;
//! real runs print sane, self-consistent reports.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ferrite_tests::{conservation_problems, lcores, Json};

const BIN: &str = env!("CARGO_BIN_EXE_testpmd-under-test");

fn wait(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("testpmd still running after {limit:?} (a hang); stderr:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run(args: &[&str]) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn testpmd");
    wait(child, Duration::from_secs(120))
}

/// Runs with bad input: exit code 2, one line on stderr naming the problem.
fn bad(args: &[&str], expect: &[&str]) {
    fails(args, 2, expect);
}

/// Runs and fails with exit code `code` and one line on stderr naming the
/// problem.
fn fails(args: &[&str], code: i32, expect: &[&str]) {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("ferrite: warning")).collect();
    assert_eq!(out.status.code(), Some(code), "args {args:?}: stderr {err}");
    assert_eq!(lines.len(), 1, "args {args:?}: want one line, got:\n{err}");
    assert!(lines[0].starts_with("testpmd: "), "{}", lines[0]);
    for e in expect {
        assert!(lines[0].contains(e), "args {args:?}: '{}' lacks '{e}'", lines[0]);
    }
    assert!(!err.contains("panicked"), "{err}");
}

fn json_run(args: &[&str]) -> Json {
    let out = run(args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "args {args:?}\nstdout: {stdout}\nstderr: {stderr}");
    let r = Json::parse(stdout.trim()).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"));
    let problems = conservation_problems(&r);
    assert!(problems.is_empty(), "args {args:?}: {problems:#?}\n{stdout}");
    r
}

#[test]
fn unknown_forward_mode() {
    bad(&["--vdev", "null0,null1", "--forward-mode", "bogus"], &["unknown forward mode 'bogus'", "io, mac, macswap"]);
}

#[test]
fn zero_queues() {
    bad(&["--vdev", "null0,null1", "--rxq", "0"], &["--rxq", "queue count 0", "1..="]);
    bad(&["--vdev", "null0,null1", "--txq", "0"], &["--txq", "queue count 0"]);
}

#[test]
fn ring_sizes() {
    bad(&["--vdev", "null0,null1", "--rxd", "1000"], &["ring size 1000 is not a power of two", "512 or 1024"]);
    bad(&["--vdev", "null0,null1", "--txd", "8192"], &["null0", "tx ring size 8192 is out of range"]);
    bad(&["--vdev", "null0,null1", "--rxd", "16"], &["rx ring size 16 is out of range"]);
    bad(&["--vdev", "null0,null1", "--rxd", "lots"], &["'lots' is not a ring size"]);
}

#[test]
fn burst_out_of_range() {
    bad(&["--vdev", "null0,null1", "--burst", "0"], &["burst size 0 is out of range", "1..=512"]);
    bad(&["--vdev", "null0,null1", "--burst", "513"], &["burst size 513 is out of range"]);
}

#[test]
fn unknown_vdev_kind() {
    bad(&["--vdev", "tap0"], &["--vdev", "'tap0'", "loopN, pairN, nullN"]);
}

#[test]
fn af_xdp_arguments_are_checked_before_anything_opens() {
    bad(&["--vdev", "iface=eth0,af_xdp0"], &["--vdev", "'iface=eth0' belongs to no port"]);
    bad(&["--vdev", "af_xdp0"], &["af_xdp0", "give iface=NAME"]);
    bad(&["--vdev", "net_af_xdp0,iface=eth0,busy_budget=1"], &["unknown device argument 'busy_budget'"]);
    bad(&["--vdev", "pair0,x=1,pair1"], &["pair0", "unknown device argument 'x'"]);
    bad(&["--vdev", "afxdp0,iface=eth0"], &["'afxdp0'", "af_xdpN,iface=IF"]);
    bad(&["--vdev", "af_xdp0,iface=h26-nonesuch"], &["no such interface 'h26-nonesuch'", "ip link"]);
}

#[test]
fn odd_ports_with_paired_topology() {
    bad(&["--vdev", "null0,null1,null2"], &["paired needs an even number of ports, got 3", "chained or loop"]);
}

#[test]
fn more_cores_than_lcores() {
    let l = lcores();
    bad(&["-l", &l, "--vdev", "null0,null1", "--nb-cores", "8"], &["--nb-cores 8 is more than"]);
    bad(&["-l", "0-1023", "--vdev", "null0,null1"], &["is not available"]);
}

/// Regression: the same NIC given twice, written two ways, was opened twice
/// and programmed by two drivers. It is refused before anything is opened
/// (the guest suite checks the VFIO-level refusal on a real device).
#[test]
fn same_pci_device_twice() {
    bad(&["-a", "01:00.0", "-a", "0000:01:00.0"], &["-a 01:00.0 and -a 0000:01:00.0 are the same device"]);
    bad(&["-a", "0000:02:00.0", "-a", "0000:02:00.0"], &["same device (0000:02:00.0)"]);
}

/// `-i` with a flag only a non-interactive run honours is refused, not
/// silently ignored (the session has no final report, periodic lines,
/// capture, time limit or telemetry socket).
#[test]
fn interactive_refuses_the_flags_of_a_non_interactive_run() {
    for flag in [
        &["--pcap-rx", "/tmp/x.pcapng"][..],
        &["--pcap-tx", "/tmp/x.pcapng"],
        &["--duration", "1"],
        &["--json"],
        &["--stats-period", "1"],
        &["--telemetry-dir", "/tmp"],
        &["--file-prefix", "x"],
    ] {
        let mut args = vec!["-i", "--vdev", "null0,null1"];
        args.extend(flag);
        bad(&args, &["--interactive", flag[0]]);
    }
}

#[test]
fn pci_port_that_fails_to_open() {
    // A well-formed address naming no device is not a usage error: the
    // device could not be had, which has its own exit status (4).
    fails(&["-a", "0000:ff:1f.7"], 4, &["cannot open PCI port 0000:ff:1f.7"]);
}

#[test]
fn other_bad_input() {
    bad(&[], &["no ports"]);
    bad(&["--vdev", "null0,null1", "--rxq", "2"], &["--txq 1 is less than --rxq 2"]);
    bad(&["--vdev", "null0,null1", "--forward-mode", "txonly", "--txpkts", "40"], &["frame length 40"]);
    bad(&["--vdev", "null0,null1", "--forward-mode", "txonly", "--txpkts", "3000"], &["--mbuf-size"]);
    bad(&["--vdev", "null0,null1", "--eth-peer", "5,02:00:00:00:00:01"], &["only 2 port(s)"]);
    bad(&["--vdev", "null0,null1", "--eth-peer", "0,nonsense"], &["not a MAC address"]);
    bad(&["--vdev", "null0,null1", "--duration", "-1"], &["positive number of seconds"]);
    bad(&["--vdev", "null0,null1", "--port-topology", "ring"], &["unknown port topology 'ring'"]);
    bad(&["--vdev", "null0,null1", "--iova-mode", "xx"], &["unknown IOVA mode"]);
    bad(&["--vdev", "pair0"], &["pair0 has no peer"]);
    bad(&["--vdev", "null0,null1", "--no-such-flag"], &["--no-such-flag"]);
}

#[test]
fn offload_names_are_checked_against_the_list_and_the_port() {
    bad(
        &["--vdev", "null0,null1", "--rx-offloads", "bogus"],
        &["'bogus' is not a known rx offload", "known: vlan_strip, ipv4_cksum", "scatter", "rss_hash"],
    );
    bad(
        &["--vdev", "null0,null1", "--tx-offloads", "multi_segs,scatter"],
        &["'scatter' is not a", "known: vlan_insert"],
    );
    // A known offload the pair port does not do: the port and the offload
    // are named, with what the port offers instead.
    bad(
        &["--vdev", "pair0,pair1", "--tx-offloads", "tcp_tso"],
        &["port 0 (pair0)", "unsupported tx offload tcp_tso", "offers: multi_segs"],
    );
}

#[test]
fn segment_lists_and_buffer_sizes() {
    let txonly = ["--vdev", "null0,null1", "--forward-mode", "txonly"];
    let with = |extra: &[&'static str]| [&txonly[..], extra].concat();
    bad(&with(&["--txpkts", "2048,0"]), &["segment length 0 in --txpkts '2048,0'"]);
    bad(&with(&["--txpkts", "100,abc"]), &["'abc' in --txpkts '100,abc' is not a length"]);
    bad(&with(&["--txpkts", "30,30"]), &["frame length 60 is out of range"]);
    bad(&with(&["--txpkts", "3000,100"]), &["a 3000 B segment does not fit in --mbuf-size 2048", "--txpkts 2048,1052"]);
    // Frames of an MTU larger than one mbuf: refused without scatter,
    // naming both ways out.
    bad(
        &["--vdev", "pair0,pair1", "--mtu", "9000"],
        &["port 0 (pair0)", "MTU 9000", "--mbuf-size 9216", "--rx-offloads scatter"],
    );
}

#[test]
fn help_exits_zero() {
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in ["--forward-mode", "--port-topology", "--vdev", "--tx-rate", "--eth-peer", "--json"] {
        assert!(text.contains(flag), "--help lacks {flag}");
    }
    // Scripts branch on the exit status: --help is where it is documented.
    for code in ["0 ok", "1 runtime failure", "2 bad input", "3 accounting failure", "4 device failure"] {
        assert!(text.contains(code), "--help does not document exit status '{code}'");
    }
}

#[test]
fn null_io_json_is_sane() {
    let l = lcores();
    let r = json_run(&[
        "-l",
        &l,
        "--vdev",
        "null0",
        "--vdev",
        "null1",
        "--forward-mode",
        "io",
        "--duration",
        "2",
        "--json",
    ]);
    assert!(r.get("mpps").f64() > 0.0, "{r:?}");
    assert!(r.get("duration_s").f64() >= 1.9);
    assert_eq!(r.get("mode").str(), "io");
    let ports = r.get("ports").arr();
    assert_eq!(ports.len(), 2);
    for p in ports {
        assert_eq!(p.get("driver").str(), "net_null");
        assert!(p.get("rx_packets").u64() > 0 && p.get("tx_packets").u64() > 0);
        assert_eq!(p.get("rx_bytes").u64(), 64 * p.get("rx_packets").u64(), "null frames are 64 B");
    }
    let streams = r.get("streams").arr();
    assert_eq!(streams.len(), 2);
    for s in streams {
        assert_eq!(s.get("tx_port").u64(), 1 - s.get("rx_port").u64(), "paired topology");
        assert!(s.get("rx").u64() > 0);
        assert!(s.get("balanced").bool());
    }
    // io over null: what one port received, the other sent (or dropped).
    for s in streams {
        let tx_port = &ports[s.get("tx_port").u64() as usize];
        assert_eq!(tx_port.get("tx_packets").u64() + tx_port.get("tx_drops").u64(), s.get("tx").u64());
    }
}

#[test]
fn wired_ports_io_conserves_packets() {
    let l = lcores();
    for (vdevs, topo) in [("pair0,pair1", "paired"), ("loop0", "loop"), ("loop0,loop1", "chained")] {
        let r = json_run(&[
            "-l",
            &l,
            "--vdev",
            vdevs,
            "--port-topology",
            topo,
            "--rxq",
            "2",
            "--txq",
            "2",
            "--tx-first",
            "4",
            "--duration",
            "1",
            "--json",
        ]);
        let ports = r.get("ports").arr();
        let rx: u64 = ports.iter().map(|p| p.get("rx_packets").u64()).sum();
        let tx: u64 = ports.iter().map(|p| p.get("tx_packets").u64()).sum();
        // Wires lose nothing: after the drain, all that was sent was received.
        assert_eq!(rx, tx, "{vdevs}: {r:?}");
        assert!(rx > 0);
        let streams = r.get("streams").arr();
        assert_eq!(streams.len(), 2 * ports.len());
        let generated: u64 = streams.iter().map(|s| s.get("generated").u64()).sum();
        let drops: u64 = streams.iter().map(|s| s.get("fwd_drops").u64()).sum();
        // The primed frames keep circulating: each is finally received once.
        assert_eq!(generated, streams.iter().map(|s| s.get("drained").u64()).sum::<u64>() + drops, "{vdevs}");
        for s in streams {
            assert_eq!(s.get("bad_payload").u64(), 0);
        }
    }
}

#[test]
fn txonly_counts_and_drops_add_up() {
    let l = lcores();
    // Nobody receives on the pair in txonly mode: the wires fill, the rest
    // are forwarding drops, and every generated frame is accounted for.
    let r = json_run(&[
        "-l",
        &l,
        "--vdev",
        "pair0,pair1",
        "--forward-mode",
        "txonly",
        "--tx-count",
        "5000",
        "--burst",
        "64",
        "--json",
    ]);
    let streams = r.get("streams").arr();
    let generated: u64 = streams.iter().map(|s| s.get("generated").u64()).sum();
    assert_eq!(generated, 5000);
    let ports = r.get("ports").arr();
    let sent: u64 = ports.iter().map(|p| p.get("tx_packets").u64()).sum();
    let dropped: u64 = ports.iter().map(|p| p.get("fwd_tx_drops").u64()).sum();
    assert_eq!(sent + dropped, 5000);
    assert!(sent > 0);
    // Over null ports, txonly with a rate and a count stops by itself.
    let r = json_run(&[
        "-l",
        &l,
        "--vdev",
        "null0,null1",
        "--forward-mode",
        "flowgen",
        "--tx-count",
        "20000",
        "--tx-rate",
        "200000",
        "--txpkts",
        "128",
        "--json",
    ]);
    let ports = r.get("ports").arr();
    assert_eq!(ports.iter().map(|p| p.get("tx_packets").u64()).sum::<u64>(), 20000);
    assert_eq!(ports.iter().map(|p| p.get("tx_bytes").u64()).sum::<u64>(), 20000 * 128);
}

#[test]
fn other_modes_run_clean() {
    let l = lcores();
    for mode in ["mac", "macswap", "rxonly"] {
        let r = json_run(&[
            "-l",
            &l,
            "--vdev",
            "pair0,pair1",
            "--forward-mode",
            mode,
            "--tx-first",
            "2",
            "--eth-peer",
            "1,02:00:00:00:00:42",
            "--duration",
            "0.5",
            "--json",
        ]);
        assert_eq!(r.get("mode").str(), mode);
        for s in r.get("streams").arr() {
            assert_eq!(s.get("bad_payload").u64(), 0, "{mode}");
        }
    }
    let r = json_run(&["-l", &l, "--vdev", "null0,null1", "--forward-mode", "rxonly", "--duration", "0.5", "--json"]);
    for s in r.get("streams").arr() {
        assert!(s.get("consumed").u64() > 0);
        assert_eq!(s.get("tx").u64(), 0);
    }
}

#[test]
fn text_report_has_testpmd_layout() {
    // No --duration: the periodic "Rates:" line is awaited as it is
    // printed, then SIGINT ends the run (a 0.5 s run on a loaded machine
    // sometimes ended before the first period was printed).
    let l = lcores();
    let mut child = Command::new(BIN)
        .args(["-l", &l, "--vdev", "null0,null1", "--stats-period", "0.2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line.starts_with("Rates:"));
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    // A guard against a hang, not a timing check: the first period is 0.2 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut rates_seen = false;
    while !rates_seen {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(is_rates) => rates_seen = is_rates,
            Err(_) => break,
        }
    }
    // SAFETY: plain kill(2) on our child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = wait(child, Duration::from_secs(60));
    let text = reader.join().expect("stdout reader");
    assert!(rates_seen, "no 'Rates:' line within 60 s:\n{text}");
    assert_eq!(out.status.code(), Some(0));
    for want in [
        "Forward statistics for port 0",
        "Forward statistics for port 1",
        "RX-packets:",
        "RX-dropped:",
        "RX-total:",
        "TX-packets:",
        "TX-dropped:",
        "TX-total:",
        "RX-queue 0",
        "Accumulated forward statistics for all ports",
        "Throughput (Mpps)",
        "every packet accounted for",
    ] {
        assert!(text.contains(want), "report lacks '{want}':\n{text}");
    }
}

#[test]
fn sigint_stops_cleanly() {
    let l = lcores();
    let mut child = Command::new(BIN)
        .args(["-l", &l, "--vdev", "pair0,pair1", "--tx-first", "4", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait for the banner (printed after the handlers are in place).
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while err.read_line(&mut line).unwrap_or(0) > 0 {
        seen.push_str(&line);
        if line.contains("packet forwarding") {
            break;
        }
        line.clear();
    }
    assert!(seen.contains("packet forwarding"), "{seen}");
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: plain kill(2) on our child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let mut rest = String::new();
    std::thread::spawn(move || {
        let _ = err.read_to_string(&mut rest);
    });
    let out = wait(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0));
    let r = Json::parse(String::from_utf8_lossy(&out.stdout).trim()).expect("json");
    assert!(conservation_problems(&r).is_empty());
    assert!(r.get("ports").arr()[0].get("rx_packets").u64() > 0);
}

#[test]
fn offload_and_filter_flags_refuse_bad_values() {
    let pair = |extra: &[&'static str]| [&["--vdev", "pair0,pair1"][..], extra].concat();
    bad(&pair(&["--tx-vlan", "0,4096"]), &["--tx-vlan '0,4096'", "'4096' is not a VLAN ID", "0..=4095"]);
    bad(&pair(&["--tx-vlan", "x"]), &["--tx-vlan 'x' is not PORT,ID"]);
    bad(&pair(&["--tx-vlan", "2,5"]), &["--tx-vlan names port 2", "only 2 port(s)"]);
    bad(&pair(&["--tx-vlan", "0,5", "--tx-vlan", "0,6"]), &["--tx-vlan 0,5 and --tx-vlan 0,6", "once per port"]);
    // No software stands in for a receive VLAN filter: refused, naming
    // the port and what it offers.
    bad(
        &pair(&["--vlan-filter", "0,10,20"]),
        &["port 0 (pair0)", "--vlan-filter 0,10,20", "vlan_filter rx offload", "offers: scatter,rss_hash"],
    );
    bad(&pair(&["--vlan-filter", "0,1,x"]), &["'x' is not a VLAN ID"]);
    bad(&pair(&["--mc-addr", "0,02:00:00:00:00:01"]), &["02:00:00:00:00:01 is not a multicast group"]);
    bad(&pair(&["--mc-addr", "0,ff:ff:ff:ff:ff:ff"]), &["is not a multicast group", "broadcast"]);
    bad(&pair(&["--mac-addr-add", "1,01:00:5e:00:00:01"]), &["is not a unicast address", "--mc-addr"]);
    bad(&pair(&["--mac-addr-add", "9,02:00:00:00:00:09"]), &["--mac-addr-add names port 9"]);
    bad(&pair(&["--vlan-tpid", "0,middle,0x88a8"]), &["'middle' is not a VLAN tag kind (inner or outer)"]);
    bad(&pair(&["--vlan-tpid", "0,outer,1500"]), &["0x05dc is an 802.3 length, not an EtherType"]);
    bad(&pair(&["--vlan-tpid", "0,outer,0x1ffff"]), &["'0x1ffff' is not a 16-bit EtherType"]);
    bad(&pair(&["--vlan-tpid", "3,outer,0x88a8"]), &["--vlan-tpid names port 3"]);
    bad(&pair(&["--vlan-tpid", "1,outer,0x88a8"]), &["port 1 (pair1): --vlan-tpid 1,outer,0x88a8", "not supported"]);
    bad(&pair(&["--tso-segsz", "0"]), &["'0' is not a TSO segment size", "1..=9000"]);
    bad(&pair(&["--tso-segsz", "1400"]), &["--tso-segsz is for the csum forwarding engine, not io"]);
    bad(
        &pair(&["--forward-mode", "txonly", "--txpkts", "10,54", "--tx-vlan", "0,5"]),
        &["port 0 (pair0)", "in software", "first --txpkts length at least 12"],
    );
}

#[test]
fn csum_icmpecho_and_5tswap_on_pair_ports_keep_the_books() {
    let l = lcores();
    let run_mode = |mode: &str| {
        let args = ["-l", &l, "--vdev", "pair0,pair1", "--forward-mode", mode, "--tx-first", "2", "--duration", "0.5"];
        json_run(&[&args[..], &["--json"]].concat())
    };
    let r = run_mode("csum");
    assert_eq!(r.get("mode").str(), "csum");
    for s in r.get("streams").arr() {
        let g = |k: &str| s.get(k).u64();
        assert!(g("rx") > 64, "frames went round: {s:?}");
        // Pair ports offload nothing: every frame forwarded had its IPv4
        // header checksum made in software (the txonly frames' UDP
        // checksum is 0, "none", and stays so).
        assert_eq!(g("tx_cksum_sw") + g("drained"), g("rx"), "{s:?}");
        assert_eq!((g("tx_cksum_offload"), g("tx_tso"), g("rx_bad_ip_csum"), g("rx_bad_l4_csum")), (0, 0, 0, 0));
    }
    // Generated frames are UDP: icmpecho answers none, drops and counts all.
    let r = run_mode("icmpecho");
    for s in r.get("streams").arr() {
        let g = |k: &str| s.get(k).u64();
        // Sent: only the 64 of --tx-first.
        assert_eq!((g("rx"), g("tx") - g("generated"), g("consumed") + g("drained")), (64, 0, 64), "{s:?}");
    }
    let r = run_mode("5tswap");
    for s in r.get("streams").arr() {
        assert!(s.get("rx").u64() > 64 && s.get("fwd_drops").u64() == 0, "{s:?}");
    }
}

#[test]
fn tx_vlan_and_address_flags_reach_the_ports() {
    let l = lcores();
    let out = run(&[
        "-l",
        &l,
        "--vdev",
        "pair0,pair1",
        "--forward-mode",
        "rxonly",
        "--tx-first",
        "1",
        "--tx-vlan",
        "0,100",
        "--mac-addr-add",
        "0,02:00:00:00:00:09",
        "--mc-addr",
        "1,01:00:5e:00:00:01",
        "--mc-addr",
        "1,33:33:00:00:00:01",
        "--duration",
        "0.3",
        "--json",
    ]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Port 0: every frame sent carries VLAN 100 (inserted by software)"), "{stderr}");
    let r = Json::parse(stdout.trim()).unwrap();
    assert!(conservation_problems(&r).is_empty(), "{stdout}");
    let ports = r.get("ports").arr();
    let strs = |v: &Json| v.arr().iter().map(|a| a.str().to_string()).collect::<Vec<_>>();
    assert_eq!(strs(ports[0].get("mac_addrs"))[1..], ["02:00:00:00:00:09".to_string()]);
    assert_eq!(strs(ports[1].get("mc_addrs")), ["01:00:5e:00:00:01", "33:33:00:00:00:01"]);
    // One burst each way: port 0's frames 4 bytes longer (the tag).
    assert_eq!((ports[1].get("rx_packets").u64(), ports[1].get("rx_bytes").u64()), (32, 32 * 68));
    assert_eq!((ports[0].get("rx_packets").u64(), ports[0].get("rx_bytes").u64()), (32, 32 * 64));
}
