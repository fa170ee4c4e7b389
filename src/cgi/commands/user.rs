//! User-account commands: add/delete/rename accounts, change passwords, log in and out,
//! session list and heartbeat. The guide's rule: an administrator may change any account,
//! everyone else only their own.

use super::super::catalogue::Privilege;
use super::super::command::{Request, is_admin};
use super::super::error::{CgiError, CgiResult, LogInResult, outcome_field};
use super::super::reply::{Fields, Reply};
use crate::accounts::{AccountError, MAX_CREDENTIAL_LEN};
use crate::store::event_log::LogKind;

/// Handlers of this chapter.
fn account_error(err: AccountError) -> CgiError {
    match err {
        AccountError::Invalid(why) => CgiError::Format(why.into()),
        AccountError::NotFound => CgiError::Exec("no such user".into()),
        AccountError::Conflict(why) => CgiError::Exec(why.into()),
        AccountError::WrongPassword => CgiError::Exec("old password does not match".into()),
        AccountError::Store(why) => CgiError::Exec(why),
    }
}

/// A non-administrator may only act on their own account.
fn check_self_or_admin(req: &Request, target: &str) -> CgiResult<()> {
    let user = req.user()?;
    if is_admin(user) || user.name == target {
        Ok(())
    } else {
        Err(CgiError::Denied)
    }
}

/// Add a user account.
pub(crate) fn add_account(req: &Request) -> CgiResult<Reply> {
    let name = req.text("usrName", MAX_CREDENTIAL_LEN)?;
    let password = req.text("usrPwd", MAX_CREDENTIAL_LEN)?;
    let level = req.int("privilege")?;
    let privilege = Privilege::from_level(level)
        .ok_or_else(|| CgiError::field("privilege", "must be 0, 1 or 2"))?;
    req.ctx
        .accounts
        .add(&req.ctx.store, name, password, privilege)
        .map_err(account_error)?;
    tracing::info!(user = %name, level, "account added");
    Ok(Reply::ok())
}

/// Delete a user account.
pub(crate) fn del_account(req: &Request) -> CgiResult<Reply> {
    let name = req.text("usrName", MAX_CREDENTIAL_LEN)?;
    req.ctx
        .accounts
        .delete(&req.ctx.store, name)
        .map_err(account_error)?;
    tracing::info!(user = %name, "account deleted");
    Ok(Reply::ok())
}

/// Change a user's password (old password required unless an admin changes another user).
pub(crate) fn change_password(req: &Request) -> CgiResult<Reply> {
    let name = req.text("usrName", MAX_CREDENTIAL_LEN)?;
    check_self_or_admin(req, name)?;
    let old = req.text("oldPwd", MAX_CREDENTIAL_LEN)?;
    let new = req.text("newPwd", MAX_CREDENTIAL_LEN)?;
    req.ctx
        .accounts
        .change(&req.ctx.store, name, None, Some(old), Some(new))
        .map_err(account_error)?;
    tracing::info!(user = %name, "password changed");
    Ok(Reply::ok())
}

/// Rename a user.
pub(crate) fn change_user_name(req: &Request) -> CgiResult<Reply> {
    let name = req.text("usrName", MAX_CREDENTIAL_LEN)?;
    check_self_or_admin(req, name)?;
    let new_name = req.text("newUsrName", MAX_CREDENTIAL_LEN)?;
    req.ctx
        .accounts
        .change(&req.ctx.store, name, Some(new_name), None, None)
        .map_err(account_error)?;
    tracing::info!(user = %name, new_name = %new_name, "account renamed");
    Ok(Reply::ok())
}

/// Rename a user and change the password in one step.
pub(crate) fn change_user_name_and_pwd_together(req: &Request) -> CgiResult<Reply> {
    let name = req.text("usrName", MAX_CREDENTIAL_LEN)?;
    check_self_or_admin(req, name)?;
    let new_name = req.text("newUsrName", MAX_CREDENTIAL_LEN)?;
    let old = req.text("oldPwd", MAX_CREDENTIAL_LEN)?;
    let new = req.text("newPwd", MAX_CREDENTIAL_LEN)?;
    req.ctx
        .accounts
        .change(&req.ctx.store, name, Some(new_name), Some(old), Some(new))
        .map_err(account_error)?;
    tracing::info!(user = %name, new_name = %new_name, "account renamed and password changed");
    Ok(Reply::ok())
}

fn client_ip(req: &Request, key: &str) -> String {
    req.query
        .get(key)
        .filter(|ip| !ip.is_empty() && ip.len() <= 45)
        .map(str::to_owned)
        .unwrap_or_else(|| req.peer.to_string())
}

fn group_id(req: &Request) -> CgiResult<String> {
    let raw = req.query.get("groupId").unwrap_or("").trim();
    if raw.len() > 20 || !raw.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return Err(CgiError::field("groupId", "not a number"));
    }
    Ok(raw.to_owned())
}

/// Log in: opens a session. Its own outcome is in `logInResult`.
pub(crate) fn log_in(req: &Request) -> CgiResult<Reply> {
    let caller = req.user()?;
    let result_of = |result: LogInResult, privilege: Option<Privilege>| {
        let mut fields = Fields::new().with("logInResult", result.code());
        if let Some(p) = privilege {
            fields.push("privilege", p.level());
        }
        Ok(Reply::Xml(fields))
    };
    let Some(name) = req
        .query
        .get("usrName")
        .filter(|n| n.len() <= MAX_CREDENTIAL_LEN)
    else {
        return result_of(LogInResult::Format, None);
    };
    let Ok(group) = group_id(req) else {
        return result_of(LogInResult::Format, None);
    };
    // The request's own credentials (usr/pwd; logIn's pwd is the same key) were verified by
    // the dispatcher. Logging in as someone else needs that user's password: the only pwd
    // on the wire is the caller's, so it must be the same user.
    if name != caller.name {
        let exists = req.ctx.store.accounts()?.iter().any(|a| a.name == name);
        let refused = if exists {
            LogInResult::WrongPassword
        } else {
            LogInResult::NoSuchUser
        };
        return result_of(refused, None);
    }
    let ip = client_ip(req, "remoteIp");
    if req.ctx.accounts.log_in(name, &ip, &group).is_err() {
        return result_of(LogInResult::SessionsFull, None);
    }
    req.ctx.log.record(LogKind::Login, name, &ip);
    result_of(LogInResult::Success, Some(caller.privilege))
}

/// Log out: closes the session.
pub(crate) fn log_out(req: &Request) -> CgiResult<Reply> {
    let caller = req.user()?;
    let name = req.query.get("usrName").unwrap_or(&caller.name).to_owned();
    check_self_or_admin(req, &name)?;
    let group = group_id(req)?;
    let ip = client_ip(req, "ip");
    let closed = req.ctx.accounts.log_out(&name, &ip, &group);
    if closed {
        req.ctx.log.record(LogKind::Logout, &name, &ip);
    }
    Ok(Reply::Xml(
        Fields::new().with("logOutResult", outcome_field(closed)),
    ))
}

/// List active sessions.
pub(crate) fn get_session_list(req: &Request) -> CgiResult<Reply> {
    let sessions = req.ctx.accounts.sessions();
    let mut fields = Fields::new().with("usrCnt", sessions.len());
    for (i, s) in sessions.iter().enumerate() {
        fields.push(format!("usr{i}"), &s.user);
    }
    Ok(Reply::Xml(fields))
}

/// List accounts with their privileges.
pub(crate) fn get_user_list(req: &Request) -> CgiResult<Reply> {
    let accounts = req.ctx.store.accounts()?;
    let mut fields = Fields::new().with("usrCnt", accounts.len());
    for (i, a) in accounts.iter().enumerate() {
        fields.push(format!("usr{i}"), &a.name);
    }
    Ok(Reply::Xml(fields))
}

/// Keep a session alive. 0 when the session exists, -1 otherwise.
pub(crate) fn usr_beat_heart(req: &Request) -> CgiResult<Reply> {
    let caller = req.user()?;
    let name = req.query.get("usrName").unwrap_or(&caller.name).to_owned();
    let group = group_id(req)?;
    let ip = req
        .query
        .get_any("remoteIp", &["ip"])
        .filter(|ip| !ip.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| req.peer.to_string());
    let alive = name == caller.name && req.ctx.accounts.heartbeat(&name, &ip, &group);
    Ok(Reply::Xml(
        Fields::new().with("checkResult", outcome_field(alive)),
    ))
}
