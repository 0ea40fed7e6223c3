#!/usr/bin/env bash
# tests/guest/loop/40-testpmd-jumbo.sh — MTU 9000 through testpmd (loop layout):
#   * txonly igb0 -> rxonly igb1, both --mtu 9000 --mbuf-size 9216: 4,000
#     frames of 9014 B arrive, exactly and intact, counters agreeing;
#   * a frame over the receiver's MTU is not delivered: rxonly on igb1 at
#     MTU 1500 takes frames up to 1522 B (header + two VLAN tags, as Linux's
#     igb), so it gets none of 1,000 frames of 1523 B (sent by igb0 at MTU
#     1509), then all of 1,000 frames of 1522 B. The 1523 B frames are counted:
#     RLPML holds the buffer size (QEMU's igb drops frames over RLPML without
#     counting them unless VMDq is on: hw/net/igb_core.c, igb_receive_assign),
#     so the hardware accepts them (GPRC 2000) and the driver's receive path
#     drops and counts them (rx_mtu_oversize_drops 1000);
#   * the same 9014 B frames in 2048 B mbufs, as chains: txonly sends
#     --txpkts 2048,2048,2048,2048,822 (five segments, one descriptor each;
#     its port too needs scatter to take MTU 9000 in 2 KiB mbufs),
#     rxonly asks for --rx-offloads scatter and gets each frame back over five
#     descriptors as one chain: 800 frames (4,000 descriptors: they fit the
#     receiver's ring), exact, intact, counters agreeing, pools full;
#   * MTU 9000 with the default 2048-byte mbufs and no scatter is refused
#     (exit 2) with a message naming --mbuf-size 9216 and --rx-offloads scatter.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"

# 4,000: they fit in the receiver's ring, so a starved receiving vCPU
# cannot lose any outside ferrite (see 40-testpmd-txrx.sh).
txrx jumbo 9014 4000 10000 --mtu 9000 --mbuf-size 9216

# Scattered receive and multi-segment transmit: the same frames in 2 KiB mbufs.
rx_start chain.rx --mtu 9000 --rx-offloads scatter
tx_run chain.tx --mtu 9000 --rx-offloads scatter --txpkts 2048,2048,2048,2048,822 --tx-count 800 --tx-rate 5000
rx_stop chain.rx 800
check_exact chain 9014 800
eq "chain: rxonly port configured with scatter" "$(jv "$W/chain.rx.json" '.ports[0].rx_offloads | index("scatter") != null')" true
eq "chain: txonly port configured with multi_segs" "$(jv "$W/chain.tx.json" '.ports[0].tx_offloads | index("multi_segs") != null')" true

# Over the MTU: one rxonly at MTU 1500, two senders.
rx_start over.rx
tx_run over.tx --mtu 1509 --txpkts 1523 --tx-count 1000 --tx-rate 20000
eq "over-MTU: txonly exit status" "$TX_RC" 0
eq "over-MTU: 1000 x 1523 B sent (igb0 GPTC)" "$(jv "$W/over.tx.json" '.ports[0].xstats.tx_packets')" 1000
sleep 1
tx_run fit.tx --mtu 1508 --txpkts 1522 --tx-count 1000 --tx-rate 20000
eq "then: txonly exit status" "$TX_RC" 0
rx_stop over.rx 1000
r=$W/over.rx.json
eq "over-MTU: rxonly exit status" "$RX_RC" 0
eq "over-MTU: none of the 1523 B frames delivered, all 1000 x 1522 B after them" \
    "$(jv "$r" '.ports[0].rx_packets'),$(jv "$r" '.ports[0].rx_bytes')" "1000,$((1000 * 1522))"
eq "over-MTU: delivered frames intact and in order" \
    "$(jv "$r" '.streams[0] | "\(.bad_payload)/\(.out_of_order)/\(.seq_gaps)"')" 0/0/0
eq "over-MTU: igb1 hardware accepted all 2000 frames (GPRC)" "$(jv "$r" '.ports[0].xstats.rx_packets')" 2000
eq "over-MTU: the 1000 over-MTU frames counted by the driver" \
    "$(jv "$r" '.ports[0].xstats.rx_mtu_oversize_drops')" 1000
eq "over-MTU: counted as rx drops of queue 0" "$(jv "$r" '.ports[0].queues[0].rx_drops')" 1000
eq "over-MTU: under Linux igb's names, rx_queue_0_packets/rx_queue_0_drops" \
    "$(jv "$r" '.ports[0].xstats | "\(.rx_queue_0_packets)/\(.rx_queue_0_drops)"')" 1000/1000
eq "over-MTU: mempool full, accounting_ok" "$(jv "$r" '(.mempools[0] | .capacity == .available) and .accounting_ok')" true

out=$(timeout --foreground -k 5 60 "$TESTPMD" -l 0,1 -a "$FERRITE_IGB1" --port-topology loop --forward-mode rxonly --mtu 9000 --duration 1 2>&1)
rc=$?
echo "$out" | tail -1
[[ $rc == 2 ]] && grep -q -- '--mbuf-size 9216' <<<"$out" && grep -q -- '--rx-offloads scatter' <<<"$out" &&
    pass "MTU 9000 with 2048-byte mbufs refused (exit 2), message names --mbuf-size 9216 and --rx-offloads scatter" ||
    fail "MTU 9000 with small mbufs was not refused clearly (exit $rc)"

finish
