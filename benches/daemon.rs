//! The release daemon as a client sees it (plain `main`, prints figures, asserts nothing).
//! Starts the `ipcamd` binary of this build on the simulated board, on loopback, and measures:
//!
//! 1. idle memory: resident and anonymous resident set (`VmRSS`, `RssAnon`) and CPU;
//! 2. CGI `getDevState` throughput and latency (p50, p99) with 8 keep-alive clients, next to
//!    the same clients against a minimal reference HTTP server in this process (a thread per
//!    connection answering a fixed reply of the same size): the ratio is what the CGI path
//!    costs over bare loopback HTTP;
//! 3. the MJPEG sub stream (GetMJStream) with 1, 8 and 32 viewers: frames per second each
//!    viewer receives against the configured `frameRate` (the ratio should be 1 ± 5 %), the
//!    daemon's CPU per viewer and its memory per viewer;
//! 4. the RTSP main stream (H.264, TCP-interleaved on the web port) with 1, 4 and 8 viewers:
//!    frames per second each, the daemon's CPU and its memory per viewer (the encoder runs
//!    once for all of them).
//!
//! `cargo bench --bench daemon` (release profile). CPU and memory are the daemon process's
//! own (`/proc/<pid>`), not the clients'. Options: `--seconds N` per measurement (default 5).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "support/rtsp_viewer.rs"]
mod rtsp_viewer;

const DEV_STATE: &str = "/cgi-bin/CGIProxy.fcgi?cmd=getDevState&usr=admin&pwd=";
const MJPEG: &str = "/cgi-bin/CGIStream.cgi?cmd=GetMJStream&usr=admin&pwd=";

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

/// `field` of `/proc/<pid>/status` in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| {
            v.trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// User + system CPU seconds of process `pid`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / TICKS
}

/// CPU share (percent of one core) of `pid` while `during` runs.
fn cpu_percent_during(pid: u32, during: impl FnOnce()) -> f64 {
    let (cpu0, t0) = (cpu_seconds(pid), Instant::now());
    during();
    (cpu_seconds(pid) - cpu0) / t0.elapsed().as_secs_f64() * 100.0
}

/// Reads one HTTP/1.1 response (headers and a Content-Length body); returns the body.
fn read_response(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

/// One GET on a fresh connection; the body.
fn get(address: SocketAddr, path: &str) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n").ok()?;
    read_response(&mut BufReader::new(stream))
}

/// `clients` keep-alive connections sending `path` back to back for `seconds`; requests per
/// second, p50 and p99 latency in µs.
fn load(address: SocketAddr, path: &str, clients: usize, seconds: u64) -> (f64, u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let path = path.to_owned();
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                let Ok(stream) = TcpStream::connect(address) else {
                    return latencies;
                };
                let _ = stream.set_nodelay(true);
                let mut writer = stream.try_clone().expect("clone");
                let mut reader = BufReader::new(stream);
                let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    if writer.write_all(request.as_bytes()).is_err() {
                        break;
                    }
                    if read_response(&mut reader).is_none() {
                        break;
                    }
                    latencies.push(sent.elapsed().as_micros() as u64);
                }
                latencies
            })
        })
        .collect();
    let mut all: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap_or_default())
        .collect();
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let at = |q: f64| all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)));
    (
        all.len() as f64 / elapsed,
        at(0.50).copied().unwrap_or(0),
        at(0.99).copied().unwrap_or(0),
    )
}

/// The reference: a thread-per-connection HTTP/1.1 server answering every request with
/// `body`; returns its address.
fn reference_server(body: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let reply: Arc<[u8]> = Arc::from(
        [
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes(),
            body,
        ]
        .concat(),
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let reply = reply.clone();
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut writer = stream.try_clone().expect("clone");
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                loop {
                    // Request line and headers up to the empty line.
                    loop {
                        line.clear();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    if writer.write_all(&reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    address
}

/// Memory of a stream with `viewers` viewers (`now` KiB) against the daemon before any
/// (`base`): the first viewer's cost (it starts the encoder) and, from the second on, the cost
/// of each further viewer.
fn memory_per_viewer(viewers: usize, base: u64, first: &mut Option<u64>, now: u64) -> String {
    match *first {
        None => {
            *first = Some(now);
            format!("{:+} KiB with the first viewer", now as i64 - base as i64)
        }
        Some(one) => format!(
            "{:+.0} KiB per further viewer",
            (now as f64 - one as f64) / (viewers - 1).max(1) as f64
        ),
    }
}

/// A connection to `address` from loopback source address 127.0.0.`10 + n`: the daemon admits
/// at most 16 connections per client address (docs/network.md), so each viewer is a client
/// of its own.
fn connect_as(address: SocketAddr, n: usize) -> Option<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    let source = std::net::Ipv4Addr::new(127, 0, (10 + n / 200) as u8, (10 + n % 200) as u8);
    socket.bind(&SocketAddr::from((source, 0)).into()).ok()?;
    socket.connect(&address.into()).ok()?;
    Some(socket.into())
}

/// One MJPEG viewer (client number `n`): counts the parts it receives until `stop`.
fn viewer(address: SocketAddr, n: usize, stop: Arc<AtomicBool>, frames: Arc<AtomicU64>) {
    let Some(mut stream) = connect_as(address, n) else {
        return;
    };
    let _ = write!(stream, "GET {MJPEG} HTTP/1.1\r\nHost: bench\r\n\r\n");
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reader = BufReader::with_capacity(256 * 1024, stream);
    let mut line = String::new();
    let mut length = None;
    while !stop.load(Ordering::Relaxed) {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return,
            Err(_) => continue,
            Ok(_) => {}
        }
        if let Some(value) = line.strip_prefix("Content-Length:") {
            length = value.trim().parse::<usize>().ok();
        } else if line == "\r\n" {
            // The end of a part's headers (the HTTP response's own headers have no length).
            if let Some(n) = length.take() {
                let mut part = vec![0u8; n];
                if reader.read_exact(&mut part).is_err() {
                    return;
                }
                frames.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// `<name>value</name>` of an XML reply.
fn xml_value(reply: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(reply);
    let start = text.find(&format!("<{name}>"))? + name.len() + 2;
    let end = text[start..].find('<')? + start;
    Some(text[start..end].to_owned())
}

struct Daemon {
    child: Child,
    address: SocketAddr,
    data: std::path::PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn start_daemon() -> Daemon {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = std::env::temp_dir().join(format!("ipcamd-bench-daemon-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    // A free loopback port (released just before the daemon binds it).
    let address = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let child = Command::new(env!("CARGO_BIN_EXE_ipcamd"))
        .arg("--board")
        .arg(repo.join("board/sim.toml"))
        .arg("--data")
        .arg(&data)
        .arg("--listen")
        .arg(address.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the ipcamd binary");
    let daemon = Daemon {
        child,
        address,
        data,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(address, DEV_STATE).is_none() {
        assert!(
            Instant::now() < deadline,
            "the daemon did not answer in 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    daemon
}

/// The frame rate `command` (getVideoStreamParam or getSubVideoStreamParam) reports for
/// stream type 0.
fn configured_fps(address: SocketAddr, command: &str) -> f64 {
    get(
        address,
        &format!("/cgi-bin/CGIProxy.fcgi?cmd={command}&usr=admin&pwd="),
    )
    .and_then(|reply| xml_value(&reply, "frameRate0"))
    .and_then(|v| v.parse().ok())
    .unwrap_or(0.0)
}

/// Watches one stream with each count of `viewer` clients (`viewer(n, stop, frames)` is client
/// number `n`, counting the frames it receives until `stop`) and prints frames per second each
/// against `configured`, the daemon's CPU per viewer and its memory (resident and anonymous)
/// with the first viewer and per further viewer.
fn watch_stream<F>(
    pid: u32,
    label: &str,
    counts: &[usize],
    seconds: u64,
    configured: f64,
    viewer: F,
) where
    F: Fn(usize, Arc<AtomicBool>, Arc<AtomicU64>) + Clone + Send + 'static,
{
    let (base_rss, base_anon) = (status_kib(pid, "VmRSS"), status_kib(pid, "RssAnon"));
    let (mut first_rss, mut first_anon) = (None, None);
    for &viewers in counts {
        let stop = Arc::new(AtomicBool::new(false));
        let frames = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..viewers)
            .map(|n| {
                let (stop, frames, viewer) = (stop.clone(), frames.clone(), viewer.clone());
                std::thread::spawn(move || viewer(n, stop, frames))
            })
            .collect();
        std::thread::sleep(Duration::from_secs(3));
        let f0 = frames.load(Ordering::Relaxed);
        let t0 = Instant::now();
        let cpu = cpu_percent_during(pid, || std::thread::sleep(Duration::from_secs(seconds)));
        let fps = (frames.load(Ordering::Relaxed) - f0) as f64
            / viewers as f64
            / t0.elapsed().as_secs_f64();
        let (rss, anon) = (status_kib(pid, "VmRSS"), status_kib(pid, "RssAnon"));
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            let _ = t.join();
        }
        println!(
            "{label}, {viewers:>2} viewers: {fps:.2} fps each of {configured:.0} configured ({:.3}x), daemon CPU {cpu:.1}% ({:.2}% per viewer), RSS {rss} KiB ({}), anonymous {anon} KiB ({})",
            fps / configured.max(1.0),
            cpu / viewers as f64,
            memory_per_viewer(viewers, base_rss, &mut first_rss, rss),
            memory_per_viewer(viewers, base_anon, &mut first_anon, anon)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn main() {
    let mut seconds = 5u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--seconds" {
            seconds = args
                .next()
                .and_then(|n| n.parse().ok())
                .filter(|&n| n > 0)
                .expect("--seconds takes a positive number");
        }
    }
    let daemon = start_daemon();
    let pid = daemon.child.id();
    let address = daemon.address;

    // 1. Idle: settled, no client.
    std::thread::sleep(Duration::from_secs(3));
    let idle_cpu = cpu_percent_during(pid, || std::thread::sleep(Duration::from_secs(seconds)));
    let (idle_rss, idle_anon) = (status_kib(pid, "VmRSS"), status_kib(pid, "RssAnon"));
    println!(
        "idle daemon (sim board, release): RSS {idle_rss} KiB, anonymous RSS {idle_anon} KiB, CPU {idle_cpu:.1}% of one core"
    );

    // 2. CGI getDevState at 8 clients, then the reference server with a reply of that size.
    let body = get(address, DEV_STATE).expect("getDevState");
    let (rate, p50, p99) = load(address, DEV_STATE, 8, seconds);
    let reference = reference_server(body.clone());
    let (ref_rate, ref_p50, ref_p99) = load(reference, DEV_STATE, 8, seconds);
    println!(
        "CGI getDevState, 8 clients: {rate:.0} req/s, p50 {p50} µs, p99 {p99} µs | reference HTTP server ({} B reply): {ref_rate:.0} req/s, p50 {ref_p50} µs, p99 {ref_p99} µs | throughput {:.2}x, p99 {:.2}x the reference",
        body.len(),
        rate / ref_rate.max(1.0),
        p99 as f64 / ref_p99.max(1) as f64
    );

    // 3. MJPEG sub stream.
    watch_stream(
        pid,
        "MJPEG sub stream",
        &[1, 8, 32],
        seconds,
        configured_fps(address, "getSubVideoStreamParam"),
        move |n, stop, frames| viewer(address, n, stop, frames),
    );

    // 4. RTSP main stream.
    std::thread::sleep(Duration::from_secs(2));
    watch_stream(
        pid,
        "RTSP main stream",
        &[1, 4, 8],
        seconds,
        configured_fps(address, "getVideoStreamParam"),
        move |n, stop, frames| {
            if let Some(stream) = connect_as(address, n) {
                let latency = Arc::new(AtomicU64::new(0));
                rtsp_viewer::viewer(stream, address, stop, frames, latency);
            }
        },
    );
    drop(daemon);
}
