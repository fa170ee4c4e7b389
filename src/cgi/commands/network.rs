//! Network settings applied, not only stored: setPortInfo moves the listeners live and
//! setFirewallConfig takes effect at the next accept. The plain section setter
//! ([`super::config`]) validates and stores; these hooks run around the store write.

use std::time::Duration;

use super::super::{CgiError, CgiResult, Request};
use super::config::read_value;
use crate::listener::firewall::Firewall;
use crate::net::ports::{PortMove, PortSettings};

/// How long a moved listener waits before moving, so the setter's reply (sent on the old
/// port) reaches the client first.
pub const MOVE_AFTER_REPLY: Duration = Duration::from_millis(300);

/// What a hook prepared before the store write.
pub enum Pending {
    /// Nothing to apply.
    Nothing,
    /// Ports bound, to put in service after the reply.
    Ports(PortMove),
    /// The firewall to enforce.
    Firewall(Firewall),
}

fn merged(req: &Request, section: &str, values: &[(&'static str, String)], name: &str) -> String {
    match values.iter().find(|(k, _)| *k == name) {
        Some((_, v)) => v.clone(),
        None => read_value(req.app, section, name).unwrap_or_default(),
    }
}

/// Checks and prepares what a section's new values need applied; an error leaves everything
/// (stored and live) unchanged.
pub fn before_store(
    req: &Request,
    section: &str,
    values: &[(&'static str, String)],
) -> CgiResult<Pending> {
    match section {
        "ports" => {
            let port = |name: &str| -> CgiResult<u16> {
                merged(req, section, values, name)
                    .parse()
                    .map_err(|_| CgiError::field(name, "not a port"))
            };
            let new = PortSettings {
                web: port("webPort")?,
                https: port("httpsPort")?,
                media: port("mediaPort")?,
                onvif: port("onvifPort")?,
            };
            let change = req.app.net.ports.prepare(new).map_err(|err| {
                tracing::warn!(%err, "setPortInfo: a new port cannot be bound; nothing changed");
                CgiError::Exec(format!("port unavailable: {err}"))
            })?;
            Ok(Pending::Ports(change))
        }
        "firewall" => {
            let firewall = crate::net::firewall_from(|name| merged(req, section, values, name));
            if !firewall.permits(req.peer) {
                tracing::warn!(
                    peer = %req.peer,
                    "setFirewallConfig refused: it would shut out the client setting it"
                );
                return Err(CgiError::field(
                    "ipList",
                    "the rule would deny the administrator's own address",
                ));
            }
            Ok(Pending::Firewall(firewall))
        }
        _ => Ok(Pending::Nothing),
    }
}

/// Applies what [`before_store`] prepared, once the values are stored.
pub fn after_store(req: &Request, pending: Pending) {
    match pending {
        Pending::Nothing => {}
        Pending::Firewall(firewall) => {
            tracing::info!(
                enabled = firewall.enabled,
                rule = ?firewall.rule,
                entries = firewall.list.len(),
                "firewall applied"
            );
            req.app.net.listeners.gate().set_firewall(firewall);
        }
        Pending::Ports(change) => {
            let ports = req.app.net.ports.clone();
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(async move {
                        tokio::time::sleep(MOVE_AFTER_REPLY).await;
                        if let Err(err) = ports.commit(change) {
                            tracing::warn!(%err, "setPortInfo: moving the listeners failed");
                        }
                    });
                }
                Err(_) => {
                    if let Err(err) = ports.commit(change) {
                        tracing::warn!(%err, "setPortInfo: moving the listeners failed");
                    }
                }
            }
        }
    }
}
