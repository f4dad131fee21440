//! Plain HTTP: health, readiness, metrics, TURN credentials and the demos' static files (WHIP
//! and WHEP requests go on to `whip`).

use std::path::{Component, Path, PathBuf};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::{Head, Site};
use crate::control::Core;
use crate::objects::http_post_endpoint;

pub(super) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: std::net::SocketAddr,
    head: &Head,
    body_start: Vec<u8>,
    site: &Site,
    core: &Core,
) -> std::io::Result<()> {
    let with_body = head.method != "HEAD";
    // What a page could use for someone else: uploads into their endpoints, TURN credentials.
    let guarded = head.route() == "/turn-credentials"
        || head.route().starts_with(http_post_endpoint::URL_PATH);
    if guarded && !site.origin_admitted(head, peer) {
        let body = b"origin not allowed (setting allowed_origins)\n";
        return respond(&mut stream, 403, "text/plain", body, with_body).await;
    }
    if super::whip::route(head).is_some() {
        return super::whip::serve(stream, peer, head, body_start, site).await;
    }
    if head.method == "POST" {
        if let Some(token) = head.route().strip_prefix(http_post_endpoint::URL_PATH) {
            return super::http_post::receive(stream, head, token, body_start).await;
        }
    }
    if head.method != "GET" && head.method != "HEAD" {
        return respond(
            &mut stream,
            405,
            "text/plain",
            b"method not allowed\n",
            with_body,
        )
        .await;
    }
    match head.route() {
        "/healthz" => respond(&mut stream, 200, "text/plain", b"ok\n", with_body).await,
        "/readyz" => match site.health.readiness() {
            Ok(()) => respond(&mut stream, 200, "text/plain", b"ready\n", with_body).await,
            Err(why) => {
                let body = format!("not ready: {why}\n");
                respond(&mut stream, 503, "text/plain", body.as_bytes(), with_body).await
            }
        },
        "/metrics" => {
            let body = crate::metrics::render(core, site);
            let kind = "text/plain; version=0.0.4; charset=utf-8";
            respond(&mut stream, 200, kind, body.as_bytes(), with_body).await
        }
        "/turn-credentials" => turn_credentials(&mut stream, head, site, with_body).await,
        "/python-filters" => {
            let body = python_filters().to_string();
            respond(
                &mut stream,
                200,
                "application/json",
                body.as_bytes(),
                with_body,
            )
            .await
        }
        path => match resolve(&site.web_dir, path) {
            Some(file) => match tokio::fs::read(&file).await {
                Ok(body) => respond(&mut stream, 200, content_type(&file), &body, with_body).await,
                Err(_) => respond(&mut stream, 404, "text/plain", b"not found\n", with_body).await,
            },
            None => respond(&mut stream, 404, "text/plain", b"not found\n", with_body).await,
        },
    }
}

async fn turn_credentials<S: AsyncWrite + Unpin>(
    stream: &mut S,
    head: &Head,
    site: &Site,
    with_body: bool,
) -> std::io::Result<()> {
    if let Some(token) = &site.access_token {
        if !head.carries_token(token) {
            let body = b"{\"error\":\"access token missing or invalid\"}\n";
            return respond(stream, 401, "application/json", body, with_body).await;
        }
    }
    let Some(turn) = &site.turn else {
        let body = b"{\"error\":\"TURN credentials are not configured (RHEO_TURN_SECRET)\"}\n";
        return respond(stream, 404, "application/json", body, with_body).await;
    };
    let body = crate::turn_rest::response(turn, &request_host(head)).to_string();
    respond(stream, 200, "application/json", body.as_bytes(), with_body).await
}

/// The Python filters clients may create (names and the first line of each file's docstring),
/// for the demo page.
fn python_filters() -> serde_json::Value {
    let settings = rheo_filters::python::settings();
    let filters: Vec<serde_json::Value> = settings
        .modules()
        .into_iter()
        .map(|name| {
            let doc = settings
                .module_path(&name)
                .ok()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .map(|code| first_docstring_line(&code))
                .unwrap_or_default();
            serde_json::json!({"name": name, "doc": doc})
        })
        .collect();
    serde_json::json!({ "filters": filters })
}

/// The first line of a Python file's module docstring, when it opens with one.
fn first_docstring_line(code: &str) -> String {
    let code = code.trim_start();
    let body = code
        .strip_prefix("\"\"\"")
        .or_else(|| code.strip_prefix("'''"))
        .unwrap_or("");
    body.lines()
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches("\"\"\"")
        .to_owned()
}

/// The host part of the Host header (no port), `localhost` when absent.
pub(super) fn request_host(head: &Head) -> String {
    let host = head.header("host").unwrap_or("localhost").trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("localhost").to_owned();
    }
    host.split(':').next().unwrap_or("localhost").to_owned()
}

/// Maps a URL path to a file under `root`; `None` for anything that would leave it.
fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let mut out = root.to_path_buf();
    for c in Path::new(url_path.trim_start_matches('/')).components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if out.is_dir() {
        out.push("index.html");
    }
    out.is_file().then_some(out)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// The reason phrase of every status Rheo answers with.
pub(super) fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

pub(super) async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    content_type: &str,
    body: &[u8],
    with_body: bool,
) -> std::io::Result<()> {
    let reason = reason_phrase(status);
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if with_body {
        stream.write_all(body).await?;
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_never_leave_the_root() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        assert!(resolve(&root, "/lib.rs").is_some());
        assert!(resolve(&root, "/../Cargo.toml").is_none());
        assert!(resolve(&root, "/nope.txt").is_none());
    }

    #[test]
    fn the_request_host_drops_the_port() {
        let head = |h: &str| Head {
            method: "GET".into(),
            path: "/".into(),
            headers: vec![("Host".into(), h.into())],
        };
        assert_eq!(request_host(&head("192.0.2.1:8433")), "192.0.2.1");
        assert_eq!(request_host(&head("[2001:db8::1]:8433")), "2001:db8::1");
        assert_eq!(request_host(&head("rheo.example")), "rheo.example");
    }
}
