# testpmd -i on the AF_XDP bump ns0 <-> veth <-> [testpmd -i] <-> veth <-> ns1,
# driven through a FIFO as a user at the prompt, the kernel as the judge:
# nothing is forwarded before `start` (ping fails); after it ping and 4 MiB
# of TCP get through; after `stop` ping fails again. `port stop all`,
# `port config all rxd 1024`, `port start all` re-create the AF_XDP sockets
# with the new rings (`show port info` says 1024) and, after `start`, ping
# and TCP get through again. Closing the FIFO (end of input) quits: exit 0
# (runs balanced, every buffer back), no XDP program left.
source "$(dirname "$0")/lib/net.bash"
need_root
need_afxdp
need_testpmd
[[ $FWD == dpdk ]] && { echo "SKIP: drives ferrite's testpmd -i (FWD=dpdk)"; exit 77; }

T=${NETPFX}i
mkns "${T}n0"
mkns "${T}n1"
mkveth "${T}0" "${T}n0" "${T}0p" 10.99.70.1
mkveth "${T}1" "${T}n1" "${T}1p" 10.99.70.2
afxdp_ports "${T}0" "${T}1"

mkfifo "$W/cmds"
setsid "$TESTPMD" -i -l 0,1 --no-telemetry "${PORTS[@]}" --rxd 2048 --txd 2048 \
    <"$W/cmds" >"$W/i.out" 2>"$W/i.err" &
PMD=$!
PGIDS+=("$PMD")
exec 3>"$W/cmds" # the writer end, held: end of input only when closed

send() { echo "$*" >&3; }
# said PATTERN SECS FROM: waits up to SECS for a line matching PATTERN in
# the session's output past its first FROM lines; prints it.
said() {
    local i l
    for ((i = 0; i < $2 * 10; i++)); do
        l=$(tail -n +"$(($3 + 1))" "$W/i.out" | grep -m1 -- "$1") && { echo "$l"; return 0; }
        kill -0 "$PMD" 2>/dev/null || break
        sleep 0.1
    done
    return 1
}
lines() { wc -l <"$W/i.out"; }
# step WHAT PATTERN CMD...: sends the commands, waits for PATTERN.
step() {
    local what=$1 pat=$2 from
    shift 2
    from=$(lines)
    for c in "$@"; do send "$c"; done
    said "$pat" 20 "$from" >/dev/null && return 0
    fail "$what: no '$pat' from testpmd -i within 20 s; stderr:"
    tail -5 "$W/i.err" | sed 's/^/    /'
    return 1
}

forwarding() { # forwarding WHAT: ping and TCP through the bump
    path_up "${T}n0" 10.99.70.2
    ping_ok "$1" "${T}n0" 10.99.70.2 20
    tcp_xfer "$1" "${T}n0" "${T}n1" 10.99.70.2 4
}

if step "the prompt" '^Interactive-mode selected'; then
    ping_fails "ports started, forwarding not" "${T}n0" 10.99.70.2
    step "start" '^Logical core' start && forwarding "after start"
    step "stop" '^Done\.$' stop && ping_fails "after stop" "${T}n0" 10.99.70.2
    from=$(lines)
    step "port restart" '^TXDs number alignment' "port stop all" "port config all rxd 1024" "port start all" \
        "show port info 0"
    eq "port 0's rx ring after port config all rxd 1024" \
        "$(tail -n +"$((from + 1))" "$W/i.out" | sed -n 's/^Current number of RXDs per queue: //p')" 1024
    step "start again" '^Logical core' start && forwarding "after the port restart"
    step "stop again" '^Done\.$' stop
    exec 3>&-
    if wait_gone "$PMD" 30; then
        eq "testpmd -i exit status at end of input" "$RC" 0
        grep -q '^Bye\.\.\.$' "$W/i.out" && pass "quit at end of input" || fail "no Bye... at end of input"
    else
        fail "testpmd -i did not exit within 30 s of end of input:"
        describe_group "$PMD"
    fi
    grep -i 'error\|problem\|panick' "$W/i.err" | head -10 | sed 's/^/    /'
fi
no_xdp_left "after quit" "${T}0" "${T}1"
finish
