//! ethtool's verbs over a ferrite port, printed in ethtool's layout, for
//! `pmdinfo -i|-g|-l|-c|-S|-d|-e|-t|-p|-x`.
//!
//! Each verb is one function from the port to the text ethtool would print
//! for a Linux interface (the device name in headers is the PCI address or
//! virtual port name). Errors carry ethtool's exit status for the verb, so
//! scripts written for ethtool see the same codes.

use std::fmt::Write as _;
use std::time::Duration;

use ferrite_pmd::port::{SelfTestRow, TestResult};
use ferrite_pmd::{NetDevice, PortError};

/// An ethtool verb and its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verb {
    /// `-i`: driver information.
    DrvInfo,
    /// `-g`: ring sizes.
    Rings,
    /// `-l`: channels.
    Channels,
    /// `-c`: interrupt coalescing.
    Coalesce,
    /// `-S`: named statistics.
    Stats,
    /// `-d`: register dump.
    Regs,
    /// `-e [offset N] [length N] [raw on|off]`: EEPROM/NVM bytes.
    Eeprom {
        /// First byte.
        offset: usize,
        /// Bytes to read; `None`: to the end.
        length: Option<usize>,
        /// The bytes themselves, not a hex dump.
        raw: bool,
    },
    /// `-t [offline|online]`: self-test.
    Test {
        /// All rows (the port must be stopped), or the link row only.
        offline: bool,
    },
    /// `-p [SECONDS]`: blink the port's LEDs.
    Identify {
        /// How long to blink.
        seconds: u64,
    },
    /// `-x`: RSS indirection table, key and hash function.
    Rss,
}

/// A verb that failed, with the exit status ethtool gives for it.
#[derive(Debug)]
pub struct VerbError {
    /// What to print (after `pmdinfo: `).
    pub message: String,
    /// ethtool's exit status for this verb's failure.
    pub status: u8,
}

/// How long `-p` blinks when no duration is given.
pub const DEFAULT_IDENTIFY_SECS: u64 = 5;

impl Verb {
    /// The verb for an option (`-i`, `--driver`...), if it is one.
    pub fn from_flag(flag: &str) -> Option<Verb> {
        Some(match flag {
            "-i" | "--driver" => Verb::DrvInfo,
            "-g" | "--show-ring" => Verb::Rings,
            "-l" | "--show-channels" => Verb::Channels,
            "-c" | "--show-coalesce" => Verb::Coalesce,
            "-S" | "--statistics" => Verb::Stats,
            "-d" | "--register-dump" => Verb::Regs,
            "-e" | "--eeprom-dump" => Verb::Eeprom { offset: 0, length: None, raw: false },
            "-t" | "--test" => Verb::Test { offline: true },
            "-p" | "--identify" => Verb::Identify { seconds: DEFAULT_IDENTIFY_SECS },
            "-x" | "--show-rxfh-indir" | "--show-rxfh" => Verb::Rss,
            _ => return None,
        })
    }

    /// Applies the words after the device name (`offset 16 length 32`,
    /// `online`, `3`), as ethtool reads them.
    pub fn with_args(self, args: &[String]) -> Result<Verb, String> {
        match self {
            Verb::Eeprom { mut offset, mut length, mut raw } => {
                for pair in args.chunks(2) {
                    let [key, value] = pair else { return Err(format!("-e: `{}` wants a value", pair[0])) };
                    match key.as_str() {
                        "offset" => offset = parse_number(value)?,
                        "length" => length = Some(parse_number(value)?),
                        "raw" => raw = on_off(value)?,
                        other => {
                            return Err(format!("-e: unknown argument `{other}` (offset N, length N, raw on|off)"))
                        }
                    }
                }
                Ok(Verb::Eeprom { offset, length, raw })
            }
            Verb::Test { .. } => match args {
                [] => Ok(Verb::Test { offline: true }),
                [m] if m == "offline" => Ok(Verb::Test { offline: true }),
                [m] if m == "online" => Ok(Verb::Test { offline: false }),
                _ => Err(format!("-t wants offline or online, got {args:?}")),
            },
            Verb::Identify { .. } => match args {
                [] => Ok(self),
                [n] => match n.parse::<u64>() {
                    Ok(s) if s > 0 => Ok(Verb::Identify { seconds: s }),
                    _ => Err(format!("-p wants a number of seconds above 0, got `{n}`")),
                },
                _ => Err(format!("-p wants at most one number of seconds, got {args:?}")),
            },
            verb if args.is_empty() => Ok(verb),
            verb => Err(format!("{verb:?} takes no arguments after the device, got {args:?}")),
        }
    }

    /// ethtool's exit status when the driver cannot do this verb.
    fn unsupported_status(&self) -> u8 {
        match self {
            Verb::Eeprom { .. } | Verb::Test { .. } => 74,
            Verb::Regs => 72,
            Verb::Identify { .. } => 255,
            _ => 1,
        }
    }

    /// Runs the verb on `port`, writing what ethtool would print to `out`
    /// (bytes: `-e raw on` is binary). The exit status is 0, or 1 when a
    /// self-test row failed (as ethtool's).
    pub fn run(&self, port: &mut dyn NetDevice, out: &mut Vec<u8>) -> Result<u8, VerbError> {
        let name = port.name().to_string();
        let fail = |what: &str, e: PortError| VerbError {
            message: format!("Cannot {what} for {name}: {e}"),
            status: if matches!(e, PortError::NotSupported(_)) { self.unsupported_status() } else { 1 },
        };
        let text = match self {
            Verb::DrvInfo => drvinfo(port),
            Verb::Rings => rings(port),
            Verb::Channels => channels(port),
            Verb::Coalesce => coalesce(port).map_err(|e| fail("get coalesce settings", e))?,
            Verb::Stats => stats(port),
            Verb::Regs => regs(port).map_err(|e| fail("get register dump", e))?,
            Verb::Rss => rss(port).map_err(|e| fail("get RSS settings", e))?,
            Verb::Eeprom { offset, length, raw } => {
                let bytes = eeprom(port, *offset, *length).map_err(|e| fail("get EEPROM data", e))?;
                if *raw {
                    out.extend_from_slice(&bytes);
                    return Ok(0);
                }
                eeprom_text(*offset, &bytes)
            }
            Verb::Test { offline } => {
                let rows = port.self_test(*offline).map_err(|e| fail("run the self-test", e))?;
                let (text, failed) = test_text(&rows);
                out.extend_from_slice(text.as_bytes());
                return Ok(u8::from(failed));
            }
            Verb::Identify { seconds } => {
                port.identify(Duration::from_secs(*seconds)).map_err(|e| fail("identify NIC", e))?;
                String::new()
            }
        };
        out.extend_from_slice(text.as_bytes());
        Ok(0)
    }
}

fn parse_number(s: &str) -> Result<usize, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => usize::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| format!("`{s}` is not a number (decimal or 0x hex)"))
}

fn on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("wanted on or off, got `{s}`")),
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// `ethtool -i`.
pub fn drvinfo(port: &dyn NetDevice) -> String {
    let d = port.drvinfo();
    format!(
        "driver: {}\nversion: {}\nfirmware-version: {}\nexpansion-rom-version: \nbus-info: {}\n\
         supports-statistics: {}\nsupports-test: {}\nsupports-eeprom-access: {}\n\
         supports-register-dump: {}\nsupports-priv-flags: no\n",
        d.driver,
        d.version,
        d.fw_version,
        d.bus_info,
        yes_no(!port.stat_names().is_empty()),
        yes_no(port.supports_self_test()),
        yes_no(port.eeprom_len() > 0),
        yes_no(port.regs().is_ok()),
    )
}

/// `ethtool -g`.
pub fn rings(port: &dyn NetDevice) -> String {
    let r = port.ringparam();
    let block = |rx: u16, tx: u16| format!("RX:\t\t{rx}\nRX Mini:\tn/a\nRX Jumbo:\tn/a\nTX:\t\t{tx}\n");
    format!(
        "Ring parameters for {}:\nPre-set maximums:\n{}Current hardware settings:\n{}",
        port.name(),
        block(r.rx_max, r.tx_max),
        block(r.rx, r.tx)
    )
}

/// `ethtool -l`: ferrite's queues are separate RX and TX channels.
pub fn channels(port: &dyn NetDevice) -> String {
    let c = port.channels();
    let block = |rx: u16, tx: u16| format!("RX:\t\t{rx}\nTX:\t\t{tx}\nOther:\t\tn/a\nCombined:\tn/a\n");
    format!(
        "Channel parameters for {}:\nPre-set maximums:\n{}Current hardware settings:\n{}",
        port.name(),
        block(c.max_rx, c.max_tx),
        block(c.rx, c.tx)
    )
}

/// `ethtool -c`: only the receive throttle is a ferrite setting.
pub fn coalesce(port: &dyn NetDevice) -> Result<String, PortError> {
    let c = port.coalesce()?;
    Ok(format!(
        "Coalesce parameters for {}:\nAdaptive RX: off  TX: n/a\nrx-usecs: {}\nrx-frames: n/a\ntx-usecs: n/a\ntx-frames: n/a\n",
        port.name(),
        c.rx_usecs
    ))
}

/// `ethtool -S`.
pub fn stats(port: &dyn NetDevice) -> String {
    let mut s = String::from("NIC statistics:\n");
    for (name, value) in port.named_stats() {
        let _ = writeln!(s, "     {name}: {value}");
    }
    s
}

/// `ethtool -d`: one register a line, by name.
pub fn regs(port: &dyn NetDevice) -> Result<String, PortError> {
    let dump = port.regs()?;
    let mut s = format!("Register dump of {} (version {}):\n", port.name(), dump.version);
    for (name, value) in dump.regs {
        let _ = writeln!(s, "{name:<16}0x{value:08X}");
    }
    Ok(s)
}

/// `ethtool -x`.
pub fn rss(port: &dyn NetDevice) -> Result<String, PortError> {
    let conf = port.rss_config()?;
    let mut s = format!("RX flow hash indirection table for {} with {} RX ring(s):", port.name(), port.channels().rx);
    for (i, q) in conf.reta.iter().enumerate() {
        if i % 8 == 0 {
            let _ = write!(s, "\n{i:5}: ");
        }
        let _ = write!(s, " {q:5}");
    }
    let key: Vec<String> = conf.key.iter().map(|b| format!("{b:02x}")).collect();
    let _ = write!(
        s,
        "\nRSS hash key:\n{}\nRSS hash function:\n    toeplitz: on\n    xor: off\n    crc32: off\n",
        key.join(":")
    );
    Ok(s)
}

/// The bytes `-e` asks for: all of the EEPROM from `offset` unless a
/// length is given.
fn eeprom(port: &dyn NetDevice, offset: usize, length: Option<usize>) -> Result<Vec<u8>, PortError> {
    let total = port.eeprom_len();
    if total == 0 {
        return Err(PortError::NotSupported("get_eeprom"));
    }
    let len = length.unwrap_or(total.saturating_sub(offset));
    port.read_eeprom(offset, len)
}

/// ethtool's hex layout of an EEPROM dump: 16 bytes a line after the
/// line's offset.
pub fn eeprom_text(offset: usize, bytes: &[u8]) -> String {
    let mut s = String::from("Offset\t\tValues\n------\t\t------");
    for (i, b) in bytes.iter().enumerate() {
        if i % 16 == 0 {
            let _ = write!(s, "\n0x{:04x}:\t\t", offset + i);
        }
        let _ = write!(s, "{b:02x} ");
    }
    s.push('\n');
    s
}

/// ethtool's self-test report, and whether any row failed.
pub fn test_text(rows: &[SelfTestRow]) -> (String, bool) {
    let failed = rows.iter().any(|r| matches!(r.result, TestResult::Fail(_)));
    let mut s = format!("The test result is {}\nThe test extra info:\n", if failed { "FAIL" } else { "PASS" });
    for r in rows {
        let value = match &r.result {
            TestResult::Pass => "0".to_string(),
            TestResult::Fail(code) => code.to_string(),
            TestResult::NotRun(why) => format!("not run ({why})"),
        };
        let _ = writeln!(s, "{}\t {value}", r.name);
    }
    (s, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eeprom_args_parse_as_ethtool_reads_them() {
        let args: Vec<String> = ["offset", "0x10", "length", "8", "raw", "on"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            Verb::from_flag("-e").unwrap().with_args(&args).unwrap(),
            Verb::Eeprom { offset: 16, length: Some(8), raw: true }
        );
        assert!(Verb::from_flag("-e").unwrap().with_args(&["offset".to_string()]).is_err());
        assert!(Verb::from_flag("-p").unwrap().with_args(&["0".to_string()]).is_err());
        assert_eq!(
            Verb::from_flag("-t").unwrap().with_args(&["online".to_string()]).unwrap(),
            Verb::Test { offline: false }
        );
    }

    #[test]
    fn eeprom_text_breaks_lines_at_16_bytes_from_the_offset() {
        let text = eeprom_text(0x10, &(0u8..20).collect::<Vec<_>>());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[2], "0x0010:\t\t00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f ");
        assert_eq!(lines[3], "0x0020:\t\t10 11 12 13 ");
    }

    #[test]
    fn a_failed_row_fails_the_test_and_not_run_does_not() {
        let row = |r| SelfTestRow { name: "Link test   (on/offline)".into(), result: r };
        assert!(!test_text(&[row(TestResult::NotRun("x".into()))]).1);
        let (text, failed) = test_text(&[row(TestResult::Fail(3))]);
        assert!(failed && text.starts_with("The test result is FAIL") && text.contains("(on/offline)\t 3"));
    }
}
