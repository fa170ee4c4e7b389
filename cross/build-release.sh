#!/usr/bin/env bash
# Builds the stripped ARMv7 release binary of the daemon with Debian's Rust 1.85 (no Docker),
# prints its size and fails when it is larger than the budget in cross/size-budget.
# Installs the toolchain first if anything is missing. Set IPCAMD_BUILD_FWTOOL=1 to build the
# ARM ipcamd-fwtool too (cross/build-image.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
bash cross/install-toolchain.sh
# shellcheck source=cross/env.sh
source cross/env.sh

bins=(--bin ipcamd)
[ "${IPCAMD_BUILD_FWTOOL:-0}" = 1 ] && bins+=(--bin ipcamd-fwtool)
start=$(date +%s)
"$DEBIAN_CARGO" build --release --target "$IPCAMD_TARGET" --features linux "${bins[@]}"
echo "build-release: cargo build took $(($(date +%s) - start)) s"

out="${CARGO_TARGET_DIR:-target}/$IPCAMD_TARGET/release"
for bin in "${bins[@]}"; do
    [ "$bin" = --bin ] && continue
    # The release profile already strips; strip --strip-all also drops .comment and the like.
    arm-linux-gnueabihf-strip --strip-all "$out/$bin"
done

size=$(stat -c %s "$out/ipcamd")
budget=$(grep -v '^[[:space:]]*#' cross/size-budget | tr -d '[:space:]')
echo "build-release: $out/ipcamd is $size bytes stripped (budget $budget bytes)"
if [ "$size" -gt "$budget" ]; then
    echo "build-release: FAILED: the binary is $((size - budget)) bytes over cross/size-budget" >&2
    exit 1
fi
