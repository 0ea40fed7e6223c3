# tests/guest/lib/bump-testpmd.bash — helpers of the bump-in-the-wire
# scripts (bump/50-offloads.sh, bump/55-offloads-more.sh, bump/60-virtio.sh):
# testpmd on two ports between two namespaces, started and stopped with the
# checks every run must pass, and the Linux-side probes (counters, pings,
# TCP transfers). Sourced after lib/testpmd.bash (pass, fail, eq, jv, $W,
# $TESTPMD, POLL). The ports and namespaces are igb0/igb1 between ns0 and
# ns1 unless the script sets BUMP_PORTS and BUMP_NS (e.g. the virtio pair
# between ns2 and ns3) after sourcing this.

BUMP_PORTS=("$FERRITE_IGB0" "$FERRITE_IGB1")
BUMP_NS=(ns0 ns1)
# virtio_bump_setup [VAR...]: for the scripts on the virtio tap path (ns2's
# k2 <-> virtio0 ... virtio1 <-> k3 in ns3): fails and exits unless the
# layout's variables (and each VAR named) are set, exits through
# virtio_preflight / ferrite_virtio_or_skip when the driver cannot run, then
# points BUMP_PORTS/BUMP_NS at the virtio pair, RINGS at its ring sizes
# (what QEMU's queues hold) and k2/k3 at the kernel NICs' interfaces.
virtio_bump_setup() {
    local v
    for v in FERRITE_VIRTIO0 FERRITE_VIRTIO1 FERRITE_K2_IF FERRITE_K3_IF "$@"; do
        [[ -n ${!v:-} ]] || { fail "\$$v is not set (the bump layout has the virtio tap path)"; finish; exit 1; }
    done
    virtio_preflight || { finish; exit 1; }
    ferrite_virtio_or_skip
    BUMP_PORTS=("$FERRITE_VIRTIO0" "$FERRITE_VIRTIO1")
    BUMP_NS=(ns2 ns3)
    RINGS=(--rxd 1024 --txd 256)
    k2=$FERRITE_K2_IF k3=$FERRITE_K3_IF
}
PMD=
# pmd_start NAME ARGS...: testpmd on both ports in the background, waited
# for up to PMD_START_TRIES x 0.1 s (default 100: 10 s) to start.
pmd_start() {
    local name=$1
    shift
    timeout --foreground -k 5 -s INT 240 "$TESTPMD" -l 0,1 -a "${BUMP_PORTS[0]}" -a "${BUMP_PORTS[1]}" --json --xstats \
        --stats-period 0.5 "${POLL[@]}" "$@" >"$W/$name.json" 2>"$W/$name.err" &
    PMD=$!
    for _ in $(seq "${PMD_START_TRIES:-100}"); do grep -q '^Logical core' "$W/$name.err" && break; kill -0 "$PMD" 2>/dev/null || break; sleep 0.1; done
    if ! grep -q '^Logical core' "$W/$name.err"; then
        sed 's/^/    /' "$W/$name.err" | tail -20
        fail "$name: testpmd did not start ($*)"
        kill -INT "$PMD" 2>/dev/null
        wait "$PMD"
        return 1
    fi
    sleep 1.5 # link up (autonegotiation) on both ports
}
# pmd_stop NAME: SIGINT, then the checks every run must pass.
pmd_stop() {
    local name=$1 j=$W/$1.json rc
    kill -INT "$PMD" 2>/dev/null
    wait "$PMD"
    rc=$?
    grep -v '^ *port [01] queue\|^Rates' "$W/$name.err" | grep -i 'warn\|error\|bad\|tso\|cksum' | head -20 | sed 's/^/    /'
    eq "$name: testpmd exit status after SIGINT" "$rc" 0
    eq "$name: mempools full, accounting_ok" \
        "$(jv "$j" '([.mempools[] | .capacity == .available] | all) and .accounting_ok')" true
    for p in 0 1; do
        echo "  $name port $p: $(jv "$j" ".ports[$p] | \"RX \(.rx_packets) pkts \(.rx_bytes) B, TX \(.tx_packets) pkts \(.tx_bytes) B, drops rx \(.rx_drops) tx \(.tx_drops)\"")"
    done
}
# port_rx NAME P: port P's received frames so far (from the stats rows).
port_rx() { grep -o "port $2 queue 0: RX [0-9]*" "$W/$1.err" | tail -1 | awk '{print $6}'; }
port_rx_now() { sleep 1.2; port_rx "$@"; }
# snmp NS PROTO FIELD: one /proc/net/snmp counter of a namespace.
snmp() {
    ip netns exec "$1" awk -v p="$2:" -v f="$3" \
        '$1 == p { if (!c) { for (i = 2; i <= NF; i++) if ($i == f) c = i } else { print $c; exit } }' /proc/net/snmp
}
snmp6() { ip netns exec "$1" awk -v f="$2" '$1 == f {print $2}' /proc/net/snmp6; }
dev_stat() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"; }
# tcp_xfer WHAT CONNECT LISTEN MB: MB megabytes ns0 -> ns1 (BUMP_NS) over TCP (socat
# addresses, e.g. TCP6:[fd00::2]:5004 and TCP6-LISTEN:5004), SHA-256 compared.
tcp_xfer() {
    local what=$1 conn=$2 listen=$3 mb=$4 want got srv t0 t1
    head -c $((mb * 1000000)) /dev/urandom >/tmp/send.bin
    want=$(sha256sum </tmp/send.bin | cut -d' ' -f1)
    ip netns exec "${BUMP_NS[1]}" timeout -k 5 150 socat -u "$listen,reuseaddr" OPEN:/tmp/recv.bin,creat,trunc &
    srv=$!
    sleep 0.5
    t0=$(date +%s.%N)
    timeout -k 5 150 ip netns exec "${BUMP_NS[0]}" socat -u OPEN:/tmp/send.bin "$conn,retry=10"
    wait "$srv"
    t1=$(date +%s.%N)
    got=$(sha256sum </tmp/recv.bin | cut -d' ' -f1)
    echo "  $mb MB in $(echo "$t1 - $t0" | bc) s"
    [[ $got == "$want" ]] && pass "$what: $mb MB over TCP, SHA-256 identical" ||
        fail "$what: TCP transfer stalled or corrupted: $(stat -c %s /tmp/recv.bin) of $((mb * 1000000)) bytes"
    rm -f /tmp/send.bin /tmp/recv.bin
}
ping_ok() { # ping_ok WHAT NS DST COUNT [ping options]
    local what=$1 ns=$2 dst=$3 n=$4 out
    shift 4
    # -w, not -W: with -W ping waits only two round trips for the last
    # replies once some came, and a reply a loaded host delayed a few ms was
    # counted lost; -w waits for all N (up to the deadline).
    out=$(ip netns exec "$ns" ping "$@" -c "$n" -i 0.05 -w $((n / 20 + 20)) "$dst" 2>&1)
    grep -q ' 0% packet loss' <<<"$out" && pass "$what: ping $dst 0% loss" || fail "$what: ping $dst: $(tail -2 <<<"$out" | tr '\n' ' ')"
}
ping_fails() { # ping_fails WHAT NS DST [ping options]: 3 echo requests, none answered
    local what=$1 ns=$2 dst=$3 out
    shift 3
    out=$(ip netns exec "$ns" ping "$@" -c 3 -i 0.3 -W 1 "$dst" 2>&1)
    grep -q ' 100% packet loss' <<<"$out" && pass "$what: ping $dst fails" ||
        fail "$what: ping $dst got through: $(tail -2 <<<"$out" | tr '\n' ' ')"
}
# tso_check LABEL NAME MSS MIN_SEGMENTS CONNECT LISTEN: the csum engine with
# tcp_tso at MTU 9000 (9216 B mbufs) forwards a 32 MB TCP transfer from ns0
# to ns1 (socat CONNECT and LISTEN addresses). k0's ~9 KB segments must reach
# igb0 whole (QEMU's hub does not cut them) and leave igb1 cut to MSS bytes of
# payload by the NIC: tx_tso > 0 and equal to igb1's TSCTC, no software
# checksum, k1 receiving at least MIN_SEGMENTS frames of <= 1514 B. The
# caller sets MTU 9000 on k0 and k1 and checks the receivers' checksum error
# counters around it. Needs k0mac, k1mac, k1 (k1's interface name).
tso_check() {
    local label=$1 name=$2 mss=$3 min_segs=$4 connect=$5 listen=$6 cks=ipv4_cksum,udp_cksum,tcp_cksum
    local j=$W/$2.json k1rx0 k1b0 k1rx k1b i0 i0b t1
    pmd_start "$name" --forward-mode csum --eth-peer "0,$k0mac" --eth-peer "1,$k1mac" --mtu 9000 --mbuf-size 9216 \
        --total-num-mbufs 8192 --rx-offloads "$cks" --tx-offloads "$cks,tcp_tso" --tso-segsz "$mss" || return 0
    k1rx0=$(dev_stat ns1 "$k1" rx_packets) k1b0=$(dev_stat ns1 "$k1" rx_bytes)
    tcp_xfer "$label" "$connect" "$listen" 32
    k1rx=$(($(dev_stat ns1 "$k1" rx_packets) - k1rx0)) k1b=$(($(dev_stat ns1 "$k1" rx_bytes) - k1b0))
    pmd_stop "$name"
    echo "  streams: $(jv "$j" '[.streams[] | "\(.rx_port)->\(.tx_port): offload \(.tx_cksum_offload) tso \(.tx_tso) sw \(.tx_cksum_sw)"] | join("; ")')"
    i0=$(jv "$j" '.ports[0].rx_packets') i0b=$(jv "$j" '.ports[0].rx_bytes') t1=$(jv "$j" '.ports[1].tx_packets')
    echo "  igb0 received $i0 frames (average $((i0b / (i0 ? i0 : 1))) B); igb1 was given $t1; k1 received $k1rx (average $((k1b / (k1rx ? k1rx : 1))) B)"
    eq "$label: igb0 received frames above 1514 B (k0's 9000 MTU segments, not cut by QEMU's hub)" \
        "$(jv "$j" '.ports[0].rx_bytes / .ports[0].rx_packets > 3000')" true
    eq "$label: tx_tso > 0 on the stream 0->1" "$(jv "$j" '[.streams[] | select(.rx_port == 0)][0].tx_tso > 0')" true
    eq "$label: tx_cksum_sw = 0" "$(jv "$j" '[.streams[].tx_cksum_sw] | add')" 0
    eq "$label: igb1 hardware tx_tcp_seg_good (TSCTC) = the stream's tx_tso" "$(jv "$j" '.ports[1].xstats.tx_tcp_seg_good')" \
        "$(jv "$j" '[.streams[] | select(.rx_port == 0)][0].tx_tso')"
    eq "$label: k1 received more frames than igb1 was given (segmented)" "$((k1rx > t1 + t1 / 2))" 1
    eq "$label: k1's frames average <= 1514 B (cut to $mss B of payload)" "$((k1rx > 0 && k1b / k1rx <= 1514))" 1
    eq "$label: 32 MB needs >= $min_segs segments of $mss B at k1" "$((k1rx >= min_segs))" 1
}
# udp_check WHAT: 200 datagrams of 1000 B ns2 -> ns3 (to $k3ip), each payload
# checked (the virtio scripts: bump/60, bump/62).
udp_check() {
    local what=$1 got
    # The first datagram may be 100 s away: the sender is another python
    # starting over 9p under TCG, which on a loaded host once took longer
    # than the 20 s allowed between datagrams (all 200 then hit NoPorts).
    ip netns exec ns3 timeout -k 2 150 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("'"$k3ip"'", 5005)); s.settimeout(100)
print("ready", flush=True); ok = 0
try:
    while ok < 200:
        d, _ = s.recvfrom(2000)
        s.settimeout(20)
        i = int(d[:8]); ok += d == (b"%08d" % i) + bytes((i * 7 + k) & 0xff for k in range(992))
except socket.timeout:
    pass
print(ok)' >"$W/udp.out" &
    local srv=$!
    # Python starts slowly over 9p under TCG: wait for the bound socket.
    for _ in $(seq 300); do grep -q ready "$W/udp.out" && break; sleep 0.1; done
    ip netns exec ns2 python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(200):
    s.sendto((b"%08d" % i) + bytes((i * 7 + k) & 0xff for k in range(992)), ("'"$k3ip"'", 5005)); time.sleep(0.005)'
    wait "$srv"
    got=$(tail -1 "$W/udp.out")
    eq "$what: UDP datagrams received intact at k3" "$got" 200
    [[ $got == 200 ]] || echo "  ns3 Udp InDatagrams $(snmp ns3 Udp InDatagrams) NoPorts $(snmp ns3 Udp NoPorts) InErrors $(snmp ns3 Udp InErrors); receiver said: $(tr '\n' ' ' <"$W/udp.out")"
}

# no_csum_errors WHAT: Linux in ns2 and ns3 counted no bad TCP/UDP checksum
# (counted since the namespaces were made: any bad checksum so far fails).
no_csum_errors() {
    local ns
    for ns in ns2 ns3; do
        eq "$1: $ns Tcp InCsumErrors, Udp InCsumErrors" "$(snmp "$ns" Tcp InCsumErrors) $(snmp "$ns" Udp InCsumErrors)" "0 0"
    done
}
