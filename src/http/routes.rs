//! Routes (layer 4): which path goes where. `/cgi-bin/CGIProxy.fcgi` and
//! `/cgi-bin/CGIStream.cgi` go to the CGI dispatcher; `/snapPic/NAME.jpg`,
//! `/configs/export/configs.bin`, `/debug/state.json` and `/web/status.json` (the web page's
//! status strip) are authenticated downloads;
//! recordings at `/record/NAME.mp4` stream with Range requests ([`super::playback`]);
//! everything else is 404, never a file tree. [`handle`] takes any request body, so the whole
//! service runs in-process in tests without a socket.
//!
//! # Adding a route
//! Add an arm to the `match` in [`handle`]: a download for an authenticated caller goes
//! through `authenticated_get` (credentials in the query, as everywhere in the CGI API).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, Response, StatusCode};

use super::render::{Body, bytes_response, download_refused, full, mjpeg_response, plain, render};
use super::upload::TempFile;
use crate::cgi::catalogue::Privilege;
use crate::cgi::query::Query;
use crate::cgi::reply::Reply;
use crate::cgi::{self, Context, Outcome};
use crate::log_limit::limited;

/// Largest POST body (importConfig, fwUpgrade).
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;
/// Longest request target.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Routes one request. Any body type will do (hyper's on a connection, a full body in
/// tests), so the whole service runs in-process.
pub async fn handle<B>(ctx: Arc<Context>, peer: SocketAddr, req: Request<B>) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let uri = req.uri();
    if uri.to_string().len() > MAX_URI_BYTES {
        return plain(StatusCode::URI_TOO_LONG, "request target too long\n");
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
    // The web page sends its credentials in a header, never in the URL (see `web`).
    let query = crate::web::with_header_credentials(req.headers(), query);
    match path.as_str() {
        "/cgi-bin/CGIProxy.fcgi" | "/cgi-bin/CGIStream.cgi" => {}
        "/web/status.json" if req.method() == Method::GET => {
            return serve_live_status(ctx, peer, &query).await;
        }
        p if crate::web::is_web_path(p) && matches!(*req.method(), Method::GET | Method::HEAD) => {
            return crate::web::serve(p, req.headers()).map(full);
        }
        "/debug/state.json" if req.method() == Method::GET => {
            return serve_debug_state(ctx, peer, &query).await;
        }
        "/configs/export/configs.bin" if req.method() == Method::GET => {
            return serve_export(ctx, peer, &query).await;
        }
        p if p.starts_with(super::playback::PREFIX)
            && matches!(*req.method(), Method::GET | Method::HEAD) =>
        {
            let range = req
                .headers()
                .get(hyper::header::RANGE)
                .and_then(|v| v.to_str().ok());
            let name = &p[super::playback::PREFIX.len()..];
            let head = req.method() == Method::HEAD;
            return super::playback::serve(ctx, peer, name, &query, range, head).await;
        }
        p if p.starts_with("/snapPic/") && req.method() == Method::GET => {
            return serve_snapshot(ctx, peer, &p["/snapPic/".len()..], &query).await;
        }
        _ => return plain(StatusCode::NOT_FOUND, "not found\n"),
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
            match accept_upload(&ctx, peer, &query, &content_type, req.into_body()).await {
                Ok(file) => Some(file),
                Err(outcome) => return outcome,
            }
        }
        _ => return plain(StatusCode::METHOD_NOT_ALLOWED, "GET or POST only\n"),
    };
    let outcome = match Query::parse(&query) {
        Ok(query) => {
            let upload_path = upload.as_ref().map(|f| f.path().to_path_buf());
            cgi::dispatch(ctx.clone(), query, peer.ip(), upload_path).await
        }
        Err(err) => {
            limited!(debug, "query rejected", peer = %peer.ip(), why = err.0, "query rejected");
            Outcome::refused(&cgi::CgiError::Format(err.0.to_string()))
        }
    };
    drop(upload);
    if outcome.code == 0 && matches!(outcome.reply, Reply::MjpegStream) {
        if let Some(media) = &ctx.media {
            return mjpeg_response(media);
        }
    }
    render(outcome)
}

/// Runs `produce` for an authenticated caller of at least `needed` privilege (credentials in the
/// query, as everywhere in the CGI API) on a blocking thread, and answers its bytes as
/// `content_type`; 401, 403 or 404 otherwise.
async fn authenticated_get(
    ctx: Arc<Context>,
    peer: SocketAddr,
    query: &str,
    needed: Privilege,
    content_type: &'static str,
    produce: impl FnOnce(&Context) -> Result<Vec<u8>, cgi::CgiError> + Send + 'static,
) -> Response<Body> {
    let Ok(query) = Query::parse(query) else {
        return plain(StatusCode::BAD_REQUEST, "bad query\n");
    };
    let result = tokio::task::spawn_blocking(move || {
        let user = cgi::authenticate(&ctx, &query, peer.ip())?;
        if user.privilege < needed {
            return Err(cgi::CgiError::Denied);
        }
        produce(&ctx)
    })
    .await;
    match result {
        Ok(Ok(bytes)) => bytes_response(bytes, content_type),
        Ok(Err(err)) => download_refused(&err),
        Err(_) => download_refused(&cgi::CgiError::Unknown("download panicked".into())),
    }
}

/// `/snapPic/NAME.jpg`: a picture saved by snapPicture, for authenticated users only. The name
/// is checked against a strict pattern, never used as a path as given.
async fn serve_snapshot(
    ctx: Arc<Context>,
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
        ctx,
        peer,
        query,
        Privilege::Visitor,
        "image/jpeg",
        move |ctx| {
            let path = crate::cgi::commands::video::snapshot_dir(ctx).join(&name);
            std::fs::read(path).map_err(|_| cgi::CgiError::Exec("no such snapshot".into()))
        },
    )
    .await
}

/// `/configs/export/configs.bin`: the file exportConfig wrote, for administrators only.
async fn serve_export(ctx: Arc<Context>, peer: SocketAddr, query: &str) -> Response<Body> {
    authenticated_get(
        ctx,
        peer,
        query,
        Privilege::Admin,
        "application/octet-stream",
        |ctx| {
            let path = ctx.data_dir.join(crate::cgi::commands::system::EXPORT_FILE);
            std::fs::read(path).map_err(|_| cgi::CgiError::Exec("nothing exported".into()))
        },
    )
    .await
}

/// `/debug/state.json`: what the camera's subsystems see (motion cell scores and the cells of
/// the last alarm, the PTZ position where the motor reports one, capture health), for people
/// tuning the camera. Administrators only; not part of the Foscam API.
async fn serve_debug_state(ctx: Arc<Context>, peer: SocketAddr, query: &str) -> Response<Body> {
    authenticated_get(
        ctx,
        peer,
        query,
        Privilege::Admin,
        "application/json",
        |ctx| {
            let ptz = ctx.hal.ptz.as_ref().and_then(|p| p.position().ok());
            Ok(super::render::debug_json(ctx.media.as_deref(), ptz).into_bytes())
        },
    )
    .await
}

/// `/web/status.json`: the web page's status strip for any signed-in account (visitor and
/// up), e.g. `{"IOAlarm":1,"motionDetectAlarm":2,"record":0,"sdState":1,"infraLedState":0}`
/// with getDevState's names and values (getDevState itself is admin-only).
async fn serve_live_status(ctx: Arc<Context>, peer: SocketAddr, query: &str) -> Response<Body> {
    authenticated_get(
        ctx,
        peer,
        query,
        Privilege::Visitor,
        "application/json",
        |ctx| {
            // Fixed identifier names and small integers: nothing to escape.
            let fields = cgi::commands::device::live_status(ctx)?;
            let members: Vec<String> = fields
                .iter()
                .map(|(name, value)| format!("\"{name}\":{value}"))
                .collect();
            Ok(format!("{{{}}}", members.join(",")).into_bytes())
        },
    )
    .await
}

/// Checks a POST before reading its body (only an authenticated administrator may upload, and
/// only to the upload commands), then streams the named multipart field into a temporary file
/// with a size cap.
async fn accept_upload<B>(
    ctx: &Arc<Context>,
    peer: SocketAddr,
    query: &str,
    content_type: &str,
    body: B,
) -> Result<TempFile, Response<Body>>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use cgi::CgiError;
    let refuse = |err: CgiError| render(Outcome::refused(&err));
    let format = |why: &str| refuse(CgiError::Format(why.into()));
    let Ok(parsed) = Query::parse(query) else {
        return Err(format("query does not parse"));
    };
    let Some((command, spec)) = parsed.cmd().and_then(cgi::table::find) else {
        return Err(format("unknown command"));
    };
    let Some(field) = command.upload else {
        return Err(plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "only importConfig and fwUpgrade take POST\n",
        ));
    };
    let auth_ctx = ctx.clone();
    let user =
        tokio::task::spawn_blocking(move || cgi::authenticate(&auth_ctx, &parsed, peer.ip()))
            .await
            .map_err(|_| refuse(CgiError::Unknown("authentication panicked".into())))?
            .map_err(refuse)?;
    if user.privilege < command.privilege() {
        return Err(refuse(CgiError::Denied));
    }
    let Some(boundary) = crate::multipart::FieldExtractor::boundary(content_type) else {
        limited!(
            info,
            "upload not multipart",
            cmd = spec.name,
            "upload is not multipart/form-data"
        );
        return Err(format("not multipart/form-data"));
    };
    let mut extractor = crate::multipart::FieldExtractor::new(boundary, field);
    let file = TempFile::create(&ctx.data_dir).map_err(|err| {
        limited!(warn, "upload file", %err, "cannot create upload file");
        refuse(CgiError::Exec("cannot create the upload file".into()))
    })?;
    let mut writer = std::io::BufWriter::new(
        file.reopen()
            .map_err(|_| refuse(CgiError::Exec("cannot open the upload file".into())))?,
    );
    let mut body = Limited::new(body, MAX_UPLOAD_BYTES);
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            limited!(
                info,
                "upload too large",
                cmd = spec.name,
                "upload too large or broken off"
            );
            return Err(plain(StatusCode::PAYLOAD_TOO_LARGE, "upload too large\n"));
        };
        if let Ok(data) = frame.into_data() {
            // Small synchronous writes to a local file: cheaper than a blocking hand-off per chunk.
            if let Err(err) = extractor.feed(&data, &mut writer) {
                limited!(
                    info,
                    "upload refused",
                    cmd = spec.name,
                    ?err,
                    "upload refused"
                );
                return Err(format("broken multipart body"));
            }
        }
    }
    if !matches!(extractor.finish(), Ok(true)) {
        limited!(
            info,
            "upload incomplete",
            cmd = spec.name,
            field,
            "upload has no complete file field"
        );
        return Err(format("no complete file field"));
    }
    use std::io::Write as _;
    writer
        .flush()
        .map_err(|_| refuse(CgiError::Exec("cannot write the upload file".into())))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper::{Method, Request, StatusCode};

    use super::handle;
    use crate::daemon::testing::{PEER, SimCamera};

    async fn send(cam: &SimCamera, method: Method, target: &str) -> (StatusCode, String, String) {
        let request = Request::builder()
            .method(method)
            .uri(target)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = handle(cam.ctx.clone(), PEER, request).await;
        let status = response.status();
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn test_cgi_requests_render_the_result_code_as_xml_with_http_200() {
        let cam = SimCamera::start().await;
        let (status, content_type, body) = send(
            &cam,
            Method::GET,
            "/cgi-bin/CGIProxy.fcgi?cmd=getDevName&usr=admin&pwd=",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.starts_with("text/xml"), "{content_type}");
        assert!(body.contains("<result>0</result>"), "{body}");
        assert!(body.contains("<devName>ipcamd-sim</devName>"), "{body}");
        // A refusal is HTTP 200 too, with the code and no fields.
        let (status, _, body) = send(
            &cam,
            Method::GET,
            "/cgi-bin/CGIProxy.fcgi?cmd=getDevName&usr=admin&pwd=wrong",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("<result>-2</result>"), "{body}");
        assert!(!body.contains("devName"), "{body}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn test_the_guides_path_forms_reach_the_dispatcher() {
        let cam = SimCamera::start().await;
        for target in [
            // '&' for '?', as the guide's general description writes it.
            "/cgi-bin/CGIProxy.fcgi&usr=admin&pwd=&cmd=getDevName",
            // The stray space of the guide's upload forms.
            "/cgi-bin/%20CGIProxy.fcgi?cmd=getDevName&usr=admin&pwd=",
            // A wholly percent-encoded query string.
            "/cgi-bin/CGIProxy.fcgi?cmd%3DgetDevName%26usr%3Dadmin%26pwd%3D",
        ] {
            let (status, _, body) = send(&cam, Method::GET, target).await;
            assert_eq!(status, StatusCode::OK, "{target}");
            assert!(body.contains("<result>0</result>"), "{target}: {body}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn test_other_paths_methods_and_posts_are_refused_before_dispatch() {
        let cam = SimCamera::start().await;
        let (status, _, _) = send(&cam, Method::GET, "/etc/passwd").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) = send(&cam, Method::GET, "/cgi-bin/../ipcamd.db").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) = send(
            &cam,
            Method::DELETE,
            "/cgi-bin/CGIProxy.fcgi?cmd=getDevName&usr=admin&pwd=",
        )
        .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        // Only the upload commands take a POST.
        let (status, _, _) = send(
            &cam,
            Method::POST,
            "/cgi-bin/CGIProxy.fcgi?cmd=setDevName&usr=admin&pwd=&devName=x",
        )
        .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        // An upload without multipart content is a format error, answered before the body.
        let (status, _, body) = send(
            &cam,
            Method::POST,
            "/cgi-bin/CGIProxy.fcgi?cmd=importConfig&usr=admin&pwd=",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("<result>-1</result>"), "{body}");
        // A long request target is refused outright.
        let long = format!(
            "/cgi-bin/CGIProxy.fcgi?cmd=getDevName&x={}",
            "a".repeat(super::MAX_URI_BYTES)
        );
        let (status, _, _) = send(&cam, Method::GET, &long).await;
        assert_eq!(status, StatusCode::URI_TOO_LONG);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn test_downloads_need_credentials_and_the_right_privilege() {
        let cam = SimCamera::start().await;
        let (status, _, _) = send(&cam, Method::GET, "/debug/state.json").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, content_type, body) =
            send(&cam, Method::GET, "/debug/state.json?usr=admin&pwd=").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "application/json");
        assert!(body.starts_with('{') && body.contains("\"ptz\""), "{body}");
        // Nothing exported yet.
        let (status, _, _) = send(
            &cam,
            Method::GET,
            "/configs/export/configs.bin?usr=admin&pwd=",
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // A snapshot name that is not the strict pattern never reaches the file system.
        let (status, _, _) =
            send(&cam, Method::GET, "/snapPic/..%2Fipcamd.db?usr=admin&pwd=").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
