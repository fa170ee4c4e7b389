//! Calendar arithmetic for the camera's local time: the guide's `timeZone` is the *inverted*
//! UTC offset in seconds (3600 means GMT-01:00), and `isDst` adds an hour. No time-zone
//! database is needed or carried.

/// A broken-down local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    /// Year, e.g. 2026.
    pub year: i64,
    /// Month 1..=12.
    pub month: u32,
    /// Day of month 1..=31.
    pub day: u32,
    /// Hour 0..=23.
    pub hour: u32,
    /// Minute 0..=59.
    pub minute: u32,
    /// Second 0..=59.
    pub second: u32,
    /// Day of the week, 0 = Monday (the guide's schedule0) ..= 6 = Sunday.
    pub weekday: u32,
}

/// Local time from Unix seconds and the guide's `timeZone` / `isDst`.
pub fn local_time(unix: i64, time_zone: i64, dst: bool) -> CivilTime {
    let local = unix - time_zone + if dst { 3600 } else { 0 };
    from_unix(local)
}

/// Unix seconds from a local time and the guide's `timeZone` / `isDst`.
pub fn unix_from_local(t: &CivilTime, time_zone: i64, dst: bool) -> i64 {
    to_unix(t) + time_zone - if dst { 3600 } else { 0 }
}

/// Breaks Unix seconds (UTC) into a calendar time.
pub fn from_unix(unix: i64) -> CivilTime {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400) as u32;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    // 1970-01-01 was a Thursday (3 with Monday = 0).
    let weekday = (days + 3).rem_euclid(7) as u32;
    CivilTime {
        year,
        month,
        day,
        hour: secs / 3600,
        minute: secs / 60 % 60,
        second: secs % 60,
        weekday,
    }
}

/// Unix seconds (UTC) of a calendar time (weekday ignored).
pub fn to_unix(t: &CivilTime) -> i64 {
    let (y, m) = if t.month <= 2 {
        (t.year - 1, t.month + 9)
    } else {
        (t.year, t.month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * i64::from(m) + 2) / 5 + i64::from(t.day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second)
}

/// Days in a month.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_from_unix_known_dates() {
        let t = from_unix(0);
        assert_eq!((t.year, t.month, t.day, t.weekday), (1970, 1, 1, 3));
        let t = from_unix(1_764_000_000); // 2025-11-24 16:00:00 UTC, a Monday
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.weekday),
            (2025, 11, 24, 16, 0)
        );
    }

    #[test]
    fn test_round_trip_through_local_time() {
        let unix = 1_764_000_000;
        let local = local_time(unix, -3600, false); // GMT+01:00
        assert_eq!(local.hour, 17);
        assert_eq!(unix_from_local(&local, -3600, false), unix);
    }

    #[test]
    fn test_leap_february() {
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
    }
}
