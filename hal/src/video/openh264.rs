//! The software H.264 encoder (feature `software-h264`): Cisco's OpenH264 through the
//! `openh264` crate, built from its bundled C++ source for the host and for ARMv7. Used by
//! the simulated board and by Linux boards whose board file names no hardware encoder.
//!
//! One [`OpenH264Encoder`] per stream, single-threaded (the camera has one or two cores and
//! two streams), baseline-compatible output (OpenH264 writes constrained baseline), every IDR
//! preceded by its SPS and PPS.
//!
//! setH264FrmRefMode 1 ([`H264Params::temporal_layers`]) is OpenH264's three temporal layers:
//! base pictures four frames apart, each referencing the previous one; midway between two a
//! second-layer picture referencing the base; the other two pictures of every four reference
//! their predecessor and are referenced by nothing (`nal_ref_idc` 0). The crate's safe API
//! always configures one layer, so the encoder is initialised on a first (discarded) picture
//! and then reconfigured through the raw `SetOption(ENCODER_OPTION_SVC_ENCODE_PARAM_EXT)`;
//! OpenH264 rounds a layered IDR period up to a multiple of four, so this backend forces the
//! IDRs at the GOP itself.

use std::sync::Arc;
use std::time::Instant;

use openh264::OpenH264API;
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod,
    RateControlMode, UsageType,
};
use openh264::formats::YUVSlices;

use super::encoded::{EncodedFrame, H264Config, VideoCodec};
use super::h264::{self, H264Encoder, H264EncoderFactory, H264Params};
use super::{Frame, PixelFormat, convert};
use crate::{HalError, HalErrorKind, HalResult};

/// Makes [`OpenH264Encoder`]s.
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenH264Factory;

impl H264EncoderFactory for OpenH264Factory {
    fn open(&self, params: H264Params) -> HalResult<Box<dyn H264Encoder>> {
        Ok(Box::new(OpenH264Encoder::new(params)?))
    }

    fn name(&self) -> &str {
        "OpenH264 (software)"
    }

    fn frame_skipping_reference(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Temporal layers of setH264FrmRefMode 1 (a period of four pictures).
const TEMPORAL_LAYERS: i32 = 3;

/// One stream's software encoder.
pub struct OpenH264Encoder {
    params: H264Params,
    encoder: Encoder,
    started: Option<Instant>,
    sequence: u64,
    config: Option<Arc<H264Config>>,
    /// Reused output buffer (the shared `Arc<[u8]>` is made from it once per frame).
    out: Vec<u8>,
    /// Pictures since the last IDR, counting it (layered mode forces IDRs at the GOP).
    since_key: u32,
}

fn encoder_config(params: &H264Params) -> EncoderConfig {
    let mode = if params.vbr {
        RateControlMode::Quality
    } else {
        RateControlMode::Bitrate
    };
    EncoderConfig::new()
        .usage_type(UsageType::CameraVideoRealTime)
        .bitrate(BitRate::from_bps(params.bitrate))
        .max_frame_rate(FrameRate::from_hz(params.fps.max(1) as f32))
        .rate_control_mode(mode)
        // Constant bit rate holds its rate by skipping pictures rather than overshooting.
        .skip_frames(!params.vbr)
        .intra_frame_period(IntraFramePeriod::from_num_frames(params.gop.max(1)))
        .complexity(Complexity::Low)
        .num_threads(1)
        .scene_change_detect(false)
}

impl OpenH264Encoder {
    /// A new encoder; the first picture it encodes is an IDR.
    pub fn new(params: H264Params) -> HalResult<OpenH264Encoder> {
        if params.width % 2 != 0 || params.height % 2 != 0 || params.width == 0 {
            return Err(HalError::new(
                HalErrorKind::InvalidArgument,
                format!(
                    "H.264 needs an even picture size, not {}x{}",
                    params.width, params.height
                ),
            ));
        }
        let mut encoder =
            Encoder::with_api_config(OpenH264API::from_source(), encoder_config(&params))
                .map_err(|e| HalError::new(HalErrorKind::Io, format!("OpenH264: {e}")))?;
        if params.temporal_layers {
            // The crate initialises the encoder (one layer) at the first picture: encode a
            // grey one, discard it, then switch to three layers.
            let (w, h) = (params.width as usize, params.height as usize);
            let (cw, ch) = convert::i420_chroma_size(w, h);
            let luma = vec![128u8; w * h];
            let chroma = vec![128u8; cw * ch];
            let grey = YUVSlices::new((&luma, &chroma, &chroma), (w, h), (w, cw, cw));
            encoder
                .encode(&grey)
                .map_err(|e| HalError::new(HalErrorKind::Io, format!("OpenH264: {e}")))?;
            set_temporal_layers(&mut encoder, TEMPORAL_LAYERS)?;
        }
        Ok(OpenH264Encoder {
            params,
            encoder,
            started: None,
            sequence: 0,
            config: None,
            out: Vec::new(),
            since_key: 0,
        })
    }
}

/// Reconfigures an initialised encoder for `layers` temporal layers, IDRs on request only.
#[allow(unsafe_code)]
fn set_temporal_layers(encoder: &mut Encoder, layers: i32) -> HalResult<()> {
    use openh264_sys2::{ENCODER_OPTION_SVC_ENCODE_PARAM_EXT, SEncParamExt};
    let mut params = SEncParamExt::default();
    let failed = |what: &str, code: i32| {
        HalError::new(
            HalErrorKind::Io,
            format!("OpenH264 {what} of the encoding parameters failed ({code})"),
        )
    };
    // SAFETY: the encoder is initialised (it has encoded a picture); ENCODER_OPTION_SVC_
    // ENCODE_PARAM_EXT reads and writes exactly one `SEncParamExt`, which lives on this stack
    // frame for both calls; no other parameter the crate relies on (size, format) changes.
    unsafe {
        let raw = encoder.raw_api();
        let code = raw.get_option(
            ENCODER_OPTION_SVC_ENCODE_PARAM_EXT,
            std::ptr::addr_of_mut!(params).cast(),
        );
        if code != 0 {
            return Err(failed("reading", code));
        }
        params.iTemporalLayerNum = layers;
        params.uiIntraPeriod = 0;
        let code = raw.set_option(
            ENCODER_OPTION_SVC_ENCODE_PARAM_EXT,
            std::ptr::addr_of_mut!(params).cast(),
        );
        if code != 0 {
            return Err(failed("setting", code));
        }
    }
    encoder.force_intra_frame();
    Ok(())
}

impl H264Encoder for OpenH264Encoder {
    fn encode(&mut self, frame: &Frame, force_key: bool) -> HalResult<Option<EncodedFrame>> {
        let (w, h) = (self.params.width as usize, self.params.height as usize);
        if frame.format != PixelFormat::I420
            || frame.width as usize != w
            || frame.height as usize != h
        {
            return Err(HalError::new(
                HalErrorKind::InvalidArgument,
                format!(
                    "encoder expects I420 {w}x{h}, got {:?} {}x{}",
                    frame.format, frame.width, frame.height
                ),
            ));
        }
        let (cw, ch) = convert::i420_chroma_size(w, h);
        if frame.data.len() < convert::i420_len(w, h) {
            return Err(HalError::new(
                HalErrorKind::InvalidArgument,
                "I420 frame shorter than its size",
            ));
        }
        let (y, rest) = frame.data.split_at(w * h);
        let (u, rest) = rest.split_at(cw * ch);
        let v = &rest[..cw * ch];
        let yuv = YUVSlices::new((y, u, v), (w, h), (w, cw, cw));
        let started = *self.started.get_or_insert_with(Instant::now);
        let pts = started.elapsed();
        let gop_over = self.params.temporal_layers && self.since_key >= self.params.gop.max(1);
        if force_key || self.sequence == 0 || gop_over {
            self.encoder.force_intra_frame();
        }
        let stream = self
            .encoder
            .encode_at(
                &yuv,
                openh264::Timestamp::from_millis(pts.as_millis() as u64),
            )
            .map_err(|e| HalError::new(HalErrorKind::Io, format!("OpenH264 encode: {e}")))?;
        let keyframe = match stream.frame_type() {
            FrameType::Skip | FrameType::Invalid => return Ok(None),
            FrameType::IDR => true,
            FrameType::I | FrameType::P | FrameType::IPMixed => false,
        };
        self.since_key = if keyframe { 1 } else { self.since_key + 1 };
        self.out.clear();
        stream.write_vec(&mut self.out);
        if keyframe {
            self.config = h264::config_for(
                &self.out,
                self.params.width,
                self.params.height,
                self.config.as_ref(),
            );
        }
        let Some(config) = self.config.clone() else {
            // No parameter sets seen yet: nothing decodable to hand out.
            return Ok(None);
        };
        let encoded = EncodedFrame {
            codec: VideoCodec::H264,
            data: Arc::from(&self.out[..]),
            keyframe,
            pts,
            captured: frame.captured,
            sequence: self.sequence,
            config,
        };
        self.sequence += 1;
        Ok(Some(encoded))
    }

    fn params(&self) -> H264Params {
        self.params
    }

    fn reconfigure(&mut self, params: H264Params) -> HalResult<()> {
        if params == self.params {
            return Ok(());
        }
        // The crate fixes rate control when the encoder is made: a new encoder (which starts
        // with an IDR) is how the software backend changes any parameter.
        Err(HalError::new(
            HalErrorKind::NotSupported,
            "the software encoder is reopened for new parameters",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn gray_frame(w: u32, h: u32, shade: u8, sequence: u64) -> Frame {
        let mut data = vec![128u8; convert::i420_len(w as usize, h as usize)];
        for (i, p) in data[..(w * h) as usize].iter_mut().enumerate() {
            *p = shade.wrapping_add((i % w as usize) as u8);
        }
        Frame {
            width: w,
            height: h,
            format: PixelFormat::I420,
            data: Arc::from(data),
            sequence,
            captured: SystemTime::now(),
        }
    }

    #[test]
    fn test_openh264_first_frame_is_idr_with_parameter_sets_and_gop_is_kept() {
        let params = H264Params {
            width: 160,
            height: 96,
            fps: 10,
            bitrate: 200_000,
            vbr: false,
            gop: 5,
            temporal_layers: false,
        };
        let mut encoder = OpenH264Factory.open(params).unwrap();
        let mut keys = Vec::new();
        for n in 0..12u64 {
            let frame = gray_frame(160, 96, (n * 7) as u8, n);
            if let Some(out) = encoder.encode(&frame, n == 7).unwrap() {
                if out.keyframe {
                    keys.push(n);
                    assert!(h264::parameter_sets(&out.data).is_some());
                }
                assert_eq!(out.config.width, 160);
            }
        }
        assert_eq!(keys.first(), Some(&0));
        assert!(keys.contains(&5), "periodic IDR at the GOP: {keys:?}");
        assert!(keys.contains(&7), "forced IDR: {keys:?}");
    }

    #[test]
    fn test_openh264_temporal_layers_make_every_other_picture_droppable_and_keep_the_gop() {
        let params = H264Params {
            width: 160,
            height: 96,
            fps: 10,
            bitrate: 200_000,
            vbr: true,
            gop: 10,
            temporal_layers: true,
        };
        assert!(OpenH264Factory.frame_skipping_reference().is_ok());
        let mut encoder = OpenH264Factory.open(params).unwrap();
        let mut pattern = String::new();
        for n in 0..30u64 {
            let frame = gray_frame(160, 96, (n * 7) as u8, n);
            let out = encoder
                .encode(&frame, false)
                .unwrap()
                .expect("VBR skips nothing");
            pattern.push(if out.keyframe {
                'I'
            } else if h264::is_droppable(&out) {
                'd'
            } else {
                'R'
            });
        }
        // Base pictures four apart, a second-layer one midway, the rest droppable; an IDR
        // every GOP (10) even though OpenH264's layered period would be 12.
        assert_eq!(pattern, "IdRdRdRdRdIdRdRdRdRdIdRdRdRdRd");
        // Mode 0 has no droppable picture.
        let mut plain = OpenH264Factory
            .open(H264Params {
                temporal_layers: false,
                ..params
            })
            .unwrap();
        for n in 0..12u64 {
            let out = plain
                .encode(&gray_frame(160, 96, (n * 7) as u8, n), false)
                .unwrap()
                .expect("a picture");
            assert!(!h264::is_droppable(&out), "picture {n}");
        }
    }

    #[test]
    fn test_openh264_refuses_odd_size_and_wrong_frames() {
        let mut params = H264Params {
            width: 161,
            height: 96,
            fps: 10,
            bitrate: 200_000,
            vbr: true,
            gop: 5,
            temporal_layers: false,
        };
        assert!(OpenH264Encoder::new(params).is_err());
        params.width = 160;
        let mut encoder = OpenH264Encoder::new(params).unwrap();
        assert!(encoder.encode(&gray_frame(320, 96, 0, 0), false).is_err());
    }
}
