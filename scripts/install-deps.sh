#!/usr/bin/env bash
# Installs the Debian packages the tests need beyond the ARM toolchain (ffmpeg for streams and
# recordings, Chromium for the web page, ...), idempotently. Each feature area lists its
# packages in scripts/deps/<area>.list (one package a line, `#` comments), so areas can add
# what they need without touching each other's lines. Quick when everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

mapfile -t wanted < <(cat scripts/deps/*.list 2>/dev/null | sed 's/#.*//' | tr -s ' \t' '\n' | grep -v '^$' | sort -u)
[ "${#wanted[@]}" -gt 0 ] || exit 0
missing=()
for package in "${wanted[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$package")
done
[ "${#missing[@]}" -gt 0 ] || exit 0
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q || true
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
