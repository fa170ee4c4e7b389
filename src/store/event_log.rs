//! The system log (getLog): what happened on the camera, with the guide's log IDs, appended
//! to the store with the camera's clock. Appending never fails a caller: a store error is
//! logged and the entry dropped (the log is a record, not a reason to fail a command).

use std::sync::Arc;

use ipcamd_hal::clock::Clock;

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

/// Handle on the system log.
pub struct EventLog {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
}

impl EventLog {
    /// The log in `store`, stamped by `clock`.
    pub fn new(store: Arc<Store>, clock: Arc<dyn Clock>) -> EventLog {
        EventLog { store, clock }
    }

    /// Appends an entry now.
    pub fn record(&self, kind: LogKind, user: &str, ip: &str) {
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
}
