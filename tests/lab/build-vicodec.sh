#!/usr/bin/env bash
# Cross-builds vicodec.ko for the armmp kernel fetch.sh resolved, into $CACHE/kernel/$KV/vicodec/
# and the cache's module tree (extra/), skipped when already built for that ABI. vicodec is
# the kernel's virtual codec driver: its stateful encoder is a real V4L2 memory-to-memory
# device (FWHT instead of H.264), so the lab runs the daemon's M2M encoder code against it.
# Its dependencies (v4l2-mem2mem, videobuf2-vmalloc) are modules of the armmp kernel.
# Uses the ARM modpost that build-gpio-sim.sh installs (run after it). The vicodec sources
# come from the same linux-source package (downloaded again, once per ABI, when missing).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${IPCAMD_LAB_CACHE:-$HOME/.cache/ipcamd-lab}
# shellcheck source=/dev/null
source "$CACHE/kernel.env"
K=$CACHE/kernel/$KV
OUT=$K/vicodec
EXTRA=$K/image/lib/modules/$KV-armmp/extra
if [ -f "$OUT/vicodec.ko" ] && [ -f "$EXTRA/vicodec.ko" ] && [ "$OUT/vicodec.ko" -nt "$HERE/build-vicodec.sh" ]; then
    echo "build-vicodec: cached for $KV"
    exit 0
fi
SRC=$K/src/linux-source-$KSERIES/drivers/media/test-drivers/vicodec
if [ ! -f "$SRC/vicodec-core.c" ]; then
    APT_DL=(apt-get download -q)
    [ "$(id -u)" -eq 0 ] && APT_DL+=(-o APT::Sandbox::User=root)
    mkdir -p "$CACHE/debs"
    (
        cd "$CACHE/debs"
        "${APT_DL[@]}" "linux-source-$KSERIES=$KPKGVER" >/dev/null
        deb=$(ls -1 "linux-source-${KSERIES}"_*.deb | sort -V | tail -n1)
        dpkg-deb --info "$deb" >/dev/null
        dpkg-deb --fsys-tarfile "$deb" |
            tar -xO "./usr/src/linux-source-$KSERIES.tar.xz" |
            tar -xJ -C "$K/src" "linux-source-$KSERIES/drivers/media/test-drivers/vicodec"
        rm -f "$deb"
    )
fi
FLAV=$K/kh/usr/src/linux-headers-$KV-armmp
B=$K/vicodec-build
rm -rf "$B" && mkdir -p "$B"
cp "$SRC"/*.c "$SRC"/*.h "$B/"
cp "$HERE/vicodec/Kbuild" "$B/Kbuild"
make -s -C "$FLAV" M="$B" src="$B" ARCH=arm CROSS_COMPILE=arm-linux-gnueabihf- modules 2>&1 |
    grep -v 'has no CRC' || true
[ -f "$B/vicodec.ko" ] || {
    echo "build-vicodec: vicodec.ko was not built" >&2
    exit 1
}
mkdir -p "$OUT" "$EXTRA"
arm-linux-gnueabihf-strip --strip-debug -o "$OUT/vicodec.ko" "$B/vicodec.ko"
cp "$OUT/vicodec.ko" "$EXTRA/"
depmod -b "$K/image" "$KV-armmp"
ls -l "$OUT"
