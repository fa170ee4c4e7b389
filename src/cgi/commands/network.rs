//! Network settings applied, not only stored: setPortInfo moves the listeners live and
//! setFirewallConfig takes effect at the next accept. The plain section setter
//! ([`super::config`]) validates and stores; these hooks run around the store write.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::super::reply::{Fields, Reply};
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
    /// The interface's new IPv4 setting.
    Ip(ipcamd_hal::net::IpMode),
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
        "ip" => {
            let mode = crate::net::ip_mode_from(|name| merged(req, section, values, name))
                .map_err(|(field, why)| CgiError::field(field, why))?;
            if req.app.net.ip.is_none() {
                tracing::info!("setIpInfo: this board has no network role");
                return Err(CgiError::Exec("no network interface to configure".into()));
            }
            Ok(Pending::Ip(mode))
        }
        _ => Ok(Pending::Nothing),
    }
}

/// getIPInfo: what the interface has now (the stored setting where the board has no network
/// role to ask).
pub fn get_ip_info(req: &Request) -> CgiResult<Reply> {
    let Some(ip) = &req.app.net.ip else {
        let mut fields = Fields::new();
        for name in ["isDHCP", "ip", "gate", "mask", "dns1", "dns2"] {
            fields.push(name, read_value(req.app, "ip", name)?);
        }
        return Ok(Reply::Xml(fields));
    };
    let status = ip.status()?;
    let zero = Ipv4Addr::UNSPECIFIED;
    let (address, prefix_len) = status.address.unwrap_or((zero, 0));
    let mut fields = Fields::new();
    fields.push("isDHCP", u8::from(status.dhcp));
    fields.push("ip", address.to_string());
    fields.push("gate", status.gateway.unwrap_or(zero).to_string());
    fields.push("mask", ipcamd_hal::net::prefix_mask(prefix_len).to_string());
    fields.push("dns1", status.dns.first().unwrap_or(&zero).to_string());
    fields.push("dns2", status.dns.get(1).unwrap_or(&zero).to_string());
    Ok(Reply::Xml(fields))
}

/// Applies what [`before_store`] prepared, once the values are stored.
pub fn after_store(req: &Request, pending: Pending) {
    match pending {
        Pending::Nothing => {}
        Pending::Ip(mode) => {
            if let Some(ip) = &req.app.net.ip {
                ip.apply_after_reply(mode);
            }
        }
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
