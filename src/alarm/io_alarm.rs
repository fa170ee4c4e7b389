//! The IO alarm: a thread waiting on the alarm input line's edges (`InputLine::wait_change`,
//! no polling loop; it wakes once a second at most to follow settings and time), applying
//! setIOAlarmConfig: `isEnable`, `alarmLevel` (0: the alarm is the line's low level, 1: its
//! high level; levels are the HAL's logical levels, so active-low wiring is the board file's
//! business), the weekly `schedule0..6` in the camera's local time, `triggerInterval` and
//! `snapInterval` (through [`AlarmGate`]), and the linkage.
//!
//! Settings are re-read on every wake-up, so changes apply without a restart.
//!
//! Alarm output: when the linkage has ring (bit0) or bit4 (see [`Linkage::ALARM_OUTPUT`]),
//! the output line is driven active when an alarm starts and held while the input stays at
//! its alarm level, and at least [`MIN_OUTPUT_HOLD`]; clearIOAlarmOutput ([`clear_output`])
//! releases it at once and returns the alarm state to "no alarm" until the next alarm starts.
//!
//! Each alarm start appends a log entry of kind [`LogKind::IoAlarm`] (5, an ipcamd extension:
//! the guide's log IDs have none for the IO alarm).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipcamd_hal::gpio::InputLine;

use super::linkage::{AlarmSource, Linkage};
use crate::app::{App, LogKind};
use crate::cgi::commands::config::read_value;
use crate::cgi::commands::device::local_now;
use crate::motion::{AlarmGate, LocalTime, Schedule};
use crate::state::AlarmState;

/// Least time the alarm output stays active after an alarm starts.
pub const MIN_OUTPUT_HOLD: Duration = Duration::from_secs(5);

/// Longest sleep between two looks at settings and time.
const WAKE_INTERVAL: Duration = Duration::from_secs(1);

/// Back-off after an input line error.
const ERROR_BACKOFF: Duration = Duration::from_secs(5);

/// Shared between the IO alarm thread and clearIOAlarmOutput.
#[derive(Debug, Default)]
pub struct IoAlarmControl {
    /// Bumped by every clearIOAlarmOutput.
    clears: AtomicU64,
}

impl IoAlarmControl {
    fn clears(&self) -> u64 {
        self.clears.load(Ordering::Relaxed)
    }
}

/// setIOAlarmConfig as the thread uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoAlarmSettings {
    /// isEnable.
    pub enabled: bool,
    /// alarmLevel: the alarm is the line's active (1) or inactive (0) logical level.
    pub alarm_when_active: bool,
    /// linkage.
    pub linkage: Linkage,
    /// triggerInterval.
    pub trigger_interval: Duration,
    /// snapInterval.
    pub snap_interval: Duration,
    /// schedule0..6.
    pub schedule: Schedule,
}

impl IoAlarmSettings {
    /// The stored settings (factory defaults where unset).
    pub fn read(app: &App) -> IoAlarmSettings {
        let read = |field: &str| read_value(app, "io_alarm", field).unwrap_or_default();
        let seconds = |field: &str| Duration::from_secs(read(field).trim().parse().unwrap_or(0));
        let days: Vec<(String, String)> = crate::motion::schedule::SCHEDULE_FIELDS
            .iter()
            .map(|f| ((*f).to_owned(), read(f)))
            .collect();
        let schedule = Schedule::from_fields(|name| {
            days.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        })
        .unwrap_or_else(|err| {
            tracing::warn!(%err, "stored IO alarm schedule unreadable; using always");
            Schedule::ALWAYS
        });
        IoAlarmSettings {
            enabled: read("isEnable") == "1",
            alarm_when_active: read("alarmLevel") == "1",
            linkage: Linkage::of(app, AlarmSource::IoInput),
            trigger_interval: seconds("triggerInterval"),
            snap_interval: seconds("snapInterval"),
            schedule,
        }
    }
}

/// The camera's local time for schedules.
fn local_schedule_time(app: &App) -> Option<LocalTime> {
    let now = local_now(app).ok()?;
    LocalTime::new(now.weekday as u8, (now.hour * 60 + now.minute) as u16)
}

/// Starts the IO alarm thread when the board has an alarm input.
pub fn start(app: Arc<App>) {
    let Some(input) = app.hal.alarm_in.clone() else {
        tracing::info!("no alarm input on this board: IO alarm off");
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("io-alarm".into())
        .spawn(move || run(&app, input.as_ref()));
    if let Err(err) = spawned {
        tracing::error!(%err, "could not start the IO alarm thread");
    }
}

/// What the thread remembers between wake-ups.
struct IoAlarmTask {
    gate: AlarmGate,
    /// The output is driven by this task, and may be released once this passes and the input
    /// is back to normal.
    output_until: Option<Instant>,
    /// clearIOAlarmOutput count seen.
    clears_seen: u64,
    /// The alarm start a clearIOAlarmOutput dismissed.
    dismissed_start: Option<Instant>,
}

fn run(app: &App, input: &dyn InputLine) {
    let mut task = IoAlarmTask {
        gate: AlarmGate::new(Duration::from_secs(10), Duration::from_secs(2)),
        output_until: None,
        clears_seen: app.alarms.io.clears(),
        dismissed_start: None,
    };
    let mut level = match input.get() {
        Ok(level) => level,
        Err(err) => {
            tracing::warn!(%err, "alarm input unreadable");
            false
        }
    };
    loop {
        task.step(app, level, Instant::now());
        match input.wait_change(WAKE_INTERVAL) {
            Ok(Some(new_level)) => level = new_level,
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(%err, "alarm input failed; retrying");
                std::thread::sleep(ERROR_BACKOFF);
                if let Ok(now_level) = input.get() {
                    level = now_level;
                }
            }
        }
    }
}

impl IoAlarmTask {
    /// One look at the input level, settings and time.
    fn step(&mut self, app: &App, level: bool, now: Instant) {
        let settings = IoAlarmSettings::read(app);
        self.gate
            .set_intervals(settings.trigger_interval, settings.snap_interval);
        let clears = app.alarms.io.clears();
        if clears != self.clears_seen {
            // clear_output already released the line and the state.
            self.clears_seen = clears;
            self.output_until = None;
            self.dismissed_start = self.gate.last_start();
        }
        if !settings.enabled {
            self.gate.reset();
            self.dismissed_start = None;
            app.state.io_alarm.set(AlarmState::Idle);
            self.release_output(app);
            return;
        }
        let at_alarm_level = level == settings.alarm_when_active;
        let in_schedule = local_schedule_time(app).is_some_and(|t| settings.schedule.is_active(t));
        let alarm_seen = at_alarm_level && in_schedule;
        if alarm_seen {
            if self.gate.detect(now) {
                self.start_alarm(app, &settings, now);
            } else if self.gate.snap_due(now) && settings.linkage.has(Linkage::SNAP) {
                if let Some(jpeg) = app.alarms.snapshot() {
                    Linkage::snap(app, AlarmSource::IoInput, jpeg);
                }
            }
        }
        let active = self.gate.is_active(now) && self.gate.last_start() != self.dismissed_start;
        app.state.io_alarm.set(if active {
            AlarmState::Alarm
        } else {
            AlarmState::Idle
        });
        if let Some(until) = self.output_until {
            if !at_alarm_level && now >= until {
                self.release_output(app);
            }
        }
    }

    fn start_alarm(&mut self, app: &App, settings: &IoAlarmSettings, now: Instant) {
        app.state.io_alarm.set(AlarmState::Alarm);
        self.dismissed_start = None;
        app.log_event(LogKind::IoAlarm, "", "");
        tracing::info!(linkage = settings.linkage.0, "IO alarm");
        let wants_picture = settings.linkage.0 & (Linkage::MAIL | Linkage::SNAP) != 0;
        let snapshot = if wants_picture {
            app.alarms.snapshot()
        } else {
            None
        };
        // The first snapshot of this alarm goes with the linkage; the next is snapInterval on.
        self.gate.snap_due(now);
        Linkage::fire(app, AlarmSource::IoInput, snapshot);
        if settings.linkage.drives_output() {
            if let Some(output) = &app.hal.alarm_out {
                match output.set(true) {
                    Ok(()) => self.output_until = Some(now + MIN_OUTPUT_HOLD),
                    Err(err) => tracing::warn!(%err, "alarm output could not be driven"),
                }
            }
        }
    }

    fn release_output(&mut self, app: &App) {
        if self.output_until.take().is_some() {
            if let Some(output) = &app.hal.alarm_out {
                if let Err(err) = output.set(false) {
                    tracing::warn!(%err, "alarm output could not be released");
                }
            }
        }
    }
}

/// clearIOAlarmOutput: releases the alarm output and dismisses the current IO alarm (the
/// state returns to "no alarm" until the next alarm starts; triggerInterval still applies).
pub fn clear_output(app: &App) -> ipcamd_hal::HalResult<()> {
    app.alarms.io.clears.fetch_add(1, Ordering::Relaxed);
    if app.state.io_alarm.get() == AlarmState::Alarm {
        app.state.io_alarm.set(AlarmState::Idle);
    }
    match &app.hal.alarm_out {
        Some(output) => output.set(false),
        None => Ok(()),
    }
}
