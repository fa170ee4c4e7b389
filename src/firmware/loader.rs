//! The start-up loader: the factory binary (the one systemd starts) runs the release fwUpgrade
//! installed, `<data>/firmware/current/ipcamd`, by replacing itself with it. A release on
//! trial (installed, not yet confirmed by [`super::confirm`]) gets one start: if it is found
//! still unconfirmed at the next start, it never reached "ready", and the previous release is
//! put back ([`super::rollback`]) before anything is run.
//!
//! The loader also owns the way back: a daemon restart (fwUpgrade, importConfig) re-executes
//! the factory binary, which loads the current release again ([`restart_command`]).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::install::{CURRENT, TRIAL};
use super::{FIRMWARE_DIR, LOADED_RELEASE_ENV};

/// Set for an installed release: the path of the factory binary that loaded it.
pub const LOADER_ENV: &str = "IPCAMD_LOADER";

/// Marker of the one start a release on trial ([`TRIAL`], written by [`super::install`] and
/// removed by [`super::confirm`]) has had.
const TRIAL_STARTED: &str = "trial-started";

/// What the loader does with the firmware folder at start-up.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// No installed release (or this process is one): the running binary serves.
    RunThis,
    /// Run the installed release at this path.
    Run(PathBuf),
    /// The release on trial never confirmed a good start: roll back, then run what is current.
    RollBackThenRun(PathBuf),
}

/// Decides from the folder and marks the trial's one start (no exec, no rollback yet).
pub fn decide(data_dir: &Path, loaded_release: bool) -> Decision {
    if loaded_release {
        return Decision::RunThis;
    }
    let root = data_dir.join(FIRMWARE_DIR);
    let binary = root.join(CURRENT).join("ipcamd");
    if !binary.exists() {
        return Decision::RunThis;
    }
    let attempted = root.join(TRIAL_STARTED);
    if !root.join(TRIAL).exists() {
        let _ = std::fs::remove_file(&attempted);
        return Decision::Run(binary);
    }
    if attempted.exists() {
        let _ = std::fs::remove_file(&attempted);
        return Decision::RollBackThenRun(binary);
    }
    if let Err(err) = std::fs::write(&attempted, b"") {
        tracing::warn!(%err, "cannot mark the firmware trial");
    }
    Decision::Run(binary)
}

/// Runs the installed release in place of this process, when there is one; returns when
/// there is none, or when it cannot be started (the factory binary then serves, logged).
pub fn exec_installed_release(data_dir: &Path) {
    let loaded = std::env::var_os(LOADED_RELEASE_ENV).is_some();
    let binary = match decide(data_dir, loaded) {
        Decision::RunThis => return,
        Decision::Run(binary) => binary,
        Decision::RollBackThenRun(binary) => {
            tracing::error!("the new firmware never confirmed a good start; rolling back");
            if let Err(err) = super::rollback(&data_dir.join(FIRMWARE_DIR)) {
                tracing::error!(%err, "rollback failed");
            }
            binary
        }
    };
    if !binary.exists() {
        return;
    }
    let loader = std::env::current_exe().unwrap_or_default();
    let error = Command::new(&binary)
        .args(std::env::args_os().skip(1))
        .env(LOADED_RELEASE_ENV, "1")
        .env(LOADER_ENV, loader)
        .exec();
    tracing::error!(%error, binary = %binary.display(), "cannot start the installed firmware; running the factory one");
}

/// The command that restarts the daemon through the loader (the factory binary, with this
/// process's arguments), for a restart without systemd.
pub fn restart_command(args: impl IntoIterator<Item = OsString>) -> Command {
    let loader = std::env::var_os(LOADER_ENV)
        .map(PathBuf::from)
        .or_else(|| std::env::current_exe().ok())
        .unwrap_or_default();
    let mut command = Command::new(loader);
    command
        .args(args)
        .env_remove(LOADED_RELEASE_ENV)
        .env_remove(LOADER_ENV);
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(data: &Path) -> PathBuf {
        let current = data.join(FIRMWARE_DIR).join(CURRENT);
        std::fs::create_dir_all(&current).unwrap();
        let binary = current.join("ipcamd");
        std::fs::write(&binary, b"#!").unwrap();
        binary
    }

    #[test]
    fn test_no_release_or_a_loaded_one_runs_this_binary() {
        let data = tempfile::tempdir().unwrap();
        assert_eq!(decide(data.path(), false), Decision::RunThis);
        release(data.path());
        assert_eq!(decide(data.path(), true), Decision::RunThis);
    }

    #[test]
    fn test_a_confirmed_release_runs_every_time() {
        let data = tempfile::tempdir().unwrap();
        let binary = release(data.path());
        for _ in 0..3 {
            assert_eq!(decide(data.path(), false), Decision::Run(binary.clone()));
        }
        assert!(!data.path().join(FIRMWARE_DIR).join(TRIAL_STARTED).exists());
    }

    #[test]
    fn test_a_trial_gets_one_start_and_is_rolled_back_at_the_second() {
        let data = tempfile::tempdir().unwrap();
        let binary = release(data.path());
        let root = data.path().join(FIRMWARE_DIR);
        std::fs::write(root.join(TRIAL), b"").unwrap();
        assert_eq!(decide(data.path(), false), Decision::Run(binary.clone()));
        assert!(root.join(TRIAL_STARTED).exists(), "the one start is marked");
        // It never confirmed (the trial marker is still there): the next start rolls back.
        assert_eq!(
            decide(data.path(), false),
            Decision::RollBackThenRun(binary)
        );
        assert!(!root.join(TRIAL_STARTED).exists());
    }
}
