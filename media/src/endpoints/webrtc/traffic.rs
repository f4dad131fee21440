//! Process-wide WebRTC traffic counters: every UDP/TCP datagram webrtcbin's ICE transport
//! receives or sends (RTP, RTCP, DTLS, STUN), counted on its `nicesrc`/`nicesink` pads.

use std::sync::atomic::{AtomicU64, Ordering};

use gst::prelude::*;

static BYTES_RECEIVED: AtomicU64 = AtomicU64::new(0);
static PACKETS_RECEIVED: AtomicU64 = AtomicU64::new(0);
static BYTES_SENT: AtomicU64 = AtomicU64::new(0);
static PACKETS_SENT: AtomicU64 = AtomicU64::new(0);

/// Totals since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficTotals {
    pub bytes_received: u64,
    pub packets_received: u64,
    pub bytes_sent: u64,
    pub packets_sent: u64,
}

pub fn totals() -> TrafficTotals {
    TrafficTotals {
        bytes_received: BYTES_RECEIVED.load(Ordering::Relaxed),
        packets_received: PACKETS_RECEIVED.load(Ordering::Relaxed),
        bytes_sent: BYTES_SENT.load(Ordering::Relaxed),
        packets_sent: PACKETS_SENT.load(Ordering::Relaxed),
    }
}

/// Counts the traffic of the ICE transports `webrtcbin` creates from now on.
pub(crate) fn count_transports_of(webrtcbin: &gst::Element) {
    let Some(bin) = webrtcbin.downcast_ref::<gst::Bin>() else {
        return;
    };
    bin.connect_deep_element_added(|_, _, element| {
        let factory = element.factory().map(|f| f.name());
        match factory.as_deref() {
            Some("nicesrc") => probe(element, "src", &BYTES_RECEIVED, &PACKETS_RECEIVED),
            Some("nicesink") => probe(element, "sink", &BYTES_SENT, &PACKETS_SENT),
            _ => {}
        }
    });
}

fn probe(
    element: &gst::Element,
    pad: &str,
    bytes: &'static AtomicU64,
    packets: &'static AtomicU64,
) {
    let Some(pad) = element.static_pad(pad) else {
        return;
    };
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_, info| {
            match &info.data {
                Some(gst::PadProbeData::Buffer(b)) => {
                    bytes.fetch_add(b.size() as u64, Ordering::Relaxed);
                    packets.fetch_add(1, Ordering::Relaxed);
                }
                Some(gst::PadProbeData::BufferList(list)) => {
                    let size: usize = list.iter().map(|b| b.size()).sum();
                    bytes.fetch_add(size as u64, Ordering::Relaxed);
                    packets.fetch_add(list.len() as u64, Ordering::Relaxed);
                }
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    );
}
