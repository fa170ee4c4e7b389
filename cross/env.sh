# Sourced by the cross/ scripts: the environment for building and testing the ARMv7 target
# with Debian's Rust 1.85 (rustc-web) instead of the rustup toolchain that is first on PATH.
# See cross/README.md. Values are fixed; nothing here comes from user input.
export IPCAMD_TARGET=armv7-unknown-linux-gnueabihf
export DEBIAN_CARGO=/usr/bin/cargo
export RUSTC=/usr/bin/rustc
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc
export CC_armv7_unknown_linux_gnueabihf=arm-linux-gnueabihf-gcc
export CXX_armv7_unknown_linux_gnueabihf=arm-linux-gnueabihf-g++
export AR_armv7_unknown_linux_gnueabihf=arm-linux-gnueabihf-ar
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUNNER="qemu-arm -L /usr/arm-linux-gnueabihf"
export BINDGEN_EXTRA_CLANG_ARGS_armv7_unknown_linux_gnueabihf="--sysroot=/usr/arm-linux-gnueabihf -I/usr/arm-linux-gnueabihf/include"
