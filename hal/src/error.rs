//! The HAL's one error type: a classifiable kind plus context, so the daemon can map any
//! backend failure onto a CGI result code without knowing the backend.

use std::fmt;

/// Result of a HAL call.
pub type HalResult<T> = Result<T, HalError>;

/// What went wrong, in terms the CGI layer can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HalErrorKind {
    /// The device did not answer in time.
    Timeout,
    /// The device is in use or not ready.
    Busy,
    /// This board or device cannot do that.
    NotSupported,
    /// The value is outside what the device accepts.
    InvalidArgument,
    /// The device went away (unplugged, driver unloaded).
    Disconnected,
    /// Any other I/O failure.
    Io,
}

/// A HAL failure.
#[derive(Debug)]
pub struct HalError {
    kind: HalErrorKind,
    context: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl HalError {
    /// A new error of `kind` with a short description of what was attempted.
    pub fn new(kind: HalErrorKind, context: impl Into<String>) -> HalError {
        HalError {
            kind,
            context: context.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// An I/O error, classified by its `ErrorKind`.
    pub fn io(context: impl Into<String>, err: std::io::Error) -> HalError {
        let kind = match err.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => HalErrorKind::Timeout,
            std::io::ErrorKind::NotFound | std::io::ErrorKind::BrokenPipe => {
                HalErrorKind::Disconnected
            }
            std::io::ErrorKind::InvalidInput => HalErrorKind::InvalidArgument,
            std::io::ErrorKind::Unsupported => HalErrorKind::NotSupported,
            _ => HalErrorKind::Io,
        };
        HalError::new(kind, context).with_source(err)
    }

    /// The classification.
    pub fn kind(&self) -> HalErrorKind {
        self.kind
    }

    /// What was being attempted.
    pub fn context(&self) -> &str {
        &self.context
    }
}

impl fmt::Display for HalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.context, self.kind)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for HalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
