//! The guide's network chapter, applied, not only stored: setPortInfo moves the listeners
//! live (every changed port bound first, all or none; the reply goes out before the move),
//! setFirewallConfig is enforced at every listener's next accept, getIPInfo reports the
//! interface, setIpInfo / setWifiSetting / setPPPoEConfig apply after the reply (with
//! fallback), refreshWifiList / getWifiList scan and page. Validation is the plain
//! setters' ([`super::config::validated`]); what is applied is what gets stored.

use std::net::Ipv4Addr;

use super::super::command::Request;
use super::super::error::{CgiError, CgiResult};
use super::super::reply::{Fields, Reply};
use super::config;
use crate::net::ip::ip_mode_of;
use crate::net::ports::PortSettings;
use crate::net::{Network, ddns, pppoe, wifi};

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

/// The board has no such network role: -4, logged.
fn missing(what: &str) -> CgiError {
    tracing::info!("{what}: this board has none");
    CgiError::Exec(format!("this board has no {what}"))
}

/// getIPInfo: what the interface has now (the stored setting where the board has no network
/// role to ask).
pub(crate) fn get_ip_info(req: &Request) -> CgiResult<Reply> {
    let Some(ip) = &req.ctx.net.ip else {
        return config::get_section(req);
    };
    let status = ip.status()?;
    let zero = Ipv4Addr::UNSPECIFIED;
    let (address, prefix_len) = status.address.unwrap_or((zero, 0));
    let mut fields = Fields::new();
    fields
        .push("isDHCP", u8::from(status.dhcp))
        .push("ip", address)
        .push("gate", status.gateway.unwrap_or(zero))
        .push("mask", ipcamd_hal::net::prefix_mask(prefix_len))
        .push("dns1", status.dns.first().unwrap_or(&zero))
        .push("dns2", status.dns.get(1).unwrap_or(&zero));
    Ok(Reply::Xml(fields))
}

/// setIpInfo: a setting that cannot work (a mask with holes, a network or broadcast address,
/// a gateway off the subnet) is -1; otherwise it is stored and applied after the reply, and
/// falls back to the last working one if it does not come up (see [`crate::net::ip`]).
pub(crate) fn set_ip_info(req: &Request) -> CgiResult<Reply> {
    let (section, values, snapshot) = config::validated(req)?;
    let wanted = config::merged(&snapshot.ip, &values)?;
    let mode = ip_mode_of(&wanted).map_err(|(field, why)| CgiError::field(field, why))?;
    let ip = req
        .ctx
        .net
        .ip
        .as_ref()
        .ok_or_else(|| missing("network interface"))?;
    config::store(req, section, &values)?;
    ip.apply_after_reply(mode);
    Ok(Reply::ok())
}

/// refreshWifiList: scans (waits for the radio's results, bounded).
pub(crate) fn refresh_wifi_list(req: &Request) -> CgiResult<Reply> {
    let wifi = req.ctx.net.wifi.as_ref().ok_or_else(|| missing("Wi-Fi"))?;
    let found = wifi.refresh()?;
    tracing::debug!(found, "Wi-Fi scan");
    Ok(Reply::ok())
}

/// getWifiList: the last scan, at most ten access points from startNo.
pub(crate) fn get_wifi_list(req: &Request) -> CgiResult<Reply> {
    let wifi = req.ctx.net.wifi.as_ref().ok_or_else(|| missing("Wi-Fi"))?;
    let start =
        usize::try_from(req.int("startNo")?).map_err(|_| CgiError::field("startNo", "negative"))?;
    let (total, page) = wifi.page(start);
    let mut fields = Fields::new();
    fields.push("totalCnt", total).push("curCnt", page.len());
    for (n, ap) in page.iter().enumerate() {
        fields.push(format!("ap{n}"), wifi::ap_text(ap));
    }
    Ok(Reply::Xml(fields))
}

/// setWifiSetting: SSID and key checked (-1 for a bad one, nothing stored), then stored and
/// joined after the reply; a network that does not connect gives way to the last one that
/// did and the previous setting is stored again (see [`crate::net::wifi`]).
pub(crate) fn set_wifi_setting(req: &Request) -> CgiResult<Reply> {
    let (section, values, snapshot) = config::validated(req)?;
    let wanted = config::merged(&snapshot.wifi, &values)?;
    let join = wifi::check(&wanted).map_err(|(field, why)| CgiError::field(field, why))?;
    let service = req.ctx.net.wifi.as_ref().ok_or_else(|| missing("Wi-Fi"))?;
    config::store(req, section, &values)?;
    service.apply_after_reply(join, snapshot.wifi.clone());
    Ok(Reply::ok())
}

/// getWifiConfig: the stored setting, with isConnected and connectedAp from the radio.
pub(crate) fn get_wifi_config(req: &Request) -> CgiResult<Reply> {
    let connected = req.ctx.net.wifi.as_ref().and_then(|w| w.connected());
    let snapshot = req.ctx.settings.snapshot();
    let mut fields = Fields::new();
    for field in req.spec.returns {
        let value = match field.name {
            "isConnected" => u8::from(connected.is_some()).to_string(),
            "connectedAp" => connected.clone().unwrap_or_default(),
            name => crate::settings::Section::get(&snapshot.wifi, name)
                .ok_or_else(|| CgiError::Unknown(format!("no Wi-Fi setting {name}")))?,
        };
        for alias in field.aliases {
            fields.push(*alias, &value);
        }
        fields.push(field.name, value);
    }
    Ok(Reply::Xml(fields))
}

/// setPPPoEConfig: the account checked, stored, dialled after the reply (or hung up).
pub(crate) fn set_pppoe_config(req: &Request) -> CgiResult<Reply> {
    let (section, values, snapshot) = config::validated(req)?;
    let wanted = config::merged(&snapshot.pppoe, &values)?;
    pppoe::check(&wanted).map_err(|(field, why)| CgiError::field(field, why))?;
    let service = req
        .ctx
        .net
        .pppoe
        .as_ref()
        .ok_or_else(|| missing("PPPoE dialler"))?;
    config::store(req, section, &values)?;
    service.apply(wanted, pppoe::APPLY_AFTER_REPLY);
    Ok(Reply::ok())
}

/// setDDNSConfig: the host name and account checked (-1), factory DDNS refused (-4: no board
/// has an account with Foscam's service); stored, and the DDNS service follows the setting.
pub(crate) fn set_ddns_config(req: &Request) -> CgiResult<Reply> {
    let (section, values, snapshot) = config::validated(req)?;
    let wanted = config::merged(&snapshot.ddns, &values)?;
    if wanted.enabled && wanted.server == 0 {
        tracing::info!(
            "setDDNSConfig: factory DDNS needs an account with Foscam's service; this board has none"
        );
        return Err(CgiError::Exec(
            "no factory DDNS account on this board".into(),
        ));
    }
    ddns::check(&wanted).map_err(|(field, why)| CgiError::field(field, why))?;
    config::store(req, section, &values)?;
    Ok(Reply::ok())
}

/// setP2PEnable, setP2PPort: P2P is Foscam's proprietary cloud; a board without it (every
/// board here says so in its capabilities) answers -4 and logs why, and its getters report
/// P2P off. A malformed parameter is -1 first, as for every setter.
pub(crate) fn set_p2p(req: &Request) -> CgiResult<Reply> {
    config::validated(req)?;
    if !req.ctx.hal.board.capabilities.p2p {
        tracing::info!(
            "{}: this board has no P2P (Foscam's proprietary cloud)",
            req.spec.name
        );
        return Err(CgiError::Exec("no P2P on this board".into()));
    }
    config::set_section(req)
}
