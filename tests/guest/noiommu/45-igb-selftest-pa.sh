#!/usr/bin/env bash
# tests/guest/noiommu/45-igb-selftest-pa.sh — pmdinfo's igb self-test with
# no IOMMU (IOVA mode PA): every row must pass, as every row of Linux's igb
# passes on QEMU's 82576 (loop/31-igb-ethtool.sh compares them row by row);
# here the loopback row's frames go by DMA to guest-physical addresses and
# the interrupt row's MSI-X message through a no-IOMMU group. Without
# --iova-mode pa the same command must be refused, saying what to pass.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail

repo=${FERRITE_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
PMDINFO=${PMDINFO:-${CARGO_TARGET_DIR:-$repo/target}/release/pmdinfo}
fails=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
[[ -x $PMDINFO ]] || { echo "FAIL: $PMDINFO is missing: run \`cargo build --release -p ferrite-apps --bins\` on the host"; exit 1; }

out=$(timeout --foreground -k 5 120 "$PMDINFO" --iova-mode pa -t "$FERRITE_IGB0" offline 2>&1)
rc=$?
echo "$out"
[[ $rc == 0 ]] && grep -q '^The test result is PASS' <<<"$out" && pass "-t offline in PA mode: PASS (exit 0)" ||
    fail "-t offline in PA mode: exit $rc"
rows=$(grep -cP '\(o(n/o)?ffline\)\t 0$' <<<"$out")
[[ $rows == 5 ]] && pass "all 5 rows ran and passed" || fail "$rows of 5 rows passed"

out=$(timeout --foreground -k 5 60 "$PMDINFO" -t "$FERRITE_IGB0" offline 2>&1)
rc=$?
echo "$out"
[[ $rc != 0 ]] && grep -q -- '--iova-mode pa' <<<"$out" && pass "without --iova-mode pa: refused, saying what to pass" ||
    fail "without --iova-mode pa: exit $rc"

echo "$fails failure(s)"
[[ $fails == 0 ]]
