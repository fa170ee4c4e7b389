//! The RTSP service (layer 4, beside [`crate::http`]): RFC 2326, RTSP 1.0: `/videoMain` and `/videoSub` as Foscam firmware
//! names them, H.264 over RTP (RFC 6184) either interleaved in the RTSP connection
//! (`RTP/AVP/TCP`) or unicast UDP (`RTP/AVP`), with RTCP sender reports.
//!
//! Built from the [`StreamHub`] it plays from, an [`Authenticator`] (in the daemon the CGI
//! [`Context`]: the camera's accounts with the same lock-out as the CGI), and its
//! [`RtspLimits`] from the board file. It owns no listener of its own unless given one: when the media port equals the web
//! port, the HTTP listener hands over connections whose first line is an RTSP request
//! ([`is_rtsp`]).
//!
//! Credentials: clients turn `rtsp://usr:pwd@camera:port/videoMain` into Digest (RFC 2617,
//! RFC 7616) or Basic credentials, whichever the 401 offers and they prefer. The 401 offers
//! Digest with SHA-256, Digest with MD5 and (unless the board file's `[rtsp] basic_auth` is
//! false) Basic, in that order: RFC 7616's preference order, and the one that makes ffmpeg and
//! live555 (which keep the last Digest challenge they read) answer MD5, the one they compute.
//! Nonces are stateless ([`digest`]); Digest secrets are the accounts' HA1s
//! ([`crate::accounts`]). Failures of either scheme count towards the CGI's lock-out.
//! Passwords and HA1s are never logged.
//!
//! Messages are parsed and written with `rtsp-types`; only RTP/RTCP framing is ours
//! ([`rtp`]).

mod connection;
pub mod digest;
pub mod rtp;
pub mod sdp;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::accounts::{AuthFailure, DigestAlgorithm};
use crate::cgi::Context;
use crate::streams::StreamHub;

/// Checks credentials for a client address (the camera's accounts; any privilege may watch).
/// Called on a blocking thread: it may hash.
pub trait Authenticator: Send + Sync {
    /// Whether `user` with `password` may watch, from `peer` (Basic).
    fn verify(&self, peer: IpAddr, user: &str, password: &str) -> bool;

    /// Digest: whether `user`'s secret for `algorithm` (HA1, hex) satisfies `matches`, from
    /// `peer`. A match answering a nonce that is not fresh (`fresh_nonce` false) is `Ok` but
    /// must not clear the address's failures.
    fn verify_digest(
        &self,
        peer: IpAddr,
        user: &str,
        algorithm: DigestAlgorithm,
        fresh_nonce: bool,
        matches: &dyn Fn(&str) -> bool,
    ) -> Result<(), AuthFailure>;
}

/// The camera's accounts: any privilege (visitor and up) may watch; failures count towards
/// the CGI's lock-out of the client address.
impl Authenticator for Context {
    fn verify(&self, peer: IpAddr, user: &str, password: &str) -> bool {
        self.accounts
            .verify(&self.store, peer, user, password)
            .is_ok()
    }

    fn verify_digest(
        &self,
        peer: IpAddr,
        user: &str,
        algorithm: DigestAlgorithm,
        fresh_nonce: bool,
        matches: &dyn Fn(&str) -> bool,
    ) -> Result<(), AuthFailure> {
        self.accounts
            .verify_digest(&self.store, peer, user, algorithm, fresh_nonce, matches)
            .map(|_| ())
    }
}

/// The limits a board file gives (`[rtsp]`), with the defaults for what it leaves out.
impl From<&ipcamd_hal::board::RtspSpec> for RtspLimits {
    fn from(spec: &ipcamd_hal::board::RtspSpec) -> Self {
        RtspLimits {
            max_sessions: spec.max_sessions.max(1),
            queue_frames: spec.queue_frames.max(2),
            basic_auth: spec.basic_auth,
            ..RtspLimits::default()
        }
    }
}

/// Limits from the board file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtspLimits {
    /// Most simultaneous sessions (viewers), over all connections.
    pub max_sessions: usize,
    /// Frames queued per session before it skips to the next key frame.
    pub queue_frames: usize,
    /// A UDP session without any request or RTCP report for this long is torn down.
    pub session_timeout: Duration,
    /// Whether Basic credentials (the password in clear on the wire) are taken beside Digest.
    pub basic_auth: bool,
}

impl Default for RtspLimits {
    fn default() -> Self {
        RtspLimits {
            max_sessions: 8,
            queue_frames: 30,
            session_timeout: Duration::from_secs(60),
            basic_auth: true,
        }
    }
}

/// Largest RTSP request head and body the server reads.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// The RTSP service.
#[derive(Clone)]
pub struct RtspServer {
    shared: Arc<Shared>,
}

struct Shared {
    /// Whether the web listener hands RTSP connections over (mediaPort = webPort).
    on_web_port: std::sync::atomic::AtomicBool,
    hub: StreamHub,
    auth: Arc<dyn Authenticator>,
    limits: RtspLimits,
    sessions: AtomicUsize,
    nonces: digest::Nonces,
}

impl RtspServer {
    /// A server playing from `hub`.
    pub fn new(hub: StreamHub, auth: Arc<dyn Authenticator>, limits: RtspLimits) -> RtspServer {
        RtspServer {
            shared: Arc::new(Shared {
                on_web_port: std::sync::atomic::AtomicBool::new(false),
                hub,
                auth,
                limits,
                sessions: AtomicUsize::new(0),
                nonces: digest::Nonces::new(digest::NONCE_LIFETIME),
            }),
        }
    }

    /// Whether RTSP answers on the web port (the HTTP listener hands RTSP connections over).
    pub fn on_web_port(&self) -> bool {
        self.shared.on_web_port.load(Ordering::Relaxed)
    }

    /// Makes RTSP answer on the web port, or stop answering there.
    pub fn set_on_web_port(&self, shared: bool) {
        self.shared.on_web_port.store(shared, Ordering::Relaxed);
    }

    /// Sessions open now.
    pub fn sessions(&self) -> usize {
        self.shared.sessions.load(Ordering::Relaxed)
    }

    /// Serves one client connection until it closes.
    pub async fn serve_connection(&self, stream: TcpStream, peer: SocketAddr) {
        connection::serve(self.shared.clone(), stream, peer).await;
    }

    /// Accepts and serves connections on a listener of its own (a media port apart from the
    /// web port).
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    crate::log_limit::limited!(warn, "RTSP accept failed", %err, "RTSP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let server = self.clone();
            tokio::spawn(async move { server.serve_connection(stream, peer).await });
        }
    }
}

impl RtspServer {
    /// Serves the connections of a listener role of RTSP's own (the board file's `[rtsp]
    /// port`), admitted by the listeners' gate (firewall, limits). Each connection holds its
    /// ticket busy while it lasts, so a viewer is never evicted as idle.
    pub async fn serve_endpoint(self, mut endpoint: crate::listener::Endpoint) {
        while let Some(admitted) = endpoint.accept().await {
            let server = self.clone();
            tokio::spawn(async move {
                let (stream, peer, ticket) = admitted.into_parts();
                let busy = ticket.busy();
                server.serve_connection(stream, peer).await;
                drop(busy);
                drop(ticket);
            });
        }
    }
}

/// Whether a freshly accepted connection speaks RTSP: its first line ends in `RTSP/1.0` (or
/// it starts with interleaved data). Peeks, so the bytes stay for whichever server takes it.
/// Waits at most `wait` for the first line; a silent client is left to HTTP's timeouts.
pub async fn is_rtsp(stream: &TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 512];
    let deadline = tokio::time::Instant::now() + wait;
    let mut seen = 0;
    loop {
        let peeked = tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await;
        let Ok(Ok(n)) = peeked else { return false };
        if n == 0 {
            return false;
        }
        if buf[0] == b'$' {
            return true;
        }
        if let Some(end) = buf[..n].iter().position(|&b| b == b'\n') {
            let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
            return line.ends_with(b" RTSP/1.0") || line.ends_with(b" RTSP/2.0");
        }
        if n == buf.len() {
            return false;
        }
        if n == seen {
            // Part of a line: give the client a moment for the rest.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        seen = n;
    }
}
