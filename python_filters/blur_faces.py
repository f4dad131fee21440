"""Blur faces: every face Rheo's detector finds is blurred (params: "strength", odd, default 51)."""

import cv2


def process(frame, ctx):
    strength = int(ctx.params.get("strength", 51)) | 1
    height, width = frame.shape[:2]
    # Ask before drawing: the detector looks at the frame as it is now.
    for face in ctx.faces():
        x0, y0 = max(face["x"], 0), max(face["y"], 0)
        x1, y1 = min(face["x"] + face["width"], width), min(face["y"] + face["height"], height)
        if x1 > x0 and y1 > y0:
            region = frame[y0:y1, x0:x1]
            region[:] = cv2.GaussianBlur(region, (strength, strength), 0)
