//! PPPoE through the root unit `systemd/ipcamd-pppoe@.service`, for a daemon that is not root
//! (the shipped ipcamd.service: user `ipcamd`, `NoNewPrivileges=yes`), where pppd itself
//! refuses to run. The daemon never starts pppd and never builds its options:
//!
//! - dialling writes the account to `DATA/pppoe-account` ([`ACCOUNT_FILE`]) as the two raw
//!   lines pppd's `+ua` option reads (user name, then password; pppd takes each line as it is,
//!   up to its newline: no quoting, nothing in it can become an option), mode 0600, replaced
//!   atomically (a temporary file in the same folder, fsynced, renamed over it); then runs the
//!   fixed argument vector `SYSTEMCTL start UNIT` (`restart` when the account changed, so
//!   pppd reads it again), never a shell. The polkit rule `systemd/51-ipcamd-pppoe.rules` lets
//!   the `ipcamd` user start, restart and stop exactly these units, nothing else;
//! - hanging up is `SYSTEMCTL stop UNIT`, and the account file is removed;
//! - the state comes from what is, not from what was asked: the unit's `ActiveState`,
//!   `Result`, `ExecMainCode` and `ExecMainStatus` (`SYSTEMCTL show --property=...`), and the
//!   ppp interface the unit names ([`PPP_INTERFACE`], pppd's `ifname`) having an IPv4 address
//!   (rtnetlink). A failed unit gives pppd's exit status's meaning (pppd(8), "EXIT STATUS")
//!   as the reason; pppd's own lines are in the journal (`journalctl -u UNIT`), not in the
//!   daemon's log.
//!
//! UNIT is `[network.pppoe] systemd_unit` with `{interface}` replaced by the Ethernet
//! interface, which must be an interface name (letters, digits, `_`, `.`, `-`; at most 15
//! bytes, as the polkit rule also requires).

use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};

use crate::net::{PppState, Pppoe};
use crate::{HalError, HalErrorKind, HalResult};

/// The account file's name in the data directory (the unit reads
/// `/var/lib/ipcamd/pppoe-account`, the shipped unit's data directory).
pub const ACCOUNT_FILE: &str = "pppoe-account";
/// The ppp interface the unit's pppd creates (its `ifname` option).
pub const PPP_INTERFACE: &str = "ppp-ipcamd";
/// The unit properties the state is read from.
pub const SHOW_PROPERTIES: &str = "--property=ActiveState,Result,ExecMainCode,ExecMainStatus";
/// The longest user name or password pppd's `+ua` reads whole: it reads each line with
/// `fgets(buf, MAXNAMELEN - 1, file)` (MAXNAMELEN = MAXSECRETLEN = 256), at most 254 bytes
/// including the newline; a longer line would leave its newline for the password's read.
pub const MAX_FIELD: usize = 253;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether `name` can be the Ethernet interface in the unit's name (and pppd's `nic-NAME`).
pub fn valid_interface(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The unit for `interface`: `template` with `{interface}` replaced.
pub fn unit_name(template: &str, interface: &str) -> HalResult<String> {
    if !valid_interface(interface) {
        return Err(HalError::new(
            HalErrorKind::InvalidArgument,
            format!(
                "[network.pppoe]: interface {interface:?} is not an interface name \
                 (letters, digits, _ . -, at most 15)"
            ),
        ));
    }
    Ok(template.replace("{interface}", interface))
}

/// The account file's text: the user name's line, then the password's, exactly as pppd's
/// `+ua` reads them back (each line up to its newline, the newline removed). Control
/// characters are refused (a newline would end the line early, a NUL the string), as are
/// fields pppd would cut short.
pub fn account_text(user: &str, password: &str) -> HalResult<String> {
    for (what, text) in [("user name", user), ("password", password)] {
        if text.chars().any(char::is_control) {
            return Err(HalError::new(
                HalErrorKind::InvalidArgument,
                format!("the PPPoE {what} holds a control character"),
            ));
        }
        if text.len() > MAX_FIELD {
            return Err(HalError::new(
                HalErrorKind::InvalidArgument,
                format!("the PPPoE {what} is longer than {MAX_FIELD} bytes"),
            ));
        }
    }
    Ok(format!("{user}\n{password}\n"))
}

/// Writes `text` to `path` with mode 0600, atomically: a temporary file beside it (created
/// new, 0600 from the start), fsynced, renamed over `path`, the folder fsynced. Readers see the
/// old file or the new one, never a part. Returns whether the content changed.
pub fn replace_file(path: &Path, text: &str) -> HalResult<bool> {
    let previous = std::fs::read(path).ok();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = path.parent().unwrap_or(Path::new("."));
    let temporary = dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&temporary);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(err) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(HalError::io(format!("writing {}", path.display()), err));
    }
    if let Ok(folder) = std::fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(previous.as_deref() != Some(text.as_bytes()))
}

/// What `systemctl show` says about the unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitStatus {
    /// `ActiveState`: active, reloading, inactive, failed, activating, deactivating.
    pub active_state: String,
    /// `Result`: success, exit-code, signal, core-dump, timeout, start-limit-hit, ...
    pub result: String,
    /// `ExecMainCode`: how the main process ended (1 exited, 2 killed, 3 dumped; 0 never ran).
    pub main_code: i32,
    /// `ExecMainStatus`: its exit status, or the signal that ended it.
    pub main_status: i32,
}

impl UnitStatus {
    /// Parses `systemctl show`'s `KEY=value` lines (unknown keys ignored).
    pub fn parse(text: &str) -> UnitStatus {
        let mut status = UnitStatus::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "ActiveState" => status.active_state = value.to_owned(),
                "Result" => status.result = value.to_owned(),
                "ExecMainCode" => status.main_code = value.parse().unwrap_or(0),
                "ExecMainStatus" => status.main_status = value.parse().unwrap_or(0),
                _ => {}
            }
        }
        status
    }

    /// The link's state for this unit status; `address` is asked only for an active unit.
    pub fn link_state(&self, unit: &str, address: impl FnOnce() -> Option<Ipv4Addr>) -> PppState {
        match self.active_state.as_str() {
            "active" | "reloading" => match address() {
                Some(address) => PppState::Up { address },
                None => PppState::Dialling,
            },
            "activating" => PppState::Dialling,
            "failed" => PppState::Failed {
                reason: format!(
                    "{unit} failed: {} (pppd's own lines: journalctl -u {unit})",
                    self.failure()
                ),
            },
            _ => PppState::Down,
        }
    }

    fn failure(&self) -> String {
        const CLD_EXITED: i32 = 1;
        const CLD_KILLED: i32 = 2;
        const CLD_DUMPED: i32 = 3;
        match self.main_code {
            CLD_EXITED if self.main_status != 0 => format!(
                "{} (pppd exit {})",
                super::pppd::exit_meaning(self.main_status),
                self.main_status
            ),
            CLD_KILLED | CLD_DUMPED => {
                format!("pppd was killed by signal {}", self.main_status)
            }
            _ => format!(
                "Result={} before pppd ran or without an exit status (a missing account \
                 file, a refused start)",
                self.result
            ),
        }
    }
}

/// The PPPoE role over the root unit.
pub struct UnitPppoe {
    systemctl: PathBuf,
    unit: String,
    account: PathBuf,
    ppp_interface: String,
    /// Why the last dial's systemctl call failed; reported while the unit is inactive (it is
    /// inactive because of that).
    refused: Mutex<Option<String>>,
}

impl UnitPppoe {
    /// The role for `unit`, run through `systemctl`, the account written to `account`.
    pub fn new(systemctl: PathBuf, unit: String, account: PathBuf) -> UnitPppoe {
        UnitPppoe {
            systemctl,
            unit,
            account,
            ppp_interface: PPP_INTERFACE.into(),
            refused: Mutex::new(None),
        }
    }

    /// Another ppp interface name (tests: one that exists on the test machine).
    pub fn with_ppp_interface(mut self, name: &str) -> UnitPppoe {
        self.ppp_interface = name.into();
        self
    }

    /// The unit's name.
    pub fn unit(&self) -> &str {
        &self.unit
    }

    /// The account file's path.
    pub fn account_path(&self) -> &Path {
        &self.account
    }

    /// systemctl's arguments for `verb` (start, restart, stop) on the unit.
    pub fn verb_arguments(&self, verb: &str) -> Vec<String> {
        vec![verb.to_owned(), self.unit.clone()]
    }

    /// systemctl's arguments for reading the unit's state.
    pub fn show_arguments(&self) -> Vec<String> {
        vec![
            "show".to_owned(),
            SHOW_PROPERTIES.to_owned(),
            self.unit.clone(),
        ]
    }

    fn systemctl(&self, args: &[String]) -> HalResult<Output> {
        let output = Command::new(&self.systemctl)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| HalError::io(format!("running {}", self.systemctl.display()), e))?;
        if output.status.success() {
            return Ok(output);
        }
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said.lines().last().unwrap_or_default().trim();
        Err(HalError::new(
            HalErrorKind::Io,
            format!(
                "{} {} failed ({}): {said}",
                self.systemctl.display(),
                args.join(" "),
                output.status
            ),
        ))
    }

    fn run_verb(&self, verb: &str) -> HalResult<()> {
        let args = self.verb_arguments(verb);
        tracing::info!(program = %self.systemctl.display(), ?args, "PPPoE through systemd");
        match self.systemctl(&args) {
            Ok(_) => {
                *lock(&self.refused) = None;
                Ok(())
            }
            Err(err) => {
                *lock(&self.refused) = Some(err.to_string());
                Err(err)
            }
        }
    }

    fn address(&self) -> Option<Ipv4Addr> {
        let index = nix::net::if_::if_nametoindex(self.ppp_interface.as_str()).ok()?;
        super::net::addresses(index)
            .ok()?
            .first()
            .map(|(address, _)| *address)
    }
}

impl Pppoe for UnitPppoe {
    fn dial(&self, user: &str, password: &str) -> HalResult<()> {
        let text = account_text(user, password)?;
        let changed = replace_file(&self.account, &text)?;
        // Unchanged and running (the daemon restarted under a live session): start keeps it.
        self.run_verb(if changed { "restart" } else { "start" })
    }

    fn hang_up(&self) -> HalResult<()> {
        let stopped = self.run_verb("stop");
        let _ = std::fs::remove_file(&self.account);
        stopped
    }

    fn state(&self) -> HalResult<PppState> {
        let output = self.systemctl(&self.show_arguments())?;
        let status = UnitStatus::parse(&String::from_utf8_lossy(&output.stdout));
        let state = status.link_state(&self.unit, || self.address());
        if state == PppState::Down {
            if let Some(reason) = lock(&self.refused).clone() {
                return Ok(PppState::Failed { reason });
            }
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// A stand-in for systemctl at the HAL's edge: records every call's argument count and
    /// arguments (one call a line) next to itself, and plays the unit: `start`/`restart` read
    /// the account file as the unit's pppd would (the known account comes up; user "nobody"
    /// fails with exit 8, any other with 19; no file fails before pppd ran), `stop` makes it
    /// inactive, `show` prints the properties. A file `deny` beside it refuses every verb as
    /// polkit would.
    const STAND_IN: &str = r#"#!/bin/sh
here=$(dirname "$0")
[ "$1" = probe ] && exit 0
echo "$# $*" >> "$here/calls"
state() { printf 'ActiveState=%s\nResult=%s\nExecMainCode=%s\nExecMainStatus=%s\n' "$1" "$2" "$3" "$4" > "$here/unit"; }
case "$1" in
show)
  [ -f "$here/unit" ] || state inactive success 0 0
  cat "$here/unit"
  ;;
start|restart)
  if [ -f "$here/deny" ]; then
    echo "Failed to $1 $2: Access denied" >&2
    exit 4
  fi
  if [ "$1" = start ] && grep -q ActiveState=active "$here/unit" 2>/dev/null; then exit 0; fi
  account=ACCOUNT
  if [ ! -f "$account" ]; then
    state failed exit-code 0 0
    echo "Job for $2 failed because the control process exited with error code." >&2
    exit 1
  fi
  cp "$account" "$here/account"
  stat -c %a "$account" > "$here/mode"
  if [ "$(sed -n 1p "$account")" = 'c "a" m\ $x %i -n ü' ] && [ "$(sed -n 2p "$account")" = ' p"w \\ #$y% ' ]; then
    state active success 0 0
  elif [ "$(sed -n 1p "$account")" = nobody ]; then
    state failed exit-code 1 8
  else
    state failed exit-code 1 19
  fi
  ;;
stop)
  [ -f "$here/deny" ] && { echo "Failed to stop $2: Access denied" >&2; exit 4; }
  state inactive success 0 0
  ;;
*) exit 2 ;;
esac
"#;

    const USER: &str = r#"c "a" m\ $x %i -n ü"#;
    const PASSWORD: &str = r#" p"w \\ #$y% "#;

    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let bin = dir.path().join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::create_dir_all(dir.path().join("data")).unwrap();
            let account = dir.path().join("data").join(ACCOUNT_FILE);
            let script = bin.join("systemctl");
            std::fs::write(
                &script,
                STAND_IN.replace("ACCOUNT", &account.display().to_string()),
            )
            .unwrap();
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
            // Another test's fork may briefly hold the script open for writing (ETXTBSY).
            let deadline = Instant::now() + Duration::from_secs(30);
            while Command::new(&script).arg("probe").status().is_err() {
                assert!(Instant::now() < deadline, "the stand-in never ran");
                std::thread::sleep(Duration::from_millis(20));
            }
            Fixture { dir }
        }

        fn pppoe(&self) -> UnitPppoe {
            UnitPppoe::new(
                self.dir.path().join("bin").join("systemctl"),
                unit_name("ipcamd-pppoe@{interface}.service", "eth9").unwrap(),
                self.dir.path().join("data").join(ACCOUNT_FILE),
            )
            // The loopback interface stands in for the session's ppp interface.
            .with_ppp_interface("lo")
        }

        fn record(&self, name: &str) -> String {
            std::fs::read_to_string(self.dir.path().join("bin").join(name)).unwrap_or_default()
        }

        fn calls(&self) -> Vec<String> {
            self.record("calls")
                .lines()
                .filter(|l| !l.contains(" show "))
                .map(String::from)
                .collect()
        }
    }

    /// pppd's `+ua` reader (pppd auth.c, setupapfile): two `fgets(buf, MAXNAMELEN - 1, f)`
    /// lines (MAXNAMELEN = MAXSECRETLEN = 256), each without its one trailing newline.
    fn read_like_pppd(text: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let mut rest = text;
        let mut line = || {
            if rest.is_empty() {
                return None;
            }
            let limit = rest.len().min(254);
            let end = rest[..limit]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(limit, |i| i + 1);
            let (taken, left) = rest.split_at(end);
            rest = left;
            Some(taken.strip_suffix(b"\n").unwrap_or(taken).to_vec())
        };
        Some((line()?, line()?))
    }

    #[test]
    fn test_account_lines_round_trip_hostile_values_as_pppd_reads_them() {
        let hostile = [
            ("cam", ""),
            (USER, PASSWORD),
            ("-plugin", "evil.so"),
            ("user \"x\" plugin /tmp/x.so", "pass\\word 'q'"),
            ("$PPPOE_USER ${HOME} %n %%", "\u{fe0f}🔑 ünïcödé"),
            (" leading and trailing ", "\\"),
            ("#comment", "\"unbalanced"),
        ];
        for (user, password) in hostile {
            let text = account_text(user, password).unwrap();
            let (u, p) = read_like_pppd(text.as_bytes()).unwrap();
            assert_eq!(String::from_utf8(u).unwrap(), user);
            assert_eq!(String::from_utf8(p).unwrap(), password);
        }
        let longest = "x".repeat(MAX_FIELD);
        let (u, p) = read_like_pppd(account_text(&longest, &longest).unwrap().as_bytes()).unwrap();
        assert_eq!((u.len(), p.len()), (MAX_FIELD, MAX_FIELD));
        assert!(account_text(&format!("{longest}x"), "pw").is_err());
    }

    #[test]
    fn test_control_characters_are_refused_and_nothing_is_written() {
        let fixture = Fixture::new();
        let pppoe = fixture.pppoe();
        for (user, password) in [
            ("cam\nplugin x.so", "pw"),
            ("cam", "pw\nx"),
            ("cam\r", "pw"),
            ("cam", "p\0w"),
            ("c\u{1b}[0m", "pw"),
            ("cam", "\u{85}"),
        ] {
            let err = pppoe.dial(user, password).unwrap_err();
            assert_eq!(err.kind(), HalErrorKind::InvalidArgument, "{err}");
        }
        assert!(!pppoe.account_path().exists());
        assert!(fixture.calls().is_empty(), "{:?}", fixture.calls());
    }

    #[test]
    fn test_the_account_file_is_0600_and_replaced_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ACCOUNT_FILE);
        assert!(
            replace_file(&path, "a\nb\n").unwrap(),
            "a new file is a change"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A reader holding the old file keeps reading the old content: the new one is another
        // inode renamed over it, not the old one rewritten in place.
        let mut held = std::fs::File::open(&path).unwrap();
        let before = std::fs::metadata(&path).unwrap();
        assert!(!replace_file(&path, "a\nb\n").unwrap(), "same content");
        assert!(replace_file(&path, "c\nd\n").unwrap());
        let after = std::fs::metadata(&path).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_ne!(before.ino(), after.ino(), "renamed over, not rewritten");
        let mut old = String::new();
        std::io::Read::read_to_string(&mut held, &mut old).unwrap();
        assert_eq!(old, "a\nb\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "c\nd\n");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // Even where the umask would allow more, and over a file that was readable by others.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        replace_file(&path, "e\nf\n").unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [ACCOUNT_FILE], "no temporary file left");
    }

    #[test]
    fn test_dial_writes_the_account_and_starts_the_unit_with_fixed_vectors() {
        let fixture = Fixture::new();
        let pppoe = fixture.pppoe();
        assert_eq!(pppoe.unit(), "ipcamd-pppoe@eth9.service");
        assert_eq!(pppoe.state().unwrap(), PppState::Down);
        pppoe.dial(USER, PASSWORD).unwrap();
        assert_eq!(fixture.record("account"), format!("{USER}\n{PASSWORD}\n"));
        assert_eq!(fixture.record("mode").trim(), "600");
        // The unit is active and the interface has an address: up, with that address.
        assert_eq!(
            pppoe.state().unwrap(),
            PppState::Up {
                address: Ipv4Addr::LOCALHOST
            }
        );
        // The same account again (the daemon restarted): start, which keeps the session.
        pppoe.dial(USER, PASSWORD).unwrap();
        // A changed account: restart, so pppd reads it.
        pppoe.dial("nobody", "x").unwrap();
        let PppState::Failed { reason } = pppoe.state().unwrap() else {
            panic!("not failed");
        };
        assert!(
            reason.contains("no access concentrator answered"),
            "{reason}"
        );
        assert!(reason.contains("pppd exit 8"), "{reason}");
        assert!(reason.contains("ipcamd-pppoe@eth9.service"), "{reason}");
        pppoe.dial("cam", "wrong").unwrap();
        let PppState::Failed { reason } = pppoe.state().unwrap() else {
            panic!("not failed");
        };
        assert!(reason.contains("authentication failed"), "{reason}");
        assert!(!reason.contains("wrong"), "no password in the reason");
        pppoe.hang_up().unwrap();
        assert_eq!(pppoe.state().unwrap(), PppState::Down);
        assert!(!pppoe.account_path().exists(), "account removed");
        assert_eq!(
            fixture.calls(),
            [
                "2 restart ipcamd-pppoe@eth9.service",
                "2 start ipcamd-pppoe@eth9.service",
                "2 restart ipcamd-pppoe@eth9.service",
                "2 restart ipcamd-pppoe@eth9.service",
                "2 stop ipcamd-pppoe@eth9.service",
            ]
        );
        assert!(
            fixture.record("calls").contains(&format!(
                "3 show {SHOW_PROPERTIES} ipcamd-pppoe@eth9.service"
            )),
            "{}",
            fixture.record("calls")
        );
    }

    #[test]
    fn test_an_active_unit_without_an_address_is_dialling() {
        let fixture = Fixture::new();
        let pppoe = fixture.pppoe().with_ppp_interface("ipcamd-none0");
        pppoe.dial(USER, PASSWORD).unwrap();
        assert_eq!(pppoe.state().unwrap(), PppState::Dialling);
    }

    #[test]
    fn test_a_refused_start_is_an_error_and_a_failed_state() {
        let fixture = Fixture::new();
        let pppoe = fixture.pppoe();
        std::fs::write(fixture.dir.path().join("bin").join("deny"), "").unwrap();
        let err = pppoe.dial("cam", "pw").unwrap_err();
        assert!(err.to_string().contains("Access denied"), "{err}");
        let PppState::Failed { reason } = pppoe.state().unwrap() else {
            panic!("not failed");
        };
        assert!(reason.contains("Access denied"), "{reason}");
        // A unit that failed before pppd ran (no account file) says so.
        std::fs::remove_file(fixture.dir.path().join("bin").join("deny")).unwrap();
        let missing = UnitStatus::parse(
            "ActiveState=failed\nResult=exit-code\nExecMainCode=0\nExecMainStatus=0\n",
        );
        let PppState::Failed { reason } = missing.link_state("u.service", || None) else {
            panic!("not failed");
        };
        assert!(reason.contains("before pppd ran"), "{reason}");
    }

    #[test]
    fn test_unit_states_map_to_link_states() {
        let status = |text: &str| UnitStatus::parse(text);
        let up = || Some(Ipv4Addr::new(10, 64, 0, 9));
        assert_eq!(
            status("ActiveState=active\n").link_state("u", up),
            PppState::Up {
                address: Ipv4Addr::new(10, 64, 0, 9)
            }
        );
        assert_eq!(
            status("ActiveState=activating\n").link_state("u", up),
            PppState::Dialling
        );
        assert_eq!(
            status("ActiveState=inactive\nResult=success\n").link_state("u", up),
            PppState::Down
        );
        assert!(matches!(
            status("ActiveState=failed\nResult=signal\nExecMainCode=2\nExecMainStatus=9\n")
                .link_state("u", up),
            PppState::Failed { reason } if reason.contains("signal 9")
        ));
        assert!(matches!(
            status("ActiveState=failed\nResult=exit-code\nExecMainCode=1\nExecMainStatus=19\n")
                .link_state("u", up),
            PppState::Failed { reason } if reason.contains("user name or password refused")
        ));
    }

    #[test]
    fn test_a_daemon_that_is_not_root_under_systemd_goes_through_the_unit() {
        let fixture = Fixture::new();
        let board = |interface: &str, extra: &str| {
            let text = format!(
                "[board]\nname = \"t\"\nbackend = \"linux\"\n[identity]\nmodel = 1\n\
                 model_name = \"m\"\nproduct_name = \"p\"\nhardware_version = \"1\"\n\
                 [capabilities]\n[video]\ndevice = \"/dev/video0\"\n[network]\n\
                 interface = \"{interface}\"\n[network.pppoe]\nsystemctl = \"{}\"\n{extra}",
                fixture.dir.path().join("bin").join("systemctl").display()
            );
            crate::board::BoardSpec::parse(&text).unwrap()
        };
        let data = fixture.dir.path().join("data");
        let pppoe = crate::linux::pppoe_role_as(&board("eth9", ""), &data, false, true)
            .unwrap()
            .expect("a dialler");
        pppoe.dial("nobody", "x").unwrap();
        assert!(matches!(pppoe.state().unwrap(), PppState::Failed { .. }));
        assert_eq!(fixture.calls(), ["2 restart ipcamd-pppoe@eth9.service"]);
        assert_eq!(
            std::fs::read_to_string(data.join(ACCOUNT_FILE)).unwrap(),
            "nobody\nx\n"
        );
        // The board file may name another unit, or insist on systemd for a root daemon.
        let named = board(
            "eth9",
            "mode = \"systemd\"\nsystemd_unit = \"ppp-{interface}.service\"\n",
        );
        let pppoe = crate::linux::pppoe_role_as(&named, &data, true, false)
            .unwrap()
            .unwrap();
        pppoe.hang_up().unwrap();
        assert_eq!(fixture.calls().last().unwrap(), "2 stop ppp-eth9.service");
        // An interface that is not an interface name never makes a unit name.
        assert!(crate::linux::pppoe_role_as(&board("eth9 x", ""), &data, false, true).is_err());
    }

    #[test]
    fn test_unit_names_take_only_interface_names() {
        let template = "ipcamd-pppoe@{interface}.service";
        assert_eq!(
            unit_name(template, "enp0s3.100").unwrap(),
            "ipcamd-pppoe@enp0s3.100.service"
        );
        for bad in [
            "",
            "eth0 plugin",
            "eth0\\x20",
            "a/b",
            "sixteen-chars-xx",
            "eth0;",
            "é",
        ] {
            assert!(unit_name(template, bad).is_err(), "{bad:?}");
        }
    }
}
