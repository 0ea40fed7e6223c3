# Bad input to an AF_XDP port: each must end testpmd with a non-zero exit
# status (not a panic, not a signal), a message that names the problem, and
# nothing left attached to the interface:
#   no such interface; interface down; no permission (root without
#   CAP_NET_ADMIN/CAP_BPF/CAP_SYS_ADMIN, user nobody, with the default pool
#   and with one that fits the locked-memory limit); user nobody with
#   AF_XDP's capabilities but a pool beyond the locked-memory limit (the
#   message names the limit and what to run); an XDP program
#   already attached by someone else (dpdk-testpmd's, live, then stale after
#   a SIGKILL, then another ferrite: the holder keeps its program); queue_count beyond the interface's queues;
#   a kernel without AF_XDP (made for testpmd alone by lib/no-af-xdp: a
#   seccomp filter gives socket(AF_XDP) the EAFNOSUPPORT such a kernel gives).
source "$(dirname "$0")/lib/net.bash"
need_root
need_afxdp
need_testpmd
[[ $FWD == dpdk ]] && { echo "SKIP: checks ferrite's own error messages (FWD=dpdk)"; exit 77; }

T=${NETPFX}e
mkpair "${T}a" "${T}b" 2

# refused WHAT REGEX IF [PREFIX...] -- TESTPMD-ARGS: testpmd must fail
# cleanly with a message matching REGEX (case-insensitive); IF keeps no program
# it did not have before.
refused() {
    local what=$1 re=$2 ifc=$3 before rc=0 out
    shift 3
    local -a pre=()
    while [[ $1 != -- ]]; do pre+=("$1"); shift; done
    shift
    before=$(xdp_prog "$ifc")
    run_bounded 30 "${pre[@]}" "$TESTPMD" -l 0,1 --no-telemetry --forward-mode io --port-topology loop --duration 2 "$@" \
        >"$W/bad.out" 2>"$W/bad.err" || rc=$?
    out=$(grep -v '^ *$' "$W/bad.err" | tail -3)
    echo "  $what: exit $rc: $out"
    ((rc != 0 && rc < 100)) && pass "$what: refused, exit status $rc" || fail "$what: exit status $rc (want 1..99)"
    grep -qi 'panick' "$W/bad.err" && fail "$what: testpmd panicked"
    grep -Eqi -- "$re" "$W/bad.err" && pass "$what: the message says /$re/" || fail "$what: message does not match /$re/"
    local after
    after=$(xdp_prog "$ifc")
    [[ $after == "$before" ]] && pass "$what: XDP program on $ifc as before (${before:-none})" ||
        fail "$what: XDP program on $ifc was '${before:-none}', is '${after:-none}'"
}

refused "no such interface" "${T}none.*(no such|not exist|not found)|(no such|not exist|not found).*${T}none" "${T}a" -- \
    --vdev "af_xdp0,iface=${T}none"
ip link set "${T}b" down # a veth's carrier follows its peer: both down
ip link set "${T}a" down
refused "interface down" "down" "${T}a" -- --vdev "af_xdp0,iface=${T}a"
ip link set "${T}a" up
ip link set "${T}b" up
refused "kernel without AF_XDP" "no AF_XDP sockets.*CONFIG_XDP_SOCKETS" "${T}a" \
    "$(dirname "$0")/lib/no-af-xdp" -- --vdev "af_xdp0,iface=${T}a"
refused "root without CAP_NET_ADMIN/CAP_BPF/CAP_SYS_ADMIN" "CAP_NET_ADMIN|CAP_BPF|permission" "${T}a" \
    setpriv --bounding-set=-net_admin,-bpf,-sys_admin,-net_raw,-perfmon -- --vdev "af_xdp0,iface=${T}a"
# As user nobody, with a pool small enough for the default 8 MiB locked-
# memory limit (RLIMIT_MEMLOCK), so that the AF_XDP port itself meets the
# missing privilege.
refused "user nobody (small pool)" "CAP_NET_ADMIN|CAP_BPF|permission|root" "${T}a" \
    setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all -- \
    --vdev "af_xdp0,iface=${T}a" --total-num-mbufs 1024 --rxd 256 --txd 256 --mbcache 32
# As plain user nobody with the default pool: refused for the missing
# capabilities (the AF_XDP socket is probed before any memory is taken).
refused "user nobody" "CAP_NET_ADMIN|CAP_BPF" "${T}a" \
    setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all -- --vdev "af_xdp0,iface=${T}a"
# User nobody given AF_XDP's capabilities (as `setcap` would) but not
# CAP_IPC_LOCK: the default pool (14 MiB locked) passes the 8 MiB locked-
# memory limit, and the message must say so: the limit (`ulimit -l`, its
# value), what the pool needs, and what to run.
caps=+net_raw,+net_admin,+bpf
memlock_kib=$(setpriv --reuid=65534 --regid=65534 --clear-groups -- bash -c 'ulimit -l')
if [[ $memlock_kib == unlimited ]]; then
    skip "user nobody's locked-memory limit is unlimited here: no limit to run into"
else
    refused "user nobody with AF_XDP capabilities, locked-memory limit ${memlock_kib} KiB" \
        "locked-memory limit.*needs [0-9]+ KiB.*ulimit -l.*is ${memlock_kib} KiB.*(root|CAP_IPC_LOCK).*--total-num-mbufs" \
        "${T}a" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=$caps --ambient-caps=$caps -- \
        --vdev "af_xdp0,iface=${T}a"
fi
refused "queue_count beyond the interface's 2 queues" "queue|channel" "${T}a" -- \
    --vdev "af_xdp0,iface=${T}a,queue_count=8" --rxq 8 --txq 8

# Someone else's XDP program: dpdk-testpmd's net_af_xdp holds ${T}a.
if command -v dpdk-testpmd >/dev/null; then
    DPDK_VDEVS=(--vdev "net_af_xdp0,iface=${T}a")
    if FWD=dpdk start_pmd dpdk-holder --forward-mode=rxonly; then
        held=$(xdp_prog "${T}a")
        [[ -n $held ]] && pass "dpdk-testpmd attached XDP program $held" || fail "dpdk-testpmd attached no XDP program"
        refused "interface held by dpdk-testpmd's XDP program" "already|in use|attached|busy" "${T}a" -- --vdev "af_xdp0,iface=${T}a"
        FWD=dpdk stop_pmd dpdk-holder
    fi
    # A stale program: dpdk-testpmd killed by SIGKILL leaves its program
    # attached (netlink attach). ferrite cannot tell it from a live one's:
    # refused, saying how to remove it; once removed, ferrite starts.
    if FWD=dpdk start_pmd dpdk-killed --forward-mode=rxonly; then
        kill -KILL -- "-$PMD"
        wait_gone "$PMD" 10
        stale=$(xdp_prog "${T}a")
        if [[ -n $stale ]]; then
            refused "stale XDP program $stale of a SIGKILLed dpdk-testpmd" "xdp off" "${T}a" -- --vdev "af_xdp0,iface=${T}a"
            ip link set dev "${T}a" xdp off
        else
            skip "dpdk-testpmd killed by SIGKILL left no XDP program: no stale program to test with"
        fi
    fi
else
    skip "dpdk-testpmd is not installed (scripts/setup-host installs it): no foreign XDP program to collide with"
fi
# ... and another ferrite holds it: the holder must keep its program.
if start_pmd holder --vdev "af_xdp0,iface=${T}a" --forward-mode rxonly --port-topology loop; then
    held=$(xdp_prog "${T}a")
    refused "interface held by another ferrite" "already|in use|attached|busy" "${T}a" -- --vdev "af_xdp0,iface=${T}a"
    eq "the holder's program is still the same" "$(xdp_prog "${T}a")" "$held"
    stop_pmd holder
fi
no_xdp_left "at the end" "${T}a" "${T}b"
finish
