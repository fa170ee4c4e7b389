//! Network services of the camera: the live port assignment ([`ports`]) and the firewall
//! settings in force; later the interface (IP, Wi-Fi, PPPoE), time (SNTP), DDNS and UPnP.
//! Each is built from the HAL roles it drives and the listener layer, never from `App`.

pub mod ip;
pub mod ntp;
pub mod ports;

use std::net::Ipv4Addr;
use std::sync::Arc;

use ipcamd_hal::net::{IpMode, StaticIp};

use crate::listener::Listeners;
use crate::listener::firewall::{self, Firewall};

/// The handles command handlers use to apply network settings.
pub struct NetHandles {
    /// Every listening socket and the admission gate.
    pub listeners: Arc<Listeners>,
    /// The live port assignment.
    pub ports: Arc<ports::Ports>,
    /// The interface's IPv4 settings, where the board has a network role.
    pub ip: Option<Arc<ip::IpService>>,
    /// Time from the network.
    pub ntp: ntp::Ntp,
}

/// What the network services report to the composition root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// A new IP setting did not work; this one is in force again (store it).
    IpFellBack(IpMode),
}

/// The guide's getIPInfo/setIpInfo fields of a mode: isDHCP, ip, gate, mask, dns1, dns2.
pub fn ip_fields(mode: &IpMode) -> Vec<(&'static str, String)> {
    let zero = Ipv4Addr::UNSPECIFIED;
    match mode {
        IpMode::Dhcp => vec![("isDHCP", "1".into())],
        IpMode::Static(s) => vec![
            ("isDHCP", "0".into()),
            ("ip", s.address.to_string()),
            ("gate", s.gateway.to_string()),
            (
                "mask",
                ipcamd_hal::net::prefix_mask(s.prefix_len).to_string(),
            ),
            ("dns1", s.dns.first().unwrap_or(&zero).to_string()),
            ("dns2", s.dns.get(1).unwrap_or(&zero).to_string()),
        ],
    }
}

/// The mode the guide's fields describe (read through `field`); `Err` says which field is
/// wrong: a mask with holes, an address that cannot be a host's, a gateway off the subnet.
pub fn ip_mode_from(
    mut field: impl FnMut(&str) -> String,
) -> Result<IpMode, (&'static str, &'static str)> {
    if field("isDHCP").trim() != "0" {
        return Ok(IpMode::Dhcp);
    }
    let address =
        |name: &'static str, text: String| -> Result<Ipv4Addr, (&'static str, &'static str)> {
            text.trim()
                .parse()
                .map_err(|_| (name, "not an IPv4 address"))
        };
    let ip = address("ip", field("ip"))?;
    let mask = address("mask", field("mask"))?;
    let gate = address("gate", field("gate"))?;
    let prefix_len =
        ipcamd_hal::net::mask_prefix(mask).ok_or(("mask", "not a contiguous netmask"))?;
    if !(1..=30).contains(&prefix_len) {
        return Err(("mask", "no room for hosts"));
    }
    let host_bits = !u32::from(mask);
    let host = u32::from(ip) & host_bits;
    if ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || ip.is_broadcast()
        || host == 0
        || host == host_bits
    {
        return Err(("ip", "not a host address"));
    }
    if !gate.is_unspecified() {
        let net = u32::from(mask);
        if u32::from(gate) & net != u32::from(ip) & net || gate == ip {
            return Err(("gate", "not another host of the subnet"));
        }
    }
    let mut dns = Vec::new();
    for name in ["dns1", "dns2"] {
        let server = address(name, field(name))?;
        if server.is_multicast() || server.is_broadcast() {
            return Err((name, "not a server address"));
        }
        if !server.is_unspecified() {
            dns.push(server);
        }
    }
    Ok(IpMode::Static(StaticIp {
        address: ip,
        prefix_len,
        gateway: gate,
        dns,
    }))
}

/// The firewall described by the stored fields, read through `field` (isEnable, rule,
/// ipList0..7, factory values filled in).
pub fn firewall_from(mut field: impl FnMut(&str) -> String) -> Firewall {
    let entries: Vec<String> = (0..firewall::LIST_LEN)
        .map(|n| field(&format!("ipList{n}")))
        .collect();
    Firewall::from_fields(&field("isEnable"), &field("rule"), &entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> impl FnMut(&str) -> String {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned().unwrap_or_else(|| "0.0.0.0".into())
    }

    #[test]
    fn test_ip_fields_round_trip_through_the_mode() {
        let good = [
            ("isDHCP", "0"),
            ("ip", "192.168.1.88"),
            ("gate", "192.168.1.1"),
            ("mask", "255.255.255.0"),
            ("dns1", "192.168.1.1"),
            ("dns2", "0.0.0.0"),
        ];
        let mode = ip_mode_from(fields(&good)).unwrap();
        let back: Vec<(&str, String)> = ip_fields(&mode);
        for (k, v) in good {
            assert!(back.contains(&(k, v.to_string())), "{k}");
        }
        assert_eq!(
            ip_mode_from(fields(&[("isDHCP", "1")])).unwrap(),
            IpMode::Dhcp
        );
    }

    #[test]
    fn test_addresses_that_cannot_work_are_refused_by_field() {
        let base = |k: &'static str, v: &'static str| {
            let mut all = vec![
                ("isDHCP", "0"),
                ("ip", "192.168.1.88"),
                ("gate", "192.168.1.1"),
                ("mask", "255.255.255.0"),
            ];
            all.retain(|(n, _)| *n != k);
            all.push((k, v));
            ip_mode_from(fields(&all)).err().map(|(field, _)| field)
        };
        assert_eq!(base("mask", "255.0.255.0"), Some("mask"));
        assert_eq!(base("mask", "255.255.255.255"), Some("mask"));
        assert_eq!(base("ip", "192.168.1.0"), Some("ip"));
        assert_eq!(base("ip", "192.168.1.255"), Some("ip"));
        assert_eq!(base("ip", "127.0.0.5"), Some("ip"));
        assert_eq!(base("ip", "224.0.0.1"), Some("ip"));
        assert_eq!(base("ip", "192.168.1.x"), Some("ip"));
        assert_eq!(base("gate", "10.0.0.1"), Some("gate"));
        assert_eq!(base("gate", "192.168.1.88"), Some("gate"));
        assert_eq!(base("gate", "0.0.0.0"), None, "no gateway is allowed");
    }
}
