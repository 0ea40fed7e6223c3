//! Telemetry and pmdstat against a running testpmd: 2 cores × 2 queues on a
//! pair of virtual ports for 12 s; pmdstat, another process, sees non-zero,
//! increasing per-queue rates; its numbers agree with the final report;
//! the socket is owner-only; and with no process pmdstat says so. Also:
//! `--telemetry-dir` never changes an existing directory and refuses an
//! unsafe one; pmdstat rejects periods that are not seconds.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferrite_tests::{conservation_problems, Json};

const TESTPMD: &str = env!("CARGO_BIN_EXE_testpmd-under-test");
const PMDSTAT: &str = env!("CARGO_BIN_EXE_pmdstat-under-test");

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ferrite-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn pmdstat(dir: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(PMDSTAT).arg("--dir").arg(dir).args(extra).output().expect("run pmdstat")
}

fn wait_for_socket(dir: &Path, limit: Duration) -> PathBuf {
    let start = Instant::now();
    loop {
        if let Ok(rd) = std::fs::read_dir(dir) {
            if let Some(e) = rd.flatten().find(|e| e.file_name().to_string_lossy().ends_with(".sock")) {
                return e.path();
            }
        }
        assert!(start.elapsed() < limit, "no telemetry socket in {} after {limit:?}", dir.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn pmdstat_follows_two_cores_two_queues_and_agrees_with_the_report() {
    // testpmd runs at most one forwarding core per CPU, and two cores are
    // the point of this test.
    let cpus = ferrite_pmd::lcore::allowed_cpus();
    assert!(cpus.len() >= 2, "this test needs 2 CPUs for 2 forwarding cores; this process may use only {cpus:?}");
    let lcores = format!("{},{}", cpus[0], cpus[1]);
    let dir = temp_dir("telemetry");
    let child = Command::new(TESTPMD)
        .args(["-l", &lcores, "--nb-cores", "2", "--vdev", "pair0,pair1", "--rxq", "2", "--txq", "2"])
        .args(["--tx-first", "4", "--txpkts", "64", "--duration", "12", "--json", "--telemetry-dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start testpmd");
    let sock = wait_for_socket(&dir, Duration::from_secs(60));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "telemetry directory is owner-only");
    assert_eq!(mode(&sock), 0o600, "socket is owner-only");

    let list = pmdstat(&dir, &["--list"]);
    assert!(list.status.success(), "{list:?}");
    assert!(String::from_utf8_lossy(&list.stdout).contains(&format!("{}", child.id())), "{list:?}");

    // Three samples, each over one second, while forwarding runs.
    let mut samples = Vec::new();
    for _ in 0..3 {
        let out = pmdstat(&dir, &["--json", "--interval", "1"]);
        assert!(out.status.success(), "pmdstat failed: {}", String::from_utf8_lossy(&out.stderr));
        let j = Json::parse(String::from_utf8_lossy(&out.stdout).trim()).expect("pmdstat --json");
        samples.push(j);
    }
    for (k, s) in samples.iter().enumerate() {
        let ports = s.get("ports").arr();
        assert_eq!(ports.len(), 2);
        for p in ports {
            for dir in ["rx_queues", "tx_queues"] {
                let qs = p.get(dir).arr();
                assert_eq!(qs.len(), 2, "{dir}");
                for q in qs {
                    assert!(q.get("pps").f64() > 0.0, "sample {k}: port {} {dir} idle: {q:?}", p.get("id").u64());
                    assert!(q.get("mbps").f64() > 0.0);
                    // Every frame is --txpkts 64 long: pmdstat shows the
                    // driver's packet and byte counters, not something else.
                    assert_eq!(q.get("bytes").u64(), 64 * q.get("packets").u64(), "sample {k}: {dir} {q:?}");
                }
            }
        }
    }
    for w in samples.windows(2) {
        for (a, b) in w[0].get("ports").arr().iter().zip(w[1].get("ports").arr()) {
            for (qa, qb) in a.get("rx_queues").arr().iter().zip(b.get("rx_queues").arr()) {
                assert!(qb.get("packets").u64() > qa.get("packets").u64(), "counters increase");
            }
        }
    }
    let prom = pmdstat(&dir, &["--prometheus"]);
    let text = String::from_utf8_lossy(&prom.stdout);
    // (promtool checks the format: tests/tests/prometheus_promtool.rs.)
    assert!(text.contains("# TYPE ferrite_rx_packets_total counter"), "{text}");
    assert!(text.contains("ferrite_tx_bytes_total{"), "{text}");
    let ethtool = pmdstat(&dir, &["-S", "1"]);
    let text = String::from_utf8_lossy(&ethtool.stdout);
    assert!(text.starts_with("NIC statistics:") && text.contains("rx_queue_1_packets: "), "{text}");

    let out = child.wait_with_output().expect("testpmd");
    assert!(out.status.success(), "testpmd: {}", String::from_utf8_lossy(&out.stderr));
    let report = Json::parse(String::from_utf8_lossy(&out.stdout).trim()).expect("report");
    assert!(report.get("duration_s").f64() >= 10.0);
    assert_eq!(report.get("nb_cores").u64(), 2);
    assert_eq!(report.get("cores").arr().len(), 2, "one entry per forwarding core");
    let mut cores: Vec<u64> = report.get("streams").arr().iter().map(|s| s.get("core").u64()).collect();
    cores.dedup();
    cores.sort();
    cores.dedup();
    assert_eq!(cores, [0, 1], "streams ran on two forwarding cores");
    assert_eq!(conservation_problems(&report), Vec::<String>::new());
    // pmdstat's last sample is a prefix of the final counts.
    let last = samples.last().unwrap();
    for (p, rp) in last.get("ports").arr().iter().zip(report.get("ports").arr()) {
        assert_eq!(p.get("name").str(), rp.get("name").str());
        let rq = rp.get("queues").arr();
        for (q, s) in p.get("rx_queues").arr().iter().enumerate() {
            let fin = rq[q].get("rx_packets").u64();
            assert!(s.get("packets").u64() <= fin && fin > 0, "port {} rxq {q}", rp.get("name").str());
        }
        for (q, s) in p.get("tx_queues").arr().iter().enumerate() {
            assert!(s.get("packets").u64() <= rq[q].get("tx_packets").u64());
        }
    }
    assert!(!sock.exists(), "the socket goes away with the process");
    let none = pmdstat(&dir, &[]);
    assert_eq!(none.status.code(), Some(1));
    let err = String::from_utf8_lossy(&none.stderr);
    assert!(err.contains("no ferrite process found in") && err.contains("start testpmd first"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pmdstat_without_a_process_says_so() {
    let dir = temp_dir("telemetry-empty");
    std::fs::create_dir_all(&dir).unwrap();
    // A stale socket of a process that is gone does not count.
    std::fs::write(dir.join("testpmd.999999999.sock"), b"").unwrap();
    for args in [&[][..], &["--list"][..], &["--json"][..]] {
        let out = pmdstat(&dir, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("no ferrite process found in {}: start testpmd first", dir.display())), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn telemetry_answers_port_info_link_rss_and_dev_info() {
    use ferrite_apps::telemetry::Client;
    let dir = temp_dir("telemetry-info");
    let child = Command::new(TESTPMD)
        .args(["--vdev", "loop0", "--rxq", "4", "--txq", "4", "--tx-first", "1", "--duration", "4"])
        .args(["--mac-addr-add", "0,02:00:00:00:00:77"])
        .arg("--telemetry-dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .args(["--port-topology", "loop"])
        .spawn()
        .expect("start testpmd");
    let sock = wait_for_socket(&dir, Duration::from_secs(60));
    let mut c = Client::connect(&sock).expect("connect");
    assert!(c.greeting.contains("\"pid\""), "{}", c.greeting);
    let get = |c: &mut Client, cmd: &str| Json::parse(&c.request(cmd).unwrap()).unwrap();
    let info = get(&mut c, "/port/info,0");
    let i = info.get("/port/info");
    assert_eq!((i.get("driver").str(), i.get("rx_queues").u64(), i.get("mtu").u64()), ("net_loop", 4, 1500));
    assert!(i.get("mac").str().starts_with("02:00:00:01"));
    assert!(get(&mut c, "/port/link,0").get("/port/link").get("up").bool());
    let rss = get(&mut c, "/port/rss,0");
    let r = rss.get("/port/rss");
    assert!(r.get("enabled").bool(), "testpmd turns RSS on with --rxq 4: {r:?}");
    assert_eq!(r.get("reta").arr().len(), 128);
    assert!(r.get("key").str().starts_with("6d:5a:56:da"));
    let stats = get(&mut c, "/port/stats,0");
    assert_eq!(stats.get("/port/stats").get("rx_queues").arr().len(), 4);
    // dev_info as DPDK's telemetry /ethdev/info: limits, offloads, features.
    let dev = get(&mut c, "/ethdev/info,0");
    let d = dev.get("/ethdev/info");
    assert_eq!((d.get("port").u64(), d.get("driver").str(), d.get("nb_rx_queues").u64()), (0, "net_loop", 4));
    assert_eq!(d.get("max_rx_pktlen").u64(), d.get("max_mtu").u64() + 22, "header and two tags");
    let names = |v: &Json| v.arr().iter().map(|x| x.str().to_string()).collect::<Vec<_>>();
    assert_eq!(names(d.get("rx_offload_capa")), ["scatter", "rss_hash"]);
    assert!(d.get("features").get("tcp-segmentation-offload").get("fixed").bool(), "{d:?}");
    assert!(d.get("desc_lim").get("power_of_two").bool());
    assert_eq!(names(d.get("mac_addrs"))[1..], ["02:00:00:00:00:77".to_string()]);
    assert!(get(&mut c, "/ethdev/info").get("error").str().contains("wants a port id"));
    assert!(get(&mut c, "/port/stats,7").get("error").str().contains("no port 7"));
    assert!(get(&mut c, "/bogus").get("error").str().contains("unknown command"));
    drop(c);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// testpmd on null ports for `secs`, its telemetry socket in `dir`.
fn testpmd_in(dir: &Path, secs: &str) -> std::process::Child {
    Command::new(TESTPMD)
        .args(["--vdev", "null0,null1", "--duration", secs, "--telemetry-dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start testpmd")
}

fn make_dir(dir: &Path, mode: u32) {
    std::fs::create_dir_all(dir).unwrap();
    // Exactly `mode`: create_dir is subject to the umask.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn telemetry_dir_keeps_an_existing_directorys_mode_and_refuses_an_unsafe_one() {
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    // A shared directory like /tmp (world-writable, sticky): safe to bind
    // in, not ours to change. As root, chmod-ing /tmp to 0700 would lock
    // every other user out of it.
    let shared = temp_dir("telemetry-shared");
    make_dir(&shared, 0o1777);
    let child = testpmd_in(&shared, "3");
    let sock = wait_for_socket(&shared, Duration::from_secs(60));
    assert_eq!(mode(&shared), 0o1777, "testpmd changed the mode of {}", shared.display());
    let list = pmdstat(&shared, &["--list"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains(&child.id().to_string()), "{list:?}");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!sock.exists());
    assert_eq!(mode(&shared), 0o1777);
    std::fs::remove_dir_all(&shared).unwrap();

    // World-writable without the sticky bit: anyone could replace the
    // socket. testpmd forwards anyway, without telemetry, and says why.
    let open = temp_dir("telemetry-open");
    make_dir(&open, 0o777);
    let out = testpmd_in(&open, "0.5").wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("warning") && err.contains("0777") && err.contains("sticky"), "{err}");
    assert_eq!(std::fs::read_dir(&open).unwrap().count(), 0, "no socket in an unsafe directory");
    assert_eq!(mode(&open), 0o777, "a refused directory is left as it was");
    std::fs::remove_dir_all(&open).unwrap();
}

#[test]
fn pmdstat_rejects_watch_periods_that_are_not_seconds() {
    // With a live process, so the bad value would reach the sleep.
    let dir = temp_dir("telemetry-watch");
    let child = testpmd_in(&dir, "3");
    wait_for_socket(&dir, Duration::from_secs(60));
    for bad in ["nan", "inf", "-1", "1e300", "0"] {
        let out = pmdstat(&dir, &[&format!("--watch={bad}"), "--count", "1"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "--watch {bad}: {err}");
        assert_eq!(out.status.code(), Some(2), "--watch {bad}: {err}");
        assert_eq!(err.lines().count(), 1, "--watch {bad}: one line: {err}");
        assert!(err.starts_with("pmdstat: ") && err.contains("--watch") && err.contains("seconds"), "{err}");
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}
