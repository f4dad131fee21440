//! The one teardown function used everywhere: unlink, set_state(Null), release request pads,
//! remove from the parent bin.

use gst::prelude::*;

/// Stops `element` and removes it from `parent`. Call from a non-streaming thread.
pub fn remove_from(parent: &gst::Bin, element: &gst::Element) {
    // Unlink from anything outside (peers in other bins) so no buffer travels while stopping.
    for pad in element.pads() {
        if let Some(peer) = pad.peer() {
            if pad.direction() == gst::PadDirection::Src {
                let _ = pad.unlink(&peer);
            } else {
                let _ = peer.unlink(&pad);
            }
        }
    }
    let _ = element.set_locked_state(true);
    let _ = element.set_state(gst::State::Null);
    release_request_pads(element);
    if element.parent().as_ref() == Some(parent.upcast_ref()) {
        let _ = parent.remove(element);
    }
}

/// Releases request pads of `element` and, if it is one of our bins, of its direct children
/// (e.g. webrtcbin's sink_%u). Third-party bins manage their own internals.
pub fn release_request_pads(element: &gst::Element) {
    if let Some(bin) = element.downcast_ref::<gst::Bin>() {
        if bin.type_() == gst::Bin::static_type() {
            for child in bin.children() {
                release_own_request_pads(&child);
            }
        }
    }
    release_own_request_pads(element);
}

fn release_own_request_pads(element: &gst::Element) {
    let request: Vec<gst::Pad> = element
        .pads()
        .into_iter()
        .filter(|p| {
            p.pad_template()
                .map(|t| t.presence() == gst::PadPresence::Request)
                .unwrap_or(false)
        })
        .collect();
    for p in request {
        element.release_request_pad(&p);
    }
}
