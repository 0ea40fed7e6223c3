#!/usr/bin/env bash
# tests/guest/loop/90-hot-unplug.sh — a NIC that disappears while testpmd
# forwards on it (loop layout; last in the boot: igb1 is gone afterwards).
#
#   * testpmd io-forwards between igb0 and igb1 (--tx-first: frames circle
#     the loop); QMP `device_del nic1` hot-unplugs igb1.
#   * The guest kernel asks vfio-pci for the device back; ferrite gets VFIO's
#     request interrupt, quiets the NIC, releases it, and testpmd says
#     "Port 1: device removal event". The kernel then finishes the removal:
#     igb1 leaves /sys/bus/pci/devices (before, the unplug would wait for
#     testpmd to exit).
#   * Unbinding igb0 from vfio-pci (sysfs) brings the same request: the
#     unbind returns and testpmd says "Port 0: device removal event".
#   * testpmd keeps running, exits 0 on SIGINT, and its report balances:
#     every frame received was sent or counted as dropped, every buffer is
#     back in its pool.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"

j=$W/unplug.json
timeout --foreground -k 5 -s INT 200 "$TESTPMD" -l 0,1 -a "$FERRITE_IGB0" -a "$FERRITE_IGB1" --forward-mode io \
    --tx-first 1 --stats-period 2 --json "${POLL[@]}" >"$j" 2>"$W/unplug.err" &
fwd=$!
for _ in $(seq 200); do grep -q '^Rates' "$W/unplug.err" && break; sleep 0.1; done
grep -q '^Rates' "$W/unplug.err" || { cat "$W/unplug.err"; fail "testpmd did not start forwarding"; finish; exit 1; }

t0=$(date +%s.%N)
qmp 'device_del nic1' || fail "qmp device_del nic1"
end=$((SECONDS + 60))
while ((SECONDS < end)); do grep -q 'Port 1: device removal event' "$W/unplug.err" && break; sleep 0.1; done
if grep -q 'Port 1: device removal event' "$W/unplug.err"; then
    pass "testpmd reported port 1 removed ($(echo "$(date +%s.%N) - $t0" | bc) s after device_del)"
else
    fail "no 'Port 1: device removal event' within 60 s of device_del"
fi
end=$((SECONDS + 60))
while ((SECONDS < end)); do [[ -e /sys/bus/pci/devices/$FERRITE_IGB1 ]] || break; sleep 0.1; done
if [[ -e /sys/bus/pci/devices/$FERRITE_IGB1 ]]; then
    fail "$FERRITE_IGB1 still in /sys/bus/pci/devices 60 s after device_del (ferrite did not let go)"
else
    pass "the kernel finished removing $FERRITE_IGB1 while testpmd ran ($(echo "$(date +%s.%N) - $t0" | bc) s)"
fi
sleep 3
kill -0 "$fwd" 2>/dev/null && pass "testpmd still running after the removal" || fail "testpmd died after the removal"

# The same request comes when the NIC is unbound from vfio-pci: the write to
# unbind returns once ferrite has let go (before, it blocked until exit).
t0=$(date +%s.%N)
if timeout -k 5 60 sh -c "echo $FERRITE_IGB0 > /sys/bus/pci/drivers/vfio-pci/unbind"; then
    pass "unbinding $FERRITE_IGB0 from vfio-pci returned ($(echo "$(date +%s.%N) - $t0" | bc) s)"
else
    fail "unbinding $FERRITE_IGB0 from vfio-pci failed or hung"
fi
end=$((SECONDS + 30))
while ((SECONDS < end)); do grep -q 'Port 0: device removal event' "$W/unplug.err" && break; sleep 0.1; done
grep -q 'Port 0: device removal event' "$W/unplug.err" && pass "testpmd reported port 0 removed" ||
    fail "no 'Port 0: device removal event' after the unbind"
kill -0 "$fwd" 2>/dev/null && pass "testpmd still running with both ports gone" || fail "testpmd died after the unbind"

kill -INT "$fwd"
wait "$fwd"
rc=$?
grep -v '^Rates\|^ *port [01] queue' "$W/unplug.err" | tail -15
eq "testpmd exit status after SIGINT" "$rc" 0
grep -q panicked "$W/unplug.err" && fail "testpmd panicked"
echo "port 0: $(jv "$j" '.ports[0] | "RX \(.rx_packets) TX \(.tx_packets) drops rx \(.rx_drops) tx \(.tx_drops)"')"
echo "port 1: $(jv "$j" '.ports[1] | "RX \(.rx_packets) TX \(.tx_packets) drops rx \(.rx_drops) tx \(.tx_drops)"')"
eq "frames flowed before the unplug (port 0 RX > 0)" "$(jv "$j" '.ports[0].rx_packets > 0')" true
eq "streams balanced, mempools full, accounting_ok" \
    "$(jv "$j" '([.streams[].balanced] | all) and ([.mempools[] | .capacity == .available] | all) and .accounting_ok')" true

finish
