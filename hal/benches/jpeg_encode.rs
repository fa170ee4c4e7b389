//! JPEG encoding benchmark: encode time per frame and JPEG size for simulated 1280×720 and
//! 640×480 I420 frames, comparing the encoders:
//!
//! - libjpeg-turbo (`TurboJpegEncoder`, with `--features turbojpeg`: I420 planes in, 4:2:0);
//! - `PureRustJpegEncoder` (`jpeg-encoder` fed I420 rows directly, 4:2:0): the reference;
//! - `jpeg-encoder` fed a 4:4:4 YCbCr picture (upsampling counted in the time);
//! - the `image` crate's `JpegEncoder` fed RGB (I420→RGB conversion counted in the time).
//!
//! Also prints the simulated sensor's frame production cost and a whole per-frame pipeline
//! (OSD text + two privacy masks + encode), and counts heap allocations per call with a
//! counting global allocator. Run with
//! `cargo bench -p ipcamd-hal --features turbojpeg --bench jpeg_encode` (release profile, like
//! the device build).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ipcamd_hal::board::BoardSpec;
use ipcamd_hal::sim::video::{SimVideo, SoftwareJpegEncoder};
use ipcamd_hal::video::jpeg::PureRustJpegEncoder;
use ipcamd_hal::video::overlay::{Rect, black_rect, draw_text};
use ipcamd_hal::video::{CaptureConfig, Encoder, Frame, VideoSource};

/// The system allocator, counting calls and bytes.
struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; the counters are atomics.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(new_size, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const BOARD: &str = r#"
[board]
name = "bench"
backend = "sim"
[identity]
model = 1
model_name = "SIM"
product_name = "Sim"
hardware_version = "1"
[capabilities]
"#;

/// CPU time used by this thread so far.
fn thread_cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

/// Per-call cost of `f`, run repeatedly for about `budget`.
struct Cost {
    wall_ms: f64,
    cpu_ms: f64,
    allocations: f64,
    allocated_kib: f64,
}

fn time_per_call(budget: Duration, mut f: impl FnMut()) -> Cost {
    f(); // warm-up (first-use allocations)
    let start = Instant::now();
    let cpu_start = thread_cpu();
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    let allocated = ALLOCATED_BYTES.load(Ordering::Relaxed);
    let mut calls = 0u32;
    while start.elapsed() < budget || calls < 3 {
        f();
        calls += 1;
    }
    Cost {
        wall_ms: start.elapsed().as_secs_f64() * 1000.0 / f64::from(calls),
        cpu_ms: (thread_cpu() - cpu_start).as_secs_f64() * 1000.0 / f64::from(calls),
        allocations: (ALLOCATIONS.load(Ordering::Relaxed) - allocations) as f64 / f64::from(calls),
        allocated_kib: (ALLOCATED_BYTES.load(Ordering::Relaxed) - allocated) as f64
            / 1024.0
            / f64::from(calls),
    }
}

fn row(case: &str, size: &str, quality: &str, cost: &Cost, bytes: Option<usize>) {
    let kib = bytes.map_or("-".to_string(), |b| format!("{:.1}", b as f64 / 1024.0));
    println!(
        "{case:<44} {size:>9} {quality:>4} {:>8.2} {:>8.2} {kib:>10} {:>7.1} {:>9.1}",
        cost.cpu_ms, cost.wall_ms, cost.allocations, cost.allocated_kib
    );
}

fn i420_to_ycbcr444(frame: &Frame, out: &mut Vec<u8>) {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let cw = w.div_ceil(2);
    let ch = h.div_ceil(2);
    let (y, chroma) = frame.data.split_at(w * h);
    let (u, v) = chroma.split_at(cw * ch);
    out.clear();
    for row in 0..h {
        for col in 0..w {
            let c = (row / 2) * cw + col / 2;
            out.extend_from_slice(&[y[row * w + col], u[c], v[c]]);
        }
    }
}

fn i420_to_rgb(frame: &Frame, out: &mut Vec<u8>) {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let cw = w.div_ceil(2);
    let ch = h.div_ceil(2);
    let (y, chroma) = frame.data.split_at(w * h);
    let (u, v) = chroma.split_at(cw * ch);
    out.clear();
    for row in 0..h {
        for col in 0..w {
            let c = (row / 2) * cw + col / 2;
            let yy = i32::from(y[row * w + col]);
            let (cb, cr) = (i32::from(u[c]) - 128, i32::from(v[c]) - 128);
            let r = yy + ((91_881 * cr) >> 16);
            let g = yy - ((22_554 * cb + 46_802 * cr) >> 16);
            let b = yy + ((116_130 * cb) >> 16);
            out.extend_from_slice(&[
                r.clamp(0, 255) as u8,
                g.clamp(0, 255) as u8,
                b.clamp(0, 255) as u8,
            ]);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let budget = Duration::from_millis(
        std::env::var("BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1500),
    );
    let board = BoardSpec::parse(BOARD)?;
    println!(
        "{:<44} {:>9} {:>4} {:>8} {:>8} {:>10} {:>7} {:>9}",
        "case", "size", "q", "cpu ms", "wall ms", "KiB/frame", "allocs", "alloc KiB"
    );
    for (width, height) in [(1280u32, 720u32), (640, 480)] {
        let video = SimVideo::open(&board)?;
        video.configure(CaptureConfig {
            width,
            height,
            fps: 60,
        })?;
        let size = format!("{width}x{height}");
        // Frame production cost of the simulated sensor (pacing excluded: 60 fps is faster
        // than one render, so next_frame never sleeps after the first).
        let mut frames = Vec::new();
        let render_ms = time_per_call(budget, || {
            if let Ok(frame) = video.next_frame(Duration::from_secs(1)) {
                if frames.len() < 8 {
                    frames.push(frame);
                }
            }
        });
        row(
            "sim sensor render (scene + ISP)",
            &size,
            "-",
            &render_ms,
            None,
        );
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        for quality in [50u8, 85] {
            let mut i = 0usize;
            let reference = time_per_call(budget, || {
                i += 1;
                let frame = &frames[i % frames.len()];
                PureRustJpegEncoder
                    .encode_jpeg(frame, quality, &mut out)
                    .expect("encode");
                black_box(&out);
            });
            row(
                "jpeg-encoder, I420 rows (reference)",
                &size,
                &quality.to_string(),
                &reference,
                Some(out.len()),
            );
            #[cfg(feature = "turbojpeg")]
            {
                let turbo = time_per_call(budget, || {
                    i += 1;
                    let frame = &frames[i % frames.len()];
                    ipcamd_hal::video::jpeg::TurboJpegEncoder
                        .encode_jpeg(frame, quality, &mut out)
                        .expect("encode");
                    black_box(&out);
                });
                row(
                    "libjpeg-turbo, I420 planes",
                    &size,
                    &quality.to_string(),
                    &turbo,
                    Some(out.len()),
                );
                println!(
                    "  -> libjpeg-turbo takes {:.2}x the CPU time of jpeg-encoder ({size} q{quality})",
                    turbo.cpu_ms / reference.cpu_ms
                );
            }
            let ms = time_per_call(budget, || {
                i += 1;
                let frame = &frames[i % frames.len()];
                i420_to_ycbcr444(frame, &mut scratch);
                out.clear();
                let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
                encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
                encoder
                    .encode(
                        &scratch,
                        width as u16,
                        height as u16,
                        jpeg_encoder::ColorType::Ycbcr,
                    )
                    .expect("encode");
                black_box(&out);
            });
            row(
                "jpeg-encoder, 4:4:4 YCbCr buffer",
                &size,
                &quality.to_string(),
                &ms,
                Some(out.len()),
            );
            let ms = time_per_call(budget, || {
                i += 1;
                let frame = &frames[i % frames.len()];
                i420_to_rgb(frame, &mut scratch);
                out.clear();
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
                    .encode(&scratch, width, height, image::ExtendedColorType::Rgb8)
                    .expect("encode");
                black_box(&out);
            });
            row(
                "image 0.25 JpegEncoder, RGB (incl. convert)",
                &size,
                &quality.to_string(),
                &ms,
                Some(out.len()),
            );
        }
        // The daemon's per-frame work on a captured frame: copy into a reused buffer, burn
        // the OSD clock and two privacy masks, encode.
        let mut work = Vec::new();
        let mut i = 0usize;
        let ms = time_per_call(budget, || {
            i += 1;
            let frame = &frames[i % frames.len()];
            work.clear();
            work.extend_from_slice(&frame.data);
            let luma_len = (width * height) as usize;
            draw_text(
                &mut work[..luma_len],
                width,
                height,
                8,
                8,
                "2026-11-25 20:15:00",
                2,
            )
            .expect("osd");
            for mask in [
                Rect::from_corners(40, 60, 200, 160),
                Rect::from_corners(300, 200, 420, 300),
            ] {
                black_rect(&mut work, width, height, mask).expect("mask");
            }
            let osd_frame = Frame {
                data: std::sync::Arc::from(&work[..]),
                ..frame.clone()
            };
            SoftwareJpegEncoder
                .encode_jpeg(&osd_frame, 85, &mut out)
                .expect("encode");
            black_box(&out);
        });
        row(
            &format!("pipeline: copy+OSD+masks+{}", SoftwareJpegEncoder::LIBRARY),
            &size,
            "85",
            &ms,
            Some(out.len()),
        );
    }
    Ok(())
}
