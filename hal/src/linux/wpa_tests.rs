//! The wpa_supplicant backend against a stand-in on a real Unix datagram socket that answers
//! the control protocol the way wpa_supplicant does (replies, tab-separated scan results,
//! printf-escaped SSIDs, events to ATTACHed clients).

use super::*;
use std::collections::BTreeMap;
use std::os::unix::net::SocketAddr;
use std::sync::Arc;

struct Ap {
    bssid: &'static str,
    level: i32,
    flags: &'static str,
    /// The SSID's bytes.
    ssid: &'static [u8],
    key: &'static str,
}

const APS: &[Ap] = &[
    Ap {
        bssid: "02:00:00:00:00:01",
        level: -70,
        flags: "[WPA2-PSK-CCMP][ESS]",
        ssid: b"Home",
        key: "correct horse",
    },
    Ap {
        bssid: "02:00:00:00:00:02",
        level: -40,
        flags: "[ESS]",
        ssid: b"Cafe",
        key: "",
    },
    Ap {
        bssid: "02:00:00:00:00:03",
        level: -55,
        flags: "[WPA-PSK-TKIP][WPA2-PSK-CCMP][WPS][ESS]",
        ssid: "Café \"Q\"".as_bytes(),
        key: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
    },
    Ap {
        bssid: "02:00:00:00:00:04",
        level: -60,
        flags: "[WPA2-PSK-CCMP][ESS]",
        ssid: b"",
        key: "",
    },
];

/// wpa_supplicant's printf_encode (how SSIDs appear in its replies).
fn printf_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// A configured value back to bytes: `"text"` or hex (wpa_config_parse_string).
fn config_string(value: &str) -> Option<Vec<u8>> {
    if let Some(rest) = value.strip_prefix('"') {
        let end = rest.rfind('"')?;
        return (end == rest.len() - 1).then(|| rest.as_bytes()[..end].to_vec());
    }
    if value.len() % 2 != 0 {
        return None;
    }
    (0..value.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(value.get(i..i + 2)?, 16).ok())
        .collect()
}

#[derive(Default)]
struct StandIn {
    received: Vec<String>,
    networks: BTreeMap<u32, BTreeMap<String, String>>,
    next_id: u32,
    /// (network id, AP index) when associated.
    associated: Option<(u32, usize)>,
    disconnected: bool,
    monitors: Vec<SocketAddr>,
}

impl StandIn {
    fn answer(&mut self, line: &str, from: &SocketAddr) -> (String, Vec<String>) {
        self.received.push(line.to_owned());
        let mut events = Vec::new();
        let mut words = line.splitn(4, ' ');
        let command = words.next().unwrap_or("");
        let reply = match command {
            "PING" => "PONG\n".to_owned(),
            "ATTACH" => {
                self.monitors.push(from.clone());
                "OK\n".into()
            }
            "DETACH" => "OK\n".into(),
            "SCAN" => {
                events.push("<2>CTRL-EVENT-SCAN-STARTED ".into());
                events.push("<2>CTRL-EVENT-SCAN-RESULTS ".into());
                "OK\n".into()
            }
            "SCAN_RESULTS" => {
                let mut out = String::from("bssid / frequency / signal level / flags / ssid\n");
                for ap in APS {
                    out.push_str(&format!(
                        "{}\t2412\t{}\t{}\t{}\n",
                        ap.bssid,
                        ap.level,
                        ap.flags,
                        printf_encode(ap.ssid)
                    ));
                }
                out
            }
            "ADD_NETWORK" => {
                let id = self.next_id;
                self.next_id += 1;
                self.networks.insert(id, BTreeMap::new());
                format!("{id}\n")
            }
            "SET_NETWORK" => {
                let id = words.next().and_then(|i| i.parse::<u32>().ok());
                let var = words.next().unwrap_or("");
                let value = words.next().unwrap_or("");
                let valid = match var {
                    "ssid" => config_string(value).is_some_and(|s| (1..=32).contains(&s.len())),
                    "psk" => {
                        let quoted = config_string(value)
                            .filter(|_| value.starts_with('"'))
                            .is_some_and(|s| (8..=63).contains(&s.len()));
                        quoted
                            || (value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
                    }
                    "key_mgmt" => ["NONE", "WPA-PSK"].contains(&value),
                    _ => !value.is_empty(),
                };
                match id.and_then(|id| self.networks.get_mut(&id)) {
                    Some(network) if valid => {
                        network.insert(var.to_owned(), value.to_owned());
                        "OK\n".into()
                    }
                    _ => "FAIL\n".into(),
                }
            }
            "GET_NETWORK" => {
                let id = words.next().and_then(|i| i.parse::<u32>().ok());
                let var = words.next().unwrap_or("");
                match id.and_then(|id| self.networks.get(&id)?.get(var)) {
                    Some(value) => value.clone(),
                    None => "FAIL\n".into(),
                }
            }
            "LIST_NETWORKS" => {
                let mut out = String::from("network id / ssid / bssid / flags\n");
                for (id, vars) in &self.networks {
                    let ssid = vars
                        .get("ssid")
                        .and_then(|v| config_string(v))
                        .unwrap_or_default();
                    let current = if self.associated.map(|(i, _)| i) == Some(*id) {
                        "[CURRENT]"
                    } else {
                        ""
                    };
                    out.push_str(&format!("{id}\t{}\tany\t{current}\n", printf_encode(&ssid)));
                }
                out
            }
            "REMOVE_NETWORK" => {
                let id = words.next().and_then(|i| i.parse::<u32>().ok());
                match id.and_then(|id| self.networks.remove(&id).map(|_| id)) {
                    Some(id) => {
                        if self.associated.map(|(i, _)| i) == Some(id) {
                            self.associated = None;
                        }
                        "OK\n".into()
                    }
                    None => "FAIL\n".into(),
                }
            }
            "SELECT_NETWORK" => {
                let id = words.next().and_then(|i| i.parse::<u32>().ok());
                match id.and_then(|id| Some((id, self.networks.get(&id)?.clone()))) {
                    None => "FAIL\n".into(),
                    Some((id, vars)) => {
                        self.disconnected = false;
                        self.associated = None;
                        let ssid = vars.get("ssid").and_then(|v| config_string(v));
                        let found = APS.iter().position(|ap| Some(ap.ssid) == ssid.as_deref());
                        match found {
                            None => events.push("<3>CTRL-EVENT-NETWORK-NOT-FOUND ".into()),
                            Some(index) => {
                                let ap = &APS[index];
                                // A quoted passphrase, or the 64 hex digits as they are.
                                let psk = vars.get("psk").map(|p| match p.strip_prefix('"') {
                                    Some(_) => String::from_utf8_lossy(
                                        &config_string(p).unwrap_or_default(),
                                    )
                                    .into_owned(),
                                    None => p.clone(),
                                });
                                let key_mgmt = vars.get("key_mgmt").map(String::as_str);
                                let open = ap.flags == "[ESS]";
                                let ok = if open {
                                    key_mgmt == Some("NONE")
                                } else {
                                    key_mgmt == Some("WPA-PSK") && psk.as_deref() == Some(ap.key)
                                };
                                if ok {
                                    self.associated = Some((id, index));
                                    events.push(format!(
                                        "<3>CTRL-EVENT-CONNECTED - Connection to {} completed [id={id} id_str=ipcamd]",
                                        ap.bssid
                                    ));
                                } else {
                                    events.push(format!(
                                        "<3>CTRL-EVENT-SSID-TEMP-DISABLED id={id} ssid=\"{}\" auth_failures=1 duration=10 reason=WRONG_KEY",
                                        printf_encode(ap.ssid)
                                    ));
                                }
                            }
                        }
                        "OK\n".into()
                    }
                }
            }
            "DISCONNECT" => {
                self.disconnected = true;
                self.associated = None;
                "OK\n".into()
            }
            "STATUS" => match self.associated {
                Some((id, index)) => {
                    let ap = &APS[index];
                    format!(
                        "bssid={}\nfreq=2412\nssid={}\nid={id}\nid_str=ipcamd\nmode=station\npairwise_cipher=CCMP\ngroup_cipher=CCMP\nkey_mgmt=WPA2-PSK\nwpa_state=COMPLETED\naddress=02:00:00:00:00:99\n",
                        ap.bssid,
                        printf_encode(ap.ssid)
                    )
                }
                None if self.disconnected || self.networks.is_empty() => {
                    "wpa_state=DISCONNECTED\naddress=02:00:00:00:00:99\n".into()
                }
                None => "wpa_state=SCANNING\naddress=02:00:00:00:00:99\n".into(),
            },
            _ => "UNKNOWN COMMAND\n".into(),
        };
        (reply, events)
    }
}

struct Server {
    _dir: tempfile::TempDir,
    path: PathBuf,
    state: Arc<Mutex<StandIn>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wlan0");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let state = Arc::new(Mutex::new(StandIn::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (serving, stopping) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while !stopping.load(Ordering::Acquire) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let line = String::from_utf8_lossy(&buf[..n]).into_owned();
                let mut state = serving.lock().unwrap();
                let (reply, events) = state.answer(&line, &from);
                let _ = socket.send_to_addr(reply.as_bytes(), &from);
                for event in events {
                    for monitor in &state.monitors {
                        let _ = socket.send_to_addr(event.as_bytes(), monitor);
                    }
                }
            }
        });
        Server {
            _dir: dir,
            path,
            state,
            stop,
        }
    }

    fn received(&self, command: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state
            .received
            .iter()
            .filter(|l| l.starts_with(command))
            .cloned()
            .collect()
    }

    fn attached(&self) -> bool {
        !self.state.lock().unwrap().monitors.is_empty()
    }

    fn forget_received(&self) {
        self.state.lock().unwrap().received.clear();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Polls until `f` gives a value (a liveness guard of a minute, not a timing assertion).
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn radio(server: &Server) -> WpaWifi {
    let wifi = WpaWifi::new(server.path.clone()).unwrap();
    eventually("attached for events", || server.attached().then_some(()));
    wifi
}

#[test]
fn test_scan_lists_what_wpa_supplicant_found_strongest_first() {
    let server = Server::start();
    let wifi = radio(&server);
    wifi.scan().unwrap();
    let found = eventually("scan results", || {
        let found = wifi.scan_results().unwrap();
        (!found.is_empty()).then_some(found)
    });
    let names: Vec<&str> = found.iter().map(|ap| ap.ssid.as_str()).collect();
    assert_eq!(names, ["Cafe", "Café \"Q\"", "Home"], "hidden left out");
    assert_eq!(found[0].security, Security::Open);
    assert_eq!(found[0].quality, 100);
    assert_eq!(found[0].bssid, [2, 0, 0, 0, 0, 2]);
    assert_eq!(found[1].security, Security::WpaWpa2);
    assert_eq!(found[1].quality, 90);
    assert_eq!(found[2].security, Security::Wpa2);
    assert_eq!(found[2].quality, 60);
    assert_eq!(server.received("SCAN"), ["SCAN", "SCAN_RESULTS"]);
}

fn connected_to(wifi: &WpaWifi) -> Option<String> {
    match wifi.state().unwrap() {
        WifiState::Connected { ssid } => Some(ssid),
        _ => None,
    }
}

#[test]
fn test_join_sends_the_network_then_state_follows_and_leave_removes_it() {
    let server = Server::start();
    let wifi = radio(&server);
    assert_eq!(wifi.state().unwrap(), WifiState::Disconnected);

    let mut home = WifiJoin {
        ssid: "Home".into(),
        security: Security::Wpa2,
        key: "correct horse".into(),
    };
    wifi.join(&home).unwrap();
    assert_eq!(
        server.received("SET_NETWORK"),
        [
            "SET_NETWORK 0 id_str \"ipcamd\"",
            "SET_NETWORK 0 ssid \"Home\"",
            "SET_NETWORK 0 scan_ssid 1",
            "SET_NETWORK 0 key_mgmt WPA-PSK",
            "SET_NETWORK 0 psk \"correct horse\"",
        ]
    );
    assert_eq!(server.received("SELECT_NETWORK"), ["SELECT_NETWORK 0"]);
    let ssid = eventually("connected", || connected_to(&wifi));
    assert_eq!(ssid, "Home");

    // A wrong key: the old network is replaced, and the attempt reads as failed.
    server.forget_received();
    home.key = "wrong horse".into();
    wifi.join(&home).unwrap();
    assert_eq!(server.received("REMOVE_NETWORK"), ["REMOVE_NETWORK 0"]);
    let reason = eventually("failed", || match wifi.state().unwrap() {
        WifiState::Failed { reason } => Some(reason),
        _ => None,
    });
    assert_eq!(reason, "wrong key");
    assert_eq!(server.state.lock().unwrap().networks.len(), 1);

    // An open network, then leaving.
    server.forget_received();
    wifi.join(&WifiJoin {
        ssid: "Cafe".into(),
        security: Security::Open,
        key: String::new(),
    })
    .unwrap();
    assert_eq!(
        server.received("SET_NETWORK"),
        [
            "SET_NETWORK 2 id_str \"ipcamd\"",
            "SET_NETWORK 2 ssid \"Cafe\"",
            "SET_NETWORK 2 scan_ssid 1",
            "SET_NETWORK 2 key_mgmt NONE",
        ]
    );
    assert_eq!(eventually("connected", || connected_to(&wifi)), "Cafe");
    wifi.leave().unwrap();
    assert_eq!(wifi.state().unwrap(), WifiState::Disconnected);
    assert!(server.state.lock().unwrap().networks.is_empty());
    assert_eq!(server.received("DISCONNECT"), ["DISCONNECT"]);
}

#[test]
fn test_odd_ssids_go_as_hex_and_a_hex_psk_unquoted() {
    let server = Server::start();
    let wifi = radio(&server);
    // Someone else's network stays: only ipcamd's (tagged) networks are replaced.
    {
        let mut state = server.state.lock().unwrap();
        state.next_id = 1;
        let mut theirs = BTreeMap::new();
        theirs.insert("ssid".to_owned(), "\"Theirs\"".to_owned());
        state.networks.insert(0, theirs);
    }
    let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    wifi.join(&WifiJoin {
        ssid: "Café \"Q\"".into(),
        security: Security::WpaWpa2,
        key: key.into(),
    })
    .unwrap();
    assert_eq!(
        server.received("SET_NETWORK"),
        [
            "SET_NETWORK 1 id_str \"ipcamd\"",
            "SET_NETWORK 1 ssid 436166c3a920225122",
            "SET_NETWORK 1 scan_ssid 1",
            "SET_NETWORK 1 key_mgmt WPA-PSK",
            &format!("SET_NETWORK 1 psk {key}"),
        ]
    );
    assert_eq!(
        eventually("connected", || connected_to(&wifi)),
        "Café \"Q\""
    );
    wifi.leave().unwrap();
    let state = server.state.lock().unwrap();
    assert_eq!(
        state.networks.keys().collect::<Vec<_>>(),
        [&0],
        "theirs kept"
    );
}

#[test]
fn test_a_key_wpa_supplicant_refuses_leaves_no_network_behind() {
    let server = Server::start();
    let wifi = radio(&server);
    let err = wifi
        .join(&WifiJoin {
            ssid: "Home".into(),
            security: Security::Wpa2,
            key: "short".into(),
        })
        .unwrap_err();
    assert!(
        !err.to_string().contains("short"),
        "no key in the error: {err}"
    );
    assert!(err.to_string().contains("[hidden]"), "{err}");
    assert!(server.state.lock().unwrap().networks.is_empty());
}

#[test]
fn test_no_wpa_supplicant_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let wifi = WpaWifi::new(dir.path().join("wlan0")).unwrap();
    assert!(wifi.scan().is_err());
    assert!(wifi.state().is_err());
}

#[test]
fn test_the_board_file_selects_the_wpa_supplicant_radio() {
    let server = Server::start();
    let text = format!(
        "[board]\nname = \"t\"\nbackend = \"linux\"\n[identity]\nmodel = 1\nmodel_name = \"m\"\n\
         product_name = \"p\"\nhardware_version = \"1\"\n[capabilities]\nwifi = true\n\
         [video]\ndevice = \"/dev/video0\"\n[network]\nwpa_control = \"{}\"\n",
        server.path.display()
    );
    let board = crate::board::BoardSpec::parse(&text).unwrap();
    let wifi = crate::linux::wifi_role(&board).unwrap().expect("a radio");
    eventually("attached for events", || server.attached().then_some(()));
    wifi.scan().unwrap();
    let found = eventually("scan results", || {
        let found = wifi.scan_results().unwrap();
        (!found.is_empty()).then_some(found)
    });
    assert_eq!(found.len(), 3);
    let without =
        crate::board::BoardSpec::parse(&text.replace("wpa_control", "resolv_conf")).unwrap();
    assert!(crate::linux::wifi_role(&without).unwrap().is_none());
}

#[test]
fn test_replies_decode_and_requests_encode_like_wpa_supplicant() {
    assert_eq!(decode_text(r#"a\"b\\c\x41\101\n"#), b"a\"b\\cAA\n");
    assert_eq!(decode_text(r"Caf\xc3\xa9"), "Café".as_bytes());
    assert_eq!(ssid_value("Home net"), "\"Home net\"");
    assert_eq!(ssid_value("back\\slash"), "6261636b5c736c617368");
    assert_eq!(psk_value("pass \"word\""), "\"pass \"word\"\"");
    assert_eq!(wep_value("0123456789"), "0123456789");
    assert_eq!(wep_value("abcde"), "\"abcde\"");
    assert_eq!(
        redacted("SET_NETWORK 3 psk \"secret pass\""),
        "SET_NETWORK 3 psk [hidden]"
    );
    assert_eq!(
        redacted("SET_NETWORK 3 wep_key0 abcde"),
        "SET_NETWORK 3 wep_key0 [hidden]"
    );
    assert_eq!(
        redacted("SET_NETWORK 3 ssid \"x\""),
        "SET_NETWORK 3 ssid \"x\""
    );
    assert_eq!(security_of("[WEP][ESS]"), Security::Wep);
    assert_eq!(security_of("[RSN-SAE-CCMP][ESS]"), Security::Wpa2);
    assert_eq!(security_of("[WPA-PSK-TKIP][ESS]"), Security::Wpa);
    assert_eq!(quality_of(-100), 0);
    assert_eq!(quality_of(-20), 100);
    assert_eq!(quality_of(70), 70);
    assert_eq!(
        parse_event("<3>CTRL-EVENT-ASSOC-REJECT bssid=02:00:00:00:00:01 status_code=17"),
        Event::Failed("association rejected (status 17)".into())
    );
    assert_eq!(
        parse_event("IFNAME=wlan0 <2>CTRL-EVENT-SCAN-RESULTS "),
        Event::ScanDone,
        "the global interface's prefix"
    );
    assert_eq!(parse_event("<2>CTRL-EVENT-SCAN-RESULTS "), Event::ScanDone);
    assert_eq!(
        completed_ssid("wpa_state=COMPLETED\nssid=a\\\"b\n"),
        Some("a\"b".into())
    );
    assert_eq!(completed_ssid("wpa_state=SCANNING\n"), None);
}

/// Debian's wpa_supplicant itself, with its wired driver on the loopback interface (no radio
/// needed): the real parser takes every value the backend sends (and refuses the key it must),
/// replies and events reach the abstract client address, and an open network completes.
#[test]
#[ignore = "needs Debian's wpa_supplicant (apt-get install wpasupplicant) and root; run with --ignored"]
fn test_real_wpa_supplicant_takes_what_the_backend_sends() {
    struct Running(std::process::Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let ctrl = dir.path().join("ctrl");
    let _daemon = Running(
        std::process::Command::new("/usr/sbin/wpa_supplicant")
            .args(["-D", "wired", "-i", "lo", "-C"])
            .arg(&ctrl)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("wpa_supplicant installed"),
    );
    let socket = ctrl.join("lo");
    eventually("wpa_supplicant's socket", || socket.exists().then_some(()));
    let wifi = WpaWifi::new(socket).unwrap();
    eventually("attached", || {
        lock(&wifi.shared.events).attached.then_some(())
    });

    wifi.join(&WifiJoin {
        ssid: "Café \"Q\"".into(),
        security: Security::Wpa2,
        key: "pass \"word\" \\ x".into(),
    })
    .unwrap();
    let ours = wifi.ours().unwrap();
    assert_eq!(ours.len(), 1);
    assert_eq!(
        wifi.request(&format!("GET_NETWORK {} ssid", ours[0]))
            .unwrap(),
        "436166c3a920225122"
    );

    let err = wifi
        .join(&WifiJoin {
            ssid: "Home".into(),
            security: Security::Wpa2,
            key: "short".into(),
        })
        .unwrap_err();
    assert!(err.to_string().contains("psk [hidden]"), "{err}");
    assert!(wifi.ours().unwrap().is_empty(), "nothing left half-made");

    wifi.join(&WifiJoin {
        ssid: "Cafe".into(),
        security: Security::Open,
        key: String::new(),
    })
    .unwrap();
    assert_eq!(eventually("completed", || connected_to(&wifi)), "Cafe");
    wifi.leave().unwrap();
    assert_eq!(wifi.state().unwrap(), WifiState::Disconnected);
    assert!(wifi.ours().unwrap().is_empty());
}
