#!/usr/bin/env bash
# Fetch-and-cache step of the hardware-in-the-loop lab (README "Hardware-in-the-loop lab").
#
# Downloads, from Debian's mirror only (apt-get download, nothing armhf is installed), into the
# cache directory ${IPCAMD_LAB_CACHE:-~/.cache/ipcamd-lab}, outside the repository:
#   - qemu-system-arm 7.2 (bookworm), extracted and run from the cache: apt-get install of it
#     conflicts with the backports qemu-utils this image carries; only its shared libraries
#     are installed through apt;
#   - the CURRENT bookworm armmp kernel: the ABI (6.1.0-NN) is resolved at fetch time from the
#     linux-image-armmp:armhf metapackage, never pinned, because Debian drops the old packages
#     from the mirror when it moves the ABI; with it its headers, kbuild and linux-source
#     (gpio-sim is built from it out of tree, tests/lab/build-gpio-sim.sh);
#   - the armhf userland of the guest: static busybox, glibc (the daemon is dynamically
#     linked), v4l2-ctl (reads vivid's controls for the setBrightness check), ustreamer (the
#     reference MJPEG server of the lab benchmark, tests/lab/bench.py).
# Every .deb is checked by apt against the signed archive index when downloaded, and once
# more (dpkg-deb --info) before it is extracted. A stamp file per kernel ABI makes later runs
# a no-op (a few apt-cache queries). Writes $CACHE/kernel.env (KV, KPKGVER, KSERIES).
set -euo pipefail
CACHE=${IPCAMD_LAB_CACHE:-$HOME/.cache/ipcamd-lab}
mkdir -p "$CACHE/debs"
SUDO=""
APT_DL=(apt-get download -q)
if [ "$(id -u)" -eq 0 ]; then
    # root: apt's _apt user cannot write into a cache under /root; download as root, quietly
    APT_DL+=(-o APT::Sandbox::User=root)
else
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive

if ! dpkg --print-foreign-architectures | grep -qx armhf; then
    $SUDO dpkg --add-architecture armhf
    $SUDO apt-get update -q || true
fi

# --- resolve the current armmp kernel (linux-image-armmp:armhf depends on exactly one ABI)
resolve_kernel() {
    apt-cache show linux-image-armmp:armhf 2>/dev/null |
        sed -n 's/^Depends:.*linux-image-\([0-9][0-9.]*-[0-9]*\)-armmp (= \([^)]*\)).*/\1 \2/p' |
        sort -V | tail -n1
}
read -r KV KPKGVER < <(resolve_kernel || true) || true
if [ -z "${KV:-}" ]; then
    $SUDO apt-get update -q || true
    read -r KV KPKGVER < <(resolve_kernel) || true
fi
if [ -z "${KV:-}" ] || [ -z "${KPKGVER:-}" ]; then
    echo "fetch: cannot resolve the armmp kernel from apt-cache (linux-image-armmp:armhf)" >&2
    exit 1
fi
KSERIES=${KV%%-*} # 6.1.0-50 -> 6.1.0; linux-kbuild/linux-source use the major.minor series
KSERIES=${KSERIES%.*}
echo "fetch: armmp kernel ABI $KV (package $KPKGVER, series $KSERIES)"
# guest userland (armhf); ustreamer and its libraries for the benchmark beside it
# (tests/lab/bench.py). The stamp names the list, so a changed list fetches again.
arm_pkgs=(busybox-static libc6 libgcc-s1 libstdc++6 v4l-utils libv4l-0 libv4lconvert0
    libjpeg62-turbo libudev1 ustreamer libbsd0 libmd0 libevent-2.1-7 libevent-core-2.1-7
    libevent-pthreads-2.1-7)
stamp="$CACHE/fetched-$KV-$KPKGVER-$(echo "${arm_pkgs[*]}" | md5sum | cut -c1-8)"

# Host packages the lab needs (all from Debian): qemu's shared libraries, tools for the image.
host_pkgs=(kmod cpio e2fsprogs gcc make xz-utils libjpeg-turbo-progs
    libaio1 libbpf1 libcapstone4 libfdt1 libfuse3-3 libglib2.0-0 libgmp10 libgnutls30
    libibverbs1 libjpeg62-turbo libnuma1 libpixman-1-0 libpmem1 libpng16-16 librdmacm1
    libsasl2-2 libseccomp2 libslirp0 libudev1 liburing2 libvdeplug2 libzstd1)
missing=()
for p in "${host_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "fetch: installing host packages: ${missing[*]}"
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -f "$stamp" ]; then
    echo "fetch: cache $CACHE is complete for $KV"
else
    cd "$CACHE/debs"
    # apt-get download verifies each file against the signed Release/Packages hashes.
    download() {
        local pkg
        for pkg in "$@"; do
            "${APT_DL[@]}" "$pkg" >/dev/null || {
                echo "fetch: apt-get download $pkg failed" >&2
                exit 1
            }
        done
    }
    deb_of() { # newest .deb whose name starts with $1_
        ls -1 "$1"_*.deb 2>/dev/null | sort -V | tail -n1
    }
    extract() { # extract() DEST PKG...
        local dest=$1 pkg f
        shift
        mkdir -p "$dest"
        for pkg in "$@"; do
            f=$(deb_of "$pkg")
            [ -n "$f" ] || {
                echo "fetch: no .deb for $pkg" >&2
                exit 1
            }
            dpkg-deb --info "$f" >/dev/null # a truncated or corrupt archive fails here
            dpkg-deb -x "$f" "$dest"
        done
    }

    # qemu (pinned to bookworm's 7.2 by the archive)
    download qemu-system-arm qemu-system-common qemu-system-data
    rm -rf "$CACHE/qemu"
    extract "$CACHE/qemu" qemu-system-arm qemu-system-common qemu-system-data

    # kernel for this ABI
    download "linux-image-$KV-armmp:armhf=$KPKGVER" "linux-headers-$KV-armmp:armhf=$KPKGVER" \
        "linux-headers-$KV-common=$KPKGVER" "linux-kbuild-$KSERIES=$KPKGVER" \
        "linux-source-$KSERIES=$KPKGVER"
    rm -rf "$CACHE/kernel/$KV"
    mkdir -p "$CACHE/kernel/$KV"
    extract "$CACHE/kernel/$KV/image" "linux-image-$KV-armmp"
    extract "$CACHE/kernel/$KV/kh" "linux-headers-$KV-armmp" "linux-headers-$KV-common" \
        "linux-kbuild-$KSERIES"
    # The headers' Makefile includes the -common tree by absolute path.
    sed -i "s|/usr/src/linux-headers-$KV-common|$CACHE/kernel/$KV/kh/usr/src/linux-headers-$KV-common|" \
        "$CACHE/kernel/$KV/kh/usr/src/linux-headers-$KV-armmp/Makefile"
    # Only the few sources gpio-sim needs are taken out of linux-source.
    src_deb=$(deb_of "linux-source-$KSERIES")
    dpkg-deb --info "$src_deb" >/dev/null
    mkdir -p "$CACHE/kernel/$KV/src"
    dpkg-deb --fsys-tarfile "$src_deb" |
        tar -xO "./usr/src/linux-source-$KSERIES.tar.xz" |
        tar -xJ -C "$CACHE/kernel/$KV/src" \
            "linux-source-$KSERIES/drivers/gpio/gpio-sim.c" \
            "linux-source-$KSERIES/drivers/gpio/gpiolib.h" \
            "linux-source-$KSERIES/kernel/irq/irq_sim.c" \
            "linux-source-$KSERIES/scripts/mod"
    # linux-source is 140 MB and only needed once per ABI
    rm -f "$src_deb"

    # guest userland (armhf: arm_pkgs above)
    rm -f ./*_armhf.deb
    download "${arm_pkgs[@]/%/:armhf}"
    rm -rf "$CACHE/armroot"
    for p in "${arm_pkgs[@]}"; do
        f=$(ls -1 "$p"_*_armhf.deb | sort -V | tail -n1)
        dpkg-deb --info "$f" >/dev/null
        dpkg-deb -x "$f" "$CACHE/armroot"
    done

    # drop the previous ABI's trees
    for d in "$CACHE"/kernel/*; do
        [ "$(basename "$d")" = "$KV" ] || rm -rf "$d"
    done
    rm -f "$CACHE"/fetched-*
    touch "$stamp"
fi

cat >"$CACHE/kernel.env" <<ENV
KV=$KV
KPKGVER=$KPKGVER
KSERIES=$KSERIES
ENV
"$CACHE/qemu/usr/bin/qemu-system-arm" --version | head -n1
echo "fetch: done ($CACHE)"
