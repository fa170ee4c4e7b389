#!/usr/bin/env bash
# Builds the signed firmware image the lab's fwUpgrade check uploads: the ARMv7 daemon built
# with another version (IPCAMD_VERSION, which src/app.rs reports as APP_VERSION), signed with
# the lab's key for the lab board id. Skipped when the sources did not change since the last
# build. Building it relinks the release binary, so run.sh copies the lab's own binary aside
# first. usage: build-upgrade-image.sh IMAGE VERSION_FILE
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=${IPCAMD_LAB_CACHE:-$HOME/.cache/ipcamd-lab}
IMAGE=$1
VERSION_FILE=$2
base=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
version="$base-labupgrade"
key=$( (git rev-parse HEAD; git diff HEAD -- src hal Cargo.toml Cargo.lock; echo "$version") | sha256sum | cut -d' ' -f1)
if [ -f "$IMAGE" ] && [ "$(cat "$IMAGE.key" 2>/dev/null)" = "$key" ]; then
    echo "build-upgrade-image: $IMAGE is up to date"
    echo "$version" >"$VERSION_FILE"
    exit 0
fi
# shellcheck source=cross/env.sh
source cross/env.sh
IPCAMD_VERSION=$version "$DEBIAN_CARGO" build --release --target "$IPCAMD_TARGET" --features linux --bin ipcamd
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
arm-linux-gnueabihf-strip --strip-all -o "$work/ipcamd" "target/$IPCAMD_TARGET/release/ipcamd"
target/debug/ipcamd-fwtool sign --version "$version" --board qemu-lab \
    --key "$CACHE/keys/lab-signing.key" --out "$IMAGE" \
    "ipcamd=$work/ipcamd" "board/lab.toml=tests/lab/board-lab.toml"
# checked as the camera will: signature with the public half, board id
target/debug/ipcamd-fwtool verify --pubkey "$CACHE/keys/lab-public.key" --board qemu-lab "$IMAGE"
echo "$key" >"$IMAGE.key"
echo "$version" >"$VERSION_FILE"
echo "build-upgrade-image: $IMAGE ($version, $(stat -c %s "$IMAGE") bytes)"
