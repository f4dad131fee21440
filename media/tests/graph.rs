//! The connection graph: the media plane's one record of which element feeds which.

mod common;

use common::*;
use rheo_media::*;

fn link(source: &Element, sink: &Element, media: MediaKind) -> Link {
    Link {
        source: source.id().to_string(),
        sink: sink.id().to_string(),
        media,
    }
}

#[test]
fn a_new_source_replaces_the_old_one_and_is_reported() {
    let log = EventLog::new();
    let p = MediaPipeline::new("graph", log.sink(), common::loopback_settings()).unwrap();
    let a = PassThrough::create(&p, "a").unwrap();
    let b = PassThrough::create(&p, "b").unwrap();
    let sink = PassThrough::create(&p, "sink").unwrap();

    assert_eq!(a.connect(&sink, MediaKind::Video).unwrap(), None);
    assert_eq!(a.connect(&sink, MediaKind::Data).unwrap(), None);
    assert_eq!(
        b.connect(&sink, MediaKind::Video).unwrap(),
        Some("a".to_string()),
        "b replaces a as the sink's video source"
    );
    // In the order they were made; DATA is recorded like audio and video.
    assert_eq!(
        sink.links(),
        vec![
            link(&a, &sink, MediaKind::Data),
            link(&b, &sink, MediaKind::Video)
        ]
    );
    assert_eq!(a.links(), vec![link(&a, &sink, MediaKind::Data)]);

    // Only the current source can disconnect.
    assert!(!a.disconnect(&sink, MediaKind::Video).unwrap());
    assert!(b.disconnect(&sink, MediaKind::Video).unwrap());
    assert!(!b.disconnect(&sink, MediaKind::Video).unwrap());
    assert!(a.disconnect(&sink, MediaKind::Data).unwrap());
    assert!(sink.links().is_empty());

    // Releasing an element drops its connections.
    a.connect(&sink, MediaKind::Video).unwrap();
    sink.connect(&b, MediaKind::Video).unwrap();
    sink.release();
    assert!(a.links().is_empty() && b.links().is_empty());
    p.release();
}
