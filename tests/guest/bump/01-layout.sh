#!/usr/bin/env bash
# tests/guest/bump/01-layout.sh — the bump-in-the-wire layout is as
# documented: netns ns0/ns1 with the virtio NICs k0/k1 up at 198.18.0.1/24 and
# 198.18.0.2/24, both igb NICs on vfio-pci, and QEMU's hubs joining k0-igb0 and
# igb1-k1; netns ns2/ns3 with k2/k3 at 198.18.1.1/24 and 198.18.1.2/24, the
# virtio pair on vfio-pci, and tap netdevs (vnet headers) for k2, k3, virtio0
# and virtio1.  (No forwarder runs here, so ns0 cannot reach ns1.)
set -uo pipefail

fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

for ns in ns0 ns1 ns2 ns3; do
    ip netns list | grep -qw "$ns" && ok "netns $ns exists" || bad "netns $ns missing"
done
check_ns() {
    local ns=$1 ifc=$2 ip=$3 mac=$4 out
    out=$(ip -n "$ns" -o -4 addr show dev "$ifc" 2>&1)
    grep -q "inet $ip/24" <<<"$out" && ok "$ns: $ifc has $ip/24" || bad "$ns: $ifc lacks $ip/24 ($out)"
    grep -q "link/ether $mac" <<<"$(ip -n "$ns" link show dev "$ifc")" && ok "$ns: $ifc MAC $mac" ||
        bad "$ns: $ifc MAC is not $mac"
    grep -q 'UP' <<<"$(ip -n "$ns" link show dev "$ifc")" && ok "$ns: $ifc is up" || bad "$ns: $ifc is down"
}
check_ns ns0 "$FERRITE_K0_IF" "$FERRITE_K0_IP" "$FERRITE_K0_MAC"
check_ns ns1 "$FERRITE_K1_IF" "$FERRITE_K1_IP" "$FERRITE_K1_MAC"
check_ns ns2 "$FERRITE_K2_IF" "$FERRITE_K2_IP" "$FERRITE_K2_MAC"
check_ns ns3 "$FERRITE_K3_IF" "$FERRITE_K3_IP" "$FERRITE_K3_MAC"

for b in "$FERRITE_IGB0" "$FERRITE_IGB1" "$FERRITE_VIRTIO0" "$FERRITE_VIRTIO1"; do
    d=$(readlink "/sys/bus/pci/devices/$b/driver"); d=${d##*/}
    [[ $d == vfio-pci ]] && ok "$b on vfio-pci" || bad "$b on '$d', want vfio-pci"
done

net=$(qmp 'info network')
echo "$net" | sed 's/^/    /'
hub_of() { awk -v id="$1" '/^hub /{h=$2} $2 == id":" {print h}' <<<"$net"; }
[[ -n $(hub_of k0) && $(hub_of k0) == "$(hub_of igb0)" ]] && ok "k0 and igb0 share hub $(hub_of k0)" ||
    bad "k0/igb0 not on one hub"
[[ -n $(hub_of k1) && $(hub_of k1) == "$(hub_of igb1)" ]] && ok "igb1 and k1 share hub $(hub_of k1)" ||
    bad "igb1/k1 not on one hub"
[[ $(hub_of k0) != "$(hub_of k1)" ]] && ok "the two hubs are separate" || bad "k0 and k1 on the same hub"
for id in k2 k3 virtio0 virtio1; do
    grep -qE "(^| )$id: .*type=tap,.*ifname=" <<<"$net" && ok "$id is a tap netdev" || bad "$id is not a tap netdev"
done

if ((fails)); then
    echo "01-layout: $fails failure(s)"
    exit 1
fi
echo "01-layout: all passed"
