//! `ipcamd [--board FILE] [--data DIR] [--listen ADDR:PORT]`: parse the command line, set up
//! logging to stderr, run the daemon. `ipcamd selftest [--board FILE] [--data DIR]` exercises
//! each device of the board instead ([`ipcamd::selftest`]).

use std::process::ExitCode;

use ipcamd::daemon::{self, Options};

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
    let filter = tracing_subscriber::EnvFilter::try_from_env("IPCAMD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if is_selftest {
        return selftest(&options);
    }
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
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}
