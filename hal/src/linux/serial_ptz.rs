//! RS485 serial motor-controller backend (filled in by the PTZ work).

use std::sync::Arc;

use crate::board::BoardSpec;
use crate::ptz::PanTilt;
use crate::{HalError, HalErrorKind, HalResult};

/// Opens the board's motor controller, if it has one.
pub fn open(board: &BoardSpec) -> HalResult<Option<Arc<dyn PanTilt>>> {
    match &board.ptz {
        None => Ok(None),
        Some(_) => Err(HalError::new(
            HalErrorKind::NotSupported,
            "serial PTZ backend",
        )),
    }
}
