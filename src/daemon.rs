//! The composition root: read the board file, open the store and the HAL, build the
//! application, bind the HTTP listener and serve. Nothing else decides what runs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ipcamd_hal::Hal;
use ipcamd_hal::board::BoardSpec;

use std::time::Duration;

use crate::app::{App, FIRMWARE_DIR, LogKind, Restart, StartupError};
use crate::cgi::commands::config;
use crate::listener::{Gate, Limits, Listeners, Role, tls};
use crate::net::NetEvent;
use crate::net::ip::IpService;
use crate::net::ports::{PortSettings, Ports};
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

/// A started daemon: its application object, bound listeners and web address.
pub struct Started {
    /// The application.
    pub app: Arc<App>,
    /// Every listener (web, HTTPS, media), bound.
    pub listeners: Arc<Listeners>,
    /// Where the web listener listens.
    pub address: SocketAddr,
    /// What the network services report (handled by [`run`]).
    pub net_events: tokio::sync::mpsc::UnboundedReceiver<NetEvent>,
}

fn err(context: &str, e: impl std::fmt::Display) -> StartupError {
    StartupError(format!("{context}: {e}"))
}

/// A stored port, or the board's factory value.
fn stored_port(store: &Store, key: &str, factory: u16) -> u16 {
    store
        .setting("ports", key)
        .ok()
        .flatten()
        .and_then(|p| p.parse().ok())
        .unwrap_or(factory)
}

/// Opens everything and binds the listeners, without serving yet.
pub async fn start(options: &Options) -> Result<Started, StartupError> {
    let board = BoardSpec::load(&options.board).map_err(|e| err("board file", e))?;
    std::fs::create_dir_all(&options.data)
        .map_err(|e| err(&format!("creating {}", options.data.display()), e))?;
    let store =
        Store::open(&options.data.join("ipcamd.db")).map_err(|e| err("settings store", e))?;
    let d = &board.defaults;
    let factory = PortSettings {
        web: d.web_port,
        https: d.https_port,
        media: d.media_port,
        onvif: d.onvif_port,
    };
    let stored = PortSettings {
        web: stored_port(&store, "webPort", factory.web),
        https: stored_port(&store, "httpsPort", factory.https),
        media: stored_port(&store, "mediaPort", factory.media),
        onvif: stored_port(&store, "onvifPort", factory.onvif),
    };
    let (bind_ip, stored, ephemeral) = match options.listen {
        Some(address) => (
            address.ip(),
            PortSettings {
                web: address.port(),
                ..stored
            },
            address.port() == 0,
        ),
        None => (
            d.bind_address
                .parse()
                .map_err(|e| err("board file defaults.bind_address", e))?,
            stored,
            false,
        ),
    };
    let gate = Gate::new(Limits::default());
    gate.set_firewall(crate::net::firewall_from(|key| {
        store
            .setting("firewall", key)
            .ok()
            .flatten()
            .unwrap_or_else(|| "0".into())
    }));
    let listeners = Listeners::new(gate);
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        board.identity.model_name.clone(),
    ];
    match tls::ensure_certificate(&options.data, &names).and_then(|created| {
        if created {
            tracing::debug!("HTTPS certificate created in the data directory");
        }
        tls::load_acceptor(&options.data)
    }) {
        Ok(acceptor) => listeners.set_tls(Role::Https, acceptor),
        Err(e) => tracing::warn!(err = %e, "HTTPS is off: the certificate does not load"),
    }
    let ports = Ports::start(listeners.clone(), bind_ip, stored, factory, ephemeral)
        .map_err(|e| err("binding the web port", e))?;
    let address = ports
        .local_addr(Role::Web)
        .ok_or_else(|| StartupError("the web listener is not bound".into()))?;
    let hal = Hal::open(board, &options.data).map_err(|e| err("opening the board", e))?;
    let (events, net_events) = tokio::sync::mpsc::unbounded_channel();
    let apply_timeout = Duration::from_secs(hal.board.network.apply_timeout_secs.into());
    let ip = hal
        .network
        .clone()
        .map(|network| IpService::new(network, apply_timeout, events.clone()));
    let time_setting = |key: &str| store.setting("time", key).ok().flatten();
    let ntp = crate::net::ntp::Ntp::new(crate::net::ntp::TimeSource {
        ntp: time_setting("timeSource").is_none_or(|s| s == "0"),
        server: time_setting("ntpServer")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| crate::net::ntp::FACTORY_SERVER.into()),
    });
    let net = crate::net::NetHandles {
        listeners: listeners.clone(),
        ports: Arc::new(ports),
        ip,
        ntp,
    };
    let app = App::new(hal, store, options.data.clone(), net)?;
    Ok(Started {
        app,
        listeners,
        address,
        net_events,
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
    let https = started
        .listeners
        .local_addr(Role::Https)
        .map(|a| format!(" and https://{a}"))
        .unwrap_or_default();
    tracing::info!(
        "ipcamd {} listening on http://{}{https} with board \"{}\" ({})",
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
    config::apply_image_settings(&app);
    start_network(&app, started.net_events);
    crate::cgi::commands::ptz::start_up_self_test(&app);
    crate::alarm::start(&app);
    crate::ir::start(app.clone());
    let listeners = started.listeners.clone();
    let serve = crate::http::serve(app.clone(), listeners.endpoint(Role::Web));
    for role in [Role::Https, Role::Media] {
        tokio::spawn(crate::http::serve(app.clone(), listeners.endpoint(role)));
    }
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
                listeners.clone(),
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

/// Applies the stored network settings and stores what the network services fall back to.
fn start_network(app: &Arc<App>, mut events: tokio::sync::mpsc::UnboundedReceiver<NetEvent>) {
    if let Some(ip) = &app.net.ip {
        let stored =
            crate::net::ip_mode_from(|k| config::read_value(app, "ip", k).unwrap_or_default());
        match stored {
            Ok(mode) => ip.boot(mode),
            Err((field, why)) => {
                tracing::warn!(field, why, "stored IP setting unusable; using DHCP");
                ip.boot(ipcamd_hal::net::IpMode::Dhcp);
            }
        }
    }
    let app = app.clone();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                NetEvent::IpFellBack(mode) => {
                    let fields = crate::net::ip_fields(&mode);
                    let pairs: Vec<(&str, &str)> =
                        fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    if let Err(err) = app.store.set_section("ip", &pairs) {
                        tracing::warn!(%err, "could not store the restored IP setting");
                    }
                }
            }
        }
    });
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
    listeners: Arc<Listeners>,
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
        let http_ok = match listeners.local_addr(Role::Web) {
            Some(bound) => http_probe(probe_address(bound)).await,
            None => false,
        };
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
