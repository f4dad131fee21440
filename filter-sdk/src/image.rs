//! Loading overlay images named by URI.
//!
//! [`load_image`] accepts `file:///abs/path`, a plain filesystem path, `http://` and `https://`
//! URLs. It reads at most [`LoadLimits::max_bytes`] bytes, gives up after
//! [`LoadLimits::timeout`], and decodes the bytes with OpenCV (`imdecode`, `IMREAD_UNCHANGED`)
//! into straight (non-premultiplied) 8-bit BGRA.
//!
//! The function is **blocking**: callers must run it on a thread where blocking is allowed
//! (never an async executor thread or a GStreamer streaming thread).

use std::error::Error as _;
use std::io::Read;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use opencv::core::{Mat, Vector, CV_16U, CV_32F, CV_64F, CV_8U};
use opencv::prelude::*;

use crate::local_file::{file_uri_path, scheme_of, LocalFileError};
use crate::policy_http::{GetError, PolicyHttp};
use crate::uri_policy::{UriError, UriPolicy};

/// A decoded image, 8-bit straight-alpha BGRA, rows packed without padding.
#[derive(Clone, PartialEq, Eq)]
pub struct OverlayImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 4` bytes in B, G, R, A order; alpha is not premultiplied.
    pub bgra: Vec<u8>,
}

impl std::fmt::Debug for OverlayImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OverlayImage")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bytes", &self.bgra.len())
            .finish()
    }
}

impl OverlayImage {
    /// An image of `width`×`height` pixels all set to one BGRA colour.
    pub fn solid(width: u32, height: u32, bgra: [u8; 4]) -> Self {
        let n = width as usize * height as usize;
        let mut data = Vec::with_capacity(n * 4);
        for _ in 0..n {
            data.extend_from_slice(&bgra);
        }
        OverlayImage {
            width,
            height,
            bgra: data,
        }
    }

    /// Decodes an encoded image (PNG, JPEG, BMP, WebP, TIFF… whatever OpenCV supports).
    ///
    /// Alpha is kept for 4-channel images; 3-channel and grey images get alpha 255;
    /// 16-bit and floating-point images are scaled to 8 bits.
    pub fn decode(bytes: &[u8]) -> Result<Self, ImageError> {
        Self::decode_within(bytes, u64::MAX)
    }

    /// [`OverlayImage::decode`], refusing before decoding an image of more than `max_pixels`
    /// pixels, or one whose size cannot be read from its header (a few bytes can declare an
    /// image of gigabytes).
    pub fn decode_within(bytes: &[u8], max_pixels: u64) -> Result<Self, ImageError> {
        if bytes.is_empty() {
            return Err(ImageError::NotAnImage("empty input".into()));
        }
        if max_pixels != u64::MAX {
            let (width, height) = crate::image_header::dimensions(bytes).ok_or_else(|| {
                ImageError::NotAnImage(
                    "not a PNG, JPEG, BMP or WebP image whose size can be read".into(),
                )
            })?;
            if u64::from(width) * u64::from(height) > max_pixels {
                return Err(ImageError::TooManyPixels {
                    width,
                    height,
                    limit: max_pixels,
                });
            }
        }
        let buf = Vector::<u8>::from_slice(bytes);
        let decoded = opencv::imgcodecs::imdecode(&buf, opencv::imgcodecs::IMREAD_UNCHANGED)
            .map_err(|e| ImageError::NotAnImage(e.message))?;
        if decoded.empty() || decoded.cols() <= 0 || decoded.rows() <= 0 {
            return Err(ImageError::NotAnImage(
                "no decoder recognised the data".into(),
            ));
        }
        to_bgra8(&decoded).map_err(|e| ImageError::NotAnImage(e.message))
    }
}

/// Converts any decoded OpenCV image to packed 8-bit BGRA.
fn to_bgra8(src: &Mat) -> opencv::Result<OverlayImage> {
    // Bring the depth to 8 bits first.
    let depth = src.depth();
    let eight_bit = if depth == CV_8U {
        src.clone()
    } else {
        let scale = match depth {
            CV_16U => 1.0 / 257.0,
            CV_32F | CV_64F => 255.0,
            // CV_8S / CV_16S / CV_32S: rare; saturate_cast clamps negatives.
            opencv::core::CV_16S => 1.0 / 128.0,
            _ => 1.0,
        };
        let mut dst = Mat::default();
        src.convert_to(&mut dst, CV_8U, scale, 0.0)?;
        dst
    };
    let code = match eight_bit.channels() {
        1 => Some(opencv::imgproc::COLOR_GRAY2BGRA),
        3 => Some(opencv::imgproc::COLOR_BGR2BGRA),
        4 => None,
        n => {
            return Err(opencv::Error::new(
                opencv::core::StsUnsupportedFormat,
                format!("unsupported channel count {n}"),
            ))
        }
    };
    let bgra = match code {
        Some(code) => {
            let mut dst = Mat::default();
            opencv::imgproc::cvt_color(&eight_bit, &mut dst, code, 0)?;
            dst
        }
        None => eight_bit,
    };
    let bgra = if bgra.is_continuous() {
        bgra
    } else {
        bgra.try_clone()?
    };
    Ok(OverlayImage {
        width: bgra.cols() as u32,
        height: bgra.rows() as u32,
        bgra: bgra.data_bytes()?.to_vec(),
    })
}

/// Limits and restrictions applied while fetching an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadLimits {
    /// Total time allowed for connecting, receiving and reading the whole body.
    pub timeout: Duration,
    /// Largest accepted encoded size in bytes (file size or HTTP body).
    pub max_bytes: usize,
    /// Lower-case schemes accepted (`file` also covers plain paths); `None` accepts all
    /// supported ones.
    pub allowed_schemes: Option<Vec<String>>,
    /// Which files and hosts may be read.
    pub policy: UriPolicy,
    /// Largest image accepted, in pixels, checked before decoding.
    pub max_pixels: u64,
    /// Downloads running at once, server-wide; more are refused at once (never queued, so
    /// waiting clients cannot pile up on the server's threads).
    pub max_concurrent_fetches: usize,
    /// The server's own web pages: URLs naming them are read from disk, not fetched, so the
    /// demos' images load whatever `policy` says about the server's own address.
    pub own_site: Option<OwnSite>,
    /// DER certificates trusted for `https://` besides the usual roots: the server's own
    /// self-signed one, so pages served over its TLS port can name its images.
    pub extra_trusted_certificates: Vec<Vec<u8>>,
}

impl Default for LoadLimits {
    /// 10 seconds, 20 MiB, 16 MP, every supported scheme, no confinement.
    fn default() -> Self {
        LoadLimits {
            timeout: Duration::from_secs(10),
            max_bytes: 20 * 1024 * 1024,
            allowed_schemes: None,
            policy: UriPolicy::default(),
            max_pixels: DEFAULT_MAX_PIXELS,
            max_concurrent_fetches: DEFAULT_MAX_CONCURRENT_FETCHES,
            own_site: None,
            extra_trusted_certificates: Vec::new(),
        }
    }
}

/// The web pages a server serves itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnSite {
    /// The ports it serves them on (HTTP and HTTPS).
    pub ports: Vec<u16>,
    /// The directory they are served from.
    pub web_dir: PathBuf,
}

impl OwnSite {
    /// The file `url` names when it points at this server (a local address, one of its ports)
    /// and at a regular file of the web directory.
    fn file_for(&self, url: &str) -> Option<PathBuf> {
        let authority = crate::uri_policy::authority(url).ok()?;
        if !self.ports.contains(&authority.port) {
            return None;
        }
        let local = (authority.host.as_str(), 0)
            .to_socket_addrs()
            .ok()?
            .all(|a| std::net::UdpSocket::bind(SocketAddr::new(a.ip(), 0)).is_ok());
        if !local {
            return None;
        }
        let after_host = &url[url.find("://")? + 3..];
        let path = after_host[after_host.find('/')?..]
            .split(['?', '#'])
            .next()?
            .trim_start_matches('/');
        let decoded = crate::local_file::file_uri_path(&format!("file:///{path}"))?.ok()?;
        let root = self.web_dir.canonicalize().ok()?;
        let relative = decoded.strip_prefix("/").ok()?;
        let real = crate::local_file::existing_file(relative, Some(&[root][..])).ok()?;
        real.is_file().then_some(real)
    }
}

/// 4096×4096: a 64 MiB BGRA picture.
pub const DEFAULT_MAX_PIXELS: u64 = 4096 * 4096;

/// Image downloads at once, server-wide.
pub const DEFAULT_MAX_CONCURRENT_FETCHES: usize = 16;

/// Why an image could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The URI scheme is not `file`, `http` or `https`.
    #[error("unsupported URI scheme {0:?} (use file://, http://, https:// or a path)")]
    UnsupportedScheme(String),
    /// The scheme is supported but not allowed by the server's configuration.
    #[error("URI scheme {0:?} is not allowed on this server")]
    SchemeNotAllowed(String),
    /// The local file is missing or outside the media root (one wording for both).
    #[error(transparent)]
    File(#[from] LocalFileError),
    /// The URI could not be parsed.
    #[error("invalid URI {uri:?}: {reason}")]
    InvalidUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The local file exists but cannot be read.
    #[error("cannot read image file {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Nothing usable came from the URL: no connection, an HTTP error, a redirect not
    /// followed, or bytes that are not an image. One wording for all, so that a client cannot
    /// tell a closed port from an open one; `detail` is for the server's log.
    #[error("no image could be fetched from {url}")]
    Unreachable {
        /// The URL.
        url: String,
        /// What happened.
        detail: String,
    },
    /// The URI policy refuses the host (decided before any connection).
    #[error(transparent)]
    Refused(#[from] UriError),
    /// Too many downloads are running on the server.
    #[error("the server is already fetching {0} images; try again later")]
    Busy(usize),
    /// The encoded image is larger than [`LoadLimits::max_bytes`].
    #[error("image larger than the {limit}-byte limit")]
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// Fetching did not finish within [`LoadLimits::timeout`].
    #[error("timed out after {0:?} loading the image")]
    Timeout(Duration),
    /// The bytes are not an image OpenCV can decode.
    #[error("not a decodable image: {0}")]
    NotAnImage(String),
    /// The image's header declares more pixels than allowed.
    #[error("image of {width}x{height} pixels is larger than the {limit}-pixel limit")]
    TooManyPixels {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The limit.
        limit: u64,
    },
}

impl ImageError {
    /// The detail a client is not shown, for the server's log.
    pub fn log_detail(&self) -> Option<&str> {
        match self {
            ImageError::Unreachable { detail, .. } => Some(detail),
            _ => None,
        }
    }
}

/// Loads and decodes the image named by `uri`. **Blocking.**
///
/// Accepted forms: `file:///abs/path` (percent-escapes are decoded), a plain path,
/// `http://…` and `https://…`. Any other `scheme:` is [`ImageError::UnsupportedScheme`].
pub fn load_image(uri: &str, limits: &LoadLimits) -> Result<OverlayImage, ImageError> {
    let remote = file_uri_path(uri).is_none();
    let loaded = fetch(uri, limits).and_then(|bytes| {
        OverlayImage::decode_within(&bytes, limits.max_pixels).map_err(|e| match e {
            ImageError::NotAnImage(why) if remote => ImageError::Unreachable {
                url: uri.into(),
                detail: format!("not an image: {why}"),
            },
            other => other,
        })
    });
    if let Err(e) = &loaded {
        // The client reads one wording; the operator reads what happened.
        tracing::info!(
            uri,
            detail = e.log_detail().unwrap_or_default(),
            "image not loaded: {e}"
        );
    }
    loaded
}

fn fetch(uri: &str, limits: &LoadLimits) -> Result<Vec<u8>, ImageError> {
    let scheme = scheme_of(uri);
    if let Some(allowed) = &limits.allowed_schemes {
        let effective = scheme.as_deref().unwrap_or("file");
        if KNOWN_SCHEMES.contains(&effective) && !allowed.iter().any(|s| s == effective) {
            return Err(ImageError::SchemeNotAllowed(effective.to_owned()));
        }
    }
    if let Some(path) = file_uri_path(uri) {
        return read_file(&path?, limits);
    }
    // Only URIs with a scheme get here: plain paths are files.
    match scheme.as_deref().unwrap_or_default() {
        "http" | "https" => {
            if let Some(file) = limits.own_site.as_ref().and_then(|s| s.file_for(uri)) {
                let unconfined = LoadLimits {
                    policy: UriPolicy::default(),
                    ..limits.clone()
                };
                return read_file(&file, &unconfined);
            }
            let _slot = FetchSlot::take(limits.max_concurrent_fetches)?;
            fetch_http(uri, limits)
        }
        other => Err(ImageError::UnsupportedScheme(other.to_string())),
    }
}

/// Downloads running now, server-wide.
static FETCHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One running download; its slot is given back when dropped.
struct FetchSlot;

impl FetchSlot {
    fn take(limit: usize) -> Result<FetchSlot, ImageError> {
        use std::sync::atomic::Ordering;
        let taken = FETCHES.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < limit).then_some(n + 1)
        });
        taken
            .map(|_| FetchSlot)
            .map_err(|_| ImageError::Busy(limit))
    }
}

impl Drop for FetchSlot {
    fn drop(&mut self) {
        FETCHES.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// The schemes [`load_image`] understands.
const KNOWN_SCHEMES: [&str; 3] = ["file", "http", "https"];

fn read_file(path: &Path, limits: &LoadLimits) -> Result<Vec<u8>, ImageError> {
    let (real, file) = limits.policy.open_file(path).map_err(|e| match e {
        UriError::File(e) => ImageError::File(e),
        other => ImageError::Refused(other),
    })?;
    let unreadable = |source| ImageError::Unreadable {
        path: real.clone(),
        source,
    };
    let meta = file.metadata().map_err(unreadable)?;
    if meta.len() > limits.max_bytes as u64 {
        return Err(ImageError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    // Re-check while reading: the file may grow between stat and read.
    file.take(limits.max_bytes as u64 + 1)
        .read_to_end(&mut data)
        .map_err(unreadable)?;
    if data.len() > limits.max_bytes {
        return Err(ImageError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    Ok(data)
}

fn is_timeout(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

fn fetch_http(url: &str, limits: &LoadLimits) -> Result<Vec<u8>, ImageError> {
    let started = Instant::now();
    let unreachable = |detail: String| ImageError::Unreachable {
        url: url.into(),
        detail,
    };
    let client = PolicyHttp {
        policy: &limits.policy,
        timeout: limits.timeout,
        extra_trusted_certificates: &limits.extra_trusted_certificates,
    };
    let (_, response) = client.get_following_redirects(url).map_err(|e| match e {
        GetError::Refused(e) => ImageError::Refused(e),
        GetError::Unreachable(detail) => unreachable(detail),
    })?;
    let response = match response {
        Ok(r) => r,
        Err(ureq::Error::Status(status, _)) => return Err(unreachable(format!("HTTP {status}"))),
        Err(ureq::Error::Transport(t)) => {
            let timed_out = t
                .source()
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .is_some_and(is_timeout);
            if timed_out {
                return Err(ImageError::Timeout(limits.timeout));
            }
            if t.kind() == ureq::ErrorKind::InvalidUrl {
                return Err(ImageError::InvalidUri {
                    uri: url.into(),
                    reason: t.to_string(),
                });
            }
            return Err(unreachable(t.to_string()));
        }
    };
    if let Some(len) = response
        .header("Content-Length")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        if len > limits.max_bytes as u64 {
            return Err(ImageError::TooLarge {
                limit: limits.max_bytes,
            });
        }
    }
    let mut reader = response.into_reader().take(limits.max_bytes as u64 + 1);
    let mut data = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if started.elapsed() > limits.timeout {
            return Err(ImageError::Timeout(limits.timeout));
        }
        match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                data.extend_from_slice(&chunk[..n]);
                if data.len() > limits.max_bytes {
                    return Err(ImageError::TooLarge {
                        limit: limits.max_bytes,
                    });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => return Err(ImageError::Timeout(limits.timeout)),
            Err(e) => return Err(unreachable(e.to_string())),
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    const DATA: &str = "/usr/share/doc/opencv-doc/examples/data";

    fn encode_png(img: &Mat) -> Vec<u8> {
        let mut buf = Vector::<u8>::new();
        opencv::imgcodecs::imencode(".png", img, &mut buf, &Vector::new()).unwrap();
        buf.to_vec()
    }

    /// Serves each `(status line, body)` to one connection, in order, then exits.
    fn serve(responses: Vec<(&'static str, Vec<u8>)>) -> (String, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            for (status, body) in responses {
                let (mut sock, _) = listener.accept().unwrap();
                // Read the request head.
                let mut req = Vec::new();
                let mut byte = [0u8; 1];
                while !req.ends_with(b"\r\n\r\n") {
                    match sock.read(&mut byte) {
                        Ok(1) => req.push(byte[0]),
                        _ => break,
                    }
                }
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes());
                let _ = sock.write_all(&body);
            }
        });
        (format!("http://{addr}"), handle)
    }

    #[test]
    fn loads_jpeg_by_path_and_file_uri() {
        let path = format!("{DATA}/messi5.jpg");
        let a = load_image(&path, &LoadLimits::default()).unwrap();
        assert_eq!((a.width, a.height), (548, 342));
        assert_eq!(a.bgra.len(), 548 * 342 * 4);
        assert!(
            a.bgra.chunks(4).all(|p| p[3] == 255),
            "JPEG gets opaque alpha"
        );
        let b = load_image(&format!("file://{path}"), &LoadLimits::default()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn loads_png_keeping_alpha() {
        // A PNG shipped with opencv-doc.
        let path = format!("{DATA}/opencv-logo.png");
        let img = load_image(&path, &LoadLimits::default()).unwrap();
        assert!(img.width > 0 && img.height > 0);
        assert_eq!(img.bgra.len(), (img.width * img.height * 4) as usize);
        // The logo has a transparent background and opaque coloured rings.
        assert!(img.bgra.chunks(4).any(|p| p[3] == 0));
        assert!(img.bgra.chunks(4).any(|p| p[3] == 255));
    }

    #[test]
    fn converts_16bit_and_gray() {
        // 16-bit 3-channel PNG: value 0xFFFF maps to 255, 0x8080 to 128.
        let mut m16 = Mat::new_rows_cols_with_default(
            2,
            3,
            opencv::core::CV_16UC3,
            opencv::core::Scalar::new(65535.0, 32896.0, 0.0, 0.0),
        )
        .unwrap();
        let img = OverlayImage::decode(&encode_png(&m16)).unwrap();
        assert_eq!((img.width, img.height), (3, 2));
        assert_eq!(&img.bgra[..4], &[255, 128, 0, 255]);
        // 8-bit grey.
        m16 = Mat::new_rows_cols_with_default(
            1,
            2,
            opencv::core::CV_8UC1,
            opencv::core::Scalar::all(77.0),
        )
        .unwrap();
        let img = OverlayImage::decode(&encode_png(&m16)).unwrap();
        assert_eq!(img.bgra, vec![77, 77, 77, 255, 77, 77, 77, 255]);
    }

    #[test]
    fn missing_file() {
        let err = load_image("/nonexistent/nope.png", &LoadLimits::default()).unwrap_err();
        let not_found =
            |e: &ImageError| matches!(e, ImageError::File(LocalFileError::NotInRoot(_)));
        assert!(not_found(&err), "{err:?}");
        let err = load_image("file:///nonexistent/nope.png", &LoadLimits::default()).unwrap_err();
        assert!(not_found(&err), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/nope.png"));
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rheo-image-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn non_image_file() {
        let dir = temp_dir("text");
        let path = dir.join("notes.png");
        std::fs::write(&path, "this is text, not a PNG\n").unwrap();
        let err = load_image(path.to_str().unwrap(), &LoadLimits::default()).unwrap_err();
        assert!(matches!(err, ImageError::NotAnImage(_)), "{err:?}");
        let err = load_image(dir.to_str().unwrap(), &LoadLimits::default()).unwrap_err();
        assert!(
            matches!(err, ImageError::File(LocalFileError::NotInRoot(_))),
            "{err:?}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn file_uri_percent_escapes() {
        let dir = temp_dir("escape");
        let sub = dir.join("with space");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::copy(format!("{DATA}/opencv-logo.png"), sub.join("logo.png")).unwrap();
        let uri = format!("file://{}/with%20space/logo.png", dir.display());
        let img = load_image(&uri, &LoadLimits::default()).unwrap();
        assert!(img.width > 0);
        let err = load_image("file://relative/x.png", &LoadLimits::default()).unwrap_err();
        assert!(
            matches!(err, ImageError::File(LocalFileError::InvalidUri { .. })),
            "{err:?}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn file_too_large() {
        let limits = LoadLimits {
            max_bytes: 1000,
            ..Default::default()
        };
        let err = load_image(&format!("{DATA}/messi5.jpg"), &limits).unwrap_err();
        assert!(
            matches!(err, ImageError::TooLarge { limit: 1000 }),
            "{err:?}"
        );
    }

    #[test]
    fn unsupported_scheme() {
        let err = load_image("ftp://example.com/a.png", &LoadLimits::default()).unwrap_err();
        assert!(
            matches!(err, ImageError::UnsupportedScheme(ref s) if s == "ftp"),
            "{err:?}"
        );
        assert!(err.to_string().contains("ftp"));
    }

    #[test]
    fn http_ok_404_and_oversize() {
        let src = Mat::new_rows_cols_with_default(
            4,
            5,
            opencv::core::CV_8UC4,
            opencv::core::Scalar::new(10.0, 20.0, 30.0, 128.0),
        )
        .unwrap();
        let png = encode_png(&src);
        let big = vec![0u8; 64 * 1024];
        let (base, server) = serve(vec![
            ("200 OK", png.clone()),
            ("404 Not Found", b"nope".to_vec()),
            ("200 OK", big),
        ]);
        let img = load_image(&format!("{base}/a.png"), &LoadLimits::default()).unwrap();
        assert_eq!((img.width, img.height), (5, 4));
        assert_eq!(&img.bgra[..4], &[10, 20, 30, 128]);

        let err = load_image(&format!("{base}/missing.png"), &LoadLimits::default()).unwrap_err();
        assert!(
            matches!(&err, ImageError::Unreachable { detail, .. } if detail == "HTTP 404"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("no image could be fetched from {base}/missing.png")
        );

        let small = LoadLimits {
            max_bytes: 1024,
            ..Default::default()
        };
        let err = load_image(&format!("{base}/big.png"), &small).unwrap_err();
        assert!(
            matches!(err, ImageError::TooLarge { limit: 1024 }),
            "{err:?}"
        );
        server.join().unwrap();
    }

    #[test]
    fn redirects_stay_on_their_scheme_and_are_bounded() {
        let src = Mat::new_rows_cols_with_default(
            2,
            3,
            opencv::core::CV_8UC4,
            opencv::core::Scalar::new(1.0, 2.0, 3.0, 255.0),
        )
        .unwrap();
        let png = encode_png(&src);
        let (base, server) = serve(vec![
            ("302 Found\r\nLocation: /real.png", Vec::new()),
            ("200 OK", png),
            ("302 Found\r\nLocation: file:///etc/passwd", Vec::new()),
            ("301 Moved Permanently\r\nLocation: /loop.png", Vec::new()),
            ("301 Moved Permanently\r\nLocation: /loop.png", Vec::new()),
            ("301 Moved Permanently\r\nLocation: /loop.png", Vec::new()),
            ("301 Moved Permanently\r\nLocation: /loop.png", Vec::new()),
            ("301 Moved Permanently\r\nLocation: /loop.png", Vec::new()),
            ("301 Moved Permanently\r\nLocation: /loop.png", Vec::new()),
        ]);
        let img = load_image(&format!("{base}/moved.png"), &LoadLimits::default()).unwrap();
        assert_eq!((img.width, img.height), (3, 2));
        let err = load_image(&format!("{base}/to-file.png"), &LoadLimits::default()).unwrap_err();
        assert!(
            err.log_detail().unwrap().contains("not followed"),
            "{err:?}"
        );
        let err = load_image(&format!("{base}/loop.png"), &LoadLimits::default()).unwrap_err();
        assert!(err.log_detail().unwrap().contains("redirects"), "{err:?}");
        server.join().unwrap();
        use crate::policy_http::redirect_target;
        assert_eq!(
            redirect_target("https://a.example/x/y.png", "/z.png").as_deref(),
            Some("https://a.example/z.png")
        );
        assert_eq!(
            redirect_target("https://a.example/x", "http://b.example/"),
            None
        );
        assert_eq!(redirect_target("http://a.example/x", "//b.example/y"), None);
        assert_eq!(redirect_target("http://a.example/x", "y.png"), None);
    }

    #[test]
    fn http_oversize_without_content_length() {
        // A body streamed without Content-Length must still be cut at max_bytes.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = sock.read(&mut buf);
            let _ = sock.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            let _ = sock.write_all(&vec![7u8; 8192]);
        });
        let small = LoadLimits {
            max_bytes: 1024,
            ..Default::default()
        };
        let err = load_image(&format!("http://{addr}/x"), &small).unwrap_err();
        assert!(matches!(err, ImageError::TooLarge { .. }), "{err:?}");
        server.join().unwrap();
    }

    #[test]
    fn http_timeout_while_reading_body() {
        // Headers and a few bytes arrive, then the server stalls.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let server = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = sock.read(&mut buf);
            let _ = sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
            let _ = sock.write_all(&[0x89, b'P', b'N', b'G']);
            let _ = sock.flush();
            let _ = rx.recv();
        });
        let limits = LoadLimits {
            timeout: Duration::from_millis(300),
            ..Default::default()
        };
        let started = Instant::now();
        let err = load_image(&format!("http://{addr}/drip.png"), &limits).unwrap_err();
        assert!(matches!(err, ImageError::Timeout(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        tx.send(()).unwrap();
        server.join().unwrap();
    }

    #[test]
    fn http_timeout() {
        // The server accepts but never answers.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let server = std::thread::spawn(move || {
            let (_sock, _) = listener.accept().unwrap();
            let _ = rx.recv();
        });
        let limits = LoadLimits {
            timeout: Duration::from_millis(300),
            ..Default::default()
        };
        let started = Instant::now();
        let err = load_image(&format!("http://{addr}/slow.png"), &limits).unwrap_err();
        assert!(matches!(err, ImageError::Timeout(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        tx.send(()).unwrap();
        server.join().unwrap();
    }

    #[test]
    fn files_are_confined_to_the_root_and_schemes_to_the_allowed_ones() {
        let root = std::env::temp_dir().join(format!("rheo-image-root-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::copy(format!("{DATA}/messi5.jpg"), root.join("face.jpg")).unwrap();
        let outside = root.join("escape.jpg");
        let _ = std::fs::remove_file(&outside);
        std::os::unix::fs::symlink(format!("{DATA}/messi5.jpg"), &outside).unwrap();
        let limits = LoadLimits {
            allowed_schemes: Some(vec!["file".into()]),
            policy: UriPolicy {
                media_roots: Some(vec![root.canonicalize().unwrap()]),
                allow_private_networks: true,
            },
            ..Default::default()
        };
        let inside = format!("file://{}", root.join("face.jpg").display());
        assert!(load_image(&inside, &limits).is_ok());
        assert!(
            load_image("face.jpg", &limits).is_ok(),
            "relative to the root"
        );
        let name = root.file_name().unwrap().to_str().unwrap();
        let back_inside = format!("{}/../{name}/face.jpg", root.display());
        assert!(load_image(&back_inside, &limits).is_ok());
        for escape in [
            format!("{DATA}/messi5.jpg"),
            "../../../../etc/passwd".to_string(),
            outside.display().to_string(),
        ] {
            let err = load_image(&escape, &limits).unwrap_err();
            assert!(
                matches!(err, ImageError::File(LocalFileError::NotInRoot(_))),
                "{escape}: {err}"
            );
        }
        let err = load_image("http://127.0.0.1:9/x.png", &limits).unwrap_err();
        assert!(matches!(err, ImageError::SchemeNotAllowed(s) if s == "http"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
