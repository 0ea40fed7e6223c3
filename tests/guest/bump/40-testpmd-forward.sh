#!/usr/bin/env bash
# tests/guest/bump/40-testpmd-forward.sh — testpmd as a bump in the wire:
#   ns0 (198.18.0.1) -- igb0 [testpmd io, promiscuous] igb1 -- ns1 (198.18.0.2)
#   * `ping -c 100 -i 0.02` from ns0 to ns1 through testpmd: 0% loss;
#   * a 100 MB file over TCP (socat) through testpmd arrives with the same
#     SHA-256;
#   * over 802.1Q: VLAN 100 interfaces (MTU 1500, so full-size TCP segments
#     travel in 1518 B tagged frames) carry a 32 MB file intact; over QinQ
#     (802.1ad 200 + 802.1Q 300) a full-size ping (1522 B frames) answers;
#     no frame is dropped as over the MTU (rx_mtu_oversize_drops 0);
#   * testpmd stops on SIGINT with its final report conserved: per stream
#     rx = tx + drops; igb0's RX = igb1's TX (+ drops) and back; hardware
#     counters (GPRC/GPTC, GORC/GOTC) agree with the software ones; every
#     buffer back in its pool.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"

k1ip=${FERRITE_K1_IP:-198.18.0.2}
j=$W/fwd.json
# Forwarding core on CPU 1; the kernel stack (socat, virtio) shares CPU 0
# with testpmd's sleeping main thread.
timeout --foreground -k 5 -s INT 240 "$TESTPMD" -l 0,1 -a "$FERRITE_IGB0" -a "$FERRITE_IGB1" --forward-mode io --json --xstats \
    --stats-period 5 "${POLL[@]}" \
    >"$j" 2>"$W/fwd.err" &
fwd=$!
for _ in $(seq 100); do grep -q '^Logical core' "$W/fwd.err" && break; sleep 0.1; done
grep -q '^Logical core' "$W/fwd.err" || { cat "$W/fwd.err"; fail "testpmd did not start"; finish; exit 1; }
sleep 1

out=$(ip netns exec ns0 ping -c 100 -i 0.02 -w 30 "$k1ip" 2>&1)
echo "$out" | tail -2
grep -q ' 0% packet loss' <<<"$out" && pass "ping ns0 -> ns1 through testpmd: 0% loss" || fail "ping lost packets"

head -c 100000000 /dev/urandom >/tmp/send.bin
want=$(sha256sum </tmp/send.bin | cut -d' ' -f1)
ip netns exec ns1 socat -u TCP-LISTEN:5001,reuseaddr OPEN:/tmp/recv.bin,creat,trunc &
srv=$!
sleep 0.5
t0=$(date +%s.%N)
ip netns exec ns0 socat -u OPEN:/tmp/send.bin "TCP:$k1ip:5001,retry=10"
wait "$srv"
t1=$(date +%s.%N)
got=$(sha256sum </tmp/recv.bin | cut -d' ' -f1)
secs=$(echo "$t1 - $t0" | bc)
echo "100 MB over TCP in ${secs} s ($(echo "800 / $secs" | bc) Mbit/s)"
[[ $got == "$want" ]] && pass "100 MB over TCP through testpmd: SHA-256 identical ($want)" ||
    fail "TCP transfer corrupted or short: $(stat -c %s /tmp/recv.bin) bytes, sha $got vs $want"
rm -f /tmp/send.bin /tmp/recv.bin

# VLAN 100 on each kernel NIC, and QinQ: an 802.1ad tag 200 outside an
# 802.1Q tag 300. Each VLAN interface keeps its parent's MTU of 1500.
# The 8021q module comes from the host's /lib/modules over 9p.
[[ -d /sys/module/8021q ]] || modprobe 8021q || fail "modprobe 8021q failed (kernel $(uname -r))"
tagged_ifs() {
    local ns=$1 dev=$2 host=$3
    ip -n "$ns" link add link "$dev" name v100 type vlan id 100 &&
        ip -n "$ns" addr add "198.18.1.$host/24" dev v100 && ip -n "$ns" link set v100 up &&
        ip -n "$ns" link add link "$dev" name s200 type vlan proto 802.1ad id 200 && ip -n "$ns" link set s200 up &&
        ip -n "$ns" link add link s200 name q300 type vlan id 300 &&
        ip -n "$ns" addr add "198.18.2.$host/24" dev q300 && ip -n "$ns" link set q300 up
}
if tagged_ifs ns0 "$FERRITE_K0_IF" 1 && tagged_ifs ns1 "$FERRITE_K1_IF" 2; then
    pass "VLAN 100 and QinQ 200/300 interfaces up in ns0 and ns1 (VLAN $(ip -n ns0 -o link show v100 | grep -o "mtu [0-9]*"))"
    head -c 32000000 /dev/urandom >/tmp/send.bin
    want=$(sha256sum </tmp/send.bin | cut -d' ' -f1)
    ip netns exec ns1 timeout -k 5 120 socat -u TCP-LISTEN:5002,reuseaddr OPEN:/tmp/recv.bin,creat,trunc &
    srv=$!
    sleep 0.5
    timeout -k 5 120 ip netns exec ns0 socat -u OPEN:/tmp/send.bin "TCP:198.18.1.2:5002,retry=10"
    wait "$srv"
    got=$(sha256sum </tmp/recv.bin | cut -d' ' -f1)
    [[ $got == "$want" ]] && pass "32 MB over TCP on VLAN 100 through testpmd: SHA-256 identical" ||
        fail "TCP over VLAN 100 stalled or corrupted: $(stat -c %s /tmp/recv.bin) of 32000000 bytes"
    rm -f /tmp/send.bin /tmp/recv.bin
    out=$(ip netns exec ns0 ping -c 3 -i 0.2 -w 20 -s 1472 -M do 198.18.2.2 2>&1)
    grep -q ' 0% packet loss' <<<"$out" && pass "full-size ping over QinQ (1522 B frames) through testpmd: 0% loss" ||
        fail "full-size ping over QinQ lost packets: $(tail -2 <<<"$out" | tr '\n' ' ')"
else
    fail "could not create the VLAN interfaces (ip link add ... type vlan)"
fi
# Leave the layout as we found it: later scripts in this boot make their own
# VLAN devices, and 8021q allows one per ID on a parent.
for ns in ns0 ns1; do ip -n "$ns" link del q300 2>/dev/null; ip -n "$ns" link del s200 2>/dev/null; ip -n "$ns" link del v100 2>/dev/null; done

kill -INT "$fwd"
wait "$fwd"
rc=$?
grep -v '^ *port [01] queue\|^Rates' "$W/fwd.err"
grep '^Rates\|queue' "$W/fwd.err" | tail -3
eq "testpmd exit status after SIGINT" "$rc" 0
for p in 0 1; do
    q=$((1 - p))
    echo "port $p: $(jv "$j" ".ports[$p] | \"RX \(.rx_packets) pkts \(.rx_bytes) B, TX \(.tx_packets) pkts \(.tx_bytes) B, drops rx \(.rx_drops) tx \(.tx_drops) fwd \(.fwd_tx_drops)\"")"
    eq "port $p RX = port $q TX + drops (stream $p->$q conserved)" \
        "$(jv "$j" ".ports[$p].rx_packets")" \
        "$(jv "$j" "[.streams[] | select(.rx_port == $p)][0] as \$s | .ports[$q].tx_packets + \$s.fwd_drops + \$s.drained")"
    eq "port $p hardware rx_packets (GPRC) = software" "$(jv "$j" ".ports[$p].xstats.rx_packets")" \
        "$(jv "$j" ".ports[$p].rx_packets")"
    eq "port $p hardware tx_packets (GPTC) = software" "$(jv "$j" ".ports[$p].xstats.tx_packets")" \
        "$(jv "$j" ".ports[$p].tx_packets")"
    eq "port $p hardware rx_bytes (GORC) = software + CRC" "$(jv "$j" ".ports[$p].xstats.rx_bytes")" \
        "$(jv "$j" ".ports[$p] | .rx_bytes + 4 * .rx_packets")"
    eq "port $p hardware tx_bytes (GOTC) = software + CRC" "$(jv "$j" ".ports[$p].xstats.tx_bytes")" \
        "$(jv "$j" ".ports[$p] | .tx_bytes + 4 * .tx_packets")"
    eq "port $p: no frame dropped as over the MTU (tagged full-size frames fit)" \
        "$(jv "$j" ".ports[$p].xstats.rx_mtu_oversize_drops")" 0
done
eq "the 100 MB went through (port 0 RX > 69,000 frames, 100 MB / 1448 B)" "$(jv "$j" '.ports[0].rx_packets > 69000')" true
eq "streams balanced, mempools full, accounting_ok" \
    "$(jv "$j" '([.streams[].balanced] | all) and ([.mempools[] | .capacity == .available] | all) and .accounting_ok')" true

finish
