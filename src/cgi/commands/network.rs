//! The guide's network chapter, applied, not only stored: setPortInfo moves the listeners
//! live (every changed port bound first, all or none; the reply goes out before the move) and
//! setFirewallConfig is enforced at every listener's next accept. Validation is the plain
//! setters' ([`super::config::validated`]); what is applied is what gets stored.

use super::super::command::Request;
use super::super::error::{CgiError, CgiResult};
use super::super::reply::Reply;
use super::config;
use crate::net::Network;
use crate::net::ports::PortSettings;

/// setPortInfo: binds every changed port; a port in use changes nothing (-4, logged). The
/// move happens after the reply, which is sent on the old port.
pub(crate) fn set_port_info(req: &Request) -> CgiResult<Reply> {
    let (section, values, snapshot) = config::validated(req)?;
    let wanted = config::merged(&snapshot.ports, &values)?;
    let new = PortSettings::from_section(&wanted)
        .ok_or_else(|| CgiError::field("webPort", "not a port"))?;
    let change = req.ctx.net.ports.prepare(new).map_err(|err| {
        tracing::warn!(%err, "setPortInfo: a new port cannot be bound; nothing changed");
        CgiError::Exec(format!("port unavailable: {err}"))
    })?;
    // A failed write drops the bound sockets: nothing moves.
    config::store(req, section, &values)?;
    req.ctx.net.ports.commit_after_reply(change);
    Ok(Reply::ok())
}

/// setFirewallConfig: refuses (-1) a setting that would shut out the client sending it (the
/// camera's own loopback address is exempt: the recovery path in `docs/network.md`).
pub(crate) fn set_firewall_config(req: &Request) -> CgiResult<Reply> {
    let (section, values, snapshot) = config::validated(req)?;
    let wanted = config::merged(&snapshot.firewall, &values)?;
    if !Network::firewall_permits(&wanted, req.peer) {
        tracing::warn!(
            peer = %req.peer,
            "setFirewallConfig refused: it would shut out the client setting it"
        );
        return Err(CgiError::field(
            "ipList",
            "the rule would deny the administrator's own address",
        ));
    }
    config::store(req, section, &values)?;
    req.ctx.net.apply_firewall(&wanted);
    Ok(Reply::ok())
}
