//! Recording end to end on the simulated board: the synthetic scene through the software
//! H.264 encoder and the stream hub to the recorder, driven and read only through the CGI
//! surface (and the board's GPIO control socket for the IO alarm): schedule recording,
//! alarm recording with pre-record, a kill -9 mid-recording, a full card in both
//! spaceFullModes. Every recording is downloaded over HTTP and read by ffprobe.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::{Camera, CgiReply, repo};

const WHOLE_DAY: &str = "281474976710655";

/// A board file like `board/sim.toml` with `storage` as its `[storage]` table body.
fn board(dir: &Path, storage: &str) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("board/sim.toml")).unwrap();
    let stock = "[storage]\npath = \"sd\"\ncapacity_mb = 512\n";
    assert!(text.contains(stock), "board/sim.toml's [storage] changed");
    let text = text.replace(stock, &format!("[storage]\npath = \"sd\"\n{storage}\n"));
    let path = dir.join("board.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Polls `check` every 200 ms until it holds or `limit` passes; returns whether it held.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn dev_state(cam: &Camera, field: &str) -> String {
    let reply = cam.cgi("getDevState", &[]);
    assert_eq!(reply.result, 0);
    reply.get(field).to_owned()
}

fn set_schedule_record(cam: &Camera, enable: &str, level: &str, full_mode: &str) -> CgiReply {
    let days: Vec<String> = (0..7).map(|d| format!("schedule{d}")).collect();
    let mut params = vec![
        ("isEnable", enable),
        ("recordLevel", level),
        ("spaceFullMode", full_mode),
        ("isEnableAudio", "0"),
    ];
    params.extend(days.iter().map(|d| (d.as_str(), WHOLE_DAY)));
    cam.cgi("setScheduleRecordConfig", &params)
}

/// Every record of the list (all pages), oldest first.
fn all_records(cam: &Camera, record_type: &str) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let start = out.len().to_string();
        let page = cam.cgi(
            "getRecordList",
            &[("recordType", record_type), ("startNo", &start)],
        );
        assert_eq!(page.result, 0, "{page:?}");
        let cur: usize = page.get("curCnt").parse().unwrap();
        for i in 0..cur {
            out.push(page.get(&format!("record{i}")).to_owned());
        }
        let total: usize = page.get("totalCnt").parse().unwrap();
        if cur == 0 || out.len() >= total {
            return out;
        }
    }
}

/// Downloads a record over HTTP into `dir`; returns the file.
fn download(cam: &Camera, record: &str, dir: &Path) -> PathBuf {
    let (status, content_type, body) = cam.get_raw(&format!("{record}?usr=admin&pwd="));
    assert_eq!(
        (status, content_type.as_str()),
        (200, "video/mp4"),
        "{record}"
    );
    let path = dir.join(record.rsplit('/').next().unwrap());
    std::fs::write(&path, body).unwrap();
    path
}

/// (decoded frames, duration s, average frame rate) per ffprobe, decoding every frame; fails
/// on any decoding error.
fn probe(path: &Path) -> (u64, f64, f64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=nb_read_frames,avg_frame_rate,codec_name:format=duration",
        ])
        .args(["-of", "default=noprint_wrappers=1"])
        .arg(path)
        .output()
        .expect("ffprobe runs (scripts/deps/recording.list)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let errors = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && errors.trim().is_empty(),
        "ffprobe {}: {errors}",
        path.display()
    );
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {text}"))
            .to_owned()
    };
    assert_eq!(field("codec_name"), "h264");
    let rate = field("avg_frame_rate");
    let (n, d) = rate.split_once('/').unwrap();
    let fps = n.parse::<f64>().unwrap() / d.parse::<f64>().unwrap().max(1.0);
    (
        field("nb_read_frames").parse().unwrap(),
        field("duration").parse().unwrap(),
        fps,
    )
}

/// The local start time a record's name carries (the factory time zone is UTC).
fn start_of(record: &str) -> i64 {
    let name = record.rsplit('/').next().unwrap();
    let stamp: Vec<&str> = name.trim_end_matches(".mp4").split('_').collect();
    let (date, time) = (stamp[1], stamp[2]);
    let num = |s: &str| s.parse::<i64>().unwrap();
    let (y, m, d) = (num(&date[..4]), num(&date[4..6]), num(&date[6..8]));
    let (hh, mm, ss) = (num(&time[..2]), num(&time[2..4]), num(&time[4..6]));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hh * 3600 + mm * 60 + ss
}

/// A light main stream (320×240 at 10 fps, a key frame a second) that the simulated sensor
/// and the software encoder keep up with on a loaded test machine.
fn light_main_stream(cam: &Camera) {
    let params = [
        ("streamType", "0"),
        ("resolution", "3"),
        ("frameRate", "10"),
        ("GOP", "10"),
    ];
    assert_eq!(cam.cgi("setVideoStreamParam", &params).result, 0);
    assert_eq!(
        cam.cgi("setMainVideoStreamType", &[("streamType", "0")])
            .result,
        0
    );
}

fn main_fps(cam: &Camera) -> f64 {
    let stream_type = cam.cgi("getMainVideoStreamType", &[]);
    let t = stream_type.get("streamType").to_owned();
    let params = cam.cgi("getVideoStreamParam", &[]);
    params.get(&format!("frameRate{t}")).parse().unwrap()
}

#[test]
fn test_schedule_recording_makes_segments_ffprobe_reads_at_the_stream_rate() {
    let dir = tempfile::tempdir().unwrap();
    let board = board(dir.path(), "capacity_mb = 512\nsegment_secs = 3");
    let cam = Camera::start_with_board(&dir.path().join("data"), &board);
    light_main_stream(&cam);
    let fps = main_fps(&cam);
    assert_eq!(fps, 10.0);
    assert_eq!(set_schedule_record(&cam, "1", "0", "0").result, 0);
    assert!(
        eventually(Duration::from_secs(60), || all_records(&cam, "0").len()
            >= 3),
        "three schedule segments"
    );
    assert_eq!(dev_state(&cam, "record"), "1");
    assert_eq!(set_schedule_record(&cam, "0", "0", "0").result, 0);
    assert!(eventually(Duration::from_secs(10), || dev_state(
        &cam, "record"
    ) == "0"));
    let records = all_records(&cam, "0");
    assert!(
        records.iter().all(|r| r.starts_with("/record/schedule_")),
        "{records:?}"
    );
    // Every segment but the last (cut when the schedule ended) is one segment long.
    for record in &records[..records.len() - 1] {
        let file = download(&cam, record, dir.path());
        let (frames, duration, rate) = probe(&file);
        assert!((2.5..4.5).contains(&duration), "{record}: {duration} s");
        assert!(
            (rate - fps).abs() <= fps * 0.15,
            "{record}: {rate} fps, stream {fps}"
        );
        assert!(
            frames as f64 >= duration * fps * 0.8,
            "{record}: {frames} frames"
        );
    }
    // recordLevel 2 keeps 15 of 30 frames.
    let before = records.len();
    assert_eq!(set_schedule_record(&cam, "1", "2", "0").result, 0);
    assert!(eventually(Duration::from_secs(60), || all_records(
        &cam, "0"
    )
    .len()
        >= before + 3));
    let records = all_records(&cam, "0");
    // The segment open at the change may hold frames of both levels: the next is all new.
    let file = download(&cam, &records[before + 1], dir.path());
    let (_, _, rate) = probe(&file);
    assert!(
        (rate - fps / 2.0).abs() <= fps * 0.15,
        "recordLevel 2: {rate} fps, stream {fps}"
    );
}

/// The sim board's GPIO control socket.
fn gpio_set(cam: &Camera, line: &str, level: bool) {
    let stream = UnixStream::connect(cam.data.join("sim-gpio.sock")).expect("control socket");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    writeln!(writer, "set {line} {}", u8::from(level)).unwrap();
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply).unwrap();
    assert!(reply.starts_with("ok"), "{reply}");
}

#[test]
fn test_alarm_recording_holds_the_pre_record_seconds_before_the_trigger() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(&dir.path().join("data"));
    light_main_stream(&cam);
    let alarm = [
        ("isEnablePreRecord", "1"),
        ("preRecordSecs", "4"),
        ("alarmRecordSecs", "3"),
    ];
    assert_eq!(cam.cgi("setAlarmRecordConfig", &alarm).result, 0);
    let days: Vec<String> = (0..7).map(|d| format!("schedule{d}")).collect();
    let mut io = vec![
        ("isEnable", "1"),
        ("linkage", "8"),
        ("snapInterval", "1"),
        ("alarmLevel", "1"),
        ("triggerInterval", "60"),
    ];
    io.extend(days.iter().map(|d| (d.as_str(), WHOLE_DAY)));
    assert_eq!(cam.cgi("setIOAlarmConfig", &io).result, 0);
    // Pre-record keeps the stream coming; let the ring fill.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(dev_state(&cam, "record"), "0");
    assert!(all_records(&cam, "3").is_empty());
    let trigger = unix_now();
    gpio_set(&cam, "alarm_in", true);
    assert!(eventually(Duration::from_secs(10), || dev_state(
        &cam, "record"
    ) == "1"));
    gpio_set(&cam, "alarm_in", false);
    assert!(eventually(Duration::from_secs(20), || dev_state(
        &cam, "record"
    ) == "0"));
    let alarms = all_records(&cam, "1");
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    assert!(all_records(&cam, "0").is_empty());
    // The segment starts before the trigger by the pre-record time (a key frame at most a
    // GOP earlier), and holds the seconds before and after.
    let start = start_of(&alarms[0]);
    assert!(
        (trigger - 6..=trigger - 3).contains(&start),
        "segment starts at {start}, trigger at {trigger}"
    );
    let file = download(&cam, &alarms[0], dir.path());
    let (_, duration, _) = probe(&file);
    assert!(duration >= 6.0, "{duration} s for 4 s before and 3 s after");
}

/// Names of the segment files on the card.
fn files_on_card(data: &Path) -> BTreeSet<String> {
    std::fs::read_dir(data.join("sd/record"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".mp4"))
        .collect()
}

#[test]
fn test_kill_9_mid_recording_leaves_segments_that_play_and_an_index_that_matches() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let board = board(dir.path(), "capacity_mb = 512\nsegment_secs = 60");
    let cam = Camera::start_with_board(&data, &board);
    light_main_stream(&cam);
    assert_eq!(set_schedule_record(&cam, "1", "0", "0").result, 0);
    assert!(eventually(Duration::from_secs(20), || dev_state(
        &cam, "record"
    ) == "1"));
    // A few fragments reach the card, then the power goes.
    std::thread::sleep(Duration::from_secs(5));
    let cam = cam.restart();
    // The repair pass ran at start-up: the cut segment is listed, and what is listed is on
    // the card.
    let listed: BTreeSet<String> = all_records(&cam, "3")
        .iter()
        .map(|r| r.trim_start_matches("/record/").to_owned())
        .collect();
    assert!(!listed.is_empty());
    assert!(listed.is_subset(&files_on_card(&data)), "{listed:?}");
    // Recording resumes in a new segment.
    assert!(
        eventually(Duration::from_secs(30), || all_records(&cam, "3").len()
            >= 2),
        "recording did not resume after the restart"
    );
    // Stop recording so the set is stable, then compare exactly.
    assert_eq!(set_schedule_record(&cam, "0", "0", "0").result, 0);
    assert!(eventually(Duration::from_secs(10), || dev_state(
        &cam, "record"
    ) == "0"));
    let listed: Vec<String> = all_records(&cam, "3");
    let names: BTreeSet<String> = listed
        .iter()
        .map(|r| r.trim_start_matches("/record/").to_owned())
        .collect();
    assert_eq!(names, files_on_card(&data));
    // The segment cut by the kill plays up to its last flushed fragment (about 1 s apart).
    let cut = download(&cam, &listed[0], dir.path());
    let (frames, duration, _) = probe(&cut);
    assert!(
        frames > 0 && duration >= 3.0,
        "{frames} frames, {duration} s of about 5 s"
    );
    for record in &listed[1..] {
        probe(&download(&cam, record, dir.path()));
    }
}

// The waits for the card to fill are generous: under qemu-user on a loaded machine the
// software encoder makes the 720p main stream at a few frames a second.
#[test]
fn test_a_full_card_overwrites_the_oldest_with_space_full_mode_0() {
    let dir = tempfile::tempdir().unwrap();
    let board = board(dir.path(), "capacity_mb = 7\nsegment_secs = 2");
    let cam = Camera::start_with_board(&dir.path().join("data"), &board);
    assert_eq!(set_schedule_record(&cam, "1", "0", "0").result, 0);
    assert!(eventually(Duration::from_secs(120), || all_records(
        &cam, "0"
    )
    .len()
        >= 2));
    let first = all_records(&cam, "0")[0].clone();
    // Overwriting: the oldest goes, recording goes on.
    assert!(
        eventually(Duration::from_secs(240), || all_records(&cam, "0")[0]
            != first),
        "the oldest recording was never overwritten"
    );
    assert_eq!(dev_state(&cam, "record"), "1");
    assert_eq!(dev_state(&cam, "sdState"), "1");
    // A recent closed segment plays (the oldest may be overwritten while it downloads).
    let records = all_records(&cam, "0");
    assert!(records.len() >= 2, "{records:?}");
    probe(&download(&cam, &records[records.len() - 2], dir.path()));
}

#[test]
fn test_a_full_card_stops_recording_and_says_so_with_space_full_mode_1() {
    let dir = tempfile::tempdir().unwrap();
    let board = board(dir.path(), "capacity_mb = 7\nsegment_secs = 2");
    let cam = Camera::start_with_board(&dir.path().join("data"), &board);
    assert_eq!(set_schedule_record(&cam, "1", "0", "1").result, 0);
    assert!(eventually(Duration::from_secs(120), || dev_state(
        &cam, "record"
    ) == "1"));
    // The system log says so (kind 6) when the card fills up.
    let stopped = || {
        let log = cam.cgi("getLog", &[("offset", "0"), ("count", "10")]);
        log.fields
            .iter()
            .any(|(k, v)| k.starts_with("log") && v.ends_with("+6"))
    };
    assert!(
        eventually(Duration::from_secs(240), stopped),
        "recording never stopped on the full card: {}",
        cam.log.try_iter().collect::<Vec<_>>().join("\n")
    );
    assert!(eventually(Duration::from_secs(10), || dev_state(
        &cam, "record"
    ) == "0"));
    // Nothing more is written.
    let first = all_records(&cam, "0");
    assert!(!first.is_empty());
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(all_records(&cam, "0"), first);
    assert_eq!(dev_state(&cam, "record"), "0");
    let free: u64 = dev_state(&cam, "sdFreeSpace").parse().unwrap();
    assert!(free < 4 * 1024 + 1024, "{free} KiB free");
    probe(&download(&cam, &first[0], dir.path()));
}
