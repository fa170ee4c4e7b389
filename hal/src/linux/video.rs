//! V4L2 capture backend ([`V4l2Video`]) on the `v4l` crate: opens the board's capture node,
//! negotiates a pixel format (I420, YUYV, NV12, GREY, or MJPEG when that is all the device
//! offers), size and frame rate, streams through mmap buffers, and hands the daemon I420,
//! Gray8 or MJPEG frames (YUYV and NV12 are converted). Image controls map onto the
//! device's V4L2 controls, scaled from the guide's 0..=100 onto each control's range; a
//! control the device lacks answers `NotSupported` (the daemon then mirrors/flips in software
//! with [`crate::video::convert::orient_frame`]). A device that fails or disappears is
//! reopened with back-off on the following calls, logged once per outage.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use v4l::buffer::Type as BufferType;
use v4l::control::{Control, Value};
use v4l::io::mmap::Stream;
use v4l::io::traits::{CaptureStream, Stream as _};
use v4l::video::Capture;
use v4l::video::capture::Parameters;
use v4l::{Device, Format, FourCC};

use crate::board::BoardSpec;
use crate::video::convert::{self, i420_len};
use crate::video::{
    CaptureConfig, Encoder, Frame, ImageControl, PixelFormat, SourceStatus, VideoSource,
};
use crate::{HalError, HalErrorKind, HalResult};

/// mmap buffers requested from the driver.
const BUFFER_COUNT: u32 = 4;
/// First wait before reopening a failed device; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A streaming device that delivers nothing for this long is treated as failed and reopened.
const STALL_LIMIT: Duration = Duration::from_secs(5);

// V4L2 user-class control ids (linux/v4l2-controls.h).
const CID_BRIGHTNESS: u32 = 0x0098_0900;
const CID_CONTRAST: u32 = 0x0098_0901;
const CID_SATURATION: u32 = 0x0098_0902;
const CID_HUE: u32 = 0x0098_0903;
const CID_HFLIP: u32 = 0x0098_0914;
const CID_VFLIP: u32 = 0x0098_0915;
const CID_POWER_LINE_FREQUENCY: u32 = 0x0098_0918;
const CID_SHARPNESS: u32 = 0x0098_091b;
// V4L2_CID_POWER_LINE_FREQUENCY menu entries.
const POWER_LINE_50HZ: i64 = 1;
const POWER_LINE_60HZ: i64 = 2;
// v4l2_query_ext_ctrl flags that make a control unusable.
const CTRL_FLAG_DISABLED: u32 = 0x0001;
const CTRL_FLAG_READ_ONLY: u32 = 0x0004;

/// Pixel formats this backend takes from a device, in order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WireFormat {
    I420,
    Yuyv,
    Nv12,
    Grey,
    Mjpeg,
}

impl WireFormat {
    const PREFERENCE: [WireFormat; 5] = [
        WireFormat::I420,
        WireFormat::Yuyv,
        WireFormat::Nv12,
        WireFormat::Grey,
        WireFormat::Mjpeg,
    ];

    fn fourcc(self) -> FourCC {
        FourCC::new(match self {
            WireFormat::I420 => b"YU12",
            WireFormat::Yuyv => b"YUYV",
            WireFormat::Nv12 => b"NV12",
            WireFormat::Grey => b"GREY",
            WireFormat::Mjpeg => b"MJPG",
        })
    }

    /// Bytes per pixel of the first plane, for the minimum row stride.
    fn luma_bytes(self) -> u32 {
        match self {
            WireFormat::Yuyv => 2,
            _ => 1,
        }
    }

    /// What the daemon receives.
    fn delivered(self) -> PixelFormat {
        match self {
            WireFormat::I420 | WireFormat::Yuyv | WireFormat::Nv12 => PixelFormat::I420,
            WireFormat::Grey => PixelFormat::Gray8,
            WireFormat::Mjpeg => PixelFormat::Mjpeg,
        }
    }
}

/// An open, streaming device. Field order matters: the stream is dropped before the device.
struct Session {
    stream: Stream<'static>,
    _device: Device,
    geometry: Geometry,
}

/// What the driver agreed to deliver.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    wire: WireFormat,
    width: u32,
    height: u32,
    /// Bytes per row of the first plane.
    stride: u32,
}

struct CaptureState {
    config: CaptureConfig,
    /// `configure` was called since the session was opened.
    reconfigure: bool,
    session: Option<Session>,
    sequence: u64,
    /// While recovering: when the next reopen may be tried, and the wait after that.
    retry_at: Option<Instant>,
    backoff: Duration,
    /// Since when dequeues have only timed out.
    stalled_since: Option<Instant>,
    /// Converted picture, reused across frames.
    scratch: Vec<u8>,
}

/// A control's range on the device.
#[derive(Debug, Clone, Copy)]
struct ControlRange {
    id: u32,
    minimum: i64,
    maximum: i64,
    step: u64,
}

struct ControlState {
    /// A second handle on the node, so controls never wait behind a blocking dequeue.
    device: Option<Device>,
    /// Guide values set so far, re-applied after the device is reopened.
    wanted: Vec<(ImageControl, i32)>,
}

/// A V4L2 capture device.
pub struct V4l2Video {
    path: PathBuf,
    capture: Mutex<CaptureState>,
    controls: Mutex<ControlState>,
    status: Mutex<SourceStatus>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Opens the board's capture device.
pub fn open(board: &BoardSpec) -> HalResult<Arc<dyn VideoSource>> {
    let path = board.video.device.as_ref().ok_or_else(|| {
        HalError::new(
            HalErrorKind::InvalidArgument,
            "board file: video.device is not set",
        )
    })?;
    let video = V4l2Video::open(&board.resolve(path), board)?;
    Ok(Arc::new(video))
}

/// The board's JPEG encoder: the V4L2 memory-to-memory one when the board file names it
/// ([`super::m2m_jpeg`], with the software encoder for what it cannot take), else the
/// software encoder. A named device that is missing or does not code JPEG is logged and the
/// software encoder does the work: the camera keeps its snapshots.
pub fn encoder(board: &BoardSpec) -> HalResult<Arc<dyn Encoder>> {
    if let Some(m2m) = &board.video.jpeg_encoder {
        let path = board.resolve(m2m);
        match super::m2m_jpeg::M2mJpegEncoder::new(&path) {
            Ok(encoder) => {
                tracing::info!(device = %path.display(), "JPEG from the V4L2 memory-to-memory encoder");
                return Ok(Arc::new(encoder));
            }
            Err(err) => tracing::warn!(
                device = %path.display(),
                %err,
                "the board's JPEG encoder cannot be used; using the software encoder"
            ),
        }
    }
    Ok(Arc::new(crate::video::jpeg::SoftwareJpegEncoder))
}

impl V4l2Video {
    /// Opens `path` and checks it can capture; streaming starts on the first `next_frame`.
    /// The initial size is VGA at 15 fps, within the board's maximum.
    pub fn open(path: &Path, board: &BoardSpec) -> HalResult<V4l2Video> {
        let device = Device::with_path(path)
            .map_err(|e| HalError::io(format!("opening {}", path.display()), e))?;
        let caps = device
            .query_caps()
            .map_err(|e| HalError::io(format!("querying {}", path.display()), e))?;
        if !caps
            .capabilities
            .contains(v4l::capability::Flags::VIDEO_CAPTURE | v4l::capability::Flags::STREAMING)
        {
            return Err(HalError::new(
                HalErrorKind::NotSupported,
                format!(
                    "{} ({}) is not a streaming capture device",
                    path.display(),
                    caps.card
                ),
            ));
        }
        Ok(V4l2Video {
            path: path.to_path_buf(),
            capture: Mutex::new(CaptureState {
                config: CaptureConfig {
                    width: 640.min(board.video.max_width),
                    height: 480.min(board.video.max_height),
                    fps: 15,
                },
                reconfigure: false,
                session: None,
                sequence: 0,
                retry_at: None,
                backoff: FIRST_BACKOFF,
                stalled_since: None,
                scratch: Vec::new(),
            }),
            controls: Mutex::new(ControlState {
                device: Some(device),
                wanted: Vec::new(),
            }),
            status: Mutex::new(SourceStatus::Streaming),
        })
    }

    /// Opens the node, negotiates the format and starts streaming.
    fn start_session(&self, config: CaptureConfig) -> HalResult<Session> {
        let context = |what: &str| format!("{} {what}", self.path.display());
        let device = Device::with_path(&self.path).map_err(|e| HalError::io(context("open"), e))?;
        let offered: Vec<FourCC> = device
            .enum_formats()
            .map_err(|e| HalError::io(context("format list"), e))?
            .into_iter()
            .map(|d| d.fourcc)
            .collect();
        let wire = WireFormat::PREFERENCE
            .into_iter()
            .find(|w| offered.contains(&w.fourcc()))
            .ok_or_else(|| {
                HalError::new(
                    HalErrorKind::NotSupported,
                    format!(
                        "{}: none of YU12, YUYV, NV12, GREY, MJPG offered ({offered:?})",
                        self.path.display()
                    ),
                )
            })?;
        let format = device
            .set_format(&Format::new(config.width, config.height, wire.fourcc()))
            .map_err(|e| HalError::io(context("set format"), e))?;
        if format.fourcc != wire.fourcc() {
            return Err(HalError::new(
                HalErrorKind::NotSupported,
                format!(
                    "{}: asked for {:?}, driver chose {:?}",
                    self.path.display(),
                    wire.fourcc(),
                    format.fourcc
                ),
            ));
        }
        if let Err(e) = device.set_params(&Parameters::with_fps(config.fps.max(1))) {
            // Some drivers have a fixed rate; frames then come at that rate.
            tracing::debug!(device = %self.path.display(), error = %e, "frame rate not settable");
        }
        let mut stream = Stream::with_buffers(&device, BufferType::VideoCapture, BUFFER_COUNT)
            .map_err(|e| HalError::io(context("mmap buffers"), e))?;
        stream
            .start()
            .map_err(|e| HalError::io(context("stream on"), e))?;
        Ok(Session {
            stream,
            _device: device,
            geometry: Geometry {
                wire,
                width: format.width,
                height: format.height,
                stride: format.stride.max(format.width * wire.luma_bytes()),
            },
        })
    }

    /// Stops and releases a session. The `v4l` crate panics when stopping or unmapping fails
    /// on drop (other than for an unplugged device), so a session that will not stop cleanly
    /// is leaked instead (bounded by the back-off; logged).
    fn end_session(&self, mut session: Session) {
        match session.stream.stop() {
            Err(e) if e.raw_os_error() != Some(nix::libc::ENODEV) => {
                tracing::warn!(device = %self.path.display(), error = %e,
                    "capture stream would not stop; leaking its buffers");
                std::mem::forget(session);
            }
            _ => drop(session),
        }
    }

    fn set_status(&self, status: SourceStatus) {
        *lock(&self.status) = status;
    }

    /// Records a failure: tears the session down and schedules the reopen.
    fn fail(&self, state: &mut CaptureState, error: &HalError) {
        if let Some(session) = state.session.take() {
            self.end_session(session);
        }
        let first = state.retry_at.is_none();
        if first {
            tracing::warn!(device = %self.path.display(), %error,
                "capture failed; reopening with back-off");
            self.set_status(SourceStatus::Recovering {
                error: error.to_string(),
                since: SystemTime::now(),
            });
            state.backoff = FIRST_BACKOFF;
        } else {
            state.backoff = (state.backoff * 2).min(MAX_BACKOFF);
        }
        state.retry_at = Some(Instant::now() + state.backoff);
        // Controls go through a handle of their own; after a failure it is reopened too.
        lock(&self.controls).device = None;
    }

    /// Makes sure a session is streaming, reopening (after the back-off) if needed.
    fn ensure_session(&self, state: &mut CaptureState, timeout: Duration) -> HalResult<()> {
        if state.reconfigure {
            state.reconfigure = false;
            if let Some(session) = state.session.take() {
                self.end_session(session);
            }
        }
        if state.session.is_some() {
            return Ok(());
        }
        if let Some(retry_at) = state.retry_at {
            let wait = retry_at.saturating_duration_since(Instant::now());
            if wait > timeout {
                std::thread::sleep(timeout);
                return Err(HalError::new(
                    HalErrorKind::Disconnected,
                    format!("{} is being reopened", self.path.display()),
                ));
            }
            std::thread::sleep(wait);
        }
        match self.start_session(state.config) {
            Ok(session) => {
                state.config.width = session.geometry.width;
                state.config.height = session.geometry.height;
                state.session = Some(session);
                if state.retry_at.take().is_some() {
                    tracing::info!(device = %self.path.display(), "capture recovered");
                    self.reapply_controls();
                }
                self.set_status(SourceStatus::Streaming);
                Ok(())
            }
            Err(error) => {
                self.fail(state, &error);
                Err(error)
            }
        }
    }

    /// Sets every control chosen so far again (a reopened device starts from its defaults).
    fn reapply_controls(&self) {
        let wanted = lock(&self.controls).wanted.clone();
        for (control, value) in wanted {
            if let Err(e) = self.set_control(control, value) {
                tracing::warn!(?control, value, error = %e, "control not re-applied");
            }
        }
    }

    /// Copies or converts the dequeued buffer into a frame the daemon can use.
    fn build_frame(
        session: Geometry,
        scratch: &mut Vec<u8>,
        bytes: &[u8],
        sequence: u64,
    ) -> HalResult<Frame> {
        let (w, h, stride) = (
            session.width as usize,
            session.height as usize,
            session.stride as usize,
        );
        let data: Arc<[u8]> = match session.wire {
            WireFormat::Mjpeg => Arc::from(bytes),
            WireFormat::I420 if stride == w => Arc::from(
                bytes
                    .get(..i420_len(w, h))
                    .ok_or_else(|| short_buffer(bytes.len()))?,
            ),
            WireFormat::I420 => {
                // Padded rows: chroma rows are stride/2 wide.
                scratch.resize(i420_len(w, h), 0);
                let (cw, ch) = convert::i420_chroma_size(w, h);
                let cstride = stride / 2;
                let (y, rest) = scratch.split_at_mut(w * h);
                let (u, v) = rest.split_at_mut(cw * ch);
                let src_u = stride * h;
                let src_v = src_u + cstride * ch;
                convert::copy_plane(bytes, stride, w, h, y)?;
                convert::copy_plane(bytes.get(src_u..).unwrap_or(&[]), cstride, cw, ch, u)?;
                convert::copy_plane(bytes.get(src_v..).unwrap_or(&[]), cstride, cw, ch, v)?;
                Arc::from(&scratch[..])
            }
            WireFormat::Yuyv => {
                scratch.resize(i420_len(w, h), 0);
                convert::yuyv_to_i420(bytes, stride, w, h, scratch)?;
                Arc::from(&scratch[..])
            }
            WireFormat::Nv12 => {
                scratch.resize(i420_len(w, h), 0);
                convert::nv12_to_i420(bytes, stride, w, h, scratch)?;
                Arc::from(&scratch[..])
            }
            WireFormat::Grey if stride == w => Arc::from(
                bytes
                    .get(..w * h)
                    .ok_or_else(|| short_buffer(bytes.len()))?,
            ),
            WireFormat::Grey => {
                scratch.resize(w * h, 0);
                convert::copy_plane(bytes, stride, w, h, scratch)?;
                Arc::from(&scratch[..])
            }
        };
        Ok(Frame {
            width: session.width,
            height: session.height,
            format: session.wire.delivered(),
            data,
            sequence,
            captured: SystemTime::now(),
        })
    }

    /// The device's range for `control`, or `NotSupported`.
    fn control_range(device: &Device, control: ImageControl) -> HalResult<ControlRange> {
        let id = control_id(control);
        let range = query_control(device, id).map_err(|e| {
            if e.raw_os_error() == Some(nix::libc::EINVAL) {
                HalError::new(
                    HalErrorKind::NotSupported,
                    format!("the capture device has no {control:?} control"),
                )
            } else {
                HalError::io(format!("querying the {control:?} control"), e)
            }
        })?;
        Ok(range)
    }
}

fn short_buffer(len: usize) -> HalError {
    HalError::new(
        HalErrorKind::Io,
        format!("capture buffer of {len} bytes is shorter than the picture"),
    )
}

fn control_id(control: ImageControl) -> u32 {
    match control {
        ImageControl::Brightness => CID_BRIGHTNESS,
        ImageControl::Contrast => CID_CONTRAST,
        ImageControl::Hue => CID_HUE,
        ImageControl::Saturation => CID_SATURATION,
        ImageControl::Sharpness => CID_SHARPNESS,
        ImageControl::Mirror => CID_HFLIP,
        ImageControl::Flip => CID_VFLIP,
        ImageControl::PowerLineFrequency => CID_POWER_LINE_FREQUENCY,
    }
}

/// The V4L2 value for a guide value: 0..=100 spread over the control's range (rounded to its
/// step), 0/1 for the flips, and the 50/60 Hz menu entries for the power-line frequency.
fn device_value(control: ImageControl, value: i32, range: &ControlRange) -> HalResult<i64> {
    let invalid = |allowed: &str| {
        Err(HalError::new(
            HalErrorKind::InvalidArgument,
            format!("{control:?} value {value} outside {allowed}"),
        ))
    };
    match control {
        ImageControl::Mirror | ImageControl::Flip => match value {
            0 | 1 => Ok(i64::from(value)),
            _ => invalid("0..=1"),
        },
        ImageControl::PowerLineFrequency => {
            let menu = match value {
                0 => POWER_LINE_60HZ,
                1 => POWER_LINE_50HZ,
                _ => return invalid("0..=1"),
            };
            if !(range.minimum..=range.maximum).contains(&menu) {
                return Err(HalError::new(
                    HalErrorKind::NotSupported,
                    format!("the capture device's power-line control lacks menu entry {menu}"),
                ));
            }
            Ok(menu)
        }
        _ if !(0..=100).contains(&value) => invalid("0..=100"),
        _ => {
            let span = range.maximum.saturating_sub(range.minimum);
            let raw = range.minimum + (span * i64::from(value) + 50) / 100;
            let step = i64::try_from(range.step.max(1)).unwrap_or(1);
            let snapped = range.minimum + (raw - range.minimum + step / 2) / step * step;
            Ok(snapped.clamp(range.minimum, range.maximum))
        }
    }
}

/// VIDIOC_QUERY_EXT_CTRL for one control id. The `v4l` crate only offers a whole-device
/// enumeration that panics on control types it does not know (compound controls of newer
/// kernels), which would abort the daemon, so the one query we need is done here.
#[allow(unsafe_code)]
fn query_control(device: &Device, id: u32) -> io::Result<ControlRange> {
    use v4l::v4l_sys::v4l2_query_ext_ctrl;
    // SAFETY: v4l2_query_ext_ctrl is a plain C struct of integers and byte arrays, for which
    // all-zero is a valid value.
    let mut query: v4l2_query_ext_ctrl = unsafe { std::mem::zeroed() };
    query.id = id;
    // SAFETY: the fd belongs to `device` and stays open for the call; the pointer is to a
    // live, writable v4l2_query_ext_ctrl, which is what VIDIOC_QUERY_EXT_CTRL reads/writes.
    unsafe {
        v4l::v4l2::ioctl(
            device.handle().fd(),
            v4l::v4l2::vidioc::VIDIOC_QUERY_EXT_CTRL,
            &mut query as *mut v4l2_query_ext_ctrl as *mut std::os::raw::c_void,
        )?;
    }
    if query.id != id || query.flags & (CTRL_FLAG_DISABLED | CTRL_FLAG_READ_ONLY) != 0 {
        return Err(io::Error::from_raw_os_error(nix::libc::EINVAL));
    }
    Ok(ControlRange {
        id,
        minimum: query.minimum,
        maximum: query.maximum,
        step: query.step,
    })
}

impl VideoSource for V4l2Video {
    fn configure(&self, config: CaptureConfig) -> HalResult<()> {
        if config.width == 0 || config.height == 0 || config.fps == 0 {
            return Err(HalError::new(
                HalErrorKind::InvalidArgument,
                "zero capture size or frame rate",
            ));
        }
        let mut state = lock(&self.capture);
        if state.config != config {
            state.config = config;
            state.reconfigure = true;
        }
        Ok(())
    }

    fn config(&self) -> CaptureConfig {
        lock(&self.capture).config
    }

    fn next_frame(&self, timeout: Duration) -> HalResult<Frame> {
        let mut guard = lock(&self.capture);
        let state = &mut *guard;
        self.ensure_session(state, timeout)?;
        let Some(session) = state.session.as_mut() else {
            return Err(HalError::new(
                HalErrorKind::Disconnected,
                "no capture session",
            ));
        };
        session
            .stream
            .set_timeout(timeout.min(Duration::from_secs(60)));
        let result = match CaptureStream::next(&mut session.stream) {
            Ok((bytes, meta)) => {
                let used = (meta.bytesused as usize).min(bytes.len());
                let bytes = if used > 0 { &bytes[..used] } else { bytes };
                state.sequence += 1;
                Self::build_frame(session.geometry, &mut state.scratch, bytes, state.sequence)
            }
            Err(e) => Err(HalError::io(format!("{} capture", self.path.display()), e)),
        };
        match result {
            Ok(frame) => {
                state.stalled_since = None;
                Ok(frame)
            }
            Err(error) if error.kind() == HalErrorKind::Timeout => {
                let since = *state.stalled_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= STALL_LIMIT {
                    state.stalled_since = None;
                    let stalled = HalError::new(
                        HalErrorKind::Io,
                        format!(
                            "{} delivered no frame for {STALL_LIMIT:?}",
                            self.path.display()
                        ),
                    );
                    self.fail(state, &stalled);
                }
                Err(error)
            }
            Err(error) => {
                self.fail(state, &error);
                Err(error)
            }
        }
    }

    fn set_control(&self, control: ImageControl, value: i32) -> HalResult<()> {
        let mut state = lock(&self.controls);
        if state.device.is_none() {
            state.device = Some(Device::with_path(&self.path).map_err(|e| {
                HalError::io(format!("opening {} for controls", self.path.display()), e)
            })?);
        }
        let Some(device) = state.device.as_ref() else {
            return Err(HalError::new(
                HalErrorKind::Disconnected,
                "no control handle",
            ));
        };
        let range = match Self::control_range(device, control) {
            Ok(range) => range,
            Err(e) => {
                if e.kind() == HalErrorKind::NotSupported {
                    tracing::info!(?control, "capture device lacks this control");
                }
                return Err(e);
            }
        };
        let device_value = device_value(control, value, &range)?;
        let v4l_value = match control {
            ImageControl::Mirror | ImageControl::Flip => Value::Boolean(device_value == 1),
            _ => Value::Integer(device_value),
        };
        device
            .set_control(Control {
                id: range.id,
                value: v4l_value,
            })
            .map_err(|e| HalError::io(format!("setting the {control:?} control"), e))?;
        state.wanted.retain(|(c, _)| *c != control);
        state.wanted.push((control, value));
        Ok(())
    }

    fn status(&self) -> SourceStatus {
        lock(&self.status).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(minimum: i64, maximum: i64, step: u64) -> ControlRange {
        ControlRange {
            id: CID_BRIGHTNESS,
            minimum,
            maximum,
            step,
        }
    }

    #[test]
    fn test_device_value_spreads_percent_over_range() {
        let r = range(-64, 64, 1);
        assert_eq!(
            device_value(ImageControl::Brightness, 0, &r).expect("0"),
            -64
        );
        assert_eq!(
            device_value(ImageControl::Brightness, 50, &r).expect("50"),
            0
        );
        assert_eq!(
            device_value(ImageControl::Brightness, 100, &r).expect("100"),
            64
        );
        let stepped = range(0, 255, 5);
        let v = device_value(ImageControl::Contrast, 33, &stepped).expect("33");
        assert_eq!(v % 5, 0);
        assert!((80..=90).contains(&v), "{v}");
    }

    #[test]
    fn test_device_value_out_of_range_guide_value_is_invalid() {
        let r = range(0, 255, 1);
        for (control, value) in [
            (ImageControl::Hue, 101),
            (ImageControl::Mirror, 2),
            (ImageControl::PowerLineFrequency, -1),
        ] {
            let err = device_value(control, value, &r).expect_err("bad");
            assert_eq!(err.kind(), HalErrorKind::InvalidArgument);
        }
    }

    #[test]
    fn test_device_value_power_line_maps_guide_to_menu() {
        let menu = range(0, 3, 1);
        assert_eq!(
            device_value(ImageControl::PowerLineFrequency, 0, &menu).expect("60"),
            POWER_LINE_60HZ
        );
        assert_eq!(
            device_value(ImageControl::PowerLineFrequency, 1, &menu).expect("50"),
            POWER_LINE_50HZ
        );
        let only_50 = range(0, 1, 1);
        let err = device_value(ImageControl::PowerLineFrequency, 0, &only_50).expect_err("60");
        assert_eq!(err.kind(), HalErrorKind::NotSupported);
    }

    #[test]
    fn test_wire_formats_deliver_i420_gray_or_mjpeg() {
        assert_eq!(WireFormat::Yuyv.delivered(), PixelFormat::I420);
        assert_eq!(WireFormat::Nv12.delivered(), PixelFormat::I420);
        assert_eq!(WireFormat::Grey.delivered(), PixelFormat::Gray8);
        assert_eq!(WireFormat::Mjpeg.delivered(), PixelFormat::Mjpeg);
        assert_eq!(WireFormat::I420.fourcc(), FourCC::new(b"YU12"));
    }

    #[test]
    fn test_open_missing_device_is_disconnected() {
        let board = BoardSpec::parse(
            r#"
[board]
name = "t"
backend = "linux"
[identity]
model = 1
model_name = "T"
product_name = "T"
hardware_version = "1"
[capabilities]
[video]
device = "/dev/ipcamd-no-such-video"
"#,
        )
        .expect("board");
        let err = open(&board).err().expect("missing");
        assert_eq!(err.kind(), HalErrorKind::Disconnected);
    }
}
