//! KmsShowData on frames the tests own.

use rheo_filter_sdk::testing::{OwnedFrame, RecordingContext};

use super::*;

const W: u32 = 640;
const H: u32 = 480;
/// Mid-grey with a colour cast, so a neutral box shows in the chroma planes.
const PICTURE: [u8; 3] = [120, 90, 170];

fn luma(frame: &OwnedFrame, x: u32, y: u32) -> u8 {
    let (bytes, stride) = &frame.planes[0];
    bytes[y as usize * stride + x as usize]
}

fn chroma(frame: &OwnedFrame, plane: usize, x: u32, y: u32) -> u8 {
    let (bytes, stride) = &frame.planes[plane];
    bytes[(y / 2) as usize * stride + (x / 2) as usize]
}

fn show(filter: &mut KmsShowData, text: &str) -> OwnedFrame {
    let mut ctx = RecordingContext::default();
    filter
        .receive_data(&DataMessage::Text(text.into()), &mut ctx)
        .unwrap();
    let mut frame = OwnedFrame::i420(W, H, PICTURE);
    filter.process(&mut frame.frame(), &mut ctx).unwrap();
    assert!(ctx.events.is_empty() && ctx.sent.is_empty());
    frame
}

/// Rows (top, bottom) that differ from the untouched picture.
fn changed_rows(frame: &OwnedFrame) -> Option<(u32, u32)> {
    let rows: Vec<u32> = (0..H)
        .filter(|&y| (0..W).any(|x| luma(frame, x, y) != PICTURE[0]))
        .collect();
    Some((*rows.first()?, *rows.last()?))
}

#[test]
fn frames_pass_untouched_until_a_message_arrives() {
    let mut filter = KmsShowData::new(&Args::default()).unwrap();
    let mut frame = OwnedFrame::i420(W, H, PICTURE);
    filter
        .process(&mut frame.frame(), &mut RecordingContext::default())
        .unwrap();
    assert_eq!(frame, OwnedFrame::i420(W, H, PICTURE));
    assert_eq!(filter.text(), None);
}

#[test]
fn the_text_is_drawn_at_the_bottom_on_a_neutral_box() {
    let mut filter = KmsShowData::new(&Args::default()).unwrap();
    let frame = show(&mut filter, "Hello from the data channel");
    assert_eq!(filter.text(), Some("Hello from the data channel"));
    let (top, bottom) = changed_rows(&frame).expect("something drawn");
    assert!(top > H * 3 / 4 && bottom < H, "rows {top}..{bottom}");
    let row = (top + bottom) / 2;
    let bright = (0..W).filter(|&x| luma(&frame, x, row) > 200).count();
    let dark = (0..W).filter(|&x| luma(&frame, x, row) < 40).count();
    assert!(bright > 20 && dark > 100, "bright {bright}, dark {dark}");
    // Centred: as much untouched picture left of the box as right of it.
    let touched: Vec<u32> = (0..W)
        .filter(|&x| luma(&frame, x, row) != PICTURE[0])
        .collect();
    let (left, right) = (touched[0], W - 1 - touched[touched.len() - 1]);
    assert!(left.abs_diff(right) <= 4, "left {left}, right {right}");
    // Grey box: neutral chroma under the text, the picture's own elsewhere.
    assert_eq!(chroma(&frame, 1, W / 2, row), 128);
    assert_eq!(chroma(&frame, 2, W / 2, row), 128);
    assert_eq!(chroma(&frame, 1, W / 2, 10), PICTURE[1]);
    assert_eq!(chroma(&frame, 2, 10, row), PICTURE[2]);
}

#[test]
fn the_latest_message_replaces_the_text_and_an_empty_one_clears_it() {
    let mut filter = KmsShowData::new(&Args::default()).unwrap();
    let short = show(&mut filter, "hi");
    let long = show(&mut filter, "a much longer line of text");
    let width = |f: &OwnedFrame| {
        let (top, bottom) = changed_rows(f).unwrap();
        let row = (top + bottom) / 2;
        (0..W).filter(|&x| luma(f, x, row) != PICTURE[0]).count()
    };
    assert!(width(&long) > width(&short) * 3);
    let cleared = show(&mut filter, "   ");
    assert_eq!(filter.text(), None);
    assert_eq!(cleared, OwnedFrame::i420(W, H, PICTURE));
}

#[test]
fn long_text_stays_inside_the_frame_and_other_characters_show_as_question_marks() {
    let mut filter = KmsShowData::new(&Args::default()).unwrap();
    let frame = show(&mut filter, &"x".repeat(5000));
    assert_eq!(filter.text().map(str::len), Some(MAX_CHARS));
    let (top, bottom) = changed_rows(&frame).unwrap();
    let row = (top + bottom) / 2;
    assert_ne!(luma(&frame, 2, row), 24, "a margin is left at the edge");
    show(&mut filter, "héllo\nwörld ✓");
    assert_eq!(filter.text(), Some("h?llo w?rld ?"));
    // Binary messages are read as UTF-8.
    filter
        .receive_data(
            &DataMessage::Binary(b"bytes".to_vec()),
            &mut RecordingContext::default(),
        )
        .unwrap();
    assert_eq!(filter.text(), Some("bytes"));
}

#[test]
fn tiny_and_odd_frames_are_drawn_on_without_failing() {
    let mut filter = KmsShowData::new(&Args::default()).unwrap();
    let mut ctx = RecordingContext::default();
    filter
        .receive_data(&DataMessage::Text("some text".into()), &mut ctx)
        .unwrap();
    for (w, h) in [(2, 2), (16, 12), (322, 242), (1920, 1080)] {
        let mut frame = OwnedFrame::i420(w, h, PICTURE);
        filter.process(&mut frame.frame(), &mut ctx).unwrap();
    }
}
