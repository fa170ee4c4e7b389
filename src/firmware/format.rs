//! The byte layout of a firmware image: the header, the signature slot and the payload archive,
//! plus the rules for names inside it (versions, board ids, archive paths).
//!
//! All integers are little-endian.
//!
//! ```text
//! header:    "IPCAMDFW"  u16 format_version  u32 header_len (whole header, from the magic)
//!            u16 n + app version (UTF-8)
//!            u16 count, count x (u16 n + board id)
//!            u64 payload_len  [32] payload SHA-256
//! signature: [64] Ed25519 over the header bytes
//! payload:   entries until payload_len is used up, each:
//!            u16 n + path (UTF-8, relative)  u32 mode  u64 size  [size] bytes
//! ```

use std::io::{self, Read};

use sha2::{Digest, Sha256};

use super::FwError;

/// First bytes of every image.
pub const MAGIC: &[u8; 8] = b"IPCAMDFW";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the Ed25519 signature that follows the header.
pub const SIGNATURE_LEN: usize = 64;
/// Largest header accepted.
pub const MAX_HEADER_BYTES: u32 = 4096;
/// Bytes before the variable part of the header (magic, version, header length).
const FIXED_HEADER_BYTES: usize = 8 + 2 + 4;
/// Largest number of files in one image.
pub const MAX_ENTRIES: usize = 256;
/// Longest archive path.
pub const MAX_PATH_BYTES: usize = 200;
/// Deepest archive path (components).
const MAX_PATH_DEPTH: usize = 4;
/// Longest version string or board id.
pub const MAX_NAME_BYTES: usize = 64;

/// The parsed header of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Application version the image installs (what getProductAppVer will report).
    pub app_version: String,
    /// Board ids the image fits.
    pub boards: Vec<String>,
    /// Payload length in bytes.
    pub payload_len: u64,
    /// SHA-256 of the payload.
    pub payload_sha256: [u8; 32],
}

impl Header {
    /// Serialises the header (this is the signed message).
    pub fn encode(&self) -> Result<Vec<u8>, FwError> {
        check_name("app version", &self.app_version)?;
        if self.boards.is_empty() {
            return Err(FwError::Malformed(
                "an image must list at least one board".into(),
            ));
        }
        for board in &self.boards {
            check_name("board id", board)?;
        }
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // header_len, patched below
        put_str(&mut out, &self.app_version);
        out.extend_from_slice(&(self.boards.len() as u16).to_le_bytes());
        for board in &self.boards {
            put_str(&mut out, board);
        }
        out.extend_from_slice(&self.payload_len.to_le_bytes());
        out.extend_from_slice(&self.payload_sha256);
        let len = u32::try_from(out.len())
            .ok()
            .filter(|&n| n <= MAX_HEADER_BYTES)
            .ok_or_else(|| FwError::Malformed("header too long".into()))?;
        out[10..14].copy_from_slice(&len.to_le_bytes());
        Ok(out)
    }

    /// Reads a header from the start of an image. Returns it with its raw bytes (the signed
    /// message).
    pub fn read_from(reader: &mut impl Read) -> Result<(Header, Vec<u8>), FwError> {
        let mut fixed = [0u8; FIXED_HEADER_BYTES];
        read_exact_or_truncated(reader, &mut fixed)?;
        if &fixed[..8] != MAGIC {
            return Err(FwError::BadMagic);
        }
        let version = u16::from_le_bytes([fixed[8], fixed[9]]);
        if version != FORMAT_VERSION {
            return Err(FwError::UnsupportedVersion(version));
        }
        let header_len = u32::from_le_bytes([fixed[10], fixed[11], fixed[12], fixed[13]]);
        if header_len > MAX_HEADER_BYTES || (header_len as usize) < FIXED_HEADER_BYTES {
            return Err(FwError::Malformed(format!("header length {header_len}")));
        }
        let mut raw = vec![0u8; header_len as usize];
        raw[..FIXED_HEADER_BYTES].copy_from_slice(&fixed);
        read_exact_or_truncated(reader, &mut raw[FIXED_HEADER_BYTES..])?;

        let mut body = ByteCursor {
            bytes: &raw[FIXED_HEADER_BYTES..],
        };
        let app_version = body.string("app version")?;
        let board_count = body.u16()? as usize;
        if board_count == 0 {
            return Err(FwError::Malformed("the image lists no board".into()));
        }
        let mut boards = Vec::with_capacity(board_count.min(16));
        for _ in 0..board_count {
            boards.push(body.string("board id")?);
        }
        let payload_len = body.u64()?;
        let payload_sha256 = body.array32()?;
        if !body.bytes.is_empty() {
            return Err(FwError::Malformed("header has unread bytes".into()));
        }
        let header = Header {
            app_version,
            boards,
            payload_len,
            payload_sha256,
        };
        Ok((header, raw))
    }
}

/// The fixed part of one archive entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryHeader {
    /// Relative path inside the release (checked by [`check_entry_path`]).
    pub path: String,
    /// Unix permission bits; only "executable or not" is honoured on install.
    pub mode: u32,
    /// Data length in bytes.
    pub size: u64,
}

impl EntryHeader {
    /// Bytes this entry's fixed part takes before its data.
    pub fn encoded_len(&self) -> u64 {
        2 + self.path.len() as u64 + 4 + 8
    }

    /// Appends the fixed part to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), FwError> {
        check_entry_path(&self.path)?;
        put_str(out, &self.path);
        out.extend_from_slice(&self.mode.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        Ok(())
    }
}

/// Receives the payload's entries as [`walk_payload`] streams them.
pub trait PayloadVisitor {
    /// A new entry starts; its data follows through [`PayloadVisitor::data`].
    fn begin(&mut self, entry: &EntryHeader) -> Result<(), FwError>;
    /// A chunk of the current entry's data.
    fn data(&mut self, chunk: &[u8]) -> Result<(), FwError>;
    /// The current entry's data is complete.
    fn end(&mut self) -> Result<(), FwError>;
}

/// Streams `payload_len` bytes of payload from `reader`: hashes every byte, parses the entries,
/// checks their paths, and hands them to `visitor`. Returns the SHA-256 of what was read;
/// the caller compares it with the signed hash. Memory use is one 64 KiB buffer.
pub fn walk_payload(
    reader: &mut impl Read,
    payload_len: u64,
    visitor: &mut impl PayloadVisitor,
) -> Result<[u8; 32], FwError> {
    let mut hashing = HashingReader {
        inner: reader,
        hasher: Sha256::new(),
        read: 0,
    };
    let mut seen: Vec<String> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while hashing.read < payload_len {
        let remaining = payload_len - hashing.read;
        if remaining < 2 + 4 + 8 {
            return Err(FwError::Malformed(
                "payload ends inside an entry header".into(),
            ));
        }
        let mut len_bytes = [0u8; 2];
        read_exact_or_truncated(&mut hashing, &mut len_bytes)?;
        let path_len = u16::from_le_bytes(len_bytes) as usize;
        if path_len > MAX_PATH_BYTES || (path_len as u64 + 12) > remaining - 2 {
            return Err(FwError::Malformed(format!("entry path length {path_len}")));
        }
        let mut path = vec![0u8; path_len];
        read_exact_or_truncated(&mut hashing, &mut path)?;
        let path = String::from_utf8(path)
            .map_err(|_| FwError::Malformed("entry path is not UTF-8".into()))?;
        check_entry_path(&path)?;
        let mut fixed = [0u8; 12];
        read_exact_or_truncated(&mut hashing, &mut fixed)?;
        let mode = u32::from_le_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]);
        let mut size_bytes = [0u8; 8];
        size_bytes.copy_from_slice(&fixed[4..]);
        let size = u64::from_le_bytes(size_bytes);
        if size > payload_len - hashing.read {
            return Err(FwError::Malformed(format!(
                "entry {path} is larger than the payload"
            )));
        }
        check_no_clash(&seen, &path)?;
        if seen.len() == MAX_ENTRIES {
            return Err(FwError::Malformed("too many entries".into()));
        }
        let entry = EntryHeader { path, mode, size };
        visitor.begin(&entry)?;
        let mut left = size;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let got = read_some(&mut hashing, &mut buf[..want])?;
            visitor.data(&buf[..got])?;
            left -= got as u64;
        }
        visitor.end()?;
        seen.push(entry.path);
    }
    Ok(hashing.hasher.finalize().into())
}

/// Checks a version string or board id: 1..=64 bytes of `[A-Za-z0-9._+-]`.
pub fn check_name(what: &str, name: &str) -> Result<(), FwError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(FwError::Malformed(format!(
            "{what} {name:?} is not [A-Za-z0-9._+-]{{1,64}}"
        )))
    }
}

/// Checks an archive path: relative, `/`-separated, at most 4 components of
/// `[A-Za-z0-9._+-]` that do not start with a dot (so no `..`, no hidden files, nothing that
/// can leave the release directory).
pub fn check_entry_path(path: &str) -> Result<(), FwError> {
    let bad = || FwError::Malformed(format!("unsafe entry path {path:?}"));
    if path.is_empty() || path.len() > MAX_PATH_BYTES {
        return Err(bad());
    }
    let mut depth = 0;
    for component in path.split('/') {
        depth += 1;
        let ok = !component.is_empty()
            && !component.starts_with('.')
            && component
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
        if !ok || depth > MAX_PATH_DEPTH {
            return Err(bad());
        }
    }
    Ok(())
}

/// Rejects a path equal to an earlier one, or one that would need an earlier file to be a
/// directory (or the reverse).
fn check_no_clash(seen: &[String], path: &str) -> Result<(), FwError> {
    for other in seen {
        let nested = |a: &str, b: &str| {
            a.len() > b.len() && a.starts_with(b) && a.as_bytes()[b.len()] == b'/'
        };
        if other == path || nested(path, other) || nested(other, path) {
            return Err(FwError::Malformed(format!(
                "entry {path:?} clashes with {other:?}"
            )));
        }
    }
    Ok(())
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// Parses exactly `N` bytes of hex (surrounding whitespace allowed).
pub fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.trim();
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// `read_exact`, with end of file reported as [`FwError::Truncated`].
pub fn read_exact_or_truncated(reader: &mut impl Read, buf: &mut [u8]) -> Result<(), FwError> {
    reader.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => FwError::Truncated,
        _ => FwError::io("reading firmware image", e),
    })
}

/// One `read` of at least one byte; end of file is [`FwError::Truncated`].
fn read_some(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize, FwError> {
    loop {
        match reader.read(buf) {
            Ok(0) => return Err(FwError::Truncated),
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FwError::io("reading firmware image", e)),
        }
    }
}

/// A reader that hashes and counts what passes through it.
struct HashingReader<'a, R: Read> {
    inner: &'a mut R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// Reads fields from the header body; running out of bytes is a malformed header.
struct ByteCursor<'a> {
    bytes: &'a [u8],
}

impl ByteCursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], FwError> {
        if self.bytes.len() < n {
            return Err(FwError::Malformed(
                "header field runs past the header".into(),
            ));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u16(&mut self) -> Result<u16, FwError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u64(&mut self) -> Result<u64, FwError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }

    fn array32(&mut self) -> Result<[u8; 32], FwError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(a)
    }

    fn string(&mut self, what: &str) -> Result<String, FwError> {
        let n = self.u16()? as usize;
        let s = std::str::from_utf8(self.take(n)?)
            .map_err(|_| FwError::Malformed(format!("{what} is not UTF-8")))?
            .to_owned();
        check_name(what, &s)?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_header() -> Header {
        Header {
            app_version: "1.2.3".into(),
            boards: vec!["sim".into(), "lab-virt".into()],
            payload_len: 42,
            payload_sha256: [7u8; 32],
        }
    }

    #[test]
    fn test_header_encode_then_read_round_trips() {
        let header = sample_header();
        let bytes = header.encode().unwrap();
        let (parsed, raw) = Header::read_from(&mut bytes.as_slice()).unwrap();
        assert_eq!(parsed, header);
        assert_eq!(raw, bytes);
    }

    #[test]
    fn test_header_read_wrong_magic_is_bad_magic() {
        let mut bytes = sample_header().encode().unwrap();
        bytes[0] = b'X';
        let err = Header::read_from(&mut bytes.as_slice()).unwrap_err();
        assert_eq!(err.kind(), "bad-magic");
    }

    #[test]
    fn test_header_read_future_version_is_unsupported() {
        let mut bytes = sample_header().encode().unwrap();
        bytes[8] = 2;
        let err = Header::read_from(&mut bytes.as_slice()).unwrap_err();
        assert!(matches!(err, FwError::UnsupportedVersion(2)), "{err}");
    }

    #[test]
    fn test_header_read_short_input_is_truncated() {
        let bytes = sample_header().encode().unwrap();
        for cut in [3, 14, bytes.len() - 1] {
            let err = Header::read_from(&mut &bytes[..cut]).unwrap_err();
            assert_eq!(err.kind(), "truncated", "cut at {cut}");
        }
    }

    #[test]
    fn test_header_read_lying_length_is_malformed() {
        let mut bytes = sample_header().encode().unwrap();
        bytes.extend_from_slice(&[0; 8]);
        let len = bytes.len() as u32;
        bytes[10..14].copy_from_slice(&len.to_le_bytes());
        let err = Header::read_from(&mut bytes.as_slice()).unwrap_err();
        assert_eq!(err.kind(), "malformed");
    }

    #[test]
    fn test_check_entry_path_traversal_and_hidden_rejected() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            ".hidden",
            "a/.b",
            "a b",
            "a/b/c/d/e",
        ] {
            assert!(check_entry_path(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "ipcamd",
            "board/sim.toml",
            "systemd/ipcamd.service",
            "a/b/c/d",
        ] {
            assert!(check_entry_path(good).is_ok(), "{good:?} rejected");
        }
    }

    #[test]
    fn test_check_no_clash_file_under_file_rejected() {
        let seen = vec!["board".to_string()];
        assert!(check_no_clash(&seen, "board/sim.toml").is_err());
        assert!(check_no_clash(&seen, "board").is_err());
        assert!(check_no_clash(&seen, "boards").is_ok());
    }

    #[test]
    fn test_hex_unhex_round_trips() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&bytes), "0001abff");
        assert_eq!(unhex::<4>(" 0001ABff\n"), Some(bytes));
        assert_eq!(unhex::<4>("0001abf"), None);
        assert_eq!(unhex::<4>("0001abfg"), None);
    }
}
