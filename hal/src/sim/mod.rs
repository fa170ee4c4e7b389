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
    /// The simulated sensor (the same device as `Hal::video`): the PTZ motor moves its view,
    /// tests inject capture failures.
    pub video: Arc<video::SimVideo>,
    /// Why the board's PTZ could not be opened on this platform, if it could not.
    pub ptz_unavailable: Option<String>,
    /// The built-in PTZ motor (`None` without `[ptz]`, or when `[ptz] port` names a port).
    pub motor: Option<Arc<ptz::SimMotor>>,
    /// The GPIO control socket, when the board file names one (`gpio.control_socket`).
    pub control: Option<Arc<control::ControlSocket>>,
    /// The SD card (the same device as `Hal::storage`): tests eject it and write-protect it.
    pub card: Option<Arc<storage::SimStorage>>,
}

/// Opens the simulated board described by `board`.
pub fn open(board: Arc<BoardSpec>, data_dir: &Path) -> HalResult<Hal> {
    let (hal, _devices) = open_with_devices(board, data_dir)?;
    Ok(hal)
}

/// Opens the simulated board and also returns the handles tests use to drive it.
pub fn open_with_devices(board: Arc<BoardSpec>, data_dir: &Path) -> HalResult<(Hal, SimDevices)> {
    let video = Arc::new(video::SimVideo::open(&board)?);
    let mut devices = SimDevices {
        ir_led: Arc::new(gpio::SimLine::new("ir_led")),
        ir_cut: Arc::new(gpio::SimLine::new("ir_cut")),
        alarm_in: Arc::new(gpio::SimLine::new("alarm_in")),
        alarm_out: Arc::new(gpio::SimLine::new("alarm_out")),
        light_sensor: Arc::new(gpio::SimLine::new("light_sensor")),
        video: video.clone(),
        motor: None,
        ptz_unavailable: None,
        control: None,
        card: None,
    };
    let card = match &board.storage {
        Some(spec) => Some(Arc::new(storage::SimStorage::open(
            &data_dir.join(&spec.path),
            spec.capacity_mb.map(|mb| mb.saturating_mul(1024 * 1024)),
        )?)),
        None => None,
    };
    devices.card = card.clone();
    let storage = card.map(|card| card as Arc<dyn crate::storage::Storage>);
    let (ptz, motor) = match ptz::open(&board) {
        Ok(Some(sim_ptz)) => (Some(sim_ptz.pan_tilt), sim_ptz.motor),
        Ok(None) => (None, None),
        Err(err) if !crate::ptz::serial::serial_ports_work() => {
            // qemu-user: no terminal ioctls. The camera runs without its motor (PTZ commands
            // answer -4) rather than not at all.
            devices.ptz_unavailable = Some(err.to_string());
            (None, None)
        }
        Err(err) => return Err(err),
    };
    if let Some(motor) = &motor {
        // The picture moves with the motor: pan right, and the scene slides left.
        let motor = motor.clone();
        video.follow(move || {
            let p = motor.position();
            (p.pan - ptz::HOME.pan, p.tilt - ptz::HOME.tilt)
        });
    }
    devices.motor = motor;
    let io = board.capabilities.io_alarm;
    let lan = match &board.network.sim {
        Some(spec) => Some(Arc::new(crate::net::sim::SimLan::new(spec.clone())?)),
        None => None,
    };
    let wifi = lan
        .clone()
        .filter(|_| board.capabilities.wifi)
        .map(|l| l as Arc<dyn crate::net::Wifi>);
    // Last, so no earlier failure leaves a socket running.
    if let Some(socket) = &board.gpio.control_socket {
        let started = control::ControlSocket::start(&data_dir.join(socket), &devices)?;
        devices.control = Some(Arc::new(started));
    }
    let hal = Hal {
        network: lan.clone().map(|l| l as Arc<dyn crate::net::Network>),
        wifi,
        pppoe: lan.map(|l| l as Arc<dyn crate::net::Pppoe>),
        video: Some(video),
        encoder: Arc::new(video::SoftwareJpegEncoder),
        h264: crate::video::h264::software_factory(),
        ir_led: Some(devices.ir_led.clone()),
        ir_cut: Some(devices.ir_cut.clone()),
        alarm_in: io.then(|| devices.alarm_in.clone() as Arc<dyn crate::gpio::InputLine>),
        alarm_out: io.then(|| devices.alarm_out.clone() as Arc<dyn crate::gpio::OutputLine>),
        light_sensor: Some(devices.light_sensor.clone()),
        ptz,
        clock: Arc::new(OffsetClock::default()),
        storage,
        board,
        sim: Some(devices.clone()),
    };
    Ok((hal, devices))
}
