#!/usr/bin/env bash
# tests/guest/noiommu/25-bad-input.sh — ferrite in a guest without an IOMMU,
# asked the wrong way: each case must exit non-zero (not by a signal), never
# panic, and say what is wrong and what to run.
#   * the default --iova-mode va on a NIC in a no-IOMMU group (igb0, virtio0;
#     testpmd and pmdinfo): the message names the no-IOMMU group and says to
#     use --iova-mode pa;
#   * the same with vfio_iommu_type1 unloaded (no type1 backend at all):
#     still --iova-mode pa;
#   * --iova-mode pa as an unprivileged user: /dev/vfio/noiommu-N needs root
#     (CAP_SYS_RAWIO), and the message must not suggest chown, which cannot
#     help there;
#   * --iova-mode pa as root without CAP_SYS_ADMIN: /proc/self/pagemap hides
#     physical addresses, so no DMA address can be known: says it needs root,
#     and not that memory ran out.
# The runner re-establishes the bindings and hugepages before the next script.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../lib/bad-input.bash"
for v in FERRITE_IGB0 FERRITE_VIRTIO0; do
    [[ -n ${!v:-} ]] || { echo "FAIL: \$$v is not set (run through tests/guest/run noiommu)"; exit 1; }
done

tp=("$bin/testpmd" -l 0,1 --rx-mode poll --duration 1 --port-topology loop)
group_of() { local g; g=$(readlink "/sys/bus/pci/devices/$1/iommu_group") && echo "${g##*/}"; }

for addr in "$FERRITE_IGB0" "$FERRITE_VIRTIO0"; do
    g=$(group_of "$addr")
    expect_error "testpmd --iova-mode va, $addr in no-IOMMU group $g" \
        "$addr is in no-IOMMU group $g \(/dev/vfio/noiommu-$g\).*use \`--iova-mode pa\`" \
        "${tp[@]}" -a "$addr" --iova-mode va
done
g=$(group_of "$FERRITE_IGB0")
expect_error "pmdinfo (IOVA mode va by default), $FERRITE_IGB0 in no-IOMMU group $g" \
    "no-IOMMU group $g.*--iova-mode pa" "$bin/pmdinfo" "$FERRITE_IGB0"

# No type1 backend at all (a cloud VM that never loaded vfio_iommu_type1).
if rmmod vfio_iommu_type1; then
    expect_error "testpmd --iova-mode va without vfio_iommu_type1" \
        'no type1 IOMMU backend.*--iova-mode pa' "${tp[@]}" -a "$FERRITE_IGB0"
    modprobe vfio_iommu_type1 || fail "modprobe vfio_iommu_type1 (to restore it) failed"
else
    fail "rmmod vfio_iommu_type1 failed: is something using it?"
fi

g=$(group_of "$FERRITE_IGB0")
expect_error "testpmd --iova-mode pa as an unprivileged user" \
    "permission denied opening /dev/vfio/noiommu-$g.*run as root" \
    setpriv --reuid=65534 --regid=65534 --clear-groups "${tp[@]}" -a "$FERRITE_IGB0" --iova-mode pa
grep -q chown <<<"$OUT" && fail "the unprivileged case suggests chown, which cannot open a no-IOMMU group"
expect_error "testpmd --iova-mode pa as root without CAP_SYS_ADMIN (pagemap hides physical addresses)" \
    "pagemap.*needs root \(CAP_SYS_ADMIN\)" \
    setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin "${tp[@]}" -a "$FERRITE_IGB0" --iova-mode pa
grep -qi 'out of memory' <<<"$OUT" && fail "the CAP_SYS_ADMIN case reads as 'out of memory'"

((fails == 0)) && echo "all bad-input cases behave" || echo "$fails case(s) failed"
exit $((fails > 0))
