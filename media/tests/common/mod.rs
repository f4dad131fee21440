//! Shared test helpers: an event log, an ICE candidate pump between a [`peer::TestPeer`] and a
//! [`rheo_media::WebRtcEndpoint`], and the negotiation sequence the tutorials use.
#![allow(dead_code, unused_imports)]

pub mod media_file;
pub mod peer;
pub mod sample_files;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rheo_media::{Element, ElementEvent, EventSink, MediaEvent};

pub use peer::{PeerConfig, TestPeer};
pub use sample_files::{make_file, sample};

pub const MESSI: &str = "/usr/share/doc/opencv-doc/examples/data/messi5.jpg";

#[derive(Default)]
pub struct EventLog {
    events: Mutex<Vec<ElementEvent>>,
    cv: Condvar,
}

impl EventLog {
    pub fn new() -> Arc<EventLog> {
        Arc::new(EventLog::default())
    }
    pub fn sink(self: &Arc<Self>) -> EventSink {
        let me = self.clone();
        Arc::new(move |e: ElementEvent| {
            me.events.lock().unwrap().push(e);
            me.cv.notify_all();
        })
    }
    pub fn snapshot(&self) -> Vec<ElementEvent> {
        self.events.lock().unwrap().clone()
    }
    pub fn len(&self) -> usize {
        self.events.lock().unwrap().len()
    }
    /// Waits until some event satisfies `pred`.
    pub fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&ElementEvent) -> bool,
    ) -> Option<ElementEvent> {
        let deadline = Instant::now() + timeout;
        let mut ev = self.events.lock().unwrap();
        loop {
            if let Some(e) = ev.iter().find(|e| pred(e)) {
                return Some(e.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            ev = self.cv.wait_timeout(ev, deadline - now).unwrap().0;
        }
    }
    /// Waits for a change of the log (bounded).
    fn wait_change(&self, seen: usize, timeout: Duration) {
        let ev = self.events.lock().unwrap();
        if ev.len() == seen {
            let _ = self.cv.wait_timeout(ev, timeout).unwrap();
        }
    }
}

/// Moves trickle candidates both ways until stopped.
pub struct Pump {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Pump {
    pub fn start(peer: Arc<TestPeer>, endpoint: Element, log: Arc<EventLog>) -> Pump {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut cursor = 0;
            let ep = endpoint.webrtc().expect("webrtc endpoint");
            while !stop2.load(Ordering::SeqCst) {
                for (mline, cand) in peer.take_local_candidates() {
                    let _ = ep.add_ice_candidate(&cand, "", mline);
                }
                let events = log.snapshot();
                for e in &events[cursor..] {
                    if e.element == endpoint.id() {
                        if let MediaEvent::IceCandidateFound {
                            candidate,
                            sdp_mline_index,
                            ..
                        } = &e.event
                        {
                            peer.add_remote_candidate(*sdp_mline_index, candidate);
                        }
                    }
                }
                cursor = events.len();
                // Bounded wait for either side to produce something new.
                log.wait_change(cursor, Duration::from_millis(20));
            }
        });
        Pump {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Offer from the peer → processOffer → answer to the peer → gatherCandidates, plus a candidate
/// pump. Returns the pump (drop it to stop) and the time process_offer was called.
pub fn negotiate(peer: &Arc<TestPeer>, endpoint: &Element, log: &Arc<EventLog>) -> (Pump, Instant) {
    let offer = peer.create_offer().expect("peer offer");
    let ep = endpoint.webrtc().expect("webrtc");
    let t0 = Instant::now();
    let answer = ep.process_offer(&offer).expect("process_offer");
    if std::env::var("RHEO_DEBUG_SDP").is_ok() {
        eprintln!("OFFER:\n{offer}\nANSWER:\n{answer}");
    }
    peer.set_answer(&answer).expect("peer set answer");
    ep.gather_candidates().expect("gather");
    (Pump::start(peer.clone(), endpoint.clone(), log.clone()), t0)
}

pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Polls `f` until it holds or `timeout` passes (for conditions nobody notifies, such as a
/// kernel thread exiting or RTCP-based counters).
pub fn wait_until(timeout: Duration, f: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

/// Settings of the pipelines under test: ICE on loopback only, like the test peer.
pub fn loopback_settings() -> rheo_media::WebRtcSettings {
    rheo_media::WebRtcSettings {
        local_addresses: vec![[127, 0, 0, 1].into()],
        ..Default::default()
    }
}
