//! The recorder's settings, read from the guide's sections (setScheduleRecordConfig,
//! setAlarmRecordConfig, setLocalAlarmRecordConfig, setScheduleRecordStreamChn,
//! setScheduleSnapConfig, setSnapConfig, the time zone) into one value, rebuilt from the typed
//! settings snapshot only when it changed.

use crate::motion::schedule::{DAY_BITS, DAYS, LocalTime, Schedule};
use crate::settings::Snapshot;

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
    /// The guide's factory values, everything off, 30 of 30 frames kept.
    fn default() -> Self {
        RecorderSettings {
            schedule_enabled: false,
            schedule: Schedule::ALWAYS,
            keep_per_30: RECORD_LEVEL_FRAMES[0],
            overwrite_when_full: true,
            audio_requested: false,
            stream: 0,
            pre_record: false,
            pre_record_secs: 5,
            alarm_record_secs: 30,
            local_alarm_record: false,
            local_alarm_record_secs: 30,
            snap_enabled: false,
            snap_interval_secs: 60,
            snap_schedule: Schedule::ALWAYS,
            snap_location: 0,
            time_zone: 0,
            dst: false,
        }
    }
}

/// A stored half-hour bitmap; a day out of range (the setter refuses those) is a whole day.
fn schedule(days: &[i64; DAYS]) -> Schedule {
    let days = days.map(|d| u64::try_from(d).unwrap_or(DAY_BITS));
    Schedule::from_days(days).unwrap_or(Schedule::ALWAYS)
}

/// Seconds of a stored value, clamped to 0..=3600.
fn secs(value: i64) -> u32 {
    u32::try_from(value.clamp(0, 3600)).unwrap_or(0)
}

impl RecorderSettings {
    /// Reads the recorder's fields from the typed settings.
    pub fn from_snapshot(s: &Snapshot) -> RecorderSettings {
        let record = &s.schedule_record;
        let level = usize::try_from(record.record_level).unwrap_or(0);
        RecorderSettings {
            schedule_enabled: record.enabled,
            schedule: schedule(&record.schedule),
            keep_per_30: RECORD_LEVEL_FRAMES[level.min(RECORD_LEVEL_FRAMES.len() - 1)],
            overwrite_when_full: record.space_full_mode == 0,
            audio_requested: record.audio,
            stream: u8::from(s.record_stream.chn == 1),
            pre_record: s.alarm_record.pre_record,
            pre_record_secs: secs(s.alarm_record.pre_record_secs).min(60),
            alarm_record_secs: secs(s.alarm_record.alarm_record_secs).max(1),
            local_alarm_record: s.local_alarm_record.enabled,
            local_alarm_record_secs: secs(s.local_alarm_record.secs).max(1),
            snap_enabled: s.schedule_snap.enabled,
            snap_interval_secs: secs(s.schedule_snap.snap_interval).max(1),
            snap_schedule: schedule(&s.schedule_snap.schedule),
            snap_location: u8::try_from(s.snap.save_location.clamp(0, 2)).unwrap_or(0),
            time_zone: s.time.zone,
            dst: s.time.dst,
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
        let board = ipcamd_hal::board::BoardSpec::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("board/sim.toml"),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(crate::store::Store::open(&dir.path().join("db")).unwrap());
        let mut snapshot =
            crate::settings::Settings::new(store, std::sync::Arc::new(board)).factory();
        snapshot.schedule_record.enabled = true;
        snapshot.schedule_record.record_level = 2;
        snapshot.schedule_record.space_full_mode = 1;
        // Monday 08:00-08:30 only (bit 16).
        snapshot.schedule_record.schedule = [65536, 0, 0, 0, 0, 0, 0];
        snapshot.record_stream.chn = 1;
        snapshot.time.zone = -3600;
        let s = RecorderSettings::from_snapshot(&snapshot);
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
