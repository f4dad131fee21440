#!/usr/bin/python3
"""The bare-GStreamer baseline of many loopback sessions in one process: per session, one
webrtcbin whose received VP8 is depayloaded and payloaded again and sent back (what a Rheo
WebRtcEndpoint connected to itself does), with NACK and RTX as a browser has them, and nothing
else around it. Used by bench/scale.

  bare_loopbacks.py

Signalling is JSON lines, each naming its session: stdin takes {"peer": i, "offer": sdp},
{"peer": i, "candidate": c, "mline": n} and {"peer": i, "release": true}; stdout gives
{"peer": i, "answer": sdp}, {"peer": i, "candidate": c, "mline": n} and
{"peer": i, "released_ms": t} (how long taking the session down took).
"""
import json
import random
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("Nice", "0.1")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC, Nice  # noqa: E402

Gst.init(None)
loop = GLib.MainLoop()
pipe = Gst.Pipeline.new("loopbacks")
out_lock = threading.Lock()
sessions = {}  # index -> (webrtcbin, chain bin, references PyGObject would otherwise drop)


def send(obj):
    with out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def on_new_jitterbuffer(_rtpbin, jitterbuffer, _session, _ssrc):
    # webrtcbin 1.22 enables retransmission only for SSRCs named in the offer, which a
    # webrtcbin peer's offer does not do.
    jitterbuffer.set_property("do-retransmission", True)


def new_session(index, pt):
    webrtc = Gst.ElementFactory.make("webrtcbin", f"peer{index}")
    webrtc.set_property("bundle-policy", "max-bundle")
    pipe.add(webrtc)
    ice = webrtc.get_property("ice-agent")
    agent = ice.get_property("agent")
    lo = Nice.Address()
    lo.set_from_string("127.0.0.1")
    agent.add_local_address(lo)
    webrtc.get_by_name("rtpbin").connect("new-jitterbuffer", on_new_jitterbuffer)
    webrtc.connect("on-ice-candidate", lambda _, m, c: send({"peer": index, "candidate": c, "mline": m}))
    ssrc = random.randint(1, 2**31)
    chain = Gst.parse_bin_from_description(
        f"rtpvp8depay ! rtpvp8pay pt={pt} ssrc={ssrc} picture-id-mode=15-bit", True
    )
    pipe.add(chain)

    def on_pad(_, pad):
        if pad.get_direction() == Gst.PadDirection.SRC:
            pad.link(chain.get_static_pad("sink"))

    webrtc.connect("pad-added", on_pad)
    webrtc.sync_state_with_parent()
    sessions[index] = (webrtc, chain, [ice, agent])
    return webrtc, chain, ssrc


def video_payload(sdp):
    for i in range(sdp.medias_len()):
        m = sdp.get_media(i)
        for j in range(m.attributes_len()):
            a = m.get_attribute(j)
            if m.get_media() == "video" and a.key == "rtpmap" and "VP8/90000" in a.value:
                return int(a.value.split()[0])
    raise SystemExit("offer has no VP8")


def promise(webrtc, signal, arg):
    p = Gst.Promise.new()
    webrtc.emit(signal, arg, p)
    p.wait()
    return p.get_reply()


def on_offer(index, text):
    _, sdp = GstSdp.SDPMessage.new_from_text(text)
    pt = video_payload(sdp)
    webrtc, chain, ssrc = new_session(index, pt)
    offer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.OFFER, sdp)
    promise(webrtc, "set-remote-description", offer)
    sinkpad = webrtc.request_pad_simple("sink_%u")
    transceiver = sinkpad.get_property("transceiver")
    transceiver.set_property(
        "codec-preferences",
        Gst.Caps.from_string(
            f"application/x-rtp,media=video,encoding-name=VP8,payload={pt},clock-rate=90000,ssrc=(uint){ssrc}"
        ),
    )
    transceiver.set_property("do-nack", True)
    chain.get_static_pad("src").link(sinkpad)
    chain.sync_state_with_parent()
    reply = promise(webrtc, "create-answer", None)
    answer = reply.get_value("answer")
    promise(webrtc, "set-local-description", answer)
    send({"peer": index, "answer": answer.sdp.as_text()})


def on_release(index):
    session = sessions.pop(index)

    # Off the main loop: webrtcbin's way to NULL can wait for callbacks the loop dispatches.
    def take_down():
        started = time.monotonic()
        webrtc, chain, _ = session
        # The chain first: a webrtcbin taken down while it pushes into it deadlocks.
        for element in (chain, webrtc):
            element.set_state(Gst.State.NULL)
        send({"peer": index, "released_ms": (time.monotonic() - started) * 1000.0})
        GLib.idle_add(lambda: [pipe.remove(e) for e in (webrtc, chain)] and False)

    threading.Thread(target=take_down, daemon=True).start()


def on_message(line):
    msg = json.loads(line)
    index = msg["peer"]
    if "offer" in msg:
        on_offer(index, msg["offer"])
    elif "candidate" in msg and index in sessions:
        sessions[index][0].emit("add-ice-candidate", msg["mline"], msg["candidate"])
    elif "release" in msg and index in sessions:
        on_release(index)
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
