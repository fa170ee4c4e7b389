//! Card wear of recording: bytes written to the SD card per minute of video, and the record
//! index's share of them, measured by feeding the recorder real H.264 (ffmpeg libx264,
//! 1280×720, 15 fps, 2 Mbit/s CBR-ish, a key frame every 2 s) on a simulated card.
//!
//! Segment bytes are the writer's own count; everything the process wrote is `wchar` from
//! `/proc/self/io` (every write(2)/pwrite(2), so SQLite's database and WAL writes are in it);
//! the index's share is the difference. Also printed: the H.264 payload, so the container's
//! overhead is visible, and fsyncs per minute.
//!
//! Run: `cargo bench --bench recording` (needs ffmpeg: scripts/deps/recording.list).

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, UNIX_EPOCH};

use ipcamd::recorder::Shared;
use ipcamd::recorder::engine::Engine;
use ipcamd::recorder::h264;
use ipcamd::recorder::settings::RecorderSettings;
use ipcamd_hal::sim::storage::SimStorage;
use ipcamd_hal::storage::Storage;
use ipcamd_hal::video::encoded::{EncodedFrame, H264Config, VideoCodec};

const FPS: u64 = 15;
const MINUTES: u64 = 20;

fn written_by_process() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("wchar: "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clip = dir.path().join("clip.h264");
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=1280x720:rate={FPS}"))
        .args([
            "-t",
            "20",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-bf",
            "0",
        ])
        .args([
            "-b:v", "2M", "-maxrate", "2M", "-bufsize", "1M", "-pix_fmt", "yuv420p",
        ])
        .args(["-f", "h264"])
        .arg(&clip)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    let units = h264::access_units(&std::fs::read(&clip).expect("clip"));
    let (sps, pps) = h264::parameter_sets(&units[0].0);
    let config = Arc::new(H264Config {
        sps: sps.expect("SPS").to_vec(),
        pps: pps.expect("PPS").to_vec(),
        width: 1280,
        height: 720,
    });
    println!("recording wear: {MINUTES} min of 1280x720 H.264 at {FPS} fps, ~2 Mbit/s, GOP 2 s");
    for segment_secs in [300u64, 60] {
        let card_dir = dir.path().join(format!("sd-{segment_secs}"));
        let card = Arc::new(SimStorage::open(&card_dir, None).expect("card"));
        let shared = Shared::new(Some(card.clone() as Arc<dyn Storage>));
        let settings = RecorderSettings {
            schedule_enabled: true,
            ..Default::default()
        };
        let mut engine = Engine::new(shared.clone(), settings)
            .with_segment_max(Duration::from_secs(segment_secs));
        let base = UNIX_EPOCH + Duration::from_secs(1_796_083_200);
        engine.tick(base);
        let before = written_by_process();
        let started = Instant::now();
        let frames = MINUTES * 60 * FPS;
        let mut payload = 0u64;
        for n in 0..frames {
            let (data, keyframe) = &units[(n as usize) % units.len()];
            payload += data.len() as u64;
            let pts = Duration::from_micros(n * 1_000_000 / FPS);
            let frame = Arc::new(EncodedFrame {
                codec: VideoCodec::H264,
                data: data.clone().into(),
                keyframe: *keyframe,
                pts,
                captured: base + pts,
                sequence: n,
                config: config.clone(),
            });
            engine.on_frame(frame, base + pts);
            if n % FPS == 0 {
                engine.tick(base + pts);
            }
        }
        engine.shutdown();
        let elapsed = started.elapsed();
        let total = written_by_process() - before;
        let counters = &shared.counters;
        let segments = counters.segment_bytes.load(Ordering::Relaxed);
        let fragments = counters.fragments.load(Ordering::Relaxed);
        let index = total.saturating_sub(segments);
        let per_min = |v: u64| v as f64 / MINUTES as f64 / 1024.0;
        println!("  segments of {segment_secs} s:");
        println!(
            "    written to the card  {:>9.1} KiB/min of video (H.264 payload {:.1} KiB/min, container +{:.2} %)",
            per_min(total),
            per_min(payload),
            (segments as f64 / payload as f64 - 1.0) * 100.0
        );
        println!(
            "    record index         {:>9.2} KiB/min = {:.3} % of the card writes",
            per_min(index),
            index as f64 / total as f64 * 100.0
        );
        println!(
            "    fsyncs               {:>9.1} /min; recorder CPU {:.1} ms per minute of video",
            fragments as f64 / MINUTES as f64,
            elapsed.as_secs_f64() * 1000.0 / MINUTES as f64
        );
    }
}
