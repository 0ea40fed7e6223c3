#!/usr/bin/env bash
# tests/guest/loop/75-virtio-napi.sh — NAPI-style adaptive rx on ferrite's
# virtio-net driver (loop layout, virtio0 <-> virtio1), modelled on
# 61-napi.sh (igb). For split rings, then packed (-a ADDR,packed_vq=1):
#
#   A: testpmd on virtio0, rxonly, --rx-mode adaptive
#   B: testpmd on virtio1, txonly, --tx-count N (split rings: see
#      74-virtio-link.sh on QEMU's packed transmit path), three rounds
#
# Idle, A's forwarding core must be seen asleep in epoll_wait on its rx
# interrupt; B's bursts wake it and every frame is received (exact count:
# each round of 500 fits the 1024 receive buffers, so QEMU has nowhere to
# drop one); the driver counts device interrupts on the queue's vector
# (rx_queue_0_interrupts, its own "work was already there" wake-ups not
# included), and so does the guest kernel (/proc/interrupts,
# vfio-msix[1] of virtio0, read while A runs). Last, an idle receiver in
# --rx-mode poll (testpmd's default is adaptive) keeps its rx vector
# silent in /proc/interrupts (poll mode keeps the used-buffer
# suppression), for split and packed rings, and stays so while it takes
# 500 frames (but for QEMU's one unconditional first notification on a
# split ring).
# No CPU-share or timing assertion; every testpmd runs under `timeout`.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/observe.bash"

virtio_preflight || { finish; exit; }
ferrite_virtio_or_skip
use_virtio

# Starts B: txonly on virtio1, $1 frames; waits for it.
send() {
    timeout --foreground -k 5 -s INT 120 "$TESTPMD" -l 0,1 --main-lcore 1 -a "$FERRITE_VIRTIO1,packed_vq=0" \
        --port-topology loop --forward-mode txonly --tx-count "$1" --tx-rate 20000 --rxd 1024 --txd 256 \
        >"$W/$2.log" 2>&1 || fail "$2: sender exited $?"
}

adaptive_round() {
    local kind=$1 spec=$FERRITE_VIRTIO0 a pid core wchan asleep total=0 n k0 k1
    [[ $kind == packed ]] && spec+=,packed_vq=1
    echo "--- $kind rings: receiver -a $spec --rx-mode adaptive"
    timeout --foreground -k 5 -s INT 240 "$TESTPMD" -l 0,1 -a "$spec" --port-topology loop --forward-mode rxonly \
        --rx-mode adaptive --rxd 1024 --txd 256 --json --xstats >"$W/$kind.json" 2>"$W/$kind.log" &
    a=$!
    wait_for "$W/$kind.log" 'packet forwarding' 60 >/dev/null || fail "$kind: receiver did not start: $(tail -3 "$W/$kind.log")"
    grep -E 'no MSI-X|refused MSI-X' "$W/$kind.log" && fail "$kind: the driver fell back to polling (above)"
    sleep 1
    pid=$(pgrep -P "$a") # timeout's one child: testpmd
    if core=$(thread_dir "${pid:-none}" fwd-core-0); then
        asleep=$(epoll_looks "$core")
        ((asleep > 0)) && pass "$kind: idle adaptive core seen asleep in epoll_wait ($asleep of 10 looks)" ||
            fail "$kind: idle adaptive core never seen in epoll_wait (wchan $(cat "$core/wchan" 2>/dev/null))"
    else
        fail "$kind: no fwd-core-0 thread in testpmd (pid ${pid:-none}): $(tail -3 "$W/$kind.log")"
    fi
    k0=$(kernel_irqs 1 "$FERRITE_VIRTIO0")
    for round in 1 2 3; do
        n=$((500 * round))
        send "$n" "$kind.b$round"
        grep -E 'TX-packets' "$W/$kind.b$round.log" | sort -u | sed "s/^/  sender $round: /"
        total=$((total + n))
        sleep 1
    done
    k1=$(kernel_irqs 1 "$FERRITE_VIRTIO0")
    kill -INT "$a"; wait "$a"; rc=$?
    eq "$kind: receiver exit status (accounting checks)" "$rc" 0
    local rx irqs drv sleeps
    rx=$(jv "$W/$kind.json" '.ports[0].rx_packets')
    irqs=$(jv "$W/$kind.json" '.streams[0].interrupts') sleeps=$(jv "$W/$kind.json" '.streams[0].sleeps')
    drv=$(jv "$W/$kind.json" '.ports[0].xstats.rx_queue_0_interrupts')
    echo "$kind: received $rx of $total; wake-ups $irqs, sleeps $sleeps; device interrupts (driver) $drv," \
        "kernel vfio-msix[1] ${k0:-none} -> ${k1:-none}; msix_vectors $(jv "$W/$kind.json" '.ports[0].xstats.msix_vectors')"
    eq "$kind: every frame received after wake-ups" "$rx" "$total"
    eq "$kind: ring layout (features_negotiated bit 34)" "$(ring_kind "$W/$kind.json")" "$kind"
    eq "$kind: MSI-X vectors in use (config + rx queue 0)" "$(jv "$W/$kind.json" '.ports[0].xstats.msix_vectors')" 2
    # Each round starts after a second of silence, with the core asleep: at
    # least one device interrupt per round wakes it (QEMU's one
    # unconditional first notification after a reset alone cannot pass).
    ((${drv:-0} >= 3)) && pass "$kind: woken by device rx interrupts ($drv counted by the driver, >= 3 rounds)" ||
        fail "$kind: rx_queue_0_interrupts ${drv:-none}, want at least one per round (3)"
    [[ -n $k0 && -n $k1 ]] && ((k1 - k0 >= 3)) && pass "$kind: the guest kernel took rx interrupts ($k0 -> $k1)" ||
        fail "$kind: kernel vfio-msix[1] of virtio0: '${k0:-}' -> '${k1:-}', want a rise of at least 3"
    eq "$kind: accounting ok, pool full" "$(jv "$W/$kind.json" '.accounting_ok')" true
}

poll_round() {
    local kind=$1 spec=$FERRITE_VIRTIO0 a k0 k1 k2 rc
    [[ $kind == packed ]] && spec+=,packed_vq=1
    echo "--- $kind rings, --rx-mode poll: an idle port takes no interrupt"
    timeout --foreground -k 5 -s INT 120 "$TESTPMD" -l 0,1 -a "$spec" --port-topology loop --forward-mode rxonly \
        --rx-mode poll --rxd 1024 --txd 256 --json --xstats >"$W/poll-$kind.json" 2>"$W/poll-$kind.log" &
    a=$!
    wait_for "$W/poll-$kind.log" 'packet forwarding' 60 >/dev/null || fail "poll $kind: receiver did not start"
    k0=$(kernel_irqs 1 "$FERRITE_VIRTIO0")
    sleep 3
    k1=$(kernel_irqs 1 "$FERRITE_VIRTIO0")
    send 500 "poll-$kind.b"
    sleep 1
    k2=$(kernel_irqs 1 "$FERRITE_VIRTIO0")
    kill -INT "$a"; wait "$a"; rc=$?
    eq "poll $kind: receiver exit status" "$rc" 0
    eq "poll $kind: every frame received" "$(jv "$W/poll-$kind.json" '.ports[0].rx_packets')" 500
    [[ -n $k0 && $k0 == "$k1" ]] && pass "poll $kind: idle for 3 s, rx vector silent ($k0 -> $k1)" ||
        fail "poll $kind: idle rx vector counts '${k0:-}' -> '${k1:-}' (want set up and unchanged)"
    # Under traffic: none on a packed ring (driver event suppression
    # DISABLE); on a split ring with EVENT_IDX QEMU sends one, for the first
    # completion after the reset of the open (its "last signalled" index
    # starts invalid, and it notifies unconditionally once), and no more.
    local most=0
    [[ $kind == split ]] && most=1
    [[ -n $k2 ]] && ((k2 - k1 <= most)) && pass "poll $kind: $((k2 - k1)) rx interrupt(s) for 500 frames (at most $most)" ||
        fail "poll $kind: rx vector '${k1:-}' -> '${k2:-}' during 500 polled frames (want at most $most more)"
}

source "$(dirname "${BASH_SOURCE[0]}")/../lib/virtio.bash"
# What QEMU's virtio-net-pci offers (its default `vectors=` is 4 for one
# queue pair); the driver needs 2 (configuration + receive queue 0).
line=$(timeout 60 "${TESTPMD%/*}/pmdinfo" "$FERRITE_VIRTIO0" 2>&1 | grep -m1 'interrupts')
echo "pmdinfo $FERRITE_VIRTIO0:$line"
vectors=$(grep -o 'MSI-X [0-9]*' <<<"$line" | grep -o '[0-9]*$')
if ((${vectors:-0} < 2)); then
    skip "virtio0 offers ${vectors:-no} MSI-X vectors, the driver needs 2 (QEMU vectors=2 or more): it polls instead"
    finish
    exit
fi
adaptive_round split
adaptive_round packed
poll_round split
poll_round packed
finish
