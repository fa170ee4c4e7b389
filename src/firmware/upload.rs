//! The temporary file an fwUpgrade upload streams into, with the size cap enforced as the
//! bytes arrive (an oversized upload is cut off, never stored whole).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{FwError, MAX_IMAGE_BYTES};

/// An upload being written to `<dir>/fw-upload.tmp` (one upload at a time per directory; a
/// second `create` replaces a stale file). Removed on drop unless [`UploadFile::finish`] kept it.
#[derive(Debug)]
pub struct UploadFile {
    file: Option<File>,
    path: PathBuf,
    written: u64,
    limit: u64,
}

impl UploadFile {
    /// Creates the upload file in `dir` (mode 0600) with the default cap [`MAX_IMAGE_BYTES`].
    pub fn create(dir: &Path) -> Result<UploadFile, FwError> {
        UploadFile::create_with_limit(dir, MAX_IMAGE_BYTES)
    }

    /// Creates the upload file with a given cap.
    pub fn create_with_limit(dir: &Path, limit: u64) -> Result<UploadFile, FwError> {
        let path = dir.join("fw-upload.tmp");
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| FwError::io(format!("creating {}", path.display()), e))?;
        Ok(UploadFile {
            file: Some(file),
            path,
            written: 0,
            limit,
        })
    }

    /// Appends a chunk of the upload. Fails with [`FwError::Oversized`] (and removes the file)
    /// as soon as the total passes the cap.
    pub fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), FwError> {
        let total = self.written + chunk.len() as u64;
        if total > self.limit {
            self.discard();
            return Err(FwError::Oversized {
                size: total,
                limit: self.limit,
            });
        }
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| FwError::Malformed("upload already discarded".into()))?;
        file.write_all(chunk)
            .map_err(|e| FwError::io(format!("writing {}", self.path.display()), e))?;
        self.written = total;
        Ok(())
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.written
    }

    /// Nothing received yet.
    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    /// Flushes the upload to disk and returns a guard that owns the file path (and removes the
    /// file when dropped): pass [`CompletedUpload::path`] to [`super::verify_image`].
    pub fn finish(mut self) -> Result<CompletedUpload, FwError> {
        let file = self
            .file
            .take()
            .ok_or_else(|| FwError::Malformed("upload already discarded".into()))?;
        file.sync_all()
            .map_err(|e| FwError::io(format!("syncing {}", self.path.display()), e))?;
        Ok(CompletedUpload {
            path: std::mem::take(&mut self.path),
        })
    }

    fn discard(&mut self) {
        self.file = None;
        // Best effort: a leftover is replaced by the next upload.
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for UploadFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            self.discard();
        }
    }
}

/// A complete upload on disk; the file is removed when this is dropped.
#[derive(Debug)]
pub struct CompletedUpload {
    path: PathBuf,
}

impl CompletedUpload {
    /// Where the upload is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CompletedUpload {
    fn drop(&mut self) {
        // Best effort: a leftover is replaced by the next upload.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_upload_file_over_limit_is_oversized_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut upload = UploadFile::create_with_limit(dir.path(), 10).unwrap();
        upload.write_chunk(b"12345").unwrap();
        upload.write_chunk(b"67890").unwrap();
        let err = upload.write_chunk(b"x").unwrap_err();
        assert_eq!(err.kind(), "oversized");
        assert!(!dir.path().join("fw-upload.tmp").exists());
        assert!(
            upload.write_chunk(b"").is_err(),
            "discarded upload accepted more data"
        );
    }

    #[test]
    fn test_upload_file_finish_keeps_bytes_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut upload = UploadFile::create(dir.path()).unwrap();
        upload.write_chunk(b"IPCAMDFW").unwrap();
        assert_eq!(upload.len(), 8);
        let done = upload.finish().unwrap();
        assert_eq!(std::fs::read(done.path()).unwrap(), b"IPCAMDFW");
        let path = done.path().to_path_buf();
        drop(done);
        assert!(!path.exists());
    }

    #[test]
    fn test_upload_file_dropped_unfinished_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut upload = UploadFile::create(dir.path()).unwrap();
        upload.write_chunk(b"partial").unwrap();
        drop(upload);
        assert!(!dir.path().join("fw-upload.tmp").exists());
    }
}
