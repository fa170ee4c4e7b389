#!/usr/bin/env python3
"""Unit tests of the lab runner's own judges (run by run.sh before it boots anything): the
Pelco-D motor simulator's framing, the JPEG structure check and the vivid colour-bar
signature must each reject what is wrong, or a lab check could pass on garbage."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab as L  # noqa: E402


def gray_jpeg(width, height, pixel):
    pgm = f"P5 {width} {height} 255\n".encode() + bytes(pixel(x, y) for y in range(height)
                                                         for x in range(width))
    return subprocess.run(["cjpeg", "-quality", "90"], input=pgm, capture_output=True,
                          check=True).stdout


class MotorTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "ptz.sock")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(1)
        self.motor = L.PelcoMotor(self.path)
        self.conn, _ = self.server.accept()

    def tearDown(self):
        self.conn.close()
        self.server.close()
        shutil.rmtree(self.dir)

    def wait_frames(self, n):
        end = time.monotonic() + 5
        while len(self.motor.frames_since(0)) < n and time.monotonic() < end:
            time.sleep(0.01)
        return self.motor.frames_since(0)

    def test_motor_move_left_then_stop_pans_left(self):
        move = L.pelco_d(1, 0, L.PAN_LEFT, 0x3F, 0)
        self.assertEqual(move.hex(" "), "ff 01 00 04 3f 00 44")
        self.conn.sendall(move)
        time.sleep(0.3)
        self.conn.sendall(L.pelco_d(1, 0, 0, 0, 0))
        frames = self.wait_frames(2)
        self.assertEqual(frames, [move, bytes.fromhex("ff 01 00 00 00 00 01")])
        pan, tilt = self.motor.position()
        self.assertLess(pan, 175.0 - 5)
        self.assertEqual(tilt, 45.0)

    def test_motor_bad_checksum_and_noise_rejected(self):
        bad = bytearray(L.pelco_d(1, 0, L.PAN_LEFT, 0x3F, 0))
        bad[6] ^= 1
        good = L.pelco_d(1, 0, L.TILT_UP, 0, 0x20)
        self.conn.sendall(b"\x00\x12" + bytes(bad) + good)
        self.assertEqual(self.wait_frames(1), [good])
        self.assertGreater(self.motor.rejected, 0)


@unittest.skipUnless(shutil.which("cjpeg") and shutil.which("djpeg"), "libjpeg-turbo-progs")
class JpegTest(unittest.TestCase):
    def test_jpeg_info_reads_size_and_rejects_truncation(self):
        data = gray_jpeg(64, 48, lambda x, y: x * 4)
        self.assertEqual(L.jpeg_info(data, "t"), (64, 48))
        with self.assertRaises(L.CheckFailed):
            L.jpeg_info(data[:-10], "t")
        with self.assertRaises(L.CheckFailed):
            L.jpeg_info(b"GIF89a" + data, "t")

    def test_vivid_bars_signature_tells_bars_from_other_pictures(self):
        levels = [180, 160, 130, 111, 83, 64, 34, 16]
        bars = gray_jpeg(320, 240, lambda x, y: levels[x * 8 // 320])
        w, h, luma = L.decode_gray(bars, "bars")
        strips = L.vivid_bars_signature(w, h, luma)
        for got, want in zip(strips, levels):
            self.assertAlmostEqual(got, want, delta=3)
        flat = gray_jpeg(320, 240, lambda x, y: 128)
        w, h, luma = L.decode_gray(flat, "flat")
        strips = L.vivid_bars_signature(w, h, luma)
        self.assertLess(strips[0] - strips[-1], 80)


if __name__ == "__main__":
    unittest.main()
