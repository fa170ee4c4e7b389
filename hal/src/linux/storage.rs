//! The SD card of a Linux board: the mount point the board file names. A card is there only
//! when something is mounted exactly at that path (`/proc/self/mountinfo`), so an empty mount
//! directory reads as "no card", not as a card of the root file system's size. Read-only comes
//! from the mount options (write-protect switch, or the kernel's remount after an I/O error)
//! and from statvfs; full from the free space.

use std::path::{Path, PathBuf};

use crate::sim::storage::host_space;
use crate::storage::{CardStatus, Storage, mount_writable};

/// The SD card slot.
pub struct SdCard {
    mount_point: PathBuf,
}

impl SdCard {
    /// The card mounted (or to be mounted) at `mount_point`. Never fails: a missing card is a
    /// state, not an error.
    pub fn new(mount_point: &Path) -> SdCard {
        SdCard {
            mount_point: mount_point.to_path_buf(),
        }
    }
}

impl Storage for SdCard {
    fn root(&self) -> &Path {
        &self.mount_point
    }

    fn status(&self) -> CardStatus {
        let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return CardStatus::ABSENT;
        };
        let Some(writable) = mount_writable(&mountinfo, &self.mount_point) else {
            return CardStatus::ABSENT;
        };
        let flags_writable = nix::sys::statvfs::statvfs(&self.mount_point)
            .map(|s| !s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
            .unwrap_or(false);
        match host_space(&self.mount_point) {
            Ok(space) => CardStatus::mounted(space, writable && flags_writable),
            Err(_) => CardStatus::ABSENT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::CardState;

    #[test]
    fn test_an_empty_directory_is_no_card_and_the_root_mount_is_one() {
        let dir = std::env::temp_dir().join(format!("ipcamd-sdcard-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(SdCard::new(&dir).status().state, CardState::Absent);
        assert_eq!(
            SdCard::new(Path::new("/nonexistent/sd")).status(),
            CardStatus::ABSENT
        );
        std::fs::remove_dir_all(&dir).unwrap();
        // "/" is always a mount point: a card-like answer with real space.
        let root = SdCard::new(Path::new("/")).status();
        assert_ne!(root.state, CardState::Absent);
        assert!(root.space.unwrap().total > 0);
    }
}
