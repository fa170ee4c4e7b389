//! Network settings applied through the CGI surface: setPortInfo moves the listeners live (and
//! rolls back when a port is taken), HTTPS serves the same surface with the first-boot
//! certificate, the firewall is enforced at accept for clients at other loopback addresses,
//! and a flood of half-open connections does not keep the administrator out.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{Camera, CgiReply, free_port, wait_until};

fn web_address(cam: &Camera) -> SocketAddr {
    cam.base.trim_start_matches("http://").parse().unwrap()
}

fn https_address(cam: &Camera) -> SocketAddr {
    cam.first_line
        .split("https://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the first line names the HTTPS address: {}", cam.first_line))
        .parse()
        .unwrap()
}

/// A TCP connection to `to` from the loopback source address `from`.
fn connect_from(from: [u8; 4], to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((from, 0)).into())?;
    socket.connect_timeout(&to.into(), Duration::from_secs(5))?;
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(stream)
}

/// One HTTP/1.1 request over `stream`; the reply's body parsed, or None if the camera closed
/// the connection without answering.
fn exchange(mut stream: impl Read + Write, query: &str) -> Option<CgiReply> {
    let request = format!(
        "GET /cgi-bin/CGIProxy.fcgi?{query} HTTP/1.1\r\nHost: cam\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let text = String::from_utf8(reply).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    Some(CgiReply::parse(body))
}

fn get_dev_state_from(from: [u8; 4], to: SocketAddr) -> Option<CgiReply> {
    let stream = connect_from(from, to).ok()?;
    exchange(stream, "cmd=getDevState&usr=admin&pwd=")
}

/// An RTSP OPTIONS request from `from` to the web port (RTSP shares it by default); the
/// reply's status line, or None if the camera closed the connection without answering.
fn rtsp_options_from(from: [u8; 4], to: SocketAddr) -> Option<String> {
    let mut stream = connect_from(from, to).ok()?;
    let request = format!("OPTIONS rtsp://{to}/videoMain RTSP/1.0\r\nCSeq: 1\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 1024];
    while !reply.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8(reply).ok()?;
    text.lines()
        .next()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
}

/// A TLS client that trusts exactly the camera's certificate from its data directory.
fn tls_config(cam: &Camera) -> Arc<rustls::ClientConfig> {
    let pem = std::fs::read(cam.data.join("tls/cert.pem")).expect("first boot made a certificate");
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn https_get_dev_state_from(cam: &Camera, from: [u8; 4]) -> Option<CgiReply> {
    let tcp = connect_from(from, https_address(cam)).ok()?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let client = rustls::ClientConnection::new(tls_config(cam), name).unwrap();
    let stream = rustls::StreamOwned::new(client, tcp);
    exchange(stream, "cmd=getDevState&usr=admin&pwd=")
}

#[test]
fn test_https_serves_the_same_cgi_surface_with_the_first_boot_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let agent = ureq::AgentBuilder::new()
        .tls_config(tls_config(&cam))
        .timeout(Duration::from_secs(30))
        .build();
    let port = https_address(&cam).port();
    let url =
        format!("https://localhost:{port}/cgi-bin/CGIProxy.fcgi?cmd=getDevName&usr=admin&pwd=");
    let reply = CgiReply::parse(&agent.get(&url).call().unwrap().into_string().unwrap());
    assert_eq!(reply.result, 0);
    assert_eq!(
        reply.get("devName"),
        cam.cgi("getDevName", &[]).get("devName")
    );
    // Wrong credentials over HTTPS get the same answer as over HTTP.
    let url =
        format!("https://localhost:{port}/cgi-bin/CGIProxy.fcgi?cmd=getDevName&usr=admin&pwd=x");
    let reply = CgiReply::parse(&agent.get(&url).call().unwrap().into_string().unwrap());
    assert_eq!(reply.result, -2);
    // The certificate is kept across restarts.
    let before = std::fs::read(dir.path().join("tls/cert.pem")).unwrap();
    let cam = cam.restart();
    assert_eq!(
        std::fs::read(cam.data.join("tls/cert.pem")).unwrap(),
        before
    );
}

#[test]
fn test_set_port_info_moves_the_web_listener_live_and_the_old_port_stops() {
    let dir = tempfile::tempdir().unwrap();
    let mut cam = Camera::start(dir.path());
    let old = web_address(&cam);
    let new_port = free_port();
    let new_port_text = new_port.to_string();
    let reply = cam.cgi("setPortInfo", &[("webPort", &new_port_text)]);
    assert_eq!(reply.result, 0, "the reply comes before the move");
    let new = SocketAddr::new(old.ip(), new_port);
    wait_until("the new port answers", || {
        get_dev_state_from([127, 0, 0, 1], new).is_some()
    });
    wait_until("the old port stops", || TcpStream::connect(old).is_err());
    cam.base = format!("http://{new}");
    let ports = cam.cgi("getPortInfo", &[]);
    assert_eq!(ports.get("webPort"), new_port_text);
}

#[test]
fn test_set_port_info_with_a_port_in_use_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let before = cam.cgi("getPortInfo", &[]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    let other = free_port().to_string();
    // Web to a free port, HTTPS to a taken one: all or nothing.
    let reply = cam.cgi(
        "setPortInfo",
        &[("webPort", &other), ("httpsPort", &taken_port)],
    );
    assert_eq!(reply.result, -4, "a port in use is an execution failure");
    std::thread::sleep(Duration::from_millis(600));
    let after = cam.cgi("getPortInfo", &[]);
    assert_eq!(after.fields, before.fields, "nothing stored");
    let other: u16 = other.parse().unwrap();
    assert!(
        TcpStream::connect(("127.0.0.1", other)).is_err(),
        "nothing moved"
    );
    // The daemon keeps serving on its port.
    assert_eq!(cam.cgi("getDevName", &[]).result, 0);
}

#[test]
fn test_set_port_info_moves_https_and_gives_media_its_own_listener() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let https = free_port();
    let media = free_port();
    let reply = cam.cgi(
        "setPortInfo",
        &[
            ("httpsPort", &https.to_string()),
            ("mediaPort", &media.to_string()),
        ],
    );
    assert_eq!(reply.result, 0);
    let media_address = SocketAddr::from(([127, 0, 0, 1], media));
    wait_until("the media port serves the surface", || {
        get_dev_state_from([127, 0, 0, 1], media_address).is_some_and(|r| r.result == 0)
    });
    wait_until("HTTPS answers on its new port", || {
        TcpStream::connect(("127.0.0.1", https)).is_ok()
    });
    assert!(
        TcpStream::connect(https_address(&cam)).is_err(),
        "the old HTTPS port is closed"
    );
    assert_eq!(
        cam.cgi("getDevName", &[]).result,
        0,
        "the web port, left as it was, did not move"
    );
}

#[test]
fn test_firewall_deny_list_refuses_listed_addresses_on_http_https_and_rtsp() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let web = web_address(&cam);
    assert!(get_dev_state_from([127, 0, 0, 2], web).is_some());
    // 127.0.0.2 in the integer form Foscam clients send.
    let reply = cam.cgi(
        "setFirewallConfig",
        &[("isEnable", "1"), ("rule", "0"), ("ipList0", "2130706434")],
    );
    assert_eq!(reply.result, 0);
    let config = cam.cgi("getFirewallConfig", &[]);
    assert_eq!(
        config.get("ipList0"),
        "127.0.0.2",
        "reported as a dotted quad"
    );
    assert_eq!(config.get("ipList1"), "0");
    assert!(
        get_dev_state_from([127, 0, 0, 2], web).is_none(),
        "denied on HTTP"
    );
    assert!(
        https_get_dev_state_from(&cam, [127, 0, 0, 2]).is_none(),
        "denied on HTTPS"
    );
    assert_eq!(
        rtsp_options_from([127, 0, 0, 2], web),
        None,
        "denied on RTSP (sharing the web port)"
    );
    let allowed = get_dev_state_from([127, 0, 0, 3], web).expect("others get service");
    assert_eq!(allowed.result, 0);
    let allowed = https_get_dev_state_from(&cam, [127, 0, 0, 3]).expect("and over HTTPS");
    assert_eq!(allowed.result, 0);
    let status = rtsp_options_from([127, 0, 0, 3], web).expect("and RTSP");
    assert!(status.starts_with("RTSP/1.0 200"), "{status}");
    // Enforced after a restart too.
    let cam = cam.restart();
    assert!(get_dev_state_from([127, 0, 0, 2], web_address(&cam)).is_none());
    // Switched off, everyone is back.
    assert_eq!(cam.cgi("setFirewallConfig", &[("isEnable", "0")]).result, 0);
    assert!(get_dev_state_from([127, 0, 0, 2], web_address(&cam)).is_some());
}

#[test]
fn test_firewall_allow_list_admits_only_listed_and_refuses_to_lock_the_setter_out() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let web = web_address(&cam);
    // Set from 127.0.0.2, a list without 127.0.0.2 would shut its own client out: refused.
    let query = "cmd=setFirewallConfig&isEnable=1&rule=1&ipList0=127.0.0.3&usr=admin&pwd=";
    let refused = exchange(connect_from([127, 0, 0, 2], web).unwrap(), query).unwrap();
    assert_eq!(refused.result, -1);
    assert_eq!(cam.cgi("getFirewallConfig", &[]).get("isEnable"), "0");
    // From the camera's own loopback address (exempt: the recovery path) it is accepted.
    let reply = cam.cgi(
        "setFirewallConfig",
        &[("isEnable", "1"), ("rule", "1"), ("ipList0", "127.0.0.3")],
    );
    assert_eq!(reply.result, 0);
    assert!(get_dev_state_from([127, 0, 0, 3], web).is_some_and(|r| r.result == 0));
    assert!(get_dev_state_from([127, 0, 0, 2], web).is_none());
    assert!(get_dev_state_from([127, 0, 0, 4], web).is_none());
    assert_eq!(cam.cgi("getDevName", &[]).result, 0, "loopback stays in");
    // Bad entries are refused and change nothing.
    for bad in ["300.1.1.1", "4294967296", "1.2.3", "x"] {
        let reply = cam.cgi("setFirewallConfig", &[("ipList1", bad)]);
        assert_eq!(reply.result, -1, "{bad}");
    }
    assert_eq!(cam.cgi("getFirewallConfig", &[]).get("ipList1"), "0");
}

/// Opens a connection and sends half a request head, as a slow or hostile client does.
fn half_open(from: [u8; 4], to: SocketAddr) -> Option<TcpStream> {
    let mut stream = connect_from(from, to).ok()?;
    stream
        .write_all(b"GET /cgi-bin/CGIProxy.fcgi?cmd=getDevState HTTP/1.1\r\nHo")
        .ok()?;
    Some(stream)
}

#[test]
fn test_half_open_floods_do_not_keep_the_administrator_out() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let web = web_address(&cam);
    // 80 half-open requests from one address (more than the 64-connection cap).
    let one_address: Vec<TcpStream> = (0..80)
        .filter_map(|_| half_open([127, 0, 0, 2], web))
        .collect();
    assert!(one_address.len() >= 64);
    let admin = get_dev_state_from([127, 0, 0, 1], web).expect("the administrator is answered");
    assert_eq!(admin.result, 0);
    let other = get_dev_state_from([127, 0, 0, 3], web).expect("another client too");
    assert_eq!(other.result, 0);
    // 80 half-open requests from 80 addresses: the cap is reached; idle ones give way.
    let many: Vec<TcpStream> = (0..80u8)
        .filter_map(|n| half_open([127, 0, 1, n + 1], web))
        .collect();
    assert!(many.len() >= 64);
    let admin = get_dev_state_from([127, 0, 0, 1], web).expect("still answered");
    assert_eq!(admin.result, 0);
    drop((one_address, many));
}
fn ip_info(cam: &Camera) -> (String, String, String, String) {
    let info = cam.cgi("getIPInfo", &[]);
    assert_eq!(info.result, 0);
    (
        info.get("isDHCP").to_owned(),
        info.get("ip").to_owned(),
        info.get("gate").to_owned(),
        info.get("mask").to_owned(),
    )
}

/// Waits for a log line containing `text`.
fn await_log(cam: &Camera, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(line) = cam.log.recv_timeout(Duration::from_millis(200)) {
            if line.contains(text) {
                return line;
            }
        }
    }
    panic!("no log line with {text:?}");
}

#[test]
fn test_ip_settings_apply_live_and_fall_back_when_they_do_not_work() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    // The simulated LAN's DHCP lease, live.
    let dhcp = (
        "1".to_owned(),
        "192.168.1.123".to_owned(),
        "192.168.1.1".to_owned(),
        "255.255.255.0".to_owned(),
    );
    assert_eq!(ip_info(&cam), dhcp);
    let fixed = [
        ("isDHCP", "0"),
        ("ip", "192.168.1.88"),
        ("gate", "192.168.1.1"),
        ("mask", "255.255.255.0"),
        ("dns1", "192.168.1.1"),
        ("dns2", "0.0.0.0"),
    ];
    assert_eq!(cam.cgi("setIpInfo", &fixed).result, 0);
    let static_info = (
        "0".to_owned(),
        "192.168.1.88".to_owned(),
        "192.168.1.1".to_owned(),
        "255.255.255.0".to_owned(),
    );
    wait_until("the static address is in force", || {
        ip_info(&cam) == static_info
    });
    await_log(&cam, "IP setting applied and working");
    // An address another host already has never comes up: back to .88 within the bound.
    let taken = [("ip", "192.168.1.2")];
    assert_eq!(cam.cgi("setIpInfo", &taken).result, 0);
    let line = await_log(&cam, "did not work");
    assert!(line.contains("gateway"), "the log says why: {line}");
    assert_eq!(ip_info(&cam), static_info);
    // The setting in force is what is stored: it comes back after a restart.
    let cam = cam.restart();
    wait_until("the stored setting is applied at boot", || {
        ip_info(&cam) == static_info
    });
    // Bad input changes nothing.
    for bad in [
        [("mask", "255.0.255.0")],
        [("ip", "192.168.1.x")],
        [("ip", "192.168.1.255")],
        [("gate", "10.9.9.9")],
        [("dns1", "224.0.0.1")],
    ] {
        assert_eq!(cam.cgi("setIpInfo", &bad).result, -1, "{bad:?}");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(ip_info(&cam), static_info);
    // Back to DHCP.
    assert_eq!(cam.cgi("setIpInfo", &[("isDHCP", "1")]).result, 0);
    wait_until("DHCP is back", || ip_info(&cam) == dhcp);
}

fn wifi_list(cam: &Camera, start: usize) -> CgiReply {
    let reply = cam.cgi("getWifiList", &[("startNo", &start.to_string())]);
    assert_eq!(reply.result, 0);
    reply
}

#[test]
fn test_wifi_scans_pages_joins_and_falls_back_on_the_simulated_radio() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    assert_eq!(
        wifi_list(&cam, 0).get("totalCnt"),
        "0",
        "nothing before a scan"
    );
    assert_eq!(cam.cgi("refreshWifiList", &[]).result, 0);
    // The simulated radio has twelve networks in range: ten per page, strongest first.
    let first = wifi_list(&cam, 0);
    assert_eq!(first.get("totalCnt"), "12");
    assert_eq!(first.get("curCnt"), "10");
    assert_eq!(first.get("ap0"), "HomeNet+02:1a:11:00:00:01+78+1+3");
    assert_eq!(first.get("ap9"), "OldRouter+02:1a:11:00:00:04+12+1+1");
    let second = wifi_list(&cam, 10);
    assert_eq!(second.get("curCnt"), "2");
    assert_eq!(second.get("ap0"), "FreeAirport+02:1a:11:00:00:0b+9+0+0");
    assert_eq!(second.get("ap1"), "Hidden_Fortress+02:1a:11:00:00:0c+5+1+4");
    assert_eq!(wifi_list(&cam, 30).get("curCnt"), "0");
    assert_eq!(cam.cgi("getWifiList", &[("startNo", "-1")]).result, -1);
    // Not connected yet.
    let config = cam.cgi("getWifiConfig", &[]);
    assert_eq!(config.get("isConnected"), "0");
    assert_eq!(cam.cgi("getDevState", &[]).get("isWifiConnected"), "0");
    // Join with the right key.
    let home = [
        ("isEnable", "1"),
        ("isUseWifi", "1"),
        ("ssid", "HomeNet"),
        ("netType", "0"),
        ("encryptType", "3"),
        ("psk", "correct horse battery"),
    ];
    assert_eq!(cam.cgi("setWifiSetting", &home).result, 0);
    wait_until("the camera is on HomeNet", || {
        let config = cam.cgi("getWifiConfig", &[]);
        config.get("isConnected") == "1" && config.get("connectedAp") == "HomeNet"
    });
    let state = cam.cgi("getDevState", &[]);
    assert_eq!(state.get("isWifiConnected"), "1");
    assert_eq!(state.get("wifiConnectedAP"), "HomeNet");
    // A network whose key is wrong (an SSID with quotes, passed on as is): it does not
    // connect, HomeNet comes back and so does its stored setting.
    let neighbour = [
        ("ssid", "Neighbour \"5G\""),
        ("encryptType", "4"),
        ("psk", "guessing-wrong"),
    ];
    assert_eq!(cam.cgi("setWifiSetting", &neighbour).result, 0);
    let line = await_log(&cam, "Wi-Fi setting did not work");
    assert!(
        line.contains("authentication failed"),
        "the log says why: {line}"
    );
    wait_until("the stored setting is HomeNet again", || {
        cam.cgi("getWifiConfig", &[]).get("ssid") == "HomeNet"
    });
    assert_eq!(cam.cgi("getWifiConfig", &[]).get("connectedAp"), "HomeNet");
    // Bad input: -1, nothing stored.
    for bad in [
        vec![("ssid", "Home\u{1}Net")],
        vec![("ssid", "a-name-longer-than-thirty-two-bytes")],
        vec![("psk", "short")],
        vec![("encryptType", "1"), ("keyFormat", "0"), ("key1", "1234")],
        vec![
            ("encryptType", "1"),
            ("keyFormat", "1"),
            ("key1", "zz345678zz"),
        ],
        vec![("key2Len", "100")],
        vec![("encryptType", "9")],
    ] {
        assert_eq!(cam.cgi("setWifiSetting", &bad).result, -1, "{bad:?}");
    }
    let config = cam.cgi("getWifiConfig", &[]);
    assert_eq!(config.get("ssid"), "HomeNet");
    assert_eq!(config.get("encryptType"), "3");
    // Wi-Fi off: the radio leaves.
    assert_eq!(cam.cgi("setWifiSetting", &[("isEnable", "0")]).result, 0);
    wait_until("the radio left", || {
        cam.cgi("getDevState", &[]).get("isWifiConnected") == "0"
    });
}

#[test]
fn test_pppoe_dials_the_stored_account_and_bad_accounts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let wrong = [
        ("isEnable", "1"),
        ("userName", "ipcamd"),
        ("password", "not-the-secret"),
    ];
    assert_eq!(cam.cgi("setPPPoEConfig", &wrong).result, 0);
    let line = await_log(&cam, "PPPoE dial did not connect");
    assert!(line.contains("authentication failed"), "{line}");
    assert_eq!(
        cam.cgi("setPPPoEConfig", &[("password", "pppoe-secret")])
            .result,
        0
    );
    let line = await_log(&cam, "PPPoE link up");
    assert!(line.contains("100.64.12.34"), "{line}");
    let config = cam.cgi("getPPPoEConfig", &[]);
    assert_eq!(config.get("isEnable"), "1");
    assert_eq!(config.get("userName"), "ipcamd");
    // Dialled again at boot with the stored account.
    let cam = cam.restart();
    await_log(&cam, "PPPoE link up");
    for bad in [
        vec![("userName", "")],
        vec![("userName", "line\nbreak")],
        vec![("password", "tab\there")],
    ] {
        assert_eq!(cam.cgi("setPPPoEConfig", &bad).result, -1, "{bad:?}");
    }
    assert_eq!(cam.cgi("getPPPoEConfig", &[]).get("userName"), "ipcamd");
}
/// An SNTP server on loopback that answers every request with `unix_time` (RFC 4330 server
/// mode, stratum 1), until dropped. Returns its address.
fn sntp_server(unix_time: u64) -> (SocketAddr, std::sync::mpsc::Receiver<()>) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = socket.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut request = [0u8; 128];
        loop {
            let Ok((len, client)) = socket.recv_from(&mut request) else {
                return;
            };
            if len < 48 || request[0] & 0x7 != 3 {
                continue;
            }
            let seconds = (unix_time + 2_208_988_800) as u32;
            let mut reply = [0u8; 48];
            reply[0] = (request[0] & 0x38) | 4; // version as asked, server mode
            reply[1] = 1; // stratum 1
            reply[12..16].copy_from_slice(b"TEST");
            reply[16..20].copy_from_slice(&seconds.to_be_bytes());
            reply[24..32].copy_from_slice(&request[40..48]); // originate = client's transmit
            reply[32..36].copy_from_slice(&seconds.to_be_bytes());
            reply[40..44].copy_from_slice(&seconds.to_be_bytes());
            if socket.send_to(&reply, client).is_err() || tx.send(()).is_err() {
                return;
            }
        }
    });
    (address, rx)
}

#[test]
fn test_the_clock_follows_the_sntp_server_and_ntp_state_reports() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    // 2031-05-06 07:08:09 UTC.
    let (server, asked) = sntp_server(1_935_817_689);
    let reply = cam.cgi(
        "setSystemTime",
        &[
            ("timeSource", "0"),
            ("ntpServer", &server.to_string()),
            ("timeZone", "0"),
            ("isDst", "0"),
        ],
    );
    assert_eq!(reply.result, 0);
    asked
        .recv_timeout(Duration::from_secs(10))
        .expect("the camera asked the server");
    wait_until("the clock follows the server", || {
        let time = cam.cgi("getSystemTime", &[]);
        time.get("year") == "2031" && time.get("mon") == "5" && time.get("day") == "6"
    });
    assert_eq!(cam.cgi("getDevState", &[]).get("ntpState"), "1");
    // Asked again at boot.
    let cam = cam.restart();
    while asked.try_recv().is_ok() {}
    asked
        .recv_timeout(Duration::from_secs(10))
        .expect("the camera asked the server at boot");
    wait_until("ntpState says updated after the restart", || {
        cam.cgi("getDevState", &[]).get("ntpState") == "1"
    });
    // A server that never answers: update failed, the clock stays.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_address = silent.local_addr().unwrap().to_string();
    let reply = cam.cgi("setSystemTime", &[("ntpServer", &silent_address)]);
    assert_eq!(reply.result, 0);
    wait_until("ntpState says the update failed", || {
        cam.cgi("getDevState", &[]).get("ntpState") == "2"
    });
    assert_eq!(cam.cgi("getSystemTime", &[]).get("year"), "2031");
    // Manual time: NTP is off.
    assert_eq!(cam.cgi("setSystemTime", &[("timeSource", "1")]).result, 0);
    wait_until("ntpState says disabled", || {
        cam.cgi("getDevState", &[]).get("ntpState") == "0"
    });
}

/// What the DDNS test server saw and answers.
#[derive(Default)]
struct DdnsServerState {
    /// The public address the check URL reports.
    public: String,
    /// The reply to updates ("" = never answer).
    reply: String,
    /// (path and query, Authorization header) of every update.
    updates: Vec<(String, String)>,
}

/// An HTTP server on loopback speaking checkip (`/check`) and the dyndns2 update protocol
/// (`/nic/update`), one request per connection. Returns its address.
fn ddns_server(state: Arc<std::sync::Mutex<DdnsServerState>>) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let state = state.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                let auth = head
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("authorization: ")
                            .or(l.strip_prefix("Authorization: "))
                    })
                    .unwrap_or("")
                    .to_owned();
                let body = {
                    let mut state = state.lock().unwrap();
                    if target.starts_with("/check") {
                        format!(
                            "<html><body>Current IP Address: {}</body></html>",
                            state.public
                        )
                    } else {
                        state.updates.push((target, auth));
                        if state.reply.is_empty() {
                            drop(state);
                            // A server that never answers: hold the connection.
                            std::thread::sleep(Duration::from_secs(30));
                            return;
                        }
                        state.reply.clone()
                    }
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    address
}

#[test]
fn test_ddns_updates_the_provider_when_the_public_address_changes() {
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(std::sync::Mutex::new(DdnsServerState {
        public: "203.0.113.7".into(),
        reply: "good 203.0.113.7".into(),
        ..Default::default()
    }));
    let server = ddns_server(state.clone());
    let board = std::fs::read_to_string(crate::support::repo().join("board/sim.toml")).unwrap()
        + &format!(
            "\n[network.ddns]\ncheck_ip_url = \"http://{server}/check\"\n\
             update_urls = [\"http://{server}/oray\", \"http://{server}/3322\", \
             \"http://{server}/noip\", \"http://{server}/nic/update\"]\ncheck_secs = 1\n"
        );
    let board_path = dir.path().join("board.toml");
    std::fs::write(&board_path, board).unwrap();
    let cam = Camera::start_with_board(&dir.path().join("data"), &board_path);
    assert_eq!(cam.cgi("getDevState", &[]).get("ddnsState"), "0");
    let setting = [
        ("isEnable", "1"),
        ("hostName", "cam.example.org"),
        ("ddnsServer", "4"),
        ("user", "owner"),
        ("password", "s3cret:pw"),
    ];
    assert_eq!(cam.cgi("setDDNSConfig", &setting).result, 0);
    wait_until("the provider got an update", || {
        !state.lock().unwrap().updates.is_empty()
    });
    let (target, auth) = state.lock().unwrap().updates[0].clone();
    assert_eq!(
        target,
        "/nic/update?hostname=cam.example.org&myip=203.0.113.7"
    );
    // Basic credentials: base64("owner:s3cret:pw").
    assert_eq!(auth, "Basic b3duZXI6czNjcmV0OnB3");
    wait_until("ddnsState says updated", || {
        cam.cgi("getDevState", &[]).get("ddnsState") == "1"
    });
    assert_eq!(cam.cgi("getDevState", &[]).get("url"), "cam.example.org");
    // The public address changes: one new update with the new address.
    {
        let mut state = state.lock().unwrap();
        state.public = "198.51.100.23".into();
        state.reply = "good 198.51.100.23".into();
    }
    wait_until("the provider got the new address", || {
        state
            .lock()
            .unwrap()
            .updates
            .iter()
            .any(|(t, _)| t.ends_with("myip=198.51.100.23"))
    });
    // The provider refuses the account: ddnsState says failed.
    {
        let mut state = state.lock().unwrap();
        state.public = "198.51.100.24".into();
        state.reply = "badauth".into();
    }
    wait_until("ddnsState says failed", || {
        cam.cgi("getDevState", &[]).get("ddnsState") == "2"
    });
    await_log(&cam, "badauth");
    // A provider that never answers: failed, and the daemon keeps serving.
    {
        let mut state = state.lock().unwrap();
        state.public = "198.51.100.25".into();
        state.reply = String::new();
    }
    assert_eq!(cam.cgi("setDDNSConfig", &[("user", "owner2")]).result, 0);
    await_log(&cam, "no answer within");
    assert_eq!(cam.cgi("getDevState", &[]).get("ddnsState"), "2");
    // Bad input and factory DDNS.
    for bad in [
        vec![("hostName", "not a host")],
        vec![("hostName", "cam.example.org&myip=1.2.3.4")],
        vec![("ddnsServer", "7")],
    ] {
        assert_eq!(cam.cgi("setDDNSConfig", &bad).result, -1, "{bad:?}");
    }
    assert_eq!(cam.cgi("setDDNSConfig", &[("ddnsServer", "0")]).result, -4);
    let config = cam.cgi("getDDNSConfig", &[]);
    assert_eq!(config.get("hostName"), "cam.example.org");
    assert_eq!(config.get("ddnsServer"), "4");
    // Off: ddnsState 0.
    assert_eq!(cam.cgi("setDDNSConfig", &[("isEnable", "0")]).result, 0);
    wait_until("ddnsState says off", || {
        cam.cgi("getDevState", &[]).get("ddnsState") == "0"
    });
}

/// What the IGD simulator saw: (SOAP action, body) of every control request.
type IgdCalls = Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// An Internet gateway simulator on loopback: an SSDP responder (unicast, on the returned UDP
/// address) that points to a device description served over HTTP, whose WANIPConnection
/// control URL records every SOAP action and answers 200.
fn igd_simulator(calls: IgdCalls) -> SocketAddr {
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_address = http.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in http.incoming() {
            let Ok(mut stream) = stream else { return };
            let calls = calls.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut data = Vec::new();
                let mut byte = [0u8; 1];
                while !data.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => data.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&data).into_owned();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                let mut body = vec![0u8; length];
                if stream.read_exact(&mut body).is_err() {
                    return;
                }
                let reply = if head.starts_with("GET /desc.xml") {
                    "<?xml version=\"1.0\"?><root><device><deviceList><device><deviceList><device>\
                     <serviceList><service>\
                     <serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>\
                     <controlURL>/ctl/IPConn</controlURL></service></serviceList>\
                     </device></deviceList></device></deviceList></device></root>"
                        .to_owned()
                } else {
                    let action = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("soapaction")
                                .then(|| v.trim().to_owned())
                        })
                        .unwrap_or_default();
                    let action = action
                        .trim_matches('"')
                        .rsplit('#')
                        .next()
                        .unwrap_or("")
                        .to_owned();
                    calls
                        .lock()
                        .unwrap()
                        .push((action, String::from_utf8_lossy(&body).into_owned()));
                    "<s:Envelope><s:Body/></s:Envelope>".to_owned()
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{reply}",
                    reply.len()
                );
            });
        }
    });
    let ssdp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let ssdp_address = ssdp.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        loop {
            let Ok((len, from)) = ssdp.recv_from(&mut buf) else {
                return;
            };
            let text = String::from_utf8_lossy(&buf[..len]);
            if text.starts_with("M-SEARCH") && text.contains("InternetGatewayDevice") {
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\n\
                     ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\
                     USN: uuid:sim-igd::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\
                     LOCATION: http://{http_address}/desc.xml\r\n\r\n"
                );
                let _ = ssdp.send_to(answer.as_bytes(), from);
            }
        }
    });
    ssdp_address
}

fn count(calls: &IgdCalls, action: &str, port: u16) -> usize {
    let port = format!("<NewExternalPort>{port}</NewExternalPort>");
    calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(a, body)| a == action && body.contains(&port))
        .count()
}

#[test]
fn test_upnp_maps_renews_and_removes_the_web_and_media_ports_on_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let calls = IgdCalls::default();
    let ssdp = igd_simulator(calls.clone());
    let board = std::fs::read_to_string(crate::support::repo().join("board/sim.toml")).unwrap()
        + &format!("\n[network.upnp]\nssdp_address = \"{ssdp}\"\nlease_secs = 2\n");
    let board_path = dir.path().join("board.toml");
    std::fs::write(&board_path, board).unwrap();
    let cam = Camera::start_with_board(&dir.path().join("data"), &board_path);
    assert_eq!(cam.cgi("getDevState", &[]).get("upnpState"), "0");
    // The media port apart from the web port: both are mapped.
    let media = free_port();
    let media_text = media.to_string();
    assert_eq!(
        cam.cgi("setPortInfo", &[("mediaPort", &media_text)]).result,
        0
    );
    assert_eq!(cam.cgi("setUPnPConfig", &[("isEnable", "1")]).result, 0);
    let web: u16 = cam.cgi("getPortInfo", &[]).get("webPort").parse().unwrap();
    wait_until("both ports are mapped", || {
        count(&calls, "AddPortMapping", web) >= 1 && count(&calls, "AddPortMapping", media) >= 1
    });
    let added = calls.lock().unwrap()[0].1.clone();
    assert!(
        added.contains("<NewInternalClient>127.0.0.1</NewInternalClient>"),
        "{added}"
    );
    assert!(
        added.contains("<NewLeaseDuration>2</NewLeaseDuration>"),
        "{added}"
    );
    assert!(added.contains("<NewProtocol>TCP</NewProtocol>"), "{added}");
    wait_until("upnpState says mapped", || {
        cam.cgi("getDevState", &[]).get("upnpState") == "1"
    });
    // Renewed before the two-second lease runs out.
    wait_until("the mappings are renewed", || {
        count(&calls, "AddPortMapping", web) >= 3
    });
    // Switched off: removed.
    assert_eq!(cam.cgi("setUPnPConfig", &[("isEnable", "0")]).result, 0);
    wait_until("the mappings are removed", || {
        count(&calls, "DeletePortMapping", web) == 1
            && count(&calls, "DeletePortMapping", media) == 1
    });
    wait_until("upnpState says off", || {
        cam.cgi("getDevState", &[]).get("upnpState") == "0"
    });
    // On again, then the daemon stops: removed on shutdown.
    assert_eq!(cam.cgi("setUPnPConfig", &[("isEnable", "1")]).result, 0);
    wait_until("mapped again", || {
        count(&calls, "AddPortMapping", media) >= 2
            && cam.cgi("getDevState", &[]).get("upnpState") == "1"
    });
    cam.terminate();
    assert_eq!(
        count(&calls, "DeletePortMapping", web),
        2,
        "removed at shutdown"
    );
    assert_eq!(count(&calls, "DeletePortMapping", media), 2);
}

#[test]
fn test_upnp_without_a_gateway_reports_failure_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    // Nobody answers the search here.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let board = std::fs::read_to_string(crate::support::repo().join("board/sim.toml")).unwrap()
        + &format!(
            "\n[network.upnp]\nssdp_address = \"{}\"\n",
            silent.local_addr().unwrap()
        );
    let board_path = dir.path().join("board.toml");
    std::fs::write(&board_path, board).unwrap();
    let cam = Camera::start_with_board(&dir.path().join("data"), &board_path);
    assert_eq!(cam.cgi("setUPnPConfig", &[("isEnable", "1")]).result, 0);
    let line = await_log(&cam, "UPnP port mapping failed");
    assert!(line.contains("no gateway answered"), "{line}");
    assert_eq!(cam.cgi("getDevState", &[]).get("upnpState"), "2");
    assert_eq!(cam.cgi("getDevName", &[]).result, 0);
}

#[test]
fn test_the_simulated_board_has_no_p2p_and_its_commands_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    assert_eq!(cam.cgi("getProductP2pFlag", &[]).get("p2pFlag"), "0");
    assert_eq!(cam.cgi("getP2PEnable", &[]).get("enable"), "0");
    assert_eq!(cam.cgi("setP2PEnable", &[("enable", "1")]).result, -4);
    assert_eq!(cam.cgi("getP2PEnable", &[]).get("enable"), "0");
    assert_eq!(cam.cgi("setP2PPort", &[("port", "32108")]).result, -4);
    assert_eq!(cam.cgi("getP2PInfo", &[]).result, -4);
    assert_eq!(cam.cgi("getDDNSConfig", &[]).get("factoryDDNS"), "");
}
