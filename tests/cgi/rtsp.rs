//! H.264 over RTSP with real clients: ffprobe/ffmpeg (Debian's, installed by
//! scripts/install-deps.sh) against the simulated board on loopback, over TCP-interleaved
//! and UDP, decoding what they receive; and a raw TCP client for the protocol's error paths.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Camera, encode, repo};

/// `rtsp://usr:pwd@127.0.0.1:PORT/PATH`: RTSP shares the web port (Foscam's mediaPort 88 =
/// webPort 88; the simulated board's are both 8088, and the tests listen on a free port).
fn url(cam: &Camera, usr: &str, pwd: &str, path: &str) -> String {
    let host = cam.base.trim_start_matches("http://");
    format!("rtsp://{}:{}@{host}/{path}", encode(usr), encode(pwd))
}

fn host(cam: &Camera) -> String {
    cam.base.trim_start_matches("http://").to_owned()
}

/// One decoded frame as ffprobe reports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decoded {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) key: bool,
}

/// Runs a client program with a hard deadline; answers (success, stdout, stderr).
fn run(program: &str, args: &[&str], limit: Duration) -> (bool, String, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs (scripts/install-deps.sh installs it): {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = out.join().unwrap();
    let err = err.join().unwrap();
    (status.is_some_and(|s| s.success()), out, err)
}

/// ffprobe decodes the first `packets` video packets of `url` over `transport`.
pub(crate) fn probe_frames(url: &str, transport: &str, packets: usize) -> Vec<Decoded> {
    let interval = format!("%+#{packets}");
    let (ok, out, err) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-rtsp_transport",
            transport,
            "-timeout",
            "10000000",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=width,height,key_frame",
            "-read_intervals",
            &interval,
            "-of",
            "compact=p=0",
            url,
        ],
        Duration::from_secs(90),
    );
    assert!(ok, "ffprobe failed on {transport}: {err}");
    out.lines()
        .filter_map(|line| {
            let field = |name: &str| {
                line.split('|')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    .and_then(|v| v.trim().parse::<u32>().ok())
            };
            Some(Decoded {
                width: field("width")?,
                height: field("height")?,
                key: field("key_frame")? == 1,
            })
        })
        .collect()
}

fn key_gaps(frames: &[Decoded]) -> Vec<usize> {
    let keys: Vec<usize> = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| f.key)
        .map(|(i, _)| i)
        .collect();
    keys.windows(2).map(|w| w[1] - w[0]).collect()
}

fn set_main(cam: &Camera, params: &[(&str, &str)]) {
    let mut all = vec![("streamType", "0")];
    all.extend_from_slice(params);
    assert_eq!(cam.cgi("setVideoStreamParam", &all).result, 0);
}

/// A started camera whose main stream is 320x240 at 15 fps, GOP 10.
fn small_camera(dir: &std::path::Path) -> Camera {
    let cam = Camera::start(dir);
    set_main(
        &cam,
        &[
            ("resolution", "3"),
            ("frameRate", "15"),
            ("GOP", "10"),
            ("bitRate", "524288"),
            ("isVBR", "0"),
        ],
    );
    cam
}

#[test]
fn test_rtsp_main_and_sub_decode_over_tcp_and_udp_at_the_configured_size_and_gop() {
    let dir = tempfile::tempdir().unwrap();
    let cam = small_camera(dir.path());
    // The sub stream is MJPEG from the factory; H.264 needs setSubStreamFormat 0.
    assert_eq!(cam.cgi("setSubStreamFormat", &[("format", "0")]).result, 0);
    assert_eq!(
        cam.cgi(
            "setSubVideoStreamParam",
            &[
                ("streamType", "0"),
                ("resolution", "4"),
                ("frameRate", "10"),
                ("GOP", "5")
            ]
        )
        .result,
        0
    );
    for transport in ["tcp", "udp"] {
        let main = probe_frames(&url(&cam, "admin", "", "videoMain"), transport, 60);
        assert!(main.len() >= 50, "{transport}: {} frames", main.len());
        assert!(main.iter().all(|f| (f.width, f.height) == (320, 240)));
        assert!(main[0].key, "the first frame is a key frame");
        let gaps = key_gaps(&main);
        assert!(
            !gaps.is_empty() && gaps.iter().all(|&g| g == 10),
            "{gaps:?}"
        );
        let sub = probe_frames(&url(&cam, "admin", "", "videoSub"), transport, 55);
        assert!(sub.len() >= 50, "{transport}: {} sub frames", sub.len());
        assert!(sub.iter().all(|f| (f.width, f.height) == (320, 180)));
        let gaps = key_gaps(&sub);
        assert!(!gaps.is_empty() && gaps.iter().all(|&g| g == 5), "{gaps:?}");
    }
}

#[test]
fn test_rtsp_cbr_bitrate_follows_the_setting_and_changes_reach_a_connected_viewer() {
    let dir = tempfile::tempdir().unwrap();
    let cam = small_camera(dir.path());
    set_main(&cam, &[("bitRate", "262144")]);
    let out = dir.path().join("ten-seconds.h264");
    let out_arg = out.to_str().unwrap().to_owned();
    let main = url(&cam, "admin", "", "videoMain");
    let (ok, _, err) = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-timeout",
            "10000000",
            "-i",
            &main,
            "-t",
            "10",
            "-c",
            "copy",
            "-f",
            "h264",
            "-y",
            &out_arg,
        ],
        Duration::from_secs(60),
    );
    assert!(ok, "ffmpeg recorded 10 s: {err}");
    let bits = std::fs::metadata(&out).unwrap().len() as f64 * 8.0;
    let rate = bits / 10.0;
    assert!(
        (262_144.0 * 0.7..=262_144.0 * 1.3).contains(&rate),
        "CBR 262144 bit/s measured {rate:.0} bit/s"
    );

    // A viewer stays connected while the resolution changes: its stream switches size at
    // the next GOP.
    let viewer = std::thread::spawn(move || probe_frames(&main, "tcp", 120));
    std::thread::sleep(Duration::from_secs(3));
    set_main(&cam, &[("resolution", "4")]);
    let frames = viewer.join().unwrap();
    let sizes: Vec<(u32, u32)> = frames.iter().map(|f| (f.width, f.height)).collect();
    assert!(sizes.contains(&(320, 240)), "{sizes:?}");
    assert!(sizes.contains(&(320, 180)), "the change reached the viewer");
    assert_eq!(sizes.last(), Some(&(320, 180)));
}

#[test]
fn test_rtsp_viewers_mjpeg_and_snapshots_at_once_and_a_stalled_client_stops_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let cam = small_camera(dir.path());
    // A client that sets up an interleaved session, plays, and never reads again.
    let mut stalled = RawClient::connect(&cam);
    stalled.play_interleaved(&cam, "videoMain");
    let tcp = {
        let u = url(&cam, "admin", "", "videoMain");
        std::thread::spawn(move || probe_frames(&u, "tcp", 60))
    };
    let udp = {
        let u = url(&cam, "admin", "", "videoMain");
        std::thread::spawn(move || probe_frames(&u, "udp", 60))
    };
    let mjpeg = {
        let base = cam.base.clone();
        std::thread::spawn(move || {
            let url = format!("{base}/cgi-bin/CGIStream.cgi?cmd=GetMJStream&usr=admin&pwd=");
            let response = ureq::get(&url).call().expect("MJPEG stream");
            let mut reader = response.into_reader();
            let mut seen = 0usize;
            let mut buf = vec![0u8; 64 * 1024];
            let mut boundaries = 0;
            while boundaries < 20 {
                let n = reader.read(&mut buf).expect("MJPEG data");
                assert!(n > 0);
                seen += n;
                boundaries += buf[..n].windows(8).filter(|w| w == b"--ipcamd").count();
            }
            seen
        })
    };
    for _ in 0..5 {
        let (status, kind, jpeg) =
            cam.get_raw("/cgi-bin/CGIProxy.fcgi?cmd=snapPicture2&usr=admin&pwd=");
        assert_eq!(status, 200);
        assert_eq!(kind, "image/jpeg");
        zune_jpeg::JpegDecoder::new(zune_jpeg::zune_core::bytestream::ZCursor::new(&jpeg))
            .decode()
            .expect("a JPEG");
    }
    for (name, viewer) in [("tcp", tcp), ("udp", udp)] {
        let frames = viewer.join().unwrap();
        assert!(frames.len() >= 50, "{name}: {} frames", frames.len());
    }
    assert!(mjpeg.join().unwrap() > 0);
    drop(stalled);
}

#[test]
fn test_rtsp_accounts_url_special_password_wrong_password_and_mjpeg_sub_stream() {
    let dir = tempfile::tempdir().unwrap();
    let cam = small_camera(dir.path());
    let password = "p@ss:w/rd%?#";
    assert_eq!(
        cam.cgi(
            "addAccount",
            &[
                ("usrName", "viewer"),
                ("usrPwd", password),
                ("privilege", "0")
            ]
        )
        .result,
        0
    );
    // A visitor may watch; the URL carries the password percent-encoded.
    let frames = probe_frames(&url(&cam, "viewer", password, "videoMain"), "tcp", 10);
    assert!(frames.len() >= 5);
    // Wrong password: 401, from ffprobe and on the wire.
    let (ok, _, err) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            &url(&cam, "viewer", "nope", "videoMain"),
        ],
        Duration::from_secs(30),
    );
    assert!(!ok);
    assert!(err.contains("401"), "{err}");
    let mut raw = RawClient::connect(&cam);
    let reply = raw.request(&format!(
        "DESCRIBE rtsp://{}/videoMain RTSP/1.0\r\nCSeq: 2\r\nAuthorization: Basic dmlld2VyOm5vcGU=\r\n\r\n",
        host(&cam)
    ));
    assert!(reply.starts_with("RTSP/1.0 401"), "{reply}");
    assert!(reply.contains("WWW-Authenticate: Basic"));
    assert!(reply.contains("CSeq: 2"));
    // The password never reaches the log.
    let logged: Vec<String> = cam.log.try_iter().collect();
    assert!(
        !logged
            .iter()
            .any(|l| l.contains(password) || l.contains("nope"))
    );
    // The factory sub stream is MJPEG: /videoSub is not there, GetMJStream is.
    let reply = raw.request(&format!(
        "DESCRIBE rtsp://{}/videoSub RTSP/1.0\r\nCSeq: 3\r\nAuthorization: Basic YWRtaW46\r\n\r\n",
        host(&cam)
    ));
    assert!(reply.starts_with("RTSP/1.0 404"), "{reply}");
    let stream = ureq::get(&format!(
        "{}/cgi-bin/CGIStream.cgi?cmd=GetMJStream&usr=admin&pwd=",
        cam.base
    ))
    .call()
    .expect("GetMJStream answers");
    assert_eq!(stream.status(), 200);
    assert!(
        stream
            .header("content-type")
            .unwrap_or("")
            .starts_with("multipart/x-mixed-replace")
    );
}

/// A camera whose board file takes Digest only (`[rtsp] basic_auth = false`), its main
/// stream small.
fn digest_only_camera(dir: &std::path::Path) -> Camera {
    let board = std::fs::read_to_string(repo().join("board/sim.toml")).unwrap()
        + "\n[rtsp]\nbasic_auth = false\n";
    let path = dir.join("board.toml");
    std::fs::write(&path, board).unwrap();
    let cam = Camera::start_with_board(&dir.join("data"), &path);
    set_main(
        &cam,
        &[
            ("resolution", "3"),
            ("frameRate", "15"),
            ("GOP", "10"),
            ("bitRate", "524288"),
        ],
    );
    cam
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        out.push_str(&format!("{b:02x}"));
        out
    })
}

pub(crate) fn hex_md5(text: &str) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(text.as_bytes()))
}

fn hex_sha256(text: &str) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(text.as_bytes()))
}

/// The `WWW-Authenticate` values of a response, in order.
fn challenges(reply: &str) -> Vec<String> {
    reply
        .lines()
        .filter_map(|l| l.strip_prefix("WWW-Authenticate: "))
        .map(str::to_owned)
        .collect()
}

/// A challenge's parameter (quoted or not).
fn param(challenge: &str, name: &str) -> Option<String> {
    challenge
        .split(", ")
        .flat_map(|part| part.split(' '))
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .map(|v| v.trim_matches('"').to_owned())
}

/// `Authorization: Digest …` (qop=auth) for `method uri`, as RFC 2617 section 3.2.2 computes
/// it, with MD5 or SHA-256.
fn digest_header(
    sha256: bool,
    user: &str,
    password: &str,
    nonce: &str,
    method: &str,
    uri: &str,
) -> String {
    let h = |text: &str| {
        if sha256 {
            hex_sha256(text)
        } else {
            hex_md5(text)
        }
    };
    let ha1 = h(&format!("{user}:ipcamd:{password}"));
    let ha2 = h(&format!("{method}:{uri}"));
    let response = h(&format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
    let algorithm = if sha256 { "SHA-256" } else { "MD5" };
    format!(
        "Authorization: Digest username=\"{user}\", realm=\"ipcamd\", nonce=\"{nonce}\", \
         uri=\"{uri}\", response=\"{response}\", algorithm={algorithm}, qop=auth, nc=00000001, \
         cnonce=\"c0ffee\"\r\n"
    )
}

#[test]
fn test_rtsp_digest_only_camera_serves_ffprobe_and_checks_responses_nonces_and_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cam = digest_only_camera(dir.path());
    let h = host(&cam);
    let password = "p@ss:w/rd%?#\"x\"";
    assert_eq!(
        cam.cgi(
            "addAccount",
            &[
                ("usrName", "viewer"),
                ("usrPwd", password),
                ("privilege", "0")
            ]
        )
        .result,
        0
    );
    // ffprobe turns the URL's percent-encoded credentials into Digest: the camera takes
    // nothing else.
    let frames = probe_frames(&url(&cam, "viewer", password, "videoMain"), "tcp", 10);
    assert!(frames.len() >= 5, "{} frames", frames.len());
    assert!(probe_frames(&url(&cam, "admin", "", "videoMain"), "udp", 5).len() >= 3);
    let (ok, _, err) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            &url(&cam, "viewer", "nope", "videoMain"),
        ],
        Duration::from_secs(30),
    );
    assert!(!ok);
    assert!(err.contains("401"), "{err}");

    // The 401 offers Digest with SHA-256, then MD5, one header each, and no Basic.
    let mut raw = RawClient::connect(&cam);
    let uri = format!("rtsp://{h}/videoMain");
    let reply = raw.request(&format!("DESCRIBE {uri} RTSP/1.0\r\nCSeq: 1\r\n\r\n"));
    assert!(reply.starts_with("RTSP/1.0 401"), "{reply}");
    let offered = challenges(&reply);
    assert_eq!(offered.len(), 2, "{offered:?}");
    assert!(offered[0].starts_with("Digest realm=\"ipcamd\", nonce=\""));
    assert_eq!(param(&offered[0], "algorithm").as_deref(), Some("SHA-256"));
    assert_eq!(param(&offered[1], "algorithm").as_deref(), Some("MD5"));
    assert_eq!(param(&offered[1], "qop").as_deref(), Some("auth"));
    assert_eq!(param(&offered[1], "stale"), None);
    let nonce = param(&offered[1], "nonce").unwrap();
    // Basic is refused on this board even with the right password.
    let basic = raw.request(&format!(
        "DESCRIBE {uri} RTSP/1.0\r\nCSeq: 2\r\nAuthorization: Basic YWRtaW46\r\n\r\n"
    ));
    assert!(basic.starts_with("RTSP/1.0 401"), "{basic}");
    // The right MD5 and SHA-256 responses pass; a wrong one, or one for another URI, does not.
    for (cseq, sha) in [(3, false), (4, true)] {
        let ok = raw.request(&format!(
            "DESCRIBE {uri} RTSP/1.0\r\nCSeq: {cseq}\r\n{}\r\n",
            digest_header(sha, "viewer", password, &nonce, "DESCRIBE", &uri)
        ));
        assert!(ok.starts_with("RTSP/1.0 200"), "sha256={sha}: {ok}");
    }
    let wrong = raw.request(&format!(
        "DESCRIBE {uri} RTSP/1.0\r\nCSeq: 5\r\n{}\r\n",
        digest_header(false, "viewer", "nope", &nonce, "DESCRIBE", &uri)
    ));
    assert!(wrong.starts_with("RTSP/1.0 401"), "{wrong}");
    assert_eq!(param(&challenges(&wrong)[1], "stale"), None);
    let elsewhere = raw.request(&format!(
        "DESCRIBE {uri} RTSP/1.0\r\nCSeq: 6\r\n{}\r\n",
        digest_header(
            false,
            "viewer",
            password,
            &nonce,
            "DESCRIBE",
            "rtsp://x/videoSub"
        )
    ));
    assert!(elsewhere.starts_with("RTSP/1.0 400"), "{elsewhere}");
    // A nonce the camera did not issue in this boot, answered correctly: stale=true with a
    // fresh nonce (the client retries without asking its user); answered wrongly: no stale.
    let old_nonce = "00000000002a0123456789abcdef0123456789abcdef";
    let mut fresh = RawClient::connect(&cam);
    let stale = fresh.request(&format!(
        "DESCRIBE {uri} RTSP/1.0\r\nCSeq: 1\r\n{}\r\n",
        digest_header(false, "viewer", password, old_nonce, "DESCRIBE", &uri)
    ));
    assert!(stale.starts_with("RTSP/1.0 401"), "{stale}");
    let renewed = challenges(&stale);
    assert_eq!(
        param(&renewed[1], "stale").as_deref(),
        Some("true"),
        "{stale}"
    );
    assert_ne!(param(&renewed[1], "nonce").as_deref(), Some(old_nonce));
    let retry = fresh.request(&format!(
        "DESCRIBE {uri} RTSP/1.0\r\nCSeq: 2\r\n{}\r\n",
        digest_header(
            false,
            "viewer",
            password,
            &param(&renewed[1], "nonce").unwrap(),
            "DESCRIBE",
            &uri
        )
    ));
    assert!(retry.starts_with("RTSP/1.0 200"), "{retry}");
    let guess = fresh.request(&format!(
        "DESCRIBE {uri} RTSP/1.0\r\nCSeq: 3\r\n{}\r\n",
        digest_header(false, "viewer", "nope", old_nonce, "DESCRIBE", &uri)
    ));
    assert_eq!(param(&challenges(&guess)[1], "stale"), None, "{guess}");

    // A rename without the password forgets the Digest secret (it hashes the name); the next
    // CGI request with the password brings it back.
    assert_eq!(
        cam.cgi(
            "changeUserName",
            &[("usrName", "viewer"), ("newUsrName", "watcher")]
        )
        .result,
        0
    );
    let (ok, _, err) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            &url(&cam, "watcher", password, "videoMain"),
        ],
        Duration::from_secs(30),
    );
    assert!(!ok && err.contains("401"), "no Digest secret yet: {err}");
    assert_eq!(
        cam.cgi_as("watcher", password, "getSubVideoStreamParam", &[])
            .result,
        0
    );
    assert!(probe_frames(&url(&cam, "watcher", password, "videoMain"), "tcp", 5).len() >= 3);

    // Neither passwords nor their Digest secrets reach the log.
    let ha1 = hex_md5(&format!("watcher:ipcamd:{password}"));
    let logged: Vec<String> = cam.log.try_iter().collect();
    assert!(
        !logged
            .iter()
            .any(|l| l.contains(password) || l.contains("nope") || l.contains(&ha1)),
        "{logged:?}"
    );

    // Wrong Digest responses count towards the CGI's lock-out of the address.
    let mut guesser = RawClient::connect(&cam);
    for cseq in 1..=5 {
        let wrong = guesser.request(&format!(
            "DESCRIBE {uri} RTSP/1.0\r\nCSeq: {cseq}\r\n{}\r\n",
            digest_header(false, "admin", "guess", &nonce, "DESCRIBE", &uri)
        ));
        assert!(wrong.starts_with("RTSP/1.0 401"), "{wrong}");
    }
    let locked = guesser.request(&format!(
        "DESCRIBE {uri} RTSP/1.0\r\nCSeq: 6\r\n{}\r\n",
        digest_header(false, "admin", "", &nonce, "DESCRIBE", &uri)
    ));
    assert!(locked.starts_with("RTSP/1.0 401"), "locked out: {locked}");
    assert_ne!(cam.cgi("getDevState", &[]).result, 0, "the CGI too");
}

#[test]
fn test_rtsp_ffmpeg_picks_digest_when_basic_is_offered_too() {
    let dir = tempfile::tempdir().unwrap();
    let cam = small_camera(dir.path());
    let mut raw = RawClient::connect(&cam);
    let reply = raw.request(&format!(
        "DESCRIBE rtsp://{}/videoMain RTSP/1.0\r\nCSeq: 1\r\n\r\n",
        host(&cam)
    ));
    let offered = challenges(&reply);
    assert_eq!(offered.len(), 3, "{offered:?}");
    assert_eq!(offered[2], "Basic realm=\"ipcamd\"");
    // ffprobe's trace log shows each request it sends.
    let (ok, _, err) = run(
        "ffprobe",
        &[
            "-v",
            "trace",
            "-rtsp_transport",
            "tcp",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height",
            &url(&cam, "admin", "", "videoMain"),
        ],
        Duration::from_secs(60),
    );
    assert!(ok, "{err}");
    assert!(err.contains("Authorization: Digest "), "{err}");
    assert!(!err.contains("Authorization: Basic"), "{err}");
}

#[test]
fn test_rtsp_protocol_errors_answer_or_close_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let cam = small_camera(dir.path());
    let h = host(&cam);
    let auth = "Authorization: Basic YWRtaW46\r\n";
    // Missing CSeq: 400; the connection stays usable.
    let mut c = RawClient::connect(&cam);
    assert!(
        c.request(&format!("OPTIONS rtsp://{h}/videoMain RTSP/1.0\r\n\r\n"))
            .starts_with("RTSP/1.0 400")
    );
    let options = c.request(&format!(
        "OPTIONS rtsp://{h}/videoMain RTSP/1.0\r\nCSeq: 1\r\n\r\n"
    ));
    assert!(options.starts_with("RTSP/1.0 200"), "{options}");
    assert!(options.contains("DESCRIBE") && options.contains("GET_PARAMETER"));
    // SETUP before DESCRIBE: 455; unknown path: 404; PLAY without a session: 454.
    let setup = c.request(&format!(
        "SETUP rtsp://{h}/videoMain/trackID=0 RTSP/1.0\r\nCSeq: 2\r\n{auth}Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
    ));
    assert!(setup.starts_with("RTSP/1.0 455"), "{setup}");
    let missing = c.request(&format!(
        "DESCRIBE rtsp://{h}/videoOther RTSP/1.0\r\nCSeq: 3\r\n{auth}\r\n"
    ));
    assert!(missing.starts_with("RTSP/1.0 404"), "{missing}");
    let play = c.request(&format!(
        "PLAY rtsp://{h}/videoMain RTSP/1.0\r\nCSeq: 4\r\n{auth}Session: 1234\r\n\r\n"
    ));
    assert!(play.starts_with("RTSP/1.0 454"), "{play}");
    // Interleaved data from the client is read and ignored.
    c.send(b"$\x01\x00\x04abcd");
    let again = c.request("OPTIONS * RTSP/1.0\r\nCSeq: 5\r\n\r\n");
    assert!(again.starts_with("RTSP/1.0 200"), "{again}");
    // Garbage: an error or a closed connection.
    let mut g = RawClient::connect(&cam);
    g.send(b"DESCRIBE \x00\x01\x02 RTSP/1.0\r\nCSeq: x\r\n\r\n");
    let answer = g.read_some();
    assert!(
        answer.is_empty() || answer.starts_with("RTSP/1.0 4"),
        "{answer}"
    );
    // Oversized headers: refused, connection closed.
    let mut big = RawClient::connect(&cam);
    let header = format!(
        "DESCRIBE rtsp://{h}/videoMain RTSP/1.0\r\nCSeq: 1\r\nX-Big: {}\r\n",
        "a".repeat(20_000)
    );
    big.send(header.as_bytes());
    let answer = big.read_some();
    assert!(
        answer.is_empty() || answer.starts_with("RTSP/1.0 4"),
        "{answer}"
    );
    // A full session with TEARDOWN, then the camera still answers both protocols.
    let mut s = RawClient::connect(&cam);
    s.play_interleaved(&cam, "videoMain");
    let teardown = s.request_after_data(&format!(
        "TEARDOWN rtsp://{h}/videoMain RTSP/1.0\r\nCSeq: 9\r\n{auth}Session: {}\r\n\r\n",
        s.session
    ));
    assert!(teardown.contains("RTSP/1.0 200"), "{teardown}");
    assert_eq!(cam.cgi("getDevState", &[]).result, 0);
    assert!(probe_frames(&url(&cam, "admin", "", "videoMain"), "tcp", 5).len() >= 3);
    // setMainVideoStreamType picks which of the four parameter sets is live.
    assert_eq!(
        cam.cgi(
            "setVideoStreamParam",
            &[("streamType", "2"), ("resolution", "4"), ("GOP", "6")]
        )
        .result,
        0
    );
    assert_eq!(
        cam.cgi("setMainVideoStreamType", &[("streamType", "2")])
            .result,
        0
    );
    let frames = probe_frames(&url(&cam, "admin", "", "videoMain"), "tcp", 20);
    assert!(
        frames.iter().all(|f| (f.width, f.height) == (320, 180)),
        "{frames:?}"
    );
    assert!(key_gaps(&frames).iter().all(|&g| g == 6));
}

/// A hand-driven RTSP client for the error paths (ffmpeg never sends these).
struct RawClient {
    stream: TcpStream,
    session: String,
}

impl RawClient {
    fn connect(cam: &Camera) -> RawClient {
        let stream = TcpStream::connect(host(cam)).expect("connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        RawClient {
            stream,
            session: String::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// What arrives until the server pauses or closes.
    fn read_some(&mut self) -> String {
        let mut buf = vec![0u8; 4096];
        match self.stream.read(&mut buf) {
            Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(_) => String::new(),
        }
    }

    /// Sends a request and reads one response head (and body, by Content-Length).
    fn request(&mut self, text: &str) -> String {
        self.send(text.as_bytes());
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while !got.ends_with(b"\r\n\r\n") {
            match self.stream.read(&mut byte) {
                Ok(1) => got.push(byte[0]),
                _ => break,
            }
        }
        let head = String::from_utf8_lossy(&got).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        let _ = self.stream.read_exact(&mut body);
        head + &String::from_utf8_lossy(&body)
    }

    /// Sends a request while RTP data is flowing and reads until its response shows up.
    fn request_after_data(&mut self, text: &str) -> String {
        self.send(text.as_bytes());
        let mut seen = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let Ok(n) = self.stream.read(&mut buf) else {
                break;
            };
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if let Some(at) = seen.windows(9).position(|w| w == b"RTSP/1.0 ") {
                if seen[at..].windows(4).any(|w| w == b"\r\n\r\n") {
                    return String::from_utf8_lossy(&seen[at..]).into_owned();
                }
            }
        }
        String::new()
    }

    /// DESCRIBE, SETUP (interleaved) and PLAY as the admin.
    fn play_interleaved(&mut self, cam: &Camera, path: &str) {
        let h = host(cam);
        let auth = "Authorization: Basic YWRtaW46\r\n";
        let describe = self.request(&format!(
            "DESCRIBE rtsp://{h}/{path} RTSP/1.0\r\nCSeq: 1\r\n{auth}Accept: application/sdp\r\n\r\n"
        ));
        assert!(describe.starts_with("RTSP/1.0 200"), "{describe}");
        assert!(describe.contains("sprop-parameter-sets="), "{describe}");
        let setup = self.request(&format!(
            "SETUP rtsp://{h}/{path}/trackID=0 RTSP/1.0\r\nCSeq: 2\r\n{auth}Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
        ));
        assert!(setup.starts_with("RTSP/1.0 200"), "{setup}");
        self.session = setup
            .lines()
            .find_map(|l| l.strip_prefix("Session: "))
            .and_then(|v| v.split(';').next())
            .expect("Session header")
            .trim()
            .to_owned();
        let play = self.request(&format!(
            "PLAY rtsp://{h}/{path} RTSP/1.0\r\nCSeq: 3\r\n{auth}Session: {}\r\n\r\n",
            self.session
        ));
        assert!(play.starts_with("RTSP/1.0 200"), "{play}");
    }
}

/// An RTSP OPTIONS answer from `address`, if it speaks RTSP there.
fn rtsp_options(address: &str) -> Option<String> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream
        .write_all(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n")
        .ok()?;
    let mut buf = vec![0u8; 1024];
    let n = stream.read(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    text.starts_with("RTSP/1.0 200").then_some(text)
}

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn test_rtsp_moves_to_the_media_port_set_by_set_port_info_and_back_to_the_web_port() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let web = host(&cam);
    assert!(rtsp_options(&web).is_some(), "mediaPort = webPort: shared");
    let media_port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let ports = cam.cgi("getPortInfo", &[]);
    let web_port = ports.get("webPort").to_owned();
    assert_eq!(ports.get("mediaPort"), web_port);
    let media = media_port.to_string();
    assert_eq!(cam.cgi("setPortInfo", &[("mediaPort", &media)]).result, 0);
    let own = format!("127.0.0.1:{media_port}");
    eventually("RTSP answers on the new media port", || {
        rtsp_options(&own).is_some()
    });
    eventually("the web port is HTTP only", || rtsp_options(&web).is_none());
    assert_eq!(cam.cgi("getDevState", &[]).result, 0);
    let frames = probe_frames(&format!("rtsp://admin:@{own}/videoMain"), "tcp", 5);
    assert!(frames.len() >= 3);
    assert_eq!(
        cam.cgi("setPortInfo", &[("mediaPort", &web_port)]).result,
        0
    );
    eventually("back on the web port", || rtsp_options(&web).is_some());
    eventually("the media port is closed", || {
        TcpStream::connect(&own).is_err()
    });
}

/// Records `seconds` of `url` with `ffmpeg -c copy` into an Annex-B file.
fn record_h264(url: &str, out: &std::path::Path, seconds: u32) {
    let seconds = seconds.to_string();
    let (ok, _, err) = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-timeout",
            "10000000",
            "-i",
            url,
            "-t",
            &seconds,
            "-c",
            "copy",
            "-f",
            "h264",
            "-y",
            out.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert!(ok, "ffmpeg recorded: {err}");
}

/// The NAL units of an Annex-B stream, each with its start code.
fn nal_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i..i + 3] == [0, 0, 1] {
            starts.push(if i > 0 && stream[i - 1] == 0 {
                i - 1
            } else {
                i
            });
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(n, &at)| &stream[at..starts.get(n + 1).copied().unwrap_or(stream.len())])
        .collect()
}

/// A NAL unit's header byte (after its start code).
fn nal_header(nal: &[u8]) -> u8 {
    let code = if nal.starts_with(&[0, 0, 0, 1]) { 4 } else { 3 };
    nal.get(code).copied().unwrap_or(0)
}

/// One letter per coded picture of an Annex-B stream (its slice NAL units): `I` an IDR,
/// `R` a picture others may reference (`nal_ref_idc` > 0), `d` one nothing references.
fn reference_pattern(stream: &[u8]) -> String {
    nal_units(stream)
        .into_iter()
        .filter_map(|nal| {
            let header = nal_header(nal);
            match header & 0x1f {
                5 => Some('I'),
                1 if header & 0x60 == 0 => Some('d'),
                1 => Some('R'),
                _ => None,
            }
        })
        .collect()
}

/// Frames ffprobe decodes from a file, and whether it reported errors.
fn decode_file(path: &std::path::Path) -> (usize, String) {
    let (ok, out, err) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            path.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert!(ok, "ffprobe decoded the file: {err}");
    (out.trim().parse().unwrap_or(0), err)
}

#[test]
fn test_h264_frame_reference_mode_1_makes_droppable_pictures_in_the_rtsp_stream() {
    let dir = tempfile::tempdir().unwrap();
    let cam = small_camera(dir.path());
    // VBR: the encoder skips no picture, so the layer pattern is exact.
    set_main(&cam, &[("isVBR", "1")]);
    assert_eq!(cam.cgi("setH264FrmRefMode", &[("mode", "2")]).result, -1);
    assert_eq!(cam.cgi("getH264FrmRefMode", &[]).get("mode"), "0");
    let main = url(&cam, "admin", "", "videoMain");
    let plain = dir.path().join("mode0.h264");
    record_h264(&main, &plain, 3);
    let pattern = reference_pattern(&std::fs::read(&plain).unwrap());
    assert!(pattern.len() >= 20, "{pattern}");
    assert!(
        !pattern.contains('d'),
        "mode 0 references every picture: {pattern}"
    );

    assert_eq!(cam.cgi("setH264FrmRefMode", &[("mode", "1")]).result, 0);
    assert_eq!(cam.cgi("getH264FrmRefMode", &[]).get("mode"), "1");
    let layered = dir.path().join("mode1.h264");
    record_h264(&main, &layered, 4);
    let bytes = std::fs::read(&layered).unwrap();
    let pattern = reference_pattern(&bytes);
    // Three temporal layers: base pictures four apart, a second-layer one midway, the two
    // others droppable; an IDR every GOP (10) as set.
    let gops: Vec<&str> = pattern.split('I').skip(1).collect();
    assert!(gops.len() >= 4, "{pattern}");
    for gop in &gops[..gops.len() - 1] {
        assert_eq!(*gop, "dRdRdRdRd", "{pattern}");
    }
    assert!("dRdRdRdRd".starts_with(gops[gops.len() - 1]), "{pattern}");
    // Every picture decodes.
    let (decoded, errors) = decode_file(&layered);
    assert_eq!(decoded, pattern.len(), "{errors}");
    assert!(errors.trim().is_empty(), "{errors}");
    // The pictures nothing references can be dropped: what is left still decodes cleanly.
    let kept: Vec<u8> = nal_units(&bytes)
        .into_iter()
        .filter(|nal| nal_header(nal) & 0x7f != 0x01)
        .flatten()
        .copied()
        .collect();
    let halved = dir.path().join("mode1-halved.h264");
    std::fs::write(&halved, &kept).unwrap();
    let (decoded, errors) = decode_file(&halved);
    assert_eq!(decoded, pattern.matches(['I', 'R']).count(), "{errors}");
    assert!(errors.trim().is_empty(), "{errors}");
    assert_eq!(cam.cgi("setH264FrmRefMode", &[("mode", "0")]).result, 0);
}

#[test]
fn test_daemon_streams_stop_cleanly_in_process_even_after_the_runtime() {
    use ipcamd::streams::{StreamId, SubscribeOptions};
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let options = ipcamd::daemon::Options {
        board: repo().join("board/sim.toml"),
        data: dir.path().to_path_buf(),
        listen: Some("127.0.0.1:0".parse().unwrap()),
    };
    let mut started = runtime.block_on(ipcamd::daemon::start(&options)).unwrap();
    started.launch().unwrap();
    let ctx = started.ctx.clone();
    let wait = Duration::from_secs(30);
    let mut viewer = ctx
        .streams
        .subscribe(StreamId::Main, SubscribeOptions::default());
    let first = viewer.recv_timeout(wait).unwrap().expect("a frame");
    assert!(first.keyframe);
    // The runtime goes first, as when the daemon returns from main: the encoder thread goes
    // on (it used a tokio timer, which panicked then).
    drop(started);
    runtime.shutdown_timeout(Duration::from_secs(5));
    for _ in 0..3 {
        viewer
            .recv_timeout(wait)
            .unwrap()
            .expect("frames after the runtime stopped");
    }
    assert!(
        ctx.streams.stop(wait),
        "the encoder thread ended without panicking"
    );
    assert!(
        viewer.recv_timeout(wait).is_err(),
        "its viewer sees the end"
    );
}
