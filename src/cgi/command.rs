//! A command as the dispatcher and its handler see it: what one declaration of the command
//! table holds ([`Command`], with the builders the table is written with), the [`Request`] a
//! handler gets, and the typed parameter readers that validate against the command's
//! catalogue entry.

use std::net::IpAddr;

use super::catalogue::{self, CommandSpec, FieldKind, FieldSpec, Privilege};
use super::context::Context;
use super::error::{CgiError, CgiResult};
use super::query::Query;
use super::reply::Reply;
use crate::accounts::User;

/// A command handler.
pub type Handler = fn(&Request) -> CgiResult<Reply>;

/// Who may run a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone, without credentials (the guide's getPortInfo note).
    None,
    /// A caller of at least the catalogue's privilege.
    Catalogue,
    /// Every user, on their own account (the handler refuses other accounts to
    /// non-administrators), although the guide's table says admin.
    SelfService,
}

/// Longest a command may run before the caller gets -5, unless its table entry says otherwise.
pub const COMMAND_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);
/// Deadline of the commands that check and install a whole uploaded file (fwUpgrade,
/// importConfig): hashing, verifying and writing megabytes takes a slow SoC (or an emulated
/// one) longer than a setting does.
pub const UPLOAD_COMMAND_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// One declaration.
#[derive(Debug, Clone, Copy)]
pub struct Command {
    /// The exact `cmd` value.
    pub name: &'static str,
    /// The handler, or `None` with [`Command::pending`] saying why.
    pub handler: Option<Handler>,
    /// Why there is no handler (what will deliver it).
    pub pending: Option<&'static str>,
    /// Who may run it.
    pub auth: Auth,
    /// Runs in setup mode, before the factory admin password has been changed.
    pub setup_mode: bool,
    /// The multipart field carrying its upload (POST commands).
    pub upload: Option<&'static str>,
    /// The settings section it reads or writes.
    pub settings: Option<&'static str>,
    /// A plain configuration getter or setter (`commands::config::get_section` /
    /// `set_section`): its fields are its section's, by wire name.
    pub plain: bool,
    /// Longest it may run before the caller gets -5 ([`COMMAND_DEADLINE`] unless declared).
    pub deadline: std::time::Duration,
}

pub(super) const fn c(name: &'static str, handler: Handler) -> Command {
    Command {
        name,
        handler: Some(handler),
        pending: None,
        auth: Auth::Catalogue,
        setup_mode: false,
        upload: None,
        settings: None,
        plain: false,
        deadline: COMMAND_DEADLINE,
    }
}

impl Command {
    pub(super) const fn no_auth(self) -> Command {
        Command {
            auth: Auth::None,
            ..self
        }
    }
    pub(super) const fn self_service(self) -> Command {
        Command {
            auth: Auth::SelfService,
            ..self
        }
    }
    pub(super) const fn in_setup_mode(self) -> Command {
        Command {
            setup_mode: true,
            ..self
        }
    }
    /// A command that legitimately runs longer than [`COMMAND_DEADLINE`].
    pub(super) const fn deadline(self, deadline: std::time::Duration) -> Command {
        Command { deadline, ..self }
    }
    pub(super) const fn upload(self, field: &'static str) -> Command {
        Command {
            upload: Some(field),
            ..self
        }
    }
    pub(super) const fn settings(self, section: &'static str) -> Command {
        Command {
            settings: Some(section),
            ..self
        }
    }

    /// The guide's facts about it.
    pub fn spec(&self) -> &'static CommandSpec {
        catalogue::COMMANDS
            .iter()
            .find(|c| c.name == self.name)
            .expect("every declaration names a catalogue command")
    }

    /// The privilege the dispatcher demands.
    pub fn privilege(&self) -> Privilege {
        match self.auth {
            Auth::SelfService | Auth::None => Privilege::Visitor,
            Auth::Catalogue => self.spec().privilege,
        }
    }

    /// Its handler (one that answers -4 and logs why, for a pending command).
    pub fn handler(&self) -> Handler {
        self.handler.unwrap_or(not_available)
    }
}

pub(super) fn not_available(req: &Request) -> CgiResult<Reply> {
    let why = req.command.pending.unwrap_or("no handler");
    crate::log_limit::limited!(
        info,
        "command not available",
        cmd = req.spec.name,
        why,
        "command not available in this build"
    );
    Err(CgiError::Exec(format!(
        "{} not available: {why}",
        req.spec.name
    )))
}

/// Everything a handler sees.
pub struct Request<'a> {
    /// The handles a handler may use.
    pub ctx: &'a Context,
    /// The parsed query.
    pub query: &'a Query,
    /// The command's declaration.
    pub command: &'static Command,
    /// The guide's facts about it (typed parameters, return fields).
    pub spec: &'static CommandSpec,
    /// The authenticated caller (None only for commands that need no credentials).
    pub user: Option<&'a User>,
    /// The client's address.
    pub peer: IpAddr,
    /// Path of the uploaded file of a POST command (importConfig, fwUpgrade).
    pub upload: Option<&'a std::path::Path>,
    /// Every declaration of the command table (for the few handlers that work across
    /// commands, such as importConfig's validation by the setters' rules).
    pub table: &'static [Command],
}

impl Request<'_> {
    /// The caller (panics only if called by a command that needs no credentials).
    pub fn user(&self) -> CgiResult<&User> {
        self.user
            .ok_or_else(|| CgiError::Unknown("command ran without a user".into()))
    }

    /// The raw value of a parameter of this command (or its aliases), if present.
    pub fn raw(&self, name: &str) -> Option<&str> {
        match self.spec.param(name) {
            Some(field) => self.query.get_any(field.name, field.aliases),
            None => self.query.get(name),
        }
    }

    /// A required integer parameter, validated against the catalogue and `rules`.
    pub fn int(&self, name: &str) -> CgiResult<i64> {
        let raw = self
            .raw(name)
            .ok_or_else(|| CgiError::field(name, "missing"))?;
        let field = self.spec.param(name);
        parse_int(name, raw, field)
    }

    /// An optional integer parameter.
    pub fn opt_int(&self, name: &str) -> CgiResult<Option<i64>> {
        match self.raw(name) {
            None => Ok(None),
            Some(raw) => parse_int(name, raw, self.spec.param(name)).map(Some),
        }
    }

    /// A required text parameter of at most `max_len` characters, no control characters.
    pub fn text(&self, name: &str, max_len: usize) -> CgiResult<&str> {
        let raw = self
            .raw(name)
            .ok_or_else(|| CgiError::field(name, "missing"))?;
        check_text(name, raw, max_len)?;
        Ok(raw)
    }
}

/// Parses an integer as clients send it: `50`, `-3`, or `50.0` (some clients send floats).
pub fn parse_int(name: &str, raw: &str, field: Option<&FieldSpec>) -> CgiResult<i64> {
    let raw = raw.trim();
    let value = match raw.parse::<i64>() {
        Ok(v) => v,
        Err(_) => match raw.split_once('.') {
            Some((whole, frac))
                if !whole.is_empty() && !frac.is_empty() && frac.bytes().all(|b| b == b'0') =>
            {
                whole
                    .parse::<i64>()
                    .map_err(|_| CgiError::field(name, "not an integer"))?
            }
            _ => return Err(CgiError::field(name, "not an integer")),
        },
    };
    if let Some(field) = field {
        check_range(field, value)?;
    }
    Ok(value)
}

/// Checks a value against the catalogue's range and enumeration.
pub fn check_range(field: &FieldSpec, value: i64) -> CgiResult<()> {
    if field.kind == FieldKind::Bool01 && !(0..=1).contains(&value) {
        return Err(CgiError::field(field.name, "must be 0 or 1"));
    }
    if field.min.is_some_and(|min| value < min) || field.max.is_some_and(|max| value > max) {
        return Err(CgiError::field(field.name, "out of range"));
    }
    if !field.choices.is_empty() && !field.choices.contains(&value) {
        return Err(CgiError::field(field.name, "not an allowed value"));
    }
    Ok(())
}

/// Checks free text: length in characters and no control characters.
pub fn check_text(name: &str, value: &str, max_len: usize) -> CgiResult<()> {
    if value.chars().count() > max_len {
        return Err(CgiError::field(name, "too long"));
    }
    if value.chars().any(char::is_control) {
        return Err(CgiError::field(name, "control characters"));
    }
    Ok(())
}

/// Privilege of a caller, for handlers that apply the guide's "admin may change anyone,
/// others only themselves" rule.
pub fn is_admin(user: &User) -> bool {
    user.privilege == Privilege::Admin
}
