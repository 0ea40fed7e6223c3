#!/usr/bin/env bash
# tests/guest/loop/31-igb-ethtool.sh — pmdinfo's ethtool verbs on an 82576,
# judged by Linux's igb driver and ethtool on the same NIC in the same boot:
#   * igb1 goes back to the kernel; Linux's `ethtool -i`, `-g`, `-e raw on`
#     and `-t offline` are recorded (and pmdinfo, pointed at the NIC while
#     the kernel has it, must say which devbind command to run);
#   * igb1 is bound to vfio-pci again and pmdinfo must show: the same EEPROM
#     bytes (raw, as a hex dump checked against od's, and a sub-range), the
#     same ring maxima, the same supports-* answers, the same self-test rows
#     passing (a row ferrite does not run is a SKIP, never a PASS);
#   * `-p 3` makes QEMU's LEDCTL (read from outside the guest through the
#     monitor's `xp` on BAR0) go through all-on and all-off; -d shows LEDCTL;
#   * `-S` names are those of testpmd --xstats on the same NIC;
#   * -l, -c, -x, -d print their ethtool headers; a virtio NIC refuses -e and
#     -t with ethtool's status 74; a range past the EEPROM is refused.
#
# Build on the host first: cargo build --release -p ferrite-apps --bins
set -uo pipefail

repo=${FERRITE_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
TESTPMD=${TESTPMD:-${CARGO_TARGET_DIR:-$repo/target}/release/testpmd}
PMDINFO=${PMDINFO:-${CARGO_TARGET_DIR:-$repo/target}/release/pmdinfo}
# shellcheck source=../lib/testpmd.bash
source "$repo/tests/guest/lib/testpmd.bash"
[[ -x $PMDINFO ]] || { echo "FAIL: $PMDINFO is missing: run \`cargo build --release -p ferrite-apps --bins\` on the host"; exit 1; }

A=$FERRITE_IGB1
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -- -"$p" 2>/dev/null; done
    "$repo/scripts/devbind" --force --bind vfio-pci "$A" >/dev/null 2>&1
}
trap cleanup EXIT

# bounded CMD...: runs CMD with a time limit, killing its process group.
bounded() { timeout --foreground -k 5 120 "$@"; }

# row_value FILE NAME: the value of a self-test row (the text after the tab).
row_value() { awk -F'\t' -v n="$2" '$1 == n { sub(/^ +/, "", $2); print $2 }' "$1"; }

# max_of FILE KEY: a ring maximum of `ethtool -g` output (RX or TX).
max_of() { awk -v k="$2:" '/^Pre-set maximums:/ { m = 1; next } /^Current/ { m = 0 } m && $1 == k { print $2 }' "$1"; }

# ledctl: LEDCTL as QEMU holds it, read through the monitor (not the guest).
BAR0=$(awk 'NR == 1 { print $1 }' "/sys/bus/pci/devices/$A/resource")
ledctl() { qmp "xp /1wx $(printf '0x%x' $((BAR0 + 0xE00)))" 2>/dev/null | awk '{ print $NF }' | tr -d '\r'; }

echo "== Linux's igb on $A"
"$repo/scripts/devbind" --force --restore "$A" >"$W/devbind.out" 2>&1 || { cat "$W/devbind.out"; fail "devbind --restore $A"; finish; exit 1; }
ifc=$(ls "/sys/bus/pci/devices/$A/net" 2>/dev/null | head -1)
[[ -n $ifc ]] || { fail "$A has no interface under the kernel's igb"; finish; exit 1; }
ip link set "$ifc" up
for _ in $(seq 150); do [[ $(cat "/sys/class/net/$ifc/carrier" 2>/dev/null) == 1 ]] && break; sleep 0.1; done
ethtool -i "$ifc" >"$W/linux-i.txt"
ethtool -g "$ifc" >"$W/linux-g.txt"
ethtool -e "$ifc" raw on >"$W/linux-eeprom.bin"
ethtool -e "$ifc" >"$W/linux-e.txt"
bounded ethtool -t "$ifc" offline >"$W/linux-t.txt"
echo "ethtool -t exit $?"
cat "$W/linux-i.txt" "$W/linux-g.txt" "$W/linux-t.txt"
echo "EEPROM: $(stat -c %s "$W/linux-eeprom.bin") bytes"

out=$("$PMDINFO" -i "$A" 2>&1)
rc=$?
echo "$out"
[[ $rc != 0 ]] && grep -q "devbind --bind vfio-pci $A" <<<"$out" && pass "a NIC the kernel drives: the devbind command to run" ||
    fail "pmdinfo -i on a kernel-driven NIC (exit $rc)"
ip link set "$ifc" down

echo "== ferrite on $A"
"$repo/scripts/devbind" --force --bind vfio-pci "$A" >"$W/devbind.out" 2>&1 || { cat "$W/devbind.out"; fail "devbind --bind vfio-pci $A"; finish; exit 1; }

bounded "$PMDINFO" -e "$A" raw on >"$W/ferrite-eeprom.bin" 2>"$W/e.err"
eq "-e raw on: exit" "$?" 0
cmp "$W/linux-eeprom.bin" "$W/ferrite-eeprom.bin" && [[ -s $W/linux-eeprom.bin ]] &&
    pass "-e raw on: the $(stat -c %s "$W/linux-eeprom.bin") EEPROM bytes are Linux's" || fail "-e raw on differs from Linux's"
bounded "$PMDINFO" -e "$A" >"$W/ferrite-e.txt" 2>>"$W/e.err"
head -4 "$W/ferrite-e.txt"
eq "-e: header" "$(head -2 "$W/ferrite-e.txt" | tr '\t\n' '  ')" "Offset  Values ------  ------ "
eq "-e: hex dump bytes = Linux's (od)" "$(tail -n +3 "$W/ferrite-e.txt" | cut -f3- | tr -s ' \n' ' ' | sed 's/ $//')" \
    "$(od -An -tx1 -v "$W/linux-eeprom.bin" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')"
eq "-e: line offsets" "$(tail -n +3 "$W/ferrite-e.txt" | awk -F: 'NR == 2 { print $1 }')" 0x0010
cmp "$W/linux-e.txt" "$W/ferrite-e.txt" && pass "-e: the hex dump is Linux's ethtool -e, byte for byte" ||
    fail "-e: the hex dump differs from Linux's ethtool -e ($(diff "$W/linux-e.txt" "$W/ferrite-e.txt" | head -3 | tr '\n' ' '))"
bounded "$PMDINFO" -e "$A" offset 0x7 length 5 raw on >"$W/sub.bin" 2>>"$W/e.err"
cmp "$W/sub.bin" <(dd if="$W/linux-eeprom.bin" bs=1 skip=7 count=5 2>/dev/null) && pass "-e offset 7 length 5: Linux's bytes 7..11" ||
    fail "-e offset/length"
out=$("$PMDINFO" -e "$A" offset 0x100000 length 2 2>&1)
rc=$?
[[ $rc != 0 ]] && grep -q "past its end" <<<"$out" && pass "-e past the end refused: $out" || fail "-e past the end (exit $rc): $out"

bounded "$PMDINFO" -g "$A" >"$W/ferrite-g.txt" 2>&1
cat "$W/ferrite-g.txt"
for k in RX TX; do
    eq "-g $k maximum = Linux's" "$(max_of "$W/ferrite-g.txt" "$k")" "$(max_of "$W/linux-g.txt" "$k")"
done
eq "-g: the maxima block is laid out as Linux's" "$(sed -n 2,6p "$W/ferrite-g.txt" | cat -A | tr '\n' ' ')" \
    "$(sed -n 2,6p "$W/linux-g.txt" | cat -A | tr '\n' ' ')"

bounded "$PMDINFO" -i "$A" >"$W/ferrite-i.txt" 2>&1
cat "$W/ferrite-i.txt"
eq "-i driver" "$(awk '/^driver:/ { print $2 }' "$W/ferrite-i.txt")" igb
eq "-i bus-info" "$(awk '/^bus-info:/ { print $2 }' "$W/ferrite-i.txt")" "$A"
eq "-i: the keys of Linux's, in its order" "$(cut -d: -f1 "$W/ferrite-i.txt" | tr '\n' ' ')" "$(cut -d: -f1 "$W/linux-i.txt" | tr '\n' ' ')"
for k in supports-statistics supports-test supports-eeprom-access supports-register-dump; do
    eq "-i $k = Linux's" "$(awk -v k="$k:" '$1 == k { print $2 }' "$W/ferrite-i.txt")" \
        "$(awk -v k="$k:" '$1 == k { print $2 }' "$W/linux-i.txt")"
done

bounded "$PMDINFO" -t "$A" offline >"$W/ferrite-t.txt" 2>&1
trc=$?
cat "$W/ferrite-t.txt"
rows=0
while IFS=$'\t' read -r name value; do
    [[ $name == *"test"*"("* ]] || continue
    rows=$((rows + 1))
    linux=$(sed 's/^ *//' <<<"$value")
    ours=$(row_value "$W/ferrite-t.txt" "$name")
    if [[ $linux == 0 && $ours == "not run"* ]]; then
        skip "-t '$name': passes under Linux, ferrite does not run it ($ours)"
    elif [[ $linux == 0 ]]; then
        eq "-t '$name' passes as under Linux" "$ours" 0
    else
        skip "-t '$name': Linux's row fails here ($linux), so it judges nothing; ferrite's: $ours"
    fi
done <"$W/linux-t.txt"
# Linux igb's five rows: none may go unread (ethtool -t failing, say).
eq "-t: Linux's self-test rows compared" "$rows" 5
grep -q 'The test result is FAIL' "$W/ferrite-t.txt" && want=1 || want=0
eq "-t exit status follows the result" "$trc" "$want"
bounded "$PMDINFO" -t "$A" online >"$W/ferrite-t-online.txt" 2>&1
eq "-t online: exit" "$?" 0
eq "-t online: the link row runs" "$(row_value "$W/ferrite-t-online.txt" "Link test   (on/offline)")" 0
eq "-t online: the offline rows do not" "$(grep -c 'offline)	 not run (offline test only)' "$W/ferrite-t-online.txt")" 4

bounded "$PMDINFO" -p "$A" 3 >"$W/p.out" 2>&1 &
PIDS+=($!)
seen=()
for _ in $(seq 40); do seen+=("$(ledctl)"); sleep 0.1; done
wait "${PIDS[-1]}"
eq "-p 3: exit" "$?" 0
echo "LEDCTL seen by the monitor while -p ran: $(printf '%s\n' "${seen[@]}" | sort -u | tr '\n' ' ')"
printf '%s\n' "${seen[@]}" | grep -qx 0x0e0e0e0e && pass "-p: QEMU saw every LED on" || fail "-p: LEDCTL never all-on"
printf '%s\n' "${seen[@]}" | grep -qx 0x0f0f0f0f && pass "-p: QEMU saw every LED off" || fail "-p: LEDCTL never all-off"
# That LEDCTL is put back cannot be seen from here: vfio-pci resets the
# function and powers it down when pmdinfo closes it (the monitor then
# reads no BAR). igb::diag's unit test checks the restore.
bounded "$PMDINFO" -d "$A" >"$W/ferrite-d.txt" 2>&1
grep -Eq '^LEDCTL +0x[0-9A-F]{8}$' "$W/ferrite-d.txt" && pass "-d shows $(grep '^LEDCTL' "$W/ferrite-d.txt")" || fail "-d has no LEDCTL"

bounded "$TESTPMD" -l 0,1 -a "$A" --port-topology loop --forward-mode txonly --tx-count 64 --json --xstats >"$W/xstats.json" 2>"$W/xstats.err"
eq "testpmd --xstats: exit" "$?" 0
bounded "$PMDINFO" -S "$A" >"$W/ferrite-S.txt" 2>&1
eq "-S names = testpmd --xstats names" "$(awk -F: 'NR > 1 { gsub(/ /, "", $1); print $1 }' "$W/ferrite-S.txt" | tr '\n' ' ')" \
    "$(jv "$W/xstats.json" '.ports[0].xstats | keys_unsorted[]' | tr '\n' ' ')"

for v in -l -c -x -d; do
    bounded "$PMDINFO" "$v" "$A" >"$W/v.txt" 2>&1
    rc=$?
    eq "$v: exit 0, header '$(head -1 "$W/v.txt")'" "$rc" 0
done

if [[ -n ${FERRITE_VIRTIO0:-} ]]; then
    for v in -e -t; do
        out=$(bounded "$PMDINFO" "$v" "$FERRITE_VIRTIO0" 2>&1)
        rc=$?
        [[ $rc == 74 ]] && grep -q 'not supported' <<<"$out" && pass "virtio $v: not supported, exit 74" ||
            fail "virtio $v: exit $rc: $out"
    done
else
    skip "virtio -e/-t refusals: no virtio-net NIC in this layout (FERRITE_VIRTIO0 unset)"
fi

finish
