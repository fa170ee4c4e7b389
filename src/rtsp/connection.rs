//! One RTSP client connection: reads requests (parsed by `rtsp-types`), answers them, and
//! while a session plays, sends its stream's frames as RTP, interleaved on this connection or
//! by UDP. One session per connection (one track per stream); the session ends with the
//! connection, on TEARDOWN, or (UDP) after the session timeout without a request or RTCP.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand_core::{OsRng, RngCore};
use rtsp_types::headers::{self, RtpLowerTransport, RtpProfile, Transport, Transports};
use rtsp_types::{Message, Method, ParseError, Request, Response, StatusCode, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{Mutex as AsyncMutex, Notify};
use tokio::task::JoinHandle;

use super::digest::{self, DigestError, DigestResponse, NonceState};
use super::rtp::{Framing, Packetizer};
use super::{MAX_REQUEST_BYTES, Shared, sdp};
use crate::accounts::{AuthFailure, DIGEST_REALM, DigestAlgorithm};
use crate::log_limit::limited;
use crate::streams::{StreamId, SubscribeOptions};

/// A connection without a session that sends nothing for this long is closed.
const IDLE: Duration = Duration::from_secs(60);
/// A frame that cannot be written in this long ends the connection (the client stopped
/// reading).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the stream's first key frame when answering DESCRIBE.
const DESCRIBE_WAIT: Duration = Duration::from_secs(5);
/// Interval of RTCP sender reports.
const REPORT_INTERVAL: Duration = Duration::from_secs(5);
const PUBLIC: &str = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER";
/// CNAME of the RTCP source description.
const CNAME: &str = "ipcamd";

type Writer = Arc<AsyncMutex<OwnedWriteHalf>>;

struct Connection {
    shared: Arc<Shared>,
    peer: SocketAddr,
    local: IpAddr,
    writer: Writer,
    /// Streams this connection has DESCRIBEd (SETUP needs it).
    described: [bool; 2],
    /// The Authorization value that was verified on this connection.
    authorized: Option<String>,
    session: Option<Session>,
    /// Set by a play task whose sending failed: the connection ends.
    failed: Arc<Notify>,
    last_activity: Arc<std::sync::Mutex<Instant>>,
}

struct Session {
    id: String,
    stream: StreamId,
    url: String,
    transport: SessionTransport,
    packetizer: Arc<std::sync::Mutex<Packetizer>>,
    playing: Option<JoinHandle<()>>,
    _slot: SessionSlot,
}

#[derive(Clone)]
enum SessionTransport {
    Interleaved {
        rtp: u8,
        rtcp: u8,
    },
    Udp {
        rtp: Arc<UdpSocket>,
        rtcp: Arc<UdpSocket>,
        client_rtp: SocketAddr,
        client_rtcp: SocketAddr,
        reader: Arc<JoinHandle<()>>,
    },
}

/// One of the server's session places; given back on drop.
struct SessionSlot(Arc<Shared>);

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.sessions.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(task) = self.playing.take() {
            task.abort();
        }
        if let SessionTransport::Udp { reader, .. } = &self.transport {
            reader.abort();
        }
    }
}

/// What a request handler answers: a status, extra headers and a body.
struct Reply {
    status: StatusCode,
    headers: Vec<(headers::HeaderName, String)>,
    /// `WWW-Authenticate` challenges, one header line each (RFC 7616 section 3.7: a separate
    /// header per algorithm; `rtsp-types` keeps one value per header name).
    challenges: Vec<String>,
    body: Vec<u8>,
    close: bool,
}

impl Reply {
    fn status(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            challenges: Vec::new(),
            body: Vec::new(),
            close: false,
        }
    }

    fn ok() -> Reply {
        Reply::status(StatusCode::Ok)
    }

    fn header(mut self, name: headers::HeaderName, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

pub(super) async fn serve(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let local = stream
        .local_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let (mut reader, writer) = stream.into_split();
    let mut connection = Connection {
        shared,
        peer,
        local,
        writer: Arc::new(AsyncMutex::new(writer)),
        described: [false; 2],
        authorized: None,
        session: None,
        failed: Arc::new(Notify::new()),
        last_activity: Arc::new(std::sync::Mutex::new(Instant::now())),
    };
    let mut buf: Vec<u8> = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    loop {
        loop {
            match Message::<Vec<u8>>::parse(&buf) {
                Ok((message, used)) => {
                    buf.drain(..used);
                    connection.touch();
                    if let Message::Request(request) = message {
                        if !connection.handle(request).await {
                            return;
                        }
                    }
                    // Interleaved data (RTCP receiver reports) and stray responses only
                    // count as activity.
                }
                Err(ParseError::Incomplete(_)) => break,
                Err(ParseError::Error) => {
                    limited!(debug, "unparsable RTSP request", %peer, "unparsable RTSP request; closing");
                    connection.send_error(StatusCode::BadRequest).await;
                    return;
                }
            }
        }
        if buf.len() >= MAX_REQUEST_BYTES {
            limited!(debug, "RTSP request too large", %peer, "RTSP request too large; closing");
            connection
                .send_error(StatusCode::RequestMessageBodyTooLarge)
                .await;
            return;
        }
        let wait = connection.idle_wait();
        let failed = connection.failed.clone();
        tokio::select! {
            read = reader.read(&mut chunk) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            },
            _ = tokio::time::sleep(wait) => {
                if connection.timed_out() {
                    limited!(info, "RTSP session timed out", %peer, "RTSP session timed out");
                    return;
                }
            }
            _ = failed.notified() => {
                limited!(info, "RTSP client stopped", %peer, "RTSP client stopped receiving; connection closed");
                return;
            }
        }
    }
}

impl Connection {
    fn touch(&self) {
        *self.last_activity.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_activity
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    /// How long this connection may stay silent: TCP-interleaved sessions live as long as
    /// the connection takes their data.
    fn limit(&self) -> Option<Duration> {
        match &self.session {
            Some(Session {
                transport: SessionTransport::Interleaved { .. },
                playing: Some(_),
                ..
            }) => None,
            Some(_) => Some(self.shared.limits.session_timeout),
            None => Some(IDLE),
        }
    }

    fn idle_wait(&self) -> Duration {
        match self.limit() {
            Some(limit) => limit.saturating_sub(self.idle_for()) + Duration::from_millis(10),
            None => Duration::from_secs(3600),
        }
    }

    fn timed_out(&self) -> bool {
        self.limit().is_some_and(|limit| self.idle_for() >= limit)
    }

    /// Answers one request; `false` ends the connection.
    async fn handle(&mut self, request: Request<Vec<u8>>) -> bool {
        let cseq = request
            .header(&headers::CSEQ)
            .and_then(|v| v.as_str().trim().parse::<u32>().ok());
        let Some(cseq) = cseq else {
            self.send_error(StatusCode::BadRequest).await;
            return true;
        };
        let reply = if request.version() != Version::V1_0 {
            Reply::status(StatusCode::RTSPVersionNotSupported)
        } else {
            self.dispatch(&request).await
        };
        let close = reply.close;
        if !self.send(cseq, reply).await {
            return false;
        }
        !close
    }

    async fn dispatch(&mut self, request: &Request<Vec<u8>>) -> Reply {
        let method = request.method();
        if *method == Method::Options {
            return Reply::ok().header(headers::PUBLIC, PUBLIC);
        }
        if let Some(denied) = self.authenticate(request).await {
            return denied;
        }
        match method {
            Method::Describe => self.describe(request).await,
            Method::Setup => self.setup(request).await,
            Method::Play => self.play(request),
            Method::Pause => self.pause(request),
            Method::Teardown => self.teardown(request),
            Method::GetParameter => match self.check_session(request) {
                Ok(()) => Reply::ok(),
                Err(reply) => reply,
            },
            _ => Reply::status(StatusCode::NotImplemented).header(headers::PUBLIC, PUBLIC),
        }
    }

    /// The 401 answer: Digest challenges (SHA-256, then MD5: see the module docs of
    /// [`super`]) with a fresh nonce, and Basic unless the board turned it off.
    fn unauthorized(&self, stale: bool) -> Reply {
        let nonce = self.shared.nonces.issue(self.peer.ip());
        let mut reply = Reply::status(StatusCode::Unauthorized);
        for algorithm in [DigestAlgorithm::Sha256, DigestAlgorithm::Md5] {
            reply
                .challenges
                .push(digest::challenge(DIGEST_REALM, &nonce, algorithm, stale));
        }
        if self.shared.limits.basic_auth {
            reply
                .challenges
                .push(format!("Basic realm=\"{DIGEST_REALM}\""));
        }
        reply
    }

    /// `None` when the request carries valid credentials, else the 401 to answer.
    async fn authenticate(&mut self, request: &Request<Vec<u8>>) -> Option<Reply> {
        let Some(value) = request.header(&headers::AUTHORIZATION) else {
            return Some(self.unauthorized(false));
        };
        let value = value.as_str().trim();
        if self.authorized.as_deref() == Some(value) {
            return None;
        }
        let scheme = value.split_ascii_whitespace().next().unwrap_or("");
        if scheme.eq_ignore_ascii_case("Digest") {
            return self.authenticate_digest(request, value).await;
        }
        if !scheme.eq_ignore_ascii_case("Basic") {
            return Some(self.unauthorized(false));
        }
        if !self.shared.limits.basic_auth {
            limited!(info, "RTSP Basic refused", peer = %self.peer, "RTSP Basic credentials refused: this board takes Digest only");
            return Some(self.unauthorized(false));
        }
        let credentials = STANDARD
            .decode(value[scheme.len()..].trim())
            .ok()
            .and_then(|raw| String::from_utf8(raw).ok());
        let Some((user, password)) = credentials
            .as_deref()
            .and_then(|c| c.split_once(':'))
            .map(|(u, p)| (u.to_owned(), p.to_owned()))
        else {
            return Some(self.unauthorized(false));
        };
        let auth = self.shared.auth.clone();
        let peer = self.peer.ip();
        let name = user.clone();
        let ok = tokio::task::spawn_blocking(move || auth.verify(peer, &name, &password))
            .await
            .unwrap_or(false);
        if ok {
            self.authorized = Some(value.to_owned());
            None
        } else {
            limited!(info, "RTSP authentication failed", peer = %self.peer, user, scheme = "Basic", "RTSP authentication failed");
            Some(self.unauthorized(false))
        }
    }

    /// Checks `Authorization: Digest …` (RFC 2617 / RFC 7616).
    async fn authenticate_digest(
        &mut self,
        request: &Request<Vec<u8>>,
        value: &str,
    ) -> Option<Reply> {
        let response = match DigestResponse::parse(value) {
            Ok(response) => response,
            Err(err) => {
                limited!(info, "RTSP Digest credentials refused", peer = %self.peer, ?err, "RTSP Digest credentials refused");
                return Some(match err {
                    DigestError::Syntax | DigestError::Missing(_) => {
                        Reply::status(StatusCode::BadRequest)
                    }
                    DigestError::Unsupported => self.unauthorized(false),
                });
            }
        };
        if response.realm != DIGEST_REALM {
            limited!(info, "RTSP Digest response for another realm", peer = %self.peer, user = response.username, "RTSP Digest response for another realm");
            return Some(self.unauthorized(false));
        }
        if !response.uri_matches(request.request_uri()) {
            limited!(info, "RTSP Digest response for another URI", peer = %self.peer, user = response.username, "RTSP Digest response for another URI");
            return Some(Reply::status(StatusCode::BadRequest));
        }
        let peer = self.peer.ip();
        // A connection that already authenticated keeps answering its (expired) nonce of
        // ours: a long session's keep-alives are not refused.
        let fresh = match self.shared.nonces.check(&response.nonce, peer) {
            NonceState::Fresh => true,
            NonceState::Expired => self.authorized.is_some(),
            NonceState::Unknown => false,
        };
        let method = <&str>::from(request.method()).to_owned();
        let auth = self.shared.auth.clone();
        let user = response.username.clone();
        let algorithm = response.algorithm;
        let verdict = tokio::task::spawn_blocking(move || {
            auth.verify_digest(peer, &response.username, algorithm, fresh, &|ha1| {
                response.matches(&method, ha1)
            })
        })
        .await
        .unwrap_or(Err(AuthFailure::Store));
        match verdict {
            Ok(()) if fresh => {
                self.authorized = Some(value.to_owned());
                None
            }
            Ok(()) => {
                limited!(debug, "RTSP Digest nonce stale", peer = %self.peer, user, "RTSP Digest nonce stale; asking again");
                Some(self.unauthorized(true))
            }
            Err(AuthFailure::NoDigestSecret) => {
                limited!(
                    info,
                    "RTSP Digest without a secret",
                    peer = %self.peer,
                    user,
                    "RTSP Digest: the account has no Digest secret yet (made before Digest or renamed); \
                     it gets one at its next login with the password (CGI, web page or RTSP Basic)"
                );
                Some(self.unauthorized(false))
            }
            Err(failure) => {
                limited!(info, "RTSP authentication failed", peer = %self.peer, user, scheme = "Digest", ?failure, "RTSP authentication failed");
                Some(self.unauthorized(false))
            }
        }
    }

    fn check_session(&self, request: &Request<Vec<u8>>) -> Result<(), Reply> {
        let given = request
            .header(&headers::SESSION)
            .map(|v| v.as_str().split(';').next().unwrap_or("").trim().to_owned());
        match (&self.session, given) {
            (_, None) => Ok(()),
            (Some(session), Some(id)) if session.id == id => Ok(()),
            _ => Err(Reply::status(StatusCode::SessionNotFound)),
        }
    }

    fn session_for(&mut self, request: &Request<Vec<u8>>) -> Result<&mut Session, Reply> {
        let given = request
            .header(&headers::SESSION)
            .map(|v| v.as_str().split(';').next().unwrap_or("").trim().to_owned());
        match (&mut self.session, given) {
            (Some(session), Some(id)) if session.id == id => Ok(session),
            _ => Err(Reply::status(StatusCode::SessionNotFound)),
        }
    }

    async fn describe(&mut self, request: &Request<Vec<u8>>) -> Reply {
        let Some(stream) = stream_of(request) else {
            return Reply::status(StatusCode::NotFound);
        };
        let hub = &self.shared.hub;
        if !hub.available(stream) {
            limited!(
                info,
                "RTSP stream not available",
                path = stream.path(),
                "RTSP DESCRIBE: stream not available (no H.264 encoder, or the sub stream is MJPEG)"
            );
            return Reply::status(StatusCode::NotFound);
        }
        let mut probe = hub.subscribe(
            stream,
            SubscribeOptions {
                queue: 1,
                decimation: crate::streams::Decimation::KeyFramesOnly,
            },
        );
        let frame = match tokio::time::timeout(DESCRIBE_WAIT, probe.recv()).await {
            Ok(Ok(frame)) => frame,
            _ => return Reply::status(StatusCode::ServiceUnavailable),
        };
        drop(probe);
        self.described[stream.index()] = true;
        let fps = hub.params(stream).map_or(15, |p| p.fps);
        let body = sdp::describe(
            stream.path(),
            self.local,
            OsRng.next_u64() >> 1,
            &frame.config,
            fps,
        );
        let base = match request.request_uri() {
            Some(uri) => format!("{}/", uri.as_str().trim_end_matches('/')),
            None => format!("rtsp://{}/{}/", self.local, stream.path()),
        };
        let mut reply = Reply::ok()
            .header(headers::CONTENT_TYPE, "application/sdp")
            .header(headers::CONTENT_BASE, base);
        reply.body = body.into_bytes();
        reply
    }

    async fn setup(&mut self, request: &Request<Vec<u8>>) -> Reply {
        let Some(stream) = stream_of(request) else {
            return Reply::status(StatusCode::NotFound);
        };
        if !self.described[stream.index()] {
            return Reply::status(StatusCode::MethodNotValidInThisState);
        }
        if let Some(session) = &self.session {
            return Reply::status(if session.stream == stream {
                StatusCode::MethodNotValidInThisState
            } else {
                StatusCode::AggregateOperationNotAllowed
            });
        }
        let transports = match request.typed_header::<Transports>() {
            Ok(Some(transports)) => transports,
            Ok(None) => return Reply::status(StatusCode::UnsupportedTransport),
            Err(_) => return Reply::status(StatusCode::BadRequest),
        };
        let shared = &self.shared;
        if shared.sessions.fetch_add(1, Ordering::AcqRel) >= shared.limits.max_sessions {
            shared.sessions.fetch_sub(1, Ordering::AcqRel);
            limited!(info, "RTSP session limit", peer = %self.peer, "RTSP session limit reached");
            return Reply::status(StatusCode::NotEnoughBandwidth);
        }
        let slot = SessionSlot(shared.clone());
        let ssrc = OsRng.next_u32();
        let Some((transport, description)) = self.choose_transport(&transports, ssrc).await else {
            return Reply::status(StatusCode::UnsupportedTransport);
        };
        let id = format!("{:016X}", OsRng.next_u64());
        let timeout = shared.limits.session_timeout.as_secs();
        self.session = Some(Session {
            id: id.clone(),
            stream,
            url: request
                .request_uri()
                .map_or_else(String::new, |u| u.as_str().to_owned()),
            transport,
            packetizer: Arc::new(std::sync::Mutex::new(Packetizer::new(
                ssrc,
                OsRng.next_u32() as u16,
                OsRng.next_u32(),
            ))),
            playing: None,
            _slot: slot,
        });
        Reply::ok()
            .header(headers::TRANSPORT, description)
            .header(headers::SESSION, format!("{id};timeout={timeout}"))
    }

    /// The first offered transport the server can do, and its Transport reply.
    async fn choose_transport(
        &self,
        offered: &Transports,
        ssrc: u32,
    ) -> Option<(SessionTransport, String)> {
        for transport in offered.iter() {
            let Transport::Rtp(rtp) = transport else {
                continue;
            };
            if rtp.profile != RtpProfile::Avp || rtp.params.multicast {
                continue;
            }
            match rtp.lower_transport {
                Some(RtpLowerTransport::Tcp) => {
                    let (a, b) = rtp.params.interleaved.unwrap_or((0, Some(1)));
                    let b = b.unwrap_or(a.wrapping_add(1));
                    return Some((
                        SessionTransport::Interleaved { rtp: a, rtcp: b },
                        format!("RTP/AVP/TCP;unicast;interleaved={a}-{b};ssrc={ssrc:08X}"),
                    ));
                }
                None | Some(RtpLowerTransport::Udp) => {
                    let Some((client_rtp, client_rtcp)) = rtp.params.client_port else {
                        continue;
                    };
                    let client_rtcp = client_rtcp.unwrap_or(client_rtp.wrapping_add(1));
                    let bind = SocketAddr::new(self.local, 0);
                    let (Ok(rtp_socket), Ok(rtcp_socket)) =
                        (UdpSocket::bind(bind).await, UdpSocket::bind(bind).await)
                    else {
                        continue;
                    };
                    let (Ok(a), Ok(b)) = (rtp_socket.local_addr(), rtcp_socket.local_addr()) else {
                        continue;
                    };
                    let rtcp_socket = Arc::new(rtcp_socket);
                    let reader = tokio::spawn(read_reports(
                        rtcp_socket.clone(),
                        self.last_activity.clone(),
                    ));
                    let description = format!(
                        "RTP/AVP;unicast;client_port={client_rtp}-{client_rtcp};server_port={}-{};ssrc={ssrc:08X}",
                        a.port(),
                        b.port()
                    );
                    return Some((
                        SessionTransport::Udp {
                            rtp: Arc::new(rtp_socket),
                            rtcp: rtcp_socket,
                            client_rtp: SocketAddr::new(self.peer.ip(), client_rtp),
                            client_rtcp: SocketAddr::new(self.peer.ip(), client_rtcp),
                            reader: Arc::new(reader),
                        },
                        description,
                    ));
                }
                Some(RtpLowerTransport::Other(_)) => {}
            }
        }
        None
    }

    fn play(&mut self, request: &Request<Vec<u8>>) -> Reply {
        let hub = self.shared.hub.clone();
        let queue = self.shared.limits.queue_frames;
        let writer = self.writer.clone();
        let failed = self.failed.clone();
        let session = match self.session_for(request) {
            Ok(session) => session,
            Err(reply) => return reply,
        };
        if session.playing.is_none() {
            let subscription = hub.subscribe(
                session.stream,
                SubscribeOptions {
                    queue,
                    decimation: crate::streams::Decimation::All,
                },
            );
            let sender = Sender {
                transport: session.transport.clone(),
                writer,
                packetizer: session.packetizer.clone(),
                failed,
            };
            session.playing = Some(tokio::spawn(sender.run(subscription)));
        }
        let seq = session
            .packetizer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_sequence();
        let id = session.id.clone();
        let url = session.url.clone();
        Reply::ok()
            .header(headers::SESSION, id)
            .header(headers::RANGE, "npt=0.000-")
            .header(headers::RTP_INFO, format!("url={url};seq={seq}"))
    }

    fn pause(&mut self, request: &Request<Vec<u8>>) -> Reply {
        match self.session_for(request) {
            Ok(session) => {
                if let Some(task) = session.playing.take() {
                    task.abort();
                }
                let id = session.id.clone();
                Reply::ok().header(headers::SESSION, id)
            }
            Err(reply) => reply,
        }
    }

    fn teardown(&mut self, request: &Request<Vec<u8>>) -> Reply {
        match self.session_for(request) {
            Ok(_) => {
                self.session = None;
                Reply::ok()
            }
            Err(reply) => reply,
        }
    }

    /// Writes a reply; `false` when the connection is gone.
    async fn send(&self, cseq: u32, reply: Reply) -> bool {
        let mut builder = Response::builder(Version::V1_0, reply.status)
            .header(headers::CSEQ, cseq.to_string())
            .header(headers::SERVER, "ipcamd");
        for (name, value) in reply.headers {
            builder = builder.header(name, value);
        }
        let response = builder.build(reply.body);
        self.write_response(&response, &reply.challenges).await
    }

    /// An error reply to a request without a usable CSeq.
    async fn send_error(&self, status: StatusCode) {
        let response = Response::builder(Version::V1_0, status)
            .header(headers::SERVER, "ipcamd")
            .build(Vec::new());
        let _ = self.write_response(&response, &[]).await;
    }

    /// Writes `response`, with one `WWW-Authenticate` line per challenge added to its head.
    async fn write_response(&self, response: &Response<Vec<u8>>, challenges: &[String]) -> bool {
        let mut out = Vec::with_capacity(256 + response.body().len());
        if response.write(&mut out).is_err() {
            return false;
        }
        if !challenges.is_empty() {
            let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") else {
                return false;
            };
            let mut lines = String::new();
            for challenge in challenges {
                lines.push_str("WWW-Authenticate: ");
                lines.push_str(challenge);
                lines.push_str("\r\n");
            }
            out.splice(end + 2..end + 2, lines.into_bytes());
        }
        let mut writer = self.writer.lock().await;
        matches!(
            tokio::time::timeout(WRITE_TIMEOUT, writer.write_all(&out)).await,
            Ok(Ok(()))
        )
    }
}

/// The stream a request URL names: `/videoMain` or `/videoSub`, with or without the track.
fn stream_of(request: &Request<Vec<u8>>) -> Option<StreamId> {
    let uri = request.request_uri()?;
    let path = uri.path().trim_matches('/');
    let path = path
        .strip_suffix(sdp::TRACK)
        .map_or(path, |p| p.trim_end_matches('/'));
    [StreamId::Main, StreamId::Sub]
        .into_iter()
        .find(|s| s.path() == path)
}

/// Reads (and drops) the client's RTCP reports; each one keeps the session alive.
async fn read_reports(socket: Arc<UdpSocket>, activity: Arc<std::sync::Mutex<Instant>>) {
    let mut buf = [0u8; 1500];
    while socket.recv_from(&mut buf).await.is_ok() {
        *activity.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }
}

/// A playing session's sending side.
struct Sender {
    transport: SessionTransport,
    writer: Writer,
    packetizer: Arc<std::sync::Mutex<Packetizer>>,
    failed: Arc<Notify>,
}

impl Sender {
    async fn run(self, mut subscription: crate::streams::Subscription) {
        let mut out = Vec::with_capacity(64 * 1024);
        let mut packets: Vec<Range<usize>> = Vec::with_capacity(64);
        let mut report = Vec::with_capacity(64);
        let mut next_report = Instant::now();
        let (framing, report_framing) = match &self.transport {
            SessionTransport::Interleaved { rtp, rtcp } => {
                (Framing::Interleaved(*rtp), Framing::Interleaved(*rtcp))
            }
            SessionTransport::Udp { .. } => (Framing::Datagram, Framing::Datagram),
        };
        loop {
            let Ok(frame) = subscription.recv().await else {
                tracing::info!("RTSP stream ended (encoder stopped or stream switched off)");
                self.failed.notify_one();
                return;
            };
            let send_report = Instant::now() >= next_report;
            {
                let mut packetizer = self.packetizer.lock().unwrap_or_else(|e| e.into_inner());
                packetizer.packetize(
                    &frame.data,
                    frame.pts,
                    frame.captured,
                    framing,
                    &mut out,
                    &mut packets,
                );
                if send_report {
                    packetizer.sender_report(CNAME, report_framing, &mut report);
                    next_report = Instant::now() + REPORT_INTERVAL;
                }
            }
            let sent = match &self.transport {
                SessionTransport::Interleaved { .. } => {
                    let mut writer = self.writer.lock().await;
                    let write = async {
                        writer.write_all(&out).await?;
                        if send_report {
                            writer.write_all(&report).await?;
                        }
                        std::io::Result::Ok(())
                    };
                    matches!(tokio::time::timeout(WRITE_TIMEOUT, write).await, Ok(Ok(())))
                }
                SessionTransport::Udp {
                    rtp,
                    rtcp,
                    client_rtp,
                    client_rtcp,
                    ..
                } => {
                    for range in &packets {
                        // A datagram the kernel cannot take now is lost, as UDP is.
                        let _ = rtp.send_to(&out[range.clone()], *client_rtp).await;
                    }
                    if send_report {
                        let _ = rtcp.send_to(&report, *client_rtcp).await;
                    }
                    true
                }
            };
            if !sent {
                self.failed.notify_one();
                return;
            }
        }
    }
}
