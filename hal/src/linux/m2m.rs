//! The V4L2 memory-to-memory stateful encoder (the kernel's "stateful encoder interface"):
//! raw I420 frames go in on the OUTPUT queue, access units come out on CAPTURE. Bit rate,
//! bit-rate mode, GOP / IDR period, frame rate and level are V4L2 controls set on the running
//! device; a key frame is forced with `V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME`. Works with single-
//! and multi-planar drivers. The board file names the device (`[video] h264_encoder`).
//!
//! A driver whose compressed format is not H.264 but FWHT (the kernel's `vicodec` test
//! driver, used by the QEMU lab) runs through the same code and yields
//! [`VideoCodec::Fwht`] frames: the queue, control and key-frame mechanics are the same.
//!
//! setH264FrmRefMode 1 (three temporal layers, see [`H264Params::temporal_layers`]) uses the
//! H.264 hierarchical-coding controls (`V4L2_CID_MPEG_VIDEO_H264_HIERARCHICAL_CODING`, type P,
//! three layers) when the device has them; the factory says why not otherwise, and the CGI
//! answers -4.
//!
//! The ioctls themselves are in [`super::v4l2_raw`], the only module with `unsafe` code.

use std::collections::VecDeque;
use std::os::raw::c_int;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use v4l::control::{Control, Value};
use v4l::v4l_sys as sys;

use super::v4l2_raw::{self as raw, MappedBuffer, PlaneFormat};
use crate::board::BoardSpec;
use crate::video::encoded::{EncodedFrame, H264Config, VideoCodec};
use crate::video::h264::{self, H264Encoder, H264EncoderFactory, H264Params};
use crate::video::{Frame, PixelFormat, convert};
use crate::{HalError, HalErrorKind, HalResult};

const fn fourcc(code: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*code)
}

/// Planar YUV 4:2:0 (`YU12`, I420).
pub const FOURCC_I420: u32 = fourcc(b"YU12");
/// H.264 Annex-B byte stream.
pub const FOURCC_H264: u32 = fourcc(b"H264");
/// vicodec's compressed format.
pub const FOURCC_FWHT: u32 = fourcc(b"FWHT");
/// Buffers per queue.
const BUFFERS: u32 = 4;
/// Longest wait for the encoder to return a buffer.
const DEVICE_WAIT: Duration = Duration::from_millis(500);
const POLLIN: i16 = 0x001;
const POLLOUT: i16 = 0x004;

/// The board's H.264 encoder: the M2M device when the board file names one, else the
/// software encoder when the build has it.
pub fn h264_factory(board: &BoardSpec) -> HalResult<Option<Arc<dyn H264EncoderFactory>>> {
    match &board.video.h264_encoder {
        Some(path) => {
            let factory = M2mFactory::new(path)?;
            Ok(Some(Arc::new(factory)))
        }
        None => Ok(h264::software_factory()),
    }
}

/// Opens [`M2mEncoder`]s on one device node.
pub struct M2mFactory {
    path: PathBuf,
    name: String,
    /// Whether the device can code three temporal layers (why not, otherwise).
    layering: Result<(), String>,
}

/// Whether `device` has P-type H.264 hierarchical coding with three layers.
fn hierarchical_coding(device: &v4l::Device) -> Result<(), String> {
    use sys::*;
    let controls = device
        .query_controls()
        .map_err(|e| format!("listing its controls failed: {e}"))?;
    let find = |id: u32, name: &str| {
        controls
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| format!("it has no {name} control"))
    };
    find(
        V4L2_CID_MPEG_VIDEO_H264_HIERARCHICAL_CODING,
        "H.264 hierarchical coding",
    )?;
    let kind = find(
        V4L2_CID_MPEG_VIDEO_H264_HIERARCHICAL_CODING_TYPE,
        "hierarchical coding type",
    )?;
    let p = i64::from(
        v4l2_mpeg_video_h264_hierarchical_coding_type_V4L2_MPEG_VIDEO_H264_HIERARCHICAL_CODING_P,
    );
    let offers_p = (kind.minimum..=kind.maximum).contains(&p)
        && kind
            .items
            .as_ref()
            .is_none_or(|items| items.iter().any(|(index, _)| i64::from(*index) == p));
    if !offers_p {
        return Err("its hierarchical coding has no P type".into());
    }
    let layers = find(
        V4L2_CID_MPEG_VIDEO_H264_HIERARCHICAL_CODING_LAYER,
        "hierarchical coding layer",
    )?;
    if layers.maximum < 3 {
        return Err(format!(
            "it codes at most {} hierarchical layers, three are needed",
            layers.maximum
        ));
    }
    Ok(())
}

impl M2mFactory {
    /// Checks that `path` is a memory-to-memory device with a compressed CAPTURE format.
    pub fn new(path: &Path) -> HalResult<M2mFactory> {
        let (device, caps, kinds) = open_m2m(path)?;
        compressed_format(device.handle().fd(), kinds.capture).ok_or_else(|| {
            HalError::new(
                HalErrorKind::NotSupported,
                format!(
                    "{} ({}) offers neither H.264 nor FWHT",
                    path.display(),
                    caps.card
                ),
            )
        })?;
        let layering = hierarchical_coding(&device);
        if let Err(why) = &layering {
            tracing::info!(
                device = %path.display(),
                %why,
                "the H.264 encoder cannot make setH264FrmRefMode 1's temporal layers"
            );
        }
        Ok(M2mFactory {
            path: path.to_path_buf(),
            name: format!("V4L2 M2M {} ({})", path.display(), caps.card),
            layering,
        })
    }
}

impl H264EncoderFactory for M2mFactory {
    fn open(&self, params: H264Params) -> HalResult<Box<dyn H264Encoder>> {
        Ok(Box::new(M2mEncoder::open(&self.path, params)?))
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn frame_skipping_reference(&self) -> Result<(), String> {
        self.layering.clone()
    }
}

fn open_device(path: &Path) -> HalResult<v4l::Device> {
    v4l::Device::with_path(path).map_err(|e| HalError::io(format!("opening {}", path.display()), e))
}

/// Opens `path` and checks it is a memory-to-memory device: the device, its capabilities
/// and its queue types.
pub(super) fn open_m2m(
    path: &Path,
) -> HalResult<(v4l::Device, v4l::capability::Capabilities, QueueTypes)> {
    let device = open_device(path)?;
    let caps = device
        .query_caps()
        .map_err(|e| HalError::io(format!("querying {}", path.display()), e))?;
    let kinds = queue_types(caps.capabilities.bits()).ok_or_else(|| {
        HalError::new(
            HalErrorKind::NotSupported,
            format!(
                "{} ({}) is not a memory-to-memory device",
                path.display(),
                caps.card
            ),
        )
    })?;
    Ok((device, caps, kinds))
}

/// The OUTPUT (raw in) and CAPTURE (coded out) buffer types of a single- or multi-planar
/// memory-to-memory device.
#[derive(Debug, Clone, Copy)]
pub(super) struct QueueTypes {
    pub output: u32,
    pub capture: u32,
}

fn queue_types(capabilities: u32) -> Option<QueueTypes> {
    if capabilities & sys::V4L2_CAP_VIDEO_M2M_MPLANE != 0 {
        Some(QueueTypes {
            output: raw::BUF_VIDEO_OUTPUT_MPLANE,
            capture: raw::BUF_VIDEO_CAPTURE_MPLANE,
        })
    } else if capabilities & sys::V4L2_CAP_VIDEO_M2M != 0 {
        Some(QueueTypes {
            output: raw::BUF_VIDEO_OUTPUT,
            capture: raw::BUF_VIDEO_CAPTURE,
        })
    } else {
        None
    }
}

fn compressed_format(fd: c_int, capture: u32) -> Option<(u32, VideoCodec)> {
    let offered = raw::formats(fd, capture);
    if offered.contains(&FOURCC_H264) {
        Some((FOURCC_H264, VideoCodec::H264))
    } else if offered.contains(&FOURCC_FWHT) {
        Some((FOURCC_FWHT, VideoCodec::Fwht))
    } else {
        None
    }
}

/// One stream's hardware encoder.
pub struct M2mEncoder {
    device: v4l::Device,
    kinds: QueueTypes,
    codec: VideoCodec,
    params: H264Params,
    input: PlaneFormat,
    outputs: Vec<MappedBuffer>,
    captures: Vec<MappedBuffer>,
    free_outputs: Vec<u32>,
    /// Capture times of the frames queued, oldest first (encoders return them in order).
    in_flight: VecDeque<SystemTime>,
    config: Option<Arc<H264Config>>,
    started: Instant,
    sequence: u64,
    streaming: bool,
    can_force_key: bool,
}

impl M2mEncoder {
    /// Opens the device, sets both formats, the frame rate and the rate controls, maps the
    /// buffers and starts both queues.
    pub fn open(path: &Path, params: H264Params) -> HalResult<M2mEncoder> {
        let (device, _, kinds) = open_m2m(path)?;
        let fd = device.handle().fd();
        let (compressed, codec) = compressed_format(fd, kinds.capture).ok_or_else(|| {
            HalError::new(
                HalErrorKind::NotSupported,
                "no H.264 or FWHT capture format",
            )
        })?;
        let io = |what: &str| {
            let what = format!("{what} on {}", path.display());
            move |e: std::io::Error| HalError::io(what, e)
        };
        // CAPTURE first: the stateful encoder interface derives the OUTPUT side from it.
        raw::set_format(
            fd,
            kinds.capture,
            PlaneFormat {
                width: params.width,
                height: params.height,
                pixelformat: compressed,
                bytesperline: 0,
                sizeimage: (params.width * params.height * 3 / 2).max(64 * 1024),
            },
        )
        .map_err(io("setting the coded format"))?;
        let input = raw::set_format(
            fd,
            kinds.output,
            PlaneFormat {
                width: params.width,
                height: params.height,
                pixelformat: FOURCC_I420,
                bytesperline: params.width,
                sizeimage: convert::i420_len(params.width as usize, params.height as usize) as u32,
            },
        )
        .map_err(io("setting the raw format"))?;
        if input.pixelformat != FOURCC_I420
            || input.width != params.width
            || input.height != params.height
        {
            return Err(HalError::new(
                HalErrorKind::NotSupported,
                format!(
                    "{} cannot encode I420 {}x{} (offers {}x{})",
                    path.display(),
                    params.width,
                    params.height,
                    input.width,
                    input.height
                ),
            ));
        }
        if let Err(err) = raw::set_frame_rate(fd, kinds.output, params.fps) {
            log_unsupported("frame rate", &err);
        }
        let mut encoder = M2mEncoder {
            device,
            kinds,
            codec,
            params,
            input,
            outputs: Vec::new(),
            captures: Vec::new(),
            free_outputs: Vec::new(),
            in_flight: VecDeque::new(),
            config: None,
            started: Instant::now(),
            sequence: 0,
            streaming: false,
            can_force_key: true,
        };
        encoder.apply_controls(&params, true);
        if params.temporal_layers {
            encoder.set_temporal_layers()?;
        }
        encoder.outputs =
            raw::request_buffers(fd, kinds.output, BUFFERS).map_err(io("output buffers"))?;
        encoder.captures =
            raw::request_buffers(fd, kinds.capture, BUFFERS).map_err(io("capture buffers"))?;
        encoder.free_outputs = (0..encoder.outputs.len() as u32).collect();
        for index in 0..encoder.captures.len() as u32 {
            raw::queue(fd, kinds.capture, index, 0).map_err(io("queueing a capture buffer"))?;
        }
        raw::stream(fd, kinds.output, true).map_err(io("starting the output queue"))?;
        raw::stream(fd, kinds.capture, true).map_err(io("starting the capture queue"))?;
        encoder.streaming = true;
        Ok(encoder)
    }

    fn fd(&self) -> c_int {
        self.device.handle().fd()
    }

    /// The GOP size the running device reports (`V4L2_CID_MPEG_VIDEO_GOP_SIZE`): how a check
    /// sees that a reconfiguration reached the encoder when its output cannot show it.
    pub fn gop_on_device(&self) -> HalResult<i64> {
        let control = self
            .device
            .control(sys::V4L2_CID_MPEG_VIDEO_GOP_SIZE)
            .map_err(|e| HalError::io("reading the GOP control", e))?;
        match control.value {
            Value::Integer(gop) => Ok(gop),
            other => Err(HalError::new(
                HalErrorKind::NotSupported,
                format!("the GOP control holds {other:?}, not an integer"),
            )),
        }
    }

    fn set(&self, name: &str, id: u32, value: i64) -> bool {
        match self.device.set_control(Control {
            id,
            value: Value::Integer(value),
        }) {
            Ok(()) => true,
            Err(err) => {
                log_unsupported(name, &err);
                false
            }
        }
    }

    /// Sets the rate controls; `first` also the ones only settable before streaming.
    fn apply_controls(&mut self, params: &H264Params, first: bool) {
        use sys::*;
        let mode = if params.vbr {
            v4l2_mpeg_video_bitrate_mode_V4L2_MPEG_VIDEO_BITRATE_MODE_VBR
        } else {
            v4l2_mpeg_video_bitrate_mode_V4L2_MPEG_VIDEO_BITRATE_MODE_CBR
        };
        self.set(
            "bit-rate mode",
            V4L2_CID_MPEG_VIDEO_BITRATE_MODE,
            i64::from(mode),
        );
        self.set(
            "bit rate",
            V4L2_CID_MPEG_VIDEO_BITRATE,
            i64::from(params.bitrate),
        );
        self.set("GOP", V4L2_CID_MPEG_VIDEO_GOP_SIZE, i64::from(params.gop));
        self.set(
            "IDR period",
            V4L2_CID_MPEG_VIDEO_H264_I_PERIOD,
            i64::from(params.gop),
        );
        if first {
            self.set(
                "level",
                V4L2_CID_MPEG_VIDEO_H264_LEVEL,
                i64::from(h264_level(params)),
            );
            self.set("frame rate control", V4L2_CID_MPEG_VIDEO_FRAME_RC_ENABLE, 1);
            // SPS and PPS inline before every IDR, so a consumer can start at any key frame.
            self.set(
                "header mode",
                V4L2_CID_MPEG_VIDEO_HEADER_MODE,
                i64::from(
                    v4l2_mpeg_video_header_mode_V4L2_MPEG_VIDEO_HEADER_MODE_JOINED_WITH_1ST_FRAME,
                ),
            );
            self.set("repeat headers", V4L2_CID_MPEG_VIDEO_REPEAT_SEQ_HEADER, 1);
        }
    }

    /// setH264FrmRefMode 1: P-type hierarchical coding in three layers (before streaming).
    fn set_temporal_layers(&self) -> HalResult<()> {
        use sys::*;
        let p = i64::from(
            v4l2_mpeg_video_h264_hierarchical_coding_type_V4L2_MPEG_VIDEO_H264_HIERARCHICAL_CODING_P,
        );
        let set = self.set(
            "hierarchical coding",
            V4L2_CID_MPEG_VIDEO_H264_HIERARCHICAL_CODING,
            1,
        ) && self.set(
            "hierarchical coding type",
            V4L2_CID_MPEG_VIDEO_H264_HIERARCHICAL_CODING_TYPE,
            p,
        ) && self.set(
            "hierarchical coding layers",
            V4L2_CID_MPEG_VIDEO_H264_HIERARCHICAL_CODING_LAYER,
            3,
        );
        if set {
            Ok(())
        } else {
            Err(HalError::new(
                HalErrorKind::NotSupported,
                "the encoder refused three P-type hierarchical coding layers",
            ))
        }
    }

    /// Takes back output buffers the device has consumed.
    fn reclaim_outputs(&mut self) -> HalResult<()> {
        while let Some(done) = raw::dequeue(self.fd(), self.kinds.output)
            .map_err(|e| HalError::io("dequeueing an output buffer", e))?
        {
            self.free_outputs.push(done.index);
        }
        Ok(())
    }

    fn queue_frame(&mut self, frame: &Frame) -> HalResult<()> {
        self.reclaim_outputs()?;
        if self.free_outputs.is_empty() {
            let ready = self
                .device
                .handle()
                .poll(POLLOUT, DEVICE_WAIT.as_millis() as i32)
                .map_err(|e| HalError::io("waiting for the encoder", e))?;
            if ready == 0 {
                return Err(HalError::new(
                    HalErrorKind::Timeout,
                    "the encoder returns no input buffer",
                ));
            }
            self.reclaim_outputs()?;
        }
        let Some(index) = self.free_outputs.pop() else {
            return Err(HalError::new(HalErrorKind::Timeout, "no free input buffer"));
        };
        let (w, h) = (self.params.width as usize, self.params.height as usize);
        let stride = (self.input.bytesperline as usize).max(w);
        let buffer = self.outputs[index as usize].bytes_mut();
        let used = copy_i420(&frame.data, w, h, stride, buffer).ok_or_else(|| {
            HalError::new(
                HalErrorKind::InvalidArgument,
                "frame does not fit the buffer",
            )
        })?;
        raw::queue(self.fd(), self.kinds.output, index, used as u32)
            .map_err(|e| HalError::io("queueing a frame", e))?;
        self.in_flight.push_back(frame.captured);
        Ok(())
    }

    fn take_access_unit(&mut self) -> HalResult<Option<EncodedFrame>> {
        let ready = self
            .device
            .handle()
            .poll(POLLIN, DEVICE_WAIT.as_millis() as i32)
            .map_err(|e| HalError::io("waiting for the encoder", e))?;
        if ready == 0 {
            return Ok(None);
        }
        let Some(done) = raw::dequeue(self.fd(), self.kinds.capture)
            .map_err(|e| HalError::io("dequeueing an access unit", e))?
        else {
            return Ok(None);
        };
        let bytes = &self.captures[done.index as usize].bytes()
            [..(done.bytesused as usize).min(self.captures[done.index as usize].bytes().len())];
        let data: Arc<[u8]> = Arc::from(bytes);
        raw::queue(self.fd(), self.kinds.capture, done.index, 0)
            .map_err(|e| HalError::io("re-queueing a capture buffer", e))?;
        let captured = self.in_flight.pop_front().unwrap_or_else(SystemTime::now);
        if data.is_empty() {
            return Ok(None);
        }
        let keyframe = done.flags & sys::V4L2_BUF_FLAG_KEYFRAME != 0
            || (self.codec == VideoCodec::Fwht && fwht_is_i_frame(&data));
        if self.codec == VideoCodec::H264 && keyframe {
            self.config = h264::config_for(
                &data,
                self.params.width,
                self.params.height,
                self.config.as_ref(),
            );
        }
        let config = match (self.codec, &self.config) {
            (VideoCodec::H264, Some(config)) => config.clone(),
            // No parameter sets yet: nothing a consumer could decode.
            (VideoCodec::H264, None) => return Ok(None),
            (VideoCodec::Fwht, _) => self
                .config
                .get_or_insert_with(|| {
                    Arc::new(H264Config {
                        sps: Vec::new(),
                        pps: Vec::new(),
                        width: self.params.width,
                        height: self.params.height,
                    })
                })
                .clone(),
        };
        let frame = EncodedFrame {
            codec: self.codec,
            data,
            keyframe,
            pts: self.started.elapsed(),
            captured,
            sequence: self.sequence,
            config,
        };
        self.sequence += 1;
        Ok(Some(frame))
    }

    /// Drains the encoder (ENCODER_CMD STOP) and returns what it still held.
    pub fn drain(&mut self) -> HalResult<Vec<EncodedFrame>> {
        raw::encoder_stop(self.fd()).map_err(|e| HalError::io("stopping the encoder", e))?;
        let mut out = Vec::new();
        while !self.in_flight.is_empty() {
            match self.take_access_unit()? {
                Some(frame) => out.push(frame),
                None => break,
            }
        }
        Ok(out)
    }
}

/// Copies an I420 frame into a device buffer whose luma rows are `stride` bytes (chroma rows
/// `stride / 2`); answers the bytes used.
pub(super) fn copy_i420(
    src: &[u8],
    w: usize,
    h: usize,
    stride: usize,
    dst: &mut [u8],
) -> Option<usize> {
    let (cw, ch) = convert::i420_chroma_size(w, h);
    let cstride = stride / 2;
    let used = stride * h + 2 * cstride * ch;
    if src.len() < convert::i420_len(w, h) || dst.len() < used || cstride < cw {
        return None;
    }
    let (src_y, src_c) = src.split_at(w * h);
    let (dst_y, dst_c) = dst.split_at_mut(stride * h);
    for (row, out) in src_y.chunks_exact(w).zip(dst_y.chunks_exact_mut(stride)) {
        out[..w].copy_from_slice(row);
    }
    let (dst_u, dst_v) = dst_c.split_at_mut(cstride * ch);
    let (src_u, src_v) = src_c.split_at(cw * ch);
    for (plane, out) in [(src_u, dst_u), (&src_v[..cw * ch], dst_v)] {
        for (row, o) in plane.chunks_exact(cw).zip(out.chunks_exact_mut(cstride)) {
            o[..cw].copy_from_slice(row);
        }
    }
    Some(used)
}

/// The lowest H.264 level (H.264 Table A-1: macroblocks per second, per frame, baseline bit
/// rate) that fits `params`, as the `V4L2_CID_MPEG_VIDEO_H264_LEVEL` menu index (1.0 = 0,
/// 1b = 1, 1.1 = 2, ... 4.0 = 11, 4.1 = 12).
fn h264_level(params: &H264Params) -> u32 {
    // (menu index, MaxMBPS, MaxFS, MaxBR in kbit/s)
    const LEVELS: [(u32, u64, u64, u64); 11] = [
        (0, 1_485, 99, 64),
        (2, 3_000, 396, 192),
        (3, 6_000, 396, 384),
        (4, 11_880, 396, 768),
        (5, 11_880, 396, 2_000),
        (6, 19_800, 792, 4_000),
        (7, 20_250, 1_620, 4_000),
        (8, 40_500, 1_620, 10_000),
        (9, 108_000, 3_600, 14_000),
        (10, 216_000, 5_120, 20_000),
        (11, 245_760, 8_192, 20_000),
    ];
    let mbs = u64::from(params.width.div_ceil(16)) * u64::from(params.height.div_ceil(16));
    let mbps = mbs * u64::from(params.fps.max(1));
    let kbps = u64::from(params.bitrate).div_ceil(1000);
    LEVELS
        .iter()
        .find(|(_, max_mbps, max_fs, max_br)| {
            mbps <= *max_mbps && mbs <= *max_fs && kbps <= *max_br
        })
        .map_or(12, |(index, ..)| *index)
}

fn log_unsupported(what: &str, err: &std::io::Error) {
    tracing::debug!(what, %err, "the M2M encoder does not take this setting");
}

impl H264Encoder for M2mEncoder {
    fn encode(&mut self, frame: &Frame, force_key: bool) -> HalResult<Option<EncodedFrame>> {
        if frame.format != PixelFormat::I420
            || frame.width != self.params.width
            || frame.height != self.params.height
        {
            return Err(HalError::new(
                HalErrorKind::InvalidArgument,
                format!(
                    "encoder expects I420 {}x{}, got {:?} {}x{}",
                    self.params.width, self.params.height, frame.format, frame.width, frame.height
                ),
            ));
        }
        if (force_key || self.sequence == 0) && self.can_force_key {
            self.can_force_key = self.set("key frame", sys::V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME, 1);
        }
        self.queue_frame(frame)?;
        self.take_access_unit()
    }

    fn params(&self) -> H264Params {
        self.params
    }

    fn reconfigure(&mut self, params: H264Params) -> HalResult<()> {
        if params.width != self.params.width
            || params.height != self.params.height
            || params.temporal_layers != self.params.temporal_layers
        {
            return Err(HalError::new(
                HalErrorKind::NotSupported,
                "a new picture size needs a new encoder",
            ));
        }
        self.apply_controls(&params, false);
        if params.fps != self.params.fps {
            if let Err(err) = raw::set_frame_rate(self.fd(), self.kinds.output, params.fps) {
                log_unsupported("frame rate", &err);
            }
        }
        self.params = params;
        Ok(())
    }
}

impl Drop for M2mEncoder {
    fn drop(&mut self) {
        if self.streaming {
            let fd = self.fd();
            let _ = raw::stream(fd, self.kinds.output, false);
            let _ = raw::stream(fd, self.kinds.capture, false);
        }
        // Unmap before the buffers are freed, then free them.
        self.outputs.clear();
        self.captures.clear();
        let fd = self.fd();
        let _ = raw::request_buffers(fd, self.kinds.output, 0);
        let _ = raw::request_buffers(fd, self.kinds.capture, 0);
    }
}

/// `V4L2_FWHT_FL_I_FRAME` in the flags of a FWHT frame header (`struct fwht_cframe_hdr`:
/// magic1, magic2, version, width, height, then the big-endian flags at byte 20).
const FWHT_FL_I_FRAME: u32 = 1 << 10;

/// Whether a FWHT frame is intra-coded. vicodec marks its I-frames in the frame header, not
/// with `V4L2_BUF_FLAG_KEYFRAME` on the buffer as H.264 encoders do.
fn fwht_is_i_frame(frame: &[u8]) -> bool {
    frame
        .get(20..24)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .is_some_and(|flags| flags & FWHT_FL_I_FRAME != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_copy_i420_honours_the_device_stride() {
        let (w, h) = (4usize, 2usize);
        let src: Vec<u8> = (0..convert::i420_len(w, h) as u8).collect();
        let mut dst = vec![0xffu8; 8 * 2 + 2 * 4];
        let used = copy_i420(&src, w, h, 8, &mut dst).unwrap();
        assert_eq!(used, 8 * 2 + 2 * 4);
        assert_eq!(&dst[..4], &[0, 1, 2, 3]);
        assert_eq!(&dst[8..12], &[4, 5, 6, 7]);
        assert_eq!(&dst[16..18], &[8, 9]);
        assert_eq!(&dst[20..22], &[10, 11]);
        assert!(copy_i420(&src, w, h, 8, &mut [0u8; 4]).is_none());
    }

    #[test]
    fn test_h264_level_is_the_lowest_that_fits() {
        let p = |width, height, fps, bitrate| H264Params {
            width,
            height,
            fps,
            bitrate,
            vbr: false,
            gop: 30,
            temporal_layers: false,
        };
        assert_eq!(h264_level(&p(320, 240, 15, 300_000)), 3, "1.2");
        assert_eq!(h264_level(&p(640, 480, 30, 2_000_000)), 8, "3.0");
        assert_eq!(h264_level(&p(1280, 720, 30, 2_097_152)), 9, "3.1");
        assert_eq!(h264_level(&p(1920, 1080, 30, 8_000_000)), 11, "4.0");
    }

    #[test]
    fn test_fourcc_codes() {
        assert_eq!(FOURCC_I420, 0x3231_5559);
        assert_eq!(FOURCC_H264, 0x3436_3248);
    }

    #[test]
    fn test_fwht_i_frames_are_told_by_their_header_flags() {
        let mut header = vec![0u8; 44];
        assert!(!fwht_is_i_frame(&header), "a P-frame");
        header[20..24].copy_from_slice(&FWHT_FL_I_FRAME.to_be_bytes());
        assert!(fwht_is_i_frame(&header));
        assert!(!fwht_is_i_frame(&header[..22]), "too short for a header");
    }
}
