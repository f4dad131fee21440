//! webrtc → FaceOverlay → webrtc with a real face image (messi5.jpg) and an opaque overlay.

mod common;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rheo_filters::faceoverlay::{faces_from_structure, overlay_rect, FaceBox};
use rheo_media::*;

const T: Duration = Duration::from_secs(30);

#[test]
fn face_overlay_chain_draws_over_detected_faces() {
    init().unwrap();
    let log = EventLog::new();
    let p = MediaPipeline::new("fo", log.sink(), common::loopback_settings()).unwrap();
    let ep = WebRtcEndpoint::create(&p, "ep", WebRtcOptions::default()).unwrap();
    let fo = FilterBin::create_face_overlay(&p, "fo").unwrap();
    ep.connect(&fo, MediaKind::Video).unwrap();
    fo.connect(&ep, MediaKind::Video).unwrap();
    // Opaque magenta (BGRA) exactly over each face box.
    let geometry = OverlayGeometry {
        offset_x: 0.0,
        offset_y: 0.0,
        width: 1.0,
        height: 1.0,
    };
    fo.face_overlay().unwrap().set_overlay_image(
        Arc::new(OverlayImage::solid(32, 32, [255, 0, 255, 255])),
        geometry,
    );

    let peer = Arc::new(TestPeer::new(PeerConfig::image(MESSI)).unwrap());
    let (pump, _) = negotiate(&peer, &ep, &log);
    assert!(
        peer.wait_frames(10, T),
        "no frames came back through the filter"
    );

    // Face boxes as the filter reports them (rheo-faces element messages → ElementMessage events).
    let ev = log
        .wait_for(T, |e| match &e.event {
            MediaEvent::ElementMessage { name, structure }
                if e.element == "fo" && name == "rheo-faces" =>
            {
                gst::Structure::from_str(structure)
                    .ok()
                    .and_then(|s| faces_from_structure(&s))
                    .map(|f| !f.is_empty())
                    .unwrap_or(false)
            }
            _ => false,
        })
        .expect("the filter found no face in messi5.jpg");
    let MediaEvent::ElementMessage { structure, .. } = ev.event else {
        unreachable!()
    };
    let faces: Vec<FaceBox> =
        faces_from_structure(&gst::Structure::from_str(&structure).unwrap()).unwrap();
    let (x, y, w, h) = overlay_rect(&faces[0], &geometry).unwrap();
    eprintln!("face {:?} → overlay rect {:?}", faces[0], (x, y, w, h));
    // Inner part of the predicted rectangle (avoid codec blur at the edges).
    let (ix, iy, iw, ih) = (
        (x + w / 4) as usize,
        (y + h / 4) as usize,
        (w / 2) as usize,
        (h / 2) as usize,
    );
    let magenta = |rgb: [f64; 3]| rgb[0] > 180.0 && rgb[1] < 90.0 && rgb[2] > 180.0;
    let frame = peer
        .wait_frame_where(T, |f| magenta(f.mean_rgb(ix, iy, iw, ih)))
        .unwrap_or_else(|| {
            let f = peer.last_frame().unwrap();
            panic!(
                "overlay colour not found in {:?}: mean {:?}",
                (ix, iy, iw, ih),
                f.mean_rgb(ix, iy, iw, ih)
            )
        });
    // Outside the overlay (top-left corner of the picture) it is not magenta.
    assert!(
        !magenta(frame.mean_rgb(0, 0, 40, 40)),
        "whole picture is magenta"
    );

    // One decoder for the source, one encoder for the filter output.
    assert_eq!(p.decoder_count(), 1);
    assert_eq!(p.encoder_count(), 1);
    assert!(fo.is_media_transcoding(MediaKind::Video));
    assert!(fo.is_media_flowing_in(MediaKind::Video));
    assert!(fo.is_media_flowing_out(MediaKind::Video));
    assert!(log
        .wait_for(T, |e| matches!(
            &e.event,
            MediaEvent::MediaTranscoding {
                transcoding: true,
                ..
            }
        ))
        .is_some());

    // A second viewer of the filter output shares the encoder.
    let ep2 = WebRtcEndpoint::create(&p, "ep2", WebRtcOptions::default()).unwrap();
    fo.connect(&ep2, MediaKind::Video).unwrap();
    let peer2 = Arc::new(TestPeer::new(PeerConfig::color(0xff000000)).unwrap());
    let (pump2, _) = negotiate(&peer2, &ep2, &log);
    assert!(
        peer2
            .wait_frame_where(T, |f| magenta(f.mean_rgb(ix, iy, iw, ih)))
            .is_some(),
        "second viewer (joined late) got no overlaid frame"
    );
    assert_eq!(p.encoder_count(), 1, "second viewer must share the encoder");
    assert_eq!(p.decoder_count(), 1);

    // Disconnecting the filter input removes the decoder; releasing the filter removes the encoder.
    ep.disconnect(&fo, MediaKind::Video).unwrap();
    assert_eq!(p.decoder_count(), 0);
    fo.release();
    assert_eq!(p.encoder_count(), 0);
    drop(pump2);
    drop(pump);
    p.release();
}
