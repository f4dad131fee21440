//! SRTP runs on the OpenSSL libsrtp linked into the program (crate rheo-srtp), not on the
//! system's NSS-based libsrtp2: GStreamer's srtpenc and srtpdec, which every webrtcbin and
//! RtpEndpoint uses, call this build's functions, and what they protect comes back intact.

use gst::prelude::*;

const CHILD: &str = "RHEO_SRTP_TEST_CHILD";
const SSRC: u32 = 0x1234_5678;

/// The 30-byte master key and salt of AES_CM_128_HMAC_SHA1_80.
fn master_key() -> gst::Buffer {
    gst::Buffer::from_slice((1..=30u8).collect::<Vec<u8>>())
}

/// RTP packets through `srtpenc ! srtpdec`: the protected packets are 10 bytes longer (the
/// authentication tag) and differ from the clear ones, and srtpdec gives the clear ones back
/// (its key from srtpenc's caps).
fn round_trip(packets: u16) {
    rheo_media::init().unwrap();
    let pipeline = gst::parse::launch(
        "appsrc name=src format=time ! srtpenc name=enc ! srtpdec name=dec \
         ! appsink name=clear sync=false",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let by_name = |name: &str| pipeline.by_name(name).unwrap();
    by_name("enc").set_property("key", master_key());
    let src = by_name("src").downcast::<gst_app::AppSrc>().unwrap();
    src.set_caps(Some(
        &gst::Caps::builder("application/x-rtp")
            .field("media", "video")
            .field("clock-rate", 90_000i32)
            .field("encoding-name", "VP8")
            .field("payload", 96i32)
            .field("ssrc", SSRC)
            .build(),
    ));
    let protected = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = protected.clone();
    by_name("dec").static_pad("rtp_sink").unwrap().add_probe(
        gst::PadProbeType::BUFFER,
        move |_, info| {
            if let Some(buffer) = info.buffer() {
                let bytes = buffer.map_readable().unwrap().to_vec();
                seen.lock().unwrap().push(bytes);
            }
            gst::PadProbeReturn::Ok
        },
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    let clear: Vec<Vec<u8>> = (0..packets).map(rtp_packet).collect();
    for (i, packet) in clear.iter().enumerate() {
        let mut buffer = gst::Buffer::from_slice(packet.clone());
        buffer
            .get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(33 * i as u64));
        src.push_buffer(buffer).unwrap();
    }
    let sink = by_name("clear").downcast::<gst_app::AppSink>().unwrap();
    let decrypted: Vec<Vec<u8>> = (0..packets)
        .map(|_| {
            let sample = sink
                .try_pull_sample(gst::ClockTime::from_seconds(10))
                .expect("a decrypted packet");
            let bytes = sample.buffer().unwrap().map_readable().unwrap().to_vec();
            bytes
        })
        .collect();
    let protected = protected.lock().unwrap().clone();
    assert_eq!(protected.len(), clear.len());
    pipeline.set_state(gst::State::Null).unwrap();
    for ((sent, protected), back) in clear.iter().zip(&protected).zip(&decrypted) {
        assert_eq!(protected.len(), sent.len() + 10, "the 80-bit tag");
        assert_eq!(protected[..12], sent[..12], "the header stays clear");
        assert_ne!(
            protected[12..sent.len()],
            sent[12..],
            "the payload is encrypted"
        );
        assert_eq!(back, sent);
    }
}

fn rtp_packet(seq: u16) -> Vec<u8> {
    let mut packet = vec![0x80, 96];
    packet.extend(seq.to_be_bytes());
    packet.extend((seq as u32 * 3000).to_be_bytes());
    packet.extend(SSRC.to_be_bytes());
    packet.extend((0..1000).map(|i| (i as u16 ^ seq) as u8));
    packet
}

#[test]
fn this_program_puts_the_openssl_build_in_front() {
    let library = rheo_media::srtp_library();
    assert!(library.in_front, "{library:?}");
    assert_eq!(library.crypto(), "openssl");
}

/// The dynamic linker's own record (LD_DEBUG=bindings, in a child running the round trip):
/// the srtp plugin's calls bind to this program, not to libsrtp2.so.1.
#[test]
fn the_srtp_plugin_protects_and_unprotects_with_the_openssl_build() {
    if std::env::var_os(CHILD).is_some() {
        round_trip(20);
        return;
    }
    let dir = std::env::temp_dir().join(format!("rheo-srtp-bindings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = std::env::current_exe().unwrap();
    let status = std::process::Command::new(&exe)
        .args([
            "--exact",
            "the_srtp_plugin_protects_and_unprotects_with_the_openssl_build",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("LD_DEBUG", "bindings")
        .env("LD_DEBUG_OUTPUT", dir.join("ld"))
        .status()
        .unwrap();
    assert!(status.success(), "the round trip failed in the child");
    let mut log = String::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        log.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
    }
    std::fs::remove_dir_all(&dir).ok();
    let exe_name = exe.file_name().unwrap().to_string_lossy().into_owned();
    for symbol in ["srtp_create", "srtp_protect_mki", "srtp_unprotect_mki"] {
        let binding = log
            .lines()
            .find(|l| l.contains("libgstsrtp.so") && l.ends_with(&format!("`{symbol}'")))
            .unwrap_or_else(|| panic!("no binding of {symbol} from the srtp plugin"));
        let target = binding.split(" to ").nth(1).unwrap_or_default();
        assert!(
            target.contains(&exe_name) && !target.contains("libsrtp2"),
            "{symbol} binds to {target}"
        );
    }
}
