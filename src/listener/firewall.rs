//! The guide's IP firewall (setFirewallConfig): rule 0 denies the listed addresses, rule 1
//! allows only them. Checked at accept on every listener, before a byte is read.
//!
//! An entry (`ipListN`) is one IPv4 address, given as a dotted quad (`192.168.1.20`) or as the
//! decimal integer form some Foscam clients send (`3232235796`, the address as a big-endian
//! 32-bit number); `0` is an empty slot. Entries are reported as dotted quads.
//!
//! Recovery: the camera's own loopback address (127.0.0.1, ::1) is never filtered, so the
//! daemon's watchdog probe and a console on the camera always get through; see
//! `docs/network.md` for how an owner who locked themself out gets back in.

use std::net::{IpAddr, Ipv4Addr};

/// How many list entries the guide has (ipList0..ipList7).
pub const LIST_LEN: usize = 8;

/// What the list means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rule {
    /// Rule 0: the listed addresses may not connect.
    #[default]
    DenyListed,
    /// Rule 1: only the listed addresses may connect.
    AllowOnlyListed,
}

/// A firewall configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Firewall {
    /// isEnable.
    pub enabled: bool,
    /// rule.
    pub rule: Rule,
    /// The non-empty entries.
    pub list: Vec<Ipv4Addr>,
}

/// Parses one `ipListN` value: a dotted quad, the integer form, or `0` (empty slot, `None`).
pub fn parse_entry(raw: &str) -> Option<Option<Ipv4Addr>> {
    let raw = raw.trim();
    if raw.is_empty() || raw == "0" || raw == "0.0.0.0" {
        return Some(None);
    }
    if let Ok(address) = raw.parse::<Ipv4Addr>() {
        return Some(Some(address));
    }
    if raw.bytes().all(|b| b.is_ascii_digit()) && raw.len() <= 10 {
        let number: u64 = raw.parse().ok()?;
        return u32::try_from(number).ok().map(|n| Some(Ipv4Addr::from(n)));
    }
    None
}

/// The canonical stored and reported form of an entry: a dotted quad, or `0` for an empty slot.
pub fn entry_text(entry: Option<Ipv4Addr>) -> String {
    entry.map_or_else(|| "0".to_owned(), |a| a.to_string())
}

/// The address a peer is judged by: IPv4-mapped IPv6 addresses are their IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Firewall {
    /// Builds one from the stored fields (isEnable, rule, ipList0..7 texts); bad entries are
    /// skipped (the setter never stores one).
    pub fn from_fields(enabled: &str, rule: &str, entries: &[String]) -> Firewall {
        Firewall {
            enabled: enabled.trim() == "1",
            rule: if rule.trim() == "1" {
                Rule::AllowOnlyListed
            } else {
                Rule::DenyListed
            },
            list: entries
                .iter()
                .filter_map(|e| parse_entry(e).flatten())
                .collect(),
        }
    }

    /// Whether a client at `ip` may connect.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if !self.enabled || is_own_loopback(ip) {
            return true;
        }
        let listed = match ip {
            IpAddr::V4(v4) => self.list.contains(&v4),
            IpAddr::V6(_) => false,
        };
        match self.rule {
            Rule::DenyListed => !listed,
            Rule::AllowOnlyListed => listed,
        }
    }
}

/// The camera's own loopback address, exempt from the firewall (recovery path, watchdog probe).
pub fn is_own_loopback(ip: IpAddr) -> bool {
    ip == IpAddr::V4(Ipv4Addr::LOCALHOST) || ip == IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn test_entries_accept_dotted_quad_integer_and_empty() {
        assert_eq!(
            parse_entry("192.168.1.20"),
            Some(Some(Ipv4Addr::new(192, 168, 1, 20)))
        );
        assert_eq!(
            parse_entry("3232235796"),
            Some(Some(Ipv4Addr::new(192, 168, 1, 20)))
        );
        assert_eq!(parse_entry("0"), Some(None));
        assert_eq!(parse_entry(""), Some(None));
        assert_eq!(parse_entry("4294967296"), None);
        assert_eq!(parse_entry("1.2.3"), None);
        assert_eq!(parse_entry("not-an-ip"), None);
        assert_eq!(parse_entry("-5"), None);
        assert_eq!(entry_text(parse_entry("2130706434").unwrap()), "127.0.0.2");
    }

    #[test]
    fn test_deny_rule_blocks_only_listed_addresses() {
        let fw = Firewall::from_fields("1", "0", &["127.0.0.2".into(), "0".into()]);
        assert!(!fw.permits(ip("127.0.0.2")));
        assert!(!fw.permits(ip("::ffff:127.0.0.2")));
        assert!(fw.permits(ip("127.0.0.3")));
    }

    #[test]
    fn test_allow_rule_admits_only_listed_addresses_and_loopback() {
        let fw = Firewall::from_fields("1", "1", &["127.0.0.3".into()]);
        assert!(fw.permits(ip("127.0.0.3")));
        assert!(!fw.permits(ip("127.0.0.2")));
        assert!(!fw.permits(ip("10.1.1.1")));
        assert!(!fw.permits(ip("fe80::1")));
        assert!(fw.permits(ip("127.0.0.1")), "the camera's own loopback");
        assert!(fw.permits(ip("::1")));
    }

    #[test]
    fn test_disabled_firewall_admits_everyone() {
        let fw = Firewall::from_fields("0", "1", &["127.0.0.3".into()]);
        assert!(fw.permits(ip("127.0.0.2")));
    }
}
