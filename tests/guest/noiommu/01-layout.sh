#!/usr/bin/env bash
# tests/guest/noiommu/01-layout.sh — the noiommu layout is what it says, judged
# by the kernel and by Debian's DPDK 22.11, not by ferrite:
#   * no IOMMU in the guest (/sys/class/iommu empty), vfio loaded with
#     enable_unsafe_noiommu_mode=Y (the rebuilt vfio.ko), /dev/vfio/vfio;
#   * each of the four NICs (igb0, igb1, virtio0, virtio1) is on vfio-pci,
#     alone in an IOMMU group that vfio made ("vfio-noiommu"), whose node is
#     /dev/vfio/noiommu-N (and there is no /dev/vfio/N);
#   * dmesg shows vfio's taint message for each NIC, and the kernel is
#     tainted TAINT_USER (bit 6);
#   * dpdk-testpmd selects IOVA mode 'PA' on igb0 and moves frames through
#     the wires with it: 640 frames of 64 B igb0 -> igb1 and 640 of 1514 B
#     virtio0 -> virtio1, exactly as many received as sent (640: fewer than
#     the receiver's 1024-descriptor ring holds, so none can be lost outside
#     the drivers).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/dpdk.bash"

# --- the kernel's view ----------------------------------------------------
iommus=$(ls /sys/class/iommu 2>/dev/null)
eq "no IOMMU in the guest (/sys/class/iommu)" "${iommus:-none}" none
eq "vfio enable_unsafe_noiommu_mode" "$(cat /sys/module/vfio/parameters/enable_unsafe_noiommu_mode 2>/dev/null)" Y
[[ -c /dev/vfio/vfio ]] && pass "/dev/vfio/vfio exists" || fail "/dev/vfio/vfio is missing"
numbered=$(find /dev/vfio -maxdepth 1 -regex '.*/[0-9]+' 2>/dev/null | sort | paste -sd' ')
eq "no IOMMU-backed group nodes (/dev/vfio/N)" "${numbered:-none}" none

for v in FERRITE_IGB0 FERRITE_IGB1 FERRITE_VIRTIO0 FERRITE_VIRTIO1; do
    bdf=${!v:-}
    [[ -n $bdf ]] || { fail "\$$v is not set (LAYOUT=noiommu of scripts/qemu/run-in-guest sets it)"; continue; }
    dev=/sys/bus/pci/devices/$bdf
    drv=$(readlink "$dev/driver" 2>/dev/null)
    eq "$v $bdf: driver" "${drv##*/}" vfio-pci
    grp=$(readlink "$dev/iommu_group" 2>/dev/null)
    grp=${grp##*/}
    eq "$v $bdf: its group $grp is vfio's no-IOMMU group" "$(cat "/sys/kernel/iommu_groups/$grp/name" 2>/dev/null)" vfio-noiommu
    eq "$v $bdf: alone in group $grp" "$(ls "/sys/kernel/iommu_groups/$grp/devices" 2>/dev/null)" "$bdf"
    [[ -c /dev/vfio/noiommu-$grp ]] && pass "$v $bdf: /dev/vfio/noiommu-$grp" || fail "$v $bdf: no /dev/vfio/noiommu-$grp"
    if dmesg | grep -q "vfio-pci $bdf: Adding kernel taint for vfio-noiommu group on device"; then
        pass "$v $bdf: dmesg: $(dmesg | grep -m1 "vfio-pci $bdf: Adding kernel taint" | sed 's/^\[[^]]*\] //')"
    else
        fail "$v $bdf: no vfio-noiommu taint message in dmesg"
    fi
done
tainted=$(cat /proc/sys/kernel/tainted)
eq "kernel tainted TAINT_USER (bit 6 of $tainted)" "$(((tainted >> 6) & 1))" 1

# --- DPDK as the judge ----------------------------------------------------
dpdk_have || { fail "dpdk-testpmd is missing (Debian's dpdk; run: sudo scripts/setup-host)"; finish; exit; }

# dpdk_pair NAME FROM TO SIZE: 20 bursts of 32 frames of SIZE bytes, FROM -> TO.
dpdk_pair() {
    local name=$1 from=$2 to=$3 size=$4 count=640
    dpdk_rx_start "$name.rx" "$to" || return
    dpdk_tx "$name.tx" "$from" 20 "$size"
    dpdk_rx_stop "$name.rx" "$count"
    echo "$name: DPDK sent $DPDK_TX (dropped ${DPDK_TX_DROPPED:-?}), DPDK received $DPDK_RX"
    eq "$name: dpdk-testpmd txonly exit status" "$DPDK_TX_RC" 0
    eq "$name: dpdk-testpmd rxonly exit status" "$DPDK_RX_RC" 0
    eq "$name: frames sent (TX-packets)" "$DPDK_TX" "$count"
    eq "$name: frames received (RX-packets, exactly as many as sent)" "$DPDK_RX" "$count"
    eq "$name: RX-bytes" "$DPDK_RX_BYTES" $((count * size))
    local f
    for f in "$W/$name.tx.out" "$W/$name.rx.out"; do
        grep -q "Selected IOVA mode 'PA'" "$f" && pass "$name: DPDK selected IOVA mode PA (${f##*/})" ||
            fail "$name: DPDK did not select IOVA mode PA (${f##*/}: $(grep -m1 -o "Selected IOVA mode '[A-Z]*'" "$f"))"
    done
}

dpdk_pair igb0to1-64 "$FERRITE_IGB0" "$FERRITE_IGB1" 64
dpdk_pair virtio0to1-1514 "$FERRITE_VIRTIO0" "$FERRITE_VIRTIO1" 1514
dmesg | grep -q "vfio-noiommu device opened by user (dpdk-testpmd" &&
    pass "dmesg: $(dmesg | grep -m1 'vfio-noiommu device opened by user (dpdk-testpmd' | sed 's/^\[[^]]*\] //')" ||
    fail "dmesg has no 'vfio-noiommu device opened by user (dpdk-testpmd...)'"

finish
