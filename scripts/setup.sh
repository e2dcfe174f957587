#!/usr/bin/env bash
# Installs the system libraries mgllava links against (Debian 12). Idempotent and non-interactive: packages that
# are already installed are left alone, so a second run does nothing.
set -euo pipefail

# openmpi-bin/libopenmpi3 are not linked: MGDistributed dlopens libmpi.so.40, and only `mpirun` launches need them.
packages=(libopenblas-dev liblapacke-dev libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev libtiff-dev openmpi-bin libopenmpi3)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    echo "setup: installing ${missing[*]}"
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v swift >/dev/null || { echo "setup: swift (6.x) is not on PATH" >&2; exit 1; }
