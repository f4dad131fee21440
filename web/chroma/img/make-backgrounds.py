#!/usr/bin/env python3
"""Draw the chroma demo's two backgrounds (standard library only, 8-bit RGB PNGs):
a sunset gradient with a sun, and a checkerboard "studio". Loud, easy to tell apart.

    python3 make-backgrounds.py        # writes sunset.png and studio.png next to this script
"""
import os
import struct
import zlib

W, H = 640, 480


def png(path, pixel):
    rows = []
    for y in range(H):
        row = bytearray(b"\x00")
        for x in range(W):
            row.extend(pixel(x, y))
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def sunset(x, y):
    t = y / (H - 1)
    r, g, b = int(40 + 215 * t), int(20 + 110 * t), int(90 - 60 * t)
    if (x - 320) ** 2 + (y - 300) ** 2 < 70 ** 2:
        r, g, b = 255, 210, 60
    return (r, g, b)


def studio(x, y):
    return (230, 230, 235) if ((x // 40) + (y // 40)) % 2 else (60, 70, 160)


here = os.path.dirname(os.path.abspath(__file__))
png(os.path.join(here, "sunset.png"), sunset)
png(os.path.join(here, "studio.png"), studio)
