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

/// Folder of the data directory where fwUpgrade installs releases.
pub const FIRMWARE_DIR: &str = "firmware";
/// Set by the start-up loader when it runs an installed release.
pub const LOADED_RELEASE_ENV: &str = "IPCAMD_RELEASE";

/// Why the daemon leaves its main loop on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Start again (new firmware, imported settings, simulated reboot).
    Daemon,
    /// Reboot the whole camera.
    System,
}

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
    /// IO alarm input triggered (ipcamd extension: the guide has no log ID for it).
    IoAlarm = 5,
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
    /// The media pipeline, once started (boards without video never have one).
    pub media: std::sync::OnceLock<Arc<crate::media::Media>>,
    /// Set when a command asks the daemon to restart (firmware installed, config imported,
    /// reboot on the simulated board); the composition root watches it.
    pub restart: tokio::sync::Notify,
    /// What the restart is for.
    pub restart_kind: std::sync::Mutex<Option<Restart>>,
    /// Version of the running firmware: the installed release's, else this build's.
    pub firmware_version: String,
    /// PTZ job runner, when the board has a motor.
    pub ptz: Option<crate::ptz::Ptz>,
    /// Data directory (database, snapshots of the simulated SD card).
    pub data_dir: PathBuf,
    /// When the daemon started.
    pub started: Instant,
    /// Alarm linkage state, snapshot provider, IO alarm output control.
    pub alarms: crate::alarm::Alarms,
    /// IR LED controller.
    pub ir: crate::ir::IrController,
    /// Listeners, firewall and ports.
    pub net: crate::net::NetHandles,
}

impl App {
    /// Builds the application over an opened HAL and store, creating the factory admin.
    pub fn new(
        hal: Hal,
        store: Store,
        data_dir: PathBuf,
        net: crate::net::NetHandles,
    ) -> Result<Arc<App>, StartupError> {
        let accounts = Accounts::new();
        accounts
            .ensure_factory_admin(&store)
            .map_err(|e| StartupError(format!("creating the factory account: {e:?}")))?;
        let ptz = match (&hal.ptz, tokio::runtime::Handle::try_current()) {
            (Some(motor), Ok(runtime)) => Some(crate::ptz::Ptz::new(motor.clone(), runtime)),
            _ => None,
        };
        let firmware_version = crate::firmware::installed_version(&data_dir.join(FIRMWARE_DIR))
            .ok()
            .flatten()
            .filter(|_| std::env::var_os(LOADED_RELEASE_ENV).is_some())
            .unwrap_or_else(|| crate::firmware::RUNNING_VERSION.to_owned());
        Ok(Arc::new(App {
            restart: tokio::sync::Notify::new(),
            restart_kind: std::sync::Mutex::new(None),
            firmware_version,
            media: std::sync::OnceLock::new(),
            ptz,
            alarms: crate::alarm::Alarms::default(),
            ir: crate::ir::IrController::new(&hal),
            hal,
            store,
            accounts,
            state: DeviceState::default(),
            data_dir,
            started: Instant::now(),
            net,
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

    /// Asks the composition root to restart the daemon or reboot the camera once the current
    /// reply has gone out.
    pub fn request_restart(&self, kind: Restart) {
        *self.restart_kind.lock().unwrap_or_else(|e| e.into_inner()) = Some(kind);
        self.restart.notify_one();
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
