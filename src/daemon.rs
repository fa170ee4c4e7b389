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
    start_recorder(&app);
    config::apply_image_settings(&app);
    crate::cgi::commands::ptz::start_up_self_test(&app);
    crate::alarm::start(&app);
    crate::ir::start(app.clone());
    let probe = probe_address(started.address);
    let serve = crate::http::serve(app.clone(), started.listener);
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

/// The recorder's settings, read from the store when its generation moves.
struct StoredRecorderSettings(std::sync::Weak<App>);

impl crate::recorder::SettingsSource for StoredRecorderSettings {
    fn generation(&self) -> u64 {
        self.0.upgrade().map_or(0, |app| app.store.generation())
    }

    fn load(&self) -> crate::recorder::settings::RecorderSettings {
        let app = self.0.upgrade();
        crate::recorder::settings::RecorderSettings::from_lookup(|section, field| {
            app.as_ref()
                .and_then(|app| config::read_value(app, section, field).ok())
        })
    }
}

/// Starts the recorder on boards with an SD card slot, and routes alarms to it.
fn start_recorder(app: &Arc<App>) {
    let Some(storage) = app.hal.storage.clone() else {
        return;
    };
    let settings = Arc::new(StoredRecorderSettings(Arc::downgrade(app)));
    let weak = Arc::downgrade(app);
    let snapshots: crate::recorder::SnapshotSink = Arc::new(move |name: String| {
        let Some(app) = weak.upgrade() else { return };
        match app.alarms.snapshot() {
            Some(jpeg) => crate::alarm::linkage::deliver_snapshot(&app, name, jpeg),
            None => tracing::info!(name, "scheduled snapshot: no picture available"),
        }
    });
    let clock = app.hal.clock.clone();
    match crate::recorder::Recorder::start(Some(storage), clock, settings, Some(snapshots)) {
        Ok(recorder) => {
            app.alarms.set_record_sink(Arc::new(recorder.alarm_sink()));
            let _ = app.recorder.set(recorder);
        }
        Err(err) => tracing::warn!(%err, "the recorder could not start"),
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
