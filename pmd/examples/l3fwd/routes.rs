//! The route file: one route per line, `NETWORK/LENGTH PORT`, e.g.
//! `10.1.0.0/16 1`; `#` starts a comment, blank lines are skipped. Host bits
//! below the length are allowed and ignored (`10.1.2.3/16` is 10.1.0.0/16),
//! as `ip route` would refuse them but DPDK's l3fwd route tables carry them.

use std::net::Ipv4Addr;

use super::lpm::Route;

/// The routes in `text`, each port below `ports`; an error names the line
/// and what is wrong with it.
pub fn parse(text: &str, ports: usize) -> Result<Vec<Route>, String> {
    let mut routes = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |what: String| format!("route file line {}: '{}': {what}", i + 1, raw.trim());
        let mut words = line.split_whitespace();
        let (Some(prefix), Some(port), None) = (words.next(), words.next(), words.next()) else {
            return Err(at("want NETWORK/LENGTH PORT, e.g. 10.1.0.0/16 1".into()));
        };
        let (addr, len) = prefix.split_once('/').ok_or_else(|| at(format!("'{prefix}' has no /LENGTH")))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| at(format!("'{addr}' is not an IPv4 address")))?;
        let len: u8 =
            len.parse().ok().filter(|l| *l <= 32).ok_or_else(|| at(format!("'{len}' is not a length 0..32")))?;
        let port: u16 = port.parse().ok().filter(|p| usize::from(*p) < ports).ok_or_else(|| {
            at(format!("'{port}' is not a port: {ports} port(s) were opened, 0..{}", ports.saturating_sub(1)))
        })?;
        routes.push(Route { addr: u32::from(addr), len, port });
    }
    Ok(routes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_read_with_comments_and_errors_name_the_line() {
        let r = parse("# table\n10.1.0.0/16 1\n\n0.0.0.0/0 0  # default\n", 2).unwrap();
        assert_eq!(r, [Route { addr: 0x0a01_0000, len: 16, port: 1 }, Route { addr: 0, len: 0, port: 0 }]);
        for (text, says) in [
            ("10.1.0.0/16", "line 1"),
            ("10.1.0.0 1", "no /LENGTH"),
            ("10.1.0/16 1", "not an IPv4"),
            ("10.1.0.0/33 1", "not a length"),
            ("\n10.1.0.0/16 2", "line 2: '10.1.0.0/16 2': '2' is not a port: 2 port(s)"),
            ("10.1.0.0/16 1 x", "want NETWORK/LENGTH PORT"),
        ] {
            let e = parse(text, 2).unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }
}
