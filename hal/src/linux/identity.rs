//! What a Linux machine says about itself that the board file cannot: the hardware address of
//! its network interface (`/sys/class/net/<interface>/address`).

use crate::board::compact_mac;

/// The interface's MAC address in getDevInfo's form (see [`compact_mac`]), or `None` when the
/// interface does not exist or has no address.
pub fn interface_mac(interface: &str) -> Option<String> {
    if interface.is_empty() || interface.contains(['/', '\0']) || interface.starts_with('.') {
        return None;
    }
    let text = std::fs::read_to_string(format!("/sys/class/net/{interface}/address")).ok()?;
    let mac = compact_mac(&text);
    (mac.len() == 12 && mac.bytes().all(|b| b.is_ascii_hexdigit())).then_some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_the_loopback_has_no_mac_and_bad_names_are_not_read() {
        // lo's address is 00:00:00:00:00:00: twelve digits, still an address.
        assert_eq!(interface_mac("lo").as_deref(), Some("000000000000"));
        assert_eq!(interface_mac("ipcamd-no-such-if"), None);
        assert_eq!(interface_mac("../lo"), None);
        assert_eq!(interface_mac(""), None);
    }
}
