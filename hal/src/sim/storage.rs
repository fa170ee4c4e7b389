//! Simulated SD card: a folder in the data directory with a size cap from the board file
//! (`[storage] capacity_mb`), so "full" happens after a few megabytes of recordings. Free space
//! is the cap minus what the folder holds (never more than the host file system has free).
//! Tests eject it, re-insert it and flip its write-protect switch.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::storage::{CardStatus, Space, Storage};
use crate::{HalError, HalErrorKind, HalResult};

/// A folder standing in for the SD card.
pub struct SimStorage {
    root: PathBuf,
    capacity: Option<u64>,
    inserted: AtomicBool,
    write_protected: AtomicBool,
}

impl SimStorage {
    /// Creates the folder when missing. `capacity` caps the card's size in bytes (`None`: the
    /// host file system's size).
    pub fn open(root: &Path, capacity: Option<u64>) -> HalResult<SimStorage> {
        std::fs::create_dir_all(root)
            .map_err(|e| HalError::io(format!("creating {}", root.display()), e))?;
        Ok(SimStorage {
            root: root.to_path_buf(),
            capacity,
            inserted: AtomicBool::new(true),
            write_protected: AtomicBool::new(false),
        })
    }

    /// Takes the card out (`false`) or puts it back (`true`). The files stay in the folder,
    /// as they stay on a real card.
    pub fn set_inserted(&self, inserted: bool) {
        self.inserted.store(inserted, Ordering::SeqCst);
    }

    /// Slides the write-protect switch.
    pub fn set_write_protected(&self, protected: bool) {
        self.write_protected.store(protected, Ordering::SeqCst);
    }

    fn host_space(&self) -> HalResult<Space> {
        host_space(&self.root)
    }
}

/// Free and total space of the file system holding `path` (statvfs).
// statvfs field widths differ between targets (u32 on armhf, u64 on x86_64).
#[allow(clippy::useless_conversion)]
pub(crate) fn host_space(path: &Path) -> HalResult<Space> {
    let stat = nix::sys::statvfs::statvfs(path)
        .map_err(|e| HalError::new(HalErrorKind::Io, "statvfs on the SD folder").with_source(e))?;
    let block = u64::from(stat.fragment_size());
    Ok(Space {
        free: u64::from(stat.blocks_available()).saturating_mul(block),
        total: u64::from(stat.blocks()).saturating_mul(block),
    })
}

/// Bytes held by the files under `dir`, counted in whole 4 KiB blocks as a card's file
/// system would.
fn used_bytes(dir: &Path) -> u64 {
    const BLOCK: u64 = 4096;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => used_bytes(&entry.path()),
            Ok(_) => entry
                .metadata()
                .map_or(0, |m| m.len().div_ceil(BLOCK) * BLOCK),
            Err(_) => 0,
        })
        .sum()
}

impl Storage for SimStorage {
    fn root(&self) -> &Path {
        &self.root
    }

    fn status(&self) -> CardStatus {
        if !self.inserted.load(Ordering::SeqCst) || !self.root.is_dir() {
            return CardStatus::ABSENT;
        }
        let Ok(host) = self.host_space() else {
            return CardStatus::ABSENT;
        };
        let space = match self.capacity {
            Some(capacity) => Space {
                free: capacity
                    .saturating_sub(used_bytes(&self.root))
                    .min(host.free),
                total: capacity,
            },
            None => host,
        };
        CardStatus::mounted(space, !self.write_protected.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{CardState, FULL_RESERVE_BYTES};

    #[test]
    fn test_capped_card_fills_up_ejects_and_write_protects() {
        let dir = tempfile_dir();
        let cap = FULL_RESERVE_BYTES + 64 * 1024;
        let card = SimStorage::open(&dir, Some(cap)).unwrap();
        let status = card.status();
        assert_eq!(status.state, CardState::Ready);
        assert_eq!(status.space.unwrap().total, cap);
        std::fs::write(dir.join("big"), vec![0u8; 128 * 1024]).unwrap();
        assert_eq!(card.status().state, CardState::Full);
        std::fs::remove_file(dir.join("big")).unwrap();
        card.set_write_protected(true);
        assert_eq!(card.status().state, CardState::ReadOnly);
        card.set_write_protected(false);
        card.set_inserted(false);
        assert_eq!(card.status(), CardStatus::ABSENT);
        assert!(card.space().is_err());
        card.set_inserted(true);
        assert_eq!(card.status().state, CardState::Ready);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "ipcamd-simcard-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }
}
