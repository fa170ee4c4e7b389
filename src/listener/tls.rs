//! The HTTPS certificate: generated on first boot (a self-signed ECDSA P-256 certificate for
//! the device name, `localhost` and the loopback address) and kept in `DATA/tls/` as
//! `cert.pem` (the chain) and `key.pem` (PKCS#8, mode 0600). An owner replaces it by writing
//! their own pair there and restarting; a pair that does not load is reported and the camera
//! serves HTTPS with neither (plain HTTP keeps working), never with a silently new key.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Folder of the data directory holding the certificate and its key.
pub const TLS_DIR: &str = "tls";
/// The certificate chain, PEM.
pub const CERT_FILE: &str = "cert.pem";
/// The private key, PEM.
pub const KEY_FILE: &str = "key.pem";

fn bad(why: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

/// Paths of the certificate and key under `data_dir`.
pub fn paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join(TLS_DIR);
    (dir.join(CERT_FILE), dir.join(KEY_FILE))
}

/// Writes a new self-signed certificate for `names` unless both files exist.
/// Returns whether it created one.
pub fn ensure_certificate(data_dir: &Path, names: &[String]) -> io::Result<bool> {
    let (cert_path, key_path) = paths(data_dir);
    if cert_path.exists() && key_path.exists() {
        return Ok(false);
    }
    let generated = rcgen::generate_simple_self_signed(names.to_vec()).map_err(bad)?;
    std::fs::create_dir_all(data_dir.join(TLS_DIR))?;
    write_private(&key_path, generated.signing_key.serialize_pem().as_bytes())?;
    write_atomically(&cert_path, generated.cert.pem().as_bytes())?;
    Ok(true)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = path.with_extension("new");
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, path)
}

fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let temp = path.with_extension("new");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temp, path)
}

/// Loads the pair under `data_dir` into an acceptor (TLS 1.2 and 1.3, ring's algorithms).
pub fn load_acceptor(data_dir: &Path) -> io::Result<TlsAcceptor> {
    let (cert_path, key_path) = paths(data_dir);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|e| bad(format!("{}: {e}", cert_path.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(format!("{}: {e}", cert_path.display())))?;
    if certs.is_empty() {
        return Err(bad(format!("{}: no certificate", cert_path.display())));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| bad(format!("{}: {e}", key_path.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(bad)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(bad)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_first_boot_generates_a_loadable_pair_kept_across_boots() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ensure_certificate(dir.path(), &["cam".into()]).unwrap());
        let (cert, key) = paths(dir.path());
        let first = std::fs::read(&cert).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!ensure_certificate(dir.path(), &["cam".into()]).unwrap());
        assert_eq!(std::fs::read(&cert).unwrap(), first, "kept, not replaced");
        load_acceptor(dir.path()).expect("loads");
    }

    #[test]
    fn test_a_broken_replacement_is_reported_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        ensure_certificate(dir.path(), &["cam".into()]).unwrap();
        let (cert, _) = paths(dir.path());
        std::fs::write(&cert, b"not a certificate").unwrap();
        assert!(load_acceptor(dir.path()).is_err());
        assert!(!ensure_certificate(dir.path(), &["cam".into()]).unwrap());
        assert_eq!(std::fs::read(&cert).unwrap(), b"not a certificate");
    }
}
