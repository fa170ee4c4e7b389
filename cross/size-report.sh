#!/usr/bin/env bash
# Per-crate breakdown of the ARMv7 release binary (cargo-bloat --crates) and its stripped size,
# the table in cross/README.md ("Where the bytes go"). Installs cargo-bloat (pinned) from
# crates.io into target/tools when missing. The release is built with symbols kept
# (CARGO_PROFILE_RELEASE_STRIP=false, same code otherwise) in its own target folder, then a
# stripped copy is measured as cross/build-release.sh does, and split by feature
# (cross/size-by-feature.py). Slow (a release build); not in CI.
# Usage: cross/size-report.sh [extra cargo-bloat arguments, e.g. --filter ipcamd]
set -euo pipefail
cd "$(dirname "$0")/.."
bash cross/install-toolchain.sh
# shellcheck source=cross/env.sh
source cross/env.sh

BLOAT_VERSION=0.12.1
tools="$PWD/target/tools"
if [ "$("$tools/bin/cargo-bloat" --version 2>/dev/null)" != "cargo-bloat $BLOAT_VERSION" ]; then
    # A host tool: built with whatever cargo is first on PATH.
    cargo install -q --locked --version "$BLOAT_VERSION" --root "$tools" cargo-bloat
fi

export CARGO_TARGET_DIR="${IPCAMD_SIZE_TARGET_DIR:-$PWD/target/size-report}"
export CARGO_PROFILE_RELEASE_STRIP=false
# `cargo bloat` runs as a cargo subcommand of Debian's cargo (CARGO points back at it); it
# finds the ARM std libraries through the `rustc` first on PATH, which must be Debian's.
PATH="$tools/bin:/usr/bin:$PATH" "$DEBIAN_CARGO" bloat --release --target "$IPCAMD_TARGET" \
    --features linux --bin ipcamd --crates -n 40 "$@"

bin="$CARGO_TARGET_DIR/$IPCAMD_TARGET/release/ipcamd"
stripped=$(mktemp)
trap 'rm -f "$stripped"' EXIT
arm-linux-gnueabihf-strip --strip-all -o "$stripped" "$bin"
echo "size-report: ipcamd is $(stat -c %s "$stripped") bytes stripped ($(stat -c %s "$bin") with symbols)"
# The same binary split by feature: what landed before issue 16 and what came after it.
python3 cross/size-by-feature.py "$bin" "$(stat -c %s "$stripped")"
