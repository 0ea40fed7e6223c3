# tests/host/lib/net.bash — what every host network test shares: verdicts,
# namespaces and veths that are always removed, processes that are always
# killed, testpmd started and stopped with the checks every run must pass.
# Sourced by tests/host/NN-*.sh (run by tests/host/run), not run.
#
# Verdicts (a script ends with `finish`):
#   pass/fail/skip MSG       one check; skip = it could not run here (counted)
#   eq WHAT GOT WANT         pass if equal, fail otherwise
#   need_root, need_afxdp    SKIP (exit 77) the whole script when not root / the
#                            kernel has no AF_XDP sockets
# Network (names get $NETPFX, default "fx", tests/host/run gives each run its
# own, then the script's TAG; every name made is deleted on exit, even after a
# failure or a kill by the runner):
#   mkns NS                  a namespace, lo up, IPv6 off (no stray frames)
#   mkveth ROOT NS NSIF IP [QUEUES]
#                            veth ROOT (root namespace, up, IPv6 off) <-> NSIF
#                            in NS with IP/24, up, checksum offload off (why:
#                            see no_csum_offload)
#   xdp_prog IF              the id of the XDP program attached to IF, or ""
# Processes (each in a process group of its own, killed with it on exit):
#   start_pmd NAME ARGS...   ferrite testpmd (or dpdk-testpmd, FWD=dpdk) in the
#                            background: $W/NAME.json, $W/NAME.err; fails if
#                            it does not start; sets PMD
#   stop_pmd NAME            SIGINT, bounded wait (stuck: described, killed),
#                            then exit status 0, accounting_ok, pools full and
#                            conservation (received = sent + counted drops)
#   run_bounded SECS CMD...  CMD in its own group; killed (and described) after SECS

REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
TESTPMD=${TESTPMD:-${CARGO_TARGET_DIR:-$REPO/target}/release/testpmd}
NETPFX=${NETPFX:-fx}
FWD=${FWD:-ferrite}
W=$(mktemp -d /tmp/hosttest.XXXX)
fails=0 skips=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
skip() { echo "SKIP: $*"; skips=$((skips + 1)); }
eq() {
    if [[ -n $2 && $2 == "$3" ]]; then pass "$1: $2"; else fail "$1: got '${2}', want '$3'"; fi
}
jv() { jq -r "$2" "$1" 2>/dev/null; }

# finish: the script's exit status (0 pass, 77 skip, 1 fail); reports are
# kept next to the runner's log.
finish() {
    [[ -n ${HOST_TEST_LOGDIR:-} ]] && cp -r "$W" "$HOST_TEST_LOGDIR/${0##*/}.reports" 2>/dev/null
    echo "$fails failure(s), $skips skipped check(s)"
    ((fails == 0)) || exit 1
    ((skips == 0)) || exit 77
    exit 0
}

need_root() {
    [[ $(id -u) == 0 ]] && return 0
    echo "SKIP: needs root (network namespaces, veths, XDP): run tests/host/run as root"
    exit 77
}
need_afxdp() {
    python3 -c 'import socket; socket.socket(44, socket.SOCK_RAW)' 2>/dev/null && return 0
    echo "SKIP: this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS)"
    exit 77
}
need_testpmd() {
    [[ $FWD == dpdk || -x $TESTPMD ]] && return 0
    echo "FAIL: $TESTPMD is missing: run \`cargo build --release -p ferrite-apps --bins\`"
    exit 1
}

# ------------------------------------------------------------- cleanup

NS_MADE=() LINKS_MADE=() PGIDS=()
cleanup() {
    local p ns l
    for p in "${PGIDS[@]}"; do
        kill -0 "$p" 2>/dev/null || continue
        echo "cleanup: killing process group $p ($(ps -o args= -p "$p" | cut -c1-120))"
        kill -KILL -- "-$p" 2>/dev/null
        wait "$p" 2>/dev/null # reaped here, so bash does not report it "Killed"
    done
    for ns in "${NS_MADE[@]}"; do ip netns del "$ns" 2>/dev/null; done
    # A namespace's veths die with it, but asynchronously: delete the root
    # ends too, so the next test can reuse the names at once.
    for l in "${LINKS_MADE[@]}"; do ip link del "$l" 2>/dev/null; done
    rm -rf "$W"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 143' TERM INT

# ------------------------------------------------------------- network

mkns() {
    ip netns add "$1" || { fail "could not create namespace $1"; finish; }
    NS_MADE+=("$1")
    ip -n "$1" link set lo up
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

# Why checksum offload goes off on the namespaces' veths: a veth hands its
# peer a frame whose TCP/UDP checksum is only partial (CHECKSUM_PARTIAL: the
# "hardware" was to finish it). AF_XDP sees the frame bytes only, so the
# partial checksum leaves the forwarder unchanged and the receiving stack
# drops every TCP segment (ping, whose checksum the stack computes, passes).
# Measured with dpdk-testpmd's net_af_xdp as well as ferrite.
no_csum_offload() { ip netns exec "$1" ethtool -K "$2" tx off tso off gso off >/dev/null; }

mkveth() {
    local root=$1 ns=$2 nsif=$3 ip=$4 q=${5:-1}
    ip link add "$root" numtxqueues "$q" numrxqueues "$q" type veth \
        peer name "$nsif" numtxqueues "$q" numrxqueues "$q" netns "$ns" ||
        { fail "could not create veth $root <-> $ns/$nsif"; finish; }
    LINKS_MADE+=("$root")
    sysctl -qw "net.ipv6.conf.$root.disable_ipv6=1"
    ip link set "$root" up
    ip -n "$ns" addr add "$ip/24" dev "$nsif"
    ip -n "$ns" link set "$nsif" up
    no_csum_offload "$ns" "$nsif"
}

# A root-namespace veth pair A <-> B, both up, IPv6 off.
mkpair() {
    local a=$1 b=$2 q=${3:-1}
    ip link add "$a" numtxqueues "$q" numrxqueues "$q" type veth peer name "$b" numtxqueues "$q" numrxqueues "$q" ||
        { fail "could not create veth $a <-> $b"; finish; }
    LINKS_MADE+=("$a")
    sysctl -qw "net.ipv6.conf.$a.disable_ipv6=1" "net.ipv6.conf.$b.disable_ipv6=1"
    ip link set "$a" up
    ip link set "$b" up
}

xdp_prog() { ip -d link show dev "$1" 2>/dev/null | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p' | head -1; }
# no_xdp_left WHAT IF...: none of the interfaces has an XDP program attached.
no_xdp_left() {
    local what=$1 i id
    shift
    for i in "$@"; do
        id=$(xdp_prog "$i")
        [[ -z $id ]] && pass "$what: no XDP program on $i" || fail "$what: XDP program $id left on $i"
    done
}

mac_of() { ip ${2:+-n "$2"} link show dev "$1" | awk '/link\/ether/ {print $2}'; }
# channels IF: current RX/TX channel counts (ethtool -l), as "RX/TX".
channels() { ethtool -l "$1" | awk '/^Current/ { c = 1 } c && /^RX:/ { r = $2 } c && /^TX:/ { t = $2 } END { print r "/" t }'; }

# ------------------------------------------------------------- processes

# describe_group PGID: what each process of a group is doing (for hangs).
describe_group() {
    ps -o pid=,stat=,wchan:32=,args= -g "$1" 2>/dev/null | sed 's/^/    stuck: /'
}

# wait_gone PID SECS: waits up to SECS for PID to exit; sets RC to its
# status. Status 1 (RC empty) if it is still running.
wait_gone() {
    local pid=$1 i
    RC=
    for ((i = 0; i < $2 * 10; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            RC=$?
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# run_bounded SECS CMD...: CMD in a process group of its own, foreground,
# killed with its group (after its processes are described) past SECS.
run_bounded() {
    local secs=$1 pid
    shift
    setsid "$@" &
    pid=$!
    PGIDS+=("$pid")
    if wait_gone "$pid" "$secs"; then return "$RC"; fi
    echo "run_bounded: '$*' did not end in $secs s:"
    describe_group "$pid"
    kill -KILL -- "-$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 124
}

# The DPDK side (FWD=dpdk, and scripts/bench-afxdp): dpdk-testpmd with a
# private hugetlbfs (lib/dpdk-testpmd).
DPDK_TESTPMD=$REPO/tests/host/lib/dpdk-testpmd

PMD=
# start_pmd NAME ARGS...: testpmd in the background (its own process group,
# SIGINT after PMD_TIMEOUT s, default 120, as a last resort).
start_pmd() {
    local name=$1 ready i
    shift
    if [[ $FWD == dpdk ]]; then
        # Same ports (DPDK_VDEVS from afxdp_ports), same testpmd options
        # but ferrite's --vdev ones.
        local -a args=()
        while (($#)); do
            if [[ $1 == --vdev ]]; then shift 2; else args+=("$1"); shift; fi
        done
        # -m 64 (32 of the 2 MiB pages; 8192 mbufs take 18 MiB): scripts/test
        # reserves only 64 pages, and with -m 256 two runs at once failed
        # "Not enough memory available".
        setsid "$DPDK_TESTPMD" -l 0,1 --no-pci -m 64 --file-prefix "$NETPFX$name" "${DPDK_VDEVS[@]}" -- \
            --total-num-mbufs=8192 --stats-period 1 "${args[@]}" >"$W/$name.json" 2>"$W/$name.err" </dev/null &
        ready='start packet forwarding'
    else
        local -a lc=(-l 0,1)
        [[ " $* " == *" -l "* ]] && lc=() # the caller chose the CPUs
        setsid "$TESTPMD" "${lc[@]}" --no-telemetry --json --xstats --stats-period 0.5 "$@" \
            >"$W/$name.json" 2>"$W/$name.err" </dev/null &
        ready='^Logical core'
    fi
    PMD=$!
    PGIDS+=("$PMD")
    for ((i = 0; i < 150; i++)); do
        grep -q "$ready" "$W/$name.json" "$W/$name.err" 2>/dev/null && return 0
        kill -0 "$PMD" 2>/dev/null || break
        sleep 0.1
    done
    tail -20 "$W/$name.err" | sed 's/^/    /'
    fail "$name: testpmd did not start ($*)"
    kill -KILL -- "-$PMD" 2>/dev/null
    return 1
}

# stop_pmd NAME: SIGINT, up to 20 s to exit, then the checks of every run.
stop_pmd() {
    local name=$1 j=$W/$1.json
    kill -INT "$PMD" 2>/dev/null
    if ! wait_gone "$PMD" 20; then
        fail "$name: testpmd did not exit within 20 s of SIGINT:"
        describe_group "$PMD"
        kill -KILL -- "-$PMD" 2>/dev/null
        return 1
    fi
    [[ $FWD == dpdk ]] && { eq "$name: dpdk-testpmd exit status" "$RC" 0; return 0; }
    eq "$name: testpmd exit status after SIGINT" "$RC" 0
    grep -i 'warn\|error\|panick' "$W/$name.err" | head -10 | sed 's/^/    /'
    check_report "$name"
}

# check_report NAME: accounting, pools and conservation of report NAME.json.
check_report() {
    local name=$1 j=$W/$1.json
    eq "$name: accounting_ok" "$(jv "$j" .accounting_ok)" true
    eq "$name: every mempool full after stop" "$(jv "$j" '[.mempools[] | .capacity == .available] | all')" true
    # Every frame received was sent on or counted as dropped (streams), and
    # the ports' own counters agree with the streams'.
    eq "$name: streams: rx + generated = tx + fwd_drops + consumed + drained" \
        "$(jv "$j" '[.streams[] | .rx + .generated - .tx - .fwd_drops - .consumed - .drained] | add')" 0
    eq "$name: ports' rx_packets = streams' rx" \
        "$(jv "$j" '([.ports[].rx_packets] | add) == ([.streams[].rx] | add)')" true
    # A driver may take a frame and drop it (link down, no buffer: counted
    # as tx_drops; oversize: tx_errors), so what the streams handed over is
    # what the ports sent plus what they counted as dropped.
    eq "$name: ports' tx_packets + tx_drops + tx_errors = streams' tx" \
        "$(jv "$j" '([.ports[] | .tx_packets + .tx_drops + .tx_errors] | add) == ([.streams[].tx] | add)')" true
    # What the kernel dropped before the socket must show as the port's
    # rx_missed: XDP_STATISTICS rx_dropped (no fill-ring buffer) plus
    # rx_ring_full (no room on the RX ring).
    local p
    for p in $(jv "$j" '.ports[] | select(.driver | test("xdp")) | .id'); do
        eq "$name: port $p rx_missed = the socket's rx_dropped + rx_ring_full" \
            "$(jv "$j" ".ports[$p].rx_missed")" "$(jv "$j" ".ports[$p].xstats | .rx_dropped + .rx_ring_full")"
    done
    for p in $(jv "$j" '.ports[].id'); do
        echo "  $name port $p: $(jv "$j" ".ports[$p] | \"\(.name) \(.driver): RX \(.rx_packets) pkts \(.rx_bytes) B, TX \(.tx_packets) pkts \(.tx_bytes) B, drops rx \(.rx_drops) tx \(.tx_drops) fwd \(.fwd_tx_drops) missed \(.rx_missed)\"")"
    done
}

# ------------------------------------------------------------- traffic

# path_up NS DST: up to 10 single pings, 1 s apart, until one is answered
# (a forwarder may still be bringing its ports up when it says it started;
# DPDK under load took over a second). The counted pings come after.
path_up() {
    local i
    for ((i = 0; i < 10; i++)); do
        ip netns exec "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1 && return 0
    done
    echo "  path_up: no answer from $2 in 10 tries"
}
ping_ok() { # ping_ok WHAT NS DST COUNT
    local out
    # -w, not -W: with -W, once replies have come ping waits only two round
    # trips for the last ones, and a reply a loaded host delayed by 5 ms was
    # counted lost (the namespaces' ICMP counters showed every reply in);
    # with -w it waits for all COUNT replies, up to 20 s.
    out=$(ip netns exec "$2" ping -c "$4" -i 0.02 -w 20 "$3" 2>&1)
    if grep -q ' 0% packet loss' <<<"$out"; then
        pass "$1: $4 pings to $3, 0% loss"
    else
        fail "$1: ping $3: $(tail -2 <<<"$out" | tr '\n' ' ')"
        where_lost
    fi
}
# After a loss: which side saw what — each namespace's ICMP echo counters
# and every link of this run with its drop counters, the kernel's backlog
# drops per CPU.
where_lost() {
    local ns
    for ns in $(ip netns list | awk -v p="$NETPFX" 'index($1, p) == 1 { print $1 }'); do
        echo "  $ns: $(ip netns exec "$ns" nstat -az 2>/dev/null | awk '/^Icmp(In|Out)Echo/ { printf "%s=%s ", $1, $2 }')"
        ip netns exec "$ns" ip -s link show 2>/dev/null | sed 's/^/    /'
    done
    ip -s link show 2>/dev/null | awk -v p="$NETPFX" '/^[0-9]+:/ { show = index($2, p) == 1 } show' | sed 's/^/    /'
    local _ dropped per_cpu=()
    while read -r _ dropped _; do per_cpu+=($((16#$dropped))); done </proc/net/softnet_stat
    echo "  softnet backlog drops per CPU: ${per_cpu[*]}"
}
ping_fails() { # ping_fails WHAT NS DST: 3 echo requests, none answered
    local out
    out=$(ip netns exec "$2" ping -c 3 -i 0.2 -W 1 "$3" 2>&1)
    grep -q ' 100% packet loss' <<<"$out" && pass "$1: ping $3 fails" ||
        fail "$1: ping $3 got through: $(tail -2 <<<"$out" | tr '\n' ' ')"
}

# tcp_xfer WHAT NS_FROM NS_TO DST_IP MB: MB megabytes over one TCP
# connection, SHA-256 of what was sent against what arrived.
tcp_xfer() {
    local what=$1 from=$2 to=$3 dst=$4 mb=$5 want got srv t0 t1 rc=0
    head -c $((mb * 1048576)) /dev/urandom >"$W/send.bin"
    want=$(sha256sum <"$W/send.bin" | cut -d' ' -f1)
    setsid ip netns exec "$to" socat -u TCP-LISTEN:5201,reuseaddr OPEN:"$W/recv.bin",creat,trunc &
    srv=$!
    PGIDS+=("$srv")
    sleep 0.3
    t0=$EPOCHREALTIME
    run_bounded 60 ip netns exec "$from" socat -u OPEN:"$W/send.bin" "TCP:$dst:5201,retry=20,interval=0.2" || rc=$?
    wait_gone "$srv" 20 || { echo "  receiver still running:"; describe_group "$srv"; kill -KILL -- "-$srv"; }
    t1=$EPOCHREALTIME
    got=$(sha256sum <"$W/recv.bin" 2>/dev/null | cut -d' ' -f1)
    echo "  $what: $mb MiB in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s (sender status $rc)"
    [[ $got == "$want" ]] && pass "$what: $mb MiB over TCP, SHA-256 identical" ||
        fail "$what: TCP transfer stalled or corrupted: $(stat -c %s "$W/recv.bin" 2>/dev/null || echo 0) of $((mb * 1048576)) bytes arrived"
    rm -f "$W/send.bin" "$W/recv.bin"
}

# afxdp_ports IF...: AF_XDP ports on the interfaces, in order: PORTS for
# ferrite (--vdev af_xdp0,iface=IF ...), DPDK_VDEVS for dpdk-testpmd
# (net_af_xdp0,...). QARGS (e.g. ",queue_count=4") is appended to each.
afxdp_ports() {
    local i=0 f
    PORTS=() DPDK_VDEVS=()
    for f in "$@"; do
        PORTS+=(--vdev "af_xdp$i,iface=$f${QARGS:-}")
        DPDK_VDEVS+=(--vdev "net_af_xdp$i,iface=$f${QARGS:-}")
        i=$((i + 1))
    done
}

# rx_so_far NAME PORT: frames received so far by PORT of testpmd NAME, all
# queues (the last "port P queue Q: RX N" row of each queue, summed).
rx_so_far() {
    grep -o "port $2 queue [0-9]*: RX [0-9]*" "$W/$1.err" 2>/dev/null |
        awk '{ last[$4] = $6 } END { for (q in last) s += last[q]; print s + 0 }'
}
# wait_rx NAME PORT WANT: until PORT has received WANT frames, or its count
# has not moved for 2 s (at most 30 s).
wait_rx() {
    local seen last=-1 still=0 i
    for ((i = 0; i < 100; i++)); do
        seen=$(rx_so_far "$1" "$2")
        ((seen >= $3)) && return 0
        if ((seen == last)); then still=$((still + 1)); else still=0; fi
        ((still >= 7)) && return 1
        last=$seen
        sleep 0.3
    done
    return 1
}
