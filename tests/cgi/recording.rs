//! Recordings through the CGI surface: segments made from real H.264 (ffmpeg) by the
//! recorder's own writer, listed with getRecordList/getRecordList2 (paging, filters, bad
//! parameters), rebuilt by reloadRecordindex and by the start-up repair after a kill -9,
//! downloaded with Range requests and probed by ffprobe; getDevState's card fields.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use ipcamd::recorder::h264;
use ipcamd::recorder::naming::{RecordKind, SegmentName};
use ipcamd::recorder::segment::{SegmentWriter, WriteCounters};
use ipcamd_hal::video::encoded::{EncodedFrame, H264Config, VideoCodec};

use crate::support::Camera;

/// Access units of 4 s of testsrc at 10 fps, a key frame per second.
fn test_stream(dir: &Path) -> (Vec<(Vec<u8>, bool)>, Arc<H264Config>) {
    let out = dir.join("src.h264");
    let status = Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=10",
        ])
        .args([
            "-t", "4", "-c:v", "libx264", "-g", "10", "-bf", "0", "-pix_fmt", "yuv420p",
        ])
        .args(["-f", "h264"])
        .arg(&out)
        .status()
        .expect("ffmpeg runs (scripts/deps/recording.list)");
    assert!(status.success());
    let units = h264::access_units(&std::fs::read(&out).unwrap());
    let (sps, pps) = h264::parameter_sets(&units[0].0);
    let config = Arc::new(H264Config {
        sps: sps.unwrap().to_vec(),
        pps: pps.unwrap().to_vec(),
        width: 320,
        height: 240,
    });
    (units, config)
}

/// Writes a 4 s segment of `kind` starting at `start` (UTC = local: the factory time zone is
/// GMT) into the card's record folder; returns its name and path.
fn write_segment(
    record_dir: &Path,
    stream: &(Vec<(Vec<u8>, bool)>, Arc<H264Config>),
    kind: RecordKind,
    start: i64,
) -> (String, PathBuf) {
    std::fs::create_dir_all(record_dir).unwrap();
    let name = SegmentName::format(kind, start, 0);
    let counters = Arc::new(WriteCounters::default());
    let mut writer =
        SegmentWriter::create(record_dir, &name, stream.1.clone(), start, 0, counters).unwrap();
    for (n, (data, key)) in stream.0.iter().enumerate() {
        let pts = Duration::from_millis(n as u64 * 100);
        writer
            .push(Arc::new(EncodedFrame {
                codec: VideoCodec::H264,
                data: data.clone().into(),
                keyframe: *key,
                pts,
                captured: UNIX_EPOCH + Duration::from_secs(start as u64) + pts,
                sequence: n as u64,
                config: stream.1.clone(),
            }))
            .unwrap();
    }
    writer.finish().unwrap();
    let path = record_dir.join(&name);
    (name, path)
}

fn frames_in(path: &Path) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

const DAY: i64 = 1_796_083_200; // 2026-12-01 00:00:00 UTC

fn ranged(camera: &Camera, path: &str, range: &str) -> (u16, Option<String>, Vec<u8>) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let response = match agent
        .get(&format!("{}{path}", camera.base))
        .set("Range", range)
        .call()
    {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let status = response.status();
    let content_range = response.header("content-range").map(str::to_owned);
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut body).unwrap();
    (status, content_range, body)
}

#[test]
fn test_record_list_pages_filters_and_downloads_with_ranges() {
    let data = tempfile::tempdir().unwrap();
    let stream = test_stream(data.path());
    let camera = Camera::start(data.path());
    let record_dir = data.path().join("sd/record");
    let empty = camera.cgi("getRecordList", &[]);
    assert_eq!(empty.result, 0);
    assert_eq!(empty.get("totalCnt"), "0");
    // 8 schedule segments on the hour, 5 alarm segments at half past, copied onto the card.
    let mut names = Vec::new();
    for hour in 0..8 {
        names.push(
            write_segment(
                &record_dir,
                &stream,
                RecordKind::Schedule,
                DAY + hour * 3600,
            )
            .0,
        );
    }
    for hour in 0..5 {
        names.push(
            write_segment(
                &record_dir,
                &stream,
                RecordKind::Alarm,
                DAY + hour * 3600 + 1800,
            )
            .0,
        );
    }
    // Not indexed yet: not listed, not downloadable.
    assert_eq!(camera.cgi("getRecordList", &[]).get("totalCnt"), "0");
    let (status, _, _) = camera.get_raw(&format!("/record/{}?usr=admin&pwd=", names[0]));
    assert_eq!(status, 404);
    assert_eq!(camera.cgi("reloadRecordindex", &[]).result, 0);

    for cmd in ["getRecordList", "getRecordList2"] {
        let first = camera.cgi(cmd, &[]);
        assert_eq!(first.result, 0);
        assert_eq!(first.get("totalCnt"), "13");
        assert_eq!(first.get("curCnt"), "10");
        // Oldest first: schedule 00:00, alarm 00:30, schedule 01:00...
        assert_eq!(first.get("record0"), "/record/schedule_20261201_000000.mp4");
        assert_eq!(first.get("record1"), "/record/alarm_20261201_003000.mp4");
        let second = camera.cgi(cmd, &[("startNo", "10")]);
        assert_eq!(second.get("curCnt"), "3");
        assert_eq!(
            second.get("record2"),
            "/record/schedule_20261201_070000.mp4"
        );
        assert_eq!(second.get("record3"), "");
    }
    let alarms = camera.cgi("getRecordList", &[("recordType", "1")]);
    assert_eq!(alarms.get("totalCnt"), "5");
    assert!(alarms.get("record4").contains("/alarm_"));
    let window = camera.cgi(
        "getRecordList2",
        &[
            ("recordPath", "0"),
            ("startTime", &(DAY + 3600).to_string()),
            ("endTime", &(DAY + 2 * 3600 - 1).to_string()),
            ("recordType", "3"),
            ("startNo", "0"),
        ],
    );
    // 01:00 schedule and 01:30 alarm (the 00:30 alarm ended at 00:30:04).
    assert_eq!(window.get("totalCnt"), "2", "{window:?}");

    // Bad parameters: -1, and the list is unchanged.
    for bad in [
        vec![("recordType", "7")],
        vec![("startNo", "-1")],
        vec![("recordPath", "2")],
        vec![("startTime", "later")],
        vec![("startTime", "200"), ("endTime", "100")],
    ] {
        assert_eq!(camera.cgi("getRecordList", &bad).result, -1, "{bad:?}");
    }
    assert_eq!(camera.cgi("getRecordList", &[]).get("totalCnt"), "13");

    // Download: the whole file, then ranges.
    let path = record_dir.join(&names[0]);
    let file = std::fs::read(&path).unwrap();
    let url = format!("/record/{}?usr=admin&pwd=", names[0]);
    let (status, content_type, body) = camera.get_raw(&url);
    assert_eq!((status, content_type.as_str()), (200, "video/mp4"));
    assert_eq!(body, file);
    let downloaded = data.path().join("downloaded.mp4");
    std::fs::write(&downloaded, &body).unwrap();
    assert_eq!(frames_in(&downloaded), 40);
    let (status, content_range, body) = ranged(&camera, &url, "bytes=100-199");
    assert_eq!(status, 206);
    assert_eq!(
        content_range.unwrap(),
        format!("bytes 100-199/{}", file.len())
    );
    assert_eq!(body, file[100..200]);
    let (status, _, body) = ranged(&camera, &url, "bytes=-50");
    assert_eq!((status, body.as_slice()), (206, &file[file.len() - 50..]));
    let (status, _, body) = ranged(&camera, &url, &format!("bytes={}-", file.len() - 10));
    assert_eq!((status, body.len()), (206, 10));
    let (status, content_range, _) = ranged(&camera, &url, "bytes=99999999-");
    assert_eq!(status, 416);
    assert_eq!(content_range.unwrap(), format!("bytes */{}", file.len()));
    // Refused: no or wrong credentials, names outside the index, traversal.
    assert_eq!(camera.get_raw(&format!("/record/{}", names[0])).0, 401);
    assert_eq!(
        camera
            .get_raw(&format!("/record/{}?usr=admin&pwd=x", names[0]))
            .0,
        401
    );
    for bad in [
        "/record/../ipcamd.db?usr=admin&pwd=",
        "/record/%2e%2e/ipcamd.db?usr=admin&pwd=",
        "/record/ipcamd-index.db?usr=admin&pwd=",
        "/record/alarm_20261201_233000.mp4?usr=admin&pwd=",
        "/record/?usr=admin&pwd=",
    ] {
        assert_eq!(camera.get_raw(bad).0, 404, "{bad}");
    }
    // A file removed by hand leaves the index at the next reload.
    std::fs::remove_file(record_dir.join(&names[12])).unwrap();
    assert_eq!(camera.cgi("reloadRecordindex", &[]).result, 0);
    assert_eq!(camera.cgi("getRecordList", &[]).get("totalCnt"), "12");
}

#[test]
fn test_a_segment_cut_by_a_kill_is_repaired_at_start_up_and_plays() {
    let data = tempfile::tempdir().unwrap();
    let stream = test_stream(data.path());
    let record_dir = data.path().join("sd/record");
    let (name, path) = write_segment(&record_dir, &stream, RecordKind::Alarm, DAY);
    let whole = std::fs::metadata(&path).unwrap().len();
    // Cut in the middle of the last fragment, as a power loss during a write would.
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(whole - 300).unwrap();
    drop(file);
    let camera = Camera::start(data.path());
    let list = camera.cgi("getRecordList", &[]);
    assert_eq!(list.get("totalCnt"), "1");
    assert_eq!(list.get("record0"), format!("/record/{name}"));
    // Trimmed to whole fragments: 3 of the 4 one-second fragments remain and play.
    let trimmed = std::fs::metadata(&path).unwrap().len();
    assert!(trimmed < whole - 300);
    assert_eq!(frames_in(&path), 30);
    let (status, _, body) = camera.get_raw(&format!("/record/{name}?usr=admin&pwd="));
    assert_eq!((status, body.len() as u64), (200, trimmed));
    // kill -9 and start again: the index on the card still matches.
    let camera = camera.restart();
    assert_eq!(camera.cgi("getRecordList", &[]).get("totalCnt"), "1");
}

#[test]
fn test_dev_state_reports_the_simulated_card() {
    let data = tempfile::tempdir().unwrap();
    let camera = Camera::start(data.path());
    let state = camera.cgi("getDevState", &[]);
    assert_eq!(state.get("sdState"), "1");
    assert_eq!(state.get("record"), "0");
    // board/sim.toml: a 512 MiB card.
    assert_eq!(state.get("sdTotalSpace"), "524288");
    let free: u64 = state.get("sdFreeSpace").parse().unwrap();
    assert!(free > 500_000 && free <= 524_288, "{free}");
    let path = camera.cgi("getRecordPath", &[]);
    assert_eq!(path.get("total"), "524288");
}

fn every_half_hour() -> Vec<(String, String)> {
    (0..7)
        .map(|d| (format!("schedule{d}"), "281474976710655".to_owned()))
        .collect()
}

fn set_schedule_snap(camera: &Camera, enable: &str, interval: &str) -> i32 {
    let days = every_half_hour();
    let mut params: Vec<(&str, &str)> = vec![("isEnable", enable), ("snapInterval", interval)];
    params.extend(days.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    camera.cgi("setScheduleSnapConfig", &params).result
}

#[test]
fn test_scheduled_snapshots_go_to_the_card_then_to_ftp() {
    let data = tempfile::tempdir().unwrap();
    let camera = Camera::start(data.path());
    let snap_dir = data.path().join("sd/snap");
    assert_eq!(
        camera
            .cgi(
                "setSnapConfig",
                &[("snapPicQuality", "1"), ("saveLocation", "0")]
            )
            .result,
        0
    );
    assert_eq!(set_schedule_snap(&camera, "1", "1"), 0);
    let scheduled = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .unwrap()
                            .to_string_lossy()
                            .starts_with("Schedule_")
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while scheduled(&snap_dir).len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let files = scheduled(&snap_dir);
    assert!(files.len() >= 2, "{files:?}");
    let jpeg = std::fs::read(&files[0]).unwrap();
    let mut decoder =
        zune_jpeg::JpegDecoder::new(zune_jpeg::zune_core::bytestream::ZCursor::new(&jpeg));
    decoder.decode().expect("a real JPEG");
    // Off: no more pictures.
    assert_eq!(set_schedule_snap(&camera, "0", "1"), 0);
    std::thread::sleep(Duration::from_millis(1500));
    let count = scheduled(&snap_dir).len();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(scheduled(&snap_dir).len(), count);
    // Bad interval: -1, nothing changes.
    assert_eq!(set_schedule_snap(&camera, "1", "0"), -1);
    assert_eq!(
        camera.cgi("getScheduleSnapConfig", &[]).get("isEnable"),
        "0"
    );

    // To FTP.
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("cams")).unwrap();
    let ftp = crate::servers::FtpServer::start(root.path(), "cam", "ftp-pw");
    let port = ftp.port.to_string();
    let reply = camera.cgi(
        "setFtpConfig",
        &[
            ("ftpAddr", "ftp://127.0.0.1/cams"),
            ("ftpPort", &port),
            ("mode", "0"),
            ("userName", "cam"),
            ("password", "ftp-pw"),
        ],
    );
    assert_eq!(reply.result, 0);
    assert_eq!(
        camera.cgi("setSnapConfig", &[("saveLocation", "2")]).result,
        0
    );
    assert_eq!(set_schedule_snap(&camera, "1", "2"), 0);
    let upload = ftp
        .uploads
        .recv_timeout(Duration::from_secs(30))
        .expect("a scheduled snapshot was uploaded");
    assert!(upload.path.starts_with("cams/Schedule_"), "{}", upload.path);
    assert_eq!(&upload.data[..2], &[0xFF, 0xD8]);
}

#[test]
fn test_record_settings_refuse_bad_values_and_keep_the_stored_ones() {
    let data = tempfile::tempdir().unwrap();
    let camera = Camera::start(data.path());
    let days = every_half_hour();
    let schedule: Vec<(&str, &str)> = days.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut good = vec![
        ("isEnable", "1"),
        ("recordLevel", "2"),
        ("spaceFullMode", "1"),
        ("isEnableAudio", "0"),
    ];
    good.extend(schedule.iter().copied());
    assert_eq!(camera.cgi("setScheduleRecordConfig", &good).result, 0);
    for (field, value) in [
        ("recordLevel", "6"),
        ("spaceFullMode", "2"),
        ("isEnable", "yes"),
        ("schedule3", "281474976710656"),
    ] {
        let mut bad = good.clone();
        bad.retain(|(k, _)| *k != field);
        bad.push((field, value));
        assert_eq!(
            camera.cgi("setScheduleRecordConfig", &bad).result,
            -1,
            "{field}={value}"
        );
    }
    let stored = camera.cgi("getScheduleRecordConfig", &[]);
    assert_eq!(
        (
            stored.get("recordLevel"),
            stored.get("spaceFullMode"),
            stored.get("isEnable")
        ),
        ("2", "1", "1")
    );
    assert_eq!(
        camera
            .cgi("setScheduleRecordStreamChn", &[("chn", "2")])
            .result,
        -1
    );
    // The sub stream is recorded as H.264: not while it is MJPEG (the factory format), and
    // it cannot become MJPEG while it is the recorded one. Refusals change nothing.
    assert_eq!(
        camera
            .cgi("setScheduleRecordStreamChn", &[("chn", "1")])
            .result,
        -4
    );
    assert_eq!(
        camera.cgi("getScheduleRecordStreamChn", &[]).get("chn"),
        "0"
    );
    assert_eq!(
        camera.cgi("setSubStreamFormat", &[("format", "0")]).result,
        0
    );
    assert_eq!(
        camera
            .cgi("setScheduleRecordStreamChn", &[("chn", "1")])
            .result,
        0
    );
    assert_eq!(
        camera.cgi("getScheduleRecordStreamChn", &[]).get("chn"),
        "1"
    );
    assert_eq!(
        camera.cgi("setSubStreamFormat", &[("format", "1")]).result,
        -4
    );
    assert_eq!(
        camera
            .cgi("setScheduleRecordStreamChn", &[("chn", "0")])
            .result,
        0
    );
    assert_eq!(
        camera.cgi("setSubStreamFormat", &[("format", "1")]).result,
        0
    );
    let alarm = [
        ("isEnablePreRecord", "1"),
        ("preRecordSecs", "61"),
        ("alarmRecordSecs", "30"),
    ];
    assert_eq!(camera.cgi("setAlarmRecordConfig", &alarm).result, -1);
    let local = [
        ("isEnableLocalAlarmRecord", "1"),
        ("localAlarmRecordSecs", "0"),
    ];
    assert_eq!(camera.cgi("setLocalAlarmRecordConfig", &local).result, -1);
    assert_eq!(
        camera
            .cgi("getLocalAlarmRecordConfig", &[])
            .get("isEnableLocalAlarmRecord"),
        "0"
    );
}
