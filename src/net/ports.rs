//! Which port each listener role serves, applied live: setPortInfo binds every changed port
//! first (all or none: one port in use and nothing moves, the setter answers "execute fail"),
//! the reply goes out, then the listeners move ([`Ports::commit`]); connections already open
//! carry on. At start-up a stored port that cannot be bound falls back to the board's factory
//! port, so a port taken by something else cannot keep the camera off the network.
//!
//! mediaPort equal to webPort (the guide's default) shares the web listener; a different
//! mediaPort gets a listener of its own serving the same surface. onvifPort is the ONVIF
//! service's listener ([`crate::listener::Role::Onvif`]) on boards whose capabilities say
//! `onvif = true`, moved, rolled back and fallen back like the others; where `onvif = false`
//! it is stored and reported only, and nothing listens there.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::listener::{Listeners, Prepared, Role};
use crate::settings::sections;

/// How long a move waits after the setter's reply was handed over, so the reply (sent on the
/// old port) reaches the client before its socket closes.
pub const MOVE_AFTER_REPLY: Duration = Duration::from_millis(300);

/// The ports of getPortInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSettings {
    /// webPort.
    pub web: u16,
    /// httpsPort.
    pub https: u16,
    /// mediaPort.
    pub media: u16,
    /// onvifPort.
    pub onvif: u16,
}

impl PortSettings {
    /// The stored section's ports (the setter only stores 1..65535).
    pub fn from_section(ports: &sections::Ports) -> Option<PortSettings> {
        let port = |p: i64| u16::try_from(p).ok().filter(|p| *p != 0);
        Some(PortSettings {
            web: port(ports.web_port)?,
            https: port(ports.https_port)?,
            media: port(ports.media_port)?,
            onvif: port(ports.onvif_port)?,
        })
    }
}

/// A move bound and waiting for [`Ports::commit`]; dropping it rolls the move back.
#[derive(Debug)]
pub struct PortMove {
    prepared: Prepared,
    close_media: bool,
    settings: PortSettings,
}

/// The live port assignment.
pub struct Ports {
    listeners: Arc<Listeners>,
    bind_ip: IpAddr,
    /// Whether the board runs the ONVIF service (onvifPort has a listener).
    onvif: bool,
    current: Mutex<PortSettings>,
    runtime: tokio::runtime::Handle,
}

impl Ports {
    /// Binds the web listener and, where configured, HTTPS, media and (with `onvif`) ONVIF.
    /// `listen_port` (the
    /// command line's `--listen`) replaces the stored web port; with port 0 (tests) every role
    /// takes a free port instead of its stored one, and the stored ports stay the ones in force
    /// (a setter that leaves a port as stored does not move it). Call inside the tokio
    /// runtime (later moves run on it).
    pub fn start(
        listeners: Arc<Listeners>,
        bind_ip: IpAddr,
        mut stored: PortSettings,
        factory: PortSettings,
        listen_port: Option<u16>,
        onvif: bool,
    ) -> io::Result<Ports> {
        let ephemeral = listen_port == Some(0);
        let media_apart = stored.media != stored.web;
        if let Some(port) = listen_port.filter(|p| *p != 0) {
            stored.web = port;
        }
        let port = |p: u16| if ephemeral { 0 } else { p };
        let bind_with_fallback = |role: Role, stored: u16, factory: u16| -> io::Result<()> {
            let first = listeners.prepare(&[(role, SocketAddr::new(bind_ip, port(stored)))]);
            let prepared = match first {
                Ok(prepared) => prepared,
                Err(err) if stored != factory && !ephemeral => {
                    tracing::warn!(?role, %err, factory, "stored port unavailable; using the factory port");
                    listeners.prepare(&[(role, SocketAddr::new(bind_ip, factory))])?
                }
                Err(err) => return Err(err),
            };
            listeners.commit(prepared)
        };
        bind_with_fallback(Role::Web, stored.web, factory.web)?;
        if listeners.has_tls(Role::Https) {
            if let Err(err) = bind_with_fallback(Role::Https, stored.https, factory.https) {
                tracing::warn!(%err, "HTTPS is off: its port cannot be bound");
            }
        }
        if media_apart {
            if let Err(err) = bind_with_fallback(Role::Media, stored.media, factory.media) {
                tracing::warn!(%err, "the media port cannot be bound; media is served on the web port");
            }
        }
        if onvif {
            if let Err(err) = bind_with_fallback(Role::Onvif, stored.onvif, factory.onvif) {
                tracing::warn!(%err, "ONVIF is off: its port cannot be bound");
            }
        }
        Ok(Ports {
            listeners,
            bind_ip,
            onvif,
            current: Mutex::new(stored),
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// The settings in force.
    pub fn current(&self) -> PortSettings {
        *self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Binds every port that `new` changes; an error (a port in use) leaves everything as is.
    pub fn prepare(&self, new: PortSettings) -> io::Result<PortMove> {
        let old = self.current();
        let at = |port: u16| SocketAddr::new(self.bind_ip, port);
        let mut moves = Vec::new();
        if new.web != old.web {
            moves.push((Role::Web, at(new.web)));
        }
        if new.https != old.https && self.listeners.has_tls(Role::Https) {
            moves.push((Role::Https, at(new.https)));
        }
        if new.onvif != old.onvif && self.onvif {
            moves.push((Role::Onvif, at(new.onvif)));
        }
        let media_separate = new.media != new.web;
        let media_moved = new.media != old.media || old.media == old.web;
        if media_separate && media_moved {
            moves.push((Role::Media, at(new.media)));
        }
        let prepared = self.listeners.prepare(&moves)?;
        Ok(PortMove {
            prepared,
            close_media: !media_separate && old.media != old.web,
            settings: new,
        })
    }

    /// Puts a prepared move in service.
    pub fn commit(&self, change: PortMove) -> io::Result<()> {
        let addresses = change.prepared.addresses();
        self.listeners.commit(change.prepared)?;
        if change.close_media {
            self.listeners.close(Role::Media);
        }
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = change.settings;
        for (role, address) in addresses {
            tracing::info!(?role, %address, "listener moved");
        }
        Ok(())
    }

    /// Puts a prepared move in service after [`MOVE_AFTER_REPLY`], on the runtime (so a
    /// handler can return its reply first).
    pub fn commit_after_reply(self: &Arc<Self>, change: PortMove) {
        let ports = self.clone();
        self.runtime.spawn(async move {
            tokio::time::sleep(MOVE_AFTER_REPLY).await;
            if let Err(err) = ports.commit(change) {
                tracing::warn!(%err, "setPortInfo: moving the listeners failed");
            }
        });
    }

    /// Where a role listens now.
    pub fn local_addr(&self, role: Role) -> Option<SocketAddr> {
        self.listeners.local_addr(role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listener::{Gate, Limits};

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn settings(web: u16, media: u16) -> PortSettings {
        PortSettings {
            web,
            https: 443,
            media,
            onvif: 888,
        }
    }

    #[tokio::test]
    async fn test_a_taken_stored_port_falls_back_to_the_factory_port() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stored = taken.local_addr().unwrap().port();
        let factory = free_port();
        let listeners = Listeners::new(Gate::new(Limits::default()));
        let ip = IpAddr::from([127, 0, 0, 1]);
        let ports = Ports::start(
            listeners.clone(),
            ip,
            settings(stored, stored),
            settings(factory, factory),
            None,
            false,
        )
        .unwrap();
        assert_eq!(ports.local_addr(Role::Web).unwrap().port(), factory);
    }

    #[tokio::test]
    async fn test_media_gets_its_own_listener_only_when_it_differs() {
        let listeners = Listeners::new(Gate::new(Limits::default()));
        let ip = IpAddr::from([127, 0, 0, 1]);
        let web = free_port();
        let ports = Ports::start(
            listeners,
            ip,
            settings(web, web),
            settings(web, web),
            None,
            false,
        )
        .unwrap();
        assert!(ports.local_addr(Role::Media).is_none());
        let media = free_port();
        let change = ports.prepare(settings(web, media)).unwrap();
        ports.commit(change).unwrap();
        assert_eq!(ports.local_addr(Role::Media).unwrap().port(), media);
        let change = ports.prepare(settings(web, web)).unwrap();
        ports.commit(change).unwrap();
        assert!(ports.local_addr(Role::Media).is_none());
        assert_eq!(ports.current(), settings(web, web));
    }
}
