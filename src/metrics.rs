//! The Prometheus text exposition served at `/metrics`: what the server holds (sessions,
//! objects, WebRTC connections, codecs) and what it did (traffic, filter frames, CPU, memory).

use std::collections::BTreeMap;
use std::fmt::Write;

use rheo_media::IceComponentState;

use crate::control::Core;
use crate::objects::World;

/// Renders every metric. Cheap: no media calls, one registry lock.
pub fn render(core: &Core, site: &crate::transport::Site) -> String {
    let ws_limits = &site.ws_limits;
    let (sessions, objects) = core.snapshot();
    let mut by_class: BTreeMap<&str, u64> = BTreeMap::new();
    let mut ice: BTreeMap<&str, u64> = [
        "new",
        "gathering",
        "connecting",
        "connected",
        "ready",
        "failed",
        "disconnected",
    ]
    .into_iter()
    .map(|s| (s, 0))
    .collect();
    let (mut pipelines, mut encoders, mut decoders) = (0u64, 0u64, 0u64);
    for o in &objects {
        if o.id == crate::objects::SERVER_MANAGER_ID {
            continue;
        }
        *by_class.entry(o.class.name).or_default() += 1;
        if let Some(p) = o.media_pipeline() {
            pipelines += 1;
            encoders += p.encoder_count() as u64;
            decoders += p.decoder_count() as u64;
        }
        if let Some(ep) = o.element().and_then(|e| e.webrtc()) {
            let state = match ep.ice_states().first().map(|(_, _, s)| *s) {
                None => "new",
                Some(IceComponentState::Gathering) => "gathering",
                Some(IceComponentState::Connecting) => "connecting",
                Some(IceComponentState::Connected) => "connected",
                Some(IceComponentState::Ready) => "ready",
                Some(IceComponentState::Failed) => "failed",
                Some(IceComponentState::Disconnected) => "disconnected",
            };
            *ice.entry(state).or_default() += 1;
        }
    }

    let mut m = Metrics::default();
    m.gauge(
        "rheo_sessions",
        "Kurento sessions known to the server.",
        sessions as u64,
    );
    m.gauge("rheo_pipelines", "Live MediaPipelines.", pipelines);
    m.counter(
        "rheo_capacity_refusals_total",
        "Requests refused because fewer than fd_reserve file descriptors were free.",
        core.capacity.refusals(),
    );
    m.gauge(
        "rheo_requests_waiting",
        "Requests waiting because their address has max_requests_in_flight_per_ip running.",
        core.requests_waiting
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    let quotas = core.quotas();
    let settings = core.settings();
    let sdp = rheo_media::sdp_limits();
    let limits = crate::control::Quota::ALL
        .map(|q| (q.setting(), q.limit(quotas) as u64))
        .into_iter()
        .chain([
            (
                "max_requests_in_flight_per_ip",
                quotas.max_requests_in_flight_per_ip as u64,
            ),
            ("fd_reserve", quotas.fd_reserve as u64),
            ("max_blocking_threads", quotas.max_blocking_threads as u64),
            ("ws_max_message_bytes", ws_limits.max_message_bytes as u64),
            ("ws_max_queued_bytes", ws_limits.max_queued_bytes as u64),
            ("ws_read_deadline_secs", ws_limits.read_deadline.as_secs()),
            ("sdp_max_bytes", sdp.max_bytes as u64),
            ("sdp_max_media", sdp.max_media as u64),
            ("image_max_bytes", settings.image_limits.max_bytes as u64),
            ("image_max_pixels", settings.image_limits.max_pixels),
            (
                "image_max_concurrent_fetches",
                settings.image_limits.max_concurrent_fetches as u64,
            ),
            (
                "gstreamer_filter_max_elements",
                settings.gstreamer_filter.max_elements as u64,
            ),
        ]);
    m.labelled_gauge(
        "rheo_limit",
        "Each configured limit, by setting name.",
        "setting",
        limits,
    );
    m.labelled_counter(
        "rheo_ws_closed_by_server_total",
        "WebSocket connections the server closed, by reason.",
        "reason",
        crate::transport::CloseReason::ALL
            .map(|r| (r.label(), site.server_closes.count(r)))
            .into_iter(),
    );
    m.counter(
        "rheo_origin_refusals_total",
        "WebSocket handshakes, uploads and TURN credential requests refused for their Origin.",
        site.origins.refusals(),
    );
    m.labelled_counter(
        "rheo_quota_refusals_total",
        "Requests refused because a quota was reached, by setting name.",
        "setting",
        crate::control::Quota::ALL
            .map(|q| (q.setting(), core.refusals.count(q)))
            .into_iter(),
    );
    m.labelled_gauge(
        "rheo_elements",
        "Live media objects by Kurento class (pipelines included).",
        "type",
        by_class.iter().map(|(k, v)| (*k, *v)),
    );
    m.labelled_gauge(
        "rheo_webrtc_connections",
        "WebRtcEndpoints by ICE state (new: not negotiated yet).",
        "state",
        ice.iter().map(|(k, v)| (*k, *v)),
    );
    m.gauge(
        "rheo_encoders",
        "Video/audio encoders running (transcoding).",
        encoders,
    );
    m.gauge(
        "rheo_decoders",
        "Decoders running (transcoding or filters).",
        decoders,
    );
    let srtp = rheo_media::srtp_library();
    m.labelled_gauge(
        "rheo_srtp_library",
        "The libsrtp that encrypts and decrypts media (1 for the one in use): openssl, or system.",
        "crypto",
        [(srtp.crypto(), 1)].into_iter(),
    );
    if let Some(whip) = &site.whip {
        let (streams, sessions) = whip.counts();
        m.gauge(
            "rheo_whip_streams",
            "Streams published over WHIP right now.",
            streams as u64,
        );
        m.gauge(
            "rheo_whip_sessions",
            "WHIP publishers and WHEP viewers connected or connecting.",
            sessions as u64,
        );
        let (limit, refused) = whip.per_ip_limit();
        m.gauge(
            "rheo_whip_max_sessions_per_ip",
            "WHIP and WHEP sessions one client address may hold (whip_max_sessions_per_ip).",
            limit as u64,
        );
        m.counter(
            "rheo_whip_refused_per_ip_total",
            "WHIP and WHEP offers refused by whip_max_sessions_per_ip.",
            refused,
        );
    }
    let fanout = rheo_media::fanout_totals();
    m.gauge(
        "rheo_rtp_packetizers",
        "RTP payloaders of the one-to-many path (one per source stream and packetization, shared by its receivers).",
        fanout.packetizers,
    );
    m.counter(
        "rheo_rtp_forwarded_packets_total",
        "RTP packets forwarded to WebRTC receivers from a shared payloader.",
        fanout.packets_forwarded,
    );
    m.counter(
        "rheo_rtp_dropped_packets_total",
        "RTP packets a WebRTC receiver did not get: its transport not ready yet, or waiting for a keyframe.",
        fanout.packets_dropped,
    );
    let t = rheo_media::traffic::totals();
    let traffic = [
        (
            "rheo_webrtc_bytes_received_total",
            "Bytes received by WebRTC transports.",
            t.bytes_received,
        ),
        (
            "rheo_webrtc_packets_received_total",
            "Packets received by WebRTC transports.",
            t.packets_received,
        ),
        (
            "rheo_webrtc_bytes_sent_total",
            "Bytes sent by WebRTC transports.",
            t.bytes_sent,
        ),
        (
            "rheo_webrtc_packets_sent_total",
            "Packets sent by WebRTC transports.",
            t.packets_sent,
        ),
    ];
    for (name, help, value) in traffic {
        m.counter(name, help, value);
    }
    let frames = rheo_filter_sdk::frame_counters::snapshot();
    m.labelled_counter(
        "rheo_filter_frames_processed_total",
        "Video frames each filter class processed.",
        "filter",
        frames.iter().map(|f| (f.filter.as_str(), f.processed)),
    );
    m.labelled_counter(
        "rheo_filter_frames_dropped_total",
        "Video frames each filter class left unanalysed (superseded or failed).",
        "filter",
        frames.iter().map(|f| (f.filter.as_str(), f.dropped)),
    );
    use crate::process_stats as ps;
    m.counter_f64(
        "process_cpu_seconds_total",
        "User and system CPU time spent, in seconds.",
        ps::cpu_ticks() as f64 / ps::TICKS_PER_SEC as f64,
    );
    m.gauge(
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        ps::rss_kib() * 1024,
    );
    m.gauge("process_open_fds", "Open file descriptors.", ps::open_fds());
    m.gauge(
        "process_max_fds",
        "Maximum number of open file descriptors (the soft limit, raised to the hard one at start).",
        crate::control::capacity::fd_limit(),
    );
    m.gauge("process_threads", "OS threads.", ps::threads());
    m.gauge(
        "rheo_python_filters",
        "Python filter processes running.",
        rheo_filters::python::running_processes() as u64,
    );
    m.gauge(
        "rheo_python_filters_max",
        "Python filter processes allowed at once (setting max_python_filters).",
        rheo_filters::python::settings().max_processes as u64,
    );
    m.text
}

#[derive(Default)]
struct Metrics {
    text: String,
}

impl Metrics {
    fn header(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn gauge(&mut self, name: &str, help: &str, value: u64) {
        self.header(name, help, "gauge");
        let _ = writeln!(self.text, "{name} {value}");
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.header(name, help, "counter");
        let _ = writeln!(self.text, "{name} {value}");
    }

    fn counter_f64(&mut self, name: &str, help: &str, value: f64) {
        self.header(name, help, "counter");
        let _ = writeln!(self.text, "{name} {value}");
    }

    fn labelled(
        &mut self,
        kind: &str,
        name: &str,
        help: &str,
        label: &str,
        values: impl Iterator<Item = (impl AsRef<str>, u64)>,
    ) {
        self.header(name, help, kind);
        for (l, v) in values {
            let _ = writeln!(
                self.text,
                "{name}{{{label}=\"{}\"}} {v}",
                escape(l.as_ref())
            );
        }
    }

    fn labelled_gauge(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        values: impl Iterator<Item = (impl AsRef<str>, u64)>,
    ) {
        self.labelled("gauge", name, help, label, values);
    }

    fn labelled_counter(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        values: impl Iterator<Item = (impl AsRef<str>, u64)>,
    ) {
        self.labelled("counter", name, help, label, values);
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
