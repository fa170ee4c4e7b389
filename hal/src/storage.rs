//! Recording-medium role (the SD card): where snapshots and recordings go, whether a card is
//! there and writable, and how full it is.
//!
//! A camera's card comes and goes (hot removal), can be write-protected or remounted read-only
//! by the kernel after an error, and fills up. [`Storage::status`] tells those apart so the
//! daemon reports them (getDevState sdState) and the recorder reacts (ends its segment, waits
//! for a card, frees space or stops).

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

/// Whether a card is there and what can be done with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardState {
    /// No card in the slot (nothing mounted at the mount point).
    Absent,
    /// A card is mounted read-only (write-protect switch, or the kernel remounted it after an
    /// error): recordings can be listed and played, not written.
    ReadOnly,
    /// A writable card with less than [`FULL_RESERVE_BYTES`] free.
    Full,
    /// A writable card with room.
    Ready,
}

impl CardState {
    /// The guide's getDevState `sdState`: 0 no card, 1 card OK, 2 read only. A full card is
    /// a working card (1); its `sdFreeSpace` says it is full.
    pub fn sd_state(self) -> u8 {
        match self {
            CardState::Absent => 0,
            CardState::Ready | CardState::Full => 1,
            CardState::ReadOnly => 2,
        }
    }

    /// Why writing is impossible, or `None` when it is possible.
    pub fn why_not_writable(self) -> Option<&'static str> {
        match self {
            CardState::Absent => Some("no SD card in the slot"),
            CardState::ReadOnly => Some("the SD card is read-only"),
            CardState::Full => Some("the SD card is full"),
            CardState::Ready => None,
        }
    }
}

/// A card with less free space than this is full: a segment fragment, the index's journal and
/// file-system metadata must always fit.
pub const FULL_RESERVE_BYTES: u64 = 4 * 1024 * 1024;

/// State and space of the card at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardStatus {
    /// Present, read-only, full or ready.
    pub state: CardState,
    /// Free and total space (`None` without a card).
    pub space: Option<Space>,
}

impl CardStatus {
    /// Classifies a mounted card from its space and writability.
    pub fn mounted(space: Space, writable: bool) -> CardStatus {
        let state = if !writable {
            CardState::ReadOnly
        } else if space.free < FULL_RESERVE_BYTES {
            CardState::Full
        } else {
            CardState::Ready
        };
        CardStatus {
            state,
            space: Some(space),
        }
    }

    /// No card.
    pub const ABSENT: CardStatus = CardStatus {
        state: CardState::Absent,
        space: None,
    };
}

/// The recording medium.
pub trait Storage: Send + Sync {
    /// Folder where files are written (the mount point).
    fn root(&self) -> &Path;
    /// Whether a card is there, writable, full; and its space.
    fn status(&self) -> CardStatus;
    /// Free and total space; an error when no card is inserted.
    fn space(&self) -> HalResult<Space> {
        self.status().space.ok_or_else(|| {
            crate::HalError::new(crate::HalErrorKind::Disconnected, "no SD card in the slot")
        })
    }
}

/// The mount at `mount_point` in a `/proc/self/mountinfo` text: `Some(writable)` when
/// something is mounted exactly there (the last such line wins, as later mounts cover earlier
/// ones), `None` when nothing is (an empty directory is not a card).
pub fn mount_writable(mountinfo: &str, mount_point: &Path) -> Option<bool> {
    let wanted = mount_point.to_str()?;
    let wanted = wanted
        .strip_suffix('/')
        .filter(|w| !w.is_empty())
        .unwrap_or(wanted);
    let mut found = None;
    for line in mountinfo.lines() {
        // id parent major:minor root mount-point options [optional...] - fstype source super
        let mut fields = line.split(' ');
        let (Some(point), Some(options)) = (fields.nth(4), fields.next()) else {
            continue;
        };
        if unescape_octal(point) == wanted {
            found = Some(!options.split(',').any(|o| o == "ro"));
        }
    }
    found
}

/// mountinfo writes space, tab, newline and backslash in paths as `\ooo`.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value = (bytes[i + 1] - b'0') as u32 * 64
                + (bytes[i + 2] - b'0') as u32 * 8
                + (bytes[i + 3] - b'0') as u32;
            out.push(value as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 179:2 / / rw,relatime shared:1 - ext4 /dev/mmcblk0p2 rw
30 22 179:33 / /mnt/sd rw,noatime shared:9 - vfat /dev/mmcblk1p1 rw,fmask=0022
31 22 179:49 / /mnt/ro\\040card ro,noatime - vfat /dev/mmcblk2p1 ro
";

    #[test]
    fn test_mount_writable_tells_mounted_read_only_and_absent_apart() {
        assert_eq!(mount_writable(MOUNTINFO, Path::new("/mnt/sd")), Some(true));
        assert_eq!(mount_writable(MOUNTINFO, Path::new("/mnt/sd/")), Some(true));
        assert_eq!(
            mount_writable(MOUNTINFO, Path::new("/mnt/ro card")),
            Some(false)
        );
        assert_eq!(mount_writable(MOUNTINFO, Path::new("/mnt")), None);
        assert_eq!(mount_writable(MOUNTINFO, Path::new("/mnt/sd/record")), None);
        assert_eq!(mount_writable(MOUNTINFO, Path::new("/")), Some(true));
    }

    #[test]
    fn test_card_status_classifies_space_and_writability() {
        let roomy = Space {
            free: 1 << 30,
            total: 2 << 30,
        };
        let full = Space {
            free: FULL_RESERVE_BYTES - 1,
            total: 2 << 30,
        };
        assert_eq!(CardStatus::mounted(roomy, true).state, CardState::Ready);
        assert_eq!(CardStatus::mounted(full, true).state, CardState::Full);
        assert_eq!(CardStatus::mounted(roomy, false).state, CardState::ReadOnly);
        assert_eq!(CardState::Full.sd_state(), 1);
        assert_eq!(CardState::ReadOnly.sd_state(), 2);
        assert_eq!(CardState::Absent.sd_state(), 0);
        assert!(CardState::Ready.why_not_writable().is_none());
    }
}
