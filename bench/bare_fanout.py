#!/usr/bin/python3
"""The bare-GStreamer baseline of one-to-many: one webrtcbin receiving a presenter's VP8, its
RTP depayloaded and payloaded once, and `tee`d to one webrtcbin per viewer, in one process with
nothing else around it (what Rheo's presenter -> N viewer WebRtcEndpoints does).

  bare_fanout.py

Signalling is JSON lines, each naming its peer (0: the presenter, 1..N: viewers): stdin takes
{"peer": i, "offer": sdp} and {"peer": i, "candidate": c, "mline": n}; stdout gives
{"peer": i, "answer": sdp} and {"peer": i, "candidate": c, "mline": n}. Used by
bench/one2many_cpu.
"""
import json
import random
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("Nice", "0.1")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC, Nice  # noqa: E402

Gst.init(None)
loop = GLib.MainLoop()
pipe = Gst.Pipeline.new("fanout")
ssrc = random.randint(1, 2**31)
out_lock = threading.Lock()
# The presenter's stream, payloaded once, for every viewer.
fanout = Gst.parse_bin_from_description(
    f"rtpvp8depay ! rtpvp8pay pt=96 ssrc={ssrc} picture-id-mode=15-bit", True
)
tee = Gst.ElementFactory.make("tee")
tee.set_property("allow-not-linked", True)
pipe.add(fanout)
pipe.add(tee)
fanout.link(tee)
peers = {}
keep = []  # references PyGObject would otherwise drop (see bare_session.py)


def send(obj):
    with out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def new_webrtcbin(index):
    webrtc = Gst.ElementFactory.make("webrtcbin", f"peer{index}")
    webrtc.set_property("bundle-policy", "max-bundle")
    pipe.add(webrtc)
    ice = webrtc.get_property("ice-agent")
    agent = ice.get_property("agent")
    lo = Nice.Address()
    lo.set_from_string("127.0.0.1")
    agent.add_local_address(lo)
    keep.extend([ice, agent])
    webrtc.connect("on-ice-candidate", lambda _, m, c: send({"peer": index, "candidate": c, "mline": m}))
    webrtc.sync_state_with_parent()
    return webrtc


def answer(webrtc, index):
    p = Gst.Promise.new()
    webrtc.emit("create-answer", None, p)
    p.wait()
    reply = p.get_reply()
    sdp = reply.get_value("answer") if reply and reply.has_field("answer") else None
    if sdp is None:
        raise SystemExit(f"create-answer failed for peer {index}")
    p = Gst.Promise.new()
    webrtc.emit("set-local-description", sdp, p)
    p.wait()
    send({"peer": index, "answer": sdp.sdp.as_text()})


def on_presenter_pad(_, pad):
    if pad.get_direction() == Gst.PadDirection.SRC:
        pad.link(fanout.get_static_pad("sink"))


def on_offer(index, text):
    _, sdp = GstSdp.SDPMessage.new_from_text(text)
    offer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.OFFER, sdp)
    webrtc = new_webrtcbin(index)
    peers[index] = webrtc
    if index == 0:
        webrtc.connect("pad-added", on_presenter_pad)
    p = Gst.Promise.new()
    webrtc.emit("set-remote-description", offer, p)
    p.wait()
    if index != 0:
        queue = Gst.ElementFactory.make("queue")
        pipe.add(queue)
        sinkpad = webrtc.request_pad_simple("sink_%u")
        caps = Gst.Caps.from_string(
            f"application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000,ssrc=(uint){ssrc}"
        )
        sinkpad.get_property("transceiver").set_property("codec-preferences", caps)
        queue.get_static_pad("src").link(sinkpad)
        queue.sync_state_with_parent()
        # The branch joins the tee once the viewer is connected (ICE and DTLS): buffers pushed
        # into webrtcbin before that come back not-linked, and the queue would stop for good.
        joined = []

        def join_when_connected(element, _pspec):
            state = element.get_property("connection-state")
            if not joined and state == GstWebRTC.WebRTCPeerConnectionState.CONNECTED:
                joined.append(True)
                GLib.idle_add(lambda: tee.request_pad_simple("src_%u").link(queue.get_static_pad("sink")) and False)

        webrtc.connect("notify::connection-state", join_when_connected)
    answer(webrtc, index)


def on_message(line):
    msg = json.loads(line)
    if "offer" in msg:
        on_offer(msg["peer"], msg["offer"])
    elif "candidate" in msg and msg["peer"] in peers:
        peers[msg["peer"]].emit("add-ice-candidate", msg["mline"], msg["candidate"])
    return False


def read_stdin():
    for line in sys.stdin:
        if line.strip():
            GLib.idle_add(on_message, line)
    GLib.idle_add(loop.quit)


pipe.set_state(Gst.State.PLAYING)
threading.Thread(target=read_stdin, daemon=True).start()
loop.run()
pipe.set_state(Gst.State.NULL)
