//! V4L2 capture backend (filled in by the live-video work).

use std::sync::Arc;

use crate::board::BoardSpec;
use crate::video::{Encoder, VideoSource};
use crate::{HalError, HalErrorKind, HalResult};

/// Opens the board's capture device.
pub fn open(_board: &BoardSpec) -> HalResult<Arc<dyn VideoSource>> {
    Err(HalError::new(
        HalErrorKind::NotSupported,
        "V4L2 capture backend",
    ))
}

/// The board's JPEG encoder.
pub fn encoder(_board: &BoardSpec) -> HalResult<Arc<dyn Encoder>> {
    Ok(Arc::new(crate::sim::video::SoftwareJpegEncoder))
}
