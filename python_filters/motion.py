"""Motion: compares each frame with the one before, outlines what moved in red and raises a
MotionDetected event (with the share of the picture that moved) when it starts."""

import cv2


class Filter:
    def __init__(self, params):
        # Share of the picture (0..1) that must change to count as motion.
        self.threshold = float(params.get("threshold", 0.01))
        self.previous = None
        self.moving = False

    def process(self, frame, ctx):
        grey = cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (21, 21), 0)
        if self.previous is None or self.previous.shape != grey.shape:
            self.previous = grey
            return
        changed = cv2.threshold(cv2.absdiff(self.previous, grey), 25, 255, cv2.THRESH_BINARY)[1]
        self.previous = grey
        share = cv2.countNonZero(changed) / changed.size
        moving = share >= self.threshold
        if moving and not self.moving:
            ctx.emit("MotionDetected", {"area": round(share, 4)})
        self.moving = moving
        if moving:
            contours, _ = cv2.findContours(changed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(frame, contours, -1, (0, 0, 255), 2)
