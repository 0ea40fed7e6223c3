#!/usr/bin/env bash
# tests/guest/loop/10-devbind.sh — scripts/devbind on the two emulated igb
# NICs: unbind, bind to vfio-pci (long and short addresses), --status with
# IOMMU groups, --restore to the kernel igb driver (interfaces reappear with
# the right MACs), refusal of an active interface, rollback when a bind
# fails, bad input; leaves both NICs on vfio-pci.  Then the same round trip
# for a virtio-net NIC (virtio0): vfio-pci -> --restore (virtio-pci, and
# virtio_net's interface with virtio0's MAC) -> refused while active -> back
# to vfio-pci -> unbound -> vfio-pci.  Runs in the guest via tests/guest/run.
set -uo pipefail

db=scripts/devbind
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

driver_of() { local l; l=$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null) && echo "${l##*/}"; }
group_of() { local l; l=$(readlink "/sys/bus/pci/devices/$1/iommu_group") && echo "${l##*/}"; }
iface_of() { local n; for n in /sys/bus/pci/devices/$1/net/* /sys/bus/pci/devices/$1/virtio*/net/*; do [[ -e $n ]] && echo "${n##*/}"; done; }

expect_rc() {
    local want=$1 desc=$2 out rc
    shift 2
    out=$("$@" 2>&1); rc=$?
    sed 's/^/    /' <<<"$out"
    if ((rc == want)); then ok "$desc (exit $rc)"; else bad "$desc: exit $rc, want $want"; fi
    LAST_OUT=$out
}
expect_driver() {
    local bdf=$1 want=$2 got
    got=$(driver_of "$bdf")
    [[ $got == "$want" ]] && ok "$bdf on ${want:-no driver}" || bad "$bdf on '${got}', want '${want}'"
}

igbs=("$FERRITE_IGB0" "$FERRITE_IGB1")
macs=("$FERRITE_IGB0_MAC" "$FERRITE_IGB1_MAC")

# From unbound to vfio-pci, one long and one short address.
expect_rc 0 "--unbind both" $db --unbind "${igbs[@]}"
for b in "${igbs[@]}"; do expect_driver "$b" ""; done
expect_rc 0 "--status with nothing bound" $db --status
sed -n '/with no driver/,$p' <<<"$LAST_OUT" | grep -q "$FERRITE_IGB0 8086:10c9" &&
    ok "--status lists igb0 under 'no driver'" || bad "--status does not list igb0 as unbound"
expect_rc 0 "--bind vfio-pci (long + short address)" $db --bind vfio-pci "$FERRITE_IGB0" "${FERRITE_IGB1#0000:}"
for b in "${igbs[@]}"; do
    expect_driver "$b" vfio-pci
    g=$(group_of "$b")
    [[ -c /dev/vfio/$g ]] && ok "/dev/vfio/$g exists for $b" || bad "/dev/vfio/$g missing for $b"
    [[ $(cat "/sys/bus/pci/devices/$b/driver_override") == vfio-pci ]] && ok "driver_override=vfio-pci" ||
        bad "driver_override of $b is not vfio-pci"
done
expect_rc 0 "--bind again is a no-op" $db --bind vfio-pci "$FERRITE_IGB0"
grep -q 'already bound' <<<"$LAST_OUT" && ok "says already bound" || bad "no 'already bound' message"

# --status shows both with their IOMMU groups.
expect_rc 0 "--status" $db --status
for b in "${igbs[@]}"; do
    g=$(group_of "$b")
    grep -q "$b 8086:10c9 .*drv=vfio-pci iommu_group=$g (/dev/vfio/$g)" <<<"$LAST_OUT" &&
        ok "--status: $b vfio-pci group $g" || bad "--status line for $b wrong (group $g)"
done

# Back to the kernel driver: interfaces reappear with the QEMU-assigned MACs.
expect_rc 0 "--restore both" $db --restore "${igbs[@]}"
for i in 0 1; do
    b=${igbs[$i]}
    expect_driver "$b" igb
    ifc=$(iface_of "$b")
    if [[ -n $ifc ]]; then
        mac=$(cat "/sys/class/net/$ifc/address")
        [[ $mac == "${macs[$i]}" ]] && ok "$b is $ifc with MAC $mac" || bad "$b ($ifc) MAC $mac, want ${macs[$i]}"
    else
        bad "$b has no network interface after --restore"
    fi
    [[ $(cat "/sys/bus/pci/devices/$b/driver_override") == "(null)" ]] && ok "driver_override cleared" ||
        bad "driver_override of $b not cleared"
done
expect_rc 0 "--status with igb" $db --status
grep -q "$FERRITE_IGB0 8086:10c9 .* if=$(iface_of "$FERRITE_IGB0") drv=igb" <<<"$LAST_OUT" &&
    ok "--status shows igb0's interface and driver" || bad "--status lacks igb0 on igb"

# An active interface (up, with a route) is refused unless --force.
if0=$(iface_of "$FERRITE_IGB0")
ip addr add 10.99.0.1/24 dev "$if0" && ip link set "$if0" up
expect_rc 0 "--status marks it active" $db --status
grep -q "if=$if0 .*\*Active\*" <<<"$LAST_OUT" && ok "$if0 shown *Active*" || bad "$if0 not shown *Active*"
expect_rc 1 "--bind refuses the active $if0" $db --bind vfio-pci "$FERRITE_IGB0"
grep -q "is active" <<<"$LAST_OUT" && ok "refusal says why" || bad "refusal lacks 'is active'"
expect_driver "$FERRITE_IGB0" igb
ip addr flush dev "$if0"; ip link set "$if0" down

# A bind that the driver rejects rolls back to the previous driver.
expect_rc 1 "--bind virtio-pci (probe fails)" $db --bind virtio-pci "$FERRITE_IGB1"
grep -q "restor" <<<"$LAST_OUT" && ok "failure says it restored igb" || bad "no restore message"
expect_driver "$FERRITE_IGB1" igb

# Bad input.
missing=0000:7e:1f.7
expect_rc 1 "nonexistent address" $db --bind vfio-pci "$missing"
grep -q "no PCI device $missing" <<<"$LAST_OUT" && ok "names the missing device" || bad "missing-device message unclear"
expect_rc 1 "malformed address" $db --bind vfio-pci banana
grep -q "not a PCI address" <<<"$LAST_OUT" && ok "malformed address explained" || bad "malformed message unclear"
expect_rc 1 "unknown driver" $db --bind no-such-driver "$FERRITE_IGB0"
expect_driver "$FERRITE_IGB0" igb
expect_rc 2 "--bind without driver" $db --bind
expect_rc 2 "--restore without address" $db --restore
expect_rc 1 "--bind as non-root" setpriv --reuid=65534 --regid=65534 --clear-groups $db --bind vfio-pci "$FERRITE_IGB0"
grep -q "must be root" <<<"$LAST_OUT" && ok "non-root told to use sudo" || bad "non-root message unclear"

# Leave them on vfio-pci (the runner would too, but check the igb -> vfio path).
expect_rc 0 "--bind vfio-pci from igb" $db --bind vfio-pci "${igbs[@]}"
for b in "${igbs[@]}"; do expect_driver "$b" vfio-pci; done
grep -q "(was igb)" <<<"$LAST_OUT" && ok "reports the previous driver" || bad "no '(was igb)'"

# A virtio-net NIC: its PCI driver is virtio-pci, its interface virtio_net's.
if [[ -z ${FERRITE_VIRTIO0:-} ]]; then
    bad "\$FERRITE_VIRTIO0 is not set (the loop layout has virtio0/virtio1)"
else
    v=$FERRITE_VIRTIO0
    expect_driver "$v" vfio-pci
    expect_rc 0 "--restore virtio0" $db --restore "$v"
    expect_driver "$v" virtio-pci
    ifc=$(iface_of "$v")
    if [[ -n $ifc ]]; then
        mac=$(cat "/sys/class/net/$ifc/address")
        [[ $mac == "$FERRITE_VIRTIO0_MAC" ]] && ok "$v is $ifc (virtio_net) with MAC $mac" ||
            bad "$v ($ifc) MAC $mac, want $FERRITE_VIRTIO0_MAC"
    else
        bad "$v has no network interface after --restore (virtio_net)"
    fi
    grep -q "restored to kernel driver virtio-pci (was vfio-pci), interface $ifc" <<<"$LAST_OUT" &&
        ok "--restore names virtio-pci and the interface" || bad "--restore message for virtio0"
    [[ $(cat "/sys/bus/pci/devices/$v/driver_override") == "(null)" ]] && ok "driver_override cleared" ||
        bad "driver_override of $v not cleared"
    expect_rc 0 "--status with virtio-pci" $db --status
    grep -q "$v 1af4:1041 .* if=$ifc drv=virtio-pci" <<<"$LAST_OUT" &&
        ok "--status shows virtio0's interface and virtio-pci" || bad "--status lacks virtio0 on virtio-pci"
    ip addr add 10.99.1.1/24 dev "$ifc" && ip link set "$ifc" up
    expect_rc 1 "--bind refuses the active $ifc" $db --bind vfio-pci "$v"
    grep -q "interface $ifc is active" <<<"$LAST_OUT" && ok "refusal names the virtio interface" || bad "refusal lacks '$ifc is active'"
    expect_driver "$v" virtio-pci
    ip addr flush dev "$ifc"; ip link set "$ifc" down
    expect_rc 0 "--bind vfio-pci from virtio-pci (short address)" $db --bind vfio-pci "${v#0000:}"
    expect_driver "$v" vfio-pci
    g=$(group_of "$v")
    grep -q "(was virtio-pci), IOMMU group $g, /dev/vfio/$g" <<<"$LAST_OUT" && ok "reports (was virtio-pci) and group $g" ||
        bad "no '(was virtio-pci), IOMMU group $g'"
    [[ -c /dev/vfio/$g ]] && ok "/dev/vfio/$g exists for $v" || bad "/dev/vfio/$g missing for $v"
    [[ -z $(iface_of "$v") ]] && ok "virtio_net's interface is gone" || bad "$v still has interface $(iface_of "$v")"
    expect_rc 0 "--unbind virtio0" $db --unbind "$v"
    expect_driver "$v" ""
    expect_rc 0 "--bind vfio-pci from no driver" $db --bind vfio-pci "$v"
    expect_driver "$v" vfio-pci
fi

if ((fails)); then
    echo "10-devbind: $fails failure(s)"
    exit 1
fi
echo "10-devbind: all passed"
