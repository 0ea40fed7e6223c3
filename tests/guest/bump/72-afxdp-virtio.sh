#!/usr/bin/env bash
# tests/guest/bump/72-afxdp-virtio.sh — ferrite's AF_XDP port on virtio_net:
# virtio0 and virtio1 go back to Linux's virtio_net, which has native XDP, and
# from Linux 6.13 binds AF_XDP sockets zero-copy when its queues use the DMA
# API (the device offers VIRTIO_F_ACCESS_PLATFORM: QEMU's iommu_platform=on,
# as this layout's virtio NICs have). testpmd forwards between them with one
# shared pool, so a frame received on one port is sent on the other from the
# same buffer, copied by ferrite in neither mode:
#   ns2 k2 -- tap -- virtio0 [af_xdp0, io, af_xdp1] virtio1 -- tap -- k3 ns3
#   * each port reports native XDP and the bind this kernel makes: zero-copy
#     from 6.13, copy mode before ("Port N: IF (virtio_net) ...");
#   * ping ns2 -> ns3 through it without loss, one socket on each of the
#     NIC's queue pairs;
#   * no frame was copied (tx_copied 0: the frames went out where they lay);
#   * a clean stop: exit status 0, pools full, accounting_ok, and no XDP
#     program left on either interface.
# Only ICMP crosses: frames that virtio_net receives with a partial checksum
# (k2's offloads) lose that mark in XDP (README, "AF_XDP and checksums").
# The runner puts both virtio NICs back on vfio-pci before the next script.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/afxdp.bash"

for v in FERRITE_VIRTIO0 FERRITE_VIRTIO1 FERRITE_K3_IP; do
    [[ -n ${!v:-} ]] || { fail "\$$v is not set (the bump layout has the virtio tap path)"; finish; exit 1; }
done
"$TESTPMD" --help 2>&1 | grep -q af_xdp || { echo "SKIP: this build of ferrite has no af_xdp port (testpmd --help)"; exit 77; }

# QEMU offers MTU 9000 (host_mtu); the kernel NICs k2/k3 have 1500, and
# frames of 1500 fit one buffer of testpmd's default pool.
kernel_ifaces 1500 "$FERRITE_VIRTIO0" "$FERRITE_VIRTIO1"
ifs=("${IFS_[@]}")
nq=$(combined_channels "${ifs[0]}")
echo "  ${ifs[0]} has $nq combined channel(s): queue_count=$nq"
j=$W/afxdp.json
afxdp_start "$j" --vdev "af_xdp0,iface=${ifs[0]},queue_count=$nq" --vdev "af_xdp1,iface=${ifs[1]},queue_count=$nq" \
    --rxq "$nq" --txq "$nq" --shared-pool
# virtio_net offers zero-copy (NETDEV_XDP_ACT_XSK_ZEROCOPY) from Linux 6.13
# on; before, the kernel binds copy mode, and ferrite must say so.
kver=$(uname -r)
if [[ $(printf '%s\n' 6.13 "${kver%%[-+]*}" | sort -V | head -1) == 6.13 ]]; then want="zero-copy mode, native XDP"; else want="copy mode, native XDP"; fi
echo "  Linux $kver: virtio_net should bind \"$want\""
for p in 0 1; do
    line=$(grep "^Port $p: ${ifs[$p]} " "$W/afxdp.err")
    grep -q "$want" <<<"$line" && pass "port $p (${ifs[$p]}): $want, as Linux $kver binds it" ||
        fail "port $p (${ifs[$p]}): want \"$want\" on Linux $kver: ${line:-no Port line}"
done
ping_through ns2 "$FERRITE_K3_IP" "AF_XDP on virtio_net"
afxdp_stop "$j" "${ifs[@]}"
for p in 0 1; do
    echo "  port $p: $(jv "$j" ".ports[$p] | \"RX \(.rx_packets) TX \(.tx_packets) drops \(.rx_drops)/\(.tx_drops)\"")"
    eq "port $p: frames received" "$(jv "$j" ".ports[$p].rx_packets > 20")" true
    eq "port $p: frames ferrite copied on TX (shared pool)" "$(jv "$j" ".ports[$p].xstats.tx_copied")" 0
done
finish
