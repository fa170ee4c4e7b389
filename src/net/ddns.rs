//! DDNS (setDDNSConfig): the guide's third-party providers (1 Oray, 2 3322, 3 no-ip, 4 dyndns)
//! are updated over their HTTP update protocol (the dyndns2 one: `GET …?hostname=H&myip=A`
//! with Basic credentials; `good A` or `nochg A` is success, anything else a failure the log
//! names) whenever the public address changes (checked every `check_secs`; a failure is
//! retried at the next check), the setting changes, or a day has passed. The
//! public address comes from the board's check URL (`checkip.dyndns.org` style: the first
//! IPv4 address in the reply). ddnsState (getDevState) reports 0 off, 1 updated, 2 failed.
//! Factory DDNS (ddnsServer 0, Foscam's myfoscam.org) needs an account with Foscam's service
//! that no board here has: enabling it is refused (-4), and said so in the log.
//!
//! Built from the typed settings, the device state and the board's `[network.ddns]` URLs.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;

use super::client;
use crate::heartbeat::Heartbeat;
use crate::settings::{Settings, sections};
use crate::state::DeviceState;

/// One update or address check may take this long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// An unchanged address is updated again after this long (providers expire idle names).
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// How often the loop looks for new DDNS settings.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// ddnsState values.
pub mod state {
    /// Off.
    pub const DISABLED: u8 = 0;
    /// The last update succeeded.
    pub const UPDATED: u8 = 1;
    /// The last update failed.
    pub const FAILED: u8 = 2;
}

/// Where the service sends its requests (the board file's `[network.ddns]`, or the
/// providers' public endpoints).
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// The public-address check.
    pub check_ip: String,
    /// Update URL per provider code 1..=4 (index 0 is code 1).
    pub update: [String; 4],
    /// How often the public address is checked.
    pub check_every: Duration,
}

impl Endpoints {
    /// From the board file.
    pub fn of(spec: &ipcamd_hal::net::spec::DdnsSpec) -> Endpoints {
        let url = |code: usize| spec.update_urls.get(code).cloned();
        Endpoints {
            check_ip: spec.check_ip_url.clone(),
            update: [
                url(0).unwrap_or_else(|| "http://ddns.oray.com/ph/update".into()),
                url(1).unwrap_or_else(|| "http://members.3322.net/dyndns/update".into()),
                url(2).unwrap_or_else(|| "https://dynupdate.no-ip.com/nic/update".into()),
                url(3).unwrap_or_else(|| "https://members.dyndns.org/nic/update".into()),
            ],
            check_every: Duration::from_secs(spec.check_secs.max(1).into()),
        }
    }
}

/// Checks a (merged) setting: a host name of letters, digits, `-` and `.` (at most 253
/// characters, labels of 1 to 63), and a provider this daemon can update.
pub fn check(setting: &sections::Ddns) -> Result<(), (&'static str, &'static str)> {
    if !setting.enabled {
        return Ok(());
    }
    let host = &setting.host_name;
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.len() > 253 || !host.contains('.') || !host.split('.').all(label_ok) {
        return Err(("hostName", "not a host name"));
    }
    if setting.user.is_empty() {
        return Err(("user", "the provider's account is needed"));
    }
    Ok(())
}

/// The first IPv4 address in a reply (checkip's `Current IP Address: 1.2.3.4`).
pub fn first_ipv4(text: &str) -> Option<Ipv4Addr> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find_map(|word| word.parse::<Ipv4Addr>().ok())
}

/// Whether a dyndns2 reply says the name points at the address now.
pub fn update_succeeded(reply: &str) -> bool {
    let code = reply.split_whitespace().next().unwrap_or("");
    code == "good" || code == "nochg"
}

/// The DDNS service.
pub struct Ddns {
    settings: Arc<Settings>,
    state: Arc<DeviceState>,
    endpoints: Endpoints,
}

impl Ddns {
    /// The service.
    pub fn new(settings: Arc<Settings>, state: Arc<DeviceState>, endpoints: Endpoints) -> Ddns {
        Ddns {
            settings,
            state,
            endpoints,
        }
    }

    /// The service loop (spawn it on the runtime; it never returns).
    pub async fn run(self, heartbeat: Heartbeat) {
        let mut followed: Option<sections::Ddns> = None;
        let mut updated: Option<(Ipv4Addr, Instant)> = None;
        let mut next = Instant::now();
        loop {
            // Every turn sleeps WATCH_INTERVAL after a network attempt (each has timeouts).
            heartbeat.beat();
            let setting = self.settings.snapshot().ddns.clone();
            if !setting.enabled || setting.server == 0 || check(&setting).is_err() {
                self.state.ddns.set(state::DISABLED);
                followed = None;
                updated = None;
            } else {
                if followed.as_ref() != Some(&setting) {
                    followed = Some(setting.clone());
                    updated = None;
                    next = Instant::now();
                }
                if Instant::now() >= next {
                    next = Instant::now() + self.endpoints.check_every;
                    match self.attempt(&setting, updated).await {
                        Ok(Some(address)) => {
                            tracing::info!(host = %setting.host_name, %address, "DDNS updated");
                            self.state.ddns.set(state::UPDATED);
                            updated = Some((address, Instant::now()));
                        }
                        Ok(None) => {}
                        Err(why) => {
                            tracing::warn!(host = %setting.host_name, %why, "DDNS update failed");
                            self.state.ddns.set(state::FAILED);
                            updated = None;
                        }
                    }
                }
            }
            tokio::time::sleep(WATCH_INTERVAL).await;
        }
    }

    /// Checks the public address and updates the provider if it moved (or a day passed):
    /// the address updated, or `None` when nothing was due.
    async fn attempt(
        &self,
        setting: &sections::Ddns,
        updated: Option<(Ipv4Addr, Instant)>,
    ) -> Result<Option<Ipv4Addr>, String> {
        let address = self.public_address().await?;
        if updated.is_some_and(|(a, at)| a == address && at.elapsed() < REFRESH_INTERVAL) {
            return Ok(None);
        }
        self.update(setting, address).await?;
        Ok(Some(address))
    }

    async fn public_address(&self) -> Result<Ipv4Addr, String> {
        let reply =
            client::request("GET", &self.endpoints.check_ip, &[], None, REQUEST_TIMEOUT).await?;
        let text = String::from_utf8_lossy(&reply.body);
        first_ipv4(&text)
            .ok_or_else(|| format!("no address in the check reply (HTTP {})", reply.status))
    }

    async fn update(&self, setting: &sections::Ddns, address: Ipv4Addr) -> Result<(), String> {
        let index = usize::try_from(setting.server - 1)
            .ok()
            .filter(|i| *i < 4)
            .ok_or("no such provider")?;
        let url = format!(
            "{}?hostname={}&myip={address}",
            self.endpoints.update[index], setting.host_name
        );
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", setting.user, setting.password));
        let reply = client::request(
            "GET",
            &url,
            &[("Authorization", format!("Basic {credentials}"))],
            None,
            REQUEST_TIMEOUT,
        )
        .await?;
        let text = String::from_utf8_lossy(&reply.body);
        let text = text.trim();
        if reply.status == 200 && update_succeeded(text) {
            Ok(())
        } else {
            let code: String = text.chars().take(40).collect();
            Err(format!("HTTP {}: {code}", reply.status))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_replies_and_addresses_are_read() {
        assert_eq!(
            first_ipv4("<html><body>Current IP Address: 203.0.113.7</body></html>"),
            Some(Ipv4Addr::new(203, 0, 113, 7))
        );
        assert_eq!(first_ipv4("no address"), None);
        assert!(update_succeeded("good 203.0.113.7"));
        assert!(update_succeeded("nochg 203.0.113.7"));
        assert!(!update_succeeded("badauth"));
        assert!(!update_succeeded("nohost"));
    }

    #[test]
    fn test_host_names_are_checked() {
        let mut s = sections::Ddns {
            enabled: true,
            host_name: "cam.example.org".into(),
            server: 4,
            user: "u".into(),
            password: "p".into(),
            factory_ddns: String::new(),
        };
        assert!(check(&s).is_ok());
        for bad in [
            "cam",
            "cam..org",
            "-cam.org",
            "cam.org&x=1",
            "cam org.net",
            "",
        ] {
            s.host_name = bad.into();
            assert_eq!(check(&s).map_err(|(f, _)| f), Err("hostName"), "{bad}");
        }
    }
}
