#!/usr/bin/env bash
# The project's test command (README "Quick start", and what CI runs): set up, build, run every test, then say
# how many tests were skipped and which (under CI=true a missing prerequisite fails instead of skipping).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
swift test --skip-build --disable-swift-testing 2>&1 | tee "$log"
skips=$(grep -E "^Test Case '.*' skipped" "$log" || true)
echo "skipped tests: $(printf '%s' "$skips" | grep -c . || true)"
printf '%s\n' "$skips" | sed -n "s/^Test Case '\(.*\)' skipped.*/  \1/p"
