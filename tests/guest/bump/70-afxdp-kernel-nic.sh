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

k1ip=${FERRITE_K1_IP:-198.18.0.2}
"$TESTPMD" --help 2>&1 | grep -q af_xdp || { echo "SKIP: this build of ferrite has no af_xdp port (testpmd --help)"; exit 77; }

"$repo/scripts/devbind" --force --restore "$FERRITE_IGB0" "$FERRITE_IGB1" >"$W/devbind.out" 2>&1 ||
    { cat "$W/devbind.out"; fail "could not give igb0/igb1 back to the igb driver"; finish; exit 1; }
ifs=()
for bdf in "$FERRITE_IGB0" "$FERRITE_IGB1"; do
    ifc=$(ls "/sys/bus/pci/devices/$bdf/net" 2>/dev/null | head -1)
    [[ -n $ifc ]] || { fail "$bdf has no network interface after devbind --restore"; finish; exit 1; }
    drv=$(readlink "/sys/bus/pci/devices/$bdf/driver")
    eq "$bdf ($ifc) driver" "${drv##*/}" igb
    ip link set "$ifc" up
    ifs+=("$ifc")
done
for ifc in "${ifs[@]}"; do # autonegotiation under TCG: give it 15 s
    for _ in $(seq 150); do [[ $(cat "/sys/class/net/$ifc/carrier" 2>/dev/null) == 1 ]] && break; sleep 0.1; done
    eq "$ifc carrier" "$(cat "/sys/class/net/$ifc/carrier" 2>/dev/null)" 1
done

# Every receive queue of each NIC: igb spreads flows over its queues by
# RSS, and the frames of a queue without a socket go to the kernel instead
# (with queue 0 alone, ARP got through and the echo replies, hashed to
# another queue, did not).
nq=$(ethtool -l "${ifs[0]}" | awk '/^Current/ { c = 1 } c && /^Combined:/ { print $2 }')
[[ $nq =~ ^[1-9][0-9]*$ ]] || nq=1
echo "  ${ifs[0]} has $nq combined channel(s): queue_count=$nq"
j=$W/afxdp.json
timeout --foreground -k 5 -s INT 120 "$TESTPMD" -l 0,1 --vdev "af_xdp0,iface=${ifs[0]},queue_count=$nq" \
    --vdev "af_xdp1,iface=${ifs[1]},queue_count=$nq" --rxq "$nq" --txq "$nq" --forward-mode io \
    --json --xstats --stats-period 1 --no-telemetry >"$j" 2>"$W/afxdp.err" &
pmd=$!
for _ in $(seq 150); do grep -q '^Logical core' "$W/afxdp.err" && break; kill -0 $pmd 2>/dev/null || break; sleep 0.1; done
grep -q '^Logical core' "$W/afxdp.err" || { cat "$W/afxdp.err"; fail "testpmd did not start on ${ifs[*]}"; finish; exit 1; }
grep '^Port [0-9]' "$W/afxdp.err" | sed 's/^/  /'
for ifc in "${ifs[@]}"; do
    l=$(ip -d link show dev "$ifc")
    grep -q 'prog/xdp id' <<<"$l" && pass "$ifc: an XDP program is attached" || fail "$ifc: no XDP program attached"
    grep -qw xdp <<<"$(head -1 <<<"$l")" && ! grep -q xdpgeneric <<<"$l" && pass "$ifc: XDP in driver (native) mode" ||
        fail "$ifc: XDP not in driver mode: $(head -1 <<<"$l")"
done
# Attaching XDP resets an igb NIC: its link goes down and up again (seconds
# under TCG). Single pings until one is answered, then the counted ones.
for _ in $(seq 20); do ip netns exec ns0 ping -c 1 -W 1 "$k1ip" >/dev/null 2>&1 && break; done
out=$(ip netns exec ns0 ping -c 20 -i 0.05 -w 20 "$k1ip" 2>&1)
tail -2 <<<"$out" | sed 's/^/  /'
grep -q ' 0% packet loss' <<<"$out" && pass "ping ns0 -> ns1 through AF_XDP on kernel igb: 0% loss" ||
    fail "ping through AF_XDP on kernel igb: $(tail -2 <<<"$out" | tr '\n' ' ')"
if ! grep -q ' 0% packet loss' <<<"$out"; then # what each side saw
    for ifc in "${ifs[@]}"; do echo "  $ifc: $(ip -o link show dev "$ifc" | grep -o '<[^>]*>')"; ip -s link show dev "$ifc" | sed 's/^/    /'; done
    for ns in ns0 ns1; do ip -n "$ns" -s link show | sed "s/^/    $ns: /"; ip -n "$ns" neigh | sed "s/^/    $ns neigh: /"; done
fi
kill -INT $pmd
wait $pmd
eq "testpmd exit status after SIGINT" "$?" 0
eq "mempools full, accounting_ok" "$(jv "$j" '([.mempools[] | .capacity == .available] | all) and .accounting_ok')" true
echo "  port 0: $(jv "$j" '.ports[0] | "RX \(.rx_packets) TX \(.tx_packets) drops \(.rx_drops)/\(.tx_drops)"')"
for ifc in "${ifs[@]}"; do
    ip -d link show dev "$ifc" | grep -q 'prog/xdp' && fail "$ifc: XDP program left after exit" || pass "$ifc: no XDP program after exit"
done
finish
