//! Hubs with webrtcbin peers: Dispatcher and DispatcherOneToMany route whole streams between
//! HubPorts, switch live, and never decode or encode.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use rheo_media::*;

const T: Duration = Duration::from_secs(20);

/// A participant: a browser (a colour), its WebRtcEndpoint, and its port of the hub, connected
/// both ways as Kurento's hub tutorials do.
struct Participant {
    peer: Arc<TestPeer>,
    port: Element,
    _pump: Pump,
}

const RED: u32 = 0xffd02020;
const GREEN: u32 = 0xff20c040;
const BLUE: u32 = 0xff2040d0;

fn rgb(argb: u32) -> [f64; 3] {
    [(argb >> 16) & 0xff, (argb >> 8) & 0xff, argb & 0xff].map(|c| c as f64)
}

fn join(
    pipeline: &MediaPipeline,
    hub: &Hub,
    log: &Arc<EventLog>,
    name: &str,
    argb: u32,
) -> Participant {
    let endpoint = WebRtcEndpoint::create(pipeline, name, WebRtcOptions::default()).unwrap();
    let port = hub
        .create_port(&format!("{}/{name}-port", hub.id()))
        .unwrap();
    endpoint.connect(&port, MediaKind::Video).unwrap();
    port.connect(&endpoint, MediaKind::Video).unwrap();
    let peer = Arc::new(TestPeer::new(PeerConfig::color(argb)).unwrap());
    let (pump, _) = negotiate(&peer, &endpoint, log);
    Participant {
        peer,
        port,
        _pump: pump,
    }
}

/// Waits until `who` receives pictures of `argb`'s colour.
fn sees(who: &Participant, argb: u32) -> bool {
    let want = rgb(argb);
    who.peer
        .wait_frame_where(T, |f| {
            let got = f.mean_rgb_all();
            (0..3).all(|c| (got[c] - want[c]).abs() < 40.0)
        })
        .is_some()
}

#[test]
fn a_dispatcher_routes_ports_to_ports_and_switches_live_without_transcoding() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("dispatcher", log.sink(), loopback_settings()).unwrap();
    let hub = Hub::create(&pipeline, "dispatcher/hub", HubKind::Dispatcher).unwrap();
    let a = join(&pipeline, &hub, &log, "a", RED);
    let b = join(&pipeline, &hub, &log, "b", GREEN);
    let c = join(&pipeline, &hub, &log, "c", BLUE);
    // A and B see each other; C watches A.
    hub.connect(a.port.id(), b.port.id()).unwrap();
    hub.connect(b.port.id(), a.port.id()).unwrap();
    hub.connect(a.port.id(), c.port.id()).unwrap();
    assert!(sees(&b, RED), "b sees a");
    assert!(sees(&a, GREEN), "a sees b");
    assert!(sees(&c, RED), "c sees a");
    // C switches to B, live.
    hub.connect(b.port.id(), c.port.id()).unwrap();
    assert!(sees(&c, GREEN), "c switched to b");
    assert_eq!((pipeline.decoder_count(), pipeline.encoder_count()), (0, 0));
    // Bad input: a port of another hub, an unknown port, an operation of another hub kind.
    let other = Hub::create(&pipeline, "dispatcher/other", HubKind::Dispatcher).unwrap();
    let stranger = other.create_port("dispatcher/other/x").unwrap();
    let e = hub.connect(stranger.id(), a.port.id()).unwrap_err();
    assert!(
        e.message.contains("not a port of this hub"),
        "{}",
        e.message
    );
    assert!(hub.connect("nope", a.port.id()).is_err());
    assert!(hub.set_source(a.port.id()).is_err());
    // A leaves: B and C lose their source, and nothing breaks.
    a.port.release();
    hub.connect(c.port.id(), b.port.id()).unwrap();
    assert!(sees(&b, BLUE), "b sees c after a left");
    pipeline.release();
}

#[test]
fn a_one_to_many_dispatcher_reaches_late_viewers_and_switches_presenters() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("one-to-many", log.sink(), loopback_settings()).unwrap();
    let hub = Hub::create(&pipeline, "one-to-many/hub", HubKind::DispatcherOneToMany).unwrap();
    let a = join(&pipeline, &hub, &log, "a", RED);
    let b = join(&pipeline, &hub, &log, "b", GREEN);
    hub.set_source(a.port.id()).unwrap();
    assert!(sees(&b, RED), "b sees the presenter a");
    // A viewer that joins later gets the presenter too.
    let c = join(&pipeline, &hub, &log, "c", BLUE);
    assert!(sees(&c, RED), "the late viewer c sees a");
    // B presents: everyone else switches, starting at a keyframe.
    hub.set_source(b.port.id()).unwrap();
    assert!(sees(&a, GREEN) && sees(&c, GREEN), "a and c see b");
    assert_eq!((pipeline.decoder_count(), pipeline.encoder_count()), (0, 0));
    hub.remove_source().unwrap();
    assert!(hub.connect(a.port.id(), b.port.id()).is_err());
    // A released hub takes its ports along and makes no more.
    hub.release();
    assert!(a.port.is_released() && c.port.is_released());
    assert!(hub.create_port("one-to-many/hub/late").is_err());
    pipeline.release();
}
