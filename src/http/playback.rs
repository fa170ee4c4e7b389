//! HTTP download and playback of recordings (layer 4): `GET /record/<name>?usr=…&pwd=…` (the path
//! getRecordList answers as `recordN`), with single byte-range requests so a browser's
//! `<video>` and VLC can seek. The caller needs the privilege getRecordList needs; the name
//! must be a segment name the record index lists (never a path as given). The file is streamed
//! from the card in 64 KiB reads, never loaded whole.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use tokio::io::{AsyncRead, AsyncSeekExt, ReadBuf};

use super::render::Body;
use crate::cgi::catalogue::{self, Privilege};
use crate::cgi::query::Query;
use crate::cgi::{self, CgiError};
use crate::recorder::RecordError;

/// Bytes read from the card per body chunk.
const CHUNK: usize = 64 * 1024;

/// The URL prefix of recordings.
pub const PREFIX: &str = "/record/";

fn text(status: StatusCode, message: &'static str) -> Response<Body> {
    let body = http_body_util::Full::new(Bytes::from_static(message.as_bytes()))
        .map_err(|never| match never {})
        .boxed();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// A file region streamed as the body.
struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
    buffer: BytesMut,
}

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(this.remaining).unwrap_or(CHUNK).min(CHUNK);
        this.buffer.resize(want, 0);
        let mut read = ReadBuf::new(&mut this.buffer[..want]);
        match Pin::new(&mut this.file).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(err)) => Poll::Ready(Some(Err(err))),
            Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                if n == 0 {
                    // The file shrank under us (a repair pass): end the body early.
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "recording shorter than announced",
                    ))));
                }
                this.remaining -= n as u64;
                let chunk = this.buffer.split_to(n).freeze();
                Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk))))
            }
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.remaining)
    }
}

/// Answers `GET`/`HEAD /record/<name>` with an optional `Range` header value.
pub async fn serve(
    ctx: Arc<cgi::Context>,
    peer: SocketAddr,
    name: &str,
    query: &str,
    range: Option<&str>,
    head: bool,
) -> Response<Body> {
    let Ok(query) = Query::parse(query) else {
        return text(StatusCode::BAD_REQUEST, "bad query\n");
    };
    let needed = catalogue::find("getRecordList").map_or(Privilege::Admin, |c| c.privilege);
    let name = name.to_owned();
    let found = tokio::task::spawn_blocking(move || {
        let user = cgi::authenticate(&ctx, &query, peer.ip())?;
        if user.privilege < needed {
            return Err(CgiError::Denied);
        }
        let recorder = ctx
            .recorder
            .as_ref()
            .ok_or_else(|| CgiError::Exec("no SD card slot".into()))?;
        recorder.segment_file(&name).map_err(|err| match err {
            RecordError::NotFound => CgiError::Exec("no such recording".into()),
            other => {
                crate::log_limit::limited!(info, "recording download refused", %other, "recording download refused");
                CgiError::Exec(other.to_string())
            }
        })
    })
    .await;
    let path = match found {
        Ok(Ok(path)) => path,
        Ok(Err(err)) => return super::render::download_refused(&err),
        Err(_) => {
            return super::render::download_refused(&CgiError::Unknown("panicked".into()));
        }
    };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(_) => return text(StatusCode::NOT_FOUND, "not found\n"),
    };
    let size = match file.metadata().await {
        Ok(meta) => meta.len(),
        Err(_) => return text(StatusCode::NOT_FOUND, "not found\n"),
    };
    let (status, start, length) = match range.map(http_range_header::parse_range_header) {
        None => (StatusCode::OK, 0, size),
        Some(Ok(parsed)) => match parsed.validate(size) {
            // One range: 206. Several: the whole file (a server may ignore Range).
            Ok(ranges) if ranges.len() == 1 => {
                let r = &ranges[0];
                (
                    StatusCode::PARTIAL_CONTENT,
                    *r.start(),
                    r.end() - r.start() + 1,
                )
            }
            Ok(_) => (StatusCode::OK, 0, size),
            Err(_) => return unsatisfiable(size),
        },
        Some(Err(_)) => return unsatisfiable(size),
    };
    if start > 0 && file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "read failed\n");
    }
    let body = if head {
        http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed()
    } else {
        FileBody {
            file,
            remaining: length,
            buffer: BytesMut::with_capacity(CHUNK),
        }
        .boxed()
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&length.to_string()) {
        headers.insert(CONTENT_LENGTH, value);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        let value = format!("bytes {start}-{}/{size}", start + length - 1);
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(CONTENT_RANGE, value);
        }
    }
    response
}

fn unsatisfiable(size: u64) -> Response<Body> {
    let mut response = text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
    if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
        response.headers_mut().insert(CONTENT_RANGE, value);
    }
    response
}
