# tests/guest/lib/afxdp.bash — helpers of the guest scripts that run
# ferrite's AF_XDP port on NICs the kernel drives (bump/70 on igb, bump/72 on
# virtio_net). Sourced after lib/testpmd.bash (pass, fail, eq, jv, $W,
# $TESTPMD, $repo).

# kernel_ifaces MTU BDF...: gives each PCI function back to its kernel
# driver, sets its interface up (with MTU, unless "-") and waits up to 15 s
# for its carrier (autonegotiation under TCG); the interfaces in IFS. Exits
# the script when a function has no interface.
kernel_ifaces() {
    local mtu=$1 bdf ifc
    shift
    "$repo/scripts/devbind" --force --restore "$@" >"$W/devbind.out" 2>&1 ||
        { cat "$W/devbind.out"; fail "could not give $* back to the kernel"; finish; exit 1; }
    IFS_=()
    for bdf in "$@"; do
        # a virtio function's interface is under its virtio device
        ifc=$(ls "/sys/bus/pci/devices/$bdf/net" /sys/bus/pci/devices/"$bdf"/virtio*/net 2>/dev/null | grep -v '^/\|^$' | head -1)
        [[ -n $ifc ]] || { fail "$bdf has no network interface after devbind --restore"; finish; exit 1; }
        echo "  $bdf: $ifc, driver $(basename "$(readlink "/sys/bus/pci/devices/$bdf/driver")")"
        if [[ $mtu == - ]]; then ip link set "$ifc" up; else ip link set "$ifc" mtu "$mtu" up; fi
        IFS_+=("$ifc")
    done
    for ifc in "${IFS_[@]}"; do
        for _ in $(seq 150); do [[ $(cat "/sys/class/net/$ifc/carrier" 2>/dev/null) == 1 ]] && break; sleep 0.1; done
        eq "$ifc carrier" "$(cat "/sys/class/net/$ifc/carrier" 2>/dev/null)" 1
    done
}

# combined_channels IF: the interface's current combined channel count (1
# when ethtool says none).
combined_channels() {
    local n
    n=$(ethtool -l "$1" | awk '/^Current/ { c = 1 } c && /^Combined:/ { print $2 }')
    [[ $n =~ ^[1-9][0-9]*$ ]] && echo "$n" || echo 1
}

# afxdp_start JSON ARGS...: testpmd (io forwarding, JSON report to JSON,
# its stderr to $W/afxdp.err) in the background as AFXDP_PMD, waited for
# 15 s; exits the script when it does not start.
afxdp_start() {
    local j=$1
    shift
    timeout --foreground -k 5 -s INT 120 "$TESTPMD" -l 0,1 "$@" --forward-mode io \
        --json --xstats --stats-period 1 --no-telemetry >"$j" 2>"$W/afxdp.err" &
    AFXDP_PMD=$!
    for _ in $(seq 150); do grep -q '^Logical core' "$W/afxdp.err" && break; kill -0 $AFXDP_PMD 2>/dev/null || break; sleep 0.1; done
    grep -q '^Logical core' "$W/afxdp.err" || { cat "$W/afxdp.err"; fail "testpmd did not start ($*)"; finish; exit 1; }
    grep '^Port [0-9]' "$W/afxdp.err" | sed 's/^/  /'
}

# afxdp_stop JSON IF...: SIGINT to AFXDP_PMD, then the checks every run
# must pass: exit status 0, pools full and accounting_ok in JSON, no XDP
# program left on any IF.
afxdp_stop() {
    local j=$1 rc ifc
    shift
    kill -INT "$AFXDP_PMD"
    wait "$AFXDP_PMD"
    rc=$?
    eq "testpmd exit status after SIGINT" "$rc" 0
    eq "mempools full, accounting_ok" "$(jv "$j" '([.mempools[] | .capacity == .available] | all) and .accounting_ok')" true
    for ifc in "$@"; do
        ip -d link show dev "$ifc" | grep -q 'prog/xdp' && fail "$ifc: XDP program left after exit" || pass "$ifc: no XDP program after exit"
    done
}

# ping_through NS IP WHAT: single pings until one is answered (attaching
# XDP may reset a NIC: its link comes back in seconds under TCG), then 20
# counted ones, which must all be answered.
ping_through() {
    local ns=$1 ip=$2 what=$3 out
    for _ in $(seq 20); do ip netns exec "$ns" ping -c 1 -W 1 "$ip" >/dev/null 2>&1 && break; done
    out=$(ip netns exec "$ns" ping -c 20 -i 0.05 -w 20 "$ip" 2>&1)
    tail -2 <<<"$out" | sed 's/^/  /'
    grep -q ' 0% packet loss' <<<"$out" && { pass "ping $ns -> $ip through $what: 0% loss"; return; }
    fail "ping $ns -> $ip through $what: $(tail -2 <<<"$out" | tr '\n' ' ')"
    local ifc # what each side saw
    for ifc in "${IFS_[@]}"; do ip -s link show dev "$ifc" | sed 's/^/    /'; done
    ip -n "$ns" -s link show | sed "s/^/    $ns: /"
    ip -n "$ns" neigh | sed "s/^/    $ns neigh: /"
}
