//! Data channels of a WebRtcEndpoint (`useDataChannels`): the channels the browser opens and
//! those `createDataChannel` opens. Their messages leave through the endpoint's DATA output,
//! and what its DATA input receives is sent on the channel of the same label (else the first
//! open one), in order, from a thread of its own (never from webrtcbin's callbacks).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use gst::prelude::*;
use gst_webrtc::{WebRTCDataChannel, WebRTCDataChannelState};

use super::channels::{
    Channel, Counters, DataChannels, ANNOUNCED_MAX_MESSAGE_SIZE, DEFAULT_MAX_MESSAGE_SIZE,
};
use super::endpoint::WrtcInner;
use crate::api_contract::*;
use crate::graph::output::data_message_caps;
use crate::{err, ErrorKind};

impl WrtcInner {
    fn data(&self) -> Option<&DataChannels> {
        self.data.as_ref()
    }

    /// A channel the browser opened, or one Rheo created: its messages go to the DATA output.
    pub(super) fn adopt_channel(self: &Arc<Self>, channel: WebRTCDataChannel) {
        let Some(data) = self.data() else { return };
        let id = channel.property::<i32>("id");
        let label = channel
            .property::<Option<String>>("label")
            .unwrap_or_default();
        let counters = Arc::new(Counters::default());
        let output = Arc::downgrade(&data.output);
        let text_label = label.clone();
        let counted = counters.clone();
        channel.connect_on_message_string(move |_, text| {
            counted.received(text.map_or(0, str::len));
            // An empty message (WebRTC's "string empty") arrives as None: it is a message too.
            if let Some(output) = output.upgrade() {
                let buffer = gst::Buffer::from_slice(text.unwrap_or_default().as_bytes().to_vec());
                output.push(&buffer, &data_message_caps(false, &text_label));
            }
        });
        let output = Arc::downgrade(&data.output);
        let binary_label = label.clone();
        let counted = counters.clone();
        channel.connect_on_message_data(move |_, bytes| {
            counted.received(bytes.map_or(0, |b| b.len()));
            if let Some(output) = output.upgrade() {
                let buffer = gst::Buffer::from_slice(bytes.map_or_else(Vec::new, |b| b.to_vec()));
                output.push(&buffer, &data_message_caps(true, &binary_label));
            }
        });
        let weak = Arc::downgrade(self);
        channel.connect_on_open(move |c| {
            if let Some(inner) = weak.upgrade() {
                inner.report_open(c.property::<i32>("id"));
            }
        });
        let weak = Arc::downgrade(self);
        channel.connect_on_close(move |c| {
            if let Some(inner) = weak.upgrade() {
                inner.report_closed(c.property::<i32>("id"));
            }
        });
        let open = channel.ready_state() == WebRTCDataChannelState::Open;
        data.channels.lock().push(Channel {
            id,
            label,
            channel,
            open_reported: false,
            counters,
        });
        // webrtcbin 1.22 may open a channel before a handler is connected (F8).
        if open {
            self.report_open(id);
        }
    }

    fn report_open(&self, id: i32) {
        let Some(data) = self.data() else { return };
        let first = {
            let mut channels = data.channels.lock();
            match channels.iter_mut().find(|c| c.id == id || c.id < 0) {
                Some(c) if !c.open_reported => {
                    c.open_reported = true;
                    c.id = c.channel.property::<i32>("id");
                    true
                }
                _ => false,
            }
        };
        if first {
            self.emit(MediaEvent::DataChannelOpened { channel_id: id });
        }
    }

    fn report_closed(&self, id: i32) {
        let Some(data) = self.data() else { return };
        let removed = {
            let mut channels = data.channels.lock();
            let before = channels.len();
            channels.retain(|c| c.id != id);
            channels.len() != before
        };
        if removed {
            self.emit(MediaEvent::DataChannelClosed { channel_id: id });
        }
    }

    /// Kurento createDataChannel: a channel opened from Rheo's side (`DataChannelOpened`
    /// tells its id).
    pub(super) fn create_data_channel(
        self: &Arc<Self>,
        label: &str,
        options: gst::Structure,
    ) -> crate::Result<()> {
        if self.data().is_none() {
            return Err(err(
                ErrorKind::InvalidArgument,
                "this WebRtcEndpoint was created without useDataChannels",
            ));
        }
        let channel = self
            .webrtcbin
            .emit_by_name::<Option<WebRTCDataChannel>>("create-data-channel", &[&label, &options])
            .ok_or_else(|| {
                err(
                    ErrorKind::InvalidArgument,
                    "the data channel cannot be created (is the session negotiated with data \
                     channels?)",
                )
            })?;
        self.adopt_channel(channel);
        Ok(())
    }

    /// Kurento closeDataChannel.
    pub(super) fn close_data_channel(&self, id: i32) -> crate::Result<()> {
        let channel = self
            .data()
            .and_then(|d| {
                d.channels
                    .lock()
                    .iter()
                    .find(|c| c.id == id)
                    .map(|c| c.channel.clone())
            })
            .ok_or_else(|| err(ErrorKind::InvalidArgument, format!("no data channel {id}")))?;
        channel.close();
        Ok(())
    }

    /// Sends one message from the DATA input (on the input's thread).
    pub(super) fn send_message(&self, bytes: &[u8], binary: bool, label: &str) {
        let Some(data) = self.data() else { return };
        let max = data.remote_max_message.load(Ordering::Relaxed);
        if bytes.len() > max {
            self.emit(MediaEvent::Error {
                description: format!(
                    "a {}-byte data channel message is larger than the peer takes ({max} bytes); \
                     it was not sent",
                    bytes.len()
                ),
                code: 0,
                kind: "DATA_CHANNEL_MESSAGE_TOO_LARGE".into(),
            });
            return;
        }
        let channel = {
            let channels = data.channels.lock();
            let open = |c: &&Channel| c.channel.ready_state() == WebRTCDataChannelState::Open;
            channels
                .iter()
                .filter(open)
                .find(|c| c.label == label)
                .or_else(|| channels.iter().find(open))
                .map(|c| (c.channel.clone(), c.counters.clone()))
        };
        let Some((channel, counters)) = channel else {
            return;
        };
        counters.sent(bytes.len());
        let sent = if binary {
            channel.send_data_full(Some(&gst::glib::Bytes::from(bytes)))
        } else {
            channel.send_string_full(Some(&String::from_utf8_lossy(bytes)))
        };
        if let Err(e) = sent {
            self.emit(MediaEvent::Error {
                description: format!("a data channel message could not be sent: {e}"),
                code: 0,
                kind: "DATA_CHANNEL_ERROR".into(),
            });
        }
    }
}

/// The `a=max-message-size` of a description's data m-line (RFC 8841's default without it).
pub(super) fn max_message_size(msg: &gst_sdp::SDPMessageRef) -> usize {
    msg.medias()
        .find(|m| m.media() == Some("application"))
        .and_then(|m| m.attribute_val("max-message-size"))
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(DEFAULT_MAX_MESSAGE_SIZE)
}

/// The answer with `a=max-message-size` on its data m-line: webrtcbin 1.22 leaves it out (F9),
/// and peers that default to more would send messages Rheo receives in pieces.
pub(super) fn announce_max_message_size(
    answer: &gst_webrtc::WebRTCSessionDescription,
) -> gst_webrtc::WebRTCSessionDescription {
    let mut sdp = answer.sdp().to_owned();
    for index in 0..sdp.medias_len() {
        let Some(m) = sdp.media_mut(index) else {
            continue;
        };
        if m.media() == Some("application") && m.attribute_val("max-message-size").is_none() {
            m.add_attribute(
                "max-message-size",
                Some(&ANNOUNCED_MAX_MESSAGE_SIZE.to_string()),
            );
        }
    }
    gst_webrtc::WebRTCSessionDescription::new(answer.type_(), sdp)
}

impl WrtcInner {
    /// getStats' `datachannel` entries: one per channel.
    pub(super) fn data_channel_stats(&self) -> Vec<DataChannelStats> {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(data) = self.data() else {
            return Vec::new();
        };
        data.channels
            .lock()
            .iter()
            .map(|c| DataChannelStats {
                id: c.id,
                label: c.label.clone(),
                protocol: c
                    .channel
                    .property::<Option<String>>("protocol")
                    .unwrap_or_default(),
                state: match c.channel.ready_state() {
                    WebRTCDataChannelState::Connecting => "connecting",
                    WebRTCDataChannelState::Open => "open",
                    WebRTCDataChannelState::Closing => "closing",
                    _ => "closed",
                },
                messages_sent: c.counters.messages_sent.load(Relaxed),
                bytes_sent: c.counters.bytes_sent.load(Relaxed),
                messages_received: c.counters.messages_received.load(Relaxed),
                bytes_received: c.counters.bytes_received.load(Relaxed),
            })
            .collect()
    }
}
