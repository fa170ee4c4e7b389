//! A small HTTP/1.1 client for the network services (DDNS updates, the public-address check,
//! UPnP's SOAP calls): one request per connection over hyper's client connection, plain TCP
//! or TLS (rustls with the webpki roots, as the mail client uses), bounded in time and in the
//! size of the reply it reads.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;

/// Largest reply body read.
pub const MAX_REPLY: usize = 64 * 1024;

/// A reply: status and body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Body (at most [`MAX_REPLY`] bytes).
    pub body: Bytes,
}

fn tls_connector() -> Result<TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Sends one request and reads the reply, within `timeout` in all.
pub async fn request(
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: Option<String>,
    timeout: Duration,
) -> Result<Reply, String> {
    tokio::time::timeout(timeout, exchange(method, url, headers, body))
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
}

async fn exchange(
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: Option<String>,
) -> Result<Reply, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err("only http and https URLs".into()),
    };
    let host = uri.host().ok_or("URL without a host")?.to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let path = uri
        .path_and_query()
        .map_or("/".to_owned(), |p| p.as_str().to_owned());
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, authority(&host, port, tls))
        .header(
            hyper::header::USER_AGENT,
            concat!("ipcamd/", env!("CARGO_PKG_VERSION")),
        )
        .header(hyper::header::CONNECTION, "close");
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
        let value = HeaderValue::from_str(value).map_err(|e| e.to_string())?;
        builder = builder.header(name, value);
    }
    let request = builder
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| e.to_string())?;
    let stream = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
    if tls {
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| format!("{host}: {e}"))?;
        let stream = tls_connector()?
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS with {host}: {e}"))?;
        send(TokioIo::new(stream), request).await
    } else {
        send(TokioIo::new(stream), request).await
    }
}

fn authority(host: &str, port: u16, tls: bool) -> String {
    if port == if tls { 443 } else { 80 } {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    }
}

async fn send<IO>(io: IO, request: Request<Full<Bytes>>) -> Result<Reply, String>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_REPLY)
        .collect()
        .await
        .map_err(|e| format!("reading the reply: {e}"))?
        .to_bytes();
    Ok(Reply { status, body })
}
