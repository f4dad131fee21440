"""Cartoon: flat colours (a bilateral filter on a quarter-size copy) with dark outlines."""

import cv2
import numpy as np


def process(frame, ctx):
    height, width = frame.shape[:2]
    small = cv2.resize(frame, (width // 4, height // 4), interpolation=cv2.INTER_AREA)
    for _ in range(2):
        small = cv2.bilateralFilter(small, 9, 40, 7)
    flat = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    grey = cv2.medianBlur(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), 5)
    edges = cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 5)
    # In place: the frame is the video's own memory.
    np.copyto(frame, cv2.bitwise_and(flat, flat, mask=edges))
