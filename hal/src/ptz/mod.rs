//! Pan/tilt/zoom role: the motor controller behind the RS485 port.
//!
//! This module owns the role's types and trait. [`pelco`] is the pure Pelco-D/P framing and
//! parsing; [`serial`] is the serial-port transport that implements [`PanTilt`] over it (used by
//! the Linux backend and by the simulated board, whose motor sits behind a real pty).

pub mod pelco;
pub mod serial;

use crate::{HalError, HalErrorKind, HalResult};

/// One of the guide's eight move directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Tilt up.
    Up,
    /// Tilt down.
    Down,
    /// Pan left.
    Left,
    /// Pan right.
    Right,
    /// Up and left.
    UpLeft,
    /// Up and right.
    UpRight,
    /// Down and left.
    DownLeft,
    /// Down and right.
    DownRight,
}

/// A motor command. Speeds are the guide's PTZ speed 0 (very slow) ..= 4 (very fast), as
/// getPTZSpeed/setPTZSpeed enumerate them, and zoom speed 0 (slow) ..= 2 (fast); backends map
/// them onto protocol speeds (see [`pelco::PAN_TILT_SPEEDS`] and [`pelco::ZOOM_SPEEDS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PtzCommand {
    /// Start moving until [`PtzCommand::Stop`].
    Move {
        /// Where to.
        direction: Direction,
        /// Guide PTZ speed 0..=4.
        speed: u8,
    },
    /// Stop pan, tilt and zoom.
    Stop,
    /// Start zooming in.
    ZoomIn {
        /// Guide zoom speed 0..=2.
        speed: u8,
    },
    /// Start zooming out.
    ZoomOut {
        /// Guide zoom speed 0..=2.
        speed: u8,
    },
    /// Stop zooming.
    ZoomStop,
    /// Store the current position as preset `n` (1-based controller number).
    SetPreset(u8),
    /// Move to preset `n`.
    CallPreset(u8),
    /// Forget preset `n`.
    ClearPreset(u8),
}

/// RS485 protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Pelco-D.
    PelcoD,
    /// Pelco-P.
    PelcoP,
}

/// Parity of the serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    /// No parity bit.
    None,
    /// Odd parity.
    Odd,
    /// Even parity.
    Even,
}

/// Serial and protocol settings (set485Info).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialSettings {
    /// Framing protocol.
    pub protocol: Protocol,
    /// Device address on the bus.
    pub address: u8,
    /// Baud rate.
    pub baud: u32,
    /// Data bits (5..=8).
    pub data_bits: u8,
    /// Stop bits (1 or 2).
    pub stop_bits: u8,
    /// Parity.
    pub parity: Parity,
}

impl SerialSettings {
    /// Checks the values a UART and the protocol accept: address 1..=255 (see
    /// [`pelco::wire_address`]), a non-zero baud rate, 5..=8 data bits, 1 or 2 stop bits.
    pub fn validate(&self) -> HalResult<()> {
        pelco::wire_address(self.protocol, self.address)?;
        let invalid = |what: String| Err(HalError::new(HalErrorKind::InvalidArgument, what));
        if self.baud == 0 {
            return invalid("serial settings: baud rate 0".into());
        }
        if !(5..=8).contains(&self.data_bits) {
            return invalid(format!("serial settings: {} data bits", self.data_bits));
        }
        if !(1..=2).contains(&self.stop_bits) {
            return invalid(format!("serial settings: {} stop bits", self.stop_bits));
        }
        Ok(())
    }
}

/// Pan/tilt/zoom position as a simulated or position-reporting motor knows it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Position {
    /// Pan angle in degrees.
    pub pan: f32,
    /// Tilt angle in degrees.
    pub tilt: f32,
    /// Zoom factor (1.0 = wide).
    pub zoom: f32,
}

/// A pan/tilt(/zoom) motor controller.
pub trait PanTilt: Send + Sync {
    /// Sends one command.
    fn execute(&self, command: PtzCommand) -> HalResult<()>;
    /// Applies new serial/protocol settings to the open port.
    fn configure(&self, settings: SerialSettings) -> HalResult<()>;
    /// The position, where the controller can report it (`NotSupported` otherwise).
    fn position(&self) -> HalResult<Position>;
}
