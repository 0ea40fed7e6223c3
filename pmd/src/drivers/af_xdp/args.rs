//! The device arguments of an AF_XDP port, DPDK's names:
//! `iface=NAME[,start_queue=N][,queue_count=N][,force_copy=0|1][,xdp_mode=native|generic]`.

use crate::port::PortError;

/// Longest interface name Linux takes (`IFNAMSIZ` less the NUL).
const MAX_IFNAME: usize = 15;

/// Which XDP attach mode to ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpModeChoice {
    /// Native (driver) mode, falling back to generic when the driver has none.
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (skb) mode only.
    Generic,
}

/// Parsed arguments of one `af_xdpN` port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AfXdpArgs {
    /// The kernel interface whose queues the port uses.
    pub iface: String,
    /// The first of the interface's queues the port takes.
    pub start_queue: u32,
    /// How many queues (one socket each); `None`: as many as configured
    /// (`--rxq`), which must then fit the interface.
    pub queue_count: Option<u32>,
    /// Bind in copy mode even where the driver has zero-copy (DPDK's
    /// `force_copy`).
    pub force_copy: bool,
    /// XDP attach mode.
    pub xdp_mode: XdpModeChoice,
}

impl AfXdpArgs {
    /// Reads `args` (the `key=value` pairs after the port name `who`).
    pub fn parse(who: &str, args: &[(String, String)]) -> Result<AfXdpArgs, PortError> {
        let mut iface = None;
        let mut out = AfXdpArgs {
            iface: String::new(),
            start_queue: 0,
            queue_count: None,
            force_copy: false,
            xdp_mode: XdpModeChoice::Auto,
        };
        for (k, v) in args {
            match k.as_str() {
                "iface" => iface = Some(check_ifname(who, v)?),
                "start_queue" => out.start_queue = number(who, k, v, 0)?,
                "queue_count" => out.queue_count = Some(number(who, k, v, 1)?),
                "force_copy" => out.force_copy = flag(who, k, v)?,
                "xdp_mode" => out.xdp_mode = mode(who, v)?,
                _ => {
                    return Err(PortError::InvalidConfig(format!(
                        "{who}: unknown device argument '{k}'; {who} takes iface=NAME, start_queue=N, \
                         queue_count=N, force_copy=0|1, xdp_mode=native|generic"
                    )))
                }
            }
        }
        out.iface = iface.ok_or_else(|| {
            PortError::InvalidConfig(format!(
                "{who}: no interface: give iface=NAME (e.g. --vdev {who},iface=eth0; `ip link` lists them)"
            ))
        })?;
        Ok(out)
    }
}

fn check_ifname(who: &str, v: &str) -> Result<String, PortError> {
    let bad = v.is_empty() || v.len() > MAX_IFNAME || v.bytes().any(|b| b == b'/' || b.is_ascii_whitespace() || b == 0);
    if bad {
        return Err(PortError::InvalidConfig(format!(
            "{who}: iface='{v}' is not an interface name (1 to {MAX_IFNAME} bytes, no '/' or spaces)"
        )));
    }
    Ok(v.to_string())
}

fn number(who: &str, k: &str, v: &str, least: u32) -> Result<u32, PortError> {
    match v.parse::<u32>() {
        Ok(n) if n >= least && n < 1 << 16 => Ok(n),
        _ => Err(PortError::InvalidConfig(format!("{who}: {k}={v}: want a number from {least} to 65535"))),
    }
}

fn flag(who: &str, k: &str, v: &str) -> Result<bool, PortError> {
    match v {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(PortError::InvalidConfig(format!("{who}: {k}={v}: {k} takes 0 or 1"))),
    }
}

fn mode(who: &str, v: &str) -> Result<XdpModeChoice, PortError> {
    match v {
        "native" | "drv" => Ok(XdpModeChoice::Native),
        "generic" | "skb" => Ok(XdpModeChoice::Generic),
        _ => Err(PortError::InvalidConfig(format!("{who}: xdp_mode={v}: want native or generic"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[(&str, &str)]) -> Result<AfXdpArgs, PortError> {
        let owned: Vec<(String, String)> = args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        AfXdpArgs::parse("af_xdp0", &owned)
    }

    #[test]
    fn dpdk_names_parse() {
        let a = parse(&[("iface", "h26a"), ("start_queue", "2"), ("queue_count", "3")]).unwrap();
        assert_eq!((a.iface.as_str(), a.start_queue, a.queue_count), ("h26a", 2, Some(3)));
        assert!(!a.force_copy && a.xdp_mode == XdpModeChoice::Auto);
        let a = parse(&[("iface", "eth0"), ("force_copy", "1"), ("xdp_mode", "generic")]).unwrap();
        assert!(a.force_copy && a.xdp_mode == XdpModeChoice::Generic && a.queue_count.is_none());
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        let cases: [(&[(&str, &str)], &str); 7] = [
            (&[], "give iface=NAME"),
            (&[("iface", "")], "not an interface name"),
            (&[("iface", "a-name-that-is-too-long")], "not an interface name"),
            (&[("iface", "x"), ("queue_count", "0")], "queue_count=0"),
            (&[("iface", "x"), ("start_queue", "-1")], "start_queue=-1"),
            (&[("iface", "x"), ("force_copy", "yes")], "takes 0 or 1"),
            (&[("iface", "x"), ("busy_budget", "64")], "unknown device argument 'busy_budget'"),
        ];
        for (args, want) in cases {
            let e = parse(args).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("af_xdp0"), "{args:?}: {e}");
        }
    }
}
