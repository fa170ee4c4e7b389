//! The HTTP server: hyper over tokio, with the limits a small camera needs (bounded header
//! size, header and idle timeouts, capped uploads; admission and connection limits are
//! [`crate::listener`]'s) and the route table:
//! `/cgi-bin/CGIProxy.fcgi` and `/cgi-bin/CGIStream.cgi`; everything else is 404, never a file
//! tree. Every reply that reached the CGI dispatcher is HTTP 200; the outcome is in `<result>`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::app::App;
use crate::cgi::catalogue::Privilege;
use crate::cgi::query::Query;
use crate::cgi::reply::{Reply, render_xml};
use crate::cgi::{self, Outcome};

/// Largest request head (request line plus headers).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Time a client gets to send its request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest POST body (importConfig, fwUpgrade).
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;
/// Longest request target.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The response body type.
pub type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(full(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// Serves the connections of one listener role until the listeners shut down. Admission
/// (firewall, connection limits) happened in [`crate::listener`]; each connection runs in its
/// own task, counts as busy while a request is served or its reply streams, and is dropped when
/// the gate evicts it to make room.
pub async fn serve(app: Arc<App>, mut endpoint: crate::listener::Endpoint) -> std::io::Result<()> {
    while let Some(admitted) = endpoint.accept().await {
        let app = app.clone();
        tokio::spawn(async move {
            let peer = admitted.peer;
            let conn = match admitted.handshake().await {
                Ok(conn) => conn,
                Err(err) => {
                    tracing::debug!(%peer, %err, "TLS handshake failed");
                    return;
                }
            };
            let ticket = Arc::new(conn.ticket);
            let service_ticket = ticket.clone();
            let service = service_fn(move |req| {
                let busy = service_ticket.busy();
                let app = app.clone();
                async move {
                    let response = handle(app, peer, req).await?;
                    Ok::<_, Infallible>(
                        response.map(|body| GuardedBody { body, _busy: busy }.boxed()),
                    )
                }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(TokioIo::new(conn.stream), service);
            tokio::select! {
                result = connection => {
                    if let Err(err) = result {
                        tracing::debug!(%peer, %err, "connection ended with an error");
                    }
                }
                _ = ticket.evicted() => {
                    tracing::debug!(%peer, "idle connection gave way to a new one");
                }
            }
        });
    }
    Ok(())
}

/// A reply body that keeps its connection marked busy until it has been sent.
struct GuardedBody {
    body: Body,
    _busy: crate::listener::BusyGuard,
}

impl hyper::body::Body for GuardedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Routes one request.
pub async fn handle(
    app: Arc<App>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let uri = req.uri();
    if uri.to_string().len() > MAX_URI_BYTES {
        return Ok(plain(StatusCode::URI_TOO_LONG, "request target too long\n"));
    }
    // The guide's upload forms post to "cgi-bin/ CGIProxy.fcgi" (a stray space).
    let path = uri.path().replacen("/cgi-bin/%20", "/cgi-bin/", 1);
    let path = path.as_str();
    // The guide's general description writes `CGIProxy.fcgi&usr=…` with '&' for '?'.
    let (path, query) = match path.split_once('&') {
        Some((p, rest)) if p.starts_with("/cgi-bin/") => {
            let mut q = rest.to_owned();
            if let Some(extra) = uri.query() {
                q.push('&');
                q.push_str(extra);
            }
            (p.to_owned(), q)
        }
        _ => (path.to_owned(), uri.query().unwrap_or("").to_owned()),
    };
    match path.as_str() {
        "/cgi-bin/CGIProxy.fcgi" | "/cgi-bin/CGIStream.cgi" => {}
        "/debug/state.json" if req.method() == Method::GET => {
            return Ok(serve_debug_state(app, peer, &query).await);
        }
        "/configs/export/configs.bin" if req.method() == Method::GET => {
            return Ok(serve_export(app, peer, &query).await);
        }
        p if p.starts_with("/snapPic/") && req.method() == Method::GET => {
            return Ok(serve_snapshot(app, peer, &p["/snapPic/".len()..], &query).await);
        }
        _ => return Ok(plain(StatusCode::NOT_FOUND, "not found\n")),
    }
    let upload = match *req.method() {
        Method::GET | Method::HEAD => None,
        Method::POST => {
            let content_type = req
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            match accept_upload(&app, peer, &query, &content_type, req.into_body()).await {
                Ok(file) => Some(file),
                Err(outcome) => return Ok(outcome),
            }
        }
        _ => return Ok(plain(StatusCode::METHOD_NOT_ALLOWED, "GET or POST only\n")),
    };
    let outcome = match Query::parse(&query) {
        Ok(query) => {
            let upload_path = upload.as_ref().map(|f| f.path().to_path_buf());
            cgi::dispatch(app.clone(), query, peer.ip(), upload_path).await
        }
        Err(err) => {
            tracing::debug!(peer = %peer.ip(), why = err.0, "query rejected");
            Outcome {
                code: -1,
                reply: Reply::ok(),
                command: None,
            }
        }
    };
    drop(upload);
    if outcome.code == 0 && matches!(outcome.reply, Reply::MjpegStream) {
        if let Some(media) = app.media.get() {
            let parts = media.subscribe(&tokio::runtime::Handle::current());
            let mut response = Response::new(
                MjpegBody {
                    parts,
                    queued: Vec::new(),
                }
                .boxed(),
            );
            let content_type = format!(
                "multipart/x-mixed-replace;boundary={}",
                crate::media::BOUNDARY
            );
            if let Ok(value) = HeaderValue::from_str(&content_type) {
                response.headers_mut().insert(CONTENT_TYPE, value);
            }
            response
                .headers_mut()
                .insert("cache-control", HeaderValue::from_static("no-store"));
            return Ok(response);
        }
    }
    Ok(render(outcome))
}

/// Runs `produce` for an authenticated caller of at least `needed` privilege (credentials in the
/// query, as everywhere in the CGI API) on a blocking thread, and answers its bytes as
/// `content_type`; 401, 403 or 404 otherwise.
async fn authenticated_get(
    app: Arc<App>,
    peer: SocketAddr,
    query: &str,
    needed: crate::cgi::catalogue::Privilege,
    content_type: &'static str,
    produce: impl FnOnce(&App) -> Result<Vec<u8>, cgi::CgiError> + Send + 'static,
) -> Response<Body> {
    let Ok(query) = Query::parse(query) else {
        return plain(StatusCode::BAD_REQUEST, "bad query\n");
    };
    let result = tokio::task::spawn_blocking(move || {
        let user = cgi::authenticate(&app, &query, peer.ip())?;
        if user.privilege < needed {
            return Err(cgi::CgiError::Denied);
        }
        produce(&app)
    })
    .await;
    match result {
        Ok(Ok(bytes)) => {
            let mut response = Response::new(full(bytes));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
                .headers_mut()
                .insert("cache-control", HeaderValue::from_static("no-store"));
            response
        }
        Ok(Err(cgi::CgiError::Auth)) => plain(StatusCode::UNAUTHORIZED, "credentials needed\n"),
        Ok(Err(cgi::CgiError::Denied)) => plain(StatusCode::FORBIDDEN, "not allowed\n"),
        _ => plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// `/snapPic/NAME.jpg`: a picture saved by snapPicture, for authenticated users only. The name
/// is checked against a strict pattern, never used as a path as given.
async fn serve_snapshot(
    app: Arc<App>,
    peer: SocketAddr,
    name: &str,
    query: &str,
) -> Response<Body> {
    let valid = name.len() <= 64
        && name.ends_with(".jpg")
        && name[..name.len() - 4]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    }
    let name = name.to_owned();
    authenticated_get(
        app,
        peer,
        query,
        Privilege::Visitor,
        "image/jpeg",
        move |app| {
            let path = crate::cgi::commands::video::snapshot_dir(app).join(&name);
            std::fs::read(path).map_err(|_| cgi::CgiError::Exec("no such snapshot".into()))
        },
    )
    .await
}

/// `/configs/export/configs.bin`: the file exportConfig wrote, for administrators only.
async fn serve_export(app: Arc<App>, peer: SocketAddr, query: &str) -> Response<Body> {
    authenticated_get(
        app,
        peer,
        query,
        Privilege::Admin,
        "application/octet-stream",
        |app| {
            let path = app.data_dir.join(crate::cgi::commands::system::EXPORT_FILE);
            std::fs::read(path).map_err(|_| cgi::CgiError::Exec("nothing exported".into()))
        },
    )
    .await
}

/// `/debug/state.json`: what the camera's subsystems see (motion cell scores and the cells of
/// the last alarm, the PTZ position where the motor reports one, capture health), for people
/// tuning the camera. Administrators only; not part of the Foscam API.
async fn serve_debug_state(app: Arc<App>, peer: SocketAddr, query: &str) -> Response<Body> {
    authenticated_get(
        app,
        peer,
        query,
        Privilege::Admin,
        "application/json",
        |app| Ok(crate::media::debug_json(app).into_bytes()),
    )
    .await
}

/// The body of a GetMJStream reply: multipart parts from the viewer's bounded queue.
struct MjpegBody {
    parts: tokio::sync::mpsc::Receiver<crate::media::MjpegPart>,
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

/// The multipart field that carries the file of each upload command.
fn upload_field(command: &str) -> Option<&'static str> {
    match command {
        "fwUpgrade" => Some("fw_file"),
        "importConfig" => Some("setting_file"),
        _ => None,
    }
}

/// Checks a POST before reading its body (only an authenticated administrator may upload, and
/// only to the upload commands), then streams the named multipart field into a temporary file
/// with a size cap.
async fn accept_upload(
    app: &Arc<App>,
    peer: SocketAddr,
    query: &str,
    content_type: &str,
    body: Incoming,
) -> Result<tempfile_lite::TempFile, Response<Body>> {
    let refuse = |code: i32| {
        render(Outcome {
            code,
            reply: Reply::ok(),
            command: None,
        })
    };
    let Ok(parsed) = Query::parse(query) else {
        return Err(refuse(-1));
    };
    let Some(spec) = parsed.cmd().and_then(crate::cgi::catalogue::find) else {
        return Err(refuse(-1));
    };
    let Some(field) = upload_field(spec.name) else {
        return Err(plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "only importConfig and fwUpgrade take POST\n",
        ));
    };
    let auth_app = app.clone();
    let user =
        tokio::task::spawn_blocking(move || cgi::authenticate(&auth_app, &parsed, peer.ip()))
            .await
            .map_err(|_| refuse(-7))?
            .map_err(|e| refuse(e.code()))?;
    if user.privilege < cgi::required_privilege(spec) {
        return Err(refuse(-3));
    }
    let Some(boundary) = crate::multipart::FieldExtractor::boundary(content_type) else {
        tracing::info!(cmd = spec.name, "upload is not multipart/form-data");
        return Err(refuse(-1));
    };
    let mut extractor = crate::multipart::FieldExtractor::new(boundary, field);
    let file = tempfile_lite::TempFile::create(&app.data_dir).map_err(|err| {
        tracing::warn!(%err, "cannot create upload file");
        refuse(-4)
    })?;
    let mut writer = std::io::BufWriter::new(file.reopen().map_err(|_| refuse(-4))?);
    let mut body = Limited::new(body, MAX_UPLOAD_BYTES);
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            tracing::info!(cmd = spec.name, "upload too large or broken off");
            return Err(plain(StatusCode::PAYLOAD_TOO_LARGE, "upload too large\n"));
        };
        if let Ok(data) = frame.into_data() {
            // Small synchronous writes to a local file: cheaper than a blocking hand-off per chunk.
            if let Err(err) = extractor.feed(&data, &mut writer) {
                tracing::info!(cmd = spec.name, ?err, "upload refused");
                return Err(refuse(-1));
            }
        }
    }
    if !matches!(extractor.finish(), Ok(true)) {
        tracing::info!(cmd = spec.name, field, "upload has no complete file field");
        return Err(refuse(-1));
    }
    use std::io::Write as _;
    writer.flush().map_err(|_| refuse(-4))?;
    Ok(file)
}

fn render(outcome: Outcome) -> Response<Body> {
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
        Reply::MjpegStream => (
            full(render_xml(-4, &Default::default())),
            "text/xml; charset=utf-8",
        ),
    };
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    response
}

/// A temporary file in the data directory, removed when dropped.
pub mod tempfile_lite {
    use std::path::{Path, PathBuf};

    /// The file.
    pub struct TempFile {
        path: PathBuf,
    }

    impl TempFile {
        /// Creates a new, empty, uniquely named file in `dir` (mode 0600).
        pub fn create(dir: &Path) -> std::io::Result<TempFile> {
            use std::os::unix::fs::OpenOptionsExt;
            use std::sync::atomic::{AtomicU64, Ordering};
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let name = format!(
                ".upload-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            let path = dir.join(name);
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)?;
            Ok(TempFile { path })
        }

        /// Opens the file for writing.
        pub fn reopen(&self) -> std::io::Result<std::fs::File> {
            std::fs::OpenOptions::new().write(true).open(&self.path)
        }

        /// Its path.
        pub fn path(&self) -> &Path {
            &self.path
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
