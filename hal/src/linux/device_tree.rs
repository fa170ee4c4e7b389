//! The board file's `compatible` check: a Linux board file names the device-tree
//! `compatible` entry of the hardware it describes, and the daemon refuses to drive GPIO lines
//! and serial ports of a board it was not written for (a wrong board file can switch an alarm
//! output or a motor line). A board file without `compatible` fits any machine.

use crate::{HalError, HalErrorKind, HalResult};

/// Where the kernel shows the root node's `compatible` list (NUL-separated strings).
pub const COMPATIBLE_PATH: &str = "/proc/device-tree/compatible";

/// Checks `wanted` against the machine's `compatible` list (`None`: no device tree here).
pub fn check_compatible(wanted: Option<&str>, tree: Option<&[u8]>) -> HalResult<()> {
    let Some(wanted) = wanted else {
        return Ok(());
    };
    let Some(tree) = tree else {
        return Err(HalError::new(
            HalErrorKind::NotSupported,
            format!(
                "the board file is for a machine compatible with \"{wanted}\", and this one \
                 has no device tree ({COMPATIBLE_PATH}); remove `compatible` from the board file \
                 to run anyway"
            ),
        ));
    };
    let entries: Vec<&str> = tree
        .split(|&b| b == 0)
        .filter(|entry| !entry.is_empty())
        .map(|entry| std::str::from_utf8(entry).unwrap_or("?"))
        .collect();
    if entries.contains(&wanted) {
        return Ok(());
    }
    Err(HalError::new(
        HalErrorKind::NotSupported,
        format!(
            "the board file is for a machine compatible with \"{wanted}\"; this one is {}",
            entries.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_any_entry_of_the_list_matches() {
        let tree = b"raspberrypi,3-model-b\0brcm,bcm2837\0";
        assert!(check_compatible(Some("brcm,bcm2837"), Some(tree)).is_ok());
        assert!(check_compatible(Some("raspberrypi,3-model-b"), Some(tree)).is_ok());
    }

    #[test]
    fn test_a_missing_entry_or_device_tree_is_refused_and_says_what_is_there() {
        let err = check_compatible(Some("sigmastar,ssc335"), Some(b"linux,dummy-virt\0"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sigmastar,ssc335") && err.contains("linux,dummy-virt"),
            "{err}"
        );
        let err = check_compatible(Some("sigmastar,ssc335"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no device tree"), "{err}");
        // A prefix of an entry is not the entry.
        assert!(check_compatible(Some("linux,dummy"), Some(b"linux,dummy-virt\0")).is_err());
    }

    #[test]
    fn test_a_board_file_without_compatible_fits_any_machine() {
        assert!(check_compatible(None, None).is_ok());
        assert!(check_compatible(None, Some(b"anything\0")).is_ok());
    }
}
