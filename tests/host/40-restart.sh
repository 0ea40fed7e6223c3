# SIGKILL, then restart on the same interfaces: a run killed with SIGKILL
# cannot detach its XDP programs itself (the kernel may: see below), and the
# next start on the same interfaces must work: ping through it. After its clean exit (SIGINT) no XDP program is
# left on either interface. Promiscuous mode (testpmd's default) raises each
# interface's promiscuity count (`ip -d link`: promiscuity N) while a run
# lives, and it is back to its value before the run after the SIGKILL as
# well as after the clean exit. The interfaces have one channel of two and
# each run asks for two queues (queue_count=2): ferrite raises the channels,
# the SIGKILLed run leaves them raised and its note of the counts it found
# in /run/ferrite/af_xdp, and the restarted run puts them back at its clean
# exit.
source "$(dirname "$0")/lib/net.bash"
need_root
need_afxdp
need_testpmd

T=${NETPFX}k
mkns "${T}n0"
mkns "${T}n1"
mkveth "${T}0" "${T}n0" "${T}0p" 10.99.40.1 2
mkveth "${T}1" "${T}n1" "${T}1p" 10.99.40.2 2
ethtool -L "${T}0" rx 1 tx 1 && ethtool -L "${T}1" rx 1 tx 1
QARGS=,queue_count=2 afxdp_ports "${T}0" "${T}1"
Q=(--rxq 2 --txq 2)
# channels_are WHAT WANT: rx/tx channel counts of both interfaces.
channels_are() { eq "$1: channels (rx/tx) of ${T}0 ${T}1" "$(channels "${T}0") $(channels "${T}1")" "$2"; }
# notes: how many of ferrite's channel notes name these interfaces.
notes() { ls /run/ferrite/af_xdp 2>/dev/null | grep -c -- "-${T}[01]\$"; }
channels_are "before any run" "1/1 1/1"

promiscuity() { ip -d link show dev "$1" | grep -o 'promiscuity [0-9]*' | cut -d' ' -f2; }
# promisc_is WHAT WANT0 WANT1: the promiscuity counts of both interfaces.
promisc_is() { eq "$1: promiscuity of ${T}0 ${T}1" "$(promiscuity "${T}0") $(promiscuity "${T}1")" "$2 $3"; }
# A user's own promiscuous setting on ${T}1 must survive ferrite's runs.
ip link set "${T}1" promisc on
p0=$(promiscuity "${T}0") p1=$(promiscuity "${T}1")
echo "  promiscuity before any run: ${T}0 $p0, ${T}1 $p1"

if start_pmd first "${PORTS[@]}" "${Q[@]}" --forward-mode=io; then
    path_up "${T}n0" 10.99.40.2
    ping_ok "first run" "${T}n0" 10.99.40.2 10
    promisc_is "while the first run lives (one more each)" $((p0 + 1)) $((p1 + 1))
    kill -KILL -- "-$PMD"
    wait_gone "$PMD" 10 || fail "first run: still alive 10 s after SIGKILL"
    # Either the kernel detached the dead run's programs (ferrite attaches
    # through a bpf_link, which dies with its last descriptor), or they
    # stayed (a netlink attach, as DPDK 22.11's libxdp does) and the restart
    # below must cope with them.
    stale0=$(xdp_prog "${T}0") stale1=$(xdp_prog "${T}1")
    if [[ -z $stale0$stale1 ]]; then
        pass "after SIGKILL the kernel detached the dead run's XDP programs"
    else
        pass "after SIGKILL the dead run's XDP programs stay ('$stale0', '$stale1'): the restart must cope"
    fi
    ping_fails "after SIGKILL (nothing forwards)" "${T}n0" 10.99.40.2
    promisc_is "after SIGKILL (as before the run)" "$p0" "$p1"
    channels_are "after SIGKILL (left raised)" "2/2 2/2"
    eq "after SIGKILL: the dead run's channel notes" "$(notes)" 2
    if start_pmd second "${PORTS[@]}" "${Q[@]}" --forward-mode=io; then
        path_up "${T}n0" 10.99.40.2
        ping_ok "restarted on the same interfaces" "${T}n0" 10.99.40.2 30
        now0=$(xdp_prog "${T}0")
        [[ -n $now0 ]] && pass "restarted run has XDP program $now0 on ${T}0" || fail "restarted run: no XDP program on ${T}0"
        stop_pmd second
        no_xdp_left "after the restarted run's clean exit" "${T}0" "${T}1"
        promisc_is "after the clean exit (as before the run)" "$p0" "$p1"
        channels_are "after the restarted run's clean exit (put back)" "1/1 1/1"
        eq "after the clean exit: channel notes left" "$(notes)" 0
    fi
fi
finish
