//! The HTTP server: hyper over tokio, with the limits a small camera needs (bounded header
//! size, header and idle timeouts). Admission (firewall, per-address and total connection
//! limits, TLS) is [`crate::listener`]'s: [`serve`] loops on a listener [`Endpoint`] and hands
//! every admitted connection to [`serve_with`] with a [`Handler`] (the CGI surface's,
//! [`cgi_handler`], or another service's: ONVIF). RTSP may share the port (Foscam's
//! mediaPort, on the web port when the two are equal): a plain connection whose first line is
//! an RTSP request goes to the [`RtspServer`] instead, past the same gate. Each request goes
//! to [`super::routes::handle`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};

use super::render::Body;
use crate::cgi::Context;
use crate::listener::{Admitted, BusyGuard, Connection, Endpoint, Role};
use crate::rtsp::RtspServer;

/// Largest request head (request line plus headers).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Time a client gets to send its request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait for a new connection's first line when RTSP shares the port.
const SNIFF_WAIT: Duration = Duration::from_secs(5);

/// Serves the CGI surface on the connections of one listener role until the listeners shut
/// down: [`serve_handler`] with [`cgi_handler`].
pub async fn serve(
    ctx: Arc<Context>,
    endpoint: Endpoint,
    rtsp: Option<RtspServer>,
) -> std::io::Result<()> {
    serve_handler(cgi_handler(ctx), endpoint, rtsp).await;
    Ok(())
}

/// The CGI surface ([`super::routes::handle`]) as a [`Handler`].
pub fn cgi_handler(ctx: Arc<Context>) -> Handler {
    Arc::new(move |peer, _local, req| Box::pin(super::routes::handle(ctx.clone(), peer, req)))
}

/// Serves the connections of one listener role with `handler` until the listeners shut
/// down. Each connection runs in its own task (TLS handshake included, where the role has
/// TLS). With `rtsp`, RTSP connections are told apart by their first line: always on the
/// media port, on the web port while RTSP shares it ([`RtspServer::on_web_port`]). Every
/// HTTP server of the camera (the CGI surface on each port, ONVIF) is this one, so the
/// binary carries one accept loop and one hyper connection, with the same limits and
/// timeouts everywhere.
pub async fn serve_handler(handler: Handler, mut endpoint: Endpoint, rtsp: Option<RtspServer>) {
    let role = endpoint.role();
    while let Some(admitted) = endpoint.accept().await {
        let handler = handler.clone();
        let rtsp = rtsp.clone();
        tokio::spawn(async move {
            let rtsp = rtsp.filter(|r| {
                !admitted.is_tls()
                    && (role == Role::Media || (role == Role::Web && r.on_web_port()))
            });
            let admitted = match rtsp {
                Some(rtsp) => match take_rtsp(rtsp, admitted).await {
                    Some(admitted) => admitted,
                    None => return,
                },
                None => admitted,
            };
            let peer = admitted.peer;
            match admitted.handshake().await {
                Ok(connection) => serve_with(connection, handler).await,
                Err(err) => {
                    crate::log_limit::limited!(debug, "TLS handshake failed", %peer, %err, "TLS handshake failed")
                }
            }
        });
    }
}

/// Serves `admitted` as RTSP if its first line is an RTSP request (and gives `None`), else
/// gives it back for HTTP. An RTSP connection holds its gate ticket busy while it lasts: a
/// viewer is never evicted as idle.
async fn take_rtsp(rtsp: RtspServer, admitted: Admitted) -> Option<Admitted> {
    if !crate::rtsp::is_rtsp(admitted.tcp(), SNIFF_WAIT).await {
        return Some(admitted);
    }
    let (stream, peer, ticket) = admitted.into_parts();
    let busy = ticket.busy();
    rtsp.serve_connection(stream, peer).await;
    drop(busy);
    drop(ticket);
    None
}

/// Answers one request of a connection: the client, the local address it connected to,
/// and the request.
pub type Handler = Arc<
    dyn Fn(
            std::net::SocketAddr,
            Option<std::net::SocketAddr>,
            hyper::Request<hyper::body::Incoming>,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = hyper::Response<Body>> + Send>>
        + Send
        + Sync,
>;

/// Serves HTTP/1.1 on one admitted connection with `handler` until the client closes it, a
/// timeout expires, or the gate evicts it to make room (only while no request is being
/// served: a request and its streamed reply hold the connection busy).
pub async fn serve_with(connection: Connection, handler: Handler) {
    let Connection {
        stream,
        peer,
        ticket,
    } = connection;
    let local = match &stream {
        crate::listener::Stream::Plain(tcp) => tcp.local_addr().ok(),
        crate::listener::Stream::Tls(tls) => tls.get_ref().0.local_addr().ok(),
    };
    let ticket = Arc::new(ticket);
    let service_ticket = ticket.clone();
    let service = service_fn(move |req| {
        let busy = service_ticket.busy();
        let response = handler(peer, local, req);
        async move {
            let response = response.await;
            Ok::<_, Infallible>(response.map(|body| GuardedBody { body, _busy: busy }.boxed()))
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(err) = result {
                crate::log_limit::limited!(debug, "connection error", %peer, %err, "connection ended with an error");
            }
        }
        _ = ticket.evicted() => {
            crate::log_limit::limited!(debug, "idle connection", %peer, "idle connection gave way to a new one");
        }
    }
}

/// A reply body that keeps its connection marked busy until it has been sent.
struct GuardedBody {
    body: Body,
    _busy: BusyGuard,
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
