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
        tracing::debug!(%peer, "request without cmd");
        return Outcome::error(&CgiError::Format("missing cmd".into()), None);
    };
    let Some((command, spec)) = table::find(name) else {
        tracing::debug!(%peer, cmd = %name.chars().take(40).collect::<String>(), "unknown command");
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
            tracing::info!(cmd = spec.name, user = %user.name, "privilege too low");
            return Err(CgiError::Denied);
        }
        if ctx.hal.board.capabilities.setup_mode
            && !command.setup_mode
            && ctx.accounts.factory_password_in_use(&ctx.store)
        {
            tracing::info!(cmd = spec.name, "setup mode: set the admin password first");
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
        tracing::info!(%peer, ?failure, "authentication failed");
        CgiError::Auth
    })
}

#[cfg(test)]
mod tests {
    use crate::cgi::reply::Reply;
    use crate::daemon::testing::{SimCamera, query_string};

    fn field<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
        match reply {
            Reply::Xml(fields) => fields.get(name),
            _ => None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn test_a_good_getter_answers_0_with_its_fields() {
        let cam = SimCamera::start().await;
        let outcome = cam.cgi("getDevName", &[]).await;
        assert_eq!(outcome.code, 0);
        assert_eq!(outcome.command, Some("getDevName"));
        // The board file's factory name.
        assert_eq!(field(&outcome.reply, "devName"), Some("ipcamd-sim"));
        // The guide's other spelling names the same command.
        let outcome = cam.cgi("getCuriseTime", &[]).await;
        assert_eq!((outcome.code, outcome.command), (0, Some("getCruiseTime")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn test_unknown_or_missing_command_is_a_format_error() {
        let cam = SimCamera::start().await;
        let outcome = cam.cgi("noSuchCommand", &[]).await;
        assert_eq!((outcome.code, outcome.command), (-1, None));
        let outcome = cam.query("usr=admin&pwd=").await;
        assert_eq!((outcome.code, outcome.command), (-1, None));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn test_wrong_or_missing_credentials_answer_minus_2_and_change_nothing() {
        let cam = SimCamera::start().await;
        let wrong = query_string("setDevName", "admin", "nope", &[("devName", "intruder")]);
        assert_eq!(cam.query(&wrong).await.code, -2);
        let unknown = query_string("getDevName", "nobody", "", &[]);
        assert_eq!(cam.query(&unknown).await.code, -2);
        assert_eq!(cam.query("cmd=getDevName").await.code, -2);
        let outcome = cam.cgi("getDevName", &[]).await;
        assert_eq!(field(&outcome.reply, "devName"), Some("ipcamd-sim"));
        // The guide's one exception runs without credentials.
        assert_eq!(cam.query("cmd=getPortInfo").await.code, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn test_a_visitor_running_a_setter_is_denied_minus_3_and_changes_nothing() {
        let cam = SimCamera::start().await;
        let add = [
            ("usrName", "guest"),
            ("usrPwd", "guest-pw1"),
            ("privilege", "0"),
        ];
        assert_eq!(cam.cgi("addAccount", &add).await.code, 0);
        let set = query_string(
            "setDevName",
            "guest",
            "guest-pw1",
            &[("devName", "visited")],
        );
        let outcome = cam.query(&set).await;
        assert_eq!((outcome.code, outcome.command), (-3, Some("setDevName")));
        // A visitor's getter of visitor privilege runs; an admin getter does not.
        let sub = query_string("getSubVideoStreamParam", "guest", "guest-pw1", &[]);
        assert_eq!(cam.query(&sub).await.code, 0);
        let users = query_string("getUserList", "guest", "guest-pw1", &[]);
        assert_eq!(cam.query(&users).await.code, -3);
        let outcome = cam.cgi("getDevName", &[]).await;
        assert_eq!(field(&outcome.reply, "devName"), Some("ipcamd-sim"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn test_bad_value_minus_1_pending_command_minus_4_missing_upload_minus_1() {
        let cam = SimCamera::start().await;
        assert_eq!(cam.cgi("setDevName", &[("devName", "")]).await.code, -1);
        assert_eq!(
            cam.cgi("setBrightness", &[("brightness", "101")])
                .await
                .code,
            -1
        );
        assert_eq!(cam.cgi("getGeneratePubKey", &[]).await.code, -4);
        // importConfig needs its multipart POST.
        assert_eq!(cam.cgi("importConfig", &[]).await.code, -1);
        let outcome = cam.cgi("setDevName", &[("devName", "hall")]).await;
        assert_eq!(outcome.code, 0);
        let outcome = cam.cgi("getDevName", &[]).await;
        assert_eq!(field(&outcome.reply, "devName"), Some("hall"));
    }
}
