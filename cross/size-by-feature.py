#!/usr/bin/env python3
"""Splits the ARMv7 binary's named code and data by feature, for cross/README.md.

Issue 16 asks for the binary size of the features that landed before it, with the features
added later (H.264 and RTSP, recording, applied network settings, ONVIF, the web page)
reported separately. Those features have no cargo feature each, so this attributes the
unstripped binary's symbols instead: a symbol belongs to a later feature when its demangled
name mentions that feature's module or one of the crates only that feature uses, generic
instances included (`drop_in_place<ipcamd::rtsp::...>` is RTSP's). Everything else, and every
byte without a symbol (relocations, anonymous constants such as the web assets, section
padding), counts as the earlier features, so their figure is an upper bound.

Usage: cross/size-by-feature.py UNSTRIPPED_BINARY STRIPPED_BYTES
(cross/size-report.sh runs it after cargo-bloat.)
"""

import re
import subprocess
import sys

# (feature, pattern): the first pattern that matches a symbol's demangled name wins, so the
# most specific features come first. The modules are the daemon's and the HAL's own.
FEATURES = [
    ("software H.264 (OpenH264, optional: software-h264)",
     r"Wels|openh264|WELS_|ipcamd_hal::video::openh264::"),
    ("H.264 over RTSP (hardware encoder, RTSP server)",
     r"ipcamd::rtsp::|rtsp_types::|ipcamd_hal::video::(h264|encoded)::"),
    ("recording to the SD card", r"ipcamd::recorder::|ipcamd::http::playback::|http_range_header::"),
    ("ONVIF", r"ipcamd::onvif::"),
    ("network settings applied (HTTPS, rtnetlink, Wi-Fi, PPPoE, DDNS, UPnP, SNTP)",
     r"ipcamd::net::|ipcamd_hal::linux::(net|wpa|pppd|pppoe_unit)::|ipcamd_hal::net::"
     r"|netlink_packet_|netlink_sys::|resolv_conf::|rcgen::|tokio_rustls::|sntpc::"
     r"|rustls::server::|ipcamd::listener::"),
    ("web page", r"ipcamd::web::"),
]
EARLIER = "features landed before issue 16 (upper bound)"


def symbols(binary):
    out = subprocess.run(
        ["arm-linux-gnueabihf-nm", "--print-size", "--demangle", binary],
        check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[2] in "tTrRdDbB" and parts[2] not in "bB":
            yield int(parts[1], 16), parts[3]


def main():
    binary, stripped = sys.argv[1], int(sys.argv[2])
    compiled = [(name, re.compile(pattern)) for name, pattern in FEATURES]
    later = {name: 0 for name, _ in FEATURES}
    for size, name in symbols(binary):
        for feature, pattern in compiled:
            if pattern.search(name):
                later[feature] += size
                break
    print(f"{'bytes':>10}  share  feature")
    for feature, size in later.items():
        print(f"{size:>10}  {100 * size / stripped:4.1f} %  {feature}")
    earlier = stripped - sum(later.values())
    print(f"{earlier:>10}  {100 * earlier / stripped:4.1f} %  {EARLIER}")
    print(f"{stripped:>10}  100 %  stripped binary")


if __name__ == "__main__":
    main()
