//! Pan/tilt/zoom behaviour above the motor controller: preset names mapped to controller preset
//! numbers, the four limit presets, cruises, go-home and the start-up self-test.
//!
//! Owns the one "motion job" a camera can run at a time (a cruise, a timed move to a limit, a
//! self-test). Any new command cancels the running job first, so a manual move always stops a
//! cruise. Jobs are tokio tasks driven by `tokio::time`, so tests run them on a paused clock.
//!
//! Built from the motor it drives and the runtime its jobs run on; the start-up actions
//! ([`Ptz::apply_line`] with set485Info's stored line, [`Ptz::start_up_self_test`]) are
//! handed the typed settings by the composition root.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipcamd_hal::HalResult;
use ipcamd_hal::ptz::{Direction, PanTilt, Parity, Protocol, PtzCommand, SerialSettings};
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

use crate::heartbeat::Heartbeat;

/// Most presets, the four limit presets included.
pub const MAX_PRESETS: usize = 16;
/// Most cruise maps, the two default maps included.
pub const MAX_CRUISE_MAPS: usize = 8;
/// Most points in a cruise map.
pub const MAX_CRUISE_POINTS: usize = 8;
/// Longest preset or map name.
pub const MAX_NAME_LEN: usize = 20;
/// Time a move at the fastest speed (guide speed 4) takes from one end of travel to the other: moving this
/// long towards a limit reaches it from anywhere.
pub const FULL_TRAVEL: Duration = Duration::from_secs(8);
/// Time allowed for a call-preset move to arrive before lingering starts.
pub const PRESET_SETTLE: Duration = Duration::from_secs(3);
/// The guide's fastest PTZ speed (0 very slow ..= 4 very fast).
pub const FASTEST: u8 = 4;
/// First controller preset number used for user presets.
pub const FIRST_USER_SLOT: i64 = 1;
/// Last controller preset number used for user presets.
pub const LAST_USER_SLOT: i64 = 12;

/// The four presets every camera has: (name, direction of the limit).
pub const LIMIT_PRESETS: &[(&str, Direction)] = &[
    ("LeftMost", Direction::Left),
    ("RightMost", Direction::Right),
    ("TopMost", Direction::Up),
    ("BottomMost", Direction::Down),
];

/// The two default cruise maps (the guide spells the first "Horizental").
pub const DEFAULT_CRUISES: &[(&str, &[&str])] = &[
    ("Horizental", &["LeftMost", "RightMost"]),
    ("Vertical", &["TopMost", "BottomMost"]),
];

/// Where a step goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Move towards a limit for [`FULL_TRAVEL`] at the fastest speed (guide speed 4), then stop.
    Limit(Direction),
    /// Call a controller preset.
    Preset(u8),
    /// Move for a time, then stop.
    Timed(Direction, Duration),
}

/// One step of a job: go somewhere, then stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Where to go.
    pub target: Target,
    /// How long to stay once there.
    pub linger: Duration,
}

/// How long a cruise runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CruiseLimit {
    /// For this long (setCruiseCtrlMode 0).
    Time(Duration),
    /// This many passes over the map (setCruiseCtrlMode 1).
    Loops(u32),
}

/// The PTZ job runner.
pub struct Ptz {
    motor: Arc<dyn PanTilt>,
    runtime: Handle,
    job: Mutex<Option<AbortHandle>>,
    heartbeat: Heartbeat,
}

impl Ptz {
    /// A runner over `motor`, spawning jobs on `runtime`.
    pub fn new(motor: Arc<dyn PanTilt>, runtime: Handle) -> Ptz {
        let heartbeat = Heartbeat::new();
        heartbeat.idle();
        Ptz {
            motor,
            runtime,
            job: Mutex::new(None),
            heartbeat,
        }
    }

    /// The job runner's heartbeat (idle while no job runs), for the supervisor.
    pub fn heartbeat(&self) -> &Heartbeat {
        &self.heartbeat
    }

    /// The motor.
    pub fn motor(&self) -> &Arc<dyn PanTilt> {
        &self.motor
    }

    /// Cancels the running job, if any.
    pub fn cancel_job(&self) -> bool {
        match self.job.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(job) => {
                job.abort();
                true
            }
            None => false,
        }
    }

    /// Whether a job is running.
    pub fn job_running(&self) -> bool {
        self.job
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|j| !j.is_finished())
    }

    /// Sends a direct command, cancelling any job first (a manual move stops a cruise).
    pub fn command(&self, command: PtzCommand) -> HalResult<()> {
        if self.cancel_job() {
            tracing::info!("PTZ job stopped by a manual command");
        }
        self.motor.execute(command)
    }

    /// Runs `steps` `passes` times (or until `limit` elapses) as the one job.
    pub fn start_job(&self, name: String, steps: Vec<Step>, limit: CruiseLimit) {
        self.cancel_job();
        let motor = self.motor.clone();
        let heartbeat = self.heartbeat.clone();
        let task = self.runtime.spawn(async move {
            // Ended or aborted: idle.
            let _idle = heartbeat.idle_on_drop();
            run_steps(&*motor, &name, &steps, limit, &heartbeat).await;
        });
        *self.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
    }
}

async fn execute(motor: &dyn PanTilt, job: &str, command: PtzCommand) {
    // A serial failure is reported and the job goes on: the transport reopens on the next
    // command, so a cable glitch does not end a cruise.
    if let Err(err) = motor.execute(command) {
        tracing::warn!(job, ?command, %err, "PTZ command failed during a job");
    }
}

/// Runs the steps of a job.
/// Beats `heartbeat` at every step; a linger (as long as the user set) counts as idle.
pub async fn run_steps(
    motor: &dyn PanTilt,
    name: &str,
    steps: &[Step],
    limit: CruiseLimit,
    heartbeat: &Heartbeat,
) {
    let started = tokio::time::Instant::now();
    let mut pass = 0u32;
    if steps.is_empty() {
        return;
    }
    loop {
        for step in steps {
            heartbeat.beat();
            if let CruiseLimit::Time(duration) = limit {
                if started.elapsed() >= duration {
                    tracing::info!(job = name, "PTZ job time is up");
                    execute(motor, name, PtzCommand::Stop).await;
                    return;
                }
            }
            match step.target {
                Target::Limit(direction) | Target::Timed(direction, _) => {
                    let duration = match step.target {
                        Target::Timed(_, duration) => duration,
                        _ => FULL_TRAVEL,
                    };
                    let command = PtzCommand::Move {
                        direction,
                        speed: FASTEST,
                    };
                    execute(motor, name, command).await;
                    tokio::time::sleep(duration).await;
                    execute(motor, name, PtzCommand::Stop).await;
                }
                Target::Preset(slot) => {
                    execute(motor, name, PtzCommand::CallPreset(slot)).await;
                    tokio::time::sleep(PRESET_SETTLE).await;
                }
            }
            heartbeat.idle();
            tokio::time::sleep(step.linger).await;
        }
        pass += 1;
        if let CruiseLimit::Loops(loops) = limit {
            if pass >= loops {
                tracing::info!(job = name, passes = pass, "PTZ job finished");
                return;
            }
        }
    }
}

/// The go-home sequence: to the bottom-left corner, then half the travel right and up, which
/// leaves the camera in the middle of both axes.
pub fn home_steps() -> Vec<Step> {
    let half = FULL_TRAVEL / 2;
    vec![
        Step {
            target: Target::Limit(Direction::Left),
            linger: Duration::ZERO,
        },
        Step {
            target: Target::Limit(Direction::Down),
            linger: Duration::ZERO,
        },
        Step {
            target: Target::Timed(Direction::Right, half),
            linger: Duration::ZERO,
        },
        Step {
            target: Target::Timed(Direction::Up, half),
            linger: Duration::ZERO,
        },
    ]
}

/// The normal self-test: visit every limit, then go home.
pub fn self_test_steps() -> Vec<Step> {
    let mut steps: Vec<Step> = LIMIT_PRESETS
        .iter()
        .map(|(_, d)| Step {
            target: Target::Limit(*d),
            linger: Duration::ZERO,
        })
        .collect();
    steps.extend(home_steps());
    steps
}

/// Whether a preset or map name is acceptable.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == ' ')
        && !name.starts_with(' ')
        && !name.ends_with(' ')
}

/// The stored set485Info line as the motor controller takes it.
pub fn serial_settings(line: &crate::settings::sections::Rs485) -> SerialSettings {
    SerialSettings {
        protocol: if line.protocol == 1 {
            Protocol::PelcoP
        } else {
            Protocol::PelcoD
        },
        address: line.address.clamp(0, 255) as u8,
        baud: line.baud.clamp(0, i64::from(u32::MAX)) as u32,
        data_bits: line.data_bits.clamp(0, 255) as u8,
        stop_bits: line.stop_bits.clamp(0, 255) as u8,
        parity: match line.check {
            1 => Parity::Odd,
            2 => Parity::Even,
            _ => Parity::None,
        },
    }
}

/// Where the preset called `name` is: a limit preset, or a user preset of `presets`
/// (name, controller slot) as the store keeps them.
pub fn target_named(name: &str, presets: &[(String, i64)]) -> Option<Target> {
    if let Some((_, direction)) = LIMIT_PRESETS.iter().find(|(n, _)| *n == name) {
        return Some(Target::Limit(*direction));
    }
    presets
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, slot)| Target::Preset(*slot as u8))
}

impl Ptz {
    /// set485Info: the line and protocol go to the open port.
    pub fn apply_line(&self, line: &crate::settings::sections::Rs485) -> HalResult<()> {
        self.motor().configure(serial_settings(line))
    }

    /// Runs the start-up self-test setPTZSelfTestMode asks for; `presets` are the stored
    /// user presets (mode 2 ends at the one setPTZPrePointForSelfTest named).
    pub fn start_up_self_test(
        &self,
        selftest: &crate::settings::sections::PtzSelfTest,
        presets: &[(String, i64)],
    ) {
        if selftest.mode == 0 {
            return;
        }
        let mut steps = self_test_steps();
        if selftest.mode == 2 && selftest.name.is_empty() {
            tracing::info!("no self-test preset appointed; staying home");
        } else if selftest.mode == 2 {
            match target_named(&selftest.name, presets) {
                Some(target) => steps.push(Step {
                    target,
                    linger: Duration::ZERO,
                }),
                None => {
                    tracing::warn!(preset = %selftest.name, "self-test preset not found; staying home")
                }
            }
        }
        tracing::info!(mode = selftest.mode, "PTZ self-test");
        self.start_job("self-test".into(), steps, CruiseLimit::Loops(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipcamd_hal::ptz::{Position, SerialSettings};
    use ipcamd_hal::{HalError, HalErrorKind};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A motor at the HAL boundary that records commands with the (paused) time they came.
    #[derive(Default)]
    struct RecordingMotor {
        log: Mutex<Vec<(Duration, PtzCommand)>>,
        fail_calls: AtomicUsize,
        start: Mutex<Option<tokio::time::Instant>>,
    }

    impl PanTilt for RecordingMotor {
        fn execute(&self, command: PtzCommand) -> HalResult<()> {
            let now = tokio::time::Instant::now();
            let start = *self.start.lock().unwrap().get_or_insert(now);
            if self.fail_calls.load(Ordering::SeqCst) > 0 {
                self.fail_calls.fetch_sub(1, Ordering::SeqCst);
                return Err(HalError::new(HalErrorKind::Io, "serial write"));
            }
            self.log.lock().unwrap().push((now - start, command));
            Ok(())
        }
        fn configure(&self, _: SerialSettings) -> HalResult<()> {
            Ok(())
        }
        fn position(&self) -> HalResult<Position> {
            Err(HalError::new(HalErrorKind::NotSupported, "position"))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn test_cruise_visits_points_in_order_with_linger_times() {
        let motor = RecordingMotor::default();
        let steps = vec![
            Step {
                target: Target::Preset(1),
                linger: Duration::from_secs(5),
            },
            Step {
                target: Target::Preset(2),
                linger: Duration::from_secs(10),
            },
        ];
        run_steps(
            &motor,
            "test",
            &steps,
            CruiseLimit::Loops(2),
            &Heartbeat::new(),
        )
        .await;
        let log = motor.log.lock().unwrap().clone();
        let expect =
            |secs: u64, slot: u8| (Duration::from_secs(secs), PtzCommand::CallPreset(slot));
        // settle 3 s + linger 5 s, then settle 3 s + linger 10 s, twice.
        assert_eq!(
            log,
            vec![expect(0, 1), expect(8, 2), expect(21, 1), expect(29, 2)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn test_cruise_by_time_stops_when_time_is_up() {
        let motor = RecordingMotor::default();
        let steps = vec![Step {
            target: Target::Preset(1),
            linger: Duration::from_secs(7),
        }];
        run_steps(
            &motor,
            "test",
            &steps,
            CruiseLimit::Time(Duration::from_secs(25)),
            &Heartbeat::new(),
        )
        .await;
        let log = motor.log.lock().unwrap().clone();
        assert_eq!(log.last().unwrap().1, PtzCommand::Stop);
        assert_eq!(
            log.iter()
                .filter(|(_, c)| *c == PtzCommand::CallPreset(1))
                .count(),
            3
        );
    }

    #[tokio::test(start_paused = true)]
    async fn test_serial_failure_mid_cruise_is_survived() {
        let motor = RecordingMotor::default();
        motor.fail_calls.store(1, Ordering::SeqCst);
        let steps = vec![
            Step {
                target: Target::Preset(1),
                linger: Duration::from_secs(1),
            },
            Step {
                target: Target::Preset(2),
                linger: Duration::from_secs(1),
            },
        ];
        run_steps(
            &motor,
            "test",
            &steps,
            CruiseLimit::Loops(1),
            &Heartbeat::new(),
        )
        .await;
        let log = motor.log.lock().unwrap().clone();
        assert_eq!(
            log.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
            vec![PtzCommand::CallPreset(2)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn test_limit_step_moves_full_travel_then_stops() {
        let motor = RecordingMotor::default();
        let steps = vec![Step {
            target: Target::Limit(Direction::Left),
            linger: Duration::ZERO,
        }];
        run_steps(
            &motor,
            "test",
            &steps,
            CruiseLimit::Loops(1),
            &Heartbeat::new(),
        )
        .await;
        let log = motor.log.lock().unwrap().clone();
        assert_eq!(
            log,
            vec![
                (
                    Duration::ZERO,
                    PtzCommand::Move {
                        direction: Direction::Left,
                        speed: FASTEST
                    }
                ),
                (FULL_TRAVEL, PtzCommand::Stop)
            ]
        );
    }

    #[test]
    fn test_valid_name_rules() {
        assert!(valid_name("Door 1"));
        assert!(!valid_name(""));
        assert!(!valid_name("a<b"));
        assert!(!valid_name(&"x".repeat(21)));
    }
}
