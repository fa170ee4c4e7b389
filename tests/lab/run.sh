#!/usr/bin/env bash
# THE lab command (README "Hardware-in-the-loop lab"; scripts/test-all.sh runs it as its
# qemu-lab stage): fetch and cache the Debian pieces, build gpio-sim for the current armmp
# kernel, build the ARMv7 daemon, build the image, boot it in qemu-system-arm and run the
# host-side checks. Works on a fresh Debian 12 machine; downloads go to
# ${IPCAMD_LAB_CACHE:-~/.cache/ipcamd-lab}, build outputs and logs to target/lab/.
# Exit status: non-zero when any step or check FAILs (SKIPPED-PENDING checks do not fail).
# `run.sh --bench` builds the same image and runs the lab benchmark (tests/lab/bench.py:
# ipcamd beside µStreamer) instead of the checks; scripts/bench.sh calls it.
set -euo pipefail
BENCH=0
[ "${1:-}" != --bench ] || BENCH=1
cd "$(dirname "$0")/../.."
HERE=tests/lab
CACHE=${IPCAMD_LAB_CACHE:-$HOME/.cache/ipcamd-lab}
export IPCAMD_LAB_CACHE=$CACHE
OUT=target/lab
mkdir -p "$OUT"
start_all=$(date +%s)
step() {
    local name=$1 t rc=0
    shift
    t=$(date +%s)
    echo "--- lab: $name"
    "$@" || rc=$?
    echo "--- lab: $name took $(($(date +%s) - t)) s$([ "$rc" -eq 0 ] || echo ", FAILED (exit $rc)")"
    return "$rc"
}

# the ARM cross compiler (gpio-sim, the daemon) and Debian's Rust; quick when installed
step toolchain bash cross/install-toolchain.sh
step fetch bash "$HERE/fetch.sh"
step gpio-sim bash "$HERE/build-gpio-sim.sh"
step vicodec bash "$HERE/build-vicodec.sh"
# The lab's own firmware signing pair (kept in the cache, never in the repository).
fw_keys() {
    # the host tool, with the host toolchain (before cross/env.sh sets Debian's rustc)
    cargo build -q --bin ipcamd-fwtool
    if [ ! -f "$CACHE/keys/lab-signing.key" ]; then
        mkdir -p "$CACHE/keys"
        target/debug/ipcamd-fwtool keygen --dir "$CACHE/keys" --name lab
    fi
}
step fw-keys fw_keys

# The same ARMv7 release build as cross/build-release.sh (without its size gate, which is
# the release-size stage's business).
arm_build() {
    "$DEBIAN_CARGO" build --release --target "$IPCAMD_TARGET" --features linux --bin ipcamd
    # The M2M encoder round trip the guest runs against vicodec (the HAL's own M2M code).
    "$DEBIAN_CARGO" build --release --target "$IPCAMD_TARGET" --features linux \
        -p ipcamd-hal --example m2m_roundtrip
}
# shellcheck source=cross/env.sh
source cross/env.sh
step arm-build arm_build
# The lab's copy: building the upgrade image below relinks the release binary.
BIN=$OUT/ipcamd
cp "target/$IPCAMD_TARGET/release/ipcamd" "$BIN"
M2M_BIN=$OUT/m2m_roundtrip
cp "target/$IPCAMD_TARGET/release/examples/m2m_roundtrip" "$M2M_BIN"

# The fwUpgrade check needs an image whose daemon reports another version. It is built only
# once the endpoint exists (it is listed as not implemented in src/cgi/table.rs as pending(..) until
# then, and the check reports SKIPPED-PENDING after the daemon answers -4 for it).
fw_args=()
if [ "$BENCH" -eq 0 ] && ! grep -q 'pending("fwUpgrade"' src/cgi/table.rs; then
    step fw-image bash "$HERE/build-upgrade-image.sh" "$OUT/upgrade.img" "$OUT/upgrade.version"
    fw_args=(--fw-image "$OUT/upgrade.img" --fw-version "$(cat "$OUT/upgrade.version")")
fi

[ "$BENCH" -eq 1 ] || step runner-self-test python3 "$HERE/test_lab.py"
step initramfs bash "$HERE/build-initramfs.sh" "$BIN" "$CACHE/keys/lab-public.key" "$OUT/initramfs.cpio" "$M2M_BIN"
status=0
if [ "$BENCH" -eq 1 ]; then
    step bench python3 "$HERE/bench.py" --run "$OUT/bench" --initrd "$OUT/initramfs.cpio" || status=$?
    echo "--- lab: total $(($(date +%s) - start_all)) s"
    exit "$status"
fi
step boot-and-check python3 "$HERE/lab.py" --run "$OUT/run" --initrd "$OUT/initramfs.cpio" \
    "${fw_args[@]}" || status=$?
echo "--- lab: total $(($(date +%s) - start_all)) s"
exit "$status"
