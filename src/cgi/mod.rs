//! The CGI surface (layer 3): parse the query, find the command in the [`table`],
//! authenticate, check privilege and setup mode, run the handler on a blocking thread with a
//! deadline, map the outcome to the guide's result code. Handlers hold only their command's
//! own logic (mapping wire names to typed settings and the guide's checks); everything shared
//! happens here once. Handlers see a [`Context`] of handles, built by the composition root.
//! The command reference `docs/cgi-commands.md` is generated from the table (`reference.rs`,
//! in tests).

pub mod catalogue;
pub mod command;
pub mod commands;
pub mod context;
pub mod dispatch;
pub mod error;
pub mod query;
#[cfg(test)]
mod reference;
pub mod reply;
pub mod table;

pub use command::{Request, check_range, check_text, is_admin, parse_int};
pub use context::{Context, Restart};
pub use dispatch::{COMMAND_DEADLINE, Outcome, authenticate, dispatch};
pub use error::{CgiError, CgiResult, LogInResult, outcome_field};
