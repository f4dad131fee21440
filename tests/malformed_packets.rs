//! A peer that completes ICE with a WebRtcEndpoint by hand, then sends malformed RTP, RTCP,
//! STUN and DTLS packets to the server's ICE port. The server keeps answering, and another
//! session's media keeps flowing.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use rheo_media::test_peer::{PeerConfig, TestPeer};
use serde_json::{json, Value};

use common::{start_server, Client, MEDIA_TIMEOUT};

const MAGIC_COOKIE: u32 = 0x2112_a442;
const OUR_UFRAG: &str = "junk";
const OUR_PWD: &str = "junkjunkjunkjunkjunkjunk";

/// A STUN message (RFC 5389) with MESSAGE-INTEGRITY keyed by `key` and a FINGERPRINT.
fn stun(kind: u16, transaction: [u8; 12], attributes: &[(u16, Vec<u8>)], key: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (t, value) in attributes {
        body.extend_from_slice(&t.to_be_bytes());
        body.extend_from_slice(&(value.len() as u16).to_be_bytes());
        body.extend_from_slice(value);
        body.resize(body.len().div_ceil(4) * 4, 0);
    }
    let header = |length: usize| {
        let mut h = Vec::with_capacity(20);
        h.extend_from_slice(&kind.to_be_bytes());
        h.extend_from_slice(&(length as u16).to_be_bytes());
        h.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        h.extend_from_slice(&transaction);
        h
    };
    // The integrity covers the message with its length counting the integrity attribute.
    let mut message = header(body.len() + 24);
    message.extend_from_slice(&body);
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(&message);
    let integrity = mac.finalize().into_bytes();
    message.extend_from_slice(&0x0008u16.to_be_bytes());
    message.extend_from_slice(&20u16.to_be_bytes());
    message.extend_from_slice(&integrity);
    let length = message.len() - 20 + 8;
    message[2..4].copy_from_slice(&(length as u16).to_be_bytes());
    let crc = crc32fast::hash(&message) ^ 0x5354_554e;
    message.extend_from_slice(&0x8028u16.to_be_bytes());
    message.extend_from_slice(&4u16.to_be_bytes());
    message.extend_from_slice(&crc.to_be_bytes());
    message
}

fn xor_mapped_address(addr: SocketAddr) -> Vec<u8> {
    let SocketAddr::V4(v4) = addr else {
        panic!("IPv4 only")
    };
    let mut value = vec![0, 1];
    value.extend_from_slice(&(v4.port() ^ (MAGIC_COOKIE >> 16) as u16).to_be_bytes());
    value.extend_from_slice(&(u32::from(*v4.ip()) ^ MAGIC_COOKIE).to_be_bytes());
    value
}

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u8 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u8
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next()).collect()
    }
}

/// Malformed packets of every kind the ICE port demultiplexes.
fn malformed_packets() -> Vec<Vec<u8>> {
    let mut rng = Lcg(0x5eed);
    let mut packets = Vec::new();
    for _ in 0..40 {
        // RTP (first byte 128-191): truncated headers, bogus CSRC counts and extensions.
        let mut rtp = vec![0x80 | (rng.next() & 0x3f), 96];
        let len = (rng.next() as usize) * 5 % 1400;
        rtp.extend(rng.bytes(len));
        packets.push(rtp);
        packets.push(vec![0x8f, 0xe0, 0, 1, 0, 0, 0, 1]);
        packets.push(
            [
                &[
                    0x90, 96, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3, 0xbe, 0xde, 0xff, 0xff,
                ][..],
                &rng.bytes(6),
            ]
            .concat(),
        );
        // RTCP: sender reports, feedback and BYE with lengths that lie.
        for pt in [200u8, 201, 203, 205, 206] {
            let mut rtcp = vec![0x80 | (rng.next() & 0x1f), pt, 0xff, 0xff];
            let len = (rng.next() % 64) as usize;
            rtcp.extend(rng.bytes(len));
            packets.push(rtcp);
        }
        // STUN: lengths beyond the packet, attributes overrunning, a bad cookie.
        let mut bad_stun = vec![0x00, 0x01, 0x7f, 0xfc];
        bad_stun.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        bad_stun.extend(rng.bytes(12));
        bad_stun.extend_from_slice(&[0x00, 0x06, 0xff, 0xff, b'x', b'y']);
        packets.push(bad_stun);
        packets.push([&[0x00, 0x11, 0x00, 0x08, 0, 0, 0, 0][..], &rng.bytes(20)].concat());
        // DTLS (first byte 20-63): records claiming more than they hold, garbage handshakes.
        for content in [20u8, 21, 22, 23] {
            let mut dtls = vec![content, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff];
            let len = (rng.next() as usize) * 3;
            dtls.extend(rng.bytes(len));
            packets.push(dtls);
        }
        packets.push(
            [
                &[
                    22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 60, 1, 0xff, 0xff, 0xff,
                ][..],
                &rng.bytes(56),
            ]
            .concat(),
        );
        // Anything at all.
        let len = 1 + rng.next() as usize * 4;
        packets.push(rng.bytes(len));
    }
    packets.push(Vec::new());
    packets
}

fn attribute(sdp: &str, name: &str) -> String {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix(&format!("a={name}:")))
        .unwrap_or_else(|| panic!("no a={name} in {sdp}"))
        .to_owned()
}

/// Completes ICE with the server (as the controlling side, nominating at once): answers the
/// server's checks and sends ours until one of ours succeeds. Returns the connected socket.
fn connect_ice(server: SocketAddr, server_ufrag: &str, server_pwd: &str) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let username = format!("{server_ufrag}:{OUR_UFRAG}").into_bytes();
    let request = stun(
        0x0001,
        *b"rheo-junk-01",
        &[
            (0x0006, username),
            (0x0024, 0x6e00_01ffu32.to_be_bytes().to_vec()),
            (0x802a, 42u64.to_be_bytes().to_vec()),
            (0x0025, Vec::new()),
        ],
        server_pwd,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 2048];
    let (mut ours_succeeded, mut theirs_answered) = (false, false);
    while !(ours_succeeded && theirs_answered) {
        assert!(Instant::now() < deadline, "ICE did not complete");
        socket.send_to(&request, server).unwrap();
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let packet = &buf[..n];
        if n < 20 || from != server {
            continue;
        }
        match u16::from_be_bytes([packet[0], packet[1]]) {
            0x0101 if &packet[8..20] == b"rheo-junk-01" => ours_succeeded = true,
            0x0001 => {
                let transaction: [u8; 12] = packet[8..20].try_into().unwrap();
                let response = stun(
                    0x0101,
                    transaction,
                    &[(0x0020, xor_mapped_address(from))],
                    OUR_PWD,
                );
                socket.send_to(&response, server).unwrap();
                theirs_answered = true;
            }
            _ => {}
        }
    }
    socket
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_media_packets_harm_neither_the_server_nor_other_sessions() {
    let (addr, _) = start_server(&[]).await;
    // A healthy session, media flowing.
    let mut good = Client::connect(addr).await;
    let gp = good.create("MediaPipeline", Value::Null).await;
    let gw = good
        .create("WebRtcEndpoint", json!({"mediaPipeline": gp}))
        .await;
    good.invoke(&gw, "connect", json!({"sink": gw})).await;
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff20a0e0)).unwrap());
    good.negotiate_with_peer(&gw, &peer, |p| p.wait_frames(20, MEDIA_TIMEOUT))
        .await;

    // The attacker: its own offer, then ICE by hand.
    let mut bad = Client::connect(addr).await;
    let bp = bad.create("MediaPipeline", Value::Null).await;
    let bw = bad
        .create("WebRtcEndpoint", json!({"mediaPipeline": bp}))
        .await;
    bad.invoke(&bw, "connect", json!({"sink": bw})).await;
    bad.subscribe(&bw, "IceCandidateFound").await;
    bad.subscribe(&bw, "IceGatheringDone").await;
    bad.subscribe(&bw, "NewCandidatePairSelected").await;
    let offer = format!(
        "v=0\r\no=- 7 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
         m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n\
         a=ice-ufrag:{OUR_UFRAG}\r\na=ice-pwd:{OUR_PWD}\r\n\
         a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
         a=setup:actpass\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\na=ssrc:4242 cname:junk\r\n"
    );
    let answer = bad
        .invoke(&bw, "processOffer", json!({"offer": offer}))
        .await["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let (server_ufrag, server_pwd) = (
        attribute(&answer, "ice-ufrag"),
        attribute(&answer, "ice-pwd"),
    );
    bad.invoke(&bw, "gatherCandidates", Value::Null).await;
    bad.event(|e| e["type"] == "IceGatheringDone").await;
    let server = bad
        .take_events(|e| e["type"] == "IceCandidateFound")
        .iter()
        .find_map(|e| {
            let c = e["data"]["candidate"]["candidate"].as_str()?;
            let f: Vec<&str> = c.split(' ').collect();
            (f.get(2)?.eq_ignore_ascii_case("udp") && f.get(4) == Some(&"127.0.0.1"))
                .then(|| format!("127.0.0.1:{}", f[5]).parse::<SocketAddr>().ok())?
        })
        .expect("a UDP host candidate on 127.0.0.1");

    let frames_before = peer.frames_received();
    let sent = tokio::task::spawn_blocking(move || {
        let socket = connect_ice(server, &server_ufrag, &server_pwd);
        let packets = malformed_packets();
        for _ in 0..5 {
            for p in &packets {
                socket.send_to(p, server).unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        packets.len() * 5
    })
    .await
    .unwrap();
    assert!(sent > 1000);
    // ICE completed: the packets went past the ICE agent, to DTLS and SRTP.
    let pair = bad.event(|e| e["type"] == "NewCandidatePairSelected").await;
    assert!(
        pair["data"]["candidatePair"]["remoteCandidate"]
            .as_str()
            .is_some_and(|c| c.contains("127.0.0.1")),
        "{pair}"
    );

    // The server answers, the healthy session still gets frames, and the attacked endpoint
    // releases cleanly.
    assert_eq!(bad.ok("ping", Value::Null).await["value"], "pong");
    let more = frames_before + 30;
    let waiting = peer.clone();
    assert!(
        tokio::task::spawn_blocking(move || waiting.wait_frames(more, MEDIA_TIMEOUT))
            .await
            .unwrap(),
        "the healthy session stopped receiving frames"
    );
    bad.ok("release", json!({"object": bp})).await;
    assert_eq!(
        good.invoke(&gw, "getMediaState", Value::Null).await["value"],
        "CONNECTED"
    );
}
