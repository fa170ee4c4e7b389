//! Listening sockets and admission (layer 1: a handle the servers above share, importing
//! nothing of the daemon), for every server of the camera (HTTP, HTTPS, media, RTSP, ONVIF): the
//! firewall and connection limits ([`gate`]), TLS ([`tls`]), and live rebinding of a role's
//! port with all-or-none binding (setPortInfo).
//!
//! A server takes an [`Endpoint`] for its [`Role`] and loops on [`Endpoint::accept`]; what it
//! gets has passed the firewall and the limits. It then calls [`Admitted::handshake`] in the
//! connection's own task (TLS where the role has it) and serves the [`Connection`], dropping it
//! when [`Ticket::evicted`] resolves, and holding [`Ticket::busy`] while a request is served.
//! A protocol sharing a port with HTTP (RTSP on the web port) peeks at [`Admitted::tcp`]
//! before the handshake and either takes the stream ([`Admitted::into_parts`], keeping the
//! ticket for as long as it serves) or passes the connection on to the HTTP server.
//! When the role's port moves, the same endpoint accepts on the new socket; connections
//! already accepted carry on. `docs/network.md` describes the behaviour for owners.

pub mod firewall;
pub mod gate;
pub mod tls;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

pub use gate::{BusyGuard, Gate, Limits, Refusal, Ticket};

/// Longest a client may take over its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a listener is for (getPortInfo's ports, plus RTSP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// webPort: the CGI surface over HTTP.
    Web,
    /// httpsPort: the same surface over TLS.
    Https,
    /// mediaPort, where it differs from webPort: the same surface (streams) over HTTP.
    Media,
    /// RTSP.
    Rtsp,
    /// onvifPort: the ONVIF service (SOAP over HTTP), on boards with the capability.
    Onvif,
}

impl Role {
    /// Whether connections of this role speak TLS.
    pub fn is_tls(self) -> bool {
        self == Role::Https
    }
}

type Published = Option<Arc<TcpListener>>;

struct Slot {
    socket: watch::Sender<Published>,
    tls: Option<TlsAcceptor>,
}

/// Every listening socket of the camera, by role.
pub struct Listeners {
    gate: Arc<Gate>,
    slots: Mutex<HashMap<Role, Slot>>,
}

/// Sockets bound for a move, not yet accepting: [`Listeners::commit`] puts them in service;
/// dropping them instead rolls the move back.
#[derive(Debug)]
pub struct Prepared {
    bound: Vec<(Role, std::net::TcpListener)>,
}

impl Prepared {
    /// Where each socket is bound.
    pub fn addresses(&self) -> Vec<(Role, SocketAddr)> {
        self.bound
            .iter()
            .filter_map(|(role, socket)| socket.local_addr().ok().map(|a| (*role, a)))
            .collect()
    }
}

impl Listeners {
    /// No listeners yet; every one will admit through `gate`.
    pub fn new(gate: Arc<Gate>) -> Arc<Listeners> {
        Arc::new(Listeners {
            gate,
            slots: Mutex::new(HashMap::new()),
        })
    }

    /// The admission gate (firewall and limits).
    pub fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Role, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn slot(slots: &mut HashMap<Role, Slot>, role: Role) -> &mut Slot {
        slots.entry(role).or_insert_with(|| Slot {
            socket: watch::channel(None).0,
            tls: None,
        })
    }

    /// Sets the TLS configuration of a role's connections (before its endpoint is taken).
    pub fn set_tls(&self, role: Role, acceptor: TlsAcceptor) {
        Self::slot(&mut self.lock(), role).tls = Some(acceptor);
    }

    /// Whether a role has TLS configured.
    pub fn has_tls(&self, role: Role) -> bool {
        self.lock().get(&role).is_some_and(|s| s.tls.is_some())
    }

    /// The endpoint a server of `role` accepts from (it may be taken before the role has a
    /// socket; accept then waits for one).
    pub fn endpoint(&self, role: Role) -> Endpoint {
        let mut slots = self.lock();
        let slot = Self::slot(&mut slots, role);
        Endpoint {
            role,
            socket: slot.socket.subscribe(),
            tls: slot.tls.clone(),
            gate: self.gate.clone(),
        }
    }

    /// Where a role listens now.
    pub fn local_addr(&self, role: Role) -> Option<SocketAddr> {
        let slots = self.lock();
        let published = slots.get(&role)?.socket.borrow().clone();
        published?.local_addr().ok()
    }

    /// Binds a socket for each `(role, address)`, all or none: if one bind fails, the others
    /// are closed again and the error names the address.
    pub fn prepare(&self, moves: &[(Role, SocketAddr)]) -> io::Result<Prepared> {
        let mut bound = Vec::with_capacity(moves.len());
        for (role, address) in moves {
            match bind(*address) {
                Ok(socket) => bound.push((*role, socket)),
                Err(err) => {
                    return Err(io::Error::new(
                        err.kind(),
                        format!("binding {address}: {err}"),
                    ));
                }
            }
        }
        Ok(Prepared { bound })
    }

    /// Puts prepared sockets in service: each role's endpoint accepts on its new socket from
    /// now on and its old socket closes. Needs the tokio runtime.
    pub fn commit(&self, prepared: Prepared) -> io::Result<()> {
        let mut slots = self.lock();
        for (role, socket) in prepared.bound {
            let listener = TcpListener::from_std(socket)?;
            Self::slot(&mut slots, role)
                .socket
                .send_replace(Some(Arc::new(listener)));
        }
        Ok(())
    }

    /// Closes a role's socket (its endpoint waits until it gets another).
    pub fn close(&self, role: Role) {
        if let Some(slot) = self.lock().get(&role) {
            slot.socket.send_replace(None);
        }
    }
}

/// Binds a listening socket (non-blocking, SO_REUSEADDR as std sets it).
pub fn bind(address: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = std::net::TcpListener::bind(address)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Where one server accepts its connections.
pub struct Endpoint {
    role: Role,
    socket: watch::Receiver<Published>,
    tls: Option<TlsAcceptor>,
    gate: Arc<Gate>,
}

impl Endpoint {
    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The next connection that passed the firewall and the limits. `None` once the
    /// [`Listeners`] are gone (shutdown).
    pub async fn accept(&mut self) -> Option<Admitted> {
        loop {
            let current = self.socket.borrow_and_update().clone();
            let Some(listener) = current else {
                self.socket.changed().await.ok()?;
                continue;
            };
            tokio::select! {
                changed = self.socket.changed() => {
                    changed.ok()?;
                }
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => match self.gate.admit(peer.ip()) {
                        Ok(ticket) => {
                            let _ = stream.set_nodelay(true);
                            return Some(Admitted {
                                stream,
                                peer,
                                ticket,
                                tls: self.tls.clone(),
                            });
                        }
                        Err(_) => drop(stream),
                    },
                    Err(err) => {
                        // EMFILE and friends: back off instead of spinning.
                        crate::log_limit::limited!(warn, "accept failed", role = ?self.role, %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
    }
}

/// An accepted connection, admitted by the gate, before its TLS handshake.
pub struct Admitted {
    stream: TcpStream,
    /// The client.
    pub peer: SocketAddr,
    /// Its place at the gate.
    pub ticket: Ticket,
    tls: Option<TlsAcceptor>,
}

/// A connection ready to serve.
pub struct Connection {
    /// The byte stream (TLS already unwrapped where the role has it).
    pub stream: Stream,
    /// The client.
    pub peer: SocketAddr,
    /// Its place at the gate: hold [`Ticket::busy`] while serving, drop the connection when
    /// [`Ticket::evicted`] resolves.
    pub ticket: Ticket,
}

impl Admitted {
    /// The TCP stream before any TLS, to peek at the first bytes.
    pub fn tcp(&self) -> &TcpStream {
        &self.stream
    }

    /// Whether the role speaks TLS (the bytes on [`Admitted::tcp`] are a TLS handshake).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The raw stream, the client and the gate ticket, for a protocol that serves the
    /// connection itself (hold the ticket while serving; mark requests busy with it).
    pub fn into_parts(self) -> (TcpStream, SocketAddr, Ticket) {
        (self.stream, self.peer, self.ticket)
    }

    /// Runs the TLS handshake where the role has TLS (bounded by [`HANDSHAKE_TIMEOUT`], and
    /// given up when the gate evicts the connection meanwhile).
    pub async fn handshake(self) -> io::Result<Connection> {
        let Admitted {
            stream,
            peer,
            ticket,
            tls,
        } = self;
        let stream = match tls {
            None => Stream::Plain(stream),
            Some(acceptor) => {
                let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                tokio::select! {
                    done = handshake => match done {
                        Ok(Ok(tls)) => Stream::Tls(Box::new(tls)),
                        Ok(Err(err)) => return Err(err),
                        Err(_) => return Err(io::ErrorKind::TimedOut.into()),
                    },
                    _ = ticket.evicted() => return Err(io::ErrorKind::ConnectionAborted.into()),
                }
            }
        };
        Ok(Connection {
            stream,
            peer,
            ticket,
        })
    }
}

/// A served connection's bytes: plain TCP or TLS over TCP.
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn loopback(last: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, last], 0))
    }

    async fn echo_once(mut endpoint: Endpoint) {
        while let Some(admitted) = endpoint.accept().await {
            tokio::spawn(async move {
                let Ok(mut conn) = admitted.handshake().await else {
                    return;
                };
                let mut byte = [0u8; 1];
                if conn.stream.read_exact(&mut byte).await.is_ok() {
                    let _ = conn.stream.write_all(&byte).await;
                }
            });
        }
    }

    async fn echoes(address: SocketAddr, from: u8) -> bool {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(loopback(from)).unwrap();
        let Ok(mut stream) = socket.connect(address).await else {
            return false;
        };
        if stream.write_all(b"x").await.is_err() {
            return false;
        }
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut byte)).await,
            Ok(Ok(_))
        )
    }

    #[tokio::test]
    async fn test_a_moved_role_accepts_on_the_new_port_and_the_old_closes() {
        let listeners = Listeners::new(Gate::new(Limits::default()));
        let first = listeners.prepare(&[(Role::Web, loopback(1))]).unwrap();
        listeners.commit(first).unwrap();
        let old = listeners.local_addr(Role::Web).unwrap();
        tokio::spawn(echo_once(listeners.endpoint(Role::Web)));
        assert!(echoes(old, 1).await);
        let moved = listeners.prepare(&[(Role::Web, loopback(1))]).unwrap();
        listeners.commit(moved).unwrap();
        let new = listeners.local_addr(Role::Web).unwrap();
        assert_ne!(old, new);
        assert!(echoes(new, 1).await);
        // The endpoint dropped its old socket once it saw the move.
        let mut closed = false;
        for _ in 0..50 {
            if tokio::net::TcpStream::connect(old).await.is_err() {
                closed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(closed, "the old port stops answering");
    }

    #[tokio::test]
    async fn test_a_failed_bind_prepares_nothing() {
        let listeners = Listeners::new(Gate::new(Limits::default()));
        let taken = std::net::TcpListener::bind(loopback(1)).unwrap();
        let busy = taken.local_addr().unwrap();
        let err = listeners
            .prepare(&[(Role::Https, loopback(1)), (Role::Web, busy)])
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(err.to_string().contains(&busy.to_string()));
        assert!(listeners.local_addr(Role::Https).is_none());
    }

    #[tokio::test]
    async fn test_the_firewall_applies_at_accept() {
        let listeners = Listeners::new(Gate::new(Limits::default()));
        listeners
            .commit(listeners.prepare(&[(Role::Rtsp, loopback(1))]).unwrap())
            .unwrap();
        let address = listeners.local_addr(Role::Rtsp).unwrap();
        tokio::spawn(echo_once(listeners.endpoint(Role::Rtsp)));
        listeners
            .gate()
            .set_firewall(firewall::Firewall::from_fields(
                "1",
                "0",
                &["127.0.0.2".into()],
            ));
        assert!(!echoes(address, 2).await, "denied address");
        assert!(echoes(address, 3).await, "other address");
    }
}
