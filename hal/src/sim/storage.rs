//! Simulated SD card: a folder in the data directory; space is the real free space of the
//! file system that holds it.

use std::path::{Path, PathBuf};

use crate::storage::{Space, Storage};
use crate::{HalError, HalErrorKind, HalResult};

/// A folder standing in for the SD card.
pub struct SimStorage {
    root: PathBuf,
}

impl SimStorage {
    /// Creates the folder when missing.
    pub fn open(root: &Path) -> HalResult<SimStorage> {
        std::fs::create_dir_all(root)
            .map_err(|e| HalError::io(format!("creating {}", root.display()), e))?;
        Ok(SimStorage {
            root: root.to_path_buf(),
        })
    }
}

impl Storage for SimStorage {
    fn root(&self) -> &Path {
        &self.root
    }

    // The statvfs fields are u32 on 32-bit ARM and u64 on x86_64: the conversions are needed.
    #[allow(clippy::useless_conversion)]
    fn space(&self) -> HalResult<Space> {
        let stat = nix::sys::statvfs::statvfs(&self.root).map_err(|e| {
            HalError::new(HalErrorKind::Io, "statvfs on the SD folder").with_source(e)
        })?;
        let block = u64::from(stat.fragment_size());
        Ok(Space {
            free: u64::from(stat.blocks_available()).saturating_mul(block),
            total: u64::from(stat.blocks()).saturating_mul(block),
        })
    }
}
