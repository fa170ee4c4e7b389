//! Board files: what the hardware is (identity, capabilities, device paths, GPIO line names,
//! serial settings, hardware-dependent factory defaults). Never how the daemon behaves.
//!
//! Every table rejects unknown keys, so a typo fails loudly at start-up. See `board/README.md`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ptz::{Parity, Protocol};
use crate::{HalError, HalErrorKind, HalResult};

/// A parsed board file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardSpec {
    /// Which backend drives the devices.
    pub board: BoardInfo,
    /// Product identity (getProduct* and getDevInfo).
    pub identity: Identity,
    /// What the hardware has.
    pub capabilities: Capabilities,
    /// Capture and encoding.
    #[serde(default)]
    pub video: VideoSpec,
    /// GPIO lines by role.
    #[serde(default)]
    pub gpio: GpioSpec,
    /// Pan/tilt motor controller.
    #[serde(default)]
    pub ptz: Option<PtzSpec>,
    /// Recording medium.
    #[serde(default)]
    pub storage: Option<StorageSpec>,
    /// Hardware-dependent factory defaults.
    #[serde(default)]
    pub defaults: Defaults,
    /// RTSP server limits and port.
    #[serde(default)]
    pub rtsp: RtspSpec,
    /// Firmware upgrade: which images fit this board and the key they must be signed with.
    #[serde(default)]
    pub firmware: Option<FirmwareSpec>,
    /// Network interfaces and tools.
    #[serde(default)]
    pub network: crate::net::spec::NetworkSpec,
    /// Directory of the board file, for resolving relative paths (not a key of the file).
    #[serde(skip)]
    pub dir: PathBuf,
}

/// `[board]`: name and backend.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardInfo {
    /// Human-readable board name.
    pub name: String,
    /// Device backend.
    pub backend: Backend,
    /// Expected `/proc/device-tree/compatible` entry, checked at start-up when set.
    #[serde(default)]
    pub compatible: Option<String>,
}

/// Device backend of a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The simulated board.
    Sim,
    /// Linux devices (V4L2, GPIO character devices, serial).
    Linux,
}

/// `[identity]`: fields of getProductAllInfo and getDevInfo.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// getProductModel `model` (integer).
    pub model: u32,
    /// getProductModelName.
    pub model_name: String,
    /// getDevInfo productName.
    pub product_name: String,
    /// getProductLanguage (0 = English in the stock firmware).
    #[serde(default)]
    pub language: u32,
    /// getProductSensorType.
    #[serde(default)]
    pub sensor_type: u32,
    /// getProductWifiType.
    #[serde(default)]
    pub wifi_type: u32,
    /// getDevInfo hardwareVer.
    pub hardware_version: String,
    /// getDevInfo serialNo; when absent, derived from the MAC address.
    #[serde(default)]
    pub serial_number: Option<String>,
    /// Network interface whose MAC address getDevInfo reports (real boards).
    #[serde(default)]
    pub interface: Option<String>,
    /// Fixed MAC address (simulated board, or boards without a readable interface).
    #[serde(default)]
    pub mac: Option<String>,
    /// getP2PInfo uid.
    #[serde(default)]
    pub p2p_uid: Option<String>,
}

/// `[capabilities]`: the getProduct*Flag values, and setup mode.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// SD card slot.
    #[serde(default)]
    pub sd: bool,
    /// Outdoor housing.
    #[serde(default)]
    pub outdoor: bool,
    /// Pan/tilt motor.
    #[serde(default)]
    pub pan_tilt: bool,
    /// Zoom lens.
    #[serde(default)]
    pub zoom: bool,
    /// RS485 port.
    #[serde(default)]
    pub rs485: bool,
    /// Alarm input/output terminals.
    #[serde(default)]
    pub io_alarm: bool,
    /// ONVIF server.
    #[serde(default)]
    pub onvif: bool,
    /// P2P cloud service.
    #[serde(default)]
    pub p2p: bool,
    /// Wi-Fi WPS button.
    #[serde(default)]
    pub wps: bool,
    /// Microphone.
    #[serde(default)]
    pub audio: bool,
    /// Speaker (two-way talk).
    #[serde(default)]
    pub talk: bool,
    /// Wi-Fi radio.
    #[serde(default)]
    pub wifi: bool,
    /// Until the admin password is set, only the commands needed to set it work.
    #[serde(default)]
    pub setup_mode: bool,
}

/// `[video]`: capture device and encoder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoSpec {
    /// V4L2 capture device (linux backend).
    #[serde(default)]
    pub device: Option<PathBuf>,
    /// V4L2 memory-to-memory JPEG encoder, when the SoC has one (linux backend).
    #[serde(default)]
    pub jpeg_encoder: Option<PathBuf>,
    /// V4L2 memory-to-memory stateful H.264 encoder (linux backend); without it the software
    /// encoder makes H.264 (when the build has it).
    #[serde(default)]
    pub h264_encoder: Option<PathBuf>,
    /// Simulated board: a YUV4MPEG2 file played in a loop instead of the synthetic scene.
    /// Relative paths are relative to the board file.
    #[serde(default)]
    pub scene: Option<PathBuf>,
    /// Largest capture width the sensor delivers.
    #[serde(default = "default_max_width")]
    pub max_width: u32,
    /// Largest capture height the sensor delivers.
    #[serde(default = "default_max_height")]
    pub max_height: u32,
    /// The lens's barrel distortion as the radial coefficient k that straightens it
    /// (a source pixel at normalised radius r is taken from r·(1 + k·r²); 1 = half the
    /// diagonal). setRatio's rank scales it: High (0-150) corrects fully, Middle (151-430)
    /// 60 %, Low (431-511) 30 %. 0 (the default): a rectilinear lens or a sensor that
    /// corrects it itself; nothing is done in software.
    #[serde(default)]
    pub lens_distortion: f32,
}

impl Default for VideoSpec {
    /// A board file without `[video]` gets the same values as an empty `[video]` table.
    fn default() -> Self {
        VideoSpec {
            device: None,
            jpeg_encoder: None,
            h264_encoder: None,
            scene: None,
            max_width: default_max_width(),
            max_height: default_max_height(),
            lens_distortion: 0.0,
        }
    }
}

fn default_max_width() -> u32 {
    1280
}
fn default_max_height() -> u32 {
    720
}

/// One GPIO line, found by its name on a chip.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineSpec {
    /// gpiochip device name or path (`gpiochip0` or `/dev/gpiochip0`).
    #[serde(default)]
    pub chip: Option<String>,
    /// The line's name (gpio-line-names in the device tree).
    pub line: String,
    /// The line is active when electrically low.
    #[serde(default)]
    pub active_low: bool,
}

/// `[gpio]`: lines by role.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpioSpec {
    /// Infrared LED.
    #[serde(default)]
    pub ir_led: Option<LineSpec>,
    /// Infrared cut filter.
    #[serde(default)]
    pub ir_cut: Option<LineSpec>,
    /// Alarm input.
    #[serde(default)]
    pub alarm_in: Option<LineSpec>,
    /// Alarm output.
    #[serde(default)]
    pub alarm_out: Option<LineSpec>,
    /// Light sensor (active = dark).
    #[serde(default)]
    pub light_sensor: Option<LineSpec>,
    /// Simulated board: a Unix socket through which people and tests drive the simulated
    /// inputs and read the outputs. Relative paths are relative to the data directory.
    #[serde(default)]
    pub control_socket: Option<PathBuf>,
}

/// `[ptz]`: the motor controller's serial port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PtzSpec {
    /// Serial device. On the simulated board, absent means the built-in simulated motor.
    #[serde(default)]
    pub port: Option<PathBuf>,
    /// Factory protocol.
    #[serde(default = "default_protocol")]
    pub protocol: Protocol,
    /// Factory device address.
    #[serde(default = "default_address")]
    pub address: u8,
    /// Factory baud rate.
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// Factory data bits.
    #[serde(default = "default_data_bits")]
    pub data_bits: u8,
    /// Factory stop bits.
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
    /// Factory parity.
    #[serde(default = "default_parity")]
    pub parity: Parity,
}

impl PtzSpec {
    /// The factory line settings this `[ptz]` table declares.
    pub fn serial_settings(&self) -> crate::ptz::SerialSettings {
        crate::ptz::SerialSettings {
            protocol: self.protocol,
            address: self.address,
            baud: self.baud,
            data_bits: self.data_bits,
            stop_bits: self.stop_bits,
            parity: self.parity,
        }
    }
}

fn default_protocol() -> Protocol {
    Protocol::PelcoD
}
fn default_address() -> u8 {
    1
}
fn default_baud() -> u32 {
    9600
}
fn default_data_bits() -> u8 {
    8
}
fn default_stop_bits() -> u8 {
    1
}
fn default_parity() -> Parity {
    Parity::None
}

/// `[rtsp]`: the RTSP server's port and limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtspSpec {
    /// A port of RTSP's own (e.g. 554). Without it RTSP answers on the media port, which
    /// Foscam firmware shares with the web port (88): the listener tells them apart.
    #[serde(default)]
    pub port: Option<u16>,
    /// Most simultaneous RTSP sessions.
    #[serde(default = "default_rtsp_sessions")]
    pub max_sessions: usize,
    /// Encoded frames queued per session before a slow viewer skips to the next key frame.
    #[serde(default = "default_rtsp_queue")]
    pub queue_frames: usize,
    /// Whether RTSP takes Basic credentials (the password in clear on the wire) beside
    /// Digest, which it always offers. Off: Digest only.
    #[serde(default = "default_true")]
    pub basic_auth: bool,
}

impl Default for RtspSpec {
    fn default() -> Self {
        RtspSpec {
            port: None,
            max_sessions: default_rtsp_sessions(),
            queue_frames: default_rtsp_queue(),
            basic_auth: true,
        }
    }
}

fn default_rtsp_sessions() -> usize {
    8
}
fn default_rtsp_queue() -> usize {
    30
}
fn default_true() -> bool {
    true
}

/// `[storage]`: the recording medium.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSpec {
    /// Mount point of the SD card. On the simulated board, relative to the data directory.
    pub path: PathBuf,
    /// Simulated board only: the card's size in MiB (absent: the host file system's size), so
    /// a full card can be tested.
    #[serde(default)]
    pub capacity_mb: Option<u64>,
    /// Longest recording segment in seconds (absent: 300). Short segments let tests see
    /// several files; longer ones mean fewer index rows.
    #[serde(default)]
    pub segment_secs: Option<u32>,
}

/// `[firmware]`: what a firmware image must declare and be signed with to be installed here.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirmwareSpec {
    /// Board compatibility id; an image installs only if its header lists this id.
    pub board_id: String,
    /// Ed25519 public key file (64 hex digits) that images must be signed with. Relative paths
    /// are relative to the board file. The `IPCAMD_FW_PUBKEY` environment variable (a path)
    /// overrides it.
    #[serde(default)]
    pub public_key: Option<PathBuf>,
}

/// `[defaults]`: factory defaults that depend on the hardware.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// HTTP port (getPortInfo webPort).
    #[serde(default = "default_web_port")]
    pub web_port: u16,
    /// HTTPS port.
    #[serde(default = "default_https_port")]
    pub https_port: u16,
    /// Media port.
    #[serde(default = "default_web_port")]
    pub media_port: u16,
    /// ONVIF port.
    #[serde(default = "default_onvif_port")]
    pub onvif_port: u16,
    /// Address the HTTP server binds.
    #[serde(default = "default_bind")]
    pub bind_address: String,
    /// Device name.
    #[serde(default = "default_dev_name")]
    pub dev_name: String,
    /// Mains frequency: 50 or 60 Hz.
    #[serde(default = "default_mains_hz")]
    pub mains_hz: u32,
    /// Main stream resolution index (guide: 0 = 720P, 1 = VGA 640x480, 2 = VGA 640x360...).
    #[serde(default)]
    pub main_resolution: u32,
    /// IR LED mode: 0 auto, 1 manual.
    #[serde(default)]
    pub ir_mode: u32,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            web_port: default_web_port(),
            https_port: default_https_port(),
            media_port: default_web_port(),
            onvif_port: default_onvif_port(),
            bind_address: default_bind(),
            dev_name: default_dev_name(),
            mains_hz: default_mains_hz(),
            main_resolution: 0,
            ir_mode: 0,
        }
    }
}

fn default_web_port() -> u16 {
    88
}
fn default_https_port() -> u16 {
    443
}
fn default_onvif_port() -> u16 {
    888
}
fn default_bind() -> String {
    "0.0.0.0".into()
}
fn default_dev_name() -> String {
    "IPCam".into()
}
fn default_mains_hz() -> u32 {
    50
}

impl BoardSpec {
    /// Reads, parses and validates a board file.
    pub fn load(path: &Path) -> HalResult<BoardSpec> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| HalError::io(format!("reading board file {}", path.display()), e))?;
        let mut spec = BoardSpec::parse(&text)?;
        spec.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(spec)
    }

    /// Parses and validates board-file text.
    pub fn parse(text: &str) -> HalResult<BoardSpec> {
        let invalid = |e: toml::de::Error| {
            HalError::new(
                HalErrorKind::InvalidArgument,
                format!("board file: {}", e.message()),
            )
        };
        // Parsed into a table first, then the structs are read from the table: one
        // instantiation of the TOML parser's deserialiser instead of one per board-file
        // struct (about 170 KiB of ARM code otherwise; cross/README.md, "Where the bytes go").
        let table: toml::Table = toml::from_str(text).map_err(invalid)?;
        let spec: BoardSpec = toml::Value::Table(table).try_into().map_err(invalid)?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks rules the types cannot express.
    pub fn validate(&self) -> HalResult<()> {
        let invalid = |what: &str| Err(HalError::new(HalErrorKind::InvalidArgument, what));
        if self.capabilities.pan_tilt && self.ptz.is_none() {
            return invalid("board file: capabilities.pan_tilt needs a [ptz] table");
        }
        if self.board.backend == Backend::Linux {
            if self.video.device.is_none() {
                return invalid("board file: a linux board needs video.device");
            }
            if self.ptz.as_ref().is_some_and(|p| p.port.is_none()) {
                return invalid("board file: a linux board's [ptz] needs a port");
            }
        }
        if let Some(fw) = &self.firmware {
            let id_ok = !fw.board_id.is_empty()
                && fw
                    .board_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !id_ok {
                return invalid("board file: firmware.board_id must be [A-Za-z0-9._-]+");
            }
        }
        if ![50, 60].contains(&self.defaults.mains_hz) {
            return invalid("board file: defaults.mains_hz must be 50 or 60");
        }
        let lines: Vec<&LineSpec> = [
            &self.gpio.ir_led,
            &self.gpio.ir_cut,
            &self.gpio.alarm_in,
            &self.gpio.alarm_out,
            &self.gpio.light_sensor,
        ]
        .into_iter()
        .flatten()
        .collect();
        for (i, a) in lines.iter().enumerate() {
            if lines[i + 1..]
                .iter()
                .any(|b| b.line == a.line && b.chip == a.chip)
            {
                return invalid("board file: a GPIO line is used for two roles");
            }
        }
        Ok(())
    }

    /// A path from the board file, resolved against the board file's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir.join(path)
        }
    }
}

/// A MAC address as getDevInfo writes it: upper case, without `:` or `-` separators.
pub fn compact_mac(text: &str) -> String {
    text.trim()
        .chars()
        .filter(|c| !matches!(c, ':' | '-'))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}
