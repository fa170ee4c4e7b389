//! The system log (getLog): what happened on the camera, with the guide's log IDs, appended
//! to the store with the camera's clock. Appending never fails a caller: a store error is
//! logged and the entry dropped (the log is a record, not a reason to fail a command).
//!
//! A client cannot flood it: failed logins are not entries at all (they go to the rate-limited
//! journal line of the dispatcher), and the entries a client can cause at will (logIn and
//! logOut, [`LogKind::Login`], [`LogKind::Logout`]) pass a [`LogLimit`] (a burst of
//! [`CLIENT_BURST`], then [`CLIENT_PER_MINUTE`] a minute); the ones dropped are counted in a
//! journal line. The store keeps at most [`super::LOG_LIMIT`] entries, so without the limit
//! a logIn loop would push every power-on and alarm entry out.

use std::sync::Arc;

use ipcamd_hal::clock::Clock;

use crate::log_limit::{LogLimit, Verdict};

use super::{LogRow, Store};

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
    /// Recording stopped for want of a usable SD card: full (spaceFullMode 1, or nothing left
    /// to overwrite) or removed while recording (ipcamd extension).
    RecordStopped = 6,
}

/// Client-caused entries (logIn, logOut) that may be appended at once.
pub const CLIENT_BURST: u32 = 20;
/// Client-caused entries per minute after the burst.
pub const CLIENT_PER_MINUTE: u32 = 10;

/// Handle on the system log.
pub struct EventLog {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    client: LogLimit,
}

impl EventLog {
    /// The log in `store`, stamped by `clock`.
    pub fn new(store: Arc<Store>, clock: Arc<dyn Clock>) -> EventLog {
        EventLog {
            store,
            clock,
            client: LogLimit::new("system log logins", CLIENT_BURST, CLIENT_PER_MINUTE),
        }
    }

    /// Appends an entry now (a client-caused one only within its rate, see the module docs).
    pub fn record(&self, kind: LogKind, user: &str, ip: &str) {
        if matches!(kind, LogKind::Login | LogKind::Logout) {
            match self.client.admit() {
                Verdict::Drop => return,
                Verdict::Log { suppressed: 0 } => {}
                Verdict::Log { suppressed } => {
                    tracing::info!(
                        suppressed,
                        "{} logIn/logOut entries not added to the system log",
                        suppressed
                    );
                }
            }
        }
        let time = self
            .clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let row = LogRow {
            time,
            kind: kind as i64,
            user: user.into(),
            ip: ip.into(),
        };
        if let Err(err) = self.store.append_log(&row) {
            tracing::warn!(%err, "could not append to the system log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_record_appends_with_the_clock_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("db")).unwrap());
        let clock = Arc::new(ipcamd_hal::clock::OffsetClock::default());
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_500_000_000);
        clock.set(when).unwrap();
        let log = EventLog::new(store.clone(), clock);
        log.record(LogKind::Login, "admin", "10.0.0.1");
        let rows = store.log_page(0, 10).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].kind, 2);
        assert!((rows[0].time - 1_500_000_000).abs() < 5);
    }

    #[test]
    fn test_a_login_flood_is_bounded_and_other_entries_still_go_in() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("db")).unwrap());
        let log = EventLog::new(
            store.clone(),
            Arc::new(ipcamd_hal::clock::OffsetClock::default()),
        );
        for _ in 0..500 {
            log.record(LogKind::Login, "admin", "10.0.0.1");
        }
        log.record(LogKind::MotionAlarm, "", "");
        let count = store.log_count().unwrap();
        // The burst, perhaps a few more if the loop took seconds, and the alarm.
        assert!(
            count > CLIENT_BURST as i64 && count < CLIENT_BURST as i64 + 20,
            "{count} entries"
        );
        assert_eq!(
            store.log_page(0, 1).unwrap()[0].kind,
            LogKind::MotionAlarm as i64
        );
    }
}
