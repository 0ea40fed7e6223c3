#!/usr/bin/env bash
# tests/guest/bump/70-afxdp-kernel-nic.sh — ferrite's AF_XDP port on NICs the
# KERNEL drives (no vfio-pci): igb0 and igb1 go back to Linux's igb driver,
# which has native (driver-mode) XDP, and testpmd forwards between them:
#   ns0 k0 (198.18.0.1) -- igb0 [af_xdp0, io, af_xdp1] igb1 -- k1 ns1 (198.18.0.2)
#   * the XDP program on each igb interface is attached in driver mode
#     ("xdp", not "xdpgeneric", in `ip link`);
#   * ping ns0 -> ns1 through it without loss (ARP included: the igb
#     interfaces must be promiscuous to take k1's and k0's unicast frames),
#     one socket on each of the NIC's queues (RSS spreads the flows);
#   * a clean stop: exit status 0, pools full, accounting_ok, and no XDP
#     program left on either interface.
# The runner puts both igb NICs back on vfio-pci before the next script.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/afxdp.bash"

k1ip=${FERRITE_K1_IP:-198.18.0.2}
"$TESTPMD" --help 2>&1 | grep -q af_xdp || { echo "SKIP: this build of ferrite has no af_xdp port (testpmd --help)"; exit 77; }

kernel_ifaces - "$FERRITE_IGB0" "$FERRITE_IGB1"
ifs=("${IFS_[@]}")
for bdf in "$FERRITE_IGB0" "$FERRITE_IGB1"; do
    drv=$(readlink "/sys/bus/pci/devices/$bdf/driver")
    eq "$bdf driver" "${drv##*/}" igb
done

# Every receive queue of each NIC: igb spreads flows over its queues by
# RSS, and the frames of a queue without a socket go to the kernel instead
# (with queue 0 alone, ARP got through and the echo replies, hashed to
# another queue, did not).
nq=$(combined_channels "${ifs[0]}")
echo "  ${ifs[0]} has $nq combined channel(s): queue_count=$nq"
j=$W/afxdp.json
afxdp_start "$j" --vdev "af_xdp0,iface=${ifs[0]},queue_count=$nq" --vdev "af_xdp1,iface=${ifs[1]},queue_count=$nq" \
    --rxq "$nq" --txq "$nq"
for ifc in "${ifs[@]}"; do
    l=$(ip -d link show dev "$ifc")
    grep -q 'prog/xdp id' <<<"$l" && pass "$ifc: an XDP program is attached" || fail "$ifc: no XDP program attached"
    grep -qw xdp <<<"$(head -1 <<<"$l")" && ! grep -q xdpgeneric <<<"$l" && pass "$ifc: XDP in driver (native) mode" ||
        fail "$ifc: XDP not in driver mode: $(head -1 <<<"$l")"
done
ping_through ns0 "$k1ip" "AF_XDP on kernel igb"
afxdp_stop "$j" "${ifs[@]}"
echo "  port 0: $(jv "$j" '.ports[0] | "RX \(.rx_packets) TX \(.tx_packets) drops \(.rx_drops)/\(.tx_drops)"')"
finish
