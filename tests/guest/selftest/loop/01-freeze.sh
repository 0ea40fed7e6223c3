#!/usr/bin/env bash
# tests/guest/selftest/loop/01-freeze.sh — not a test of ferrite: the guest
# runner's own test (tests/tests/guest_runner.rs) runs it to prove that the
# host stops a guest that makes no progress.  It pauses the whole guest
# through QMP, so nothing in the guest can ever report again.
echo "pausing the guest's vCPUs"
qmp stop
sleep 1000
