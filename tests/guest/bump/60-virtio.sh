#!/usr/bin/env bash
# tests/guest/bump/60-virtio.sh — ferrite's virtio-net driver as a bump in
# the wire, with the Linux kernel as the judge:
#   ns2 (k2, 198.18.1.1) -- tap -- virtio0 [testpmd] virtio1 -- tap -- ns3 (k3, 198.18.1.2)
# The wires are taps, so the virtio-net header reaches the host kernel,
# which acts on it (segments, completes checksums) before k3 gets a frame.
# k2/k3 negotiate no guest offloads: Linux in ns2/ns3 checks every checksum
# itself (scripts/qemu/run-in-guest, scripts/qemu/tap-wires).
#   1. io forwarding: ping 0% loss, 32 MB over TCP with the same SHA-256.
#   2. TX checksum offload through the header: the csum engine with
#      --tx-offloads tcp_cksum,udp_cksum leaves pseudo-header seeds, so only
#      the device's sums make the frames valid: ping, 32 MB over TCP intact,
#      200 UDP datagrams all received with their payloads, no Tcp/Udp
#      InCsumErrors in ns2 or ns3; virtio1's tx_csum_offload > 0 and equal
#      to the stream's tx_cksum_offload (the IPv4 header checksum, which
#      virtio cannot offload, the engine computes: tx_cksum_sw counts it).
#   3. TSO: MTU 9000 on k2, k3 and the ports (9216 B mbufs), the csum engine
#      with tcp_tso and --tso-segsz 1448: k2's ~9 KB segments reach virtio0
#      whole and leave virtio1 as segmentation requests (virtio1's tx_tso =
#      the stream's tx_tso > 0), k3 receives more frames than virtio1 sent,
#      none above 1514 B on average, 32 MB intact, no checksum errors.
#   4. Every testpmd run exits 0 on SIGINT, pools full, accounting_ok.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bump-testpmd.bash"

virtio_bump_setup
k2mac=$FERRITE_K2_MAC k3mac=$FERRITE_K3_MAC
k2ip=$FERRITE_K2_IP k3ip=$FERRITE_K3_IP

# stat NAME PORT XSTAT: a port's named statistic from the report.
xstat() { jv "$W/$1.json" ".ports[$2].xstats.$3"; }

echo "== 1. io forwarding"
if pmd_start io "${RINGS[@]}" --forward-mode io; then
    ping_ok io ns2 "$k3ip" 20
    ping_ok io ns3 "$k2ip" 20
    tcp_xfer io "TCP:$k3ip:5001" "TCP-LISTEN:5001" 32
    pmd_stop io
fi

echo "== 2. TCP/UDP checksums through the virtio-net header"
cks=tcp_cksum,udp_cksum
if pmd_start csum "${RINGS[@]}" --forward-mode csum --eth-peer "0,$k2mac" --eth-peer "1,$k3mac" --tx-offloads "$cks"; then
    ping_ok csum ns2 "$k3ip" 20
    tcp_xfer csum "TCP:$k3ip:5002" "TCP-LISTEN:5002" 32
    udp_check csum
    pmd_stop csum
    echo "  streams: $(jv "$W/csum.json" '[.streams[] | "\(.rx_port)->\(.tx_port): offload \(.tx_cksum_offload) sw \(.tx_cksum_sw)"] | join("; ")')"
    eq "csum: virtio1 sent frames asking for checksums (tx_csum_offload > 0)" "$(xstat csum 1 tx_csum_offload | awk '{print ($1 > 0)}')" 1
    eq "csum: no frame refused (tx_offload_errors)" "$(xstat csum 0 tx_offload_errors) $(xstat csum 1 tx_offload_errors)" "0 0"
    # (tx_cksum_sw counts every IPv4 frame here: virtio has no IPv4 header
    # checksum offload, so the engine computes that one itself.)
    # Every checksum request the stream 0->1 handed to virtio1 went into a
    # header: between the stream's requests less the frames it dropped on
    # a full TX ring (fwd_drops), and all its requests.
    s01=$(jv "$W/csum.json" '[.streams[] | select(.rx_port == 0)][0] | "\(.tx_cksum_offload) \(.fwd_drops)"')
    v1=$(xstat csum 1 tx_csum_offload)
    eq "csum: virtio1's tx_csum_offload ($v1) within the stream's requests less its drops ($s01)" \
        "$(awk -v v="$v1" -v r="${s01% *}" -v d="${s01#* }" 'BEGIN { print (v >= r - d && v <= r) }')" 1
    no_csum_errors csum
fi

echo "== 3. TSO through the virtio-net header"
ip -n ns2 link set "$k2" mtu 9000 && ip -n ns3 link set "$k3" mtu 9000
if pmd_start tso "${RINGS[@]}" --forward-mode csum --eth-peer "0,$k2mac" --eth-peer "1,$k3mac" --mtu 9000 --mbuf-size 9216 \
    --total-num-mbufs 8192 --tx-offloads "$cks,tcp_tso" --tso-segsz 1448; then
    k3rx0=$(dev_stat ns3 "$k3" rx_packets) k3b0=$(dev_stat ns3 "$k3" rx_bytes)
    tcp_xfer tso "TCP:$k3ip:5003" "TCP-LISTEN:5003" 32
    k3rx=$(($(dev_stat ns3 "$k3" rx_packets) - k3rx0)) k3b=$(($(dev_stat ns3 "$k3" rx_bytes) - k3b0))
    pmd_stop tso
    j=$W/tso.json
    t1=$(jv "$j" '.ports[1].tx_packets') stream_tso=$(jv "$j" '[.streams[] | select(.rx_port == 0)][0].tx_tso')
    echo "  virtio0 received $(jv "$j" '.ports[0].rx_packets') frames (average $(jv "$j" '.ports[0].rx_bytes / (.ports[0].rx_packets + 0.001) | floor') B); virtio1 sent $t1; k3 received $k3rx (average $((k3b / (k3rx ? k3rx : 1))) B)"
    eq "tso: virtio0 received frames above 1514 B (k2's 9000 MTU segments)" "$(jv "$j" '.ports[0].rx_bytes / .ports[0].rx_packets > 3000')" true
    eq "tso: the stream 0->1 asked for TSO (tx_tso > 0)" "$((stream_tso > 0))" 1
    eq "tso: virtio1's tx_tso = the stream's tx_tso" "$(xstat tso 1 tx_tso)" "$stream_tso"
    eq "tso: k3 received more frames than virtio1 sent (segmented after ferrite)" "$((k3rx > t1 + t1 / 2))" 1
    eq "tso: k3's frames average <= 1514 B" "$((k3rx > 0 && k3b / k3rx <= 1514))" 1
    no_csum_errors tso
fi
ip -n ns2 link set "$k2" mtu 1500
ip -n ns3 link set "$k3" mtu 1500

finish
