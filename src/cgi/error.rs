//! One error type for every command, and the one place that maps failures onto the guide's
//! result codes. Replies never carry internal error text; details go to the log.

use ipcamd_hal::{HalError, HalErrorKind};

use crate::store::StoreError;

/// Result of a command handler.
pub type CgiResult<T> = Result<T, CgiError>;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CgiError {
    /// -1: malformed request, missing or out-of-range parameter.
    #[error("format error: {0}")]
    Format(String),
    /// -2: unknown user or wrong password (or locked out).
    #[error("bad credentials")]
    Auth,
    /// -3: privilege too low.
    #[error("access denied")]
    Denied,
    /// -4: the command could not be carried out (hardware, state, storage).
    #[error("execute fail: {0}")]
    Exec(String),
    /// -5: a device or the command's deadline timed out.
    #[error("timeout: {0}")]
    Timeout(String),
    /// -7: anything unclassified.
    #[error("unknown error: {0}")]
    Unknown(String),
}

impl CgiError {
    /// The guide's `<result>` code.
    pub fn code(&self) -> i32 {
        match self {
            CgiError::Format(_) => -1,
            CgiError::Auth => -2,
            CgiError::Denied => -3,
            CgiError::Exec(_) => -4,
            CgiError::Timeout(_) => -5,
            CgiError::Unknown(_) => -7,
        }
    }

    /// A format error naming the offending field.
    pub fn field(name: &str, why: &str) -> CgiError {
        CgiError::Format(format!("{name}: {why}"))
    }
}

impl From<HalError> for CgiError {
    fn from(err: HalError) -> CgiError {
        match err.kind() {
            HalErrorKind::Timeout => CgiError::Timeout(err.to_string()),
            _ => CgiError::Exec(err.to_string()),
        }
    }
}

impl From<StoreError> for CgiError {
    fn from(err: StoreError) -> CgiError {
        match err {
            StoreError::Busy => CgiError::Timeout(err.to_string()),
            other => CgiError::Exec(other.to_string()),
        }
    }
}
