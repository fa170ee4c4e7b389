//! Pan/tilt/zoom through the CGI surface, against a simulated Pelco-D motor on a pty the test
//! owns (the board file's `[ptz] port` names it, as an external test rig would).

use std::time::{Duration, Instant};

use ipcamd_hal::ptz::{Parity, Protocol, SerialSettings};
use ipcamd_hal::sim::ptz::{HOME, SimMotor};

use crate::support::{Camera, repo};

struct Rig {
    motor: SimMotor,
    cam: Camera,
    _dir: tempfile::TempDir,
}

/// The PTZ tests need a configurable pty; qemu-user lacks the terminal ioctls, so there they
/// are reported as ignored (the hardware-in-the-loop lab drives a real UART on ARM instead).
fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let settings = SerialSettings {
        protocol: Protocol::PelcoD,
        address: 1,
        baud: 9600,
        data_bits: 8,
        stop_bits: 1,
        parity: Parity::None,
    };
    let motor = SimMotor::start(settings).unwrap();
    let board = std::fs::read_to_string(repo().join("board/sim.toml"))
        .unwrap()
        .replace(
            "[ptz]\n",
            &format!("[ptz]\nport = \"{}\"\n", motor.port_path().display()),
        );
    let board_path = dir.path().join("board.toml");
    std::fs::write(&board_path, board).unwrap();
    let cam = Camera::start_with_board(&dir.path().join("data"), &board_path);
    Rig {
        motor,
        cam,
        _dir: dir,
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
#[cfg_attr(
    ipcamd_qemu_user,
    ignore = "qemu-user cannot configure pseudo-terminals"
)]
fn test_move_right_then_stop_moves_the_motor_and_holds() {
    let rig = rig();
    assert_eq!(rig.cam.cgi("setPTZSpeed", &[("speed", "4")]).result, 0);
    assert_eq!(rig.cam.cgi("ptzMoveRight", &[]).result, 0);
    wait_until("pan increases", || {
        rig.motor.position().pan > HOME.pan + 5.0
    });
    assert_eq!(rig.cam.cgi("ptzStopRun", &[]).result, 0);
    wait_until("the stop arrives", || {
        let a = rig.motor.position().pan;
        std::thread::sleep(Duration::from_millis(100));
        rig.motor.position().pan == a
    });
    let held = rig.motor.position();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rig.motor.position(), held, "stopped");
    assert_eq!(
        rig.motor.stats().rejected_frames,
        0,
        "every frame had a good checksum"
    );
}

#[test]
#[cfg_attr(
    ipcamd_qemu_user,
    ignore = "qemu-user cannot configure pseudo-terminals"
)]
fn test_presets_store_and_recall_positions() {
    let rig = rig();
    let cam = &rig.cam;
    assert_eq!(cam.cgi("ptzAddPresetPoint", &[("name", "door")]).result, 0);
    wait_until("preset stored", || rig.motor.preset(1).is_some());
    let door = rig.motor.preset(1).unwrap();
    cam.cgi("setPTZSpeed", &[("speed", "4")]);
    cam.cgi("ptzMoveDown", &[]);
    wait_until("tilt moves", || {
        (rig.motor.position().tilt - door.tilt).abs() > 10.0
    });
    cam.cgi("ptzStopRun", &[]);
    assert_eq!(cam.cgi("ptzGotoPresetPoint", &[("name", "door")]).result, 0);
    wait_until("back at the preset", || {
        let p = rig.motor.position();
        (p.pan - door.pan).abs() < 0.5 && (p.tilt - door.tilt).abs() < 0.5
    });
    let list = cam.cgi("getPTZPresetPointList", &[]);
    assert_eq!(list.get("cnt"), "5");
    assert_eq!(
        (list.get("point0"), list.get("point4")),
        ("LeftMost", "door")
    );
    let cam = rig.cam.restart();
    assert_eq!(
        cam.cgi("getPTZPresetPointList", &[]).get("point4"),
        "door",
        "presets persist"
    );
}

#[test]
#[cfg_attr(
    ipcamd_qemu_user,
    ignore = "qemu-user cannot configure pseudo-terminals"
)]
fn test_preset_limits_and_errors() {
    let rig = rig();
    let cam = &rig.cam;
    for n in 0..12 {
        assert_eq!(
            cam.cgi("ptzAddPresetPoint", &[("name", &format!("p{n}"))])
                .result,
            0,
            "p{n}"
        );
    }
    assert_eq!(
        cam.cgi("ptzAddPresetPoint", &[("name", "p12")]).result,
        -4,
        "a 17th preset"
    );
    assert_eq!(
        cam.cgi("ptzAddPresetPoint", &[("name", "p3")]).result,
        -4,
        "duplicate"
    );
    assert_eq!(
        cam.cgi("ptzAddPresetPoint", &[("name", "a<b>")]).result,
        -1,
        "bad name"
    );
    assert_eq!(
        cam.cgi("ptzDeletePresetPoint", &[("name", "LeftMost")])
            .result,
        -4,
        "defaults stay"
    );
    assert_eq!(
        cam.cgi("ptzDeletePresetPoint", &[("name", "nope")]).result,
        -4
    );
    assert_eq!(cam.cgi("ptzDeletePresetPoint", &[("name", "p3")]).result, 0);
    assert_eq!(cam.cgi("getPTZPresetPointList", &[]).get("cnt"), "15");
}

#[test]
#[cfg_attr(
    ipcamd_qemu_user,
    ignore = "qemu-user cannot configure pseudo-terminals"
)]
fn test_cruise_maps_limits_and_the_guide_spelling() {
    let rig = rig();
    let cam = &rig.cam;
    let list = cam.cgi("ptzGetCruiseMapList", &[]);
    assert_eq!(
        (list.get("cnt"), list.get("map0"), list.get("map1")),
        ("2", "Horizental", "Vertical")
    );
    let info = cam.cgi("ptzGetCruiseMapInfo", &[("name", "Horizontal")]);
    assert_eq!(
        (
            info.get("getResult"),
            info.get("point0"),
            info.get("point1")
        ),
        ("0", "LeftMost", "RightMost")
    );
    assert_eq!(
        cam.cgi("ptzSetCruiseMap", &[("name", "m"), ("point0", "nowhere")])
            .result,
        -1
    );
    for n in 0..6 {
        let reply = cam.cgi(
            "ptzSetCruiseMap",
            &[
                ("name", &format!("m{n}")),
                ("point0", "TopMost"),
                ("point1", "LeftMost"),
            ],
        );
        assert_eq!(reply.result, 0, "m{n}");
    }
    let ninth = cam.cgi("ptzSetCruiseMap", &[("name", "m6"), ("point0", "TopMost")]);
    assert_eq!(ninth.result, -4, "at most 8 maps");
    assert_eq!(
        cam.cgi("ptzDelCruiseMap", &[("name", "Vertical")]).result,
        -4
    );
    let lingers = [("name", "m0"), ("time0", "7"), ("time1", "9")];
    assert_eq!(cam.cgi("setCruisePrePointLingerTime", &lingers).result, 0);
    let got = cam.cgi("getCruisePrePointLingerTime", &[("name", "m0")]);
    assert_eq!((got.get("time0"), got.get("time1")), ("7", "9"));
    assert_eq!(
        cam.cgi("ptzGetCruiseMapInfo", &[("name", "none")])
            .get("getResult"),
        "-1"
    );
}

#[test]
#[cfg_attr(
    ipcamd_qemu_user,
    ignore = "qemu-user cannot configure pseudo-terminals"
)]
fn test_cruise_moves_the_motor_and_a_manual_move_stops_it() {
    let rig = rig();
    let cam = &rig.cam;
    assert_eq!(
        cam.cgi("ptzStartCruise", &[("mapName", "Horizental")])
            .result,
        0
    );
    wait_until("the cruise pans left", || {
        rig.motor.position().pan < HOME.pan - 5.0
    });
    assert_eq!(cam.cgi("ptzMoveUp", &[]).result, 0);
    assert_eq!(cam.cgi("ptzStopRun", &[]).result, 0);
    wait_until("stop processed", || {
        let a = rig.motor.position();
        std::thread::sleep(Duration::from_millis(100));
        rig.motor.position() == a
    });
    let frames = rig.motor.stats().frames;
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        rig.motor.stats().frames,
        frames,
        "the cruise sent nothing more"
    );
}

#[test]
#[cfg_attr(
    ipcamd_qemu_user,
    ignore = "qemu-user cannot configure pseudo-terminals"
)]
fn test_zoom_in_and_out() {
    let rig = rig();
    assert_eq!(rig.cam.cgi("zoomIn", &[]).result, 0);
    wait_until("zooms in", || rig.motor.position().zoom > HOME.zoom + 0.5);
    assert_eq!(rig.cam.cgi("zoomStop", &[]).result, 0);
    let zoomed = rig.motor.position().zoom;
    assert_eq!(rig.cam.cgi("zoomOut", &[]).result, 0);
    wait_until("zooms out", || rig.motor.position().zoom < zoomed - 0.3);
}

#[test]
fn test_board_without_a_motor_answers_execute_fail() {
    let dir = tempfile::tempdir().unwrap();
    let board = std::fs::read_to_string(repo().join("board/sim.toml"))
        .unwrap()
        .replace("pan_tilt = true", "pan_tilt = false")
        .replace("zoom = true", "zoom = false");
    let board = board.split("[ptz]").next().unwrap().to_owned()
        + "[storage]\npath = \"sd\"\n"
        + board.split("[storage]\npath = \"sd\"\n").nth(1).unwrap();
    let path = dir.path().join("board.toml");
    std::fs::write(&path, board).unwrap();
    let cam = Camera::start_with_board(&dir.path().join("data"), &path);
    for cmd in [
        "ptzMoveUp",
        "ptzStopRun",
        "getPTZPresetPointList",
        "zoomIn",
        "ptzStartCruise",
    ] {
        assert_eq!(cam.cgi(cmd, &[("mapName", "Vertical")]).result, -4, "{cmd}");
    }
    assert_eq!(cam.cgi("getProductPtFlag", &[]).get("ptFlag"), "0");
}
