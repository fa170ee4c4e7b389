//! H.264 / RTSP benchmark (plain `main`, prints figures): software H.264 encode time per frame
//! for the stream resolutions, then the daemon in-process serving 1 and 4 RTSP viewers
//! (TCP-interleaved, over loopback): capture→RTP latency per frame (the capture time comes
//! from the RTCP sender report's wall-clock mapping) and process CPU, so the cost of each
//! additional viewer shows (the encoder runs once whatever the number of viewers).
//!
//! `cargo bench --bench rtsp` (release profile). Figures on a shared machine are indicative.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipcamd::daemon::{self, Options};
use ipcamd_hal::board::BoardSpec;
use ipcamd_hal::video::h264::H264Params;
use ipcamd_hal::video::{CaptureConfig, VideoSource};

#[path = "support/rtsp_viewer.rs"]
mod rtsp_viewer;
use rtsp_viewer::viewer;

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

fn encode_figures(board: &BoardSpec) {
    let Some(factory) = ipcamd_hal::video::h264::software_factory() else {
        println!("no software H.264 encoder in this build (feature software-h264)");
        return;
    };
    let video = ipcamd_hal::sim::video::SimVideo::open(board).expect("sim video");
    for (w, h) in [(320, 240), (640, 360), (1280, 720)] {
        video
            .configure(CaptureConfig {
                width: w,
                height: h,
                fps: 60,
            })
            .expect("configure");
        let frames: Vec<_> = (0..30)
            .map(|_| video.next_frame(Duration::from_secs(1)).expect("frame"))
            .collect();
        let mut encoder = factory
            .open(H264Params {
                width: w,
                height: h,
                fps: 30,
                bitrate: 2_000_000,
                vbr: false,
                gop: 30,
                temporal_layers: false,
            })
            .expect("encoder");
        let rounds = 60;
        let mut bytes = 0;
        let start = Instant::now();
        for i in 0..rounds {
            if let Some(out) = encoder
                .encode(&frames[i % frames.len()], false)
                .expect("encode")
            {
                bytes += out.data.len();
            }
        }
        let ms = start.elapsed().as_secs_f64() * 1000.0 / rounds as f64;
        println!(
            "H.264 encode {w}x{h} (OpenH264, 2 Mbit/s CBR, GOP 30): {ms:.2} ms/frame, {} B/frame",
            bytes / rounds
        );
    }
}

fn cgi(address: SocketAddr, query: &str) {
    if let Ok(mut s) = TcpStream::connect(address) {
        let _ = s.write_all(
            format!("GET /cgi-bin/CGIProxy.fcgi?{query}&usr=admin&pwd= HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        let _ = s.read_to_end(&mut Vec::new());
    }
}

fn main() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let board_path = repo.join("board/sim.toml");
    let board = BoardSpec::load(&board_path).expect("board");
    encode_figures(&board);

    let data = std::env::temp_dir().join(format!("ipcamd-rtsp-bench-{}", std::process::id()));
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
        let rtsp = daemon::start_rtsp(
            &started.ctx,
            &started.supervisor,
            &started.listeners,
            address.ip(),
        );
        tokio::spawn(ipcamd::http::serve(
            started.ctx,
            started.listeners.endpoint(ipcamd::listener::Role::Web),
            Some(rtsp),
        ));
        address
    });
    std::thread::sleep(Duration::from_secs(1));
    for (label, query) in [
        (
            "640x360 15 fps",
            "cmd=setVideoStreamParam&streamType=0&resolution=2&frameRate=15&GOP=15",
        ),
        (
            "1280x720 15 fps",
            "cmd=setVideoStreamParam&streamType=0&resolution=0&frameRate=15&GOP=15",
        ),
    ] {
        cgi(address, query);
        std::thread::sleep(Duration::from_secs(1));
        let mut cpu_by_viewers = Vec::new();
        for viewers in [1usize, 4] {
            let stop = Arc::new(AtomicBool::new(false));
            let frames = Arc::new(AtomicU64::new(0));
            let latency = Arc::new(AtomicU64::new(0));
            let threads: Vec<_> = (0..viewers)
                .map(|_| {
                    let (stop, frames, latency) = (stop.clone(), frames.clone(), latency.clone());
                    std::thread::spawn(move || {
                        if let Ok(stream) = TcpStream::connect(address) {
                            viewer(stream, address, stop, frames, latency);
                        }
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_secs(6));
            let (cpu0, f0, l0, t0) = (
                cpu_seconds(),
                frames.load(Ordering::Relaxed),
                latency.load(Ordering::Relaxed),
                Instant::now(),
            );
            std::thread::sleep(Duration::from_secs(6));
            let wall = t0.elapsed().as_secs_f64();
            let got = frames.load(Ordering::Relaxed) - f0;
            let lat = latency.load(Ordering::Relaxed) - l0;
            let cpu = (cpu_seconds() - cpu0) / wall * 100.0;
            stop.store(true, Ordering::Relaxed);
            for t in threads {
                let _ = t.join();
            }
            cpu_by_viewers.push(cpu);
            println!(
                "{label}: {viewers} RTSP viewers: {:.1} fps each, capture->RTP receipt {:.1} ms, process CPU {cpu:.0}% (clients included)",
                got as f64 / viewers as f64 / wall,
                if got > 0 {
                    lat as f64 / got as f64 / 1000.0
                } else {
                    0.0
                },
            );
        }
        println!(
            "{label}: CPU per additional viewer: {:.1}% (of one core)",
            (cpu_by_viewers[1] - cpu_by_viewers[0]) / 3.0
        );
    }
    let _ = std::fs::remove_dir_all(&data);
}
