#!/usr/bin/env bash
# Boots the lab's emulated camera board (QEMU 7.2 from the cache, TCG, one Cortex-A15):
#   console (ttyAMA0)    -> $RUN/console.log (the guest log: kernel, init, daemon stderr)
#   RS485 UART           -> pci-serial 16550, guest /dev/ttyS0, host socket $RUN/ptz.sock
#   control channel      -> virtio-serial port "lab.ctl", host socket $RUN/ctl.sock
#   HTTP                 -> user-mode net, host 127.0.0.1:$HTTP_PORT -> guest :88
#                           (and 127.0.0.1:$IPCAMD_LAB_BENCH_PORT -> guest :8080 when set:
#                           the benchmark's µStreamer; $IPCAMD_LAB_ONVIF_PORT -> guest :888,
#                           the ONVIF service)
#   data disk            -> virtio-blk $RUN/data.ext4, guest /dev/vda mounted at /data
# -M virt needs highmem=off with the non-LPAE armmp kernel, or no PCI device appears.
# usage: run-qemu.sh RUN_DIR INITRAMFS HTTP_PORT [extra kernel args]
set -euo pipefail
CACHE=${IPCAMD_LAB_CACHE:-$HOME/.cache/ipcamd-lab}
# shellcheck source=/dev/null
source "$CACHE/kernel.env"
RUN=$1
INITRD=$2
HTTP_PORT=$3
APPEND=${4:-}
rm -f "$RUN/ptz.sock" "$RUN/ctl.sock"
FWD="hostfwd=tcp:127.0.0.1:$HTTP_PORT-:88"
[ -z "${IPCAMD_LAB_ONVIF_PORT:-}" ] || FWD="$FWD,hostfwd=tcp:127.0.0.1:$IPCAMD_LAB_ONVIF_PORT-:888"
[ -z "${IPCAMD_LAB_BENCH_PORT:-}" ] || FWD="$FWD,hostfwd=tcp:127.0.0.1:$IPCAMD_LAB_BENCH_PORT-:8080"
exec "$CACHE/qemu/usr/bin/qemu-system-arm" -M virt,highmem=off -cpu cortex-a15 -smp 1 -m 512 \
    -nographic -monitor none -serial "file:$RUN/console.log" \
    -L "$CACHE/qemu/usr/share/qemu" \
    -kernel "$CACHE/kernel/$KV/image/boot/vmlinuz-$KV-armmp" -initrd "$INITRD" \
    -append "console=ttyAMA0 quiet loglevel=4 $APPEND" \
    -netdev "user,id=n0,$FWD" \
    -device virtio-net-pci,netdev=n0,romfile= \
    -chardev "socket,id=ptz,path=$RUN/ptz.sock,server=on,wait=off" -device pci-serial,chardev=ptz \
    -device virtio-serial-pci \
    -chardev "socket,id=ctl,path=$RUN/ctl.sock,server=on,wait=off" \
    -device virtserialport,chardev=ctl,name=lab.ctl \
    -drive "if=none,id=data,file=$RUN/data.ext4,format=raw,cache=writeback" \
    -device virtio-blk-pci,drive=data
