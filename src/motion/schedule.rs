//! The guide's weekly alarm schedule (`schedule0..schedule6` of get/setMotionDetectConfig and
//! get/setIOAlarmConfig): one 48-bit bitmap per weekday, Monday first, bit k = the half hour
//! starting k×30 minutes after local midnight. Also [`LocalTime`], the weekday and minute the
//! caller derives from the camera's clock and time zone.

use super::grid::{MaskError, parse_bitmap_field};

/// Days in the guide's schedule.
pub const DAYS: usize = 7;

/// Half-hour slots per day.
pub const SLOTS_PER_DAY: u16 = 48;

/// All 48 slot bits of one day (`2^48 - 1`, the guide's largest value).
pub const DAY_BITS: u64 = (1 << SLOTS_PER_DAY) - 1;

/// Minutes in a day.
pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// The CGI field names of the days, `schedule0` (Monday) .. `schedule6` (Sunday).
pub const SCHEDULE_FIELDS: [&str; DAYS] = [
    "schedule0",
    "schedule1",
    "schedule2",
    "schedule3",
    "schedule4",
    "schedule5",
    "schedule6",
];

/// A local weekday and time of day, in the camera's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    weekday: u8,
    minute_of_day: u16,
}

impl LocalTime {
    /// `weekday` 0 = Monday .. 6 = Sunday, `minute_of_day` 0..1440; `None` outside those.
    pub fn new(weekday: u8, minute_of_day: u16) -> Option<LocalTime> {
        (usize::from(weekday) < DAYS && minute_of_day < MINUTES_PER_DAY).then_some(LocalTime {
            weekday,
            minute_of_day,
        })
    }

    /// From seconds since 1970-01-01 00:00 *local* time (UTC seconds plus the zone's offset,
    /// daylight saving included), which was a Thursday.
    pub fn from_local_epoch_seconds(local_seconds: i64) -> LocalTime {
        let days = local_seconds.div_euclid(86_400);
        let second_of_day = local_seconds.rem_euclid(86_400);
        // rem_euclid results are in 0..7 and 0..1440: the narrowing casts are exact.
        LocalTime {
            weekday: (days + 3).rem_euclid(7) as u8,
            minute_of_day: (second_of_day / 60) as u16,
        }
    }

    /// 0 = Monday .. 6 = Sunday.
    pub fn weekday(&self) -> u8 {
        self.weekday
    }

    /// Minutes since local midnight, 0..1440.
    pub fn minute_of_day(&self) -> u16 {
        self.minute_of_day
    }
}

/// The weekly schedule: seven 48-bit day bitmaps, Monday first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Schedule([u64; DAYS]);

impl Schedule {
    /// Every half hour of every day.
    pub const ALWAYS: Schedule = Schedule([DAY_BITS; DAYS]);
    /// Never.
    pub const NEVER: Schedule = Schedule([0; DAYS]);

    /// From the seven day bitmaps; refuses bits above bit 47.
    pub fn from_days(days: [u64; DAYS]) -> Result<Schedule, MaskError> {
        for (day, field) in days.iter().zip(SCHEDULE_FIELDS) {
            if *day > DAY_BITS {
                return Err(MaskError::OutOfRange(field));
            }
        }
        Ok(Schedule(days))
    }

    /// From the CGI fields `schedule0..schedule6`, looked up by name.
    pub fn from_fields<'a>(
        mut lookup: impl FnMut(&str) -> Option<&'a str>,
    ) -> Result<Schedule, MaskError> {
        let mut days = [0u64; DAYS];
        for (day, field) in days.iter_mut().zip(SCHEDULE_FIELDS) {
            let text = lookup(field).ok_or(MaskError::Missing(field))?;
            *day = parse_bitmap_field(field, text, DAY_BITS)?;
        }
        Ok(Schedule(days))
    }

    /// The CGI fields `(scheduleN, value)` in order, for replies and storage.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        SCHEDULE_FIELDS.into_iter().zip(self.0.iter().copied())
    }

    /// The seven day bitmaps.
    pub fn days(&self) -> [u64; DAYS] {
        self.0
    }

    /// Whether the schedule covers `weekday` (0 = Monday) at `minute_of_day`; false for values
    /// outside the week or the day.
    pub fn is_active_at(&self, weekday: u8, minute_of_day: u16) -> bool {
        let Some(day) = self.0.get(usize::from(weekday)) else {
            return false;
        };
        minute_of_day < MINUTES_PER_DAY && day & (1 << (minute_of_day / 30)) != 0
    }

    /// Whether the schedule covers `time`.
    pub fn is_active(&self, time: LocalTime) -> bool {
        self.is_active_at(time.weekday, time.minute_of_day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn test_schedule_bit_40_is_20_00_to_20_30() {
        let schedule = Schedule::from_days([1 << 40, 0, 0, 0, 0, 0, 0]).unwrap();
        assert!(!schedule.is_active_at(0, 20 * 60 - 1));
        assert!(schedule.is_active_at(0, 20 * 60));
        assert!(schedule.is_active_at(0, 20 * 60 + 29));
        assert!(!schedule.is_active_at(0, 20 * 60 + 30));
        assert!(!schedule.is_active_at(1, 20 * 60), "Tuesday is schedule1");
    }

    #[test]
    fn test_schedule_guide_examples_1023_and_1024() {
        // 1023 = 00:00-05:00, 1024 = 05:00-05:30.
        let s = Schedule::from_days([1023, 1024, 0, 0, 0, 0, DAY_BITS]).unwrap();
        assert!(s.is_active_at(0, 0) && s.is_active_at(0, 299) && !s.is_active_at(0, 300));
        assert!(!s.is_active_at(1, 299) && s.is_active_at(1, 300) && !s.is_active_at(1, 330));
        assert!(s.is_active_at(6, 1439));
        assert!(!s.is_active_at(6, 1440) && !s.is_active_at(7, 0));
    }

    #[test]
    fn test_schedule_from_fields_checks_range_and_round_trips() {
        let mut q: HashMap<&str, String> = SCHEDULE_FIELDS
            .iter()
            .map(|f| (*f, DAY_BITS.to_string()))
            .collect();
        let s = Schedule::from_fields(|k| q.get(k).map(String::as_str)).unwrap();
        assert_eq!(s, Schedule::ALWAYS);
        let back: HashMap<&str, String> = s.fields().map(|(k, v)| (k, v.to_string())).collect();
        assert_eq!(back, q);
        q.insert("schedule6", (DAY_BITS + 1).to_string());
        assert_eq!(
            Schedule::from_fields(|k| q.get(k).map(String::as_str)),
            Err(MaskError::OutOfRange("schedule6"))
        );
        assert_eq!(
            Schedule::from_days([0, 0, u64::MAX, 0, 0, 0, 0]),
            Err(MaskError::OutOfRange("schedule2"))
        );
    }

    #[test]
    fn test_local_time_from_epoch_knows_weekdays() {
        // 1970-01-01 was a Thursday (weekday 3).
        assert_eq!(
            LocalTime::from_local_epoch_seconds(0),
            LocalTime::new(3, 0).unwrap()
        );
        // 2024-01-01 12:34:56 was a Monday.
        let t = LocalTime::from_local_epoch_seconds(1_704_112_496);
        assert_eq!((t.weekday(), t.minute_of_day()), (0, 12 * 60 + 34));
        // One second before the epoch: Wednesday 23:59.
        let t = LocalTime::from_local_epoch_seconds(-1);
        assert_eq!((t.weekday(), t.minute_of_day()), (2, 1439));
        assert!(LocalTime::new(7, 0).is_none() && LocalTime::new(0, 1440).is_none());
    }
}
