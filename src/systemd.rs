//! The systemd service protocol, without a crate: `sd_notify` messages (READY=1, WATCHDOG=1,
//! STOPPING=1, STATUS=...) over the datagram socket named by `$NOTIFY_SOCKET`, the watchdog
//! interval from `$WATCHDOG_USEC`/`$WATCHDOG_PID`. Whether to feed the watchdog is decided
//! by the composition root from every loop's heartbeat (`crate::supervisor`).

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::time::Duration;

/// A connection to the service manager's notification socket.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    address: SocketAddr,
}

impl Notifier {
    /// The notifier for `$NOTIFY_SOCKET`, or `None` when not started by systemd with
    /// `Type=notify` (or with `NotifyAccess` off).
    pub fn from_env() -> io::Result<Option<Notifier>> {
        match std::env::var_os("NOTIFY_SOCKET") {
            Some(value) if !value.is_empty() => Notifier::for_socket(&value).map(Some),
            _ => Ok(None),
        }
    }

    /// A notifier for a `$NOTIFY_SOCKET` value: a filesystem path, or `@name` for the abstract
    /// namespace.
    pub fn for_socket(value: &OsStr) -> io::Result<Notifier> {
        let bytes = value.as_bytes();
        let address = match bytes.split_first() {
            Some((b'@', name)) => abstract_address(name)?,
            Some((b'/', _)) => SocketAddr::from_pathname(Path::new(value))?,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "NOTIFY_SOCKET is neither an absolute path nor @abstract",
                ));
            }
        };
        Ok(Notifier {
            socket: UnixDatagram::unbound()?,
            address,
        })
    }

    /// Sends one message (newline-separated `KEY=value` assignments).
    pub fn notify(&self, state: &str) -> io::Result<()> {
        let sent = self.socket.send_to_addr(state.as_bytes(), &self.address)?;
        if sent == state.len() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short notify datagram",
            ))
        }
    }

    /// Startup finished: listening and the HAL is open.
    pub fn ready(&self) -> io::Result<()> {
        self.notify("READY=1")
    }

    /// Feeds the watchdog.
    pub fn watchdog(&self) -> io::Result<()> {
        self.notify("WATCHDOG=1")
    }

    /// Shutdown began.
    pub fn stopping(&self) -> io::Result<()> {
        self.notify("STOPPING=1")
    }

    /// A one-line status for `systemctl status` (newlines are replaced: they would start a new
    /// assignment).
    pub fn status(&self, text: &str) -> io::Result<()> {
        self.notify(&format!("STATUS={}", text.replace('\n', " ")))
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_address(name: &[u8]) -> io::Result<SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_address(_name: &[u8]) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract unix sockets exist only on Linux",
    ))
}

/// How often the watchdog must be fed, from `$WATCHDOG_USEC`, if it is meant for this process
/// (`$WATCHDOG_PID` absent or equal to our pid).
pub fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    watchdog_interval_from(usec.as_deref(), pid.as_deref(), std::process::id())
}

/// [`watchdog_interval`] on given values.
pub fn watchdog_interval_from(
    usec: Option<&str>,
    pid: Option<&str>,
    my_pid: u32,
) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok()? != my_pid {
            return None;
        }
    }
    let usec: u64 = usec?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(socket: &UnixDatagram) -> String {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn test_notifier_path_socket_receives_ready_watchdog_stopping() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let manager = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier::for_socket(path.as_os_str()).unwrap();
        notifier.ready().unwrap();
        assert_eq!(receive(&manager), "READY=1");
        notifier.watchdog().unwrap();
        assert_eq!(receive(&manager), "WATCHDOG=1");
        notifier.status("capturing\n640x480").unwrap();
        assert_eq!(receive(&manager), "STATUS=capturing 640x480");
        notifier.stopping().unwrap();
        assert_eq!(receive(&manager), "STOPPING=1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn test_notifier_abstract_socket_receives_ready() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("ipcamd-test-notify-{}", std::process::id());
        let manager =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        let notifier = Notifier::for_socket(OsStr::new(&format!("@{name}"))).unwrap();
        notifier.ready().unwrap();
        assert_eq!(receive(&manager), "READY=1");
    }

    #[test]
    fn test_notifier_absent_socket_is_error() {
        let dir = tempfile::tempdir().unwrap();
        let notifier = Notifier::for_socket(dir.path().join("none").as_os_str()).unwrap();
        assert!(notifier.ready().is_err());
        assert!(Notifier::for_socket(OsStr::new("relative")).is_err());
    }

    #[test]
    fn test_watchdog_interval_from_pid_mismatch_is_none() {
        assert_eq!(
            watchdog_interval_from(Some("30000000"), None, 7),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            watchdog_interval_from(Some("30000000"), Some("7"), 7),
            Some(Duration::from_secs(30))
        );
        assert_eq!(watchdog_interval_from(Some("30000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval_from(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval_from(Some("x"), None, 7), None);
        assert_eq!(watchdog_interval_from(None, None, 7), None);
    }
}
