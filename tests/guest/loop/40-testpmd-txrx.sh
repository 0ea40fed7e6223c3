#!/usr/bin/env bash
# tests/guest/loop/40-testpmd-txrx.sh — testpmd txonly on igb0 -> rxonly on
# igb1 (loop layout: igb0 <-> igb1), as two testpmd processes, one per NIC:
#   * 200,000 frames of 64 B and 200,000 of 1514 B (a full 1500-byte MTU
#     frame; sizes without the 4-byte CRC) at 25,000 pps, a rate rxonly keeps
#     up with under TCG: exactly as many received as sent, every payload
#     intact (rxonly's bad_payload, out_of_order, seq_gaps all 0);
#   * per-port, per-queue and named (--xstats, ethtool -S) stats reflect the
#     traffic: queue rows, rx_queue_0_packets, size histograms, and the
#     hardware counters GPRC/GORC (igb1) and GPTC/GOTC (igb0) agree with the
#     software counters;
#   * both mempools are full after stop (accounting_ok).
# Each process has 4096-descriptor rings: under TCG the receiving vCPU can
# stall for a few hundred ms, and QEMU's igb then queues at most 10,000
# frames before dropping silently (it never counts MPC/RNBC). 25,000 pps
# (half of what rxonly sustains) leaves room for such a stall: at 50,000 pps
# one CI run in several lost 0.7% of the 64 B frames that way.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"

txrx txrx64 64 200000 25000
txrx txrx1514 1514 200000 25000

finish
