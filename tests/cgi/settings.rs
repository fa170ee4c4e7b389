//! Every configuration pair of the guide round-trips through HTTP and survives a restart; bad
//! input is refused with -1 and changes nothing.

use std::collections::BTreeMap;

use ipcamd::cgi::commands::config::example_value;
use ipcamd::cgi::table;

use crate::support::Camera;

/// (section, setter, parameters).
type ExampleRequest = (&'static str, &'static str, Vec<(String, String)>);

/// The plain get/set configuration commands: (section, command name, is a getter).
fn plain_commands() -> Vec<(&'static str, &'static str, bool)> {
    table::all()
        .filter(|(decl, _)| decl.plain)
        .filter_map(|(decl, spec)| Some((decl.settings?, spec.name, spec.name.starts_with("get"))))
        .collect()
}

/// The plain getters of a section.
fn getters(section: &str) -> Vec<&'static str> {
    plain_commands()
        .into_iter()
        .filter(|(s, _, is_get)| *s == section && *is_get)
        .map(|(_, name, _)| name)
        .collect()
}

/// For every setter: a full set of valid, non-default values.
fn example_requests() -> Vec<ExampleRequest> {
    let mut out = Vec::new();
    for (section, setter, is_get) in plain_commands() {
        if is_get {
            continue;
        }
        let (_, spec) = table::find(setter).unwrap();
        let mut values: Vec<(String, String)> = spec
            .params
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.to_owned(), example_value(section, f, i)))
            .collect();
        if section == "sub_stream_format" {
            // The examples record the sub stream (chn 1), which needs it in H.264.
            values = vec![("format".to_owned(), "0".to_owned())];
        }
        out.push((section, setter, values));
    }
    out
}

fn read_back(cam: &Camera) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut all = BTreeMap::new();
    for (_, getter, is_get) in plain_commands() {
        if is_get {
            let reply = cam.cgi(getter, &[]);
            assert_eq!(reply.result, 0, "{getter}");
            all.insert(getter.to_string(), reply.fields);
        }
    }
    all
}

#[test]
fn test_every_configuration_pair_round_trips_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let requests = example_requests();
    // The network chapter's setters apply their settings with handlers of their own (the
    // camera would move away from this test or drop it); tests/cgi/network.rs covers them.
    assert!(requests.len() >= 38, "{} setters", requests.len());
    // Recording the sub stream (setScheduleRecordStreamChn 1, met before setSubStreamFormat)
    // needs it in H.264.
    assert_eq!(cam.cgi("setSubStreamFormat", &[("format", "0")]).result, 0);
    for (section, setter, values) in &requests {
        let params: Vec<(&str, &str)> = values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let reply = cam.cgi(setter, &params);
        if *section == "rs485" && !ipcamd_hal::ptz::serial::serial_ports_work() {
            // No motor controller where ptys cannot be configured (qemu-user): refused, -4.
            assert_eq!(reply.result, -4, "{setter} without a motor controller");
            continue;
        }
        assert_eq!(reply.result, 0, "{setter} {params:?}");
        for getter in getters(section) {
            let got = cam.cgi(getter, &[]);
            for (k, v) in values {
                if let Some(actual) = got.fields.get(k) {
                    assert_eq!(actual, v, "{setter} -> {getter}.{k}");
                }
            }
        }
    }
    let before = read_back(&cam);
    let cam = cam.restart();
    assert_eq!(read_back(&cam), before, "settings survive a restart");
}

#[test]
fn test_stream_parameters_per_stream_type_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let set = [
        ("streamType", "2"),
        ("resolution", "1"),
        ("bitRate", "1048576"),
        ("frameRate", "20"),
        ("GOP", "40"),
        ("isVBR", "0"),
    ];
    assert_eq!(cam.cgi("setVideoStreamParam", &set).result, 0);
    let sub = [
        ("streamType", "0"),
        ("resolution", "3"),
        ("bitRate", "262144"),
        ("frameRate", "10"),
        ("GOP", "10"),
        ("isVBR", "1"),
    ];
    assert_eq!(cam.cgi("setSubVideoStreamParam", &sub).result, 0);
    let cam = cam.restart();
    let main = cam.cgi("getVideoStreamParam", &[]);
    assert_eq!(
        (
            main.get("resolution2"),
            main.get("frameRate2"),
            main.get("GOP2")
        ),
        ("1", "20", "40")
    );
    assert_eq!(main.get("resolution0"), "0", "other stream types untouched");
    let sub = cam.cgi("getSubVideoStreamParam", &[]);
    assert_eq!((sub.get("resolution0"), sub.get("isVBR0")), ("3", "1"));
    let bad = [("streamType", "4"), ("frameRate", "20")];
    assert_eq!(cam.cgi("setVideoStreamParam", &bad).result, -1);
    assert_eq!(
        cam.cgi(
            "setVideoStreamParam",
            &[("streamType", "0"), ("frameRate", "99")]
        )
        .result,
        -1
    );
}

#[test]
fn test_bad_values_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let before = read_back(&cam);
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("setPTZSpeed", &[("speed", "9")]),
        ("setPTZSpeed", &[("speed", "fast")]),
        ("setPTZSpeed", &[("speed", "")]),
        ("setPTZSpeed", &[]),
        (
            "setMotionDetectConfig",
            &[("isEnable", "1"), ("sensitivity", "7")],
        ),
        (
            "setMotionDetectConfig",
            &[("isEnable", "1"), ("area3", "1024")],
        ),
        ("setMotionDetectConfig", &[("schedule0", "281474976710656")]),
        ("setIOAlarmConfig", &[("isEnable", "2")]),
        ("setPortInfo", &[("webPort", "0")]),
        ("setPortInfo", &[("webPort", "80"), ("httpsPort", "80")]),
        ("setIpInfo", &[("isDHCP", "0"), ("ip", "192.168.1.300")]),
        (
            "setIpInfo",
            &[
                ("isDHCP", "0"),
                ("ip", "192.168.1.3"),
                ("mask", "255.0.255.0"),
            ],
        ),
        ("setDevName", &[("devName", "")]),
        (
            "setDevName",
            &[("devName", "a-name-that-is-far-too-long-for-a-camera")],
        ),
        ("setDevName", &[("devName", "tab\there")]),
        ("set485Info", &[("rs485Baud", "1234")]),
        ("setScheduleInfraLedConfig", &[("startHour0", "24")]),
        ("setSMTPConfig", &[("isEnable", "1"), ("tls", "3")]),
        ("setFirewallConfig", &[("ipList0", "not-an-ip")]),
        ("setOsdMaskArea", &[("x1_0", "100"), ("x2_0", "50")]),
        (
            "setSystemTime",
            &[
                ("timeSource", "1"),
                ("year", "2026"),
                ("mon", "2"),
                ("day", "30"),
                ("hour", "1"),
                ("minute", "1"),
                ("sec", "1"),
            ],
        ),
    ];
    for (cmd, params) in cases {
        assert_eq!(cam.cgi(cmd, params).result, -1, "{cmd} {params:?}");
    }
    assert_eq!(read_back(&cam), before, "nothing changed");
}

#[test]
fn test_manual_system_time_sets_the_clock_in_the_camera_zone() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let params = [
        ("timeSource", "1"),
        ("ntpServer", ""),
        ("dateFormat", "0"),
        ("timeFormat", "1"),
        ("timeZone", "-3600"),
        ("isDst", "0"),
        ("dst", "0"),
        ("year", "2031"),
        ("mon", "6"),
        ("day", "15"),
        ("hour", "12"),
        ("minute", "30"),
        ("sec", "0"),
    ];
    assert_eq!(cam.cgi("setSystemTime", &params).result, 0);
    let t = cam.cgi("getSystemTime", &[]);
    assert_eq!(
        (
            t.get("year"),
            t.get("month"),
            t.get("mon"),
            t.get("day"),
            t.get("hour")
        ),
        ("2031", "6", "6", "15", "12")
    );
    assert_eq!(t.get("timeZone"), "-3600");
    assert_eq!(cam.cgi("getDevInfo", &[]).get("year"), "2031");
}

#[test]
fn test_factory_reset_restores_defaults_and_admin() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    cam.cgi("setDevName", &[("devName", "porch")]);
    cam.cgi(
        "addAccount",
        &[("usrName", "bob"), ("usrPwd", "b"), ("privilege", "1")],
    );
    cam.cgi(
        "changePassword",
        &[("usrName", "admin"), ("oldPwd", ""), ("newPwd", "secret")],
    );
    assert_eq!(
        cam.cgi_as("admin", "secret", "restoreToFactorySetting", &[])
            .result,
        0
    );
    assert_eq!(cam.cgi("getDevName", &[]).get("devName"), "ipcamd-sim");
    assert_eq!(cam.cgi("getUserList", &[]).get("usrCnt"), "1");
}

#[test]
fn test_multi_device_list_add_detail_delete() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let dev = [
        ("chnnl", "2"),
        ("productType", "H264"),
        ("ip", "192.168.1.20"),
        ("port", "88"),
        ("mediaPort", "88"),
        ("userName", "admin"),
        ("passWord", ""),
        ("devName", "garage"),
    ];
    assert_eq!(cam.cgi("addMultiDev", &dev).result, 0);
    let list = cam.cgi("getMultiDevList", &[]);
    assert!(list.get("dev2").contains("192.168.1.20"));
    assert_eq!(list.get("dev0"), "");
    let cam = cam.restart();
    assert_eq!(
        cam.cgi("getMultiDevDetailInfo", &[("chnnl", "2")])
            .get("devName"),
        "garage"
    );
    assert_eq!(cam.cgi("delMultiDev", &[("chnnl", "2")]).result, 0);
    assert_eq!(
        cam.cgi("getMultiDevDetailInfo", &[("chnnl", "2")]).result,
        -4
    );
    assert_eq!(
        cam.cgi("addMultiDev", &[("chnnl", "9"), ("ip", "x")])
            .result,
        -1
    );
}
