#!/usr/bin/env bash
# tests/guest/loop/71-virtio-txrx.sh — ferrite's virtio-net driver, testpmd
# txonly on virtio0 -> rxonly on virtio1 (loop layout: modern virtio-net-pci
# back to back, through the vIOMMU), as two testpmd processes, one per NIC,
# in the manner of 40-testpmd-txrx.sh:
#   * 4,000 frames of 64 B and 4,000 of 1514 B at 2,000 pps (slow enough
#     that the receiver's 1024 buffers last 0.5 s without a poll, as a ring
#     that runs dry lets QEMU reorder frames, and the sender's 256
#     descriptors 0.1 s of QEMU not draining them): exactly as many
#     received as sent, every payload intact (rxonly's bad_payload,
#     out_of_order, seq_gaps all 0), byte counts exact;
#   * per-port, per-queue and named stats (rx_queue_0_packets, ...) agree;
#   * both mempools full after stop (accounting_ok).
# Rings: rx 1024, tx 256 (what QEMU's virtio-net queues hold). 4,000 frames
# cannot be lost outside ferrite: a frame that finds the receiver's ring full
# waits in QEMU's queue for that NIC (up to 10,000 frames).
# SKIPs (77) only while this build of ferrite has no virtio-net driver.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"

virtio_preflight || { finish; exit; }
ferrite_virtio_or_skip
use_virtio

txrx vtxrx64 64 4000 2000
txrx vtxrx1514 1514 4000 2000

finish
