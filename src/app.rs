//! The application object: everything a command handler may touch (HAL, store, accounts,
//! live state), built once by the composition root and shared by reference.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use ipcamd_hal::Hal;

use crate::accounts::Accounts;
use crate::state::DeviceState;
use crate::store::{LogRow, Store};

/// Version reported by getProductAppVer and getDevInfo firmwareVer: Cargo.toml's, unless the
/// build sets `IPCAMD_VERSION` (the lab's fwUpgrade check builds an image at another version).
pub const APP_VERSION: &str = match option_env!("IPCAMD_VERSION") {
    Some(version) => version,
    None => env!("CARGO_PKG_VERSION"),
};

/// Guide log IDs (getLog).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i64)]
pub enum LogKind {
    /// System power on.
    PowerOn = 0,
    /// Motion alarm detected.
    MotionAlarm = 1,
    /// User login.
    Login = 2,
    /// User logout.
    Logout = 3,
    /// User off line.
    Offline = 4,
}

/// Shared application state.
pub struct App {
    /// The board's devices.
    pub hal: Hal,
    /// Settings, accounts, log.
    pub store: Store,
    /// Credential checks and sessions.
    pub accounts: Accounts,
    /// Live state for getDevState.
    pub state: DeviceState,
    /// PTZ job runner, when the board has a motor.
    pub ptz: Option<crate::ptz::Ptz>,
    /// Data directory (database, snapshots of the simulated SD card).
    pub data_dir: PathBuf,
    /// When the daemon started.
    pub started: Instant,
}

impl App {
    /// Builds the application over an opened HAL and store, creating the factory admin.
    pub fn new(hal: Hal, store: Store, data_dir: PathBuf) -> Result<Arc<App>, StartupError> {
        let accounts = Accounts::new();
        accounts
            .ensure_factory_admin(&store)
            .map_err(|e| StartupError(format!("creating the factory account: {e:?}")))?;
        let ptz = match (&hal.ptz, tokio::runtime::Handle::try_current()) {
            (Some(motor), Ok(runtime)) => Some(crate::ptz::Ptz::new(motor.clone(), runtime)),
            _ => None,
        };
        Ok(Arc::new(App {
            ptz,
            hal,
            store,
            accounts,
            state: DeviceState::default(),
            data_dir,
            started: Instant::now(),
        }))
    }

    /// Unix time now, from the HAL clock.
    pub fn unix_now(&self) -> i64 {
        self.hal
            .clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }

    /// Appends to the system log; a failure is logged, never propagated (the log is a record,
    /// not a reason to fail a command).
    pub fn log_event(&self, kind: LogKind, user: &str, ip: &str) {
        let row = LogRow {
            time: self.unix_now(),
            kind: kind as i64,
            user: user.into(),
            ip: ip.into(),
        };
        if let Err(err) = self.store.append_log(&row) {
            tracing::warn!(%err, "could not append to the system log");
        }
    }
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
