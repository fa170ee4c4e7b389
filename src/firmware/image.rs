//! Building a signed image (tool side) and verifying one while streaming it (daemon side).
//!
//! Verification order: magic and format version, header, size cap, signature over the header,
//! board compatibility, then the payload, hashed and parsed as it streams, compared with the
//! signed hash, and finally "nothing after the payload". Nothing is written anywhere.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::format::{self, EntryHeader, Header, PayloadVisitor, SIGNATURE_LEN};
use super::{DAEMON_ENTRY, FwError, MAX_IMAGE_BYTES};

/// One file to put into an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFile {
    /// Path inside the release directory (`ipcamd`, `board/sim.toml`, `systemd/ipcamd.service`).
    pub path: String,
    /// Installed with mode 0755 instead of 0644.
    pub executable: bool,
    /// Contents.
    pub data: Vec<u8>,
}

/// One file listed by a verified image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// Path inside the release directory.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Installed executable.
    pub executable: bool,
}

/// What a verified image declares and carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The signed header.
    pub header: Header,
    /// The files in the payload, in order.
    pub entries: Vec<EntryInfo>,
    /// Offset of the payload from the start of the image.
    pub payload_offset: u64,
}

impl ImageInfo {
    /// The application version the image installs.
    pub fn version(&self) -> &str {
        &self.header.app_version
    }

    /// Total image length in bytes.
    pub fn image_len(&self) -> u64 {
        self.payload_offset + self.header.payload_len
    }
}

/// An image file whose signature, board and payload hash were checked. It keeps the file open,
/// so [`super::install::install`] reads the very bytes that were verified (and hashes them again).
#[derive(Debug)]
pub struct VerifiedImage {
    /// What the image carries.
    pub info: ImageInfo,
    /// Where it was read from.
    pub path: PathBuf,
    pub(super) file: File,
}

/// Builds a signed image from `files`, for the app `version` and the board ids `boards`.
/// The image must carry an executable `ipcamd`.
pub fn build_image(
    files: &[ImageFile],
    version: &str,
    boards: &[String],
    signing_key: &SigningKey,
) -> Result<Vec<u8>, FwError> {
    if !files.iter().any(|f| f.path == DAEMON_ENTRY && f.executable) {
        return Err(FwError::Malformed(format!(
            "an image must carry an executable {DAEMON_ENTRY:?}"
        )));
    }
    let mut payload = Vec::new();
    for file in files {
        let entry = EntryHeader {
            path: file.path.clone(),
            mode: if file.executable { 0o755 } else { 0o644 },
            size: file.data.len() as u64,
        };
        entry.encode_into(&mut payload)?;
        payload.extend_from_slice(&file.data);
    }
    let header = Header {
        app_version: version.to_owned(),
        boards: boards.to_vec(),
        payload_len: payload.len() as u64,
        payload_sha256: Sha256::digest(&payload).into(),
    };
    let header_bytes = header.encode()?;
    let total = (header_bytes.len() + SIGNATURE_LEN + payload.len()) as u64;
    if total > MAX_IMAGE_BYTES {
        return Err(FwError::Oversized {
            size: total,
            limit: MAX_IMAGE_BYTES,
        });
    }
    // Check the archive with the same code the daemon runs (paths, clashes, entry count).
    format::walk_payload(
        &mut payload.as_slice(),
        header.payload_len,
        &mut EntryCollector::default(),
    )?;
    let signature = signing_key.sign(&header_bytes);
    let mut image = header_bytes;
    image.extend_from_slice(&signature.to_bytes());
    image.extend_from_slice(&payload);
    Ok(image)
}

/// Verifies an image file for `board_id` with `public_key`, streaming it (one 64 KiB buffer).
pub fn verify_image(
    path: &Path,
    public_key: &VerifyingKey,
    board_id: &str,
) -> Result<VerifiedImage, FwError> {
    let file =
        File::open(path).map_err(|e| FwError::io(format!("opening {}", path.display()), e))?;
    let len = file
        .metadata()
        .map_err(|e| FwError::io(format!("reading {}", path.display()), e))?
        .len();
    if len > MAX_IMAGE_BYTES {
        return Err(FwError::Oversized {
            size: len,
            limit: MAX_IMAGE_BYTES,
        });
    }
    let info = verify_reader(
        &mut BufReader::with_capacity(64 * 1024, &file),
        public_key,
        board_id,
    )?;
    Ok(VerifiedImage {
        info,
        path: path.to_path_buf(),
        file,
    })
}

/// Verifies an image read from `reader` (see the module doc for the order of checks). The
/// reader must end right after the payload.
pub fn verify_reader(
    reader: &mut impl Read,
    public_key: &VerifyingKey,
    board_id: &str,
) -> Result<ImageInfo, FwError> {
    let (header, header_bytes) = Header::read_from(reader)?;
    let payload_offset = (header_bytes.len() + SIGNATURE_LEN) as u64;
    let total = payload_offset.saturating_add(header.payload_len);
    if total > MAX_IMAGE_BYTES {
        return Err(FwError::Oversized {
            size: total,
            limit: MAX_IMAGE_BYTES,
        });
    }
    let mut signature = [0u8; SIGNATURE_LEN];
    format::read_exact_or_truncated(reader, &mut signature)?;
    public_key
        .verify_strict(&header_bytes, &Signature::from_bytes(&signature))
        .map_err(|_| FwError::BadSignature)?;
    if !header.boards.iter().any(|b| b == board_id) {
        return Err(FwError::WrongBoard {
            board: board_id.to_owned(),
            supported: header.boards,
        });
    }
    let mut collector = EntryCollector::default();
    let hash = format::walk_payload(reader, header.payload_len, &mut collector)?;
    if hash != header.payload_sha256 {
        return Err(FwError::HashMismatch);
    }
    let mut extra = [0u8; 1];
    loop {
        match reader.read(&mut extra) {
            Ok(0) => break,
            Ok(_) => return Err(FwError::TrailingData),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FwError::io("reading firmware image", e)),
        }
    }
    if !collector
        .entries
        .iter()
        .any(|e| e.path == DAEMON_ENTRY && e.executable)
    {
        return Err(FwError::Malformed(format!(
            "the image carries no executable {DAEMON_ENTRY:?}"
        )));
    }
    Ok(ImageInfo {
        header,
        entries: collector.entries,
        payload_offset,
    })
}

/// Reads the header of an image without checking the signature (for `ipcamd-fwtool inspect`).
pub fn read_header_unverified(reader: &mut impl Read) -> Result<Header, FwError> {
    Header::read_from(reader).map(|(header, _)| header)
}

/// Lists the entries of a payload and discards their data.
#[derive(Default)]
struct EntryCollector {
    entries: Vec<EntryInfo>,
}

impl PayloadVisitor for EntryCollector {
    fn begin(&mut self, entry: &EntryHeader) -> Result<(), FwError> {
        self.entries.push(EntryInfo {
            path: entry.path.clone(),
            size: entry.size,
            executable: entry.mode & 0o111 != 0,
        });
        Ok(())
    }

    fn data(&mut self, _chunk: &[u8]) -> Result<(), FwError> {
        Ok(())
    }

    fn end(&mut self) -> Result<(), FwError> {
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fixed development key for tests (never used outside them).
    pub(crate) fn test_signing_key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    pub(crate) fn sample_files(marker: &str) -> Vec<ImageFile> {
        vec![
            ImageFile {
                path: "ipcamd".into(),
                executable: true,
                data: format!("#!/bin/sh\necho {marker}\n").into_bytes(),
            },
            ImageFile {
                path: "board/sim.toml".into(),
                executable: false,
                data: b"[board]\nname = \"sim\"\n".to_vec(),
            },
            ImageFile {
                path: "systemd/ipcamd.service".into(),
                executable: false,
                data: b"[Unit]\nDescription=ipcamd\n".to_vec(),
            },
        ]
    }

    pub(crate) fn sample_image(version: &str, boards: &[&str]) -> Vec<u8> {
        let boards: Vec<String> = boards.iter().map(|b| b.to_string()).collect();
        build_image(
            &sample_files(version),
            version,
            &boards,
            &test_signing_key(1),
        )
        .unwrap()
    }

    fn verify_bytes(image: &[u8], board: &str) -> Result<ImageInfo, FwError> {
        verify_reader(&mut &image[..], &test_signing_key(1).verifying_key(), board)
    }

    #[test]
    fn test_verify_reader_good_image_lists_entries() {
        let image = sample_image("2.0.0", &["sim", "lab"]);
        let info = verify_bytes(&image, "lab").unwrap();
        assert_eq!(info.version(), "2.0.0");
        assert_eq!(info.image_len(), image.len() as u64);
        let paths: Vec<&str> = info.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["ipcamd", "board/sim.toml", "systemd/ipcamd.service"]
        );
        assert!(info.entries[0].executable && !info.entries[1].executable);
    }

    #[test]
    fn test_verify_reader_every_flipped_byte_rejected() {
        let image = sample_image("2.0.0", &["sim"]);
        for i in 0..image.len() {
            let mut bad = image.clone();
            bad[i] ^= 0x01;
            assert!(
                verify_bytes(&bad, "sim").is_err(),
                "flip at byte {i} accepted"
            );
        }
    }

    #[test]
    fn test_verify_reader_flipped_payload_byte_is_hash_mismatch() {
        let mut image = sample_image("2.0.0", &["sim"]);
        let last = image.len() - 2;
        image[last] ^= 0x20;
        assert_eq!(
            verify_bytes(&image, "sim").unwrap_err().kind(),
            "hash-mismatch"
        );
    }

    #[test]
    fn test_verify_reader_flipped_signature_byte_is_bad_signature() {
        let mut image = sample_image("2.0.0", &["sim"]);
        let (_, header) = Header::read_from(&mut image.as_slice()).unwrap();
        image[header.len() + 5] ^= 0x01;
        assert_eq!(
            verify_bytes(&image, "sim").unwrap_err().kind(),
            "bad-signature"
        );
    }

    #[test]
    fn test_verify_reader_other_key_is_bad_signature() {
        let boards = vec!["sim".to_string()];
        let image =
            build_image(&sample_files("x"), "2.0.0", &boards, &test_signing_key(9)).unwrap();
        assert_eq!(
            verify_bytes(&image, "sim").unwrap_err().kind(),
            "bad-signature"
        );
    }

    #[test]
    fn test_verify_reader_other_board_is_wrong_board() {
        let image = sample_image("2.0.0", &["lab"]);
        let err = verify_bytes(&image, "sim").unwrap_err();
        assert!(
            matches!(&err, FwError::WrongBoard { supported, .. } if supported == &["lab"]),
            "{err}"
        );
    }

    #[test]
    fn test_verify_reader_every_truncation_rejected() {
        let image = sample_image("2.0.0", &["sim"]);
        for cut in 0..image.len() {
            let err = verify_bytes(&image[..cut], "sim").unwrap_err();
            assert_eq!(err.kind(), "truncated", "cut at {cut}: {err}");
        }
    }

    #[test]
    fn test_verify_reader_appended_byte_is_trailing_data() {
        let mut image = sample_image("2.0.0", &["sim"]);
        image.push(0);
        assert_eq!(
            verify_bytes(&image, "sim").unwrap_err().kind(),
            "trailing-data"
        );
    }

    #[test]
    fn test_verify_reader_declared_size_over_cap_is_oversized() {
        // A correctly signed header that declares a payload above the cap is refused before
        // any payload byte is read.
        let header = Header {
            app_version: "9".into(),
            boards: vec!["sim".into()],
            payload_len: MAX_IMAGE_BYTES,
            payload_sha256: [0; 32],
        };
        let bytes = header.encode().unwrap();
        let mut image = bytes.clone();
        image.extend_from_slice(&test_signing_key(1).sign(&bytes).to_bytes());
        assert_eq!(verify_bytes(&image, "sim").unwrap_err().kind(), "oversized");
    }

    #[test]
    fn test_build_image_without_daemon_binary_refused() {
        let mut files = sample_files("x");
        files.remove(0);
        let err = build_image(&files, "1", &["sim".into()], &test_signing_key(1)).unwrap_err();
        assert_eq!(err.kind(), "malformed");
    }

    #[test]
    fn test_build_image_unsafe_path_refused() {
        let mut files = sample_files("x");
        files[1].path = "../etc/passwd".into();
        let err = build_image(&files, "1", &["sim".into()], &test_signing_key(1)).unwrap_err();
        assert_eq!(err.kind(), "malformed");
    }

    #[test]
    fn test_verify_image_file_over_cap_is_oversized() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.img");
        let file = File::create(&path).unwrap();
        file.set_len(MAX_IMAGE_BYTES + 1).unwrap();
        let err = verify_image(&path, &test_signing_key(1).verifying_key(), "sim").unwrap_err();
        assert_eq!(err.kind(), "oversized");
    }
}
