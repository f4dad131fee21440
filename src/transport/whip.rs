//! WHIP and WHEP over HTTP (RFC 9725 and its egress twin): `POST /whip/<stream>` and
//! `POST /whep/<stream>` take an SDP offer and answer `201 Created` with the answer and the
//! session's `Location`; `PATCH` on that location trickles candidates; `DELETE` ends the
//! session; `OPTIONS` answers browsers' CORS preflights. The sessions are `crate::whip`'s.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Head, Site};
use crate::objects::whip_endpoint;
use crate::whip::{Created, Refusal, Role};

/// Time the client has to send its body.
const BODY_TIMEOUT: Duration = Duration::from_secs(15);
/// Methods a WHIP or WHEP URL takes.
const METHODS: &str = "OPTIONS, POST, PATCH, DELETE";

/// What a WHIP or WHEP URL names.
#[derive(Debug, PartialEq)]
pub(super) enum Target<'a> {
    /// A stream of the server's own (`/whip/<stream>`).
    Stream(&'a str),
    /// An application's WhipEndpoint or WhepEndpoint (`/whip-endpoint/<token>`).
    Endpoint(&'a str),
}

/// A request under `/whip/`, `/whep/`, `/whip-endpoint/` or `/whep-endpoint/`, if `head` is one:
/// the role, the target and the session.
pub(super) fn route(head: &Head) -> Option<(Role, Target<'_>, Option<&str>)> {
    let path = head.route();
    let (role, is_endpoint, rest) =
        [Role::Publisher, Role::Viewer]
            .into_iter()
            .find_map(|role| match path.strip_prefix(role.path()) {
                Some(rest) => Some((role, false, rest)),
                None => Some((
                    role,
                    true,
                    path.strip_prefix(whip_endpoint::url_path(role))?,
                )),
            })?;
    let mut parts = rest.splitn(2, '/');
    let key = parts.next().filter(|s| !s.is_empty())?;
    let resource = parts.next().filter(|r| !r.is_empty());
    let target = if is_endpoint {
        Target::Endpoint(key)
    } else {
        Target::Stream(key)
    };
    Some((role, target, resource))
}

pub(super) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: std::net::SocketAddr,
    head: &Head,
    body_start: Vec<u8>,
    site: &Site,
) -> std::io::Result<()> {
    let Some((role, target, resource)) = route(head) else {
        return reply(&mut stream, head, site, 404, &[], "not found").await;
    };
    let Some(gateway) = site.whip.as_ref() else {
        return reply(&mut stream, head, site, 404, &[], "WHIP and WHEP are off").await;
    };
    if head.method == "OPTIONS" {
        let extra = [("Accept-Post", "application/sdp".to_owned())];
        return reply(&mut stream, head, site, 204, &extra, "").await;
    }
    if !site.origin_admitted(head, peer) {
        return reply(&mut stream, head, site, 403, &[], "origin not allowed").await;
    }
    // An application's endpoint URL is its own credential, as an HttpPostEndpoint's is.
    if let Target::Stream(name) = target {
        let stream_token = match gateway.stream_token(name) {
            Ok(token) => token,
            Err(refusal) => return refuse(&mut stream, head, site, refusal).await,
        };
        let authorised = site
            .access_token
            .as_deref()
            .is_none_or(|t| head.carries_token(t))
            && stream_token.is_none_or(|t| head.carries_token(t));
        if !authorised {
            let extra = [("WWW-Authenticate", "Bearer".to_owned())];
            return reply(&mut stream, head, site, 401, &extra, "bad or missing token").await;
        }
    }
    let body = match read_body(&mut stream, head, body_start).await {
        Ok(body) => body,
        Err(refusal) => return refuse(&mut stream, head, site, refusal).await,
    };
    let outcome = match (head.method.as_str(), resource) {
        ("POST", None) => {
            if !content_type_is(head, "application/sdp") {
                Err(Refusal {
                    status: 415,
                    message: "the offer must be application/sdp".into(),
                })
            } else {
                let (created, base) = match target {
                    Target::Stream(name) => {
                        let created = match role {
                            Role::Publisher => gateway.publish(peer.ip(), name, &body).await,
                            Role::Viewer => gateway.view(peer.ip(), name, &body).await,
                        };
                        (created, format!("{}{name}", role.path()))
                    }
                    Target::Endpoint(token) => (
                        gateway.app_offer(peer.ip(), role, token, &body).await,
                        format!("{}{token}", whip_endpoint::url_path(role)),
                    ),
                };
                return match created {
                    Ok(created) => answer(&mut stream, head, site, &base, created).await,
                    Err(refusal) => refuse(&mut stream, head, site, refusal).await,
                };
            }
        }
        ("PATCH", Some(resource)) => {
            if !content_type_is(head, "application/trickle-ice-sdpfrag") {
                Err(Refusal {
                    status: 415,
                    message: "a PATCH must be application/trickle-ice-sdpfrag".into(),
                })
            } else {
                let if_match = head.header("if-match");
                match target {
                    Target::Stream(name) => {
                        gateway.trickle(role, name, resource, if_match, &body).await
                    }
                    Target::Endpoint(token) => {
                        gateway
                            .app_trickle(role, token, resource, if_match, &body)
                            .await
                    }
                }
                .map(|()| 204)
            }
        }
        ("DELETE", Some(resource)) => match target {
            Target::Stream(name) => gateway.end(role, name, resource).await,
            Target::Endpoint(token) => gateway.app_end(role, token, resource).await,
        }
        .map(|()| 200),
        _ => {
            let extra = [("Allow", METHODS.to_owned())];
            return reply(&mut stream, head, site, 405, &extra, "method not allowed").await;
        }
    };
    match outcome {
        Ok(status) => reply(&mut stream, head, site, status, &[], "").await,
        Err(refusal) => refuse(&mut stream, head, site, refusal).await,
    }
}

/// `201 Created` with the answer, the session's location and ETag, and the ICE servers.
async fn answer<S: AsyncWrite + Unpin>(
    stream: &mut S,
    head: &Head,
    site: &Site,
    base: &str,
    created: Created,
) -> std::io::Result<()> {
    let location = format!("{base}/{}", created.resource);
    let mut extra = vec![
        ("Location", location),
        ("ETag", created.etag),
        ("Accept-Patch", "application/trickle-ice-sdpfrag".to_owned()),
        ("Content-Type", "application/sdp".to_owned()),
    ];
    extra.extend(
        ice_server_links(head, site)
            .into_iter()
            .map(|l| ("Link", l)),
    );
    write(stream, head, site, 201, &extra, created.answer.as_bytes()).await
}

/// `Link: rel="ice-server"` headers: the STUN server, and TURN with credentials minted as
/// `/turn-credentials` mints them.
fn ice_server_links(head: &Head, site: &Site) -> Vec<String> {
    let mut links = Vec::new();
    if let Some(stun) = &site.stun {
        links.push(format!("<stun:{stun}>; rel=\"ice-server\""));
    }
    if let Some(turn) = &site.turn {
        let host = super::http::request_host(head);
        let minted = crate::turn_rest::response(turn, &host);
        let (user, pass) = (
            minted["username"].as_str().unwrap_or_default(),
            minted["password"].as_str().unwrap_or_default(),
        );
        for uri in minted["uris"].as_array().into_iter().flatten() {
            if let Some(uri) = uri.as_str() {
                links.push(format!(
                    "<{uri}>; rel=\"ice-server\"; username=\"{user}\"; credential=\"{pass}\"; \
                     credential-type=\"password\""
                ));
            }
        }
    }
    links
}

fn content_type_is(head: &Head, kind: &str) -> bool {
    head.header("content-type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(kind))
}

/// The request's body (`Content-Length` bytes, at most the SDP size limit).
async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    head: &Head,
    mut body: Vec<u8>,
) -> Result<String, Refusal> {
    let refuse = |status: u16, message: &str| Refusal {
        status,
        message: message.to_owned(),
    };
    let length = match head.header("content-length") {
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| refuse(400, "bad Content-Length"))?,
        None if head.header("transfer-encoding").is_some() => {
            return Err(refuse(411, "send the body with a Content-Length"))
        }
        None => 0,
    };
    let limit = rheo_media::sdp_limits().max_bytes;
    if length > limit {
        return Err(refuse(413, &format!("the body is over {limit} bytes")));
    }
    let read = async {
        let mut chunk = [0u8; 8192];
        while body.len() < length {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
            body.extend_from_slice(&chunk[..n]);
        }
        Ok(())
    };
    match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Err(refuse(400, "the body was cut off")),
        Err(_) => return Err(refuse(408, "the body did not come in time")),
    }
    body.truncate(length);
    String::from_utf8(body).map_err(|_| refuse(400, "the body is not text"))
}

async fn refuse<S: AsyncWrite + Unpin>(
    stream: &mut S,
    head: &Head,
    site: &Site,
    refusal: Refusal,
) -> std::io::Result<()> {
    let extra: Vec<(&str, String)> = if refusal.status == 405 {
        vec![("Allow", METHODS.to_owned())]
    } else {
        Vec::new()
    };
    reply(stream, head, site, refusal.status, &extra, &refusal.message).await
}

/// A response with a short text body (none when `text` is empty).
async fn reply<S: AsyncWrite + Unpin>(
    stream: &mut S,
    head: &Head,
    site: &Site,
    status: u16,
    extra: &[(&str, String)],
    text: &str,
) -> std::io::Result<()> {
    let mut extra = extra.to_vec();
    let body = if text.is_empty() {
        String::new()
    } else {
        extra.push(("Content-Type", "text/plain; charset=utf-8".to_owned()));
        format!("{text}\n")
    };
    write(stream, head, site, status, &extra, body.as_bytes()).await
}

async fn write<S: AsyncWrite + Unpin>(
    stream: &mut S,
    head: &Head,
    site: &Site,
    status: u16,
    extra: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let reason = super::http::reason_phrase(status);
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in extra {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    for (name, value) in cors(head, site) {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(out.as_bytes()).await?;
    if head.method != "HEAD" {
        stream.write_all(body).await?;
    }
    stream.shutdown().await
}

/// CORS for pages of admitted origins: they may POST offers, PATCH, DELETE, and read the
/// answer's Location, ETag and Link headers.
fn cors(head: &Head, site: &Site) -> Vec<(&'static str, String)> {
    let Some(origin) = head.header("origin") else {
        return Vec::new();
    };
    if site
        .origins
        .admit(Some(origin), head.header("host"))
        .is_none()
    {
        return Vec::new();
    }
    vec![
        ("Access-Control-Allow-Origin", origin.to_owned()),
        ("Vary", "Origin".to_owned()),
        ("Access-Control-Allow-Methods", METHODS.to_owned()),
        (
            "Access-Control-Allow-Headers",
            "Authorization, Content-Type, If-Match".to_owned(),
        ),
        (
            "Access-Control-Expose-Headers",
            "Location, ETag, Link, Accept-Patch, Accept-Post".to_owned(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, path: &str) -> Head {
        Head {
            method: method.into(),
            path: path.into(),
            headers: vec![("Content-Type".into(), "application/sdp; x=1".into())],
        }
    }

    #[test]
    fn urls_name_the_role_stream_and_session() {
        let h = head("POST", "/whip/cam1?x=1");
        assert_eq!(
            route(&h),
            Some((Role::Publisher, Target::Stream("cam1"), None))
        );
        let h = head("DELETE", "/whep-endpoint/t0k/abc");
        assert_eq!(
            route(&h),
            Some((Role::Viewer, Target::Endpoint("t0k"), Some("abc")))
        );
        let h = head("DELETE", "/whep/cam1/abc");
        assert_eq!(
            route(&h),
            Some((Role::Viewer, Target::Stream("cam1"), Some("abc")))
        );
        assert_eq!(route(&head("POST", "/whip/")), None);
        assert_eq!(route(&head("POST", "/other")), None);
        assert!(content_type_is(&h, "application/sdp"));
    }
}
