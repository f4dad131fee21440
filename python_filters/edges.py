"""Edges: the outlines OpenCV's Canny detector finds, drawn in green over the picture."""

import cv2


def process(frame, ctx):
    low = ctx.params.get("low", 80)
    high = ctx.params.get("high", 160)
    edges = cv2.Canny(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), low, high)
    frame[edges > 0] = (0, 255, 0)
