"""Blur faces: every face Rheo's detector finds is blurred (params: "strength", odd, default 51);
raises FacesBlurred with the number of faces whenever it changes."""

import cv2


class Filter:
    def __init__(self, params):
        self.strength = int(params.get("strength", 51)) | 1
        self.count = None

    def process(self, frame, ctx):
        height, width = frame.shape[:2]
        # Ask before drawing: the detector looks at the frame as it is now.
        faces = ctx.faces()
        for face in faces:
            x0, y0 = max(face["x"], 0), max(face["y"], 0)
            x1 = min(face["x"] + face["width"], width)
            y1 = min(face["y"] + face["height"], height)
            if x1 > x0 and y1 > y0:
                region = frame[y0:y1, x0:x1]
                region[:] = cv2.GaussianBlur(region, (self.strength, self.strength), 0)
        if len(faces) != self.count:
            self.count = len(faces)
            ctx.emit("FacesBlurred", {"count": self.count})
