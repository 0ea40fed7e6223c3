#!/usr/bin/env bash
# tests/guest/selftest/loop/02-next.sh — the guest runner's own test (see
# tests/tests/guest_runner.rs): after 01-freeze.sh stalls its guest, the
# runner must run this one in a new guest, not count it as lost.
echo "ran in a new guest"
