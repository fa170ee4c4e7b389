//! Installing a verified image atomically, and rolling back.
//!
//! Layout under the install root (on a camera `/var/lib/ipcamd/firmware`, inside the service's
//! state directory):
//!
//! ```text
//! releases/r7-1.2.0/ipcamd, board/..., systemd/..., .release   one directory per install
//! current  -> releases/r7-1.2.0      what /usr/bin/ipcamd points into
//! previous -> releases/r6-1.1.0      kept for rollback
//! trial                              names a release that has not yet confirmed a good start
//! ```
//!
//! [`install`] extracts the image into a staging directory beside the releases (hashing the
//! bytes again, so a file changed after verification is refused), fsyncs every file and
//! directory, renames it into place, and then switches `previous` and `current` with atomic
//! symlink renames. Until the switch nothing the running system uses has changed; the switch
//! itself is one `rename(2)`. The new release stays on trial until [`confirm`]; a release that
//! never confirms is undone by [`rollback_if_unconfirmed`]. Older releases are pruned.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, symlink};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::FwError;
use super::format::{self, EntryHeader, PayloadVisitor, hex};
use super::image::VerifiedImage;

/// Directory of the release directories.
const RELEASES: &str = "releases";
/// Symlink to the running release.
pub(super) const CURRENT: &str = "current";
/// Symlink to the release before it.
const PREVIOUS: &str = "previous";
/// Marker naming a release that has not confirmed a good start.
pub(super) const TRIAL: &str = "trial";
/// Metadata file written into each release directory (archive paths cannot start with a dot).
const RELEASE_INFO: &str = ".release";

/// Installs a verified image under `install_root` and makes it current, keeping the running
/// release as `previous`. Returns the new release's directory.
pub fn install(verified: VerifiedImage, install_root: &Path) -> Result<PathBuf, FwError> {
    let releases = install_root.join(RELEASES);
    fs::create_dir_all(&releases)
        .map_err(|e| FwError::io(format!("creating {}", releases.display()), e))?;
    let name = format!(
        "r{}-{}",
        next_release_number(&releases)?,
        verified.info.header.app_version
    );
    let staging = releases.join(format!(".staging-{name}"));
    remove_path(&staging)?;
    fs::create_dir(&staging)
        .map_err(|e| FwError::io(format!("creating {}", staging.display()), e))?;

    if let Err(err) = extract(verified, &staging) {
        // Best effort: the staging directory is not referenced by anything.
        let _ = fs::remove_dir_all(&staging);
        return Err(err);
    }
    let release = releases.join(&name);
    rename(&staging, &release)?;
    sync_dir(&releases)?;

    let target = Path::new(RELEASES).join(&name);
    write_file_atomically(install_root, TRIAL, name.as_bytes())?;
    if let Some(running) = link_target(install_root, CURRENT)? {
        switch_link(install_root, PREVIOUS, &running)?;
    }
    switch_link(install_root, CURRENT, &target)?;
    prune(install_root)?;
    Ok(release)
}

/// Marks the current release as good (the daemon calls this once it is ready). Returns whether
/// a trial was ended.
pub fn confirm(install_root: &Path) -> Result<bool, FwError> {
    match trial_release(install_root)? {
        Some(name) if current_release_name(install_root)?.as_deref() == Some(&*name) => {
            remove_path(&install_root.join(TRIAL))?;
            sync_dir(install_root)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Makes `previous` current again (and the release that was current becomes `previous`).
/// Returns the version now current.
pub fn rollback(install_root: &Path) -> Result<String, FwError> {
    let previous = link_target(install_root, PREVIOUS)?.ok_or(FwError::NoPrevious)?;
    if !install_root.join(&previous).is_dir() {
        return Err(FwError::NoPrevious);
    }
    let current = link_target(install_root, CURRENT)?;
    switch_link(install_root, CURRENT, &previous)?;
    if let Some(current) = current {
        switch_link(install_root, PREVIOUS, &current)?;
    }
    remove_path(&install_root.join(TRIAL))?;
    sync_dir(install_root)?;
    installed_version(install_root)?.ok_or(FwError::NoPrevious)
}

/// Rolls back if the current release is still on trial, i.e. it never called [`confirm`].
/// `ipcamd-fw-rollback.service` runs this (from the previous release's binary) when
/// `ipcamd.service` has failed. Returns whether it rolled back.
pub fn rollback_if_unconfirmed(install_root: &Path) -> Result<bool, FwError> {
    match trial_release(install_root)? {
        Some(name) if current_release_name(install_root)?.as_deref() == Some(&*name) => {
            rollback(install_root)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// The version of the current release, if one is installed.
pub fn installed_version(install_root: &Path) -> Result<Option<String>, FwError> {
    let Some(target) = link_target(install_root, CURRENT)? else {
        return Ok(None);
    };
    let info_path = install_root.join(target).join(RELEASE_INFO);
    let text = match fs::read_to_string(&info_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FwError::io(format!("reading {}", info_path.display()), e)),
    };
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("version="))
        .map(str::to_owned))
}

/// Writes the payload's files into `staging`, re-hashing them, and fsyncs everything.
fn extract(verified: VerifiedImage, staging: &Path) -> Result<(), FwError> {
    let VerifiedImage { info, mut file, .. } = verified;
    file.seek(SeekFrom::Start(info.payload_offset))
        .map_err(|e| FwError::io("seeking in firmware image", e))?;
    let mut writer = ReleaseWriter {
        root: staging.to_path_buf(),
        open: None,
        dirs: vec![staging.to_path_buf()],
    };
    let hash = format::walk_payload(
        &mut BufReader::with_capacity(64 * 1024, &file),
        info.header.payload_len,
        &mut writer,
    )?;
    if hash != info.header.payload_sha256 {
        return Err(FwError::HashMismatch);
    }
    let release_info = format!(
        "version={}\nboards={}\nsha256={}\n",
        info.header.app_version,
        info.header.boards.join(","),
        hex(&info.header.payload_sha256)
    );
    write_synced(&staging.join(RELEASE_INFO), release_info.as_bytes(), 0o644)?;
    for dir in &writer.dirs {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Creates the files of a release as the payload streams by.
struct ReleaseWriter {
    root: PathBuf,
    open: Option<(File, PathBuf)>,
    dirs: Vec<PathBuf>,
}

impl PayloadVisitor for ReleaseWriter {
    fn begin(&mut self, entry: &EntryHeader) -> Result<(), FwError> {
        // check_entry_path already ran in walk_payload: relative, no "..", no dot files.
        let path = self.root.join(&entry.path);
        if let Some(parent) = path.parent() {
            if !self.dirs.iter().any(|d| d == parent) {
                fs::create_dir_all(parent)
                    .map_err(|e| FwError::io(format!("creating {}", parent.display()), e))?;
                self.dirs.push(parent.to_path_buf());
            }
        }
        let mode = if entry.mode & 0o111 != 0 {
            0o755
        } else {
            0o644
        };
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .map_err(|e| FwError::io(format!("creating {}", path.display()), e))?;
        self.open = Some((file, path));
        Ok(())
    }

    fn data(&mut self, chunk: &[u8]) -> Result<(), FwError> {
        if let Some((file, path)) = &mut self.open {
            file.write_all(chunk)
                .map_err(|e| FwError::io(format!("writing {}", path.display()), e))?;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), FwError> {
        if let Some((file, path)) = self.open.take() {
            file.sync_all()
                .map_err(|e| FwError::io(format!("syncing {}", path.display()), e))?;
        }
        Ok(())
    }
}

/// The release named by the trial marker, if any.
fn trial_release(install_root: &Path) -> Result<Option<String>, FwError> {
    let path = install_root.join(TRIAL);
    match fs::read_to_string(&path) {
        Ok(name) => Ok(Some(name.trim().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FwError::io(format!("reading {}", path.display()), e)),
    }
}

/// The directory name of the current release.
fn current_release_name(install_root: &Path) -> Result<Option<String>, FwError> {
    Ok(link_target(install_root, CURRENT)?
        .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned())))
}

/// Where a symlink under the install root points (relative), if it exists.
fn link_target(install_root: &Path, link: &str) -> Result<Option<PathBuf>, FwError> {
    let path = install_root.join(link);
    match fs::read_link(&path) {
        Ok(target) => Ok(Some(target)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FwError::io(format!("reading link {}", path.display()), e)),
    }
}

/// Points `link` at `target` with one atomic rename of a fresh symlink over it.
fn switch_link(install_root: &Path, link: &str, target: &Path) -> Result<(), FwError> {
    let fresh = install_root.join(format!(".{link}.new"));
    remove_path(&fresh)?;
    symlink(target, &fresh)
        .map_err(|e| FwError::io(format!("creating link {}", fresh.display()), e))?;
    rename(&fresh, &install_root.join(link))?;
    sync_dir(install_root)
}

/// Writes a small file beside its final name, fsyncs it, and renames it into place.
fn write_file_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), FwError> {
    let fresh = dir.join(format!(".{name}.new"));
    write_synced(&fresh, bytes, 0o644)?;
    rename(&fresh, &dir.join(name))?;
    sync_dir(dir)
}

fn write_synced(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FwError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| FwError::io(format!("creating {}", path.display()), e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| FwError::io(format!("writing {}", path.display()), e))
}

/// One more than the highest `r<N>-...` release number present.
fn next_release_number(releases: &Path) -> Result<u64, FwError> {
    let mut highest = 0;
    for entry in fs::read_dir(releases)
        .map_err(|e| FwError::io(format!("listing {}", releases.display()), e))?
    {
        let entry = entry.map_err(|e| FwError::io("listing releases", e))?;
        let name = entry.file_name();
        let number = name
            .to_str()
            .and_then(|n| n.strip_prefix('r'))
            .and_then(|n| n.split('-').next())
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(number) = number {
            highest = highest.max(number);
        }
    }
    Ok(highest + 1)
}

/// Removes releases that are neither current nor previous (and stale staging directories).
fn prune(install_root: &Path) -> Result<(), FwError> {
    let keep: Vec<PathBuf> = [CURRENT, PREVIOUS]
        .into_iter()
        .filter_map(|l| link_target(install_root, l).ok().flatten())
        .filter_map(|t| t.file_name().map(PathBuf::from))
        .collect();
    let releases = install_root.join(RELEASES);
    for entry in fs::read_dir(&releases)
        .map_err(|e| FwError::io(format!("listing {}", releases.display()), e))?
    {
        let entry = entry.map_err(|e| FwError::io("listing releases", e))?;
        if !keep.iter().any(|k| k.as_os_str() == entry.file_name()) {
            remove_path(&entry.path())?;
        }
    }
    sync_dir(&releases)
}

fn rename(from: &Path, to: &Path) -> Result<(), FwError> {
    fs::rename(from, to).map_err(|e| {
        FwError::io(
            format!("renaming {} to {}", from.display(), to.display()),
            e,
        )
    })
}

/// Removes a file, symlink or directory tree; absent is fine.
fn remove_path(path: &Path) -> Result<(), FwError> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    result.map_err(|e| FwError::io(format!("removing {}", path.display()), e))
}

fn sync_dir(dir: &Path) -> Result<(), FwError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| FwError::io(format!("syncing {}", dir.display()), e))
}

/// SHA-256 of a whole file, streamed (used by tests and tools to compare trees).
pub fn file_sha256(path: &Path) -> Result<[u8; 32], FwError> {
    let mut file =
        File::open(path).map_err(|e| FwError::io(format!("opening {}", path.display()), e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .map_err(|e| FwError::io(format!("reading {}", path.display()), e))?;
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::firmware::image::tests::{sample_image, test_signing_key};
    use crate::firmware::image::verify_image;

    /// Every path under `root` (files with their hash, links with their target), to prove that
    /// a refused image changed nothing.
    fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let meta = fs::symlink_metadata(&path).unwrap();
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                if meta.file_type().is_symlink() {
                    out.insert(
                        rel,
                        format!("-> {}", fs::read_link(&path).unwrap().display()),
                    );
                } else if meta.is_dir() {
                    out.insert(rel, "dir".into());
                    stack.push(path);
                } else {
                    let mode = meta.permissions().mode() & 0o777;
                    out.insert(
                        rel,
                        format!("{:o} {}", mode, hex(&file_sha256(&path).unwrap())),
                    );
                }
            }
        }
        out
    }

    fn write_image(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, bytes).unwrap();
        path
    }

    fn install_bytes(root: &Path, scratch: &Path, bytes: &[u8]) -> Result<PathBuf, FwError> {
        let path = write_image(scratch, "upload.img", bytes);
        let verified = verify_image(&path, &test_signing_key(1).verifying_key(), "sim")?;
        install(verified, root)
    }

    fn current_binary(root: &Path) -> String {
        fs::read_to_string(root.join("current/ipcamd")).unwrap()
    }

    #[test]
    fn test_install_confirm_upgrade_rollback_round_trip() {
        let scratch = tempfile::tempdir().unwrap();
        let root_dir = tempfile::tempdir().unwrap();
        let root = root_dir.path();
        assert_eq!(installed_version(root).unwrap(), None);

        install_bytes(root, scratch.path(), &sample_image("1.0.0", &["sim"])).unwrap();
        assert_eq!(installed_version(root).unwrap().as_deref(), Some("1.0.0"));
        assert!(current_binary(root).contains("1.0.0"));
        let mode = fs::metadata(root.join("current/ipcamd"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        let mode = fs::metadata(root.join("current/board/sim.toml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
        assert!(confirm(root).unwrap());
        assert!(
            !confirm(root).unwrap(),
            "second confirm has no trial to end"
        );
        assert!(
            !rollback_if_unconfirmed(root).unwrap(),
            "confirmed release stays"
        );
        assert_eq!(rollback(root).unwrap_err().kind(), "no-previous");

        install_bytes(root, scratch.path(), &sample_image("2.0.0", &["sim"])).unwrap();
        assert_eq!(installed_version(root).unwrap().as_deref(), Some("2.0.0"));
        assert!(current_binary(root).contains("2.0.0"));
        assert!(
            fs::read_to_string(root.join("previous/ipcamd"))
                .unwrap()
                .contains("1.0.0")
        );

        // The new version never confirmed a good start: roll back to 1.0.0.
        assert!(rollback_if_unconfirmed(root).unwrap());
        assert_eq!(installed_version(root).unwrap().as_deref(), Some("1.0.0"));
        assert!(current_binary(root).contains("1.0.0"));
        assert!(
            !rollback_if_unconfirmed(root).unwrap(),
            "trial ended by the rollback"
        );

        // A third install prunes the release that is neither current nor previous.
        install_bytes(root, scratch.path(), &sample_image("3.0.0", &["sim"])).unwrap();
        confirm(root).unwrap();
        let releases: Vec<String> = fs::read_dir(root.join("releases"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(releases.len(), 2, "{releases:?}");
        assert_eq!(installed_version(root).unwrap().as_deref(), Some("3.0.0"));
        assert!(
            fs::read_to_string(root.join("previous/ipcamd"))
                .unwrap()
                .contains("1.0.0")
        );
    }

    #[test]
    fn test_install_every_bad_image_rejected_leaves_install_dir_unchanged() {
        let scratch = tempfile::tempdir().unwrap();
        let root_dir = tempfile::tempdir().unwrap();
        let root = root_dir.path();
        install_bytes(root, scratch.path(), &sample_image("1.0.0", &["sim"])).unwrap();
        confirm(root).unwrap();
        let before = snapshot(root);

        let good = sample_image("2.0.0", &["sim"]);
        let (_, header) = format::Header::read_from(&mut good.as_slice()).unwrap();
        let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
        let mut flip = |what, at: usize, expect| {
            let mut bad = good.clone();
            bad[at] ^= 0x04;
            cases.push((what, bad, expect));
        };
        flip("payload byte", good.len() - 3, "hash-mismatch");
        flip("header version string", 16, "bad-signature");
        flip("signature", header.len() + 10, "bad-signature");
        flip("magic", 2, "bad-magic");
        let mut wrong_version = good.clone();
        wrong_version[8] = 9;
        cases.push(("format version", wrong_version, "unsupported-version"));
        cases.push(("truncated", good[..good.len() - 1].to_vec(), "truncated"));
        cases.push((
            "wrong board",
            sample_image("2.0.0", &["other"]),
            "wrong-board",
        ));
        let mut trailing = good.clone();
        trailing.extend_from_slice(b"junk");
        cases.push(("trailing data", trailing, "trailing-data"));
        let other_key = build_with_key(9);
        cases.push(("other signer", other_key, "bad-signature"));

        for (what, bytes, expect) in cases {
            let err = install_bytes(root, scratch.path(), &bytes).unwrap_err();
            assert_eq!(err.kind(), expect, "{what}: {err}");
            assert_eq!(snapshot(root), before, "{what} changed the install dir");
        }

        // Oversized: a sparse file over the cap.
        let big = scratch.path().join("big.img");
        File::create(&big)
            .unwrap()
            .set_len(crate::firmware::MAX_IMAGE_BYTES + 1)
            .unwrap();
        let err = verify_image(&big, &test_signing_key(1).verifying_key(), "sim").unwrap_err();
        assert_eq!(err.kind(), "oversized");
        assert_eq!(snapshot(root), before);
    }

    fn build_with_key(seed: u8) -> Vec<u8> {
        crate::firmware::build_image(
            &crate::firmware::image::tests::sample_files("x"),
            "2.0.0",
            &["sim".into()],
            &test_signing_key(seed),
        )
        .unwrap()
    }

    #[test]
    fn test_install_file_changed_after_verify_refused_and_nothing_changed() {
        let scratch = tempfile::tempdir().unwrap();
        let root_dir = tempfile::tempdir().unwrap();
        let root = root_dir.path();
        install_bytes(root, scratch.path(), &sample_image("1.0.0", &["sim"])).unwrap();
        let before = snapshot(root);

        let mut image = sample_image("2.0.0", &["sim"]);
        let path = write_image(scratch.path(), "race.img", &image);
        let verified = verify_image(&path, &test_signing_key(1).verifying_key(), "sim").unwrap();
        let last = image.len() - 2;
        image[last] ^= 0x01;
        // Same inode: the open handle sees the change.
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .write_all(&image)
            .unwrap();
        let err = install(verified, root).unwrap_err();
        assert_eq!(err.kind(), "hash-mismatch");
        assert_eq!(snapshot(root), before);
    }

    #[test]
    fn test_rollback_if_unconfirmed_trial_of_other_release_does_nothing() {
        let scratch = tempfile::tempdir().unwrap();
        let root_dir = tempfile::tempdir().unwrap();
        let root = root_dir.path();
        install_bytes(root, scratch.path(), &sample_image("1.0.0", &["sim"])).unwrap();
        confirm(root).unwrap();
        install_bytes(root, scratch.path(), &sample_image("2.0.0", &["sim"])).unwrap();
        // A crash between writing the marker and switching would leave a marker that names a
        // release that is not current; it must not roll the current one back.
        fs::write(root.join(TRIAL), "r99-9.9.9").unwrap();
        assert!(!rollback_if_unconfirmed(root).unwrap());
        assert_eq!(installed_version(root).unwrap().as_deref(), Some("2.0.0"));
    }
}
