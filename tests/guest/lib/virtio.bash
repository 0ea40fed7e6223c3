# tests/guest/lib/virtio.bash — ring layouts for the guest tests that run
# ferrite's virtio-net driver on the loop layout's virtio pair
# (loop/71-virtio-txrx.sh, loop/72-virtio-jumbo.sh): the NICs offer packed
# rings (packed=on in scripts/qemu/run-in-guest), which the driver takes
# with `-a ADDR,packed_vq=1`; by default it runs split rings. Each case
# runs on both, and the kind is read back from the features the driver
# negotiated, not assumed. Sourced after lib/testpmd.bash (use_virtio, eq,
# pass, fail, $W, $TESTPMD).
#
#   virtio_rings KIND             KIND packed|split: the testpmd.bash helpers
#                                 now open virtio0/virtio1 with packed_vq=1
#                                 (packed) or no device argument (split)
#   ring_kind REPORT              packed|split, from features_negotiated
#                                 (bit 34, RING_PACKED) in a testpmd
#                                 --json --xstats report
#   check_rings NAME KIND         NAME.tx and NAME.rx ran KIND rings; prints
#                                 whether EVENT_IDX (bit 29) was negotiated and
#                                 checks it was whenever the device offered it
#                                 on split rings, and never on packed ones
#                                 (QEMU's packed event offset goes stale)
#   pmdinfo_rings KIND            pmdinfo -k on virtio0 with KIND's device
#                                 argument: the negotiated features by name
#                                 include RING_PACKED exactly for packed

virtio_rings() {
    use_virtio
    RINGS=$1
    if [[ $RINGS == packed ]]; then
        TX_ADDR+=,packed_vq=1 RX_ADDR+=,packed_vq=1
    fi
    echo "--- $RINGS rings: -a $TX_ADDR (tx), -a $RX_ADDR (rx)"
}

# A report's xstat as a decimal string: grep, not jq (jq 1.6 rounds integers
# above 2^53, and SPEED_DUPLEX is bit 63).
xstat_of() { grep -o "\"$2\": *[0-9]*" "$1" 2>/dev/null | head -1 | grep -o '[0-9]*$'; }

# bit VALUE N: 1 if bit N of the 64-bit decimal VALUE is set (bash wraps
# values above 2^63 to negative ones; the low bits stay right).
bit() { echo $((($1 >> $2) & 1)); }

ring_kind() {
    local f
    f=$(xstat_of "$1" features_negotiated)
    if [[ -z $f ]]; then echo "(no features_negotiated in $1)"; elif (($(bit "$f" 34))); then echo packed; else echo split; fi
}

check_rings() {
    local name=$1 kind=$2 side report offered negotiated
    for side in tx rx; do
        report=$W/$name.$side.json
        offered=$(xstat_of "$report" features_offered) negotiated=$(xstat_of "$report" features_negotiated)
        eq "$name: $side port ran $kind rings (features_negotiated bit 34, RING_PACKED)" "$(ring_kind "$report")" "$kind"
        echo "$name: $side EVENT_IDX offered $(bit "${offered:-0}" 29), negotiated $(bit "${negotiated:-0}" 29)"
        if [[ $kind == packed ]]; then
            eq "$name: $side EVENT_IDX declined with packed rings" "$(bit "${negotiated:-0}" 29)" 0
        else
            eq "$name: $side EVENT_IDX negotiated whenever offered" "$(bit "${negotiated:-0}" 29)" "$(bit "${offered:-0}" 29)"
        fi
    done
}

pmdinfo_rings() {
    local kind=$1 spec=$FERRITE_VIRTIO0 line
    [[ $kind == packed ]] && spec+=,packed_vq=1
    line=$(timeout --foreground -k 5 60 "${TESTPMD%/*}/pmdinfo" -k "$spec" 2>&1 | grep '^  negotiated')
    echo "pmdinfo -k $spec:$line"
    if [[ $kind == packed ]]; then
        [[ $line == *' RING_PACKED'* ]] && pass "pmdinfo -k $spec negotiates RING_PACKED" ||
            fail "pmdinfo -k $spec: no RING_PACKED among the negotiated features: '$line'"
    else
        [[ -n $line && $line != *RING_PACKED* ]] && pass "pmdinfo -k $spec negotiates split rings (no RING_PACKED)" ||
            fail "pmdinfo -k $spec: RING_PACKED negotiated (or no features shown) by default: '$line'"
    fi
}
