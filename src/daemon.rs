//! The composition root (layer 5): read the board file, open the store and the HAL, build
//! the services from narrow handles in order (settings, local time, event log and device
//! state first; then IR, media, the encoded-stream hub, alarms, the recorder, PTZ; then the
//! CGI context over all of them), start their loops under the [`Supervisor`], bind the HTTP
//! listener and serve it, with RTSP on the same port or a port of its own and ONVIF on
//! onvifPort where the board has it. Nothing else decides what runs, and nothing is bound
//! late: each service gets what it needs when it is built.
//!
//! # Where a new service goes
//! In [`start`], after the handles it needs exist: build it from those handles (never from
//! the [`Context`]), register its threads or tasks with `supervisor`, and if handlers need it,
//! add it to the [`Context`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipcamd_hal::Hal;
use ipcamd_hal::board::BoardSpec;

use crate::accounts::Accounts;
use crate::alarm::{AlarmParts, Alarms};
use crate::cgi::{Context, Restart};
use crate::firmware::FIRMWARE_DIR;
use crate::ir::IrController;
use crate::listener::{Gate, Limits, Listeners, Role, tls};
use crate::local_time::LocalClock;
use crate::media::{Media, MediaParts};
use crate::net::ports::{PortSettings, Ports};
use crate::net::{NetParts, Network};
use crate::recorder::{Recorder, RecorderLoop, RecorderParts};
use crate::settings::Settings;
use crate::state::DeviceState;
use crate::store::Store;
use crate::store::event_log::{EventLog, LogKind};
use crate::streams::StreamHub;
use crate::supervisor::Supervisor;

/// The longest each watched loop may go without a heartbeat before the watchdog stops being
/// fed (each loop's own wait is far shorter: see the comments where it beats).
mod periods {
    use std::time::Duration;
    /// A frame at least every 2 s (the capture wait), or the sensor is wedged.
    pub const CAPTURE: Duration = Duration::from_secs(15);
    /// A frame wait of 0.5 s per turn, plus one software encode.
    pub const ENCODER: Duration = Duration::from_secs(15);
    /// Acting on one motion notice: linkage (mail and FTP run as background jobs).
    pub const MOTION_ALARM: Duration = Duration::from_secs(60);
    /// A 1 s wait per turn, 5 s after an input error.
    pub const IO_ALARM: Duration = Duration::from_secs(30);
    /// A 1 s wait per turn, plus closing a segment on a slow card.
    pub const RECORDER: Duration = Duration::from_secs(60);
    /// A 1 s wait per turn (2 s after a sensor error).
    pub const IR: Duration = Duration::from_secs(30);
    /// A move or preset call between two steps (at most a full travel and a settle).
    pub const PTZ: Duration = Duration::from_secs(60);
    /// A 0.5 s sleep per turn, plus one network attempt with its timeouts.
    pub const NETWORK: Duration = Duration::from_secs(180);
    /// A 1 s sleep per turn.
    pub const RTSP_PORT: Duration = Duration::from_secs(30);
}

/// Start-up failure with a readable message.
#[derive(Debug)]
pub struct StartupError(pub String);

impl std::fmt::Display for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartupError {}

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

/// A started daemon: its services running, its listeners bound, not serving yet.
pub struct Started {
    /// The handlers' context (every service's handle).
    pub ctx: Arc<Context>,
    /// Every listener (web, HTTPS, media), bound; servers take their endpoints.
    pub listeners: Arc<Listeners>,
    /// Where the web listener listens.
    pub address: SocketAddr,
    /// The registered threads and tasks.
    pub supervisor: Arc<Supervisor>,
    /// The runtime the daemon was started on (its tasks run there).
    runtime: tokio::runtime::Handle,
    /// The UPnP service once launched (its mappings are removed when the daemon stops).
    upnp: Option<Arc<crate::net::upnp::Upnp>>,
    /// Motion notices for the alarm service, until [`Started::launch`] starts it.
    motion_notices: Option<std::sync::mpsc::Receiver<crate::media::MotionNotice>>,
    /// The recorder's loop, until [`Started::launch`] starts it.
    recorder_loop: Option<RecorderLoop>,
}

fn err(context: &str, e: impl std::fmt::Display) -> StartupError {
    StartupError(format!("{context}: {e}"))
}

/// Builds every service in order and binds the listener, without serving yet and without
/// logging (the first log line says where the daemon listens): only the capture thread runs.
/// [`Started::launch`] then applies the stored settings to the hardware and starts the loops.
pub async fn start(options: &Options) -> Result<Started, StartupError> {
    let board = BoardSpec::load(&options.board).map_err(|e| err("board file", e))?;
    std::fs::create_dir_all(&options.data)
        .map_err(|e| err(&format!("creating {}", options.data.display()), e))?;
    // Layer 1: store, typed settings, local time, event log, device state.
    let store = Arc::new(
        Store::open(&options.data.join("ipcamd.db")).map_err(|e| err("settings store", e))?,
    );
    let hal = Hal::open(board, &options.data).map_err(|e| err("opening the board", e))?;
    let settings = Arc::new(Settings::new(store.clone(), hal.board.clone()));
    let clock = Arc::new(LocalClock::new(hal.clock.clone(), settings.clone()));
    let log = Arc::new(EventLog::new(store.clone(), hal.clock.clone()));
    let state = Arc::new(DeviceState::default());
    let supervisor = Arc::new(Supervisor::default());
    let spawn_err = |what: &str, e: std::io::Error| err(&format!("starting the {what} thread"), e);

    // Layer 2: services, each from the handles it drives.
    let accounts = Accounts::new();
    accounts
        .ensure_factory_admin(&store)
        .map_err(|e| StartupError(format!("creating the factory account: {e:?}")))?;
    let ir = Arc::new(IrController::new(
        hal.ir_led.clone(),
        hal.ir_cut.clone(),
        hal.light_sensor.is_some(),
    ));
    let (motion_tx, motion_rx) = std::sync::mpsc::sync_channel(crate::media::MOTION_QUEUE);
    let media = match hal.video.clone() {
        Some(video) => {
            let (media, thread) = Media::start(MediaParts {
                video,
                encoder: hal.encoder.clone(),
                settings: settings.clone(),
                clock: clock.clone(),
                ir: ir.clone(),
                state: state.clone(),
                motion: motion_tx,
                heartbeat: supervisor.heartbeat("capture", periods::CAPTURE),
            })
            .map_err(|e| spawn_err("capture", e))?;
            supervisor.thread("capture", thread);
            Some(media)
        }
        None => None,
    };
    // The H.264 streams, encoded from the processed frames only while consumed.
    let streams = StreamHub::new(
        media.as_ref().map(|m| m.frame_feed()),
        hal.h264.clone(),
        settings.clone(),
    );
    supervisor.watch(
        "encode-main",
        streams.heartbeat(crate::streams::StreamId::Main),
        periods::ENCODER,
    );
    supervisor.watch(
        "encode-sub",
        streams.heartbeat(crate::streams::StreamId::Sub),
        periods::ENCODER,
    );
    let snapshot: Option<crate::alarm::SnapshotProvider> = media.clone().map(|media| {
        let provider: crate::alarm::SnapshotProvider = Arc::new(move || media.snapshot_jpeg().ok());
        provider
    });
    let (record_tx, record_rx) = std::sync::mpsc::sync_channel(crate::alarm::RECORD_QUEUE);
    let alarms = Alarms::new(AlarmParts {
        settings: settings.clone(),
        clock: clock.clone(),
        log: log.clone(),
        state: state.clone(),
        alarm_out: hal.alarm_out.clone(),
        storage: hal.storage.clone(),
        snapshot,
        record: hal.storage.is_some().then_some(record_tx),
    });
    let (recorder, recorder_loop) = match hal.storage.clone() {
        Some(storage) => {
            let snapshots: Option<crate::recorder::SnapshotSink> = media.as_ref().map(|_| {
                let alarms = alarms.clone();
                let sink: crate::recorder::SnapshotSink =
                    Arc::new(move |name| alarms.save_scheduled_snapshot(name));
                sink
            });
            let (recorder, job) = Recorder::new(RecorderParts {
                storage,
                settings: settings.clone(),
                clock: clock.clone(),
                log: log.clone(),
                state: state.clone(),
                alarms: record_rx,
                frames: Some(Arc::new(crate::recorder::feeder::HubFrames::new(
                    streams.clone(),
                ))),
                snapshots,
            });
            (Some(recorder), Some(job))
        }
        None => (None, None),
    };
    let ptz = match (&hal.ptz, tokio::runtime::Handle::try_current()) {
        (Some(motor), Ok(runtime)) => Some(crate::ptz::Ptz::new(motor.clone(), runtime)),
        _ => None,
    };
    if let Some(ptz) = &ptz {
        supervisor.watch("ptz", ptz.heartbeat(), periods::PTZ);
    }
    // The listeners (layer 1 handle) and the network services over them and the HAL roles.
    let net = start_network(options, &settings, &hal)?;
    // Layer 3: the handlers' context.
    let ctx = Arc::new(Context {
        firmware_version: crate::firmware::running_version(&options.data),
        hal,
        store,
        settings,
        clock,
        log,
        accounts,
        state,
        media,
        streams,
        alarms,
        recorder,
        ir,
        net: net.clone(),
        ptz,
        data_dir: options.data.clone(),
        restart: Default::default(),
        started: Instant::now(),
    });
    let listeners = net.listeners.clone();
    let address = listeners
        .local_addr(Role::Web)
        .ok_or_else(|| StartupError("the web listener is not bound".into()))?;
    Ok(Started {
        ctx,
        listeners,
        address,
        supervisor,
        runtime: tokio::runtime::Handle::current(),
        upnp: None,
        motion_notices: Some(motion_rx),
        recorder_loop,
    })
}

/// The HTTPS certificate (made on first boot), the admission gate with the stored firewall,
/// and every listener bound on its stored port (a taken stored port falls back to the board's
/// factory port; with `--listen ADDR:0` every role takes a free port).
fn start_network(
    options: &Options,
    settings: &Arc<Settings>,
    hal: &Hal,
) -> Result<Arc<Network>, StartupError> {
    let board = settings.board();
    let snapshot = settings.snapshot();
    let d = &board.defaults;
    let factory = PortSettings {
        web: d.web_port,
        https: d.https_port,
        media: d.media_port,
        onvif: d.onvif_port,
    };
    let stored = PortSettings::from_section(&snapshot.ports).unwrap_or(factory);
    let (bind_ip, listen_port) = match options.listen {
        Some(address) => (address.ip(), Some(address.port())),
        None => (
            d.bind_address
                .parse()
                .map_err(|e| err("board file defaults.bind_address", e))?,
            None,
        ),
    };
    let listeners = Listeners::new(Gate::new(Limits::default()));
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
    let ports = Ports::start(
        listeners.clone(),
        bind_ip,
        stored,
        factory,
        listen_port,
        board.capabilities.onvif,
    )
    .map_err(|e| err("binding the web port", e))?;
    Ok(Arc::new(Network::new(NetParts {
        listeners,
        ports: Arc::new(ports),
        interface: hal.network.clone(),
        radio: hal.wifi.clone(),
        dialler: hal.pppoe.clone(),
        settings: settings.clone(),
        apply_timeout: Duration::from_secs(board.network.apply_timeout_secs.into()),
    })))
}

impl Started {
    /// Applies the stored settings the hardware needs at start (manual time, picture
    /// controls, set485Info's line, the PTZ self-test) and starts the service loops, each
    /// registered with the supervisor. Call once.
    pub fn launch(&mut self) -> Result<(), StartupError> {
        let ctx = &self.ctx;
        let supervisor = &self.supervisor;
        let spawn_err =
            |what: &str, e: std::io::Error| err(&format!("starting the {what} thread"), e);
        let snapshot = ctx.settings.snapshot();
        ctx.clock.restore();
        ctx.net.boot();
        if let Some(media) = &ctx.media {
            media.apply_image_settings(&snapshot);
        }
        if let Some(ptz) = &ctx.ptz {
            // set485Info's stored line, not only the board file's, from the first command on.
            if let Err(err) = ptz.apply_line(&snapshot.rs485) {
                tracing::warn!(%err, "stored RS485 settings not applied; the board file's stand");
            }
            let presets = ctx.store.presets().unwrap_or_default();
            ptz.start_up_self_test(&snapshot.ptz_selftest, &presets);
        }
        if let Some(notices) = self.motion_notices.take() {
            if ctx.media.is_some() {
                let thread = ctx
                    .alarms
                    .start_motion(
                        notices,
                        supervisor.heartbeat("motion-alarm", periods::MOTION_ALARM),
                    )
                    .map_err(|e| spawn_err("motion alarm", e))?;
                supervisor.thread("motion-alarm", thread);
            }
        }
        let ntp = crate::net::ntp::Ntp::new(
            ctx.hal.clock.clone(),
            ctx.settings.clone(),
            ctx.state.clone(),
        );
        let beat = supervisor.heartbeat("ntp", periods::NETWORK);
        supervisor.task("ntp", self.runtime.spawn(ntp.run(beat)));
        let ddns = crate::net::ddns::Ddns::new(
            ctx.settings.clone(),
            ctx.state.clone(),
            crate::net::ddns::Endpoints::of(&ctx.hal.board.network.ddns),
        );
        let beat = supervisor.heartbeat("ddns", periods::NETWORK);
        supervisor.task("ddns", self.runtime.spawn(ddns.run(beat)));
        match crate::net::upnp::Upnp::new(
            ctx.settings.clone(),
            ctx.state.clone(),
            &ctx.hal.board.network.upnp,
        ) {
            Ok(upnp) => {
                let beat = supervisor.heartbeat("upnp", periods::NETWORK);
                supervisor.task("upnp", self.runtime.spawn(upnp.clone().run(beat)));
                self.upnp = Some(upnp);
            }
            Err(why) => tracing::warn!(%why, "UPnP is off"),
        }
        if ctx.hal.alarm_in.is_some() {
            let beat = supervisor.heartbeat("io-alarm", periods::IO_ALARM);
            if let Some(thread) = ctx
                .alarms
                .start_io_alarm(ctx.hal.alarm_in.clone(), beat)
                .map_err(|e| spawn_err("IO alarm", e))?
            {
                supervisor.thread("io-alarm", thread);
            }
        } else {
            // Logs that the IO alarm is off.
            let _ = ctx.alarms.start_io_alarm(None, Default::default());
        }
        if let Some(job) = self.recorder_loop.take() {
            let beat = supervisor.heartbeat("recorder", periods::RECORDER);
            let thread = job.spawn(beat).map_err(|e| spawn_err("recorder", e))?;
            supervisor.thread("recorder", thread);
        }
        if ctx.hal.ir_led.is_some() {
            let beat = supervisor.heartbeat("ir-led", periods::IR);
            if let Some(thread) = ctx
                .ir
                .start(
                    ctx.settings.clone(),
                    ctx.clock.clone(),
                    ctx.hal.light_sensor.clone(),
                    beat,
                )
                .map_err(|e| spawn_err("IR LED", e))?
            {
                supervisor.thread("ir-led", thread);
            }
        } else {
            // Logs that the IR controller is off.
            let _ = ctx.ir.start(
                ctx.settings.clone(),
                ctx.clock.clone(),
                None,
                Default::default(),
            );
        }
        Ok(())
    }
}

/// Why [`run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// A termination signal: stop.
    Stop,
    /// A command asked for a restart or a reboot.
    Restart(Restart),
}

/// Runs the daemon until a termination signal, a restart request, or a fatal error (a
/// supervised thread or task that ended is one: the reason is logged and returned).
pub async fn run(options: Options) -> Result<Exit, StartupError> {
    let mut started = start(&options).await?;
    let https = started
        .listeners
        .local_addr(Role::Https)
        .map(|a| format!(" and https://{a}"))
        .unwrap_or_default();
    let onvif = started
        .listeners
        .local_addr(Role::Onvif)
        .map(|a| format!(" and ONVIF http://{a}{}", crate::onvif::DEVICE_PATH))
        .unwrap_or_default();
    tracing::info!(
        "ipcamd {} listening on http://{}{https}{onvif} with board \"{}\" ({})",
        started.ctx.firmware_version,
        started.address,
        started.ctx.hal.board.board.name,
        options.board.display()
    );
    let ctx = started.ctx.clone();
    let supervisor = started.supervisor.clone();
    if let Some(why) = ctx
        .hal
        .sim
        .as_ref()
        .and_then(|s| s.ptz_unavailable.as_ref())
    {
        tracing::warn!(%why, "the simulated motor cannot run on this platform; PTZ commands answer -4");
    }
    ctx.log.record(LogKind::PowerOn, "", "");
    started.launch()?;
    let listeners = started.listeners.clone();
    let rtsp = start_rtsp(&ctx, &supervisor, &listeners, started.address.ip());
    use crate::http::server::{cgi_handler, serve_handler};
    let cgi = cgi_handler(ctx.clone());
    let serve = serve_handler(
        cgi.clone(),
        listeners.endpoint(Role::Web),
        Some(rtsp.clone()),
    );
    if ctx.hal.board.capabilities.onvif {
        let onvif = start_onvif(&ctx).handler();
        let server = tokio::spawn(serve_handler(onvif, listeners.endpoint(Role::Onvif), None));
        supervisor.task("onvif", server);
    }
    for (role, name) in [(Role::Https, "https"), (Role::Media, "media-listener")] {
        let endpoint = listeners.endpoint(role);
        let server = tokio::spawn(serve_handler(cgi.clone(), endpoint, Some(rtsp.clone())));
        supervisor.task(name, server);
    }
    // Ready: listening and the HAL is open. A freshly installed release confirms itself now.
    match crate::firmware::confirm(&ctx.data_dir.join(FIRMWARE_DIR)) {
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
        if let Some(web) = listeners.local_addr(Role::Web) {
            let _ = notifier.status(&format!("serving the CGI on port {}", web.port()));
        }
        if let Some(interval) = crate::systemd::watchdog_interval() {
            let feeder = tokio::spawn(feed_watchdog(
                supervisor.clone(),
                notifier.clone(),
                interval,
                listeners.clone(),
            ));
            supervisor.task("watchdog", feeder);
        }
    }
    let exit = tokio::select! {
        () = serve => return Ok(Exit::Stop),
        failure = supervisor.failure() => {
            tracing::error!(task = failure.name, reason = %failure.reason, "a background task ended; stopping");
            return Err(StartupError(format!("background task {failure}")));
        }
        _ = shutdown_signal() => Exit::Stop,
        kind = ctx.restart.requested() => {
            // Let the reply that asked for it reach the client.
            tokio::time::sleep(Duration::from_millis(300)).await;
            Exit::Restart(kind)
        }
    };
    tracing::info!(?exit, "shutting down");
    if let Some(upnp) = &started.upnp {
        upnp.remove_mappings().await;
    }
    if let Some(recorder) = ctx.recorder.clone() {
        // The open segment is closed and its index row completed before the process ends.
        let _ = tokio::task::spawn_blocking(move || recorder.stop(Duration::from_secs(5))).await;
    }
    // The encoder threads end and are joined (they need no runtime, so this holds even if
    // the runtime goes first).
    let streams = ctx.streams.clone();
    let _ = tokio::task::spawn_blocking(move || streams.stop(Duration::from_secs(5))).await;
    if let Some(notifier) = &notifier {
        let _ = notifier.stopping();
    }
    Ok(exit)
}

/// The RTSP server over the stream hub. RTSP is served where Foscam firmware serves it: on
/// mediaPort, which shares the web listener when it equals webPort (the default, 88) and
/// otherwise is the media listener's (both tell RTSP from HTTP by the request line, see
/// [`crate::http::serve`]); setPortInfo moves them. A board file's `[rtsp] port` gives RTSP a
/// listener of its own instead (e.g. 554), behind the same firewall and limits. A supervised
/// task keeps [`crate::rtsp::RtspServer::on_web_port`] in step with the settings.
pub fn start_rtsp(
    ctx: &Arc<Context>,
    supervisor: &Supervisor,
    listeners: &Arc<Listeners>,
    ip: std::net::IpAddr,
) -> crate::rtsp::RtspServer {
    let rtsp = crate::rtsp::RtspServer::new(
        ctx.streams.clone(),
        ctx.clone(),
        (&ctx.hal.board.rtsp).into(),
    );
    let own_port = ctx.hal.board.rtsp.port;
    rtsp.set_on_web_port(rtsp_on_web_port(own_port, &ctx.settings.snapshot().ports));
    if let Some(port) = own_port {
        let bound = listeners
            .prepare(&[(Role::Rtsp, SocketAddr::new(ip, port))])
            .and_then(|prepared| listeners.commit(prepared));
        match bound {
            Ok(()) => {
                tracing::info!("RTSP listening on rtsp://{ip}:{port}/videoMain and /videoSub");
                let server =
                    tokio::spawn(rtsp.clone().serve_endpoint(listeners.endpoint(Role::Rtsp)));
                supervisor.task("rtsp-listener", server);
            }
            Err(err) => {
                tracing::warn!(%err, port, "cannot bind the board's RTSP port; RTSP is not served")
            }
        }
    }
    let beat = supervisor.heartbeat("rtsp-port", periods::RTSP_PORT);
    let follower = tokio::spawn(follow_media_port(ctx.clone(), rtsp.clone(), own_port, beat));
    supervisor.task("rtsp-port", follower);
    rtsp
}

/// The ONVIF service over narrow handles: the accounts (through the context's
/// [`crate::rtsp::Authenticator`], as RTSP checks them), settings, clock, the network
/// services and getDevInfo's identity.
fn start_onvif(ctx: &Arc<Context>) -> crate::onvif::OnvifServer {
    let id = &ctx.hal.board.identity;
    let mac = ctx.hal.mac_address();
    let auth: Arc<dyn crate::rtsp::Authenticator> = ctx.clone();
    crate::onvif::OnvifServer::new(crate::onvif::OnvifParts {
        auth,
        settings: ctx.settings.clone(),
        clock: ctx.clock.clone(),
        net: ctx.net.clone(),
        device: crate::onvif::DeviceInfo {
            model: id.model_name.clone(),
            firmware: ctx.firmware_version.clone(),
            serial: crate::cgi::commands::device::serial_number(id, &mac),
            hardware: id.hardware_version.clone(),
            mac,
        },
        rtsp_port: ctx.hal.board.rtsp.port,
    })
}

/// Whether RTSP shares the web port: no port of its own and mediaPort equal to webPort.
fn rtsp_on_web_port(own_port: Option<u16>, ports: &crate::settings::sections::Ports) -> bool {
    own_port.is_none() && ports.media_port == ports.web_port
}

async fn follow_media_port(
    ctx: Arc<Context>,
    server: crate::rtsp::RtspServer,
    own_port: Option<u16>,
    heartbeat: crate::heartbeat::Heartbeat,
) {
    let mut seen = None;
    loop {
        heartbeat.beat();
        if let Some(snapshot) = ctx.settings.changed(&mut seen) {
            server.set_on_web_port(rtsp_on_web_port(own_port, &snapshot.ports));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
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

/// Feeds the systemd watchdog only while every watched loop (capture, encoders, alarms, IR,
/// PTZ, recorder, network services: [`Supervisor::stalled`]) has beaten within its period
/// and the HTTP server answers a request of its own, so a wedged loop or server gets the
/// daemon restarted. The accept loops of the servers wait for clients and are not watched:
/// the request to the web port stands for them.
async fn feed_watchdog(
    supervisor: Arc<Supervisor>,
    notifier: Arc<crate::systemd::Notifier>,
    interval: Duration,
    listeners: Arc<Listeners>,
) {
    // What `systemctl status` shows changes only when the verdict does.
    let mut fed = true;
    loop {
        tokio::time::sleep(interval / 2).await;
        let stalled = supervisor.stalled();
        // The web port may have moved (setPortInfo): probe where it is now.
        let http_ok = match listeners.local_addr(Role::Web) {
            Some(bound) => http_probe(probe_address(bound)).await,
            None => false,
        };
        if stalled.is_empty() && http_ok {
            let _ = notifier.watchdog();
            if !fed {
                let _ = notifier.status("serving; every loop beats again");
                fed = true;
            }
        } else {
            let stalled: Vec<String> = stalled.iter().map(ToString::to_string).collect();
            tracing::warn!(
                stalled = %stalled.join(", "),
                http_ok,
                "not feeding the watchdog"
            );
            let web = if http_ok {
                ""
            } else {
                "; the web port does not answer"
            };
            let _ = notifier.status(&format!(
                "not feeding the watchdog: stalled [{}]{web}",
                stalled.join(", ")
            ));
            fed = false;
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

/// The daemon in-process for unit tests: [`start`] on the simulated board with a temporary
/// data directory (listeners bound on a free loopback port, no loop launched, nothing
/// served), so tests run CGI commands and HTTP routes without a socket or a child process.
#[cfg(test)]
pub(crate) mod testing {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::sync::Arc;

    use super::{Options, Started, start};
    use crate::cgi::query::Query;
    use crate::cgi::{Context, Outcome};

    /// Where requests of [`SimCamera`] come from.
    pub(crate) const PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40_000);

    /// A composed daemon with the simulated board.
    pub(crate) struct SimCamera {
        /// The handlers' context.
        pub(crate) ctx: Arc<Context>,
        _started: Started,
        _data: tempfile::TempDir,
    }

    impl SimCamera {
        /// Composes the daemon as [`super::run`] does, on a new data directory. Call inside a
        /// multi-threaded tokio runtime.
        pub(crate) async fn start() -> SimCamera {
            let data = tempfile::tempdir().expect("temporary data directory");
            let options = Options {
                board: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("board/sim.toml"),
                data: data.path().to_path_buf(),
                listen: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)),
            };
            let started = match start(&options).await {
                Ok(started) => started,
                Err(err) => panic!("the simulated board starts: {err}"),
            };
            SimCamera {
                ctx: started.ctx.clone(),
                _started: started,
                _data: data,
            }
        }

        /// Runs a CGI query string (percent-encoded as a client sends it) through the
        /// dispatcher.
        pub(crate) async fn query(&self, raw: &str) -> Outcome {
            let query = Query::parse(raw).expect("a well-formed query");
            crate::cgi::dispatch(self.ctx.clone(), query, PEER.ip(), None).await
        }

        /// Runs `cmd` with `params` as the factory admin (empty password).
        pub(crate) async fn cgi(&self, cmd: &str, params: &[(&str, &str)]) -> Outcome {
            self.query(&query_string(cmd, "admin", "", params)).await
        }
    }

    /// `cmd=…&usr=…&pwd=…&k=v…`, every value percent-encoded as a client would.
    pub(crate) fn query_string(cmd: &str, usr: &str, pwd: &str, params: &[(&str, &str)]) -> String {
        let mut out = format!(
            "cmd={}&usr={}&pwd={}",
            encode(cmd),
            encode(usr),
            encode(pwd)
        );
        for (key, value) in params {
            out.push('&');
            out.push_str(&encode(key));
            out.push('=');
            out.push_str(&encode(value));
        }
        out
    }

    /// Percent-encodes everything but letters, digits and `-._~`.
    pub(crate) fn encode(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for byte in text.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                out.push(byte as char);
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
        out
    }
}
