//! The dispatcher: find the command in the table, authenticate, check privilege and setup
//! mode, run the handler on a blocking thread with a deadline, map the outcome to the guide's
//! result code.
//!
//! # The deadline and the store
//! A handler still running after [`COMMAND_DEADLINE`] is answered -5 only if it has not begun
//! to commit a store write: each request runs under a [`CommitGate`] (see
//! [`crate::store::commit`]). On the deadline the dispatcher moves the gate running →
//! timed-out and answers -5; the handler keeps running (a blocking thread cannot be stopped)
//! but every store write it then tries is refused and rolled back, so a -5 never leaves a
//! changed setting, account, preset or cruise map. If the handler had already begun
//! committing, the dispatcher waits for it and answers its own result. What a timed-out
//! handler may still have done is what it did outside the store: hardware through the HAL
//! (a picture control, a PTZ move, the IR LED, the alarm output), files (snapshots, exports)
//! and in-memory state (sessions); the store keeps the old setting, so the next start
//! applies the old one again.

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
use crate::store::commit::CommitGate;

pub use super::command::{COMMAND_DEADLINE, UPLOAD_COMMAND_DEADLINE};

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
    let finished = run_with_deadline(CommitGate::new(), command.deadline, move || {
        run(&ctx, &query, command, spec, peer, upload.as_deref())
    })
    .await;
    match finished {
        Finished::Done(Ok(reply)) => Outcome {
            code: 0,
            reply,
            command: Some(spec.name),
        },
        Finished::Done(Err(err)) => {
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
        Finished::Panicked(join) => {
            tracing::error!(cmd = spec.name, error = %join, "command handler panicked");
            Outcome::error(
                &CgiError::Unknown("handler panicked".into()),
                Some(spec.name),
            )
        }
        Finished::TimedOut => {
            limited!(
                warn,
                "command deadline",
                cmd = spec.name,
                "command deadline passed; answered -5, nothing stored"
            );
            Outcome::error(&CgiError::Timeout("deadline".into()), Some(spec.name))
        }
    }
}

/// How a handler run under a deadline ended.
#[derive(Debug)]
enum Finished<T> {
    /// It returned (in time, or after the deadline but having begun to commit).
    Done(CgiResult<T>),
    /// It panicked.
    Panicked(tokio::task::JoinError),
    /// The deadline passed before it began to commit: answer -5; it can no longer write.
    TimedOut,
}

/// Runs `work` on a blocking thread under `gate`, for at most `deadline` unless it is
/// committing by then (see the module docs).
async fn run_with_deadline<T: Send + 'static>(
    gate: std::sync::Arc<CommitGate>,
    deadline: Duration,
    work: impl FnOnce() -> CgiResult<T> + Send + 'static,
) -> Finished<T> {
    let handler_gate = gate.clone();
    let mut task = tokio::task::spawn_blocking(move || {
        let _entered = handler_gate.enter();
        work()
    });
    let joined = match tokio::time::timeout(deadline, &mut task).await {
        Ok(joined) => joined,
        Err(_) if gate.time_out() => return Finished::TimedOut,
        Err(_) => {
            tracing::info!("command deadline passed while it commits; waiting for its result");
            task.await
        }
    };
    match joined {
        Ok(result) => Finished::Done(result),
        Err(join) => Finished::Panicked(join),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgi::reply::Reply;
    use crate::daemon::testing::{SimCamera, query_string};
    use crate::store::{Store, StoreError};

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

    fn store() -> (tempfile::TempDir, Arc<Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("ipcamd.db")).unwrap());
        store
            .set_section("osd", &[("isEnableTimeStamp", "0")])
            .unwrap();
        (dir, store)
    }

    fn stamp(store: &Store) -> Option<String> {
        store.setting("osd", "isEnableTimeStamp").unwrap()
    }

    fn wait_for(gate: &CommitGate) {
        while !gate.deadline_passed() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[tokio::test]
    async fn test_a_handler_that_writes_after_its_deadline_writes_nothing() {
        let (_dir, store) = store();
        let gate = CommitGate::new();
        let (wrote, written) = std::sync::mpsc::channel();
        let (handler_gate, handler_store) = (gate.clone(), store.clone());
        let finished = run_with_deadline(gate, Duration::from_millis(10), move || {
            wait_for(&handler_gate);
            let result = handler_store.set_section("osd", &[("isEnableTimeStamp", "1")]);
            let refused = matches!(result, Err(StoreError::TimedOut));
            wrote.send(refused).unwrap();
            result.map_err(CgiError::from)
        })
        .await;
        assert!(matches!(finished, Finished::TimedOut), "{finished:?}");
        assert!(written.recv().unwrap(), "the late write is refused");
        assert_eq!(
            stamp(&store).as_deref(),
            Some("0"),
            "the setting is unchanged"
        );
    }

    #[tokio::test]
    async fn test_a_handler_held_by_a_busy_store_past_its_deadline_writes_nothing() {
        let (dir, store) = store();
        // Another connection holds the write lock: the handler's write waits in SQLite.
        let other = rusqlite::Connection::open(dir.path().join("ipcamd.db")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (wrote, written) = std::sync::mpsc::channel();
        let handler_store = store.clone();
        let finished = run_with_deadline(CommitGate::new(), Duration::from_millis(10), move || {
            let result = handler_store.set_section("osd", &[("isEnableTimeStamp", "1")]);
            wrote.send(result.is_err()).unwrap();
            result.map_err(CgiError::from)
        })
        .await;
        assert!(matches!(finished, Finished::TimedOut), "{finished:?}");
        other.execute_batch("ROLLBACK").unwrap();
        assert!(written.recv().unwrap(), "the handler's write failed");
        assert_eq!(
            stamp(&store).as_deref(),
            Some("0"),
            "the setting is unchanged"
        );
    }

    #[tokio::test]
    async fn test_a_handler_committing_at_its_deadline_is_answered_with_its_result() {
        let (_dir, store) = store();
        let gate = CommitGate::new();
        let (handler_gate, handler_store) = (gate.clone(), store.clone());
        // A deadline long enough for the write to begin first, however slow the machine.
        let finished = run_with_deadline(gate, Duration::from_secs(1), move || {
            handler_store.set_section("osd", &[("isEnableTimeStamp", "1")])?;
            wait_for(&handler_gate);
            Ok(7)
        })
        .await;
        assert!(matches!(finished, Finished::Done(Ok(7))), "{finished:?}");
        assert_eq!(stamp(&store).as_deref(), Some("1"));
    }

    #[tokio::test]
    async fn test_a_handler_in_time_is_answered_with_its_result() {
        let finished = run_with_deadline(CommitGate::new(), COMMAND_DEADLINE, || {
            Err::<(), _>(CgiError::Denied)
        })
        .await;
        assert!(matches!(finished, Finished::Done(Err(CgiError::Denied))));
    }
}
