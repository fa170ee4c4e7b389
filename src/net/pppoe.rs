//! PPPoE: setPPPoEConfig's account dialled after the reply (and the stored one at boot), the
//! link's state kept for the log and for [`PppoeService::state`]. A dial that fails does not
//! cut the camera off (the LAN address stays), so there is nothing to fall back to: the log
//! says why, and the state says failed until the next setting.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipcamd_hal::net::{PppState, Pppoe};

use crate::settings::sections;

/// How long after the reply a new setting is applied.
pub const APPLY_AFTER_REPLY: Duration = Duration::from_millis(300);
const POLL: Duration = Duration::from_millis(100);

/// The PPPoE service.
pub struct PppoeService {
    dialler: Arc<dyn Pppoe>,
    timeout: Duration,
    generation: AtomicU64,
}

/// Checks an account: the name 1..=63 and the password 0..=63 characters, neither with control
/// characters (both go to pppd in a file, never on a command line).
pub fn check(setting: &sections::Pppoe) -> Result<(), (&'static str, &'static str)> {
    if !setting.enabled {
        return Ok(());
    }
    let bad = |text: &str| text.chars().any(char::is_control) || text.len() > 63;
    if setting.user.is_empty() || bad(&setting.user) {
        return Err(("userName", "1 to 63 characters without control characters"));
    }
    if bad(&setting.password) {
        return Err((
            "password",
            "at most 63 characters without control characters",
        ));
    }
    Ok(())
}

impl PppoeService {
    /// The service over the board's dialler; `timeout` bounds one dial.
    pub fn new(dialler: Arc<dyn Pppoe>, timeout: Duration) -> Arc<PppoeService> {
        Arc::new(PppoeService {
            dialler,
            timeout,
            generation: AtomicU64::new(0),
        })
    }

    /// The link now.
    pub fn state(&self) -> PppState {
        self.dialler.state().unwrap_or_else(|err| PppState::Failed {
            reason: err.to_string(),
        })
    }

    /// Dials (or hangs up) as `setting` says, after `delay`, on a thread of its own.
    pub fn apply(self: &Arc<Self>, setting: sections::Pppoe, delay: Duration) {
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let service = self.clone();
        let spawned = std::thread::Builder::new()
            .name("pppoe".into())
            .spawn(move || {
                std::thread::sleep(delay);
                service.dial_and_check(&setting, generation);
            });
        if let Err(err) = spawned {
            tracing::warn!(%err, "cannot start the PPPoE thread; setting not applied");
        }
    }

    fn dial_and_check(&self, setting: &sections::Pppoe, generation: u64) {
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if !setting.enabled {
            if let Err(err) = self.dialler.hang_up() {
                tracing::warn!(%err, "PPPoE hang-up failed");
            }
            return;
        }
        if let Err(err) = self.dialler.dial(&setting.user, &setting.password) {
            tracing::warn!(%err, user = %setting.user, "PPPoE dial failed");
            return;
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            if self.generation.load(Ordering::Acquire) != generation {
                return;
            }
            match self.state() {
                PppState::Up { address } => {
                    tracing::info!(user = %setting.user, %address, "PPPoE link up");
                    return;
                }
                PppState::Failed { reason } => {
                    tracing::warn!(user = %setting.user, %reason, "PPPoE dial did not connect");
                    return;
                }
                PppState::Down | PppState::Dialling => {}
            }
            if Instant::now() >= deadline {
                tracing::warn!(user = %setting.user, "PPPoE link not up within {:?}", self.timeout);
                let _ = self.dialler.hang_up();
                return;
            }
            std::thread::sleep(POLL);
        }
    }
}
