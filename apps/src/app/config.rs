//! What the flags ask of each port: its `PortConfig` (queues, rings,
//! offloads), checks of the MTU and TSO against it, receive filters,
//! interrupt throttle, RSS; pool sizes and default peer addresses.

use std::time::Duration;

use ferrite_pmd::port::{DeviceCaps, MacAddr, PortError, RxOffloads, TxOffloads};
use ferrite_pmd::{NetDevice, PortConfig, MAX_BURST};

use super::plan::sends_generated;
use super::{port_err, usage, AppError, Console};
use crate::cli::Args;
use crate::fwd::ForwardMode;

/// One port's configuration: queues and rings as asked, the offloads of
/// `--rx-offloads`/`--tx-offloads`, and `multi_segs` wherever frames sent
/// may be chains: refused on a port without it when `--txpkts` makes them,
/// asked for where the port has it when `scatter` may receive them for
/// forwarding; and what the VLAN and TSO flags ask of port `port`
/// ([`vlan_offloads`]).
pub(crate) fn port_config(
    con: &Console,
    args: &Args,
    port: usize,
    caps: &DeviceCaps,
    what: &str,
) -> Result<PortConfig, AppError> {
    let mut conf = PortConfig {
        rx_queues: args.rxq,
        tx_queues: args.txq,
        rx_ring_size: args.rxd,
        tx_ring_size: args.txd,
        rx_offloads: args.rx_offloads,
        tx_offloads: args.tx_offloads,
    };
    let can_chain = caps.tx_offload_capa.contains(TxOffloads::MULTI_SEGS);
    let mode = args.forward_mode;
    if sends_generated(args) && args.txpkts.is_multi_seg() {
        if !can_chain {
            return usage(format!(
                "{what}: --txpkts {} sends {}-segment frames, which needs the multi_segs tx offload; the port \
                 offers: {} (give one --txpkts length that fits --mbuf-size)",
                args.txpkts,
                args.txpkts.segments().len(),
                caps.tx_offload_capa
            ));
        }
        conf.tx_offloads |= TxOffloads::MULTI_SEGS;
    } else if args.rx_offloads.contains(RxOffloads::SCATTER) && mode.transmits() && !mode.generates() {
        if can_chain {
            conf.tx_offloads |= TxOffloads::MULTI_SEGS;
        } else {
            con.warn(&format!(
                "{what}: --rx-offloads scatter may deliver multi-segment frames to forward, but the port cannot \
                 send them (no multi_segs tx offload)"
            ));
        }
    }
    vlan_offloads(con, args, port, caps, what, &mut conf)?;
    Ok(conf)
}

/// The offloads the VLAN and TSO flags ask of port `port`, as
/// dpdk-testpmd's commands turn them on: `vlan_insert` for `--tx-vlan`
/// and `tcp_tso` for `--tso-segsz` where the port has them (software
/// tagging, or whole TCP frames, otherwise), `vlan_filter` for
/// `--vlan-filter`, which no software stands in for: refused without it.
pub(crate) fn vlan_offloads(
    con: &Console,
    args: &Args,
    port: usize,
    caps: &DeviceCaps,
    what: &str,
    conf: &mut PortConfig,
) -> Result<(), AppError> {
    if args.tx_vlan.iter().any(|v| v.port == port) && caps.tx_offload_capa.contains(TxOffloads::VLAN_INSERT) {
        conf.tx_offloads |= TxOffloads::VLAN_INSERT;
    }
    if let Some(f) = args.vlan_filter.iter().find(|f| f.port == port) {
        if !caps.rx_offload_capa.contains(RxOffloads::VLAN_FILTER) {
            let ids: Vec<String> = f.ids.iter().map(u16::to_string).collect();
            return usage(format!(
                "{what}: --vlan-filter {port},{} needs the vlan_filter rx offload, which this port does not have \
                 (it offers: {}); drop --vlan-filter for it",
                ids.join(","),
                caps.rx_offload_capa
            ));
        }
        conf.rx_offloads |= RxOffloads::VLAN_FILTER;
    }
    if args.tso_segsz.is_some() && args.forward_mode == ForwardMode::Csum {
        if caps.tx_offload_capa.contains(TxOffloads::TCP_TSO) {
            conf.tx_offloads |= TxOffloads::TCP_TSO;
        } else {
            con.warn(&format!(
                "{what}: no tcp_tso tx offload: TCP frames longer than --tso-segsz leave whole, with their checksum \
                 (testpmd does not segment in software)"
            ));
        }
    }
    Ok(())
}

/// The port's receive filters: `--vlan-tpid` EtherTypes, `--vlan-filter`
/// IDs, `--mac-addr-add` addresses and the `--mc-addr` multicast list
/// (after `configure`).
pub(crate) fn receive_filters(args: &Args, port: usize, dev: &mut dyn NetDevice, what: &str) -> Result<(), AppError> {
    for t in args.vlan_tpid.iter().filter(|t| t.port == port) {
        dev.vlan_tpid_set(t.which, t.tpid)
            .map_err(|e| port_err(format!("{what}: --vlan-tpid {port},{},{:#06x}", t.which, t.tpid), e))?;
    }
    for f in args.vlan_filter.iter().filter(|f| f.port == port) {
        for &id in &f.ids {
            dev.vlan_filter_set(id, true).map_err(|e| port_err(format!("{what}: --vlan-filter {port},{id}"), e))?;
        }
    }
    for a in args.mac_addr_add.iter().filter(|a| a.port == port) {
        dev.mac_addr_add(a.mac).map_err(|e| port_err(format!("{what}: --mac-addr-add {port},{}", a.mac), e))?;
    }
    let groups: Vec<MacAddr> = args.mc_addr.iter().filter(|a| a.port == port).map(|a| a.mac).collect();
    if !groups.is_empty() {
        dev.set_mc_addr_list(&groups).map_err(|e| port_err(format!("{what}: --mc-addr"), e))?;
    }
    Ok(())
}

/// Refuses an MTU whose largest frame (two VLAN tags and the CRC included,
/// as a NIC writes it) does not fit one mbuf, unless `scatter` lets the
/// port receive it as a chain (as DPDK's ethdev refuses it).
pub(crate) fn check_rx_buffers(args: &Args, what: &str, mtu: u16, rx_offloads: RxOffloads) -> Result<(), AppError> {
    let need = ferrite_pmd::ether::max_frame_len(mtu) + ferrite_pmd::ether::ETH_FCS_LEN;
    if need <= args.mbuf_size || rx_offloads.contains(RxOffloads::SCATTER) {
        return Ok(());
    }
    usage(format!(
        "{what}: MTU {mtu} frames take up to {need} B (with two VLAN tags and the CRC), more than one {} B mbuf \
         holds: give --mbuf-size {} or larger, or --rx-offloads scatter to receive them as mbuf chains",
        args.mbuf_size,
        need.next_multiple_of(1024)
    ))
}

/// The smallest IP and TCP headers a TSO segment carries (IPv4, no options).
pub(crate) const MIN_IP_TCP_HEADERS: u16 = 40;

/// Refuses a TSO segment size whose segments would not fit the port's MTU:
/// the NIC would send frames the peer must drop (the MTU is the largest
/// IP datagram, and each segment is `--tso-segsz` payload bytes plus at
/// least 40 bytes of IPv4 and TCP headers).
pub(crate) fn check_tso_segsz(args: &Args, what: &str, mtu: u16, tx_offloads: TxOffloads) -> Result<(), AppError> {
    let Some(segsz) = args.tso_segsz else { return Ok(()) };
    let most = mtu.saturating_sub(MIN_IP_TCP_HEADERS);
    if !tx_offloads.contains(TxOffloads::TCP_TSO) || segsz <= most {
        return Ok(());
    }
    usage(format!(
        "{what}: --tso-segsz {segsz} makes segments of {} B or more (with at least {MIN_IP_TCP_HEADERS} B of IPv4 and \
         TCP headers), over the port's MTU {mtu}: give --tso-segsz {most} or less, or a larger --mtu",
        u32::from(segsz) + u32::from(MIN_IP_TCP_HEADERS)
    ))
}

/// Destination and source MAC addresses: where a software tag goes after.
pub(crate) const MAC_HEADER: usize = 12;

/// A tag inserted in software goes after the MAC addresses, which must
/// then be in a generated frame's first segment (`--txpkts`' first length).
pub(crate) fn check_software_tag(args: &Args, port: usize, conf: &PortConfig, what: &str) -> Result<(), AppError> {
    let software = args.tx_vlan.iter().any(|v| v.port == port) && !conf.tx_offloads.contains(TxOffloads::VLAN_INSERT);
    let first = args.txpkts.segments().first().copied().unwrap_or(0);
    if software && sends_generated(args) && first < MAC_HEADER {
        return usage(format!(
            "{what}: --tx-vlan inserts the tag in software (no vlan_insert tx offload), after the MAC addresses, which \
             must be in the first segment: make the first --txpkts length at least {MAC_HEADER} (got --txpkts {})",
            args.txpkts
        ));
    }
    Ok(())
}

/// Interrupt throttle and tx watchdog settings, before a port opens.
/// Drivers without them (virtual ports have no throttle) are skipped.
pub(crate) fn napi_settings(con: &Console, args: &Args, what: &str, port: &mut dyn NetDevice) -> Result<(), AppError> {
    if let Some(usecs) = args.itr_usecs {
        match port.set_coalesce(&ferrite_pmd::port::Coalesce { rx_usecs: usecs }) {
            Ok(()) | Err(PortError::NotSupported(_)) => {}
            Err(e) => return Err(port_err(format!("{what}: --itr-usecs {usecs}"), e)),
        }
    }
    if let Some(ms) = args.tx_timeout_ms {
        if let Err(e) = port.set_tx_timeout(Duration::from_millis(ms)) {
            con.warn(&format!("{what}: --tx-timeout {ms}: {e}"));
        }
    }
    Ok(())
}

/// The RSS hash types testpmd asks for: `--rss-types`, else `--rss-ip` /
/// `--rss-udp` as dpdk-testpmd, else (with several rx queues) IP addresses
/// and TCP ports. `None`: leave RSS as the driver has it.
pub(crate) fn rss_types(args: &Args) -> Option<ferrite_pmd::rss::RssHashTypes> {
    use ferrite_pmd::rss::RssHashTypes;
    if let Some(t) = args.rss_types {
        return Some(t);
    }
    let mut t = RssHashTypes::NONE;
    if args.rss_ip {
        t = t | RssHashTypes::IP;
    }
    if args.rss_udp {
        t = t | RssHashTypes::IP | RssHashTypes::UDP;
    }
    if t.is_empty() && args.rxq > 1 {
        t = RssHashTypes::IP | RssHashTypes::TCP;
    }
    (!t.is_empty()).then_some(t)
}

/// Turns RSS on (or sets its hash types) before a port opens. Ports
/// without RSS are told once, not failed, unless the user asked for it.
pub(crate) fn rss_settings(con: &Console, args: &Args, what: &str, port: &mut dyn NetDevice) -> Result<(), AppError> {
    let Some(types) = rss_types(args) else { return Ok(()) };
    let asked = args.rss_types.is_some() || args.rss_ip || args.rss_udp;
    match port.set_rss_hash_types(types) {
        Ok(()) => Ok(()),
        Err(PortError::NotSupported(_)) if !asked => Ok(()),
        Err(PortError::NotSupported(e)) => {
            con.warn(&format!("{what}: no RSS ({e}); frames stay on the queue they arrive on"));
            Ok(())
        }
        Err(e) => Err(port_err(format!("{what}: RSS hash types {types}"), e)),
    }
}

/// Buffers per port pool, as testpmd sizes them: every ring a buffer of this
/// pool can sit in (own rx rings, the peer's tx rings, and the wire between
/// for virtual cables), every core's cache at its flush threshold, and a
/// burst per stream in flight, plus slack.
pub(crate) fn pool_size(args: &Args, streams: usize, cores: usize) -> usize {
    let rings = 2 * (args.rxq as usize * args.rxd as usize + args.txq as usize * args.txd as usize);
    let caches = (cores + 1) * (args.mbcache * 3 / 2 + MAX_BURST);
    let bursts = 2 * streams * args.burst;
    (rings + caches + bursts + 1024).next_multiple_of(1024).clamp(4096, 1 << 24)
}

/// Default peer address of port `p`, as testpmd's `02:00:00:00:00:0p`.
pub(crate) fn default_peer(p: usize) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, (p >> 8) as u8, p as u8])
}
