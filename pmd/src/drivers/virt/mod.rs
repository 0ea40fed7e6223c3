//! Virtual ports: network devices made of memory, the teaching example of
//! a driver and the way to run the framework on a machine with no NIC.
//!
//! | name    | type         | driver     | transmit queue q goes to            |
//! |---------|--------------|------------|-------------------------------------|
//! | `loopN` | [`LoopPort`] | `net_loop` | receive queue q of the same port    |
//! | `pairN` | [`PairPort`] | `net_pair` | receive queue q of the peer port    |
//! | `nullN` | [`NullPort`] | `net_null` | nowhere (freed); receive makes frames up |
//!
//! Each implements all of [`NetDevice`] and [`EthtoolOps`](crate::EthtoolOps)
//! with the same behaviour a hardware driver has:
//!
//! * **Rings.** A receive queue's ring is a *wire* (`wire.rs`): a bulk ring
//!   of mbuf addresses, `rx_ring_size` deep. A transmit burst that does not
//!   fit leaves the rest in the caller's batch, as a full descriptor ring
//!   does.
//! * **Carrier.** On when every end of the cable (`cable.rs`) is open and
//!   administratively up. While it is off, transmit takes, frees and counts
//!   (`tx_link_down_drops`) and receive returns nothing; link events go to
//!   every end.
//! * **Filtering.** Promiscuous by default (free); otherwise a frame must be
//!   addressed to the port, to one of its extra unicast addresses, to
//!   broadcast, or to a listed multicast group (any group with
//!   all-multicast), else it is freed and counted (`rx_filtered_drops`).
//!   The lists live in `filter.rs`.
//! * **MTU.** Transmit frees and counts frames longer than MTU + 22 bytes
//!   (header and up to two VLAN tags, [`crate::ether`];
//!   `tx_oversize_errors`). MTU and filter changes apply on the next burst.
//! * **Stop.** Queue handles still held become inert and every frame still
//!   on a wire goes back to its pool.
//!
//! The code is split one concept per file: `common.rs` (state shared with
//! queues, per-burst rules), `cable.rs` (control plane, carrier, events),
//! `wire.rs` (the ring and the loop/pair queues), `device.rs` (the port,
//! written once for all kinds), and one file per kind.

mod cable;
mod common;
mod device;
mod filter;
mod loopback;
mod null;
mod pair;
mod spread;
#[cfg(test)]
mod testutil;
mod wire;

pub use device::{Kind, VirtPort, LINK_SPEEDS};
pub use loopback::{Loop, LoopPort};
pub use null::{Null, NullPort, DEFAULT_PACKET_SIZE};
pub use pair::{Pair, PairPort};

use crate::port::{NetDevice, PortError};

/// The kinds `create_ports` knows, as they appear in names.
const KINDS: [&str; 3] = ["loop", "pair", "null"];

/// Creates ports from testpmd-style names (`loop0`, `pair0`, `null1`, ...),
/// in the order given; each port's id (stamped into received mbufs) is its
/// position in the list. Pair names are wired in order of appearance: the
/// first with the second, the third with the fourth. Null ports receive
/// [`DEFAULT_PACKET_SIZE`]-byte frames.
pub fn create_ports(names: &[&str]) -> Result<Vec<Box<dyn NetDevice>>, PortError> {
    let ids = (0..names.len())
        .map(|i| {
            u16::try_from(i)
                .map_err(|_| PortError::InvalidConfig(format!("too many ports: at most {} fit a port id", u16::MAX)))
        })
        .collect::<Result<Vec<u16>, _>>()?;
    create_ports_with_ids(names, &ids)
}

/// As [`create_ports`], but port `names[i]` gets id `ids[i]` (its place in
/// a longer list of ports of every kind, as [`crate::open_ports`] numbers
/// them). `ids` must be as long as `names`.
pub(crate) fn create_ports_with_ids(names: &[&str], ids: &[u16]) -> Result<Vec<Box<dyn NetDevice>>, PortError> {
    debug_assert_eq!(names.len(), ids.len());
    let parsed = names.iter().map(|n| parse_name(n)).collect::<Result<Vec<_>, _>>()?;
    for (i, a) in parsed.iter().enumerate() {
        if let Some(j) = parsed[..i].iter().position(|b| b == a) {
            let (first, again) = (names[j], names[i]);
            let what = if first == again {
                format!("'{again}' is given twice")
            } else {
                format!("'{first}' and '{again}' name the same port")
            };
            return Err(PortError::InvalidConfig(format!("{what}: each virtual port may appear once")));
        }
    }
    let pairs: Vec<usize> = (0..names.len()).filter(|&i| parsed[i].0 == "pair").collect();
    if pairs.len() % 2 == 1 {
        let lonely = pairs[pairs.len() - 1];
        let taken = |n: u64| parsed.iter().any(|&(k, m)| k == "pair" && m == n);
        let peer = (parsed[lonely].1 + 1..).find(|&n| !taken(n)).unwrap_or(0);
        return Err(PortError::InvalidConfig(format!(
            "{} has no peer: add pair{peer} after it (testpmd: --vdev pair{peer}); pair ports are wired in order of appearance, first with second",
            names[lonely]
        )));
    }
    let mut ports: Vec<Option<Box<dyn NetDevice>>> = names.iter().map(|_| None).collect();
    for (i, &(kind, _)) in parsed.iter().enumerate() {
        let id = ids[i];
        match kind {
            "loop" => {
                let mut p = LoopPort::new(names[i]);
                p.set_port_id(id);
                ports[i] = Some(Box::new(p));
            }
            "null" => {
                let mut p = NullPort::new(names[i], DEFAULT_PACKET_SIZE);
                p.set_port_id(id);
                ports[i] = Some(Box::new(p));
            }
            _ => {}
        }
    }
    for two in pairs.chunks_exact(2) {
        let (i, j) = (two[0], two[1]);
        let (mut a, mut b) = PairPort::new_pair(names[i], names[j]);
        a.set_port_id(ids[i]);
        b.set_port_id(ids[j]);
        ports[i] = Some(Box::new(a));
        ports[j] = Some(Box::new(b));
    }
    Ok(ports.into_iter().flatten().collect())
}

/// Splits `loop12` into its kind and number.
fn parse_name(name: &str) -> Result<(&'static str, u64), PortError> {
    let valid = || {
        PortError::InvalidConfig(format!(
            "'{name}' is not a virtual port name: valid kinds are {} followed by a number (e.g. loop0, pair0 pair1, null0)",
            KINDS.map(|k| format!("{k}N")).join(", ")
        ))
    };
    let kind = KINDS.into_iter().find(|k| name.starts_with(k)).ok_or_else(valid)?;
    let digits = &name[kind.len()..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(valid());
    }
    let n = digits.parse().map_err(|_| valid())?;
    Ok((kind, n))
}

#[cfg(test)]
mod tests;
