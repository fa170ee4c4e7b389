//! Simulated pan/tilt/zoom: a Pelco-D/P motor controller behind a real pseudo-terminal pair.
//!
//! [`SimMotor`] owns the pty master and a thread that reads it, parses the bytes with
//! [`pelco::Parser`] (for its own protocol and address, ignoring frames for other addresses)
//! and moves the axes: pan 0..=350 degrees, tilt 0..=90 degrees, zoom 1x..=10x, starting at
//! [`HOME`]. Movement is integrated over a [`MotorTime`] (real monotonic time on the board,
//! a [`ManualTime`] in tests), so [`SimMotor::position`] is exact at any instant.
//!
//! The daemon side talks to the pty *slave* path with the ordinary [`SerialPanTilt`]
//! transport, so the simulated board exercises the real byte path (termios settings
//! included). The motor has its own line settings (its "DIP switches"): bytes that arrive
//! while the line's baud rate or stop bits differ from them are garbage to it, as on a real
//! wire, and are counted as garbled and dropped. Data bits and parity are not compared: the
//! Linux pty driver forces 8 data bits without parity whatever the opener sets, so a pty
//! cannot carry them.
//!
//! Presets: set-preset stores the position at the moment the frame is received; call-preset
//! travels there at the top speed ([`pelco::MAX_SPEED`] on pan and tilt, zoom speed
//! [`pelco::MAX_ZOOM_SPEED`]), each axis independently; calling a preset never set does
//! nothing (counted as unsupported). The next motion frame (a move, a zoom, a stop)
//! interrupts a travel in progress, as on real controllers.
//!
//! [`open`] builds the board's PTZ: the built-in motor, or, when the board file's `[ptz] port`
//! is set, the transport on that port (a test's own pty) and no motor.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serialport::{SerialPort, TTYPort};

use crate::board::BoardSpec;
use crate::ptz::pelco::{self, Message, Pan, Parser, Tilt, Zoom};
use crate::ptz::serial::SerialPanTilt;
use crate::ptz::{PanTilt, Position, PtzCommand, SerialSettings};
use crate::{HalError, HalErrorKind, HalResult};

/// Pan range in degrees.
pub const PAN_LIMITS: (f32, f32) = (0.0, 350.0);
/// Tilt range in degrees.
pub const TILT_LIMITS: (f32, f32) = (0.0, 90.0);
/// Zoom range (factor).
pub const ZOOM_LIMITS: (f32, f32) = (1.0, 10.0);
/// Where the motor starts: the middle of pan and tilt, zoomed out.
pub const HOME: Position = Position {
    pan: 175.0,
    tilt: 45.0,
    zoom: 1.0,
};

/// How often the motor thread checks for shutdown while the line is quiet.
const READ_POLL: Duration = Duration::from_millis(50);

/// Degrees per second for a Pelco pan/tilt speed byte: 1 deg/s at 0x00 rising linearly to
/// 60 deg/s at 0x3F; Pelco-D turbo (0xFF) is 120 deg/s.
pub fn degrees_per_second(speed: u8) -> f32 {
    if speed == pelco::TURBO_SPEED {
        return 120.0;
    }
    let speed = f32::from(speed.min(pelco::MAX_SPEED));
    1.0 + 59.0 * speed / f32::from(pelco::MAX_SPEED)
}

/// Zoom factor change per second for a Pelco zoom speed 0..=3: 0.5x/s to 2x/s.
pub fn zoom_per_second(zoom_speed: u8) -> f32 {
    0.5 * f32::from(zoom_speed.min(pelco::MAX_ZOOM_SPEED) + 1)
}

/// The motor's notion of "now": a monotonic duration since some fixed origin.
pub trait MotorTime: Send + Sync {
    /// Time since the origin.
    fn now(&self) -> Duration;
}

/// Real monotonic time.
#[derive(Debug)]
pub struct MonotonicTime {
    origin: Instant,
}

impl Default for MonotonicTime {
    fn default() -> Self {
        MonotonicTime {
            origin: Instant::now(),
        }
    }
}

impl MotorTime for MonotonicTime {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// Time that moves only when told to (tests).
#[derive(Debug, Default)]
pub struct ManualTime {
    now: Mutex<Duration>,
}

impl ManualTime {
    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl MotorTime for ManualTime {
    fn now(&self) -> Duration {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One axis: travelling from `anchor` (its value at `since`) towards `goal` at `rate` units
/// per second. A continuous move is a travel towards the limit.
#[derive(Debug, Clone, Copy)]
struct Axis {
    limits: (f32, f32),
    anchor: f32,
    goal: f32,
    rate: f32,
    since: Duration,
}

impl Axis {
    fn new(limits: (f32, f32), at: f32) -> Axis {
        Axis {
            limits,
            anchor: at,
            goal: at,
            rate: 0.0,
            since: Duration::ZERO,
        }
    }

    fn at(&self, now: Duration) -> f32 {
        let elapsed = now.saturating_sub(self.since).as_secs_f32();
        let distance = self.goal - self.anchor;
        let step = (self.rate * elapsed).min(distance.abs());
        self.anchor + step.copysign(distance)
    }

    fn travel(&mut self, now: Duration, goal: f32, rate: f32) {
        self.anchor = self.at(now);
        self.since = now;
        self.goal = goal.clamp(self.limits.0, self.limits.1);
        self.rate = rate;
    }

    fn stop(&mut self, now: Duration) {
        let here = self.at(now);
        self.travel(now, here, 0.0);
    }

    /// Runs towards the low (`false`) or high (`true`) limit, or stops.
    fn run(&mut self, now: Duration, towards_high: Option<bool>, rate: f32) {
        match towards_high {
            Some(true) => self.travel(now, self.limits.1, rate),
            Some(false) => self.travel(now, self.limits.0, rate),
            None => self.stop(now),
        }
    }
}

/// What the motor has received, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MotorStats {
    /// Bytes read from the line.
    pub bytes: u64,
    /// Valid frames addressed to this motor.
    pub frames: u64,
    /// Valid frames for other addresses (ignored).
    pub other_address: u64,
    /// Frames addressed here that the motor cannot act on (focus, iris, unknown opcodes,
    /// calls of presets never set).
    pub unsupported: u64,
    /// Frames with a bad checksum or envelope.
    pub rejected_frames: u64,
    /// Bytes received while the line settings differ from the motor's (dropped).
    pub garbled_bytes: u64,
}

/// The line settings a pty carries: baud and stop bits.
type Line = (u32, u8);

fn line_of(settings: &SerialSettings) -> Line {
    (settings.baud, settings.stop_bits)
}

/// Reads the pty's current termios (as the transport last set it).
fn line_of_port(port: &TTYPort) -> Option<Line> {
    let stop_bits = match port.stop_bits().ok()? {
        serialport::StopBits::One => 1,
        serialport::StopBits::Two => 2,
    };
    Some((port.baud_rate().ok()?, stop_bits))
}

struct MotorState {
    pan: Axis,
    tilt: Axis,
    zoom: Axis,
    zoom_speed: u8,
    presets: Vec<Option<Position>>,
    settings: SerialSettings,
    parser: Parser,
    stats: MotorStats,
}

impl MotorState {
    fn position(&self, now: Duration) -> Position {
        Position {
            pan: self.pan.at(now),
            tilt: self.tilt.at(now),
            zoom: self.zoom.at(now),
        }
    }

    fn receive(&mut self, bytes: &[u8], line: Option<Line>, now: Duration) {
        self.stats.bytes += bytes.len() as u64;
        if line != Some(line_of(&self.settings)) {
            self.stats.garbled_bytes += bytes.len() as u64;
            return;
        }
        let wire = pelco::wire_address(self.settings.protocol, self.settings.address).ok();
        for byte in bytes {
            let Some(frame) = self.parser.push(*byte) else {
                continue;
            };
            if Some(frame.wire_address) != wire {
                self.stats.other_address += 1;
                continue;
            }
            self.stats.frames += 1;
            self.act(frame.body.message(), now);
        }
        self.stats.rejected_frames = self.parser.rejected_frames();
    }

    fn act(&mut self, message: Message, now: Duration) {
        match message {
            Message::Motion(m) => {
                let pan_rate = degrees_per_second(m.pan_speed);
                let tilt_rate = degrees_per_second(m.tilt_speed);
                let zoom_rate = zoom_per_second(self.zoom_speed);
                self.pan.run(now, m.pan.map(|p| p == Pan::Right), pan_rate);
                self.tilt.run(now, m.tilt.map(|t| t == Tilt::Up), tilt_rate);
                self.zoom.run(now, m.zoom.map(|z| z == Zoom::In), zoom_rate);
            }
            Message::SetPreset(n) => {
                self.presets[usize::from(n)] = Some(self.position(now));
            }
            Message::ClearPreset(n) => self.presets[usize::from(n)] = None,
            Message::CallPreset(n) => match self.presets[usize::from(n)] {
                Some(to) => {
                    let top = degrees_per_second(pelco::MAX_SPEED);
                    self.pan.travel(now, to.pan, top);
                    self.tilt.travel(now, to.tilt, top);
                    let zoom_top = zoom_per_second(pelco::MAX_ZOOM_SPEED);
                    self.zoom.travel(now, to.zoom, zoom_top);
                }
                None => self.stats.unsupported += 1,
            },
            Message::SetZoomSpeed(speed) => self.zoom_speed = speed.min(pelco::MAX_ZOOM_SPEED),
            Message::Other(_) => self.stats.unsupported += 1,
        }
    }
}

struct Shared {
    state: Mutex<MotorState>,
    received: Condvar,
    shutdown: AtomicBool,
    time: Arc<dyn MotorTime>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, MotorState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The motor thread: read the master, judge the line settings, act on frames.
fn run_motor(shared: &Shared, mut master: TTYPort, slave: TTYPort) {
    let mut buf = [0u8; 64];
    while !shared.shutdown.load(Ordering::Relaxed) {
        let n = match master.read(&mut buf) {
            Ok(n) if n > 0 => n,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            // EOF or an error on the master: nothing to read yet; do not spin.
            _ => {
                std::thread::sleep(READ_POLL);
                continue;
            }
        };
        let line = line_of_port(&slave);
        let now = shared.time.now();
        shared.lock().receive(&buf[..n], line, now);
        shared.received.notify_all();
    }
}

/// A simulated Pelco-D/P motor on its own pty. Dropping it stops the thread and closes the
/// pty (the transport's next write then fails, as with an unplugged device).
pub struct SimMotor {
    shared: Arc<Shared>,
    port_path: PathBuf,
    thread: Option<JoinHandle<()>>,
}

impl SimMotor {
    /// Starts a motor with `settings` (its protocol, address and UART settings) on real time.
    pub fn start(settings: SerialSettings) -> HalResult<SimMotor> {
        SimMotor::start_with_time(settings, Arc::new(MonotonicTime::default()))
    }

    /// Starts a motor whose movement is integrated over `time`.
    pub fn start_with_time(
        settings: SerialSettings,
        time: Arc<dyn MotorTime>,
    ) -> HalResult<SimMotor> {
        settings.validate()?;
        let pty_error = |e: serialport::Error| {
            HalError::new(HalErrorKind::Io, "creating the simulated motor's pty").with_source(e)
        };
        let (mut master, slave) = TTYPort::pair().map_err(pty_error)?;
        master.set_timeout(READ_POLL).map_err(pty_error)?;
        let port_path = slave.name().map(PathBuf::from).ok_or_else(|| {
            HalError::new(HalErrorKind::Io, "the simulated motor's pty has no name")
        })?;
        let shared = Arc::new(Shared {
            state: Mutex::new(MotorState {
                pan: Axis::new(PAN_LIMITS, HOME.pan),
                tilt: Axis::new(TILT_LIMITS, HOME.tilt),
                zoom: Axis::new(ZOOM_LIMITS, HOME.zoom),
                zoom_speed: 0,
                presets: vec![None; 256],
                settings,
                parser: Parser::new(settings.protocol),
                stats: MotorStats::default(),
            }),
            received: Condvar::new(),
            shutdown: AtomicBool::new(false),
            time,
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("sim-ptz-motor".into())
            .spawn(move || run_motor(&thread_shared, master, slave))
            .map_err(|e| HalError::io("starting the simulated motor thread", e))?;
        Ok(SimMotor {
            shared,
            port_path,
            thread: Some(thread),
        })
    }

    /// The pty slave: the serial device the camera side opens.
    pub fn port_path(&self) -> &Path {
        &self.port_path
    }

    /// Where the motor is now (the hook the simulated video follows).
    pub fn position(&self) -> Position {
        let now = self.shared.time.now();
        self.shared.lock().position(now)
    }

    /// A stored preset.
    pub fn preset(&self, number: u8) -> Option<Position> {
        self.shared.lock().presets[usize::from(number)]
    }

    /// The motor's own protocol, address and UART settings.
    pub fn settings(&self) -> SerialSettings {
        self.shared.lock().settings
    }

    /// Changes the motor's own settings (its DIP switches); a partial frame is dropped.
    pub fn set_settings(&self, settings: SerialSettings) -> HalResult<()> {
        settings.validate()?;
        let mut state = self.shared.lock();
        state.settings = settings;
        state.parser.set_protocol(settings.protocol);
        Ok(())
    }

    /// What the motor has received so far.
    pub fn stats(&self) -> MotorStats {
        self.shared.lock().stats
    }

    /// Waits until `done(stats)` holds or `timeout` passes; returns the last stats and whether
    /// `done` held. For tests that must know the motor has processed what was sent. `done`
    /// runs with the motor locked: it must not call back into the motor.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&MotorStats) -> bool,
    ) -> (MotorStats, bool) {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if done(&state.stats) {
                return (state.stats, true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (state.stats, false);
            }
            state = self
                .shared
                .received
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for SimMotor {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The simulated board's PanTilt: the serial transport writing to the motor's pty, with the
/// position read from the motor (a real controller's position query, in effect).
pub struct SimPanTilt {
    transport: SerialPanTilt,
    motor: Arc<SimMotor>,
}

impl SimPanTilt {
    /// Opens the transport on `motor`'s pty with `settings`.
    pub fn new(motor: Arc<SimMotor>, settings: SerialSettings) -> HalResult<SimPanTilt> {
        let transport = SerialPanTilt::open(motor.port_path(), settings)?;
        Ok(SimPanTilt { transport, motor })
    }

    /// The transport (port state, settings in force).
    pub fn transport(&self) -> &SerialPanTilt {
        &self.transport
    }
}

impl PanTilt for SimPanTilt {
    fn execute(&self, command: PtzCommand) -> HalResult<()> {
        self.transport.execute(command)
    }

    /// Applies the settings to the camera's port only: like a real motor, the simulated one
    /// keeps its own settings (change them with [`SimMotor::set_settings`]).
    fn configure(&self, settings: SerialSettings) -> HalResult<()> {
        self.transport.configure(settings)
    }

    fn position(&self) -> HalResult<Position> {
        Ok(self.motor.position())
    }
}

/// The simulated board's pan/tilt device and, when built in, its motor.
pub struct SimPtz {
    /// What the daemon drives.
    pub pan_tilt: Arc<dyn PanTilt>,
    /// The built-in motor (`None` when the board file names a port).
    pub motor: Option<Arc<SimMotor>>,
}

/// Opens the board's PTZ: `None` without a `[ptz]` table; the transport on `[ptz] port` when
/// set (no motor: the other end belongs to whoever made the port); otherwise a built-in
/// [`SimMotor`] with the board's factory settings and the transport on its pty.
pub fn open(board: &BoardSpec) -> HalResult<Option<SimPtz>> {
    let Some(spec) = &board.ptz else {
        return Ok(None);
    };
    let settings = spec.serial_settings();
    if let Some(port) = &spec.port {
        let transport = SerialPanTilt::open(&board.resolve(port), settings)?;
        return Ok(Some(SimPtz {
            pan_tilt: Arc::new(transport),
            motor: None,
        }));
    }
    let motor = Arc::new(SimMotor::start(settings)?);
    let pan_tilt = SimPanTilt::new(motor.clone(), settings)?;
    Ok(Some(SimPtz {
        pan_tilt: Arc::new(pan_tilt),
        motor: Some(motor),
    }))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::ptz::{Direction, Parity, Protocol};

    const WAIT: Duration = Duration::from_secs(5);

    fn settings_9600(protocol: Protocol, address: u8) -> SerialSettings {
        SerialSettings {
            protocol,
            address,
            baud: 9600,
            data_bits: 8,
            stop_bits: 1,
            parity: Parity::None,
        }
    }

    /// A motor on manual time and the camera-side transport on its pty.
    fn rig(settings: SerialSettings) -> (SimMotor, SerialPanTilt, Arc<ManualTime>) {
        let time = Arc::new(ManualTime::default());
        let motor = SimMotor::start_with_time(settings, time.clone()).unwrap();
        let ptz = SerialPanTilt::open(motor.port_path(), settings).unwrap();
        (motor, ptz, time)
    }

    fn wait_frames(motor: &SimMotor, frames: u64) {
        let (stats, done) = motor.wait_for(WAIT, |s| s.frames >= frames);
        assert!(done, "motor saw {stats:?}, expected {frames} frames");
    }

    fn assert_near(actual: Position, pan: f32, tilt: f32, zoom: f32) {
        let close = |a: f32, b: f32| (a - b).abs() < 1e-3;
        assert!(
            close(actual.pan, pan) && close(actual.tilt, tilt) && close(actual.zoom, zoom),
            "at {actual:?}, expected pan {pan} tilt {tilt} zoom {zoom}"
        );
    }

    fn mv(direction: Direction, speed: u8) -> PtzCommand {
        PtzCommand::Move { direction, speed }
    }

    #[test]
    #[cfg_attr(
        ipcamd_qemu_user,
        ignore = "qemu-user cannot configure pseudo-terminals"
    )]
    fn test_sim_motor_move_right_then_stop_holds_position() {
        let (motor, ptz, time) = rig(settings_9600(Protocol::PelcoD, 1));
        assert_near(motor.position(), 175.0, 45.0, 1.0);
        ptz.execute(mv(Direction::Right, 4)).unwrap();
        wait_frames(&motor, 1);
        time.advance(Duration::from_secs(2));
        // Guide speed 4 -> 0x3F -> 60 deg/s.
        assert_near(motor.position(), 295.0, 45.0, 1.0);
        ptz.execute(PtzCommand::Stop).unwrap();
        wait_frames(&motor, 2);
        time.advance(Duration::from_secs(5));
        assert_near(motor.position(), 295.0, 45.0, 1.0);
    }

    #[test]
    #[cfg_attr(
        ipcamd_qemu_user,
        ignore = "qemu-user cannot configure pseudo-terminals"
    )]
    fn test_sim_motor_slow_speed_moves_slower_and_stops_at_limits() {
        let (motor, ptz, time) = rig(settings_9600(Protocol::PelcoD, 1));
        ptz.execute(mv(Direction::DownLeft, 0)).unwrap();
        wait_frames(&motor, 1);
        time.advance(Duration::from_secs(1));
        let slow = degrees_per_second(pelco::PAN_TILT_SPEEDS[0]);
        assert!(slow < 10.0);
        assert_near(motor.position(), 175.0 - slow, 45.0 - slow, 1.0);
        time.advance(Duration::from_secs(600));
        assert_near(motor.position(), 0.0, 0.0, 1.0);
        ptz.execute(mv(Direction::UpRight, 4)).unwrap();
        wait_frames(&motor, 2);
        time.advance(Duration::from_secs(60));
        assert_near(motor.position(), 350.0, 90.0, 1.0);
    }

    #[test]
    #[cfg_attr(
        ipcamd_qemu_user,
        ignore = "qemu-user cannot configure pseudo-terminals"
    )]
    fn test_sim_motor_preset_set_call_returns_to_position() {
        let (motor, ptz, time) = rig(settings_9600(Protocol::PelcoD, 1));
        ptz.execute(PtzCommand::SetPreset(3)).unwrap();
        wait_frames(&motor, 1);
        assert_eq!(motor.preset(3), Some(HOME));
        ptz.execute(mv(Direction::Left, 4)).unwrap();
        wait_frames(&motor, 2);
        time.advance(Duration::from_secs(1));
        ptz.execute(PtzCommand::Stop).unwrap();
        wait_frames(&motor, 3);
        assert_near(motor.position(), 115.0, 45.0, 1.0);
        ptz.execute(PtzCommand::CallPreset(3)).unwrap();
        wait_frames(&motor, 4);
        // Travels at the top speed, 60 deg/s ...
        time.advance(Duration::from_millis(500));
        assert_near(motor.position(), 145.0, 45.0, 1.0);
        // ... and stops there.
        time.advance(Duration::from_secs(10));
        assert_near(motor.position(), 175.0, 45.0, 1.0);
        // A cleared preset is gone: calling it does nothing.
        ptz.execute(PtzCommand::ClearPreset(3)).unwrap();
        ptz.execute(mv(Direction::Up, 4)).unwrap();
        time.advance(Duration::from_secs(10));
        ptz.execute(PtzCommand::CallPreset(3)).unwrap();
        wait_frames(&motor, 7);
        time.advance(Duration::from_secs(10));
        assert_near(motor.position(), 175.0, 90.0, 1.0);
        assert_eq!(motor.preset(3), None);
        assert_eq!(motor.stats().unsupported, 1);
    }

    #[test]
    #[cfg_attr(
        ipcamd_qemu_user,
        ignore = "qemu-user cannot configure pseudo-terminals"
    )]
    fn test_sim_motor_zoom_at_speed_and_zoom_stop_keeps_pan() {
        let (motor, ptz, time) = rig(settings_9600(Protocol::PelcoD, 1));
        ptz.execute(mv(Direction::Right, 2)).unwrap();
        ptz.execute(PtzCommand::ZoomIn { speed: 2 }).unwrap();
        wait_frames(&motor, 3);
        time.advance(Duration::from_secs(2));
        let pan_rate = degrees_per_second(0x20);
        // Zoom speed 2 -> Pelco zoom speed 3 -> 2x per second.
        assert_near(motor.position(), 175.0 + 2.0 * pan_rate, 45.0, 5.0);
        ptz.execute(PtzCommand::ZoomStop).unwrap();
        wait_frames(&motor, 4);
        time.advance(Duration::from_secs(1));
        assert_near(motor.position(), 175.0 + 3.0 * pan_rate, 45.0, 5.0);
        ptz.execute(PtzCommand::ZoomOut { speed: 0 }).unwrap();
        wait_frames(&motor, 6);
        time.advance(Duration::from_secs(20));
        assert_near(motor.position(), 350.0, 45.0, 1.0);
    }

    #[test]
    #[cfg_attr(
        ipcamd_qemu_user,
        ignore = "qemu-user cannot configure pseudo-terminals"
    )]
    fn test_sim_motor_other_address_ignored() {
        let time = Arc::new(ManualTime::default());
        let motor =
            SimMotor::start_with_time(settings_9600(Protocol::PelcoD, 1), time.clone()).unwrap();
        let ptz =
            SerialPanTilt::open(motor.port_path(), settings_9600(Protocol::PelcoD, 2)).unwrap();
        ptz.execute(mv(Direction::Up, 4)).unwrap();
        let (stats, done) = motor.wait_for(WAIT, |s| s.other_address >= 1);
        assert!(done, "{stats:?}");
        time.advance(Duration::from_secs(1));
        assert_near(motor.position(), 175.0, 45.0, 1.0);
        assert_eq!(stats.frames, 0);
    }

    #[test]
    #[cfg_attr(
        ipcamd_qemu_user,
        ignore = "qemu-user cannot configure pseudo-terminals"
    )]
    fn test_sim_motor_garbage_and_bad_checksums_on_wire_ignored() {
        let time = Arc::new(ManualTime::default());
        let motor =
            SimMotor::start_with_time(settings_9600(Protocol::PelcoD, 1), time.clone()).unwrap();
        // Write raw bytes to the line, as a noisy bus or a broken sender would.
        let mut raw = serialport::new(motor.port_path().to_str().unwrap(), 9600)
            .open_native()
            .unwrap();
        let mut bytes = vec![0x00, 0x55, 0xFF, 0xFF, 0x13];
        bytes.extend_from_slice(&[0xFF, 0x01, 0x00, 0x04, 0x3F, 0x00, 0x45]); // bad checksum
        bytes.extend_from_slice(&[0xFF, 0x01, 0x00, 0x02, 0x3F, 0x00, 0x42]); // right, 0x3F
        raw.write_all(&bytes).unwrap();
        wait_frames(&motor, 1);
        time.advance(Duration::from_secs(1));
        assert_near(motor.position(), 235.0, 45.0, 1.0);
        let stats = motor.stats();
        assert_eq!(stats.frames, 1);
        assert!(stats.rejected_frames >= 1, "{stats:?}");
    }

    #[test]
    #[cfg_attr(
        ipcamd_qemu_user,
        ignore = "qemu-user cannot configure pseudo-terminals"
    )]
    fn test_sim_motor_baud_mismatch_garbled_until_motor_matches() {
        let (motor, ptz, time) = rig(settings_9600(Protocol::PelcoD, 1));
        let at_4800 = SerialSettings {
            baud: 4800,
            ..settings_9600(Protocol::PelcoD, 1)
        };
        ptz.configure(at_4800).unwrap();
        ptz.execute(mv(Direction::Right, 4)).unwrap();
        let (stats, done) = motor.wait_for(WAIT, |s| s.garbled_bytes >= 7);
        assert!(done, "{stats:?}");
        assert_eq!(stats.frames, 0);
        time.advance(Duration::from_secs(1));
        assert_near(motor.position(), 175.0, 45.0, 1.0);
        motor.set_settings(at_4800).unwrap();
        ptz.execute(mv(Direction::Right, 4)).unwrap();
        wait_frames(&motor, 1);
        time.advance(Duration::from_secs(1));
        assert_near(motor.position(), 235.0, 45.0, 1.0);
    }

    #[test]
    #[cfg_attr(
        ipcamd_qemu_user,
        ignore = "qemu-user cannot configure pseudo-terminals"
    )]
    fn test_sim_motor_protocol_change_live_pelco_p() {
        let (motor, ptz, time) = rig(settings_9600(Protocol::PelcoD, 1));
        let pelco_p = SerialSettings {
            stop_bits: 2,
            ..settings_9600(Protocol::PelcoP, 5)
        };
        ptz.configure(pelco_p).unwrap();
        motor.set_settings(pelco_p).unwrap();
        ptz.execute(mv(Direction::Down, 4)).unwrap();
        wait_frames(&motor, 1);
        time.advance(Duration::from_millis(500));
        assert_near(motor.position(), 175.0, 15.0, 1.0);
        // The motor back on Pelco-D does not understand the camera's Pelco-P.
        motor
            .set_settings(SerialSettings {
                stop_bits: 2,
                ..settings_9600(Protocol::PelcoD, 5)
            })
            .unwrap();
        ptz.execute(PtzCommand::Stop).unwrap();
        let (stats, _) = motor.wait_for(WAIT, |s| s.bytes >= 16);
        assert_eq!(stats.frames, 1, "{stats:?}");
        time.advance(Duration::from_secs(10));
        assert_near(motor.position(), 175.0, 0.0, 1.0);
    }

    fn board(ptz_table: &str) -> BoardSpec {
        BoardSpec::parse(&format!(
            r#"
[board]
name = "test"
backend = "sim"
[identity]
model = 1
model_name = "t"
product_name = "t"
hardware_version = "1"
[capabilities]
pan_tilt = true
zoom = true
{ptz_table}
"#
        ))
        .unwrap()
    }

    #[test]
    #[cfg_attr(
        ipcamd_qemu_user,
        ignore = "qemu-user cannot configure pseudo-terminals"
    )]
    fn test_sim_open_without_port_drives_builtin_motor() {
        let sim = open(&board("[ptz]\nprotocol = \"pelco-p\"\naddress = 2"))
            .unwrap()
            .unwrap();
        let motor = sim.motor.unwrap();
        assert_eq!(motor.settings().protocol, Protocol::PelcoP);
        sim.pan_tilt.execute(PtzCommand::SetPreset(1)).unwrap();
        sim.pan_tilt.execute(mv(Direction::Up, 4)).unwrap();
        wait_frames(&motor, 2);
        assert!(motor.preset(1).is_some());
        // Real time: the motor moves up on its own; position() is the motor's.
        let deadline = Instant::now() + WAIT;
        while motor.position().tilt <= HOME.tilt && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let reported = sim.pan_tilt.position().unwrap();
        assert!(reported.tilt > HOME.tilt, "{reported:?}");
        assert!(reported.tilt <= TILT_LIMITS.1);
    }

    #[test]
    fn test_sim_open_without_ptz_table_has_no_ptz() {
        let spec = BoardSpec::parse(
            "[board]\nname = \"t\"\nbackend = \"sim\"\n[identity]\nmodel = 1\n\
             model_name = \"t\"\nproduct_name = \"t\"\nhardware_version = \"1\"\n\
             [capabilities]\n",
        )
        .unwrap();
        assert!(open(&spec).unwrap().is_none());
    }

    #[test]
    #[cfg_attr(
        ipcamd_qemu_user,
        ignore = "qemu-user cannot configure pseudo-terminals"
    )]
    fn test_sim_open_with_port_drives_that_port_not_a_motor() {
        // The "outside" device: a motor of the test's own on its own pty.
        let time = Arc::new(ManualTime::default());
        let outside =
            SimMotor::start_with_time(settings_9600(Protocol::PelcoD, 1), time.clone()).unwrap();
        let spec = board(&format!(
            "[ptz]\nport = \"{}\"",
            outside.port_path().display()
        ));
        let sim = open(&spec).unwrap().unwrap();
        assert!(sim.motor.is_none());
        let err = sim.pan_tilt.position().unwrap_err();
        assert_eq!(err.kind(), HalErrorKind::NotSupported);
        sim.pan_tilt.execute(mv(Direction::Left, 4)).unwrap();
        wait_frames(&outside, 1);
        time.advance(Duration::from_secs(1));
        assert_near(outside.position(), 115.0, 45.0, 1.0);
    }
}
