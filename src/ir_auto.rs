//! The IR LED's automatic and scheduled day/night decision, pure and clock-injected.
//!
//! [`IrAuto`] turns light samples (a light-sensor line, or the scene's mean luma when the
//! board has no sensor) into day/night switches with hysteresis, a confirmation time and a
//! minimum dwell that backs off when the picture keeps flipping, so it never flaps; the first
//! sample after start (or after [`IrAuto::reset`]) decides at once, so the camera boots into
//! the right mode. [`IrSchedule`] is setScheduleInfraLedConfig's three daily windows
//! (`startHourN:startMinN` to `endHourN:endMinN`, N = 0..2), which may cross midnight.
//!
//! The daemon drives the lines; this module only decides.

use std::fmt;
use std::time::{Duration, Instant};

/// Day or night: night means IR LED on and IR cut filter out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayNight {
    /// Daylight: IR LED off, IR cut filter in.
    Day,
    /// Night: IR LED on, IR cut filter out.
    Night,
}

/// One light measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LightSample {
    /// The light-sensor line (logical level: active = dark).
    Sensor {
        /// The sensor reports darkness.
        dark: bool,
    },
    /// Mean luma (0..255) of the picture, for boards without a sensor.
    SceneLuma(u8),
}

/// Tuning of [`IrAuto`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IrAutoParams {
    /// In day mode, a scene luma below this means night.
    pub night_below_luma: u8,
    /// In night mode, a scene luma above this means day. Set well above
    /// `night_below_luma`: the IR LED itself brightens the night picture.
    pub day_above_luma: u8,
    /// How long the other mode must be indicated without interruption before switching
    /// (a passing car's headlights, a hand over the sensor do not switch).
    pub confirm: Duration,
    /// Least time between two switches.
    pub min_dwell: Duration,
    /// Ceiling of the backed-off dwell: each switch that comes back within twice the current
    /// dwell doubles the dwell, up to this; a mode held longer than that resets it.
    pub max_dwell: Duration,
}

impl Default for IrAutoParams {
    fn default() -> Self {
        IrAutoParams {
            night_below_luma: 40,
            day_above_luma: 120,
            confirm: Duration::from_secs(5),
            min_dwell: Duration::from_secs(30),
            max_dwell: Duration::from_secs(30 * 60),
        }
    }
}

/// The automatic day/night decision.
#[derive(Debug, Clone)]
pub struct IrAuto {
    params: IrAutoParams,
    state: Option<DayNight>,
    last_switch: Option<Instant>,
    pending_since: Option<Instant>,
    dwell: Duration,
}

impl IrAuto {
    /// No decision yet: the first sample decides.
    pub fn new(params: IrAutoParams) -> IrAuto {
        IrAuto {
            params,
            state: None,
            last_switch: None,
            pending_since: None,
            dwell: params.min_dwell,
        }
    }

    /// The current decision (`None` before the first sample).
    #[cfg(test)]
    pub fn state(&self) -> Option<DayNight> {
        self.state
    }

    /// The dwell now in force (grows while the picture keeps flipping).
    #[cfg(test)]
    pub fn dwell(&self) -> Duration {
        self.dwell
    }

    /// Forgets the decision (auto mode re-entered): the next sample decides at once.
    pub fn reset(&mut self) {
        *self = IrAuto::new(self.params);
    }

    /// Takes a sample at `now`; returns the new mode when the LED and IR cut should switch
    /// (always on the first sample).
    pub fn update(&mut self, sample: LightSample, now: Instant) -> Option<DayNight> {
        let Some(state) = self.state else {
            let first = match sample {
                LightSample::Sensor { dark } => night_if(dark),
                LightSample::SceneLuma(luma) => {
                    let middle = (u16::from(self.params.night_below_luma)
                        + u16::from(self.params.day_above_luma))
                        / 2;
                    night_if(u16::from(luma) < middle)
                }
            };
            self.state = Some(first);
            self.last_switch = Some(now);
            return Some(first);
        };
        let wanted = match (sample, state) {
            (LightSample::Sensor { dark }, _) => night_if(dark),
            (LightSample::SceneLuma(luma), DayNight::Day) => {
                night_if(luma < self.params.night_below_luma)
            }
            (LightSample::SceneLuma(luma), DayNight::Night) => {
                night_if(luma <= self.params.day_above_luma)
            }
        };
        if wanted == state {
            self.pending_since = None;
            return None;
        }
        let pending_since = *self.pending_since.get_or_insert(now);
        let held = self
            .last_switch
            .map_or(Duration::MAX, |at| now.saturating_duration_since(at));
        if now.saturating_duration_since(pending_since) < self.params.confirm || held < self.dwell {
            return None;
        }
        // A mode that lasted less than twice the dwell was a flip: back off.
        self.dwell = if held < self.dwell.saturating_mul(2) {
            self.dwell.saturating_mul(2).min(self.params.max_dwell)
        } else {
            self.params.min_dwell
        };
        self.state = Some(wanted);
        self.last_switch = Some(now);
        self.pending_since = None;
        Some(wanted)
    }
}

fn night_if(dark: bool) -> DayNight {
    if dark { DayNight::Night } else { DayNight::Day }
}

/// Minutes in a day.
const MINUTES_PER_DAY: u16 = 24 * 60;

/// The CGI fields of setScheduleInfraLedConfig, window by window:
/// `[startHourN, startMinN, endHourN, endMinN]`.
pub const IR_SCHEDULE_FIELDS: [[&str; 4]; 3] = [
    ["startHour0", "startMin0", "endHour0", "endMin0"],
    ["startHour1", "startMin1", "endHour1", "endMin1"],
    ["startHour2", "startMin2", "endHour2", "endMin2"],
];

/// Why setScheduleInfraLedConfig's fields were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrScheduleError {
    /// The field is absent.
    Missing(&'static str),
    /// Not a number in range (hours 0..23, minutes 0..59).
    Invalid(&'static str),
}

impl fmt::Display for IrScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IrScheduleError::Missing(field) => write!(f, "{field} is missing"),
            IrScheduleError::Invalid(field) => write!(f, "{field} is out of range"),
        }
    }
}

impl std::error::Error for IrScheduleError {}

/// One daily window of night mode, start inclusive, end exclusive, in minutes of the day. A
/// window whose end is before its start crosses midnight; start equal to end is empty (the
/// guide's all-zero default means no schedule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IrWindow {
    start: u16,
    end: u16,
}

impl IrWindow {
    /// From hours (0..23) and minutes (0..59); `None` out of range.
    pub fn new(start_hour: u8, start_min: u8, end_hour: u8, end_min: u8) -> Option<IrWindow> {
        let minute = |hour: u8, min: u8| {
            (hour < 24 && min < 60).then_some(u16::from(hour) * 60 + u16::from(min))
        };
        Some(IrWindow {
            start: minute(start_hour, start_min)?,
            end: minute(end_hour, end_min)?,
        })
    }

    /// `[start hour, start minute, end hour, end minute]`.
    pub fn fields(&self) -> [u8; 4] {
        // Minutes of the day are below 1440: hours < 24 and minutes < 60 fit u8.
        [
            (self.start / 60) as u8,
            (self.start % 60) as u8,
            (self.end / 60) as u8,
            (self.end % 60) as u8,
        ]
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Whether `minute_of_day` falls in the window.
    pub fn contains(&self, minute_of_day: u16) -> bool {
        let m = minute_of_day % MINUTES_PER_DAY;
        if self.start <= self.end {
            self.start <= m && m < self.end
        } else {
            m >= self.start || m < self.end
        }
    }
}

/// setScheduleInfraLedConfig: three night windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IrSchedule(pub [IrWindow; 3]);

impl IrSchedule {
    /// From the 12 CGI fields, looked up by name.
    pub fn from_fields<'a>(
        mut lookup: impl FnMut(&str) -> Option<&'a str>,
    ) -> Result<IrSchedule, IrScheduleError> {
        let mut windows = [IrWindow::default(); 3];
        for (window, names) in windows.iter_mut().zip(IR_SCHEDULE_FIELDS) {
            let mut values = [0u8; 4];
            for (value, name) in values.iter_mut().zip(names) {
                let text = lookup(name).ok_or(IrScheduleError::Missing(name))?;
                let limit = if name.contains("Hour") { 24 } else { 60 };
                *value = text
                    .trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|v| *v < limit)
                    .ok_or(IrScheduleError::Invalid(name))?;
            }
            // Each value was range-checked above.
            *window = IrWindow::new(values[0], values[1], values[2], values[3])
                .ok_or(IrScheduleError::Invalid(names[0]))?;
        }
        Ok(IrSchedule(windows))
    }

    /// The 12 CGI fields and their values, window by window.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, u8)> + '_ {
        self.0
            .iter()
            .zip(IR_SCHEDULE_FIELDS)
            .flat_map(|(window, names)| names.into_iter().zip(window.fields()))
    }

    /// Whether every window is empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(IrWindow::is_empty)
    }

    /// Whether the schedule asks for night mode at `minute_of_day` (local time).
    pub fn is_night_by_schedule(&self, minute_of_day: u16) -> bool {
        self.0.iter().any(|w| w.contains(minute_of_day))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const S: Duration = Duration::from_secs(1);

    fn params() -> IrAutoParams {
        IrAutoParams {
            night_below_luma: 40,
            day_above_luma: 120,
            confirm: 5 * S,
            min_dwell: 30 * S,
            max_dwell: 600 * S,
        }
    }

    #[test]
    fn test_ir_auto_first_sample_decides_at_boot() {
        let t0 = Instant::now();
        for (sample, expected) in [
            (LightSample::Sensor { dark: true }, DayNight::Night),
            (LightSample::Sensor { dark: false }, DayNight::Day),
            (LightSample::SceneLuma(60), DayNight::Night),
            (LightSample::SceneLuma(100), DayNight::Day),
        ] {
            let mut auto = IrAuto::new(params());
            assert_eq!(auto.state(), None);
            assert_eq!(auto.update(sample, t0), Some(expected), "{sample:?}");
            assert_eq!(auto.update(sample, t0 + S), None);
            assert_eq!(auto.state(), Some(expected));
        }
    }

    #[test]
    fn test_ir_auto_luma_hysteresis_band_holds_mode() {
        let t0 = Instant::now();
        let mut auto = IrAuto::new(params());
        auto.update(LightSample::SceneLuma(20), t0);
        // At night the IR LED lights the scene up to 100: inside the band, stays night.
        for s in 1..300 {
            assert_eq!(auto.update(LightSample::SceneLuma(100), t0 + S * s), None);
        }
        let mut auto = IrAuto::new(params());
        auto.update(LightSample::SceneLuma(200), t0);
        for s in 1..300 {
            assert_eq!(auto.update(LightSample::SceneLuma(45), t0 + S * s), None);
        }
        assert_eq!(auto.state(), Some(DayNight::Day));
    }

    #[test]
    fn test_ir_auto_switch_needs_confirm_and_dwell() {
        let t0 = Instant::now();
        let mut auto = IrAuto::new(params());
        auto.update(LightSample::Sensor { dark: false }, t0);
        // Dark from t0+10 s: confirmed at +15 s, but the dwell holds it until +30 s.
        let mut switched = None;
        for s in 10..60 {
            if let Some(mode) = auto.update(LightSample::Sensor { dark: true }, t0 + S * s) {
                switched = Some((s, mode));
                break;
            }
        }
        assert_eq!(switched, Some((30, DayNight::Night)));
        // A 4 s flash of light (headlights) does not switch back, even after the dwell.
        let t1 = t0 + 100 * S;
        for s in 0..4 {
            assert_eq!(
                auto.update(LightSample::Sensor { dark: false }, t1 + S * s),
                None
            );
        }
        assert_eq!(
            auto.update(LightSample::Sensor { dark: true }, t1 + 4 * S),
            None
        );
        assert_eq!(auto.state(), Some(DayNight::Night));
    }

    #[test]
    fn test_ir_auto_flapping_scene_backs_off() {
        // A scene whose brightness follows the IR LED: night makes it bright, day dark.
        let t0 = Instant::now();
        let mut auto = IrAuto::new(params());
        let mut switches = Vec::new();
        for s in 0..3600u32 {
            let luma = match auto.state() {
                Some(DayNight::Night) => 200,
                _ => 10,
            };
            if auto
                .update(LightSample::SceneLuma(luma), t0 + S * s)
                .is_some()
            {
                switches.push(s);
            }
        }
        // Without back-off it would switch every 30 s (120 times in the hour); the dwell
        // doubles from 30 s to the 600 s ceiling.
        let gaps: Vec<u32> = switches.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(gaps, vec![30, 60, 120, 240, 480, 600, 600, 600, 600]);
        assert_eq!(auto.dwell(), 600 * S);
        auto.reset();
        assert_eq!(auto.state(), None);
        assert_eq!(auto.dwell(), 30 * S);
    }

    #[test]
    fn test_ir_auto_steady_days_keep_base_dwell() {
        let t0 = Instant::now();
        let mut auto = IrAuto::new(params());
        auto.update(LightSample::Sensor { dark: false }, t0);
        let hour = 3600 * S;
        assert!(
            auto.update(LightSample::Sensor { dark: true }, t0 + hour)
                .is_none()
        );
        assert_eq!(
            auto.update(LightSample::Sensor { dark: true }, t0 + hour + 5 * S),
            Some(DayNight::Night)
        );
        assert!(
            auto.update(LightSample::Sensor { dark: false }, t0 + 10 * hour)
                .is_none()
        );
        assert_eq!(
            auto.update(LightSample::Sensor { dark: false }, t0 + 10 * hour + 5 * S),
            Some(DayNight::Day)
        );
        assert_eq!(auto.dwell(), 30 * S);
    }

    fn schedule(windows: &[(u8, u8, u8, u8)]) -> IrSchedule {
        let mut all = [IrWindow::default(); 3];
        for (slot, &(a, b, c, d)) in all.iter_mut().zip(windows) {
            *slot = IrWindow::new(a, b, c, d).unwrap();
        }
        IrSchedule(all)
    }

    #[test]
    fn test_ir_schedule_window_crossing_midnight() {
        let s = schedule(&[(19, 30, 6, 15)]);
        assert!(s.is_night_by_schedule(19 * 60 + 30));
        assert!(s.is_night_by_schedule(23 * 60 + 59));
        assert!(s.is_night_by_schedule(0));
        assert!(s.is_night_by_schedule(6 * 60 + 14));
        assert!(!s.is_night_by_schedule(6 * 60 + 15));
        assert!(!s.is_night_by_schedule(12 * 60));
        assert!(!s.is_night_by_schedule(19 * 60 + 29));
    }

    #[test]
    fn test_ir_schedule_three_windows_and_empty_default() {
        let s = schedule(&[(1, 0, 2, 0), (13, 0, 13, 30), (22, 0, 0, 0)]);
        let night: Vec<u16> = [30, 60, 119, 120, 780, 809, 810, 1319, 1320, 1439]
            .into_iter()
            .filter(|&m| s.is_night_by_schedule(m))
            .collect();
        assert_eq!(night, vec![60, 119, 780, 809, 1320, 1439]);
        let empty = IrSchedule::default();
        assert!(empty.is_empty());
        assert!((0..1440).all(|m| !empty.is_night_by_schedule(m)));
    }

    #[test]
    fn test_ir_schedule_fields_round_trip_and_reject_bad_values() {
        let s = schedule(&[(19, 30, 6, 15), (0, 0, 0, 0), (12, 5, 12, 50)]);
        let mut q: HashMap<&str, String> = s.fields().map(|(k, v)| (k, v.to_string())).collect();
        assert_eq!(q.len(), 12);
        assert_eq!(q["startMin0"], "30");
        assert_eq!(
            IrSchedule::from_fields(|k| q.get(k).map(String::as_str)),
            Ok(s)
        );
        q.insert("endHour2", "24".into());
        assert_eq!(
            IrSchedule::from_fields(|k| q.get(k).map(String::as_str)),
            Err(IrScheduleError::Invalid("endHour2"))
        );
        q.insert("endHour2", "x".into());
        assert_eq!(
            IrSchedule::from_fields(|k| q.get(k).map(String::as_str)),
            Err(IrScheduleError::Invalid("endHour2"))
        );
        q.remove("startMin1");
        assert!(matches!(
            IrSchedule::from_fields(|k| q.get(k).map(String::as_str)),
            Err(IrScheduleError::Missing("startMin1"))
        ));
        assert!(IrWindow::new(0, 60, 1, 0).is_none());
    }
}
