//! Motion detector throughput against a SIMD sum-of-absolute-differences reference, for the
//! sub-stream sizes the daemon feeds (320×240, 640×480) and the main stream (1280×720).
//!
//! For each size it prints the time per frame of `Detector::feed` with every kernel this CPU
//! runs (scalar reference, SSE2 or NEON), the reference measured in the same run (a plain
//! SSE2 `psadbw` sum of |current − previous| per cell of the same 10×10 grid, on x86_64; a
//! scalar one elsewhere) and the ratio, plus heap allocations per frame (a counting global
//! allocator) and the bytes the detector touches per pixel.
//!
//! `cargo bench --bench motion` runs every size. Options: `--frames N` frames per batch
//! (default 200; the figure is the best of 5 batches),
//! `--size WxH` one size only. Times are the thread's CPU time. Figures print; nothing is
//! asserted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ipcamd::motion::{Detector, Kernel, LocalTime, LumaFrame, MotionConfig, Sensitivity};

/// The system allocator, counting allocations.
struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; the counter is an atomic.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// A textured scene with a noisy gradient, and a bright square moved by `shift`.
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

/// Cell edges along one axis, as the detector cuts the frame.
fn edges(len: usize) -> [usize; 11] {
    std::array::from_fn(|k| k * len / 10)
}

/// The reference: Σ|current − previous| per cell of the 10×10 grid.
fn sad_grid(current: &[u8], previous: &[u8], width: usize, height: usize) -> [[u32; 10]; 10] {
    let (cols, rows) = (edges(width), edges(height));
    let mut sums = [[0u32; 10]; 10];
    for (cell_row, sums_row) in sums.iter_mut().enumerate() {
        for y in rows[cell_row]..rows[cell_row + 1] {
            let (c, p) = (
                &current[y * width..][..width],
                &previous[y * width..][..width],
            );
            for (col, sum) in sums_row.iter_mut().enumerate() {
                let (start, end) = (cols[col], cols[col + 1]);
                *sum += sad(&c[start..end], &p[start..end]);
            }
        }
    }
    sums
}

/// Σ|a − b| with SSE2 `psadbw`, 16 pixels per step.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code, unused_unsafe)]
fn sad(a: &[u8], b: &[u8]) -> u32 {
    use std::arch::x86_64::*;
    let (mut a16, mut b16) = (a.chunks_exact(16), b.chunks_exact(16));
    // SAFETY: SSE2 is part of x86_64; each unaligned load reads one 16-byte chunk.
    let vector = unsafe {
        let mut acc = _mm_setzero_si128();
        for (x, y) in (&mut a16).zip(&mut b16) {
            let x = _mm_loadu_si128(x.as_ptr().cast());
            let y = _mm_loadu_si128(y.as_ptr().cast());
            acc = _mm_add_epi64(acc, _mm_sad_epu8(x, y));
        }
        (_mm_cvtsi128_si64(acc) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc))) as u32
    };
    vector + scalar_sad(a16.remainder(), b16.remainder())
}

#[cfg(not(target_arch = "x86_64"))]
fn sad(a: &[u8], b: &[u8]) -> u32 {
    scalar_sad(a, b)
}

fn scalar_sad(a: &[u8], b: &[u8]) -> u32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| u32::from(x.abs_diff(y)))
        .sum()
}

const SAD_NAME: &str = if cfg!(target_arch = "x86_64") {
    "sse2 sad"
} else {
    "scalar sad"
};

/// CPU time of this thread (wall time would count the other processes of a busy machine).
fn thread_cpu_time() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

/// Best CPU time per call of `step` over 5 batches of `frames` calls.
fn best_per_frame(frames: u32, mut step: impl FnMut(u32)) -> Duration {
    let mut best = Duration::MAX;
    let mut i = 0;
    for _ in 0..5 {
        let start = thread_cpu_time();
        for _ in 0..frames {
            step(i);
            i += 1;
        }
        best = best.min((thread_cpu_time() - start) / frames);
    }
    best
}

fn bench_size(width: usize, height: usize, frames: u32) {
    let scenes: Vec<Vec<u8>> = (0..8).map(|i| scene(width, height, i * 5)).collect();
    let local = LocalTime::new(0, 12 * 60).expect("valid local time");
    let t0 = Instant::now();
    let pixels = (width * height) as f64;

    let sad_time = best_per_frame(frames, |i| {
        let current = &scenes[i as usize % scenes.len()];
        let previous = &scenes[(i as usize + 1) % scenes.len()];
        black_box(sad_grid(black_box(current), previous, width, height));
    });
    println!(
        "{width:>5}x{height:<4} {SAD_NAME:<10} {:>9.3} ms/frame {:>6.2} ns/pixel  (reference)",
        sad_time.as_secs_f64() * 1e3,
        sad_time.as_nanos() as f64 / pixels,
    );
    for kernel in Kernel::available() {
        let mut detector = Detector::with_kernel(
            MotionConfig {
                enabled: true,
                sensitivity: Sensitivity::Normal,
                ..MotionConfig::default()
            },
            kernel,
        );
        let mut events = 0u32;
        let mut feed = |i: u32| {
            let data = &scenes[i as usize % scenes.len()];
            let frame =
                LumaFrame::new(black_box(data), width, height, width).expect("frame geometry");
            let now = t0 + Duration::from_millis(100) * i;
            if black_box(detector.feed(&frame, now, local)).is_some() {
                events += 1;
            }
        };
        // The first frame only learns the scene (and allocates the reference).
        for i in 0..8 {
            feed(i);
        }
        let allocations_before = ALLOCATIONS.load(Ordering::Relaxed);
        let time = best_per_frame(frames, |i| feed(i + 8));
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations_before;
        println!(
            "{width:>5}x{height:<4} {:<10} {:>9.3} ms/frame {:>6.2} ns/pixel  {:>5.1}x the reference, {} allocations/frame, {events} alarms",
            kernel.name(),
            time.as_secs_f64() * 1e3,
            time.as_nanos() as f64 / pixels,
            time.as_secs_f64() / sad_time.as_secs_f64(),
            allocations as f64 / f64::from(frames * 5),
        );
    }
}

fn main() {
    let mut frames = 200u32;
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
    println!(
        "motion detector, {} build, selected kernel {}; per pixel and frame the detector reads \
         1 byte of frame and 2 of reference and writes 2 of reference (2 reads)",
        std::env::consts::ARCH,
        Kernel::detect().name()
    );
    for (width, height) in sizes {
        bench_size(width, height, frames);
    }
}
