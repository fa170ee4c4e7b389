#!/usr/bin/env bash
# Runs the whole test suite (unit and integration tests of every workspace crate) for ARMv7
# under qemu-user: cargo's target runner executes each ARM test binary with qemu-arm.
# Needs the toolchain from cross/install-toolchain.sh. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=cross/env.sh
source cross/env.sh
for tool in "$DEBIAN_CARGO" "$RUSTC" arm-linux-gnueabihf-gcc /usr/lib/llvm-19/bin/ld.lld qemu-arm; do
    command -v "$tool" >/dev/null || {
        echo "test-armv7: $tool missing; run cross/install-toolchain.sh" >&2
        exit 1
    }
done
# Tests that start other ARM programs (the fwtool test) run them through the same runner:
# containers have no binfmt_misc to execute ARM binaries directly.
# Tests that cannot run under qemu-user (no terminal ioctls for ptys, no re-exec of ARM
# programs) carry `#[cfg_attr(ipcamd_qemu_user, ignore = ...)]`: reported as ignored, not passed.
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUSTFLAGS="$IPCAMD_ARM_RUSTFLAGS --cfg ipcamd_qemu_user"
export IPCAMD_TEST_RUNNER="$CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUNNER"
exec "$DEBIAN_CARGO" test --workspace --target "$IPCAMD_TARGET" --features linux "$@"
