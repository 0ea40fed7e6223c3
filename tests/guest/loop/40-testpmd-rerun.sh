#!/usr/bin/env bash
# tests/guest/loop/40-testpmd-rerun.sh — testpmd takes the NICs back without
# rebinding (loop layout):
#   * io forwarding on igb0 <-> igb1 (--tx-first: frames circulate) works,
#     and a second run right after works the same;
#   * a run killed with SIGKILL mid-traffic (rings full, device running, DMA
#     mapped) is followed by runs that work: io forwarding again, and an
#     exact txonly -> rxonly count (the global reset at probe stops whatever
#     the dead process left behind).
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"

io_run() {
    local what=$1 j=$W/$2.json rc
    timeout --foreground -k 5 -s INT 60 "$TESTPMD" -l 0,1 -a "$FERRITE_IGB0" -a "$FERRITE_IGB1" --forward-mode io --tx-first 4 \
        --duration 3 --json "${POLL[@]}" \
        >"$j" 2>"$W/$2.err"
    rc=$?
    echo "$what: RX $(jv "$j" '[.ports[].rx_packets] | join("/")') TX $(jv "$j" '[.ports[].tx_packets] | join("/")')" \
        "($(jv "$j" '.rx_mpps * 1e6 | floor') pps total)"
    eq "$what: exit status" "$rc" 0
    eq "$what: both ports forwarded" "$(jv "$j" '[.ports[] | .rx_packets > 0 and .tx_packets > 0] | all')" true
    eq "$what: mempools full, accounting_ok" \
        "$(jv "$j" '([.mempools[] | .capacity == .available] | all) and .accounting_ok')" true
}

io_run "first run" io1
io_run "second run, no rebinding" io2

# A run with no end keeps both rings busy until killed.
"$TESTPMD" -l 0,1 -a "$FERRITE_IGB0" -a "$FERRITE_IGB1" --forward-mode io --tx-first 4 --stats-period 0.5 "${POLL[@]}" \
    >"$W/killed.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '^Rates:' "$W/killed.log" && break; sleep 0.1; done
sleep 1
kill -9 "$pid"
wait "$pid" 2>/dev/null
grep -q '^Rates:' "$W/killed.log" && pass "killed a forwarding run with SIGKILL mid-traffic" ||
    fail "the run to be killed never started: $(cat "$W/killed.log")"
tail -3 "$W/killed.log" | grep queue

io_run "io run after SIGKILL, no rebinding" io3
txrx after-kill 64 4000 50000 # fits in the rx ring: see 40-testpmd-txrx.sh

finish
