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
use std::time::{Duration, Instant, SystemTime};

use ipcamd::daemon::{self, Options};
use ipcamd_hal::board::BoardSpec;
use ipcamd_hal::video::h264::H264Params;
use ipcamd_hal::video::{CaptureConfig, VideoSource};

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

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn request(stream: &mut TcpStream, text: &str) -> String {
    let _ = stream.write_all(text.as_bytes());
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => got.push(byte[0]),
            _ => break,
        }
    }
    let head = String::from_utf8_lossy(&got).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    let _ = stream.read_exact(&mut body);
    head
}

/// One RTSP viewer over TCP: counts frames (marker packets) and sums capture→receipt latency.
fn viewer(
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    frames: Arc<AtomicU64>,
    latency_us: Arc<AtomicU64>,
) {
    let Ok(mut s) = TcpStream::connect(address) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let auth = "Authorization: Basic YWRtaW46\r\n";
    request(
        &mut s,
        &format!("DESCRIBE rtsp://{address}/videoMain RTSP/1.0\r\nCSeq: 1\r\n{auth}\r\n"),
    );
    let setup = request(
        &mut s,
        &format!(
            "SETUP rtsp://{address}/videoMain/trackID=0 RTSP/1.0\r\nCSeq: 2\r\n{auth}Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
        ),
    );
    let session = setup
        .lines()
        .find_map(|l| l.strip_prefix("Session: "))
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .to_owned();
    request(
        &mut s,
        &format!(
            "PLAY rtsp://{address}/videoMain RTSP/1.0\r\nCSeq: 3\r\n{auth}Session: {session}\r\n\r\n"
        ),
    );
    let mut buffer = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    // (RTP timestamp, wall clock seconds) from the latest sender report.
    let mut mapping: Option<(u32, f64)> = None;
    while !stop.load(Ordering::Relaxed) {
        let Ok(n) = s.read(&mut chunk) else { continue };
        if n == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..n]);
        loop {
            if buffer.len() < 4 {
                break;
            }
            if buffer[0] != b'$' {
                match find(&buffer, b"$") {
                    Some(at) => {
                        buffer.drain(..at);
                        continue;
                    }
                    None => {
                        buffer.clear();
                        break;
                    }
                }
            }
            let len = u16::from_be_bytes([buffer[2], buffer[3]]) as usize;
            if buffer.len() < 4 + len {
                break;
            }
            let channel = buffer[1];
            let packet = &buffer[4..4 + len];
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            if channel == 1 && packet.len() >= 20 && packet[1] == 200 {
                let ntp = u32::from_be_bytes(packet[8..12].try_into().unwrap()) as f64
                    - 2_208_988_800.0
                    + u32::from_be_bytes(packet[12..16].try_into().unwrap()) as f64
                        / 4_294_967_296.0;
                let rtp = u32::from_be_bytes(packet[16..20].try_into().unwrap());
                mapping = Some((rtp, ntp));
            } else if channel == 0 && packet.len() >= 12 && packet[1] & 0x80 != 0 {
                let ts = u32::from_be_bytes(packet[4..8].try_into().unwrap());
                if let Some((rtp, wall)) = mapping {
                    let captured = wall + ts.wrapping_sub(rtp) as i32 as f64 / 90_000.0;
                    latency_us
                        .fetch_add(((now - captured).max(0.0) * 1e6) as u64, Ordering::Relaxed);
                    frames.fetch_add(1, Ordering::Relaxed);
                }
            }
            buffer.drain(..4 + len);
        }
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
                    std::thread::spawn(move || viewer(address, stop, frames, latency))
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
