//! `ipcamd-fwtool`: makes and checks ipcamd firmware images. Key generation and signing live
//! here, not in the daemon; verification, installation and rollback call the same library
//! functions the daemon uses. On a camera it also serves `ipcamd-fw-rollback.service`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ipcamd::firmware::format::hex;
use ipcamd::firmware::image::read_header_unverified;
use ipcamd::firmware::{self, FwError, ImageFile, keys};

const USAGE: &str = "\
usage:
  ipcamd-fwtool keygen [--dir DIR] [--name STEM]
      writes DIR/STEM-signing.key (0600) and DIR/STEM-public.key (default cross/keys, dev)
  ipcamd-fwtool pubkey --key SIGNING_KEY_FILE
  ipcamd-fwtool sign --version V --board ID [--board ID ...] [--key FILE] --out IMAGE DEST=SRC ...
      signing key: --key FILE, else $IPCAMD_FW_SIGNING_KEY (64 hex digits),
      else $IPCAMD_FW_SIGNING_KEY_FILE; DEST is the path inside the release (ipcamd, board/x.toml)
  ipcamd-fwtool verify --pubkey FILE --board ID IMAGE
  ipcamd-fwtool inspect IMAGE                  (header only; the signature is NOT checked)
  ipcamd-fwtool install --pubkey FILE --board ID --root DIR IMAGE
  ipcamd-fwtool confirm --root DIR
  ipcamd-fwtool rollback --root DIR
  ipcamd-fwtool rollback-if-unconfirmed --root DIR";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(Done::Success) => ExitCode::SUCCESS,
        Ok(Done::NothingToDo) => ExitCode::from(3),
        Err(message) => {
            eprintln!("ipcamd-fwtool: {message}");
            ExitCode::FAILURE
        }
    }
}

/// How a successful command ended.
enum Done {
    /// It did what was asked.
    Success,
    /// `rollback-if-unconfirmed` found nothing to roll back (exit status 3, so the rollback
    /// unit's restart step does not run).
    NothingToDo,
}

/// Parsed `--flag value` options and the remaining positional arguments.
struct Args {
    options: Vec<(String, String)>,
    positional: Vec<String>,
}

impl Args {
    fn parse(args: &[String], flags: &[&str]) -> Result<Args, String> {
        let mut options = Vec::new();
        let mut positional = Vec::new();
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            if let Some(flag) = arg.strip_prefix("--") {
                if !flags.contains(&flag) {
                    return Err(format!("unknown option --{flag}\n{USAGE}"));
                }
                let value = iter
                    .next()
                    .ok_or_else(|| format!("--{flag} needs a value"))?;
                options.push((flag.to_owned(), value.clone()));
            } else {
                positional.push(arg.clone());
            }
        }
        Ok(Args {
            options,
            positional,
        })
    }

    fn get(&self, flag: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(f, _)| f == flag)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, flag: &str) -> Vec<String> {
        self.options
            .iter()
            .filter(|(f, _)| f == flag)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn need(&self, flag: &str) -> Result<&str, String> {
        self.get(flag)
            .ok_or_else(|| format!("--{flag} is required\n{USAGE}"))
    }

    fn one_positional(&self, what: &str) -> Result<&Path, String> {
        match self.positional.as_slice() {
            [one] => Ok(Path::new(one)),
            _ => Err(format!("expected one {what}\n{USAGE}")),
        }
    }
}

fn run(args: &[String]) -> Result<Done, String> {
    let Some((command, rest)) = args.split_first() else {
        return Err(USAGE.into());
    };
    let err = |e: FwError| e.to_string();
    match command.as_str() {
        "keygen" => {
            let a = Args::parse(rest, &["dir", "name"])?;
            let dir = PathBuf::from(a.get("dir").unwrap_or("cross/keys"));
            let key = keys::generate_signing_key().map_err(err)?;
            let (secret, public) =
                keys::write_key_pair(&dir, a.get("name").unwrap_or("dev"), &key).map_err(err)?;
            println!(
                "signing key {}\npublic key  {}",
                secret.display(),
                public.display()
            );
            Ok(Done::Success)
        }
        "pubkey" => {
            let a = Args::parse(rest, &["key"])?;
            let key = keys::read_signing_key(Path::new(a.need("key")?)).map_err(err)?;
            println!("{}", hex(key.verifying_key().as_bytes()));
            Ok(Done::Success)
        }
        "sign" => sign(rest).map(|()| Done::Success),
        "verify" => {
            let a = Args::parse(rest, &["pubkey", "board"])?;
            let key = keys::read_public_key(Path::new(a.need("pubkey")?)).map_err(err)?;
            let verified =
                firmware::verify_image(a.one_positional("IMAGE")?, &key, a.need("board")?)
                    .map_err(|e| format!("REJECTED ({}): {e}", e.kind()))?;
            print_info(&verified.info);
            println!("signature  good");
            Ok(Done::Success)
        }
        "inspect" => {
            let a = Args::parse(rest, &[])?;
            let path = a.one_positional("IMAGE")?;
            let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let header = read_header_unverified(&mut std::io::BufReader::new(file)).map_err(err)?;
            println!("version    {}", header.app_version);
            println!("boards     {}", header.boards.join(", "));
            println!("payload    {} bytes", header.payload_len);
            println!("sha256     {}", hex(&header.payload_sha256));
            println!("signature  not checked (use verify)");
            Ok(Done::Success)
        }
        "install" => {
            let a = Args::parse(rest, &["pubkey", "board", "root"])?;
            let key = keys::read_public_key(Path::new(a.need("pubkey")?)).map_err(err)?;
            let verified =
                firmware::verify_image(a.one_positional("IMAGE")?, &key, a.need("board")?)
                    .map_err(|e| format!("REJECTED ({}): {e}", e.kind()))?;
            let release = firmware::install(verified, Path::new(a.need("root")?)).map_err(err)?;
            println!("installed {}", release.display());
            Ok(Done::Success)
        }
        "confirm" => {
            let a = Args::parse(rest, &["root"])?;
            let ended = firmware::confirm(Path::new(a.need("root")?)).map_err(err)?;
            println!(
                "{}",
                if ended {
                    "confirmed"
                } else {
                    "no trial to confirm"
                }
            );
            Ok(Done::Success)
        }
        "rollback" => {
            let a = Args::parse(rest, &["root"])?;
            let version = firmware::rollback(Path::new(a.need("root")?)).map_err(err)?;
            println!("rolled back to {version}");
            Ok(Done::Success)
        }
        "rollback-if-unconfirmed" => {
            let a = Args::parse(rest, &["root"])?;
            let root = Path::new(a.need("root")?);
            if firmware::rollback_if_unconfirmed(root).map_err(err)? {
                let version = firmware::installed_version(root).map_err(err)?;
                println!("rolled back to {}", version.as_deref().unwrap_or("?"));
                Ok(Done::Success)
            } else {
                println!("current release is confirmed; nothing to do");
                Ok(Done::NothingToDo)
            }
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(Done::Success)
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    }
}

fn sign(rest: &[String]) -> Result<(), String> {
    let a = Args::parse(rest, &["version", "board", "key", "out"])?;
    let key = if let Some(path) = a.get("key") {
        keys::read_signing_key(Path::new(path))
    } else if let Ok(text) = std::env::var("IPCAMD_FW_SIGNING_KEY") {
        keys::parse_signing_key(&text)
    } else if let Some(path) = std::env::var_os("IPCAMD_FW_SIGNING_KEY_FILE") {
        keys::read_signing_key(Path::new(&path))
    } else {
        return Err(
            "no signing key: --key, $IPCAMD_FW_SIGNING_KEY or $IPCAMD_FW_SIGNING_KEY_FILE".into(),
        );
    }
    .map_err(|e| e.to_string())?;
    let boards = a.all("board");
    if boards.is_empty() {
        return Err(format!("at least one --board is required\n{USAGE}"));
    }
    let mut files = Vec::new();
    for spec in &a.positional {
        let (dest, src) = spec
            .split_once('=')
            .ok_or_else(|| format!("{spec:?} is not DEST=SRC"))?;
        let data = std::fs::read(src).map_err(|e| format!("{src}: {e}"))?;
        let executable = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(src)
                .map_err(|e| format!("{src}: {e}"))?
                .permissions()
                .mode()
                & 0o111
                != 0
        };
        files.push(ImageFile {
            path: dest.to_owned(),
            executable,
            data,
        });
    }
    let image = firmware::build_image(&files, a.need("version")?, &boards, &key)
        .map_err(|e| e.to_string())?;
    let out = a.need("out")?;
    std::fs::write(out, &image).map_err(|e| format!("{out}: {e}"))?;
    println!(
        "wrote {out}: {} bytes, {} files, version {}, boards {}, signer {}",
        image.len(),
        files.len(),
        a.need("version")?,
        boards.join(","),
        hex(key.verifying_key().as_bytes())
    );
    Ok(())
}

fn print_info(info: &firmware::ImageInfo) {
    println!("version    {}", info.version());
    println!("boards     {}", info.header.boards.join(", "));
    println!(
        "payload    {} bytes, sha256 {}",
        info.header.payload_len,
        hex(&info.header.payload_sha256)
    );
    for entry in &info.entries {
        let mode = if entry.executable { "x" } else { "-" };
        println!("  {mode} {:>10}  {}", entry.size, entry.path);
    }
}
