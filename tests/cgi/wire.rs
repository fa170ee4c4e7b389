//! The wire format real clients rely on.

use crate::support::{Camera, CgiReply};

#[test]
fn test_unknown_command_and_missing_cmd_answer_format_error_with_http_200() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    assert_eq!(cam.cgi("noSuchCommand", &[]).result, -1);
    assert_eq!(cam.cgi_query("usr=admin&pwd=").result, -1);
    assert_eq!(cam.cgi_query("").result, -1);
}

#[test]
fn test_other_paths_are_404_never_files() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    // `/` is the web interface's page (tests/cgi/web.rs); nothing else is a file.
    for path in [
        "/web/../ipcamd.db",
        "/web/nothing.js",
        "/etc/passwd",
        "/cgi-bin/../board/sim.toml",
        "/cgi-bin/other.cgi",
        "/ipcamd.db",
    ] {
        let (status, _, _) = cam.get_raw(path);
        assert_eq!(status, 404, "{path}");
    }
}

#[test]
fn test_query_forms_from_the_guide_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let encoded = cam.cgi_query("usr%3Dadmin%26pwd%3D%26cmd%3DgetIPInfo");
    assert_eq!(encoded.result, 0);
    assert!(encoded.fields.contains_key("isDHCP"));
    let spaced = cam.cgi_query("cmd=%20getDevName&&usr=admin&pwd=");
    assert_eq!(spaced.result, 0);
    let (status, _, body) = cam.get_raw("/cgi-bin/CGIProxy.fcgi&usr=admin&pwd=&cmd=getDevName");
    assert_eq!(status, 200);
    assert_eq!(
        CgiReply::parse(std::str::from_utf8(&body).unwrap()).result,
        0
    );
    assert_eq!(
        cam.cgi("getCuriseTime", &[]).result,
        0,
        "the guide's misspelling works"
    );
}

#[test]
fn test_get_port_info_needs_no_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let reply = cam.cgi_query("cmd=getPortInfo");
    assert_eq!(reply.result, 0);
    assert_eq!(reply.get("webPort"), "8088");
    assert_eq!(cam.cgi_query("cmd=getDevName").result, -2);
}

#[test]
fn test_integer_parameters_sent_as_floats_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    assert_eq!(cam.cgi("setPTZSpeed", &[("speed", "3.0")]).result, 0);
    assert_eq!(cam.cgi("getPTZSpeed", &[]).get("speed"), "3");
    assert_eq!(cam.cgi("setPTZSpeed", &[("speed", "3.5")]).result, -1);
}

#[test]
fn test_plus_is_a_space_in_values_and_extra_parameters_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let reply = cam.cgi_query("cmd=setDevName&devName=front+door&usr=admin&pwd=&_=12345&foo=bar");
    assert_eq!(reply.result, 0);
    assert_eq!(cam.cgi("getDevName", &[]).get("devName"), "front door");
}

#[test]
fn test_gbk_device_name_is_decoded_and_replied_in_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    assert_eq!(
        cam.cgi_query("cmd=setDevName&devName=%C3%C5%BF%DA&usr=admin&pwd=")
            .result,
        0
    );
    assert_eq!(cam.cgi("getDevName", &[]).get("devName"), "门口");
}

#[test]
fn test_product_all_info_has_integer_model_and_reserves() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let reply = cam.cgi("getProductAllInfo", &[]);
    assert_eq!(reply.result, 0);
    for field in ["model", "reserve3", "reserve4", "ptFlag", "zoomFlag"] {
        reply
            .get(field)
            .parse::<i64>()
            .unwrap_or_else(|_| panic!("{field} is an integer"));
    }
    assert_eq!(reply.order.first().map(String::as_str), Some("model"));
}

#[test]
fn test_xml_specials_are_escaped_in_replies() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    assert_eq!(cam.cgi("setDevName", &[("devName", "<cam>&\"'")]).result, 0);
    assert_eq!(cam.cgi("getDevName", &[]).get("devName"), "<cam>&\"'");
}

#[test]
fn test_oversized_requests_are_refused_and_the_daemon_lives_on() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let long = "x".repeat(5000);
    assert_eq!(cam.cgi("setDevName", &[("devName", &long)]).result, -1);
    let many = (0..400).fold(String::new(), |mut q, i| {
        q.push_str(&format!("&p{i}=1"));
        q
    });
    assert_eq!(
        cam.cgi_query(&format!("cmd=getDevName&usr=admin&pwd={many}"))
            .result,
        -1
    );
    let (status, _, _) = cam.get_raw(&format!(
        "/cgi-bin/CGIProxy.fcgi?cmd=getDevName&x={}",
        "y".repeat(20_000)
    ));
    assert!(status >= 400, "huge request line refused with {status}");
    assert_eq!(cam.cgi("getDevName", &[]).result, 0, "daemon still serves");
}

#[test]
fn test_first_log_line_says_where_and_which_board() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    assert!(
        cam.first_line.contains("listening on http://127.0.0.1:"),
        "{}",
        cam.first_line
    );
    assert!(
        cam.first_line.contains("ipcamd simulated camera"),
        "{}",
        cam.first_line
    );
}
