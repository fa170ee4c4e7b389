//! The recorder with real H.264 (ffmpeg's libx264 over lavfi testsrc, cut into access units)
//! on a simulated card, recordings checked by ffprobe.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipcamd_hal::sim::storage::SimStorage;
use ipcamd_hal::storage::{FULL_RESERVE_BYTES, Storage};
use ipcamd_hal::video::encoded::{EncodedFrame, H264Config, VideoCodec};

use super::*;
use crate::recorder::index::{Index, ListQuery, RECORD_DIR};
use crate::recorder::{AlarmEvent, Feed, FrameFeed, FrameSource, Recorder, RecorderParts, Shared};
use crate::recorder::{h264, index, mp4};

/// 10 fps, GOP 10 (a key frame per second), 320×240, about 1 Mbit/s, no B frames.
const FPS: u64 = 10;

/// Access units (Annex B, key frame) and the stream's parameter sets.
type TestStream = (Vec<(Vec<u8>, bool)>, Arc<H264Config>);

/// Access units of 12 s of testsrc (made once per test binary).
fn stream() -> &'static TestStream {
    static STREAM: OnceLock<TestStream> = OnceLock::new();
    STREAM.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("test.h264");
        let status = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-f", "lavfi", "-i"])
            .arg(format!("testsrc=size=320x240:rate={FPS}"))
            .args([
                "-t", "12", "-c:v", "libx264", "-g", "10", "-bf", "0", "-b:v", "1M",
            ])
            .args(["-pix_fmt", "yuv420p", "-f", "h264"])
            .arg(&out)
            .status()
            .expect("ffmpeg runs (scripts/deps/recording.list)");
        assert!(status.success());
        let bytes = std::fs::read(&out).unwrap();
        let units = h264::access_units(&bytes);
        let (sps, pps) = h264::parameter_sets(&units[0].0);
        let config = Arc::new(H264Config {
            sps: sps.unwrap().to_vec(),
            pps: pps.unwrap().to_vec(),
            width: 320,
            height: 240,
        });
        (units, config)
    })
}

const BASE: u64 = 1_796_000_000; // 2026-11-30 (a Monday) 23:33:20 UTC

/// Frame `n` of an endless repetition of the test stream (pts n/FPS).
fn frame(n: u64) -> Arc<EncodedFrame> {
    let (units, config) = stream();
    let (data, keyframe) = &units[(n as usize) % units.len()];
    let pts = Duration::from_millis(n * 1000 / FPS);
    Arc::new(EncodedFrame {
        codec: VideoCodec::H264,
        data: data.clone().into(),
        keyframe: *keyframe,
        pts,
        captured: UNIX_EPOCH + Duration::from_secs(BASE) + pts,
        sequence: n,
        config: config.clone(),
    })
}

fn at(n: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(BASE) + Duration::from_millis(n * 1000 / FPS)
}

fn always() -> RecorderSettings {
    RecorderSettings {
        schedule_enabled: true,
        ..Default::default()
    }
}

struct Bench {
    _dir: tempfile::TempDir,
    card: Arc<SimStorage>,
    shared: Arc<Shared>,
}

fn card(capacity: Option<u64>) -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let card = Arc::new(SimStorage::open(&dir.path().join("sd"), capacity).unwrap());
    let shared = Shared::new(Some(card.clone() as Arc<dyn Storage>));
    Bench {
        _dir: dir,
        card,
        shared,
    }
}

impl Bench {
    fn engine(&self, settings: RecorderSettings) -> Engine {
        let mut engine = Engine::new(self.shared.clone(), settings);
        engine.tick(at(0));
        engine
    }

    fn record_dir(&self) -> PathBuf {
        self.card.root().join(RECORD_DIR)
    }

    fn rows(&self) -> Vec<index::SegmentRow> {
        let query = ListQuery {
            from_local: i64::MIN,
            to_local: i64::MAX,
            kind: None,
            offset: 0,
            limit: 1000,
        };
        self.shared
            .with_index(|index| index.list(&query))
            .expect("index open")
            .1
    }
}

/// (frames, duration s, average frame rate) of a file per ffprobe, decoding every frame.
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
        .expect("ffprobe runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
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
    let rate = n.parse::<f64>().unwrap() / d.parse::<f64>().unwrap().max(1.0);
    (
        field("nb_read_frames").parse().unwrap(),
        field("duration").parse().unwrap(),
        rate,
    )
}

#[test]
fn test_schedule_recording_makes_segments_ffprobe_reads_at_the_frame_rate() {
    let bench = card(None);
    let mut engine = bench
        .engine(always())
        .with_segment_max(Duration::from_secs(5));
    for n in 0..120 {
        engine.on_frame(frame(n), at(n));
    }
    engine.close("test");
    let rows = bench.rows();
    // 12 s in segments of 5 s rolled at key frames: 5 + 5 + 2.
    assert_eq!(rows.len(), 3, "{rows:?}");
    let mut frames = 0;
    for row in &rows {
        assert!(!row.open);
        assert!(row.name.starts_with("schedule_"));
        let path = bench.record_dir().join(&row.name);
        assert_eq!(row.size, std::fs::metadata(&path).unwrap().len());
        let (n, duration, rate) = probe(&path);
        frames += n;
        assert!((rate - FPS as f64).abs() < 0.2, "{rate}");
        assert!(
            (duration - n as f64 / FPS as f64).abs() < 0.15,
            "{duration} for {n}"
        );
        assert_eq!(row.end_utc - row.start_utc, (n / FPS) as i64);
    }
    assert_eq!(frames, 120);
    assert_eq!(rows[0].start_utc, BASE as i64);
}

#[test]
fn test_record_level_keeps_a_decodable_share_of_frames() {
    let bench = card(None);
    let mut settings = always();
    settings.keep_per_30 = 15;
    let mut engine = bench.engine(settings);
    for n in 0..60 {
        engine.on_frame(frame(n), at(n));
    }
    engine.close("test");
    let rows = bench.rows();
    let (n, duration, _) = probe(&bench.record_dir().join(&rows[0].name));
    // 15 of 30: the first half of each one-second GOP, every one decodable (the first GOP,
    // whose length is not known yet, whole).
    assert_eq!(n, 10 + 5 * 5);
    // Kept frames last until the next kept one; the very last one a frame interval.
    assert!((duration - 5.5).abs() < 0.15, "{duration}");
}

#[test]
fn test_alarm_recording_holds_the_pre_record_and_extends_on_a_new_trigger() {
    let bench = card(None);
    let settings = RecorderSettings {
        pre_record: true,
        pre_record_secs: 2,
        alarm_record_secs: 3,
        ..Default::default()
    };
    let mut engine = bench.engine(settings);
    let motion = AlarmEvent {
        source: "motion alarm",
        record_linkage: true,
    };
    for n in 0..110 {
        if n == 45 {
            engine.on_alarm(motion, at(n));
        }
        if n == 65 {
            // Re-trigger at 6.5 s: the recording now ends at 9.5 s, not 7.5 s.
            engine.on_alarm(motion, at(n));
        }
        engine.on_frame(frame(n), at(n));
        if n % FPS == 0 {
            engine.tick(at(n));
        }
    }
    let rows = bench.rows();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert!(row.name.starts_with("alarm_"));
    // Trigger at 4.5 s, pre-record 2 s: starts on the key frame at 2.0 s.
    assert_eq!(row.start_utc, BASE as i64 + 2);
    let (n, duration, _) = probe(&bench.record_dir().join(&row.name));
    // Frames 20 (2.0 s) up to the extended end at 9.5 s (frame 95).
    assert_eq!(n, 75, "{duration}");
    // An alarm without the record linkage and no local alarm recording records nothing.
    let mut quiet = bench.engine(RecorderSettings::default());
    quiet.on_alarm(
        AlarmEvent {
            source: "IO alarm",
            record_linkage: false,
        },
        at(0),
    );
    for n in 0..20 {
        quiet.on_frame(frame(n), at(n));
    }
    assert!(quiet.active_name().is_none());
}

#[test]
fn test_a_cut_segment_is_trimmed_to_its_last_whole_fragment_and_indexed() {
    let bench = card(None);
    let mut engine = bench.engine(always());
    for n in 0..75 {
        engine.on_frame(frame(n), at(n));
    }
    let name = engine.active_name().unwrap().to_owned();
    // kill -9: nothing closes (the dead process's lock on the index goes with it); then the
    // power cut leaves half a fragment at the end.
    std::mem::forget(engine);
    bench.shared.close_index();
    let path = bench.record_dir().join(&name);
    let whole = std::fs::metadata(&path).unwrap().len();
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(&mp4::fragment(99, 0, &[])[..20]).unwrap();
    }
    let index = Index::open(bench.card.root()).unwrap();
    let done = index.reconcile(None).unwrap();
    assert_eq!(done.repaired, 1);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
    let row = index.get(&name).unwrap().unwrap();
    assert!(!row.open);
    assert_eq!(row.size, whole);
    let (n, _, _) = probe(&path);
    // Every fragment written before the kill plays: 7 whole seconds.
    assert_eq!(n, 70);
    assert_eq!(row.end_utc - row.start_utc, 7);
    // A file copied on by hand is added; a file deleted by hand is dropped.
    std::fs::copy(&path, bench.record_dir().join("alarm_20261201_000000.mp4")).unwrap();
    std::fs::remove_file(&path).unwrap();
    let done = index.reconcile(None).unwrap();
    assert_eq!((done.added, done.removed), (1, 1));
}

#[test]
fn test_full_card_overwrites_the_oldest_or_stops() {
    // Room for 1.5 MiB of recordings above the reserve (about 90 s of the test stream).
    let capacity = FULL_RESERVE_BYTES + 1536 * 1024;
    let bench = card(Some(capacity));
    let mut engine = bench
        .engine(always())
        .with_segment_max(Duration::from_secs(2));
    for n in 0..1500 {
        engine.on_frame(frame(n), at(n));
        if n % FPS == 0 {
            engine.tick(at(n));
        }
    }
    assert!(
        engine.active_name().is_some(),
        "still recording after overwriting"
    );
    let rows = bench.rows();
    assert!(rows.len() >= 3, "{rows:?}");
    assert!(
        rows[0].start_utc > BASE as i64 + 10,
        "the oldest went: {:?}",
        rows[0]
    );
    let used: u64 = rows.iter().map(|r| r.size).sum();
    assert!(used < capacity - FULL_RESERVE_BYTES, "{used}");
    drop(engine);

    let bench = card(Some(capacity));
    let mut settings = always();
    settings.overwrite_when_full = false;
    let mut engine = bench
        .engine(settings)
        .with_segment_max(Duration::from_secs(2));
    for n in 0..1500 {
        engine.on_frame(frame(n), at(n));
        if n % FPS == 0 {
            engine.tick(at(n));
        }
    }
    assert!(engine.active_name().is_none(), "stopped when full");
    let rows = bench.rows();
    assert_eq!(rows[0].start_utc, BASE as i64, "nothing overwritten");
    assert!(
        bench
            .shared
            .counters
            .segment_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
            < capacity
    );
}

#[test]
fn test_card_removal_ends_the_segment_and_recording_resumes_on_a_new_card() {
    let bench = card(None);
    let mut engine = bench.engine(always());
    for n in 0..35 {
        engine.on_frame(frame(n), at(n));
    }
    let first = engine.active_name().unwrap().to_owned();
    bench.card.set_inserted(false);
    engine.tick(at(35));
    assert!(engine.active_name().is_none());
    for n in 35..50 {
        engine.on_frame(frame(n), at(n));
    }
    bench.card.set_inserted(true);
    engine.tick(at(50));
    for n in 50..80 {
        engine.on_frame(frame(n), at(n));
    }
    let second = engine.active_name().unwrap().to_owned();
    assert_ne!(first, second);
    engine.close("test");
    let rows = bench.rows();
    assert_eq!(rows.len(), 2);
    // The first plays up to its last whole fragment (3 s); the second from 5.0 s.
    assert_eq!(probe(&bench.record_dir().join(&first)).0, 30);
    assert_eq!(probe(&bench.record_dir().join(&second)).0, 30);
    assert!(rows.iter().all(|r| !r.open));
}

#[test]
fn test_the_recorder_asks_for_frames_only_when_it_needs_them() {
    let bench = card(None);
    let wanted =
        |shared: &Arc<Shared>| match shared.wanted.load(std::sync::atomic::Ordering::Relaxed) {
            u8::MAX => None,
            s => Some(s),
        };
    let mut idle = bench.engine(RecorderSettings::default());
    idle.tick(at(0));
    assert_eq!(wanted(&bench.shared), None);
    idle.on_alarm(
        AlarmEvent {
            source: "motion alarm",
            record_linkage: true,
        },
        at(0),
    );
    assert_eq!(wanted(&bench.shared), Some(0));
    idle.tick(at(400));
    assert_eq!(wanted(&bench.shared), None, "the alarm recording ended");
    let pre = bench.engine(RecorderSettings {
        pre_record: true,
        stream: 1,
        ..Default::default()
    });
    drop(pre);
    assert_eq!(
        wanted(&bench.shared),
        Some(1),
        "pre-record keeps the ring full"
    );
    bench.card.set_inserted(false);
    let mut schedule = bench.engine(always());
    schedule.tick(at(1));
    assert_eq!(wanted(&bench.shared), None, "no card, nothing to record to");
}

/// A stream source for the recorder thread: 10 fps of the test stream in real time, counting
/// who subscribed and whether a subscription is live.
struct PacedSource {
    subscribed: std::sync::atomic::AtomicUsize,
    live: Arc<std::sync::atomic::AtomicBool>,
}

struct PacedFeed {
    n: u64,
    next: std::time::Instant,
    live: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for PacedFeed {
    fn drop(&mut self) {
        self.live.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl FrameFeed for PacedFeed {
    fn next(&mut self, wait: Duration) -> Feed {
        let now = std::time::Instant::now();
        if self.next > now + wait {
            std::thread::sleep(wait);
            return Feed::Idle;
        }
        std::thread::sleep(self.next.saturating_duration_since(now));
        self.next += Duration::from_millis(1000 / FPS);
        let mut f = (*frame(self.n)).clone();
        f.captured = SystemTime::now();
        self.n += 1;
        Feed::Frame(Arc::new(f))
    }
}

impl FrameSource for PacedSource {
    fn subscribe(&self, stream: u8) -> Option<Box<dyn FrameFeed>> {
        assert_eq!(stream, 0);
        self.subscribed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.live.store(true, std::sync::atomic::Ordering::SeqCst);
        Some(Box::new(PacedFeed {
            n: 0,
            next: std::time::Instant::now(),
            live: self.live.clone(),
        }))
    }
}

fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn test_the_recorder_thread_subscribes_for_an_alarm_records_it_and_leaves_the_stream() {
    use std::sync::atomic::Ordering::SeqCst;
    let dir = tempfile::tempdir().unwrap();
    let board = Arc::new(
        ipcamd_hal::board::BoardSpec::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("board/sim.toml"),
        )
        .unwrap(),
    );
    let store = Arc::new(crate::store::Store::open(&dir.path().join("db")).unwrap());
    let settings = Arc::new(crate::settings::Settings::new(store.clone(), board));
    settings
        .write("alarm_record", &[("alarmRecordSecs", "2")])
        .unwrap();
    let hal_clock: Arc<dyn ipcamd_hal::clock::Clock> =
        Arc::new(ipcamd_hal::clock::OffsetClock::default());
    let clock = Arc::new(crate::local_time::LocalClock::new(
        hal_clock.clone(),
        settings.clone(),
    ));
    let log = Arc::new(crate::store::event_log::EventLog::new(store, hal_clock));
    let state = Arc::new(crate::state::DeviceState::default());
    let card = Arc::new(SimStorage::open(&dir.path().join("sd"), None).unwrap());
    let source = Arc::new(PacedSource {
        subscribed: Default::default(),
        live: Default::default(),
    });
    let (alarms, alarm_rx) = std::sync::mpsc::sync_channel(4);
    let (recorder, job) = Recorder::new(RecorderParts {
        storage: card.clone(),
        settings,
        clock,
        log,
        state: state.clone(),
        alarms: alarm_rx,
        frames: Some(source.clone()),
        snapshots: None,
    });
    let _thread = job.spawn(crate::heartbeat::Heartbeat::new()).unwrap();
    // An alarm without the record bit (and no local alarm recording): nothing is needed.
    alarms
        .send(AlarmEvent {
            source: "motion alarm",
            record_linkage: false,
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(source.subscribed.load(SeqCst), 0);
    alarms
        .send(AlarmEvent {
            source: "motion alarm",
            record_linkage: true,
        })
        .unwrap();
    assert!(eventually(|| state.recording.get() == 1));
    assert_eq!(source.subscribed.load(SeqCst), 1);
    // Two seconds later the alarm recording ends and the stream is left.
    assert!(eventually(|| state.recording.get() == 0));
    assert!(eventually(|| !source.live.load(SeqCst)));
    let query = ListQuery {
        from_local: i64::MIN,
        to_local: i64::MAX,
        kind: None,
        offset: 0,
        limit: 10,
    };
    let (total, rows) = recorder.list(&query).unwrap();
    assert_eq!(total, 1);
    assert_eq!(rows[0].kind, RecordKind::Alarm);
    assert!(!rows[0].open);
    let (frames, duration, _) = probe(&card.root().join(RECORD_DIR).join(&rows[0].name));
    assert!(frames >= 15, "{frames} frames");
    assert!((1.5..4.0).contains(&duration), "{duration} s");
    recorder.stop(Duration::from_secs(5));
}
