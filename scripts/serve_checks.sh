#!/usr/bin/env bash
# `mgllava serve` against the peers that define its answers (CI runs this after the tests): the official openai
# Python client (scripts/serve_openai_check.py) and a real browser, Debian's headless Chromium driven by selenium
# (scripts/serve_browser_check.py). Python and its packages live in a venv under .build, for checks only; the product
# never runs Python.
set -euo pipefail
cd "$(dirname "$0")/.."
# The test build (scripts/test.sh) already made .build/debug/mgllava; `swift build --product` alone would compile
# every module again without -enable-testing.
[ -x .build/debug/mgllava ] || swift build --product mgllava
venv=.build/venv-serve-checks
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check openai selenium
"$venv/bin/python" scripts/serve_openai_check.py --mgllava .build/debug/mgllava
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver
fi
"$venv/bin/python" scripts/serve_browser_check.py --mgllava .build/debug/mgllava
