//! The words of `testpmd -i`, as dpdk-testpmd spells them, parsed into a
//! [`Command`]. Parsing knows nothing of the ports: a port number is
//! checked against them when the command runs.

use ferrite_pmd::port::MacAddr;

use crate::fwd::ForwardMode;

/// `all`, or one port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Every port.
    All,
    /// Port N.
    Port(usize),
}

/// What `port config all` sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueParam {
    /// rx queues per port.
    Rxq,
    /// tx queues per port.
    Txq,
    /// rx ring size.
    Rxd,
    /// tx ring size.
    Txd,
}

/// One command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `start`, `start tx_first [N]` (N bursts per stream first, 1 if not given).
    Start { tx_first: usize },
    /// `stop`.
    Stop,
    /// `quit`.
    Quit,
    /// `help`.
    Help,
    /// `show port info all|N`.
    ShowInfo(Target),
    /// `show port stats all|N`.
    ShowStats(Target),
    /// `show port xstats all|N`.
    ShowXstats(Target),
    /// `clear port stats all|N`.
    ClearStats(Target),
    /// `show fwd stats all`.
    ShowFwdStats,
    /// `set fwd MODE`.
    SetFwd(ForwardMode),
    /// `set promisc all|N on|off`.
    SetPromisc(Target, bool),
    /// `set allmulti all|N on|off`.
    SetAllmulti(Target, bool),
    /// `port stop all|N`.
    PortStop(Target),
    /// `port start all|N`.
    PortStart(Target),
    /// `port config all rxq|txq|rxd|txd N`.
    PortConfig(QueueParam, u16),
    /// `port config mtu N V`.
    PortMtu(usize, u16),
    /// `mac_addr add|remove N MAC`.
    MacAddr { add: bool, port: usize, mac: MacAddr },
    /// `show port N rss reta`.
    ShowReta(usize),
    /// `show port N rss-hash`.
    ShowRssHash(usize),
    /// `set link-up|link-down port N`.
    SetLink { port: usize, up: bool },
}

/// Why a line is not a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// No command starts with these words (dpdk-testpmd: `Command not found`).
    NotFound,
    /// A command, with a word that does not fit; says which and what fits.
    Bad(String),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::NotFound => f.write_str("Command not found (type help)"),
            ParseError::Bad(s) => write!(f, "Bad arguments: {s}"),
        }
    }
}

type Parsed = Result<Command, ParseError>;

fn bad<T>(s: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError::Bad(s.into()))
}

/// Parses one line; `None` for an empty line or a `#` comment.
pub fn parse(line: &str) -> Option<Parsed> {
    let line = line.split('#').next().unwrap_or("");
    let w: Vec<&str> = line.split_whitespace().collect();
    if w.is_empty() {
        return None;
    }
    Some(match w[0] {
        "start" => parse_start(&w[1..]),
        "stop" => exact(&w, Command::Stop),
        "quit" | "exit" => exact(&w, Command::Quit),
        "help" => Ok(Command::Help),
        "show" => parse_show(&w[1..]),
        "clear" => parse_clear(&w[1..]),
        "set" => parse_set(&w[1..]),
        "port" => parse_port(&w[1..]),
        "mac_addr" => parse_mac_addr(&w[1..]),
        _ => Err(ParseError::NotFound),
    })
}

fn exact(w: &[&str], c: Command) -> Parsed {
    if w.len() > 1 {
        return bad(format!("'{}' takes no arguments", w[0]));
    }
    Ok(c)
}

fn parse_start(w: &[&str]) -> Parsed {
    match w {
        [] => Ok(Command::Start { tx_first: 0 }),
        ["tx_first"] => Ok(Command::Start { tx_first: 1 }),
        ["tx_first", n] => match n.parse::<usize>() {
            Ok(n @ 1..=1024) => Ok(Command::Start { tx_first: n }),
            _ => bad(format!("start tx_first {n}: want a number of bursts, 1 to 1024")),
        },
        _ => bad("want start, or start tx_first [N]"),
    }
}

fn parse_show(w: &[&str]) -> Parsed {
    match w {
        ["port", "info", t] => Ok(Command::ShowInfo(target(t)?)),
        ["port", "stats", t] => Ok(Command::ShowStats(target(t)?)),
        ["port", "xstats", t] => Ok(Command::ShowXstats(target(t)?)),
        ["port", n, "rss", "reta", ..] => Ok(Command::ShowReta(port(n)?)),
        ["port", n, "rss-hash", ..] => Ok(Command::ShowRssHash(port(n)?)),
        ["fwd", "stats", "all"] => Ok(Command::ShowFwdStats),
        _ => bad(
            "want show port info|stats|xstats all|N, show port N rss reta, show port N rss-hash, show fwd stats all",
        ),
    }
}

fn parse_clear(w: &[&str]) -> Parsed {
    match w {
        ["port", "stats", t] => Ok(Command::ClearStats(target(t)?)),
        _ => bad("want clear port stats all|N"),
    }
}

fn parse_set(w: &[&str]) -> Parsed {
    match w {
        ["fwd", m] => match ForwardMode::from_name(m) {
            Some(mode) => Ok(Command::SetFwd(mode)),
            None => bad(format!("set fwd {m}: no such mode ({})", ForwardMode::ALL.map(|mode| mode.name()).join(", "))),
        },
        ["promisc", t, on] => Ok(Command::SetPromisc(target(t)?, on_off(on)?)),
        ["allmulti", t, on] => Ok(Command::SetAllmulti(target(t)?, on_off(on)?)),
        ["link-up", "port", n] => Ok(Command::SetLink { port: port(n)?, up: true }),
        ["link-down", "port", n] => Ok(Command::SetLink { port: port(n)?, up: false }),
        _ => bad("want set fwd MODE, set promisc|allmulti all|N on|off, set link-up|link-down port N"),
    }
}

fn parse_port(w: &[&str]) -> Parsed {
    match w {
        ["stop", t] => Ok(Command::PortStop(target(t)?)),
        ["start", t] => Ok(Command::PortStart(target(t)?)),
        ["config", "all", what, n] => {
            let p = match *what {
                "rxq" => QueueParam::Rxq,
                "txq" => QueueParam::Txq,
                "rxd" => QueueParam::Rxd,
                "txd" => QueueParam::Txd,
                _ => return bad(format!("port config all {what}: want rxq, txq, rxd or txd")),
            };
            Ok(Command::PortConfig(p, number(n, "a count")?))
        }
        ["config", "mtu", n, v] => Ok(Command::PortMtu(port(n)?, number(v, "an MTU")?)),
        _ => bad("want port stop|start all|N, port config all rxq|txq|rxd|txd N, port config mtu N V"),
    }
}

fn parse_mac_addr(w: &[&str]) -> Parsed {
    let (add, n, mac) = match w {
        ["add", n, mac] => (true, n, mac),
        ["remove", n, mac] => (false, n, mac),
        _ => return bad("want mac_addr add|remove N MAC"),
    };
    let mac = mac.parse::<MacAddr>().or_else(|_| bad(format!("{mac}: not a MAC address (want 02:00:00:00:00:01)")))?;
    Ok(Command::MacAddr { add, port: port(n)?, mac })
}

fn target(s: &str) -> Result<Target, ParseError> {
    if s == "all" {
        return Ok(Target::All);
    }
    port(s).map(Target::Port)
}

fn port(s: &str) -> Result<usize, ParseError> {
    s.parse().or_else(|_| bad(format!("{s}: want a port number")))
}

fn number(s: &str, what: &str) -> Result<u16, ParseError> {
    s.parse().or_else(|_| bad(format!("{s}: want {what}, 0 to 65535")))
}

fn on_off(s: &str) -> Result<bool, ParseError> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => bad(format!("{s}: want on or off")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        parse(line).unwrap().unwrap()
    }

    #[test]
    fn dpdk_testpmd_words_parse() {
        assert_eq!(ok("start tx_first 4"), Command::Start { tx_first: 4 });
        assert_eq!(ok("start tx_first"), Command::Start { tx_first: 1 });
        assert_eq!(ok("show port stats all"), Command::ShowStats(Target::All));
        assert_eq!(ok("  port config all rxd 256 "), Command::PortConfig(QueueParam::Rxd, 256));
        assert_eq!(ok("port config mtu 1 9000"), Command::PortMtu(1, 9000));
        assert_eq!(ok("set promisc 1 off"), Command::SetPromisc(Target::Port(1), false));
        assert_eq!(ok("set fwd txonly"), Command::SetFwd(ForwardMode::TxOnly));
        assert_eq!(ok("set link-down port 0"), Command::SetLink { port: 0, up: false });
        assert_eq!(ok("show port 0 rss reta"), Command::ShowReta(0));
        let mac = "02:11:22:33:44:55".parse().unwrap();
        assert_eq!(ok("mac_addr add 0 02:11:22:33:44:55"), Command::MacAddr { add: true, port: 0, mac });
        assert!(parse("  # a comment").is_none() && parse("").is_none());
    }

    #[test]
    fn wrong_words_say_what_fits() {
        assert_eq!(parse("frobnicate").unwrap(), Err(ParseError::NotFound));
        let e = parse("set fwd warp").unwrap().unwrap_err().to_string();
        assert!(e.contains("warp") && e.contains("txonly"), "{e}");
        assert!(parse("set promisc 0 maybe").unwrap().is_err());
        assert!(parse("port config all rxd lots").unwrap().is_err());
        assert!(parse("stop now").unwrap().is_err());
    }
}
