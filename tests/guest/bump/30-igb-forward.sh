#!/usr/bin/env bash
# tests/guest/bump/30-igb-forward.sh — the igb driver as a bump in the wire:
# ns0 (198.18.0.1) -- igb0 [io forwarding, promiscuous] igb1 -- ns1 (198.18.0.2)
#   * `ping -c 100 -i 0.01` from ns0 to ns1 has 0% loss;
#   * a 100 MB file sent over TCP (socat) through the forwarder arrives with
#     the same SHA-256;
#   * the forwarder stops cleanly with its mempool full.
#
# Uses pmd/examples/igb_smoke --mode fwd until testpmd's io mode exists.
# Build on the host first: cargo build --release -p ferrite-pmd --example igb_smoke
set -uo pipefail

repo=${FERRITE_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
smoke=${IGB_SMOKE:-${CARGO_TARGET_DIR:-$repo/target}/release/examples/igb_smoke}
fails=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
[[ -x $smoke ]] || {
    echo "FAIL: $smoke is missing: run \`cargo build --release -p ferrite-pmd --example igb_smoke\` on the host"
    exit 1
}
k1ip=${FERRITE_K1_IP:-198.18.0.2}
stop=/tmp/fwd.stop
rm -f "$stop"
# Pinned to the last CPU, like a DPDK forwarding lcore: the kernel stack
# (socat, virtio softirqs) keeps the other vCPU.
cpu=$(( $(nproc) - 1 ))
"$smoke" --mode fwd "$FERRITE_IGB0" "$FERRITE_IGB1" --until-file "$stop" --seconds 240 --cpu "$cpu" >/tmp/fwd.log 2>&1 &
fwd=$!
for _ in $(seq 100); do grep -q '^forwarding' /tmp/fwd.log && break; sleep 0.1; done
grep -q '^forwarding' /tmp/fwd.log || { cat /tmp/fwd.log; fail "forwarder did not start"; exit 1; }

out=$(ip netns exec ns0 ping -c 100 -i 0.01 -W 2 "$k1ip" 2>&1)
echo "$out" | tail -2
grep -q ' 0% packet loss' <<<"$out" && pass "ping ns0 -> ns1 through igb: 0% loss" || fail "ping lost packets"

head -c 100000000 /dev/urandom >/tmp/send.bin
want=$(sha256sum </tmp/send.bin | cut -d' ' -f1)
ip netns exec ns1 socat -u TCP-LISTEN:5001,reuseaddr OPEN:/tmp/recv.bin,creat,trunc &
srv=$!
sleep 0.5
t0=$(date +%s.%N)
ip netns exec ns0 socat -u OPEN:/tmp/send.bin "TCP:$k1ip:5001,retry=10"
wait "$srv"
t1=$(date +%s.%N)
got=$(sha256sum </tmp/recv.bin | cut -d' ' -f1)
secs=$(echo "$t1 - $t0" | bc)
echo "100 MB over TCP in ${secs} s ($(echo "800 / $secs" | bc) Mbit/s)"
[[ $got == "$want" ]] && pass "100 MB over TCP through igb: SHA-256 identical ($want)" ||
    fail "TCP transfer corrupted or short: $(stat -c %s /tmp/recv.bin) bytes, sha $got vs $want"

touch "$stop"
wait "$fwd"
rc=$?
grep -v ' stats: ' /tmp/fwd.log
[[ $rc == 0 ]] && pass "forwarder stopped cleanly, mempool full" || fail "forwarder exit $rc"

echo "$fails failure(s)"
[[ $fails == 0 ]]
