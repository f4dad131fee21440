//! The detection worker exists exactly while the element runs (own test binary, so no other
//! test's elements share the process).

mod common;

use common::*;
use gst::prelude::*;

fn total_threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn worker_thread_ends_when_element_stops() {
    init();
    let frame = messi_frame();
    let baseline = worker_threads();
    assert_eq!(baseline, 0);
    let mut totals = Vec::new();
    for cycle in 0..5 {
        let pipeline = gst::parse::launch(
            "appsrc name=src format=time ! rheofaceoverlay name=fo ! appsink name=sink sync=false",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let src = pipeline
            .by_name("src")
            .unwrap()
            .downcast::<gst_app::AppSrc>()
            .unwrap();
        src.set_caps(Some(&caps()));
        let sink = pipeline
            .by_name("sink")
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap();
        let before = total_threads();
        pipeline.set_state(gst::State::Playing).unwrap();
        for i in 0..3u64 {
            let mut b = frame.copy();
            b.get_mut()
                .unwrap()
                .set_pts(gst::ClockTime::from_mseconds(i * 33));
            src.push_buffer(b).unwrap();
            sink.try_pull_sample(gst::ClockTime::from_seconds(10))
                .expect("frame");
        }
        // The new thread names itself once it runs; give it a (bounded) moment to.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while worker_threads() == 0 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(
            worker_threads(),
            1,
            "one worker while playing (cycle {cycle})"
        );
        pipeline.set_state(gst::State::Null).unwrap();
        // set_state(Null) joins the worker: no waiting needed.
        assert_eq!(
            worker_threads(),
            0,
            "worker gone after Null (cycle {cycle})"
        );
        drop(pipeline);
        let after = total_threads();
        println!(
            "cycle {cycle}: threads before {before}, after {after}: {:?}",
            thread_names()
        );
        totals.push(after);
    }
    // Repeated start/stop does not accumulate threads. GLib keeps idle threads of its pools
    // (GStreamer's streaming tasks) for a while, named after their last task: up to two more
    // may be around, while a leak of one thread per cycle would add four.
    assert!(
        totals[4] <= totals[0] + 2,
        "thread count grew across cycles: {totals:?}"
    );
}
