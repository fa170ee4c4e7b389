//! Live video through the CGI surface: snapshots and MJPEG decoded with a real JPEG decoder.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

use crate::support::{Camera, repo};

/// A decoded picture's luma plane.
struct Luma {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Luma {
    fn decode(jpeg: &[u8]) -> Luma {
        let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::Luma);
        let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
        let pixels = decoder.decode().expect("a valid JPEG");
        let (width, height) = decoder.dimensions().expect("dimensions");
        Luma {
            width,
            height,
            pixels,
        }
    }

    /// Mean luma of a rectangle given in fractions of the picture.
    fn mean(&self, x0: f64, y0: f64, x1: f64, y1: f64) -> f64 {
        let (xa, xb) = (
            (x0 * self.width as f64) as usize,
            (x1 * self.width as f64) as usize,
        );
        let (ya, yb) = (
            (y0 * self.height as f64) as usize,
            (y1 * self.height as f64) as usize,
        );
        let mut sum = 0u64;
        for y in ya..yb {
            sum += self.pixels[y * self.width + xa..y * self.width + xb]
                .iter()
                .map(|&p| u64::from(p))
                .sum::<u64>();
        }
        sum as f64 / ((xb - xa) * (yb - ya)) as f64
    }
}

fn snapshot(cam: &Camera) -> Luma {
    let (status, content_type, body) =
        cam.get_raw("/cgi-bin/CGIProxy.fcgi?cmd=snapPicture2&usr=admin&pwd=");
    assert_eq!(status, 200);
    assert_eq!(content_type, "image/jpeg");
    Luma::decode(&body)
}

/// Writes a one-frame mono y4m (left half dark, right half bright) and a board file using it.
fn static_scene_board(dir: &Path) -> std::path::PathBuf {
    let (w, h) = (320usize, 180usize);
    let mut y4m = format!("YUV4MPEG2 W{w} H{h} F15:1 Ip A1:1 Cmono\nFRAME\n").into_bytes();
    for _ in 0..h {
        for x in 0..w {
            y4m.push(if x < w / 2 { 40 } else { 200 });
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

#[test]
fn test_snapshot_is_a_main_stream_jpeg() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let picture = snapshot(&cam);
    assert_eq!((picture.width, picture.height), (1280, 720));
    cam.cgi(
        "setVideoStreamParam",
        &[("streamType", "0"), ("resolution", "1")],
    );
    std::thread::sleep(Duration::from_millis(500));
    let picture = snapshot(&cam);
    assert_eq!(
        (picture.width, picture.height),
        (640, 480),
        "main stream reconfigured live"
    );
}

#[test]
fn test_brightness_moves_mean_luma_the_right_way() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    assert_eq!(cam.cgi("setBrightness", &[("brightness", "0")]).result, 0);
    std::thread::sleep(Duration::from_millis(300));
    let dark = snapshot(&cam).mean(0.0, 0.2, 1.0, 0.8);
    assert_eq!(cam.cgi("setBrightness", &[("brightness", "100")]).result, 0);
    std::thread::sleep(Duration::from_millis(300));
    let bright = snapshot(&cam).mean(0.0, 0.2, 1.0, 0.8);
    assert!(
        bright > dark + 40.0,
        "brightness 100 ({bright}) brighter than 0 ({dark})"
    );
}

#[test]
fn test_mirror_flips_the_picture_left_right() {
    let dir = tempfile::tempdir().unwrap();
    let board = static_scene_board(dir.path());
    let data = dir.path().join("data");
    let cam = Camera::start_with_board(&data, &board);
    cam.cgi(
        "setOSDSetting",
        &[
            ("isEnableTimeStamp", "0"),
            ("isEnableDevName", "0"),
            ("dispPos", "0"),
            ("isEnableOSDMask", "0"),
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let plain = snapshot(&cam);
    assert!(plain.mean(0.0, 0.0, 0.4, 1.0) < plain.mean(0.6, 0.0, 1.0, 1.0));
    assert_eq!(cam.cgi("mirrorVideo", &[("isMirror", "1")]).result, 0);
    std::thread::sleep(Duration::from_millis(300));
    let mirrored = snapshot(&cam);
    assert!(
        mirrored.mean(0.0, 0.0, 0.4, 1.0) > mirrored.mean(0.6, 0.0, 1.0, 1.0),
        "mirrored"
    );
}

#[test]
fn test_privacy_mask_is_black_in_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let board = static_scene_board(dir.path());
    let data = dir.path().join("data");
    let cam = Camera::start_with_board(&data, &board);
    let area = [
        ("x1_0", "6000"),
        ("y1_0", "2000"),
        ("x2_0", "9000"),
        ("y2_0", "8000"),
    ];
    assert_eq!(cam.cgi("setOsdMaskArea", &area).result, 0);
    assert_eq!(cam.cgi("setOSDMask", &[("isEnableOSDMask", "1")]).result, 0);
    std::thread::sleep(Duration::from_millis(300));
    let picture = snapshot(&cam);
    assert!(
        picture.mean(0.65, 0.25, 0.85, 0.75) < 25.0,
        "masked area is black"
    );
    assert!(
        picture.mean(0.92, 0.25, 1.0, 0.75) > 150.0,
        "outside the mask untouched"
    );
}

#[test]
fn test_timestamp_osd_changes_with_the_clock_on_a_static_scene() {
    let dir = tempfile::tempdir().unwrap();
    let board = static_scene_board(dir.path());
    let data = dir.path().join("data");
    let cam = Camera::start_with_board(&data, &board);
    let corner = |l: &Luma| l.pixels[..l.width * 40].to_vec();
    let first = snapshot(&cam);
    std::thread::sleep(Duration::from_millis(1100));
    let second = snapshot(&cam);
    assert_ne!(
        corner(&first),
        corner(&second),
        "the time in the corner moved on"
    );
    cam.cgi(
        "setOSDSetting",
        &[
            ("isEnableTimeStamp", "0"),
            ("isEnableDevName", "0"),
            ("dispPos", "0"),
            ("isEnableOSDMask", "0"),
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let third = snapshot(&cam);
    std::thread::sleep(Duration::from_millis(1100));
    let fourth = snapshot(&cam);
    assert_eq!(
        third.pixels, fourth.pixels,
        "without OSD a static scene stays the same"
    );
}

/// Reads `count` JPEG parts from a GetMJStream response.
fn read_mjpeg_parts(cam: &Camera, count: usize) -> Vec<Vec<u8>> {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let url = format!(
        "{}/cgi-bin/CGIStream.cgi?cmd=GetMJStream&usr=admin&pwd=",
        cam.base
    );
    let response = agent.get(&url).call().expect("stream");
    assert!(
        response
            .header("content-type")
            .unwrap_or("")
            .starts_with("multipart/x-mixed-replace")
    );
    let mut reader = response.into_reader();
    let mut parts = Vec::new();
    let mut buffer = Vec::new();
    while parts.len() < count {
        let mut chunk = [0u8; 16 * 1024];
        let n = reader.read(&mut chunk).expect("stream data");
        assert!(n > 0, "stream ended early");
        buffer.extend_from_slice(&chunk[..n]);
        while let Some(head_end) = find(&buffer, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
            assert!(
                head.contains("--ipcamd") && head.contains("Content-Type: image/jpeg"),
                "{head}"
            );
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.trim().parse().ok())
                .expect("Content-Length");
            let start = head_end + 4;
            if buffer.len() < start + length + 2 {
                break;
            }
            parts.push(buffer[start..start + length].to_vec());
            buffer.drain(..start + length + 2);
        }
    }
    parts
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn test_mjpeg_stream_frames_decode_at_vga_and_change_as_the_scene_moves() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let parts = read_mjpeg_parts(&cam, 3);
    let frames: Vec<Luma> = parts.iter().map(|p| Luma::decode(p)).collect();
    for frame in &frames {
        assert_eq!((frame.width, frame.height), (640, 480));
    }
    assert_ne!(frames[0].pixels, frames[2].pixels, "the scene moves");
}

#[test]
fn test_snap_picture_saves_and_serves_to_authenticated_users_only() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let (status, content_type, body) =
        cam.get_raw("/cgi-bin/CGIProxy.fcgi?cmd=snapPicture&usr=admin&pwd=");
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"));
    let html = String::from_utf8(body).unwrap();
    let name = html
        .split("../snapPic/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("img src");
    let (status, _, _) = cam.get_raw(&format!("/snapPic/{name}"));
    assert_eq!(status, 401);
    let (status, _, jpeg) = cam.get_raw(&format!("/snapPic/{name}?usr=admin&pwd="));
    assert_eq!(status, 200);
    assert_eq!(Luma::decode(&jpeg).width, 1280);
    for bad in ["../ipcamd.db", "..%2Fipcamd.db", "x/../../ipcamd.db"] {
        assert_eq!(
            cam.get_raw(&format!("/snapPic/{bad}?usr=admin&pwd=")).0,
            404,
            "{bad}"
        );
    }
}

#[test]
fn test_mjpeg_needs_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let (status, content_type, body) =
        cam.get_raw("/cgi-bin/CGIStream.cgi?cmd=GetMJStream&usr=admin&pwd=wrong");
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/xml"));
    assert!(String::from_utf8_lossy(&body).contains("<result>-2</result>"));
}

#[test]
fn test_set_ratio_corrects_the_lens_distortion_the_board_file_gives_in_three_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let plain_board = static_scene_board(dir.path());
    // The same scene through a barrel-distorting lens the sensor does not correct.
    let lens_board = dir.path().join("lens.toml");
    let text = std::fs::read_to_string(&plain_board)
        .unwrap()
        .replace("[video]\n", "[video]\nlens_distortion = 0.8\n");
    std::fs::write(&lens_board, text).unwrap();
    let no_osd = [
        ("isEnableTimeStamp", "0"),
        ("isEnableDevName", "0"),
        ("dispPos", "0"),
        ("isEnableOSDMask", "0"),
    ];
    // On the diagonal at 80 % of the way to the corner (in the bright half of the scene):
    // corrected fully (High), the pixel comes from outside the sensor's picture and is
    // black; corrected at the Low rank, it is still the scene.
    let diagonal = |l: &Luma| l.mean(0.88, 0.88, 0.92, 0.92);
    let cam = Camera::start_with_board(&dir.path().join("lens-data"), &lens_board);
    assert_eq!(cam.cgi("setOSDSetting", &no_osd).result, 0);
    assert_eq!(cam.cgi("setRatio", &[("ratio", "511")]).result, 0);
    std::thread::sleep(Duration::from_millis(300));
    let low = snapshot(&cam);
    assert!(diagonal(&low) > 150.0, "Low rank: {}", diagonal(&low));
    assert_eq!(cam.cgi("setRatio", &[("ratio", "100")]).result, 0);
    std::thread::sleep(Duration::from_millis(300));
    let high = snapshot(&cam);
    assert!(diagonal(&high) < 40.0, "High rank: {}", diagonal(&high));
    // The centre stays where it was.
    assert!((low.mean(0.45, 0.45, 0.48, 0.55) - high.mean(0.45, 0.45, 0.48, 0.55)).abs() < 10.0);
    drop(cam);
    // A rectilinear lens (the simulated board's): nothing to correct at any rank.
    let cam = Camera::start_with_board(&dir.path().join("plain-data"), &plain_board);
    assert_eq!(cam.cgi("setOSDSetting", &no_osd).result, 0);
    assert_eq!(cam.cgi("setRatio", &[("ratio", "0")]).result, 0);
    std::thread::sleep(Duration::from_millis(300));
    assert!(diagonal(&snapshot(&cam)) > 150.0);
}
