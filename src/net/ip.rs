//! Applying the interface's IPv4 settings safely: a new setting is applied after the reply
//! (the client's connection may not survive it), then given a bounded time to work (an
//! address on the interface and the gateway answering); if it does not, the last working
//! setting is applied again, the log says why, and the setting in force is stored again (so
//! getIPInfo, a restart and the stored section agree). A newer setting cancels the check of
//! an older one. Also the mapping between the guide's fields and [`IpMode`].

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipcamd_hal::HalResult;
use ipcamd_hal::net::{IpMode, IpStatus, Network, StaticIp};

use crate::settings::{Settings, sections};

/// How long after the reply a new setting is applied.
pub const APPLY_AFTER_REPLY: Duration = Duration::from_millis(300);
/// How often a new setting is checked while it gets its chance.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// The IP configuration service.
pub struct IpService {
    network: Arc<dyn Network>,
    settings: Option<Arc<Settings>>,
    timeout: Duration,
    last_good: Mutex<IpMode>,
    generation: AtomicU64,
}

impl IpService {
    /// The service over the board's network role; `timeout` is how long a setting gets; a
    /// fallback is stored in `settings`.
    pub fn new(
        network: Arc<dyn Network>,
        settings: Option<Arc<Settings>>,
        timeout: Duration,
    ) -> Arc<IpService> {
        Arc::new(IpService {
            network,
            settings,
            timeout,
            last_good: Mutex::new(IpMode::Dhcp),
            generation: AtomicU64::new(0),
        })
    }

    /// What the interface has now.
    pub fn status(&self) -> HalResult<IpStatus> {
        self.network.status()
    }

    /// The setting that last worked.
    pub fn last_good(&self) -> IpMode {
        self.last_good
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Applies the stored setting at start-up (DHCP, the factory setting, is the fallback).
    pub fn boot(self: &Arc<Self>, stored: IpMode) {
        self.apply_in_background(stored, Duration::ZERO);
    }

    /// Applies `mode` shortly after the current reply has gone out, checks it, and falls back.
    pub fn apply_after_reply(self: &Arc<Self>, mode: IpMode) {
        self.apply_in_background(mode, APPLY_AFTER_REPLY);
    }

    fn apply_in_background(self: &Arc<Self>, mode: IpMode, delay: Duration) {
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let service = self.clone();
        let spawned = std::thread::Builder::new()
            .name("ip-apply".into())
            .spawn(move || {
                std::thread::sleep(delay);
                service.apply_and_check(mode, generation);
            });
        if let Err(err) = spawned {
            tracing::warn!(%err, "cannot start the IP apply thread; setting not applied");
        }
    }

    fn current(&self, generation: u64) -> bool {
        self.generation.load(Ordering::Acquire) == generation
    }

    /// Applies and checks one setting; falls back if it does not work in time.
    fn apply_and_check(&self, mode: IpMode, generation: u64) {
        if !self.current(generation) {
            return;
        }
        let why = match self.network.apply(&mode) {
            Err(err) => format!("applying failed: {err}"),
            Ok(()) => {
                let deadline = Instant::now() + self.timeout;
                loop {
                    if !self.current(generation) {
                        return;
                    }
                    match self.network.gateway_reachable() {
                        Ok(true) => {
                            tracing::info!(?mode, "IP setting applied and working");
                            *self.last_good.lock().unwrap_or_else(|e| e.into_inner()) = mode;
                            return;
                        }
                        Ok(false) => {}
                        Err(err) => tracing::debug!(%err, "checking the gateway"),
                    }
                    if Instant::now() >= deadline {
                        break format!(
                            "no address or no answer from the gateway within {:?}",
                            self.timeout
                        );
                    }
                    std::thread::sleep(CHECK_EVERY);
                }
            }
        };
        // Restored and stored first, then said: once the log reports it, getIPInfo and a
        // restart both show the last working setting.
        let previous = self.last_good();
        let restored = self.network.apply(&previous);
        if let Some(settings) = &self.settings {
            let fields = ip_fields(&previous);
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            if let Err(err) = settings.write("ip", &pairs) {
                tracing::warn!(%err, "could not store the restored IP setting");
            }
        }
        match restored {
            Ok(()) => {
                tracing::warn!(rejected = ?mode, restored = ?previous, %why, "IP setting did not work; the last working one is back")
            }
            Err(err) => {
                tracing::error!(rejected = ?mode, %why, %err, "IP setting did not work, and restoring the last working one failed")
            }
        }
    }
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

/// The mode a stored (or merged, about to be stored) section describes; `Err` says which
/// field is wrong: a mask with holes, an address that cannot be a host's, a gateway off the
/// subnet, a DNS server that cannot be one.
pub fn ip_mode_of(ip: &sections::Ip) -> Result<IpMode, (&'static str, &'static str)> {
    if ip.dhcp {
        return Ok(IpMode::Dhcp);
    }
    let address =
        |name: &'static str, text: &str| -> Result<Ipv4Addr, (&'static str, &'static str)> {
            text.trim()
                .parse()
                .map_err(|_| (name, "not an IPv4 address"))
        };
    let host = address("ip", &ip.ip)?;
    let mask = address("mask", &ip.mask)?;
    let gate = address("gate", &ip.gate)?;
    let prefix_len =
        ipcamd_hal::net::mask_prefix(mask).ok_or(("mask", "not a contiguous netmask"))?;
    if !(1..=30).contains(&prefix_len) {
        return Err(("mask", "no room for hosts"));
    }
    let host_bits = !u32::from(mask);
    let host_part = u32::from(host) & host_bits;
    if host.is_unspecified()
        || host.is_loopback()
        || host.is_multicast()
        || host.is_broadcast()
        || host_part == 0
        || host_part == host_bits
    {
        return Err(("ip", "not a host address"));
    }
    if !gate.is_unspecified() {
        let net = u32::from(mask);
        if u32::from(gate) & net != u32::from(host) & net || gate == host {
            return Err(("gate", "not another host of the subnet"));
        }
    }
    let mut dns = Vec::new();
    for (name, text) in [("dns1", &ip.dns1), ("dns2", &ip.dns2)] {
        let server = address(name, text)?;
        if server.is_multicast() || server.is_broadcast() || server.is_loopback() {
            return Err((name, "not a server address"));
        }
        if !server.is_unspecified() {
            dns.push(server);
        }
    }
    Ok(IpMode::Static(StaticIp {
        address: host,
        prefix_len,
        gateway: gate,
        dns,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipcamd_hal::net::StaticIp;
    use ipcamd_hal::net::sim::SimLan;
    use ipcamd_hal::net::spec::SimLanSpec;
    use std::net::Ipv4Addr;

    fn lan() -> Arc<SimLan> {
        Arc::new(
            SimLan::new(SimLanSpec {
                gateway: Ipv4Addr::new(10, 0, 0, 1),
                prefix_len: 24,
                dhcp_address: Ipv4Addr::new(10, 0, 0, 50),
                taken: vec![],
                pppoe_user: None,
                pppoe_password: None,
                pppoe_address: None,
                access_points: vec![],
            })
            .unwrap(),
        )
    }

    fn fixed(last: u8, gateway: u8) -> IpMode {
        IpMode::Static(StaticIp {
            address: Ipv4Addr::new(10, 0, 0, last),
            prefix_len: 24,
            gateway: Ipv4Addr::new(10, 0, 0, gateway),
            dns: vec![],
        })
    }

    fn section(ip: &str, gate: &str, mask: &str, dns1: &str) -> sections::Ip {
        sections::Ip {
            dhcp: false,
            ip: ip.into(),
            gate: gate.into(),
            mask: mask.into(),
            dns1: dns1.into(),
            dns2: "0.0.0.0".into(),
        }
    }

    #[test]
    fn test_fields_round_trip_and_settings_that_cannot_work_are_refused_by_field() {
        let good = section(
            "192.168.1.88",
            "192.168.1.1",
            "255.255.255.0",
            "192.168.1.1",
        );
        let mode = ip_mode_of(&good).unwrap();
        let fields = ip_fields(&mode);
        assert!(fields.contains(&("ip", "192.168.1.88".into())));
        assert!(fields.contains(&("mask", "255.255.255.0".into())));
        assert!(fields.contains(&("dns2", "0.0.0.0".into())));
        let field = |ip: &str, gate: &str, mask: &str, dns1: &str| {
            ip_mode_of(&section(ip, gate, mask, dns1))
                .err()
                .map(|(f, _)| f)
        };
        let g = "192.168.1.1";
        let m = "255.255.255.0";
        assert_eq!(field("192.168.1.88", g, "255.0.255.0", g), Some("mask"));
        assert_eq!(field("192.168.1.88", g, "255.255.255.255", g), Some("mask"));
        assert_eq!(field("192.168.1.0", g, m, g), Some("ip"));
        assert_eq!(field("192.168.1.255", g, m, g), Some("ip"));
        assert_eq!(field("127.0.0.5", g, m, g), Some("ip"));
        assert_eq!(field("192.168.1.x", g, m, g), Some("ip"));
        assert_eq!(field("192.168.1.88", "10.0.0.1", m, g), Some("gate"));
        assert_eq!(field("192.168.1.88", g, m, "224.0.0.1"), Some("dns1"));
        assert_eq!(field("192.168.1.88", "0.0.0.0", m, g), None, "no gateway");
    }

    #[test]
    fn test_a_working_setting_becomes_the_last_good_one() {
        let service = IpService::new(lan(), None, Duration::from_secs(1));
        service.apply_and_check(fixed(9, 1), 0);
        assert_eq!(service.last_good(), fixed(9, 1));
        assert!(!service.status().unwrap().dhcp);
    }

    #[test]
    fn test_a_setting_that_does_not_work_falls_back_and_reports() {
        let service = IpService::new(lan(), None, Duration::from_millis(300));
        service.apply_and_check(fixed(9, 1), 0);
        service.apply_and_check(fixed(10, 77), 0);
        assert_eq!(service.last_good(), fixed(9, 1));
        let status = service.status().unwrap();
        assert_eq!(status.address, Some((Ipv4Addr::new(10, 0, 0, 9), 24)));
    }
}
