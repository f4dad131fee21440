//! One thread for every pipeline's bus messages and the media-flow timer, instead of one per
//! pipeline. Each pipeline's bus hands its messages over in the posting thread (a sync
//! handler that only queues them), and this thread handles them in order, off the streaming
//! threads: handlers may read webrtcbin properties, whose lock the posting thread may hold.

use std::sync::mpsc;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

/// How often the media-flow state is checked (MediaFlowIn/Out "not flowing").
const TICK: Duration = Duration::from_millis(500);

/// What the bus thread calls back.
pub(crate) trait BusClient: Send + Sync {
    /// One message from the client's bus.
    fn on_message(&self, msg: &gst::Message);
    /// The periodic check.
    fn tick(&self);
    /// Released clients get no more calls.
    fn is_released(&self) -> bool;
}

enum Job {
    Watch(Weak<dyn BusClient>),
    Message(Weak<dyn BusClient>, gst::Message),
}

fn dispatcher() -> &'static mpsc::Sender<Job> {
    static SENDER: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    SENDER.get_or_init(|| {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("rheo-bus".into())
            .spawn(move || run(rx))
            .expect("the bus thread starts");
        tx
    })
}

/// Routes `bus`'s messages to `client` on the bus thread, and ticks it, until it is released
/// (or gone). Undo with [`unwatch`].
pub(crate) fn watch(bus: &gst::Bus, client: Weak<dyn BusClient>) {
    let tx = dispatcher().clone();
    let _ = tx.send(Job::Watch(client.clone()));
    bus.set_sync_handler(move |_, msg| {
        let _ = tx.send(Job::Message(client.clone(), msg.clone()));
        gst::BusSyncReply::Drop
    });
}

/// Stops routing `bus`'s messages; those already queued are skipped once the client says it
/// is released.
pub(crate) fn unwatch(bus: &gst::Bus) {
    bus.unset_sync_handler();
}

fn run(jobs: mpsc::Receiver<Job>) {
    let mut watched: Vec<Weak<dyn BusClient>> = Vec::new();
    let mut next_tick = Instant::now() + TICK;
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        match jobs.recv_timeout(wait) {
            Ok(Job::Watch(client)) => watched.push(client),
            Ok(Job::Message(client, msg)) => {
                if let Some(client) = live(&client) {
                    client.on_message(&msg);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        // Also when messages never stop coming.
        if Instant::now() >= next_tick {
            watched.retain(|client| match client.upgrade() {
                Some(client) if client.is_released() => false,
                Some(client) => {
                    client.tick();
                    true
                }
                None => false,
            });
            next_tick = Instant::now() + TICK;
        }
    }
}

fn live(client: &Weak<dyn BusClient>) -> Option<Arc<dyn BusClient>> {
    client.upgrade().filter(|c| !c.is_released())
}
