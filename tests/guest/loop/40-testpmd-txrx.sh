#!/usr/bin/env bash
# tests/guest/loop/40-testpmd-txrx.sh — testpmd txonly on igb0 -> rxonly on
# igb1 (loop layout: igb0 <-> igb1), as two testpmd processes, one per NIC:
#   * 12,000 frames of 64 B and 12,000 of 1514 B (a full 1500-byte MTU
#     frame; sizes without the 4-byte CRC) at 25,000 pps: exactly as many
#     received as sent, every payload
#     intact (rxonly's bad_payload, out_of_order, seq_gaps all 0);
#   * per-port, per-queue and named (--xstats, ethtool -S) stats reflect the
#     traffic: queue rows, rx_queue_0_packets, size histograms, and the
#     hardware counters GPRC/GORC (igb1) and GPTC/GOTC (igb0) agree with the
#     software counters;
#   * both mempools are full after stop (accounting_ok).
# Each process has 4096-descriptor rings. Under TCG on a loaded host the
# receiving vCPU can be starved for seconds, and QEMU's igb then queues at
# most 10,000 frames before dropping silently (it never counts MPC/RNBC):
# 200,000 frames at 25,000 pps lost 910 of the 1514 B ones that way with
# both host CPUs busy. No more than 4095 + 10,000 frames per run can never
# be lost outside ferrite, whatever the scheduling, so each run sends 12,000.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"

txrx txrx64 64 12000 25000
txrx txrx1514 1514 12000 25000

finish
