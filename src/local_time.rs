//! The camera's local time (layer 1): the HAL clock read through the stored time zone and
//! daylight-saving flag (setSystemTime), the date format of the OSD, and the manual clock,
//! whose offset from the system clock is persisted so a `setSystemTime` survives a restart.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipcamd_hal::HalResult;
use ipcamd_hal::clock::Clock;

use crate::civil_time::{self, CivilTime};
use crate::motion::LocalTime as ScheduleTime;
use crate::settings::Settings;
use crate::settings::sections::Time;

/// The local-time service.
pub struct LocalClock {
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
}

impl LocalClock {
    /// Local time from `clock` and the time settings.
    pub fn new(clock: Arc<dyn Clock>, settings: Arc<Settings>) -> LocalClock {
        LocalClock { clock, settings }
    }

    /// Unix seconds now (the camera's clock, manual time included).
    pub fn unix_now(&self) -> i64 {
        unix_of(self.clock.now())
    }

    /// The camera clock's time now (manual time included), for time stamps and durations.
    pub fn system_now(&self) -> SystemTime {
        self.clock.now()
    }

    /// The local time of `unix` under `time`.
    pub fn at(unix: i64, time: &Time) -> CivilTime {
        civil_time::local_time(unix, time.zone, time.dst)
    }

    /// The local time now.
    pub fn now(&self) -> CivilTime {
        LocalClock::at(self.unix_now(), &self.settings.snapshot().time)
    }

    /// Now, as the alarm schedules see it (weekday and minute of the day).
    pub fn schedule_now(&self) -> Option<ScheduleTime> {
        let now = self.now();
        ScheduleTime::new(now.weekday as u8, (now.hour * 60 + now.minute) as u16)
    }

    /// Sets the manual clock to `unix`; returns the offset from the system clock to persist
    /// (`Time::manual_offset`), so [`LocalClock::restore`] can apply it after a restart.
    pub fn set_manual(&self, unix: i64) -> HalResult<i64> {
        let when = UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64);
        self.clock.set(when)?;
        Ok(unix - unix_of(SystemTime::now()))
    }

    /// At start-up: a manual time source re-applies its persisted offset to the clock. Where
    /// that set the system clock itself (a real board with CAP_SYS_TIME), the clock no longer
    /// runs ahead of the system clock and the stored offset becomes 0, so the next start does
    /// not add it again.
    pub fn restore(&self) {
        let time = self.settings.snapshot().time.clone();
        if time.source != 1 || time.manual_offset == 0 {
            return;
        }
        let unix = unix_of(SystemTime::now()) + time.manual_offset;
        let when = UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64);
        match self.clock.set(when) {
            Ok(()) => tracing::info!(offset = time.manual_offset, "manual time restored"),
            Err(err) => {
                tracing::warn!(%err, "manual time could not be restored");
                return;
            }
        }
        let ahead = unix_of(self.clock.now()) - unix_of(SystemTime::now());
        if ahead.abs() < 2 {
            if let Err(err) = self.settings.write("time", &[("manualOffset", "0")]) {
                tracing::warn!(%err, "could not store the manual offset");
            }
        }
    }
}

/// The OSD's timestamp text for `t` in the guide's `dateFormat`.
pub fn osd_text(t: &CivilTime, date_format: i64) -> String {
    let date = match date_format {
        1 => format!("{:02}/{:02}/{:04}", t.day, t.month, t.year),
        2 => format!("{:02}/{:02}/{:04}", t.month, t.day, t.year),
        _ => format!("{:04}-{:02}-{:02}", t.year, t.month, t.day),
    };
    format!("{date} {:02}:{:02}:{:02}", t.hour, t.minute, t.second)
}

fn unix_of(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn service(dir: &std::path::Path) -> (Arc<Settings>, LocalClock, Arc<dyn Clock>) {
        let board = ipcamd_hal::board::BoardSpec::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("board/sim.toml"),
        )
        .unwrap();
        let store = Arc::new(Store::open(&dir.join("db")).unwrap());
        let settings = Arc::new(Settings::new(store, Arc::new(board)));
        let clock: Arc<dyn Clock> = Arc::new(ipcamd_hal::clock::OffsetClock::default());
        (
            settings.clone(),
            LocalClock::new(clock.clone(), settings),
            clock,
        )
    }

    #[test]
    fn test_manual_time_survives_a_new_clock() {
        let dir = tempfile::tempdir().unwrap();
        let (settings, local, _) = service(dir.path());
        let target = 1_400_000_000;
        let offset = local.set_manual(target).unwrap();
        settings
            .write(
                "time",
                &[("timeSource", "1"), ("manualOffset", &offset.to_string())],
            )
            .unwrap();
        assert!((local.unix_now() - target).abs() < 5);
        // A restart: a fresh clock at the system time, then restore.
        let (_, fresh, clock) = service(dir.path());
        assert!((unix_of(clock.now()) - target).abs() > 1000);
        fresh.restore();
        assert!((fresh.unix_now() - target).abs() < 5);
    }

    /// A clock like a real board's with CAP_SYS_TIME: setting it sets the system clock (here
    /// only recorded, the host clock is left alone), so it never runs ahead of the system.
    #[derive(Default)]
    struct SystemSetter(std::sync::Mutex<Vec<SystemTime>>);

    impl Clock for SystemSetter {
        fn now(&self) -> SystemTime {
            SystemTime::now()
        }
        fn set(&self, to: SystemTime) -> HalResult<()> {
            self.0.lock().unwrap().push(to);
            Ok(())
        }
    }

    #[test]
    fn test_a_restored_offset_that_set_the_system_clock_is_not_added_again() {
        let dir = tempfile::tempdir().unwrap();
        let (settings, _, _) = service(dir.path());
        settings
            .write("time", &[("timeSource", "1"), ("manualOffset", "86400")])
            .unwrap();
        let clock = Arc::new(SystemSetter::default());
        let local = LocalClock::new(clock.clone(), settings.clone());
        local.restore();
        let set = clock.0.lock().unwrap().clone();
        assert_eq!(set.len(), 1);
        assert!((unix_of(set[0]) - unix_of(SystemTime::now()) - 86400).abs() < 5);
        assert_eq!(settings.snapshot().time.manual_offset, 0);
        local.restore();
        assert_eq!(
            clock.0.lock().unwrap().len(),
            1,
            "nothing to add at the next start"
        );

        // An offset clock keeps running ahead: its offset stays stored.
        settings
            .write("time", &[("manualOffset", "86400")])
            .unwrap();
        let (fresh, offset_local, offset_clock) = service(dir.path());
        offset_local.restore();
        assert!((unix_of(offset_clock.now()) - unix_of(SystemTime::now()) - 86400).abs() < 5);
        assert_eq!(fresh.snapshot().time.manual_offset, 86400);
    }

    #[test]
    fn test_zone_and_dst_shift_local_time() {
        let dir = tempfile::tempdir().unwrap();
        let (settings, local, _) = service(dir.path());
        local.set_manual(0).unwrap();
        settings
            .write("time", &[("timeZone", "-3600"), ("isDst", "1")])
            .unwrap();
        let t = local.now();
        assert_eq!((t.year, t.hour), (1970, 2));
        assert!(osd_text(&t, 1).starts_with("01/01/1970 02:"));
        assert!(osd_text(&t, 0).starts_with("1970-01-01 02:"));
    }
}
