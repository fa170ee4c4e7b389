//! Network services (layer 2): the live port assignment ([`ports`]) and the firewall in
//! force over the listener handle ([`crate::listener`]); the interface's IPv4 setting
//! ([`ip`]), Wi-Fi ([`wifi`]) and PPPoE ([`pppoe`]) over the HAL's network roles; time from
//! the network ([`ntp`]) over the HAL clock; DDNS updates ([`ddns`]) over a small HTTP
//! client ([`client`]); UPnP port mappings on the gateway ([`upnp`]). Built by the
//! composition root from the listeners, the HAL roles and the typed settings, never from the
//! CGI context; the CGI handlers of the guide's network chapter validate and store, then call
//! in here to apply. Settings that could cut the camera off are applied after the reply and
//! fall back to the last working one within the board's `apply_timeout_secs`.

pub mod client;
pub mod ddns;
pub mod ip;
pub mod ntp;
pub mod ports;
pub mod pppoe;
pub mod upnp;
pub mod wifi;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::listener::Listeners;
use crate::listener::firewall::Firewall;
use crate::settings::{Settings, sections};

/// What the network services are built from.
pub struct NetParts {
    /// Every listening socket and the admission gate.
    pub listeners: Arc<Listeners>,
    /// The live port assignment over them.
    pub ports: Arc<ports::Ports>,
    /// The board's wired interface.
    pub interface: Option<Arc<dyn ipcamd_hal::net::Network>>,
    /// The board's Wi-Fi radio.
    pub radio: Option<Arc<dyn ipcamd_hal::net::Wifi>>,
    /// The board's PPPoE dialler.
    pub dialler: Option<Arc<dyn ipcamd_hal::net::Pppoe>>,
    /// Typed settings (stored values; fallbacks are written back).
    pub settings: Arc<Settings>,
    /// How long a new IP, Wi-Fi or PPPoE setting gets to work.
    pub apply_timeout: Duration,
}

/// The network services' handle.
pub struct Network {
    /// Every listening socket and the admission gate.
    pub listeners: Arc<Listeners>,
    /// The live port assignment.
    pub ports: Arc<ports::Ports>,
    /// The interface's IPv4 setting, where the board has a network role.
    pub ip: Option<Arc<ip::IpService>>,
    /// Wi-Fi, where the board has a radio.
    pub wifi: Option<Arc<wifi::WifiService>>,
    /// PPPoE, where the board has a dialler.
    pub pppoe: Option<Arc<pppoe::PppoeService>>,
    settings: Arc<Settings>,
}

impl Network {
    /// The services; the stored firewall is enforced from now on.
    pub fn new(parts: NetParts) -> Network {
        let snapshot = parts.settings.snapshot();
        parts
            .listeners
            .gate()
            .set_firewall(firewall_of(&snapshot.firewall));
        let settings = Some(parts.settings.clone());
        Network {
            ip: parts
                .interface
                .map(|n| ip::IpService::new(n, settings.clone(), parts.apply_timeout)),
            wifi: parts
                .radio
                .map(|r| wifi::WifiService::new(r, settings.clone(), parts.apply_timeout)),
            pppoe: parts
                .dialler
                .map(|d| pppoe::PppoeService::new(d, parts.apply_timeout)),
            listeners: parts.listeners,
            ports: parts.ports,
            settings: parts.settings,
        }
    }

    /// Applies the stored interface, Wi-Fi and PPPoE settings (at start-up, in the
    /// background).
    pub fn boot(&self) {
        let snapshot = self.settings.snapshot();
        if let Some(ip) = &self.ip {
            match ip::ip_mode_of(&snapshot.ip) {
                Ok(mode) => ip.boot(mode),
                Err((field, why)) => {
                    tracing::warn!(field, why, "stored IP setting unusable; using DHCP");
                    ip.boot(ipcamd_hal::net::IpMode::Dhcp);
                }
            }
        }
        if let Some(wifi) = &self.wifi {
            wifi.boot(&snapshot.wifi);
        }
        if let Some(pppoe) = &self.pppoe {
            if snapshot.pppoe.enabled && pppoe::check(&snapshot.pppoe).is_ok() {
                pppoe.apply(snapshot.pppoe.clone(), Duration::ZERO);
            }
        }
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
