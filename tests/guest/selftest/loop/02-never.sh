#!/usr/bin/env bash
# tests/guest/selftest/loop/02-never.sh — must never run: the guest was
# paused by 01-freeze.sh (see tests/tests/guest_runner.rs).
echo "ran after a frozen guest"
