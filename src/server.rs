//! Rheo as a program: the configuration (flags, environment, TOML file), logging, the filters
//! to serve beside the built-in ones, GStreamer, the listeners, and a graceful shutdown on
//! SIGTERM or Ctrl+C. Rheo's own `main` is this with the filter SDK tutorial's example filter;
//! a researcher's `main` adds their filters the same way, without editing Rheo:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     rheo::Server::new()
//!         .filter::<gstrheoedgeoutline::EdgeOutlineFilter>()
//!         .run()
//! }
//! ```

use std::process::ExitCode;

use rheo_filter_sdk::registry::{self, Registration};
use rheo_filter_sdk::VideoFilter;
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// Longest a graceful shutdown may take before the process exits anyway.
const SHUTDOWN_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The program, with the filters it serves beside the built-in ones.
#[derive(Default)]
pub struct Server {
    filters: Vec<Registration>,
}

impl Server {
    pub fn new() -> Server {
        Server::default()
    }

    /// Serves the filter `F` of the filter SDK: a Kurento class clients create, and a GStreamer
    /// element.
    pub fn filter<F: VideoFilter>(mut self) -> Server {
        self.filters.push(Registration::of::<F>());
        self
    }

    /// Reads the configuration, serves until SIGTERM or Ctrl+C, then releases every pipeline.
    /// Returns the process's exit code: 2 for an invalid configuration, 1 when it cannot start.
    pub fn run(self) -> ExitCode {
        run(self.filters)
    }
}

fn run(filters: Vec<Registration>) -> ExitCode {
    let mut config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            // Logging is configured by the configuration, so this one goes to stderr directly.
            eprintln!("rheo: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    if config.external_ipv4_auto {
        match config.discover_external_ipv4() {
            Ok(Some(ip)) => info!("KMS_EXTERNAL_IPV4=auto: the STUN server sees this host as {ip}"),
            Ok(None) => {}
            Err(e) => {
                warn!("KMS_EXTERNAL_IPV4=auto: {e}; host candidates keep the local addresses")
            }
        }
    }
    // GLib aborts the process when it runs out of descriptors: take all the system allows.
    let reserve = config.quotas.fd_reserve as u64;
    match crate::control::capacity::raise_fd_limit() {
        Ok((before, after)) => info!(
            limit = after,
            raised_from = before,
            "file descriptors: room for about {} loopback WebRTC sessions (fd_reserve {reserve} kept free)",
            crate::control::capacity::sessions_for(after, reserve)
        ),
        Err(e) => warn!("cannot read or raise the open-file limit: {e}"),
    }
    // The built-ins first: a researcher's filter may not take their names.
    rheo_filters::add_builtin_filters();
    for filter in filters {
        if let Err(e) = registry::add(filter) {
            error!("filter registration failed: {e}");
            return ExitCode::from(1);
        }
    }
    if let Err(e) = rheo_media::init() {
        error!("GStreamer initialisation failed: {}", e.message);
        return ExitCode::from(1);
    }
    prepare_sample_video(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(config.quotas.max_blocking_threads)
        .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let server = match crate::start(&config).await {
            Ok(server) => server,
            Err(e) => {
                error!("cannot start: {e}");
                return ExitCode::from(1);
            }
        };
        let port = server.addr.port();
        info!(web = %config.web_dir().display(), "Rheo on ws://{}/kurento, demos at http://localhost:{port}/", server.addr);
        if let Some(secure) = server.secure_addr {
            info!("TLS on wss://{secure}/kurento, demos at https://localhost:{}/", secure.port());
        }
        log_network_settings(&config);
        shutdown_signal().await;
        info!("shutting down: no new connections; releasing pipelines");
        // Bounded, so a stuck pipeline cannot keep a container from stopping; a second signal
        // ends it at once.
        tokio::select! {
            released = tokio::time::timeout(SHUTDOWN_LIMIT, server.shut_down()) => match released {
                Ok(released) => {
                    info!(pipelines = released, "shut down cleanly");
                    ExitCode::SUCCESS
                }
                Err(_) => {
                    error!("pipelines not released within {SHUTDOWN_LIMIT:?}; exiting anyway");
                    ExitCode::from(1)
                }
            },
            _ = shutdown_signal() => {
                warn!("second signal: exiting without finishing the release");
                ExitCode::from(130)
            }
        }
    })
}

/// Generates the demos' sample videos (the player's, the send-data demo's QR clip) in the media
/// root on first start, off the startup path (they take a few seconds of CPU).
fn prepare_sample_video(config: &Config) {
    let root = config.media_folder().to_path_buf();
    let spawned = std::thread::Builder::new()
        .name("sample-video".into())
        .spawn(move || {
            for ensure in [
                rheo_media::ensure_sample_video,
                rheo_media::ensure_qr_sample_video,
            ] {
                match ensure(&root) {
                    Ok(path) => info!(path = %path.display(), "demo sample video ready"),
                    Err(e) => warn!("cannot write a demo's sample video: {}", e.message),
                }
            }
        });
    if let Err(e) = spawned {
        warn!("cannot start the sample video thread: {e}");
    }
}

/// Text (the default, ANSI colours only on a terminal) or JSON lines on stderr. RUST_LOG wins
/// over the configured filter; GStreamer's own debug output stays under GST_DEBUG.
fn init_logging(config: &Config) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log_level))
        .unwrap_or_else(|e| {
            eprintln!(
                "rheo: RHEO_LOG '{}' is not a valid filter ({e}); using info",
                config.log_level
            );
            EnvFilter::new("info")
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => {
            use std::io::IsTerminal;
            builder.with_ansi(std::io::stderr().is_terminal()).init()
        }
    }
}

/// The milestones KMS users grep for: which STUN/TURN servers and addresses are in use.
fn log_network_settings(config: &Config) {
    match (&config.stun_address, config.stun_port) {
        (Some(a), Some(p)) => info!("Using STUN server {a}:{p}"),
        _ => info!("No STUN server configured (KMS_STUN_IP/KMS_STUN_PORT)"),
    }
    match &config.turn_url {
        Some(url) => {
            let host = url.rsplit('@').next().unwrap_or("");
            info!("TURN server info set: {host}");
        }
        None => info!("No TURN relay configured for Rheo itself (KMS_TURN_URL)"),
    }
    if config.turn.is_some() {
        info!("TURN REST credentials served at /turn-credentials");
    }
    if let Some(ip) = config.external_ipv4 {
        info!("Announcing external IPv4 {ip} in host candidates");
    }
    if let Some(ip) = config.external_ipv6 {
        info!("Announcing external IPv6 {ip} in host candidates");
    }
    if let (Some(min), Some(max)) = (config.min_port, config.max_port) {
        info!("ICE UDP ports {min}-{max}");
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return ctrl_c.await.unwrap_or(()),
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
