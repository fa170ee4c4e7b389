//! RS485 serial motor-controller backend of the Linux board: the board file's `[ptz] port`
//! driven by the shared [`SerialPanTilt`] transport with the board's factory settings.

use std::sync::Arc;

use crate::board::BoardSpec;
use crate::ptz::PanTilt;
use crate::ptz::serial::SerialPanTilt;
use crate::{HalError, HalErrorKind, HalResult};

/// Opens the board's motor controller, if it has one.
pub fn open(board: &BoardSpec) -> HalResult<Option<Arc<dyn PanTilt>>> {
    let Some(spec) = &board.ptz else {
        return Ok(None);
    };
    let Some(port) = &spec.port else {
        return Err(HalError::new(
            HalErrorKind::InvalidArgument,
            "board file: a linux board's [ptz] needs a port",
        ));
    };
    let transport = SerialPanTilt::open(&board.resolve(port), spec.serial_settings())?;
    Ok(Some(Arc::new(transport)))
}
