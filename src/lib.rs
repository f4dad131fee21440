//! Rheo: a Kurento-protocol media server. The binary is a thin wrapper around [`start`].

pub mod config;
pub mod control;
pub mod metrics;
pub mod objects;
pub mod process_stats;
pub mod protocol;
pub mod public_address;
mod server;
pub mod transport;
pub mod turn_rest;
pub mod whip;

pub use server::Server;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

/// A running server: its listeners, control plane and shutdown switch.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// The TLS listener's address, when TLS is configured.
    pub secure_addr: Option<SocketAddr>,
    pub core: Arc<control::Core>,
    site: Arc<transport::Site>,
    shutdown: watch::Sender<bool>,
    listeners: Vec<JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    /// Stops accepting connections, closes open WebSockets (1001 "Server shutting down") and
    /// releases every pipeline. Returns how many pipelines were released.
    pub async fn shut_down(self) -> usize {
        self.site.health.set_shutting_down();
        let _ = self.shutdown.send(true);
        for listener in self.listeners {
            let _ = listener.await;
        }
        let (_, objects) = self.core.snapshot();
        let pipelines = objects
            .iter()
            .filter(|o| o.media_pipeline().is_some())
            .count();
        self.core.release_all().await;
        pipelines
    }
}

/// Starts Rheo on the current tokio runtime (GStreamer must be initialised with
/// `rheo_media::init`). Errors name the address or setting at fault.
pub async fn start(config: &config::Config) -> Result<RunningServer, String> {
    configure_filters(config);
    log_srtp_library();
    let tls = transport::tls::setup(config)?;
    let bind = |port: u16| async move {
        tokio::net::TcpListener::bind((config.bind, port))
            .await
            .map_err(|e| format!("cannot listen on {}:{port}: {e}", config.bind))
    };
    let plain = bind(config.port).await?;
    let secure = match &tls {
        Some(_) => Some(bind(config.secure_port).await?),
        None => None,
    };
    let addr = plain.local_addr().map_err(|e| e.to_string())?;
    let secure_addr = secure.as_ref().and_then(|l| l.local_addr().ok());
    rheo_media::set_sdp_limits(config.sdp_limits);
    let mut settings = config.settings();
    settings.http_base_url = config.http_base_url(addr.port());
    if let Some(site) = settings.image_limits.own_site.as_mut() {
        site.ports = [Some(addr.port()), secure_addr.map(|a| a.port())]
            .into_iter()
            .flatten()
            .collect();
    }
    if let Some(cert) = tls.as_ref().and_then(|t| t.self_signed.as_ref()) {
        // Pages served over TLS name images by their https:// URL on this very server.
        settings
            .image_limits
            .extra_trusted_certificates
            .push(cert.to_vec());
    }
    let core = control::Core::with_quotas(settings, config.quotas);
    core.set_session_isolation(config.session_isolation);
    core.spawn_garbage_collector(config.gc_period());
    let site = Arc::new(transport::Site {
        web_dir: config.web_dir(),
        access_token: config.access_token.clone(),
        turn: config.turn.clone(),
        health: transport::Health::default(),
        signaling: config
            .demo_signaling
            .then(transport::signaling::Relay::default),
        ws_limits: config.ws_limits,
        server_closes: Default::default(),
        origins: transport::OriginPolicy::new(&config.allowed_origins)?,
        stun: config
            .stun_address
            .as_ref()
            .map(|host| format!("{host}:{}", config.stun_port.unwrap_or(3478))),
        whip: match config.whip {
            true => Some(whip::Gateway::start(core.clone(), config.whip_settings()).await?),
            false => None,
        },
    });
    if config.access_token.is_some() {
        info!("clients must present the access token");
    }
    let (shutdown, stop) = watch::channel(false);
    let mut listeners = vec![tokio::spawn(transport::serve(
        plain,
        core.clone(),
        site.clone(),
        None,
        stop.clone(),
    ))];
    if let Some(secure) = secure {
        listeners.push(tokio::spawn(transport::serve(
            secure,
            core.clone(),
            site.clone(),
            tls.map(|t| t.acceptor),
            stop,
        )));
    }
    site.health.set_serving(true);
    Ok(RunningServer {
        addr,
        secure_addr,
        core,
        site,
        shutdown,
        listeners,
    })
}

/// [`start`], for callers that keep the server until the process ends (tests).
pub async fn spawn_server(
    config: &config::Config,
) -> std::io::Result<(SocketAddr, Arc<control::Core>)> {
    let server = start(config).await.map_err(std::io::Error::other)?;
    Ok((server.addr, server.core.clone()))
}

/// Says which libsrtp the media's SRTP runs on.
fn log_srtp_library() {
    let srtp = rheo_media::srtp_library();
    if srtp.in_front {
        tracing::info!(library = %srtp.version, "SRTP with OpenSSL's AES");
    } else {
        tracing::warn!(
            library = %srtp.version,
            "SRTP falls back to the system's libsrtp2: this program does not export the OpenSSL build's srtp_* symbols"
        );
    }
}

/// Hands the filters their settings (process-wide: the face detector, the Python filters) and
/// says what they are in the log.
fn configure_filters(config: &config::Config) {
    let (detector, fallback) = config.face_detection.effective();
    match fallback {
        Some(why) => tracing::warn!("{why}"),
        None => tracing::info!(
            detector = detector.name(),
            "face detection for FaceOverlayFilter and the face metadata filters"
        ),
    }
    rheo_filters::face_detection::configure(config.face_detection.clone());
    let python = &config.python;
    tracing::info!(
        folder = %python.filters_dir.display(),
        interpreter = %python.interpreter.display(),
        "Python filters: {}",
        match python.modules() {
            m if m.is_empty() => "none".to_owned(),
            m => m.join(", "),
        }
    );
    rheo_filters::python::configure(python.clone());
}
