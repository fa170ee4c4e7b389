#!/usr/bin/env bash
# Builds the ARMv7 release (cross/build-release.sh) and packs it into a signed firmware image:
# ipcamd, ipcamd-fwtool (for the rollback unit), board/*.toml and systemd/*.
#
# Signing key, first found: $IPCAMD_FW_SIGNING_KEY (64 hex digits), $IPCAMD_FW_SIGNING_KEY_FILE,
# cross/keys/dev-signing.key; when none exists a development pair is generated in cross/keys/
# (git-ignored, never committed). Version: $IPCAMD_FW_VERSION, else Cargo.toml's version.
# Boards: $IPCAMD_FW_BOARDS (space separated), else every board_id in board/*.toml.
# Output: target/firmware/ipcamd-<version>-armv7.img (or $IPCAMD_FW_OUT).
set -euo pipefail
cd "$(dirname "$0")/.."

# The host-side tool, built with whatever cargo is first on PATH (no Debian env yet).
cargo build -q --bin ipcamd-fwtool
fwtool="${CARGO_TARGET_DIR:-target}/debug/ipcamd-fwtool"

version=${IPCAMD_FW_VERSION:-$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)}
# The binary reports the same version the image declares (ipcamd::firmware::RUNNING_VERSION).
IPCAMD_VERSION="$version" IPCAMD_BUILD_FWTOOL=1 bash cross/build-release.sh
# shellcheck source=cross/env.sh
source cross/env.sh
arm="${CARGO_TARGET_DIR:-target}/$IPCAMD_TARGET/release"

read -r -a boards <<<"${IPCAMD_FW_BOARDS:-$(sed -n 's/^board_id = "\(.*\)"$/\1/p' board/*.toml | tr '\n' ' ')}"
if [ ${#boards[@]} -eq 0 ]; then
    echo "build-image: no board ids (no [firmware] board_id in board/*.toml)" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
key_args=()
if [ -n "${IPCAMD_FW_SIGNING_KEY:-}" ] || [ -n "${IPCAMD_FW_SIGNING_KEY_FILE:-}" ]; then
    : # ipcamd-fwtool sign reads them itself
else
    if [ ! -f cross/keys/dev-signing.key ]; then
        echo "build-image: no signing key given; generating a development key pair in cross/keys/"
        "$fwtool" keygen --dir cross/keys --name dev
    fi
    key_args=(--key cross/keys/dev-signing.key)
fi

files=("ipcamd=$arm/ipcamd" "ipcamd-fwtool=$arm/ipcamd-fwtool")
for f in board/*.toml; do files+=("board/$(basename "$f")=$f"); done
# A template unit (`name@.service`) travels as `name+.service`: image paths have never allowed
# `@`, and an image must stay installable by the releases already on cameras.
for f in systemd/*.service systemd/*.conf systemd/*.rules; do
    name=$(basename "$f")
    files+=("systemd/${name/@/+}=$f")
done

out=${IPCAMD_FW_OUT:-target/firmware/ipcamd-$version-armv7.img}
mkdir -p "$(dirname "$out")"
board_args=()
for b in "${boards[@]}"; do board_args+=(--board "$b"); done
"$fwtool" sign --version "$version" "${board_args[@]}" "${key_args[@]}" --out "$out" "${files[@]}"

# Check the result with the public half, as a camera would.
if [ ${#key_args[@]} -gt 0 ]; then
    "$fwtool" pubkey --key cross/keys/dev-signing.key >"$work/public.key"
elif [ -n "${IPCAMD_FW_SIGNING_KEY_FILE:-}" ]; then
    "$fwtool" pubkey --key "$IPCAMD_FW_SIGNING_KEY_FILE" >"$work/public.key"
else
    (umask 077 && printf '%s\n' "$IPCAMD_FW_SIGNING_KEY" >"$work/signing.key")
    "$fwtool" pubkey --key "$work/signing.key" >"$work/public.key"
fi
"$fwtool" verify --pubkey "$work/public.key" --board "${boards[0]}" "$out"
echo "build-image: $out ($(stat -c %s "$out") bytes)"
