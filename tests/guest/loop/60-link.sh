#!/usr/bin/env bash
# tests/guest/loop/60-link.sh — link management on QEMU's igb (loop layout):
# QMP `set_link igb1 off` while traffic flows makes ferrite report link down
# (LSC interrupt -> link thread -> event logged by testpmd as
# "Port 0: link down"; the delay is printed, not asserted), frames it transmits meanwhile are dropped and
# counted (tx_link_down_drops), `set_link igb1 on` brings "Port 0: link up
# 1000 Mbps full-duplex" and traffic resumes with no restart (the driver
# rewrites TDT after link-up, QEMU's quirk); both processes account for
# every packet and every buffer across the flap.
#
#   A: testpmd on igb0, rxonly, adaptive rx mode (sleeps on MSI-X)
#   B: testpmd on igb1, txonly at 1k pps: A's 4096-frame ring then covers 4 s
#      of a starved receiving vCPU (QEMU's igb drops, uncounted, what reaches
#      a full ring)
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail

repo=${FERRITE_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
testpmd=${TESTPMD:-${CARGO_TARGET_DIR:-$repo/target}/release/testpmd}
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash" # pass, fail, ts, wait_for
[[ -x $testpmd ]] || { echo "FAIL: $testpmd is missing: cargo build --release -p ferrite-apps --bins"; exit 1; }
for v in FERRITE_IGB0 FERRITE_IGB1; do
    [[ -n ${!v:-} ]] || { echo "FAIL: \$$v is not set (run this through scripts/qemu/run-in-guest)"; exit 1; }
done
dir=$(mktemp -d)
rate=1000
json() { /usr/bin/python3 -c "import json,sys; r=json.load(open('$1')); print($2)"; }

# Under `timeout` so that a hang fails this test; --foreground so that our
# SIGINT reaches testpmd once (a second one means "exit now").
timeout --foreground -k 5 -s INT 200 "$testpmd" -l 0,1 -a "$FERRITE_IGB0" --port-topology loop --forward-mode rxonly --rx-mode adaptive --rxd 4096 \
    --stats-period 1 --json >"$dir/a.json" 2>"$dir/a.log" &
a=$!
timeout --foreground -k 5 -s INT 200 "$testpmd" -l 0,1 --main-lcore 1 -a "$FERRITE_IGB1" --port-topology loop --forward-mode txonly --tx-rate "$rate" \
    --stats-period 1 --xstats --json >"$dir/b.json" 2>"$dir/b.log" &
b=$!
wait_for "$dir/a.log" 'packet forwarding' 60 >/dev/null && wait_for "$dir/b.log" 'packet forwarding' 60 >/dev/null ||
    fail "testpmd did not start: $(cat "$dir/a.log" "$dir/b.log")"
sleep 3

t0=$(ts)
qmp 'set_link igb1 off' || fail "qmp set_link igb1 off"
if t1=$(wait_for "$dir/b.log" 'Port 0: link down' 30); then
    down_dt=$(echo "$t1 - $t0" | bc)
    pass "link down reported (after ${down_dt} s)"
else
    fail "no 'Port 0: link down' in testpmd's log within 30 s"
fi
sleep 2
rx_down=$(grep -c 'RX 0.000' "$dir/a.log")
t0=$(ts)
qmp 'set_link igb1 on' || fail "qmp set_link igb1 on"
if t1=$(wait_for "$dir/b.log" 'Port 0: link up 1000 Mbps full-duplex' 30); then
    pass "link up reported after $(echo "$t1 - $t0" | bc) s (QEMU's autoneg timer is 500 ms)"
else
    fail "no 'Port 0: link up 1000 Mbps full-duplex' within 30 s"
fi
sleep 3
kill -INT "$b"; wait "$b"; rcb=$?
sleep 0.5
kill -INT "$a"; wait "$a"; rca=$?
echo "--- B (igb1, txonly) log:"; grep -E 'Port 0|Rates' "$dir/b.log" | head -30
echo "--- A (igb0, rxonly) log:"; grep -E 'Port 0|Rates' "$dir/a.log" | head -30
[[ $rca == 0 && $rcb == 0 ]] && pass "both testpmd exited 0 (accounting checks passed)" || fail "exit codes A $rca B $rcb"
(( rx_down > 0 )) && pass "receiver saw no traffic while the link was down" || fail "receiver never idle during the outage"

drops=$(json "$dir/b.json" "r['ports'][0]['xstats']['tx_link_down_drops']")
sent=$(json "$dir/b.json" "r['ports'][0]['tx_packets']")
gen=$(json "$dir/b.json" "sum(s['generated'] for s in r['streams'])")
fwd=$(json "$dir/b.json" "r['ports'][0]['fwd_tx_drops']")
rx=$(json "$dir/a.json" "r['ports'][0]['rx_packets']")
lsc=$(json "$dir/b.json" "r['ports'][0]['xstats']['lsc_interrupts']")
echo "B: generated $gen, sent $sent, link-down drops $drops, fwd drops $fwd, LSC interrupts $lsc; A: received $rx"
(( drops > 0 )) && pass "tx while down dropped and counted: tx_link_down_drops=$drops" || fail "tx_link_down_drops=0"
(( gen == sent + drops + fwd )) && pass "B: generated = sent + link-down drops + fwd drops" ||
    fail "B: $gen != $sent + $drops + $fwd"
# Frames B sent between QEMU downing the link and B noticing are lost on
# the wire (QEMU drops them silently): at most what B's rate sends in the
# delay this run measured, + 1000 (the delay is whatever the machine gave).
lost=$((sent - rx))
budget=$(echo "$rate * ${down_dt:-1} + 1000" | bc | cut -d. -f1)
(( lost >= 0 && lost <= budget )) &&
    pass "A received $rx of $sent sent ($lost lost on the wire before B saw the link go down; budget $budget)" ||
    fail "A received $rx of $sent sent (budget for the flap $budget)"
after=$(grep 'Rates' "$dir/a.log" | tail -2 | head -1)
[[ -n $after && $after != *'RX 0.000'* ]] && pass "traffic resumed after link up: $after" ||
    fail "no traffic after link up: $after"
(( lsc > 0 )) && pass "link changes came by LSC interrupt ($lsc)" || fail "no LSC interrupt counted"
[[ $(json "$dir/a.json" "all(m['available'] == m['capacity'] for m in r['mempools'])") == True &&
    $(json "$dir/b.json" "all(m['available'] == m['capacity'] for m in r['mempools'])") == True ]] &&
    pass "mempools full after stop" || fail "a mempool is not full after stop"
echo "$fails failure(s)"
[[ $fails == 0 ]]
