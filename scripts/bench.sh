#!/usr/bin/env bash
# Every benchmark, one command: each prints its figures next to the reference measured in the
# same run, as a ratio (see each bench's header for what it measures).
#   motion   the detector per frame, every kernel (scalar, SSE2/AVX2 or NEON) vs a SIMD SAD
#   jpeg     libjpeg-turbo vs jpeg-encoder (the previous encoder) and the image crate, q50/q85
#   daemon   the release binary: idle RSS/anonymous RSS, CGI getDevState at 8 clients vs a
#            reference HTTP server, MJPEG delivered vs configured fps, CPU and memory per viewer
#   mjpeg    the in-process MJPEG figures (encode time, latency) at 1, 8 and 32 viewers
#   rtsp     H.264 encode, capture-to-RTP latency, CPU per RTSP viewer
#   recording  SD card writes per recorded hour (card wear)
#   lab      the ARM build in the QEMU lab beside µStreamer (Debian's armhf package) on an
#            identical vivid device: CPU per viewer and frames delivered at 1 and 8 MJPEG
#            viewers as ratios, and both servers' RSS (tests/lab/bench.py; boots the lab)
# Usage: scripts/bench.sh [motion|jpeg|daemon|mjpeg|rtsp|recording|lab ...]   (default: all).
# Benchmarks never
# assert; the figures on a shared machine are indicative, ratios hold better than absolutes.
set -euo pipefail
cd "$(dirname "$0")/.."
# cmake and nasm build libjpeg-turbo.
bash cross/install-toolchain.sh
benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(motion jpeg daemon mjpeg rtsp recording lab)
for bench in "${benches[@]}"; do
    echo "== $bench"
    case $bench in
        motion | daemon | mjpeg | rtsp | recording) cargo bench -q --features turbojpeg --bench "$bench" ;;
        jpeg) cargo bench -q -p ipcamd-hal --features turbojpeg --bench jpeg_encode ;;
        lab) bash tests/lab/run.sh --bench ;;
        *) echo "bench: unknown benchmark $bench" >&2; exit 2 ;;
    esac
done
