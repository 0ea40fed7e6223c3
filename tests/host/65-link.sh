# Carrier changes as link events at the testpmd level, on the AF_XDP bump
# ns0 <-> veth <-> [testpmd io] <-> veth <-> ns1: while testpmd runs, the
# peer of port 0's veth (in ns0) is set down, then up again (`ip link set
# PEER down/up`: the veth loses, then regains its carrier). testpmd must
# print "Port 0: link down" after the first and "Port 0: link up" after the
# second (the port's link thread hears the kernel's netlink link events),
# port 1 must report no change, and traffic must resume after up: ping
# without loss and 4 MiB of TCP intact; the report balances, pools full.
source "$(dirname "$0")/lib/net.bash"
need_root
need_afxdp
need_testpmd
[[ $FWD == dpdk ]] && { echo "SKIP: reads ferrite testpmd's link event lines (FWD=dpdk)"; exit 77; }

T=${NETPFX}l
mkns "${T}n0"
mkns "${T}n1"
mkveth "${T}0" "${T}n0" "${T}0p" 10.99.65.1
mkveth "${T}1" "${T}n1" "${T}1p" 10.99.65.2
afxdp_ports "${T}0" "${T}1"

# new_line NAME FROM PATTERN SECS: waits up to SECS for a line matching
# PATTERN in testpmd NAME's output past its first FROM lines; prints it.
new_line() {
    local i l
    for ((i = 0; i < $4 * 10; i++)); do
        l=$(tail -n +"$(($2 + 1))" "$W/$1.err" | grep -m1 -- "$3") && { echo "$l"; return 0; }
        sleep 0.1
    done
    return 1
}
lines() { wc -l <"$W/$1.err"; }

if start_pmd link "${PORTS[@]}" --forward-mode=io --rxd 2048 --txd 2048; then
    path_up "${T}n0" 10.99.65.2
    ping_ok "before the link change" "${T}n0" 10.99.65.2 10

    from=$(lines link)
    ip -n "${T}n0" link set "${T}0p" down
    if l=$(new_line link "$from" 'Port 0: link down' 10); then pass "peer down: testpmd says '$l'"; else
        fail "peer down: no 'Port 0: link down' from testpmd within 10 s (${T}0: $(ip -br link show dev "${T}0"))"
    fi
    ping_fails "while port 0's link is down" "${T}n1" 10.99.65.1

    from=$(lines link)
    ip -n "${T}n0" link set "${T}0p" up
    if l=$(new_line link "$from" 'Port 0: link up' 10); then pass "peer up: testpmd says '$l'"; else
        fail "peer up: no 'Port 0: link up' from testpmd within 10 s (${T}0: $(ip -br link show dev "${T}0"))"
    fi
    # Traffic resumes: a ping answered within 10 tries; then, once the
    # veths have settled (right after the peer comes up a few frames can
    # be lost in the kernel, none counted by ferrite: seen 2 of 20 pings),
    # pings without loss and TCP intact.
    path_up "${T}n0" 10.99.65.2
    sleep 1
    ping_ok "after the link came back" "${T}n0" 10.99.65.2 20
    tcp_xfer "after the link came back" "${T}n0" "${T}n1" 10.99.65.2 4
    stop_pmd link
    eq "port 1 reported no link change" "$(grep -c 'Port 1: link' "$W/link.err")" 0
    # The 3 echo requests sent while port 0's link was down reached port 1
    # and were forwarded to port 0, which dropped them (counted).
    eq "port 0 counted the frames it could not send while down (>= 3)" \
        "$(jv "$W/link.json" '.ports[0].xstats.tx_link_down_drops >= 3')" true
fi
no_xdp_left "after the clean exit" "${T}0" "${T}1"
finish
