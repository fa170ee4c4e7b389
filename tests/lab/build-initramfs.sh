#!/usr/bin/env bash
# Builds the lab's minimal-init image: an uncompressed initramfs (about 1.5 s faster to boot
# under TCG than a gzipped one) with static busybox, glibc and v4l2-ctl from the armhf debs,
# ustreamer (the benchmark's reference), the kernel-module closure the init loads (computed with the host's depmod/modprobe), the
# out-of-tree gpio-sim and vicodec, the ARMv7 ipcamd and its M2M round-trip tool, the lab
# board file and the firmware public key.
# usage: build-initramfs.sh IPCAMD_BINARY FW_PUBLIC_KEY OUTPUT.cpio [M2M_ROUNDTRIP_BINARY]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${IPCAMD_LAB_CACHE:-$HOME/.cache/ipcamd-lab}
# shellcheck source=/dev/null
source "$CACHE/kernel.env"
BIN=$1
PUBKEY=$2
OUT=$3
M2M=${4:-}
KREL=$KV-armmp
K=$CACHE/kernel/$KV
R=$(mktemp -d)
trap 'rm -rf "$R"' EXIT
mkdir -p "$R"/{bin,sbin,etc/ipcamd,lab,lib,usr/bin,usr/lib,data}

cp "$CACHE/armroot/bin/busybox" "$R/bin/busybox"
cp -a "$CACHE/armroot/lib/." "$R/lib/"
cp -a "$CACHE/armroot/usr/lib/arm-linux-gnueabihf" "$R/usr/lib/"
rm -rf "$R/usr/lib/arm-linux-gnueabihf/gconv" "$R/usr/lib/arm-linux-gnueabihf/audit"
cp "$CACHE/armroot/usr/bin/v4l2-ctl" "$R/usr/bin/"
# µStreamer: the lab benchmark's reference (tests/lab/bench.py); its libraries are above.
cp "$CACHE/armroot/usr/bin/ustreamer" "$R/usr/bin/"

# kernel modules: the closure of what init loads (the cache's tree carries gpio-sim in
# extra/ and is indexed by build-gpio-sim.sh)
MODS=$K/image
mods=$(for m in virtio_pci virtio_net virtio_console virtio_blk ext4 configfs vivid gpio-sim vicodec; do
    modprobe -d "$MODS" -S "$KREL" --show-depends "$m"
done | awk '$1 == "insmod" { print $2 }' | sort -u)
for ko in $mods; do
    rel=${ko#"$MODS"}
    mkdir -p "$R$(dirname "$rel")"
    cp "$ko" "$R$rel"
done
cp "$MODS/lib/modules/$KREL"/modules.{order,builtin,builtin.modinfo} "$R/lib/modules/$KREL/"
depmod -b "$R" "$KREL"
echo "build-initramfs: $(echo "$mods" | wc -l) kernel modules"

install -m755 "$HERE/guest/init" "$R/init"
install -m755 "$HERE/guest/labctl" "$R/usr/bin/labctl"
install -m755 "$BIN" "$R/usr/bin/ipcamd"
[ -z "$M2M" ] || install -m755 "$M2M" "$R/usr/bin/m2m_roundtrip"
install -m644 "$HERE/board-lab.toml" "$R/etc/ipcamd/board.toml"
install -m755 "$HERE/guest/udhcpc.script" "$R/etc/ipcamd/udhcpc.script"
install -m644 "$HERE/gpio-lines" "$R/etc/ipcamd/gpio-lines"
install -m644 "$PUBKEY" "$R/etc/ipcamd/fw-public.key"
echo "root:x:0:0:root:/root:/bin/sh" >"$R/etc/passwd"
echo "root:x:0:" >"$R/etc/group"

(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "build-initramfs: $OUT $(du -h "$OUT" | cut -f1)"
