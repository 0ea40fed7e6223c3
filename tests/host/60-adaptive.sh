# Adaptive RX on AF_XDP (NAPI-style: poll while busy, sleep in epoll_wait on
# the queues' sockets when idle), judged from outside by the kernel:
# ns0 <-> veth <-> [testpmd io --rx-mode adaptive, two AF_XDP ports] <->
# veth <-> ns1.
#   1. idle: the forwarding core's thread is seen asleep in epoll_wait (its
#      wait channel in /proc, tests/guest/lib/observe.bash, as the guest's
#      igb/virtio NAPI checks);
#   2. traffic wakes it: ping without loss and 8 MiB of TCP intact;
#   3. idle again afterwards: asleep in epoll_wait again; the report
#      balances, pools full.
# Control: the same with --rx-mode poll, whose core never sleeps, is never
# seen in epoll_wait (so the look above can tell the two apart).
# No timing or CPU-share assertion: a sleeping thread is seen in epoll_wait
# in at least one of 10 looks; a spinning one in none.
source "$(dirname "$0")/lib/net.bash"
source "$REPO/tests/guest/lib/observe.bash"
need_root
need_afxdp
need_testpmd
[[ $FWD == dpdk ]] && { echo "SKIP: looks at ferrite's forwarding thread (fwd-core-0) (FWD=dpdk)"; exit 77; }

T=${NETPFX}a
mkns "${T}n0"
mkns "${T}n1"
mkveth "${T}0" "${T}n0" "${T}0p" 10.99.60.1
mkveth "${T}1" "${T}n1" "${T}1p" 10.99.60.2
afxdp_ports "${T}0" "${T}1"

# asleep_looks NAME: how many of 10 looks found testpmd NAME's forwarding
# core in epoll_wait ("none" if it has no such thread).
asleep_looks() {
    local core
    core=$(thread_dir "$PMD" fwd-core-0) || { echo none; return; }
    epoll_looks "$core"
}

if start_pmd adaptive "${PORTS[@]}" --forward-mode=io --rx-mode adaptive --rxd 2048 --txd 2048; then
    sleep 1 # past the first idle rounds
    n=$(asleep_looks)
    [[ $n != none ]] && ((n > 0)) && pass "idle: the adaptive core seen asleep in epoll_wait ($n of 10 looks)" ||
        fail "idle: the adaptive core never seen in epoll_wait ($n of 10 looks; wchan $(cat "$(thread_dir "$PMD" fwd-core-0)/wchan" 2>/dev/null))"
    path_up "${T}n0" 10.99.60.2
    ping_ok "adaptive: through the bump" "${T}n0" 10.99.60.2 50
    tcp_xfer "adaptive: through the bump" "${T}n0" "${T}n1" 10.99.60.2 8
    sleep 1
    n=$(asleep_looks)
    [[ $n != none ]] && ((n > 0)) && pass "idle after the traffic: asleep in epoll_wait again ($n of 10 looks)" ||
        fail "idle after the traffic: never seen in epoll_wait ($n of 10 looks)"
    stop_pmd adaptive
    echo "  adaptive: sleeps $(jv "$W/adaptive.json" '[.streams[].sleeps] | add'), wake-ups $(jv "$W/adaptive.json" '[.streams[].interrupts] | add') (testpmd's own count)"
fi

if start_pmd poll "${PORTS[@]}" --forward-mode=io --rx-mode poll; then
    sleep 1
    n=$(asleep_looks)
    eq "control: idle core in --rx-mode poll, looks that found it in epoll_wait" "$n" 0
    path_up "${T}n0" 10.99.60.2
    ping_ok "poll: through the bump" "${T}n0" 10.99.60.2 10
    stop_pmd poll
fi
no_xdp_left "after both runs" "${T}0" "${T}1"
finish
