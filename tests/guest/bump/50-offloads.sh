#!/usr/bin/env bash
# tests/guest/bump/50-offloads.sh — igb's offloads with the Linux kernel as
# the judge, testpmd as a bump in the wire:
#   ns0 (k0, 198.18.0.1) -- igb0 [testpmd] igb1 -- ns1 (k1, 198.18.0.2)
# QEMU's virtio-net behind a hub has no vnet header, so k0/k1 offer no
# checksum or segmentation offload: the kernels compute and verify every
# checksum in software, and k0 sends at most MTU-sized frames.
#   1. TX checksum offload: the csum engine with the ipv4/udp/tcp rx and tx
#      checksum offloads (it leaves pseudo-header seeds, so only the NIC's
#      sums make the frames valid): ping 0% loss, 32 MB over TCP with the
#      same SHA-256, 200 UDP datagrams all received with intact payloads,
#      no Ip InHdrErrors / Tcp InCsumErrors / Udp InCsumErrors in ns0 or
#      ns1; 4 MB over SCTP intact with no SctpChecksumErrors (CRC-32C
#      from the NIC too); the streams show tx_cksum_offload > 0 and
#      tx_cksum_sw = 0.
#   2. RX checksum verdicts: 5 frames with a wrong UDP checksum and 5 with
#      a wrong IPv4 header checksum (raw AF_PACKET on k0) are counted
#      exactly as rx_bad_l4_csum = 5 and rx_bad_ip_csum = 5 (the kernel
#      sends none of its own; no TCP, UDP or SCTP frame of step 1 is taken
#      for bad), and forwarded repaired (ns1 counts no error).
#   3. TSO: MTU 9000 on k0, k1 and the ports (9216 B mbufs), the csum engine
#      with --tso-segsz 1448 and tcp_tso: ns0's ~9 KB segments reach igb0
#      whole (QEMU's hub does not segment), igb1 cuts them (tx_tso > 0,
#      hardware tx_tcp_seg_good > 0), k1 receives more frames than igb1 was
#      given, none above 1514 B on average, and 32 MB arrive intact.
#   4. VLAN: io with vlan_strip,vlan_filter, --vlan-filter 0,100 and
#      --tx-vlan 0,100: ns0's VLAN 100 (k0.100) talks to ns1's untagged k1
#      (ping, 8 MB TCP intact: strip on igb0 RX, insert on igb0 TX); VLAN
#      200 frames from k0.200 never reach testpmd (igb0's RX count does not
#      move, k1 receives nothing) while k0 sent them.
#   5. Unicast/multicast filters with promiscuous off: without
#      --mac-addr-add, ns0's unicast to ns1's MAC is not received (igb0 RX
#      0); with --mac-addr-add 0,<k1> and 1,<k0> ping works; with
#      --mc-addr 0,01:00:5e:01:01:01, 100 datagrams to 239.1.1.1 are
#      received (igb0 RX and ns1's socket: 100) and 100 to 239.1.1.2 (MTA
#      bit 0x020, not 0x010) are not (0).
#   6. Every testpmd run exits 0 on SIGINT, pools full, accounting_ok.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bump-testpmd.bash"

k0=$FERRITE_K0_IF k1=$FERRITE_K1_IF
k0mac=$FERRITE_K0_MAC k1mac=$FERRITE_K1_MAC
k0ip=${FERRITE_K0_IP:-198.18.0.1} k1ip=${FERRITE_K1_IP:-198.18.0.2}
py=/usr/bin/python3
[[ -x $py ]] || { fail "$py missing"; finish; exit 1; }

# ---------------------------------------------------------------- helpers
cat >"$W/h.py" <<'EOF'
import socket, struct, sys, select, time
def payload(i, n):
    head = b"seq:%08d:" % i
    return (head + bytes((i * 7 + k) & 0xff for k in range(n)))[:n]
cmd = sys.argv[1]
if cmd == "send":   # send DST PORT N [IFADDR]
    dst, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if len(sys.argv) > 5:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(sys.argv[5]))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 4)
    for i in range(n):
        s.sendto(payload(i, 1000), (dst, port))
        time.sleep(0.01)
elif cmd == "recv":  # recv SECS IFADDR ADDR:PORT... (ADDR multicast: joined)
    secs, ifaddr = float(sys.argv[2]), sys.argv[3]
    socks = {}
    for ap in sys.argv[4:]:
        a, p = ap.split(":")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a, int(p)))
        if int(a.split(".")[0]) >= 224:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(a) + socket.inet_aton(ifaddr))
        socks[s] = [ap, 0, 0, set()]
    print("ready", flush=True)
    end = time.time() + secs
    while time.time() < end:
        r, _, _ = select.select(list(socks), [], [], 0.2)
        for s in r:
            d = s.recv(65535)
            st = socks[s]
            try:
                i = int(d[4:12])
                ok = d == payload(i, 1000)
            except ValueError:
                ok = False
            if ok:
                st[1] += 1; st[3].add(i)
            else:
                st[2] += 1
    for st in socks.values():
        print("%s good %d bad %d distinct %d" % (st[0], st[1], st[2], len(st[3])))
elif cmd == "sctp-recv":  # sctp-recv ADDR PORT: one association, SHA-256 of all it got
    import hashlib
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 132)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((sys.argv[2], int(sys.argv[3]))); l.listen(1)
    print("ready", flush=True)
    c, _ = l.accept()
    h, n = hashlib.sha256(), 0
    while True:
        d = c.recv(65536)
        if not d: break
        h.update(d); n += len(d)
    print("sctp %d %s" % (n, h.hexdigest()), flush=True)
elif cmd == "sctp-send":  # sctp-send ADDR PORT FILE
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 132)
    s.connect((sys.argv[2], int(sys.argv[3])))
    with open(sys.argv[4], "rb") as f:
        while True:
            d = f.read(8192)
            if not d: break
            s.sendall(d)
    s.close()
elif cmd == "raw":   # raw IFACE SRCMAC DSTMAC SRCIP DSTIP NBADL4 NBADIP
    ifc, smac, dmac, sip, dip = sys.argv[2:7]
    nl4, nip = int(sys.argv[7]), int(sys.argv[8])
    def csum(b):
        if len(b) % 2: b += b"\0"
        s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
        while s >> 16: s = (s & 0xffff) + (s >> 16)
        return ~s & 0xffff
    def frame(i, bad_l4, bad_ip):
        data = b"bad-csum-test-%04d" % i + bytes(14)
        udp = struct.pack("!HHHH", 40000 + i, 9, 8 + len(data), 0) + data
        ph = socket.inet_aton(sip) + socket.inet_aton(dip) + struct.pack("!BBH", 0, 17, len(udp))
        uc = csum(ph + udp) or 0xffff
        if bad_l4:
            uc ^= 0x00ff
            uc = uc or 0x1234
        udp = udp[:6] + struct.pack("!H", uc) + udp[8:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0x4000 + i, 0x4000, 64, 17, 0,
                         socket.inet_aton(sip), socket.inet_aton(dip))
        ic = csum(ip)
        if bad_ip:
            ic ^= 0x00ff
        ip = ip[:10] + struct.pack("!H", ic) + ip[12:]
        mac = lambda m: bytes.fromhex(m.replace(":", ""))
        return mac(dmac) + mac(smac) + b"\x08\x00" + ip + udp
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifc, 0))
    for i in range(nl4):
        s.send(frame(i, True, False)); time.sleep(0.05)
    for i in range(nip):
        s.send(frame(100 + i, False, True)); time.sleep(0.05)
EOF

sctp_errors() { ip netns exec "$1" awk '$1 == "SctpChecksumErrors" {print $2}' /proc/net/sctp/snmp 2>/dev/null; }
csum_errors() { echo "$(snmp "$1" Ip InHdrErrors)/$(snmp "$1" Tcp InCsumErrors)/$(snmp "$1" Udp InCsumErrors)"; }

peers=(--eth-peer "0,$k0mac" --eth-peer "1,$k1mac")
cks=ipv4_cksum,udp_cksum,tcp_cksum

# ------------------------------------------- 1+2. checksum offload, csum engine
echo "== 1. TX checksum offload (csum engine), 2. RX bad checksums"
e0=$(csum_errors ns0) e1=$(csum_errors ns1)
sctp=0
if [[ -d /sys/module/sctp ]] || modprobe sctp 2>/dev/null; then sctp=1; s0=$(sctp_errors ns0) s1=$(sctp_errors ns1); else
    skip "SCTP: no sctp module for kernel $(uname -r) (modprobe sctp failed)"; fi
if pmd_start csum --forward-mode csum "${peers[@]}" --rx-offloads "$cks,sctp_cksum" --tx-offloads "$cks,sctp_cksum"; then
    ping_ok "csum offload ns0 -> ns1" ns0 "$k1ip" 50
    tcp_xfer "csum offload" "TCP:$k1ip:5001" TCP-LISTEN:5001 32
    ip netns exec ns1 timeout -k 5 60 "$py" "$W/h.py" recv 25 "$k1ip" "$k1ip:5005" >"$W/udp.out" &
    r=$!
    for _ in $(seq 300); do grep -q ready "$W/udp.out" && break; sleep 0.1; done
    timeout -k 5 30 ip netns exec ns0 "$py" "$W/h.py" send "$k1ip" 5005 200
    wait "$r"
    echo "  UDP receiver: $(grep good "$W/udp.out")"
    eq "csum offload: 200 UDP datagrams received intact" "$(awk '/good/{print $3 "/" $5 "/" $7}' "$W/udp.out")" 200/0/200
    if ((sctp)); then
        head -c 4000000 /dev/urandom >/tmp/sctp.bin
        ip netns exec ns1 timeout -k 5 90 "$py" "$W/h.py" sctp-recv "$k1ip" 5008 >"$W/sctp.out" &
        r=$!
        for _ in $(seq 300); do grep -q ready "$W/sctp.out" && break; sleep 0.1; done
        timeout -k 5 90 ip netns exec ns0 "$py" "$W/h.py" sctp-send "$k1ip" 5008 /tmp/sctp.bin || fail "SCTP sender failed"
        wait "$r"
        eq "csum offload: 4 MB over SCTP (CRC-32C by the NIC), length and SHA-256 identical" \
            "$(awk '/^sctp/{print $2 " " $3}' "$W/sctp.out")" "4000000 $(sha256sum </tmp/sctp.bin | cut -d' ' -f1)"
        rm -f /tmp/sctp.bin
        eq "ns1/ns0: SctpChecksumErrors unchanged" "$(sctp_errors ns1)/$(sctp_errors ns0)" "$s1/$s0"
    fi
    # 2: bad checksums, now that ARP is resolved and nothing else flows.
    timeout -k 5 20 ip netns exec ns0 "$py" "$W/h.py" raw "$k0" "$k0mac" "$k1mac" "$k0ip" "$k1ip" 5 5 ||
        fail "raw AF_PACKET send failed"
    sleep 1.5
    pmd_stop csum
    j=$W/csum.json
    echo "  streams: $(jv "$j" '[.streams[] | "\(.rx_port)->\(.tx_port): offload \(.tx_cksum_offload) tso \(.tx_tso) sw \(.tx_cksum_sw) bad_ip \(.rx_bad_ip_csum) bad_l4 \(.rx_bad_l4_csum)"] | join("; ")')"
    eq "csum: tx_cksum_offload > 0 on both streams" "$(jv "$j" '[.streams[].tx_cksum_offload > 0] | all')" true
    eq "csum: tx_cksum_sw = 0 (every checksum left to the NIC)" "$(jv "$j" '[.streams[].tx_cksum_sw] | add')" 0
    eq "csum: rx_bad_l4_csum = the 5 frames with a wrong UDP checksum" "$(jv "$j" '[.streams[].rx_bad_l4_csum] | add')" 5
    eq "csum: rx_bad_ip_csum = the 5 frames with a wrong IPv4 checksum" "$(jv "$j" '[.streams[].rx_bad_ip_csum] | add')" 5
    eq "csum: the bad frames came in on port 0 (rx_port 0 stream bad ip/l4)" \
        "$(jv "$j" '[.streams[] | select(.rx_port == 0)][0] | "\(.rx_bad_ip_csum)/\(.rx_bad_l4_csum)"')" 5/5
    # Linux igb's per-queue csum_err counts the same frames under its name.
    csum_err='[.xstats | to_entries[] | select(.key | test("^rx_queue_[0-9]+_csum_err$")) | .value] | add'
    eq "csum: igb0/igb1 rx_queue_N_csum_err summed = the 10 bad frames / none" \
        "$(jv "$j" "[.ports[] | $csum_err] | map(tostring) | join(\"/\")")" 10/0
fi
eq "ns1: Ip InHdrErrors/Tcp InCsumErrors/Udp InCsumErrors unchanged" "$(csum_errors ns1)" "$e1"
eq "ns0: Ip InHdrErrors/Tcp InCsumErrors/Udp InCsumErrors unchanged" "$(csum_errors ns0)" "$e0"
echo "  (ns1 $(csum_errors ns1), ns0 $(csum_errors ns0))"

# ---------------------------------------------------------------- 3. TSO
echo "== 3. TSO"
e0=$(csum_errors ns0) e1=$(csum_errors ns1)
ip -n ns0 link set "$k0" mtu 9000 && ip -n ns1 link set "$k1" mtu 9000 || fail "cannot set MTU 9000 on k0/k1"
ip -n ns0 neigh flush dev "$k0"; ip -n ns1 neigh flush dev "$k1"
ip -n ns0 route flush cache 2>/dev/null
tso_check TSO tso 1448 22099 "TCP:$k1ip:5002" TCP-LISTEN:5002
eq "TSO: ns1 Ip InHdrErrors/Tcp InCsumErrors/Udp InCsumErrors unchanged" "$(csum_errors ns1)" "$e1"
eq "TSO: ns0 Ip InHdrErrors/Tcp InCsumErrors/Udp InCsumErrors unchanged" "$(csum_errors ns0)" "$e0"
ip -n ns0 link set "$k0" mtu 1500; ip -n ns1 link set "$k1" mtu 1500

# ---------------------------------------------------------------- 4. VLAN
echo "== 4. VLAN strip, insert, filter"
[[ -d /sys/module/8021q ]] || modprobe 8021q || fail "modprobe 8021q failed"
# An earlier script in this boot may have left VLAN devices behind (8021q
# allows one per ID on a parent): start from none.
for ns in ns0 ns1; do
    for dev in $(ip -n "$ns" -o link show type vlan | awk -F': ' '{print $2}' | cut -d@ -f1); do
        ip -n "$ns" link del "$dev" 2>/dev/null
    done
done
if ip -n ns0 link add link "$k0" name k0.100 type vlan id 100 && ip -n ns0 addr add 198.18.3.1/24 dev k0.100 &&
    ip -n ns0 link set k0.100 up && ip -n ns1 addr add 198.18.3.2/24 dev "$k1" &&
    ip -n ns0 link add link "$k0" name k0.200 type vlan id 200 && ip -n ns0 addr add 198.18.4.1/24 dev k0.200 &&
    ip -n ns0 link set k0.200 up && ip -n ns1 addr add 198.18.4.2/24 dev "$k1"; then
    if pmd_start vlan --forward-mode io --rx-offloads vlan_strip,vlan_filter --vlan-filter 0,100 --tx-vlan 0,100; then
        ping_ok "VLAN 100 (stripped by igb0 RX, inserted by igb0 TX)" ns0 198.18.3.2 20
        tcp_xfer "VLAN 100 <-> untagged" TCP:198.18.3.2:5003 TCP-LISTEN:5003 8
        before=$(port_rx_now vlan 0) k1b=$(dev_stat ns1 "$k1" rx_packets) k0t=$(dev_stat ns0 k0.200 tx_packets)
        out=$(ip netns exec ns0 ping -c 4 -i 0.3 -W 1 198.18.4.2 2>&1)
        after=$(port_rx_now vlan 0)
        k1d=$(($(dev_stat ns1 "$k1" rx_packets) - k1b)) k0d=$(($(dev_stat ns0 k0.200 tx_packets) - k0t))
        echo "  VLAN 200: k0.200 sent $k0d frames; igb0 RX $before -> $after; k1 received $k1d"
        grep -q ' 100% packet loss' <<<"$out" && pass "VLAN 200: ping fails" || fail "VLAN 200: ping got through: $(tail -2 <<<"$out" | tr '\n' ' ')"
        eq "VLAN 200: k0.200 sent frames" "$((k0d > 0))" 1
        eq "VLAN 200: igb0 received none of them (filtered by the VFTA)" "$((after - before))" 0
        eq "VLAN 200: k1 received nothing" "$k1d" 0
        ping_ok "VLAN 100 again after VLAN 200" ns0 198.18.3.2 5
        pmd_stop vlan
        eq "VLAN: port 0 vlan_filters in the report" "$(jv "$W/vlan.json" '.ports[0].vlan_filters | map(tostring) | join(",")')" 100
        eq "VLAN: the NIC strips and inserts (port 0 rx vlan_strip, tx vlan_insert offloads)" \
            "$(jv "$W/vlan.json" '.ports[0] | (.rx_offloads | index("vlan_strip") != null) and (.tx_offloads | index("vlan_insert") != null)')" true
        # QEMU drops a VFTA-filtered frame before any counter (GPRC, MPC, RNBC);
        # it only counts frames under 60 B in RUC (rx_short_length_errors),
        # filtered or not, so GPRC = software RX is the hardware's testimony.
        eq "VLAN: igb0 hardware rx_packets (GPRC) = software (the VLAN 200 frames not counted as received)" \
            "$(jv "$W/vlan.json" '.ports[0].xstats.rx_packets')" "$(jv "$W/vlan.json" '.ports[0].rx_packets')"
        echo "  igb0 hardware drop counters: $(jv "$W/vlan.json" '.ports[0].xstats | to_entries | map(select((.key | test("drop|missed|no_buffer|errors")) and .value > 0)) | map("\(.key)=\(.value)") | join(" ")')"
    fi
    ip -n ns0 link del k0.100; ip -n ns0 link del k0.200
    ip -n ns1 addr del 198.18.3.2/24 dev "$k1"; ip -n ns1 addr del 198.18.4.2/24 dev "$k1"
else
    fail "could not create VLAN interfaces / addresses"
fi

# ------------------------------------------------ 5. unicast and multicast filters
echo "== 5. promiscuous off: unicast (RAR) and multicast (MTA) filters"
mta() { local b4=$((16#${1:12:2})) b5=$((16#${1:15:2})); printf '0x%03x' $(((b5 << 4 | b4 >> 4) & 0xfff)); }
g1=01:00:5e:01:01:01 g2=01:00:5e:01:01:02
echo "  MTA bits: $g1 -> $(mta $g1), $g2 -> $(mta $g2)"
[[ $(mta $g1) != $(mta $g2) ]] || fail "the two groups share an MTA bit: pick others"
# Static neighbours: the first frame is the unicast echo request itself.
ip -n ns0 neigh replace "$k1ip" lladdr "$k1mac" dev "$k0" nud permanent
ip -n ns1 neigh replace "$k0ip" lladdr "$k0mac" dev "$k1" nud permanent
if pmd_start nopromisc --forward-mode io --no-promisc; then
    before=$(port_rx_now nopromisc 0)
    out=$(ip netns exec ns0 ping -c 4 -i 0.3 -W 1 "$k1ip" 2>&1)
    after=$(port_rx_now nopromisc 0)
    grep -q ' 100% packet loss' <<<"$out" && pass "no-promisc, no mac-addr-add: ping to ns1's MAC fails" ||
        fail "no-promisc: ping got through without --mac-addr-add: $(tail -2 <<<"$out" | tr '\n' ' ')"
    eq "no-promisc: igb0 received none of the 4 echo requests" "$((after - before))" 0
    pmd_stop nopromisc
fi
if pmd_start mcast --forward-mode io --no-promisc --mac-addr-add "0,$k1mac" --mac-addr-add "1,$k0mac" --mc-addr "0,$g1"; then
    ping_ok "no-promisc with --mac-addr-add" ns0 "$k1ip" 20
    # The window holds both senders with room to spare on a loaded machine
    # (with 10 s, ns1 once counted none of them while igb0 forwarded all).
    ip netns exec ns1 timeout -k 5 60 "$py" "$W/h.py" recv 25 "$k1ip" 239.1.1.1:5006 239.1.1.2:5007 >"$W/mc.out" &
    r=$!
    for _ in $(seq 300); do grep -q ready "$W/mc.out" && break; sleep 0.1; done
    sleep 0.5
    b0=$(port_rx_now mcast 0)
    timeout -k 5 30 ip netns exec ns0 "$py" "$W/h.py" send 239.1.1.1 5006 100 "$k0ip"
    b1=$(port_rx_now mcast 0)
    timeout -k 5 30 ip netns exec ns0 "$py" "$W/h.py" send 239.1.1.2 5007 100 "$k0ip"
    b2=$(port_rx_now mcast 0)
    wait "$r"
    echo "  igb0 RX: $b0 -> $b1 (239.1.1.1) -> $b2 (239.1.1.2); ns1: $(grep good "$W/mc.out" | tr '\n' ';')"
    eq "multicast: igb0 received the 100 datagrams to the listed 239.1.1.1" "$((b1 - b0))" 100
    eq "multicast: igb0 received none of the 100 to the unlisted 239.1.1.2" "$((b2 - b1))" 0
    eq "multicast: ns1 got 239.1.1.1 x100 intact" "$(awk '$1 == "239.1.1.1:5006" {print $3 "/" $5}' "$W/mc.out")" 100/0
    eq "multicast: ns1 got 239.1.1.2 x0" "$(awk '$1 == "239.1.1.2:5007" {print $3 "/" $5}' "$W/mc.out")" 0/0
    pmd_stop mcast
    eq "multicast: igb0 hardware rx_multicast (MPRC) = 100" "$(jv "$W/mcast.json" '.ports[0].xstats.rx_multicast')" 100
fi
ip -n ns0 neigh del "$k1ip" dev "$k0" 2>/dev/null; ip -n ns1 neigh del "$k0ip" dev "$k1" 2>/dev/null

finish
