# The partial-checksum fact, and ferrite's way past it. The namespaces'
# veths here keep their checksum offload ON, so their TCP segments leave
# with a partial checksum (CHECKSUM_PARTIAL) that AF_XDP hands on as is:
# 1. io forwarding: ping passes (the stack completes ICMP checksums), but
#    TCP does not: of 4 MiB, less than all arrives within 15 s, and ns1
#    counts TCP checksum errors (TcpExt/Tcp InCsumErrors) — the fact the
#    README states; if this ever passes, the kernel changed and the README
#    must too;
# 2. csum forwarding (--forward-mode csum, --eth-peer the namespaces' MACs)
#    completes every checksum in software: 32 MiB of TCP arrive intact, and
#    the report balances.
source "$(dirname "$0")/lib/net.bash"
need_root
need_afxdp
need_testpmd
[[ $FWD == dpdk ]] && { echo "SKIP: csum forwarding with --eth-peer is ferrite's (FWD=dpdk)"; exit 77; }

T=${NETPFX}c
mkns "${T}n0"
mkns "${T}n1"
no_csum_offload() { :; } # this test keeps the veths' offloads on
mkveth "${T}0" "${T}n0" "${T}0p" 10.99.15.1
mkveth "${T}1" "${T}n1" "${T}1p" 10.99.15.2
eq "ns0's veth transmit checksum offload" "$(ip netns exec "${T}n0" ethtool -k "${T}0p" | awk '/^tx-checksumming:/ {print $2}')" on
afxdp_ports "${T}0" "${T}1"
csum_errors() { ip netns exec "${T}n1" awk '$1 == "Tcp:" && !h { for (i = 2; i <= NF; i++) if ($i == "InCsumErrors") c = i; h = 1; next }
    $1 == "Tcp:" { print $c }' /proc/net/snmp; }

if start_pmd io "${PORTS[@]}" --forward-mode io; then
    path_up "${T}n0" 10.99.15.2
    ping_ok "io, offloads on" "${T}n0" 10.99.15.2 20
    err0=$(csum_errors)
    head -c $((4 * 1048576)) /dev/urandom >"$W/send.bin"
    setsid ip netns exec "${T}n1" socat -u TCP-LISTEN:5202,reuseaddr OPEN:"$W/recv.bin",creat,trunc &
    srv=$!
    PGIDS+=("$srv")
    sleep 0.3
    run_bounded 15 ip netns exec "${T}n0" socat -u OPEN:"$W/send.bin" "TCP:10.99.15.2:5202,retry=20,interval=0.2" >/dev/null 2>&1
    kill -KILL -- "-$srv" 2>/dev/null
    wait "$srv" 2>/dev/null
    got=$(stat -c %s "$W/recv.bin" 2>/dev/null || echo 0)
    ((got < 4 * 1048576)) && pass "io, offloads on: TCP fails as documented ($got of $((4 * 1048576)) bytes in 15 s)" ||
        fail "io, offloads on: all 4 MiB arrived: partial checksums no longer reach ns1 (update the README's checksum note)"
    errs=$(($(csum_errors) - err0))
    ((errs > 0)) && pass "io, offloads on: ns1 counted $errs TCP checksum errors" || fail "io, offloads on: ns1 counted no TCP checksum error"
    stop_pmd io
fi

mac0=$(mac_of "${T}0p" "${T}n0") mac1=$(mac_of "${T}1p" "${T}n1")
if start_pmd csum "${PORTS[@]}" --forward-mode csum --eth-peer "0,$mac0" --eth-peer "1,$mac1"; then
    path_up "${T}n0" 10.99.15.2
    ping_ok "csum, offloads on" "${T}n0" 10.99.15.2 20
    tcp_xfer "csum, offloads on" "${T}n0" "${T}n1" 10.99.15.2 32
    stop_pmd csum
    echo "  csum streams: $(jv "$W/csum.json" '[.streams[] | "\(.rx_port)->\(.tx_port): sw \(.tx_cksum_sw) offload \(.tx_cksum_offload)"] | join("; ")')"
    eq "csum: checksums completed in software (tx_cksum_sw > 0)" "$(jv "$W/csum.json" '[.streams[].tx_cksum_sw] | add > 0')" true
fi
finish
