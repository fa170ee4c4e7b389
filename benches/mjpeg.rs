//! MJPEG delivery benchmark (plain `main`, prints figures): software JPEG encode time per frame
//! of the simulated 1280×720 and 640×480 sources, then the daemon in-process serving 1, 8 and
//! 32 GetMJStream viewers over loopback for a few seconds each: frames per second per viewer,
//! end-to-end latency (capture time in the part's X-Timestamp to receipt), process CPU and
//! resident memory; and memory with 32 viewers that never read (it must not grow).
//!
//! `cargo bench --bench mjpeg` (release profile). Figures on a shared machine are indicative.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use ipcamd::daemon::{self, Options};
use ipcamd_hal::board::BoardSpec;
use ipcamd_hal::video::{CaptureConfig, Encoder, VideoSource};

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn encode_figures(board: &BoardSpec) {
    let video = ipcamd_hal::sim::video::SimVideo::open(board).expect("sim video");
    let encoder = ipcamd_hal::video::jpeg::SoftwareJpegEncoder;
    for (w, h) in [(1280, 720), (640, 480)] {
        video
            .configure(CaptureConfig {
                width: w,
                height: h,
                fps: 60,
            })
            .expect("configure");
        let frames: Vec<_> = (0..5)
            .map(|_| video.next_frame(Duration::from_secs(1)).expect("frame"))
            .collect();
        let mut out = Vec::new();
        let rounds = 40;
        let start = Instant::now();
        for i in 0..rounds {
            encoder
                .encode_jpeg(&frames[i % frames.len()], 70, &mut out)
                .expect("encode");
        }
        let ms = start.elapsed().as_secs_f64() * 1000.0 / rounds as f64;
        println!(
            "encode {w}x{h} q70: {ms:.2} ms/frame, {} KiB",
            out.len() / 1024
        );
    }
}

/// One viewer reading parts; counts frames and sums latency.
fn viewer(
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    frames: Arc<AtomicU64>,
    latency_us: Arc<AtomicU64>,
) {
    let Ok(mut stream) = TcpStream::connect(address) else {
        return;
    };
    let _ = stream.write_all(
        b"GET /cgi-bin/CGIStream.cgi?cmd=GetMJStream&usr=admin&pwd= HTTP/1.1\r\nHost: b\r\n\r\n",
    );
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buffer = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let Ok(n) = stream.read(&mut chunk) else {
            continue;
        };
        if n == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..n]);
        while let Some(at) = find(&buffer, b"X-Timestamp: ") {
            let Some(end) = find(&buffer[at..], b"\r\n") else {
                break;
            };
            let text = String::from_utf8_lossy(&buffer[at + 13..at + end]).to_string();
            if let Ok(stamp) = text.parse::<f64>() {
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64();
                latency_us.fetch_add(((now - stamp).max(0.0) * 1e6) as u64, Ordering::Relaxed);
                frames.fetch_add(1, Ordering::Relaxed);
            }
            buffer.drain(..at + end);
        }
        if buffer.len() > 1 << 20 {
            buffer.clear();
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn main() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let board_path = repo.join("board/sim.toml");
    let board = BoardSpec::load(&board_path).expect("board");
    encode_figures(&board);

    let data = std::env::temp_dir().join(format!("ipcamd-bench-{}", std::process::id()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let options = Options {
        board: board_path,
        data: data.clone(),
        listen: Some("127.0.0.1:0".parse().expect("addr")),
    };
    let address = runtime.block_on(async {
        let started = daemon::start(&options).await.expect("daemon starts");
        let address = started.address;
        tokio::spawn(ipcamd::http::serve(
            started.ctx,
            started.listeners.endpoint(ipcamd::listener::Role::Web),
            None,
        ));
        address
    });
    std::thread::sleep(Duration::from_secs(2));
    for (label, res) in [
        ("720p main, VGA sub", None),
        ("VGA main and sub", Some("1")),
    ] {
        if let Some(resolution) = res {
            let url = format!(
                "/cgi-bin/CGIProxy.fcgi?cmd=setVideoStreamParam&streamType=0&resolution={resolution}&usr=admin&pwd="
            );
            if let Ok(mut s) = TcpStream::connect(address) {
                let _ = s.write_all(
                    format!("GET {url} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                );
                let _ = s.read_to_end(&mut Vec::new());
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        for viewers in [1usize, 8, 32] {
            let stop = Arc::new(AtomicBool::new(false));
            let frames = Arc::new(AtomicU64::new(0));
            let latency = Arc::new(AtomicU64::new(0));
            let threads: Vec<_> = (0..viewers)
                .map(|_| {
                    let (stop, frames, latency) = (stop.clone(), frames.clone(), latency.clone());
                    std::thread::spawn(move || viewer(address, stop, frames, latency))
                })
                .collect();
            std::thread::sleep(Duration::from_secs(1));
            let (cpu0, f0, l0, t0) = (
                cpu_seconds(),
                frames.load(Ordering::Relaxed),
                latency.load(Ordering::Relaxed),
                Instant::now(),
            );
            std::thread::sleep(Duration::from_secs(5));
            let wall = t0.elapsed().as_secs_f64();
            let got = frames.load(Ordering::Relaxed) - f0;
            let lat = latency.load(Ordering::Relaxed) - l0;
            let cpu = (cpu_seconds() - cpu0) / wall * 100.0;
            stop.store(true, Ordering::Relaxed);
            for t in threads {
                let _ = t.join();
            }
            println!(
                "{label}: {viewers:>2} viewers: {:.1} fps each, latency {:.1} ms, CPU {cpu:.0}% (clients included), RSS {} KiB",
                got as f64 / viewers as f64 / wall,
                if got > 0 {
                    lat as f64 / got as f64 / 1000.0
                } else {
                    0.0
                },
                rss_kib()
            );
        }
    }
    // Viewers that never read: their queues stay bounded, so memory must not grow.
    let stalled: Vec<TcpStream> = (0..32)
        .filter_map(|_| {
            let mut s = TcpStream::connect(address).ok()?;
            s.write_all(b"GET /cgi-bin/CGIStream.cgi?cmd=GetMJStream&usr=admin&pwd= HTTP/1.1\r\nHost: b\r\n\r\n").ok()?;
            Some(s)
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let before = rss_kib();
    std::thread::sleep(Duration::from_secs(8));
    println!(
        "32 stalled viewers: RSS {before} KiB -> {} KiB after 8 s",
        rss_kib()
    );
    drop(stalled);
    let _ = std::fs::remove_dir_all(&data);
}
