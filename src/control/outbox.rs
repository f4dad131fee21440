//! A connection's outgoing frames, bounded in bytes: a client that does not read its replies
//! and events is cut off, instead of the server buffering them without limit.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};

/// The sending side, shared by the request handler and event delivery.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<String>,
    shared: Arc<Shared>,
}

/// The transport's side: frames to write, and the overflow signal.
pub struct OutboxReceiver {
    rx: mpsc::UnboundedReceiver<String>,
    shared: Arc<Shared>,
}

struct Shared {
    queued_bytes: AtomicUsize,
    limit: usize,
    overflowed: AtomicBool,
    overflow: Notify,
}

impl Outbox {
    /// An outbox holding at most `limit` bytes not yet written.
    pub fn new(limit: usize) -> (Outbox, OutboxReceiver) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queued_bytes: AtomicUsize::new(0),
            limit,
            overflowed: AtomicBool::new(false),
            overflow: Notify::new(),
        });
        (
            Outbox {
                tx,
                shared: shared.clone(),
            },
            OutboxReceiver { rx, shared },
        )
    }

    /// Queues `frame`; false when the connection is gone or over its limit (the frame is
    /// dropped and the transport closes the connection).
    pub fn send(&self, frame: String) -> bool {
        let shared = &self.shared;
        if shared.overflowed.load(Ordering::Acquire) {
            return false;
        }
        let len = frame.len();
        let before = shared.queued_bytes.fetch_add(len, Ordering::AcqRel);
        if before + len > shared.limit {
            shared.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            shared.overflowed.store(true, Ordering::Release);
            shared.overflow.notify_one();
            return false;
        }
        if self.tx.send(frame).is_err() {
            shared.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            return false;
        }
        true
    }
}

impl OutboxReceiver {
    /// The next frame to write; its bytes stop counting once it is handed out.
    pub async fn recv(&mut self) -> Option<String> {
        let frame = self.rx.recv().await?;
        self.shared
            .queued_bytes
            .fetch_sub(frame.len(), Ordering::AcqRel);
        Some(frame)
    }

    /// A handle that resolves when the limit is exceeded.
    pub fn overflow_signal(&self) -> OverflowSignal {
        OverflowSignal(self.shared.clone())
    }
}

/// Resolves once the outbox overflowed.
pub struct OverflowSignal(Arc<Shared>);

impl OverflowSignal {
    pub fn is_set(&self) -> bool {
        self.0.overflowed.load(Ordering::Acquire)
    }

    pub async fn overflowed(&self) {
        loop {
            let notified = self.0.overflow.notified();
            if self.0.overflowed.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_beyond_the_limit_overflow_until_the_connection_ends() {
        let (outbox, mut rx) = Outbox::new(10);
        assert!(outbox.send("12345".into()));
        assert!(outbox.send("67890".into()));
        assert_eq!(rx.recv().await.as_deref(), Some("12345"));
        assert!(outbox.send("abcde".into()), "written bytes no longer count");
        assert!(!outbox.send("x".into()));
        rx.overflow_signal().overflowed().await;
        assert!(!outbox.send("".into()), "an overflowed outbox stays closed");
    }
}
