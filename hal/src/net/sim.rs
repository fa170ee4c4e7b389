//! The simulated board's network: one LAN from the board file's `[network.sim]` with a gateway
//! that serves DHCP and DNS, hosts already using some addresses, a PPPoE access concentrator
//! that accepts one account, and access points in radio range (each with its SSID, BSSID,
//! security, signal quality and the key it accepts). Applying a setting changes what the
//! camera has exactly as the LAN would let it: a static address another host uses never comes
//! up, a gateway that is not the LAN's does not answer, a wrong key does not associate.

use std::net::Ipv4Addr;
use std::sync::Mutex;

use super::spec::SimLanSpec;
use super::{
    AccessPoint, IpMode, IpStatus, Network, PppState, Pppoe, Security, Wifi, WifiJoin, WifiState,
};
use crate::{HalError, HalErrorKind, HalResult};

/// Interface name the simulated board reports.
pub const INTERFACE: &str = "sim0";

struct State {
    mode: IpMode,
    scanned: bool,
    wifi: WifiState,
    ppp: PppState,
}

/// The simulated LAN, radio and access concentrator.
pub struct SimLan {
    spec: SimLanSpec,
    access_points: Vec<AccessPoint>,
    keys: Vec<String>,
    state: Mutex<State>,
}

fn parse_bssid(text: &str) -> HalResult<[u8; 6]> {
    let mut out = [0u8; 6];
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() != 6 {
        return Err(HalError::new(
            HalErrorKind::InvalidArgument,
            format!("board file: bad bssid {text}"),
        ));
    }
    for (byte, part) in out.iter_mut().zip(parts) {
        *byte = u8::from_str_radix(part, 16).map_err(|_| {
            HalError::new(
                HalErrorKind::InvalidArgument,
                format!("board file: bad bssid {text}"),
            )
        })?;
    }
    Ok(out)
}

fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, prefix_len: u8) -> bool {
    let mask = u32::from(super::prefix_mask(prefix_len));
    u32::from(a) & mask == u32::from(b) & mask
}

impl SimLan {
    /// The LAN the board file describes.
    pub fn new(spec: SimLanSpec) -> HalResult<SimLan> {
        let mut access_points = Vec::new();
        let mut keys = Vec::new();
        for ap in &spec.access_points {
            let security = Security::from_code(i64::from(ap.security)).ok_or_else(|| {
                HalError::new(
                    HalErrorKind::InvalidArgument,
                    format!("board file: access point {} has a bad security", ap.ssid),
                )
            })?;
            access_points.push(AccessPoint {
                ssid: ap.ssid.clone(),
                bssid: parse_bssid(&ap.bssid)?,
                quality: ap.quality.min(100),
                security,
            });
            keys.push(ap.key.clone());
        }
        Ok(SimLan {
            spec,
            access_points,
            keys,
            state: Mutex::new(State {
                mode: IpMode::Dhcp,
                scanned: false,
                wifi: WifiState::Disconnected,
                ppp: PppState::Down,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn reachable(&self, mode: &IpMode) -> bool {
        match mode {
            IpMode::Dhcp => true,
            IpMode::Static(s) => {
                let lan = &self.spec;
                !lan.taken.contains(&s.address)
                    && s.address != lan.gateway
                    && same_subnet(s.address, lan.gateway, lan.prefix_len)
                    && s.prefix_len == lan.prefix_len
                    && s.gateway == lan.gateway
            }
        }
    }
}

impl Network for SimLan {
    fn status(&self) -> HalResult<IpStatus> {
        let state = self.lock();
        let lan = &self.spec;
        Ok(match &state.mode {
            IpMode::Dhcp => IpStatus {
                interface: INTERFACE.into(),
                dhcp: true,
                address: Some((lan.dhcp_address, lan.prefix_len)),
                gateway: Some(lan.gateway),
                dns: vec![lan.gateway],
            },
            IpMode::Static(s) => IpStatus {
                interface: INTERFACE.into(),
                dhcp: false,
                // Duplicate address detection: an address another host has never comes up.
                address: (!lan.taken.contains(&s.address) && s.address != lan.gateway)
                    .then_some((s.address, s.prefix_len)),
                gateway: (s.gateway != Ipv4Addr::UNSPECIFIED).then_some(s.gateway),
                dns: s.dns.clone(),
            },
        })
    }

    fn apply(&self, mode: &IpMode) -> HalResult<()> {
        self.lock().mode = mode.clone();
        Ok(())
    }

    fn gateway_reachable(&self) -> HalResult<bool> {
        let mode = self.lock().mode.clone();
        Ok(self.reachable(&mode))
    }
}

impl Wifi for SimLan {
    fn scan(&self) -> HalResult<()> {
        self.lock().scanned = true;
        Ok(())
    }

    fn scan_results(&self) -> HalResult<Vec<AccessPoint>> {
        if !self.lock().scanned {
            return Ok(Vec::new());
        }
        let mut found = self.access_points.clone();
        found.sort_by_key(|ap| std::cmp::Reverse(ap.quality));
        Ok(found)
    }

    fn join(&self, network: &WifiJoin) -> HalResult<()> {
        let found = self
            .access_points
            .iter()
            .position(|ap| ap.ssid == network.ssid);
        let outcome = match found {
            None => WifiState::Failed {
                reason: "network not found".into(),
            },
            Some(i) => {
                let ap = &self.access_points[i];
                let key_ok = ap.security == Security::Open || self.keys[i] == network.key;
                let security_ok = ap.security == network.security
                    || (ap.security == Security::WpaWpa2
                        && matches!(network.security, Security::Wpa | Security::Wpa2));
                if security_ok && key_ok {
                    WifiState::Connected {
                        ssid: ap.ssid.clone(),
                    }
                } else {
                    WifiState::Failed {
                        reason: "authentication failed (wrong key or security)".into(),
                    }
                }
            }
        };
        self.lock().wifi = outcome;
        Ok(())
    }

    fn leave(&self) -> HalResult<()> {
        self.lock().wifi = WifiState::Disconnected;
        Ok(())
    }

    fn state(&self) -> HalResult<WifiState> {
        Ok(self.lock().wifi.clone())
    }
}

impl Pppoe for SimLan {
    fn dial(&self, user: &str, password: &str) -> HalResult<()> {
        let lan = &self.spec;
        let outcome = match (&lan.pppoe_user, &lan.pppoe_password, lan.pppoe_address) {
            (Some(u), Some(p), Some(address)) if u == user && p == password => {
                PppState::Up { address }
            }
            (Some(_), Some(_), Some(_)) => PppState::Failed {
                reason: "authentication failed".into(),
            },
            _ => PppState::Failed {
                reason: "no access concentrator answered".into(),
            },
        };
        self.lock().ppp = outcome;
        Ok(())
    }

    fn hang_up(&self) -> HalResult<()> {
        self.lock().ppp = PppState::Down;
        Ok(())
    }

    fn state(&self) -> HalResult<PppState> {
        Ok(self.lock().ppp.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::super::StaticIp;
    use super::super::spec::SimAccessPointSpec;
    use super::*;

    fn lan() -> SimLan {
        SimLan::new(SimLanSpec {
            gateway: Ipv4Addr::new(192, 168, 1, 1),
            prefix_len: 24,
            dhcp_address: Ipv4Addr::new(192, 168, 1, 123),
            taken: vec![Ipv4Addr::new(192, 168, 1, 2)],
            pppoe_user: Some("cam".into()),
            pppoe_password: Some("pw".into()),
            pppoe_address: Some(Ipv4Addr::new(10, 64, 0, 9)),
            access_points: vec![
                SimAccessPointSpec {
                    ssid: "Home".into(),
                    bssid: "02:00:00:00:00:01".into(),
                    quality: 40,
                    security: 3,
                    key: "correct horse".into(),
                },
                SimAccessPointSpec {
                    ssid: "Cafe".into(),
                    bssid: "02:00:00:00:00:02".into(),
                    quality: 90,
                    security: 0,
                    key: String::new(),
                },
            ],
        })
        .unwrap()
    }

    fn fixed(last: u8, gateway: u8) -> IpMode {
        IpMode::Static(StaticIp {
            address: Ipv4Addr::new(192, 168, 1, last),
            prefix_len: 24,
            gateway: Ipv4Addr::new(192, 168, 1, gateway),
            dns: vec![],
        })
    }

    #[test]
    fn test_static_addresses_come_up_only_where_the_lan_lets_them() {
        let lan = lan();
        assert!(lan.status().unwrap().dhcp);
        lan.apply(&fixed(88, 1)).unwrap();
        assert!(lan.gateway_reachable().unwrap());
        assert_eq!(
            lan.status().unwrap().address,
            Some((Ipv4Addr::new(192, 168, 1, 88), 24))
        );
        lan.apply(&fixed(2, 1)).unwrap();
        assert_eq!(lan.status().unwrap().address, None, "taken address");
        assert!(!lan.gateway_reachable().unwrap());
        lan.apply(&fixed(88, 254)).unwrap();
        assert!(!lan.gateway_reachable().unwrap(), "no such gateway");
    }

    #[test]
    fn test_radio_lists_after_a_scan_and_joins_only_with_the_key() {
        let lan = lan();
        assert!(lan.scan_results().unwrap().is_empty());
        lan.scan().unwrap();
        let found = lan.scan_results().unwrap();
        assert_eq!(found[0].ssid, "Cafe", "strongest first");
        let mut join = WifiJoin {
            ssid: "Home".into(),
            security: Security::Wpa2,
            key: "wrong key!".into(),
        };
        lan.join(&join).unwrap();
        assert!(matches!(
            Wifi::state(&lan).unwrap(),
            WifiState::Failed { .. }
        ));
        join.key = "correct horse".into();
        lan.join(&join).unwrap();
        assert_eq!(
            Wifi::state(&lan).unwrap(),
            WifiState::Connected {
                ssid: "Home".into()
            }
        );
    }

    #[test]
    fn test_the_access_concentrator_accepts_its_account_only() {
        let lan = lan();
        lan.dial("cam", "nope").unwrap();
        assert!(matches!(
            Pppoe::state(&lan).unwrap(),
            PppState::Failed { .. }
        ));
        lan.dial("cam", "pw").unwrap();
        assert_eq!(
            Pppoe::state(&lan).unwrap(),
            PppState::Up {
                address: Ipv4Addr::new(10, 64, 0, 9)
            }
        );
    }
}
