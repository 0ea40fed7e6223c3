# Bump in the wire: ns0 <-> veth <-> [testpmd io, two AF_XDP ports] <-> veth
# <-> ns1. Nothing but the forwarder joins the two namespaces (checked
# first: ping fails without it). With it: ping without loss, a 32 MiB TCP
# transfer arrives intact, and the report balances (every frame received was
# sent or counted as dropped, pools full after stop); no XDP program is left
# on either interface after the clean exit.
source "$(dirname "$0")/lib/net.bash"
need_root
need_afxdp
need_testpmd

T=${NETPFX}b
mkns "${T}n0"
mkns "${T}n1"
mkveth "${T}0" "${T}n0" "${T}0p" 10.99.10.1
mkveth "${T}1" "${T}n1" "${T}1p" 10.99.10.2
afxdp_ports "${T}0" "${T}1"

ping_fails "without a forwarder" "${T}n0" 10.99.10.2
if start_pmd bump "${PORTS[@]}" --forward-mode=io; then
    for i in 0 1; do
        id=$(xdp_prog "${T}$i")
        [[ -n $id ]] && pass "XDP program $id attached to ${T}$i while running" || fail "no XDP program on ${T}$i while running"
    done
    path_up "${T}n0" 10.99.10.2
    if [[ $FWD == ferrite ]]; then # drvinfo: veth has native XDP, copy mode
        for i in 0 1; do
            l=$(grep "^Port $i: ${T}$i (veth)" "$W/bump.err")
            grep -q 'native XDP' <<<"$l" && pass "port $i: ${l#*: }" || fail "port $i: no 'native XDP' in drvinfo: '$l'"
        done
    fi
    ping_ok "through the AF_XDP bump" "${T}n0" 10.99.10.2 50
    tcp_xfer "through the AF_XDP bump" "${T}n0" "${T}n1" 10.99.10.2 32
    stop_pmd bump
    if [[ $FWD == ferrite ]]; then
        # A 32 MiB transfer is > 20,000 frames one way: the counters saw it.
        eq "port 0 received the transfer (> 20000 frames)" "$(jv "$W/bump.json" '.ports[0].rx_packets > 20000')" true
        echo "  xstats port 0: $(jv "$W/bump.json" '.ports[0].xstats | to_entries | map("\(.key)=\(.value)") | join(" ")' | cut -c1-600)"
    fi
    no_xdp_left "after a clean exit" "${T}0" "${T}1"
fi
finish
