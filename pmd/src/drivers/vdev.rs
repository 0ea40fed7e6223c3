//! `--vdev` lists: which ports they name and the device arguments of each.
//!
//! DPDK writes one virtual device per `--vdev`, its arguments after commas
//! (`--vdev net_af_xdp0,iface=eth0,queue_count=2`); ferrite's `--vdev` also
//! takes comma lists of port names (`--vdev pair0,pair1`). Both read the
//! same way here: a token with `=` is an argument of the port named before
//! it, any other token names a new port. So
//! `--vdev pair0,af_xdp0,iface=eth0,pair1` is three ports, the second with
//! one argument. DPDK's `net_` prefix is accepted and dropped.

use super::af_xdp::{AfXdpArgs, AfXdpPort};
use super::virt;
use crate::port::{NetDevice, PortError};

/// One port of a `--vdev` list: its name and its `key=value` arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VdevSpec {
    /// The port name without DPDK's `net_` prefix (`af_xdp0`, `pair1`).
    pub name: String,
    /// Device arguments, in order.
    pub args: Vec<(String, String)>,
}

/// Writes the port back as one spec for [`crate::open_ports`]:
/// `af_xdp0,iface=eth0`.
impl std::fmt::Display for VdevSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        self.args.iter().try_for_each(|(k, v)| write!(f, ",{k}={v}"))
    }
}

/// The kind prefix of AF_XDP ports.
const AF_XDP: &str = "af_xdp";

/// Groups `--vdev` tokens (already split on commas) into ports.
pub fn parse_vdev_tokens<S: AsRef<str>>(tokens: &[S]) -> Result<Vec<VdevSpec>, PortError> {
    let mut specs: Vec<VdevSpec> = Vec::new();
    for token in tokens.iter().map(|t| t.as_ref().trim()) {
        if token.is_empty() {
            return Err(PortError::InvalidConfig("empty port name in --vdev (a doubled or trailing comma?)".into()));
        }
        match token.split_once('=') {
            Some((key, value)) => {
                let key = key.trim();
                let Some(port) = specs.last_mut().filter(|_| !key.is_empty()) else {
                    return Err(PortError::InvalidConfig(format!(
                        "--vdev argument '{token}' belongs to no port: write it after the port's name \
                         (e.g. --vdev af_xdp0,iface=eth0)"
                    )));
                };
                port.args.push((key.to_string(), value.trim().to_string()));
            }
            None => {
                let name = token.strip_prefix("net_").unwrap_or(token);
                specs.push(VdevSpec { name: name.to_string(), args: Vec::new() });
            }
        }
    }
    Ok(specs)
}

/// Whether `name` is an AF_XDP port (`af_xdpN`).
fn is_af_xdp(name: &str) -> bool {
    name.strip_prefix(AF_XDP).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Creates the ports of a `--vdev` list in the order given: virtual ports
/// (`loopN`, `pairN`, `nullN`, which take no arguments) and AF_XDP ports
/// (`af_xdpN,iface=NAME[,start_queue=N][,queue_count=N]`). An AF_XDP
/// port's id (stamped into the mbufs it receives) is `first_id` plus its
/// place in the list.
pub fn create_vdevs(specs: &[VdevSpec], first_id: usize) -> Result<Vec<Box<dyn NetDevice>>, PortError> {
    let virt_count = specs.iter().filter(|s| !is_af_xdp(&s.name)).count();
    let mut virt_ids = 0..virt_count;
    let ids: Vec<u16> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let id = if is_af_xdp(&s.name) { first_id + i } else { virt_ids.next().unwrap_or(0) };
            u16::try_from(id).unwrap_or(u16::MAX)
        })
        .collect();
    create_vdevs_with_ids(specs, &ids)
}

/// As [`create_vdevs`], but the port of `specs[i]` gets id `ids[i]`, whatever
/// its kind. `ids` must be as long as `specs`.
pub(crate) fn create_vdevs_with_ids(specs: &[VdevSpec], ids: &[u16]) -> Result<Vec<Box<dyn NetDevice>>, PortError> {
    debug_assert_eq!(specs.len(), ids.len());
    let (virt_names, virt_ids): (Vec<&str>, Vec<u16>) =
        specs.iter().zip(ids).filter(|(s, _)| !is_af_xdp(&s.name)).map(|(s, &id)| (s.name.as_str(), id)).unzip();
    let mut virts = virt::create_ports_with_ids(&virt_names, &virt_ids)
        .map_err(|e| match e {
            PortError::InvalidConfig(s) if s.contains("is not a virtual port name") => {
                PortError::InvalidConfig(format!("{s}; or af_xdpN,iface=IF for a kernel interface (AF_XDP)"))
            }
            other => other,
        })?
        .into_iter();
    for spec in specs.iter().filter(|s| !is_af_xdp(&s.name)) {
        if let Some((k, _)) = spec.args.first() {
            return Err(PortError::InvalidConfig(format!(
                "{}: unknown device argument '{k}': virtual ports take none (af_xdpN takes iface=...)",
                spec.name
            )));
        }
    }
    check_distinct_af_xdp(specs)?;
    let mut ports = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        if is_af_xdp(&spec.name) {
            let args = AfXdpArgs::parse(&spec.name, &spec.args)?;
            let mut port = AfXdpPort::open(&spec.name, args)?;
            port.set_port_id(ids[i]);
            ports.push(Box::new(port) as Box<dyn NetDevice>);
        } else if let Some(p) = virts.next() {
            ports.push(p);
        }
    }
    Ok(ports)
}

fn check_distinct_af_xdp(specs: &[VdevSpec]) -> Result<(), PortError> {
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).filter(|n| is_af_xdp(n)).collect();
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(PortError::InvalidConfig(format!("'{n}' is given twice: each port name may appear once")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, args: &[(&str, &str)]) -> VdevSpec {
        VdevSpec { name: name.into(), args: args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
    }

    #[test]
    fn a_spec_prints_as_open_ports_reads_it() {
        let specs = parse_vdev_tokens(&["pair0", "net_af_xdp0", "iface=h1", "queue_count=2", "pair1"]).unwrap();
        let printed: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        assert_eq!(printed, ["pair0", "af_xdp0,iface=h1,queue_count=2", "pair1"]);
    }

    #[test]
    fn key_value_tokens_belong_to_the_port_before_them() {
        let got = parse_vdev_tokens(&[
            "pair0",
            "net_af_xdp0",
            "iface=h26a",
            "start_queue=1",
            "queue_count=2",
            "pair1",
            "af_xdp1",
            "iface=h26b",
        ])
        .unwrap();
        assert_eq!(
            got,
            vec![
                spec("pair0", &[]),
                spec("af_xdp0", &[("iface", "h26a"), ("start_queue", "1"), ("queue_count", "2")]),
                spec("pair1", &[]),
                spec("af_xdp1", &[("iface", "h26b")]),
            ]
        );
    }

    #[test]
    fn an_argument_before_any_port_or_an_empty_token_is_refused() {
        let e = parse_vdev_tokens(&["iface=eth0", "af_xdp0"]).unwrap_err().to_string();
        assert!(e.contains("belongs to no port"), "{e}");
        let e = parse_vdev_tokens(&["af_xdp0", "=eth0"]).unwrap_err().to_string();
        assert!(e.contains("belongs to no port"), "{e}");
        let e = parse_vdev_tokens(&["pair0", ""]).unwrap_err().to_string();
        assert!(e.contains("empty port name"), "{e}");
    }

    #[test]
    fn virtual_ports_take_no_arguments_and_af_xdp_names_are_recognised() {
        let e = create_vdevs(&[spec("pair0", &[("x", "1")]), spec("pair1", &[])], 0).err().unwrap().to_string();
        assert!(e.contains("unknown device argument 'x'"), "{e}");
        assert!(is_af_xdp("af_xdp0") && is_af_xdp("af_xdp12"));
        assert!(!is_af_xdp("af_xdp") && !is_af_xdp("af_xdpx") && !is_af_xdp("pair0"));
        let e = create_vdevs(&[spec("af_xdp0", &[("iface", "lo")]), spec("af_xdp0", &[("iface", "lo")])], 0)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("given twice"), "{e}");
    }

    #[test]
    fn a_mixed_list_keeps_its_order() {
        let ports = create_vdevs(&parse_vdev_tokens(&["null0", "loop0", "null1"]).unwrap(), 0).unwrap();
        let names: Vec<&str> = ports.iter().map(|p| p.name()).collect();
        assert_eq!(names, ["null0", "loop0", "null1"]);
    }
}
