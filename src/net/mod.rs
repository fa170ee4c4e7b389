//! Network services (layer 2): the live port assignment ([`ports`]) and the firewall in
//! force, over the listener handle ([`crate::listener`]). Built by the composition root from
//! the listeners and the typed settings, never from the CGI context; the CGI handlers of
//! setPortInfo and setFirewallConfig validate and store, then call in here to apply.

pub mod ports;

use std::net::IpAddr;
use std::sync::Arc;

use crate::listener::Listeners;
use crate::listener::firewall::Firewall;
use crate::settings::sections;

/// The network services' handle.
pub struct Network {
    /// Every listening socket and the admission gate.
    pub listeners: Arc<Listeners>,
    /// The live port assignment.
    pub ports: Arc<ports::Ports>,
}

impl Network {
    /// The services over bound listeners and their ports; enforces `firewall` from now on.
    pub fn new(
        listeners: Arc<Listeners>,
        ports: Arc<ports::Ports>,
        firewall: &sections::Firewall,
    ) -> Network {
        listeners.gate().set_firewall(firewall_of(firewall));
        Network { listeners, ports }
    }

    /// Enforces a new firewall setting at every listener's next accept.
    pub fn apply_firewall(&self, setting: &sections::Firewall) {
        let firewall = firewall_of(setting);
        tracing::info!(
            enabled = firewall.enabled,
            rule = ?firewall.rule,
            entries = firewall.list.len(),
            "firewall applied"
        );
        self.listeners.gate().set_firewall(firewall);
    }

    /// Whether `setting` would let a client at `peer` in (setFirewallConfig refuses one that
    /// would shut out the administrator sending it).
    pub fn firewall_permits(setting: &sections::Firewall, peer: IpAddr) -> bool {
        firewall_of(setting).permits(peer)
    }
}

/// The firewall a stored setting describes.
pub fn firewall_of(setting: &sections::Firewall) -> Firewall {
    Firewall::from_fields(
        if setting.enabled { "1" } else { "0" },
        &setting.rule.to_string(),
        &setting.ip_list,
    )
}
