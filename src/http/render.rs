//! Rendering (layer 4): a CGI [`Outcome`] as an HTTP response (XML, HTML, JPEG), the MJPEG
//! stream body, and plain-text refusals of requests that never reached the dispatcher.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use crate::cgi::Outcome;
use crate::cgi::reply::{Reply, render_xml};
use crate::media::{BOUNDARY, Media, MjpegPart};

/// The response body type.
pub type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// A body of these bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A plain-text response with a status.
pub fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(full(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// The answer to a download that failed, by [`crate::cgi::CgiError::download_status`].
pub fn download_refused(err: &crate::cgi::CgiError) -> Response<Body> {
    match StatusCode::from_u16(err.download_status()).unwrap_or(StatusCode::NOT_FOUND) {
        StatusCode::UNAUTHORIZED => plain(StatusCode::UNAUTHORIZED, "credentials needed\n"),
        StatusCode::FORBIDDEN => plain(StatusCode::FORBIDDEN, "not allowed\n"),
        _ => plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn no_store(response: &mut Response<Body>) {
    response
        .headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
}

/// Bytes of a type, not cached.
pub fn bytes_response(bytes: Vec<u8>, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(full(bytes));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    no_store(&mut response);
    response
}

/// A dispatcher outcome: HTTP 200 with the reply (the result code is in `<result>`).
pub fn render(outcome: Outcome) -> Response<Body> {
    let (body, content_type) = match outcome.reply {
        Reply::Xml(fields) => {
            let fields = if outcome.code == 0 {
                fields
            } else {
                Default::default()
            };
            (
                full(render_xml(outcome.code, &fields)),
                "text/xml; charset=utf-8",
            )
        }
        Reply::Html(html) => (full(html), "text/html; charset=utf-8"),
        Reply::Jpeg(bytes) => (full(bytes), "image/jpeg"),
        // A stream reply on a camera without media (the dispatcher's handler refuses first).
        Reply::MjpegStream => (
            full(render_xml(
                crate::cgi::CgiError::Exec(String::new()).code(),
                &Default::default(),
            )),
            "text/xml; charset=utf-8",
        ),
    };
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    no_store(&mut response);
    response
}

/// A GetMJStream reply: the multipart stream of the sub stream, fed from a new viewer queue.
pub fn mjpeg_response(media: &Media) -> Response<Body> {
    let parts = media.subscribe(&tokio::runtime::Handle::current());
    let mut response = Response::new(
        MjpegBody {
            parts,
            queued: Vec::new(),
        }
        .boxed(),
    );
    let content_type = format!("multipart/x-mixed-replace;boundary={BOUNDARY}");
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    no_store(&mut response);
    response
}

/// The body of a GetMJStream reply: multipart parts from the viewer's bounded queue.
struct MjpegBody {
    parts: tokio::sync::mpsc::Receiver<MjpegPart>,
    /// Frames of the current part still to send, in reverse order.
    queued: Vec<Bytes>,
}

impl hyper::body::Body for MjpegBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        use std::task::Poll;
        if let Some(next) = self.queued.pop() {
            return Poll::Ready(Some(Ok(hyper::body::Frame::data(next))));
        }
        match self.parts.poll_recv(cx) {
            Poll::Ready(Some(part)) => {
                self.queued = vec![Bytes::from_static(b"\r\n"), part.jpeg];
                Poll::Ready(Some(Ok(hyper::body::Frame::data(part.head))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The camera's state for `/debug/state.json` (motion cell scores, the cells of the last
/// alarm, capture health, the PTZ position where the motor reports one).
pub fn debug_json(media: Option<&Media>, ptz: Option<ipcamd_hal::ptz::Position>) -> String {
    let mut out = String::from("{");
    match media {
        Some(media) => out.push_str(&media.debug_json_fields()),
        None => out.push_str("\"frames\":null,"),
    }
    out.push_str(&match ptz {
        Some(p) => format!(
            "\"ptz\":{{\"pan\":{:.2},\"tilt\":{:.2},\"zoom\":{:.2}}}",
            p.pan, p.tilt, p.zoom
        ),
        None => "\"ptz\":null".into(),
    });
    out.push('}');
    out
}
