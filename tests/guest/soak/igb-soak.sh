#!/usr/bin/env bash
# tests/guest/soak/igb-soak.sh MINUTES — the igb soak, run inside the QEMU
# guest by `scripts/soak --guest MINUTES` (bump layout, both igb on vfio-pci).
# Not part of tests/guest/run (which runs only tests/guest/{loop,bump}).
#
#   ns0 k0 <==> igb0 [testpmd io: 2 forwarding cores, 2 queues per port,
#                     RSS, a small pool] igb1 <==> k1 ns1
#
# Why the bump layout: io forwarding makes no frames of its own, and a link
# flap loses every frame in flight, so on the loop layout (igb0 wired to
# igb1, frames seeded once with --tx-first) traffic dies at the first flap.
# Here the kernels in ns0/ns1 generate it and keep generating it across
# flaps (TCP resends, ping keeps pinging).
#
# For MINUTES:
#   * traffic: iperf3 TCP, 4 flows (so RSS spreads them), ns0 -> ns1, capped
#     at 40 Mbit/s in all (QEMU TCG is slow); a ping every 50 ms ns1 -> ns0.
#     Restarted if it stops. Its loss is printed, never asserted: QEMU's
#     igb drops, uncounted, frames that reach a full ring, and frames in
#     flight during a flap are lost on the wire;
#   * link flaps: every 8-20 s, QMP `set_link igbN off` on a random NIC for
#     0.5-3 s, then on. testpmd must log "Port N: link down" and then
#     "Port N: link up" for each (within 30 s; the delays are printed);
#   * stats readers: pmdstat (all ports, rates) and pmdstat -S PORT (named
#     stats) in a loop over testpmd's telemetry socket; every read must
#     succeed.
# Then SIGINT, and testpmd's JSON report must show: exit status 0, every
# stream balanced, driver rx per queue = stream rx, driver tx per queue
# (sent + dropped + errors) = stream tx, every pool full, accounting_ok.
# And forwarding must not stall: while the traffic ran, each port's RX total
# (testpmd's queue rows, every 10 s) grew in every 30 s window. Progress is
# checked, never a rate: the ping alone sends 20 frames a second each way.
#
# SOAK_RXD (default 256): descriptors per rx and tx ring. The pool is the
# least testpmd takes, 1024 per port, so rings of 256 leave 514 buffers
# spare; SOAK_RXD=512 leaves 2, and receive refills starve (it stalled igb
# receive for good in the run that found it; see the report of issue 10).
#
# Build on the host first: cargo build --release -p ferrite-apps --bin testpmd --bin pmdstat
set -uo pipefail

minutes=${1:?usage: igb-soak.sh MINUTES}
repo=${FERRITE_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
bin=${CARGO_TARGET_DIR:-$repo/target}/release
testpmd=${TESTPMD:-$bin/testpmd}
pmdstat=${PMDSTAT:-$bin/pmdstat}
out=${SOAK_OUT:-$(mktemp -d /tmp/soak.XXXX)}
fails=0
# Renewed from every loop of this script (the host's scripts/soak hands the
# file to run-in-guest as PROGRESS_FILE): if the script stops making
# progress (once seen: an exec stuck for good in the guest's 9p client),
# the host dumps the guest's blocked tasks and stops it within minutes
# instead of waiting for the boot's whole time limit. Builtins only.
beat() { printf '%(%s)T\n' -1 >"$out/heartbeat"; }
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
for b in "$testpmd" "$pmdstat"; do
    [[ -x $b ]] || { echo "FAIL: $b is missing: cargo build --release -p ferrite-apps --bin testpmd --bin pmdstat"; exit 1; }
done
for v in FERRITE_IGB0 FERRITE_IGB1 FERRITE_K0_IP FERRITE_K1_IP; do
    [[ -n ${!v:-} ]] || { echo "FAIL: \$$v is not set (run this through scripts/soak --guest)"; exit 1; }
done
[[ $FERRITE_LAYOUT == bump ]] || { echo "FAIL: needs LAYOUT=bump (got $FERRITE_LAYOUT)"; exit 1; }
secs=$(awk -v m="$minutes" 'BEGIN { s = int(m * 60); print (s < 30 ? 30 : s) }')
rxd=${SOAK_RXD:-256}

# Every process started here is remembered and ended on the way out, however
# the script ends; links are brought back up (the guest is powered off
# right after, but a link left down would confuse anyone reading QMP).
# A background loop's children (iperf3, pmdstat) are listed before anything
# is killed: once their parent is gone they would be orphans nobody knows.
pids=() fwd=
descendants() {
    local c
    for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$c"
        descendants "$c"
    done
}
stop_helpers() {
    local p all=()
    for p in "${pids[@]}"; do all+=("$p" $(descendants "$p")); done
    ((${#all[@]} == 0)) || kill "${all[@]}" 2>/dev/null
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    pids=()
}
cleanup() {
    stop_helpers
    if [[ -n $fwd ]] && kill -0 "$fwd" 2>/dev/null; then
        kill -INT "$fwd" 2>/dev/null
        wait "$fwd" 2>/dev/null
    fi
    qmp 'set_link igb0 on' >/dev/null 2>&1
    qmp 'set_link igb1 on' >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tdir=/tmp/soak-telemetry # private: the guest's /tmp is its own tmpfs
rm -rf "$tdir"
j=$out/testpmd.json
log=$out/testpmd.log
# Pool pressure: --total-num-mbufs 1024 per port (the least testpmd takes)
# against 2 x SOAK_RXD rx descriptors per port and the peer's tx rings, so
# a frame received is replaced in its ring from what the pool has left,
# while the frames sent before wait in the peer's tx ring for their
# completion group. Small caches so that the rings, not the caches, hold
# the buffers. Adaptive rx mode: cores sleep when idle (during flaps), leaving
# the vCPUs to the kernel's traffic. timeout only fires if testpmd hangs;
# --foreground passes our single SIGINT on to it.
timeout --foreground -k 10 -s INT $((secs + 300)) "$testpmd" -l 0,1 --nb-cores 2 \
    -a "$FERRITE_IGB0" -a "$FERRITE_IGB1" --forward-mode io --rxq 2 --txq 2 --rxd "$rxd" --txd "$rxd" \
    --total-num-mbufs 1024 --mbcache 32 --stats-period 10 --json --xstats --telemetry-dir "$tdir" \
    >"$j" 2>"$log" &
fwd=$!
for _ in $(seq 300); do
    beat
    grep -q '^Logical core' "$log" && break
    kill -0 "$fwd" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q '^Logical core' "$log"; then
    cat "$log"
    fail "testpmd did not start"
    exit 1
fi
t0=$(date +%s) # testpmd's stats clock starts about now: its queue rows come every 10 s
grep -E '^(Port|io packet|Logical|Telemetry)' "$log"
echo "rings $rxd descriptors, pool 1024 per port"
sleep 2 # autonegotiation (QEMU: 0.5 s)

tstart=$(date +%s)
end=$((tstart + secs))
k0ip=$FERRITE_K0_IP k1ip=$FERRITE_K1_IP

# Traffic.
ip netns exec ns1 iperf3 -s -p 5201 >"$out/iperf3-server.log" 2>&1 &
pids+=($!)
sleep 0.5
(
    runs=0
    while (($(date +%s) < end - 2)); do
        runs=$((runs + 1))
        # --connect-timeout: a flap during the connect must not hang it.
        ip netns exec ns0 iperf3 -c "$k1ip" -p 5201 -P 4 -b 10M -t $((end - $(date +%s) - 1)) \
            --connect-timeout 3000 -f m >>"$out/iperf3-client.log" 2>&1 || sleep 1
    done
    echo "$runs" >"$out/iperf3-runs"
) &
pids+=($!)
# -w: ping ends on its own just before the others are stopped, so that it
# prints its summary (killed, it would print none).
ip netns exec ns1 ping -i 0.05 -W 1 -w $((secs - 3)) "$k0ip" >"$out/ping.log" 2>&1 &
pids+=($!)

# Stats readers, each a loop of pmdstat runs: "rates" samples every port
# twice (0.2 s apart), "xstats" reads the named stats of port 0 and 1 in
# turn. "OK FAILED" counts land in $out/pmdstat-NAME.count.
reader() {
    local name=$1 ok=0 bad=0 i=0
    local -a args
    while (($(date +%s) < end)); do
        i=$((i + 1))
        case $name in
            rates) args=(--json --interval 0.2) ;;
            xstats) args=(-S $((i % 2)) --json) ;;
        esac
        if "$pmdstat" --dir "$tdir" "${args[@]}" >"$out/pmdstat-$name.last" 2>&1; then ok=$((ok + 1)); else
            bad=$((bad + 1))
            echo "[$(date +%T)] pmdstat ${args[*]} failed: $(head -c 300 "$out/pmdstat-$name.last")" \
                >>"$out/pmdstat-$name.errors"
        fi
        echo "$ok $bad" >"$out/pmdstat-$name.count"
        sleep 0.3
    done
}
reader rates &
pids+=($!)
reader xstats &
pids+=($!)

# Link flaps, one at a time, each checked in testpmd's log.
events() { grep -c "^Port $1: link $2" "$log"; }
wait_event() { # PORT up|down COUNT_BEFORE: seconds until a new event, or nothing
    local t0=$EPOCHREALTIME i
    for i in $(seq 300); do
        beat
        (($(events "$1" "$2") > $3)) && { awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; return 0; }
        sleep 0.1
    done
    return 1
}
flaps=0 delays=()
while :; do
    beat
    pause=$((8 + RANDOM % 13))
    (($(date +%s) + pause + 40 < end)) || break
    sleep "$pause"
    n=$((RANDOM % 2))
    down_before=$(events "$n" down) up_before=$(events "$n" up)
    qmp "set_link igb$n off" >/dev/null || fail "qmp set_link igb$n off"
    if d=$(wait_event "$n" down "$down_before"); then delays+=("down:$d"); else
        fail "flap $((flaps + 1)): no 'Port $n: link down' within 30 s of set_link igb$n off"
    fi
    sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.1f", 0.5 + 2.5 * r / 32767 }')"
    qmp "set_link igb$n on" >/dev/null || fail "qmp set_link igb$n on"
    if u=$(wait_event "$n" up "$up_before"); then delays+=("up:$u"); else
        fail "flap $((flaps + 1)): no 'Port $n: link up' within 30 s of set_link igb$n on"
    fi
    flaps=$((flaps + 1))
    echo "[$(date +%T)] flap $flaps: igb$n (down after ${d:-?} s, up after ${u:-?} s)"
done
while (($(date +%s) < end)); do
    beat
    sleep 1
done

# Stop the traffic and the readers, let the rings empty, then testpmd.
stop_helpers
sleep 1
beat
kill -INT "$fwd"
wait "$fwd"
rc=$?
beat

echo "--- testpmd (last rates, link events):"
grep -E '^Rates' "$log" | tail -2
grep -cE '^Port [01]: link (up|down)' "$log" | sed 's/^/link event lines: /'
echo "--- figures:"
jq -r '"duration \(.duration_s) s, rx \(.rx_mpps * 1e6 | floor) pps, tx \(.tx_mpps * 1e6 | floor) pps"' "$j" 2>/dev/null
for p in 0 1; do
    jq -r --argjson p "$p" '.ports[$p] | "port \($p): rx \(.rx_packets) tx \(.tx_packets) | rx drops \(.rx_drops) missed \(.rx_missed) | tx drops \(.tx_drops) (link down \(.xstats.tx_link_down_drops // "?")) errors \(.tx_errors) | fwd drops \(.fwd_tx_drops) | hw rx_packets \(.xstats.rx_packets // "?") tx_packets \(.xstats.tx_packets // "?") rx_no_buffer \(.xstats.rx_no_buffer_count // "?") rx_alloc_failed \(.xstats.rx_alloc_failed // "?") lsc \(.xstats.lsc_interrupts // "?")"' "$j" 2>/dev/null
done
jq -r '.streams[] | "stream \(.rx_port)/\(.rx_queue) -> \(.tx_port)/\(.tx_queue): rx \(.rx) tx \(.tx) fwd_drops \(.fwd_drops) drained \(.drained) balanced \(.balanced)"' "$j" 2>/dev/null
jq -r '.mempools[] | "pool \(.name): \(.available)/\(.capacity)"' "$j" 2>/dev/null
jq -r '.cores[]? | "core \(.core): slept \(.slept_s) of \(.ran_s) s"' "$j" 2>/dev/null
echo "flaps $flaps (event delays: ${delays[*]})"
read -r rok rbad <"$out/pmdstat-rates.count" 2>/dev/null
read -r sok sbad <"$out/pmdstat-xstats.count" 2>/dev/null
echo "pmdstat reads: rates ${rok:-0} ok ${rbad:-0} failed; -S ${sok:-0} ok ${sbad:-0} failed"
echo "iperf3: $(cat "$out/iperf3-runs" 2>/dev/null || echo '?') run(s); $(grep -E 'SUM.*receiver' "$out/iperf3-client.log" | tail -3 | tr -s ' ' | paste -sd ';')"
echo "ping: $(grep -E 'packets transmitted' "$out/ping.log")"

# The checks: ferrite's own books, never the wire's.
[[ $rc == 0 ]] && pass "testpmd exited 0 after SIGINT" || fail "testpmd exit status $rc (see $log)"
jq -e . "$j" >/dev/null 2>&1 || { fail "testpmd's report is not JSON"; tail -5 "$log"; exit 1; }
chk() { # WHAT JQ-EXPR (must print true)
    local got
    got=$(jq -r "$2" "$j" 2>&1)
    [[ $got == true ]] && pass "$1" || fail "$1: $got"
}
chk "every stream balanced (rx = tx + fwd_drops + drained)" '[.streams[].balanced] | all'
chk "driver rx per queue = the stream's rx" \
    '[.streams[] as $s | .ports[$s.rx_port].queues[$s.rx_queue].rx_packets == $s.rx] | all'
chk "driver tx per queue (sent + dropped + errors) = the stream's tx" \
    '[.streams[] as $s | .ports[$s.tx_port].queues[$s.tx_queue] | .tx_packets + .tx_drops + .tx_errors == $s.tx] | all'
chk "every mempool full after stop" '[.mempools[] | .available == .capacity] | all'
chk "accounting_ok" '.accounting_ok'
chk "traffic flowed both ways (both ports received)" '.ports[0].rx_packets > 0 and .ports[1].rx_packets > 0'
# Liveness, from testpmd's own rows: block k (k-th "Rates:" line, at t0 +
# 10k s) adds up each port's queue RX totals; the blocks printed while the
# traffic ran must each exceed, per port, the one three blocks (30 s) before.
first=$(((tstart - t0 + 9) / 10)) last=$(((end - t0) / 10))
stalls=$(awk -v first="$first" -v last="$last" '
    /^Rates:/ { b++; next }
    /^ *port [01] queue [0-9]+: RX [0-9]+ pkts/ { tot[b, $2] += $6 }
    END {
        for (p = 0; p <= 1; p++) {
            n = 0
            for (k = first + 3; k <= last; k++)
                if (tot[k, p] <= tot[k - 3, p] && n++ == 0) { a = (k - 3) * 10; z = k * 10; at = tot[k, p] }
            if (n) printf "port %d received nothing in %d of %d 30-s windows, the first %d-%d s (RX total %d); ", \
                p, n, last - first - 2, a, z, at
        }
    }' "$log")
if ((last - first >= 3)) && [[ -z $stalls ]]; then
    pass "forwarding never stalled: both ports received frames in every 30 s window ($((last - first - 2)) windows)"
elif ((last - first < 3)); then
    fail "run too short for the stall check (want MINUTES >= 1)"
else
    fail "forwarding stalled: ${stalls% ; }(rx_alloc_failed: $(jq -r '[.ports[].xstats.rx_alloc_failed] | map(tostring) | join(", ")' "$j"))"
fi
((flaps > 0)) && pass "$flaps link flap(s), each reported down and up" || fail "no link flap happened (MINUTES too short?)"
((${rok:-0} > 0 && ${rbad:-1} == 0)) && pass "pmdstat rates: ${rok} reads, none failed" ||
    fail "pmdstat rates: ${rok:-0} ok, ${rbad:-?} failed ($(head -3 "$out/pmdstat-rates.errors" 2>/dev/null))"
((${sok:-0} > 0 && ${sbad:-1} == 0)) && pass "pmdstat -S: ${sok} reads, none failed" ||
    fail "pmdstat -S: ${sok:-0} ok, ${sbad:-?} failed ($(head -3 "$out/pmdstat-xstats.errors" 2>/dev/null))"
echo "$fails failure(s); reports in $out"
((fails == 0))
