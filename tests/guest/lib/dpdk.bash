# tests/guest/lib/dpdk.bash — Debian's dpdk-testpmd (DPDK 22.11) as a judge on
# one NIC per process, for the guest tests that check ferrite against DPDK
# (loop/70-virtio-dpdk.sh, loop/73-virtio-interop.sh).  Sourced after
# lib/testpmd.bash (pass, fail, eq, skip, $W).
#
#   dpdk_rx_start NAME ADDR       rxonly on ADDR in the background (main lcore 1,
#                                 forwarding on 0), stats every second
#   dpdk_rx_stop NAME WANT        waits until it has WANT frames (or its count
#                                 stops growing for 2 s), SIGINTs it, waits;
#                                 sets DPDK_RX_RC, DPDK_RX (its port's
#                                 RX-packets in the final report) and
#                                 DPDK_RX_BYTES (RX-bytes)
#   dpdk_tx NAME ADDR BURSTS SIZE sends BURSTS x 32 frames of SIZE bytes from
#                                 ADDR (interactive testpmd: rxonly with
#                                 `start tx_first BURSTS`, then `stop`, `quit`);
#                                 sets DPDK_TX_RC, DPDK_TX (TX-packets) and
#                                 DPDK_TX_DROPPED (TX-dropped: frames the
#                                 ring had no room for)
# Each process gets its own --file-prefix (they share the hugepages).
# Output in $W/NAME.out; every process runs under `timeout`.
# DPDK_ARGS: extra EAL arguments for both (e.g. --log-level=pmd.net.virtio.*:debug).

dpdk_have() { command -v dpdk-testpmd >/dev/null; }

# testpmd arguments for both: rings as large as the virtio queues (QEMU: RX
# 1024, TX 256; virtio takes the device's size anyway), and a small pool: the
# default (155,456 mbufs, 338 MB) of two processes exceeds the guest's 512 MB
# of hugepages.
DPDK_PMD_ARGS=(--rxd=1024 --txd=256 --total-num-mbufs=8192)

# wait_for FILE PATTERN SECONDS [PID]: until PATTERN shows in FILE (or PID dies).
wait_for() {
    local i
    for i in $(seq $(($3 * 10))); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        [[ -z ${4:-} ]] || kill -0 "$4" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# The last value of COUNTER ("RX-packets", "TX-packets", ...) in FILE.
dpdk_last() { grep -o "$2: *[0-9]*" "$1" | tail -1 | awk '{print $2}'; }

DPDK_RX_PID=
dpdk_rx_start() {
    local name=$1 addr=$2
    timeout --foreground -k 5 -s INT 240 stdbuf -oL dpdk-testpmd -l 0,1 --main-lcore 1 -a "$addr" --file-prefix="$name" \
        ${DPDK_ARGS:-} -- --forward-mode=rxonly --port-topology=loop --nb-cores=1 "${DPDK_PMD_ARGS[@]}" --stats-period 1 \
        >"$W/$name.out" 2>&1 </dev/null &
    DPDK_RX_PID=$!
    # EAL init loads every PMD over 9p (5-10 s under TCG); the first stats
    # block comes once the port has started.
    if ! wait_for "$W/$name.out" 'Rx-pps' 90 "$DPDK_RX_PID"; then
        tail -20 "$W/$name.out" | sed 's/^/    /'
        fail "$name: dpdk-testpmd rxonly on $addr did not start"
        return 1
    fi
    # Link status: virtio reports it up at once (VIRTIO_NET_F_STATUS).
    sleep 1
}

# Frames dpdk-testpmd rxonly NAME has counted so far (its last stats block).
dpdk_rx_seen() { dpdk_last "$W/$1.out" RX-packets; }

DPDK_RX_RC= DPDK_RX= DPDK_RX_BYTES=
dpdk_rx_stop() {
    local name=$1 want=$2 seen last=-1 still=0 i
    for i in $(seq 100); do
        seen=$(dpdk_rx_seen "$name")
        [[ ${seen:-0} -ge $want ]] && break
        if [[ ${seen:-0} == "$last" ]]; then still=$((still + 1)); else still=0; fi
        ((still >= 20)) && break # its stats come every second: 2 s still
        last=${seen:-0}
        sleep 0.1
    done
    # One more stats period, so a late frame shows up as too many.
    sleep 1.2
    kill -INT "$DPDK_RX_PID" 2>/dev/null
    wait "$DPDK_RX_PID"
    DPDK_RX_RC=$?
    # The final report ("Forward statistics for port 0" ... then the
    # accumulated block) comes after SIGINT.
    DPDK_RX=$(sed -n '/Telling cores to stop\|Stopping port/,$p' "$W/$name.out" | dpdk_last /dev/stdin RX-packets)
    [[ -n $DPDK_RX ]] || DPDK_RX=$(dpdk_last "$W/$name.out" RX-packets)
    # Bytes are only in the periodic port stats; the last block came after
    # the count stopped growing (the extra period above).
    DPDK_RX_BYTES=$(dpdk_last "$W/$name.out" RX-bytes)
}

DPDK_TX_RC= DPDK_TX= DPDK_TX_DROPPED=
dpdk_tx() {
    local name=$1 addr=$2 bursts=$3 size=$4 fifo=$W/$1.fifo pid
    rm -f "$fifo"
    mkfifo "$fifo"
    timeout --foreground -k 5 -s INT 240 stdbuf -oL dpdk-testpmd -l 0,1 -a "$addr" --file-prefix="$name" \
        ${DPDK_ARGS:-} -- -i --forward-mode=rxonly --port-topology=loop --nb-cores=1 "${DPDK_PMD_ARGS[@]}" --burst=32 --txpkts="$size" \
        <"$fifo" >"$W/$name.out" 2>&1 &
    pid=$!
    trap '' PIPE # a write to a dpdk-testpmd that quit must not end the test
    exec 3>"$fifo"
    if ! wait_for "$W/$name.out" 'testpmd>' 90 "$pid"; then
        tail -20 "$W/$name.out" | sed 's/^/    /'
        fail "$name: dpdk-testpmd on $addr did not start"
    fi
    sleep 0.5
    echo "start tx_first $bursts" >&3
    # tx_first sends its bursts as `start` runs; then the cores only poll rx.
    sleep 2
    echo "stop" >&3
    wait_for "$W/$name.out" 'Done\.' 20 "$pid"
    echo "quit" >&3
    exec 3>&-
    trap - PIPE
    wait "$pid"
    DPDK_TX_RC=$?
    local acc
    acc=$(sed -n '/Accumulated forward statistics/,/^ *+++\|^ *---*$/p' "$W/$name.out")
    [[ -n $acc ]] || acc=$(<"$W/$name.out")
    DPDK_TX=$(dpdk_last /dev/stdin TX-packets <<<"$acc")
    DPDK_TX_DROPPED=$(dpdk_last /dev/stdin TX-dropped <<<"$acc")
}

# The features dpdk-testpmd's net_virtio negotiated, from its debug log
# (DPDK_ARGS=--log-level=pmd.net.virtio.init:debug): one line per process.
dpdk_features() { grep -oi 'negotiated features[^,]*\(,.*\)\?\|features *= *0x[0-9a-f]*' "$W/$1.out" | sort -u | head -5; }
