#!/usr/bin/env python3
"""Draw the magic-mirror overlay: a bright magenta top hat on a transparent background.

Standard library only (zlib + struct); writes an 8-bit RGBA PNG. The colour is deliberately
loud (pure magenta, fully opaque) so the end-to-end tests can find the hat in the remote video.

    python3 make-hat.py [out.png]      # default: hat.png next to this script
"""
import os
import struct
import sys
import zlib

W, H = 256, 256
SS = 4  # supersampling per axis for smooth edges
MAGENTA = (255, 0, 255)
BAND = (255, 230, 0)  # thin yellow ribbon around the crown


def inside_ellipse(x, y, cx, cy, rx, ry):
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0


def shade(x, y):
    """Colour at a point in unit coordinates (0..1), or None where transparent.

    The image is stretched over 1.6 face widths x 1.6 face heights, starting 1.2 face heights
    above the face, so the brim (at ~75% of the height) sits on the forehead."""
    # brim: a flat wide ellipse
    if inside_ellipse(x, y, 0.5, 0.76, 0.46, 0.075):
        return MAGENTA
    # crown: slightly tapered, rounded top
    if 0.10 <= y <= 0.76:
        t = (y - 0.10) / 0.66
        half = 0.25 + 0.03 * t
        if abs(x - 0.5) <= half:
            if 0.58 <= y <= 0.66:
                return BAND
            return MAGENTA
    if inside_ellipse(x, y, 0.5, 0.10, 0.25, 0.035):
        return MAGENTA
    return None


def render():
    rows = []
    for py in range(H):
        row = bytearray([0])  # PNG filter type 0 (None)
        for px in range(W):
            acc = [0, 0, 0]
            hits = 0
            for sy in range(SS):
                for sx in range(SS):
                    c = shade((px + (sx + 0.5) / SS) / W, (py + (sy + 0.5) / SS) / H)
                    if c is not None:
                        hits += 1
                        for i in range(3):
                            acc[i] += c[i]
            if hits:
                row += bytes([acc[0] // hits, acc[1] // hits, acc[2] // hits,
                              round(255 * hits / (SS * SS))])
            else:
                row += bytes([0, 0, 0, 0])
        rows.append(bytes(row))
    return b"".join(rows)


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def write_png(path, raw):
    ihdr = struct.pack(">IIBBBBB", W, H, 8, 6, 0, 0, 0)  # 8-bit RGBA, no interlace
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", ihdr))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "hat.png")
    write_png(out, render())
    print(out)
