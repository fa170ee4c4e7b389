//! Serial-port transport: [`SerialPanTilt`] drives a Pelco-D/P motor controller through a
//! serial device (an RS485 adapter, a UART, or a pseudo-terminal) with the `serialport` crate.
//! Compiled on every unix, so the Linux backend and the simulated board share it.
//!
//! Failure handling: a failed write (or a port that will not open) drops the port and returns
//! the error, classified as `Timeout` (the line did not accept the bytes within
//! [`WRITE_TIMEOUT`]), `Disconnected` (the device is gone or busy) or `Io`. The next command
//! reopens the port with the current settings, so a replugged adapter recovers on its own.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serialport::{SerialPort, TTYPort};

use crate::ptz::pelco::{self, MotionState};
use crate::ptz::{PanTilt, Parity, Position, PtzCommand, SerialSettings};
use crate::{HalError, HalErrorKind, HalResult};

/// How long a write may wait for the line to accept the bytes (a frame takes ~8 ms at 9600
/// baud; RS485 lines never push back, so a long wait means a stuck device).
pub const WRITE_TIMEOUT: Duration = Duration::from_millis(500);

struct PortState {
    /// `None` after a failure, until the next command reopens it.
    port: Option<TTYPort>,
    settings: SerialSettings,
    motion: MotionState,
}

/// A motor controller on a serial line.
pub struct SerialPanTilt {
    path: PathBuf,
    state: Mutex<PortState>,
}

fn serial_error(context: String, err: serialport::Error) -> HalError {
    let kind = match err.kind() {
        serialport::ErrorKind::NoDevice => HalErrorKind::Disconnected,
        serialport::ErrorKind::InvalidInput => HalErrorKind::InvalidArgument,
        serialport::ErrorKind::Io(kind) => {
            return HalError::io(context, std::io::Error::new(kind, err));
        }
        serialport::ErrorKind::Unknown => HalErrorKind::Io,
    };
    HalError::new(kind, context).with_source(err)
}

fn data_bits(bits: u8) -> serialport::DataBits {
    match bits {
        5 => serialport::DataBits::Five,
        6 => serialport::DataBits::Six,
        7 => serialport::DataBits::Seven,
        _ => serialport::DataBits::Eight,
    }
}

fn stop_bits(bits: u8) -> serialport::StopBits {
    if bits == 2 {
        serialport::StopBits::Two
    } else {
        serialport::StopBits::One
    }
}

fn parity(parity: Parity) -> serialport::Parity {
    match parity {
        Parity::None => serialport::Parity::None,
        Parity::Odd => serialport::Parity::Odd,
        Parity::Even => serialport::Parity::Even,
    }
}

fn open_port(path: &Path, settings: &SerialSettings) -> HalResult<TTYPort> {
    let name = path.to_str().ok_or_else(|| {
        HalError::new(
            HalErrorKind::InvalidArgument,
            format!("PTZ serial port path {} is not UTF-8", path.display()),
        )
    })?;
    serialport::new(name, settings.baud)
        .data_bits(data_bits(settings.data_bits))
        .stop_bits(stop_bits(settings.stop_bits))
        .parity(parity(settings.parity))
        .flow_control(serialport::FlowControl::None)
        .timeout(WRITE_TIMEOUT)
        .open_native()
        .map_err(|e| serial_error(format!("opening PTZ serial port {name}"), e))
}

fn apply_line(port: &mut TTYPort, settings: &SerialSettings) -> serialport::Result<()> {
    port.set_baud_rate(settings.baud)?;
    port.set_data_bits(data_bits(settings.data_bits))?;
    port.set_stop_bits(stop_bits(settings.stop_bits))?;
    port.set_parity(parity(settings.parity))
}

impl SerialPanTilt {
    /// Opens the controller on `path` with `settings` (validated first).
    pub fn open(path: &Path, settings: SerialSettings) -> HalResult<SerialPanTilt> {
        settings.validate()?;
        let port = open_port(path, &settings)?;
        Ok(SerialPanTilt {
            path: path.to_path_buf(),
            state: Mutex::new(PortState {
                port: Some(port),
                settings,
                motion: MotionState::default(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, PortState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The serial device.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The settings in force (applied now, or at the next reopen).
    pub fn settings(&self) -> SerialSettings {
        self.lock().settings
    }

    /// Whether the port is open (false after a failure until the next command).
    pub fn is_open(&self) -> bool {
        self.lock().port.is_some()
    }
}

impl PanTilt for SerialPanTilt {
    fn execute(&self, command: PtzCommand) -> HalResult<()> {
        let mut state = self.lock();
        let state = &mut *state;
        let mut motion = state.motion;
        let encoded = pelco::encode(
            state.settings.protocol,
            state.settings.address,
            command,
            &mut motion,
        )?;
        let port = match state.port.take() {
            Some(port) => port,
            None => open_port(&self.path, &state.settings)?,
        };
        let port = state.port.insert(port);
        match port.write_all(encoded.as_bytes()) {
            Ok(()) => {
                state.motion = motion;
                Ok(())
            }
            Err(e) => {
                state.port = None;
                Err(HalError::io(
                    format!("writing {command:?} to {}", self.path.display()),
                    e,
                ))
            }
        }
    }

    fn configure(&self, settings: SerialSettings) -> HalResult<()> {
        settings.validate()?;
        let mut state = self.lock();
        if (state.settings.protocol, state.settings.address)
            != (settings.protocol, settings.address)
        {
            // Another controller (or dialect) from now on; assume it idle.
            state.motion = MotionState::default();
        }
        state.settings = settings;
        let Some(port) = state.port.as_mut() else {
            return Ok(()); // applied when the next command reopens the port
        };
        match apply_line(port, &settings) {
            Ok(()) => Ok(()),
            Err(e) => {
                state.port = None;
                Err(serial_error(
                    format!("configuring {}", self.path.display()),
                    e,
                ))
            }
        }
    }

    /// Pelco-D/P as sent here has no position report.
    fn position(&self) -> HalResult<Position> {
        Err(HalError::new(
            HalErrorKind::NotSupported,
            "the serial PTZ controller does not report its position",
        ))
    }
}
