# scripts/bench.d/guest.bash — what scripts/bench-igb and scripts/bench-virtio
# share: ferrite's testpmd vs Debian's dpdk-testpmd on one NIC pair of the
# QEMU guest (loop layout, wired back to back), in one guest boot. Sourced,
# not run.
#
# The caller sets BENCH (its name: messages, out/BENCH/, /tmp/BENCH.*), SELF
# (its path), REPO, SECS, ROUNDS, BURST, RXD, TXD, TXFIRST, FRAME (bytes).
#
# Host side:
#   bench_host PER_ROUND_S GUEST_ARGS...
#       installs Debian's dpdk if dpdk-testpmd is missing, builds ferrite's
#       testpmd, notes the machine and its load (BENCH_HOST), boots the guest
#       (TCG, every NIC on vfio-pci; the loop layout, or BENCH_LAYOUT) to run
#       `$SELF --in-guest GUEST_ARGS...`, raw outputs in out/BENCH/<time>;
#       a guest that stalls (no step for PROGRESS_TIMEOUT s) is replaced by a
#       new boot, up to 3 in all; exits with the guest command's status.
# Guest side (also set A, B: the pair's PCI addresses; AN, BN: their names;
# FERRITE_DEVARGS, e.g. ",packed_vq=1": appended to A and B for ferrite only):
#   bench_guest_init         T (ferrite's testpmd), D (scratch), POLL, DPDK_COMMON
#   ferrite_txrx, dpdk_txrx  txonly on A -> rxonly on B, two processes; set
#                            TXPPS RXPPS SENT RCVD MISSED
#   ferrite_loop, dpdk_loop NAME MODE [ARGS...]
#                            MODE forwarding A <-> B in one process, started
#                            with TXFIRST bursts per port; set LPPS LLOSS LDROP
#   bench_loss R             F/DP[loss,R] from [sent,R] and [rcvd,R]
#   bench_round_done R       moves this round's raw outputs to $D/roundR
#   print_table HEADER       the table: METRICS rows (LABEL), F/DP[metric,round],
#                            medians, ferrite/DPDK ratio for RATIO_METRICS
#   check_figures METRIC...  1 (and says which) if a round of either tool has
#                            no figure for one of them: a run that did not happen
#   bench_save               copies $D to $OUT (the host's out/BENCH/<time>)

# ---------------------------------------------------------------- host side
bench_host() {
    local per=$1 t0 rc=0
    shift
    cd "$REPO"
    if ! command -v dpdk-testpmd >/dev/null; then
        [ "$(id -u)" = 0 ] || { echo "$BENCH: dpdk-testpmd is missing; run as root to install it" >&2; exit 1; }
        echo "$BENCH: installing Debian's dpdk (dpdk-testpmd)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends dpdk >/dev/null
    fi
    echo "$BENCH: building ferrite testpmd (release)"
    cargo build --release -q -p ferrite-apps --bin testpmd
    BENCH_HOST="$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at start, $(pgrep -c qemu-system || true) QEMU(s) already running"
    export BENCH_HOST
    echo "$BENCH: host: $BENCH_HOST"
    echo "$BENCH: booting the guest (TCG, ${BENCH_LAYOUT:-loop} layout); ${ROUNDS} round(s) of ${SECS} s per measurement"
    t0=$(date +%s)
    local attempt
    for attempt in 1 2 3; do
        OUT=$REPO/out/$BENCH/$(date -u +%Y%m%d-%H%M%S)
        mkdir -p "$OUT"
        rc=0
        bench_boot "$per" "$@" 2> >(tee "$OUT/runner.err" >&2) || rc=$?
        wait $! 2>/dev/null || true # tee has written everything
        # A stalled guest (MTTCG's lost EOI, docs/ARCHITECTURE.md "Guest
        # stalls") says nothing about either tool: boot a new one.
        grep -q 'stopped a guest that made no progress' "$OUT/runner.err" 2>/dev/null || break
        say "boot $attempt of 3: the guest stalled (MTTCG, not the tools; raw outputs so far in ${OUT#"$REPO"/})$( ((attempt < 3)) && echo '; booting a new one')"
    done
    echo "$BENCH: guest run took $(($(date +%s) - t0)) s; host load average $(cut -d' ' -f1-3 /proc/loadavg) at end;" \
        "raw outputs in ${OUT#"$REPO"/}"
    exit $rc
}

# One guest boot running `$SELF --in-guest ARGS...` (bench_host's PER_ROUND_S
# first), raw outputs into $OUT.
bench_boot() {
    local per=$1
    shift
    # Each step the guest starts touches $OUT/progress: a guest that stops
    # making progress (MTTCG's stall, see run-in-guest's TCG_THREAD) is then
    # diagnosed (vCPU registers and APICs in the run dir) and killed after
    # PROGRESS_TIMEOUT instead of the whole TIMEOUT.
    TCG_THREAD=${TCG_THREAD:-multi} OUT=$OUT RW_DIRS=$OUT PASS_ENV="OUT BENCH_HOST" BIND=vfio-pci LAYOUT=${BENCH_LAYOUT:-loop} \
        PROGRESS_FILE=$OUT/progress PROGRESS_TIMEOUT=${PROGRESS_TIMEOUT:-300} \
        TIMEOUT=$((300 + ROUNDS * per)) scripts/qemu/run-in-guest "$SELF --in-guest $*"
}

# --------------------------------------------------------------- guest side
bench_guest_init() {
    # A benchmark reports what it measured: no early exit on a failed step.
    set +e
    FERRITE_DEVARGS=${FERRITE_DEVARGS:-}
    cd "$REPO"
    T=$REPO/target/release/testpmd
    D=$(mktemp -d "/tmp/$BENCH.XXXX")
    # Forwarding cores spin, as DPDK's do (when this testpmd has other rx modes).
    POLL=()
    "$T" --help 2>/dev/null | grep -q -- '--rx-mode' && POLL=(--rx-mode poll)
    DPDK_COMMON=(--burst="$BURST" --rxd="$RXD" --txd="$TXD" --txpkts="$FRAME" --total-num-mbufs=8192)
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }
# Samples while traffic flows: drop zeros, and the first and last non-zero
# (partial) seconds.
flowing() { awk '$1 > 0' | sed '1d;$d'; }
# Says what the guest starts, and marks progress for the host's watchdog
# (bench_host); the longest step (DPDK's EAL init and a run) is well under
# its 300 s.
say() {
    echo "$BENCH: $*" >&2
    if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then echo "$*" >"$OUT/progress"; fi
}
wait_for() { # FILE PATTERN SECONDS [PID]: until PATTERN shows in FILE (or PID dies)
    local i
    for i in $(seq $(($3 * 10))); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        [ -z "${4:-}" ] || kill -0 "$4" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# ferrite "Rates:" lines -> total RX (or TX) pps per sample.
ferrite_samples() { grep -o "total RX [0-9.]* TX [0-9.]*" "$1" | awk -v f="$2" '{print (f == "rx" ? $3 : $5) * 1e6}'; }
# dpdk-testpmd periodic/`show port stats` blocks -> summed Rx-pps (or Tx-pps)
# per sample over NPORTS ports.
dpdk_samples() {
    grep -o "$2-pps: *[0-9]*" "$1" | awk -v n="$3" '{ s += $2; if (NR % n == 0) { print s; s = 0 } }'
}
# Last cumulative counter in a dpdk-testpmd output (the final report).
dpdk_last() { grep -o "$2: *[0-9]*" "$1" | tail -1 | awk '{print $2}'; }

ferrite_txrx() {
    say "ferrite txonly $AN -> rxonly $BN, ${SECS} s"
    timeout --foreground -k 5 -s INT $((SECS + 90)) "$T" -l 0,1 --main-lcore 1 -a "$B$FERRITE_DEVARGS" --port-topology loop --forward-mode rxonly --burst "$BURST" \
        --rxd "$RXD" --txd "$TXD" --stats-period 1 --json "${POLL[@]}" >"$D/f.rx.json" 2>"$D/f.rx.err" &
    local rx=$!
    wait_for "$D/f.rx.err" '^Logical core' 20 $rx || say "ferrite rxonly did not start: $(tail -3 "$D/f.rx.err")"
    sleep 1
    timeout --foreground -k 5 -s INT $((SECS + 60)) "$T" -l 0,1 -a "$A$FERRITE_DEVARGS" --port-topology loop --forward-mode txonly --burst "$BURST" --rxd "$RXD" --txd "$TXD" \
        --txpkts "$FRAME" --duration "$SECS" --stats-period 1 --json "${POLL[@]}" >"$D/f.tx.json" 2>"$D/f.tx.err"
    sleep 2
    kill -INT $rx
    wait $rx || true
    TXPPS=$(ferrite_samples "$D/f.tx.err" tx | flowing | median)
    RXPPS=$(ferrite_samples "$D/f.rx.err" rx | flowing | median)
    SENT=$(jq '.ports[0].tx_packets' "$D/f.tx.json")
    RCVD=$(jq '.ports[0].rx_packets' "$D/f.rx.json")
    MISSED=$(jq '.ports[0].rx_missed' "$D/f.rx.json")
}

dpdk_txrx() {
    say "dpdk-testpmd txonly $AN -> rxonly $BN, ${SECS} s (EAL init takes a few seconds each)"
    timeout --foreground -k 5 -s INT $((SECS + 150)) stdbuf -oL dpdk-testpmd -l 0,1 --main-lcore 1 -a "$B" --file-prefix=bench-rx -- --forward-mode=rxonly \
        --port-topology=loop --nb-cores=1 "${DPDK_COMMON[@]}" --stats-period 1 >"$D/d.rx.out" 2>&1 </dev/null &
    local rx=$!
    wait_for "$D/d.rx.out" 'Rx-pps' 90 $rx || say "dpdk rxonly did not start: $(tail -3 "$D/d.rx.out")"
    timeout --foreground -k 5 -s INT $((SECS + 120)) stdbuf -oL dpdk-testpmd -l 0,1 -a "$A" --file-prefix=bench-tx -- --forward-mode=txonly --port-topology=loop \
        --nb-cores=1 "${DPDK_COMMON[@]}" --stats-period 1 >"$D/d.tx.out" 2>&1 </dev/null &
    local tx=$!
    wait_for "$D/d.tx.out" 'Tx-pps' 90 $tx || say "dpdk txonly did not start: $(tail -3 "$D/d.tx.out")"
    sleep "$SECS"
    kill -INT $tx
    wait $tx || true
    sleep 2
    kill -INT $rx
    wait $rx || true
    TXPPS=$(dpdk_samples "$D/d.tx.out" Tx 1 | flowing | median)
    RXPPS=$(dpdk_samples "$D/d.rx.out" Rx 1 | flowing | median)
    SENT=$(dpdk_last "$D/d.tx.out" TX-packets)
    RCVD=$(dpdk_last "$D/d.rx.out" RX-packets)
    MISSED=$(grep -o 'RX-missed: *[0-9]*' "$D/d.rx.out" | tail -1 | awk '{print $2}')
}

# One forwarding process over A <-> B, started with TXFIRST bursts per port:
# ferrite_loop NAME MODE [ARGS...] -> $D/f.NAME.{json,err}; sets LPPS (RX pps
# over both ports), LLOSS (TX - RX), LDROP (counted drops).
ferrite_loop() {
    local name=$1 mode=$2
    shift 2
    say "ferrite $mode $AN <-> $BN, --tx-first $TXFIRST, ${SECS} s"
    timeout --foreground -k 5 -s INT $((SECS + 60)) "$T" -l 0,1 -a "$A$FERRITE_DEVARGS" -a "$B$FERRITE_DEVARGS" --forward-mode "$mode" --burst "$BURST" --rxd "$RXD" --txd "$TXD" \
        --txpkts "$FRAME" --tx-first "$TXFIRST" --duration "$((SECS + 2))" --stats-period 1 --json "${POLL[@]}" "$@" \
        >"$D/f.$name.json" 2>"$D/f.$name.err" || true
    LPPS=$(ferrite_samples "$D/f.$name.err" rx | sed '1d' | head -n "$SECS" | median)
    LLOSS=$(jq '([.ports[].tx_packets] | add) - ([.ports[].rx_packets] | add)' "$D/f.$name.json")
    LDROP=$(jq '[.ports[] | .fwd_tx_drops + .rx_drops + .tx_drops + .rx_missed] | add' "$D/f.$name.json")
}

# The same with dpdk-testpmd, driven through its interactive prompt:
# dpdk_loop NAME MODE [ARGS...] -> $D/d.NAME.out; the commands in DPDK_PRE
# run before `start tx_first`, those in DPDK_POST after the measured seconds
# ("sleep S" waits). Sets LPPS, LLOSS, LDROP.
DPDK_PRE=() DPDK_POST=()
dpdk_cmds() {
    local c
    for c in "$@"; do
        case $c in
            "sleep "*) $c ;;
            *) echo "$c" >&3; sleep 0.3 ;;
        esac
    done
}
dpdk_loop() {
    local name=$1 mode=$2
    shift 2
    say "dpdk-testpmd $mode $AN <-> $BN, start tx_first $TXFIRST, ${SECS} s"
    local fifo=$D/cmd
    rm -f "$fifo"
    mkfifo "$fifo"
    timeout --foreground -k 5 -s INT $((SECS + 120)) stdbuf -oL dpdk-testpmd -l 0,1 -a "$A" -a "$B" --file-prefix="bench-$name" -- -i --forward-mode="$mode" \
        --nb-cores=1 "${DPDK_COMMON[@]}" "$@" <"$fifo" >"$D/d.$name.out" 2>&1 &
    local pmd=$!
    trap '' PIPE # a write to a dpdk-testpmd that quit must not end this script
    exec 3>"$fifo"
    wait_for "$D/d.$name.out" 'testpmd>' 90 $pmd || say "dpdk $mode did not start: $(tail -3 "$D/d.$name.out")"
    sleep 1
    dpdk_cmds "${DPDK_PRE[@]}"
    echo "start tx_first $TXFIRST" >&3
    sleep 1
    echo "show port stats all" >&3 # baseline for the pps figures
    sleep 0.2
    : >"$D/d.$name.mark"
    local i
    for i in $(seq "$SECS"); do
        sleep 1
        echo "show port stats all" >&3
    done
    sleep 0.5
    dpdk_cmds "${DPDK_POST[@]}"
    echo "stop" >&3
    sleep 1
    echo "quit" >&3
    exec 3>&-
    trap - PIPE
    wait $pmd || true
    rm -f "$fifo"
    # Per-second samples after the baseline (the first block is the
    # baseline), up to the output of DPDK_POST or `stop`.
    sed '/Change verbose level\|Telling cores to stop/q' "$D/d.$name.out" >"$D/d.$name.samples"
    LPPS=$(dpdk_samples "$D/d.$name.samples" Rx 2 | sed '1d' | median)
    rm -f "$D/d.$name.samples"
    local acc tx rx
    acc=$(grep -A3 'Accumulated forward statistics' "$D/d.$name.out")
    tx=$(grep -o 'TX-packets: *[0-9]*' <<<"$acc" | awk '{print $2}')
    rx=$(grep -o 'RX-packets: *[0-9]*' <<<"$acc" | awk '{print $2}')
    LLOSS=$((${tx:-0} - ${rx:-0}))
    LDROP=$(grep -o 'RX-dropped: *[0-9]*\|TX-dropped: *[0-9]*' <<<"$acc" | awk '{s += $2} END {print s + 0}')
}

# Rows per measurement (F: ferrite, DP: DPDK; [metric,round]).
declare -A F DP
bench_loss() {
    local r=$1 who
    for who in F DP; do
        declare -n t=$who
        t[loss,$r]=$(awk -v s="${t[sent,$r]:-0}" -v g="${t[rcvd,$r]:-0}" 'BEGIN { if (s > 0) printf "%.1f", 100 * (s - g) / s; else print "nan" }')
        unset -n t
    done
}
# Keeps this round's raw outputs in $D/roundR and, at once, on the host
# (a later round that kills the guest must not lose them).
bench_round_done() { mkdir -p "$D/round$1" && mv "$D"/*.* "$D/round$1/" 2>/dev/null; bench_save; }

ratio() { awk -v f="$1" -v d="$2" 'BEGIN { if (d > 0 && f != "nan") printf "%.2fx", f / d; else print "-" }'; }
print_table() {
    local m r fm dm rt fv dv
    echo
    echo "$*"
    printf '%-24s' measurement
    for r in $(seq "$ROUNDS"); do printf ' %21s' "round $r ferrite/DPDK"; done
    printf ' %10s %10s %7s\n' "med ferr" "med DPDK" ratio
    for m in "${METRICS[@]}"; do
        printf '%-24s' "${LABEL[$m]}"
        fv=() dv=()
        for r in $(seq "$ROUNDS"); do
            printf ' %21s' "${F[$m,$r]:-?}/${DP[$m,$r]:-?}"
            fv+=("${F[$m,$r]:-nan}") dv+=("${DP[$m,$r]:-nan}")
        done
        fm=$(printf '%s\n' "${fv[@]}" | grep -v nan | median) dm=$(printf '%s\n' "${dv[@]}" | grep -v nan | median)
        rt=
        case " $RATIO_METRICS " in *" $m "*) rt=$(ratio "$fm" "$dm") ;; esac
        printf ' %10s %10s %7s\n' "$fm" "$dm" "$rt"
    done
    echo "(ratio = ferrite / DPDK; above 1x ferrite is faster. pps are medians of per-second samples.)"
}

check_figures() {
    local m r who v missing=()
    for m in "$@"; do
        for r in $(seq "$ROUNDS"); do
            for who in F DP; do
                declare -n t=$who
                v=${t[$m,$r]:-}
                unset -n t
                case $v in '' | nan | null) missing+=("$([ $who = F ] && echo ferrite || echo DPDK) ${LABEL[$m]# } round $r") ;; esac
            done
        done
    done
    [ ${#missing[@]} = 0 ] && return 0
    say "FAILED: ${#missing[@]} run(s) gave no figure (raw outputs in ${OUT:-$D}):"
    printf '    %s\n' "${missing[@]}" >&2
    return 1
}

bench_save() { if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then cp -r "$D"/. "$OUT"/ 2>/dev/null; fi; }
