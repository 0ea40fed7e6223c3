# tests/guest/lib/bad-input.bash — the bad-input scripts' (loop/25-,
# noiommu/25-bad-input.sh) common part: pass/fail counters, $bin (the
# release binaries, checked to exist) and expect_error. Sourced, not run.

repo=${FERRITE_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
bin=${CARGO_TARGET_DIR:-$repo/target}/release
fails=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

for b in testpmd pmdinfo; do
    [[ -x $bin/$b ]] || { echo "FAIL: $bin/$b is missing: run \`cargo build --release -p ferrite-apps --bins\`"; exit 1; }
done

# expect_error NAME REGEX CMD... — CMD fails (not by a signal), does not
# panic, and its output matches REGEX (extended, case-insensitive). The
# output is left in OUT.
OUT=
expect_error() {
    local name=$1 want=$2 out rc
    shift 2
    out=$(timeout --foreground 60 "$@" 2>&1 </dev/null)
    rc=$?
    OUT=$out
    printf '    | %s\n' "${out//$'\n'/$'\n    | '}"
    if ((rc == 0)); then
        fail "$name: exited 0"
    elif ((rc >= 124)); then
        fail "$name: exit status $rc (timeout, crash or signal)"
    elif grep -q 'panicked' <<<"$out"; then
        fail "$name: panicked"
    elif ! grep -Eqi -- "$want" <<<"$out"; then
        fail "$name: message does not match /$want/"
    else
        pass "$name (exit $rc)"
    fi
}
