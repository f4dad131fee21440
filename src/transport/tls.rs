//! TLS for the secure port: a configured PEM certificate and key, or a self-signed certificate
//! made at start (and kept in a file when one is named, so browsers accept it only once).

use std::io::BufReader;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tracing::info;

use crate::config::{Config, TlsSource};

/// TLS as configured: the acceptor, and the certificate the server itself should trust when
/// it fetches its own pages (the self-signed one; none for a configured certificate).
pub struct Tls {
    pub acceptor: TlsAcceptor,
    pub self_signed: Option<CertificateDer<'static>>,
}

/// The TLS set-up for `config`, `None` when TLS is not configured. Errors name the setting at
/// fault.
pub fn setup(config: &Config) -> Result<Option<Tls>, String> {
    let Some(source) = &config.tls else {
        return Ok(None);
    };
    let (certs, key) = match source {
        TlsSource::Files { certificate, key } => (
            read_certs(certificate, "RHEO_TLS_CERTIFICATE")?,
            read_key(key, "RHEO_TLS_KEY")?,
        ),
        TlsSource::SelfSigned {
            persist_at: Some(path),
        } if path.exists() => {
            info!(file = %path.display(), "using the self-signed certificate made earlier");
            (
                read_certs(path, "RHEO_TLS_CERTIFICATE")?,
                read_key(path, "RHEO_TLS_CERTIFICATE")?,
            )
        }
        TlsSource::SelfSigned { persist_at } => {
            let names = certificate_names(config);
            let pem = self_signed_pem(&names)?;
            if let Some(path) = persist_at {
                write_private(path, &pem).map_err(|e| {
                    format!("RHEO_TLS_CERTIFICATE: cannot write {}: {e}", path.display())
                })?;
            }
            info!(names = ?names, "made a self-signed certificate");
            (
                parse_certs(pem.as_bytes(), "the generated certificate")?,
                parse_key(pem.as_bytes(), "the generated certificate")?,
            )
        }
    };
    let self_signed = match source {
        TlsSource::SelfSigned { .. } => certs.first().cloned(),
        TlsSource::Files { .. } => None,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("RHEO_TLS_CERTIFICATE: the certificate and key do not match: {e}"))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Tls {
        acceptor: TlsAcceptor::from(Arc::new(server)),
        self_signed,
    }))
}

/// Names a browser may use for this machine: localhost, the host name, every local address
/// and the external ones.
fn certificate_names(config: &Config) -> Vec<String> {
    let mut names = vec!["localhost".to_owned()];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() && host != "localhost" {
            names.push(host.to_owned());
        }
    }
    let mut addresses: Vec<IpAddr> = rheo_media::ice_addresses::all_addresses()
        .unwrap_or_default()
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    addresses.extend(config.external_ipv4.map(IpAddr::V4));
    addresses.extend(config.external_ipv6.map(IpAddr::V6));
    addresses.push(IpAddr::from([127, 0, 0, 1]));
    for a in addresses {
        let a = a.to_string();
        if !names.contains(&a) {
            names.push(a);
        }
    }
    names
}

/// A self-signed certificate for `names`, then its private key, as PEM.
fn self_signed_pem(names: &[String]) -> Result<String, String> {
    let certified = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| format!("RHEO_TLS_SELF_SIGNED: cannot make a certificate: {e}"))?;
    Ok(format!(
        "{}{}",
        certified.cert.pem(),
        certified.key_pair.serialize_pem()
    ))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

fn read_certs(path: &Path, setting: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{setting}: {}: {e}", path.display()))?;
    parse_certs(&bytes, &format!("{setting}: {}", path.display()))
}

fn read_key(path: &Path, setting: &str) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{setting}: {}: {e}", path.display()))?;
    parse_key(&bytes, &format!("{setting}: {}", path.display()))
}

fn parse_certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut BufReader::new(pem))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{what}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what}: no PEM certificate in it"));
    }
    Ok(certs)
}

fn parse_key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, String> {
    rustls_pemfile::private_key(&mut BufReader::new(pem))
        .map_err(|e| format!("{what}: {e}"))?
        .ok_or_else(|| format!("{what}: no PEM private key in it"))
}
