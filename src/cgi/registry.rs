//! The command registry: every one of the guide's commands maps to exactly one handler, or is
//! listed in [`NOT_YET_IMPLEMENTED`] with the issue that will deliver it (answering -4 and
//! logging why). That table only shrinks. Tests check the registry against the guide's command
//! list kept in `tests/data/guide-commands.tsv`.

use std::sync::OnceLock;

use super::reply::Reply;
use super::{CgiError, CgiResult, Request, commands};

/// A command handler.
pub type Handler = fn(&Request) -> CgiResult<Reply>;

/// Commands not implemented yet, with what will deliver them.
pub const NOT_YET_IMPLEMENTED: &[(&str, &str)] = &[
    ("refreshWifiList", "Wi-Fi scanning (no issue filed yet)"),
    ("getWifiList", "Wi-Fi scanning (no issue filed yet)"),
    (
        "getGeneratePubKey",
        "the guide does not document the key algorithm",
    ),
    (
        "toolResetToFactory",
        "the guide does not document the reset-code algorithm",
    ),
];

fn table() -> &'static [(&'static str, Handler)] {
    static TABLE: OnceLock<Vec<(&'static str, Handler)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut all: Vec<(&'static str, Handler)> = Vec::new();
        all.extend(commands::config::handlers());
        all.extend_from_slice(commands::user::HANDLERS);
        all.extend_from_slice(commands::device::HANDLERS);
        all.extend_from_slice(commands::stream::HANDLERS);
        all.extend_from_slice(commands::ptz::HANDLERS);
        all.extend_from_slice(commands::video::HANDLERS);
        all.extend_from_slice(commands::system::HANDLERS);
        all.extend_from_slice(commands::alarm::HANDLERS);
        all.extend_from_slice(commands::record::HANDLERS);
        all
    })
}

/// The handler of a command (its canonical name).
pub fn handler(name: &str) -> Handler {
    table()
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(not_yet_implemented as Handler, |(_, h)| *h)
}

/// Whether a command has a real handler.
pub fn is_implemented(name: &str) -> bool {
    table().iter().any(|(n, _)| *n == name)
}

fn not_yet_implemented(req: &Request) -> CgiResult<Reply> {
    let why = NOT_YET_IMPLEMENTED
        .iter()
        .find(|(n, _)| *n == req.spec.name)
        .map_or("no handler", |(_, why)| *why);
    tracing::info!(
        cmd = req.spec.name,
        why,
        "command not available in this build"
    );
    Err(CgiError::Exec(format!(
        "{} not available: {why}",
        req.spec.name
    )))
}

/// Every handler name, for tests.
pub fn implemented_names() -> impl Iterator<Item = &'static str> {
    table().iter().map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::super::catalogue::COMMANDS;
    use super::*;

    #[test]
    fn test_every_command_has_exactly_one_handler_or_a_not_yet_entry() {
        for command in COMMANDS {
            let handlers = implemented_names().filter(|n| *n == command.name).count();
            let pending = NOT_YET_IMPLEMENTED
                .iter()
                .filter(|(n, _)| *n == command.name)
                .count();
            assert_eq!(
                handlers + pending,
                1,
                "{}: {handlers} handlers, {pending} pending",
                command.name
            );
        }
    }

    #[test]
    fn test_every_handler_names_a_guide_command() {
        for name in implemented_names() {
            assert!(
                COMMANDS.iter().any(|c| c.name == name),
                "{name} is not in the guide"
            );
        }
        for (name, _) in NOT_YET_IMPLEMENTED {
            assert!(
                COMMANDS.iter().any(|c| c.name == *name),
                "{name} is not in the guide"
            );
        }
    }
}
