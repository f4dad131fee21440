//! The data channel state of a WebRtcEndpoint (`useDataChannels`): its channels, its DATA
//! output, and its DATA input, which queues messages to a thread that sends them in order
//! (never from webrtcbin's callbacks). `data.rs` runs the channels.

use std::sync::atomic::AtomicUsize;
use std::sync::{mpsc, Arc};

use gst_webrtc::WebRTCDataChannel;
use parking_lot::Mutex;

use crate::graph::output::{data_message_kind, Consumer, Output};

/// What a peer may receive when its description does not say (RFC 8841).
pub(super) const DEFAULT_MAX_MESSAGE_SIZE: usize = 65_536;
/// What Rheo announces it takes whole: webrtcbin 1.22 hands larger messages over in 64 KiB
/// pieces, so the limit is said out loud and the browser refuses bigger ones itself.
pub(super) const ANNOUNCED_MAX_MESSAGE_SIZE: usize = 65_536;

pub(super) struct Channel {
    pub id: i32,
    pub label: String,
    pub channel: WebRTCDataChannel,
    pub open_reported: bool,
    pub counters: Arc<Counters>,
}

/// Messages and bytes each way on one channel (getStats' `datachannel` entries).
#[derive(Default)]
pub(super) struct Counters {
    pub messages_sent: std::sync::atomic::AtomicU64,
    pub bytes_sent: std::sync::atomic::AtomicU64,
    pub messages_received: std::sync::atomic::AtomicU64,
    pub bytes_received: std::sync::atomic::AtomicU64,
}

impl Counters {
    pub fn received(&self, bytes: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.messages_received.fetch_add(1, Relaxed);
        self.bytes_received.fetch_add(bytes as u64, Relaxed);
    }

    pub fn sent(&self, bytes: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.messages_sent.fetch_add(1, Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Relaxed);
    }
}

/// The data side of an endpoint with `useDataChannels`.
pub(super) struct DataChannels {
    pub output: Arc<Output>,
    pub input: Arc<DataInput>,
    pub channels: Mutex<Vec<Channel>>,
    /// The remote side's `a=max-message-size`.
    pub remote_max_message: AtomicUsize,
}

impl DataChannels {
    /// `send` sends one message (its bytes, whether binary, its label) on a channel.
    pub fn new(
        output: Arc<Output>,
        send: impl Fn(&[u8], bool, &str) + Send + 'static,
    ) -> DataChannels {
        DataChannels {
            output,
            input: DataInput::start(send),
            channels: Mutex::new(Vec::new()),
            remote_max_message: AtomicUsize::new(DEFAULT_MAX_MESSAGE_SIZE),
        }
    }
}

/// The DATA input: messages queued to a thread that sends them in order.
pub(super) struct DataInput {
    queue: Mutex<Option<mpsc::Sender<(gst::Buffer, gst::Caps)>>>,
}

impl DataInput {
    fn start(send: impl Fn(&[u8], bool, &str) + Send + 'static) -> Arc<DataInput> {
        let (tx, rx) = mpsc::channel::<(gst::Buffer, gst::Caps)>();
        let spawned = std::thread::Builder::new()
            .name("rheo-data-send".into())
            .spawn(move || {
                for (buffer, caps) in rx {
                    let Ok(map) = buffer.map_readable() else {
                        continue;
                    };
                    let (binary, label) = data_message_kind(&caps);
                    send(map.as_slice(), binary, &label);
                }
            });
        Arc::new(DataInput {
            queue: Mutex::new(spawned.ok().map(|_| tx)),
        })
    }

    /// Stops the sending thread (release).
    pub fn stop(&self) {
        self.queue.lock().take();
    }
}

impl Consumer for DataInput {
    fn push(&self, buffer: &gst::Buffer, caps: &gst::CapsRef) {
        if let Some(queue) = &*self.queue.lock() {
            let _ = queue.send((buffer.clone(), caps.to_owned()));
        }
    }
}
