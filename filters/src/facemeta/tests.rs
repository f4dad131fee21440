use std::sync::{Arc, Mutex};

use gst::prelude::*;
use gst_video::prelude::*;

const MESSI: &str = "/usr/share/doc/opencv-doc/examples/data/messi5.jpg";

fn regions(buffer: &gst::BufferRef) -> Vec<(String, (u32, u32, u32, u32))> {
    buffer
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .map(|m| (m.roi_type().to_owned(), m.rect()))
        .collect()
}

/// messi5.jpg cropped around the face, 640x480 I420, through detect → show: faces travel as
/// buffer metadata and are outlined in green.
#[test]
fn faces_travel_as_metadata_and_are_drawn_downstream() {
    crate::register_static().unwrap();
    let desc = format!(
        "filesrc location={MESSI} ! jpegdec ! videoconvert ! videocrop left=145 right=123 bottom=132 ! \
         videoscale ! video/x-raw,width=640,height=480,pixel-aspect-ratio=1/1 ! \
         imagefreeze num-buffers=45 is-live=true ! video/x-raw,framerate=30/1 ! videoconvert ! \
         video/x-raw,format=I420 ! rheodetectfaces name=detect ! rheoshowfaces ! appsink name=sink sync=false"
    );
    let pipeline = gst::parse::launch(&desc)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let outputs: Arc<Mutex<Vec<gst::Sample>>> = Arc::default();
    let out2 = outputs.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                out2.lock()
                    .unwrap()
                    .push(s.pull_sample().map_err(|_| gst::FlowError::Eos)?);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline.bus().unwrap().timed_pop_filtered(
        gst::ClockTime::from_seconds(30),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(
        matches!(msg.map(|m| m.type_()), Some(gst::MessageType::Eos)),
        "EOS"
    );
    let outputs = outputs.lock().unwrap();
    assert_eq!(outputs.len(), 45, "no frame dropped");
    let with_faces: Vec<_> = outputs
        .iter()
        .filter_map(|s| {
            let r = regions(s.buffer().unwrap());
            (!r.is_empty()).then_some((s, r))
        })
        .collect();
    assert!(
        with_faces.len() > 30,
        "frames carrying faces: {} of 45",
        with_faces.len()
    );
    let (sample, faces) = &with_faces[with_faces.len() - 1];
    assert_eq!(faces.len(), 1, "{faces:?}");
    let (kind, (x, y, w, h)) = &faces[0];
    assert_eq!(kind, "face");
    assert!(
        (60..130).contains(w) && (60..130).contains(h),
        "face size {w}x{h}"
    );
    // The outline is drawn on the face box edges, in BT.601 green.
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(sample.buffer().unwrap(), &info)
        .unwrap();
    let yp = frame.plane_data(0).unwrap();
    let stride = frame.plane_stride()[0] as usize;
    let at = |px: u32, py: u32| yp[py as usize * stride + px as usize];
    for (px, py) in [
        (x + 1, y + 1),
        (x + w / 2, y + 1),
        (x + 1, y + h / 2),
        (x + w - 2, y + h - 2),
    ] {
        assert_eq!(at(px, py), 145, "outline at ({px},{py})");
    }
    assert_ne!(
        at(x + w / 2, y + h / 2),
        145,
        "the face inside is not painted"
    );
}
