#!/usr/bin/env bash
# tests/guest/loop/20-vfio.sh — ferrite-vfio on the two emulated 82576 NICs
# (loop layout: igb0 <-> igb1), run inside the QEMU guest as root.
#
#   * binds both NICs to vfio-pci (scripts/devbind) unless they already are;
#   * runs vfio_check on both: config space ids, BAR0 MAC vs FERRITE_IGB*_MAC,
#     IOVA ranges, MSI-X trigger -> eventfd, and the DMA round trip igb0 TX ->
#     igb1 RX through one hugepage mapped in the shared container, plus the
#     unmapped-IOVA negative case (and its DMAR fault in dmesg), and that a
#     second open of an open device (written without its domain) is refused;
#   * bad input: nonexistent address, malformed address, a device bound to
#     another driver, an unprivileged user, a wrong expected MAC — each must
#     exit non-zero with a message saying what to run, and never panic.
#
# The binary is built on the host before the guest boots:
#   cargo build -p ferrite-vfio --examples
set -uo pipefail

repo=${FERRITE_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
bin=${VFIO_CHECK:-${CARGO_TARGET_DIR:-$repo/target}/debug/examples/vfio_check}
fails=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

if [[ ! -x $bin ]]; then
    echo "FAIL: $bin is missing: run \`cargo build -p ferrite-vfio --examples\` on the host first"
    exit 1
fi
for v in FERRITE_IGB0 FERRITE_IGB1 FERRITE_IGB0_MAC FERRITE_IGB1_MAC; do
    [[ -n ${!v:-} ]] || { echo "FAIL: \$$v is not set (run this through scripts/qemu/run-in-guest)"; exit 1; }
done

driver_of() { local l; l=$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null) && echo "${l##*/}"; }

bind_vfio() {
    local addr=$1
    [[ $(driver_of "$addr") == vfio-pci ]] && return 0
    if [[ -x $repo/scripts/devbind ]]; then
        "$repo/scripts/devbind" --bind vfio-pci "$addr"
    else
        # scripts/devbind not there (yet): the same steps by hand.
        echo vfio-pci >"/sys/bus/pci/devices/$addr/driver_override"
        [[ -e /sys/bus/pci/devices/$addr/driver ]] && echo "$addr" >"/sys/bus/pci/devices/$addr/driver/unbind"
        echo "$addr" >/sys/bus/pci/drivers_probe
    fi
    [[ $(driver_of "$addr") == vfio-pci ]]
}

# expect NAME RC PATTERN... -- CMD...: CMD must exit with RC, print every
# PATTERN (fixed strings, stdout+stderr) and never panic.
expect() {
    local name=$1 want_rc=$2; shift 2
    local -a pats=()
    while [[ $1 != -- ]]; do pats+=("$1"); shift; done
    shift
    local out rc
    out=$("$@" 2>&1); rc=$?
    local ok=1
    ((rc == want_rc)) || { ok=0; echo "  $name: exit status $rc, want $want_rc"; }
    if grep -q "panicked" <<<"$out"; then ok=0; echo "  $name: panicked"; fi
    for p in "${pats[@]}"; do
        grep -qF -- "$p" <<<"$out" || { ok=0; echo "  $name: output lacks: $p"; }
    done
    if ((ok)); then
        pass "$name (exit $rc): $(grep -m1 -E 'error|FAIL' <<<"$out")"
    else
        sed 's/^/  | /' <<<"$out"
        fail "$name"
    fi
}

for a in "$FERRITE_IGB0" "$FERRITE_IGB1"; do
    if bind_vfio "$a"; then pass "$a bound to vfio-pci"; else fail "binding $a to vfio-pci"; fi
done

# --- the real thing ---------------------------------------------------------
t0=$(date +%s.%N)
out=$("$bin" "$FERRITE_IGB0=$FERRITE_IGB0_MAC" "$FERRITE_IGB1=$FERRITE_IGB1_MAC" 2>&1); rc=$?
t1=$(date +%s.%N)
sed 's/^/  | /' <<<"$out"
if ((rc == 0)) && grep -q '^PASS vfio_check' <<<"$out" && ! grep -q panicked <<<"$out"; then
    pass "vfio_check on both NICs incl. DMA round trip ($(awk "BEGIN{printf \"%.2f\", $t1-$t0}") s)"
else
    fail "vfio_check on both NICs (exit $rc)"
fi
for want in "byte-identical" "did not land in mapped memory" "Msix vector 0 triggered" "IOVA ranges [" \
    "a second open in this process is refused"; do
    grep -qF "$want" <<<"$out" || fail "vfio_check output lacks '$want'"
done
iova=$(sed -n 's/.*frame for unmapped iova \(0x[0-9a-f]*\) did not land.*/\1/p' <<<"$out")
if [[ -n $iova ]]; then
    # QEMU's VT-d records a device's first such fault and compresses
    # repeats of it within one boot: this check holds once per boot (the
    # runner runs this script once per boot).
    if dmesg 2>/dev/null | grep -q "fault addr $iova "; then
        pass "dmesg: the IOMMU faulted the DMA write to unmapped iova $iova: $(dmesg | grep -m1 "fault addr $iova ")"
    else
        fail "no DMAR fault for the DMA write to unmapped iova $iova in dmesg: $(dmesg | grep -m3 DMAR)"
    fi
else
    fail "vfio_check did not report the unmapped-iova DMA check"
fi

# --- bad input --------------------------------------------------------------
missing=0000:7e:1f.7
[[ -e /sys/bus/pci/devices/$missing ]] && missing=0000:7d:1e.6
expect "nonexistent device" 2 "no such PCI device $missing" "scripts/devbind --status" -- "$bin" "$missing"
expect "malformed address" 2 "'banana' is not a PCI address" "scripts/devbind --status" -- "$bin" banana
expect "malformed MAC argument" 2 "is not a MAC address" -- "$bin" "$FERRITE_IGB0=zz:00"
expect "no arguments" 2 "usage:" -- "$bin"

other='' other_drv=''
for d in /sys/bus/pci/devices/*; do
    drv=$(driver_of "${d##*/}") || continue
    [[ $drv == vfio-pci ]] && continue
    other=${d##*/} other_drv=$drv
    break
done
if [[ -n $other ]]; then
    expect "device bound to $other_drv" 2 "$other is bound to $other_drv, not vfio-pci" \
        "sudo scripts/devbind --bind vfio-pci $other" -- "$bin" "$other"
else
    fail "no PCI device bound to a non-vfio driver found for the not-bound case"
fi
# An unbound device: igb1, unbound for this check (the runner rebinds it
# before the next script; it is rebound here too).
unbound=$FERRITE_IGB1
echo "$unbound" >/sys/bus/pci/drivers/vfio-pci/unbind
expect "unbound device" 2 "$unbound is not bound to any driver" \
    "sudo scripts/devbind --bind vfio-pci $unbound" -- "$bin" "$unbound"
echo "$unbound" >/sys/bus/pci/drivers_probe

group=$(readlink "/sys/bus/pci/devices/$FERRITE_IGB0/iommu_group"); group=${group##*/}
expect "unprivileged user" 2 "permission denied opening /dev/vfio/$group" "run as root" -- \
    setpriv --reuid=65534 --regid=65534 --clear-groups "$bin" --no-dma "$FERRITE_IGB0"
expect "wrong expected MAC" 1 "FAIL $FERRITE_IGB0: MAC $FERRITE_IGB0_MAC from RAL0/RAH0 (want 02:00:00:00:00:99" \
    "FAIL vfio_check: 1 check(s) failed" -- "$bin" --no-dma "$FERRITE_IGB0=02:00:00:00:00:99"

if ((fails)); then
    echo "20-vfio: $fails failure(s)"
    exit 1
fi
echo "20-vfio: all passed"
