#!/usr/bin/env bash
# tests/guest/loop/30-igb-traffic.sh — the igb driver moves real traffic on
# QEMU's emulated 82576 (loop layout: igb0 <-> igb1), run in the guest.
#
# Uses pmd/examples/igb_smoke (until testpmd's txonly/rxonly modes exist):
# igb0 transmits numbered frames, igb1 receives them in the same process, and
# the example fails unless
#   * exactly as many frames arrive as were sent, in order, every payload
#     byte intact;
#   * hardware counters agree with the driver's software counters
#     (GPTC/GOTC on igb0, GPRC/GORC on igb1, per-queue rows);
#   * every mbuf is back in the pool after the queues are dropped and the
#     ports stopped.
# Runs 200,000 frames of 64 B and 200,000 of 1518 B, and prints the rates.
#
# Build on the host first: cargo build --release -p ferrite-pmd --example igb_smoke
set -uo pipefail

repo=${FERRITE_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
smoke=${IGB_SMOKE:-${CARGO_TARGET_DIR:-$repo/target}/release/examples/igb_smoke}
fails=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

[[ -x $smoke ]] || {
    echo "FAIL: $smoke is missing: run \`cargo build --release -p ferrite-pmd --example igb_smoke\` on the host"
    exit 1
}
for v in FERRITE_IGB0 FERRITE_IGB1; do
    [[ -n ${!v:-} ]] || { echo "FAIL: \$$v is not set (run this through scripts/qemu/run-in-guest)"; exit 1; }
done

for size in 64 1518; do
    out=$("$smoke" "$FERRITE_IGB0" "$FERRITE_IGB1" --count 200000 --size "$size" 2>&1)
    rc=$?
    echo "$out" | grep -Ev '^[AB] stats:'
    if [[ $rc == 0 ]] && grep -q 'received 200000 bad 0' <<<"$out"; then
        pass "200000 x ${size} B: all received intact ($(grep -o '[0-9]* pps' <<<"$out"))"
    else
        fail "200000 x ${size} B (exit $rc)"
    fi
    grep -q MISMATCH <<<"$out" && fail "${size} B: hardware and software counters disagree" ||
        pass "${size} B: GPTC/GOTC/GPRC/GORC agree with software counters"
    grep -q 'pool: 8192 of 8192 free after stop' <<<"$out" && pass "${size} B: mempool full after stop" ||
        fail "${size} B: mempool not full after stop"
done

echo "$fails failure(s)"
[[ $fails == 0 ]]
