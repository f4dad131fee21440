//! Configuration: built-in defaults, overridable by environment variables (Kurento's `KMS_*`
//! names where they mean the same) and command-line flags.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "rheo",
    version,
    about = "A Kurento-compatible WebRTC media server"
)]
pub struct Config {
    /// Address to listen on (WebSocket /kurento and the demos).
    #[arg(long, env = "RHEO_BIND", default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// Port of ws://HOST:PORT/kurento and http://HOST:PORT/.
    #[arg(long, env = "RHEO_PORT", default_value_t = 8888)]
    pub port: u16,
    /// Directory of the browser demos.
    #[arg(long, env = "RHEO_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// Seconds between garbage-collection passes; a session unused for a whole pass is dropped.
    #[arg(long, env = "RHEO_GC_PERIOD", default_value_t = 240)]
    pub gc_period_secs: u64,
    /// STUN server address.
    #[arg(long, env = "KMS_STUN_IP")]
    pub stun_address: Option<String>,
    /// STUN server port.
    #[arg(long, env = "KMS_STUN_PORT")]
    pub stun_port: Option<u16>,
    /// TURN relay, as `user:password@address:port[?transport=udp|tcp]`.
    #[arg(long, env = "KMS_TURN_URL")]
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
    /// Network interfaces ICE gathers candidates on (comma-separated names, e.g. `eth0,lo`);
    /// all but loopback when unset.
    #[arg(long, env = "KMS_NETWORK_INTERFACES")]
    pub network_interfaces: Option<String>,
    /// Seconds an overlay or background image download may take.
    #[arg(long, env = "RHEO_IMAGE_TIMEOUT", default_value_t = 10)]
    pub image_timeout_secs: u64,
    /// Largest overlay or background image accepted, in bytes.
    #[arg(long, env = "RHEO_IMAGE_MAX_BYTES", default_value_t = 20 << 20)]
    pub image_max_bytes: usize,
}

impl Config {
    /// Checks values that parse but make no sense; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if let (Some(min), Some(max)) = (self.min_port, self.max_port) {
            if min > max {
                return Err(format!(
                    "KMS_MIN_PORT ({min}) is greater than KMS_MAX_PORT ({max})"
                ));
            }
        }
        if let Some(names) = &self.network_interfaces {
            rheo_pipelines::ice_addresses::interface_addresses(names)
                .map_err(|e| format!("KMS_NETWORK_INTERFACES: {e}"))?;
        }
        if self.gc_period_secs == 0 {
            return Err("RHEO_GC_PERIOD must be at least 1 second".into());
        }
        if let Some(url) = &self.turn_url {
            if !url.contains('@') {
                return Err(format!(
                    "KMS_TURN_URL '{url}' must look like user:password@address:port"
                ));
            }
        }
        Ok(())
    }

    pub fn gc_period(&self) -> Duration {
        Duration::from_secs(self.gc_period_secs)
    }

    /// The demos: the flag, else `web/` beside the working directory, else the source tree's.
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
            webrtc: rheo_pipelines::WebRtcSettings {
                stun_server_address: self.stun_address.clone(),
                stun_server_port: self.stun_port,
                turn_url: self.turn_url.clone(),
                min_port: self.min_port,
                max_port: self.max_port,
                external_ipv4: self.external_ipv4.clone(),
                local_addresses: self
                    .network_interfaces
                    .as_deref()
                    .and_then(|n| rheo_pipelines::ice_addresses::interface_addresses(n).ok())
                    .unwrap_or_default(),
            },
            image_limits: rheo_filters::LoadLimits {
                timeout: Duration::from_secs(self.image_timeout_secs),
                max_bytes: self.image_max_bytes,
            },
        }
    }
}
