#!/usr/bin/env bash
# tests/guest/bump/62-virtio-rxcsum.sh — receive checksum offload
# (VIRTIO_NET_F_GUEST_CSUM) on ferrite's virtio-net driver, with the Linux
# kernel as the judge:
#   ns2 (k2, 198.18.1.1) -- tap -- virtio0 [testpmd io] virtio1 -- tap -- ns3 (k3, 198.18.1.2)
# k2 and k3 transmit with checksum offload (their device offers `csum`), so
# their TCP and UDP frames leave with partial checksums: only the
# pseudo-header sum in the field. Asked for --rx-offloads tcp_cksum,udp_cksum,
# ferrite negotiates GUEST_CSUM and QEMU hands those frames over as they are,
# flagged NEEDS_CSUM; the driver must complete each checksum before the io
# engine forwards it with a plain header (no tx offloads), or Linux on the
# other side drops it (k2/k3 negotiate no guest offloads, so they check every
# checksum, see scripts/qemu/run-in-guest).
#   1. k2 has tx-checksumming on (ethtool -k), or nothing here is tested.
#   2. io forwarding with --rx-offloads tcp_cksum,udp_cksum: ping 0% loss,
#      32 MB over TCP with the same SHA-256, 200 UDP datagrams intact, no
#      Tcp/Udp InCsumErrors in ns2 or ns3, ferrite's rx_csum_completed > 0
#      on virtio0 (k2's frames) and no rx_csum_bad_offsets; GUEST_CSUM is in
#      both ports' features_negotiated.
#   3. Every testpmd run exits 0 on SIGINT, pools full, accounting_ok.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bump-testpmd.bash"

virtio_bump_setup
k2ip=$FERRITE_K2_IP k3ip=$FERRITE_K3_IP
xstat() { jv "$W/$1.json" ".ports[$2].xstats.$3"; }

echo "== 1. k2 transmits with checksum offload"
for ns_if in "ns2 $k2" "ns3 $k3"; do
    set -- $ns_if
    txcsum=$(ip netns exec "$1" ethtool -k "$2" 2>&1 | awk -F': ' '$1 == "tx-checksumming" {print $2}')
    eq "$1 $2: tx-checksumming (frames leave with partial checksums)" "$txcsum" on
done

echo "== 2. io forwarding with receive checksum offload"
if pmd_start rxcsum "${RINGS[@]}" --forward-mode io --rx-offloads tcp_cksum,udp_cksum; then
    ping_ok rxcsum ns2 "$k3ip" 20
    ping_ok rxcsum ns3 "$k2ip" 20
    tcp_xfer rxcsum "TCP:$k3ip:5011" "TCP-LISTEN:5011" 32
    udp_check rxcsum
    pmd_stop rxcsum
    for p in 0 1; do
        echo "  virtio$p: rx_csum_completed $(xstat rxcsum $p rx_csum_completed) rx_csum_valid $(xstat rxcsum $p rx_csum_valid) rx_csum_bad_offsets $(xstat rxcsum $p rx_csum_bad_offsets)"
    done
    eq "rxcsum: virtio0 completed partial checksums (rx_csum_completed > 0)" \
        "$(xstat rxcsum 0 rx_csum_completed | awk '{print ($1 > 0)}')" 1
    eq "rxcsum: no checksum field outside a frame (rx_csum_bad_offsets)" \
        "$(xstat rxcsum 0 rx_csum_bad_offsets) $(xstat rxcsum 1 rx_csum_bad_offsets)" "0 0"
    # GUEST_CSUM is feature bit 1.
    eq "rxcsum: GUEST_CSUM negotiated on virtio0 and virtio1" \
        "$(jv "$W/rxcsum.json" '[.ports[0, 1].xstats.features_negotiated / 2 | floor % 2] | join(" ")')" "1 1"
    no_csum_errors rxcsum
fi

finish
