//! The dispatcher: find the command in the table, authenticate, check privilege and setup
//! mode, run the handler on a blocking thread with a deadline, map the outcome to the guide's
//! result code.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::catalogue::CommandSpec;
use super::command::{Auth, Command, Request};
use super::context::Context;
use super::error::{CgiError, CgiResult};
use super::query::Query;
use super::reply::{Fields, Reply};
use super::table;
use crate::accounts::{AuthFailure, User};
use crate::log_limit::limited;

/// Longest a command may run before the caller gets -5.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(20);

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
    /// A refusal before any command ran (the HTTP layer's: a query that does not parse, an
    /// upload refused before its body is read): the error's code, an empty reply.
    pub fn refused(err: &CgiError) -> Outcome {
        Outcome::error(err, None)
    }

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
    ctx: Arc<Context>,
    query: Query,
    peer: IpAddr,
    upload: Option<std::path::PathBuf>,
) -> Outcome {
    let Some(name) = query.cmd() else {
        limited!(debug, "request without cmd", %peer, "request without cmd");
        return Outcome::error(&CgiError::Format("missing cmd".into()), None);
    };
    let Some((command, spec)) = table::find(name) else {
        limited!(debug, "unknown command", %peer, cmd = %name.chars().take(40).collect::<String>(), "unknown command");
        return Outcome::error(&CgiError::Format("unknown command".into()), None);
    };
    let task = tokio::task::spawn_blocking(move || {
        let result = run(&ctx, &query, command, spec, peer, upload.as_deref());
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
                CgiError::Format(why) => {
                    limited!(debug, "rejected", cmd = spec.name, %peer, %why, "rejected")
                }
                CgiError::Auth | CgiError::Denied => {}
                other => {
                    limited!(warn, "command failed", cmd = spec.name, %peer, error = %other, "command failed")
                }
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
            limited!(
                warn,
                "command deadline",
                cmd = spec.name,
                "command deadline passed"
            );
            Outcome::error(&CgiError::Timeout("deadline".into()), Some(spec.name))
        }
    }
}

/// Authenticates and runs a command synchronously (on a blocking thread).
fn run(
    ctx: &Context,
    query: &Query,
    command: &'static Command,
    spec: &'static CommandSpec,
    peer: IpAddr,
    upload: Option<&std::path::Path>,
) -> CgiResult<Reply> {
    if spec.post != upload.is_some() && spec.post {
        return Err(CgiError::Format(
            "this command takes a multipart POST upload".into(),
        ));
    }
    let user = if command.auth == Auth::None {
        None
    } else {
        Some(authenticate(ctx, query, peer)?)
    };
    if let Some(user) = &user {
        if user.privilege < command.privilege() {
            limited!(info, "privilege too low", cmd = spec.name, user = %user.name, "privilege too low");
            return Err(CgiError::Denied);
        }
        if ctx.hal.board.capabilities.setup_mode
            && !command.setup_mode
            && ctx.accounts.factory_password_in_use(&ctx.store)
        {
            limited!(
                info,
                "setup mode",
                cmd = spec.name,
                "setup mode: set the admin password first"
            );
            return Err(CgiError::Denied);
        }
    }
    let request = Request {
        ctx,
        query,
        command,
        spec,
        user: user.as_ref(),
        peer,
        upload,
        table: table::TABLE,
    };
    (command.handler())(&request)
}

/// Checks a query's `usr`/`pwd` (both readings of `+`), with the address lock-out.
pub fn authenticate(ctx: &Context, query: &Query, peer: IpAddr) -> CgiResult<User> {
    let (Some(name), name_literal) = query.credential("usr") else {
        return Err(CgiError::Auth);
    };
    let (password, password_literal) = query.credential("pwd");
    let password = password.unwrap_or("");
    let first = ctx.accounts.verify(&ctx.store, peer, name, password);
    let result = match first {
        Err(AuthFailure::UnknownUser | AuthFailure::WrongPassword)
            if name_literal.is_some() || password_literal.is_some() =>
        {
            // Some clients paste credentials raw: try the literal-plus reading too.
            ctx.accounts.verify(
                &ctx.store,
                peer,
                name_literal.unwrap_or(name),
                password_literal.unwrap_or(password),
            )
        }
        other => other,
    };
    result.map_err(|failure| {
        limited!(info, "authentication failed", %peer, ?failure, "authentication failed");
        CgiError::Auth
    })
}
