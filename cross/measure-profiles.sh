#!/usr/bin/env bash
# Measures the stripped ARMv7 size of cross/size-probe (the daemon's dependency set) under
# several release profiles, each built from clean in its own target folder, and prints a table
# for cross/README.md. Slow (one full release build per variant); not part of CI.
# Usage: cross/measure-profiles.sh [variant ...]   variants: s-abort z-abort 3-abort s-unwind
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bash "$repo/cross/install-toolchain.sh"
# shellcheck source=cross/env.sh
source "$repo/cross/env.sh"

work=${IPCAMD_PROBE_DIR:-/tmp/ipcamd-size-probe}
mkdir -p "$work/src"
sed "s|REPO|$repo|g" "$repo/cross/size-probe/Cargo.toml" >"$work/Cargo.toml"
cp "$repo/cross/size-probe/src/main.rs" "$work/src/main.rs"
cp "$repo/Cargo.lock" "$work/Cargo.lock"

variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(s-abort z-abort 3-abort s-unwind)
printf '%-10s %12s %10s\n' variant bytes build_s
for variant in "${variants[@]}"; do
    opt=${variant%%-*}
    panic=${variant#*-}
    case $opt in s | z) opt_value="\"$opt\"" ;; *) opt_value=$opt ;; esac
    target_dir="$work/target-$variant"
    rm -rf "$target_dir"
    start=$(date +%s)
    (cd "$work" && CARGO_TARGET_DIR="$target_dir" "$DEBIAN_CARGO" build -q --release \
        --target "$IPCAMD_TARGET" \
        --config "profile.release.opt-level=$opt_value" \
        --config "profile.release.panic=\"$panic\"")
    seconds=$(($(date +%s) - start))
    bin="$target_dir/$IPCAMD_TARGET/release/ipcamd-size-probe"
    arm-linux-gnueabihf-strip --strip-all "$bin"
    printf '%-10s %12s %10s\n' "$variant" "$(stat -c %s "$bin")" "$seconds"
done
