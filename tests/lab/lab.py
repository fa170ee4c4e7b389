#!/usr/bin/env python3
"""Host side of the hardware-in-the-loop lab (README "Hardware-in-the-loop lab").

Boots the emulated camera (run-qemu.sh), runs the Pelco-D motor simulator on the RS485 UART's
host socket, drives and reads the guest through the virtio-serial control channel, waits for
the daemon, checks the camera through its CGI surface over hostfwd, collects the guest log and
always powers the guest off. Python 3.11 standard library only.

Every check ends in one of:
  PASS             it did what the issue asks, verified against the real device;
  FAIL             it did not (the reason is printed);
  SKIPPED-PENDING  the CGI command the check needs answered -4 ("not implemented yet", see
                   src/cgi/registry.rs): the check is written and runs as soon as it lands.
Any FAIL makes the exit status 1.

usage: lab.py --run DIR --initrd FILE [--fw-image FILE --fw-version V] [--port N]
"""

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))

# Boot and daemon start under TCG: about 12 s to "LAB: ready", then the daemon (argon2,
# SQLite, device opening) on a CPU ~20x slower than the host.
BOOT_TIMEOUT = 180
DAEMON_TIMEOUT = 180
HTTP_TIMEOUT = 60
# setScheduleRecordConfig: all 48 half hours of a day.
WHOLE_DAY = (1 << 48) - 1


class Pending(Exception):
    """The command answered -4: the feature has not landed yet."""


class CheckFailed(Exception):
    """A check's assertion failed."""


def require(cond, why):
    if not cond:
        raise CheckFailed(why)


# --------------------------------------------------------------------------------------------
# Pelco-D motor simulator (the same protocol model as hal/src/sim/ptz.rs: 7-byte frames,
# sync 0xFF, address, command 1, command 2, data 1 (pan speed), data 2 (tilt speed), checksum
# = sum of bytes 1..5 mod 256; pan 0..350 and tilt 0..90 degrees starting at 175/45).
# --------------------------------------------------------------------------------------------
PAN_LEFT, PAN_RIGHT, TILT_UP, TILT_DOWN = 0x04, 0x02, 0x08, 0x10
MAX_SPEED = 0x3F
DEG_PER_SECOND_AT_MAX = 60.0


class PelcoMotor:
    """Reads the UART's host end, parses Pelco-D frames for its address, tracks the axes."""

    def __init__(self, path, address=1):
        self.path = path
        self.address = address
        self.lock = threading.Lock()
        self.frames = []  # (monotonic time, bytes) of every valid frame, any address
        self.rejected = 0  # bytes dropped while resynchronising or bad checksums
        self.pan, self.tilt = 175.0, 45.0
        self.pan_rate = self.tilt_rate = 0.0
        self.last = time.monotonic()
        self.connected = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _integrate(self, now):
        dt = now - self.last
        self.last = now
        self.pan = min(350.0, max(0.0, self.pan + self.pan_rate * dt))
        self.tilt = min(90.0, max(0.0, self.tilt + self.tilt_rate * dt))

    def _apply(self, frame):
        now = time.monotonic()
        with self.lock:
            self._integrate(now)
            self.frames.append((now, bytes(frame)))
            if frame[1] != self.address:
                return
            cmd1, cmd2, pan_speed, tilt_speed = frame[2], frame[3], frame[4], frame[5]
            if cmd2 & 0x01:  # extended command (presets, zoom speed): axes unchanged
                return
            rate = lambda speed: DEG_PER_SECOND_AT_MAX * min(speed, MAX_SPEED) / MAX_SPEED
            self.pan_rate = (rate(pan_speed) if cmd2 & PAN_RIGHT else 0.0) - (
                rate(pan_speed) if cmd2 & PAN_LEFT else 0.0)
            self.tilt_rate = (rate(tilt_speed) if cmd2 & TILT_UP else 0.0) - (
                rate(tilt_speed) if cmd2 & TILT_DOWN else 0.0)
            del cmd1

    def position(self):
        with self.lock:
            self._integrate(time.monotonic())
            return self.pan, self.tilt

    def frames_since(self, t):
        with self.lock:
            return [f for (ts, f) in self.frames if ts >= t]

    def _run(self):
        with connect_unix(self.path, 60) as sock:
            self.connected.set()
            self._read(sock)

    def _read(self, sock):
        buf = bytearray()
        while True:
            try:
                data = sock.recv(4096)
            except OSError:
                return
            if not data:
                return
            buf += data
            while len(buf) >= 7:
                if buf[0] != 0xFF:
                    del buf[0]
                    self.rejected += 1
                    continue
                frame = buf[:7]
                if sum(frame[1:6]) % 256 != frame[6]:
                    del buf[0]
                    self.rejected += 1
                    continue
                del buf[:7]
                self._apply(frame)


def pelco_d(address, cmd1, cmd2, d1, d2):
    body = bytes([address, cmd1, cmd2, d1, d2])
    return bytes([0xFF]) + body + bytes([sum(body) % 256])


# --------------------------------------------------------------------------------------------
# Guest access
# --------------------------------------------------------------------------------------------
def connect_unix(path, timeout):
    end = time.time() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.time() > end:
                raise
            time.sleep(0.05)


class Ctl:
    """The guest shell on the virtio-serial port lab.ctl (one command at a time)."""

    def __init__(self, path):
        self.path = path
        self.n = 0
        self.s = connect_unix(path, 30)

    def run(self, cmd, timeout=60):
        try:
            return self._run(cmd, timeout)
        except (ConnectionError, BrokenPipeError):
            # the guest rebooted and QEMU dropped the connection: once more on a new one
            self.s.close()
            self.s = connect_unix(self.path, 30)
            return self._run(cmd, timeout)

    def _run(self, cmd, timeout):
        self.n += 1
        mark = f"__LABEND{self.n}_{uuid.uuid4().hex[:8]}__"
        self.s.settimeout(timeout)
        self.s.sendall(f"{cmd}\necho {mark}$?\n".encode())
        buf, end = "", time.time() + timeout
        pattern = re.compile(re.escape(mark) + r"(\d+)\n")
        while not pattern.search(buf):
            if time.time() > end:
                raise TimeoutError(f"ctl: {cmd!r} gave no answer in {timeout} s")
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("ctl channel closed")
            buf += chunk.decode(errors="replace")
        out, rest = buf.split(mark, 1)
        return int(pattern.match(mark + rest).group(1)), out.strip()

    def out(self, cmd, timeout=60):
        rc, out = self.run(cmd, timeout)
        require(rc == 0, f"guest command {cmd!r} failed (rc {rc}): {out}")
        return out

    def send_only(self, cmd):
        self.s.sendall(f"{cmd}\n".encode())


class Camera:
    """The CGI surface through hostfwd."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def url(self, cmd, endpoint="CGIProxy.fcgi", **params):
        q = {"cmd": cmd, "usr": "admin", "pwd": ""}
        q.update({k: str(v) for k, v in params.items()})
        return f"{self.base}/cgi-bin/{endpoint}?{urllib.parse.urlencode(q)}"

    def raw(self, cmd, timeout=HTTP_TIMEOUT, **params):
        with urllib.request.urlopen(self.url(cmd, **params), timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()

    def xml(self, cmd, timeout=HTTP_TIMEOUT, endpoint="CGIProxy.fcgi", **params):
        """The reply's fields; raises Pending on -4, CheckFailed on any other non-zero."""
        with urllib.request.urlopen(self.url(cmd, endpoint, **params), timeout=timeout) as r:
            body = r.read()
        fields = parse_result(body, cmd)
        result = fields.get("result")
        if result == "-4":
            raise Pending(cmd)
        require(result == "0", f"{cmd} answered result {result}: {body[:300]!r}")
        return fields


def parse_result(body, cmd):
    try:
        root = ET.fromstring(body)
    except ET.ParseError as err:
        raise CheckFailed(f"{cmd}: reply is not XML ({err}): {body[:200]!r}")
    require(root.tag == "CGI_Result", f"{cmd}: root element {root.tag}")
    return {child.tag: (child.text or "") for child in root}


def pending_if_minus4(body, content_type, cmd):
    """For commands whose success reply is not XML: -4 in an XML reply means pending."""
    if "xml" in content_type or body.lstrip().startswith(b"<CGI_Result"):
        fields = parse_result(body, cmd)
        if fields.get("result") == "-4":
            raise Pending(cmd)
        raise CheckFailed(f"{cmd} answered XML instead of the content: {body[:300]!r}")


# --------------------------------------------------------------------------------------------
# JPEG
# --------------------------------------------------------------------------------------------
def jpeg_info(data, what):
    """Walks the markers: SOI first, a baseline/progressive SOF with the size, EOI last."""
    require(len(data) > 4 and data[:2] == b"\xff\xd8", f"{what}: no JPEG SOI marker")
    require(data.rstrip(b"\x00")[-2:] == b"\xff\xd9", f"{what}: no JPEG EOI marker")
    i = 2
    while i + 4 <= len(data):
        require(data[i] == 0xFF, f"{what}: bad JPEG marker at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            height = int.from_bytes(data[i + 5:i + 7], "big")
            width = int.from_bytes(data[i + 7:i + 9], "big")
            return width, height
        require(marker != 0xDA, f"{what}: scan before any SOF header")
        i += 2 + length
    raise CheckFailed(f"{what}: no SOF header")


def decode_gray(data, what):
    """Decodes with a real decoder (djpeg, libjpeg-turbo-progs): (width, height, luma bytes)."""
    djpeg = shutil.which("djpeg")
    require(djpeg is not None, "djpeg missing (fetch.sh installs libjpeg-turbo-progs)")
    r = subprocess.run([djpeg, "-grayscale", "-pnm"], input=data, capture_output=True, timeout=30)
    require(r.returncode == 0, f"{what}: djpeg cannot decode it: {r.stderr.decode()[:200]}")
    m = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", r.stdout)
    require(m is not None, f"{what}: djpeg output is not a PGM")
    w, h = int(m.group(1)), int(m.group(2))
    pixels = r.stdout[m.end():]
    require(len(pixels) == w * h, f"{what}: decoded {len(pixels)} bytes for {w}x{h}")
    return w, h, pixels


def mean(values):
    return sum(values) / max(1, len(values))


def vivid_bars_signature(w, h, luma):
    """vivid's default test pattern is 75% colour bars: white, yellow, cyan, green, magenta,
    red, blue, black from left to right, i.e. eight vertical strips whose luma falls strictly.
    Returns the strips' mean luma over the middle rows (vivid draws its text at the top)."""
    rows = range(h // 2 - h // 8, h // 2 + h // 8)
    strips = []
    for k in range(8):
        x0, x1 = k * w // 8 + w // 32, (k + 1) * w // 8 - w // 32
        strips.append(mean([luma[y * w + x] for y in rows for x in range(x0, x1, 2)]))
    return strips


# --------------------------------------------------------------------------------------------
# The lab
# --------------------------------------------------------------------------------------------
class Lab:
    def __init__(self, args):
        self.args = args
        self.run_dir = os.path.abspath(args.run)
        self.console = os.path.join(self.run_dir, "console.log")
        self.port = args.port or free_port()
        self.cam = Camera(self.port)
        self.results = []  # (name, status, detail, seconds)
        self.qemu = None
        self.ctl = None
        self.motor = None
        self.figures = {}
        self.onvif_port = free_port()
        os.environ["IPCAMD_LAB_ONVIF_PORT"] = str(self.onvif_port)

    # ---- process control
    def boot(self):
        os.makedirs(self.run_dir, exist_ok=True)
        for f in ("console.log", "qemu.log"):
            p = os.path.join(self.run_dir, f)
            if os.path.exists(p):
                os.unlink(p)
        data = os.path.join(self.run_dir, "data.ext4")
        if os.path.exists(data):
            os.unlink(data)
        # a fresh, empty data disk: the camera starts at factory settings every lab run
        subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "ipcamd-data", data, "64M"],
                       check=True)
        append = getattr(self, "append", "lab.selftest=1")
        self.t0 = time.monotonic()
        self.qemu = subprocess.Popen(
            [os.path.join(HERE, "run-qemu.sh"), self.run_dir, self.args.initrd, str(self.port),
             append],
            stdout=open(os.path.join(self.run_dir, "qemu.log"), "wb"),
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        # The motor is on the line from the start (QEMU's socket chardev is the server).
        self.motor = PelcoMotor(os.path.join(self.run_dir, "ptz.sock"))

    def console_text(self):
        try:
            with open(self.console, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_console(self, text, count, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.qemu.poll() is not None:
                raise CheckFailed(f"qemu exited (rc {self.qemu.returncode}): "
                                  + open(os.path.join(self.run_dir, "qemu.log"),
                                         errors="replace").read()[-2000:])
            if self.console_text().count(text) >= count:
                return time.monotonic()
            time.sleep(0.1)
        raise CheckFailed(f"no {text!r} (#{count}) on the console within {timeout} s")

    def wait_daemon(self, timeout, want=None):
        """Polls getDevInfo until it answers (and `want(fields)` holds); returns the fields."""
        end = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < end:
            if self.qemu.poll() is not None:
                raise CheckFailed(f"qemu exited (rc {self.qemu.returncode})")
            try:
                fields = self.cam.xml("getDevInfo", timeout=10)
                if want is None or want(fields):
                    return fields
                last = f"answered {fields}"
            except (OSError, urllib.error.URLError, CheckFailed, Pending) as err:
                last = str(err)
            time.sleep(0.5)
        raise CheckFailed(f"daemon did not answer getDevInfo within {timeout} s ({last})")

    def power_off(self):
        if self.qemu is None or self.qemu.poll() is not None:
            return
        try:
            if self.ctl is not None:
                self.ctl.send_only("poweroff")
            self.qemu.wait(timeout=30)
            print(f"lab: guest powered off (qemu rc {self.qemu.returncode})", flush=True)
        except Exception as err:  # noqa: BLE001 - whatever happened, QEMU must not survive
            print(f"lab: clean poweroff failed ({err}); killing qemu", flush=True)
            self.qemu.kill()
            self.qemu.wait(timeout=10)

    # ---- checks
    def check(self, name, fn):
        only = getattr(self.args, "only", None)
        if only and name != "boot and daemon answering" and not any(o in name for o in only):
            return False
        t = time.monotonic()
        try:
            detail = fn() or ""
            status = "PASS"
        except Pending as p:
            status, detail = "SKIPPED-PENDING", f"{p} answers -4: expected to pass once " \
                                                f"{PENDING_FEATURE.get(str(p), 'it')} lands"
        except CheckFailed as err:
            status, detail = "FAIL", str(err)
        except Exception as err:  # noqa: BLE001 - a crash in a check is a failure of it
            status, detail = "FAIL", f"{type(err).__name__}: {err}"
        seconds = time.monotonic() - t
        self.results.append((name, status, detail, seconds))
        print(f"{status:<15} {name} ({seconds:.1f} s) {detail}", flush=True)
        return status == "PASS"

    def check_boot(self):
        ready = self.wait_console("LAB: ready", 1, BOOT_TIMEOUT)
        self.figures["boot_to_init_ready_s"] = ready - self.t0
        text = self.console_text()
        bad = [l for l in text.splitlines() if l.startswith("LAB:") and "FAIL" in l
               and "selftest:" not in l]
        require(not bad, "init reported: " + "; ".join(bad))
        require("gpio-sim live" in text, "gpio-sim did not come up")
        require("data disk mounted" in text, "data disk not mounted")
        self.ctl = Ctl(os.path.join(self.run_dir, "ctl.sock"))
        out = self.ctl.out("uname -rm; ls /dev/video0 /dev/ttyS0 /dev/gpiochip*")
        fields = self.wait_daemon(DAEMON_TIMEOUT)
        self.figures["boot_to_daemon_ready_s"] = time.monotonic() - self.t0
        self.devinfo = fields
        return (f"init ready {self.figures['boot_to_init_ready_s']:.1f} s, daemon answering "
                f"{self.figures['boot_to_daemon_ready_s']:.1f} s after QEMU start; "
                + out.replace("\n", " "))

    def check_selftest(self):
        lines = [l.split("selftest: ", 1)[1] for l in self.console_text().splitlines()
                 if l.startswith("LAB: selftest: ")]
        require(lines, "ipcamd selftest printed nothing")
        devices = {}
        for l in lines:
            m = re.match(r"^(\S+)\s*:\s*(ok|FAIL|absent)\b(.*)$", l)
            if m:
                devices[m.group(1)] = (m.group(2), m.group(3).strip(" :"))
        failed = [f"{d}: {why}" for d, (s, why) in devices.items() if s == "FAIL"]
        require(not failed, "selftest FAIL: " + "; ".join(failed))
        want = ["video", "jpeg", "ir_led", "ir_cut", "alarm_in", "alarm_out", "light_sensor",
                "ptz", "storage"]
        missing = [d for d in want if devices.get(d, ("",))[0] != "ok"]
        require(not missing, f"selftest did not report ok for {missing}: {lines}")
        return ", ".join(f"{d} ok" for d in want)

    def check_dev_info(self):
        f = self.cam.xml("getDevInfo")
        require(f.get("productName") == "ipcamd LAB",
                f"productName {f.get('productName')!r}: not the lab board file")
        require(f.get("hardwareVer") == "qemu-virt-1.0", f"hardwareVer {f.get('hardwareVer')!r}")
        require(f.get("firmwareVer"), "no firmwareVer")
        return f"firmwareVer {f['firmwareVer']}, mac {f.get('mac')}"

    def snapshot(self):
        status, ctype, body = self.cam.raw("snapPicture2", timeout=90)
        pending_if_minus4(body, ctype, "snapPicture2")
        require(status == 200, f"HTTP {status}")
        require(ctype.startswith("image/jpeg"), f"Content-Type {ctype!r}")
        return body

    def check_snapshot(self):
        body = self.snapshot()
        w, h = jpeg_info(body, "snapPicture2")
        dw, dh, luma = decode_gray(body, "snapPicture2")
        require((dw, dh) == (w, h), f"SOF says {w}x{h}, decoder {dw}x{dh}")
        require(w <= 640 and h <= 480 and w >= 160, f"{w}x{h} is not within the lab sensor")
        strips = vivid_bars_signature(dw, dh, luma)
        # measured on this lab's vivid at the factory brightness: 179 160 130 111 83 64 34 16
        falling = all(a > b - 2 for a, b in zip(strips, strips[1:]))
        require(falling and strips[0] - strips[-1] > 80,
                f"not vivid's colour bars (strip luma {[round(s) for s in strips]})")
        self.last_snapshot_luma = mean(luma[::7])
        return f"{len(body)} bytes, {w}x{h}, vivid colour bars {[round(s) for s in strips]}"

    def check_mjpeg(self):
        url = self.cam.url("GetMJStream", "CGIStream.cgi")
        r = urllib.request.urlopen(url, timeout=HTTP_TIMEOUT)
        try:
            ctype = r.headers.get("Content-Type", "")
            if "multipart" not in ctype:
                pending_if_minus4(r.read(4096), ctype, "GetMJStream")
            m = re.search(r"boundary=\"?([^\";]+)", ctype)
            require("multipart/x-mixed-replace" in ctype and m, f"Content-Type {ctype!r}")
            frames, t = [], time.monotonic()
            while len(frames) < 3 and time.monotonic() - t < 90:
                headers = {}
                line = r.readline()
                while line.strip() in (b"",) or line.strip().lstrip(b"-") == m.group(1).encode():
                    line = r.readline()
                    require(line, "stream ended")
                while line.strip():
                    k, _, v = line.decode(errors="replace").partition(":")
                    headers[k.strip().lower()] = v.strip()
                    line = r.readline()
                require("content-length" in headers, f"part without Content-Length: {headers}")
                require(headers.get("content-type", "").startswith("image/jpeg"),
                        f"part Content-Type {headers.get('content-type')!r}")
                data = r.read(int(headers["content-length"]))
                jpeg_info(data, f"MJPEG frame {len(frames)}")
                frames.append(data)
            elapsed = time.monotonic() - t
        finally:
            r.close()
        require(len(frames) == 3, f"only {len(frames)} frames in 90 s")
        require(len(set(frames)) > 1, "the three frames are identical (vivid's counter moves)")
        return f"3 frames in {elapsed:.1f} s, sizes {[len(f) for f in frames]}"

    def onvif(self, operation, args="", media=False, auth=True):
        """One ONVIF SOAP call to the guest's onvifPort (888) as the factory admin
        (UsernameToken, PasswordText); answers (HTTP status, body)."""
        ns = ("http://www.onvif.org/ver10/media/wsdl" if media
              else "http://www.onvif.org/ver10/device/wsdl")
        header = ("<s:Header><wsse:Security xmlns:wsse=\"http://docs.oasis-open.org/wss/2004/01/"
                  "oasis-200401-wss-wssecurity-secext-1.0.xsd\"><wsse:UsernameToken>"
                  "<wsse:Username>admin</wsse:Username><wsse:Password Type=\"http://docs.oasis-"
                  "open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
                  "\"></wsse:Password></wsse:UsernameToken></wsse:Security></s:Header>"
                  if auth else "")
        body = (f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/'
                f'2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema">{header}'
                f'<s:Body><op:{operation} xmlns:op="{ns}">{args}</op:{operation}></s:Body>'
                "</s:Envelope>").encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.onvif_port}/onvif/"
            + ("media_service" if media else "device_service"),
            data=body, headers={"Content-Type": "application/soap+xml; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as r:
                return r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")

    def check_onvif(self):
        """The ONVIF service on the ARM build: the device's time without credentials, its
        interface as the Linux network backend sees eth0, and the RTSP URI of the main
        profile."""
        status, body = self.onvif("GetSystemDateAndTime", auth=False)
        require(status == 200 and "UTCDateTime" in body, f"GetSystemDateAndTime: {status} {body[:300]}")
        status, body = self.onvif("GetDeviceInformation", auth=False)
        require(status in (400, 401) and "NotAuthorized" in body,
                f"GetDeviceInformation without credentials answered {status}: {body[:300]}")
        status, body = self.onvif("GetNetworkInterfaces")
        require(status == 200 and "10.0.2.15" in body and "525400123456".lower()
                in body.replace(":", "").replace("-", "").lower(),
                f"GetNetworkInterfaces: {status} {body[:500]}")
        status, body = self.onvif(
            "GetStreamUri",
            "<op:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP"
            "</tt:Protocol></tt:Transport></op:StreamSetup><op:ProfileToken>main</op:ProfileToken>",
            media=True)
        uri = re.search(r"<tt:Uri>([^<]*)</tt:Uri>", body)
        require(status == 200 and uri and uri.group(1).startswith("rtsp://")
                and uri.group(1).endswith("/videoMain"), f"GetStreamUri: {status} {body[:500]}")
        return f"time without credentials, eth0 10.0.2.15 and its MAC, main profile {uri.group(1)}"

    def check_m2m(self):
        """The daemon's V4L2 M2M encoder code (hal/examples/m2m_roundtrip.rs, the same
        modules the daemon uses) round-trips frames through vicodec's stateful encoder: the
        H.264 encoder's stream and the JPEG encoder's one-picture session."""
        rc, out = self.ctl.run("labctl m2m", timeout=180)
        require(rc == 0 and "m2m OK" in out, f"m2m round trip (rc {rc}): {out[-600:]}")
        lines = out.splitlines()
        stream = next((l for l in lines if l.startswith("m2m ") and "frames" in l), out)
        still = next((l for l in lines if l.startswith("m2m still:")), None)
        require(still is not None, f"no still-picture round trip: {out[-600:]}")
        return f"{stream}; {still[len('m2m '):]}"

    def check_rtsp(self):
        """/videoSub from vivid through the software H.264 encoder, decoded on the host by
        ffprobe over RTSP (TCP-interleaved through hostfwd: the media port is the web port)."""
        self.cam.xml("setSubStreamFormat", format=0)
        self.cam.xml("setSubVideoStreamParam", streamType=0, resolution=4, frameRate=5, GOP=5)
        host = self.cam.base[len("http://"):]
        url = f"rtsp://admin:@{host}/videoSub"
        try:
            r = subprocess.run(
                ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-timeout", "30000000",
                 "-select_streams", "v:0", "-show_entries", "frame=width,height,key_frame",
                 "-read_intervals", "%+#15", "-of", "compact=p=0", url],
                capture_output=True, text=True, timeout=240)
        finally:
            self.cam.xml("setSubStreamFormat", format=1)
        frames = [l for l in r.stdout.splitlines() if "width=" in l]
        require(r.returncode == 0 and len(frames) >= 10,
                f"ffprobe decoded {len(frames)} frames (rc {r.returncode}): {r.stderr[-400:]}")
        require(all("width=320" in l and "height=180" in l for l in frames),
                f"not 320x180: {frames[:3]}")
        require("key_frame=1" in frames[0], "the first frame is not a key frame")
        return f"{len(frames)} H.264 frames 320x180 decoded over RTSP/TCP"

    def record_schedule(self, enable):
        days = {f"schedule{d}": WHOLE_DAY for d in range(7)}
        self.cam.xml("setScheduleRecordConfig", isEnable=enable, recordLevel=0,
                     spaceFullMode=0, isEnableAudio=0, **days)

    def wait_state(self, field, value, timeout, why):
        deadline = time.monotonic() + timeout
        while True:
            state = self.cam.xml("getDevState")
            if state.get(field) == value:
                return
            require(time.monotonic() < deadline,
                    f"{why}: getDevState {field}={state.get(field)!r} after {timeout} s")
            time.sleep(1)

    def check_recording(self):
        """Schedule recording on the lab's SD card (a mount at /data/sd): vivid through the
        software H.264 encoder into MP4 segments; the card pulled (lazy unmount) mid-recording
        ends the segment and stops recording, the card put back resumes it; every segment is
        listed by getRecordList, downloaded over HTTP and decoded by ffprobe on the host."""
        self.cam.xml("setVideoStreamParam", streamType=0, resolution=3, frameRate=5, GOP=5)
        self.cam.xml("setMainVideoStreamType", streamType=0)
        before = int(self.cam.xml("getRecordList", recordType=0, startNo=0)["totalCnt"])
        self.record_schedule(1)
        try:
            self.wait_state("record", "1", 90, "recording did not start")
            time.sleep(10)
            self.ctl.out("umount -l /data/sd")
            self.wait_state("sdState", "0", 30, "the pulled card still shows")
            self.wait_state("record", "0", 30, "recording went on without a card")
            self.ctl.out("mount --bind /data/sd /data/sd")
            self.wait_state("sdState", "1", 30, "the card put back does not show")
            self.wait_state("record", "1", 60, "recording did not resume on the card")
            time.sleep(10)
        finally:
            self.record_schedule(0)
        self.wait_state("record", "0", 30, "recording did not stop with the schedule")
        page = self.cam.xml("getRecordList", recordType=0, startNo=0)
        total = int(page["totalCnt"])
        records = [page[f"record{i}"] for i in range(int(page["curCnt"]))]
        require(total >= before + 2, f"{total - before} new segments, want 2 (before and "
                                     f"after the card was pulled): {records}")
        new = sorted(records)[-2:]
        decoded = []
        for record in new:
            url = f"{self.cam.base}{record}?usr=admin&pwd="
            with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as r:
                require(r.headers.get("Content-Type") == "video/mp4",
                        f"{record}: {r.headers.get('Content-Type')}")
                body = r.read()
            path = os.path.join(self.run_dir, record.rsplit("/", 1)[-1])
            with open(path, "wb") as out:
                out.write(body)
            p = subprocess.run(
                ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                 "-show_entries", "stream=codec_name,width,height,nb_read_frames",
                 "-of", "default=noprint_wrappers=1", path],
                capture_output=True, text=True, timeout=120)
            fields = dict(l.split("=", 1) for l in p.stdout.splitlines() if "=" in l)
            require(p.returncode == 0 and not p.stderr.strip(),
                    f"ffprobe {record} (rc {p.returncode}): {p.stderr[-300:]}")
            require(fields.get("codec_name") == "h264"
                    and (fields.get("width"), fields.get("height")) == ("320", "240"),
                    f"{record}: {fields}")
            frames = int(fields.get("nb_read_frames", "0"))
            require(frames >= 10, f"{record}: {frames} frames")
            decoded.append(f"{record.rsplit('/', 1)[-1]} {len(body)} B {frames} frames")
        return "card pulled and put back mid-recording; " + "; ".join(decoded)

    def ip_info(self):
        f = self.cam.xml("getIPInfo")
        return (f.get("isDHCP"), f.get("ip"), f.get("gate"), f.get("mask"))

    def wait_ip_info(self, want, timeout, why):
        deadline = time.monotonic() + timeout
        while True:
            try:
                got = self.ip_info()
            except (OSError, http.client.HTTPException):
                got = None  # the address is moving: ask again
            if got == want:
                return
            require(time.monotonic() < deadline, f"{why}: getIPInfo {got}, want {want}")
            time.sleep(1)

    def check_network(self):
        """The Linux network backend (rtnetlink, the board's DHCP client): getIPInfo reports
        the guest's live address; a static address is applied and the camera stays reachable
        through QEMU's forwarding; DHCP (busybox udhcpc) is restored."""
        lease = ("1", "10.0.2.15", "10.0.2.2", "255.255.255.0")
        self.wait_ip_info(lease, 60, "the DHCP lease at boot")
        fixed = ("0", "10.0.2.15", "10.0.2.2", "255.255.255.0")
        self.cam.xml("setIpInfo", isDHCP=0, ip=fixed[1], gate=fixed[2], mask=fixed[3],
                     dns1="10.0.2.3", dns2="0.0.0.0")
        self.wait_ip_info(fixed, 60, "the static address")
        # udhcpc runs as a busybox applet: its process name is busybox, so look at the args.
        rc, _ = self.ctl.run("ps | grep -q '[u]dhcpc'")
        require(rc != 0, "the DHCP client still runs under a static address")
        addr = self.ctl.out("ip -4 addr show dev eth0; ip route")
        require("10.0.2.15/24" in addr and "default via 10.0.2.2" in addr,
                f"the guest's interface: {addr}")
        self.cam.xml("setIpInfo", isDHCP=1)
        self.wait_ip_info(lease, 60, "DHCP restored")
        rc, _ = self.ctl.run("ps | grep -q '[u]dhcpc'")
        require(rc == 0, "no DHCP client after setIpInfo isDHCP=1")
        return "getIPInfo live (DHCP lease 10.0.2.15/24 via 10.0.2.2); static applied and " \
               "reachable, udhcpc stopped; DHCP restored, udhcpc running"

    def check_brightness(self):
        values = {}
        for level in (0, 100, 50):
            self.cam.xml("setBrightness", brightness=level)
            values[level] = int(self.ctl.out("labctl ctrl brightness"))
        # vivid's brightness is 0..255: the daemon scales the guide's 0..100 onto it
        require(values[0] < values[50] < values[100],
                f"vivid brightness after setBrightness 0/50/100: {values}")
        require(values[0] == 0 and values[100] == 255,
                f"not scaled onto vivid's 0..255 range: {values}")
        detail = f"vivid brightness control {values[0]}/{values[50]}/{values[100]}"
        # and the picture follows, when snapshots exist
        try:
            self.cam.xml("setBrightness", brightness=0)
            time.sleep(1)
            dark = mean(decode_gray(self.snapshot(), "dark")[2][::7])
            self.cam.xml("setBrightness", brightness=100)
            time.sleep(1)
            bright = mean(decode_gray(self.snapshot(), "bright")[2][::7])
            self.cam.xml("setBrightness", brightness=50)
            require(bright > dark + 10, f"mean luma {dark:.0f} -> {bright:.0f}")
            detail += f"; picture mean luma {dark:.0f} -> {bright:.0f}"
        except Pending:
            detail += "; picture luma not checked (snapPicture2 pending)"
        return detail

    def check_infra_led(self):
        self.cam.xml("setInfraLedConfig", mode=1)
        levels = []
        for cmd, want in (("openInfraLed", "1"), ("closeInfraLed", "0"), ("openInfraLed", "1"),
                          ("closeInfraLed", "0")):
            f = self.cam.xml(cmd)
            require(f.get("ctrlResult") == "0", f"{cmd} ctrlResult {f.get('ctrlResult')}")
            led = self.ctl.out("labctl gpio-get ir-led")
            cut = self.ctl.out("labctl gpio-get ir-cut")
            levels.append(f"{cmd}: ir-led={led} ir-cut={cut}")
            require(led == want, f"after {cmd} the gpio-sim ir-led line is {led}")
            state = self.cam.xml("getDevState").get("infraLedState")
            require(state in (None, want), f"getDevState infraLedState {state} after {cmd}")
        return "; ".join(levels[:2])

    def check_io_alarm(self):
        self.cam.xml("setIOAlarmConfig", isEnable=1, linkage=0, alarmLevel=1, snapInterval=1,
                     triggerInterval=0, **{f"schedule{d}": 281474976710655 for d in range(7)})
        before = self.log_entries()
        require(self.cam.xml("getDevState").get("IOAlarm") == "1", "IOAlarm not idle (1) "
                "while the line is low")
        self.ctl.out("labctl gpio-set alarm-in 1")
        try:
            end = time.monotonic() + 20
            state = None
            while time.monotonic() < end:
                state = self.cam.xml("getDevState").get("IOAlarm")
                if state == "2":
                    break
                time.sleep(0.5)
            require(state == "2", f"getDevState IOAlarm stayed {state} with alarm-in raised "
                    "(getDevState answers, so this is a failure, not pending: the IO alarm "
                    "wiring of issue 7 must set it)")
            after = self.log_entries()
            new = [e for e in after if e not in before]
            require(new, "no new log entry for the IO alarm")
        finally:
            self.ctl.out("labctl gpio-set alarm-in 0")
        return f"IOAlarm 2 after raising alarm-in; new log entries {new[:2]}"

    def log_entries(self):
        f = self.cam.xml("getLog", offset=0, count=10)
        return [v for k, v in sorted(f.items()) if re.fullmatch(r"log\d+", k) and v]

    def check_ptz(self):
        require(self.motor.connected.is_set(), "the motor simulator is not on the UART socket")
        self.cam.xml("setPTZSpeed", speed=4)
        t = time.monotonic()
        pan0 = self.motor.position()[0]
        self.cam.xml("ptzMoveLeft")
        time.sleep(1.0)
        self.cam.xml("ptzStopRun")
        time.sleep(0.5)
        frames = self.motor.frames_since(t)
        want_move = pelco_d(1, 0x00, PAN_LEFT, MAX_SPEED, 0x00)
        want_stop = pelco_d(1, 0x00, 0x00, 0x00, 0x00)
        seen = " ".join(f.hex(" ") for f in frames)
        require(want_move in frames, f"no {want_move.hex(' ')} (move left, very fast) on the "
                                     f"UART; the host saw: {seen or 'nothing'}")
        require(want_stop in frames[frames.index(want_move):],
                f"no stop frame {want_stop.hex(' ')} after it; saw {seen}")
        pan1 = self.motor.position()[0]
        require(pan1 < pan0, f"motor pan {pan0:.1f} -> {pan1:.1f}: did not move left")
        # the default speed too: a slower, non-zero speed byte
        self.cam.xml("setPTZSpeed", speed=0)
        t = time.monotonic()
        self.cam.xml("ptzMoveLeft")
        self.cam.xml("ptzStopRun")
        time.sleep(0.5)
        slow = [f for f in self.motor.frames_since(t) if f[2:4] == b"\x00\x04"]
        require(slow and 0 < slow[0][4] < MAX_SPEED, f"speed 0 frame {slow}")
        return (f"{want_move.hex(' ')} then {want_stop.hex(' ')}; pan {pan0:.1f} -> "
                f"{pan1:.1f}; speed 0 sends {slow[0].hex(' ')}; rejected bytes "
                f"{self.motor.rejected}")

    def post_firmware(self, filename, payload):
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"fw_file\"; "
                f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                ).encode() + payload + f"\r\n--{boundary}--\r\n".encode()
        req = urllib.request.Request(self.cam.url("fwUpgrade"), data=body, method="POST",
                                     headers={"Content-Type":
                                              f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(req, timeout=300) as r:
            fields = parse_result(r.read(), "fwUpgrade")
        if fields.get("result") == "-4":
            raise Pending("fwUpgrade")
        return fields

    def check_fw_upgrade(self):
        image, version = self.args.fw_image, self.args.fw_version
        if not image:
            # No image was built (run.sh builds one once the endpoint exists): the upload of
            # a non-image still says whether the command is implemented.
            fields = self.post_firmware("not-an-image.img", b"not a firmware image")
            require(fields.get("result") != "0", f"a non-image upload was accepted: {fields}")
            raise CheckFailed(f"fwUpgrade is implemented (answers {fields} to a non-image) "
                              "but run.sh built no upgrade image")
        with open(image, "rb") as f:
            payload = f.read()
        starts = self.console_text().count(" listening on http://")
        fields = self.post_firmware(os.path.basename(image), payload)
        require(fields.get("result") == "0", f"fwUpgrade answered {fields}")
        require(fields.get("upgradeResult") == "0", f"fwUpgrade answered {fields}")
        # The daemon starts again in the new version: it re-executes itself through the
        # installed release, or exits and is started again, or the guest reboots; each way a
        # new daemon logs its first line ("... listening on http://...") on the console.
        self.wait_console(" listening on http://", starts + 1, BOOT_TIMEOUT)
        f = self.wait_daemon(DAEMON_TIMEOUT, lambda f: f.get("firmwareVer") == version)
        return f"{len(payload)} byte image; daemon restarted at firmwareVer {f['firmwareVer']}"

    def check_reboot(self, how):
        """Reboots the guest (rebootSystem, or `reboot` through the control channel when
        `how` is "ctl"), and checks the daemon comes back with a setting made before."""
        name = f"lab-{uuid.uuid4().hex[:6]}"
        self.cam.xml("setDevName", devName=name)
        boots = self.console_text().count("LAB: ready")
        t = time.monotonic()
        if how == "cgi":
            try:
                self.cam.xml("rebootSystem")
            except (ConnectionError, http.client.HTTPException, urllib.error.URLError) as err:
                # a camera may go down before its reply is out; the reboot is judged below
                print(f"lab: rebootSystem reply lost ({err}); waiting for the reboot")
        else:
            self.ctl.send_only("reboot")
        self.wait_console("LAB: ready", boots + 1, BOOT_TIMEOUT)
        self.wait_daemon(DAEMON_TIMEOUT)
        back = time.monotonic() - t
        self.figures[f"reboot_{how}_s"] = back
        got = self.cam.xml("getDevName").get("devName")
        require(got == name, f"devName after reboot {got!r}, set {name!r} before")
        return f"back in {back:.1f} s with devName {name}"

    # ---- whole run
    def run(self):
        t_all = time.monotonic()
        try:
            self.boot()
            if not self.check("boot and daemon answering", self.check_boot):
                return
            self.check("ipcamd selftest in the guest", self.check_selftest)
            self.check("getDevInfo", self.check_dev_info)
            self.check("snapPicture2 JPEG from vivid", self.check_snapshot)
            self.check("GetMJStream frames", self.check_mjpeg)
            self.check("RTSP /videoSub H.264 from vivid decodes on the host", self.check_rtsp)
            self.check("V4L2 M2M encoder round-trips frames through vicodec", self.check_m2m)
            self.check("ONVIF on onvifPort: time, eth0, stream URI", self.check_onvif)
            self.check("recording to the SD card survives pulling the card", self.check_recording)
            self.check("getIPInfo/setIpInfo drive the guest's interface", self.check_network)
            self.check("setBrightness drives vivid", self.check_brightness)
            self.check("openInfraLed/closeInfraLed drive gpio-sim", self.check_infra_led)
            self.check("alarm-in raises IOAlarm and logs", self.check_io_alarm)
            self.check("ptzMoveLeft Pelco-D bytes on the UART", self.check_ptz)
            self.check("guest reboot keeps settings (data disk)",
                       lambda: self.check_reboot("ctl"))
            self.check("fwUpgrade restarts at the new version", self.check_fw_upgrade)
            self.check("rebootSystem and settings survive", lambda: self.check_reboot("cgi"))
        finally:
            self.power_off()
            self.figures["total_lab_s"] = time.monotonic() - t_all
            self.report()

    def report(self):
        guest_log = os.path.join(self.run_dir, "guest.log")
        if os.path.exists(self.console):
            shutil.copyfile(self.console, guest_log)
        failed = [r for r in self.results if r[1] == "FAIL"]
        if failed and os.path.exists(self.console):
            print("---- guest log (last 60 lines) ----")
            print("\n".join(self.console_text().splitlines()[-60:]))
            print("----")
        print(f"lab: guest log {guest_log}")
        print("lab: figures " + ", ".join(f"{k}={v:.1f}" for k, v in self.figures.items()))
        counts = {s: sum(1 for r in self.results if r[1] == s)
                  for s in ("PASS", "FAIL", "SKIPPED-PENDING")}
        print(f"lab: {counts['PASS']} passed, {counts['FAIL']} failed, "
              f"{counts['SKIPPED-PENDING']} skipped-pending")


PENDING_FEATURE = {
    "snapPicture2": "live video (issue 6)",
    "GetMJStream": "live video (issue 6)",
    "fwUpgrade": "the fwUpgrade endpoint (issue 4)",
    "rebootSystem": "the rebootSystem endpoint (issue 4)",
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="run directory (sockets, disk, logs)")
    p.add_argument("--initrd", required=True)
    p.add_argument("--port", type=int, default=int(os.environ.get("IPCAMD_LAB_HTTP_PORT", 0)))
    p.add_argument("--fw-image", help="signed upgrade image for the fwUpgrade check")
    p.add_argument("--fw-version", help="version the upgrade image's daemon reports")
    p.add_argument("--only", action="append",
                   help="run only the checks whose name contains this (repeatable; boot always)")
    lab = Lab(p.parse_args())
    # A stopped run (CI timeout, Ctrl-C) still powers the guest off: SIGTERM unwinds like
    # SIGINT through Lab.run's finally.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    lab.run()
    sys.exit(1 if any(r[1] == "FAIL" for r in lab.results) or not lab.results else 0)


if __name__ == "__main__":
    main()
