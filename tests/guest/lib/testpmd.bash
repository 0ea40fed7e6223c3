# tests/guest/lib/testpmd.bash — helpers for the guest tests that drive the
# igb NICs (or the loop layout's virtio-net NICs) through ferrite's testpmd
# (tests/guest/*/40-testpmd-*.sh, loop/7*-virtio-*.sh).
# Sourced, not run (the runner only runs tests/guest/<layout>/*.sh).
#
#   use_virtio                        the helpers below drive virtio0 (tx)
#                                     and virtio1 (rx) instead of igb0/igb1,
#                                     with rings the virtio queues hold, and
#                                     check_exact skips igb's hardware counters
#   virtio_preflight                  FERRITE_VIRTIO0/1 set, both on vfio-pci in
#                                     IOMMU groups of their own (fails if not)
#   ferrite_virtio_or_skip            SKIP (exit 77) the script when this build
#                                     of ferrite has no driver for 1af4:1041
#   rx_start NAME [testpmd args...]   rxonly on igb1 in the background (its
#                                     main thread on CPU 1, forwarding on 0)
#   tx_run NAME [testpmd args...]     txonly on igb0 in the foreground (main
#                                     on CPU 0, forwarding on 1); sets TX_RC
#   rx_stop NAME WANT                 waits until rxonly's queue 0 has WANT
#                                     frames (or stops growing), SIGINTs it,
#                                     waits; sets RX_RC
#   txrx NAME SIZE COUNT RATE [--mtu N --mbuf-size N]
#                                     all three, then check_exact; keep COUNT
#                                     < 4096 (rxonly's ring): QEMU's igb drops
#                                     frames that reach a full ring, uncounted
# Every testpmd runs under `timeout` so a hang fails the check, not the boot.
#   jv FILE JQ-EXPR                   one value from a JSON report
#   eq WHAT GOT WANT                  pass if equal, fail otherwise
#   skip WHY                          a check that cannot run here: the
#                                     script ends SKIP (exit 77), not PASS
#
# Reports land in $W/NAME.{json,err} (W: a scratch dir, copied to
# $FERRITE_TEST_LOGDIR when the test ends).

repo=${FERRITE_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
TESTPMD=${TESTPMD:-${CARGO_TARGET_DIR:-$repo/target}/release/testpmd}
W=$(mktemp -d /tmp/testpmd.XXXX)
fails=0 skips=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
skip() { echo "SKIP: $*"; skips=$((skips + 1)); }

[[ -x $TESTPMD ]] || {
    echo "FAIL: $TESTPMD is missing: run \`cargo build --release -p ferrite-apps --bins\` on the host"
    exit 1
}
for v in FERRITE_IGB0 FERRITE_IGB1; do
    [[ -n ${!v:-} ]] || { echo "FAIL: \$$v is not set (run this through tests/guest/run)"; exit 1; }
done

# The pair the helpers drive (use_virtio switches), and their ring sizes:
# igb rings of 4096 (see 40-testpmd-txrx.sh); QEMU's virtio-net queues hold
# 1024 (rx, rx_queue_size=1024) and 256 (tx: QEMU's maximum for its own
# backend) descriptors, for each process's both queues.
NIC_KIND=igb TX_ADDR=$FERRITE_IGB0 RX_ADDR=$FERRITE_IGB1
RX_RINGS=(--rxd 4096) TX_RINGS=(--txd 4096)
use_virtio() {
    NIC_KIND=virtio TX_ADDR=${FERRITE_VIRTIO0:-} RX_ADDR=${FERRITE_VIRTIO1:-}
    RX_RINGS=(--rxd 1024 --txd 256) TX_RINGS=(--rxd 1024 --txd 256)
}

virtio_preflight() {
    local v bdf drv grp
    for v in FERRITE_VIRTIO0 FERRITE_VIRTIO1; do
        [[ -n ${!v:-} ]] || { fail "\$$v is not set (the loop layout of scripts/qemu/run-in-guest has virtio0/virtio1)"; return 1; }
    done
    for bdf in "$FERRITE_VIRTIO0" "$FERRITE_VIRTIO1"; do
        drv=$(readlink "/sys/bus/pci/devices/$bdf/driver" 2>/dev/null)
        grp=$(readlink "/sys/bus/pci/devices/$bdf/iommu_group" 2>/dev/null)
        eq "$bdf: 1af4:1041 on vfio-pci" "$(cat "/sys/bus/pci/devices/$bdf/vendor"):$(cat "/sys/bus/pci/devices/$bdf/device") ${drv##*/}" \
            "0x1af4:0x1041 vfio-pci"
        eq "$bdf: alone in IOMMU group ${grp##*/}" "$(ls "/sys/bus/pci/devices/$bdf/iommu_group/devices" 2>/dev/null)" "$bdf"
    done
    ((fails == 0))
}

ferrite_virtio_or_skip() {
    local out
    out=$(timeout --foreground -k 5 60 "$TESTPMD" -l 0,1 -a "$FERRITE_VIRTIO0" --port-topology loop --forward-mode rxonly \
        --rxd 1024 --txd 256 --duration 1 --no-telemetry 2>&1)
    if grep -q '1af4:1041.*no ferrite driver claims' <<<"$out"; then
        grep -m1 'no ferrite driver claims' <<<"$out"
        echo "SKIP: this build of ferrite has no virtio-net driver (testpmd: no driver claims 1af4:1041)"
        exit 77
    fi
}

# Poll like DPDK (forwarding cores spin), when this testpmd has other rx modes:
# exact counts must not depend on interrupt wake-up latency under TCG.
POLL=()
"$TESTPMD" --help 2>/dev/null | grep -q -- '--rx-mode' && POLL=(--rx-mode poll)

# noiommu_ran NAME: both processes (NAME.tx, NAME.rx) of run NAME went through no-IOMMU mode.
noiommu_ran() {
    local f
    for f in "$W/$1.tx.err" "$W/$1.rx.err"; do
        grep -q 'VFIO NO-IOMMU MODE' "$f" && pass "$1: ${f##*/} has ferrite's no-IOMMU warning" ||
            fail "$1: ${f##*/} lacks ferrite's no-IOMMU warning (did it run in IOVA mode PA?)"
    done
}

# Keep the reports next to the test's log on the host.
finish() {
    [[ -n ${FERRITE_TEST_LOGDIR:-} ]] && cp -r "$W" "$FERRITE_TEST_LOGDIR/${0##*/}.reports" 2>/dev/null
    echo "$fails failure(s), $skips skipped check(s)"
    ((fails == 0)) || return 1
    ((skips == 0)) || return 77
}

jv() { jq -r "$2" "$1" 2>/dev/null; }

ts() { date +%s.%N; }
# wait_for FILE PATTERN SECONDS: waits up to SECONDS for PATTERN to appear
# in FILE; prints the time it did (fails if it never did).
wait_for() {
    local end=$(($(date +%s) + $3))
    while (($(date +%s) <= end)); do
        grep -q -- "$2" "$1" 2>/dev/null && { ts; return 0; }
        sleep 0.05
    done
    return 1
}

eq() {
    if [[ -n $2 && $2 == "$3" ]]; then pass "$1: $2"; else fail "$1: got '${2}', want '$3'"; fi
}

RX_PID=
rx_start() {
    local name=$1
    shift
    # timeout only fires if testpmd hangs; --foreground makes it pass our SIGINT
    # to testpmd once (without it, testpmd gets it twice and exits at once, 130).
    timeout --foreground -k 5 -s INT 200 "$TESTPMD" -l 0,1 --main-lcore 1 -a "$RX_ADDR" --port-topology loop --forward-mode rxonly \
        "${RX_RINGS[@]}" --stats-period 0.2 --json --xstats "${POLL[@]}" "$@" >"$W/$name.json" 2>"$W/$name.err" &
    RX_PID=$!
    local i
    for i in $(seq 100); do
        grep -q '^Logical core' "$W/$name.err" && break
        kill -0 "$RX_PID" 2>/dev/null || break
        sleep 0.1
    done
    # Autonegotiation brings the link up ~0.5 s after open; frames that
    # arrive before would only wait in QEMU's queue, but don't rely on it.
    sleep 1
}

TX_RC=
tx_run() {
    local name=$1
    shift
    timeout --foreground -k 5 -s INT 120 "$TESTPMD" -l 0,1 -a "$TX_ADDR" --port-topology loop --forward-mode txonly "${TX_RINGS[@]}" \
        --json --xstats "${POLL[@]}" "$@" >"$W/$name.json" 2>"$W/$name.err"
    TX_RC=$?
}

# Frames received so far on rxonly's queue 0 (from its --stats-period rows).
rx_seen() { grep -o 'port 0 queue 0: RX [0-9]*' "$W/$1.err" | tail -1 | awk '{print $6}'; }

RX_RC=
rx_stop() {
    local name=$1 want=$2 seen last=-1 still=0 i
    # QEMU transmits synchronously on each TDT write, so everything sent is
    # already in igb1's ring or QEMU's queue; give rxonly up to 10 s to
    # count it, and stop early once the count is reached or stays put 2 s.
    for i in $(seq 50); do
        seen=$(rx_seen "$name")
        [[ ${seen:-0} -ge $want ]] && break
        if [[ ${seen:-0} == "$last" ]]; then still=$((still + 1)); else still=0; fi
        ((still >= 10)) && break
        last=${seen:-0}
        sleep 0.2
    done
    kill -INT "$RX_PID" 2>/dev/null
    wait "$RX_PID"
    RX_RC=$?
}

# check_exact NAME SIZE COUNT: the txonly report NAME.tx and rxonly report
# NAME.rx show COUNT frames of SIZE bytes sent and received intact, hardware
# counters agreeing with software counters, pools full.
check_exact() {
    local n=$1 size=$2 count=$3 tx=$W/$1.tx.json rx=$W/$1.rx.json
    local sent got
    eq "$n: txonly exit status" "$TX_RC" 0
    eq "$n: rxonly exit status" "$RX_RC" 0
    sent=$(jv "$tx" '.ports[0].tx_packets')
    got=$(jv "$rx" '.ports[0].rx_packets')
    echo "$n: sent $sent, received $got in $(jv "$tx" '.duration_s') s at $(jv "$tx" '.ports[0].tx_mpps * 1e6 | floor') pps (end-to-end loss $((${sent:-0} - ${got:-0})))"
    eq "$n: frames sent" "$sent" "$count"
    eq "$n: frames received (exactly as many as sent)" "$got" "$count"
    eq "$n: rxonly bad_payload/out_of_order/seq_gaps" \
        "$(jv "$rx" '.streams[0] | "\(.bad_payload)/\(.out_of_order)/\(.seq_gaps)"')" 0/0/0
    eq "$n: rxonly consumed" "$(jv "$rx" '.streams[0].consumed')" "$count"
    eq "$n: rx bytes (software)" "$(jv "$rx" '.ports[0].rx_bytes')" $((count * size))
    eq "$n: tx bytes (software)" "$(jv "$tx" '.ports[0].tx_bytes')" $((count * size))
    # Per-queue rows and named stats.
    eq "$n: rx queue 0 packets" "$(jv "$rx" '.ports[0].queues[0].rx_packets')" "$count"
    eq "$n: tx queue 0 packets" "$(jv "$tx" '.ports[0].queues[0].tx_packets')" "$count"
    eq "$n: xstats rx_queue_0_packets" "$(jv "$rx" '.ports[0].xstats.rx_queue_0_packets')" "$count"
    eq "$n: xstats tx_queue_0_packets" "$(jv "$tx" '.ports[0].xstats.tx_queue_0_packets')" "$count"
    eq "$n: mempools full after stop (tx, rx)" \
        "$(jv "$tx" '.mempools[0] | .capacity == .available'),$(jv "$rx" '.mempools[0] | .capacity == .available')" \
        true,true
    eq "$n: accounting_ok (tx, rx)" "$(jv "$tx" .accounting_ok),$(jv "$rx" .accounting_ok)" true,true
    [[ $NIC_KIND == igb ]] && check_igb_hw "$@"
    # A virtio receiver whose ring ran dry lets QEMU reorder frames (see
    # rx_buffers_exhausted in pmd/src/drivers/virtio/rx.rs): say so, so an
    # out_of_order failure above reads as "sent too fast for this machine"
    # rather than as a driver fault.
    [[ $NIC_KIND == virtio ]] && echo "$n: receiver ran out of buffers $(jv "$rx" '.ports[0].xstats.rx_buffers_exhausted') time(s)"
    return 0
}

# check_igb_hw NAME SIZE COUNT: igb's hardware counters of check_exact's run.
check_igb_hw() {
    local n=$1 size=$2 count=$3 tx=$W/$1.tx.json rx=$W/$1.rx.json
    local sent got
    sent=$(jv "$tx" '.ports[0].tx_packets')
    got=$(jv "$rx" '.ports[0].rx_packets')
    # Hardware (GPRC/GORC, GPTC/GOTC; octets include the 4-byte CRC) against software.
    eq "$n: igb1 rx_packets (GPRC) = software" "$(jv "$rx" '.ports[0].xstats.rx_packets')" "$got"
    eq "$n: igb1 rx_bytes (GORC) = software + 4/frame" "$(jv "$rx" '.ports[0].xstats.rx_bytes')" \
        "$(jv "$rx" '.ports[0].rx_bytes + 4 * .ports[0].rx_packets')"
    eq "$n: igb0 tx_packets (GPTC) = software" "$(jv "$tx" '.ports[0].xstats.tx_packets')" "$sent"
    eq "$n: igb0 tx_bytes (GOTC) = software + 4/frame" "$(jv "$tx" '.ports[0].xstats.tx_bytes')" \
        "$(jv "$tx" '.ports[0].tx_bytes + 4 * .ports[0].tx_packets')"
    # Size histograms: every frame in one bucket. (QEMU sizes received
    # frames without the CRC, a real 82576 with it, so a 64 B frame lands
    # in rx_size_64 on QEMU but rx_size_65_to_127 on hardware.)
    local hist='[.ports[0].xstats | to_entries[] | select(.key | test("^[rt]x_size_")) | .value] | add'
    if ((size + 4 <= 1522)); then # the top bucket ends at 1522 B on an 82576
        eq "$n: igb1 rx_size_* histogram total" "$(jv "$rx" "$hist")" "$count"
        eq "$n: igb0 tx_size_* histogram total" "$(jv "$tx" "$hist")" "$count"
    fi
    echo "$n: size buckets: $(jv "$rx" '[.ports[0].xstats | to_entries[] | select((.key | test("^rx_size_")) and .value > 0) | "\(.key)=\(.value)"] | join(" ")')" \
        "$(jv "$tx" '[.ports[0].xstats | to_entries[] | select((.key | test("^tx_size_")) and .value > 0) | "\(.key)=\(.value)"] | join(" ")')"
    eq "$n: igb1 rx_crc_errors/rx_missed_errors/rx_no_buffer_count" \
        "$(jv "$rx" '.ports[0].xstats | "\(.rx_crc_errors)/\(.rx_missed_errors)/\(.rx_no_buffer_count)"')" 0/0/0
}

txrx() {
    local name=$1 size=$2 count=$3 rate=$4
    shift 4
    rx_start "$name.rx" "$@"
    tx_run "$name.tx" --txpkts "$size" --tx-count "$count" --tx-rate "$rate" "$@"
    rx_stop "$name.rx" "$count"
    check_exact "$name" "$size" "$count"
}
