//! What one client may hold: pipelines (in all and per session), elements per pipeline and
//! sessions per connection. Connections per address are counted by the transport. The defaults
//! let one application server, on one connection and one session, use the whole server.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::protocol::KurentoError;

/// The limits (settings `max_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// MediaPipelines on the server.
    pub max_pipelines: usize,
    /// MediaPipelines one session holds.
    pub max_pipelines_per_session: usize,
    /// Elements and hubs (with their ports) in one pipeline.
    pub max_elements_per_pipeline: usize,
    /// Sessions one connection is bound to at once.
    pub max_sessions_per_connection: usize,
    /// WebSocket connections from one IP address.
    pub max_connections_per_ip: usize,
    /// Requests from one IP address handled at once, over all its connections (each holds a
    /// thread of the blocking pool while it runs); later ones wait their turn.
    pub max_requests_in_flight_per_ip: usize,
    /// File descriptors kept free: new media work is refused when fewer are left.
    pub fd_reserve: usize,
    /// Threads running requests (media calls block) at most, server-wide; later requests wait.
    pub max_blocking_threads: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            max_pipelines: 1000,
            max_pipelines_per_session: 1000,
            max_elements_per_pipeline: 1000,
            max_sessions_per_connection: 100,
            max_connections_per_ip: 200,
            max_requests_in_flight_per_ip: 64,
            fd_reserve: 128,
            max_blocking_threads: 512,
        }
    }
}

/// Which quota refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quota {
    Pipelines,
    PipelinesPerSession,
    ElementsPerPipeline,
    SessionsPerConnection,
    ConnectionsPerIp,
}

impl Quota {
    pub const ALL: [Quota; 5] = [
        Quota::Pipelines,
        Quota::PipelinesPerSession,
        Quota::ElementsPerPipeline,
        Quota::SessionsPerConnection,
        Quota::ConnectionsPerIp,
    ];

    /// The setting's name, also the metric label.
    pub fn setting(self) -> &'static str {
        match self {
            Quota::Pipelines => "max_pipelines",
            Quota::PipelinesPerSession => "max_pipelines_per_session",
            Quota::ElementsPerPipeline => "max_elements_per_pipeline",
            Quota::SessionsPerConnection => "max_sessions_per_connection",
            Quota::ConnectionsPerIp => "max_connections_per_ip",
        }
    }

    pub fn limit(self, quotas: &Quotas) -> usize {
        match self {
            Quota::Pipelines => quotas.max_pipelines,
            Quota::PipelinesPerSession => quotas.max_pipelines_per_session,
            Quota::ElementsPerPipeline => quotas.max_elements_per_pipeline,
            Quota::SessionsPerConnection => quotas.max_sessions_per_connection,
            Quota::ConnectionsPerIp => quotas.max_connections_per_ip,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Quota::Pipelines => "MediaPipelines on the server",
            Quota::PipelinesPerSession => "MediaPipelines in one session",
            Quota::ElementsPerPipeline => "elements in one MediaPipeline",
            Quota::SessionsPerConnection => "sessions on one connection",
            Quota::ConnectionsPerIp => "connections from one address",
        }
    }
}

/// Refusals counted per quota, for `/metrics`.
#[derive(Default)]
pub struct Refusals([AtomicU64; 5]);

impl Refusals {
    pub fn count(&self, quota: Quota) -> u64 {
        self.0[quota as usize].load(Ordering::Relaxed)
    }

    /// Counts a refusal and returns the error the client gets.
    pub fn refuse(&self, quota: Quota, quotas: &Quotas) -> KurentoError {
        self.0[quota as usize].fetch_add(1, Ordering::Relaxed);
        KurentoError::not_enough_resources(format!(
            "limit reached: at most {} {} (setting {})",
            quota.limit(quotas),
            quota.what(),
            quota.setting()
        ))
    }
}
