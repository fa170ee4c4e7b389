//! One error type for every command, and the one place that maps failures onto the wire:
//! the guide's `<result>` codes ([`CgiError::code`]), the HTTP status of the authenticated
//! downloads ([`CgiError::download_status`]), and the few commands' own outcome fields
//! (`logInResult`: [`LogInResult`]; `testResult`, `ctrlResult`, `getResult`, `upgradeResult`,
//! `logOutResult`, `checkResult`: [`outcome_field`]). No other module writes a code literal:
//! the HTTP layer, the dispatcher and the handlers produce a [`CgiError`] (or one of these
//! types) and ask it for its code. Replies never carry internal error text; details go to
//! the log.

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

    /// The HTTP status of an authenticated download (snapshot, export, recording) that
    /// failed: 401 for credentials, 403 for privilege, 404 for anything else (a download
    /// never says more about what exists).
    pub fn download_status(&self) -> u16 {
        match self {
            CgiError::Auth => 401,
            CgiError::Denied => 403,
            _ => 404,
        }
    }

    /// A format error naming the offending field.
    pub fn field(name: &str, why: &str) -> CgiError {
        CgiError::Format(format!("{name}: {why}"))
    }
}

/// logIn's own outcome (`logInResult`, a code list of its own in the guide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogInResult {
    /// 0: logged in.
    Success,
    /// -1: parameter check error.
    Format,
    /// -2: exceed max user (every session slot is taken).
    SessionsFull,
    /// -4: user not exist.
    NoSuchUser,
    /// -6: password error.
    WrongPassword,
}

impl LogInResult {
    /// The value of `logInResult`.
    pub fn code(self) -> i64 {
        match self {
            LogInResult::Success => 0,
            LogInResult::Format => -1,
            LogInResult::SessionsFull => -2,
            LogInResult::NoSuchUser => -4,
            LogInResult::WrongPassword => -6,
        }
    }
}

/// The value of a command's own 0/-1 outcome field (`testResult`, `ctrlResult`, `getResult`,
/// `upgradeResult`, `logOutResult`, `checkResult`): 0 when it worked, -1 when not.
pub fn outcome_field(ok: bool) -> i64 {
    if ok { 0 } else { -1 }
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
            StoreError::Busy | StoreError::TimedOut => CgiError::Timeout(err.to_string()),
            other => CgiError::Exec(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_every_error_has_the_guides_code_and_a_download_status() {
        let cases = [
            (CgiError::Format(String::new()), -1, 404),
            (CgiError::Auth, -2, 401),
            (CgiError::Denied, -3, 403),
            (CgiError::Exec(String::new()), -4, 404),
            (CgiError::Timeout(String::new()), -5, 404),
            (CgiError::Unknown(String::new()), -7, 404),
        ];
        for (err, code, status) in cases {
            assert_eq!((err.code(), err.download_status()), (code, status), "{err}");
        }
        assert_eq!(CgiError::from(StoreError::TimedOut).code(), -5);
        assert_eq!(CgiError::from(StoreError::Busy).code(), -5);
    }

    #[test]
    fn test_log_in_results_are_the_guides() {
        let codes: Vec<i64> = [
            LogInResult::Success,
            LogInResult::Format,
            LogInResult::SessionsFull,
            LogInResult::NoSuchUser,
            LogInResult::WrongPassword,
        ]
        .iter()
        .map(|r| r.code())
        .collect();
        assert_eq!(codes, [0, -1, -2, -4, -6]);
        assert_eq!((outcome_field(true), outcome_field(false)), (0, -1));
    }
}
