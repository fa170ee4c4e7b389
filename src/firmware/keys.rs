//! Ed25519 key files for firmware images: one line of 64 hex digits (the 32-byte public key,
//! or the 32-byte secret seed of a signing key), and where the daemon finds its public key.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use ipcamd_hal::board::BoardSpec;

use super::FwError;
use super::format::{hex, unhex};

/// Environment variable naming a public key file; overrides the board file's
/// `[firmware] public_key`.
pub const PUBLIC_KEY_ENV: &str = "IPCAMD_FW_PUBKEY";

/// Parses a public key from its hex text.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, FwError> {
    let bytes =
        unhex::<32>(text).ok_or_else(|| FwError::Key("a public key is 64 hex digits".into()))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| FwError::Key("not a valid Ed25519 public key".into()))
}

/// Parses a signing key from the hex text of its 32-byte seed.
pub fn parse_signing_key(text: &str) -> Result<SigningKey, FwError> {
    let bytes =
        unhex::<32>(text).ok_or_else(|| FwError::Key("a signing key is 64 hex digits".into()))?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Reads a public key file.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, FwError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| FwError::Key(format!("reading {}: {e}", path.display())))?;
    parse_public_key(&text).map_err(|e| FwError::Key(format!("{}: {e}", path.display())))
}

/// Reads a signing key file.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, FwError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| FwError::Key(format!("reading {}: {e}", path.display())))?;
    parse_signing_key(&text).map_err(|e| FwError::Key(format!("{}: {e}", path.display())))
}

/// Generates a key pair from the operating system's random source.
pub fn generate_signing_key() -> Result<SigningKey, FwError> {
    use rand_core::RngCore;
    let mut seed = [0u8; 32];
    rand_core::OsRng
        .try_fill_bytes(&mut seed)
        .map_err(|e| FwError::Key(format!("no randomness: {e}")))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Writes `<dir>/<stem>-signing.key` (mode 0600) and `<dir>/<stem>-public.key`; refuses to
/// overwrite either. Returns their paths.
pub fn write_key_pair(
    dir: &Path,
    stem: &str,
    key: &SigningKey,
) -> Result<(PathBuf, PathBuf), FwError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| FwError::io(format!("creating {}", dir.display()), e))?;
    let secret = dir.join(format!("{stem}-signing.key"));
    let public = dir.join(format!("{stem}-public.key"));
    write_new(&secret, &hex(key.as_bytes()), 0o600)?;
    write_new(&public, &hex(key.verifying_key().as_bytes()), 0o644)?;
    Ok((secret, public))
}

fn write_new(path: &Path, hex_text: &str, mode: u32) -> Result<(), FwError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| FwError::io(format!("creating {}", path.display()), e))?;
    writeln!(file, "{hex_text}")
        .and_then(|()| file.sync_all())
        .map_err(|e| FwError::io(format!("writing {}", path.display()), e))
}

/// The firmware public key file of a board: `$IPCAMD_FW_PUBKEY` if set, else the board file's
/// `[firmware] public_key` (relative to the board file).
pub fn public_key_path(board: &BoardSpec, env_value: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    if let Some(value) = env_value.filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(value));
    }
    let spec = board.firmware.as_ref()?;
    spec.public_key.as_deref().map(|p| board.resolve(p))
}

/// What the daemon needs to check an upload: this board's id and the public key.
#[derive(Debug, Clone)]
pub struct UpgradeTrust {
    /// The board id images must list.
    pub board_id: String,
    /// The key images must be signed with.
    pub public_key: VerifyingKey,
}

impl UpgradeTrust {
    /// Loads the board's firmware settings (reading `$IPCAMD_FW_PUBKEY`). An error means the
    /// board cannot be upgraded (no `[firmware]` table, no key, unreadable key); fwUpgrade then
    /// answers -1 and logs the reason.
    pub fn for_board(board: &BoardSpec) -> Result<UpgradeTrust, FwError> {
        UpgradeTrust::for_board_with_env(board, std::env::var_os(PUBLIC_KEY_ENV).as_deref())
    }

    /// [`UpgradeTrust::for_board`] with the value of `$IPCAMD_FW_PUBKEY` given.
    pub fn for_board_with_env(
        board: &BoardSpec,
        env_value: Option<&std::ffi::OsStr>,
    ) -> Result<UpgradeTrust, FwError> {
        let spec = board
            .firmware
            .as_ref()
            .ok_or_else(|| FwError::Key("the board file has no [firmware] table".into()))?;
        let path = public_key_path(board, env_value).ok_or_else(|| {
            FwError::Key(format!(
                "no public key: set [firmware] public_key or {PUBLIC_KEY_ENV}"
            ))
        })?;
        Ok(UpgradeTrust {
            board_id: spec.board_id.clone(),
            public_key: read_public_key(&path)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOARD: &str = r#"
[board]
name = "t"
backend = "sim"
[identity]
model = 1
model_name = "m"
product_name = "p"
hardware_version = "h"
[capabilities]
[firmware]
board_id = "sim"
public_key = "keys/fw.key"
"#;

    #[test]
    fn test_write_key_pair_then_read_back_matches() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate_signing_key().unwrap();
        let (secret, public) = write_key_pair(dir.path(), "dev", &key).unwrap();
        assert_eq!(
            read_signing_key(&secret).unwrap().as_bytes(),
            key.as_bytes()
        );
        assert_eq!(read_public_key(&public).unwrap(), key.verifying_key());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(
            write_key_pair(dir.path(), "dev", &key).is_err(),
            "overwrote a key"
        );
    }

    #[test]
    fn test_parse_public_key_bad_text_rejected() {
        assert_eq!(parse_public_key("abc").unwrap_err().kind(), "key");
        assert_eq!(
            parse_public_key(&"zz".repeat(32)).unwrap_err().kind(),
            "key"
        );
    }

    #[test]
    fn test_public_key_path_env_overrides_board_file() {
        let mut board = BoardSpec::parse(BOARD).unwrap();
        board.dir = PathBuf::from("/etc/ipcamd");
        assert_eq!(
            public_key_path(&board, None),
            Some(PathBuf::from("/etc/ipcamd/keys/fw.key"))
        );
        assert_eq!(
            public_key_path(&board, Some("/tmp/k".as_ref())),
            Some(PathBuf::from("/tmp/k"))
        );
    }

    #[test]
    fn test_upgrade_trust_for_board_reads_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate_signing_key().unwrap();
        write_key_pair(&dir.path().join("keys"), "fw", &key).unwrap();
        std::fs::rename(
            dir.path().join("keys/fw-public.key"),
            dir.path().join("keys/fw.key"),
        )
        .unwrap();
        let path = dir.path().join("board.toml");
        std::fs::write(&path, BOARD).unwrap();
        let board = BoardSpec::load(&path).unwrap();
        let trust = UpgradeTrust::for_board_with_env(&board, None).unwrap();
        assert_eq!(trust.board_id, "sim");
        assert_eq!(trust.public_key, key.verifying_key());
        let missing = dir.path().join("absent.key");
        let err = UpgradeTrust::for_board_with_env(&board, Some(missing.as_os_str())).unwrap_err();
        assert_eq!(err.kind(), "key");
    }
}
