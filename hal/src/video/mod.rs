//! Video roles: the capture source ([`VideoSource`]), the JPEG [`Encoder`] and the H.264
//! encoder ([`h264::H264EncoderFactory`]).
//!
//! No V4L2 type appears here: backends translate between these plain types and their devices.
//!
//! Submodules hold the pure, device-independent picture work every backend and the daemon
//! share: [`convert`] (pixel-format conversion, mirror/flip), [`jpeg`] (the software JPEG
//! encoder), [`overlay`] (OSD text and privacy masks) and [`y4m`] (YUV4MPEG2 file reading).
//!
//! A capture loop in the daemon (one thread per stream):
//! 1. `source.configure(CaptureConfig { .. })` when the stream settings change;
//! 2. `let frame = source.next_frame(timeout)?` (I420, Gray8 or Mjpeg); on `Timeout` try again,
//!    on other errors back off briefly (the Linux backend reopens the device itself);
//! 3. if `set_control(Mirror/Flip, ..)` answered `NotSupported`, `convert::orient_frame`;
//! 4. for a planar frame, copy `frame.data` into a reused buffer, burn the OSD with
//!    `overlay::draw_text` on the luma plane and the masks with `overlay::black_rect`;
//! 5. `encoder.encode_jpeg(&frame, quality, &mut reused_vec)`, then share the bytes with
//!    every viewer (Mjpeg frames pass through unchanged).

pub mod convert;
pub mod encoded;
pub mod h264;
pub mod jpeg;
#[cfg(feature = "software-h264")]
pub mod openh264;
pub mod overlay;
pub mod y4m;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::HalResult;

/// Pixel layout of a [`Frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// 8-bit luma only.
    Gray8,
    /// Planar YUV 4:2:0: Y plane, then U, then V at half resolution.
    I420,
    /// Packed YUV 4:2:2 (Y0 U Y1 V).
    Yuyv,
    /// A complete JPEG image (devices that only deliver compressed frames).
    Mjpeg,
}

/// One captured picture. `data` is shared so one frame can feed the encoder, the motion
/// detector and every viewer without copies.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Layout of `data`.
    pub format: PixelFormat,
    /// The pixels (or the JPEG bytes for [`PixelFormat::Mjpeg`]).
    pub data: Arc<[u8]>,
    /// Frame counter from the source, increasing by one per captured frame.
    pub sequence: u64,
    /// When the frame was captured.
    pub captured: SystemTime,
}

impl Frame {
    /// The luma plane (first `width*height` bytes) of a planar frame, if the format has one.
    pub fn luma(&self) -> Option<&[u8]> {
        let len = (self.width as usize).checked_mul(self.height as usize)?;
        match self.format {
            PixelFormat::Gray8 | PixelFormat::I420 => self.data.get(..len),
            PixelFormat::Yuyv | PixelFormat::Mjpeg => None,
        }
    }
}

/// What the capture should deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureConfig {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
}

/// A picture control. Values are the guide's: 0..=100 for the image controls, 0/1 for mirror
/// and flip, 0 (60 Hz) / 1 (50 Hz) for the power-line frequency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageControl {
    /// Brightness 0..=100.
    Brightness,
    /// Contrast 0..=100.
    Contrast,
    /// Hue 0..=100.
    Hue,
    /// Saturation 0..=100.
    Saturation,
    /// Sharpness 0..=100.
    Sharpness,
    /// Horizontal mirror 0/1.
    Mirror,
    /// Vertical flip 0/1.
    Flip,
    /// Anti-flicker: 0 = 60 Hz, 1 = 50 Hz.
    PowerLineFrequency,
}

/// A capture device.
pub trait VideoSource: Send + Sync {
    /// Changes resolution and frame rate; takes effect for the next frame.
    fn configure(&self, config: CaptureConfig) -> HalResult<()>;
    /// The configuration in force.
    fn config(&self) -> CaptureConfig;
    /// Blocks until the next frame is available, or fails with `Timeout` after `timeout`.
    fn next_frame(&self, timeout: Duration) -> HalResult<Frame>;
    /// Applies a picture control. `NotSupported` when the device lacks it.
    fn set_control(&self, control: ImageControl, value: i32) -> HalResult<()>;
    /// Whether the source is delivering frames or recovering from a device failure.
    fn status(&self) -> SourceStatus {
        SourceStatus::Streaming
    }
}

/// Health of a [`VideoSource`], for status pages and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceStatus {
    /// Frames are flowing (or will on the next call).
    Streaming,
    /// The device failed; it is reopened with back-off on the next calls.
    Recovering {
        /// The failure that started the recovery.
        error: String,
        /// When the failure happened.
        since: SystemTime,
    },
}

/// A JPEG encoder.
pub trait Encoder: Send + Sync {
    /// Encodes `frame` at `quality` (1..=100) into `out` (cleared first). A frame that is
    /// already JPEG is copied through unchanged.
    fn encode_jpeg(&self, frame: &Frame, quality: u8, out: &mut Vec<u8>) -> HalResult<()>;
}
