//! Network roles: the wired (or default) interface's IPv4 configuration, the Wi-Fi radio, and
//! the PPPoE dialler. Each is synchronous and object-safe like every HAL role; the daemon
//! decides *when* to apply and whether to fall back, the backend only does and reports.
//!
//! Backends: [`sim`] (a simulated LAN with a DHCP server, a gateway, a radio environment of a
//! few access points and a PPPoE access concentrator, all from the board file), and the Linux
//! backends (`linux::net`: netlink for addresses and routes, resolv.conf, the board's DHCP
//! client; `linux::wpa`: wpa_supplicant's control socket; `linux::pppd`: pppd), programs
//! started with argument vectors only.

pub mod sim;
pub mod spec;

use std::net::Ipv4Addr;

use crate::HalResult;

/// A static IPv4 configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticIp {
    /// The camera's address.
    pub address: Ipv4Addr,
    /// Prefix length of the subnet (24 for 255.255.255.0).
    pub prefix_len: u8,
    /// Default gateway (0.0.0.0 for none).
    pub gateway: Ipv4Addr,
    /// DNS servers, in order (0.0.0.0 entries left out).
    pub dns: Vec<Ipv4Addr>,
}

/// How the interface gets its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpMode {
    /// From the network's DHCP server.
    Dhcp,
    /// Fixed.
    Static(StaticIp),
}

/// What the interface has right now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpStatus {
    /// Interface name.
    pub interface: String,
    /// Whether a DHCP client manages it.
    pub dhcp: bool,
    /// Its IPv4 address and prefix length, once it has one.
    pub address: Option<(Ipv4Addr, u8)>,
    /// The default route's gateway.
    pub gateway: Option<Ipv4Addr>,
    /// DNS servers in use.
    pub dns: Vec<Ipv4Addr>,
}

/// The mask of a prefix length.
pub fn prefix_mask(prefix_len: u8) -> Ipv4Addr {
    let bits = if prefix_len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix_len.min(32)))
    };
    Ipv4Addr::from(bits)
}

/// The prefix length of a contiguous netmask; `None` for a mask with holes.
pub fn mask_prefix(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

/// The wired (or only) interface's IPv4 configuration.
pub trait Network: Send + Sync {
    /// What the interface has now.
    fn status(&self) -> HalResult<IpStatus>;
    /// Switches to `mode` (starting or stopping the DHCP client as needed). Returns once the
    /// change is made; whether it *works* is for [`Network::gateway_reachable`] to tell.
    fn apply(&self, mode: &IpMode) -> HalResult<()>;
    /// Whether the interface has an address and its gateway (if any) answers on the link.
    fn gateway_reachable(&self) -> HalResult<bool>;
}

/// Wi-Fi security of an access point (the guide's encryptType values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Security {
    /// 0: open.
    Open = 0,
    /// 1: WEP.
    Wep = 1,
    /// 2: WPA.
    Wpa = 2,
    /// 3: WPA2.
    Wpa2 = 3,
    /// 4: WPA/WPA2 mixed.
    WpaWpa2 = 4,
}

impl Security {
    /// From the guide's encryptType.
    pub fn from_code(code: i64) -> Option<Security> {
        Some(match code {
            0 => Security::Open,
            1 => Security::Wep,
            2 => Security::Wpa,
            3 => Security::Wpa2,
            4 => Security::WpaWpa2,
            _ => return None,
        })
    }
}

/// One access point a scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPoint {
    /// Network name.
    pub ssid: String,
    /// BSSID (the AP's MAC address).
    pub bssid: [u8; 6],
    /// Signal quality 0..=100.
    pub quality: u8,
    /// Security.
    pub security: Security,
}

/// A network to join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WifiJoin {
    /// Network name (1..=32 bytes).
    pub ssid: String,
    /// Its security.
    pub security: Security,
    /// WPA passphrase (8..=63 printable) or WEP key; empty for open networks.
    pub key: String,
}

/// The radio's association.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WifiState {
    /// Not associated, not trying.
    Disconnected,
    /// Associating or authenticating.
    Connecting,
    /// Associated with this network.
    Connected {
        /// Network name.
        ssid: String,
    },
    /// The last attempt failed (wrong key, network gone).
    Failed {
        /// Why, as the backend saw it.
        reason: String,
    },
}

/// The Wi-Fi radio.
pub trait Wifi: Send + Sync {
    /// Starts a scan.
    fn scan(&self) -> HalResult<()>;
    /// What the last scan found, strongest first.
    fn scan_results(&self) -> HalResult<Vec<AccessPoint>>;
    /// Starts joining a network (replacing any other); progress shows in [`Wifi::state`].
    fn join(&self, network: &WifiJoin) -> HalResult<()>;
    /// Leaves the network.
    fn leave(&self) -> HalResult<()>;
    /// Association now.
    fn state(&self) -> HalResult<WifiState>;
}

/// A PPPoE link's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PppState {
    /// Not dialled.
    Down,
    /// Dialling.
    Dialling,
    /// Up with this address.
    Up {
        /// The address the access concentrator gave.
        address: Ipv4Addr,
    },
    /// The last attempt failed.
    Failed {
        /// Why.
        reason: String,
    },
}

/// The PPPoE dialler.
pub trait Pppoe: Send + Sync {
    /// Dials with this account (replacing a running session).
    fn dial(&self, user: &str, password: &str) -> HalResult<()>;
    /// Hangs up.
    fn hang_up(&self) -> HalResult<()>;
    /// The link now.
    fn state(&self) -> HalResult<PppState>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_masks_and_prefixes_convert_both_ways() {
        assert_eq!(prefix_mask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(prefix_mask(0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(prefix_mask(32), Ipv4Addr::BROADCAST);
        assert_eq!(mask_prefix(Ipv4Addr::new(255, 255, 254, 0)), Some(23));
        assert_eq!(mask_prefix(Ipv4Addr::new(255, 0, 255, 0)), None);
        assert_eq!(mask_prefix(Ipv4Addr::BROADCAST), Some(32));
        assert_eq!(mask_prefix(Ipv4Addr::UNSPECIFIED), Some(0));
    }
}
