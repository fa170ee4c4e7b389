//! A real camera for tests: the `ipcamd` binary started as a child process on a free loopback
//! port with a temporary data directory and the simulated board, spoken to over real HTTP.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The repository root (board files live there).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running daemon.
pub struct Camera {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Lines the daemon logged after its first.
    pub log: mpsc::Receiver<String>,
    /// The daemon's first log line.
    pub first_line: String,
    /// Data directory (kept across restarts).
    pub data: PathBuf,
    board: PathBuf,
}

impl Camera {
    /// Starts a camera with the simulated board on a new data directory.
    pub fn start(data: &Path) -> Camera {
        Camera::start_with_board(data, &repo().join("board/sim.toml"))
    }

    /// Starts a camera with the given board file.
    pub fn start_with_board(data: &Path, board: &Path) -> Camera {
        Camera::start_with(data, board, &[])
    }

    /// Starts a camera with the given board file and extra environment.
    pub fn start_with(data: &Path, board: &Path, env: &[(&str, &str)]) -> Camera {
        let mut child = daemon_command()
            .envs(env.iter().copied())
            .arg("--board")
            .arg(board)
            .arg("--data")
            .arg(data)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("IPCAMD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ipcamd starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("ipcamd logs its first line");
        let address = first
            .split("listening on http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("first log line says where it listens: {first}"))
            .to_owned();
        Camera {
            child,
            base: format!("http://{address}"),
            log: rx,
            first_line: first.clone(),
            data: data.to_path_buf(),
            board: board.to_path_buf(),
        }
    }

    /// Waits for the daemon to start again by itself (fwUpgrade, rebootSystem, importConfig:
    /// the same process re-executes and logs a new first line) and follows it to its address.
    pub fn await_self_restart(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            let Ok(line) = self.log.recv_timeout(Duration::from_secs(1)) else {
                continue;
            };
            if let Some(address) = listen_address(&line) {
                self.base = format!("http://{address}");
                self.first_line = line;
                return;
            }
        }
        panic!("the daemon did not come back");
    }

    /// POSTs a multipart upload of `file` in `field` to a CGI command.
    pub fn upload(&self, cmd: &str, field: &str, file: &[u8]) -> CgiReply {
        let boundary = "ipcamdTestBoundary7";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"f.bin\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        // Longer than the upload commands' own deadline (120 s): an emulated ARM camera on
        // a loaded machine takes its time to verify and install an image.
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(180))
            .build();
        let url = format!(
            "{}/cgi-bin/CGIProxy.fcgi?cmd={cmd}&usr=admin&pwd=",
            self.base
        );
        let response = agent
            .post(&url)
            .set(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            )
            .send_bytes(&body)
            .expect("upload answered");
        assert_eq!(response.status(), 200);
        CgiReply::parse(&response.into_string().expect("text reply"))
    }

    /// Asks the daemon to stop (SIGTERM, as systemd does) and waits until it has.
    pub fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let _ = self.child.wait();
    }

    /// Stops the daemon and starts it again on the same data directory.
    pub fn restart(self) -> Camera {
        let data = self.data.clone();
        let board = self.board.clone();
        drop(self);
        Camera::start_with_board(&data, &board)
    }

    /// GET a raw path and query; returns status, content type and body.
    pub fn get_raw(&self, path_and_query: &str) -> (u16, String, Vec<u8>) {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .build();
        let response = match agent.get(&format!("{}{path_and_query}", self.base)).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("HTTP request failed: {e}"),
        };
        let status = response.status();
        let content_type = response.header("content-type").unwrap_or("").to_owned();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut body).expect("body");
        (status, content_type, body)
    }

    /// Runs a CGI command with a raw query string.
    pub fn cgi_query(&self, query: &str) -> CgiReply {
        let (status, _, body) = self.get_raw(&format!("/cgi-bin/CGIProxy.fcgi?{query}"));
        assert_eq!(status, 200, "CGI replies are HTTP 200");
        CgiReply::parse(&String::from_utf8(body).expect("replies are UTF-8"))
    }

    /// Runs `cmd` as `usr`/`pwd` with form-encoded parameters.
    pub fn cgi_as(&self, usr: &str, pwd: &str, cmd: &str, params: &[(&str, &str)]) -> CgiReply {
        let mut query = format!(
            "cmd={}&usr={}&pwd={}",
            encode(cmd),
            encode(usr),
            encode(pwd)
        );
        for (k, v) in params {
            query.push('&');
            query.push_str(&encode(k));
            query.push('=');
            query.push_str(&encode(v));
        }
        self.cgi_query(&query)
    }

    /// Runs `cmd` as the factory admin.
    pub fn cgi(&self, cmd: &str, params: &[(&str, &str)]) -> CgiReply {
        self.cgi_as("admin", "", cmd, params)
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The command that runs the daemon binary: directly, or through `$IPCAMD_TEST_RUNNER` (the
/// ARM test run under qemu-user, where containers have no binfmt_misc to run ARM programs).
fn daemon_command() -> Command {
    let binary = env!("CARGO_BIN_EXE_ipcamd");
    match std::env::var("IPCAMD_TEST_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut words = runner.split_whitespace();
            let mut command = Command::new(words.next().expect("runner program"));
            command.args(words).arg(binary);
            command
        }
        _ => Command::new(binary),
    }
}

/// Whether the daemon can re-execute itself here: not under qemu-user, which cannot start
/// another ARM program without binfmt_misc (the hardware-in-the-loop lab covers it there).
pub fn can_self_restart() -> bool {
    std::env::var_os("IPCAMD_TEST_RUNNER").is_none()
}

fn listen_address(line: &str) -> Option<String> {
    line.split("listening on http://")
        .nth(1)?
        .split_whitespace()
        .next()
        .map(str::to_owned)
}

/// Form-encodes a value (space as '+', everything outside unreserved as %XX).
pub fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A parsed `<CGI_Result>`.
#[derive(Debug)]
pub struct CgiReply {
    /// `<result>`.
    pub result: i32,
    /// Every other element, by name.
    pub fields: BTreeMap<String, String>,
    /// Names in document order.
    pub order: Vec<String>,
}

impl CgiReply {
    /// Parses with a real XML parser; panics on anything but a flat, well-formed CGI_Result.
    pub fn parse(xml: &str) -> CgiReply {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut stack: Vec<String> = Vec::new();
        let mut text = String::new();
        let mut result = None;
        let mut fields = BTreeMap::new();
        let mut order = Vec::new();
        loop {
            match reader
                .read_event()
                .unwrap_or_else(|e| panic!("bad XML {e}: {xml}"))
            {
                Event::Start(e) => {
                    stack.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap());
                    text.clear();
                }
                Event::Text(t) => text.push_str(&t.unescape().expect("valid escapes")),
                Event::End(_) => {
                    let name = stack.pop().expect("balanced");
                    match stack.len() {
                        0 => assert_eq!(name, "CGI_Result"),
                        1 if name == "result" => {
                            result = Some(text.trim().parse().expect("integer result"))
                        }
                        1 => {
                            order.push(name.clone());
                            fields.insert(name, text.clone());
                        }
                        _ => panic!("nested element {name}: {xml}"),
                    }
                    text.clear();
                }
                Event::Eof => break,
                _ => {}
            }
        }
        CgiReply {
            result: result.unwrap_or_else(|| panic!("no <result>: {xml}")),
            fields,
            order,
        }
    }

    /// A field's value.
    pub fn get(&self, name: &str) -> &str {
        self.fields
            .get(name)
            .unwrap_or_else(|| panic!("no <{name}> in {:?}", self.fields))
    }
}

/// Polls `condition` every 50 ms for up to 10 s; panics naming `what` when it never holds.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting until {what}");
}

/// A loopback TCP port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
