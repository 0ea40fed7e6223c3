#!/usr/bin/env bash
# tests/guest/loop/30-igb-rerun.sh — the igb driver takes the device back
# without rebinding (loop layout):
#   * a second run right after a clean one works;
#   * a run killed with SIGKILL in the middle of traffic (rings full, device
#     running, DMA mapped) is followed by a run that works: the global reset
#     at probe stops whatever the dead process left behind.
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
run_ok() {
    local what=$1 out rc
    out=$("$smoke" "$FERRITE_IGB0" "$FERRITE_IGB1" --count 20000 2>&1)
    rc=$?
    echo "$out" | grep -E 'sent|pool|FAIL|igb_smoke:'
    [[ $rc == 0 ]] && pass "$what" || fail "$what (exit $rc)"
}

run_ok "first run"
run_ok "second run, no rebinding"

# A long run keeps both rings busy (device running, DMA mapped) until killed.
"$smoke" "$FERRITE_IGB0" "$FERRITE_IGB1" --count 100000000 >/tmp/killed.log 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q '^open+link' /tmp/killed.log && break; sleep 0.1; done
sleep 1
kill -9 "$pid"
wait "$pid" 2>/dev/null
grep -q '^open+link' /tmp/killed.log && pass "killed a run with SIGKILL mid-traffic" ||
    fail "the run to be killed never started: $(cat /tmp/killed.log)"
run_ok "run after SIGKILL, no rebinding"

echo "$fails failure(s)"
[[ $fails == 0 ]]
