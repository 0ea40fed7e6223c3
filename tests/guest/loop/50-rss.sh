#!/usr/bin/env bash
# tests/guest/loop/50-rss.sh — RSS on QEMU's igb (loop layout: igb0 <-> igb1):
# flowgen on igb0 (256 UDP flows) -> rxonly on igb1 with --rxq 2 and --rxq 4
# (RSS hash types ip,udp: MRQC, RSSRK, RETA, RXCSUM.PCSD programmed by the
# driver):
#   * every configured RX queue of igb1 gets traffic, nothing is lost, and
#     the per-queue counters add up to the port's;
#   * a given flow always lands on the same queue: one flow (txonly) lands
#     entirely on one queue, and the same 256 flows sent twice give exactly
#     the same per-queue split;
#   * /port/rss over telemetry shows the key, the table and the hash types.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"

COUNT=4000 # fits in one queue's rx ring: see 40-testpmd-txrx.sh
RATE=20000

# send NAME MODE [args]: txonly/flowgen on igb0, COUNT frames at RATE pps.
send() {
    local name=$1 mode=$2
    shift 2
    "$TESTPMD" -l 0,1 -a "$FERRITE_IGB0" --port-topology loop --forward-mode "$mode" --txd 4096 --json \
        --no-telemetry --tx-count "$COUNT" --tx-rate "$RATE" "$@" >"$W/$name.json" 2>"$W/$name.err"
    TX_RC=$?
}

# split FILE: the rx queues' packet counts, "a/b/c/d".
split() { jv "$1" '[.ports[0].queues[] | .rx_packets] | map(tostring) | join("/")'; }

rss_run() {
    local name=$1 nq=$2 mode=$3
    shift 3
    rx_start "$name.rx" --rxq "$nq" --rss-types ip,udp --telemetry-dir "$W/tel.$name"
    local sock
    sock=$(ls "$W/tel.$name"/*.sock 2>/dev/null | head -1)
    if ! command -v socat >/dev/null; then
        skip "$name: no socat in the guest (scripts/setup-host installs it): /port/rss not read"
    elif [[ -z $sock ]]; then
        fail "$name: no telemetry socket in $W/tel.$name"
    else
        printf '/port/rss,0\n' | socat -t 2 - "UNIX-CONNECT:$sock" | tail -1 >"$W/$name.rss.json"
    fi
    send "$name.tx" "$mode" "$@"
    rx_stop "$name.rx" $((COUNT * 2)) # queue 0 alone never reaches it: waits until it stays put
    eq "$name: txonly/flowgen exit" "$TX_RC" 0
    eq "$name: rxonly exit" "$RX_RC" 0
    local rx=$W/$name.rx.json
    eq "$name: frames received" "$(jv "$rx" '.ports[0].rx_packets')" "$COUNT"
    eq "$name: queues configured" "$(jv "$rx" '.ports[0].queues | length')" "$nq"
    eq "$name: accounting_ok" "$(jv "$rx" .accounting_ok)" true
    echo "$name: per-queue split $(split "$rx")"
}

for nq in 2 4; do
    rss_run "flows$nq" "$nq" flowgen --flowgen-flows 256
    eq "rxq $nq: every queue got traffic" \
        "$(jv "$W/flows$nq.rx.json" '[.ports[0].queues[].rx_packets | select(. > 0)] | length')" "$nq"
    if command -v socat >/dev/null; then
        eq "rxq $nq: /port/rss enabled, 128 entries, hash types" \
            "$(jq -r '.["/port/rss"] | "\(.enabled)/\(.reta | length)/\(.hash_types)"' "$W/flows$nq.rss.json")" \
            "true/128/ipv4,ipv4-udp,ipv6,ipv6-udp"
    fi
done

# The same flows again: the very same split (each flow hashes to one queue).
rss_run again4 4 flowgen --flowgen-flows 256
eq "same 256 flows twice: same per-queue split" "$(split "$W/again4.rx.json")" "$(split "$W/flows4.rx.json")"

# One flow: every frame on one queue.
rss_run one4 4 txonly
eq "one flow: exactly one queue got frames" \
    "$(jv "$W/one4.rx.json" '[.ports[0].queues[].rx_packets | select(. > 0)] | length')" 1

finish
