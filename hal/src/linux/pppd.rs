//! PPPoE through pppd started by the daemon itself (when it is root, or not under systemd; a
//! daemon that is neither goes through the root unit instead, [`super::pppoe_unit`]): started
//! with an argument vector (never a shell) from the board file's `[network.pppoe]`: `PPPD plugin PLUGIN INTERFACE unit UNIT nodetach OPTIONS... file
//! ACCOUNT`, where ACCOUNT is a file of mode 0600 in a 0700 runtime directory holding the
//! `user` and `password` options. The password is never on a command line or in a log; the
//! file is removed when the session ends.
//!
//! State: no session is down (or the last session's outcome); a running pppd is dialling
//! until its interface (`/sys/class/net/pppUNIT`, or the one pppd says it uses) exists with an
//! IPv4 address (over rtnetlink, else the local address pppd reports), then up; a pppd that
//! exits on its own gives its exit code's meaning (pppd(8), "EXIT STATUS") as the failure.
//! Hanging up sends SIGTERM (pppd then terminates the link properly) and SIGKILL if it has
//! not exited within [`HANG_UP_WAIT`].

use std::io::{BufRead, BufReader, Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::net::spec::PppoeSpec;
use crate::net::{PppState, Pppoe};
use crate::{HalError, HalErrorKind, HalResult};

/// Longest wait for pppd to exit after SIGTERM.
pub const HANG_UP_WAIT: Duration = Duration::from_secs(5);
/// The account file's name in the runtime directory.
pub const ACCOUNT_FILE: &str = "pppoe-account";

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A value as a quoted word of a pppd options file (`\` and `"` escaped).
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '\\' || c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The account file's text.
pub fn account_text(user: &str, password: &str) -> String {
    format!("user {}\npassword {}\n", quoted(user), quoted(password))
}

/// What pppd's exit status means (pppd(8), "EXIT STATUS").
pub fn exit_meaning(code: i32) -> &'static str {
    match code {
        0 | 5 => "pppd ended the session",
        1 => "pppd failed (fatal error)",
        2 => "pppd refused an option",
        3 => "pppd is not running as root",
        4 => "the kernel has no PPP support",
        6 => "pppd could not take its lock",
        7 => "pppd could not open the interface",
        8 => "no access concentrator answered",
        10 => "PPP negotiation failed",
        11 => "the access concentrator did not authenticate itself",
        12 => "the link was idle too long",
        13 => "the connect time limit was reached",
        15 => "the access concentrator stopped answering",
        16 => "the link hung up",
        17 => "the link loops back",
        18 => "pppd's init script failed",
        19 => "authentication failed (user name or password refused)",
        20 => "the traffic limit was reached",
        21 => "CNID authentication failed",
        _ => "pppd exited",
    }
}

/// The state a pppd exit leaves (`last`: its last line of output, for the reason).
pub fn exit_state(status: ExitStatus, last: Option<&str>) -> PppState {
    let detail = last.map(|l| format!(": {l}")).unwrap_or_default();
    match status.code() {
        Some(0 | 5) => PppState::Down,
        Some(code) => PppState::Failed {
            reason: format!("{} (pppd exit {code}){detail}", exit_meaning(code)),
        },
        None => PppState::Failed {
            reason: format!("pppd was killed ({status}){detail}"),
        },
    }
}

/// What pppd said on its output.
#[derive(Debug, Default)]
struct Output {
    /// "Using interface pppN".
    interface: Option<String>,
    /// "local  IP address A.B.C.D".
    local: Option<Ipv4Addr>,
    /// Its last line.
    last: Option<String>,
}

impl Output {
    fn take_line(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Using", "interface", name] => self.interface = Some((*name).to_owned()),
            ["local", "IP", "address", address] => self.local = address.parse().ok(),
            _ => {}
        }
        self.last = Some(line.to_owned());
    }
}

fn read_output(stream: impl Read, output: Arc<Mutex<Output>>) {
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else {
            break;
        };
        tracing::info!(line = line.trim_end(), "pppd");
        lock(&output).take_line(&line);
    }
}

struct Session {
    child: Child,
    output: Arc<Mutex<Output>>,
}

struct Inner {
    session: Option<Session>,
    last: PppState,
}

/// The PPPoE role over pppd.
pub struct Pppd {
    program: PathBuf,
    interface: String,
    plugin: String,
    unit: u32,
    options: Vec<String>,
    runtime_dir: PathBuf,
    sys_class_net: PathBuf,
    inner: Mutex<Inner>,
}

impl Pppd {
    /// pppd as `spec` says, over `interface`, its account file in `runtime_dir`.
    pub fn new(spec: &PppoeSpec, interface: String, runtime_dir: PathBuf) -> Pppd {
        Pppd {
            program: spec.pppd.clone(),
            interface,
            plugin: spec.plugin.clone(),
            unit: spec.unit,
            options: spec.options.clone(),
            runtime_dir,
            sys_class_net: "/sys/class/net".into(),
            inner: Mutex::new(Inner {
                session: None,
                last: PppState::Down,
            }),
        }
    }

    /// Where the ppp interface is looked for (tests: a folder standing in for sysfs).
    pub fn with_sys_class_net(mut self, path: PathBuf) -> Pppd {
        self.sys_class_net = path;
        self
    }

    /// The account file's path.
    pub fn account_path(&self) -> PathBuf {
        self.runtime_dir.join(ACCOUNT_FILE)
    }

    /// pppd's arguments (after the program) for an account file at `account`.
    pub fn arguments(&self, account: &Path) -> Vec<String> {
        let mut args = vec![
            "plugin".to_owned(),
            self.plugin.clone(),
            self.interface.clone(),
            "unit".to_owned(),
            self.unit.to_string(),
            "nodetach".to_owned(),
        ];
        args.extend(self.options.iter().cloned());
        args.push("file".to_owned());
        args.push(account.display().to_string());
        args
    }

    fn write_account(&self, user: &str, password: &str) -> HalResult<PathBuf> {
        let dir = &self.runtime_dir;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
            .map_err(|e| HalError::io(format!("runtime directory {}", dir.display()), e))?;
        let path = self.account_path();
        let _ = std::fs::remove_file(&path);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut file| {
                file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
                file.write_all(account_text(user, password).as_bytes())
            })
            .map_err(|e| HalError::io(format!("writing {}", path.display()), e))?;
        Ok(path)
    }

    fn remove_account(&self) {
        let _ = std::fs::remove_file(self.account_path());
    }

    /// Ends the running session, if any (SIGTERM, then SIGKILL).
    fn end(&self, inner: &mut Inner) {
        let Some(mut session) = inner.session.take() else {
            return;
        };
        if let Ok(pid) = i32::try_from(session.child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = Instant::now() + HANG_UP_WAIT;
        loop {
            match session.child.try_wait() {
                Ok(Some(status)) => {
                    tracing::info!(%status, "pppd ended");
                    break;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {
                    tracing::warn!("pppd did not end on SIGTERM; killing it");
                    let _ = session.child.kill();
                    let _ = session.child.wait();
                    break;
                }
            }
        }
        self.remove_account();
    }

    fn link_address(&self, output: &Output) -> Option<Ipv4Addr> {
        let name = output
            .interface
            .clone()
            .unwrap_or_else(|| format!("ppp{}", self.unit));
        if !self.sys_class_net.join(&name).exists() {
            return None;
        }
        let from_kernel = nix::net::if_::if_nametoindex(name.as_str())
            .ok()
            .and_then(|index| super::net::addresses(index).ok())
            .and_then(|found| found.first().map(|(address, _)| *address));
        from_kernel.or(output.local)
    }
}

impl Pppoe for Pppd {
    fn dial(&self, user: &str, password: &str) -> HalResult<()> {
        let mut inner = lock(&self.inner);
        self.end(&mut inner);
        // Said before anything is written, the same on every platform (under qemu-user a
        // spawn of a missing program "succeeds" and the child exits 127).
        if !is_executable(&self.program) {
            let reason = format!("{} is not an executable program", self.program.display());
            inner.last = PppState::Failed {
                reason: reason.clone(),
            };
            return Err(HalError::new(HalErrorKind::NotSupported, reason));
        }
        let account = self.write_account(user, password)?;
        let args = self.arguments(&account);
        tracing::info!(program = %self.program.display(), ?args, "starting pppd");
        let spawned = Command::new(&self.program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(err) => {
                self.remove_account();
                inner.last = PppState::Failed {
                    reason: format!("cannot start {}: {err}", self.program.display()),
                };
                return Err(HalError::io(
                    format!("starting {}", self.program.display()),
                    err,
                ));
            }
        };
        let output = Arc::new(Mutex::new(Output::default()));
        let streams: [Option<Box<dyn Read + Send>>; 2] = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ];
        for stream in streams.into_iter().flatten() {
            let output = output.clone();
            let _ = std::thread::Builder::new()
                .name("pppd-output".into())
                .spawn(move || read_output(stream, output));
        }
        inner.session = Some(Session { child, output });
        inner.last = PppState::Dialling;
        Ok(())
    }

    fn hang_up(&self) -> HalResult<()> {
        let mut inner = lock(&self.inner);
        self.end(&mut inner);
        inner.last = PppState::Down;
        Ok(())
    }

    fn state(&self) -> HalResult<PppState> {
        let mut inner = lock(&self.inner);
        let Some(session) = inner.session.as_mut() else {
            return Ok(inner.last.clone());
        };
        match session.child.try_wait() {
            Ok(None) => {
                let output = lock(&session.output);
                Ok(match self.link_address(&output) {
                    Some(address) => PppState::Up { address },
                    None => PppState::Dialling,
                })
            }
            Ok(Some(status)) => {
                let last = lock(&session.output).last.clone();
                let state = exit_state(status, last.as_deref());
                if let PppState::Failed { reason } = &state {
                    tracing::warn!(%reason, "PPPoE session ended");
                }
                inner.session = None;
                inner.last = state.clone();
                self.remove_account();
                Ok(state)
            }
            Err(err) => Err(HalError::io("waiting for pppd", err)),
        }
    }
}

impl Drop for Pppd {
    fn drop(&mut self) {
        let mut inner = lock(&self.inner);
        self.end(&mut inner);
    }
}

/// A regular file with an execute bit.
fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    /// A stand-in for pppd: records how it was started (argv, the account file's and its
    /// folder's modes, the account) next to itself, then behaves as pppd with `nodetach`: up
    /// for the account it knows (until SIGTERM, exit 5), exit 8 (no PADO) for user "nobody",
    /// exit 19 (authentication refused) otherwise.
    const STAND_IN: &str = r#"#!/bin/sh
[ "$1" = probe ] && exit 0
here=$(dirname "$0")
for arg in "$@"; do printf '%s\n' "$arg"; done > "$here/argv"
file=
previous=
for arg in "$@"; do
  [ "$previous" = file ] && file=$arg
  previous=$arg
done
stat -c %a "$file" > "$here/mode"
stat -c %a "$(dirname "$file")" > "$here/dirmode"
cp "$file" "$here/account"
if grep -qx 'password "p\\"w \\\\ x"' "$file"; then
  sleep 300 &
  child=$!
  trap 'kill $child; echo "Terminating on signal 15"; echo TERM > "$here/signal"; exit 5' TERM
  echo "Using interface ppp7"
  echo "Connect: ppp7 <--> eth9"
  echo "PAP authentication succeeded"
  echo "local  IP address 10.64.0.9"
  echo "remote IP address 10.64.0.1"
  wait $child
  exit 16
fi
if grep -qx 'user "nobody"' "$file"; then
  echo "Timeout waiting for PADO packets"
  exit 8
fi
echo "PAP authentication failed"
exit 19
"#;

    struct Fixture {
        dir: tempfile::TempDir,
        spec: PppoeSpec,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("bin").join("pppd");
        std::fs::create_dir_all(script.parent().unwrap()).unwrap();
        std::fs::write(&script, STAND_IN).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Another test's fork may briefly hold the script open for writing (ETXTBSY).
        let deadline = Instant::now() + Duration::from_secs(30);
        while Command::new(&script).arg("probe").status().is_err() {
            assert!(Instant::now() < deadline, "the stand-in never ran");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::create_dir_all(dir.path().join("sys")).unwrap();
        let spec = PppoeSpec {
            mode: crate::net::spec::PppoeMode::Auto,
            systemd_unit: "ipcamd-pppoe@{interface}.service".into(),
            systemctl: "/usr/bin/systemctl".into(),
            pppd: script,
            interface: None,
            plugin: "rp-pppoe.so".into(),
            unit: 7,
            options: ["noauth", "defaultroute", "noipdefault", "hide-password"]
                .map(String::from)
                .to_vec(),
            runtime_dir: None,
        };
        Fixture { dir, spec }
    }

    impl Fixture {
        fn pppd(&self) -> Pppd {
            Pppd::new(&self.spec, "eth9".into(), self.dir.path().join("run"))
                .with_sys_class_net(self.dir.path().join("sys"))
        }

        fn record(&self, name: &str) -> String {
            std::fs::read_to_string(self.dir.path().join("bin").join(name)).unwrap_or_default()
        }
    }

    fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(value) = f() {
                return value;
            }
            assert!(Instant::now() < deadline, "never: {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn settled(pppd: &Pppd) -> PppState {
        eventually("pppd exits", || match pppd.state().unwrap() {
            PppState::Dialling => None,
            other => Some(other),
        })
    }

    #[test]
    fn test_a_session_comes_up_with_its_interface_and_hangs_up_by_signal() {
        let fixture = fixture();
        let pppd = fixture.pppd();
        let password = "p\"w \\ x";
        pppd.dial("cam", password).unwrap();
        let account = eventually("account recorded", || {
            Some(fixture.record("account")).filter(|a| !a.is_empty())
        });
        assert_eq!(account, "user \"cam\"\npassword \"p\\\"w \\\\ x\"\n");
        let run = fixture.dir.path().join("run");
        let argv: Vec<String> = fixture.record("argv").lines().map(String::from).collect();
        let expected = [
            "plugin",
            "rp-pppoe.so",
            "eth9",
            "unit",
            "7",
            "nodetach",
            "noauth",
            "defaultroute",
            "noipdefault",
            "hide-password",
            "file",
            &run.join(ACCOUNT_FILE).display().to_string(),
        ];
        assert_eq!(argv, expected);
        assert!(
            !argv.iter().any(|a| a.contains("p\"w")),
            "no password in argv"
        );
        assert_eq!(fixture.record("mode").trim(), "600");
        assert_eq!(fixture.record("dirmode").trim(), "700");
        // Running, but the kernel has no ppp7 yet: dialling.
        assert_eq!(pppd.state().unwrap(), PppState::Dialling);
        std::fs::create_dir(fixture.dir.path().join("sys").join("ppp7")).unwrap();
        let up = eventually("up", || match pppd.state().unwrap() {
            PppState::Up { address } => Some(address),
            _ => None,
        });
        assert_eq!(up, Ipv4Addr::new(10, 64, 0, 9));
        pppd.hang_up().unwrap();
        assert_eq!(pppd.state().unwrap(), PppState::Down);
        assert_eq!(
            fixture.record("signal").trim(),
            "TERM",
            "hung up by SIGTERM"
        );
        assert!(!run.join(ACCOUNT_FILE).exists(), "account removed");
    }

    #[test]
    fn test_exit_codes_become_the_failure() {
        let fixture = fixture();
        let pppd = fixture.pppd();
        pppd.dial("cam", "wrong").unwrap();
        let PppState::Failed { reason } = settled(&pppd) else {
            panic!("not failed");
        };
        assert!(reason.contains("authentication failed"), "{reason}");
        assert!(reason.contains("exit 19"), "{reason}");
        assert!(
            !reason.contains("wrong"),
            "no password in the reason: {reason}"
        );
        assert!(!fixture.dir.path().join("run").join(ACCOUNT_FILE).exists());

        pppd.dial("nobody", "x").unwrap();
        let PppState::Failed { reason } = settled(&pppd) else {
            panic!("not failed");
        };
        assert!(
            reason.contains("no access concentrator answered"),
            "{reason}"
        );
        assert!(reason.contains("Timeout waiting for PADO"), "{reason}");
    }

    #[test]
    fn test_a_missing_pppd_is_an_error_and_a_failed_state() {
        let fixture = fixture();
        let mut spec = fixture.spec.clone();
        spec.pppd = fixture.dir.path().join("no-such-pppd");
        let pppd = Pppd::new(&spec, "eth9".into(), fixture.dir.path().join("run"));
        assert!(pppd.dial("cam", "pw").is_err());
        assert!(matches!(pppd.state().unwrap(), PppState::Failed { .. }));
        assert!(!fixture.dir.path().join("run").join(ACCOUNT_FILE).exists());
    }

    #[test]
    fn test_the_board_file_selects_pppd() {
        let fixture = fixture();
        let text = format!(
            "[board]\nname = \"t\"\nbackend = \"linux\"\n[identity]\nmodel = 1\nmodel_name = \"m\"\n\
             product_name = \"p\"\nhardware_version = \"1\"\n[capabilities]\n\
             [video]\ndevice = \"/dev/video0\"\n[network]\ninterface = \"eth9\"\n\
             [network.pppoe]\npppd = \"{}\"\nunit = 7\nruntime_dir = \"ppp\"\n",
            fixture.spec.pppd.display()
        );
        let board = crate::board::BoardSpec::parse(&text).unwrap();
        // A root daemon starts pppd itself, under systemd or not.
        let pppoe = crate::linux::pppoe_role_as(&board, fixture.dir.path(), true, true)
            .unwrap()
            .expect("a dialler");
        pppoe.dial("nobody", "x").unwrap();
        let state = eventually("pppd exits", || match pppoe.state().unwrap() {
            PppState::Dialling => None,
            other => Some(other),
        });
        assert!(matches!(state, PppState::Failed { .. }), "{state:?}");
        let argv = fixture.record("argv");
        assert!(argv.contains("eth9\nunit\n7\nnodetach\n"), "{argv}");
        let account = fixture.dir.path().join("ppp").join(ACCOUNT_FILE);
        assert!(argv.contains(&account.display().to_string()), "{argv}");
        let without =
            crate::board::BoardSpec::parse(&text[..text.find("[network.pppoe]").unwrap()]).unwrap();
        assert!(
            crate::linux::pppoe_role(&without, fixture.dir.path())
                .unwrap()
                .is_none()
        );
        // Not root and not under systemd: still pppd directly (it then refuses, exit 3, and
        // says why), the board may insist on it, and a root daemon goes through systemd only
        // when the board says so.
        use crate::linux::pppoe_through_systemd as through;
        use crate::net::spec::PppoeMode::{Auto, Direct, Systemd};
        assert!(!through(Auto, false, false));
        assert!(!through(Auto, true, true));
        assert!(!through(Auto, true, false));
        assert!(through(Auto, false, true));
        assert!(!through(Direct, false, true));
        assert!(through(Systemd, true, false));
    }

    #[test]
    fn test_statuses_and_quoting() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(
            exit_state(ExitStatus::from_raw(5 << 8), None),
            PppState::Down
        );
        assert!(matches!(
            exit_state(ExitStatus::from_raw(15 << 8), Some("LCP: timeout sending Config-Requests")),
            PppState::Failed { reason } if reason.contains("stopped answering") && reason.contains("LCP")
        ));
        assert!(matches!(
            exit_state(ExitStatus::from_raw(9), None),
            PppState::Failed { reason } if reason.contains("killed")
        ));
    }
}
