#!/usr/bin/env bash
# Installs what the ARMv7 build and the qemu-user test run need, idempotently, on Debian 12:
# Debian's Rust 1.85 (rustc-web) with its armhf standard library, the ARM gcc and sysroot,
# Debian's clippy for it (rust-web-clippy), qemu-user, libclang for v4l's bindgen step, and
# systemd (systemd-analyze) and sqlite3 for the checks, cmake and nasm for libjpeg-turbo (built
# from source by turbojpeg-sys; nasm assembles its x86 SIMD), g++ for OpenH264's C++ (the
# software H.264 encoder), lld-19 as the ARM linker (packed relocations, cross/env.sh).
# No Docker, no rustup targets.
set -euo pipefail

RUST_DEB_VERSION=1.85.0+dfsg3-1~deb12u3
TARGET=armv7-unknown-linux-gnueabihf
# Written next to the unpacked armhf standard library: its Debian version must match rustc's.
STD_MARKER=/usr/lib/rustlib/$TARGET/ipcamd-deb-version
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

have_all() {
    [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] && [ -x /usr/bin/cargo-clippy ] &&
        [ "$(dpkg-query -W -f='${Version}' rustc-web 2>/dev/null)" = "$RUST_DEB_VERSION" ] &&
        [ -d "/usr/lib/rustlib/$TARGET/lib" ] &&
        [ "$(cat "$STD_MARKER" 2>/dev/null)" = "$RUST_DEB_VERSION" ] &&
        command -v arm-linux-gnueabihf-gcc >/dev/null &&
        command -v arm-linux-gnueabihf-g++ >/dev/null &&
        command -v qemu-arm >/dev/null &&
        [ -d /usr/arm-linux-gnueabihf/include ] &&
        ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 &&
        command -v sqlite3 >/dev/null &&
        command -v systemd-analyze >/dev/null &&
        command -v cmake >/dev/null &&
        command -v nasm >/dev/null &&
        [ -x /usr/lib/llvm-19/bin/ld.lld ]
}

if have_all; then
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ! dpkg --print-foreign-architectures | grep -qx armhf; then
    $SUDO dpkg --add-architecture armhf
fi
# The armhf security index has been seen failing ("Mirror sync in progress"); bookworm main
# still loads, which is all we need.
$SUDO apt-get update -q || true
$SUDO apt-get install -y -q \
    "rustc-web=$RUST_DEB_VERSION" "cargo-web=$RUST_DEB_VERSION" \
    "libstd-rust-web-dev=$RUST_DEB_VERSION" "libstd-rust-web-1.85=$RUST_DEB_VERSION" \
    "rust-web-clippy=$RUST_DEB_VERSION" \
    gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user libclang-dev clang \
    systemd sqlite3 binutils-arm-linux-gnueabihf cmake nasm lld-19

if [ "$(cat "$STD_MARKER" 2>/dev/null)" != "$RUST_DEB_VERSION" ]; then
    # `apt-get install libstd-rust-web-dev:armhf` clashes on liblzma5; unpack the .deb instead.
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && apt-get download "libstd-rust-web-dev:armhf=$RUST_DEB_VERSION" &&
        dpkg -x libstd-rust-web-dev_*_armhf.deb root)
    $SUDO mkdir -p /usr/lib/rustlib
    $SUDO rm -rf "/usr/lib/rustlib/$TARGET"
    $SUDO cp -r "$work/root/usr/lib/rustlib/$TARGET" /usr/lib/rustlib/
    echo "$RUST_DEB_VERSION" | $SUDO tee "$STD_MARKER" >/dev/null
fi

have_all || { echo "install-toolchain: something is still missing" >&2; exit 1; }
