#!/usr/bin/env bash
# tests/guest/loop/45-testpmd-interactive.sh — `testpmd -i` on the two igb
# NICs (loop layout: igb0 and igb1 on one wire), driven through a FIFO as a
# user at the prompt; what only hardware exercises:
#   * port stop / port config all rxq 4, txq 4, rxd 1024 / port start: the
#     82576 reconfigured after a stop (`show port info`: 1024 descriptors;
#     `show port 0 rss reta`: RSS spreads over all 4 queues);
#   * start tx_first: frames circulate, both ports receive;
#   * promiscuous mode off: tx_first's frames (to 02:00:00:00:00:0N, not the
#     ports' own MACs) are dropped by the NIC's own filter, none received;
#     on again: they are received;
#   * port config mtu on a stopped port: `show port info` says the new MTU;
#   * set link-down / link-up port 1: its link status follows (igb's
#     CTRL.SLU; up again after autonegotiation);
#   * end of input quits with exit 0 (every run balanced, pools full).
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"

mkfifo "$W/cmds"
timeout --foreground -k 5 -s INT 400 "$TESTPMD" -i -l 0,1 -a "$FERRITE_IGB0" -a "$FERRITE_IGB1" --no-telemetry \
    "${POLL[@]}" <"$W/cmds" >"$W/i.out" 2>"$W/i.err" &
pmd=$!
exec 3>"$W/cmds" # the writer end, held: end of input only when closed
send() { echo "$*" >&3; }
lines() { wc -l <"$W/i.out"; }
# said PATTERN SECS FROM: the first line matching PATTERN past the first
# FROM lines of the session's output, waited for up to SECS.
said() {
    local i l
    for ((i = 0; i < $2 * 10; i++)); do
        l=$(tail -n +"$(($3 + 1))" "$W/i.out" | grep -m1 -- "$1") && { echo "$l"; return 0; }
        kill -0 "$pmd" 2>/dev/null || break
        sleep 0.1
    done
    return 1
}
# step WHAT PATTERN CMD...: sends the commands, waits for PATTERN in what
# they print; the output since the commands in $W/step.out.
step() {
    local what=$1 pat=$2 from c
    shift 2
    from=$(lines)
    for c in "$@"; do send "$c"; done
    if said "$pat" 60 "$from" >/dev/null; then
        tail -n +"$((from + 1))" "$W/i.out" >"$W/step.out"
        return 0
    fi
    fail "$what: no '$pat' from testpmd -i within 60 s; its stderr:"
    tail -5 "$W/i.err" | sed 's/^/    /'
    return 1
}
# rx_of PORT: RX-packets of `show port stats PORT` in $W/step.out.
rx_of() { awk -v p="$1" '/NIC statistics for port/ { cur = $(NF - 1) } /RX-packets:/ && cur == p { print $2 }' "$W/step.out" | tail -1; }
tx_of() { awk -v p="$1" '/NIC statistics for port/ { cur = $(NF - 1) } /TX-packets:/ && cur == p { print $2 }' "$W/step.out" | tail -1; }
# circulate WHAT WANT_RX: clear, start tx_first 4, then `show port stats
# all` until both ports sent their 128 first frames and, when WANT_RX is
# "some", both received some (up to 60 tries: a bound, not a timing check);
# stop. $W/step.out holds the last stats shown before the stop.
circulate() {
    local i
    step "$1: start" '^Logical core' "clear port stats all" "start tx_first 4" || return 1
    for ((i = 0; i < 60; i++)); do
        step "$1: stats" 'NIC statistics for port 1' "show port stats all" || return 1
        if [[ $(tx_of 0) -ge 128 && $(tx_of 1) -ge 128 ]]; then
            [[ $2 != some ]] && break
            [[ $(rx_of 0) -gt 0 && $(rx_of 1) -gt 0 ]] && break
        fi
        sleep 1
    done
    cp "$W/step.out" "$W/stats.out"
    step "$1: stop" '^Done\.$' stop
    cp "$W/stats.out" "$W/step.out"
    echo "  $1: TX $(tx_of 0)/$(tx_of 1), RX $(rx_of 0)/$(rx_of 1)"
}

if step "the prompt" '^Interactive-mode selected'; then
    if step "reconfigure" 'TXDs number alignment' "port stop all" "port config all rxq 4" "port config all txq 4" \
        "port config all rxd 1024" "port start all" "show port info 0"; then
        eq "port 0: RX descriptors after port config all rxd 1024" \
            "$(sed -n 's/^Current number of RXDs per queue: //p' "$W/step.out" | tail -1)" 1024
    fi
    if step "rss reta" 'hash index=127' "show port 0 rss reta"; then
        eq "port 0: queues in the redirection table" \
            "$(sed -n 's/.*queue=\([0-9]*\)$/\1/p' "$W/step.out" | sort -un | tr '\n' ' ')" "0 1 2 3 "
    fi
    if circulate "promiscuous (the default)" some; then
        r0=$(rx_of 0) r1=$(rx_of 1)
        [[ ${r0:-0} -gt 0 && ${r1:-0} -gt 0 ]] && pass "promiscuous: both ports receive ($r0, $r1)" ||
            fail "promiscuous: port RX-packets $r0 $r1"
    fi
    step "promisc off" 'Promiscuous mode: disabled' "set promisc all off" "show port info 0"
    if circulate "promiscuous off" none; then
        [[ $(tx_of 0) -ge 128 && $(tx_of 1) -ge 128 ]] && pass "promiscuous off: both ports sent tx_first's frames" ||
            fail "promiscuous off: the ports sent $(tx_of 0)/$(tx_of 1) frames, not 128 each"
        eq "promiscuous off: frames to a foreign MAC received (port 0, port 1)" "$(rx_of 0) $(rx_of 1)" "0 0"
    fi
    step "promisc on" 'Promiscuous mode: enabled' "set promisc all on" "show port info 0"
    if circulate "promiscuous on again" some; then
        r0=$(rx_of 0)
        [[ ${r0:-0} -gt 0 ]] && pass "promiscuous on again: port 0 receives ($r0)" || fail "promiscuous on again: port 0 RX-packets $r0"
    fi
    if step "mtu" '^MTU: ' "port stop 0" "port config mtu 0 1400" "port start 0" "show port info 0"; then
        eq "port 0 MTU after port config mtu 0 1400" "$(sed -n 's/^MTU: //p' "$W/step.out" | tail -1)" 1400
    fi
    if step "link down" '^Link status: ' "set link-down port 1" "show port info 1"; then
        eq "port 1 link after set link-down" "$(sed -n 's/^Link status: //p' "$W/step.out" | tail -1)" down
    fi
    send "set link-up port 1"
    up=down
    for _ in $(seq 30); do # autonegotiation under TCG takes seconds
        step "link up" '^Link status: ' "show port info 1" || break
        up=$(sed -n 's/^Link status: //p' "$W/step.out" | tail -1)
        [[ $up == up ]] && break
        sleep 1
    done
    eq "port 1 link after set link-up" "$up" up
fi
exec 3>&-
wait "$pmd"
rc=$?
eq "testpmd -i exit status at end of input (runs balanced, pools full)" "$rc" 0
grep -q '^Bye\.\.\.$' "$W/i.out" && pass "quit at end of input" || fail "no 'Bye...' at end of input"
grep -i 'error\|problem\|panick' "$W/i.err" | head -10 | sed 's/^/    /'
finish
