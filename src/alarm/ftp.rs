//! A small passive-mode FTP client for snapshot uploads and testFtpServer: USER/PASS, TYPE I,
//! CWD, PASV, STOR, QUIT over `std::net::TcpStream` with timeouts. Hand-written because the
//! camera needs only this much of FTP and a crate would bring far more (and TLS) than it uses.
//!
//! `ftpAddr` is the guide's `ftp://host[:port][/dir...]`: the port in the URL, when present,
//! overrides `ftpPort`. Only passive mode (the guide's mode 0) is supported; active mode
//! (mode 1, PORT) needs the server to connect back to the camera, which NAT and firewalls in
//! front of cameras usually prevent, and is refused with [`FtpError::ActiveModeUnsupported`].

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Connect, read and write timeout of the control and data connections.
pub const FTP_TIMEOUT: Duration = Duration::from_secs(15);

/// Longest reply line accepted.
const MAX_REPLY_LINE: usize = 1024;

/// Most lines of one multi-line reply.
const MAX_REPLY_LINES: usize = 64;

/// Where and how to reach the FTP server.
#[derive(Clone, PartialEq, Eq)]
pub struct FtpTarget {
    /// Host name or address.
    pub host: String,
    /// Control port.
    pub port: u16,
    /// Directory to upload into ("" = the login directory).
    pub dir: String,
    /// Login name ("" = anonymous).
    pub user: String,
    /// Password (never logged: Debug redacts it).
    pub password: String,
    /// The guide's mode: 0 PASV, 1 PORT.
    pub mode: i64,
}

impl std::fmt::Debug for FtpTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dir", &self.dir)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("mode", &self.mode)
            .finish()
    }
}

/// Why an FTP operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FtpError {
    /// `ftpAddr` is not `ftp://host[:port][/dir]`.
    #[error("bad FTP address: {0}")]
    Address(String),
    /// Mode 1 (PORT) is not supported.
    #[error("active mode (PORT) is not supported; use passive mode")]
    ActiveModeUnsupported,
    /// Network failure.
    #[error("FTP connection: {0}")]
    Io(#[from] std::io::Error),
    /// The server refused a step.
    #[error("FTP server refused {step}: {reply}")]
    Refused {
        /// The command refused.
        step: &'static str,
        /// The server's reply.
        reply: String,
    },
    /// The server's reply makes no sense.
    #[error("bad FTP reply to {step}: {reply}")]
    Protocol {
        /// The command answered.
        step: &'static str,
        /// The server's reply.
        reply: String,
    },
}

/// Parses `ftp://host[:port][/dir]` (scheme optional, case-insensitive); `default_port` is
/// `ftpPort`. Returns (host, port, dir without leading or trailing '/').
pub fn parse_address(addr: &str, default_port: u16) -> Result<(String, u16, String), FtpError> {
    let trimmed = addr.trim();
    let rest = match trimmed.get(..6) {
        Some(scheme) if scheme.eq_ignore_ascii_case("ftp://") => &trimmed[6..],
        _ => trimmed,
    };
    let (authority, dir) = match rest.find('/') {
        Some(at) => (&rest[..at], rest[at..].trim_matches('/')),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(FtpError::Address(
            "credentials belong in userName/password, not in the address".into(),
        ));
    }
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        // [v6]:port
        let end = inner
            .find(']')
            .ok_or_else(|| FtpError::Address(addr.into()))?;
        let port = match inner[end + 1..].strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| FtpError::Address(addr.into()))?,
            None => default_port,
        };
        (inner[..end].to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (
                host.to_owned(),
                port.parse().map_err(|_| FtpError::Address(addr.into()))?,
            ),
            None => (authority.to_owned(), default_port),
        }
    };
    if host.is_empty() || port == 0 {
        return Err(FtpError::Address(addr.into()));
    }
    if dir.chars().any(|c| c.is_control()) {
        return Err(FtpError::Address(
            "control character in the directory".into(),
        ));
    }
    Ok((host, port, dir.to_owned()))
}

/// One server reply: code and text (last line).
#[derive(Debug)]
struct FtpReply {
    code: u16,
    text: String,
}

/// An open, logged-in control connection.
struct Session {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    peer: IpAddr,
}

fn connect(host: &str, port: u16) -> Result<TcpStream, FtpError> {
    let mut last = None;
    for address in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&address, FTP_TIMEOUT) {
            Ok(stream) => {
                stream.set_read_timeout(Some(FTP_TIMEOUT))?;
                stream.set_write_timeout(Some(FTP_TIMEOUT))?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(FtpError::Io(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "host has no address")
    })))
}

impl Session {
    fn read_line(&mut self) -> Result<String, FtpError> {
        let mut line = Vec::new();
        let read = (&mut self.reader)
            .take(MAX_REPLY_LINE as u64)
            .read_until(b'\n', &mut line)?;
        if read == 0 {
            return Err(FtpError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            )));
        }
        Ok(String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_owned())
    }

    /// Reads one (possibly multi-line) reply.
    fn reply(&mut self, step: &'static str) -> Result<FtpReply, FtpError> {
        let first = self.read_line()?;
        let code: u16 =
            first
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| FtpError::Protocol {
                    step,
                    reply: first.clone(),
                })?;
        let mut last = first.clone();
        if first.as_bytes().get(3) == Some(&b'-') {
            let end = format!("{code} ");
            let mut lines = 0;
            loop {
                last = self.read_line()?;
                if last.starts_with(&end) || last == end.trim_end() {
                    break;
                }
                lines += 1;
                if lines > MAX_REPLY_LINES {
                    return Err(FtpError::Protocol {
                        step,
                        reply: "reply too long".into(),
                    });
                }
            }
        }
        Ok(FtpReply { code, text: last })
    }

    /// Sends a command and reads its reply; `ok` says which first digits/codes are success.
    fn command(
        &mut self,
        step: &'static str,
        line: &str,
        ok: impl Fn(u16) -> bool,
    ) -> Result<FtpReply, FtpError> {
        if line.contains(['\r', '\n']) {
            return Err(FtpError::Address(format!("line break in {step} argument")));
        }
        self.writer.write_all(line.as_bytes())?;
        self.writer.write_all(b"\r\n")?;
        self.writer.flush()?;
        let reply = self.reply(step)?;
        if ok(reply.code) {
            Ok(reply)
        } else {
            Err(FtpError::Refused {
                step,
                reply: reply.text,
            })
        }
    }

    /// Connects, reads the greeting, logs in and switches to binary.
    fn open(target: &FtpTarget) -> Result<Session, FtpError> {
        if target.mode != 0 {
            return Err(FtpError::ActiveModeUnsupported);
        }
        let stream = connect(&target.host, target.port)?;
        let peer = stream.peer_addr()?.ip();
        let mut session = Session {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            peer,
        };
        let greeting = session.reply("greeting")?;
        if greeting.code != 220 {
            return Err(FtpError::Refused {
                step: "greeting",
                reply: greeting.text,
            });
        }
        let user = if target.user.is_empty() {
            "anonymous"
        } else {
            target.user.as_str()
        };
        let reply = session.command("USER", &format!("USER {user}"), |c| {
            c == 230 || c == 331 || c == 332
        })?;
        if reply.code != 230 {
            session.command("PASS", &format!("PASS {}", target.password), |c| {
                c == 230 || c == 202
            })?;
        }
        session.command("TYPE", "TYPE I", |c| c == 200)?;
        if !target.dir.is_empty() {
            session.command("CWD", &format!("CWD {}", target.dir), |c| c / 100 == 2)?;
        }
        Ok(session)
    }

    /// Opens a passive data connection.
    fn passive(&mut self) -> Result<TcpStream, FtpError> {
        let reply = self.command("PASV", "PASV", |c| c == 227)?;
        let port = parse_pasv(&reply.text).ok_or_else(|| FtpError::Protocol {
            step: "PASV",
            reply: reply.text.clone(),
        })?;
        // Connect to the control connection's peer, not the address in the reply: a server
        // behind NAT announces its private address, and this refuses FTP bounce tricks.
        let address = SocketAddr::new(self.peer, port);
        let stream = TcpStream::connect_timeout(&address, FTP_TIMEOUT)?;
        stream.set_read_timeout(Some(FTP_TIMEOUT))?;
        stream.set_write_timeout(Some(FTP_TIMEOUT))?;
        Ok(stream)
    }

    fn quit(mut self) {
        // The work is done; a server that hangs up without answering QUIT is fine.
        let _ = self.command("QUIT", "QUIT", |_| true);
    }
}

/// The data port of a 227 reply: `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)`.
fn parse_pasv(text: &str) -> Option<u16> {
    let start = text.find('(').map(|i| i + 1).or_else(|| {
        text.get(4..)
            .and_then(|t| t.find(|c: char| c.is_ascii_digit()).map(|i| i + 4))
    })?;
    let numbers: Vec<u16> = text[start..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .take(6)
        .map(|n| n.parse().ok())
        .collect::<Option<Vec<u16>>>()?;
    if numbers.len() != 6 || numbers.iter().any(|n| *n > 255) {
        return None;
    }
    let port = numbers[4] * 256 + numbers[5];
    (port != 0).then_some(port)
}

/// testFtpServer: connects, logs in and enters the directory.
pub fn check(target: &FtpTarget) -> Result<(), FtpError> {
    let mut session = Session::open(target)?;
    session.command("PWD", "PWD", |c| c == 257)?;
    session.quit();
    Ok(())
}

/// Uploads `data` as `name` into the target directory.
pub fn upload(target: &FtpTarget, name: &str, data: &[u8]) -> Result<(), FtpError> {
    if name.is_empty() || name.contains(['/', '\r', '\n']) {
        return Err(FtpError::Address(format!("bad file name {name:?}")));
    }
    let mut session = Session::open(target)?;
    let mut data_stream = session.passive()?;
    session.command("STOR", &format!("STOR {name}"), |c| c == 125 || c == 150)?;
    data_stream.write_all(data)?;
    data_stream.flush()?;
    drop(data_stream);
    let done = session.reply("STOR")?;
    if done.code != 226 && done.code != 250 {
        return Err(FtpError::Refused {
            step: "STOR",
            reply: done.text,
        });
    }
    session.quit();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_address_with_dir_uses_default_port() {
        let (host, port, dir) = parse_address("ftp://192.168.1.2/sbuDir", 21).unwrap();
        assert_eq!(
            (host.as_str(), port, dir.as_str()),
            ("192.168.1.2", 21, "sbuDir")
        );
    }

    #[test]
    fn test_parse_address_with_port_overrides_ftp_port() {
        let (host, port, dir) = parse_address("FTP://files.example.org:2121/a/b/", 21).unwrap();
        assert_eq!(
            (host.as_str(), port, dir.as_str()),
            ("files.example.org", 2121, "a/b")
        );
    }

    #[test]
    fn test_parse_address_without_scheme_or_dir_is_accepted() {
        let (host, port, dir) = parse_address("10.0.0.1", 21).unwrap();
        assert_eq!((host.as_str(), port, dir.as_str()), ("10.0.0.1", 21, ""));
        let (host, port, _) = parse_address("ftp://[::1]:2100/x", 21).unwrap();
        assert_eq!((host.as_str(), port), ("::1", 2100));
    }

    #[test]
    fn test_parse_address_bad_inputs_are_refused() {
        for bad in [
            "",
            "ftp://",
            "ftp://:21/x",
            "ftp://h:99999/",
            "ftp://u:p@h/",
        ] {
            assert!(parse_address(bad, 21).is_err(), "{bad}");
        }
    }

    #[test]
    fn test_parse_pasv_reply_gives_port() {
        assert_eq!(
            parse_pasv("227 Entering Passive Mode (127,0,0,1,195,80)."),
            Some(195 * 256 + 80)
        );
        assert_eq!(parse_pasv("227 =127,0,0,1,4,1"), Some(1025));
        assert_eq!(
            parse_pasv("227 Entering Passive Mode (127,0,0,1,300,80)"),
            None
        );
        assert_eq!(parse_pasv("227 nothing"), None);
    }

    #[test]
    fn test_target_debug_redacts_password() {
        let target = FtpTarget {
            host: "h".into(),
            port: 21,
            dir: String::new(),
            user: "u".into(),
            password: "hunter2".into(),
            mode: 0,
        };
        assert!(!format!("{target:?}").contains("hunter2"));
    }

    #[test]
    fn test_check_active_mode_is_refused_without_connecting() {
        let target = FtpTarget {
            host: "127.0.0.1".into(),
            port: 1,
            dir: String::new(),
            user: String::new(),
            password: String::new(),
            mode: 1,
        };
        assert!(matches!(
            check(&target),
            Err(FtpError::ActiveModeUnsupported)
        ));
    }
}
