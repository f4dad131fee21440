#!/usr/bin/python3
"""The bare-GStreamer baseline of one Rheo session: webrtcbin answering a browser-like offer and
doing the same media work as Rheo, with nothing else around it.

  loopback:     webrtcbin -> rtpvp8depay -> rtpvp8pay -> webrtcbin            (no transcoding)
  magicmirror:  webrtcbin -> rtpvp8depay -> vp8dec -> rheofaceoverlay -> vp8enc (realtime) -> rtpvp8pay -> webrtcbin
  record-webm:  loopback, and the depayloaded VP8 also -> webmmux -> filesink           (no transcoding)
  record-mp4:   H.264 loopback, and the depayloaded H.264 also -> fragmented mp4mux -> filesink
  play-webm:    filesrc -> matroskademux -> clocksync (real time) -> rtpvp8pay -> webrtcbin
                (the peer's own video is dropped; no transcoding)
  rtp-in:       udpsrc (plain RTP VP8) -> rtpjitterbuffer -> rtpvp8depay -> rtpvp8pay -> webrtcbin
                (the peer's own video is dropped; no transcoding)

  bare_session.py <mode> [overlay image URI] [recording path, the file to play, or the RTP port]

Signalling is JSON lines: stdin takes {"offer": sdp} and {"candidate": c, "mline": n};
stdout gives {"answer": sdp} and {"candidate": c, "mline": n}. Used by bench/session_cpu.
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
mode = sys.argv[1]
image = sys.argv[2] if len(sys.argv) > 2 else ""
target = sys.argv[3] if len(sys.argv) > 3 else ""
codec = "H264" if mode == "record-mp4" else "VP8"
loop = GLib.MainLoop()
pipe = Gst.Pipeline.new("bare")
webrtc = Gst.ElementFactory.make("webrtcbin", "webrtc")
webrtc.set_property("bundle-policy", "max-bundle")
pipe.add(webrtc)
# Loopback only, like Rheo in the benchmark (libnice skips loopback unless told).
# Keep both references for the whole run: dropping them here unrefs webrtcbin's own ICE agent
# (a PyGObject reference quirk with this property).
_ice = webrtc.get_property("ice-agent")
_agent = _ice.get_property("agent")
_lo = Nice.Address()
_lo.set_from_string("127.0.0.1")
_agent.add_local_address(_lo)
ssrc = random.randint(1, 2**31)
chain_in = None  # the first element after webrtcbin's src pad


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def video_payload(sdp):
    for i in range(sdp.medias_len()):
        m = sdp.get_media(i)
        if m.get_media() != "video":
            continue
        for j in range(m.attributes_len()):
            a = m.get_attribute(j)
            if a.key == "rtpmap" and f"{codec}/90000" in a.value:
                return i, int(a.value.split()[0])
    raise SystemExit(f"offer has no {codec}")


def build(pt):
    global chain_in
    if mode == "loopback":
        desc = f"rtpvp8depay ! rtpvp8pay pt={pt} ssrc={ssrc} picture-id-mode=15-bit"
    elif mode == "record-webm":
        desc = (
            f"rtpvp8depay ! tee name=t ! queue ! rtpvp8pay pt={pt} ssrc={ssrc} picture-id-mode=15-bit "
            f"t. ! queue ! webmmux ! filesink location={target} buffer-mode=unbuffered"
        )
    elif mode == "record-mp4":
        desc = (
            "rtph264depay ! h264parse config-interval=-1 ! tee name=t ! queue ! "
            f"rtph264pay pt={pt} ssrc={ssrc} config-interval=-1 aggregate-mode=zero-latency "
            # identity: mp4mux holds allocation queries until it has data, which would block
            # the tee (and the loopback) on the first buffer.
            "t. ! queue ! h264parse ! identity drop-allocation=true ! mp4mux fragment-duration=500 ! "
            f"filesink location={target} buffer-mode=unbuffered"
        )
    elif mode == "play-webm":
        return build_player(pt)
    elif mode == "rtp-in":
        desc = (
            f"udpsrc address=127.0.0.1 port={target} "
            "caps=\"application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,payload=96\" ! "
            "rtpjitterbuffer latency=100 ! rtpvp8depay ! "
            f"rtpvp8pay pt={pt} ssrc={ssrc} picture-id-mode=15-bit"
        )
    else:
        desc = (
            "rtpvp8depay request-keyframe=true ! vp8dec threads=1 ! videoconvert ! video/x-raw,format=I420 ! "
            f"rheofaceoverlay image-uri={image} ! "
            "vp8enc deadline=1 cpu-used=8 threads=1 end-usage=cbr target-bitrate=1500000 "
            "keyframe-max-dist=300 error-resilient=partitions ! "
            f"rtpvp8pay pt={pt} ssrc={ssrc} picture-id-mode=15-bit"
        )
    bin_ = Gst.parse_bin_from_description(desc, True)
    pipe.add(bin_)
    chain_in = bin_ if bin_.get_static_pad("sink") else None
    return bin_


def build_player(pt):
    # Built by hand: the demuxer's pad appears later, and a parsed bin would ghost the
    # clocksync's sink pad meanwhile.
    bin_ = Gst.Bin.new("player")
    src = Gst.ElementFactory.make("filesrc")
    src.set_property("location", target)
    demux = Gst.ElementFactory.make("matroskademux")
    pace = Gst.ElementFactory.make("clocksync")
    # The file's timestamps start at 0 and the pipeline has been running: play from now.
    pace.set_property("ts-offset", pipe.get_clock().get_time() - pipe.get_base_time())
    pay = Gst.parse_launch(f"rtpvp8pay pt={pt} ssrc={ssrc} picture-id-mode=15-bit")
    for e in (src, demux, pace, pay):
        bin_.add(e)
    src.link(demux)
    pace.link(pay)
    demux.connect("pad-added", lambda _, pad: pad.link(pace.get_static_pad("sink")))
    bin_.add_pad(Gst.GhostPad.new("src", pay.get_static_pad("src")))
    pipe.add(bin_)
    return bin_


def on_offer(text):
    _, sdp = GstSdp.SDPMessage.new_from_text(text)
    mline, pt = video_payload(sdp)
    offer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.OFFER, sdp)
    p = Gst.Promise.new()
    webrtc.emit("set-remote-description", offer, p)
    p.wait()
    chain = build(pt)
    sinkpad = webrtc.request_pad_simple("sink_%u")
    caps = Gst.Caps.from_string(
        f"application/x-rtp,media=video,encoding-name={codec},payload={pt},clock-rate=90000,ssrc=(uint){ssrc}"
    )
    transceiver = sinkpad.get_property("transceiver")
    transceiver.set_property("codec-preferences", caps)
    # NACK and RTX, as a browser has them.
    transceiver.set_property("do-nack", True)
    chain.get_static_pad("src").link(sinkpad)
    chain.sync_state_with_parent()
    p = Gst.Promise.new()
    webrtc.emit("create-answer", None, p)
    p.wait()
    reply = p.get_reply()
    answer = reply.get_value("answer") if reply and reply.has_field("answer") else None
    if answer is None:
        raise SystemExit(f"create-answer failed: {reply.to_string() if reply else None}")
    p = Gst.Promise.new()
    webrtc.emit("set-local-description", answer, p)
    p.wait()
    send({"answer": answer.sdp.as_text()})


def on_pad_added(_, pad):
    if pad.get_direction() != Gst.PadDirection.SRC:
        return
    if chain_in is not None:
        pad.link(chain_in.get_static_pad("sink"))
    else:
        drop = Gst.ElementFactory.make("fakesink")
        drop.set_property("sync", False)
        pipe.add(drop)
        drop.sync_state_with_parent()
        pad.link(drop.get_static_pad("sink"))


def on_message(line):
    msg = json.loads(line)
    if "offer" in msg:
        on_offer(msg["offer"])
    elif "candidate" in msg:
        webrtc.emit("add-ice-candidate", msg["mline"], msg["candidate"])
    return False


def read_stdin():
    for line in sys.stdin:
        if line.strip():
            GLib.idle_add(on_message, line)
    GLib.idle_add(loop.quit)


def on_new_jitterbuffer(_rtpbin, jitterbuffer, _session, _ssrc):
    # webrtcbin 1.22 enables retransmission only for SSRCs named in the offer, which a
    # webrtcbin peer's offer does not do: the baseline asks for lost packets like Rheo does.
    jitterbuffer.set_property("do-retransmission", True)


webrtc.get_by_name("rtpbin").connect("new-jitterbuffer", on_new_jitterbuffer)
webrtc.connect("on-ice-candidate", lambda _, m, c: send({"candidate": c, "mline": m}))
webrtc.connect("pad-added", on_pad_added)
pipe.set_state(Gst.State.PLAYING)
threading.Thread(target=read_stdin, daemon=True).start()
loop.run()
pipe.set_state(Gst.State.NULL)
