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

/// Whether this platform can open and configure a serial port on a pseudo-terminal. It cannot
/// under qemu-user, which lacks the terminal ioctls; the simulated board then runs without
/// its motor, and the pty tests are reported as ignored (`--cfg ipcamd_qemu_user`, set by
/// cross/test-armv7.sh; the hardware-in-the-loop lab covers ARM).
pub fn serial_ports_work() -> bool {
    static WORKS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WORKS.get_or_init(|| {
        let Ok((_master, slave)) = TTYPort::pair() else {
            return false;
        };
        let Some(name) = slave.name() else {
            return false;
        };
        serialport::new(name, 9600).open_native().is_ok()
    })
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

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::ptz::{Direction, Protocol};

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

    /// A pty pair whose master reads with a timeout (a missing byte fails, never hangs).
    fn pty() -> (TTYPort, TTYPort, PathBuf) {
        let (mut master, slave) = TTYPort::pair().unwrap();
        master.set_timeout(Duration::from_secs(5)).unwrap();
        let path = PathBuf::from(slave.name().unwrap());
        (master, slave, path)
    }

    fn read_n(master: &mut TTYPort, n: usize) -> Vec<u8> {
        let mut bytes = vec![0; n];
        master.read_exact(&mut bytes).unwrap();
        bytes
    }

    #[test]
    #[cfg_attr(
        ipcamd_qemu_user,
        ignore = "qemu-user cannot configure pseudo-terminals"
    )]
    fn test_serial_execute_writes_exact_frames_to_line() {
        let (mut master, _slave, path) = pty();
        let ptz = SerialPanTilt::open(&path, settings_9600(Protocol::PelcoD, 1)).unwrap();
        ptz.execute(PtzCommand::Move {
            direction: Direction::Right,
            speed: 2,
        })
        .unwrap();
        assert_eq!(
            read_n(&mut master, 7),
            [0xFF, 0x01, 0x00, 0x02, 0x20, 0x00, 0x23]
        );
        // Zoom while panning keeps the pan bits; zoom stop keeps panning.
        ptz.execute(PtzCommand::ZoomIn { speed: 0 }).unwrap();
        assert_eq!(
            read_n(&mut master, 14),
            [
                0xFF, 0x01, 0x00, 0x25, 0x00, 0x00, 0x26, //
                0xFF, 0x01, 0x00, 0x22, 0x20, 0x00, 0x43,
            ]
        );
        ptz.execute(PtzCommand::ZoomStop).unwrap();
        assert_eq!(
            read_n(&mut master, 7),
            [0xFF, 0x01, 0x00, 0x02, 0x20, 0x00, 0x23]
        );
    }

    #[test]
    #[cfg_attr(
        ipcamd_qemu_user,
        ignore = "qemu-user cannot configure pseudo-terminals"
    )]
    fn test_serial_configure_applies_line_and_protocol_live() {
        let (mut master, slave, path) = pty();
        let ptz = SerialPanTilt::open(&path, settings_9600(Protocol::PelcoD, 1)).unwrap();
        assert_eq!(slave.baud_rate().unwrap(), 9600);
        let new = SerialSettings {
            protocol: Protocol::PelcoP,
            address: 3,
            baud: 4800,
            data_bits: 7,
            stop_bits: 2,
            parity: Parity::Even,
        };
        ptz.configure(new).unwrap();
        // The line itself (termios of the tty, as any opener sees it) changed. Data bits and
        // parity cannot be observed here: the Linux pty driver forces CS8 without parity.
        assert_eq!(slave.baud_rate().unwrap(), 4800);
        assert_eq!(slave.stop_bits().unwrap(), serialport::StopBits::Two);
        assert!(ptz.is_open());
        ptz.execute(PtzCommand::Stop).unwrap();
        assert_eq!(
            read_n(&mut master, 8),
            [0xA0, 0x02, 0x00, 0x00, 0x00, 0x00, 0xAF, 0x0D]
        );
        assert_eq!(ptz.settings(), new);
    }

    #[test]
    #[cfg_attr(
        ipcamd_qemu_user,
        ignore = "qemu-user cannot configure pseudo-terminals"
    )]
    fn test_serial_configure_invalid_settings_rejected_unchanged() {
        let (_master, _slave, path) = pty();
        let factory = settings_9600(Protocol::PelcoD, 1);
        let ptz = SerialPanTilt::open(&path, factory).unwrap();
        for bad in [
            SerialSettings {
                data_bits: 9,
                ..factory
            },
            SerialSettings {
                stop_bits: 3,
                ..factory
            },
            SerialSettings { baud: 0, ..factory },
            SerialSettings {
                address: 0,
                ..factory
            },
        ] {
            let err = ptz.configure(bad).unwrap_err();
            assert_eq!(err.kind(), HalErrorKind::InvalidArgument, "{bad:?}");
        }
        assert_eq!(ptz.settings(), factory);
    }

    #[test]
    fn test_serial_open_missing_port_fails() {
        let err = SerialPanTilt::open(
            Path::new("/nonexistent/ttyPTZ"),
            settings_9600(Protocol::PelcoD, 1),
        )
        .err()
        .unwrap();
        assert!(
            matches!(
                err.kind(),
                HalErrorKind::Disconnected | HalErrorKind::Io | HalErrorKind::NotSupported
            ),
            "{err}"
        );
    }

    #[test]
    #[cfg_attr(
        ipcamd_qemu_user,
        ignore = "qemu-user cannot configure pseudo-terminals"
    )]
    fn test_serial_position_not_supported() {
        let (_master, _slave, path) = pty();
        let ptz = SerialPanTilt::open(&path, settings_9600(Protocol::PelcoD, 1)).unwrap();
        let err = ptz.position().unwrap_err();
        assert_eq!(err.kind(), HalErrorKind::NotSupported);
    }

    #[test]
    #[cfg_attr(
        ipcamd_qemu_user,
        ignore = "qemu-user cannot configure pseudo-terminals"
    )]
    fn test_serial_device_gone_errors_then_reopens_replugged_device() {
        // A stable name for the device, like a udev symlink to a USB RS485 adapter.
        let dir = std::env::temp_dir().join(format!("ipcamd-ptz-serial-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("ttyPTZ");
        let _ = std::fs::remove_file(&link);
        let (master, slave, path) = pty();
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let ptz = SerialPanTilt::open(&link, settings_9600(Protocol::PelcoD, 1)).unwrap();

        // Unplug: the other end goes away.
        drop(master);
        drop(slave);
        let err = ptz.execute(PtzCommand::Stop).unwrap_err();
        assert!(
            matches!(err.kind(), HalErrorKind::Disconnected | HalErrorKind::Io),
            "{err}"
        );
        assert!(!ptz.is_open());

        // Replug under the same name: the next command reopens and goes through.
        let (mut master, _slave, path) = pty();
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(&path, &link).unwrap();
        ptz.execute(PtzCommand::CallPreset(4)).unwrap();
        assert!(ptz.is_open());
        assert_eq!(
            read_n(&mut master, 7),
            [0xFF, 0x01, 0x00, 0x07, 0x00, 0x04, 0x0C]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[cfg_attr(
        ipcamd_qemu_user,
        ignore = "qemu-user cannot configure pseudo-terminals"
    )]
    fn test_serial_line_not_draining_times_out_then_recovers() {
        let (mut master, _slave, path) = pty();
        let ptz = SerialPanTilt::open(&path, settings_9600(Protocol::PelcoD, 1)).unwrap();
        // Nobody reads the other end: the pty buffer fills and a write times out.
        let mut err = None;
        for _ in 0..1_000_000 {
            if let Err(e) = ptz.execute(PtzCommand::Stop) {
                err = Some(e);
                break;
            }
        }
        let err = err.expect("the line never pushed back");
        assert_eq!(err.kind(), HalErrorKind::Timeout, "{err}");
        assert!(!ptz.is_open());
        // The device drains; the next command reopens the port and goes through.
        master.set_timeout(Duration::from_millis(100)).unwrap();
        let mut sink = [0u8; 4096];
        while master.read(&mut sink).is_ok() {}
        ptz.execute(PtzCommand::SetPreset(2)).unwrap();
        master.set_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(
            read_n(&mut master, 7),
            [0xFF, 0x01, 0x00, 0x03, 0x00, 0x02, 0x06]
        );
    }
}
