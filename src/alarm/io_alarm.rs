//! The IO alarm: a thread waiting on the alarm input line's edges (`InputLine::wait_change`,
//! no polling loop; it wakes once a second at most to follow settings and time), applying
//! setIOAlarmConfig: `isEnable`, `alarmLevel` (0: the alarm is the line's low level, 1: its
//! high level; levels are the HAL's logical levels, so active-low wiring is the board file's
//! business), the weekly `schedule0..6` in the camera's local time, `triggerInterval` and
//! `snapInterval` (through [`AlarmGate`]), and the linkage.
//!
//! Settings come from the typed snapshot on every wake-up (cached: no SQLite read unless a
//! write happened), so changes apply without a restart.
//!
//! Alarm output: when the linkage has ring (bit0) or bit4 (see [`Linkage::ALARM_OUTPUT`]),
//! the output line is driven active when an alarm starts and held while the input stays at
//! its alarm level, and at least [`MIN_OUTPUT_HOLD`]; clearIOAlarmOutput ([`clear_output`])
//! releases it at once and returns the alarm state to "no alarm" until the next alarm starts.
//!
//! Each alarm start appends a log entry of kind [`LogKind::IoAlarm`] (5, an ipcamd extension:
//! the guide's log IDs have none for the IO alarm).

use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipcamd_hal::gpio::InputLine;

use super::Alarms;
use super::linkage::{AlarmSource, Linkage};
use crate::heartbeat::Heartbeat;
use crate::motion::{AlarmGate, Schedule};
use crate::settings::sections::IoAlarm;
use crate::state::AlarmState;
use crate::store::event_log::LogKind;

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
    /// From the typed section.
    pub fn of(io: &IoAlarm) -> IoAlarmSettings {
        let seconds = |v: i64| Duration::from_secs(v.max(0) as u64);
        let schedule =
            Schedule::from_days(io.schedule.map(|d| u64::try_from(d).unwrap_or(u64::MAX)))
                .unwrap_or_else(|err| {
                    tracing::warn!(%err, "stored IO alarm schedule unreadable; using always");
                    Schedule::ALWAYS
                });
        IoAlarmSettings {
            enabled: io.enabled,
            alarm_when_active: io.alarm_level == 1,
            linkage: Linkage::from_setting(io.linkage),
            trigger_interval: seconds(io.trigger_interval),
            snap_interval: seconds(io.snap_interval),
            schedule,
        }
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

pub(super) fn run(alarms: &Weak<Alarms>, input: &dyn InputLine, heartbeat: &Heartbeat) {
    let Some(first) = alarms.upgrade() else {
        return;
    };
    let mut task = IoAlarmTask {
        gate: AlarmGate::new(Duration::from_secs(10), Duration::from_secs(2)),
        output_until: None,
        clears_seen: first.io.clears(),
        dismissed_start: None,
    };
    drop(first);
    let mut level = match input.get() {
        Ok(level) => level,
        Err(err) => {
            tracing::warn!(%err, "alarm input unreadable");
            false
        }
    };
    loop {
        // Every turn waits at most WAKE_INTERVAL (ERROR_BACKOFF after an error).
        heartbeat.beat();
        let Some(alarms) = alarms.upgrade() else {
            return;
        };
        task.step(&alarms, level, Instant::now());
        drop(alarms);
        match input.wait_change(WAKE_INTERVAL) {
            Ok(Some(new_level)) => level = new_level,
            Ok(None) => {
                // wait_change reports changes after it was called: one that came between the
                // last look and the wait (while `step` ran) is seen here, at the next wake-up.
                if let Ok(now_level) = input.get() {
                    level = now_level;
                }
            }
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
    fn step(&mut self, app: &Alarms, level: bool, now: Instant) {
        let parts = app.parts();
        let settings = IoAlarmSettings::of(&parts.settings.snapshot().io_alarm);
        self.gate
            .set_intervals(settings.trigger_interval, settings.snap_interval);
        let clears = app.io.clears();
        if clears != self.clears_seen {
            // clear_output already released the line and the state.
            self.clears_seen = clears;
            self.output_until = None;
            self.dismissed_start = self.gate.last_start();
        }
        if !settings.enabled {
            self.gate.reset();
            self.dismissed_start = None;
            parts.state.io_alarm.set(AlarmState::Idle);
            self.release_output(app);
            return;
        }
        let at_alarm_level = level == settings.alarm_when_active;
        let in_schedule = parts
            .clock
            .schedule_now()
            .is_some_and(|t| settings.schedule.is_active(t));
        let alarm_seen = at_alarm_level && in_schedule;
        if alarm_seen {
            if self.gate.detect(now) {
                self.start_alarm(app, &settings, now);
            } else if self.gate.snap_due(now) && settings.linkage.has(Linkage::SNAP) {
                if let Some(jpeg) = app.snapshot() {
                    Linkage::snap(app, AlarmSource::IoInput, jpeg);
                }
            }
        }
        let active = self.gate.is_active(now) && self.gate.last_start() != self.dismissed_start;
        parts.state.io_alarm.set(if active {
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

    fn start_alarm(&mut self, app: &Alarms, settings: &IoAlarmSettings, now: Instant) {
        let parts = app.parts();
        parts.state.io_alarm.set(AlarmState::Alarm);
        self.dismissed_start = None;
        parts.log.record(LogKind::IoAlarm, "", "");
        tracing::info!(linkage = settings.linkage.0, "IO alarm");
        let wants_picture = settings.linkage.0 & (Linkage::MAIL | Linkage::SNAP) != 0;
        let snapshot = if wants_picture { app.snapshot() } else { None };
        // The first snapshot of this alarm goes with the linkage; the next is snapInterval on.
        self.gate.snap_due(now);
        Linkage::fire(app, AlarmSource::IoInput, snapshot);
        if settings.linkage.drives_output() {
            if let Some(output) = &app.parts().alarm_out {
                match output.set(true) {
                    Ok(()) => self.output_until = Some(now + MIN_OUTPUT_HOLD),
                    Err(err) => tracing::warn!(%err, "alarm output could not be driven"),
                }
            }
        }
    }

    fn release_output(&mut self, app: &Alarms) {
        if self.output_until.take().is_some() {
            if let Some(output) = &app.parts().alarm_out {
                if let Err(err) = output.set(false) {
                    tracing::warn!(%err, "alarm output could not be released");
                }
            }
        }
    }
}

impl Alarms {
    /// clearIOAlarmOutput: releases the alarm output and dismisses the current IO alarm (the
    /// state returns to "no alarm" until the next alarm starts; triggerInterval still applies).
    pub fn clear_io_output(&self) -> ipcamd_hal::HalResult<()> {
        self.io.clears.fetch_add(1, Ordering::Relaxed);
        let state = &self.parts().state;
        if state.io_alarm.get() == AlarmState::Alarm {
            state.io_alarm.set(AlarmState::Idle);
        }
        match &self.parts().alarm_out {
            Some(output) => output.set(false),
            None => Ok(()),
        }
    }
}
