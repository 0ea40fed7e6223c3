# txonly -> rxonly across a veth pair A <-> B, one testpmd on each end:
# 1. one queue, 64 B and 1514 B frames: exactly as many received as sent,
#    every payload and sequence number verified by rxonly, byte counts,
#    per-queue counters, pools full;
# 2. four queues (veths made with 4 tx/rx queues, then set to 1 channel
#    each with ethtool -L: ferrite must raise them to 4, and put them back
#    to 1 at its clean exit): a veth hands what its
#    transmit queue k sends to its peer's receive queue k, so each of
#    rxonly's queues must count exactly what txonly's queue of the same
#    number sent, intact;
# 3. frames spread by flow: the kernel in a namespace sends UDP from 64
#    sockets (64 source ports) over a 4-queue veth; Linux picks the transmit
#    queue, and so the peer's receive queue, by the flow's hash. rxonly on 4
#    AF_XDP queues must count every datagram, on more than one queue. All
#    64 flows hash to one queue with probability 4 * (1/4)^64 < 1e-37 (a
#    uniform hash assumed), so a false failure is negligible.
source "$(dirname "$0")/lib/net.bash"
need_root
need_afxdp
need_testpmd
[[ $FWD == dpdk ]] && { echo "SKIP: txonly/rxonly checks read ferrite's --json report (FWD=dpdk)"; exit 77; }

T=${NETPFX}t
# Receiver's forwarding core on CPU 0, sender's on CPU 1 (as the guest tests).
RXCPU=(-l 1,0 --main-lcore 1) TXCPU=(-l 0,1)

# txrx NAME Q SIZE COUNT RATE: COUNT frames of SIZE B over Q queues A -> B.
txrx() {
    local n=$1 q=$2 size=$3 count=$4 rate=$5 r t
    local -a qa=(--rxq "$q" --txq "$q")
    QARGS=$([[ $q == 1 ]] || echo ",queue_count=$q") afxdp_ports "${T}b"
    local rxport=("${PORTS[@]}")
    QARGS=$([[ $q == 1 ]] || echo ",queue_count=$q") afxdp_ports "${T}a"
    start_pmd "$n.rx" "${RXCPU[@]}" "${rxport[@]}" --forward-mode rxonly --port-topology loop --rxd 4096 "${qa[@]}" || return 0
    local rxpid=$PMD
    RX_CHANNELS=$(channels "${T}b")
    run_bounded 60 "$TESTPMD" "${TXCPU[@]}" --no-telemetry --json --xstats "${PORTS[@]}" --forward-mode txonly \
        --port-topology loop "${qa[@]}" --txpkts "$size" --tx-count "$count" --tx-rate "$rate" \
        >"$W/$n.tx.json" 2>"$W/$n.tx.err"
    eq "$n: txonly exit status" "$?" 0
    wait_rx "$n.rx" 0 "$count" || echo "  $n: rxonly saw $(rx_so_far "$n.rx" 0) of $count before stop"
    sleep 0.5 # a frame too many would show up now
    PMD=$rxpid
    stop_pmd "$n.rx"
    check_report "$n.tx"
    r=$W/$n.rx.json t=$W/$n.tx.json
    eq "$n: frames sent" "$(jv "$t" '.ports[0].tx_packets')" "$count"
    eq "$n: frames received (exactly as many as sent)" "$(jv "$r" '.ports[0].rx_packets')" "$count"
    eq "$n: bytes received" "$(jv "$r" '.ports[0].rx_bytes')" $((count * size))
    eq "$n: rxonly bad_payload/out_of_order/seq_gaps" \
        "$(jv "$r" '[.streams[] | .bad_payload + .out_of_order + .seq_gaps] | add')" 0
    eq "$n: rxonly consumed" "$(jv "$r" '[.streams[].consumed] | add')" "$count"
    local k
    for ((k = 0; k < q; k++)); do
        eq "$n: rx queue $k = tx queue $k (veth: tx queue k -> peer's rx queue k)" \
            "$(jv "$r" ".ports[0].queues[$k].rx_packets")" "$(jv "$t" ".ports[0].queues[$k].tx_packets")"
    done
    ((q == 1)) || eq "$n: frames on every one of the $q queues" \
        "$(jv "$r" '[.ports[0].queues[] | .rx_packets > 0] | all')" true
    echo "  $n: rx xstats: $(jv "$r" '.ports[0].xstats | to_entries | map(select(.key | test("xdp|fill|ring|drop"))) | map("\(.key)=\(.value)") | join(" ")')"
}

RX_CHANNELS= # channels of ${T}b while the last receiver ran

# Exact counts need no luck with the scheduler: each queue gets fewer frames
# than its RX ring holds (--rxd 4096; the fill ring has twice as many
# buffers), so even a receiver that the loaded host does not run at all
# until the sender is done loses none. (10,000 frames at 20 kpps once lost
# 2,173 to rx_ring_full with two suites running on this 2-CPU machine.)
mkpair "${T}a" "${T}b" 1
txrx q1-64B 1 64 4000 20000
txrx q1-1514B 1 1514 4000 20000
ip link del "${T}a"
mkpair "${T}a" "${T}b" 4
# One channel each, as a NIC might be set: asked for 4 queues, ferrite
# raises the channels itself (ethtool's ETHTOOL_SCHANNELS ioctl).
ethtool -L "${T}a" rx 1 tx 1 && ethtool -L "${T}b" rx 1 tx 1
eq "channels before (rx/tx of ${T}a and ${T}b)" "$(channels "${T}a") $(channels "${T}b")" "1/1 1/1"
txrx q4-64B 4 64 8000 20000
eq "channels of ${T}b while the receiver ran: raised to 4 by ferrite" "$RX_CHANNELS" "4/4"
# Both ends exited cleanly: each put back the channels it found.
eq "channels after both runs: put back by ferrite" "$(channels "${T}a") $(channels "${T}b")" "1/1 1/1"
ip link del "${T}a"

# 3. Spread by flow: kernel UDP from namespace n over a 4-queue veth.
mkns "${T}n"
mkveth "${T}r" "${T}n" "${T}rp" 10.99.20.1 4
# No ARP: the destination's MAC is written in (rxonly answers nothing).
ip -n "${T}n" neigh replace 10.99.20.2 lladdr 02:00:00:99:20:02 dev "${T}rp" nud permanent
QARGS=,queue_count=4 afxdp_ports "${T}r"
FLOWS=64 PER=4
if start_pmd flows "${RXCPU[@]}" "${PORTS[@]}" --forward-mode rxonly --port-topology loop --rxq 4 --txq 4; then
    sent0=$(ip netns exec "${T}n" cat "/sys/class/net/${T}rp/statistics/tx_packets")
    ip netns exec "${T}n" python3 -c '
import socket
socks = []
for i in range('"$FLOWS"'):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("10.99.20.2", 7000 + i))
    socks.append(s)
for r in range('"$PER"'):
    for i, s in enumerate(socks):
        s.send(b"flow %d datagram %d" % (i, r))
'
    sent=$(($(ip netns exec "${T}n" cat "/sys/class/net/${T}rp/statistics/tx_packets") - sent0))
    want=$((FLOWS * PER))
    eq "flows: the namespace's veth sent every datagram" "$sent" "$want"
    wait_rx flows 0 "$want" || true
    sleep 0.5
    stop_pmd flows
    j=$W/flows.json
    eq "flows: datagrams received by the AF_XDP port (all queues)" "$(jv "$j" '.ports[0].rx_packets')" "$want"
    echo "  flows: per queue: $(jv "$j" '[.ports[0].queues[].rx_packets] | map(tostring) | join(" ")')"
    eq "flows: frames on more than one of 4 queues" "$(jv "$j" '[.ports[0].queues[] | select(.rx_packets > 0)] | length > 1')" true
fi
finish
