#!/usr/bin/env bash
# Every benchmark, one command: each prints its figures next to the reference measured in the
# same run, as a ratio (see each bench's header for what it measures).
#   motion   the detector per frame, every kernel (scalar, SSE2/AVX2 or NEON) vs a SIMD SAD
#   jpeg     libjpeg-turbo vs jpeg-encoder (the previous encoder) and the image crate, q50/q85
#   daemon   the release binary: idle RSS/anonymous RSS, CGI getDevState at 8 clients vs a
#            reference HTTP server, MJPEG delivered vs configured fps, CPU and memory per viewer
#   mjpeg    the in-process MJPEG figures (encode time, latency) at 1, 8 and 32 viewers
# Usage: scripts/bench.sh [motion|jpeg|daemon|mjpeg ...]   (default: all). Benchmarks never
# assert; the figures on a shared machine are indicative, ratios hold better than absolutes.
set -euo pipefail
cd "$(dirname "$0")/.."
# cmake and nasm build libjpeg-turbo.
bash cross/install-toolchain.sh
benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(motion jpeg daemon mjpeg)
for bench in "${benches[@]}"; do
    echo "== $bench"
    case $bench in
        motion | daemon | mjpeg) cargo bench -q --features turbojpeg --bench "$bench" ;;
        jpeg) cargo bench -q -p ipcamd-hal --features turbojpeg --bench jpeg_encode ;;
        *) echo "bench: unknown benchmark $bench" >&2; exit 2 ;;
    esac
done
