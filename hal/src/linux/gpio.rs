//! GPIO character-device backend (filled in by the alarms/IR work).

use std::sync::Arc;

use crate::board::LineSpec;
use crate::gpio::{InputLine, OutputLine};
use crate::{HalError, HalErrorKind, HalResult};

/// Opens an output line by name.
pub fn open_output(spec: &LineSpec) -> HalResult<Arc<dyn OutputLine>> {
    Err(HalError::new(
        HalErrorKind::NotSupported,
        format!("GPIO line {}", spec.line),
    ))
}

/// Opens an input line by name.
pub fn open_input(spec: &LineSpec) -> HalResult<Arc<dyn InputLine>> {
    Err(HalError::new(
        HalErrorKind::NotSupported,
        format!("GPIO line {}", spec.line),
    ))
}
