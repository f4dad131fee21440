//! Configuration: built-in defaults, then an optional TOML file, then environment variables
//! (Kurento's `KMS_*` names where they mean the same), then command-line flags; each layer
//! overrides the one before. Invalid values stop start-up with a message naming the setting.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{CommandFactory, FromArgMatches, Parser};
use serde::Deserialize;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Kurento's tutorials record to file:///tmp/….
const DEFAULT_MEDIA_ROOT: &str = "/tmp";

/// `media_root` in TOML: one path or a list.
fn one_or_many_paths<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<PathBuf>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(Some(match OneOrMany::deserialize(d)? {
        OneOrMany::One(p) => vec![p],
        OneOrMany::Many(v) => v,
    }))
}

/// URI schemes an overlay or background image may be loaded from.
const KNOWN_IMAGE_SCHEMES: [&str; 3] = ["http", "https", "file"];

/// One layer of settings: every field optional, so layers can be stacked. The same struct is
/// read from the command line (with each flag's environment variable) and from the TOML file.
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// Address to listen on. [default: 0.0.0.0]
    #[arg(long, env = "RHEO_BIND")]
    pub bind: Option<IpAddr>,
    /// Port of ws://HOST:PORT/kurento, the demos and /healthz, /readyz, /metrics. [default: 8888]
    #[arg(long, env = "RHEO_PORT")]
    pub port: Option<u16>,
    /// Port of wss:// and https://, served when a certificate is configured. [default: 8433]
    #[arg(long, env = "RHEO_SECURE_PORT")]
    pub secure_port: Option<u16>,
    /// PEM certificate chain for TLS; may also hold the private key (Kurento's cert+key.pem).
    /// With --tls-self-signed, a missing file is generated here.
    #[arg(long, env = "RHEO_TLS_CERTIFICATE")]
    pub tls_certificate: Option<PathBuf>,
    /// PEM private key, when it is not in the certificate file.
    #[arg(long, env = "RHEO_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Serve TLS with a self-signed certificate (generated at start, or kept in --tls-certificate).
    #[arg(long, env = "RHEO_TLS_SELF_SIGNED", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub tls_self_signed: Option<bool>,
    /// Directory of the browser demos. [default: ./web]
    #[arg(long, env = "RHEO_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// Seconds between garbage-collection passes; a session unused for a whole pass is dropped.
    /// [default: 240]
    #[arg(long, env = "RHEO_GC_PERIOD")]
    pub gc_period_secs: Option<u64>,
    /// Token clients must present as ?access_token= (kurento-client's `access_token` option).
    #[arg(long, env = "RHEO_ACCESS_TOKEN", hide_env_values = true)]
    pub access_token: Option<String>,
    /// Directories every file URI must lie under (images, recordings, played files); relative
    /// paths and the demos' sample videos go to the first. [default: /tmp]
    #[arg(long, env = "RHEO_MEDIA_ROOT", value_delimiter = ',')]
    #[serde(default, deserialize_with = "one_or_many_paths")]
    pub media_root: Option<Vec<PathBuf>>,
    /// Whether URIs may name hosts on loopback and private networks (as in Kurento). Set it to
    /// false on a server that untrusted clients reach. [default: true]
    #[arg(long, env = "RHEO_URI_ALLOW_PRIVATE_NETWORKS", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub uri_allow_private_networks: Option<bool>,
    /// URI schemes images may be loaded from. [default: http,https,file]
    #[arg(long, env = "RHEO_IMAGE_URI_SCHEMES", value_delimiter = ',')]
    pub image_uri_schemes: Option<Vec<String>>,
    /// Seconds an overlay or background image download may take. [default: 10]
    #[arg(long, env = "RHEO_IMAGE_TIMEOUT")]
    pub image_timeout_secs: Option<u64>,
    /// Largest overlay or background image accepted, in bytes. [default: 20 MiB]
    #[arg(long, env = "RHEO_IMAGE_MAX_BYTES")]
    pub image_max_bytes: Option<usize>,
    /// Largest image accepted, in pixels, checked before decoding. [default: 16777216]
    #[arg(long, env = "RHEO_IMAGE_MAX_PIXELS")]
    pub image_max_pixels: Option<u64>,
    /// Image downloads running at once, server-wide; more are refused. [default: 16]
    #[arg(long, env = "RHEO_IMAGE_MAX_CONCURRENT_FETCHES")]
    pub image_max_concurrent_fetches: Option<usize>,
    /// GStreamer element factories a GStreamerFilter may use besides the video transforms
    /// (Filter/Effect, Filter/Converter, Filter/Editor classes) allowed by default.
    #[arg(long, env = "RHEO_GSTREAMER_FILTER_ALLOW", value_delimiter = ',')]
    pub gstreamer_filter_allow: Option<Vec<String>>,
    /// Web origins (scheme://host[:port]) whose pages may use the WebSocket and the uploads,
    /// besides Rheo's own and loopback ones; `*` lets every origin in, as KMS does.
    #[arg(long, env = "RHEO_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Option<Vec<String>>,
    /// GStreamer element factories a GStreamerFilter may never use.
    #[arg(long, env = "RHEO_GSTREAMER_FILTER_DENY", value_delimiter = ',')]
    pub gstreamer_filter_deny: Option<Vec<String>>,
    /// Elements one GStreamerFilter command may create. [default: 8]
    #[arg(long, env = "RHEO_GSTREAMER_FILTER_MAX_ELEMENTS")]
    pub gstreamer_filter_max_elements: Option<usize>,
    /// Largest WebSocket message (and frame) a client may send, in bytes. [default: 4 MiB]
    #[arg(long, env = "RHEO_WS_MAX_MESSAGE_BYTES")]
    pub ws_max_message_bytes: Option<usize>,
    /// Replies and events waiting for a client that does not read them, in bytes, before the
    /// connection is closed (1008). [default: 64 MiB]
    #[arg(long, env = "RHEO_WS_MAX_QUEUED_BYTES")]
    pub ws_max_queued_bytes: Option<usize>,
    /// Seconds a client may stay silent (it is pinged meanwhile, and pongs count), so that a
    /// client stuck inside a frame is cut off. [default: 45]
    #[arg(long, env = "RHEO_WS_READ_DEADLINE")]
    pub ws_read_deadline_secs: Option<u64>,
    /// Largest SDP accepted (offers, answers), in bytes. [default: 262144]
    #[arg(long, env = "RHEO_SDP_MAX_BYTES")]
    pub sdp_max_bytes: Option<usize>,
    /// m-sections one SDP may have. [default: 16]
    #[arg(long, env = "RHEO_SDP_MAX_MEDIA")]
    pub sdp_max_media: Option<usize>,
    /// MediaPipelines on the server. [default: 1000]
    #[arg(long, env = "RHEO_MAX_PIPELINES")]
    pub max_pipelines: Option<usize>,
    /// MediaPipelines one session may hold. [default: max_pipelines]
    #[arg(long, env = "RHEO_MAX_PIPELINES_PER_SESSION")]
    pub max_pipelines_per_session: Option<usize>,
    /// Elements (hub ports included) in one MediaPipeline. [default: 1000]
    #[arg(long, env = "RHEO_MAX_ELEMENTS_PER_PIPELINE")]
    pub max_elements_per_pipeline: Option<usize>,
    /// Sessions one WebSocket connection may be bound to. [default: 100]
    #[arg(long, env = "RHEO_MAX_SESSIONS_PER_CONNECTION")]
    pub max_sessions_per_connection: Option<usize>,
    /// WebSocket connections from one IP address. [default: 200]
    #[arg(long, env = "RHEO_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// Threads that run requests (media calls block), server-wide; later requests wait.
    /// [default: 512]
    #[arg(long, env = "RHEO_MAX_BLOCKING_THREADS")]
    pub max_blocking_threads: Option<usize>,
    /// File descriptors kept free: new media work is refused with "server at capacity" when
    /// fewer are left. [default: 128]
    #[arg(long, env = "RHEO_FD_RESERVE")]
    pub fd_reserve: Option<usize>,
    /// Requests from one IP address handled at once; later ones wait. [default: 64]
    #[arg(long, env = "RHEO_MAX_REQUESTS_IN_FLIGHT_PER_IP")]
    pub max_requests_in_flight_per_ip: Option<usize>,
    /// Sessions see and touch only the objects they created, and only their own session id.
    /// [default: false, as in Kurento]
    #[arg(long, env = "RHEO_SESSION_ISOLATION", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub session_isolation: Option<bool>,
    /// Log line format. [default: text]
    #[arg(long, env = "RHEO_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter (tracing env-filter syntax); RUST_LOG, when set, wins. [default: info]
    #[arg(long, env = "RHEO_LOG")]
    pub log_level: Option<String>,
    /// STUN server address (used only together with the port).
    #[arg(long, env = "KMS_STUN_IP")]
    pub stun_address: Option<String>,
    /// STUN server port.
    #[arg(long, env = "KMS_STUN_PORT")]
    pub stun_port: Option<u16>,
    /// TURN relay, as `user:password@address:port[?transport=udp|tcp]`.
    #[arg(long, env = "KMS_TURN_URL", hide_env_values = true)]
    pub turn_url: Option<String>,
    /// Lowest UDP port for ICE.
    #[arg(long, env = "KMS_MIN_PORT")]
    pub min_port: Option<u16>,
    /// Highest UDP port for ICE.
    #[arg(long, env = "KMS_MAX_PORT")]
    pub max_port: Option<u16>,
    /// IPv4 address announced in host candidates instead of the local one (behind a 1:1 NAT).
    #[arg(long, env = "KMS_EXTERNAL_IPV4")]
    pub external_ipv4: Option<String>,
    /// IPv6 address announced in host candidates instead of the local one.
    #[arg(long, env = "KMS_EXTERNAL_IPV6")]
    pub external_ipv6: Option<String>,
    /// Network interfaces ICE gathers candidates on (comma-separated names, e.g. `eth0,lo`);
    /// all but loopback when unset.
    #[arg(long, env = "KMS_NETWORK_INTERFACES")]
    pub network_interfaces: Option<String>,
    /// Serve /demo-signaling, the relay the call demos use to find each other (1/0).
    /// [default: 1]
    #[arg(long, env = "RHEO_DEMO_SIGNALING", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub demo_signaling: Option<bool>,
    /// Gather ICE-TCP candidates too (1/0). [default: 1]
    #[arg(long, env = "KMS_ICE_TCP", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub ice_tcp: Option<bool>,
    /// Largest RTP packet sent, in bytes. [default: 1200]
    #[arg(long, env = "KMS_MTU")]
    pub mtu: Option<u32>,
    /// Shared secret of the TURN server (coturn `static-auth-secret`) for /turn-credentials.
    #[arg(long, env = "RHEO_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,
    /// File holding the TURN shared secret.
    #[arg(long, env = "RHEO_TURN_SECRET_FILE")]
    pub turn_secret_file: Option<PathBuf>,
    /// TURN URIs given to browsers; by default turn:<the host the browser used>:3478 (UDP, TCP).
    #[arg(long, env = "RHEO_TURN_URIS", value_delimiter = ',')]
    pub turn_uris: Option<Vec<String>>,
    /// Lifetime of minted TURN credentials, in seconds. [default: 86400]
    #[arg(long, env = "RHEO_TURN_TTL")]
    pub turn_ttl_secs: Option<u64>,
    /// Face detector of FaceOverlayFilter and the face metadata filters: blazeface (a small
    /// DNN: tilted and half-turned faces, steadier boxes) or haar (Kurento's cascade). Without
    /// its model, blazeface falls back to haar and says so in the log. [default: blazeface]
    #[arg(long, env = "RHEO_FACE_DETECTOR")]
    pub face_detector: Option<String>,
    /// BlazeFace's ONNX model. [default: models/blazeface/… in the working directory, else the
    /// source tree's, as scripts/fetch-models.sh installs it]
    #[arg(long, env = "RHEO_FACE_MODEL")]
    pub face_model: Option<PathBuf>,
    /// Folder of the Python filters clients may name (one `<name>.py` each); only these run.
    /// [default: ./python_filters, else the source tree's]
    #[arg(long, env = "RHEO_PYTHON_FILTERS_DIR")]
    pub python_filters_dir: Option<PathBuf>,
    /// Python interpreter of the filters (a virtualenv's `bin/python` works).
    /// [default: /usr/bin/python3]
    #[arg(long, env = "RHEO_PYTHON")]
    pub python: Option<PathBuf>,
    /// Milliseconds a Python filter may take on one frame before it is stopped. [default: 2000]
    #[arg(long, env = "RHEO_PYTHON_FRAME_TIMEOUT_MS")]
    pub python_frame_timeout_ms: Option<u64>,
    /// Python filter processes running at once, server-wide (each takes tens of MiB).
    /// [default: 64]
    #[arg(long, env = "RHEO_MAX_PYTHON_FILTERS")]
    pub max_python_filters: Option<usize>,
    /// Serve WHIP (`/whip/<stream>`) and WHEP (`/whep/<stream>`) (1/0). [default: 1]
    #[arg(long, env = "RHEO_WHIP", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub whip: Option<bool>,
    /// Whether any stream name may be published over WHIP, or only those of `whip_streams`
    /// (1/0). [default: 1]
    #[arg(long, env = "RHEO_WHIP_OPEN_STREAMS", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub whip_open_streams: Option<bool>,
    /// Seconds a WHIP or WHEP client has to connect, and may then be silent, before its session
    /// is ended. [default: 30]
    #[arg(long, env = "RHEO_WHIP_TIMEOUT")]
    pub whip_timeout_secs: Option<u64>,
    /// WHIP and WHEP sessions one client address may hold at once. [default: 200]
    #[arg(long, env = "RHEO_WHIP_MAX_SESSIONS_PER_IP")]
    pub whip_max_sessions_per_ip: Option<usize>,
    /// Streams with a token or filters of their own: `[whip_streams.<name>]` tables in the
    /// configuration file (`token = "..."`, `filters = [{ type = "...", params = {...},
    /// invoke = [{ operation = "...", params = {...} }] }]`).
    #[arg(skip)]
    pub whip_streams: Option<std::collections::HashMap<String, crate::whip::StreamSettings>>,
}

macro_rules! stack_layers {
    ($upper:expr, $lower:expr, [$($field:ident),* $(,)?]) => {
        Layer { $($field: $upper.$field.or($lower.$field),)* }
    };
}

impl Layer {
    /// `self` where set, else `lower`.
    fn over(self, lower: Layer) -> Layer {
        stack_layers!(
            self,
            lower,
            [
                bind,
                port,
                secure_port,
                tls_certificate,
                tls_key,
                tls_self_signed,
                web_dir,
                gc_period_secs,
                access_token,
                media_root,
                uri_allow_private_networks,
                image_uri_schemes,
                image_timeout_secs,
                image_max_bytes,
                image_max_pixels,
                image_max_concurrent_fetches,
                gstreamer_filter_allow,
                allowed_origins,
                gstreamer_filter_deny,
                gstreamer_filter_max_elements,
                ws_max_message_bytes,
                ws_max_queued_bytes,
                ws_read_deadline_secs,
                sdp_max_bytes,
                sdp_max_media,
                max_pipelines,
                max_pipelines_per_session,
                max_elements_per_pipeline,
                max_sessions_per_connection,
                max_connections_per_ip,
                max_requests_in_flight_per_ip,
                fd_reserve,
                max_blocking_threads,
                session_isolation,
                log_format,
                log_level,
                stun_address,
                stun_port,
                turn_url,
                min_port,
                max_port,
                external_ipv4,
                external_ipv6,
                network_interfaces,
                demo_signaling,
                ice_tcp,
                mtu,
                turn_secret,
                turn_secret_file,
                turn_uris,
                turn_ttl_secs,
                face_detector,
                face_model,
                python_filters_dir,
                python,
                python_frame_timeout_ms,
                max_python_filters,
                whip,
                whip_open_streams,
                whip_timeout_secs,
                whip_max_sessions_per_ip,
                whip_streams,
            ]
        )
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "rheo",
    version,
    about = "A Kurento-compatible WebRTC media server",
    after_help = "Precedence: flags > environment > the TOML file (--config) > defaults."
)]
struct Cli {
    /// TOML file with any of the settings below (keys as the flag names, with underscores).
    #[arg(long, env = "RHEO_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    layer: Layer,
}

/// TLS material, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// Certificate chain and key from PEM files (the key may be in the certificate file).
    Files { certificate: PathBuf, key: PathBuf },
    /// A self-signed certificate, kept in `persist_at` when given.
    SelfSigned { persist_at: Option<PathBuf> },
}

/// The resolved configuration.
#[derive(Clone)]
pub struct Config {
    pub bind: IpAddr,
    pub port: u16,
    pub secure_port: u16,
    pub tls: Option<TlsSource>,
    pub web_dir: Option<PathBuf>,
    pub gc_period_secs: u64,
    pub access_token: Option<String>,
    /// `allowed_origins` (checked when loaded).
    pub allowed_origins: Vec<String>,
    /// Canonical; never empty.
    pub media_roots: Vec<PathBuf>,
    pub uri_allow_private_networks: bool,
    pub image_uri_schemes: Vec<String>,
    pub image_timeout_secs: u64,
    pub image_max_bytes: usize,
    pub image_max_pixels: u64,
    pub image_max_concurrent_fetches: usize,
    pub gstreamer_filter: rheo_media::ElementPolicy,
    pub ws_limits: crate::transport::WsLimits,
    pub sdp_limits: rheo_media::SdpLimits,
    pub quotas: crate::control::Quotas,
    pub session_isolation: bool,
    pub log_format: LogFormat,
    pub log_level: String,
    pub stun_address: Option<String>,
    pub stun_port: Option<u16>,
    pub turn_url: Option<String>,
    pub min_port: Option<u16>,
    pub max_port: Option<u16>,
    pub external_ipv4: Option<Ipv4Addr>,
    /// `KMS_EXTERNAL_IPV4=auto`: ask the STUN server at start ([`Config::discover_external_ipv4`]).
    pub external_ipv4_auto: bool,
    pub external_ipv6: Option<Ipv6Addr>,
    pub network_interfaces: Option<String>,
    pub ice_tcp: bool,
    pub mtu: u32,
    pub turn: Option<TurnRest>,
    /// Serve `/demo-signaling`.
    pub demo_signaling: bool,
    /// What the face filters load.
    pub face_detection: rheo_filters::face_detection::DetectorSettings,
    /// How Python filters run.
    pub python: rheo_filters::python::PythonSettings,
    /// Serve WHIP and WHEP.
    pub whip: bool,
    pub whip_open_streams: bool,
    pub whip_timeout: Duration,
    pub whip_max_sessions_per_ip: usize,
    pub whip_streams: std::collections::HashMap<String, crate::whip::StreamSettings>,
}

/// The TURN REST scheme's settings: credentials are minted from the shared secret.
#[derive(Clone)]
pub struct TurnRest {
    pub secret: String,
    /// Empty: derived from the host each browser used.
    pub uris: Vec<String>,
    pub ttl: Duration,
}

impl std::fmt::Debug for Config {
    /// Secrets are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("port", &self.port)
            .field("secure_port", &self.secure_port)
            .field("tls", &self.tls)
            .field("access_token", &self.access_token.as_ref().map(|_| "***"))
            .field("media_roots", &self.media_roots)
            .field("min_port", &self.min_port)
            .field("max_port", &self.max_port)
            .field("external_ipv4", &self.external_ipv4)
            .field("turn_rest", &self.turn.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Reads the command line, the environment and the TOML file.
    pub fn load() -> Result<Config, String> {
        Self::load_from(std::env::args_os())
    }

    /// As [`Config::load`], with the given command line (`--help` and bad flags exit, as
    /// clap does).
    pub fn load_from<I, T>(args: I) -> Result<Config, String>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        // An empty variable counts as unset, as in KMS's entrypoint (Compose passes `VAR=` for
        // an unset `${VAR:-}`).
        let command = Cli::command().mut_args(|arg| {
            let empty = arg
                .get_env()
                .and_then(std::env::var_os)
                .is_some_and(|v| v.is_empty());
            if empty {
                arg.env(None::<&str>)
            } else {
                arg
            }
        });
        let matches = command.get_matches_from(args);
        let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        let file = match &cli.config {
            Some(path) => read_file_layer(path)?,
            None => Layer::default(),
        };
        Self::resolve(cli.layer.over(file))
    }

    /// Applies defaults and checks every value; the message names the setting.
    fn resolve(l: Layer) -> Result<Config, String> {
        if let (Some(min), Some(max)) = (l.min_port, l.max_port) {
            if min > max {
                return Err(format!(
                    "KMS_MIN_PORT ({min}) is greater than KMS_MAX_PORT ({max})"
                ));
            }
        }
        if let Some(names) = &l.network_interfaces {
            rheo_media::ice_addresses::interface_addresses(names)
                .map_err(|e| format!("KMS_NETWORK_INTERFACES: {e}"))?;
        }
        let gc_period_secs = l.gc_period_secs.unwrap_or(240);
        if gc_period_secs == 0 {
            return Err("RHEO_GC_PERIOD (gc_period_secs) must be at least 1 second".into());
        }
        if let Some(url) = &l.turn_url {
            check_turn_url(url)?;
        }
        if l.stun_address.is_some() != l.stun_port.is_some() {
            return Err("KMS_STUN_IP and KMS_STUN_PORT must be set together".into());
        }
        let external_ipv4_auto = l.external_ipv4.as_deref().map(str::trim) == Some("auto");
        if external_ipv4_auto && l.stun_address.is_none() {
            return Err(
                "KMS_EXTERNAL_IPV4=auto asks the STUN server: set KMS_STUN_IP and KMS_STUN_PORT"
                    .into(),
            );
        }
        let external_ipv4 = match external_ipv4_auto {
            true => None,
            false => parse_external(l.external_ipv4.as_deref(), "KMS_EXTERNAL_IPV4")?,
        };
        let external_ipv6 = parse_external(l.external_ipv6.as_deref(), "KMS_EXTERNAL_IPV6")?;
        let mtu = l.mtu.unwrap_or(1200);
        if !(576..=9000).contains(&mtu) {
            return Err(format!("KMS_MTU ({mtu}) must be between 576 and 9000"));
        }
        let tls = match (l.tls_self_signed.unwrap_or(false), l.tls_certificate) {
            (true, persist_at) => {
                if l.tls_key.is_some() {
                    return Err("RHEO_TLS_KEY cannot be used with RHEO_TLS_SELF_SIGNED: the generated key is kept in RHEO_TLS_CERTIFICATE".into());
                }
                Some(TlsSource::SelfSigned { persist_at })
            }
            (false, Some(certificate)) => {
                let key = l.tls_key.unwrap_or_else(|| certificate.clone());
                for (setting, path) in [
                    ("RHEO_TLS_CERTIFICATE", &certificate),
                    ("RHEO_TLS_KEY", &key),
                ] {
                    if !path.is_file() {
                        return Err(format!(
                            "{setting}: {} is not a readable file",
                            path.display()
                        ));
                    }
                }
                Some(TlsSource::Files { certificate, key })
            }
            (false, None) => {
                if l.tls_key.is_some() {
                    return Err("RHEO_TLS_KEY is set but RHEO_TLS_CERTIFICATE is not".into());
                }
                None
            }
        };
        let port = l.port.unwrap_or(8888);
        let secure_port = l.secure_port.unwrap_or(8433);
        if tls.is_some() && port == secure_port && port != 0 {
            return Err(format!(
                "RHEO_SECURE_PORT ({secure_port}) must differ from RHEO_PORT"
            ));
        }
        let media_roots = l
            .media_root
            .filter(|roots| !roots.is_empty())
            .unwrap_or_else(|| vec![PathBuf::from(DEFAULT_MEDIA_ROOT)])
            .into_iter()
            .map(|root| {
                root.canonicalize()
                    .map_err(|e| format!("RHEO_MEDIA_ROOT: {}: {e}", root.display()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if media_roots.iter().any(|r| r == Path::new("/")) {
            return Err("RHEO_MEDIA_ROOT: / would give clients every file of the server".into());
        }
        let image_max_concurrent_fetches = l
            .image_max_concurrent_fetches
            .unwrap_or(rheo_filter_sdk::image::DEFAULT_MAX_CONCURRENT_FETCHES);
        if image_max_concurrent_fetches == 0 {
            return Err("RHEO_IMAGE_MAX_CONCURRENT_FETCHES must be at least 1".into());
        }
        let image_uri_schemes: Vec<String> = l
            .image_uri_schemes
            .unwrap_or_else(|| KNOWN_IMAGE_SCHEMES.map(String::from).to_vec())
            .into_iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(bad) = image_uri_schemes
            .iter()
            .find(|s| !KNOWN_IMAGE_SCHEMES.contains(&s.as_str()))
        {
            return Err(format!(
                "RHEO_IMAGE_URI_SCHEMES: unknown scheme '{bad}' (known: http, https, file)"
            ));
        }
        let allowed_origins = l.allowed_origins.unwrap_or_default();
        crate::transport::OriginPolicy::new(&allowed_origins)?;
        let gstreamer_filter = element_policy(
            l.gstreamer_filter_allow,
            l.gstreamer_filter_deny,
            l.gstreamer_filter_max_elements,
        )?;
        let ws_limits = crate::transport::WsLimits {
            max_message_bytes: l.ws_max_message_bytes.unwrap_or(4 << 20),
            max_queued_bytes: l.ws_max_queued_bytes.unwrap_or(64 << 20),
            read_deadline: Duration::from_secs(l.ws_read_deadline_secs.unwrap_or(45)),
        };
        if ws_limits.read_deadline < Duration::from_secs(1) {
            return Err("RHEO_WS_READ_DEADLINE must be at least 1 second".into());
        }
        if ws_limits.max_message_bytes < 64 << 10 {
            return Err("RHEO_WS_MAX_MESSAGE_BYTES must be at least 65536".into());
        }
        if ws_limits.max_queued_bytes < 1 << 20 {
            return Err("RHEO_WS_MAX_QUEUED_BYTES must be at least 1048576".into());
        }
        let defaults = rheo_media::SdpLimits::default();
        let sdp_limits = rheo_media::SdpLimits {
            max_bytes: l.sdp_max_bytes.unwrap_or(defaults.max_bytes),
            max_media: l.sdp_max_media.unwrap_or(defaults.max_media),
            ..defaults
        };
        if sdp_limits.max_bytes < 4096 {
            return Err("RHEO_SDP_MAX_BYTES must be at least 4096".into());
        }
        if sdp_limits.max_media == 0 {
            return Err("RHEO_SDP_MAX_MEDIA must be at least 1".into());
        }
        if sdp_limits.max_bytes > ws_limits.max_message_bytes {
            return Err(format!(
                "RHEO_SDP_MAX_BYTES ({}) cannot exceed RHEO_WS_MAX_MESSAGE_BYTES ({})",
                sdp_limits.max_bytes, ws_limits.max_message_bytes
            ));
        }
        let quota_defaults = crate::control::Quotas::default();
        let max_pipelines = l.max_pipelines.unwrap_or(quota_defaults.max_pipelines);
        let quotas = crate::control::Quotas {
            max_pipelines,
            max_pipelines_per_session: l.max_pipelines_per_session.unwrap_or(max_pipelines),
            max_elements_per_pipeline: l
                .max_elements_per_pipeline
                .unwrap_or(quota_defaults.max_elements_per_pipeline),
            max_sessions_per_connection: l
                .max_sessions_per_connection
                .unwrap_or(quota_defaults.max_sessions_per_connection),
            max_connections_per_ip: l
                .max_connections_per_ip
                .unwrap_or(quota_defaults.max_connections_per_ip),
            max_requests_in_flight_per_ip: l
                .max_requests_in_flight_per_ip
                .unwrap_or(quota_defaults.max_requests_in_flight_per_ip),
            fd_reserve: l.fd_reserve.unwrap_or(quota_defaults.fd_reserve),
            max_blocking_threads: l
                .max_blocking_threads
                .unwrap_or(quota_defaults.max_blocking_threads),
        };
        if quotas.max_blocking_threads == 0 {
            return Err("RHEO_MAX_BLOCKING_THREADS must be at least 1".into());
        }
        if quotas.max_requests_in_flight_per_ip == 0 {
            return Err("RHEO_MAX_REQUESTS_IN_FLIGHT_PER_IP must be at least 1".into());
        }
        for quota in crate::control::Quota::ALL {
            if quota.limit(&quotas) == 0 {
                return Err(format!(
                    "RHEO_{} must be at least 1",
                    quota.setting().to_ascii_uppercase()
                ));
            }
        }
        let turn = turn_rest(
            l.turn_secret,
            l.turn_secret_file,
            l.turn_uris,
            l.turn_ttl_secs,
        )?;
        let mut face_detection = rheo_filters::face_detection::DetectorSettings::installed();
        if let Some(name) = &l.face_detector {
            face_detection.kind = name
                .parse()
                .map_err(|e| format!("RHEO_FACE_DETECTOR: {e}"))?;
        }
        if let Some(model) = l.face_model {
            face_detection.model = model;
        }
        let mut python = rheo_filters::python::PythonSettings::installed();
        if let Some(dir) = l.python_filters_dir {
            python.filters_dir = dir;
        }
        if let Some(interpreter) = l.python {
            python.interpreter = interpreter;
        }
        if let Some(ms) = l.python_frame_timeout_ms {
            if ms == 0 {
                return Err("RHEO_PYTHON_FRAME_TIMEOUT_MS must be at least 1".into());
            }
            python.frame_timeout = Duration::from_millis(ms);
        }
        if let Some(max) = l.max_python_filters {
            python.max_processes = max;
        }
        if let Some(token) = &l.access_token {
            if token.is_empty() {
                return Err("RHEO_ACCESS_TOKEN must not be empty".into());
            }
        }
        let whip_streams = l.whip_streams.unwrap_or_default();
        if let Some(bad) = whip_streams
            .keys()
            .find(|name| !crate::whip::Gateway::valid_name(name))
        {
            return Err(format!(
                "whip_streams: {bad:?} is not a stream name (letters, digits, '-', '_', '.')"
            ));
        }
        Ok(Config {
            bind: l.bind.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            port,
            secure_port,
            tls,
            web_dir: l.web_dir,
            gc_period_secs,
            access_token: l.access_token,
            allowed_origins,
            media_roots,
            uri_allow_private_networks: l.uri_allow_private_networks.unwrap_or(true),
            image_uri_schemes,
            image_timeout_secs: l.image_timeout_secs.unwrap_or(10),
            image_max_bytes: l.image_max_bytes.unwrap_or(20 << 20),
            image_max_pixels: l
                .image_max_pixels
                .unwrap_or(rheo_filter_sdk::image::DEFAULT_MAX_PIXELS),
            image_max_concurrent_fetches,
            gstreamer_filter,
            ws_limits,
            sdp_limits,
            quotas,
            session_isolation: l.session_isolation.unwrap_or(false),
            log_format: l.log_format.unwrap_or(LogFormat::Text),
            log_level: l.log_level.unwrap_or_else(|| "info".into()),
            stun_address: l.stun_address,
            stun_port: l.stun_port,
            turn_url: l.turn_url,
            min_port: l.min_port,
            max_port: l.max_port,
            external_ipv4,
            external_ipv4_auto,
            external_ipv6,
            network_interfaces: l.network_interfaces,
            ice_tcp: l.ice_tcp.unwrap_or(true),
            mtu,
            turn,
            demo_signaling: l.demo_signaling.unwrap_or(true),
            face_detection,
            python,
            whip: l.whip.unwrap_or(true),
            whip_open_streams: l.whip_open_streams.unwrap_or(true),
            whip_timeout: Duration::from_secs(l.whip_timeout_secs.unwrap_or(30).max(1)),
            whip_max_sessions_per_ip: l.whip_max_sessions_per_ip.unwrap_or(200),
            whip_streams,
        })
    }

    /// What the WHIP and WHEP gateway is given.
    pub fn whip_settings(&self) -> crate::whip::WhipSettings {
        crate::whip::WhipSettings {
            open_streams: self.whip_open_streams,
            streams: self.whip_streams.clone(),
            connect_timeout: self.whip_timeout,
            idle_timeout: self.whip_timeout,
            max_sessions_per_ip: self.whip_max_sessions_per_ip,
        }
    }

    /// Resolves `KMS_EXTERNAL_IPV4=auto` by asking the STUN server (blocking, a few seconds at
    /// most). As in KMS, a failure leaves the setting unset; the error says why.
    pub fn discover_external_ipv4(&mut self) -> Result<Option<Ipv4Addr>, String> {
        if !self.external_ipv4_auto {
            return Ok(self.external_ipv4);
        }
        let (Some(host), Some(port)) = (&self.stun_address, self.stun_port) else {
            return Ok(None);
        };
        let found = crate::public_address::discover_ipv4(host, port)?;
        self.external_ipv4 = Some(found);
        Ok(Some(found))
    }

    /// Where client URIs may lead.
    pub fn uri_policy(&self) -> rheo_filter_sdk::UriPolicy {
        rheo_filter_sdk::UriPolicy {
            media_roots: Some(self.media_roots.clone()),
            allow_private_networks: self.uri_allow_private_networks,
        }
    }

    /// The first media root: relative paths and the demos' sample videos.
    pub fn media_folder(&self) -> &Path {
        &self.media_roots[0]
    }

    pub fn gc_period(&self) -> Duration {
        Duration::from_secs(self.gc_period_secs)
    }

    /// The demos: the setting, else `web/` beside the working directory, else the source tree's.
    pub fn web_dir(&self) -> PathBuf {
        if let Some(d) = &self.web_dir {
            return d.clone();
        }
        let local = PathBuf::from("web");
        if local.is_dir() {
            local
        } else {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web")
        }
    }

    pub fn settings(&self) -> crate::objects::Settings {
        crate::objects::Settings {
            webrtc: rheo_media::WebRtcSettings {
                stun_server_address: self.stun_address.clone(),
                stun_server_port: self.stun_port,
                turn_url: self.turn_url.clone(),
                min_port: self.min_port,
                max_port: self.max_port,
                external_ipv4: self.external_ipv4.map(|a| a.to_string()),
                external_ipv6: self.external_ipv6.map(|a| a.to_string()),
                local_addresses: self
                    .network_interfaces
                    .as_deref()
                    .and_then(|n| rheo_media::ice_addresses::interface_addresses(n).ok())
                    .unwrap_or_default(),
                ice_tcp: self.ice_tcp,
                mtu: self.mtu,
            },
            image_limits: rheo_filter_sdk::LoadLimits {
                timeout: Duration::from_secs(self.image_timeout_secs),
                max_bytes: self.image_max_bytes,
                allowed_schemes: Some(self.image_uri_schemes.clone()),
                policy: self.uri_policy(),
                max_pixels: self.image_max_pixels,
                max_concurrent_fetches: self.image_max_concurrent_fetches,
                own_site: Some(rheo_filter_sdk::image::OwnSite {
                    ports: vec![self.port, self.secure_port],
                    web_dir: self.web_dir(),
                }),
                extra_trusted_certificates: Vec::new(),
            },
            http_base_url: self.http_base_url(self.port),
            uri_policy: self.uri_policy(),
            gstreamer_filter: self.gstreamer_filter.clone(),
        }
    }

    /// `http://host:port` as clients reach this server on `port`: the external IPv4 address
    /// when one is announced, else the bound address, else the first non-loopback IPv4 address
    /// of the interfaces in use, else 127.0.0.1.
    pub fn http_base_url(&self, port: u16) -> String {
        let interface_address = || {
            let usable = |ip: &IpAddr| ip.is_ipv4() && !ip.is_loopback();
            match self.network_interfaces.as_deref() {
                Some(names) => rheo_media::ice_addresses::interface_addresses(names)
                    .ok()?
                    .into_iter()
                    .find(usable),
                None => rheo_media::ice_addresses::all_addresses()
                    .ok()?
                    .into_iter()
                    .map(|(_, ip)| ip)
                    .find(usable),
            }
        };
        let host = self
            .external_ipv4
            .map(IpAddr::V4)
            .or((!self.bind.is_unspecified()).then_some(self.bind))
            .or_else(interface_address)
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        match host {
            IpAddr::V6(v6) => format!("http://[{v6}]:{port}"),
            IpAddr::V4(v4) => format!("http://{v4}:{port}"),
        }
    }
}

fn read_file_layer(path: &Path) -> Result<Layer, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("RHEO_CONFIG: cannot read {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("RHEO_CONFIG: {}: {e}", path.display()))
}

/// Kurento's form: `user:password@address:port[?transport=udp|tcp]`.
fn check_turn_url(url: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "KMS_TURN_URL must look like user:password@address:port[?transport=udp|tcp] ({why})"
        ))
    };
    let rest = url
        .strip_prefix("turn:")
        .or_else(|| url.strip_prefix("turns:"))
        .unwrap_or(url)
        .trim_start_matches("//");
    let Some((userinfo, hostport)) = rest.rsplit_once('@') else {
        return bad("no user:password@");
    };
    if !userinfo.contains(':') {
        return bad("no password");
    }
    let (hostport, query) = hostport.split_once('?').unwrap_or((hostport, ""));
    if !matches!(query, "" | "transport=udp" | "transport=tcp") {
        return bad("transport must be udp or tcp");
    }
    match hostport.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => bad("no address:port"),
    }
}

fn parse_external<T: std::str::FromStr>(
    value: Option<&str>,
    setting: &str,
) -> Result<Option<T>, String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some("auto") => Err(format!(
            "{setting}=auto is not supported; set the address itself"
        )),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("{setting}: '{v}' is not an IP address of that family")),
    }
}

/// The GStreamerFilter policy; names are factory names, checked to exist so a typo is not a
/// silent no-op.
fn element_policy(
    allow: Option<Vec<String>>,
    deny: Option<Vec<String>>,
    max_elements: Option<usize>,
) -> Result<rheo_media::ElementPolicy, String> {
    let names = |list: Option<Vec<String>>, setting: &str| -> Result<Vec<String>, String> {
        let names: Vec<String> = list
            .unwrap_or_default()
            .into_iter()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect();
        rheo_media::init().map_err(|e| e.message)?;
        match names
            .iter()
            .find(|n| rheo_filter_sdk::gst::ElementFactory::find(n).is_none())
        {
            Some(unknown) => Err(format!("{setting}: no GStreamer element '{unknown}'")),
            None => Ok(names),
        }
    };
    let max_elements = max_elements.unwrap_or(rheo_media::filters::DEFAULT_MAX_ELEMENTS);
    if max_elements == 0 {
        return Err("RHEO_GSTREAMER_FILTER_MAX_ELEMENTS must be at least 1".into());
    }
    Ok(rheo_media::ElementPolicy {
        allow: names(allow, "RHEO_GSTREAMER_FILTER_ALLOW")?,
        deny: names(deny, "RHEO_GSTREAMER_FILTER_DENY")?,
        max_elements,
    })
}

fn turn_rest(
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    uris: Option<Vec<String>>,
    ttl_secs: Option<u64>,
) -> Result<Option<TurnRest>, String> {
    let secret = match (secret, secret_file) {
        (Some(_), Some(_)) => {
            return Err("set RHEO_TURN_SECRET or RHEO_TURN_SECRET_FILE, not both".into())
        }
        (Some(s), None) => Some(s),
        (None, Some(path)) => Some(
            std::fs::read_to_string(&path)
                .map_err(|e| format!("RHEO_TURN_SECRET_FILE: {}: {e}", path.display()))?
                .trim_end()
                .to_owned(),
        ),
        (None, None) => None,
    };
    let uris: Vec<String> = uris
        .unwrap_or_default()
        .into_iter()
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .collect();
    if let Some(bad) = uris
        .iter()
        .find(|u| !(u.starts_with("turn:") || u.starts_with("turns:")))
    {
        return Err(format!(
            "RHEO_TURN_URIS: '{bad}' must start with turn: or turns:"
        ));
    }
    let Some(secret) = secret else {
        if !uris.is_empty() {
            return Err("RHEO_TURN_URIS is set but RHEO_TURN_SECRET is not".into());
        }
        return Ok(None);
    };
    if secret.is_empty() {
        return Err("RHEO_TURN_SECRET must not be empty".into());
    }
    let ttl = ttl_secs.unwrap_or(86_400);
    if ttl == 0 {
        return Err("RHEO_TURN_TTL must be at least 1 second".into());
    }
    Ok(Some(TurnRest {
        secret,
        uris,
        ttl: Duration::from_secs(ttl),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(toml_text: &str) -> Layer {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn whip_streams_come_from_the_file() {
        let c = Config::resolve(layer(
            "whip_open_streams = false\n\
             [whip_streams.mirror]\n\
             token = \"t\"\n\
             filters = [{ type = \"GStreamerFilter\", params = { command = \"videoflip\" } }]\n",
        ))
        .unwrap();
        let w = c.whip_settings();
        assert!(!w.open_streams);
        assert_eq!(w.streams["mirror"].token.as_deref(), Some("t"));
        assert_eq!(w.streams["mirror"].filters[0].kind, "GStreamerFilter");
        assert!(c.whip);
        let bad = Config::resolve(layer("[whip_streams.\"a/b\"]\n")).unwrap_err();
        assert!(bad.contains("whip_streams"), "{bad}");
        assert!(toml::from_str::<Layer>("[whip_streams.x]\nfilterz = []\n").is_err());
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let file = layer("port = 9000\nmin_port = 40000\nmax_port = 40100\n");
        let cli = Layer {
            port: Some(9100),
            ..Default::default()
        };
        let c = Config::resolve(cli.over(file)).unwrap();
        assert_eq!(c.port, 9100);
        assert_eq!(c.min_port, Some(40000));
        assert_eq!(c.secure_port, 8433);
        assert!(c.ice_tcp);
        assert_eq!(c.mtu, 1200);
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        assert!(toml::from_str::<Layer>("prot = 1\n").is_err());
    }

    #[test]
    fn invalid_values_name_their_setting() {
        let cases = [
            ("min_port = 50000\nmax_port = 40000", "KMS_MIN_PORT"),
            ("turn_url = \"relay.example:3478\"", "KMS_TURN_URL"),
            (
                "turn_url = \"u:p@relay.example:3478?transport=sctp\"",
                "KMS_TURN_URL",
            ),
            ("stun_address = \"192.0.2.1\"", "KMS_STUN_PORT"),
            ("external_ipv4 = \"auto\"", "KMS_EXTERNAL_IPV4=auto"),
            ("external_ipv6 = \"auto\"", "KMS_EXTERNAL_IPV6"),
            ("external_ipv4 = \"2001:db8::1\"", "KMS_EXTERNAL_IPV4"),
            ("mtu = 100", "KMS_MTU"),
            ("gc_period_secs = 0", "RHEO_GC_PERIOD"),
            ("face_detector = \"yolo\"", "RHEO_FACE_DETECTOR"),
            (
                "python_frame_timeout_ms = 0",
                "RHEO_PYTHON_FRAME_TIMEOUT_MS",
            ),
            ("media_root = \"/nonexistent/rheo\"", "RHEO_MEDIA_ROOT"),
            ("image_uri_schemes = [\"ftp\"]", "RHEO_IMAGE_URI_SCHEMES"),
            (
                "gstreamer_filter_allow = [\"nosuchelement\"]",
                "RHEO_GSTREAMER_FILTER_ALLOW",
            ),
            (
                "gstreamer_filter_max_elements = 0",
                "RHEO_GSTREAMER_FILTER_MAX_ELEMENTS",
            ),
            (
                "tls_certificate = \"/nonexistent.pem\"",
                "RHEO_TLS_CERTIFICATE",
            ),
            ("turn_uris = [\"turn:a:3478\"]", "RHEO_TURN_SECRET"),
            (
                "turn_secret = \"s\"\nturn_uris = [\"a:3478\"]",
                "RHEO_TURN_URIS",
            ),
            (
                "network_interfaces = \"nosuchif0\"",
                "KMS_NETWORK_INTERFACES",
            ),
        ];
        for (text, setting) in cases {
            let err = Config::resolve(layer(text)).err().unwrap_or_default();
            assert!(err.contains(setting), "{text}: {err}");
        }
    }

    #[test]
    fn kurento_turn_urls_are_accepted() {
        for url in [
            "user:pass@192.0.2.1:3478",
            "user:pass@relay.example:3478?transport=tcp",
            "turn:user:pass@192.0.2.1:3478",
        ] {
            assert_eq!(check_turn_url(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn cli_flags_and_env_parse() {
        let c = Config::load_from([
            "rheo",
            "--port",
            "0",
            "--ice-tcp",
            "0",
            "--tls-self-signed",
            "--image-uri-schemes",
            "https,file",
        ])
        .unwrap();
        assert!(!c.ice_tcp);
        assert_eq!(c.tls, Some(TlsSource::SelfSigned { persist_at: None }));
        assert_eq!(c.image_uri_schemes, ["https", "file"]);
    }
}
