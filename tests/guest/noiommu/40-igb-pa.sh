#!/usr/bin/env bash
# tests/guest/noiommu/40-igb-pa.sh — ferrite's igb driver with no IOMMU
# (IOVA mode PA: the NICs DMA to guest-physical addresses read from
# /proc/self/pagemap), testpmd txonly on igb0 -> rxonly on igb1, two
# processes, with the checks of loop/40-testpmd-txrx.sh and
# loop/40-testpmd-jumbo.sh (tests/guest/lib/testpmd.bash check_exact):
#   * 4,000 frames of 64 B and 4,000 of 1514 B at 25,000 pps, and 4,000 of
#     9014 B (MTU 9000, 9216-byte mbufs: about 220 per 2 MiB page, none
#     across a page boundary) at 10,000 pps: exactly as many received as
#     sent, every payload intact, byte counts and igb's hardware counters
#     agreeing, both mempools full after stop;
#   * the same 9014 B frames in 2 KiB mbufs: five-segment chains out, scattered
#     receive in (800 frames, 4,000 descriptors: they fit the receiver's ring);
#   * every process ran in no-IOMMU mode: ferrite's warning on its stderr and
#     the kernel's "vfio-noiommu device opened by user (testpmd...)".
# 4,000 frames fit the receiver's 4096-descriptor ring, so none can be lost
# outside ferrite (see loop/40-testpmd-txrx.sh).
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"

PA=(--iova-mode pa)

txrx pa64 64 4000 25000 "${PA[@]}"
noiommu_ran pa64
txrx pa1514 1514 4000 25000 "${PA[@]}"
txrx pa9014 9014 4000 10000 --mtu 9000 --mbuf-size 9216 "${PA[@]}"
noiommu_ran pa9014

rx_start pachain.rx --mtu 9000 --rx-offloads scatter "${PA[@]}"
tx_run pachain.tx --mtu 9000 --rx-offloads scatter --txpkts 2048,2048,2048,2048,822 --tx-count 800 --tx-rate 5000 "${PA[@]}"
rx_stop pachain.rx 800
check_exact pachain 9014 800
eq "pachain: rxonly port configured with scatter" "$(jv "$W/pachain.rx.json" '.ports[0].rx_offloads | index("scatter") != null')" true
eq "pachain: txonly port configured with multi_segs" "$(jv "$W/pachain.tx.json" '.ports[0].tx_offloads | index("multi_segs") != null')" true

opened=$(dmesg | grep -c "vfio-noiommu device opened by user (testpmd")
echo "dmesg: $opened no-IOMMU opens by testpmd so far"
((opened >= 8)) && pass "dmesg: the kernel saw testpmd open no-IOMMU devices ($opened times, 8 here)" ||
    fail "dmesg: only $opened 'vfio-noiommu device opened by user (testpmd' lines, want at least 8"

finish
