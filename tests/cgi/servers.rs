//! Small real servers the alarm tests start on loopback: an ESMTP sink (EHLO/HELO, AUTH
//! PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) that records each message, and an FTP
//! server (USER, PASS, TYPE, CWD, PWD, PASV, STOR, QUIT) that stores uploads under a root
//! directory and reports them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// One mail the sink accepted.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// `MAIL FROM` address.
    pub from: String,
    /// `RCPT TO` addresses.
    pub recipients: Vec<String>,
    /// The user that authenticated, if any.
    pub auth_user: Option<String>,
    /// The password it gave.
    pub auth_password: Option<String>,
    /// The message (headers and body, dot-stuffing removed).
    pub data: String,
}

/// A running SMTP sink.
pub struct SmtpSink {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Accepted mails, in order.
    pub mails: mpsc::Receiver<ReceivedMail>,
}

/// Decodes base64, skipping line breaks and padding.
pub fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.trim().bytes() {
        let Some(v) = value(c) else { continue };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn address_of(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg.find('>').unwrap_or(arg.len());
    arg[start..end].trim().to_owned()
}

impl SmtpSink {
    /// Starts the sink.
    pub fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let _ = smtp_session(stream, &tx);
                });
            }
        });
        SmtpSink { port, mails: rx }
    }
}

fn smtp_session(stream: TcpStream, tx: &mpsc::Sender<ReceivedMail>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    let mut line = String::new();
    let read_line = |reader: &mut BufReader<TcpStream>, line: &mut String| {
        line.clear();
        let n = reader.read_line(line)?;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        }
        while line.ends_with(['\r', '\n']) {
            line.pop();
        }
        Ok::<(), std::io::Error>(())
    };
    out.write_all(b"220 sink.test ESMTP test sink\r\n")?;
    let mut mail = ReceivedMail {
        from: String::new(),
        recipients: Vec::new(),
        auth_user: None,
        auth_password: None,
        data: String::new(),
    };
    loop {
        read_line(&mut reader, &mut line)?;
        let (verb, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let verb = verb.to_ascii_uppercase();
        let arg = arg.to_owned();
        match verb.as_str() {
            "EHLO" => {
                out.write_all(b"250-sink.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n")?
            }
            "HELO" | "NOOP" => out.write_all(b"250 ok\r\n")?,
            "AUTH" => {
                let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg.as_str(), ""));
                match mechanism.to_ascii_uppercase().as_str() {
                    "PLAIN" => {
                        let response = if initial.is_empty() {
                            out.write_all(b"334 \r\n")?;
                            read_line(&mut reader, &mut line)?;
                            line.clone()
                        } else {
                            initial.to_owned()
                        };
                        let decoded = base64_decode(&response);
                        let parts: Vec<&[u8]> = decoded.split(|b| *b == 0).collect();
                        if parts.len() == 3 {
                            mail.auth_user = Some(String::from_utf8_lossy(parts[1]).into());
                            mail.auth_password = Some(String::from_utf8_lossy(parts[2]).into());
                        }
                        out.write_all(b"235 2.7.0 accepted\r\n")?;
                    }
                    "LOGIN" => {
                        out.write_all(b"334 VXNlcm5hbWU6\r\n")?;
                        read_line(&mut reader, &mut line)?;
                        mail.auth_user =
                            Some(String::from_utf8_lossy(&base64_decode(&line)).into());
                        out.write_all(b"334 UGFzc3dvcmQ6\r\n")?;
                        read_line(&mut reader, &mut line)?;
                        mail.auth_password =
                            Some(String::from_utf8_lossy(&base64_decode(&line)).into());
                        out.write_all(b"235 2.7.0 accepted\r\n")?;
                    }
                    _ => out.write_all(b"504 unknown mechanism\r\n")?,
                }
            }
            "MAIL" => {
                mail.from = address_of(&arg);
                out.write_all(b"250 ok\r\n")?;
            }
            "RCPT" => {
                mail.recipients.push(address_of(&arg));
                out.write_all(b"250 ok\r\n")?;
            }
            "DATA" => {
                out.write_all(b"354 go ahead\r\n")?;
                let mut data = String::new();
                loop {
                    read_line(&mut reader, &mut line)?;
                    if line == "." {
                        break;
                    }
                    let text = line.strip_prefix('.').unwrap_or(&line);
                    data.push_str(text);
                    data.push_str("\r\n");
                }
                mail.data = data;
                out.write_all(b"250 queued\r\n")?;
                let _ = tx.send(mail.clone());
                mail.recipients.clear();
            }
            "RSET" => {
                mail.recipients.clear();
                out.write_all(b"250 ok\r\n")?;
            }
            "QUIT" => {
                out.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => out.write_all(b"502 not implemented\r\n")?,
        }
    }
}

/// One file the FTP server received.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Path relative to the root, '/' separated.
    pub path: String,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// A running FTP server.
pub struct FtpServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Files received.
    pub uploads: mpsc::Receiver<Upload>,
}

impl FtpServer {
    /// Serves `root` to `user`/`password`.
    pub fn start(root: &Path, user: &str, password: &str) -> FtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel();
        let root = root.to_path_buf();
        let credentials = (user.to_owned(), password.to_owned());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let tx = tx.clone();
                let root = root.clone();
                let credentials = credentials.clone();
                std::thread::spawn(move || {
                    let _ = ftp_session(stream, &root, &credentials, &tx);
                });
            }
        });
        FtpServer { port, uploads: rx }
    }
}

fn ftp_session(
    stream: TcpStream,
    root: &Path,
    credentials: &(String, String),
    tx: &mpsc::Sender<Upload>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    // Multi-line greeting, as many real servers send.
    out.write_all(b"220-test FTP server\r\n220 ready\r\n")?;
    let mut user = None;
    let mut logged_in = false;
    let mut cwd: Vec<String> = Vec::new();
    let mut passive: Option<TcpListener> = None;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let text = line.trim_end_matches(['\r', '\n']).to_owned();
        let (verb, arg) = text.split_once(' ').unwrap_or((text.as_str(), ""));
        let verb = verb.to_ascii_uppercase();
        if !logged_in && !matches!(verb.as_str(), "USER" | "PASS" | "QUIT") {
            out.write_all(b"530 log in first\r\n")?;
            continue;
        }
        match verb.as_str() {
            "USER" => {
                user = Some(arg.to_owned());
                out.write_all(b"331 password please\r\n")?;
            }
            "PASS" => {
                if user.as_deref() == Some(credentials.0.as_str()) && arg == credentials.1 {
                    logged_in = true;
                    out.write_all(b"230 logged in\r\n")?;
                } else {
                    out.write_all(b"530 login incorrect\r\n")?;
                }
            }
            "TYPE" => out.write_all(b"200 type set\r\n")?,
            "PWD" => out.write_all(format!("257 \"/{}\"\r\n", cwd.join("/")).as_bytes())?,
            "CWD" => {
                let mut next = if arg.starts_with('/') {
                    Vec::new()
                } else {
                    cwd.clone()
                };
                next.extend(
                    arg.split('/')
                        .filter(|p| !p.is_empty() && *p != ".")
                        .map(str::to_owned),
                );
                let dir: PathBuf = next.iter().fold(root.to_path_buf(), |p, c| p.join(c));
                if next.iter().any(|c| c == "..") || !dir.is_dir() {
                    out.write_all(b"550 no such directory\r\n")?;
                } else {
                    cwd = next;
                    out.write_all(b"250 directory changed\r\n")?;
                }
            }
            "PASV" => {
                let data = TcpListener::bind("127.0.0.1:0")?;
                let port = data.local_addr()?.port();
                passive = Some(data);
                out.write_all(
                    format!(
                        "227 Entering Passive Mode (127,0,0,1,{},{})\r\n",
                        port / 256,
                        port % 256
                    )
                    .as_bytes(),
                )?;
            }
            "STOR" => {
                let Some(listener) = passive.take() else {
                    out.write_all(b"425 use PASV first\r\n")?;
                    continue;
                };
                out.write_all(b"150 send it\r\n")?;
                let (mut data_stream, _) = listener.accept()?;
                data_stream.set_read_timeout(Some(Duration::from_secs(30)))?;
                let mut data = Vec::new();
                data_stream.read_to_end(&mut data)?;
                let dir: PathBuf = cwd.iter().fold(root.to_path_buf(), |p, c| p.join(c));
                std::fs::write(dir.join(arg), &data)?;
                let mut path = cwd.clone();
                path.push(arg.to_owned());
                let _ = tx.send(Upload {
                    path: path.join("/"),
                    data,
                });
                out.write_all(b"226 transfer complete\r\n")?;
            }
            "QUIT" => {
                out.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => out.write_all(b"502 not implemented\r\n")?,
        }
    }
}
