#!/usr/bin/env bash
# tests/guest/bump/65-virtio-mq.sh — ferrite's virtio-net control queue,
# judged by real traffic on the bump layout's tap path:
#   ns2 (k2) -- tap fv0 -- virtio0 [testpmd io] virtio1 -- tap fv1 -- ns3 (k3)
# virtio0/virtio1 are mq=on with 2 queue pairs on multi-queue taps
# (scripts/qemu/run-in-guest, scripts/qemu/tap-wires).
#   0. pmdinfo -k: CTRL_VQ, CTRL_RX, MQ negotiated, "queue pairs 1 of at most 2";
#      --rxq 3 is refused naming the maximum, --rxq 2 --txq 1 refused (rxonly).
#   1. Receive filters (QEMU filters in its virtio-net device, as told by
#      ferrite's control commands): raw frames of a test EtherType sent
#      from k2 (AF_PACKET) to chosen destination MACs; what ferrite
#      receives it forwards to k3, where an AF_PACKET socket (k3
#      promiscuous) counts them per destination.
#        --no-promisc:                 own MAC 20, foreign unicast 0, multicast 0
#        --no-promisc --mac-addr-add X --mc-addr G: X 20, another foreign 0, G 20,
#                                      another group 0
#        --no-promisc --all-multicast: multicast 20, foreign unicast 0
#        promiscuous (the default):    foreign unicast 20, multicast 20
#        --no-promisc --vlan-filter 0,5: own MAC tagged 5: 20, tagged 6: 0,
#                                      untagged 20 (without it, tagged 6: 20)
#   2. Multi-queue, --rxq 2 --txq 2, io forwarding: ping both ways 0% loss,
#      16 MB over TCP ns2 -> ns3 intact, and 64 UDP flows from k2: virtio0's
#      per-queue counters show BOTH receive queues got frames.
#   Every testpmd run exits 0 on SIGINT with its pools full.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bump-testpmd.bash"

virtio_bump_setup FERRITE_VIRTIO0_MAC
k2ip=$FERRITE_K2_IP k3ip=$FERRITE_K3_IP
own=$FERRITE_VIRTIO0_MAC
PMDINFO=$(dirname "$TESTPMD")/pmdinfo

echo "== 0. what the device and the driver agreed"
info=$("$PMDINFO" -k "$FERRITE_VIRTIO0" 2>&1)
grep -E '^  (negotiated|control queue)' <<<"$info"
ctl=$(grep '^  control queue' <<<"$info")
eq "pmdinfo: CTRL_VQ CTRL_RX MQ negotiated" \
    "$(for f in CTRL_VQ CTRL_RX MQ; do grep -qw "$f" <<<"$ctl" && echo -n "$f "; done)" "CTRL_VQ CTRL_RX MQ "
eq "pmdinfo: queue pairs (ethtool -l)" "$(grep -o 'queue pairs [0-9]* of at most [0-9]*' <<<"$ctl")" \
    "queue pairs 1 of at most 2"
out=$(timeout -k 5 60 "$TESTPMD" -l 0,1 -a "$FERRITE_VIRTIO0" --port-topology loop --rxq 3 --txq 3 --duration 1 \
    --no-telemetry 2>&1)
grep -q '1\.\.=2\|at most 2' <<<"$out" && pass "--rxq 3: refused naming the maximum (2)" ||
    fail "--rxq 3 not refused with the maximum: $(tail -3 <<<"$out" | tr '\n' ' ')"
# rxonly (no --tx-first) leaves the counts to the driver.
out=$(timeout -k 5 60 "$TESTPMD" -l 0,1 -a "$FERRITE_VIRTIO0" --port-topology loop --forward-mode rxonly --rxq 2 \
    --txq 1 --duration 1 --no-telemetry 2>&1)
grep -q 'receive/transmit pairs' <<<"$out" && pass "--rxq 2 --txq 1: refused by the driver, pairs" ||
    fail "--rxq 2 --txq 1 not refused: $(tail -3 <<<"$out" | tr '\n' ' ')"

# The sniffer at k3: counts frames of EtherType 0x88b5 per destination MAC
# until killed, then prints "MAC COUNT" lines.
cat >"$W/sniff.py" <<'EOF'
import signal, socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))
s.bind((sys.argv[1], 0))
counts = {}
def done(*_):
    for mac, n in sorted(counts.items()):
        print(mac, n)
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
print("ready", flush=True)
while True:
    d = s.recv(2048)
    if d[14:24] == b"ferrite-65":
        # The kernel took any VLAN tag off; the sender wrote its ID in.
        key = ":".join("%02x" % b for b in d[:6]) + ("/%d" % d[25] if d[25] else "")
        counts[key] = counts.get(key, 0) + 1
EOF
# The sender at k2: 20 frames to each destination MAC[/VLAN] given
# (tagged with that VLAN ID, 1..=255, when given).
cat >"$W/send.py" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
src = s.getsockname()[4]
for arg in sys.argv[2:]:
    mac, _, vid = arg.partition("/")
    vid = int(vid or 0)
    d = bytes(int(x, 16) for x in mac.split(":"))
    tag = b"\x81\x00" + vid.to_bytes(2, "big") if vid else b""
    for i in range(20):
        s.send((d + src + tag + b"\x88\xb5" + b"ferrite-65" + bytes([i, vid])).ljust(64, b"\0"))
        time.sleep(0.005)
EOF

# filters NAME "MAC=N ..." TESTPMD-ARGS...: sends 20 frames to each MAC
# from k2 through testpmd (io) and checks k3 saw N of each.
filters() {
    local name=$1 want=$2 got mac n dsts=() snf
    shift 2
    for w in $want; do dsts+=("${w%=*}"); done
    local t0
    t0=$(date +%s.%N)
    pmd_start "$name" "${RINGS[@]}" --forward-mode io "$@" || return 0
    echo "  $name: testpmd up in $(echo "$(date +%s.%N) - $t0" | bc) s (1.5 s of it waiting for the links)"
    ip netns exec ns3 python3 "$W/sniff.py" "$k3" >"$W/$name.sniff" &
    snf=$!
    for _ in $(seq 300); do grep -q ready "$W/$name.sniff" && break; sleep 0.1; done
    ip netns exec ns2 python3 "$W/send.py" "$k2" "${dsts[@]}"
    sleep 1.5
    kill -TERM "$snf"
    wait "$snf"
    pmd_stop "$name"
    for w in $want; do
        mac=${w%=*} n=${w#*=}
        got=$(awk -v m="$mac" '$1 == m {print $2}' "$W/$name.sniff")
        eq "$name: frames to $mac forwarded to k3" "${got:-0}" "$n"
    done
}

echo "== 1. receive filters through the control queue"
ip -n ns3 link set "$k3" promisc on
X=02:00:00:00:65:01 Y=02:00:00:00:65:02 G=01:00:5e:00:00:43 H=01:00:5e:00:00:42
filters nopromisc "$own=20 $own/6=20 $X=0 $H=0" --no-promisc
filters macadd "$X=20 $Y=0 $G=20 $H=0" --no-promisc --mac-addr-add "0,$X" --mc-addr "0,$G"
filters allmulti "$H=20 $X=0" --no-promisc --all-multicast
filters promisc "$X=20 $H=20"
# VLAN filtering: the open sets all 4,096 entries of the device's table.
PMD_START_TRIES=1200 filters vlan "$own/5=20 $own/6=0 $own=20" --no-promisc --vlan-filter 0,5
ip -n ns3 link set "$k3" promisc off

echo "== 2. two queue pairs"
if pmd_start mq "${RINGS[@]}" --forward-mode io --rxq 2 --txq 2; then
    ping_ok mq ns2 "$k3ip" 20
    ping_ok mq ns3 "$k2ip" 20
    tcp_xfer mq "TCP:$k3ip:5011" "TCP-LISTEN:5011" 16
    # 64 UDP flows (distinct source ports): the tap picks a queue per flow
    # by its hash, so with 2 queues all 64 land on one with probability
    # 2 x 2^-64 (~1e-19), for independent hashes.
    ip netns exec ns2 python3 -c '
import socket
for i in range(64):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("'"$k2ip"'", 41000 + i))
    for _ in range(4):
        s.sendto(b"ferrite-65 flow %d" % i, ("'"$k3ip"'", 5012))
    s.close()'
    sleep 1
    pmd_stop mq
    j=$W/mq.json
    q0=$(jv "$j" '.ports[0].xstats.rx_queue_0_packets') q1=$(jv "$j" '.ports[0].xstats.rx_queue_1_packets')
    echo "  virtio0 rx per queue: $q0 / $q1; virtio1: $(jv "$j" '.ports[1].xstats.rx_queue_0_packets') / $(jv "$j" '.ports[1].xstats.rx_queue_1_packets')"
    eq "mq: virtio0 received on both queues" "$((${q0:-0} > 0 && ${q1:-0} > 0))" 1
    eq "mq: virtio0's queues add up to its rx_packets" "$((${q0:-0} + ${q1:-0}))" "$(jv "$j" '.ports[0].rx_packets')"
fi

finish
