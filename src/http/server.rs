//! The HTTP server: hyper over tokio, with the limits a small camera needs (bounded header
//! size, header and idle timeouts, a connection cap). Each connection runs in its own task
//! and hands every request to [`super::routes::handle`]. RTSP may share the port (Foscam's
//! mediaPort = webPort): a connection whose first line is an RTSP request goes to the
//! [`RtspServer`] instead.

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::cgi::Context;
use crate::rtsp::RtspServer;

/// Most simultaneous connections (each MJPEG viewer holds one).
pub const MAX_CONNECTIONS: usize = 64;
/// Largest request head (request line plus headers).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Time a client gets to send its request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait for a new connection's first line when RTSP shares the port.
const SNIFF_WAIT: Duration = Duration::from_secs(5);

/// Serves until the listener fails. Each connection runs in its own task.
pub async fn serve(ctx: Arc<Context>, listener: TcpListener) -> std::io::Result<()> {
    serve_with_rtsp(ctx, listener, None).await
}

/// [`serve`], handing connections whose first line is an RTSP request to `rtsp`.
pub async fn serve_with_rtsp(
    ctx: Arc<Context>,
    listener: TcpListener,
    rtsp: Option<RtspServer>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached, dropping connection");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        let rtsp = rtsp.clone();
        tokio::spawn(async move {
            if let Some(rtsp) = rtsp.filter(RtspServer::on_web_port) {
                if crate::rtsp::is_rtsp(&stream, SNIFF_WAIT).await {
                    rtsp.serve_connection(stream, peer).await;
                    drop(permit);
                    return;
                }
            }
            let service = service_fn(move |req| {
                let ctx = ctx.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(super::routes::handle(ctx, peer, req).await)
                }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(err) = connection.await {
                tracing::debug!(%peer, %err, "connection ended with an error");
            }
            drop(permit);
        });
    }
}
