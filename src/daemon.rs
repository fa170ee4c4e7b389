//! The composition root: read the board file, open the store and the HAL, build the
//! application, bind the HTTP listener and serve. Nothing else decides what runs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ipcamd_hal::Hal;
use ipcamd_hal::board::BoardSpec;
use tokio::net::TcpListener;

use std::time::Duration;

use crate::app::{App, FIRMWARE_DIR, LogKind, Restart, StartupError};
use crate::cgi::commands::config;
use crate::store::Store;

/// Command-line options of the daemon.
#[derive(Debug, Clone)]
pub struct Options {
    /// Board file.
    pub board: PathBuf,
    /// Data directory (database, simulated SD card).
    pub data: PathBuf,
    /// Overrides the stored web port and the board's bind address.
    pub listen: Option<SocketAddr>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            board: "board/sim.toml".into(),
            data: "var".into(),
            listen: None,
        }
    }
}

/// A started daemon: its application object and bound listener.
pub struct Started {
    /// The application.
    pub app: Arc<App>,
    /// The bound listener.
    pub listener: TcpListener,
    /// Where it listens.
    pub address: SocketAddr,
}

fn err(context: &str, e: impl std::fmt::Display) -> StartupError {
    StartupError(format!("{context}: {e}"))
}

/// Opens everything and binds the listener, without serving yet.
pub async fn start(options: &Options) -> Result<Started, StartupError> {
    let board = BoardSpec::load(&options.board).map_err(|e| err("board file", e))?;
    std::fs::create_dir_all(&options.data)
        .map_err(|e| err(&format!("creating {}", options.data.display()), e))?;
    let store =
        Store::open(&options.data.join("ipcamd.db")).map_err(|e| err("settings store", e))?;
    let hal = Hal::open(board, &options.data).map_err(|e| err("opening the board", e))?;
    let app = App::new(hal, store, options.data.clone())?;
    let address = match options.listen {
        Some(address) => address,
        None => {
            let port: u16 = config::read_value(&app, "ports", "webPort")
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(app.hal.board.defaults.web_port);
            let ip = app
                .hal
                .board
                .defaults
                .bind_address
                .parse()
                .map_err(|e| err("board file defaults.bind_address", e))?;
            SocketAddr::new(ip, port)
        }
    };
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| err(&format!("binding {address}"), e))?;
    let address = listener
        .local_addr()
        .map_err(|e| err("listener address", e))?;
    Ok(Started {
        app,
        listener,
        address,
    })
}

/// Why [`run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// A termination signal: stop.
    Stop,
    /// A command asked for a restart or a reboot.
    Restart(Restart),
}

/// Runs the daemon until a termination signal, a restart request, or a fatal error.
pub async fn run(options: Options) -> Result<Exit, StartupError> {
    let started = start(&options).await?;
    tracing::info!(
        "ipcamd {} listening on http://{} with board \"{}\" ({})",
        started.app.firmware_version,
        started.address,
        started.app.hal.board.board.name,
        options.board.display()
    );
    let app = started.app.clone();
    if let Some(why) = app
        .hal
        .sim
        .as_ref()
        .and_then(|s| s.ptz_unavailable.as_ref())
    {
        tracing::warn!(%why, "the simulated motor cannot run on this platform; PTZ commands answer -4");
    }
    app.log_event(LogKind::PowerOn, "", "");
    if let Some(media) = crate::media::Media::start(&app) {
        let _ = app.media.set(media);
        // The IO alarm's linkage takes its pictures from the pipeline.
        let weak = Arc::downgrade(&app);
        app.alarms.set_snapshot_provider(Arc::new(move || {
            let app = weak.upgrade()?;
            let media = app.media.get()?;
            crate::media::snapshot_jpeg(&app, media).ok()
        }));
    }
    let rtsp = start_rtsp(&app).await?;
    config::apply_image_settings(&app);
    crate::cgi::commands::ptz::start_up_self_test(&app);
    crate::alarm::start(&app);
    crate::ir::start(app.clone());
    let probe = probe_address(started.address);
    let serve = crate::http::serve_with_rtsp(app.clone(), started.listener, rtsp);
    // Ready: listening and the HAL is open. A freshly installed release confirms itself now.
    match crate::firmware::confirm(&app.data_dir.join(FIRMWARE_DIR)) {
        Ok(true) => tracing::info!("new firmware started; confirmed"),
        Ok(false) => {}
        Err(err) => tracing::warn!(%err, "could not confirm the firmware release"),
    }
    let notifier = crate::systemd::Notifier::from_env()
        .ok()
        .flatten()
        .map(Arc::new);
    if let Some(notifier) = &notifier {
        if let Err(err) = notifier.ready() {
            tracing::warn!(%err, "sd_notify READY failed");
        }
        if let Some(interval) = crate::systemd::watchdog_interval() {
            tokio::spawn(feed_watchdog(
                app.clone(),
                notifier.clone(),
                interval,
                probe,
            ));
        }
    }
    let exit = tokio::select! {
        result = serve => return result.map(|()| Exit::Stop).map_err(|e| err("HTTP server", e)),
        _ = shutdown_signal() => Exit::Stop,
        _ = app.restart.notified() => {
            let kind = app.restart_kind.lock().unwrap_or_else(|e| e.into_inner()).unwrap_or(Restart::Daemon);
            // Let the reply that asked for it reach the client.
            tokio::time::sleep(Duration::from_millis(300)).await;
            Exit::Restart(kind)
        }
    };
    tracing::info!(?exit, "shutting down");
    if let Some(notifier) = &notifier {
        let _ = notifier.stopping();
    }
    Ok(exit)
}

/// The H.264 stream hub and the RTSP server over it. Answers the server to hand the web
/// listener when the media port is the web port (Foscam's default); otherwise RTSP gets a
/// listener of its own on the board's `[rtsp] port` or the stored mediaPort.
pub async fn start_rtsp(app: &Arc<App>) -> Result<Option<crate::rtsp::RtspServer>, StartupError> {
    let Some(media) = app.media.get() else {
        return Ok(None);
    };
    let hub = crate::streams::StreamHub::new(
        media.frame_feed(),
        app.hal.h264.clone(),
        Arc::new(AppStreamSettings(Arc::downgrade(app))),
        tokio::runtime::Handle::current(),
    );
    let spec = &app.hal.board.rtsp;
    let limits = crate::rtsp::RtspLimits {
        max_sessions: spec.max_sessions.max(1),
        queue_frames: spec.queue_frames.max(2),
        ..crate::rtsp::RtspLimits::default()
    };
    let server = crate::rtsp::RtspServer::new(
        hub,
        Arc::new(AccountsAuthenticator(Arc::downgrade(app))),
        limits,
    );
    let stored = |name: &str, fallback: u16| -> u16 {
        config::read_value(app, "ports", name)
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(fallback)
    };
    let defaults = &app.hal.board.defaults;
    let web_port = stored("webPort", defaults.web_port);
    let media_port = spec
        .port
        .unwrap_or_else(|| stored("mediaPort", defaults.media_port));
    if media_port == web_port {
        tracing::info!("RTSP shares the web port: rtsp://<camera>:<web port>/videoMain, /videoSub");
        return Ok(Some(server));
    }
    let ip: std::net::IpAddr = defaults
        .bind_address
        .parse()
        .map_err(|e| err("board file defaults.bind_address", e))?;
    let address = SocketAddr::new(ip, media_port);
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| err(&format!("binding the RTSP port {address}"), e))?;
    tracing::info!("RTSP listening on rtsp://{address}/videoMain and /videoSub");
    tokio::spawn(server.serve(listener));
    Ok(None)
}

/// The stream settings as the store holds them (read again when its generation changes).
struct AppStreamSettings(std::sync::Weak<App>);

impl crate::streams::StreamSettingsSource for AppStreamSettings {
    fn generation(&self) -> u64 {
        self.0.upgrade().map_or(0, |app| app.store.generation())
    }

    fn read(&self) -> crate::streams::StreamSettings {
        use crate::cgi::commands::stream::{RESOLUTIONS, stream_value};
        use ipcamd_hal::video::h264::H264Params;
        let fallback = H264Params {
            width: 640,
            height: 480,
            fps: 15,
            bitrate: 1_000_000,
            vbr: false,
            gop: 30,
            temporal_layers: false,
        };
        let Some(app) = self.0.upgrade() else {
            return crate::streams::StreamSettings {
                main: fallback,
                sub: None,
            };
        };
        let int = |section: &str, field: &str| -> i64 {
            config::read_value(&app, section, field)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let layered = int("h264_frame_ref", "mode") == 1;
        let params = |section: &str, stream_type: i64| {
            let value = |field: &str, default: i64| {
                stream_value(&app, section, field, stream_type).unwrap_or(default)
            };
            let (width, height) = RESOLUTIONS
                .get(value("resolution", 1) as usize)
                .copied()
                .unwrap_or((640, 480));
            H264Params {
                width,
                height,
                fps: value("frameRate", 15).clamp(1, 30) as u32,
                bitrate: value("bitRate", 1_000_000).clamp(20_000, 20_000_000) as u32,
                vbr: value("isVBR", 0) == 1,
                gop: value("GOP", 30).clamp(1, 300) as u32,
                temporal_layers: layered,
            }
        };
        let main = params("main_stream", int("main_stream_type", "streamType"));
        let mut sub = params("sub_stream", int("sub_stream_type", "streamType"));
        // The sub stream is scaled from the main picture, never larger.
        sub.width = sub.width.min(main.width);
        sub.height = sub.height.min(main.height);
        crate::streams::StreamSettings {
            main,
            sub: (int("sub_stream_format", "format") == 0).then_some(sub),
        }
    }
}

/// RTSP credentials checked against the camera's accounts, with the CGI's lock-out.
struct AccountsAuthenticator(std::sync::Weak<App>);

impl crate::rtsp::Authenticator for AccountsAuthenticator {
    fn verify(&self, peer: std::net::IpAddr, user: &str, password: &str) -> bool {
        self.0.upgrade().is_some_and(|app| {
            app.accounts
                .verify(&app.store, peer, user, password)
                .is_ok()
        })
    }
}

fn probe_address(bound: SocketAddr) -> SocketAddr {
    let ip = if bound.ip().is_unspecified() {
        match bound {
            SocketAddr::V4(_) => std::net::IpAddr::from([127, 0, 0, 1]),
            SocketAddr::V6(_) => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        }
    } else {
        bound.ip()
    };
    SocketAddr::new(ip, bound.port())
}

/// Feeds the systemd watchdog only while the capture loop delivers frames and the HTTP server
/// answers a request of its own, so a wedged sensor or server gets the daemon restarted.
async fn feed_watchdog(
    app: Arc<App>,
    notifier: Arc<crate::systemd::Notifier>,
    interval: Duration,
    probe: SocketAddr,
) {
    let mut last_frames = None;
    loop {
        tokio::time::sleep(interval / 2).await;
        let frames = app
            .media
            .get()
            .map(|m| m.frames.load(std::sync::atomic::Ordering::Relaxed));
        let capture_ok = frames.is_none() || frames != last_frames;
        last_frames = frames;
        let http_ok = http_probe(probe).await;
        if capture_ok && http_ok {
            let _ = notifier.watchdog();
        } else {
            tracing::warn!(capture_ok, http_ok, "not feeding the watchdog");
        }
    }
}

async fn http_probe(address: SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
        stream
            .write_all(b"GET /cgi-bin/CGIProxy.fcgi?cmd=getPortInfo HTTP/1.1\r\nHost: ipcamd\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(head.starts_with(b"HTTP/1.1 200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(5), attempt).await,
        Ok(Some(true))
    )
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
