//! Opening ports by name, whatever their driver: the one entry point an
//! application needs (DPDK's EAL does this from `-a` and `--vdev`).

use ferrite_hugepages::IovaMode;

use crate::drivers::vdev::{self, VdevSpec};
use crate::drivers::{open_pci, pci_addr_of};
use crate::port::{NetDevice, PortError};

/// How [`open_ports`] opens ports. Only PCI ports read it today; virtual
/// and AF_XDP ports take everything they need from their spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenOptions {
    /// How a PCI device addresses its buffers: through the IOMMU (`Va`, the
    /// default) or by physical address (`Pa`, root and no IOMMU).
    pub iova_mode: IovaMode,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { iova_mode: IovaMode::Va }
    }
}

/// Opens every port named in `specs`, in order: port `i` of the result is
/// `specs[i]`, and `i` is the port id its driver stamps into the mbufs it
/// receives ([`crate::Mbuf::port`]).
///
/// A port is named the way testpmd's command line names it:
///
/// | spec                                   | port                                   |
/// |----------------------------------------|----------------------------------------|
/// | `null0`, `loop0`                       | a virtual port ([`crate::drivers::virt`]) |
/// | `pair0`, `pair1`                       | the two ends of a virtual cable (pairs are wired in order of appearance) |
/// | `af_xdp0,iface=eth0[,queue_count=N]`   | a kernel interface through AF_XDP      |
/// | `0000:03:00.0`, `03:00.0,packed_vq=0`  | a PCI NIC bound to vfio-pci (igb, virtio-net) |
///
/// DPDK's `net_` prefix is accepted (`net_null0`). A spec that parses as a
/// PCI address is a PCI port; anything else is a virtual device.
///
/// All ports of one program should be opened in one call: `pair` ports
/// find their peer in the same list. Each port may appear once. On error
/// nothing stays open (ports opened before the failure are dropped).
///
/// ```
/// use ferrite_pmd::{open_ports, OpenOptions};
///
/// let ports = open_ports(&["pair0", "pair1", "null0"], &OpenOptions::default())?;
/// let names: Vec<&str> = ports.iter().map(|p| p.name()).collect();
/// assert_eq!(names, ["pair0", "pair1", "null0"]);
/// assert_eq!(ports[2].drvinfo().driver, "net_null");
/// # Ok::<(), ferrite_pmd::PortError>(())
/// ```
pub fn open_ports<S: AsRef<str>>(specs: &[S], opts: &OpenOptions) -> Result<Vec<Box<dyn NetDevice>>, PortError> {
    if specs.len() > usize::from(u16::MAX) {
        return Err(PortError::InvalidConfig(format!("{} ports: at most {} fit a port id", specs.len(), u16::MAX)));
    }
    let kinds = specs.iter().map(|s| classify(s.as_ref())).collect::<Result<Vec<_>, _>>()?;
    check_distinct_pci(&kinds)?;
    let mut slots: Vec<Option<Box<dyn NetDevice>>> = specs.iter().map(|_| None).collect();
    for (slot, kind) in slots.iter_mut().zip(&kinds) {
        if let Spec::Pci { spec, .. } = kind {
            *slot =
                Some(open_pci(spec, opts.iova_mode).map_err(|e| e.context(&format!("cannot open PCI port {spec}")))?);
        }
    }
    let (vdevs, ids): (Vec<VdevSpec>, Vec<u16>) = kinds
        .iter()
        .enumerate()
        .filter_map(|(i, k)| match k {
            // `i` fits a u16: the length was checked above.
            Spec::Vdev(v) => Some((v.clone(), i as u16)),
            Spec::Pci { .. } => None,
        })
        .unzip();
    let opened = vdev::create_vdevs_with_ids(&vdevs, &ids)?;
    for (port, id) in opened.into_iter().zip(ids) {
        slots[usize::from(id)] = Some(port);
    }
    Ok(slots.into_iter().flatten().collect())
}

/// Opens one port by name: [`open_ports`] with a list of one. A `pair`
/// port cannot be opened alone (its peer must be in the same call).
///
/// ```
/// let null = ferrite_pmd::open_port("null0", &Default::default())?;
/// assert!(!null.is_running());
/// # Ok::<(), ferrite_pmd::PortError>(())
/// ```
pub fn open_port(spec: &str, opts: &OpenOptions) -> Result<Box<dyn NetDevice>, PortError> {
    let mut ports = open_ports(&[spec], opts)?;
    ports.pop().ok_or_else(|| PortError::InvalidConfig(format!("'{spec}' opened no port")))
}

/// One spec, read.
enum Spec<'a> {
    /// A PCI device: the spec as given and its normalized address.
    Pci { spec: &'a str, addr: String },
    /// A virtual device with its arguments.
    Vdev(VdevSpec),
}

/// Tells a PCI address from a virtual device name and parses the latter.
fn classify(spec: &str) -> Result<Spec<'_>, PortError> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(PortError::InvalidConfig(
            "empty port name: give a name like null0, pair0, af_xdp0,iface=eth0 or a PCI address".into(),
        ));
    }
    if let Ok(addr) = ferrite_vfio::normalize_pci_addr(pci_addr_of(spec)) {
        return Ok(Spec::Pci { spec, addr });
    }
    let tokens: Vec<&str> = spec.split(',').collect();
    let mut parsed = vdev::parse_vdev_tokens(&tokens)?;
    match (parsed.pop(), parsed.is_empty()) {
        (Some(one), true) => Ok(Spec::Vdev(one)),
        _ => Err(PortError::InvalidConfig(format!(
            "'{spec}' names more than one port: give each port its own entry (\"pair0\", \"pair1\")"
        ))),
    }
}

/// The same NIC named twice (perhaps written two ways) is bad input.
fn check_distinct_pci(kinds: &[Spec<'_>]) -> Result<(), PortError> {
    let pci: Vec<(&str, &str)> = kinds
        .iter()
        .filter_map(|k| match k {
            Spec::Pci { spec, addr } => Some((*spec, addr.as_str())),
            Spec::Vdev(_) => None,
        })
        .collect();
    for (i, (spec, addr)) in pci.iter().enumerate() {
        if let Some((first, _)) = pci[..i].iter().find(|(_, a)| a == addr) {
            return Err(PortError::InvalidConfig(format!(
                "'{first}' and '{spec}' are the same device ({addr}): give each NIC once"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(specs: &[&str]) -> Result<Vec<Box<dyn NetDevice>>, PortError> {
        open_ports(specs, &OpenOptions::default())
    }

    fn err(specs: &[&str]) -> String {
        open(specs).err().map(|e| e.to_string()).unwrap_or_else(|| panic!("{specs:?} opened"))
    }

    #[test]
    fn virtual_ports_open_in_the_order_given_with_dpdks_prefix_accepted() {
        let ports = open(&["null3", "net_pair0", "loop0", "pair7"]).unwrap();
        let got: Vec<(&str, String)> = ports.iter().map(|p| (p.name(), p.drvinfo().driver)).collect();
        let want = [("null3", "net_null"), ("pair0", "net_pair"), ("loop0", "net_loop"), ("pair7", "net_pair")];
        assert_eq!(got, want.map(|(n, d)| (n, d.to_string())));
    }

    #[test]
    fn bad_names_say_what_is_wrong() {
        assert!(err(&["pair0"]).contains("has no peer"));
        assert!(err(&["nul0"]).contains("is not a virtual port name"));
        assert!(err(&[" "]).contains("empty port name"));
        assert!(err(&["pair0,pair1"]).contains("more than one port"));
        assert!(err(&["null0", "null0"]).contains("given twice"));
        assert!(err(&["null0,iface=x"]).contains("unknown device argument 'iface'"));
        assert!(err(&["03:00.0", "0000:03:00.0"]).contains("same device (0000:03:00.0)"));
    }

    #[test]
    fn a_pci_address_goes_to_the_pci_drivers() {
        // No such device on any machine that runs this: the error comes from
        // reading its IDs in sysfs, which shows the PCI path was taken.
        let e = err(&["null0", "00ff:ff:1f.7"]);
        assert!(e.contains("00ff:ff:1f.7"), "{e}");
        assert!(!e.contains("virtual port name"), "{e}");
    }
}
