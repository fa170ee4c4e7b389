//! The V4L2 memory-to-memory JPEG encoder of SoCs that have one (board file `[video]
//! jpeg_encoder`): one raw I420 picture goes in on the OUTPUT queue, one JPEG comes out on
//! CAPTURE, the quality is `V4L2_CID_JPEG_COMPRESSION_QUALITY`. The queue types, buffers and
//! the I420 copy are the H.264 encoder's ([`super::m2m`]); the ioctls are in
//! [`super::v4l2_raw`].
//!
//! [`M2mJpegEncoder`] keeps an open session per picture size (the MJPEG stream and snapshots
//! of another size do not reopen the device for every frame; at most [`SESSIONS`]). A picture
//! the device cannot take (a size it rounds, a device error, a time-out) is encoded by the
//! software encoder instead, and that size stays with the software encoder for
//! [`RETRY_AFTER`], logged once each time: the camera never loses its snapshots to the
//! hardware. Gray and YUYV frames are converted to I420 first; MJPEG frames are copied through.
//!
//! [`M2mStill`] is the single-picture session itself, public so the QEMU lab can drive it
//! against vicodec, which codes FWHT rather than JPEG through the same queue mechanics.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use v4l::control::{Control, Value};
use v4l::v4l_sys as sys;

use super::m2m::{FOURCC_I420, QueueTypes, copy_i420, open_m2m};
use super::v4l2_raw::{self as raw, MappedBuffer, PlaneFormat};
use crate::video::jpeg::SoftwareJpegEncoder;
use crate::video::{Encoder, Frame, PixelFormat, convert};
use crate::{HalError, HalErrorKind, HalResult};

/// Baseline JPEG (`JPEG`).
pub const FOURCC_JPEG: u32 = u32::from_le_bytes(*b"JPEG");
/// Motion-JPEG (`MJPG`): what some JPEG encoders call their output.
pub const FOURCC_MJPEG: u32 = u32::from_le_bytes(*b"MJPG");
/// Sessions (picture sizes) kept open at once.
pub const SESSIONS: usize = 2;
/// How long a size the device failed stays with the software encoder.
pub const RETRY_AFTER: Duration = Duration::from_secs(60);
/// Longest wait for the device to return a buffer.
const DEVICE_WAIT: Duration = Duration::from_millis(500);
const POLLIN: i16 = 0x001;
const POLLOUT: i16 = 0x004;

/// One picture size on a memory-to-memory encoder: one raw buffer in, one coded buffer out.
pub struct M2mStill {
    device: v4l::Device,
    kinds: QueueTypes,
    input: PlaneFormat,
    coded: u32,
    raw_buffer: Vec<MappedBuffer>,
    coded_buffer: Vec<MappedBuffer>,
    quality: Option<u8>,
    streaming: bool,
}

impl M2mStill {
    /// Opens `path` for `width`×`height` I420 pictures coded as the first of `coded` (fourcc
    /// codes) the device offers; refuses (`NotSupported`) a device that offers none of them or
    /// does not take the size as it is.
    pub fn open(path: &Path, width: u32, height: u32, coded: &[u32]) -> HalResult<M2mStill> {
        let (device, caps, kinds) = open_m2m(path)?;
        let fd = device.handle().fd();
        let unsupported = |why: String| {
            HalError::new(
                HalErrorKind::NotSupported,
                format!("{} ({}) {why}", path.display(), caps.card),
            )
        };
        let offered = raw::formats(fd, kinds.capture);
        let coded = *coded
            .iter()
            .find(|f| offered.contains(f))
            .ok_or_else(|| unsupported(format!("codes none of {}", fourccs(coded))))?;
        let io = |what: &str| {
            let what = format!("{what} on {}", path.display());
            move |e: std::io::Error| HalError::io(what, e)
        };
        let raw_len = convert::i420_len(width as usize, height as usize) as u32;
        // CAPTURE first, as for the H.264 encoder; a coded picture stays below the raw size
        // at any quality a camera uses, with room for the headers.
        raw::set_format(
            fd,
            kinds.capture,
            PlaneFormat {
                width,
                height,
                pixelformat: coded,
                bytesperline: 0,
                sizeimage: raw_len.max(64 * 1024),
            },
        )
        .map_err(io("setting the coded format"))?;
        let input = raw::set_format(
            fd,
            kinds.output,
            PlaneFormat {
                width,
                height,
                pixelformat: FOURCC_I420,
                bytesperline: width,
                sizeimage: raw_len,
            },
        )
        .map_err(io("setting the raw format"))?;
        if input.pixelformat != FOURCC_I420 || input.width != width || input.height != height {
            return Err(unsupported(format!(
                "cannot take I420 {width}x{height} (offers {} {}x{})",
                fourccs(&[input.pixelformat]),
                input.width,
                input.height
            )));
        }
        let mut still = M2mStill {
            device,
            kinds,
            input,
            coded,
            raw_buffer: Vec::new(),
            coded_buffer: Vec::new(),
            quality: None,
            streaming: false,
        };
        still.raw_buffer = raw::request_buffers(fd, kinds.output, 1).map_err(io("raw buffer"))?;
        still.coded_buffer =
            raw::request_buffers(fd, kinds.capture, 1).map_err(io("coded buffer"))?;
        if still.raw_buffer.is_empty() || still.coded_buffer.is_empty() {
            return Err(unsupported("granted no buffers".into()));
        }
        raw::queue(fd, kinds.capture, 0, 0).map_err(io("queueing the coded buffer"))?;
        raw::stream(fd, kinds.output, true).map_err(io("starting the raw queue"))?;
        raw::stream(fd, kinds.capture, true).map_err(io("starting the coded queue"))?;
        still.streaming = true;
        Ok(still)
    }

    /// The coded format (fourcc) this session makes.
    pub fn coded_format(&self) -> u32 {
        self.coded
    }

    fn fd(&self) -> std::os::raw::c_int {
        self.device.handle().fd()
    }

    /// Sets the JPEG quality (1..=100); a device without the control keeps its own.
    fn set_quality(&mut self, quality: u8) {
        let control = Control {
            id: sys::V4L2_CID_JPEG_COMPRESSION_QUALITY,
            value: Value::Integer(i64::from(quality)),
        };
        if let Err(err) = self.device.set_control(control) {
            tracing::debug!(%err, "the M2M JPEG encoder does not take a quality");
        }
        self.quality = Some(quality);
    }

    /// Waits until the device has a buffer for `events` (POLLIN: coded, POLLOUT: raw).
    fn wait(&self, events: i16, what: &str) -> HalResult<()> {
        let ready = self
            .device
            .handle()
            .poll(events, DEVICE_WAIT.as_millis() as i32)
            .map_err(|e| HalError::io(format!("waiting for the {what}"), e))?;
        if ready == 0 {
            return Err(HalError::new(
                HalErrorKind::Timeout,
                format!("the encoder returned no {what} within {DEVICE_WAIT:?}"),
            ));
        }
        Ok(())
    }

    /// Codes one I420 picture of the session's size at `quality` into `out` (cleared first).
    /// After an error the session's queues are in an unknown state: drop it.
    pub fn encode(&mut self, i420: &[u8], quality: u8, out: &mut Vec<u8>) -> HalResult<()> {
        out.clear();
        if self.quality != Some(quality) {
            self.set_quality(quality);
        }
        let (w, h) = (self.input.width as usize, self.input.height as usize);
        let stride = (self.input.bytesperline as usize).max(w);
        let used =
            copy_i420(i420, w, h, stride, self.raw_buffer[0].bytes_mut()).ok_or_else(|| {
                HalError::new(
                    HalErrorKind::InvalidArgument,
                    "the picture does not fit the encoder's buffer",
                )
            })?;
        let fd = self.fd();
        raw::queue(fd, self.kinds.output, 0, used as u32)
            .map_err(|e| HalError::io("queueing the picture", e))?;
        self.wait(POLLIN, "coded picture")?;
        let done = raw::dequeue(fd, self.kinds.capture)
            .map_err(|e| HalError::io("dequeueing the coded picture", e))?
            .ok_or_else(|| HalError::new(HalErrorKind::Timeout, "no coded picture"))?;
        let coded = self.coded_buffer[done.index as usize].bytes();
        out.extend_from_slice(&coded[..(done.bytesused as usize).min(coded.len())]);
        raw::queue(fd, self.kinds.capture, done.index, 0)
            .map_err(|e| HalError::io("re-queueing the coded buffer", e))?;
        // The raw buffer comes back with (or just before) the coded one.
        if raw::dequeue(fd, self.kinds.output)
            .map_err(|e| HalError::io("dequeueing the raw buffer", e))?
            .is_none()
        {
            self.wait(POLLOUT, "raw buffer")?;
            raw::dequeue(fd, self.kinds.output)
                .map_err(|e| HalError::io("dequeueing the raw buffer", e))?
                .ok_or_else(|| HalError::new(HalErrorKind::Timeout, "no raw buffer back"))?;
        }
        if out.is_empty() || done.flags & sys::V4L2_BUF_FLAG_ERROR != 0 {
            return Err(HalError::new(
                HalErrorKind::Io,
                "the encoder returned an empty or failed picture",
            ));
        }
        Ok(())
    }
}

impl Drop for M2mStill {
    fn drop(&mut self) {
        let fd = self.fd();
        if self.streaming {
            let _ = raw::stream(fd, self.kinds.output, false);
            let _ = raw::stream(fd, self.kinds.capture, false);
        }
        // Unmap before the buffers are freed, then free them.
        self.raw_buffer.clear();
        self.coded_buffer.clear();
        let _ = raw::request_buffers(fd, self.kinds.output, 0);
        let _ = raw::request_buffers(fd, self.kinds.capture, 0);
    }
}

/// Fourcc codes as text, for messages.
fn fourccs(codes: &[u32]) -> String {
    codes
        .iter()
        .map(|c| String::from_utf8_lossy(&c.to_le_bytes()).into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// What the encoder holds between pictures.
#[derive(Default)]
struct Sessions {
    /// Open sessions by picture size, most recently used last.
    open: Vec<((u32, u32), M2mStill)>,
    /// Sizes the device failed, and since when.
    refused: Vec<((u32, u32), Instant)>,
    /// I420 conversion of Gray and YUYV frames.
    converted: Vec<u8>,
}

/// The board's hardware JPEG encoder, with the software encoder for what it cannot take.
pub struct M2mJpegEncoder {
    path: PathBuf,
    sessions: Mutex<Sessions>,
    software: SoftwareJpegEncoder,
}

impl M2mJpegEncoder {
    /// Checks that `path` is a memory-to-memory device that codes JPEG.
    pub fn new(path: &Path) -> HalResult<M2mJpegEncoder> {
        let (device, caps, kinds) = open_m2m(path)?;
        let offered = raw::formats(device.handle().fd(), kinds.capture);
        if !offered.contains(&FOURCC_JPEG) && !offered.contains(&FOURCC_MJPEG) {
            return Err(HalError::new(
                HalErrorKind::NotSupported,
                format!("{} ({}) does not code JPEG", path.display(), caps.card),
            ));
        }
        Ok(M2mJpegEncoder {
            path: path.to_path_buf(),
            sessions: Mutex::new(Sessions::default()),
            software: SoftwareJpegEncoder,
        })
    }

    /// Codes `i420` (`size`) on the device, opening a session for the size when needed.
    fn encode_on_device(
        &self,
        open: &mut Vec<((u32, u32), M2mStill)>,
        size: (u32, u32),
        i420: &[u8],
        quality: u8,
        out: &mut Vec<u8>,
    ) -> HalResult<()> {
        let at = match open.iter().position(|(s, _)| *s == size) {
            Some(at) => at,
            None => {
                let still =
                    M2mStill::open(&self.path, size.0, size.1, &[FOURCC_JPEG, FOURCC_MJPEG])?;
                if open.len() >= SESSIONS {
                    open.remove(0);
                }
                open.push((size, still));
                open.len() - 1
            }
        };
        let entry = open.remove(at);
        let (size, mut still) = entry;
        let coded = still.encode(i420, quality, out);
        if coded.is_ok() {
            open.push((size, still));
        }
        coded
    }
}

/// `frame` as I420: its own data, or converted into `scratch`. None for MJPEG.
fn as_i420<'a>(frame: &'a Frame, scratch: &'a mut Vec<u8>) -> HalResult<Option<&'a [u8]>> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let len = convert::i420_len(w, h);
    match frame.format {
        PixelFormat::I420 if frame.data.len() >= len => Ok(Some(&frame.data[..len])),
        PixelFormat::I420 => Err(HalError::new(
            HalErrorKind::InvalidArgument,
            "I420 frame shorter than its size",
        )),
        PixelFormat::Gray8 if frame.data.len() >= w * h => {
            scratch.clear();
            scratch.extend_from_slice(&frame.data[..w * h]);
            scratch.resize(len, 128);
            Ok(Some(scratch))
        }
        PixelFormat::Gray8 => Err(HalError::new(
            HalErrorKind::InvalidArgument,
            "gray frame shorter than its size",
        )),
        PixelFormat::Yuyv => {
            scratch.resize(len, 0);
            convert::yuyv_to_i420(&frame.data, w * 2, w, h, scratch)?;
            Ok(Some(scratch))
        }
        PixelFormat::Mjpeg => Ok(None),
    }
}

impl Encoder for M2mJpegEncoder {
    fn encode_jpeg(&self, frame: &Frame, quality: u8, out: &mut Vec<u8>) -> HalResult<()> {
        if !(1..=100).contains(&quality) || frame.width == 0 || frame.height == 0 {
            // The software encoder's checks and errors.
            return self.software.encode_jpeg(frame, quality, out);
        }
        let size = (frame.width, frame.height);
        let mut guard = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Sessions {
            open,
            refused,
            converted,
        } = &mut *guard;
        refused.retain(|(_, since)| since.elapsed() < RETRY_AFTER);
        if refused.iter().any(|(s, _)| *s == size) {
            drop(guard);
            return self.software.encode_jpeg(frame, quality, out);
        }
        let Some(i420) = as_i420(frame, converted)? else {
            drop(guard);
            return self.software.encode_jpeg(frame, quality, out);
        };
        match self.encode_on_device(open, size, i420, quality, out) {
            Ok(()) => Ok(()),
            Err(err) => {
                tracing::warn!(
                    device = %self.path.display(),
                    width = size.0,
                    height = size.1,
                    %err,
                    "the hardware JPEG encoder failed; the software encoder takes this size for {}s",
                    RETRY_AFTER.as_secs()
                );
                refused.push((size, Instant::now()));
                drop(guard);
                self.software.encode_jpeg(frame, quality, out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::jpeg::tests::frame;

    #[test]
    fn test_fourcc_codes_and_names() {
        assert_eq!(FOURCC_JPEG, 0x4745_504a);
        assert_eq!(fourccs(&[FOURCC_JPEG, FOURCC_MJPEG]), "JPEG/MJPG");
    }

    #[test]
    fn test_frames_become_i420_for_the_device() {
        let mut scratch = Vec::new();
        let gray = frame(PixelFormat::Gray8, 4, 2, (0..8).collect());
        let i420 = as_i420(&gray, &mut scratch).unwrap().unwrap().to_vec();
        assert_eq!(&i420[..8], &[0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(&i420[8..], &[128; 4], "neutral chroma");

        let yuyv = frame(
            PixelFormat::Yuyv,
            2,
            2,
            vec![10, 20, 30, 40, 50, 60, 70, 80],
        );
        let i420 = as_i420(&yuyv, &mut scratch).unwrap().unwrap().to_vec();
        assert_eq!(
            i420,
            vec![10, 30, 50, 70, 40, 60],
            "chroma of both rows averaged"
        );

        let planar = frame(PixelFormat::I420, 2, 2, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(
            as_i420(&planar, &mut scratch).unwrap().unwrap(),
            &[1, 2, 3, 4, 5, 6]
        );
        let short = frame(PixelFormat::I420, 2, 2, vec![1, 2, 3]);
        assert!(as_i420(&short, &mut scratch).is_err());
        let jpeg = frame(PixelFormat::Mjpeg, 2, 2, vec![0xff, 0xd8]);
        assert!(as_i420(&jpeg, &mut scratch).unwrap().is_none());
    }

    #[test]
    fn test_a_missing_or_non_m2m_device_is_refused() {
        let err = M2mJpegEncoder::new(Path::new("/nonexistent/video9"))
            .err()
            .expect("no device");
        assert!(err.to_string().contains("/nonexistent/video9"), "{err}");
        // A regular file is not a V4L2 device.
        let dir = std::env::temp_dir().join(format!("m2m-jpeg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("video0");
        std::fs::write(&file, b"").unwrap();
        assert!(M2mJpegEncoder::new(&file).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
