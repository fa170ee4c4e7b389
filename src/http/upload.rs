//! The one temporary file type of POST uploads (importConfig, fwUpgrade): created 0600 in the
//! data directory, streamed into under the route's size cap, removed when dropped.

use std::path::{Path, PathBuf};

/// The file.
pub struct TempFile {
    path: PathBuf,
}

impl TempFile {
    /// Creates a new, empty, uniquely named file in `dir` (mode 0600).
    pub fn create(dir: &Path) -> std::io::Result<TempFile> {
        use std::os::unix::fs::OpenOptionsExt;
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            ".upload-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        Ok(TempFile { path })
    }

    /// Opens the file for writing.
    pub fn reopen(&self) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new().write(true).open(&self.path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
