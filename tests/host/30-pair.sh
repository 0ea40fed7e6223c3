# An AF_XDP port forwarding to and from a virtual pair port in one testpmd:
# ns0 <-> veth <-> af_xdp0 (port 0) <-io-> pair0 (port 1) ~ pair1 (port 2)
# <-io-> af_xdp1 (port 3) <-> veth <-> ns1. Ports 0<->1 and 2<->3 forward
# (paired topology); pair0 and pair1 are wired to each other. Every frame
# between the namespaces crosses from AF_XDP to pair and from pair to AF_XDP
# in each direction: ping without loss, 8 MiB of TCP intact, the report
# balanced and every pool full after stop. Twice: a pool per port (frames
# copied into the AF_XDP ports' UMEM, counted as tx_copied), then one pool
# for all (--shared-pool: nothing copied).
source "$(dirname "$0")/lib/net.bash"
need_root
need_afxdp
need_testpmd
[[ $FWD == dpdk ]] && { echo "SKIP: dpdk-testpmd has no pair port (FWD=dpdk)"; exit 77; }

T=${NETPFX}p
mkns "${T}n0"
mkns "${T}n1"
mkveth "${T}0" "${T}n0" "${T}0p" 10.99.30.1
mkveth "${T}1" "${T}n1" "${T}1p" 10.99.30.2

# pair_run NAME [ARGS...]: the forwarding above, checked; with --shared-pool
# every port draws from one mempool, so nothing may be copied.
pair_run() {
    local name=$1 j=$W/$1.json
    shift
    start_pmd "$name" --vdev "af_xdp0,iface=${T}0" --vdev pair0 --vdev pair1 --vdev "af_xdp1,iface=${T}1" \
        --forward-mode io "$@" || return 0
    path_up "${T}n0" 10.99.30.2
    ping_ok "$name: af_xdp <-> pair <-> af_xdp" "${T}n0" 10.99.30.2 30
    tcp_xfer "$name: af_xdp <-> pair <-> af_xdp" "${T}n0" "${T}n1" 10.99.30.2 8
    stop_pmd "$name"
    eq "$name: ports in order" "$(jv "$j" '[.ports[] | "\(.name)/\(.driver)"] | join(" ")' | sed 's/af_xdp[^ ]*/AF_XDP/g')" \
        "AF_XDP pair0/net_pair pair1/net_pair AF_XDP"
    echo "  $name: mempools: $(jv "$j" '[.mempools[] | "\(.name) \(.available)/\(.capacity)"] | join(", ")')"
    # The transfer's frames went af_xdp0 -> pair0 and pair1 -> af_xdp1.
    eq "$name: pair0 sent what af_xdp0 received, less counted drops" \
        "$(jv "$j" '.ports[1].tx_packets + ([.streams[] | select(.rx_port == 0) | .fwd_drops] | add) == .ports[0].rx_packets')" true
    eq "$name: af_xdp1 sent what pair1 received, less counted drops" \
        "$(jv "$j" '.ports[3].tx_packets + ([.streams[] | select(.rx_port == 2) | .fwd_drops] | add) == .ports[2].rx_packets')" true
    eq "$name: af_xdp0 received the transfer (> 5000 frames)" "$(jv "$j" '.ports[0].rx_packets > 5000')" true
    local copied
    copied=$(jv "$j" '.ports[0].xstats.tx_copied + .ports[3].xstats.tx_copied')
    if [[ " $* " == *" --shared-pool "* ]]; then
        eq "$name: one mempool for all four ports" "$(jv "$j" '.mempools | length')" 1
        eq "$name: AF_XDP ports copied no frame (tx_copied)" "$copied" 0
    else
        # A pool per port: what reaches an AF_XDP port from the pair side
        # lives outside its UMEM and is copied in.
        eq "$name: AF_XDP ports copied in the pair ports' frames (tx_copied > 0)" "$((copied > 0))" 1
    fi
    no_xdp_left "$name: after a clean exit" "${T}0" "${T}1"
}
pair_run pair
pair_run pair-shared --shared-pool
finish
