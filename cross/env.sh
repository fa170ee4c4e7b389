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
# Linked by LLVM's lld (Debian's lld-19, the LLVM of Debian's rustc 1.85) through the ARM gcc
# driver, for packed relative relocations (DT_RELR, glibc >= 2.36, Debian 12): GNU ld 2.40 packs
# them only on x86, and the ~18,000 REL entries of a position-independent ARM binary took 140 KB
# of the 4.6 MB stripped daemon; packed they take 7 KB. cross/test-armv7.sh adds its cfg to these.
export IPCAMD_ARM_RUSTFLAGS="-C link-arg=-fuse-ld=lld -C link-arg=-B/usr/lib/llvm-19/bin -C link-arg=-Wl,-z,pack-relative-relocs"
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUSTFLAGS="$IPCAMD_ARM_RUSTFLAGS"
