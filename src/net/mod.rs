//! Network services of the camera: the live port assignment ([`ports`]) and the firewall
//! settings in force; later the interface (IP, Wi-Fi, PPPoE), time (SNTP), DDNS and UPnP.
//! Each is built from the HAL roles it drives and the listener layer, never from `App`.

pub mod ports;

use std::sync::Arc;

use crate::listener::Listeners;
use crate::listener::firewall::{self, Firewall};

/// The handles command handlers use to apply network settings.
pub struct NetHandles {
    /// Every listening socket and the admission gate.
    pub listeners: Arc<Listeners>,
    /// The live port assignment.
    pub ports: Arc<ports::Ports>,
}

/// The firewall described by the stored fields, read through `field` (isEnable, rule,
/// ipList0..7, factory values filled in).
pub fn firewall_from(mut field: impl FnMut(&str) -> String) -> Firewall {
    let entries: Vec<String> = (0..firewall::LIST_LEN)
        .map(|n| field(&format!("ipList{n}")))
        .collect();
    Firewall::from_fields(&field("isEnable"), &field("rule"), &entries)
}
