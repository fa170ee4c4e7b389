//! What a command handler may touch: a small bundle of handles on the board's devices and
//! the services below the CGI layer, built once by the composition root (`daemon.rs`). No
//! service holds it: it exists for the handlers only.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ipcamd_hal::Hal;

use crate::accounts::Accounts;
use crate::alarm::Alarms;
use crate::ir::IrController;
use crate::local_time::LocalClock;
use crate::media::Media;
use crate::net::Network;
use crate::ptz::Ptz;
use crate::recorder::Recorder;
use crate::settings::Settings;
use crate::state::DeviceState;
use crate::store::Store;
use crate::store::event_log::EventLog;
use crate::streams::StreamHub;

/// Why the daemon leaves its main loop on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Start again (new firmware, imported settings, simulated reboot).
    Daemon,
    /// Reboot the whole camera.
    System,
}

/// A command's request that the daemon restart once the reply has gone out; the composition
/// root waits on it.
#[derive(Default)]
pub struct RestartRequest {
    notify: tokio::sync::Notify,
    kind: Mutex<Option<Restart>>,
}

impl RestartRequest {
    /// Asks for a restart or a reboot.
    pub fn request(&self, kind: Restart) {
        *self.kind.lock().unwrap_or_else(|e| e.into_inner()) = Some(kind);
        self.notify.notify_one();
    }

    /// Waits for a request.
    pub async fn requested(&self) -> Restart {
        self.notify.notified().await;
        self.kind
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or(Restart::Daemon)
    }
}

/// The handlers' context.
pub struct Context {
    /// The board's devices.
    pub hal: Hal,
    /// Accounts, presets, cruise maps, the multi-device list (settings go through
    /// [`Context::settings`]).
    pub store: Arc<Store>,
    /// Typed settings.
    pub settings: Arc<Settings>,
    /// The camera's local time.
    pub clock: Arc<LocalClock>,
    /// The system log.
    pub log: Arc<EventLog>,
    /// Credential checks and sessions.
    pub accounts: Accounts,
    /// Live state for getDevState.
    pub state: Arc<DeviceState>,
    /// The media pipeline (boards without video have none).
    pub media: Option<Arc<Media>>,
    /// The encoded H.264 streams (closed on boards without video or H.264 encoder).
    pub streams: StreamHub,
    /// The alarm service.
    pub alarms: Arc<Alarms>,
    /// The recorder, on boards with an SD card slot.
    pub recorder: Option<Arc<Recorder>>,
    /// The IR LED controller.
    pub ir: Arc<IrController>,
    /// Network services: listeners, ports, firewall.
    pub net: Arc<Network>,
    /// PTZ job runner, when the board has a motor.
    pub ptz: Option<Ptz>,
    /// Data directory (database, exports, snapshots, firmware).
    pub data_dir: PathBuf,
    /// Version of the running firmware: the installed release's, else this build's.
    pub firmware_version: String,
    /// Restart requests (firmware installed, config imported, reboot).
    pub restart: RestartRequest,
    /// When the daemon started.
    pub started: Instant,
}

impl Context {
    /// Unix time now, from the camera's clock.
    pub fn unix_now(&self) -> i64 {
        self.clock.unix_now()
    }

    /// Asks the composition root to restart the daemon or reboot the camera once the current
    /// reply has gone out.
    pub fn request_restart(&self, kind: Restart) {
        self.restart.request(kind);
    }
}
