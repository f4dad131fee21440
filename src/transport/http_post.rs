//! POSTs to an HttpPostEndpoint's URL: the body (raw, or the file of a `multipart/form-data`
//! form; with a length, chunked, or up to the connection's end) is fed to the endpoint as it
//! arrives, at the pace the endpoint plays it.

use std::time::Duration;

use rheo_media::{Upload, UploadRefused};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::http::respond;
use super::multipart::{form_data_boundary, FormFile};
use super::Head;

/// A sender that goes quiet this long has lost its connection.
const IDLE_LIMIT: Duration = Duration::from_secs(30);
/// Body pieces queued between the connection and the endpoint.
const QUEUED_PIECES: usize = 8;
const READ_SIZE: usize = 64 * 1024;

/// Takes a POST to `token`'s endpoint (`leftover`: body bytes read with the head).
pub(super) async fn receive<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    head: &Head,
    token: &str,
    leftover: Vec<u8>,
) -> std::io::Result<()> {
    let Some(target) = rheo_media::upload_target(token) else {
        return respond(&mut stream, 404, "text/plain", b"no such endpoint\n", true).await;
    };
    let framing = match Framing::of(head) {
        Ok(f) => f,
        Err(why) => {
            let body = format!("{why}\n");
            return respond(&mut stream, 400, "text/plain", body.as_bytes(), true).await;
        }
    };
    let mut form = head
        .header("content-type")
        .and_then(form_data_boundary)
        .map(|b| FormFile::new(&b));
    let upload = match tokio::task::spawn_blocking(move || target.begin()).await {
        Ok(Ok(upload)) => upload,
        Ok(Err(refused)) => {
            let status = match refused {
                UploadRefused::Busy => 409,
                UploadRefused::Ended => 410,
                UploadRefused::Failed(_) => 500,
            };
            let body = format!("{refused}\n");
            return respond(&mut stream, status, "text/plain", body.as_bytes(), true).await;
        }
        Err(_) => return respond(&mut stream, 500, "text/plain", b"internal error\n", true).await,
    };
    if head
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }
    let (pieces, feeder) = feed(upload);
    let mut body = Body {
        stream: &mut stream,
        buf: leftover,
        framing,
    };
    let mut fed_bytes = 0usize;
    let outcome: Result<(), (u16, String)> = async {
        loop {
            let piece = match tokio::time::timeout(IDLE_LIMIT, body.next()).await {
                Ok(Ok(Some(piece))) => piece,
                Ok(Ok(None)) => break,
                Ok(Err(e)) => return Err((400, format!("the upload was cut off: {e}"))),
                Err(_) => return Err((408, "the upload stalled".into())),
            };
            let piece = match &mut form {
                Some(form) => form.feed(&piece).map_err(|why| (400, why))?,
                None => piece,
            };
            fed_bytes += piece.len();
            if !piece.is_empty() && pieces.send(piece).await.is_err() {
                break; // the endpoint stopped taking it; the feeder says why
            }
        }
        if let Some(form) = &form {
            form.finish().map_err(|why| (400, why))?;
        }
        if fed_bytes == 0 {
            return Err((400, "the upload is empty".into()));
        }
        Ok(())
    }
    .await;
    drop(pieces);
    // The feeder finishes the upload only after a complete body; otherwise it counts as a lost
    // connection the endpoint may see resumed.
    let fed = feeder.finish(outcome.is_ok()).await;
    let (status, text) = match (outcome, fed) {
        (Ok(()), Ok(())) => (200, "upload complete".to_owned()),
        (_, Err(why)) => (415, format!("the upload is not playable media: {why}")),
        (Err((status, why)), Ok(())) => (status, why),
    };
    let text = format!("{text}\n");
    respond(&mut stream, status, "text/plain", text.as_bytes(), true).await
}

/// How the request body ends.
enum Framing {
    Length(u64),
    Chunked(ChunkState),
    UntilClose,
}

enum ChunkState {
    /// Expecting a size line.
    Size,
    /// This many bytes of the current chunk are left.
    Data(u64),
    /// The line break after a chunk's data.
    DataEnd,
    Done,
}

impl Framing {
    fn of(head: &Head) -> Result<Framing, String> {
        if head
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            return Ok(Framing::Chunked(ChunkState::Size));
        }
        match head.header("content-length") {
            Some(v) => v
                .trim()
                .parse()
                .map(Framing::Length)
                .map_err(|_| format!("bad Content-Length {v:?}")),
            None => Ok(Framing::UntilClose),
        }
    }
}

struct Body<'a, S> {
    stream: &'a mut S,
    buf: Vec<u8>,
    framing: Framing,
}

impl<S: AsyncRead + Unpin> Body<'_, S> {
    /// The next piece of the body; `None` once it is complete.
    async fn next(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            match &mut self.framing {
                Framing::Length(0) => return Ok(None),
                Framing::Length(left) => {
                    if self.buf.is_empty() && !fill(self.stream, &mut self.buf).await? {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    let take = self.buf.len().min(*left as usize);
                    *left -= take as u64;
                    return Ok(Some(take_front(&mut self.buf, take)));
                }
                Framing::UntilClose => {
                    if self.buf.is_empty() && !fill(self.stream, &mut self.buf).await? {
                        return Ok(None);
                    }
                    return Ok(Some(std::mem::take(&mut self.buf)));
                }
                Framing::Chunked(ChunkState::Done) => return Ok(None),
                Framing::Chunked(ChunkState::Size) => {
                    let line = self.line().await?;
                    let size = line.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(size, 16)
                        .map_err(|_| invalid(format!("bad chunk size {size:?}")))?;
                    if size == 0 {
                        // Trailers, up to the blank line.
                        while !self.line().await?.is_empty() {}
                        self.framing = Framing::Chunked(ChunkState::Done);
                    } else {
                        self.framing = Framing::Chunked(ChunkState::Data(size));
                    }
                }
                Framing::Chunked(ChunkState::Data(left)) => {
                    if self.buf.is_empty() && !fill(self.stream, &mut self.buf).await? {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    let take = self.buf.len().min(*left as usize);
                    *left -= take as u64;
                    if *left == 0 {
                        self.framing = Framing::Chunked(ChunkState::DataEnd);
                    }
                    return Ok(Some(take_front(&mut self.buf, take)));
                }
                Framing::Chunked(ChunkState::DataEnd) => {
                    if !self.line().await?.is_empty() {
                        return Err(invalid("chunk data longer than its size".into()));
                    }
                    self.framing = Framing::Chunked(ChunkState::Size);
                }
            }
        }
    }

    /// One CRLF-terminated line (without it), for the chunked framing.
    async fn line(&mut self) -> std::io::Result<String> {
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..at]).into_owned();
                self.buf.drain(..at + 2);
                return Ok(line);
            }
            if self.buf.len() > 4096 {
                return Err(invalid("chunk line too long".into()));
            }
            if !fill(self.stream, &mut self.buf).await? {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

/// Reads more of the connection into `buf`; false at its end.
async fn fill<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    buf.reserve(READ_SIZE);
    Ok(stream.read_buf(buf).await? > 0)
}

/// The first `n` bytes of `buf`, leaving the rest; without copying when that is all of it.
fn take_front(buf: &mut Vec<u8>, n: usize) -> Vec<u8> {
    if n == buf.len() {
        return std::mem::take(buf);
    }
    let rest = buf.split_off(n);
    std::mem::replace(buf, rest)
}

fn invalid(why: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why)
}

/// The blocking side: pushes the pieces into the endpoint (which may wait for playback).
struct Feeder {
    task: tokio::task::JoinHandle<Result<Upload, String>>,
}

fn feed(upload: Upload) -> (mpsc::Sender<Vec<u8>>, Feeder) {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(QUEUED_PIECES);
    let task = tokio::task::spawn_blocking(move || {
        while let Some(piece) = rx.blocking_recv() {
            upload.push(piece).map_err(|e| e.message)?;
        }
        Ok(upload)
    });
    (tx, Feeder { task })
}

impl Feeder {
    /// Waits for the pushed pieces to be taken; `complete`: the body arrived whole, so the
    /// stream ends there (else the upload is left to be resumed).
    async fn finish(self, complete: bool) -> Result<(), String> {
        let upload = match self.task.await {
            Ok(Ok(upload)) => upload,
            Ok(Err(why)) => return Err(why),
            Err(_) => return Err("the upload task failed".into()),
        };
        if !complete {
            return Ok(());
        }
        match tokio::task::spawn_blocking(move || upload.finish()).await {
            Ok(finished) => finished.map_err(|e| e.message),
            Err(_) => Err("the upload task failed".into()),
        }
    }
}
