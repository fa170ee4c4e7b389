//! Wi-Fi through wpa_supplicant's control interface: the request/reply protocol over a Unix
//! datagram socket (the interface's socket under e.g. `/run/wpa_supplicant/wlan0`, from the
//! board file's `[network] wpa_control`), written here over std's `UnixDatagram` (the one
//! crate for it binds its client socket under /tmp, which the daemon's PrivateTmp hides from
//! wpa_supplicant; ours is an abstract address, reachable from any mount namespace).
//!
//! Requests: SCAN, SCAN_RESULTS, ADD_NETWORK, SET_NETWORK, SELECT_NETWORK, REMOVE_NETWORK,
//! DISCONNECT, STATUS, LIST_NETWORKS and GET_NETWORK (to find the networks ipcamd added,
//! tagged `id_str "ipcamd"`, across restarts). A second socket is ATTACHed and read by a
//! thread for the events that tell a failed attempt (a wrong key, a rejected association)
//! from one still in progress, and when a scan has finished.
//!
//! Values follow wpa_supplicant's configuration syntax: an SSID is sent quoted when it is
//! printable ASCII without `"` or `\`, else as hex; a passphrase quoted (wpa_supplicant takes
//! everything up to the last quote, so quotes inside are kept), a 64-digit PSK as hex; SSIDs in
//! replies are decoded from wpa_supplicant's printf escaping. Keys never reach a log: request
//! lines are logged with the value of `psk` and `wep_key*` replaced.

use std::fmt::Write as _;
use std::io;
use std::net::Shutdown;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::net::{AccessPoint, Security, Wifi, WifiJoin, WifiState};
use crate::{HalError, HalErrorKind, HalResult};

/// Longest wait for a reply (wpa_cli waits 10 s; scans answer at once, results come later).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a scan we started may run before its results are taken as they are.
pub const SCAN_LIMIT: Duration = Duration::from_secs(8);
/// The `id_str` of the networks ipcamd adds.
pub const TAG: &str = "ipcamd";
const IDLE_PING: Duration = Duration::from_secs(10);
const READ_STEP: Duration = Duration::from_secs(1);
const BUFFER: usize = 16 * 1024;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn failed(what: &str, err: io::Error) -> HalError {
    HalError::io(format!("wpa_supplicant {what}"), err)
}

/// A client socket on a fresh abstract address, connected to wpa_supplicant's socket.
pub fn connect(server: &Path) -> io::Result<UnixDatagram> {
    use std::os::linux::net::SocketAddrExt;
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "ipcamd-wpa-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    let socket = UnixDatagram::bind_addr(&address)?;
    socket.connect(server)?;
    socket.set_read_timeout(Some(REPLY_TIMEOUT))?;
    Ok(socket)
}

/// One request and its reply on `socket` (unsolicited `<N>` event lines are skipped; a
/// late reply to an earlier request that timed out is drained first).
pub fn request(socket: &UnixDatagram, command: &str) -> io::Result<String> {
    let mut buf = vec![0u8; BUFFER];
    socket.set_nonblocking(true)?;
    while socket.recv(&mut buf).is_ok() {}
    socket.set_nonblocking(false)?;
    socket.send(command.as_bytes())?;
    let deadline = Instant::now() + REPLY_TIMEOUT;
    loop {
        let n = socket.recv(&mut buf)?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !text.starts_with('<') {
            return Ok(text);
        }
        if Instant::now() >= deadline {
            return Err(io::ErrorKind::TimedOut.into());
        }
    }
}

/// A request line fit for a log: the values of keys are replaced.
pub fn redacted(command: &str) -> String {
    let mut words = command.splitn(4, ' ');
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some("SET_NETWORK"), Some(id), Some(var), Some(_))
            if var == "psk" || var.starts_with("wep_key") || var == "password" =>
        {
            format!("SET_NETWORK {id} {var} [hidden]")
        }
        _ => command.to_owned(),
    }
}

/// wpa_supplicant's printf_decode: `\\`, `\"`, `\n`, `\r`, `\t`, `\e`, `\xNN`, octal.
pub fn decode_text(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' || i + 1 >= bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        i += 1;
        match bytes[i] {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'e' => out.push(0x1b),
            b'x' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| {
                    std::str::from_utf8(h)
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                });
                if let Some(byte) = hex {
                    out.push(byte);
                    i += 2;
                }
            }
            b'0'..=b'7' => {
                let mut value = 0u32;
                let mut digits = 0;
                while digits < 3 && i < bytes.len() && (b'0'..=b'7').contains(&bytes[i]) {
                    value = value * 8 + u32::from(bytes[i] - b'0');
                    i += 1;
                    digits += 1;
                }
                out.push(value as u8);
                continue;
            }
            other => out.push(other),
        }
        i += 1;
    }
    out
}

/// An SSID as SET_NETWORK takes it: quoted if printable ASCII without `"` or `\`, else hex.
pub fn ssid_value(ssid: &str) -> String {
    let plain = ssid
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
    if plain {
        format!("\"{ssid}\"")
    } else {
        let mut hex = String::with_capacity(ssid.len() * 2);
        for byte in ssid.bytes() {
            let _ = write!(hex, "{byte:02x}");
        }
        hex
    }
}

/// A WPA key as SET_NETWORK takes it: 64 hex digits as they are, a passphrase quoted.
pub fn psk_value(key: &str) -> String {
    if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        key.to_owned()
    } else {
        format!("\"{key}\"")
    }
}

/// A WEP key: 10 or 26 hex digits as they are, 5 or 13 characters quoted.
pub fn wep_value(key: &str) -> String {
    if matches!(key.len(), 10 | 26) && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        key.to_owned()
    } else {
        format!("\"{key}\"")
    }
}

/// The guide's encryptType of a SCAN_RESULTS flags field (`[WPA2-PSK-CCMP][ESS]`).
pub fn security_of(flags: &str) -> Security {
    let wpa = flags.contains("[WPA-");
    let rsn = flags.contains("[WPA2-") || flags.contains("[RSN-");
    match (wpa, rsn) {
        (true, true) => Security::WpaWpa2,
        (false, true) => Security::Wpa2,
        (true, false) => Security::Wpa,
        _ if flags.contains("[WEP]") => Security::Wep,
        _ => Security::Open,
    }
}

/// Signal quality 0..=100 of a signal level (dBm; some drivers report a quality instead).
pub fn quality_of(level: i32) -> u8 {
    if level > 0 {
        level.min(100) as u8
    } else {
        (2 * (level + 100)).clamp(0, 100) as u8
    }
}

fn parse_bssid(text: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut out {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// SCAN_RESULTS (`bssid / frequency / signal level / flags / ssid`, tab-separated), strongest
/// first; hidden networks (no SSID) are left out.
pub fn parse_scan_results(text: &str) -> Vec<AccessPoint> {
    let mut found: Vec<AccessPoint> = text
        .lines()
        .filter(|line| !line.starts_with("bssid /"))
        .filter_map(|line| {
            let mut fields = line.splitn(5, '\t');
            let bssid = parse_bssid(fields.next()?)?;
            let _frequency = fields.next()?;
            let level: i32 = fields.next()?.trim().parse().ok()?;
            let flags = fields.next()?;
            let ssid = decode_text(fields.next().unwrap_or(""));
            if ssid.iter().all(|b| *b == 0) {
                return None;
            }
            Some(AccessPoint {
                ssid: String::from_utf8_lossy(&ssid).into_owned(),
                bssid,
                quality: quality_of(level),
                security: security_of(flags),
            })
        })
        .collect();
    found.sort_by_key(|ap| std::cmp::Reverse(ap.quality));
    found
}

/// The `key=value` lines of STATUS or a similar reply.
pub fn fields(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|line| line.split_once('='))
}

/// The radio's association from a STATUS reply: `Some(ssid)` when COMPLETED.
pub fn completed_ssid(status: &str) -> Option<String> {
    let mut state = None;
    let mut ssid = None;
    for (key, value) in fields(status) {
        match key {
            "wpa_state" => state = Some(value),
            "ssid" => ssid = Some(value),
            _ => {}
        }
    }
    (state == Some("COMPLETED"))
        .then(|| String::from_utf8_lossy(&decode_text(ssid.unwrap_or(""))).into_owned())
}

/// What an event means for the Wi-Fi state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A scan finished (or failed): results are what they will be.
    ScanDone,
    /// The attempt failed, for this reason.
    Failed(String),
    /// Associated.
    Connected,
    /// Something else.
    Other,
}

/// One event datagram (`<3>CTRL-EVENT-…`, possibly after `IFNAME=wlan0 `).
pub fn parse_event(text: &str) -> Event {
    let strip_ifname = |text: &'_ str| -> String {
        match text.strip_prefix("IFNAME=") {
            Some(rest) => rest.split_once(' ').map_or("", |(_, r)| r).to_owned(),
            None => text.to_owned(),
        }
    };
    let text = strip_ifname(text.trim_end());
    let text = match text.strip_prefix('<').and_then(|t| t.split_once('>')) {
        Some((_, rest)) => strip_ifname(rest),
        None => text,
    };
    let text = text.as_str();
    let (name, rest) = text.split_once(' ').unwrap_or((text, ""));
    let field = |key: &str| {
        rest.split(' ')
            .find_map(|w| w.strip_prefix(key).and_then(|w| w.strip_prefix('=')))
            .map(str::to_owned)
    };
    match name {
        "CTRL-EVENT-SCAN-RESULTS" | "CTRL-EVENT-SCAN-FAILED" => Event::ScanDone,
        "CTRL-EVENT-CONNECTED" => Event::Connected,
        "CTRL-EVENT-SSID-TEMP-DISABLED" => Event::Failed(match field("reason").as_deref() {
            Some("WRONG_KEY") => "wrong key".into(),
            Some("AUTH_FAILED") => "authentication failed".into(),
            Some("CONN_FAILED") => "connection failed".into(),
            Some(other) => format!("network disabled ({other})"),
            None => "network disabled".into(),
        }),
        "CTRL-EVENT-ASSOC-REJECT" => Event::Failed(format!(
            "association rejected (status {})",
            field("status_code").unwrap_or_else(|| "?".into())
        )),
        "CTRL-EVENT-AUTH-REJECT" => Event::Failed("authentication rejected".into()),
        _ => Event::Other,
    }
}

#[derive(Default)]
struct Events {
    attached: bool,
    scans_done: u64,
    failure: Option<String>,
}

struct Shared {
    path: PathBuf,
    stop: AtomicBool,
    events: Mutex<Events>,
}

/// The event reader: ATTACHes (again after wpa_supplicant restarts) and keeps [`Events`].
fn monitor(shared: Arc<Shared>) {
    let mut buf = vec![0u8; BUFFER];
    let mut connection: Option<UnixDatagram> = None;
    let mut quiet_since = Instant::now();
    while !shared.stop.load(Ordering::Acquire) {
        let Some(socket) = &connection else {
            match connect(&shared.path).and_then(|s| {
                s.set_read_timeout(Some(REPLY_TIMEOUT))?;
                let reply = request(&s, "ATTACH")?;
                if reply.trim() != "OK" {
                    return Err(io::Error::other(format!(
                        "ATTACH answered {}",
                        reply.trim()
                    )));
                }
                s.set_read_timeout(Some(READ_STEP))?;
                Ok(s)
            }) {
                Ok(socket) => {
                    tracing::debug!(path = %shared.path.display(), "attached to wpa_supplicant");
                    lock(&shared.events).attached = true;
                    connection = Some(socket);
                    quiet_since = Instant::now();
                }
                Err(err) => {
                    let mut events = lock(&shared.events);
                    if events.attached {
                        tracing::warn!(%err, "lost wpa_supplicant's events");
                    }
                    events.attached = false;
                    drop(events);
                    std::thread::sleep(READ_STEP);
                }
            }
            continue;
        };
        match socket.recv(&mut buf) {
            Ok(n) => {
                quiet_since = Instant::now();
                let text = String::from_utf8_lossy(&buf[..n]);
                let mut events = lock(&shared.events);
                match parse_event(&text) {
                    Event::ScanDone => events.scans_done += 1,
                    Event::Failed(reason) => {
                        tracing::info!(%reason, "Wi-Fi attempt failed");
                        events.failure = Some(reason);
                    }
                    Event::Connected => events.failure = None,
                    Event::Other => {}
                }
            }
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                // Quiet: make sure the other end is still there (its answer is read as an
                // event line and ignored).
                if quiet_since.elapsed() >= IDLE_PING {
                    quiet_since = Instant::now();
                    if socket.send(b"PING").is_err() {
                        connection = None;
                    }
                }
            }
            Err(_) => connection = None,
        }
    }
    if let Some(socket) = connection {
        let _ = socket.send(b"DETACH");
        let _ = socket.shutdown(Shutdown::Both);
    }
}

/// The Wi-Fi role over wpa_supplicant.
pub struct WpaWifi {
    shared: Arc<Shared>,
    control: Mutex<Option<UnixDatagram>>,
    /// The SSID of the network we asked for (None: none, or after leaving).
    joined: Mutex<Option<String>>,
    /// The scan we started: the count of finished scans then, and when.
    scan: Mutex<Option<(u64, Instant)>>,
}

impl WpaWifi {
    /// The radio behind the control socket at `path` (wpa_supplicant may start later: the
    /// connection is made when needed).
    pub fn new(path: PathBuf) -> HalResult<WpaWifi> {
        let shared = Arc::new(Shared {
            path,
            stop: AtomicBool::new(false),
            events: Mutex::new(Events::default()),
        });
        let reader = shared.clone();
        std::thread::Builder::new()
            .name("wpa-events".into())
            .spawn(move || monitor(reader))
            .map_err(|e| failed("event thread", e))?;
        Ok(WpaWifi {
            shared,
            control: Mutex::new(None),
            joined: Mutex::new(None),
            scan: Mutex::new(None),
        })
    }

    /// The control socket's path.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// One request; reconnects once if wpa_supplicant went away meanwhile.
    pub fn request(&self, command: &str) -> HalResult<String> {
        let mut control = lock(&self.control);
        for attempt in 0..2 {
            if control.is_none() {
                *control =
                    Some(connect(&self.shared.path).map_err(|e| {
                        failed(&format!("socket {}", self.shared.path.display()), e)
                    })?);
            }
            let Some(socket) = control.as_ref() else {
                continue;
            };
            match request(socket, command) {
                Ok(reply) => {
                    tracing::debug!(request = %redacted(command), reply = reply.trim_end(), "wpa_supplicant");
                    return Ok(reply);
                }
                Err(err) => {
                    *control = None;
                    if attempt == 1 || err.kind() == io::ErrorKind::TimedOut {
                        return Err(failed(&redacted(command), err));
                    }
                }
            }
        }
        Err(HalError::new(
            HalErrorKind::Io,
            "wpa_supplicant unreachable",
        ))
    }

    fn expect_ok(&self, command: &str) -> HalResult<()> {
        let reply = self.request(command)?;
        if reply.trim_end() == "OK" {
            Ok(())
        } else {
            Err(HalError::new(
                HalErrorKind::InvalidArgument,
                format!(
                    "wpa_supplicant refused {}: {}",
                    redacted(command),
                    reply.trim_end()
                ),
            ))
        }
    }

    /// The ids of the networks ipcamd added (tagged with [`TAG`]).
    fn ours(&self) -> HalResult<Vec<u32>> {
        let list = self.request("LIST_NETWORKS")?;
        let mut out = Vec::new();
        for line in list.lines().skip(1) {
            let Some(id) = line.split('\t').next().and_then(|i| i.parse::<u32>().ok()) else {
                continue;
            };
            let tag = self.request(&format!("GET_NETWORK {id} id_str"))?;
            if tag.trim_end() == format!("\"{TAG}\"") {
                out.push(id);
            }
        }
        Ok(out)
    }

    fn remove_ours(&self) -> HalResult<()> {
        for id in self.ours()? {
            self.expect_ok(&format!("REMOVE_NETWORK {id}"))?;
        }
        Ok(())
    }

    fn configure(&self, id: u32, network: &WifiJoin) -> HalResult<()> {
        let set =
            |var: &str, value: String| self.expect_ok(&format!("SET_NETWORK {id} {var} {value}"));
        set("id_str", format!("\"{TAG}\""))?;
        set("ssid", ssid_value(&network.ssid))?;
        set("scan_ssid", "1".into())?;
        match network.security {
            Security::Open => set("key_mgmt", "NONE".into())?,
            Security::Wep => {
                set("key_mgmt", "NONE".into())?;
                set("wep_key0", wep_value(&network.key))?;
                set("wep_tx_keyidx", "0".into())?;
                set("auth_alg", "OPEN SHARED".into())?;
            }
            Security::Wpa | Security::Wpa2 | Security::WpaWpa2 => {
                set("key_mgmt", "WPA-PSK".into())?;
                set("psk", psk_value(&network.key))?;
            }
        }
        Ok(())
    }
}

impl Wifi for WpaWifi {
    fn scan(&self) -> HalResult<()> {
        // Counted before asking, so a scan that finishes at once is not missed.
        let done = lock(&self.shared.events).scans_done;
        let reply = self.request("SCAN")?;
        match reply.trim_end() {
            // FAIL-BUSY: a scan is running already; its results will do.
            "OK" | "FAIL-BUSY" => {
                *lock(&self.scan) = Some((done, Instant::now()));
                Ok(())
            }
            other => Err(HalError::new(
                HalErrorKind::Busy,
                format!("wpa_supplicant refused SCAN: {other}"),
            )),
        }
    }

    fn scan_results(&self) -> HalResult<Vec<AccessPoint>> {
        let pending = *lock(&self.scan);
        if let Some((done_before, started)) = pending {
            let events = lock(&self.shared.events);
            let finished = !events.attached
                || events.scans_done > done_before
                || started.elapsed() >= SCAN_LIMIT;
            drop(events);
            if !finished {
                return Ok(Vec::new());
            }
            *lock(&self.scan) = None;
        }
        Ok(parse_scan_results(&self.request("SCAN_RESULTS")?))
    }

    fn join(&self, network: &WifiJoin) -> HalResult<()> {
        self.remove_ours()?;
        let reply = self.request("ADD_NETWORK")?;
        let id: u32 = reply.trim_end().parse().map_err(|_| {
            HalError::new(
                HalErrorKind::Io,
                format!("wpa_supplicant ADD_NETWORK answered {}", reply.trim_end()),
            )
        })?;
        if let Err(err) = self.configure(id, network) {
            let _ = self.request(&format!("REMOVE_NETWORK {id}"));
            return Err(err);
        }
        lock(&self.shared.events).failure = None;
        *lock(&self.joined) = Some(network.ssid.clone());
        // Selecting disables every other network, so the radio stays on this one.
        self.expect_ok(&format!("SELECT_NETWORK {id}"))
    }

    fn leave(&self) -> HalResult<()> {
        *lock(&self.joined) = None;
        lock(&self.shared.events).failure = None;
        self.remove_ours()?;
        self.expect_ok("DISCONNECT")
    }

    fn state(&self) -> HalResult<WifiState> {
        let status = self.request("STATUS")?;
        if let Some(ssid) = completed_ssid(&status) {
            return Ok(WifiState::Connected { ssid });
        }
        if lock(&self.joined).is_none() {
            return Ok(WifiState::Disconnected);
        }
        if let Some(reason) = lock(&self.shared.events).failure.clone() {
            return Ok(WifiState::Failed { reason });
        }
        let state = fields(&status)
            .find(|(k, _)| *k == "wpa_state")
            .map_or("", |(_, v)| v);
        Ok(match state {
            "INTERFACE_DISABLED" => WifiState::Failed {
                reason: "the Wi-Fi interface is disabled".into(),
            },
            _ => WifiState::Connecting,
        })
    }
}

impl Drop for WpaWifi {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
    }
}

#[cfg(test)]
#[path = "wpa_tests.rs"]
mod tests;
