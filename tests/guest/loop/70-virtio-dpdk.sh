#!/usr/bin/env bash
# tests/guest/loop/70-virtio-dpdk.sh — the virtio-net pair of the loop layout
# (virtio0 <-> virtio1: modern virtio-net-pci, iommu_platform=on, behind the
# vIOMMU, on vfio-pci) proven with Debian's DPDK 22.11 (net_virtio), two
# dpdk-testpmd processes, one per NIC; the same helpers judge ferrite in
# 73-virtio-interop.sh:
#   * both NICs are 1af4:1041 on vfio-pci, each in an IOMMU group of its own;
#   * DPDK negotiates VIRTIO_F_VERSION_1 and VIRTIO_F_ACCESS_PLATFORM (DMA
#     through the vIOMMU; IOVA mode VA), and VIRTIO_F_RING_PACKED (the NICs
#     offer packed rings: packed=on);
#   * txonly (`start tx_first 100`: 3,200 frames of 64 B) on virtio0 ->
#     rxonly on virtio1: exactly 3,200 sent, none dropped, exactly 3,200
#     received, 204,800 bytes; then 3,200 of 1514 B the other way.
# 3,200 frames: QEMU's virtio-net drops nothing a hub delivers while the
# receiver's ring (1024) plus its net queue (10,000 frames) has room.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/dpdk.bash"

virtio_preflight || { finish; exit; }
dpdk_have || { fail "dpdk-testpmd is missing (Debian's dpdk; run: sudo scripts/setup-host)"; finish; exit; }

# The negotiated features come from net_virtio's init log.
DPDK_ARGS=--log-level=pmd.net.virtio.init:debug

# dpdk_pair NAME FROM TO SIZE: 100 bursts of 32 frames of SIZE bytes, FROM -> TO.
dpdk_pair() {
    local name=$1 from=$2 to=$3 size=$4 count=3200
    dpdk_rx_start "$name.rx" "$to" || return
    dpdk_tx "$name.tx" "$from" 100 "$size"
    dpdk_rx_stop "$name.rx" "$count"
    echo "$name: DPDK sent $DPDK_TX (dropped ${DPDK_TX_DROPPED:-?}), DPDK received $DPDK_RX"
    eq "$name: dpdk-testpmd txonly exit status" "$DPDK_TX_RC" 0
    eq "$name: dpdk-testpmd rxonly exit status" "$DPDK_RX_RC" 0
    eq "$name: frames sent (TX-packets)" "$DPDK_TX" "$count"
    eq "$name: TX-dropped" "$DPDK_TX_DROPPED" 0
    eq "$name: frames received (RX-packets, exactly as many as sent)" "$DPDK_RX" "$count"
    eq "$name: RX-bytes" "$DPDK_RX_BYTES" $((count * size))
    eq "$name: RX-missed/RX-errors" \
        "$(dpdk_last "$W/$name.rx.out" RX-missed)/$(dpdk_last "$W/$name.rx.out" RX-errors)" 0/0
}

dpdk_pair v0to1-64 "$FERRITE_VIRTIO0" "$FERRITE_VIRTIO1" 64
dpdk_pair v1to0-1514 "$FERRITE_VIRTIO1" "$FERRITE_VIRTIO0" 1514

# What DPDK saw of the devices (for the driver: features offered/taken).
for f in v0to1-64.tx v0to1-64.rx; do
    grep -o 'IOVA mode .*\|[a-z]*_features [a-z ]*= [0-9a-fx]*\|features after negotiate = [0-9a-fx]*\|vq_size: [0-9]*' "$W/$f.out" |
        sort -u | sed "s/^/  $f: /"
done
neg=$(grep -o 'features after negotiate = [0-9a-fx]*' "$W/v0to1-64.rx.out" | tail -1 | awk '{print $NF}')
eq "DPDK negotiated VERSION_1 and ACCESS_PLATFORM (bits 32, 33)" \
    "$( [[ -n $neg ]] && echo $(( (0x$neg >> 32) & 3 )) )" 3
eq "DPDK negotiated RING_PACKED (bit 34): the NICs offer packed rings (packed=on)" \
    "$( [[ -n $neg ]] && echo $(( (0x$neg >> 34) & 1 )) )" 1
grep -q "Selected IOVA mode 'VA'" "$W/v0to1-64.rx.out" && pass "DPDK IOVA mode VA (through the vIOMMU)" ||
    fail "DPDK did not select IOVA mode VA"

finish
