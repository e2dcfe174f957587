#!/usr/bin/env bash
# The project's test command (README "Quick start", and what CI runs): set up, build, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
swift test --skip-build --disable-swift-testing
