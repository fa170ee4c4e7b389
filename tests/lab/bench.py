#!/usr/bin/env python3
"""The lab benchmark: ipcamd beside µStreamer on the emulated ARM board, MJPEG to N viewers.

Boots the lab guest (lab.py's Lab) with a second, identical vivid instance (/dev/video1,
`lab.bench=1`) and Debian's armhf µStreamer in the image. For each viewer count it streams
ipcamd's GetMJStream (the sub stream) and then µStreamer's /stream of the same size, frame
rate and JPEG quality to that many viewers on the host (through QEMU's forwarding), and
reads in the guest the server process's CPU time (/proc/PID/stat) and memory
(/proc/PID/status) over the same window. While µStreamer runs, ipcamd is stopped (SIGSTOP)
so the two never share the emulated CPU. Prints, per viewer count, CPU and frames delivered
per viewer for both and their ratios, and the memory figures. Nothing is asserted: it exits
non-zero only when a server cannot be measured at all.

Under TCG the guest CPU is emulated: absolute figures are not ARM speed, the ratios between
the two servers on the same emulated CPU hold better.

usage: bench.py --run DIR --initrd FILE [--viewers 1,8] [--seconds 10]
"""

import argparse
import os
import re
import signal
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402

# Guest clock ticks per second (USER_HZ).
TICKS = 100
# ipcamd's MJPEG quality (src/media.rs STREAM_QUALITY): µStreamer is asked for the same.
STREAM_QUALITY = 70
WARM_UP_S = 4


class Viewer(threading.Thread):
    """One multipart MJPEG client: counts the JPEG parts it receives, with their times."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url = url
        self.times = []
        self.first = None
        self.error = None
        self.stop = threading.Event()

    def run(self):
        try:
            r = urllib.request.urlopen(self.url, timeout=60)
            ctype = r.headers.get("Content-Type", "")
            m = re.search(r"boundary=\"?([^\";]+)", ctype)
            if "multipart" not in ctype or not m:
                raise RuntimeError(f"not a multipart stream: {ctype!r}")
            while not self.stop.is_set():
                headers = {}
                line = r.readline()
                while line.strip() == b"" or line.strip().lstrip(b"-") == m.group(1).encode():
                    line = r.readline()
                    if not line:
                        raise RuntimeError("stream ended")
                while line.strip():
                    k, _, v = line.decode(errors="replace").partition(":")
                    headers[k.strip().lower()] = v.strip()
                    line = r.readline()
                data = r.read(int(headers["content-length"]))
                if self.first is None:
                    self.first = data
                self.times.append(time.monotonic())
            r.close()
        except Exception as err:  # noqa: BLE001 - reported with the figures
            self.error = f"{type(err).__name__}: {err}"

    def frames_between(self, t0, t1):
        return sum(1 for t in self.times if t0 <= t < t1)


def proc_cpu_ticks(ctl, pid):
    fields = ctl.out(f"cat /proc/{pid}/stat").rsplit(")", 1)[1].split()
    # after the name: state(0) ... utime is field 14 overall, index 11 here; stime 12
    return int(fields[11]) + int(fields[12])


def proc_memory_kib(ctl, pid):
    out = ctl.out(f"grep -E '^(VmRSS|RssAnon):' /proc/{pid}/status")
    return {k: int(v.split()[0]) for k, v in (l.split(":", 1) for l in out.splitlines())}


def measure(ctl, pid, url, viewers, seconds):
    """CPU share of `pid` and frames per viewer while `viewers` clients stream `url`."""
    clients = [Viewer(url) for _ in range(viewers)]
    for c in clients:
        c.start()
    time.sleep(WARM_UP_S)
    t0 = time.monotonic()
    ticks0 = proc_cpu_ticks(ctl, pid)
    time.sleep(seconds)
    ticks1 = proc_cpu_ticks(ctl, pid)
    t1 = time.monotonic()
    memory = proc_memory_kib(ctl, pid)
    for c in clients:
        c.stop.set()
    errors = [c.error for c in clients if c.error]
    fps = [c.frames_between(t0, t1) / (t1 - t0) for c in clients]
    first = next((c.first for c in clients if c.first), None)
    for c in clients:
        c.join(timeout=10)
    return {
        "cpu_pct": 100.0 * (ticks1 - ticks0) / TICKS / (t1 - t0),
        "fps": sum(fps) / len(fps) if fps else 0.0,
        "memory": memory,
        "errors": errors,
        "first": first,
    }


class Bench(lab.Lab):
    def __init__(self, args):
        super().__init__(args)
        self.append = "lab.bench=1"
        self.bench_port = lab.free_port()
        os.environ["IPCAMD_LAB_BENCH_PORT"] = str(self.bench_port)

    def sub_stream_fps(self):
        """The frame rate ipcamd's sub stream (the MJPEG one) is configured for."""
        kind = self.cam.xml("getSubVideoStreamType").get("streamType", "0") or "0"
        return int(self.cam.xml("getSubVideoStreamParam").get(f"frameRate{kind}", "15") or 15)

    def run_bench(self):
        viewers = [int(v) for v in self.args.viewers.split(",")]
        seconds = self.args.seconds
        rows, failures = [], []
        try:
            self.boot()
            self.check_boot()
            # The daemon settles (its DHCP client, spawned as a fork of it, is done), then
            # the oldest process of that name is the daemon itself.
            time.sleep(5)
            pid = str(min(int(p) for p in self.ctl.out("labctl daemon-pid").split()))
            idle = proc_memory_kib(self.ctl, pid)
            print(f"bench: ipcamd idle: VmRSS {idle['VmRSS']} KiB, RssAnon {idle['RssAnon']} KiB",
                  flush=True)
            mjpeg_url = self.cam.url("GetMJStream", "CGIStream.cgi")
            probe = measure(self.ctl, pid, mjpeg_url, 1, 2)
            if not probe["first"]:
                raise lab.CheckFailed(f"ipcamd's MJPEG stream gave no frame: {probe['errors']}")
            width, height = lab.jpeg_info(probe["first"], "ipcamd MJPEG frame")
            fps = self.sub_stream_fps()
            print(f"bench: sub stream {width}x{height} at {fps} fps, JPEG quality "
                  f"{STREAM_QUALITY}; {seconds} s per measurement", flush=True)
            results = {}
            for n in viewers:
                results[("ipcamd", n)] = measure(self.ctl, pid, mjpeg_url, n, seconds)
            # µStreamer on the second vivid instance, ipcamd stopped meanwhile.
            self.ctl.out(f"kill -STOP {pid}")
            try:
                self.ctl.out(
                    f"ustreamer --device /dev/video1 --resolution {width}x{height} "
                    f"--format YUYV --desired-fps {fps} --quality {STREAM_QUALITY} "
                    "--encoder CPU --workers 1 --host 0.0.0.0 --port 8080 "
                    ">/tmp/ustreamer.log 2>&1 & echo started")
                upid = ""
                for _ in range(100):
                    upid = self.ctl.out("pidof ustreamer || true").strip()
                    if upid:
                        break
                    time.sleep(0.1)
                if not upid:
                    raise lab.CheckFailed("ustreamer did not start: "
                                          + self.ctl.out("cat /tmp/ustreamer.log"))
                ustream_url = f"http://127.0.0.1:{self.bench_port}/stream"
                for _ in range(60):
                    try:
                        urllib.request.urlopen(f"http://127.0.0.1:{self.bench_port}/state",
                                               timeout=5).read()
                        break
                    except OSError:
                        time.sleep(0.5)
                u_idle = proc_memory_kib(self.ctl, upid)
                for n in viewers:
                    results[("ustreamer", n)] = measure(self.ctl, upid, ustream_url, n, seconds)
                self.ctl.out(f"kill {upid}")
            finally:
                self.ctl.run(f"kill -CONT {pid}")
            for n in viewers:
                a, b = results[("ipcamd", n)], results[("ustreamer", n)]
                for name, r in (("ipcamd", a), ("ustreamer", b)):
                    if r["errors"]:
                        failures.append(f"{name} at {n} viewers: {r['errors'][:2]}")
                rows.append((n, a, b))
            print(f"bench: µStreamer idle: VmRSS {u_idle['VmRSS']} KiB, "
                  f"RssAnon {u_idle['RssAnon']} KiB", flush=True)
            print("bench: viewers | ipcamd CPU %, per viewer, fps delivered, RSS/anon KiB | "
                  "µStreamer the same | ratio ipcamd/µStreamer: CPU per viewer, fps")
            for n, a, b in rows:
                ratio_cpu = a["cpu_pct"] / b["cpu_pct"] if b["cpu_pct"] else float("nan")
                ratio_fps = a["fps"] / b["fps"] if b["fps"] else float("nan")
                print(f"bench: {n:>3} | {a['cpu_pct']:5.1f} %, {a['cpu_pct'] / n:5.2f} %, "
                      f"{a['fps']:5.2f} fps, {a['memory']['VmRSS']}/{a['memory']['RssAnon']} | "
                      f"{b['cpu_pct']:5.1f} %, {b['cpu_pct'] / n:5.2f} %, {b['fps']:5.2f} fps, "
                      f"{b['memory']['VmRSS']}/{b['memory']['RssAnon']} | "
                      f"{ratio_cpu:.2f}x, {ratio_fps:.2f}x", flush=True)
            for f in failures:
                print(f"bench: viewer errors: {f}")
            return 0
        except lab.CheckFailed as err:
            print(f"bench: FAILED: {err}", flush=True)
            print("\n".join(self.console_text().splitlines()[-40:]))
            return 1
        finally:
            self.power_off()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="run directory (sockets, disk, logs)")
    p.add_argument("--initrd", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--viewers", default="1,8", help="viewer counts, comma-separated")
    p.add_argument("--seconds", type=float, default=10.0, help="measurement window")
    bench = Bench(p.parse_args())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(bench.run_bench())


if __name__ == "__main__":
    main()
