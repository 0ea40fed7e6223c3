#!/usr/bin/env bash
# tests/guest/bump/55-offloads-more.sh — more of igb's offloads and filters
# with the Linux kernel as the judge, testpmd as a bump in the wire (the
# layout and helpers of 50-offloads.sh):
#   ns0 (k0, 198.18.0.1) -- igb0 [testpmd] igb1 -- ns1 (k1, 198.18.0.2)
#   1. IPv6 neighbour discovery with promiscuous off: fd00::1 on k0,
#      fd00::2 on k1 (IPv6 turned on for k0/k1 only, no DAD, no router
#      solicitations; off again at the end). With --mac-addr-add 0,<k1>
#      and 1,<k0> but no multicast group, after flushing the neighbour
#      caches, `ping -6 fd00::2` fails and igb0 receives none of k0's
#      neighbour solicitations (sent to 33:33:ff:00:00:02) while k0 sent
#      them; with --mc-addr 0,33:33:ff:00:00:02 (fd00::2's solicited-node
#      group, which k0 asks on igb0's wire) and 1,33:33:ff:00:00:01
#      (fd00::1's, for k1's own solicitations through igb1) added, ping -6
#      has 0% loss, ns0's neighbour entry for fd00::2 is k1's MAC and
#      igb0's hardware counted multicast frames (MPRC > 0): the multicast
#      list is what made ND work.
#   2. TSO over IPv6: as 50-offloads step 3 (MTU 9000 on k0, k1 and the
#      ports, csum engine, tcp_tso) but a 32 MB TCP transfer between
#      fd00::1 and fd00::2, with --tso-segsz 1428 (the IPv6 header is 20 B
#      longer than IPv4's, so 14 + 40 + 32 + 1428 = 1514 B frames): SHA-256
#      identical, igb0 receives ~9 KB frames, tx_tso > 0 and = igb1's
#      hardware TSCTC, k1 receives more frames than igb1 was given, none
#      above 1514 B on average, no Tcp InCsumErrors / Ip6InHdrErrors.
#   3. Double VLAN (vlan_extend, CTRL_EXT.EXT_VLAN). The 82576 and QEMU's
#      model take a frame as double-tagged when its outer TPID is
#      VET.VET_EXT and its inner one VET; ferrite leaves both at 0x8100, so
#      the stacks here are 802.1Q-in-802.1Q: ns0 s300 (VID 300) with
#      s300.100 (198.18.5.1) and s300.200 on it; ns1 o100 (VID 100) with
#      o100.300 (198.18.5.2), i.e. the tags in the other order. testpmd io
#      with vlan_extend,vlan_strip,vlan_filter, --vlan-filter 0,100 and
#      1,300 (inner IDs only), --tx-vlan 0,300 and 1,100:
#      * ping (0% loss) and 8 MB over TCP (1522 B frames) intact: igb0
#        strips the INNER tag 100 and filters on it (the outer 300 is in
#        no filter), igb1 inserts 100 as the outer tag (QEMU inserts
#        outermost), k1 sees 100/300; and back the same way;
#      * the capture (--pcap-rx) shows every frame igb0 took from k0 as
#        8100:300 then IPv4/ARP, every frame igb1 took from k1 as 8100:100
#        then IPv4/ARP (the inner tag removed, the outer kept);
#      * s300.200 (inner VID 200): ping fails, igb0's RX count does not
#        move (the filter looked at the inner tag), while s300.200 sent;
#      * control without vlan_extend (filters 100,300 on both ports): the
#        NIC strips the OUTER tag (capture: 8100:100 then IPv4/ARP) and
#        ping fails (k1 gets 100/100).
#      802.1ad (Linux `proto 802.1ad`, TPID 0x88a8) outside 802.1Q, with
#      vlan_extend,vlan_strip,vlan_filter and --vlan-tpid 0,outer,0x88a8:
#      20 UDP datagrams from ns0's ad300.100 reach a socket on ns1's ad300
#      (the inner tag stripped, the outer kept: the capture shows every
#      frame igb0 took as 88a8:300 then IPv4); from ad300.200 igb0 receives
#      nothing (the VFTA checked the inner tag). Control without
#      --vlan-tpid: the same inner-200 frames pass with both tags (QEMU
#      takes a frame as double-tagged only if its outer EtherType is
#      VET >> 16, hw/net/igb_core.c igb_receive_assign).
#   4. icmpecho: testpmd --forward-mode icmpecho --port-topology loop; from
#      ns0 `ping -c 20 198.18.0.99` (owned by no kernel) has 0% loss, ns0's
#      neighbour entry for it is igb0's MAC (testpmd's startup line, and
#      FERRITE_IGB0_MAC), ns0 counts 20 more Icmp InEchoReps and no
#      InCsumErrors; 5 UDP datagrams to it are consumed (stream 0->0
#      consumed = 5), the stream is balanced, tx >= 21 (20 echo + ARP
#      replies) and = port 0's TX = what k0 received; nothing reaches ns1;
#      after testpmd stops, a fresh ping to .99 fails (no one else answers).
#   Every testpmd run exits 0 on SIGINT, pools full, accounting_ok.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testpmd.bash"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bump-testpmd.bash"

k0=$FERRITE_K0_IF k1=$FERRITE_K1_IF
k0mac=$FERRITE_K0_MAC k1mac=$FERRITE_K1_MAC
k0ip=${FERRITE_K0_IP:-198.18.0.1}
py=/usr/bin/python3
[[ -x $py ]] || { fail "$py missing"; finish; exit 1; }

# ---------------------------------------------------------------- helpers
# (pmd_start, pmd_stop, port_rx, snmp, dev_stat, tcp_xfer, ping_ok, ping_fails:
# lib/bump-testpmd.bash)
cat >"$W/pcap.py" <<'EOF'
# pcap.py FILE SRCMAC: per capture interface, the L2 shape of the frames
# from SRCMAC: "IFNAME TPID:VID/.../ETHERTYPE COUNT" (pcapng, little endian).
import collections, struct, sys
data = open(sys.argv[1], "rb").read()
src = bytes.fromhex(sys.argv[2].replace(":", ""))
names, count, i = [], collections.Counter(), 0
while i + 12 <= len(data):
    kind, blen = struct.unpack_from("<II", data, i)
    if blen < 12 or i + blen > len(data):
        break
    body = data[i + 8:i + blen - 4]
    if kind == 1:  # Interface Description Block: if_name option (2)
        name, o = "?", 8
        while o + 4 <= len(body):
            code, n = struct.unpack_from("<HH", body, o)
            if code == 0:
                break
            if code == 2:
                name = body[o + 4:o + 4 + n].decode()
            o += 4 + ((n + 3) & ~3)
        names.append(name)
    elif kind == 6:  # Enhanced Packet Block
        ifid, _, _, cap, _ = struct.unpack_from("<IIIII", body, 0)
        f = body[20:20 + cap]
        if f[6:12] == src and len(f) >= 14:
            o, shape = 12, []
            et = struct.unpack_from(">H", f, o)[0]
            while et in (0x8100, 0x88a8) and len(f) >= o + 6 and len(shape) < 4:
                shape.append("%04x:%d" % (et, struct.unpack_from(">H", f, o + 2)[0] & 0xfff))
                o += 4
                et = struct.unpack_from(">H", f, o)[0]
            shape.append("%04x" % et)
            count[(names[ifid] if ifid < len(names) else "?", "/".join(shape))] += 1
    i += blen
for (ifname, shape), n in sorted(count.items()):
    print(ifname, shape, n)
EOF

# shapes NAME IF MAC: the L2 shapes of MAC's frames captured on IF (port0/rxq0).
shapes() { timeout -k 5 60 "$py" "$W/pcap.py" "$W/$1.pcapng" "$3" | awk -v i="$2" '$1 == i {print $2 " " $3}'; }
# shape_count NAME IF MAC REGEX: how many of them have a shape matching REGEX; and all of them.
shape_count() { shapes "$1" "$2" "$3" | awk -v re="$4" '$1 ~ re {n += $2} {t += $2} END {print n + 0 "/" t + 0}'; }
del_vlans() { # every VLAN device in ns0 and ns1 (8021q allows one per ID and protocol on a parent)
    local ns dev
    for ns in ns0 ns1; do
        for dev in $(ip -n "$ns" -o link show type vlan | awk -F': ' '{print $2}' | cut -d@ -f1 | sort -r); do
            ip -n "$ns" link del "$dev" 2>/dev/null
        done
    done
}

# ------------------------------------------- 1. IPv6 neighbour discovery, promiscuous off
echo "== 1. IPv6 neighbour discovery with promiscuous off: unicast (RAR) and solicited-node (MTA) filters"
v6=0
sysv6() { ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.$3=$4"; }
if sysv6 ns0 "$k0" accept_dad 0 && sysv6 ns0 "$k0" router_solicitations 0 && sysv6 ns0 "$k0" disable_ipv6 0 &&
    sysv6 ns1 "$k1" accept_dad 0 && sysv6 ns1 "$k1" router_solicitations 0 && sysv6 ns1 "$k1" disable_ipv6 0 &&
    ip -n ns0 -6 addr add fd00::1/64 dev "$k0" nodad && ip -n ns1 -6 addr add fd00::2/64 dev "$k1" nodad; then
    v6=1
else
    fail "could not turn IPv6 on for k0/k1 or add fd00::1/fd00::2"
fi
sn0=33:33:ff:00:00:02 sn1=33:33:ff:00:00:01 # solicited-node groups of fd00::2 and fd00::1
flush6() { ip -n ns0 -6 neigh flush dev "$k0"; ip -n ns1 -6 neigh flush dev "$k1"; }
if ((v6)) && pmd_start nd-nomc --forward-mode io --no-promisc --mac-addr-add "0,$k1mac" --mac-addr-add "1,$k0mac"; then
    flush6
    before=$(port_rx_now nd-nomc 0) k0t=$(dev_stat ns0 "$k0" tx_packets)
    ping_fails "IPv6 without the solicited-node groups (ND cannot resolve)" ns0 fd00::2 -6
    after=$(port_rx_now nd-nomc 0) k0d=$(($(dev_stat ns0 "$k0" tx_packets) - k0t))
    echo "  k0 sent $k0d frames (neighbour solicitations); igb0 RX $before -> $after"
    eq "IPv6 no groups: k0 sent neighbour solicitations" "$((k0d > 0))" 1
    eq "IPv6 no groups: igb0 received none of them (no MTA bit)" "$((after - before))" 0
    pmd_stop nd-nomc
fi
if ((v6)) && pmd_start nd --forward-mode io --no-promisc --mac-addr-add "0,$k1mac" --mac-addr-add "1,$k0mac" \
    --mc-addr "0,$sn0" --mc-addr "1,$sn1"; then
    flush6
    ping_ok "IPv6 with the solicited-node groups (ND resolves through the MTA)" ns0 fd00::2 20 -6
    n=$(ip -n ns0 -6 neigh show fd00::2 dev "$k0")
    echo "  ns0 neighbour: $n; ns1: $(ip -n ns1 -6 neigh show fd00::1 dev "$k1")"
    eq "IPv6: ns0's neighbour entry for fd00::2 is k1's MAC" "$(awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}' <<<"$n")" "$k1mac"
    pmd_stop nd
    eq "IPv6: the report lists the groups (port 0, port 1)" \
        "$(jv "$W/nd.json" '"\(.ports[0].mc_addrs | join(",")) \(.ports[1].mc_addrs | join(","))"')" "$sn0 $sn1"
    eq "IPv6: igb0 hardware rx_multicast (MPRC) > 0 (the solicitations for fd00::2)" \
        "$(jv "$W/nd.json" '.ports[0].xstats.rx_multicast > 0')" true
fi

# ---------------------------------------------------------------- 2. TSO over IPv6
echo "== 2. TSO over IPv6"
if ((v6)); then
    e0=$(snmp ns0 Tcp InCsumErrors)/$(snmp6 ns0 Ip6InHdrErrors) e1=$(snmp ns1 Tcp InCsumErrors)/$(snmp6 ns1 Ip6InHdrErrors)
    ip -n ns0 link set "$k0" mtu 9000 && ip -n ns1 link set "$k1" mtu 9000 || fail "cannot set MTU 9000 on k0/k1"
    flush6
    tso_check "TSO v6" tso6 1428 22409 "TCP6:[fd00::2]:5004" TCP6-LISTEN:5004
    eq "TSO v6: ns1 Tcp InCsumErrors/Ip6InHdrErrors unchanged" "$(snmp ns1 Tcp InCsumErrors)/$(snmp6 ns1 Ip6InHdrErrors)" "$e1"
    eq "TSO v6: ns0 Tcp InCsumErrors/Ip6InHdrErrors unchanged" "$(snmp ns0 Tcp InCsumErrors)/$(snmp6 ns0 Ip6InHdrErrors)" "$e0"
    ip -n ns0 link set "$k0" mtu 1500; ip -n ns1 link set "$k1" mtu 1500
else
    fail "TSO over IPv6 not run: no IPv6 addresses"
fi
# IPv6 off again, as the layout documents it (the addresses go with it).
ip -n ns0 -6 addr del fd00::1/64 dev "$k0" 2>/dev/null; ip -n ns1 -6 addr del fd00::2/64 dev "$k1" 2>/dev/null
sysv6 ns0 "$k0" disable_ipv6 1; sysv6 ns1 "$k1" disable_ipv6 1
ip -n ns0 -6 neigh flush dev "$k0" 2>/dev/null; ip -n ns1 -6 neigh flush dev "$k1" 2>/dev/null

# ---------------------------------------------------------------- 3. double VLAN
echo "== 3. double VLAN (vlan_extend): strip and filter on the inner tag"
[[ -d /sys/module/8021q ]] || modprobe 8021q || fail "modprobe 8021q failed"
del_vlans
vl() { ip -n "$1" link add link "$2" name "$3" type vlan "${@:4}" && ip -n "$1" link set "$3" up; }
if vl ns0 "$k0" s300 id 300 && vl ns0 s300 s300.100 id 100 && vl ns0 s300 s300.200 id 200 &&
    vl ns1 "$k1" o100 id 100 && vl ns1 o100 o100.300 id 300 &&
    ip -n ns0 addr add 198.18.5.1/24 dev s300.100 && ip -n ns0 addr add 198.18.6.1/24 dev s300.200 &&
    ip -n ns1 addr add 198.18.5.2/24 dev o100.300; then
    if pmd_start qinq --forward-mode io --rx-offloads vlan_extend,vlan_strip,vlan_filter \
        --vlan-filter 0,100 --vlan-filter 1,300 --tx-vlan 0,300 --tx-vlan 1,100 --pcap-rx "$W/qinq.pcapng"; then
        ping_ok "QinQ 300/100 -> 100/300 (igb0 strips inner 100, igb1 inserts 100 outside)" ns0 198.18.5.2 20
        tcp_xfer "QinQ 300/100 <-> 100/300" TCP:198.18.5.2:5010 TCP-LISTEN:5010 8
        before=$(port_rx_now qinq 0) k0t=$(dev_stat ns0 s300.200 tx_packets)
        ping_fails "QinQ inner VLAN 200 (not in igb0's filter)" ns0 198.18.6.2
        after=$(port_rx_now qinq 0) k0d=$(($(dev_stat ns0 s300.200 tx_packets) - k0t))
        echo "  inner VLAN 200: s300.200 sent $k0d frames; igb0 RX $before -> $after"
        eq "QinQ inner 200: s300.200 sent frames" "$((k0d > 0))" 1
        eq "QinQ inner 200: igb0 received none of them (VFTA looked at the inner tag)" "$((after - before))" 0
        ping_ok "QinQ 300/100 again after inner 200" ns0 198.18.5.2 5
        pmd_stop qinq
        j=$W/qinq.json
        eq "QinQ: port 0/1 vlan_filters in the report" \
            "$(jv "$j" '"\(.ports[0].vlan_filters | map(tostring) | join(","))/\(.ports[1].vlan_filters | map(tostring) | join(","))"')" 100/300
        eq "QinQ: ports run with vlan_extend and vlan_strip, and insert in the NIC (vlan_insert)" \
            "$(jv "$j" '[.ports[] | (.rx_offloads | index("vlan_extend") != null and index("vlan_strip") != null) and (.tx_offloads | index("vlan_insert") != null)] | all')" true
        eq "QinQ: igb0 hardware rx_packets (GPRC) = software (the inner-200 frames not counted)" \
            "$(jv "$j" '.ports[0].xstats.rx_packets')" "$(jv "$j" '.ports[0].rx_packets')"
        echo "  igb0 took from k0: $(shapes qinq port0/rxq0 "$k0mac" | tr '\n' ';')  igb1 took from k1: $(shapes qinq port1/rxq0 "$k1mac" | tr '\n' ';')"
        s=$(shape_count qinq port0/rxq0 "$k0mac" '^8100:300/08(00|06)$')
        eq "QinQ: every frame igb0 took from k0 is 8100:300 + IPv4/ARP (inner tag stripped, outer kept; n/total)" "$s" "${s#*/}/${s#*/}"
        eq "QinQ: igb0 captured frames from k0" "$((${s#*/} > 0))" 1
        s=$(shape_count qinq port1/rxq0 "$k1mac" '^8100:100/08(00|06)$')
        eq "QinQ: every frame igb1 took from k1 is 8100:100 + IPv4/ARP (inner 300 stripped; n/total)" "$s" "${s#*/}/${s#*/}"
        eq "QinQ: igb1 captured frames from k1" "$((${s#*/} > 0))" 1
    fi
    ip -n ns0 neigh flush dev s300.100 2>/dev/null
    # Control: the same without vlan_extend. The filters allow both IDs, so
    # what changes is which tag goes: the outer one.
    if pmd_start qinq-noext --forward-mode io --rx-offloads vlan_strip,vlan_filter \
        --vlan-filter 0,100,300 --vlan-filter 1,100,300 --tx-vlan 0,300 --tx-vlan 1,100 --pcap-rx "$W/qinq-noext.pcapng"; then
        ping_fails "QinQ without vlan_extend (outer tag stripped, k1 gets 100/100)" ns0 198.18.5.2
        pmd_stop qinq-noext
        echo "  igb0 took from k0: $(shapes qinq-noext port0/rxq0 "$k0mac" | tr '\n' ';')"
        s=$(shape_count qinq-noext port0/rxq0 "$k0mac" '^8100:100/08(00|06)$')
        eq "QinQ without vlan_extend: every frame igb0 took from k0 is 8100:100 + IPv4/ARP (outer 300 stripped; n/total)" \
            "$s" "${s#*/}/${s#*/}"
        eq "QinQ without vlan_extend: igb0 captured frames from k0" "$((${s#*/} > 0))" 1
    fi
else
    fail "could not create the 802.1Q-in-802.1Q interfaces / addresses"
fi
del_vlans
# 802.1ad outside 802.1Q, as Linux (and most QinQ networks) tag. igb0 is
# told the outer TPID (--vlan-tpid 0,outer,0x88a8); igb1 keeps 0x8100, so
# the way back is not double-tagged for it and nothing re-inserts the inner
# tag: the checks are one way, ns0 -> ns1, with a static neighbour entry.
udp_send() { # udp_send NS DST PORT N: N datagrams "ferrite-ad i"
    ip netns exec "$1" timeout -k 5 30 "$py" -c 'import socket,sys,time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[3])):
    s.sendto(b"ferrite-ad %d" % i, (sys.argv[1], int(sys.argv[2]))); time.sleep(0.01)' "$2" "$3" "$4"
}
# udp_listen NS IP PORT OUT: count intact datagrams into OUT until killed;
# returns once the socket is bound (OUT says 0): Python starts slowly over
# 9p under TCG, and datagrams sent before the bind are lost.
udp_listen() {
    rm -f "$4"
    ip netns exec "$1" timeout -k 5 60 "$py" -c 'import socket,sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], int(sys.argv[2]))); n = 0
open(sys.argv[3], "w").write("0")
while True:
    d = s.recv(100)
    n += d.startswith(b"ferrite-ad ")
    open(sys.argv[3], "w").write(str(n))' "$2" "$3" "$4" &
    LISTENER=$!
    for _ in $(seq 300); do [[ -s $4 ]] && break; sleep 0.1; done
}
if vl ns0 "$k0" ad300 proto 802.1ad id 300 && vl ns0 ad300 ad300.100 id 100 && vl ns0 ad300 ad300.200 id 200 &&
    vl ns1 "$k1" ad300 proto 802.1ad id 300 &&
    ip -n ns0 addr add 198.18.7.1/24 dev ad300.100 && ip -n ns0 addr add 198.18.8.1/24 dev ad300.200 &&
    ip -n ns1 addr add 198.18.7.2/24 dev ad300 && ip -n ns1 addr add 198.18.8.2/24 dev ad300 &&
    ip -n ns0 neigh replace 198.18.7.2 lladdr "$k1mac" dev ad300.100 nud permanent &&
    ip -n ns0 neigh replace 198.18.8.2 lladdr "$k1mac" dev ad300.200 nud permanent; then
    if pmd_start qinq-ad --forward-mode io --rx-offloads vlan_extend,vlan_strip,vlan_filter \
        --vlan-tpid 0,outer,0x88a8 --vlan-filter 0,100 --pcap-rx "$W/qinq-ad.pcapng"; then
        rm -f "$W/ad.count"
        udp_listen ns1 198.18.7.2 5020 "$W/ad.count"
        udp_send ns0 198.18.7.2 5020 20
        for _ in $(seq 50); do [[ $(cat "$W/ad.count" 2>/dev/null) == 20 ]] && break; sleep 0.1; done
        kill "$LISTENER" 2>/dev/null; wait "$LISTENER" 2>/dev/null
        eq "802.1ad 300 + 802.1Q 100: ns1's socket on ad300 (outer tag only) got the 20 datagrams" \
            "$(cat "$W/ad.count" 2>/dev/null || echo 0)" 20
        before=$(port_rx_now qinq-ad 0)
        t0=$(dev_stat ns0 ad300.200 tx_packets)
        udp_send ns0 198.18.8.2 5021 10
        after=$(port_rx_now qinq-ad 0) sent=$(($(dev_stat ns0 ad300.200 tx_packets) - t0))
        eq "802.1ad 300 + inner 200: ad300.200 sent its datagrams" "$((sent >= 10))" 1
        eq "802.1ad 300 + inner 200: igb0 received none (the VFTA looked at the inner tag)" "$((after - before))" 0
        pmd_stop qinq-ad
        echo "  igb0 took from k0: $(shapes qinq-ad port0/rxq0 "$k0mac" | tr '\n' ';')"
        s=$(shape_count qinq-ad port0/rxq0 "$k0mac" '^88a8:300/08(00|06)$')
        eq "802.1ad: every frame igb0 took from k0 is 88a8:300 + IPv4/ARP (inner 100 stripped, outer kept; n/total)" \
            "$s" "${s#*/}/${s#*/}"
        eq "802.1ad: igb0 captured frames from k0" "$((${s#*/} >= 20))" 1
    fi
    # Control: without --vlan-tpid the outer 0x88a8 tag is not recognised:
    # nothing is stripped, and the filter does not apply.
    if pmd_start qinq-ad-noext --forward-mode io --rx-offloads vlan_extend,vlan_strip,vlan_filter \
        --vlan-filter 0,100 --pcap-rx "$W/qinq-ad-noext.pcapng"; then
        udp_send ns0 198.18.8.2 5021 10
        sleep 1
        pmd_stop qinq-ad-noext
        s=$(shape_count qinq-ad-noext port0/rxq0 "$k0mac" '^88a8:300/8100:200/0800$')
        eq "802.1ad without --vlan-tpid: inner 200 frames pass with both tags (n/total from k0)" "$s" "10/${s#*/}"
    fi
else
    fail "could not create the 802.1ad interfaces / addresses"
fi
del_vlans

# ---------------------------------------------------------------- 4. icmpecho
echo "== 4. icmpecho: testpmd answers ARP and ping for 198.18.0.99"
echo_ip=198.18.0.99
ip -n ns0 neigh flush dev "$k0"; ip -n ns1 neigh flush dev "$k1"
k0rx0=$(dev_stat ns0 "$k0" rx_packets) k1rx0=$(dev_stat ns1 "$k1" rx_packets)
reps0=$(snmp ns0 Icmp InEchoReps) icerr0=$(snmp ns0 Icmp InCsumErrors)
if pmd_start echo --forward-mode icmpecho --port-topology loop; then
    mac0=$(grep '^Port 0:' "$W/echo.err" | grep -oiE '([0-9a-f]{2}:){5}[0-9a-f]{2}' | head -1)
    echo "  igb0: $mac0 (FERRITE_IGB0_MAC $FERRITE_IGB0_MAC)"
    ping_ok "icmpecho" ns0 "$echo_ip" 20
    n=$(ip -n ns0 neigh show "$echo_ip" dev "$k0")
    echo "  ns0 neighbour: $n"
    eq "icmpecho: ns0's neighbour entry for $echo_ip is igb0's MAC (testpmd's ARP reply)" \
        "$(awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}' <<<"$n")" "${mac0,,}"
    eq "icmpecho: igb0's MAC is FERRITE_IGB0_MAC" "${mac0,,}" "${FERRITE_IGB0_MAC,,}"
    eq "icmpecho: ns0 Icmp InEchoReps +20, InCsumErrors unchanged" \
        "$(($(snmp ns0 Icmp InEchoReps) - reps0))/$(snmp ns0 Icmp InCsumErrors)" "20/$icerr0"
    timeout -k 5 20 ip netns exec ns0 bash -c "for i in 1 2 3 4 5; do echo drop-me >/dev/udp/$echo_ip/9; sleep 0.05; done" ||
        fail "UDP send to $echo_ip failed"
    sleep 1.2
    pmd_stop echo
    j=$W/echo.json
    echo "  streams: $(jv "$j" '[.streams[] | "\(.rx_port)->\(.tx_port): rx \(.rx) tx \(.tx) consumed \(.consumed) fwd_drops \(.fwd_drops)"] | join("; ")')"
    k0d=$(($(dev_stat ns0 "$k0" rx_packets) - k0rx0)) k1d=$(($(dev_stat ns1 "$k1" rx_packets) - k1rx0))
    st='[.streams[] | select(.rx_port == 0 and .tx_port == 0)][0]'
    eq "icmpecho: stream 0->0 answered >= 21 (20 echo + ARP)" "$(jv "$j" "$st.tx >= 21")" true
    eq "icmpecho: stream 0->0 consumed the 5 UDP datagrams, nothing else" "$(jv "$j" "$st.consumed")" 5
    eq "icmpecho: stream 0->0 balanced, no forward drops" "$(jv "$j" "$st | .balanced and .fwd_drops == 0")" true
    eq "icmpecho: port 0 TX = stream 0->0 tx = frames k0 received" "$(jv "$j" ".ports[0].tx_packets")/$(jv "$j" "$st.tx")" "$k0d/$k0d"
    eq "icmpecho: nothing reached ns1 (stream 1->1 rx, k1 received)" "$(jv "$j" '[.streams[] | select(.rx_port == 1)][0].rx')/$k1d" 0/0
fi
ip -n ns0 neigh flush dev "$k0"
ping_fails "no testpmd: $echo_ip unanswered (the replies were testpmd's)" ns0 "$echo_ip"
ip -n ns0 neigh flush dev "$k0"

finish
