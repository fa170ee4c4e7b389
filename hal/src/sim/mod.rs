//! The simulated board: every role backed by an in-process device that really behaves (the
//! video scene moves, the motor moves and reports where it is, GPIO lines hold levels and
//! record their history). Always compiled, public, so the daemon's tests drive it directly.

pub mod control;
pub mod gpio;
pub mod ptz;
pub mod storage;
pub mod video;

use std::path::Path;
use std::sync::Arc;

use crate::board::BoardSpec;
use crate::clock::OffsetClock;
use crate::{Hal, HalResult};

/// Handles on the simulated devices, for tests and the control socket.
#[derive(Clone)]
pub struct SimDevices {
    /// IR LED line.
    pub ir_led: Arc<gpio::SimLine>,
    /// IR cut line.
    pub ir_cut: Arc<gpio::SimLine>,
    /// Alarm input line.
    pub alarm_in: Arc<gpio::SimLine>,
    /// Alarm output line.
    pub alarm_out: Arc<gpio::SimLine>,
    /// Light sensor line (active = dark).
    pub light_sensor: Arc<gpio::SimLine>,
    /// The GPIO control socket, when the board file names one (`gpio.control_socket`).
    pub control: Option<Arc<control::ControlSocket>>,
}

/// Opens the simulated board described by `board`.
pub fn open(board: Arc<BoardSpec>, data_dir: &Path) -> HalResult<Hal> {
    let (hal, _devices) = open_with_devices(board, data_dir)?;
    Ok(hal)
}

/// Opens the simulated board and also returns the handles tests use to drive it.
pub fn open_with_devices(board: Arc<BoardSpec>, data_dir: &Path) -> HalResult<(Hal, SimDevices)> {
    let mut devices = SimDevices {
        ir_led: Arc::new(gpio::SimLine::new("ir_led")),
        ir_cut: Arc::new(gpio::SimLine::new("ir_cut")),
        alarm_in: Arc::new(gpio::SimLine::new("alarm_in")),
        alarm_out: Arc::new(gpio::SimLine::new("alarm_out")),
        light_sensor: Arc::new(gpio::SimLine::new("light_sensor")),
        control: None,
    };
    let storage = match &board.storage {
        Some(spec) => Some(
            Arc::new(storage::SimStorage::open(&data_dir.join(&spec.path))?)
                as Arc<dyn crate::storage::Storage>,
        ),
        None => None,
    };
    let video = video::SimVideo::open(&board)?;
    let ptz = ptz::open(&board)?;
    let io = board.capabilities.io_alarm;
    // Last, so no earlier failure leaves a socket running.
    if let Some(socket) = &board.gpio.control_socket {
        let started = control::ControlSocket::start(&data_dir.join(socket), &devices)?;
        devices.control = Some(Arc::new(started));
    }
    let hal = Hal {
        video: Some(Arc::new(video)),
        encoder: Arc::new(video::SoftwareJpegEncoder),
        ir_led: Some(devices.ir_led.clone()),
        ir_cut: Some(devices.ir_cut.clone()),
        alarm_in: io.then(|| devices.alarm_in.clone() as Arc<dyn crate::gpio::InputLine>),
        alarm_out: io.then(|| devices.alarm_out.clone() as Arc<dyn crate::gpio::OutputLine>),
        light_sensor: Some(devices.light_sensor.clone()),
        ptz,
        clock: Arc::new(OffsetClock::default()),
        storage,
        board,
    };
    Ok((hal, devices))
}
