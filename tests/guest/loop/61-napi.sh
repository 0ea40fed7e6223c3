#!/usr/bin/env bash
# tests/guest/loop/61-napi.sh — NAPI-style adaptive rx on QEMU's igb (loop
# layout): a testpmd forwarding core in adaptive mode on igb0 with no
# traffic sleeps on its MSI-X vector (CPU time of the fwd-core thread from
# /proc/PID/task/TID/stat, in clock ticks, over 5 s); then bursts sent from
# igb1 by a second testpmd wake it up, every frame is received, and the
# report shows interrupts, sleeps and the fraction of time the core slept.
#
# Under TCG a vCPU is a host thread too; the figure is the guest's own
# accounting of the guest thread.  Prints the CPU share; fails above 2%.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail

repo=${FERRITE_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
testpmd=${TESTPMD:-${CARGO_TARGET_DIR:-$repo/target}/release/testpmd}
py=/usr/bin/python3
fails=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
[[ -x $testpmd ]] || { echo "FAIL: $testpmd is missing: cargo build --release -p ferrite-apps --bins"; exit 1; }
dir=$(mktemp -d)
json() { $py -c "import json,sys; r=json.load(open('$1')); print($2)"; }
ticks() { # utime+stime of the thread named $2 in process $1
    local t
    for t in /proc/"$1"/task/*; do
        [[ $(cat "$t/comm") == "$2" ]] || continue
        awk '{ sub(/.*\) /, ""); print $12 + $13 }' "$t/stat"
        return
    done
    echo -1
}

"$testpmd" -l 0,1 -a "$FERRITE_IGB0" --port-topology loop --forward-mode rxonly --rx-mode adaptive \
    --json >"$dir/a.json" 2>"$dir/a.log" &
a=$!
for _ in $(seq 600); do grep -q 'packet forwarding' "$dir/a.log" && break; sleep 0.1; done
sleep 1
hz=$(getconf CLK_TCK)
t0=$(ticks "$a" fwd-core-0)
s0=$(date +%s.%N)
sleep 5
t1=$(ticks "$a" fwd-core-0)
s1=$(date +%s.%N)
share=$(echo "scale=4; ($t1 - $t0) / $hz / ($s1 - $s0) * 100" | bc)
echo "idle adaptive core: $((t1 - t0)) ticks in $(echo "$s1 - $s0" | bc) s = ${share}% CPU"
(($(echo "$share < 2" | bc))) && pass "idle adaptive core uses < 2% CPU (${share}%)" ||
    fail "idle adaptive core used ${share}% CPU"

total=0
for round in 1 2 3; do
    n=$((2000 * round))
    "$testpmd" -l 0,1 --main-lcore 1 -a "$FERRITE_IGB1" --port-topology loop --forward-mode txonly --tx-count "$n" \
        --tx-rate 20000 --xstats >"$dir/b$round.log" 2>&1 || fail "sender round $round"
    grep -E 'link|TX-packets|tx_link_down_drops|tx_timeout' "$dir/b$round.log" | sort -u | sed "s/^/  sender $round: /"
    total=$((total + n))
    sleep 1
done
kill -INT "$a"; wait "$a"; rc=$?
[[ $rc == 0 ]] && pass "receiver exited 0 (accounting checks passed)" || fail "receiver exit $rc: $(tail "$dir/a.log")"
rx=$(json "$dir/a.json" "r['ports'][0]['rx_packets']")
irqs=$(json "$dir/a.json" "r['streams'][0]['interrupts']")
sleeps=$(json "$dir/a.json" "r['streams'][0]['sleeps']")
slept=$(json "$dir/a.json" "'%.1f' % (100 * r['cores'][0]['sleep_fraction'])")
echo "received $rx of $total; interrupts $irqs, sleeps $sleeps; core slept ${slept}% of the run"
((rx == total)) && pass "every frame received after wake-ups ($rx)" || fail "received $rx of $total"
((irqs > 0)) && pass "woken by MSI-X rx interrupts ($irqs)" || fail "no rx interrupt counted"
[[ $(json "$dir/a.json" "r['accounting_ok']") == True ]] && pass "accounting ok, pool full" || fail "accounting"
echo "$fails failure(s)"
[[ $fails == 0 ]]
