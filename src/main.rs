//! `ipcamd [--board FILE] [--data DIR] [--listen ADDR:PORT]`: parse the command line, set up
//! logging to stderr, run the daemon. `ipcamd selftest [--board FILE] [--data DIR]` exercises
//! each device of the board instead ([`ipcamd::selftest`]).

use std::process::ExitCode;

use std::os::unix::process::CommandExt;

use ipcamd::cgi::Restart;
use ipcamd::daemon::{self, Exit, Options};

const USAGE: &str = "usage: ipcamd [--board FILE] [--data DIR] [--listen ADDR:PORT]\n\
    \n       ipcamd selftest [--board FILE] [--data DIR]\
    \n         exercise each device of the board, one line per device; exit 1 on any FAIL\n\
    \n  --board FILE        board file (default board/sim.toml)\
    \n  --data DIR          data directory (default ./var)\
    \n  --listen ADDR:PORT  listen here instead of the stored web port\n";

fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options::default();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--board" => options.board = value()?.into(),
            "--data" => options.data = value()?.into(),
            "--listen" => {
                let v = value()?;
                options.listen = Some(
                    v.parse()
                        .map_err(|_| format!("--listen: bad address {v}"))?,
                );
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

/// `ipcamd selftest`: the report on stdout, exit status 1 when a device failed.
fn selftest(options: &Options) -> ExitCode {
    if options.listen.is_some() {
        eprintln!("ipcamd: selftest takes no --listen");
        eprint!("{USAGE}");
        return ExitCode::from(2);
    }
    let reports = ipcamd::selftest::run(&options.board, &options.data);
    match ipcamd::selftest::print(&reports, &mut std::io::stdout().lock()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("ipcamd: selftest: writing the report: {err}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    let is_selftest = args.peek().is_some_and(|a| a == "selftest");
    if is_selftest {
        args.next();
    }
    let options = match parse(args) {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("ipcamd: {message}");
            }
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    // A plain level (error, warn, info, debug, trace): a per-module filter would pull a regex
    // engine into a binary that must fit a camera's flash.
    let level = std::env::var("IPCAMD_LOG")
        .ok()
        .and_then(|v| {
            v.trim()
                .parse::<tracing_subscriber::filter::LevelFilter>()
                .ok()
        })
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if is_selftest {
        return selftest(&options);
    }
    ipcamd::firmware::loader::exec_installed_release(&options.data);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("ipcamd: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(daemon::run(options)) {
        Ok(Exit::Stop) => ExitCode::SUCCESS,
        Ok(Exit::Restart(kind)) => {
            drop(runtime);
            restart(kind)
        }
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}

/// Leaves for a restart or a reboot.
fn restart(kind: Restart) -> ExitCode {
    let under_systemd = std::env::var_os("NOTIFY_SOCKET").is_some();
    match kind {
        Restart::Daemon if under_systemd => {
            // systemd starts us again (RestartForceExitStatus=75), through the loader.
            ExitCode::from(ipcamd::firmware::RESTART_EXIT_CODE as u8)
        }
        Restart::Daemon => {
            let mut command =
                ipcamd::firmware::loader::restart_command(std::env::args_os().skip(1));
            let error = command.exec();
            eprintln!(
                "ipcamd: cannot restart {:?}: {error}",
                command.get_program()
            );
            ExitCode::FAILURE
        }
        Restart::System if under_systemd => {
            // A fixed argument vector, never a shell; logind decides (polkit rule in systemd/).
            match std::process::Command::new("systemctl")
                .arg("reboot")
                .status()
            {
                Ok(status) if status.success() => ExitCode::SUCCESS,
                other => {
                    eprintln!("ipcamd: systemctl reboot failed: {other:?}");
                    ExitCode::FAILURE
                }
            }
        }
        Restart::System => {
            nix::unistd::sync();
            let error = nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_AUTOBOOT);
            eprintln!("ipcamd: reboot failed: {error:?}");
            ExitCode::FAILURE
        }
    }
}
