//! Scheduled snapshots (setScheduleSnapConfig): while the weekly schedule is on, one picture
//! every snapInterval seconds, named `Schedule_<YYYYMMDD>-<HHMMSS>.jpg` in camera local time
//! (stock firmware's `MDAlarm_…` style), stored where setSnapConfig's saveLocation says (the
//! daemon's delivery does the SD or FTP part). Decided on the recorder's one-second tick.

use super::settings::RecorderSettings;
use crate::civil_time;

/// When the next scheduled snapshot is due.
#[derive(Debug, Default)]
pub struct SnapScheduler {
    last: Option<i64>,
}

impl SnapScheduler {
    /// The file name of a snapshot due at UTC `now`, if one is due (and notes it as taken).
    pub fn due(&mut self, settings: &RecorderSettings, now: i64) -> Option<String> {
        if !settings.snap_active(now) {
            self.last = None;
            return None;
        }
        let interval = i64::from(settings.snap_interval_secs.max(1));
        if self
            .last
            .is_some_and(|last| now - last < interval && now >= last)
        {
            return None;
        }
        self.last = Some(now);
        let t = civil_time::from_unix(settings.local_seconds(now));
        Some(format!(
            "Schedule_{:04}{:02}{:02}-{:02}{:02}{:02}.jpg",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::schedule::Schedule;

    #[test]
    fn test_snapshots_follow_interval_and_schedule() {
        let mut settings = RecorderSettings {
            snap_enabled: true,
            snap_interval_secs: 5,
            ..Default::default()
        };
        let mut scheduler = SnapScheduler::default();
        let t0 = 1_796_083_200; // 2026-12-01 00:00:00 UTC, a Tuesday
        let taken: Vec<i64> = (0..12)
            .filter(|s| scheduler.due(&settings, t0 + s).is_some())
            .collect();
        assert_eq!(taken, vec![0, 5, 10]);
        assert_eq!(
            scheduler.due(&settings, t0 + 15).unwrap(),
            "Schedule_20261201-000015.jpg"
        );
        settings.snap_schedule = Schedule::NEVER;
        assert!(scheduler.due(&settings, t0 + 20).is_none());
        settings.snap_schedule = Schedule::ALWAYS;
        settings.snap_enabled = false;
        assert!(scheduler.due(&settings, t0 + 25).is_none());
    }
}
