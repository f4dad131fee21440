# Rheo's Python filter host: one process per filter instance, started by the rheopythonfilter
# element with a SOCK_SEQPACKET socket on fd 3. Messages are JSON; a frame's memory (a memfd)
# comes once as a file descriptor and is mapped, so the filter works on the frame's own pixels.
#
# Rheo -> host: {"op": "load", "module", "path", "params"}
#               {"op": "frame", "key", "size", "offset", "width", "height", "stride", "pts"}
#               (+ the memory's fd the first time a key is sent)
# host -> Rheo: {"ok": true} | {"error": "file:line: Type: message"}   (to load)
#               {"ok": true, "events": [...], "errors": [...], "reloaded": bool}   (to frame)

import importlib.util
import json
import mmap
import os
import re
import socket
import sys
import threading
import time
import traceback

# One core per filter, as Rheo's own filters: a busy server runs many side by side, and pools
# of threads in every process would only fight over the cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

try:
    import cv2

    cv2.setNumThreads(1)
except ImportError:
    pass

# A filter's print() goes to Rheo's log (stderr), never into the protocol.
sys.stdout = sys.stderr

SOCK = socket.socket(fileno=3)
# What Rheo sends is small (a frame's description and its regions).
MAX_MESSAGE = 1 << 16
RELOAD_CHECK_SECONDS = 0.5
MAPPINGS_KEPT = 16


def send(message):
    SOCK.send(json.dumps(message).encode())


def receive():
    data, fds, _flags, _addr = socket.recv_fds(SOCK, MAX_MESSAGE, 4)
    if not data:
        sys.exit(0)
    return json.loads(data), fds


def where(error, path):
    """'file:line: Type: message' for an error raised by the filter's file."""
    if isinstance(error, SyntaxError):
        return f"{error.filename}:{error.lineno}: SyntaxError: {error.msg}"
    frames = traceback.extract_tb(error.__traceback__)
    mine = [f for f in frames if f.filename == path] or frames
    place = f"{mine[-1].filename}:{mine[-1].lineno}: " if mine else ""
    return f"{place}{type(error).__name__}: {error}"


EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


class Context:
    """What a filter gets besides the frame: its params, the frame's time and metadata, emit(),
    add_region() and faces()."""

    def __init__(self, params):
        self.params = params
        self.pts = None
        self.frame_number = 0
        self.events = []
        self.regions = []
        self.new_regions = []

    def emit(self, name, data=None):
        """Raises the event `name` on the element, with `data` (a JSON-able dict) as its fields."""
        if not isinstance(name, str) or not EVENT_NAME.fullmatch(name):
            raise ValueError(f"event names are a letter, then letters, digits or _: {name!r}")
        json.dumps(data)  # refused here, in the filter's line, if it is not JSON
        self.events.append({"name": name, "data": data if data is not None else {}})

    def add_region(self, kind, x, y, width, height):
        """Attaches a region of interest (e.g. kind "face") to the frame, for later filters."""
        values = [int(v) for v in (x, y, width, height)]
        if not isinstance(kind, str) or min(values) < 0:
            raise ValueError("a region is a kind (str) and x, y, width, height >= 0")
        self.new_regions.append(dict(zip(("kind", "x", "y", "width", "height"), [kind] + values)))

    def faces(self):
        """The faces Rheo's detector (BlazeFace, or Haar) finds in this frame, as dicts with x, y,
        width, height (pixels) and roll (degrees, clockwise). Call it before drawing, from
        process() or draw()."""
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("ctx.faces() works in process() and draw(), not in analyze()")
        send({"op": "faces"})
        answer, _ = receive()
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["faces"]


class Loaded:
    """A filter file, loaded: its process(), or analyze() and draw()."""

    def __init__(self, name, path, ctx):
        spec = importlib.util.spec_from_file_location(f"rheo_filter_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        target = module
        if hasattr(module, "Filter"):
            target = module.Filter(ctx.params)
        self.process = getattr(target, "process", None)
        self.analyze = getattr(target, "analyze", None)
        self.draw = getattr(target, "draw", None)
        if self.process is None and not (self.analyze and self.draw):
            raise AttributeError(
                f"{path} defines neither process(frame, ctx) nor analyze(frame, ctx) and "
                "draw(frame, result, ctx)"
            )
        self.mtime = os.stat(path).st_mtime_ns


class Analyzer:
    """Runs analyze() on the latest frame off the video path; draw() gets the last result."""

    def __init__(self, loaded, ctx):
        self.loaded = loaded
        self.ctx = ctx
        self.lock = threading.Condition()
        self.pending = None
        self.result = None
        self.errors = []
        self.stopped = False
        self.thread = threading.Thread(target=self.run, name="analyze", daemon=True)
        self.thread.start()

    def offer(self, frame):
        with self.lock:
            if self.pending is None:
                self.pending = frame.copy()
                self.lock.notify()

    def run(self):
        while True:
            with self.lock:
                while self.pending is None and not self.stopped:
                    self.lock.wait()
                if self.stopped:
                    return
                frame = self.pending
            try:
                result = self.loaded.analyze(frame, self.ctx)
                with self.lock:
                    self.result = result
            except Exception as error:
                with self.lock:
                    self.errors.append(where(error, PATH))
            with self.lock:
                self.pending = None

    def stop(self):
        with self.lock:
            self.stopped = True
            self.lock.notify()


def load(name, path, ctx):
    loaded = Loaded(name, path, ctx)
    analyzer = Analyzer(loaded, ctx) if loaded.process is None else None
    return loaded, analyzer


def main():
    global PATH
    message, _ = receive()
    name, PATH, params = message["module"], message["path"], message.get("params") or {}
    ctx = Context(params)
    try:
        loaded, analyzer = load(name, PATH, ctx)
    except BaseException as error:
        send({"error": where(error, PATH)})
        return
    send({"ok": True})
    mappings = {}
    last_check = time.monotonic()
    while True:
        message, fds = receive()
        key = message["key"]
        if fds:
            size = message["size"]
            mappings[key] = mmap.mmap(fds[0], size)
            for fd in fds:
                os.close(fd)
            while len(mappings) > MAPPINGS_KEPT:
                mappings.pop(next(iter(mappings))).close()
        elif key in mappings:
            mappings[key] = mappings.pop(key)
        else:
            # Let go of before (MAPPINGS_KEPT): Rheo sends the memory again.
            send({"missing": key})
            continue
        h, w, stride = message["height"], message["width"], message["stride"]
        frame = np.ndarray(
            (h, w, 3), np.uint8, buffer=mappings[key], offset=message["offset"],
            strides=(stride, 3, 1),
        )
        ctx.pts = message.get("pts")
        ctx.events = []
        ctx.regions = message.get("regions") or []
        ctx.new_regions = []
        reply = {"ok": True}
        errors = []
        now = time.monotonic()
        if now - last_check >= RELOAD_CHECK_SECONDS:
            last_check = now
            try:
                changed = os.stat(PATH).st_mtime_ns != loaded.mtime
            except OSError:
                changed = False
            if changed:
                try:
                    new_loaded, new_analyzer = load(name, PATH, ctx)
                    if analyzer:
                        analyzer.stop()
                    loaded, analyzer = new_loaded, new_analyzer
                    reply["reloaded"] = True
                except BaseException as error:
                    # The old code goes on; the next change is tried again.
                    loaded.mtime = os.stat(PATH).st_mtime_ns
                    errors.append("reload failed: " + where(error, PATH))
        try:
            if analyzer:
                with analyzer.lock:
                    result, errors_async = analyzer.result, analyzer.errors
                    analyzer.errors = []
                errors.extend(errors_async)
                analyzer.offer(frame)
                loaded.draw(frame, result, ctx)
            else:
                loaded.process(frame, ctx)
        except Exception as error:
            errors.append(where(error, PATH))
            reply["ok"] = False
        ctx.frame_number += 1
        reply["events"] = ctx.events
        reply["errors"] = errors
        reply["regions"] = ctx.new_regions
        del frame
        send(reply)


main()
