//! Simulated pan/tilt motor. (The PTZ issue puts a Pelco-D/P motor behind a real pty here.)

use std::sync::Arc;

use crate::HalResult;
use crate::board::BoardSpec;
use crate::ptz::PanTilt;

/// Opens the board's motor; `None` until the simulated motor exists.
pub fn open(_board: &BoardSpec) -> HalResult<Option<Arc<dyn PanTilt>>> {
    Ok(None)
}
