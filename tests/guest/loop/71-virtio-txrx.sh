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
#   * both mempools full after stop (accounting_ok);
#   * all of it on packed rings (the NICs offer RING_PACKED, the driver
#     takes it with -a ADDR,packed_vq=1) and again on split rings (the default), each run's
#     ring kind read from the features both processes negotiated (and
#     pmdinfo -k naming them), EVENT_IDX taken whenever offered on split
#     rings and declined on packed ones;
#   * a bad device argument (packed_vq=2, an unknown key) is refused as bad
#     input (exit 2) naming what the driver takes.
# Rings: rx 1024, tx 256 (what QEMU's virtio-net queues hold). 4,000 frames
# cannot be lost outside ferrite: a frame that finds the receiver's ring full
# waits in QEMU's queue for that NIC (up to 10,000 frames).
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
    pmdinfo_rings $rings
    txrx vtxrx64-$rings 64 4000 2000
    check_rings vtxrx64-$rings $rings
    txrx vtxrx1514-$rings 1514 4000 2000
    check_rings vtxrx1514-$rings $rings
done

# Device arguments the driver does not take: bad input, said so.
for arg in packed_vq=2 in_order=1; do
    out=$(timeout --foreground -k 5 60 "$TESTPMD" -l 0,1 -a "$FERRITE_VIRTIO0,$arg" --forward-mode rxonly --duration 1 \
        --no-telemetry 2>&1)
    rc=$?
    echo "-a $FERRITE_VIRTIO0,$arg: $(grep -m1 -i 'packed_vq' <<<"$out")"
    eq "-a ADDR,$arg refused as bad input (exit 2), naming packed_vq" "$rc:$(grep -q 'packed_vq' <<<"$out" && echo named)" \
        2:named
done

finish
