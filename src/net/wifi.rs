//! Wi-Fi: scanning (refreshWifiList fills the list getWifiList pages through, at most
//! [`PAGE`] per reply), joining (setWifiSetting, applied after the reply and given a bounded
//! time to associate; a network that does not connect gives way to the last one that did,
//! the log says why, and the previous setting is stored again), and the association getDevState
//! and getWifiConfig report. Also the guide's rules for SSIDs and keys ([`check`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipcamd_hal::HalResult;
use ipcamd_hal::net::{AccessPoint, Security, Wifi, WifiJoin, WifiState};

use crate::settings::{Settings, sections};

/// Most access points in one getWifiList reply (the guide's note).
pub const PAGE: usize = 10;
/// Longest refreshWifiList waits for scan results.
pub const SCAN_WAIT: Duration = Duration::from_secs(10);
/// How long after the reply a new setting is applied.
pub const APPLY_AFTER_REPLY: Duration = Duration::from_millis(300);
const POLL: Duration = Duration::from_millis(100);

/// The Wi-Fi service.
pub struct WifiService {
    radio: Arc<dyn Wifi>,
    settings: Option<Arc<Settings>>,
    timeout: Duration,
    list: Mutex<Vec<AccessPoint>>,
    last_good: Mutex<Option<WifiJoin>>,
    generation: AtomicU64,
}

/// Why a Wi-Fi setting cannot be applied at all (a -1 for the setter).
pub type Invalid = (&'static str, &'static str);

/// What a Wi-Fi setting asks the radio to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// Stay off the air.
    Off,
    /// Join this network.
    Join(WifiJoin),
}

fn printable(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

fn is_hex(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks a (merged) setting and says what it asks for: the SSID is 1..=32 bytes without
/// control characters (quotes are legal SSID bytes and are passed on as such); a WPA key is 8
/// to 63 printable ASCII characters or 64 hex digits; a WEP key is 5 or 13 ASCII characters
/// (keyFormat 0) or 10 or 26 hex digits (keyFormat 1) matching its keyNLen of 64 or 128.
pub fn check(setting: &sections::Wifi) -> Result<Wanted, Invalid> {
    for len in setting.key_len {
        if len != 64 && len != 128 {
            return Err(("keyLen", "64 or 128"));
        }
    }
    if !(setting.enabled && setting.use_wifi) {
        return Ok(Wanted::Off);
    }
    let ssid = &setting.ssid;
    if ssid.is_empty() || ssid.len() > 32 || !printable(ssid) {
        return Err(("ssid", "1 to 32 bytes without control characters"));
    }
    if setting.net_type != 0 {
        return Err(("netType", "only infrastructure networks are supported"));
    }
    let security =
        Security::from_code(setting.encrypt_type).ok_or(("encryptType", "not 0 to 4"))?;
    let key = match security {
        Security::Open => String::new(),
        Security::Wep => {
            let index = usize::try_from(setting.default_key - 1)
                .ok()
                .filter(|i| *i < 4)
                .ok_or(("defaultKey", "1 to 4"))?;
            let key = &setting.key[index];
            let long = setting.key_len[index] == 128;
            let ok = match setting.key_format {
                0 => key.is_ascii() && printable(key) && key.len() == if long { 13 } else { 5 },
                1 => is_hex(key) && key.len() == if long { 26 } else { 10 },
                _ => return Err(("keyFormat", "0 (ASCII) or 1 (hex)")),
            };
            if !ok {
                return Err(("key", "WEP key of the wrong length or form"));
            }
            key.clone()
        }
        Security::Wpa | Security::Wpa2 | Security::WpaWpa2 => {
            let psk = &setting.psk;
            let passphrase =
                (8..=63).contains(&psk.len()) && psk.bytes().all(|b| (0x20..0x7f).contains(&b));
            let hex_key = psk.len() == 64 && is_hex(psk);
            if !(passphrase || hex_key) {
                return Err(("psk", "8 to 63 printable ASCII characters or 64 hex digits"));
            }
            psk.clone()
        }
    };
    Ok(Wanted::Join(WifiJoin {
        ssid: ssid.clone(),
        security,
        key,
    }))
}

/// One getWifiList entry: `ssid+mac+quality+isEncrypt+encrypType`.
pub fn ap_text(ap: &AccessPoint) -> String {
    let mac: Vec<String> = ap.bssid.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}+{}+{}+{}+{}",
        ap.ssid,
        mac.join(":"),
        ap.quality,
        u8::from(ap.security != Security::Open),
        ap.security as u8
    )
}

impl WifiService {
    /// The service over the board's radio; `timeout` is how long a network gets to connect;
    /// a fallback is stored in `settings`.
    pub fn new(
        radio: Arc<dyn Wifi>,
        settings: Option<Arc<Settings>>,
        timeout: Duration,
    ) -> Arc<WifiService> {
        Arc::new(WifiService {
            radio,
            settings,
            timeout,
            list: Mutex::new(Vec::new()),
            last_good: Mutex::new(None),
            generation: AtomicU64::new(0),
        })
    }

    /// Scans and keeps what was found (strongest first) for [`WifiService::page`]. Waits up
    /// to [`SCAN_WAIT`] for results; returns how many there are.
    pub fn refresh(&self) -> HalResult<usize> {
        self.radio.scan()?;
        let deadline = Instant::now() + SCAN_WAIT;
        let found = loop {
            let found = self.radio.scan_results()?;
            if !found.is_empty() || Instant::now() >= deadline {
                break found;
            }
            std::thread::sleep(POLL);
        };
        let count = found.len();
        *self.list.lock().unwrap_or_else(|e| e.into_inner()) = found;
        Ok(count)
    }

    /// The total and up to [`PAGE`] access points from `start` of the last scan.
    pub fn page(&self, start: usize) -> (usize, Vec<AccessPoint>) {
        let list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        let page = list.iter().skip(start).take(PAGE).cloned().collect();
        (list.len(), page)
    }

    /// The network the radio is associated with now.
    pub fn connected(&self) -> Option<String> {
        match self.radio.state() {
            Ok(WifiState::Connected { ssid }) => Some(ssid),
            Ok(_) => None,
            Err(err) => {
                tracing::debug!(%err, "reading the Wi-Fi state");
                None
            }
        }
    }

    /// Applies the stored setting at start-up.
    pub fn boot(self: &Arc<Self>, stored: &sections::Wifi) {
        match check(stored) {
            Ok(wanted) => self.apply_in_background(wanted, None, Duration::ZERO),
            Err((field, why)) => tracing::warn!(field, why, "stored Wi-Fi setting unusable"),
        }
    }

    /// Applies `wanted` shortly after the reply; if it does not connect in time, the last
    /// network that did returns and `previous` is stored again.
    pub fn apply_after_reply(self: &Arc<Self>, wanted: Wanted, previous: sections::Wifi) {
        self.apply_in_background(wanted, Some(previous), APPLY_AFTER_REPLY);
    }

    fn apply_in_background(
        self: &Arc<Self>,
        wanted: Wanted,
        previous: Option<sections::Wifi>,
        delay: Duration,
    ) {
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let service = self.clone();
        let spawned = std::thread::Builder::new()
            .name("wifi-apply".into())
            .spawn(move || {
                std::thread::sleep(delay);
                service.apply_and_check(wanted, previous, generation);
            });
        if let Err(err) = spawned {
            tracing::warn!(%err, "cannot start the Wi-Fi apply thread; setting not applied");
        }
    }

    fn current(&self, generation: u64) -> bool {
        self.generation.load(Ordering::Acquire) == generation
    }

    fn apply_and_check(&self, wanted: Wanted, previous: Option<sections::Wifi>, generation: u64) {
        if !self.current(generation) {
            return;
        }
        let join = match wanted {
            Wanted::Off => {
                if let Err(err) = self.radio.leave() {
                    tracing::warn!(%err, "leaving the Wi-Fi network failed");
                }
                *self.last_good.lock().unwrap_or_else(|e| e.into_inner()) = None;
                return;
            }
            Wanted::Join(join) => join,
        };
        let why = match self.radio.join(&join) {
            Err(err) => format!("joining failed: {err}"),
            Ok(()) => {
                let deadline = Instant::now() + self.timeout;
                loop {
                    if !self.current(generation) {
                        return;
                    }
                    match self.radio.state() {
                        Ok(WifiState::Connected { ssid }) if ssid == join.ssid => {
                            tracing::info!(ssid = %join.ssid, "Wi-Fi connected");
                            *self.last_good.lock().unwrap_or_else(|e| e.into_inner()) = Some(join);
                            return;
                        }
                        Ok(WifiState::Failed { reason }) => break reason,
                        Ok(_) => {}
                        Err(err) => tracing::debug!(%err, "reading the Wi-Fi state"),
                    }
                    if Instant::now() >= deadline {
                        break format!("not connected within {:?}", self.timeout);
                    }
                    std::thread::sleep(POLL);
                }
            }
        };
        let restored = self
            .last_good
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // Restored and stored first, then said (as for the IP setting).
        let result = match &restored {
            Some(back) => self.radio.join(back),
            None => self.radio.leave(),
        };
        if let (Some(settings), Some(previous)) = (&self.settings, previous) {
            use crate::settings::Section;
            let values: Vec<(String, String)> = sections::Wifi::keys()
                .into_iter()
                .filter_map(|k| previous.get(&k).map(|v| (k, v)))
                .collect();
            let pairs: Vec<(&str, &str)> = values
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            if let Err(err) = settings.write("wifi", &pairs) {
                tracing::warn!(%err, "could not store the restored Wi-Fi setting");
            }
        }
        let back = restored.as_ref().map_or("none", |j| j.ssid.as_str());
        match result {
            Ok(()) => tracing::warn!(
                ssid = %join.ssid,
                %why,
                restored = back,
                "Wi-Fi setting did not work; the last working network is back"
            ),
            Err(err) => tracing::error!(
                ssid = %join.ssid,
                %why,
                restored = back,
                %err,
                "Wi-Fi setting did not work, and restoring the last working network failed"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting() -> sections::Wifi {
        sections::Wifi {
            enabled: true,
            use_wifi: true,
            connected: false,
            connected_ap: String::new(),
            ssid: "Home".into(),
            encrypt_type: 3,
            psk: "correct horse".into(),
            auth_mode: 0,
            key_format: 0,
            default_key: 1,
            key: Default::default(),
            key_len: [64; 4],
            net_type: 0,
        }
    }

    #[test]
    fn test_ssids_and_keys_follow_the_rules() {
        assert!(matches!(check(&setting()), Ok(Wanted::Join(_))));
        let with = |f: fn(&mut sections::Wifi)| {
            let mut s = setting();
            f(&mut s);
            check(&s).err().map(|(field, _)| field)
        };
        assert_eq!(with(|s| s.ssid = "a\u{7}b".into()), Some("ssid"));
        assert_eq!(with(|s| s.ssid = "x".repeat(33)), Some("ssid"));
        assert_eq!(with(|s| s.ssid = String::new()), Some("ssid"));
        assert_eq!(with(|s| s.ssid = "Say \"hi\"".into()), None);
        assert_eq!(with(|s| s.psk = "short".into()), Some("psk"));
        assert_eq!(with(|s| s.psk = "g".repeat(64)), Some("psk"));
        assert_eq!(with(|s| s.psk = "ab".repeat(32)), None, "64 hex digits");
        assert_eq!(with(|s| s.psk = "tab\there!".into()), Some("psk"));
        assert_eq!(
            with(|s| {
                s.encrypt_type = 1;
                s.key[0] = "12345".into();
            }),
            None
        );
        assert_eq!(
            with(|s| {
                s.encrypt_type = 1;
                s.key[0] = "1234".into();
            }),
            Some("key")
        );
        assert_eq!(
            with(|s| {
                s.encrypt_type = 1;
                s.key_format = 1;
                s.key_len[0] = 128;
                s.key[0] = "0123456789abcdef0123456789".into();
            }),
            None
        );
        assert_eq!(with(|s| s.key_len[2] = 100), Some("keyLen"));
        assert_eq!(with(|s| s.net_type = 1), Some("netType"));
        assert_eq!(
            with(|s| {
                s.enabled = false;
                s.ssid = "\u{1}".into();
            }),
            None,
            "off: nothing to join"
        );
    }
}
