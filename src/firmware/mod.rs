//! Signed firmware images: the file format ([`format`]), building and streaming verification
//! ([`image`]), atomic installation with rollback ([`install`]), Ed25519 key files ([`keys`])
//! and the start-up loader that runs the installed release ([`loader`]).
//!
//! An image is `header | signature | payload`:
//! - the header carries the magic `IPCAMDFW`, the format version, the app version, the board
//!   ids it fits, the payload length and the payload's SHA-256;
//! - the Ed25519 signature signs the header bytes; because the header fixes the payload's
//!   length and SHA-256, it covers the whole image, and a verifier can reject a forged image
//!   before reading the payload and then hash the payload while streaming it;
//! - the payload is a small archive of files (the `ipcamd` binary, board files, systemd units).
//!
//! The daemon's fwUpgrade path is: the one upload file type (`http::upload::TempFile`, streamed
//! in under the size cap, as for importConfig) →
//! [`image::verify_image`] (signature, board, size, hash; nothing written) →
//! [`install::install`] (new release directory beside the running one, fsync, atomic symlink
//! switch, previous release kept) → exit with [`RESTART_EXIT_CODE`] so systemd restarts into
//! the new version, which calls [`install::confirm`] once it is ready. A release that never
//! confirms is undone by [`install::rollback_if_unconfirmed`] (run from the previous release
//! by `ipcamd-fw-rollback.service`).

pub mod format;
pub mod image;
pub mod install;
pub mod keys;
pub mod loader;

use std::io;

pub use image::{ImageFile, ImageInfo, VerifiedImage, build_image, verify_image, verify_reader};
pub use install::{confirm, install, installed_version, rollback, rollback_if_unconfirmed};

/// The version this binary reports (getProductAppVer, getDevInfo firmwareVer) and that images
/// built from it declare: `$IPCAMD_VERSION` at build time (cross/build-image.sh sets it to the
/// image version), else the crate version.
pub const RUNNING_VERSION: &str = match option_env!("IPCAMD_VERSION") {
    Some(version) => version,
    None => env!("CARGO_PKG_VERSION"),
};

/// Folder of the data directory where fwUpgrade installs releases.
pub const FIRMWARE_DIR: &str = "firmware";
/// Set by the start-up loader when it runs an installed release.
pub const LOADED_RELEASE_ENV: &str = "IPCAMD_RELEASE";

/// The version of the running firmware: the installed release's when the loader started one
/// (`LOADED_RELEASE_ENV` set), else this build's.
pub fn running_version(data_dir: &std::path::Path) -> String {
    installed_version(&data_dir.join(FIRMWARE_DIR))
        .ok()
        .flatten()
        .filter(|_| std::env::var_os(LOADED_RELEASE_ENV).is_some())
        .unwrap_or_else(|| RUNNING_VERSION.to_owned())
}

/// Where the daemon installs firmware: `<data dir>/firmware` (on a camera
/// `/var/lib/ipcamd/firmware`, inside the service's state directory).
pub fn install_root(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("firmware")
}

/// Largest image accepted, in bytes (header, signature and payload together).
pub const MAX_IMAGE_BYTES: u64 = 32 * 1024 * 1024;

/// The archive entry every image must carry: the daemon binary, made executable.
pub const DAEMON_ENTRY: &str = "ipcamd";

/// Exit status with which the daemon leaves after a successful install; the systemd unit lists
/// it in `RestartForceExitStatus=` so systemd starts the new version (EX_TEMPFAIL).
pub const RESTART_EXIT_CODE: i32 = 75;

/// Why an image was refused or could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum FwError {
    /// The file does not start with `IPCAMDFW`.
    #[error("not a firmware image (bad magic)")]
    BadMagic,
    /// The format version is not one this daemon reads.
    #[error("unsupported firmware format version {0}")]
    UnsupportedVersion(u16),
    /// The file ends before the header, signature or payload is complete.
    #[error("firmware image is truncated")]
    Truncated,
    /// Bytes follow the declared payload.
    #[error("firmware image has data after its payload")]
    TrailingData,
    /// The image (or the upload) is larger than the cap.
    #[error("firmware image too large: {size} bytes, limit {limit}")]
    Oversized {
        /// Declared or received size.
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// The header or the archive inside the payload is not well formed.
    #[error("malformed firmware image: {0}")]
    Malformed(String),
    /// The Ed25519 signature does not verify with the configured public key.
    #[error("firmware signature does not verify")]
    BadSignature,
    /// The payload does not hash to the signed SHA-256.
    #[error("firmware payload does not match its signed hash")]
    HashMismatch,
    /// The image does not list this board.
    #[error("firmware is for {supported:?}, not for board {board:?}")]
    WrongBoard {
        /// This board's id.
        board: String,
        /// The board ids the image lists.
        supported: Vec<String>,
    },
    /// A key file is missing or malformed.
    #[error("firmware key: {0}")]
    Key(String),
    /// Rollback was asked for but no previous release is kept.
    #[error("no previous firmware to roll back to")]
    NoPrevious,
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl FwError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> FwError {
        FwError::Io {
            context: context.into(),
            source,
        }
    }

    /// A short stable name of the error kind, for logs and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            FwError::BadMagic => "bad-magic",
            FwError::UnsupportedVersion(_) => "unsupported-version",
            FwError::Truncated => "truncated",
            FwError::TrailingData => "trailing-data",
            FwError::Oversized { .. } => "oversized",
            FwError::Malformed(_) => "malformed",
            FwError::BadSignature => "bad-signature",
            FwError::HashMismatch => "hash-mismatch",
            FwError::WrongBoard { .. } => "wrong-board",
            FwError::Key(_) => "key",
            FwError::NoPrevious => "no-previous",
            FwError::Io { .. } => "io",
        }
    }

    /// The guide's fwUpgrade `upgradeResult` for this failure: the guide defines only
    /// 0 (success) and -1 (fail); the reason goes to the log via [`FwError::kind`] and Display.
    pub fn upgrade_result(&self) -> i32 {
        -1
    }
}
