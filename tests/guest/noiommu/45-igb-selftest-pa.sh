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

# pass/fail, $bin (checked to hold the release binaries) and expect_error.
# shellcheck source=../lib/bad-input.bash
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bad-input.bash"
PMDINFO=${PMDINFO:-$bin/pmdinfo}

out=$(timeout --foreground -k 5 120 "$PMDINFO" --iova-mode pa -t "$FERRITE_IGB0" offline 2>&1)
rc=$?
echo "$out"
[[ $rc == 0 ]] && grep -q '^The test result is PASS' <<<"$out" && pass "-t offline in PA mode: PASS (exit 0)" ||
    fail "-t offline in PA mode: exit $rc"
rows=$(grep -cP '\(o(n/o)?ffline\)\t 0$' <<<"$out")
[[ $rows == 5 ]] && pass "all 5 rows ran and passed" || fail "$rows of 5 rows passed"

expect_error "without --iova-mode pa: refused, saying what to pass" '--iova-mode pa' \
    "$PMDINFO" -t "$FERRITE_IGB0" offline

echo "$fails failure(s)"
[[ $fails == 0 ]]
