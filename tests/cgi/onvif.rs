//! The ONVIF service on the simulated board (`onvif = true`) with real clients: SOAP over a
//! real HTTP client (ureq) and raw sockets bound to other loopback addresses, the stream
//! URI it gives played by ffprobe, the snapshot URI fetched and decoded; onvifPort moved
//! live by setPortInfo (and rolled back), the firewall enforced on it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::rtsp::{hex_md5, probe_frames};
use crate::support::{Camera, CgiReply, free_port, wait_until};

const PASSWORD_TEXT: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";
const PASSWORD_DIGEST: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";

/// Where the daemon's first line says ONVIF listens.
fn onvif_address(cam: &Camera) -> SocketAddr {
    cam.first_line
        .split("ONVIF http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("the first line names the ONVIF address: {}", cam.first_line))
        .parse()
        .unwrap()
}

/// A SOAP 1.2 request for `operation` (its inner XML `args`), with a UsernameToken when
/// `token` is given (user, password, password type).
fn envelope(operation: &str, args: &str, token: Option<(&str, &str, &str)>) -> String {
    let header = match token {
        Some((user, password, kind)) => format!(
            "<s:Header><wsse:Security xmlns:wsse=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd\">\
             <wsse:UsernameToken><wsse:Username>{user}</wsse:Username>\
             <wsse:Password Type=\"{kind}\">{password}</wsse:Password></wsse:UsernameToken>\
             </wsse:Security></s:Header>"
        ),
        None => String::new(),
    };
    let ns = if operation.starts_with("GetProfile")
        || matches!(
            operation,
            "GetVideoSources" | "GetStreamUri" | "GetSnapshotUri"
        ) {
        "http://www.onvif.org/ver10/media/wsdl"
    } else {
        "http://www.onvif.org/ver10/device/wsdl"
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:tt=\"http://www.onvif.org/ver10/schema\">{header}\
         <s:Body><op:{operation} xmlns:op=\"{ns}\">{args}</op:{operation}></s:Body></s:Envelope>"
    )
}

/// An ONVIF answer: HTTP status, `WWW-Authenticate` values, body.
struct Answer {
    status: u16,
    challenges: Vec<String>,
    body: String,
}

impl Answer {
    /// The text of the first `<…:name>` element.
    fn text(&self, name: &str) -> Option<String> {
        self.all(name).into_iter().next()
    }

    /// The texts of every `<…:name>` element, in order.
    fn all(&self, name: &str) -> Vec<String> {
        let mut reader = quick_xml::Reader::from_str(&self.body);
        let mut inside = false;
        let mut out = Vec::new();
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Start(e)) => {
                    inside = e.local_name().as_ref() == name.as_bytes();
                }
                Ok(quick_xml::events::Event::Text(t)) if inside => {
                    out.push(t.unescape().unwrap().into_owned());
                    inside = false;
                }
                Ok(quick_xml::events::Event::Eof) | Err(_) => return out,
                _ => inside = false,
            }
        }
    }

    fn is_fault(&self, subcode: &str) -> bool {
        self.body.contains("<s:Fault>")
            && self.body.contains(&format!("<s:Value>{subcode}</s:Value>"))
    }
}

/// POSTs `body` to `path` on `to` with ureq, with extra headers.
fn post_with(to: SocketAddr, path: &str, body: &str, headers: &[(&str, &str)]) -> Answer {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let mut request = agent
        .post(&format!("http://{to}{path}"))
        .set("Content-Type", "application/soap+xml; charset=utf-8");
    for (name, value) in headers {
        request = request.set(name, value);
    }
    let response = match request.send_string(body) {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(err) => panic!("ONVIF request failed: {err}"),
    };
    Answer {
        status: response.status(),
        challenges: response
            .all("WWW-Authenticate")
            .into_iter()
            .map(str::to_owned)
            .collect(),
        body: response.into_string().unwrap(),
    }
}

fn call(to: SocketAddr, operation: &str, args: &str, token: Option<(&str, &str, &str)>) -> Answer {
    post_with(
        to,
        "/onvif/device_service",
        &envelope(operation, args, token),
        &[],
    )
}

fn admin() -> Option<(&'static str, &'static str, &'static str)> {
    Some(("admin", "", PASSWORD_TEXT))
}

/// A raw HTTP POST of GetSystemDateAndTime from the loopback address `from`: the status
/// line, or None when the camera closed the connection without answering.
fn date_time_from(from: [u8; 4], to: SocketAddr) -> Option<String> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    socket.bind(&SocketAddr::from((from, 0)).into()).ok()?;
    socket
        .connect_timeout(&to.into(), Duration::from_secs(5))
        .ok()?;
    let mut stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let body = envelope("GetSystemDateAndTime", "", None);
    let request = format!(
        "POST /onvif/device_service HTTP/1.1\r\nHost: cam\r\nContent-Type: application/soap+xml\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let text = String::from_utf8(reply).ok()?;
    text.lines()
        .next()
        .filter(|l| !l.is_empty() && text.contains("SystemDateAndTime"))
        .map(str::to_owned)
}

#[test]
fn test_onvif_device_service_answers_with_and_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let at = onvif_address(&cam);
    assert_eq!(cam.cgi("getProductAllInfo", &[]).get("onvifFlag"), "1");
    assert_eq!(cam.cgi("getProductOnvifFlag", &[]).get("onvifFlag"), "1");

    // GetSystemDateAndTime needs no credentials, and tells the camera's clock.
    let time = call(at, "GetSystemDateAndTime", "", None);
    assert_eq!(time.status, 200, "{}", time.body);
    let info = cam.cgi("getDevInfo", &[]);
    assert_eq!(time.text("Year").unwrap(), info.get("year"));
    assert!(time.body.contains("<tt:UTCDateTime>") && time.body.contains("<tt:LocalDateTime>"));

    // Without credentials: 401 with Digest challenges and a NotAuthorized fault.
    let refused = call(at, "GetDeviceInformation", "", None);
    assert_eq!(refused.status, 401);
    assert!(refused.is_fault("ter:NotAuthorized"), "{}", refused.body);
    assert!(
        refused
            .challenges
            .iter()
            .any(|c| c.starts_with("Digest ") && c.contains("MD5"))
    );
    // The factory admin's UsernameToken (PasswordText): getDevInfo's facts.
    let device = call(at, "GetDeviceInformation", "", admin());
    assert_eq!(device.status, 200, "{}", device.body);
    assert_eq!(device.text("Model").unwrap(), "ipcamd-sim");
    assert_eq!(device.text("SerialNumber").unwrap(), info.get("serialNo"));
    assert_eq!(
        device.text("FirmwareVersion").unwrap(),
        info.get("firmwareVer")
    );
    assert_eq!(device.text("HardwareId").unwrap(), info.get("hardwareVer"));
    // A wrong password and a PasswordDigest (not verifiable: no plain password kept).
    let wrong = call(
        at,
        "GetDeviceInformation",
        "",
        Some(("admin", "nope", PASSWORD_TEXT)),
    );
    assert_eq!(wrong.status, 400);
    assert!(wrong.is_fault("ter:NotAuthorized"), "{}", wrong.body);
    let digest = call(
        at,
        "GetDeviceInformation",
        "",
        Some(("admin", "c29tZWRpZ2VzdA==", PASSWORD_DIGEST)),
    );
    assert_eq!(digest.status, 400);
    assert!(digest.is_fault("ter:NotAuthorized"));

    // HTTP Digest over the account's stored HA1.
    assert_eq!(
        cam.cgi(
            "addAccount",
            &[
                ("usrName", "nvr"),
                ("usrPwd", "s3cret<&>"),
                ("privilege", "0")
            ]
        )
        .result,
        0
    );
    let challenge = refused
        .challenges
        .iter()
        .find(|c| c.contains("algorithm=MD5"))
        .unwrap();
    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    let uri = "/onvif/device_service";
    let ha1 = hex_md5("nvr:ipcamd:s3cret<&>");
    let ha2 = hex_md5(&format!("POST:{uri}"));
    let response = hex_md5(&format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
    let header = format!(
        "Digest username=\"nvr\", realm=\"ipcamd\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c0ffee\""
    );
    let body = envelope("GetDeviceInformation", "", None);
    let by_digest = post_with(at, uri, &body, &[("Authorization", &header)]);
    assert_eq!(by_digest.status, 200, "{}", by_digest.body);
    assert_eq!(by_digest.text("Model").unwrap(), "ipcamd-sim");
    // The same response for another body's URI path is refused.
    let other = post_with(
        at,
        "/onvif/media_service",
        &body,
        &[("Authorization", &header)],
    );
    assert_eq!(other.status, 401);

    // The service addresses name the host the client addressed.
    let caps = call(
        at,
        "GetCapabilities",
        "<op:Category>All</op:Category>",
        admin(),
    );
    assert_eq!(caps.status, 200, "{}", caps.body);
    assert_eq!(
        caps.all("XAddr"),
        [
            format!("http://{at}/onvif/device_service"),
            format!("http://{at}/onvif/media_service")
        ]
    );
    let services = call(
        at,
        "GetServices",
        "<op:IncludeCapability>false</op:IncludeCapability>",
        admin(),
    );
    assert_eq!(services.all("XAddr").len(), 2);
    let scopes = call(at, "GetScopes", "", admin());
    assert!(
        scopes
            .all("ScopeItem")
            .contains(&"onvif://www.onvif.org/name/ipcamd-sim".to_owned()),
        "{}",
        scopes.body
    );
    assert_eq!(call(at, "GetHostname", "", admin()).status, 200);
    // The interface as getIPInfo reports it.
    let interfaces = call(at, "GetNetworkInterfaces", "", admin());
    assert_eq!(interfaces.status, 200, "{}", interfaces.body);
    let ip = cam.cgi("getIPInfo", &[]);
    assert_eq!(interfaces.text("Address").unwrap(), ip.get("ip"));
    assert_eq!(interfaces.text("HwAddress").unwrap(), info.get("mac"));
    assert_eq!(
        interfaces.text("DHCP").unwrap(),
        if ip.get("isDHCP") == "1" {
            "true"
        } else {
            "false"
        }
    );

    // Not supported, malformed, oversized: faults, and the service goes on.
    let unknown = call(at, "SetSystemFactoryDefault", "", admin());
    assert_eq!(unknown.status, 500);
    assert!(
        unknown.is_fault("ter:ActionNotSupported"),
        "{}",
        unknown.body
    );
    let malformed = post_with(at, "/onvif/device_service", "<s:Envelope><s:Body><x>", &[]);
    assert_eq!(malformed.status, 400);
    assert!(malformed.is_fault("s:Sender"), "{}", malformed.body);
    let padding = "x".repeat(100 * 1024);
    let oversized = post_with(
        at,
        "/onvif/device_service",
        &envelope("GetSystemDateAndTime", &format!("<!-- {padding} -->"), None),
        &[],
    );
    assert_eq!(oversized.status, 400);
    assert!(oversized.is_fault("s:Sender"));
    assert_eq!(call(at, "GetSystemDateAndTime", "", None).status, 200);
    assert_eq!(cam.cgi("getDevName", &[]).result, 0);
}

#[test]
fn test_onvif_profiles_stream_uri_and_snapshot_uri_are_the_cameras() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let at = onvif_address(&cam);
    let main = [
        ("streamType", "0"),
        ("resolution", "3"),
        ("frameRate", "15"),
        ("GOP", "10"),
        ("bitRate", "524288"),
        ("isVBR", "0"),
    ];
    assert_eq!(cam.cgi("setVideoStreamParam", &main).result, 0);
    let profiles = call(at, "GetProfiles", "", admin());
    assert_eq!(profiles.status, 200, "{}", profiles.body);
    // Main H.264 320x240 at 15 fps, 524 kbit/s; the sub stream is MJPEG (the factory
    // format), scaled from the main picture.
    assert_eq!(profiles.all("Encoding"), ["H264", "JPEG"]);
    assert_eq!(profiles.all("Width")[..2], ["320", "320"]);
    assert_eq!(profiles.all("Height")[..2], ["240", "240"]);
    assert_eq!(profiles.all("FrameRateLimit")[0], "15");
    assert_eq!(profiles.all("BitrateLimit")[0], "524");
    let one = call(
        at,
        "GetProfile",
        "<op:ProfileToken>main</op:ProfileToken>",
        admin(),
    );
    assert_eq!(one.text("Encoding").unwrap(), "H264");
    let none = call(
        at,
        "GetProfile",
        "<op:ProfileToken>third</op:ProfileToken>",
        admin(),
    );
    assert!(none.is_fault("ter:NoProfile"), "{}", none.body);
    let sources = call(at, "GetVideoSources", "", admin());
    assert_eq!(sources.text("Width").unwrap(), "320");

    // The stream URI, credentials added as RTSP clients do: ffprobe decodes 320x240 H.264.
    let setup = "<op:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></op:StreamSetup>";
    let uri = call(
        at,
        "GetStreamUri",
        &format!("{setup}<op:ProfileToken>main</op:ProfileToken>"),
        admin(),
    );
    assert_eq!(uri.status, 200, "{}", uri.body);
    let uri = uri.text("Uri").unwrap();
    let web = cam.base.trim_start_matches("http://");
    assert_eq!(
        uri,
        format!(
            "rtsp://127.0.0.1:{}/videoMain",
            web.split(':').nth(1).unwrap()
        )
    );
    let with_credentials = uri.replacen("rtsp://", "rtsp://admin:@", 1);
    let frames = probe_frames(&with_credentials, "tcp", 5);
    assert!(!frames.is_empty());
    assert!(
        frames.iter().all(|f| f.width == 320 && f.height == 240),
        "{frames:?}"
    );
    // The MJPEG sub stream has no RTSP URI; in H.264 it has.
    let sub = format!("{setup}<op:ProfileToken>sub</op:ProfileToken>");
    let refused = call(at, "GetStreamUri", &sub, admin());
    assert!(
        refused.is_fault("ter:InvalidStreamSetup"),
        "{}",
        refused.body
    );
    assert_eq!(cam.cgi("setSubStreamFormat", &[("format", "0")]).result, 0);
    let sub_uri = call(at, "GetStreamUri", &sub, admin());
    assert!(
        sub_uri.text("Uri").unwrap().ends_with("/videoSub"),
        "{}",
        sub_uri.body
    );

    // The snapshot URI: snapPicture2 on the web port, fetched with credentials, a JPEG.
    let snap = call(
        at,
        "GetSnapshotUri",
        "<op:ProfileToken>main</op:ProfileToken>",
        admin(),
    );
    let snap = snap.text("Uri").unwrap();
    assert_eq!(
        snap,
        format!("http://{web}/cgi-bin/CGIProxy.fcgi?cmd=snapPicture2")
    );
    let response = ureq::get(&format!("{snap}&usr=admin&pwd="))
        .timeout(Duration::from_secs(30))
        .call()
        .unwrap();
    assert_eq!(response.content_type(), "image/jpeg");
    let mut jpeg = Vec::new();
    response.into_reader().read_to_end(&mut jpeg).unwrap();
    let mut decoder =
        zune_jpeg::JpegDecoder::new(zune_jpeg::zune_core::bytestream::ZCursor::new(&jpeg));
    decoder.decode().expect("a JPEG");
    assert_eq!(decoder.dimensions(), Some((320, 240)));
}

#[test]
fn test_onvif_port_moves_live_rolls_back_and_obeys_the_firewall() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let old = onvif_address(&cam);
    assert!(date_time_from([127, 0, 0, 1], old).is_some());
    let port = free_port();
    let reply = cam.cgi("setPortInfo", &[("onvifPort", &port.to_string())]);
    assert_eq!(reply.result, 0);
    let new = SocketAddr::from(([127, 0, 0, 1], port));
    wait_until("the new ONVIF port answers", || {
        date_time_from([127, 0, 0, 1], new).is_some()
    });
    wait_until("the old ONVIF port stops", || {
        TcpStream::connect(old).is_err()
    });
    assert_eq!(
        cam.cgi("getPortInfo", &[]).get("onvifPort"),
        port.to_string()
    );

    // A port in use: -4, nothing stored, ONVIF stays where it is.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    let reply = cam.cgi("setPortInfo", &[("onvifPort", &taken_port)]);
    assert_eq!(reply.result, -4);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        cam.cgi("getPortInfo", &[]).get("onvifPort"),
        port.to_string()
    );
    assert!(date_time_from([127, 0, 0, 1], new).is_some());

    // The firewall: 127.0.0.2 denied (the integer form Foscam clients send), 127.0.0.1 not.
    assert!(date_time_from([127, 0, 0, 2], new).is_some());
    let reply: CgiReply = cam.cgi(
        "setFirewallConfig",
        &[("isEnable", "1"), ("rule", "0"), ("ipList0", "2130706434")],
    );
    assert_eq!(reply.result, 0);
    assert!(date_time_from([127, 0, 0, 2], new).is_none());
    assert!(date_time_from([127, 0, 0, 1], new).is_some());
}
