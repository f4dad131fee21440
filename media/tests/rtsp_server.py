#!/usr/bin/python3
"""A one-stream RTSP server for the PlayerEndpoint test: serves `launch` (a gst-launch line whose
payloader is named pay0) at rtsp://127.0.0.1:<port>/test. Prints "ready <port>" once listening,
and "teardown" when a client sends TEARDOWN.

  rtsp_server.py "<launch>" [port]   (default: any free port)
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
server = GstRtspServer.RTSPServer.new()
server.set_address("127.0.0.1")
server.set_service(sys.argv[2] if len(sys.argv) > 2 else "0")
factory = GstRtspServer.RTSPMediaFactory.new()
factory.set_launch(sys.argv[1])
factory.set_shared(True)
server.get_mount_points().add_factory("/test", factory)


def on_client(_, client):
    client.connect("teardown-request", lambda *_: print("teardown", flush=True))


server.connect("client-connected", on_client)
server.attach(None)
print(f"ready {server.get_bound_port()}", flush=True)
GLib.MainLoop().run()
