//! Motion detection through the CGI surface, on scenes the tests render as y4m files.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::{Camera, repo};

const W: usize = 320;
const H: usize = 180;

/// Writes a mono y4m of `frames` frames drawn by `pixel(frame, x, y)` and a board using it.
fn scene_board(dir: &Path, frames: usize, pixel: impl Fn(usize, usize, usize) -> u8) -> PathBuf {
    let mut y4m = format!("YUV4MPEG2 W{W} H{H} F15:1 Ip A1:1 Cmono\n").into_bytes();
    for f in 0..frames {
        y4m.extend_from_slice(b"FRAME\n");
        for y in 0..H {
            for x in 0..W {
                y4m.push(pixel(f, x, y));
            }
        }
    }
    std::fs::write(dir.join("scene.y4m"), y4m).unwrap();
    let board = std::fs::read_to_string(repo().join("board/sim.toml"))
        .unwrap()
        .replace("[video]\n", "[video]\nscene = \"scene.y4m\"\n");
    let path = dir.join("board.toml");
    std::fs::write(&path, board).unwrap();
    path
}

/// A textured background (the detector needs texture to model lighting).
fn background(x: usize, y: usize) -> u8 {
    (60 + ((x * 7 + y * 13) % 40) + (x / 40) * 10) as u8
}

/// A bright square that jumps back and forth inside grid cell (row 2, column 7).
fn square_in_cell(frame: usize, x: usize, y: usize) -> u8 {
    let left = if frame % 10 < 5 { 226 } else { 240 };
    if (38..52).contains(&y) && (left..left + 12).contains(&x) {
        240
    } else {
        background(x, y)
    }
}

fn enable_motion(cam: &Camera, area_row: usize, area_bits: &str) {
    let mut params: Vec<(String, String)> = vec![
        ("isEnable".into(), "1".into()),
        ("linkage".into(), "0".into()),
        ("sensitivity".into(), "2".into()),
        ("triggerInterval".into(), "0".into()),
        ("snapInterval".into(), "1".into()),
    ];
    for n in 0..10 {
        let bits = if n == area_row { area_bits } else { "0" };
        params.push((format!("area{n}"), bits.into()));
    }
    for n in 0..7 {
        params.push((format!("schedule{n}"), "281474976710655".into()));
    }
    let refs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(cam.cgi("setMotionDetectConfig", &refs).result, 0);
}

fn wait_for_alarm(cam: &Camera, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cam.cgi("getDevState", &[]).get("motionDetectAlarm") == "2" {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
fn test_motion_in_an_enabled_cell_raises_the_alarm_and_logs_it() {
    let dir = tempfile::tempdir().unwrap();
    let board = scene_board(dir.path(), 20, square_in_cell);
    let cam = Camera::start_with_board(&dir.path().join("data"), &board);
    assert_eq!(
        cam.cgi("getDevState", &[]).get("motionDetectAlarm"),
        "0",
        "disabled by default"
    );
    enable_motion(&cam, 2, &(1 << 7).to_string());
    assert!(
        wait_for_alarm(&cam, Duration::from_secs(30)),
        "motion alarm raised"
    );
    let log = cam.cgi("getLog", &[("offset", "0"), ("count", "10")]);
    assert!(
        log.fields.values().any(|v| v.ends_with("+1")),
        "a motion log entry: {:?}",
        log.fields
    );
    let (status, _, body) = cam.get_raw("/debug/state.json?usr=admin&pwd=");
    assert_eq!(status, 200);
    let json = String::from_utf8(body).unwrap();
    assert!(
        json.contains("\"last_alarm_cells\":[0,0,128,0,0,0,0,0,0,0]"),
        "{json}"
    );
}

#[test]
fn test_motion_outside_the_enabled_area_does_not_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let board = scene_board(dir.path(), 20, square_in_cell);
    let cam = Camera::start_with_board(&dir.path().join("data"), &board);
    enable_motion(&cam, 8, "1023");
    assert!(
        !wait_for_alarm(&cam, Duration::from_secs(8)),
        "no alarm: the motion is in row 2"
    );
    assert_eq!(cam.cgi("getDevState", &[]).get("motionDetectAlarm"), "1");
}

#[test]
fn test_global_brightness_change_does_not_alarm() {
    let dir = tempfile::tempdir().unwrap();
    // Lights go on and off every second, everywhere at once.
    let board = scene_board(dir.path(), 30, |f, x, y| {
        let base = background(x, y);
        if f % 30 < 15 {
            base
        } else {
            base.saturating_add(60)
        }
    });
    let cam = Camera::start_with_board(&dir.path().join("data"), &board);
    enable_motion(&cam, 0, "1023");
    for n in 1..10 {
        cam.cgi("setMotionDetectConfig", &[(&format!("area{n}"), "1023")]);
    }
    assert!(
        !wait_for_alarm(&cam, Duration::from_secs(8)),
        "lighting is not motion"
    );
}
