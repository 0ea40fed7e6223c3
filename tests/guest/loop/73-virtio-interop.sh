#!/usr/bin/env bash
# tests/guest/loop/73-virtio-interop.sh — ferrite's virtio-net driver against
# DPDK 22.11's net_virtio (Debian's dpdk-testpmd), one on each NIC of the
# virtio pair (the judge proven by 70-virtio-dpdk.sh):
#   * ferrite txonly on virtio0 (3,200 frames of 64 B, --tx-count) -> DPDK
#     rxonly on virtio1: DPDK counts exactly 3,200 frames, 204,800 bytes;
#   * DPDK txonly on virtio1 (`start tx_first 100`: 3,200 frames of 1514 B) ->
#     ferrite rxonly on virtio0: exactly as many received as DPDK sent, byte
#     count exact, ferrite's pool full after stop (DPDK's frames carry no
#     ferrite signature: counted, not verified);
#   * both ends on packed rings (the NICs offer RING_PACKED; 70 shows DPDK
#     takes it), ferrite's read from the features it negotiated.
# SKIPs (77) only while this build of ferrite has no virtio-net driver.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/dpdk.bash"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/virtio.bash"

virtio_preflight || { finish; exit; }
dpdk_have || { fail "dpdk-testpmd is missing (Debian's dpdk; run: sudo scripts/setup-host)"; finish; exit; }
ferrite_virtio_or_skip
use_virtio
# ferrite on packed rings (opt-in, -a ADDR,packed_vq=1), as DPDK takes them.
TX_ADDR+=,packed_vq=1

# ferrite -> DPDK
count=3200
if dpdk_rx_start f2d.drx "$FERRITE_VIRTIO1"; then
    tx_run f2d.tx --txpkts 64 --tx-count "$count" --tx-rate 25000
    dpdk_rx_stop f2d.drx "$count"
    t=$W/f2d.tx.json
    echo "f2d: ferrite sent $(jv "$t" '.ports[0].tx_packets'), DPDK received $DPDK_RX"
    eq "f2d: ferrite txonly exit status" "$TX_RC" 0
    eq "f2d: dpdk-testpmd rxonly exit status" "$DPDK_RX_RC" 0
    eq "f2d: ferrite frames sent" "$(jv "$t" '.ports[0].tx_packets')" "$count"
    eq "f2d: DPDK frames received (exactly as many as sent)" "$DPDK_RX" "$count"
    eq "f2d: DPDK RX-bytes" "$DPDK_RX_BYTES" $((count * 64))
    eq "f2d: ferrite mempool full after stop, accounting_ok" "$(jv "$t" '(.mempools[0] | .capacity == .available) and .accounting_ok')" true
    eq "f2d: ferrite ran packed rings" "$(ring_kind "$t")" packed
fi

# DPDK -> ferrite
RX_ADDR=$FERRITE_VIRTIO0,packed_vq=1
rx_start d2f.rx
dpdk_tx d2f.dtx "$FERRITE_VIRTIO1" 100 1514
rx_stop d2f.rx "${DPDK_TX:-$count}"
r=$W/d2f.rx.json
echo "d2f: DPDK sent $DPDK_TX (dropped ${DPDK_TX_DROPPED:-?}), ferrite received $(jv "$r" '.ports[0].rx_packets')"
eq "d2f: dpdk-testpmd exit status" "$DPDK_TX_RC" 0
eq "d2f: ferrite rxonly exit status" "$RX_RC" 0
eq "d2f: DPDK frames sent, none dropped" "$DPDK_TX/$DPDK_TX_DROPPED" "$count/0"
eq "d2f: ferrite frames received (exactly as many as sent)" "$(jv "$r" '.ports[0].rx_packets')" "$DPDK_TX"
eq "d2f: ferrite rx bytes" "$(jv "$r" '.ports[0].rx_bytes')" $((${DPDK_TX:-0} * 1514))
eq "d2f: ferrite rx queue 0 packets" "$(jv "$r" '.ports[0].queues[0].rx_packets')" "$DPDK_TX"
eq "d2f: ferrite rxonly consumed all, none bad" "$(jv "$r" '.streams[0] | "\(.consumed)/\(.bad_payload)"')" "$DPDK_TX/0"
eq "d2f: ferrite mempool full after stop, accounting_ok" "$(jv "$r" '(.mempools[0] | .capacity == .available) and .accounting_ok')" true
eq "d2f: ferrite ran packed rings" "$(ring_kind "$r")" packed

finish
