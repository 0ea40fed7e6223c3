#!/usr/bin/env bash
# tests/guest/loop/25-bad-input.sh — the user-facing tools (testpmd, pmdinfo)
# on bad input: each case must exit non-zero, never panic, and print a
# message that says what is wrong and what to run.
#
#   * a PCI address that does not exist;
#   * a NIC not bound to vfio-pci (unbound with scripts/devbind);
#   * no hugepages reserved (scripts/hugepages --clear) for a hardware port;
#   * an IOMMU group that is not viable: 00:1f.3 bound to vfio-pci while
#     00:1f.2, in the same group, is bound to ahci;
#   * no permission on /dev/vfio (an unprivileged user).
# The runner re-binds the NICs and re-reserves hugepages before the next script.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../lib/bad-input.bash"
[[ -n ${FERRITE_IGB0:-} ]] || { echo "FAIL: FERRITE_IGB0 is not set (run through tests/guest/run)"; exit 1; }

tp=("$bin/testpmd" -l 0,1 --rx-mode poll --duration 1)

expect_error "testpmd, nonexistent PCI address" 'no such PCI device.*devbind --status' \
    "${tp[@]}" -a 0000:09:00.0
expect_error "pmdinfo, nonexistent PCI address" 'no such PCI device.*devbind --status' \
    "$bin/pmdinfo" 0000:09:00.0

"$repo/scripts/devbind" --unbind "$FERRITE_IGB0" >/dev/null
expect_error "testpmd, NIC not bound to vfio-pci" "devbind --bind vfio-pci $FERRITE_IGB0" \
    "${tp[@]}" -a "$FERRITE_IGB0"
"$repo/scripts/devbind" --bind vfio-pci "$FERRITE_IGB0" >/dev/null

"$repo/scripts/hugepages" --clear >/dev/null
expect_error "testpmd, no hugepages reserved" 'not enough 2048 kB hugepages: need [0-9]+, 0 free.*nr_hugepages' \
    "${tp[@]}" -a "$FERRITE_IGB0" --port-topology loop
"$repo/scripts/hugepages" --reserve "${FERRITE_HUGEPAGES:-256}" >/dev/null

expect_error "testpmd, no permission on /dev/vfio" 'permission denied.*(root|chown)' \
    setpriv --reuid=65534 --regid=65534 --clear-groups "${tp[@]}" -a "$FERRITE_IGB0" --port-topology loop

# A group that is not viable: two functions of one group, one of them bound
# to a kernel driver.
if [[ -e /sys/bus/pci/devices/0000:00:1f.2 && -e /sys/bus/pci/devices/0000:00:1f.3 ]]; then
    modprobe ahci
    "$repo/scripts/devbind" --bind vfio-pci 0000:00:1f.3 >/dev/null 2>&1 ||
        fail "could not bind 0000:00:1f.3 to vfio-pci for the non-viable group case"
    expect_error "pmdinfo, IOMMU group not viable" 'not viable.*0000:00:1f\.2.*ahci' \
        "$bin/pmdinfo" 0000:00:1f.3
    "$repo/scripts/devbind" --unbind 0000:00:1f.3 >/dev/null 2>&1
else
    fail "the q35 ICH9 functions 00:1f.2/00:1f.3 are missing; cannot build a non-viable group"
fi

((fails == 0)) && echo "all bad-input cases behave" || echo "$fails case(s) failed"
exit $((fails > 0))
