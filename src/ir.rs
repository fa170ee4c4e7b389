//! The IR LED controller: drives the IR LED and IR cut lines from setInfraLedConfig's mode and
//! setScheduleInfraLedConfig's windows, and tells the capture loop when it switched so motion
//! detection can blank around the switch.
//!
//! - Auto mode (0): [`IrAuto`] decides from the light-sensor input line when the board has one
//!   (its edges wake the controller thread), otherwise from the scene's mean luma that the
//!   capture loop hands to [`IrController::observe_scene_luma`]; hysteresis, confirmation and a
//!   minimum dwell keep it from flapping, and the first sample after boot or after auto mode is
//!   (re-)entered decides at once.
//! - Manual mode (1): openInfraLed/closeInfraLed switch it ([`IrController::set_manual`]); the
//!   three schedule windows switch it at their edges (night at a window's start, day at its
//!   end), so a manual command stays in force until the next edge. At boot in manual mode the
//!   schedule's current state is applied when any window is set.
//!
//! Both lines are driven to the same logical level, `true` at night (LED on, IR cut in its
//! night position), as the rest of the daemon does; the board file's `active_low` handles the
//! wiring. Built from the lines it drives; its thread reads the typed settings snapshot and
//! the local clock once a second (no SQLite read: the snapshot is cached), so changes apply
//! without a restart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ipcamd_hal::gpio::{InputLine, OutputLine};
use ipcamd_hal::{HalError, HalErrorKind, HalResult};

use crate::heartbeat::Heartbeat;
use crate::ir_auto::{DayNight, IR_SCHEDULE_FIELDS, IrAuto, IrAutoParams, IrSchedule, LightSample};
use crate::local_time::LocalClock;
use crate::settings::Settings;
use crate::settings::sections::InfraLedSchedule;

/// How often the controller thread re-reads settings and the clock.
const TICK: Duration = Duration::from_secs(1);

/// setInfraLedConfig's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrMode {
    /// 0: light sensor or scene brightness decides.
    Auto,
    /// 1: openInfraLed/closeInfraLed and the schedule windows decide.
    Manual,
}

impl IrMode {
    /// From the stored value; anything but 1 is auto (the factory default of most boards).
    pub fn from_setting(value: i64) -> IrMode {
        if value == 1 {
            IrMode::Manual
        } else {
            IrMode::Auto
        }
    }
}

struct IrState {
    /// Mode seen at the last tick (`None` before the first).
    mode: Option<IrMode>,
    auto: IrAuto,
    /// The schedule's night/day at the last tick in manual mode.
    schedule_night: Option<bool>,
    /// Level last driven.
    night: Option<bool>,
    last_switch: Option<Instant>,
}

/// The IR LED controller (one per daemon).
pub struct IrController {
    ir_led: Option<Arc<dyn OutputLine>>,
    ir_cut: Option<Arc<dyn OutputLine>>,
    has_light_sensor: bool,
    state: Mutex<IrState>,
    switches: AtomicU64,
}

impl IrController {
    /// A controller over the board's IR LED and IR cut lines, with the default
    /// [`IrAutoParams`].
    pub fn new(
        ir_led: Option<Arc<dyn OutputLine>>,
        ir_cut: Option<Arc<dyn OutputLine>>,
        has_light_sensor: bool,
    ) -> IrController {
        IrController::with_params(ir_led, ir_cut, has_light_sensor, IrAutoParams::default())
    }

    /// A controller over the given lines.
    pub fn with_params(
        ir_led: Option<Arc<dyn OutputLine>>,
        ir_cut: Option<Arc<dyn OutputLine>>,
        has_light_sensor: bool,
        params: IrAutoParams,
    ) -> IrController {
        IrController {
            ir_led,
            ir_cut,
            has_light_sensor,
            state: Mutex::new(IrState {
                mode: None,
                auto: IrAuto::new(params),
                schedule_night: None,
                night: None,
                last_switch: None,
            }),
            switches: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IrState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many times the LED switched since start. The capture loop compares it with the
    /// value it saw last and, when it moved, calls `Detector::notify_ir_switch`.
    pub fn switch_count(&self) -> u64 {
        self.switches.load(Ordering::Acquire)
    }

    /// When the LED last switched.
    pub fn last_switch(&self) -> Option<Instant> {
        self.lock().last_switch
    }

    /// Whether the LED is on (night), as last driven.
    pub fn is_night(&self) -> Option<bool> {
        self.lock().night
    }

    /// The scene's mean luma (0..255) of a frame at `now`, from the capture loop (a few times
    /// a second is plenty). Used in auto mode on boards without a light sensor; ignored
    /// otherwise.
    pub fn observe_scene_luma(&self, mean: u8, now: Instant) {
        if self.has_light_sensor {
            return;
        }
        let mut state = self.lock();
        if state.mode != Some(IrMode::Auto) {
            return;
        }
        if let Some(decision) = state.auto.update(LightSample::SceneLuma(mean), now) {
            self.drive(&mut state, decision == DayNight::Night, now);
        }
    }

    /// openInfraLed (`true`) / closeInfraLed (`false`). Fails with `NotSupported` on a board
    /// without an IR LED; the caller checks the mode.
    pub fn set_manual(&self, night: bool) -> HalResult<()> {
        if self.ir_led.is_none() {
            return Err(HalError::new(HalErrorKind::NotSupported, "no IR LED"));
        }
        let mut state = self.lock();
        self.drive_checked(&mut state, night, Instant::now())
    }

    /// One look at the mode, the schedule and the sensor. `minute_of_day` is the camera's
    /// local time (None when unknown), `sensor_dark` the light sensor's level.
    pub fn tick(
        &self,
        mode: IrMode,
        schedule: &IrSchedule,
        minute_of_day: Option<u16>,
        sensor_dark: Option<bool>,
        now: Instant,
    ) {
        let mut state = self.lock();
        let previous = state.mode.replace(mode);
        match mode {
            IrMode::Auto => {
                if previous != Some(IrMode::Auto) {
                    state.auto.reset();
                }
                state.schedule_night = None;
                if let Some(dark) = sensor_dark {
                    if let Some(decision) = state.auto.update(LightSample::Sensor { dark }, now) {
                        self.drive(&mut state, decision == DayNight::Night, now);
                    }
                }
            }
            IrMode::Manual => {
                let scheduled = match minute_of_day {
                    Some(minute) if !schedule.is_empty() => {
                        Some(schedule.is_night_by_schedule(minute))
                    }
                    _ => None,
                };
                let edge = match (previous, state.schedule_night, scheduled) {
                    // Boot in manual mode: apply the schedule's current state.
                    (None, _, Some(night)) => Some(night),
                    (_, Some(before), Some(night)) if before != night => Some(night),
                    _ => None,
                };
                state.schedule_night = scheduled;
                if let Some(night) = edge {
                    self.drive(&mut state, night, now);
                }
            }
        }
    }

    fn drive(&self, state: &mut IrState, night: bool, now: Instant) {
        if let Err(err) = self.drive_checked(state, night, now) {
            tracing::warn!(%err, night, "IR LED could not be switched");
        }
    }

    fn drive_checked(&self, state: &mut IrState, night: bool, now: Instant) -> HalResult<()> {
        if let Some(led) = &self.ir_led {
            led.set(night)?;
        }
        if let Some(cut) = &self.ir_cut {
            cut.set(night)?;
        }
        if state.night != Some(night) {
            if state.night.is_some() {
                tracing::info!(night, "IR LED switched");
            }
            state.night = Some(night);
            state.last_switch = Some(now);
            self.switches.fetch_add(1, Ordering::Release);
        }
        Ok(())
    }
}

/// The stored IR schedule (an unreadable one is empty).
fn stored_schedule(section: &InfraLedSchedule) -> IrSchedule {
    let values: Vec<(&str, String)> = IR_SCHEDULE_FIELDS
        .iter()
        .flatten()
        .map(|name| {
            (
                *name,
                crate::settings::Section::get(section, name).unwrap_or_default(),
            )
        })
        .collect();
    IrSchedule::from_fields(|name| {
        values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    })
    .unwrap_or_else(|err| {
        tracing::warn!(%err, "stored IR LED schedule unreadable; ignoring it");
        IrSchedule([Default::default(); 3])
    })
}

impl IrController {
    /// Starts the controller thread when the board has an IR LED (`None` otherwise). The
    /// thread runs while the controller lives.
    pub fn start(
        self: &Arc<Self>,
        settings: Arc<Settings>,
        clock: Arc<LocalClock>,
        sensor: Option<Arc<dyn InputLine>>,
        heartbeat: Heartbeat,
    ) -> std::io::Result<Option<std::thread::JoinHandle<()>>> {
        if self.ir_led.is_none() {
            tracing::info!("no IR LED on this board: IR controller off");
            return Ok(None);
        }
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("ir-led".into())
            .spawn(move || run(&weak, &settings, &clock, sensor.as_deref(), &heartbeat))
            .map(Some)
    }
}

fn run(
    controller: &std::sync::Weak<IrController>,
    settings: &Settings,
    clock: &LocalClock,
    sensor: Option<&dyn InputLine>,
    heartbeat: &Heartbeat,
) {
    loop {
        // Every turn waits at most TICK (twice after a sensor error).
        heartbeat.beat();
        let Some(controller) = controller.upgrade() else {
            return;
        };
        let snapshot = settings.snapshot();
        let mode = IrMode::from_setting(snapshot.infra_led.mode);
        let schedule = stored_schedule(&snapshot.infra_led_schedule);
        let now = clock.now();
        let minute = Some((now.hour * 60 + now.minute) as u16);
        let dark = sensor.and_then(|line| match line.get() {
            Ok(level) => Some(level),
            Err(err) => {
                tracing::warn!(%err, "light sensor unreadable");
                None
            }
        });
        controller.tick(mode, &schedule, minute, dark, Instant::now());
        drop(controller);
        match sensor {
            Some(line) => {
                if let Err(err) = line.wait_change(TICK) {
                    tracing::warn!(%err, "light sensor wait failed");
                    std::thread::sleep(TICK);
                }
            }
            None => std::thread::sleep(TICK),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir_auto::IrWindow;
    use ipcamd_hal::sim::gpio::SimLine;

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

    fn controller(sensor: bool) -> (IrController, Arc<SimLine>, Arc<SimLine>) {
        let led = Arc::new(SimLine::new("ir_led"));
        let cut = Arc::new(SimLine::new("ir_cut"));
        let c = IrController::with_params(Some(led.clone()), Some(cut.clone()), sensor, params());
        (c, led, cut)
    }

    fn no_schedule() -> IrSchedule {
        IrSchedule([IrWindow::default(); 3])
    }

    #[test]
    fn test_auto_sensor_dark_at_boot_switches_on_at_once() {
        let (c, led, cut) = controller(true);
        let t0 = Instant::now();
        c.tick(IrMode::Auto, &no_schedule(), Some(600), Some(true), t0);
        assert!(led.level() && cut.level());
        assert_eq!(c.switch_count(), 1);
    }

    #[test]
    fn test_auto_sensor_change_waits_for_dwell_then_switches() {
        let (c, led, _) = controller(true);
        let t0 = Instant::now();
        c.tick(IrMode::Auto, &no_schedule(), None, Some(false), t0);
        assert!(!led.level());
        for s in 1..30 {
            c.tick(IrMode::Auto, &no_schedule(), None, Some(true), t0 + S * s);
            assert!(!led.level(), "switched after {s} s");
        }
        c.tick(IrMode::Auto, &no_schedule(), None, Some(true), t0 + 31 * S);
        assert!(led.level());
        assert_eq!(c.switch_count(), 2);
        assert_eq!(c.last_switch(), Some(t0 + 31 * S));
    }

    #[test]
    fn test_scene_luma_ignored_in_manual_mode_and_used_in_auto() {
        let (c, led, _) = controller(false);
        let t0 = Instant::now();
        c.tick(IrMode::Manual, &no_schedule(), Some(0), None, t0);
        c.observe_scene_luma(5, t0);
        assert!(!led.level());
        c.tick(IrMode::Auto, &no_schedule(), Some(0), None, t0);
        c.observe_scene_luma(5, t0 + S);
        assert!(led.level());
    }

    #[test]
    fn test_manual_schedule_switches_only_at_edges() {
        let (c, led, _) = controller(false);
        let t0 = Instant::now();
        let schedule = IrSchedule([
            IrWindow::new(19, 0, 7, 0).unwrap(),
            IrWindow::default(),
            IrWindow::default(),
        ]);
        // Boot at 18:00 in manual mode: day.
        c.tick(IrMode::Manual, &schedule, Some(18 * 60), None, t0);
        assert!(!led.level());
        // A manual command holds until the next edge.
        c.set_manual(true).unwrap();
        c.tick(IrMode::Manual, &schedule, Some(18 * 60 + 30), None, t0 + S);
        assert!(led.level());
        // 19:00: night edge (already on), 07:00: day edge.
        c.tick(IrMode::Manual, &schedule, Some(19 * 60), None, t0 + 2 * S);
        c.set_manual(false).unwrap();
        c.tick(IrMode::Manual, &schedule, Some(23 * 60), None, t0 + 3 * S);
        assert!(!led.level());
        c.tick(IrMode::Manual, &schedule, Some(7 * 60), None, t0 + 4 * S);
        assert!(!led.level());
        c.set_manual(true).unwrap();
        c.tick(IrMode::Manual, &schedule, Some(19 * 60), None, t0 + 5 * S);
        assert!(led.level());
    }

    #[test]
    fn test_set_manual_without_led_is_not_supported() {
        let c = IrController::with_params(None, None, false, params());
        let err = c.set_manual(true).unwrap_err();
        assert_eq!(err.kind(), HalErrorKind::NotSupported);
    }
}
