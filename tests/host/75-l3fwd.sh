# The l3fwd example (pmd/examples/l3fwd) as a router between two
# namespaces, judged by the Linux kernel's own stack:
#   ns0 10.99.71.1 <-> veth <-> [l3fwd: af_xdp0 | af_xdp1] <-> veth <-> ns1 10.99.72.1
# Each namespace routes the other's subnet through a gateway address whose
# MAC is the AF_XDP interface's (a static neighbour entry: l3fwd answers no
# ARP), and l3fwd rewrites the destination MAC to the far namespace's
# (--eth-peer). Checked: ping fails without l3fwd; with it, ping without
# loss and the replies arrive with TTL 63 (64, one router hop); an 8 MiB TCP
# transfer arrives intact (the kernel checks every header and TCP checksum
# after l3fwd changed the TTL); pings with TTL 1 are not answered and count
# as ttl-expired, pings to a subnet without a route as no-route; after
# Ctrl-C l3fwd exits 0, which it does only when every frame received was
# sent or counted as dropped and every buffer is back; no XDP program left.
source "$(dirname "$0")/lib/net.bash"
need_root
need_afxdp
[[ $FWD == dpdk ]] && { echo "SKIP: runs ferrite's l3fwd example, not a forwarder (FWD=dpdk)"; exit 77; }
L3FWD=${L3FWD:-${CARGO_TARGET_DIR:-$REPO/target}/release/examples/l3fwd}
[[ -x $L3FWD ]] || { echo "SKIP: $L3FWD is not built (cargo build --release -p ferrite-pmd --examples)"; exit 77; }

T=${NETPFX}r
mkns "${T}n0"
mkns "${T}n1"
mkveth "${T}0" "${T}n0" "${T}0p" 10.99.71.1
mkveth "${T}1" "${T}n1" "${T}1p" 10.99.72.1
ip -n "${T}n0" route add 10.99.0.0/16 via 10.99.71.254
ip -n "${T}n0" neigh replace 10.99.71.254 lladdr "$(mac_of "${T}0")" dev "${T}0p" nud permanent
ip -n "${T}n1" route add 10.99.71.0/24 via 10.99.72.254
ip -n "${T}n1" neigh replace 10.99.72.254 lladdr "$(mac_of "${T}1")" dev "${T}1p" nud permanent
printf '%s\n' "# subnet port" "10.99.71.0/24 0" "10.99.72.0/24 1" >"$W/routes.txt"

ping_fails "without a router" "${T}n0" 10.99.72.1
setsid "$L3FWD" --routes "$W/routes.txt" -T 1 --eth-peer "0,$(mac_of "${T}0p" "${T}n0")" \
    --eth-peer "1,$(mac_of "${T}1p" "${T}n1")" "af_xdp0,iface=${T}0" "af_xdp1,iface=${T}1" >"$W/l3fwd.out" 2>&1 </dev/null &
pid=$!
PGIDS+=("$pid")
for _ in $(seq 100); do grep -qs '^l3fwd: 2 ports' "$W/l3fwd.out" && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if ! grep -q '^l3fwd: 2 ports' "$W/l3fwd.out"; then
    sed 's/^/    /' "$W/l3fwd.out"
    fail "l3fwd did not start"
    finish
fi
path_up "${T}n0" 10.99.72.1
ping_ok "through l3fwd" "${T}n0" 10.99.72.1 20
ttls=$(ip netns exec "${T}n0" ping -c 3 -i 0.2 -w 10 10.99.72.1 | grep -o 'ttl=[0-9]*' | sort -u | tr '\n' ' ')
eq "TTL of the replies (64 less one hop)" "$ttls" "ttl=63 "
tcp_xfer "TCP through l3fwd" "${T}n0" "${T}n1" 10.99.72.1 8
out=$(ip netns exec "${T}n0" ping -c 3 -i 0.2 -W 1 -t 1 10.99.72.1 2>&1)
grep -q ' 100% packet loss' <<<"$out" && pass "TTL 1: expires at l3fwd, no reply" ||
    fail "TTL 1: $(tail -2 <<<"$out" | tr '\n' ' ')"
ping_fails "no route at l3fwd" "${T}n0" 10.99.99.1
kill -INT $pid
wait_gone $pid 20 || { fail "l3fwd did not exit within 20 s of SIGINT"; describe_group $pid; kill -KILL -- "-$pid"; }
eq "l3fwd exit status after SIGINT (0: every frame accounted for, every mbuf back)" "$RC" 0
sed -n '/^stopped/,$p' "$W/l3fwd.out" | sed 's/^/  /'
count() { sed -n "s/.*dropped: .*$1 \([0-9]*\).*/\1/p" "$W/l3fwd.out" | tail -1; }
ge() { [[ ${2:-0} -ge $3 ]] && pass "$1: $2 (>= $3)" || fail "$1: ${2:-none}, want >= $3"; }
ge "ttl-expired drops" "$(count ttl-expired)" 3
ge "no-route drops" "$(count no-route)" 3
no_xdp_left "after l3fwd's clean exit" "${T}0" "${T}1"
finish
