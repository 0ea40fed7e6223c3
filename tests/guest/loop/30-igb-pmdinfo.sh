#!/usr/bin/env bash
# tests/guest/loop/30-igb-pmdinfo.sh — apps' pmdinfo shows what ferrite sees
# of both emulated 82576s through VFIO: IDs, BAR sizes, IOMMU group, IOVA
# ranges/width, MSI-X vectors, and the MAC (must match QEMU's) and link state
# read from the igb registers; bad input exits non-zero saying what to run.
#
# Build on the host first: cargo build --release -p ferrite-apps --bin pmdinfo
set -uo pipefail

repo=${FERRITE_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
bin=${PMDINFO:-${CARGO_TARGET_DIR:-$repo/target}/release/pmdinfo}
[[ -x $bin ]] || bin=${CARGO_TARGET_DIR:-$repo/target}/release/pmdinfo
fails=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
[[ -x $bin ]] || { echo "FAIL: pmdinfo is missing: run \`cargo build --release -p ferrite-apps --bin pmdinfo\` on the host"; exit 1; }

out=$("$bin" "$FERRITE_IGB0" "$FERRITE_IGB1" 2>&1)
rc=$?
echo "$out"
[[ $rc == 0 ]] && pass "pmdinfo on both NICs" || fail "pmdinfo exit $rc"
[[ $(grep -c '8086:10c9  ferrite driver: igb' <<<"$out") == 2 ]] && pass "both are 8086:10c9, claimed by igb" ||
    fail "ids/driver line"
for i in 0 1; do
    mac_var=FERRITE_IGB${i}_MAC
    grep -q "mac            ${!mac_var}" <<<"$out" && pass "igb$i MAC ${!mac_var} read from RAL0/RAH0" ||
        fail "igb$i MAC not ${!mac_var}"
done
grep -q 'BAR0 128 KiB' <<<"$out" && pass "BAR0 is 128 KiB" || fail "BAR0 size"
grep -q 'MSI-X 10 vectors' <<<"$out" && pass "MSI-X 10 vectors" || fail "MSI-X count"
grep -q 'width [0-9]* bits' <<<"$out" && pass "IOVA ranges and width shown" || fail "IOVA ranges"
grep -q 'iommu group    [0-9]' <<<"$out" && pass "IOMMU group shown" || fail "IOMMU group"

for bad in 0000:99:00.0 banana; do
    out=$("$bin" "$bad" 2>&1)
    rc=$?
    echo "$out"
    [[ $rc != 0 ]] && grep -q 'run `' <<<"$out" && pass "'$bad' refused with a hint" || fail "'$bad' (exit $rc)"
done
out=$("$bin" 2>&1); rc=$?
[[ $rc != 0 ]] && grep -q usage <<<"$out" && pass "no argument: usage, non-zero exit" || fail "no-arg exit $rc"

echo "$fails failure(s)"
[[ $fails == 0 ]]
