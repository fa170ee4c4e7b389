//! Motion detector throughput: ns per frame and MB/s of luma processed, for the sub-stream
//! sizes the daemon feeds (320×240, 640×480) and the main stream (1280×720).
//!
//! `cargo bench --bench motion` runs every size. Options (for profilers and emulators):
//! `--frames N` frames per size (default 400), `--size WxH` one size only. For a stable,
//! machine-independent figure run it under callgrind and count the instructions of
//! `Detector::feed` only:
//! `valgrind --tool=callgrind --toggle-collect='*Detector*feed*' target/release/deps/motion-* --frames 20`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ipcamd::motion::{Detector, LocalTime, LumaFrame, MotionConfig, Sensitivity};

/// A textured scene with a noisy gradient, and a copy with a bright square moved by `shift`.
fn scene(width: usize, height: usize, shift: usize) -> Vec<u8> {
    let mut frame = vec![0u8; width * height];
    let mut noise = 0x2545_f491u32;
    for y in 0..height {
        for x in 0..width {
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            let block = ((x / 8) as u32).wrapping_mul(0x9e37_79b1) ^ (((y / 8) as u32) << 7);
            let value = 40 + (block >> 3) % 140 + (x * 40 / width) as u32 + noise % 7;
            frame[y * width + x] = value.min(255) as u8;
        }
    }
    let side = width / 12;
    let (x0, y0) = ((shift * 7) % (width - side), height / 3);
    for y in y0..y0 + side {
        frame[y * width + x0..y * width + x0 + side].fill(235);
    }
    frame
}

fn bench_size(width: usize, height: usize, frames: u32) {
    let scenes: Vec<Vec<u8>> = (0..8).map(|i| scene(width, height, i * 5)).collect();
    let mut detector = Detector::new(MotionConfig {
        enabled: true,
        sensitivity: Sensitivity::Normal,
        ..MotionConfig::default()
    });
    let local = LocalTime::new(0, 12 * 60).expect("valid local time");
    let t0 = Instant::now();
    let mut events = 0u32;
    // The first frame only learns the scene; warm up the caches with a few more.
    for i in 0..8u32 {
        let data = &scenes[i as usize % scenes.len()];
        let frame = LumaFrame::new(data, width, height, width).expect("frame geometry");
        detector.feed(&frame, t0 + Duration::from_millis(100) * i, local);
    }
    let start = Instant::now();
    for i in 0..frames {
        let data = &scenes[i as usize % scenes.len()];
        let frame = LumaFrame::new(black_box(data), width, height, width).expect("frame geometry");
        let now = t0 + Duration::from_millis(100) * (i + 8);
        if black_box(detector.feed(&frame, now, local)).is_some() {
            events += 1;
        }
    }
    let elapsed = start.elapsed();
    let ns_per_frame = elapsed.as_nanos() as f64 / f64::from(frames);
    let bytes = (width * height) as f64;
    println!(
        "{width:>5}x{height:<4} {ns_per_frame:>12.0} ns/frame {:>9.1} MB/s {:>8.2} ns/pixel  ({frames} frames, {events} alarms)",
        bytes / ns_per_frame * 1e3,
        ns_per_frame / bytes,
    );
}

fn main() {
    let mut frames = 400u32;
    let mut sizes = vec![(320, 240), (640, 480), (1280, 720)];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--frames" => {
                frames = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .expect("--frames takes a positive number");
            }
            "--size" => {
                let size = args.next().unwrap_or_default();
                let parsed = size
                    .split_once('x')
                    .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)));
                sizes = vec![parsed.expect("--size takes WIDTHxHEIGHT")];
            }
            // `cargo bench` passes --bench; filters are not supported.
            _ => {}
        }
    }
    println!("motion detector, {} build", std::env::consts::ARCH);
    for (width, height) in sizes {
        bench_size(width, height, frames);
    }
}
