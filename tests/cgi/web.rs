//! The web interface's HTTP side without a browser: the embedded page and its headers, and
//! CGI credentials carried in an `Authorization: Basic` header (the page's way) with the same
//! authentication, privilege checks and result codes as credentials in the query.

use std::time::Duration;

use base64::Engine as _;

use crate::support::{Camera, CgiReply};

fn get(cam: &Camera, path: &str, headers: &[(&str, &str)]) -> (u16, ureq::Response) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let mut request = agent.get(&format!("{}{path}", cam.base));
    for (k, v) in headers {
        request = request.set(k, v);
    }
    match request.call() {
        Ok(r) => (r.status(), r),
        Err(ureq::Error::Status(code, r)) => (code, r),
        Err(e) => panic!("HTTP request failed: {e}"),
    }
}

fn basic(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

fn cgi_with_header(cam: &Camera, query: &str, authorization: &str) -> CgiReply {
    let path = format!("/cgi-bin/CGIProxy.fcgi?{query}");
    let (status, response) = get(cam, &path, &[("Authorization", authorization)]);
    assert_eq!(status, 200);
    CgiReply::parse(&response.into_string().unwrap())
}

#[test]
fn test_page_is_served_compressed_with_its_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let (status, page) = get(&cam, "/", &[("Accept-Encoding", "gzip")]);
    assert_eq!(status, 200);
    assert_eq!(page.header("content-encoding"), Some("gzip"));
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.header("content-security-policy").unwrap().to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    let etag = page.header("etag").unwrap().to_owned();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut page.into_reader(), &mut body).unwrap();
    assert_eq!(&body[..2], &[0x1f, 0x8b], "gzip bytes");
    let (again, _) = get(&cam, "/", &[("If-None-Match", &etag)]);
    assert_eq!(again, 304);
    for asset in ["/web/app.js", "/web/app.css", "/web/commands.json"] {
        assert_eq!(get(&cam, asset, &[]).0, 200, "{asset}");
    }
    assert_eq!(get(&cam, "/web/../README.md", &[]).0, 404);
    assert_eq!(get(&cam, "/web/nothing.js", &[]).0, 404);
    assert_eq!(get(&cam, "/", &[("Accept-Encoding", "identity")]).0, 406);
}

#[test]
fn test_header_credentials_authenticate_like_query_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    cam.cgi(
        "addAccount",
        &[
            ("usrName", "guest"),
            ("usrPwd", "p&w=d+%"),
            ("privilege", "0"),
        ],
    );
    // The right password, with characters that mean something in a query, as a visitor.
    let guest = basic("guest", "p&w=d+%");
    let product = cgi_with_header(&cam, "cmd=getProductModel", &guest);
    assert_eq!(product.result, 0);
    assert_eq!(
        cgi_with_header(&cam, "cmd=getDevState", &guest).result,
        -3,
        "a visitor may not read the device state"
    );
    assert_eq!(
        cgi_with_header(&cam, "cmd=getProductModel", &basic("guest", "wrong")).result,
        -2
    );
    // The header wins over credentials in the query.
    let mixed = cgi_with_header(&cam, "cmd=getDevState&usr=admin&pwd=", &guest);
    assert_eq!(mixed.result, -3);
    assert_eq!(
        cgi_with_header(&cam, "cmd=getDevState", &basic("admin", "")).result,
        0
    );
    // The authenticated GET files take the header too.
    let (status, response) = get(
        &cam,
        "/cgi-bin/CGIProxy.fcgi?cmd=snapPicture2",
        &[("Authorization", &guest)],
    );
    assert_eq!(status, 200);
    assert_eq!(response.header("content-type"), Some("image/jpeg"));
    let (status, _) = get(&cam, "/debug/state.json", &[("Authorization", &guest)]);
    assert_eq!(status, 403, "the debug state is for administrators");
    let (status, _) = get(
        &cam,
        "/debug/state.json",
        &[("Authorization", &basic("admin", ""))],
    );
    assert_eq!(status, 200);
}

#[test]
fn test_the_status_strip_is_for_any_account_and_follows_the_camera() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    cam.cgi(
        "addAccount",
        &[("usrName", "guest"), ("usrPwd", "g"), ("privilege", "0")],
    );
    let guest = basic("guest", "g");
    let read = |cam: &Camera| -> serde_json::Value {
        let (status, response) = get(cam, "/web/status.json", &[("Authorization", &guest)]);
        assert_eq!(status, 200);
        assert_eq!(response.header("content-type"), Some("application/json"));
        serde_json::from_str(&response.into_string().unwrap()).unwrap()
    };
    let before = read(&cam);
    let names: Vec<&str> = before
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for name in [
        "IOAlarm",
        "motionDetectAlarm",
        "record",
        "sdState",
        "infraLedState",
    ] {
        assert!(names.contains(&name), "{name} in {before}");
    }
    // The same values getDevState gives an administrator.
    let admin = cam.cgi("getDevState", &[]);
    for (name, value) in before.as_object().unwrap() {
        assert_eq!(admin.get(name), value.to_string(), "{name}");
    }
    // The IR LED switched on by an operator shows in the visitor's strip.
    assert_eq!(cam.cgi("setInfraLedConfig", &[("mode", "1")]).result, 0);
    assert_eq!(cam.cgi("openInfraLed", &[]).result, 0);
    assert_eq!(read(&cam)["infraLedState"], 1);
    assert_eq!(cam.cgi("closeInfraLed", &[]).result, 0);
    assert_eq!(read(&cam)["infraLedState"], 0);
    // Without credentials, or with wrong ones: refused, and no state given away.
    assert_eq!(get(&cam, "/web/status.json", &[]).0, 401);
    assert_eq!(
        get(
            &cam,
            "/web/status.json",
            &[("Authorization", &basic("guest", "x"))]
        )
        .0,
        401
    );
}
