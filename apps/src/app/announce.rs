//! The lines testpmd prints before forwarding starts.

use ferrite_pmd::port::TxOffloads;

use super::plan::{Layout, Plan};
use super::ports::PortSet;
use super::Console;
use crate::cli::Args;
use crate::fwd::{ForwardMode, Stream};

/// Says what runs, as testpmd does: each port, its VLAN and TSO settings,
/// the forwarding mode, and which core polls which streams.
pub(crate) fn announce(
    con: &Console,
    args: &Args,
    set: &PortSet,
    layout: &Layout,
    plan: &Plan,
    streams: &[Stream],
    assignment: &[Vec<usize>],
) {
    announce_ports(con, args, set);
    let mode = args.forward_mode;
    con.say(&format!(
        "{mode} packet forwarding - ports={} - cores={} - streams={} - topology={} - burst={}",
        set.len(),
        layout.cores,
        streams.len(),
        args.port_topology,
        args.burst
    ));
    for (c, ids) in assignment.iter().enumerate() {
        let list: Vec<String> = ids
            .iter()
            .map(|&i| {
                let id = streams[i].id();
                format!("RX P={}/Q={} -> TX P={}/Q={}", id.rx_port, id.rx_queue, id.tx_port, id.tx_queue)
            })
            .collect();
        con.say(&format!("Logical core {} (fwd core {c}) streams: {}", plan.fwd_cpus[c], list.join("; ")));
    }
}

fn announce_ports(con: &Console, args: &Args, set: &PortSet) {
    for (i, port) in set.ports.iter().enumerate() {
        con.say(&format!(
            "Port {i}: {} ({}) {} link {} mtu {} pool {} x {} B rx-offloads {} tx-offloads {}",
            port.name(),
            port.drvinfo().driver,
            set.macs[i],
            // As dpdk-testpmd's "Checking link statuses...": hardware
            // ports get up to 9 s to finish autonegotiation.
            port.link_update(true),
            port.mtu(),
            set.pools[i].capacity(),
            set.pools[i].data_room(),
            set.confs[i].rx_offloads,
            set.confs[i].tx_offloads
        ));
    }
    for (i, port) in set.ports.iter().enumerate() {
        // AF_XDP: which interface and queues, and how the kernel bound them.
        let info = port.drvinfo();
        if info.driver == "af_xdp" {
            con.say(&format!("Port {i}: {}: {}", info.bus_info, info.fw_version));
        }
    }
    for v in &args.tx_vlan {
        let offload = set.confs[v.port].tx_offloads.contains(TxOffloads::VLAN_INSERT);
        let by = if offload { "the NIC" } else { "software" };
        con.say(&format!("Port {}: every frame sent carries VLAN {} (inserted by {by})", v.port, v.id));
    }
    if let (Some(mss), ForwardMode::Csum) = (args.tso_segsz, args.forward_mode) {
        con.say(&format!("TSO segment size {mss} for TCP frames on ports with tcp_tso"));
    }
}
