#!/usr/bin/env bash
# tests/guest/noiommu/70-virtio-pa.sh — ferrite's virtio-net driver with no
# IOMMU (IOVA mode PA; the devices have no VIRTIO_F_ACCESS_PLATFORM and use
# guest-physical addresses), testpmd txonly on virtio0 -> rxonly on virtio1,
# with the checks of loop/71-virtio-txrx.sh and loop/72-virtio-jumbo.sh:
#   * 4,000 frames of 64 B and 4,000 of 1514 B at 2,000 pps: exactly as many
#     received as sent, payloads intact, counters agreeing, pools full;
#   * 1,000 frames of 9014 B (MTU 9000) at 500 pps sent whole from 9216-byte
#     mbufs and received as chains over mergeable 2 KiB receive buffers
#     (VIRTIO_NET_F_MRG_RXBUF, --rx-offloads scatter): the same checks;
#   * ferrite's no-IOMMU warning in every process's output.
# Rates as in the loop tests: the receiver's 1024 buffers and the sender's
# 256 descriptors outlast QEMU not polling them for 0.1 s.
# SKIPs (77) only while this build of ferrite has no virtio-net driver.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"

virtio_preflight || { finish; exit; }
ferrite_virtio_or_skip
use_virtio

PA=(--iova-mode pa)

txrx vpa64 64 4000 2000 "${PA[@]}"
noiommu_ran vpa64
txrx vpa1514 1514 4000 2000 "${PA[@]}"
noiommu_ran vpa1514

rx_start vpamrg.rx --mtu 9000 --rx-offloads scatter "${PA[@]}"
tx_run vpamrg.tx --mtu 9000 --mbuf-size 9216 --txpkts 9014 --tx-count 1000 --tx-rate 500 "${PA[@]}"
rx_stop vpamrg.rx 1000
check_exact vpamrg 9014 1000
eq "vpamrg: rxonly port configured with scatter" "$(jv "$W/vpamrg.rx.json" '.ports[0].rx_offloads | index("scatter") != null')" true
noiommu_ran vpamrg

finish
