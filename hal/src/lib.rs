//! Hardware abstraction for ipcamd.
//!
//! This crate owns every contact with camera hardware, expressed as one synchronous,
//! object-safe trait per hardware *role* (video source, encoder, IR LED, alarm input and
//! output, pan/tilt, clock, storage). It knows nothing about HTTP, tokio or SQLite.
//!
//! Backends:
//! - [`sim`]: the simulated board, always compiled, selected at run time by a board file;
//! - `linux` (feature `linux`): V4L2, GPIO character devices, serial ports, rtnetlink,
//!   wpa_supplicant, pppd and the system clock.
//!
//! [`Hal::open`] turns a [`board::BoardSpec`] into a [`Hal`] bundle. A role the board does not
//! have is `None`; the daemon answers commands that need it with "execute fail".
#![warn(missing_docs)]

pub mod board;
pub mod clock;
pub mod error;
pub mod gpio;
pub mod net;
pub mod ptz;
pub mod sim;
pub mod storage;
pub mod video;

use std::sync::Arc;

pub use error::{HalError, HalErrorKind, HalResult};

/// Every device of one board, by role.
#[derive(Clone)]
pub struct Hal {
    /// The board description this bundle was opened from.
    pub board: Arc<board::BoardSpec>,
    /// Camera sensor / capture device.
    pub video: Option<Arc<dyn video::VideoSource>>,
    /// JPEG encoder used for snapshots and MJPEG streams.
    pub encoder: Arc<dyn video::Encoder>,
    /// H.264 encoders for the main and sub streams (`None`: the board cannot make H.264).
    pub h264: Option<Arc<dyn video::h264::H264EncoderFactory>>,
    /// Infrared illuminator.
    pub ir_led: Option<Arc<dyn gpio::OutputLine>>,
    /// Infrared cut filter (day/night switch), switched together with the IR LED.
    pub ir_cut: Option<Arc<dyn gpio::OutputLine>>,
    /// Alarm input terminal.
    pub alarm_in: Option<Arc<dyn gpio::InputLine>>,
    /// Alarm output relay.
    pub alarm_out: Option<Arc<dyn gpio::OutputLine>>,
    /// Day/night light sensor.
    pub light_sensor: Option<Arc<dyn gpio::InputLine>>,
    /// Pan/tilt/zoom motor controller.
    pub ptz: Option<Arc<dyn ptz::PanTilt>>,
    /// Wall clock.
    pub clock: Arc<dyn clock::Clock>,
    /// Recording medium (SD card).
    pub storage: Option<Arc<dyn storage::Storage>>,
    /// The wired interface's IPv4 configuration.
    pub network: Option<Arc<dyn net::Network>>,
    /// The Wi-Fi radio.
    pub wifi: Option<Arc<dyn net::Wifi>>,
    /// The PPPoE dialler.
    pub pppoe: Option<Arc<dyn net::Pppoe>>,
    /// The simulated board's devices, for its observers (None on real hardware).
    pub sim: Option<sim::SimDevices>,
}

impl Hal {
    /// Opens every device the board file declares.
    ///
    /// `data_dir` is where the simulated board keeps files it needs (its SD card folder).
    pub fn open(board: board::BoardSpec, data_dir: &std::path::Path) -> HalResult<Hal> {
        let board = Arc::new(board);
        match board.board.backend {
            board::Backend::Sim => sim::open(board, data_dir),
            #[cfg(all(feature = "linux", target_os = "linux"))]
            board::Backend::Linux => linux::open(board, data_dir),
            #[cfg(not(all(feature = "linux", target_os = "linux")))]
            board::Backend::Linux => Err(HalError::new(
                HalErrorKind::NotSupported,
                "this build has no Linux device backends (build with --features linux)",
            )),
        }
    }

    /// The camera's MAC address as getDevInfo shows it: 12 upper-case hex digits, no
    /// separators. A Linux board reads its `identity.interface`'s own address; otherwise (or
    /// when that cannot be read) the board file's `identity.mac`; empty when neither is there.
    pub fn mac_address(&self) -> String {
        let id = &self.board.identity;
        #[cfg(all(feature = "linux", target_os = "linux"))]
        if self.board.board.backend == board::Backend::Linux {
            if let Some(mac) = id
                .interface
                .as_deref()
                .and_then(linux::identity::interface_mac)
            {
                return mac;
            }
        }
        board::compact_mac(id.mac.as_deref().unwrap_or(""))
    }
}

#[cfg(all(feature = "linux", target_os = "linux"))]
pub mod linux;
