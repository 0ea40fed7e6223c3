#!/usr/bin/env bash
# tests/guest/loop/72-virtio-jumbo.sh — 9000-byte MTU over ferrite's
# virtio-net driver (virtio0 -> virtio1; QEMU offers VIRTIO_NET_F_MTU with
# 9000 and VIRTIO_NET_F_MRG_RXBUF):
#   * whole frames out, chains in: txonly sends 1,000 frames of 9014 B, each
#     one 9216-byte mbuf (--mtu 9000 --mbuf-size 9216); rxonly at MTU 9000
#     with 2 KiB mbufs (--rx-offloads scatter) gets each as a chain over
#     mergeable receive buffers: exact, intact, counters agreeing, pools full;
#   * chains out, whole frames in: txonly sends 1,000 frames of 9014 B as
#     five segments (--txpkts 2048,2048,2048,2048,822); rxonly takes them in
#     9216-byte mbufs: the same checks;
#   * both on packed rings (the NICs offer RING_PACKED) and again on split
#     rings (the default; packed: -a ADDR,packed_vq=1), the ring kind of each run read from the
#     features both processes negotiated.
# 500 pps: the receiver's 1024 buffers (about 200 jumbo frames when merged)
# last 0.4 s between polls (a dry ring lets QEMU reorder frames:
# rx_buffers_exhausted in the driver), and the sender's 256 descriptors
# (51 five-segment frames) 0.1 s of QEMU not draining them (a full ring
# makes txonly drop: once seen at 2,000 pps with two guests running).
# SKIPs (77) only while this build of ferrite has no virtio-net driver.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/virtio.bash"

virtio_preflight || { finish; exit; }
ferrite_virtio_or_skip

for rings in packed split; do
    virtio_rings $rings
    # 1,000 frames of 9014 B fill 5,000 2 KiB receive buffers: more than the
    # ring (1024), the rest wait in QEMU's queue for virtio1 (10,000 frames).
    n=vmrg-$rings
    rx_start $n.rx --mtu 9000 --rx-offloads scatter
    tx_run $n.tx --mtu 9000 --mbuf-size 9216 --txpkts 9014 --tx-count 1000 --tx-rate 500
    rx_stop $n.rx 1000
    check_exact $n 9014 1000
    check_rings $n $rings
    eq "$n: rxonly port configured with scatter" "$(jv "$W/$n.rx.json" '.ports[0].rx_offloads | index("scatter") != null')" true

    n=vchain-$rings
    rx_start $n.rx --mtu 9000 --mbuf-size 9216
    tx_run $n.tx --mtu 9000 --rx-offloads scatter --txpkts 2048,2048,2048,2048,822 --tx-count 1000 --tx-rate 500
    rx_stop $n.rx 1000
    check_exact $n 9014 1000
    check_rings $n $rings
    eq "$n: txonly port configured with multi_segs" "$(jv "$W/$n.tx.json" '.ports[0].tx_offloads | index("multi_segs") != null')" true
done

finish
