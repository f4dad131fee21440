//! Static files of the demos (web/) and the health endpoint.

use std::path::{Component, Path, PathBuf};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{Head, Site};

pub(super) async fn serve(mut stream: TcpStream, head: &Head, site: &Site) -> std::io::Result<()> {
    let with_body = head.method != "HEAD";
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
    let path = head.path.split(['?', '#']).next().unwrap_or("/");
    if path == "/healthz" {
        return respond(&mut stream, 200, "text/plain", b"ok\n", with_body).await;
    }
    match resolve(&site.web_dir, path) {
        Some(file) => match tokio::fs::read(&file).await {
            Ok(body) => respond(&mut stream, 200, content_type(&file), &body, with_body).await,
            Err(_) => respond(&mut stream, 404, "text/plain", b"not found\n", with_body).await,
        },
        None => respond(&mut stream, 404, "text/plain", b"not found\n", with_body).await,
    }
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

pub(super) async fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    with_body: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Error",
    };
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
}
