//! The CGI surface: parse the query, find the command, authenticate, check privilege, run the
//! handler on a blocking thread with a deadline, map the outcome to the guide's result code.
//! Handlers hold only their command's own logic; everything shared happens here once.

pub mod catalogue;
pub mod commands;
pub mod error;
pub mod query;
pub mod registry;
pub mod reply;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::accounts::{AuthFailure, User};
use crate::app::App;
use catalogue::{CommandSpec, FieldKind, FieldSpec, Privilege};
pub use error::{CgiError, CgiResult};
use query::Query;
use reply::{Fields, Reply};

/// Longest a command may run before the caller gets -5.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(20);

/// Commands a client may run without credentials (the guide's getPortInfo note).
const NO_AUTH: &[&str] = &["getPortInfo"];

/// Commands that work in setup mode, before the factory admin password has been changed.
const SETUP_MODE_ALLOWED: &[&str] = &[
    "changePassword",
    "changeUserNameAndPwdTogether",
    "logIn",
    "logOut",
    "usrBeatHeart",
    "getPortInfo",
];

/// Account commands every user may run on their own account (the guide's notes), although
/// their tables say admin; the handlers refuse other accounts to non-administrators.
const SELF_SERVICE: &[&str] = &[
    "changePassword",
    "changeUserName",
    "changeUserNameAndPwdTogether",
];

/// The privilege the dispatcher demands for a command.
pub fn required_privilege(spec: &CommandSpec) -> Privilege {
    if SELF_SERVICE.contains(&spec.name) {
        Privilege::Visitor
    } else {
        spec.privilege
    }
}

/// Everything a handler sees.
pub struct Request<'a> {
    /// The application.
    pub app: &'a App,
    /// The parsed query.
    pub query: &'a Query,
    /// The command being run.
    pub spec: &'static CommandSpec,
    /// The authenticated caller (None only for commands that need no credentials).
    pub user: Option<&'a User>,
    /// The client's address.
    pub peer: IpAddr,
    /// Path of the uploaded file of a POST command (importConfig, fwUpgrade).
    pub upload: Option<&'a std::path::Path>,
}

/// What the dispatcher produced: the result code and the reply to render.
#[derive(Debug)]
pub struct Outcome {
    /// Guide result code.
    pub code: i32,
    /// Reply body.
    pub reply: Reply,
    /// Name of the command, when one was found.
    pub command: Option<&'static str>,
}

impl Outcome {
    fn error(err: &CgiError, command: Option<&'static str>) -> Outcome {
        Outcome {
            code: err.code(),
            reply: Reply::Xml(Fields::new()),
            command,
        }
    }
}

/// Runs one CGI request.
pub async fn dispatch(
    app: Arc<App>,
    query: Query,
    peer: IpAddr,
    upload: Option<std::path::PathBuf>,
) -> Outcome {
    let Some(name) = query.cmd() else {
        tracing::debug!(%peer, "request without cmd");
        return Outcome::error(&CgiError::Format("missing cmd".into()), None);
    };
    let Some(spec) = catalogue::find(name) else {
        tracing::debug!(%peer, cmd = %name.chars().take(40).collect::<String>(), "unknown command");
        return Outcome::error(&CgiError::Format("unknown command".into()), None);
    };
    let task = tokio::task::spawn_blocking(move || {
        let result = run(&app, &query, spec, peer, upload.as_deref());
        (result, query)
    });
    match tokio::time::timeout(COMMAND_DEADLINE, task).await {
        Ok(Ok((Ok(reply), _))) => Outcome {
            code: 0,
            reply,
            command: Some(spec.name),
        },
        Ok(Ok((Err(err), _))) => {
            match &err {
                CgiError::Format(why) => tracing::debug!(cmd = spec.name, %peer, %why, "rejected"),
                CgiError::Auth | CgiError::Denied => {}
                other => tracing::warn!(cmd = spec.name, %peer, error = %other, "command failed"),
            }
            Outcome::error(&err, Some(spec.name))
        }
        Ok(Err(join)) => {
            tracing::error!(cmd = spec.name, error = %join, "command handler panicked");
            Outcome::error(
                &CgiError::Unknown("handler panicked".into()),
                Some(spec.name),
            )
        }
        Err(_) => {
            tracing::warn!(cmd = spec.name, "command deadline passed");
            Outcome::error(&CgiError::Timeout("deadline".into()), Some(spec.name))
        }
    }
}

/// Authenticates and runs a command synchronously (on a blocking thread).
fn run(
    app: &App,
    query: &Query,
    spec: &'static CommandSpec,
    peer: IpAddr,
    upload: Option<&std::path::Path>,
) -> CgiResult<Reply> {
    if spec.post != upload.is_some() && spec.post {
        return Err(CgiError::Format(
            "this command takes a multipart POST upload".into(),
        ));
    }
    let user = if NO_AUTH.contains(&spec.name) {
        None
    } else {
        Some(authenticate(app, query, peer)?)
    };
    if let Some(user) = &user {
        if user.privilege < required_privilege(spec) {
            tracing::info!(cmd = spec.name, user = %user.name, "privilege too low");
            return Err(CgiError::Denied);
        }
        if app.hal.board.capabilities.setup_mode
            && !SETUP_MODE_ALLOWED.contains(&spec.name)
            && !spec.name.starts_with("getProduct")
            && app.accounts.factory_password_in_use(&app.store)
        {
            tracing::info!(cmd = spec.name, "setup mode: set the admin password first");
            return Err(CgiError::Denied);
        }
    }
    let request = Request {
        app,
        query,
        spec,
        user: user.as_ref(),
        peer,
        upload,
    };
    let handler = registry::handler(spec.name);
    handler(&request)
}

/// Checks a query's `usr`/`pwd` (both readings of `+`), with the address lock-out.
pub fn authenticate(app: &App, query: &Query, peer: IpAddr) -> CgiResult<User> {
    let (Some(name), name_literal) = query.credential("usr") else {
        return Err(CgiError::Auth);
    };
    let (password, password_literal) = query.credential("pwd");
    let password = password.unwrap_or("");
    let first = app.accounts.verify(&app.store, peer, name, password);
    let result = match first {
        Err(AuthFailure::UnknownUser | AuthFailure::WrongPassword)
            if name_literal.is_some() || password_literal.is_some() =>
        {
            // Some clients paste credentials raw: try the literal-plus reading too.
            app.accounts.verify(
                &app.store,
                peer,
                name_literal.unwrap_or(name),
                password_literal.unwrap_or(password),
            )
        }
        other => other,
    };
    result.map_err(|failure| {
        tracing::info!(%peer, ?failure, "authentication failed");
        CgiError::Auth
    })
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
