//! The simulated board's GPIO control socket: a Unix stream socket (board file
//! `gpio.control_socket`, relative to the data directory) through which a person or an
//! external test drives the simulated inputs and reads the outputs while the camera runs.
//!
//! # Protocol
//!
//! ASCII text, one command per line (at most [`MAX_LINE`] bytes, `\n` or `\r\n`), one reply
//! line per command, starting with `ok` or `err`. Levels are logical: 1 = active (alarm
//! raised, LED on, filter in, dark).
//!
//! | command | reply |
//! |---------|-------|
//! | `list` | `ok alarm_in=0 alarm_out=0 ir_cut=0 ir_led=1 light_sensor=0` |
//! | `get LINE` | `ok LINE 0` or `ok LINE 1` |
//! | `set LINE 0\|1` | `ok LINE 1` (inputs only: `alarm_in`, `light_sensor`) |
//! | `history LINE` | `ok LINE 1 0 1` (levels it changed to, oldest first, bounded) |
//! | `help` | `ok commands: list, get LINE, set LINE 0|1, history LINE, help` |
//! | anything else | `err ...` |
//!
//! Outputs (`ir_led`, `ir_cut`, `alarm_out`) belong to the camera and cannot be set. A line
//! longer than [`MAX_LINE`] gets `err line too long` and the connection is closed. At most
//! [`MAX_CONNECTIONS`] clients at once; an idle client is dropped after [`IDLE_TIMEOUT`].
//!
//! Example: `socat - UNIX-CONNECT:var/sim-gpio.sock`, then `set alarm_in 1`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::SimDevices;
use super::gpio::SimLine;
use crate::{HalError, HalErrorKind, HalResult};

/// Longest command line, in bytes.
pub const MAX_LINE: usize = 256;

/// Most clients served at once.
pub const MAX_CONNECTIONS: usize = 8;

/// An idle client is disconnected after this.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// One line as the socket sees it.
#[derive(Clone)]
struct ControlLine {
    line: Arc<SimLine>,
    /// Inputs are driven by the world (this socket); outputs by the camera.
    settable: bool,
}

/// The lines by name, sorted by name.
#[derive(Clone)]
struct Lines(Vec<ControlLine>);

impl Lines {
    fn of(devices: &SimDevices) -> Lines {
        let mut lines = vec![
            ControlLine {
                line: devices.alarm_in.clone(),
                settable: true,
            },
            ControlLine {
                line: devices.alarm_out.clone(),
                settable: false,
            },
            ControlLine {
                line: devices.ir_cut.clone(),
                settable: false,
            },
            ControlLine {
                line: devices.ir_led.clone(),
                settable: false,
            },
            ControlLine {
                line: devices.light_sensor.clone(),
                settable: true,
            },
        ];
        lines.sort_by_key(|l| l.line.name());
        Lines(lines)
    }

    fn find(&self, name: &str) -> Option<&ControlLine> {
        self.0.iter().find(|l| l.line.name() == name)
    }
}

fn level_text(active: bool) -> &'static str {
    if active { "1" } else { "0" }
}

/// Runs one command line; returns the reply without the newline.
fn execute(lines: &Lines, command: &str) -> String {
    let mut words = command.split_ascii_whitespace();
    let verb = words.next().unwrap_or("");
    let args: Vec<&str> = words.take(3).collect();
    let named = |name: &str| {
        lines
            .find(name)
            .ok_or_else(|| format!("err unknown line {name} (try list)"))
    };
    let reply = match (verb, args.as_slice()) {
        ("list", []) => Ok(lines.0.iter().fold(String::from("ok"), |mut out, l| {
            out.push_str(&format!(
                " {}={}",
                l.line.name(),
                level_text(l.line.level())
            ));
            out
        })),
        ("get", [name]) => {
            named(name).map(|l| format!("ok {} {}", l.line.name(), level_text(l.line.level())))
        }
        ("set", [name, level]) => named(name).and_then(|l| {
            let active = match *level {
                "0" => false,
                "1" => true,
                _ => return Err(format!("err level must be 0 or 1, not {level}")),
            };
            if !l.settable {
                return Err(format!(
                    "err {} is an output driven by the camera",
                    l.line.name()
                ));
            }
            l.line.drive(active);
            Ok(format!("ok {} {}", l.line.name(), level_text(active)))
        }),
        ("history", [name]) => named(name).map(|l| {
            l.line
                .history()
                .iter()
                .fold(format!("ok {}", l.line.name()), |mut out, &v| {
                    out.push(' ');
                    out.push_str(level_text(v));
                    out
                })
        }),
        ("help", []) => Ok("ok commands: list, get LINE, set LINE 0|1, history LINE, help".into()),
        ("", []) => Err("err empty command".into()),
        ("list" | "get" | "set" | "history" | "help", _) => {
            Err(format!("err wrong arguments for {verb} (try help)"))
        }
        _ => Err("err unknown command (try help)".into()),
    };
    reply.unwrap_or_else(|e| e)
}

/// Serves one client until it closes, idles out, or sends an over-long line.
fn serve(stream: UnixStream, lines: &Lines) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut buffer = Vec::with_capacity(MAX_LINE + 1);
    loop {
        buffer.clear();
        let read = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buffer)?;
        if read == 0 {
            return Ok(());
        }
        if buffer.last() == Some(&b'\n') {
            buffer.pop();
        }
        if buffer.last() == Some(&b'\r') {
            buffer.pop();
        }
        if buffer.len() > MAX_LINE {
            writer.write_all(b"err line too long\n")?;
            return Ok(());
        }
        let reply = match std::str::from_utf8(&buffer) {
            Ok(command) => execute(lines, command),
            Err(_) => "err not text".into(),
        };
        writer.write_all(reply.as_bytes())?;
        writer.write_all(b"\n")?;
    }
}

/// Removes a stale socket file at `path`; refuses a live socket or a file of another kind.
fn clear_stale_socket(path: &Path) -> HalResult<()> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(HalError::io(format!("checking {}", path.display()), e)),
    };
    if !metadata.file_type().is_socket() {
        return Err(HalError::new(
            HalErrorKind::InvalidArgument,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    if UnixStream::connect(path).is_ok() {
        return Err(HalError::new(
            HalErrorKind::Busy,
            format!("{} is served by another process", path.display()),
        ));
    }
    std::fs::remove_file(path).map_err(|e| HalError::io(format!("removing {}", path.display()), e))
}

/// The running control socket. It serves until [`ControlSocket::stop`] (dropping the handle
/// leaves it running, so a board opened with [`super::open`] keeps its socket).
pub struct ControlSocket {
    path: PathBuf,
    stopping: Arc<AtomicBool>,
    accept_thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl ControlSocket {
    /// Binds `path` (removing a stale socket file) and serves `devices`' lines.
    pub fn start(path: &Path, devices: &SimDevices) -> HalResult<ControlSocket> {
        clear_stale_socket(path)?;
        let listener = UnixListener::bind(path)
            .map_err(|e| HalError::io(format!("binding {}", path.display()), e))?;
        let lines = Lines::of(devices);
        let stopping = Arc::new(AtomicBool::new(false));
        let active = Arc::new(AtomicUsize::new(0));
        let stop_flag = stopping.clone();
        let accept_thread = std::thread::Builder::new()
            .name("sim-gpio-control".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stop_flag.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut stream) = stream else { continue };
                    if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                        active.fetch_sub(1, Ordering::SeqCst);
                        let _ = stream.write_all(b"err busy\n");
                        continue;
                    }
                    let lines = lines.clone();
                    let active_in_client = active.clone();
                    let spawned = std::thread::Builder::new()
                        .name("sim-gpio-client".into())
                        .spawn(move || {
                            // A client's I/O error only ends that client.
                            let _ = serve(stream, &lines);
                            active_in_client.fetch_sub(1, Ordering::SeqCst);
                        });
                    if spawned.is_err() {
                        active.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            })
            .map_err(|e| HalError::io("starting the GPIO control thread", e))?;
        Ok(ControlSocket {
            path: path.to_path_buf(),
            stopping,
            accept_thread: std::sync::Mutex::new(Some(accept_thread)),
        })
    }

    /// Where the socket is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting clients and removes the socket file (clients already connected are
    /// served until they close).
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = UnixStream::connect(&self.path);
        let thread = self
            .accept_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::BoardSpec;
    use crate::gpio::InputLine;
    use std::io::BufRead;
    use std::sync::atomic::AtomicU32;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static COUNTER: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "ipcamd-control-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const BOARD: &str = r#"
[board]
name = "control socket test"
backend = "sim"
[identity]
model = 1
model_name = "t"
product_name = "t"
hardware_version = "t"
[capabilities]
io_alarm = true
[gpio]
control_socket = "gpio.sock"
"#;

    struct Client {
        reader: BufReader<UnixStream>,
        writer: UnixStream,
    }

    impl Client {
        fn connect(path: &Path) -> Client {
            let stream = UnixStream::connect(path).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            Client {
                writer: stream.try_clone().unwrap(),
                reader: BufReader::new(stream),
            }
        }

        fn send_raw(&mut self, bytes: &[u8]) -> String {
            self.writer.write_all(bytes).unwrap();
            let mut reply = String::new();
            self.reader.read_line(&mut reply).unwrap();
            reply.trim_end().to_owned()
        }

        fn ask(&mut self, command: &str) -> String {
            self.send_raw(format!("{command}\n").as_bytes())
        }
    }

    fn open_board(dir: &TempDir) -> (crate::Hal, SimDevices) {
        let board = Arc::new(BoardSpec::parse(BOARD).unwrap());
        super::super::open_with_devices(board, &dir.0).unwrap()
    }

    #[test]
    fn test_control_socket_set_input_seen_by_hal_and_outputs_read_back() {
        let dir = TempDir::new();
        let (hal, devices) = open_board(&dir);
        let control = devices.control.clone().expect("control socket started");
        assert_eq!(control.path(), dir.0.join("gpio.sock"));
        let mut client = Client::connect(control.path());

        let alarm_in = hal.alarm_in.clone().unwrap();
        assert_eq!(client.ask("set alarm_in 1"), "ok alarm_in 1");
        assert!(InputLine::get(&*alarm_in).unwrap());
        assert_eq!(client.ask("set light_sensor 1"), "ok light_sensor 1");
        assert!(InputLine::get(&*hal.light_sensor.clone().unwrap()).unwrap());

        hal.ir_led.clone().unwrap().set(true).unwrap();
        assert_eq!(client.ask("get ir_led"), "ok ir_led 1");
        assert_eq!(client.ask("get alarm_out"), "ok alarm_out 0");
        hal.alarm_out.clone().unwrap().set(true).unwrap();
        hal.alarm_out.clone().unwrap().set(false).unwrap();
        assert_eq!(client.ask("history alarm_out"), "ok alarm_out 1 0");
        assert_eq!(
            client.ask("list"),
            "ok alarm_in=1 alarm_out=0 ir_cut=0 ir_led=1 light_sensor=1"
        );
        assert_eq!(client.send_raw(b"set alarm_in 0\r\n"), "ok alarm_in 0");
        assert!(!InputLine::get(&*alarm_in).unwrap());
        control.stop();
        assert!(!control.path().exists());
    }

    #[test]
    fn test_control_socket_wakes_a_waiting_input() {
        let dir = TempDir::new();
        let (hal, devices) = open_board(&dir);
        let control = devices.control.clone().unwrap();
        let alarm_in = hal.alarm_in.clone().unwrap();
        let waiter = std::thread::spawn(move || alarm_in.wait_change(Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(50));
        let mut client = Client::connect(control.path());
        assert_eq!(client.ask("set alarm_in 1"), "ok alarm_in 1");
        assert_eq!(waiter.join().unwrap().unwrap(), Some(true));
        control.stop();
    }

    #[test]
    fn test_control_socket_bad_input_gets_err_and_server_survives() {
        let dir = TempDir::new();
        let (_hal, devices) = open_board(&dir);
        let control = devices.control.clone().unwrap();
        let mut client = Client::connect(control.path());
        assert_eq!(
            client.ask("set ir_led 1"),
            "err ir_led is an output driven by the camera"
        );
        assert!(!devices.ir_led.level());
        assert!(client.ask("set alarm_in 2").starts_with("err level"));
        assert!(
            client
                .ask("set alarm_in")
                .starts_with("err wrong arguments")
        );
        assert!(client.ask("get door").starts_with("err unknown line"));
        assert!(client.ask("reboot now").starts_with("err unknown command"));
        assert_eq!(client.ask(""), "err empty command");
        assert_eq!(client.send_raw(b"get \xff\xfe\n"), "err not text");
        assert!(client.ask("help").starts_with("ok commands"));
        // An over-long line closes that connection only.
        let long = format!("set alarm_in 1{}\n", " ".repeat(MAX_LINE * 4));
        assert_eq!(client.send_raw(long.as_bytes()), "err line too long");
        let mut rest = String::new();
        assert_eq!(client.reader.read_line(&mut rest).unwrap(), 0, "closed");
        assert!(!devices.alarm_in.level(), "the long command was not run");
        let mut again = Client::connect(control.path());
        assert_eq!(again.ask("get alarm_in"), "ok alarm_in 0");
        control.stop();
    }

    #[test]
    fn test_control_socket_replaces_stale_file_refuses_live_socket_and_plain_file() {
        let dir = TempDir::new();
        let path = dir.0.join("gpio.sock");
        // A stale socket: bound, then its listener dropped.
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let (_hal, devices) = open_board(&dir);
        let control = devices.control.clone().unwrap();
        assert_eq!(Client::connect(&path).ask("get alarm_in"), "ok alarm_in 0");
        // A live one is not stolen.
        let board = Arc::new(BoardSpec::parse(BOARD).unwrap());
        let err = super::super::open_with_devices(board, &dir.0)
            .err()
            .unwrap();
        assert_eq!(err.kind(), HalErrorKind::Busy);
        control.stop();
        // A regular file is not deleted.
        std::fs::write(&path, b"keep me").unwrap();
        let board = Arc::new(BoardSpec::parse(BOARD).unwrap());
        let err = super::super::open_with_devices(board, &dir.0)
            .err()
            .unwrap();
        assert_eq!(err.kind(), HalErrorKind::InvalidArgument);
        assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
    }

    #[test]
    fn test_control_socket_absent_from_board_file_not_started() {
        let dir = TempDir::new();
        let text = BOARD.replace("control_socket = \"gpio.sock\"", "");
        let board = Arc::new(BoardSpec::parse(&text).unwrap());
        let (_hal, devices) = super::super::open_with_devices(board, &dir.0).unwrap();
        assert!(devices.control.is_none());
        assert!(!dir.0.join("gpio.sock").exists());
    }
}
