//! Segment file names: `<kind>_<YYYYMMDD>_<HHMMSS>.mp4` in the camera's local time, the way
//! stock Foscam firmware names its recordings (`schedule_…`, `alarm_…`; its web page tells the
//! kind from those words), with `_<n>` before the extension when two segments start in the
//! same second.

use crate::civil_time::{self, CivilTime};

/// Why a segment was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// setScheduleRecordConfig's weekly schedule.
    Schedule = 0,
    /// An alarm (motion, IO) with its pre-record.
    Alarm = 1,
    /// A manual recording (the stock page's "normal"); not started by any CGI command of the
    /// guide, listed when found on a card.
    Manual = 2,
}

impl RecordKind {
    /// The word in file names.
    pub fn word(self) -> &'static str {
        match self {
            RecordKind::Schedule => "schedule",
            RecordKind::Alarm => "alarm",
            RecordKind::Manual => "normal",
        }
    }

    /// From the index's code (and getRecordList's recordType).
    pub fn from_code(code: i64) -> Option<RecordKind> {
        match code {
            0 => Some(RecordKind::Schedule),
            1 => Some(RecordKind::Alarm),
            2 => Some(RecordKind::Manual),
            _ => None,
        }
    }

    fn from_word(word: &str) -> Option<RecordKind> {
        [RecordKind::Schedule, RecordKind::Alarm, RecordKind::Manual]
            .into_iter()
            .find(|k| k.word() == word)
    }
}

/// A parsed segment name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentName {
    /// The kind word.
    pub kind: RecordKind,
    /// Start, seconds since 1970-01-01 00:00 local time.
    pub start_local: i64,
    /// Same-second counter (0 for the first).
    pub serial: u32,
}

impl SegmentName {
    /// The file name of a segment of `kind` starting at local time `start_local`.
    pub fn format(kind: RecordKind, start_local: i64, serial: u32) -> String {
        let t = civil_time::from_unix(start_local);
        let suffix = if serial == 0 {
            String::new()
        } else {
            format!("_{serial}")
        };
        format!(
            "{}_{:04}{:02}{:02}_{:02}{:02}{:02}{suffix}.mp4",
            kind.word(),
            t.year,
            t.month,
            t.day,
            t.hour,
            t.minute,
            t.second
        )
    }

    /// Parses a name made by [`SegmentName::format`]; anything else (including path
    /// separators or dots elsewhere) is `None`.
    pub fn parse(name: &str) -> Option<SegmentName> {
        let stem = name.strip_suffix(".mp4")?;
        let mut parts = stem.split('_');
        let kind = RecordKind::from_word(parts.next()?)?;
        let date = parts.next()?;
        let time = parts.next()?;
        let serial = match parts.next() {
            Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n.parse().ok()?,
            Some(_) => return None,
            None => 0,
        };
        if parts.next().is_some()
            || date.len() != 8
            || time.len() != 6
            || !date.bytes().chain(time.bytes()).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let num = |s: &str| s.parse::<u32>().ok();
        let t = CivilTime {
            year: i64::from(num(&date[0..4])?),
            month: num(&date[4..6])?,
            day: num(&date[6..8])?,
            hour: num(&time[0..2])?,
            minute: num(&time[2..4])?,
            second: num(&time[4..6])?,
            weekday: 0,
        };
        if !(1..=12).contains(&t.month)
            || t.day == 0
            || t.day > civil_time::days_in_month(t.year, t.month)
            || t.hour > 23
            || t.minute > 59
            || t.second > 59
        {
            return None;
        }
        let start_local = civil_time::to_unix(&t);
        // Only the canonical spelling (so one file has one name).
        (SegmentName::format(kind, start_local, serial) == name).then_some(SegmentName {
            kind,
            start_local,
            serial,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_round_trip_and_reject_anything_else() {
        let t = civil_time::to_unix(&CivilTime {
            year: 2026,
            month: 12,
            day: 3,
            hour: 7,
            minute: 30,
            second: 5,
            weekday: 0,
        });
        let name = SegmentName::format(RecordKind::Alarm, t, 0);
        assert_eq!(name, "alarm_20261203_073005.mp4");
        let parsed = SegmentName::parse(&name).unwrap();
        assert_eq!(
            (parsed.kind, parsed.start_local, parsed.serial),
            (RecordKind::Alarm, t, 0)
        );
        assert_eq!(
            SegmentName::parse("schedule_20261203_073005_2.mp4")
                .unwrap()
                .serial,
            2
        );
        for bad in [
            "../alarm_20261203_073005.mp4",
            "alarm_20261203_073005.mp4.part",
            "alarm_20261303_073005.mp4",
            "alarm_20260230_073005.mp4",
            "other_20261203_073005.mp4",
            "alarm_20261203_073005_.mp4",
            "alarm_20261203_073005_01.mp4",
            "alarm_2026120_0730055.mp4",
            "ipcamd-index.db",
        ] {
            assert!(SegmentName::parse(bad).is_none(), "{bad}");
        }
    }
}
