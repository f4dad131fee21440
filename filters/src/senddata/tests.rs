//! KmsSendData on QR codes rendered into video by GStreamer's `qroverlay`.

use std::time::Duration;

use rheo_filter_sdk::testing::{OwnedFrame, RecordingContext};

use super::*;
use crate::zbar::tests::{qr_frame, white_frame};

const W: u32 = 640;
const H: u32 = 480;

fn owned(i420: &[u8], pts: u64) -> OwnedFrame {
    let (w, h) = (W as usize, H as usize);
    OwnedFrame {
        width: W,
        height: H,
        format: PixelFormat::I420,
        pts: Some(pts),
        planes: vec![
            (i420[..w * h].to_vec(), w),
            (i420[w * h..w * h * 5 / 4].to_vec(), w / 2),
            (i420[w * h * 5 / 4..].to_vec(), w / 2),
        ],
    }
}

/// Plays `clip` at 30 fps (frame i at i/30 s) for `seconds` of stream time, letting the
/// scanner keep up, and returns the messages sent, with the video checked unmodified.
fn play(filter: &mut KmsSendData, clip: &[u8], from_frame: u64, seconds: u64) -> Vec<String> {
    let mut ctx = RecordingContext::default();
    for i in from_frame..from_frame + seconds * 30 {
        let pts = i * 1_000_000_000 / 30;
        let mut frame = owned(clip, pts);
        filter.process(&mut frame.frame(), &mut ctx).unwrap();
        assert_eq!(frame, owned(clip, pts), "the video is not modified");
        // The scan runs on its own thread; give it the time a frame lasts.
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(ctx.events.is_empty());
    ctx.sent
        .iter()
        .map(|m| match m {
            DataMessage::Text(t) => t.clone(),
            other => panic!("binary message {other:?}"),
        })
        .collect()
}

#[test]
fn a_code_in_view_is_sent_in_kurentos_words_once_a_second() {
    let mut filter = KmsSendData::new(&Args::default()).unwrap();
    let sent = play(
        &mut filter,
        &qr_frame(&[("https://rheo.example/42", 40.0, 30.0)]),
        0,
        3,
    );
    assert!((2..=4).contains(&sent.len()), "{sent:?}");
    for text in &sent {
        let rest = text
            .strip_prefix("Code detected in time ")
            .unwrap_or_else(|| panic!("{text}"));
        let (time, tail) = rest.split_once(", ").unwrap();
        assert!(time.parse::<u64>().unwrap() < 3_000_000_000, "{text}");
        assert_eq!(tail, "type QR-Code, symbol https://rheo.example/42");
    }
}

#[test]
fn nothing_is_sent_without_a_code() {
    let mut filter = KmsSendData::new(&Args::default()).unwrap();
    assert!(play(&mut filter, &white_frame(), 0, 1).is_empty());
}

#[test]
fn the_class_is_a_media_element_that_sends_data() {
    assert_eq!(INFO.parent, Parent::MediaElement);
    assert!(INFO.data.sends() && !INFO.data.receives());
    assert_eq!(
        code_message(5, "EAN-13", "123"),
        "Code detected in time 5, type EAN-13, symbol 123"
    );
}
