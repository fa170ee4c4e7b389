#!/usr/bin/env bash
# Runs `systemd-analyze verify` on the units exactly as committed. verify insists that every
# ExecStart= program exists, so the units are checked inside a throw-away root (--root) that
# has the distribution's own units plus empty executables at the paths the units name.
# Any warning counts as a failure (verify only warns about unknown keys).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v systemd-analyze >/dev/null; then
    echo "systemd/verify.sh: NOTICE: systemd-analyze unavailable, units NOT verified" >&2
    exit 0
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/lib/systemd" "$root/etc/systemd/system" "$root/usr/bin"
ln -s usr/bin "$root/bin"
cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/"
units=()
for unit in *.service; do
    cp "$unit" "$root/etc/systemd/system/"
    units+=("$root/etc/systemd/system/$unit")
    # Every absolute program path of Exec*= lines (after the optional -@:+! prefixes).
    sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\(\/[^ ]*\).*/\1/p' "$unit" | while read -r program; do
        mkdir -p "$root$(dirname "$program")"
        [ -e "$root$program" ] || { printf '#!/bin/sh\n' >"$root$program" && chmod +x "$root$program"; }
    done
done
output=$(systemd-analyze verify --root="$root" "${units[@]}" 2>&1) || {
    echo "$output"
    exit 1
}
if [ -n "$output" ]; then
    echo "$output"
    echo "systemd/verify.sh: warnings count as failures" >&2
    exit 1
fi
echo "systemd/verify.sh: ${units[*]##*/} verified"
