//! Recording-medium role (the SD card): where snapshots and recordings go, and how full it is.

use std::path::Path;

use crate::HalResult;

/// Space on the recording medium, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes free.
    pub free: u64,
    /// Bytes in all.
    pub total: u64,
}

/// The recording medium.
pub trait Storage: Send + Sync {
    /// Folder where files are written.
    fn root(&self) -> &Path;
    /// Free and total space; an error when no card is inserted.
    fn space(&self) -> HalResult<Space>;
}
