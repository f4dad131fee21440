//! Rheo: a Kurento-protocol media server. The binary is a thin wrapper around [`transport::serve`].

pub mod config;
pub mod control;
pub mod objects;
pub mod protocol;
pub mod transport;

use std::net::SocketAddr;
use std::sync::Arc;

/// Starts Rheo on the current tokio runtime (GStreamer must be initialised with
/// `rheo_pipelines::init`). Returns the bound address and the control plane.
pub async fn spawn_server(
    config: &config::Config,
) -> std::io::Result<(SocketAddr, Arc<control::Core>)> {
    let listener = tokio::net::TcpListener::bind((config.bind, config.port)).await?;
    let addr = listener.local_addr()?;
    let core = control::Core::new(config.settings());
    core.spawn_garbage_collector(config.gc_period());
    let site = transport::Site {
        web_dir: config.web_dir(),
    };
    tokio::spawn(transport::serve(listener, core.clone(), site));
    Ok((addr, core))
}
