//! pmdinfo's ethtool verbs on virtual ports: the layout ethtool prints, the
//! values the library reports for the same port, ethtool's exit statuses
//! for verbs a driver lacks, and usage errors. The igb verbs are judged by
//! Linux in the guest (tests/guest/loop/31-igb-ethtool.sh).

use std::process::{Command, Output};

use ferrite_pmd::drivers::vdev;

const BIN: &str = env!("CARGO_BIN_EXE_pmdinfo-under-test");

fn pmdinfo(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("pmdinfo runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The port pmdinfo would open, opened here through the library.
fn port(name: &str) -> Box<dyn ferrite_pmd::NetDevice> {
    let specs = vdev::parse_vdev_tokens(&[name.to_string()]).unwrap();
    vdev::create_vdevs(&specs, 0).unwrap().pop().unwrap()
}

#[test]
fn rings_show_the_ports_maxima_in_ethtools_layout() {
    let out = pmdinfo(&["-g", "null0"]);
    assert!(out.status.success(), "{}", text(&out));
    let r = port("null0").ringparam();
    let s = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines[0], "Ring parameters for null0:");
    assert_eq!(lines[1], "Pre-set maximums:");
    assert_eq!(lines[2], format!("RX:\t\t{}", r.rx_max));
    assert_eq!(lines[5], format!("TX:\t\t{}", r.tx_max));
    assert_eq!(lines[6], "Current hardware settings:");
}

#[test]
fn statistics_are_the_ports_named_stats() {
    let out = pmdinfo(&["-S", "null0"]);
    assert!(out.status.success(), "{}", text(&out));
    let s = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = s.lines().skip(1).map(|l| l.trim_start().split(':').next().unwrap()).collect();
    assert_eq!(s.lines().next(), Some("NIC statistics:"));
    assert_eq!(names, port("null0").stat_names());
    assert!(!names.is_empty());
}

#[test]
fn drvinfo_says_what_the_driver_supports() {
    let out = pmdinfo(&["-i", "null0"]);
    let s = text(&out);
    assert!(out.status.success(), "{s}");
    let d = port("null0").drvinfo();
    assert!(s.contains(&format!("driver: {}\n", d.driver)), "{s}");
    assert!(s.contains(&format!("bus-info: {}\n", d.bus_info)), "{s}");
    assert!(s.contains("supports-test: no\n") && s.contains("supports-eeprom-access: no\n"), "{s}");
}

#[test]
fn verbs_a_driver_lacks_exit_as_ethtool_does() {
    for (verb, status) in [("-e", 74), ("-t", 74), ("-p", 255)] {
        let out = pmdinfo(&[verb, "null0"]);
        let s = text(&out);
        assert_eq!(out.status.code(), Some(status), "{verb}: {s}");
        assert!(s.contains("not supported"), "{verb}: {s}");
    }
}

#[test]
fn bad_verb_arguments_are_usage_errors() {
    for args in [&["-e", "null0", "offset"][..], &["-t", "null0", "sideways"], &["-p", "null0", "0"], &["-g"]] {
        let out = pmdinfo(args);
        let s = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {s}");
        assert!(s.contains("usage:"), "{args:?}: {s}");
    }
    let out = pmdinfo(&["-i", "0000:99:00.0"]);
    let s = text(&out);
    assert_eq!(out.status.code(), Some(1), "{s}");
    assert!(s.contains("scripts/devbind"), "says what to run: {s}");
}
