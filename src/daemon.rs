//! The composition root: read the board file, open the store and the HAL, build the
//! application, bind the HTTP listener and serve. Nothing else decides what runs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ipcamd_hal::Hal;
use ipcamd_hal::board::BoardSpec;
use tokio::net::TcpListener;

use crate::app::{App, LogKind, StartupError};
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

/// Runs the daemon until the listener fails or a termination signal arrives.
pub async fn run(options: Options) -> Result<(), StartupError> {
    let started = start(&options).await?;
    tracing::info!(
        "ipcamd {} listening on http://{} with board \"{}\" ({})",
        crate::app::APP_VERSION,
        started.address,
        started.app.hal.board.board.name,
        options.board.display()
    );
    started.app.log_event(LogKind::PowerOn, "", "");
    config::apply_image_settings(&started.app);
    crate::cgi::commands::ptz::start_up_self_test(&started.app);
    crate::alarm::start(&started.app);
    crate::ir::start(started.app.clone());
    let serve = crate::http::serve(started.app.clone(), started.listener);
    tokio::select! {
        result = serve => result.map_err(|e| err("HTTP server", e)),
        _ = shutdown_signal() => {
            tracing::info!("shutting down");
            Ok(())
        }
    }
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
