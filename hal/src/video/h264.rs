//! The H.264 encoder role: what a stream asks of an encoder ([`H264Params`]), the stateful
//! encoder itself ([`H264Encoder`], one per stream) and the factory a board offers
//! ([`H264EncoderFactory`]). Backends: the software encoder ([`super::openh264`], feature
//! `software-h264`) and the V4L2 memory-to-memory encoder (`linux::m2m`).
//!
//! Also the pure Annex-B helpers every consumer needs: [`nal_units`] splits an access unit
//! into NAL units, [`is_droppable`] tells a frame no other frame references.

use std::sync::Arc;

use super::Frame;
use super::encoded::{EncodedFrame, H264Config};
use crate::HalResult;

/// What one stream's encoder is asked to produce. Values are the guide's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H264Params {
    /// Picture width in pixels (input frames must have it).
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Frames per second the encoder is fed.
    pub fps: u32,
    /// Target bit rate in bits per second.
    pub bitrate: u32,
    /// Variable bit rate (quality first, `bitrate` as a cap) instead of constant.
    pub vbr: bool,
    /// Key-frame (IDR) period in frames.
    pub gop: u32,
    /// setH264FrmRefMode 1, the guide's "two frames are separated by four skipping frames"
    /// (Foscam's wording of the HiSilicon encoders' "4x frame-skipping reference"): three
    /// temporal layers, base pictures four frames apart, each referencing the previous base
    /// picture; a second-layer picture midway; the two others of every four referenced by
    /// nothing (droppable: `nal_ref_idc` 0), so a consumer may drop to half or a quarter of
    /// the rate without breaking decoding. Only backends whose factory says
    /// [`H264EncoderFactory::frame_skipping_reference`] honour it; the CGI refuses the mode
    /// on the others.
    pub temporal_layers: bool,
}

/// A stateful H.264 encoder for one stream.
pub trait H264Encoder: Send {
    /// Encodes one I420 frame of the configured size. `force_key` asks for an IDR picture.
    /// `None` when the encoder skipped the picture (rate control) or holds it (hardware
    /// pipelines deliver one or two frames late).
    fn encode(&mut self, frame: &Frame, force_key: bool) -> HalResult<Option<EncodedFrame>>;
    /// The parameters in force.
    fn params(&self) -> H264Params;
    /// Applies new rate parameters (bitrate, VBR, GOP, frame rate) to the running encoder
    /// when the backend can; `NotSupported` when only a new encoder can (size, layering).
    fn reconfigure(&mut self, params: H264Params) -> HalResult<()>;
}

/// Makes encoders: one per stream, opened when the stream gets its first consumer.
pub trait H264EncoderFactory: Send + Sync {
    /// A new encoder for `params`.
    fn open(&self, params: H264Params) -> HalResult<Box<dyn H264Encoder>>;
    /// What the encoder is, for logs and getDevInfo-style reports.
    fn name(&self) -> &str;
    /// Whether the encoder can make setH264FrmRefMode 1's reference structure
    /// ([`H264Params::temporal_layers`]); `Err` says why not. OpenH264 can; a V4L2 M2M
    /// encoder can when it has the H.264 hierarchical-coding controls (P type, three layers).
    fn frame_skipping_reference(&self) -> Result<(), String> {
        Err("this encoder has no temporal layering".into())
    }
}

/// The software encoder, when this build has one (feature `software-h264`).
pub fn software_factory() -> Option<Arc<dyn H264EncoderFactory>> {
    #[cfg(feature = "software-h264")]
    {
        Some(Arc::new(super::openh264::OpenH264Factory))
    }
    #[cfg(not(feature = "software-h264"))]
    {
        None
    }
}

/// NAL unit type of a sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// NAL unit type of a picture parameter set.
pub const NAL_PPS: u8 = 8;
/// NAL unit type of an IDR slice.
pub const NAL_IDR: u8 = 5;
/// NAL unit type of a non-IDR slice.
pub const NAL_SLICE: u8 = 1;

/// The NAL units of an Annex-B byte stream, without their start codes (3- or 4-byte).
pub fn nal_units(stream: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = skip_start_code(stream);
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = find_start_code(rest).unwrap_or(rest.len());
        let mut nal = &rest[..end];
        rest = skip_start_code(&rest[end..]);
        // A 4-byte start code leaves its leading zero on the previous unit.
        while let [head @ .., 0] = nal {
            nal = head;
        }
        Some(nal)
    })
    .filter(|n| !n.is_empty())
}

fn find_start_code(data: &[u8]) -> Option<usize> {
    data.windows(3).position(|w| w == [0, 0, 1])
}

fn skip_start_code(data: &[u8]) -> &[u8] {
    match find_start_code(data) {
        Some(at) if data[..at].iter().all(|&b| b == 0) => &data[at + 3..],
        _ => data,
    }
}

/// NAL unit type (low five bits of the header byte).
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |h| h & 0x1f)
}

/// Whether no other picture references this one (every slice has `nal_ref_idc` 0): a
/// consumer that wants a lower frame rate may drop it without breaking decoding.
pub fn is_droppable(frame: &EncodedFrame) -> bool {
    let mut slices = nal_units(&frame.data)
        .filter(|n| matches!(nal_type(n), NAL_SLICE | NAL_IDR))
        .peekable();
    slices.peek().is_some() && slices.all(|n| n[0] & 0x60 == 0)
}

/// The SPS and PPS an access unit carries, if it carries both.
pub fn parameter_sets(access_unit: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut sps = None;
    let mut pps = None;
    for nal in nal_units(access_unit) {
        match nal_type(nal) {
            NAL_SPS => sps = sps.or(Some(nal)),
            NAL_PPS => pps = pps.or(Some(nal)),
            _ => {}
        }
    }
    Some((sps?, pps?))
}

/// The [`H264Config`] for the parameter sets in `access_unit`, reusing `previous` when they
/// did not change (so consumers can compare configurations by pointer).
pub fn config_for(
    access_unit: &[u8],
    width: u32,
    height: u32,
    previous: Option<&Arc<H264Config>>,
) -> Option<Arc<H264Config>> {
    let (sps, pps) = parameter_sets(access_unit)?;
    if let Some(prev) = previous {
        if prev.sps == sps && prev.pps == pps && prev.width == width && prev.height == height {
            return Some(prev.clone());
        }
    }
    Some(Arc::new(H264Config {
        sps: sps.to_vec(),
        pps: pps.to_vec(),
        width,
        height,
    }))
}

/// `profile-level-id` of an SDP `fmtp` line: the three bytes after the SPS NAL header.
pub fn profile_level_id(config: &H264Config) -> Option<[u8; 3]> {
    let bytes = config.sps.get(1..4)?;
    Some([bytes[0], bytes[1], bytes[2]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::encoded::VideoCodec;
    use std::time::{Duration, SystemTime};

    #[test]
    fn test_nal_units_splits_three_and_four_byte_start_codes() {
        let stream = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5,
        ];
        let nals: Vec<&[u8]> = nal_units(&stream).collect();
        assert_eq!(nals, vec![&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 4, 5]]);
        assert_eq!(
            parameter_sets(&stream),
            Some((&[0x67, 1, 2][..], &[0x68, 3][..]))
        );
        assert_eq!(nal_units(&[]).count(), 0);
    }

    #[test]
    fn test_is_droppable_reads_nal_ref_idc_of_every_slice() {
        let frame = |data: &[u8]| EncodedFrame {
            codec: VideoCodec::H264,
            data: Arc::from(data),
            keyframe: false,
            pts: Duration::ZERO,
            captured: SystemTime::UNIX_EPOCH,
            sequence: 0,
            config: Arc::new(H264Config {
                sps: vec![0x67, 0x42, 0xc0, 0x1f],
                pps: vec![0x68],
                width: 16,
                height: 16,
            }),
        };
        assert!(is_droppable(&frame(&[0, 0, 1, 0x01, 9])));
        assert!(!is_droppable(&frame(&[0, 0, 1, 0x41, 9])));
        assert!(!is_droppable(&frame(&[0, 0, 1, 0x01, 9, 0, 0, 1, 0x21, 9])));
        assert!(!is_droppable(&frame(&[0, 0, 1, 0x09, 0x10])));
        let cfg = frame(&[]).config;
        assert_eq!(profile_level_id(&cfg), Some([0x42, 0xc0, 0x1f]));
    }
}
