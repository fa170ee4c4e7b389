//! An RTSP viewer for the benchmarks (`rtsp`, `daemon`): DESCRIBE, SETUP (TCP-interleaved) and
//! PLAY of /videoMain as admin, then counts frames (RTP marker packets) and sums their
//! capture→receipt latency from the RTCP sender reports' wall-clock mapping.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

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

/// One RTSP viewer on `s`, a TCP connection to `address`: counts frames (marker packets) and
/// sums capture→receipt latency.
pub fn viewer(
    mut s: TcpStream,
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    frames: Arc<AtomicU64>,
    latency_us: Arc<AtomicU64>,
) {
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
