#!/usr/bin/env bash
# tests/guest/loop/74-virtio-link.sh — link status on ferrite's virtio-net
# driver (loop layout, virtio0 <-> virtio1): QMP `set_link virtio1 off` while
# txonly runs on virtio1 makes ferrite report "Port 0: link down" (the
# device's VIRTIO_NET_F_STATUS field, read by the port's link thread when
# the configuration MSI-X vector fires; the delay is printed, not
# asserted), `set_link virtio1 on` brings "Port 0: link up" back and traffic
# resumes at the receiver with no restart; both processes exit 0 (their
# accounting checks) with pools full. The link changes came through the
# configuration interrupt: B's `lsc_interrupts` counts at least the two
# changes, and the guest kernel's count for virtio1's vector 0
# (/proc/interrupts, vfio-msix[0]) rose across the flap.
# Both run split rings (ferrite's default; B says packed_vq=0 explicitly):
# QEMU 10.0 cannot take its link down under a packed transmit ring with
# frames in it. Its drop path returns them without counting them as taken,
# its in-flight count wraps, and its next look at the ring fails with
# "Virtqueue size exceeded", the device broken until a reset; if the ring
# happens to be empty instead, the drop path leaves transmit doorbells
# suppressed for good, which ferrite's link thread undoes with one doorbell
# when the link comes back (pmd/src/drivers/virtio/link.rs).
#
#   A: testpmd on virtio0, rxonly, split rings
#   B: testpmd on virtio1, txonly at 1,000 pps, split rings
# Frames B sends while QEMU has the link down are dropped by QEMU, uncounted
# by anyone (virtio has no such counter), so the receiver's total is only
# bounded: at most what B sent.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/observe.bash"

virtio_preflight || { finish; exit; }
ferrite_virtio_or_skip
use_virtio

timeout --foreground -k 5 -s INT 200 "$TESTPMD" -l 0,1 -a "$FERRITE_VIRTIO0" --port-topology loop --forward-mode rxonly \
    --stats-period 1 --json >"$W/a.json" 2>"$W/a.log" &
a=$!
timeout --foreground -k 5 -s INT 200 "$TESTPMD" -l 0,1 --main-lcore 1 -a "$FERRITE_VIRTIO1,packed_vq=0" --port-topology loop \
    --forward-mode txonly --tx-rate 1000 --stats-period 1 --json --xstats >"$W/b.json" 2>"$W/b.log" &
b=$!
wait_for "$W/a.log" '^Logical core' 60 >/dev/null && wait_for "$W/b.log" '^Logical core' 60 >/dev/null ||
    fail "testpmd did not start: $(tail -5 "$W/a.log" "$W/b.log")"
sleep 3

cfg0=$(kernel_irqs 0 "$FERRITE_VIRTIO1")
t0=$(ts)
qmp 'set_link virtio1 off' || fail "qmp set_link virtio1 off"
if t1=$(wait_for "$W/b.log" 'Port 0: link down' 30); then
    pass "link down reported (after $(echo "$t1 - $t0" | bc) s)"
else
    fail "no 'Port 0: link down' in testpmd's log within 30 s"
fi
sleep 2
rx_down=$(grep -c 'RX 0.000' "$W/a.log")
t0=$(ts)
qmp 'set_link virtio1 on' || fail "qmp set_link virtio1 on"
if t1=$(wait_for "$W/b.log" 'Port 0: link up' 30); then
    pass "link up reported (after $(echo "$t1 - $t0" | bc) s)"
else
    fail "no 'Port 0: link up' within 30 s"
fi
a_lines_at_up=$(wc -l <"$W/a.log")
sleep 3
cfg1=$(kernel_irqs 0 "$FERRITE_VIRTIO1")
kill -INT "$b"; wait "$b"; rcb=$?
sleep 0.5
kill -INT "$a"; wait "$a"; rca=$?
echo "--- B (virtio1, txonly):"; grep -E 'Port 0|Rates' "$W/b.log" | head -20
echo "--- A (virtio0, rxonly):"; grep -E 'Port 0|Rates' "$W/a.log" | head -20
eq "exit status A (rxonly), B (txonly) after SIGINT" "$rca,$rcb" 0,0
lsc=$(jv "$W/b.json" '.ports[0].xstats.lsc_interrupts')
echo "B: lsc_interrupts ${lsc:-none}, msix_vectors $(jv "$W/b.json" '.ports[0].xstats.msix_vectors'); kernel vfio-msix[0] of virtio1 ${cfg0:-none} -> ${cfg1:-none}"
((${lsc:-0} >= 2)) && pass "the down and the up came as configuration interrupts (lsc_interrupts $lsc)" ||
    fail "lsc_interrupts ${lsc:-none}, want at least 2 (one per link change)"
[[ -n $cfg0 && -n $cfg1 ]] && ((cfg1 >= cfg0 + 2)) && pass "the guest kernel took them on virtio1's vector 0 ($cfg0 -> $cfg1)" ||
    fail "kernel vfio-msix[0] of virtio1: '${cfg0:-}' -> '${cfg1:-}', want a rise of at least 2"
((rx_down > 0)) && pass "receiver saw no traffic while the link was down" || fail "receiver never idle during the outage"
sent=$(jv "$W/b.json" '.ports[0].tx_packets') rx=$(jv "$W/a.json" '.ports[0].rx_packets')
echo "B sent $sent; A received $rx"
((rx > 0 && rx <= sent)) && pass "A received $rx of $sent (the rest went while QEMU had the link down)" ||
    fail "A received $rx of $sent"
# A's cumulative queue count when B reported the link up, and at the end
# (not a rate line: ~1000 pps shows as 'RX 0.000' when a loaded guest is slow).
rx_count() { grep -o 'queue 0: RX [0-9]*' | tail -1 | grep -o '[0-9]*$'; }
rx_at_up=$(head -n "$a_lines_at_up" "$W/a.log" | rx_count) rx_end=$(rx_count <"$W/a.log")
((${rx_end:-0} > ${rx_at_up:-0})) && pass "traffic resumed after link up: A's queue 0 count ${rx_at_up:-none} -> $rx_end" ||
    fail "no traffic after link up: A's queue 0 count ${rx_at_up:-none} -> ${rx_end:-none}"
eq "mempools full after stop (A, B)" \
    "$(jv "$W/a.json" '[.mempools[] | .capacity == .available] | all'),$(jv "$W/b.json" '[.mempools[] | .capacity == .available] | all')" \
    true,true
finish
