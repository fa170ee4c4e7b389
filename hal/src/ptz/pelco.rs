//! Pelco-D and Pelco-P framing: pure encoding of [`PtzCommand`]s into frames and a streaming
//! parser turning received bytes back into frames. No I/O here; tested byte by byte.
//!
//! Both protocols carry the same four-byte body ([`Body`]) and differ only in the envelope:
//!
//! - Pelco-D, 7 bytes: `FF addr cmd1 cmd2 data1 data2 sum`, where `sum` is the sum of bytes
//!   2..=6 (address to data 2) modulo 256. The address on the wire is the device address
//!   (1..=255).
//! - Pelco-P, 8 bytes: `A0 addr data1 data2 data3 data4 AF xor`, where `xor` is the XOR of the
//!   seven bytes before it (STX and ETX included). The address on the wire is 0-based: device 1
//!   is sent as `00`.
//!
//! A "standard" body is the whole motion state at once: command 2 holds the pan, tilt and zoom
//! bits, data 1 the pan speed and data 2 the tilt speed (0x00..=0x3F, 0xFF turbo on Pelco-D).
//! A frame without a zoom bit stops the zoom; one without pan/tilt bits stops pan/tilt. Hence
//! [`MotionState`]: to stop only the zoom while panning, the motion frame is re-sent without the
//! zoom bit. "Extended" bodies have command 1 = 0 and an odd command 2 (the opcode) and do
//! not change the motion state by themselves: set/clear/call preset, set zoom speed.

use crate::ptz::{Direction, Protocol, PtzCommand};
use crate::{HalError, HalErrorKind, HalResult};

/// Pelco-D synchronisation byte.
pub const PELCO_D_SYNC: u8 = 0xFF;
/// Pelco-D frame length.
pub const PELCO_D_FRAME_LEN: usize = 7;
/// Pelco-P start-of-text byte.
pub const PELCO_P_STX: u8 = 0xA0;
/// Pelco-P end-of-text byte.
pub const PELCO_P_ETX: u8 = 0xAF;
/// Pelco-P frame length.
pub const PELCO_P_FRAME_LEN: usize = 8;

/// Command-2 bit: pan right.
pub const BIT_PAN_RIGHT: u8 = 0x02;
/// Command-2 bit: pan left.
pub const BIT_PAN_LEFT: u8 = 0x04;
/// Command-2 bit: tilt up.
pub const BIT_TILT_UP: u8 = 0x08;
/// Command-2 bit: tilt down.
pub const BIT_TILT_DOWN: u8 = 0x10;
/// Command-2 bit: zoom tele (in).
pub const BIT_ZOOM_TELE: u8 = 0x20;
/// Command-2 bit: zoom wide (out).
pub const BIT_ZOOM_WIDE: u8 = 0x40;

/// Extended opcode: store the current position as preset `data2`.
pub const OP_SET_PRESET: u8 = 0x03;
/// Extended opcode: forget preset `data2`.
pub const OP_CLEAR_PRESET: u8 = 0x05;
/// Extended opcode: go to preset `data2`.
pub const OP_CALL_PRESET: u8 = 0x07;
/// Extended opcode: zoom speed `data2` (0 slowest ..= 3 fastest) for later zoom bits.
pub const OP_SET_ZOOM_SPEED: u8 = 0x25;

/// Largest ordinary pan/tilt speed byte.
pub const MAX_SPEED: u8 = 0x3F;
/// Pelco-D "turbo" pan speed.
pub const TURBO_SPEED: u8 = 0xFF;
/// Largest Pelco zoom speed (set-zoom-speed argument).
pub const MAX_ZOOM_SPEED: u8 = 3;

/// Pan/tilt speed byte for each guide PTZ speed, index 0 (very slow) ..= 4 (very fast).
/// Evenly spread over the ordinary range, never 0x00 (which many receivers treat as "stop")
/// and never turbo; "normal" (2) is 0x20, mid-range, and "very fast" (4) the top speed 0x3F.
pub const PAN_TILT_SPEEDS: [u8; 5] = [0x08, 0x14, 0x20, 0x2C, MAX_SPEED];

/// Pelco zoom speed (argument of [`OP_SET_ZOOM_SPEED`], 0..=3) for each guide zoom speed,
/// index 0 (slow) ..= 2 (fast). The protocol's zoom bits carry no speed, so a zoom start is
/// sent as a set-zoom-speed frame followed by the motion frame with the zoom bit.
pub const ZOOM_SPEEDS: [u8; 3] = [0, 2, MAX_ZOOM_SPEED];

/// The four bytes both protocols carry between address and envelope end. On Pelco-P these
/// are data 1..=4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Body {
    /// Command 1 (Pelco-P data 1): focus/iris/camera bits; 0 for extended commands.
    pub command1: u8,
    /// Command 2 (Pelco-P data 2): motion bits, or the extended opcode when odd.
    pub command2: u8,
    /// Data 1 (Pelco-P data 3): pan speed, or 0 for extended commands.
    pub data1: u8,
    /// Data 2 (Pelco-P data 4): tilt speed, or the extended argument.
    pub data2: u8,
}

impl Body {
    fn extended(opcode: u8, argument: u8) -> Body {
        Body {
            command1: 0,
            command2: opcode,
            data1: 0,
            data2: argument,
        }
    }

    /// What the body asks for.
    pub fn message(&self) -> Message {
        let Body {
            command1,
            command2,
            data1,
            data2,
        } = *self;
        if command2 & 1 == 1 {
            if command1 != 0 {
                return Message::Other(*self);
            }
            return match command2 {
                OP_SET_PRESET => Message::SetPreset(data2),
                OP_CLEAR_PRESET => Message::ClearPreset(data2),
                OP_CALL_PRESET => Message::CallPreset(data2),
                OP_SET_ZOOM_SPEED => Message::SetZoomSpeed(data2),
                _ => Message::Other(*self),
            };
        }
        let either = |a: u8, b: u8| match (command2 & a != 0, command2 & b != 0) {
            (false, false) => Ok(None),
            (true, false) => Ok(Some(true)),
            (false, true) => Ok(Some(false)),
            (true, true) => Err(()),
        };
        let (Ok(pan), Ok(tilt), Ok(zoom)) = (
            either(BIT_PAN_RIGHT, BIT_PAN_LEFT),
            either(BIT_TILT_UP, BIT_TILT_DOWN),
            either(BIT_ZOOM_TELE, BIT_ZOOM_WIDE),
        ) else {
            return Message::Other(*self);
        };
        Message::Motion(Motion {
            pan: pan.map(|right| if right { Pan::Right } else { Pan::Left }),
            tilt: tilt.map(|up| if up { Tilt::Up } else { Tilt::Down }),
            zoom: zoom.map(|tele| if tele { Zoom::In } else { Zoom::Out }),
            pan_speed: data1,
            tilt_speed: data2,
        })
    }
}

/// Horizontal motion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pan {
    /// Towards larger angles.
    Right,
    /// Towards smaller angles.
    Left,
}

/// Vertical motion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tilt {
    /// Towards larger angles.
    Up,
    /// Towards smaller angles.
    Down,
}

/// Zoom motion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zoom {
    /// Tele: larger zoom factor.
    In,
    /// Wide: smaller zoom factor.
    Out,
}

/// A standard (motion) body, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Motion {
    /// Pan direction, `None` = not panning.
    pub pan: Option<Pan>,
    /// Tilt direction, `None` = not tilting.
    pub tilt: Option<Tilt>,
    /// Zoom direction, `None` = not zooming.
    pub zoom: Option<Zoom>,
    /// Pan speed byte (0x00..=0x3F, 0xFF turbo).
    pub pan_speed: u8,
    /// Tilt speed byte (0x00..=0x3F).
    pub tilt_speed: u8,
}

/// A body, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// The full motion state (all-zero = stop).
    Motion(Motion),
    /// Store the current position as this preset.
    SetPreset(u8),
    /// Forget this preset.
    ClearPreset(u8),
    /// Go to this preset.
    CallPreset(u8),
    /// Zoom speed 0..=3 for later zoom motion.
    SetZoomSpeed(u8),
    /// Anything else (focus, iris, auxiliaries, contradictory bits, unknown opcodes).
    Other(Body),
}

/// One checked frame as received: the address byte as on the wire, and the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Address byte on the wire (see [`wire_address`]).
    pub wire_address: u8,
    /// The four command bytes.
    pub body: Body,
}

/// The address byte sent for device `address` (the rs485Addr setting, 1..=255): the same on
/// Pelco-D, one less on Pelco-P, whose wire addresses are 0-based. Address 0 is no device.
pub fn wire_address(protocol: Protocol, address: u8) -> HalResult<u8> {
    if address == 0 {
        return Err(HalError::new(
            HalErrorKind::InvalidArgument,
            "PTZ address 0 (addresses are 1..=255)",
        ));
    }
    Ok(match protocol {
        Protocol::PelcoD => address,
        Protocol::PelcoP => address - 1,
    })
}

/// Frame length of `protocol`.
pub fn frame_len(protocol: Protocol) -> usize {
    match protocol {
        Protocol::PelcoD => PELCO_D_FRAME_LEN,
        Protocol::PelcoP => PELCO_P_FRAME_LEN,
    }
}

/// First byte of every frame of `protocol`.
pub fn sync_byte(protocol: Protocol) -> u8 {
    match protocol {
        Protocol::PelcoD => PELCO_D_SYNC,
        Protocol::PelcoP => PELCO_P_STX,
    }
}

/// Pelco-D checksum: sum of address, command 1, command 2, data 1, data 2, modulo 256.
fn pelco_d_checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b))
}

/// Pelco-P checksum: XOR of every byte before it.
fn pelco_p_checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |x, b| x ^ b)
}

/// One frame of up to 8 bytes, built without allocating.
fn build_frame(protocol: Protocol, wire_address: u8, body: Body) -> [u8; PELCO_P_FRAME_LEN] {
    let Body {
        command1,
        command2,
        data1,
        data2,
    } = body;
    match protocol {
        Protocol::PelcoD => {
            let mut f = [
                PELCO_D_SYNC,
                wire_address,
                command1,
                command2,
                data1,
                data2,
                0,
                0,
            ];
            f[6] = pelco_d_checksum(&f[1..6]);
            f
        }
        Protocol::PelcoP => {
            let mut f = [
                PELCO_P_STX,
                wire_address,
                command1,
                command2,
                data1,
                data2,
                PELCO_P_ETX,
                0,
            ];
            f[7] = pelco_p_checksum(&f[..7]);
            f
        }
    }
}

/// The bytes for one command: one or two frames (a zoom start is two), no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoded {
    bytes: [u8; 2 * PELCO_P_FRAME_LEN],
    len: usize,
}

impl Encoded {
    fn new() -> Encoded {
        Encoded {
            bytes: [0; 2 * PELCO_P_FRAME_LEN],
            len: 0,
        }
    }

    fn push(&mut self, protocol: Protocol, wire_address: u8, body: Body) {
        let n = frame_len(protocol);
        let frame = build_frame(protocol, wire_address, body);
        self.bytes[self.len..self.len + n].copy_from_slice(&frame[..n]);
        self.len += n;
    }

    /// The bytes to write to the line.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// What the controller is doing as far as the sender knows: the motion a standard frame must
/// keep when only part of it changes (zoom stop while panning, a move while zooming).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MotionState {
    /// Current move and its guide speed.
    pub pan_tilt: Option<(Direction, u8)>,
    /// Current zoom.
    pub zoom: Option<Zoom>,
}

impl MotionState {
    fn body(&self) -> Body {
        let mut body = Body {
            command1: 0,
            command2: 0,
            data1: 0,
            data2: 0,
        };
        if let Some((direction, speed)) = self.pan_tilt {
            let speed = PAN_TILT_SPEEDS[usize::from(speed)];
            let (pan, tilt) = match direction {
                Direction::Up => (0, BIT_TILT_UP),
                Direction::Down => (0, BIT_TILT_DOWN),
                Direction::Left => (BIT_PAN_LEFT, 0),
                Direction::Right => (BIT_PAN_RIGHT, 0),
                Direction::UpLeft => (BIT_PAN_LEFT, BIT_TILT_UP),
                Direction::UpRight => (BIT_PAN_RIGHT, BIT_TILT_UP),
                Direction::DownLeft => (BIT_PAN_LEFT, BIT_TILT_DOWN),
                Direction::DownRight => (BIT_PAN_RIGHT, BIT_TILT_DOWN),
            };
            body.command2 |= pan | tilt;
            if pan != 0 {
                body.data1 = speed;
            }
            if tilt != 0 {
                body.data2 = speed;
            }
        }
        match self.zoom {
            Some(Zoom::In) => body.command2 |= BIT_ZOOM_TELE,
            Some(Zoom::Out) => body.command2 |= BIT_ZOOM_WIDE,
            None => {}
        }
        body
    }
}

fn check_range(what: &str, value: u8, max: usize) -> HalResult<usize> {
    let index = usize::from(value);
    if index > max {
        return Err(HalError::new(
            HalErrorKind::InvalidArgument,
            format!("{what} {value} (0..={max})"),
        ));
    }
    Ok(index)
}

fn check_preset(preset: u8) -> HalResult<u8> {
    if preset == 0 {
        return Err(HalError::new(
            HalErrorKind::InvalidArgument,
            "preset 0 (presets are 1..=255)",
        ));
    }
    Ok(preset)
}

/// Encodes `command` for device `address`, updating `state` (the motion the controller is
/// now performing). On error `state` is unchanged.
///
/// - `Move`: the motion frame with the direction bits and [`PAN_TILT_SPEEDS`]`[speed]` on the
///   moving axes (a running zoom continues).
/// - `Stop`: the all-zero motion frame (stops pan, tilt and zoom).
/// - `ZoomIn`/`ZoomOut`: set-zoom-speed [`ZOOM_SPEEDS`]`[speed]`, then the motion frame with the
///   zoom bit (a running move continues).
/// - `ZoomStop`: the motion frame without zoom bits (a running move continues).
/// - `SetPreset`/`ClearPreset`: the extended frame. `CallPreset`: the extended frame; the
///   controller drops any manual motion to travel there, so `state` becomes idle.
pub fn encode(
    protocol: Protocol,
    address: u8,
    command: PtzCommand,
    state: &mut MotionState,
) -> HalResult<Encoded> {
    let wire = wire_address(protocol, address)?;
    let mut out = Encoded::new();
    match command {
        PtzCommand::Move { direction, speed } => {
            check_range("PTZ speed", speed, PAN_TILT_SPEEDS.len() - 1)?;
            state.pan_tilt = Some((direction, speed));
            out.push(protocol, wire, state.body());
        }
        PtzCommand::Stop => {
            *state = MotionState::default();
            out.push(protocol, wire, state.body());
        }
        PtzCommand::ZoomIn { speed } | PtzCommand::ZoomOut { speed } => {
            let index = check_range("zoom speed", speed, ZOOM_SPEEDS.len() - 1)?;
            state.zoom = Some(if matches!(command, PtzCommand::ZoomIn { .. }) {
                Zoom::In
            } else {
                Zoom::Out
            });
            out.push(
                protocol,
                wire,
                Body::extended(OP_SET_ZOOM_SPEED, ZOOM_SPEEDS[index]),
            );
            out.push(protocol, wire, state.body());
        }
        PtzCommand::ZoomStop => {
            state.zoom = None;
            out.push(protocol, wire, state.body());
        }
        PtzCommand::SetPreset(n) => {
            out.push(
                protocol,
                wire,
                Body::extended(OP_SET_PRESET, check_preset(n)?),
            );
        }
        PtzCommand::ClearPreset(n) => {
            out.push(
                protocol,
                wire,
                Body::extended(OP_CLEAR_PRESET, check_preset(n)?),
            );
        }
        PtzCommand::CallPreset(n) => {
            out.push(
                protocol,
                wire,
                Body::extended(OP_CALL_PRESET, check_preset(n)?),
            );
            *state = MotionState::default();
        }
    }
    Ok(out)
}

/// Encodes `command` from an idle controller (see [`encode`]).
pub fn encode_command(protocol: Protocol, address: u8, command: PtzCommand) -> HalResult<Encoded> {
    encode(protocol, address, command, &mut MotionState::default())
}

/// Streaming receiver: bytes in, checked frames out. Bytes before a sync byte are skipped;
/// a frame with a bad checksum (or, on Pelco-P, a missing ETX) is rejected and the search for
/// the next frame restarts at the byte after its sync byte, so a sync value inside garbage
/// cannot swallow a following good frame.
#[derive(Debug, Clone)]
pub struct Parser {
    protocol: Protocol,
    buf: [u8; PELCO_P_FRAME_LEN],
    len: usize,
    rejected_frames: u64,
    skipped_bytes: u64,
}

impl Parser {
    /// A receiver for `protocol`.
    pub fn new(protocol: Protocol) -> Parser {
        Parser {
            protocol,
            buf: [0; PELCO_P_FRAME_LEN],
            len: 0,
            rejected_frames: 0,
            skipped_bytes: 0,
        }
    }

    /// The protocol received.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Switches protocol, dropping any partial frame.
    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.protocol = protocol;
        self.skipped_bytes += self.len as u64;
        self.len = 0;
    }

    /// Frames that had the right length but a bad checksum or envelope.
    pub fn rejected_frames(&self) -> u64 {
        self.rejected_frames
    }

    /// Bytes that were not part of any accepted frame (noise, rejected frames).
    pub fn skipped_bytes(&self) -> u64 {
        self.skipped_bytes
    }

    /// Feeds one byte; returns a frame when this byte completes a valid one.
    pub fn push(&mut self, byte: u8) -> Option<Frame> {
        let sync = sync_byte(self.protocol);
        if self.len == 0 && byte != sync {
            self.skipped_bytes += 1;
            return None;
        }
        self.buf[self.len] = byte;
        self.len += 1;
        let n = frame_len(self.protocol);
        if self.len < n {
            return None;
        }
        let f = &self.buf[..n];
        let valid = match self.protocol {
            Protocol::PelcoD => pelco_d_checksum(&f[1..6]) == f[6],
            Protocol::PelcoP => f[6] == PELCO_P_ETX && pelco_p_checksum(&f[..7]) == f[7],
        };
        if valid {
            self.len = 0;
            return Some(Frame {
                wire_address: f[1],
                body: Body {
                    command1: f[2],
                    command2: f[3],
                    data1: f[4],
                    data2: f[5],
                },
            });
        }
        self.rejected_frames += 1;
        // Resync: the next candidate starts at the next sync byte after this frame's first.
        let next = self.buf[1..n]
            .iter()
            .position(|b| *b == sync)
            .map(|i| i + 1);
        let drop = next.unwrap_or(n);
        self.buf.copy_within(drop..n, 0);
        self.len = n - drop;
        self.skipped_bytes += drop as u64;
        None
    }

    /// Feeds `bytes`, calling `on_frame` for every valid frame completed.
    pub fn push_all(&mut self, bytes: &[u8], mut on_frame: impl FnMut(Frame)) {
        for b in bytes {
            if let Some(frame) = self.push(*b) {
                on_frame(frame);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ptz::Direction::*;
    use crate::ptz::Protocol::{PelcoD, PelcoP};
    use crate::ptz::PtzCommand::*;

    fn bytes(protocol: Protocol, address: u8, command: PtzCommand) -> Vec<u8> {
        encode_command(protocol, address, command)
            .unwrap()
            .as_bytes()
            .to_vec()
    }

    fn mv(direction: Direction, speed: u8) -> PtzCommand {
        Move { direction, speed }
    }

    #[test]
    fn test_pelco_d_published_example_pan_right_0x20_matches() {
        // Published Pelco-D example: address 1, pan right at speed 0x20.
        assert_eq!(
            bytes(PelcoD, 1, mv(Right, 2)),
            [0xFF, 0x01, 0x00, 0x02, 0x20, 0x00, 0x23]
        );
    }

    #[test]
    fn test_pelco_d_every_command_address_1_exact_bytes() {
        let cases: [(PtzCommand, [u8; 7]); 11] = [
            (mv(Up, 2), [0xFF, 0x01, 0x00, 0x08, 0x00, 0x20, 0x29]),
            (mv(Down, 2), [0xFF, 0x01, 0x00, 0x10, 0x00, 0x20, 0x31]),
            (mv(Left, 2), [0xFF, 0x01, 0x00, 0x04, 0x20, 0x00, 0x25]),
            (mv(Right, 4), [0xFF, 0x01, 0x00, 0x02, 0x3F, 0x00, 0x42]),
            (mv(UpLeft, 0), [0xFF, 0x01, 0x00, 0x0C, 0x08, 0x08, 0x1D]),
            (mv(UpRight, 1), [0xFF, 0x01, 0x00, 0x0A, 0x14, 0x14, 0x33]),
            (mv(DownLeft, 3), [0xFF, 0x01, 0x00, 0x14, 0x2C, 0x2C, 0x6D]),
            (mv(DownRight, 4), [0xFF, 0x01, 0x00, 0x12, 0x3F, 0x3F, 0x91]),
            (Stop, [0xFF, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01]),
            (ZoomStop, [0xFF, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01]),
            (SetPreset(1), [0xFF, 0x01, 0x00, 0x03, 0x00, 0x01, 0x05]),
        ];
        for (command, expected) in cases {
            assert_eq!(bytes(PelcoD, 1, command), expected, "{command:?}");
        }
        assert_eq!(
            bytes(PelcoD, 1, CallPreset(1)),
            [0xFF, 0x01, 0x00, 0x07, 0x00, 0x01, 0x09]
        );
        assert_eq!(
            bytes(PelcoD, 1, ClearPreset(1)),
            [0xFF, 0x01, 0x00, 0x05, 0x00, 0x01, 0x07]
        );
    }

    #[test]
    fn test_pelco_d_zoom_sends_speed_then_zoom_bit() {
        assert_eq!(
            bytes(PelcoD, 1, ZoomIn { speed: 2 }),
            [
                0xFF, 0x01, 0x00, 0x25, 0x00, 0x03, 0x29, // zoom speed 3
                0xFF, 0x01, 0x00, 0x20, 0x00, 0x00, 0x21, // zoom tele
            ]
        );
        assert_eq!(
            bytes(PelcoD, 1, ZoomOut { speed: 0 }),
            [
                0xFF, 0x01, 0x00, 0x25, 0x00, 0x00, 0x26, // zoom speed 0
                0xFF, 0x01, 0x00, 0x40, 0x00, 0x00, 0x41, // zoom wide
            ]
        );
    }

    #[test]
    fn test_pelco_d_checksum_wraps_modulo_256() {
        // 0xC8 + 0x03 + 0xC8 = 0x193 -> 0x93.
        assert_eq!(
            bytes(PelcoD, 200, SetPreset(200)),
            [0xFF, 0xC8, 0x00, 0x03, 0x00, 0xC8, 0x93]
        );
        // 0xFF + 0x12 + 0x3F + 0x3F = 0x18F -> 0x8F.
        assert_eq!(
            bytes(PelcoD, 255, mv(DownRight, 4)),
            [0xFF, 0xFF, 0x00, 0x12, 0x3F, 0x3F, 0x8F]
        );
    }

    #[test]
    fn test_pelco_p_every_command_address_1_exact_bytes() {
        // Device 1 is 0x00 on the wire; checksum = XOR of the 7 bytes before it.
        let cases: [(PtzCommand, [u8; 8]); 13] = [
            (mv(Up, 2), [0xA0, 0x00, 0x00, 0x08, 0x00, 0x20, 0xAF, 0x27]),
            (
                mv(Down, 2),
                [0xA0, 0x00, 0x00, 0x10, 0x00, 0x20, 0xAF, 0x3F],
            ),
            (
                mv(Left, 2),
                [0xA0, 0x00, 0x00, 0x04, 0x20, 0x00, 0xAF, 0x2B],
            ),
            (
                mv(Right, 2),
                [0xA0, 0x00, 0x00, 0x02, 0x20, 0x00, 0xAF, 0x2D],
            ),
            (
                mv(UpLeft, 0),
                [0xA0, 0x00, 0x00, 0x0C, 0x08, 0x08, 0xAF, 0x03],
            ),
            (
                mv(UpRight, 1),
                [0xA0, 0x00, 0x00, 0x0A, 0x14, 0x14, 0xAF, 0x05],
            ),
            (
                mv(DownLeft, 3),
                [0xA0, 0x00, 0x00, 0x14, 0x2C, 0x2C, 0xAF, 0x1B],
            ),
            (
                mv(DownRight, 4),
                [0xA0, 0x00, 0x00, 0x12, 0x3F, 0x3F, 0xAF, 0x1D],
            ),
            (Stop, [0xA0, 0x00, 0x00, 0x00, 0x00, 0x00, 0xAF, 0x0F]),
            (ZoomStop, [0xA0, 0x00, 0x00, 0x00, 0x00, 0x00, 0xAF, 0x0F]),
            (
                SetPreset(1),
                [0xA0, 0x00, 0x00, 0x03, 0x00, 0x01, 0xAF, 0x0D],
            ),
            (
                ClearPreset(1),
                [0xA0, 0x00, 0x00, 0x05, 0x00, 0x01, 0xAF, 0x0B],
            ),
            (
                CallPreset(1),
                [0xA0, 0x00, 0x00, 0x07, 0x00, 0x01, 0xAF, 0x09],
            ),
        ];
        for (command, expected) in cases {
            assert_eq!(bytes(PelcoP, 1, command), expected, "{command:?}");
        }
    }

    #[test]
    fn test_pelco_p_zoom_and_address_5_exact_bytes() {
        assert_eq!(
            bytes(PelcoP, 5, ZoomIn { speed: 1 }),
            [
                0xA0, 0x04, 0x00, 0x25, 0x00, 0x02, 0xAF, 0x2C, // zoom speed 2
                0xA0, 0x04, 0x00, 0x20, 0x00, 0x00, 0xAF, 0x2B, // zoom tele
            ]
        );
        assert_eq!(
            bytes(PelcoP, 5, ZoomOut { speed: 2 }),
            [
                0xA0, 0x04, 0x00, 0x25, 0x00, 0x03, 0xAF, 0x2D, // zoom speed 3
                0xA0, 0x04, 0x00, 0x40, 0x00, 0x00, 0xAF, 0x4B, // zoom wide
            ]
        );
    }

    #[test]
    fn test_encode_zoom_stop_while_moving_keeps_move() {
        let mut state = MotionState::default();
        encode(PelcoD, 1, mv(Right, 2), &mut state).unwrap();
        let zoom = encode(PelcoD, 1, ZoomIn { speed: 0 }, &mut state).unwrap();
        // Speed frame, then pan right + zoom tele together.
        assert_eq!(
            &zoom.as_bytes()[7..],
            [0xFF, 0x01, 0x00, 0x22, 0x20, 0x00, 0x43]
        );
        let stop = encode(PelcoD, 1, ZoomStop, &mut state).unwrap();
        assert_eq!(stop.as_bytes(), [0xFF, 0x01, 0x00, 0x02, 0x20, 0x00, 0x23]);
        let stop = encode(PelcoD, 1, Stop, &mut state).unwrap();
        assert_eq!(stop.as_bytes(), [0xFF, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01]);
        assert_eq!(state, MotionState::default());
    }

    #[test]
    fn test_encode_out_of_range_values_rejected_state_unchanged() {
        let mut state = MotionState::default();
        encode(PelcoD, 1, mv(Left, 1), &mut state).unwrap();
        let before = state;
        for (protocol, address, command) in [
            (PelcoD, 1, mv(Up, 5)),
            (PelcoD, 1, ZoomIn { speed: 3 }),
            (PelcoD, 1, SetPreset(0)),
            (PelcoP, 1, CallPreset(0)),
            (PelcoD, 0, Stop),
            (PelcoP, 0, Stop),
        ] {
            let err = encode(protocol, address, command, &mut state).unwrap_err();
            assert_eq!(err.kind(), HalErrorKind::InvalidArgument, "{command:?}");
            assert_eq!(state, before);
        }
    }

    #[test]
    fn test_parser_round_trip_every_command_both_protocols() {
        let commands = [
            mv(Up, 0),
            mv(DownRight, 4),
            Stop,
            ZoomIn { speed: 1 },
            ZoomOut { speed: 2 },
            ZoomStop,
            SetPreset(16),
            CallPreset(16),
            ClearPreset(16),
        ];
        for protocol in [PelcoD, PelcoP] {
            let mut parser = Parser::new(protocol);
            let mut messages = Vec::new();
            for command in commands {
                parser.push_all(bytes(protocol, 7, command).as_slice(), |f| {
                    assert_eq!(f.wire_address, wire_address(protocol, 7).unwrap());
                    messages.push(f.body.message());
                });
            }
            let motion = |pan, tilt, zoom, pan_speed, tilt_speed| {
                Message::Motion(Motion {
                    pan,
                    tilt,
                    zoom,
                    pan_speed,
                    tilt_speed,
                })
            };
            assert_eq!(
                messages,
                [
                    motion(None, Some(Tilt::Up), None, 0, 0x08),
                    motion(Some(Pan::Right), Some(Tilt::Down), None, 0x3F, 0x3F),
                    motion(None, None, None, 0, 0),
                    Message::SetZoomSpeed(2),
                    motion(None, None, Some(Zoom::In), 0, 0),
                    Message::SetZoomSpeed(3),
                    motion(None, None, Some(Zoom::Out), 0, 0),
                    motion(None, None, None, 0, 0),
                    Message::SetPreset(16),
                    Message::CallPreset(16),
                    Message::ClearPreset(16),
                ],
                "{protocol:?}"
            );
            assert_eq!(parser.rejected_frames(), 0);
            assert_eq!(parser.skipped_bytes(), 0);
        }
    }

    #[test]
    fn test_parser_garbage_before_and_between_frames_resyncs() {
        let good = bytes(PelcoD, 1, mv(Right, 2));
        let mut stream = vec![0x00, 0x13, 0xFF, 0x42]; // noise, including a false sync
        stream.extend_from_slice(&good);
        stream.extend_from_slice(&[0xFF, 0x01, 0x00]); // a truncated frame
        stream.extend_from_slice(&good);
        let mut parser = Parser::new(PelcoD);
        let mut frames = Vec::new();
        parser.push_all(&stream, |f| frames.push(f));
        assert_eq!(frames.len(), 2);
        assert!(frames.iter().all(|f| f.body.message()
            == Message::Motion(Motion {
                pan: Some(Pan::Right),
                tilt: None,
                zoom: None,
                pan_speed: 0x20,
                tilt_speed: 0
            })));
        assert!(parser.rejected_frames() >= 1);
    }

    #[test]
    fn test_parser_bad_checksum_rejected_next_frame_accepted() {
        for protocol in [PelcoD, PelcoP] {
            let good = bytes(protocol, 3, SetPreset(9));
            let mut bad = good.clone();
            *bad.last_mut().unwrap() ^= 0x01;
            let mut parser = Parser::new(protocol);
            let mut frames = Vec::new();
            parser.push_all(&bad, |f| frames.push(f));
            assert!(frames.is_empty(), "{protocol:?}");
            assert_eq!(parser.rejected_frames(), 1);
            parser.push_all(&good, |f| frames.push(f));
            assert_eq!(frames.len(), 1, "{protocol:?}");
            assert_eq!(frames[0].body.message(), Message::SetPreset(9));
        }
    }

    #[test]
    fn test_parser_pelco_p_missing_etx_rejected() {
        let mut frame = bytes(PelcoP, 1, Stop);
        frame[6] = 0xAE;
        frame[7] = pelco_p_checksum(&frame[..7]);
        let mut parser = Parser::new(PelcoP);
        let mut count = 0;
        parser.push_all(&frame, |_| count += 1);
        assert_eq!(count, 0);
        assert_eq!(parser.rejected_frames(), 1);
    }

    #[test]
    fn test_parser_other_protocol_bytes_yield_nothing() {
        let mut parser = Parser::new(PelcoP);
        let mut count = 0;
        for command in [mv(Left, 1), Stop, SetPreset(3)] {
            parser.push_all(bytes(PelcoD, 1, command).as_slice(), |_| count += 1);
        }
        assert_eq!(count, 0);
    }

    #[test]
    fn test_body_contradictory_bits_is_other() {
        let body = Body {
            command1: 0,
            command2: BIT_PAN_LEFT | BIT_PAN_RIGHT,
            data1: 0x20,
            data2: 0,
        };
        assert_eq!(body.message(), Message::Other(body));
    }
}
