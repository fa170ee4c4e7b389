//! Encoded video: the access units a video encoder produces, as every consumer (RTSP viewers,
//! the recorder's pre-record ring and segment writer, the web page) receives them.
//!
//! One [`EncodedFrame`] is made per encoded picture and shared by reference count
//! (`Arc<EncodedFrame>`): consumers never copy the payload.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Compression of an [`EncodedFrame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// H.264 / AVC, Annex-B byte stream.
    H264,
    /// The vicodec test driver's FWHT format (QEMU lab only: proves the V4L2 M2M mechanics).
    Fwht,
}

/// The decoder configuration of an H.264 stream: the sequence and picture parameter sets
/// (NAL units without start codes). Shared by every frame of one encoder configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H264Config {
    /// Sequence parameter set NAL unit (first byte is the NAL header, type 7).
    pub sps: Vec<u8>,
    /// Picture parameter set NAL unit (type 8).
    pub pps: Vec<u8>,
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
}

/// One encoded picture (an access unit).
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    /// Compression format of `data`.
    pub codec: VideoCodec,
    /// For H.264: the access unit as an Annex-B byte stream (start codes included). A key
    /// frame carries its SPS and PPS inline before the IDR slice, so a consumer may start at
    /// any key frame.
    pub data: Arc<[u8]>,
    /// An IDR picture (a consumer may start decoding here).
    pub keyframe: bool,
    /// Presentation time since the encoder started (monotonic, increasing).
    pub pts: Duration,
    /// When the source picture was captured (camera clock).
    pub captured: SystemTime,
    /// Counter of encoded frames, increasing by one per frame of one encoder.
    pub sequence: u64,
    /// The stream's parameter sets in force for this frame.
    pub config: Arc<H264Config>,
}
