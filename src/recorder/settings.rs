//! The recorder's settings, read from the guide's sections (setScheduleRecordConfig,
//! setAlarmRecordConfig, setLocalAlarmRecordConfig, setScheduleRecordStreamChn,
//! setScheduleSnapConfig, setSnapConfig, the time zone) into one value. The daemon hands a new
//! value to the recorder when the store's generation moves, so the recorder never reads
//! SQLite while it records.

use crate::motion::schedule::{DAY_BITS, DAYS, LocalTime, SCHEDULE_FIELDS, Schedule};

/// recordLevel: frames kept out of 30 (the guide: 0-30/30, 1-24/30, 2-15/30, 3-8/30,
/// 4-4/30, 5-1/30).
pub const RECORD_LEVEL_FRAMES: [u32; 6] = [30, 24, 15, 8, 4, 1];

/// Everything the recorder and the scheduled snapshots act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderSettings {
    /// Schedule recording on.
    pub schedule_enabled: bool,
    /// Its weekly schedule.
    pub schedule: Schedule,
    /// Frames kept per 30 (from recordLevel).
    pub keep_per_30: u32,
    /// spaceFullMode 0: overwrite the oldest recordings and go on (`true`); 1: stop.
    pub overwrite_when_full: bool,
    /// isEnableAudio asked for audio (no board has a microphone: logged, video only).
    pub audio_requested: bool,
    /// 0 main stream, 1 sub stream (setScheduleRecordStreamChn).
    pub stream: u8,
    /// Pre-record on (isEnablePreRecord).
    pub pre_record: bool,
    /// preRecordSecs.
    pub pre_record_secs: u32,
    /// alarmRecordSecs: how long an alarm with the record linkage records.
    pub alarm_record_secs: u32,
    /// isEnableLocalAlarmRecord: every alarm records to the card, whatever its linkage.
    pub local_alarm_record: bool,
    /// localAlarmRecordSecs.
    pub local_alarm_record_secs: u32,
    /// Scheduled snapshots on (setScheduleSnapConfig isEnable).
    pub snap_enabled: bool,
    /// Seconds between scheduled snapshots.
    pub snap_interval_secs: u32,
    /// Their weekly schedule.
    pub snap_schedule: Schedule,
    /// setSnapConfig saveLocation: 0 SD card, 2 FTP.
    pub snap_location: u8,
    /// The guide's timeZone (inverted UTC offset, seconds) and isDst.
    pub time_zone: i64,
    /// Daylight saving adds an hour.
    pub dst: bool,
}

impl Default for RecorderSettings {
    fn default() -> Self {
        RecorderSettings::from_lookup(|_, _| None)
    }
}

impl RecorderSettings {
    /// Reads the settings through `lookup(section, field)` (the stored value or the factory
    /// default); unreadable values fall back to the guide's factory values.
    pub fn from_lookup(lookup: impl Fn(&str, &str) -> Option<String>) -> RecorderSettings {
        let int = |section: &str, field: &str, default: i64| -> i64 {
            lookup(section, field)
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default)
        };
        let flag = |section: &str, field: &str| int(section, field, 0) == 1;
        // A day without a stored value has the factory schedule: every half hour.
        let schedule = |section: &str| {
            let mut days = [DAY_BITS; DAYS];
            for (day, field) in days.iter_mut().zip(SCHEDULE_FIELDS) {
                if let Some(value) = lookup(section, field).and_then(|v| v.trim().parse().ok()) {
                    *day = value;
                }
            }
            Schedule::from_days(days).unwrap_or(Schedule::ALWAYS)
        };
        let level = usize::try_from(int("schedule_record", "recordLevel", 0)).unwrap_or(0);
        let secs = |section: &str, field: &str, default: i64| {
            u32::try_from(int(section, field, default).clamp(0, 3600)).unwrap_or(0)
        };
        RecorderSettings {
            schedule_enabled: flag("schedule_record", "isEnable"),
            schedule: schedule("schedule_record"),
            keep_per_30: RECORD_LEVEL_FRAMES[level.min(RECORD_LEVEL_FRAMES.len() - 1)],
            overwrite_when_full: int("schedule_record", "spaceFullMode", 0) == 0,
            audio_requested: flag("schedule_record", "isEnableAudio"),
            stream: u8::from(int("record_stream", "chn", 0) == 1),
            pre_record: flag("alarm_record", "isEnablePreRecord"),
            pre_record_secs: secs("alarm_record", "preRecordSecs", 5).min(60),
            alarm_record_secs: secs("alarm_record", "alarmRecordSecs", 30).max(1),
            local_alarm_record: flag("local_alarm_record", "isEnableLocalAlarmRecord"),
            local_alarm_record_secs: secs("local_alarm_record", "localAlarmRecordSecs", 30).max(1),
            snap_enabled: flag("schedule_snap", "isEnable"),
            snap_interval_secs: secs("schedule_snap", "snapInterval", 60).max(1),
            snap_schedule: schedule("schedule_snap"),
            snap_location: u8::try_from(int("snap", "saveLocation", 0).clamp(0, 2)).unwrap_or(0),
            time_zone: int("time", "timeZone", 0),
            dst: flag("time", "isDst"),
        }
    }

    /// Camera local time (seconds since 1970-01-01 00:00 local) of a UTC instant.
    pub fn local_seconds(&self, unix: i64) -> i64 {
        unix - self.time_zone + if self.dst { 3600 } else { 0 }
    }

    /// Whether the recording schedule is on at UTC `unix`.
    pub fn schedule_active(&self, unix: i64) -> bool {
        self.schedule_enabled
            && self.schedule.is_active(LocalTime::from_local_epoch_seconds(
                self.local_seconds(unix),
            ))
    }

    /// Whether scheduled snapshots are due at UTC `unix` (schedule only, not the interval).
    pub fn snap_active(&self, unix: i64) -> bool {
        self.snap_enabled
            && self
                .snap_schedule
                .is_active(LocalTime::from_local_epoch_seconds(
                    self.local_seconds(unix),
                ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_settings_follow_the_guide_fields() {
        let rows = [
            ("schedule_record", "isEnable", "1"),
            ("schedule_record", "recordLevel", "2"),
            ("schedule_record", "spaceFullMode", "1"),
            // Monday 08:00-08:30 only (bit 16).
            ("schedule_record", "schedule0", "65536"),
            ("schedule_record", "schedule1", "0"),
            ("record_stream", "chn", "1"),
            ("time", "timeZone", "-3600"),
        ];
        let s = RecorderSettings::from_lookup(|section, field| {
            rows.iter()
                .find(|(s, f, _)| *s == section && *f == field)
                .map(|(_, _, v)| (*v).to_owned())
        });
        assert_eq!(s.keep_per_30, 15);
        assert!(!s.overwrite_when_full);
        assert_eq!(s.stream, 1);
        // 2026-11-30 is a Monday; 07:10 UTC is 08:10 at GMT+1.
        let monday_0710_utc = crate::civil_time::to_unix(&crate::civil_time::CivilTime {
            year: 2026,
            month: 11,
            day: 30,
            hour: 7,
            minute: 10,
            second: 0,
            weekday: 0,
        });
        assert!(s.schedule_active(monday_0710_utc));
        assert!(!s.schedule_active(monday_0710_utc - 3600));
        assert!(!s.schedule_active(monday_0710_utc + 86_400));
        let defaults = RecorderSettings::default();
        assert!(!defaults.schedule_enabled && defaults.overwrite_when_full);
        assert_eq!(defaults.keep_per_30, 30);
    }
}
