//! `testpmd -i`: a `testpmd>` prompt taking dpdk-testpmd's commands
//! ([`command`]) on ports opened and started as the flags say
//! (`session`), printing in its layouts (`show`). Commands come from a
//! line editor on a terminal or, for scripts and tests, plain lines on
//! standard input (`input`); end of input quits. A failed command prints
//! why and the session goes on; the exit status counts it.

pub mod command;
mod input;
mod session;
mod show;

use command::{Command, QueueParam, Target};
use session::{CmdResult, Session};

use crate::app::AppError;
use crate::cli::Args;

/// How an interactive session ended.
pub struct Outcome {
    /// Commands that failed (unknown, bad arguments, refused).
    pub failures: usize,
    /// Accounting problems (unbalanced streams, buffers not back).
    pub accounting: bool,
}

/// Runs the prompt until `quit`, end of input or a signal.
pub fn run(args: &Args) -> Result<Outcome, AppError> {
    let mut s = Session::open(args)?;
    s.con.say("Interactive-mode selected (type help)");
    let mut input = input::Input::new();
    while let Some(line) = input.next_line() {
        let quit = matches!(command::parse(&line), Some(Ok(Command::Quit)));
        if quit || crate::signal::requested() {
            break;
        }
        if let Err(e) = dispatch(&mut s, &line) {
            eprintln!("{e}");
            s.failures += 1;
        }
        crate::app::main_loop::log_link_events(&s.con, &s.set.link_events);
    }
    if crate::signal::requested() {
        s.con.say("Signal received, stopping...");
    }
    // A quit that fails (cores that would not stop, buffers missing) is
    // an accounting problem either way: not everything came back.
    let quit_failed = s.quit().map_err(|e| eprintln!("{e}")).is_err();
    s.con.say("Bye...");
    Ok(Outcome { failures: s.failures, accounting: s.accounting_problem || quit_failed })
}

/// Runs one line.
fn dispatch(s: &mut Session, line: &str) -> CmdResult {
    let cmd = match command::parse(line) {
        None => return Ok(()),
        Some(Err(e)) => return Err(format!("{}: {e}", line.trim())),
        Some(Ok(c)) => c,
    };
    match cmd {
        Command::Start { tx_first } => s.start(tx_first),
        Command::Stop => {
            if s.fwd.is_none() {
                return Err("Packet forwarding not started".into());
            }
            let r = s.stop();
            // An unbalanced run still has its statistics shown.
            show::fwd_stats(s);
            s.con.say("\nDone.");
            r
        }
        Command::Quit => Ok(()),
        Command::Help => {
            s.con.say(HELP);
            Ok(())
        }
        Command::ShowFwdStats => {
            show::fwd_stats(s);
            Ok(())
        }
        Command::SetFwd(mode) => {
            s.args.forward_mode = mode;
            s.con.say(&format!("Set {mode} packet forwarding mode"));
            Ok(())
        }
        Command::PortConfig(what, n) => port_config(s, what, n),
        Command::PortMtu(p, mtu) => port_mtu(s, p, mtu),
        Command::MacAddr { add, port, mac } => {
            let p = s.port(port)?;
            let r = if add { s.dev(p).mac_addr_add(mac) } else { s.dev(p).mac_addr_remove(mac) };
            r.map_err(|e| format!("mac_addr_cmd error: ({e})"))
        }
        Command::ShowReta(p) => show::rss_reta(s, s.port(p)?),
        Command::ShowRssHash(p) => show::rss_hash(s, s.port(p)?),
        Command::SetLink { port, up } => {
            let p = s.port(port)?;
            let word = if up { "up" } else { "down" };
            s.dev(p).set_link(up).map_err(|e| format!("Set link {word} fail: port {p}: {e}"))
        }
        per_port => for_each_port(s, per_port),
    }
}

/// The commands taking `all|N`.
fn for_each_port(s: &mut Session, cmd: Command) -> CmdResult {
    let t = match cmd {
        Command::ShowInfo(t)
        | Command::ShowStats(t)
        | Command::ShowXstats(t)
        | Command::ClearStats(t)
        | Command::SetPromisc(t, _)
        | Command::SetAllmulti(t, _)
        | Command::PortStop(t)
        | Command::PortStart(t) => t,
        _ => Target::All,
    };
    for p in s.ports(t)? {
        one_port(s, &cmd, p)?;
    }
    if matches!(cmd, Command::PortStop(_) | Command::PortStart(_)) {
        s.con.say("Done");
    }
    Ok(())
}

fn one_port(s: &mut Session, cmd: &Command, p: usize) -> CmdResult {
    match *cmd {
        Command::ShowInfo(_) => show::port_info(s, p),
        Command::ShowStats(_) => show::port_stats(s, p),
        Command::ShowXstats(_) => show::port_xstats(s, p),
        Command::ClearStats(_) => {
            s.dev(p).reset_stats().map_err(|e| Session::port_error("clear stats", p, e))?;
            s.shown[p] = None;
            s.con.say(&format!("\n  NIC statistics for port {p} cleared"));
        }
        Command::SetPromisc(_, on) | Command::SetAllmulti(_, on) => {
            let mut mode = s.dev(p).rx_mode();
            let what = if let Command::SetPromisc(..) = cmd { &mut mode.promiscuous } else { &mut mode.all_multicast };
            *what = on;
            s.dev(p).set_rx_mode(mode).map_err(|e| Session::port_error("Error setting rx mode", p, e))?;
        }
        Command::PortStop(_) => s.port_stop(p)?,
        Command::PortStart(_) => s.port_start(p)?,
        _ => {}
    }
    Ok(())
}

/// `port config all rxq|txq|rxd|txd N`: needs every port stopped.
fn port_config(s: &mut Session, what: QueueParam, n: u16) -> CmdResult {
    s.check_all_stopped()?;
    let mut args = s.args.clone();
    match what {
        QueueParam::Rxq => args.rxq = n,
        QueueParam::Txq => args.txq = n,
        QueueParam::Rxd => args.rxd = n,
        QueueParam::Txd => args.txd = n,
    }
    s.reconfigure(args)
}

/// `port config mtu N V`: needs port N stopped (the rx buffers are sized
/// for the MTU when the port starts).
fn port_mtu(s: &mut Session, p: usize, mtu: u16) -> CmdResult {
    let p = s.port(p)?;
    if s.set.ports[p].is_running() {
        return Err(format!("Please stop port {p} first"));
    }
    let what = s.set.what(p);
    crate::app::config::check_rx_buffers(&s.args, &what, mtu, s.set.confs[p].rx_offloads).map_err(|e| e.to_string())?;
    s.dev(p).change_mtu(mtu).map_err(|e| Session::port_error("Set MTU failed", p, e))
}

const HELP: &str = "\
Control:
    start                          Start forwarding on the started ports.
    start tx_first [N]             Send N bursts (1 if not given) per stream first, then start.
    stop                           Stop forwarding and show its statistics.
    quit                           Stop everything and exit (so does end of input).
Display:
    show port info|stats|xstats all|N
    show fwd stats all
    show port N rss reta
    show port N rss-hash
    clear port stats all|N
Configuration:
    set fwd MODE                   io, mac, macswap, rxonly, txonly, flowgen, csum, icmpecho, 5tswap
                                   (applies at the next start).
    set promisc all|N on|off
    set allmulti all|N on|off
    set link-up|link-down port N
    mac_addr add|remove N MAC
Ports (stop forwarding first; port config needs the ports stopped):
    port stop|start all|N
    port config all rxq|txq|rxd|txd N
    port config mtu N V";

/// The exit code of a session: 0, or 3 for an accounting problem, or 2
/// when a command failed.
pub fn exit_code(o: &Outcome) -> u8 {
    if o.accounting {
        3
    } else if o.failures > 0 {
        2
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_and_accounting_set_the_exit_code() {
        assert_eq!(exit_code(&Outcome { failures: 0, accounting: false }), 0);
        assert_eq!(exit_code(&Outcome { failures: 2, accounting: false }), 2);
        assert_eq!(exit_code(&Outcome { failures: 0, accounting: true }), 3);
    }
}
