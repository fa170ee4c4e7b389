//! Alarm and switch commands that act rather than store: clearIOAlarmOutput, smtpTest,
//! testFtpServer, openInfraLed and closeInfraLed. The settings they use are the plain
//! sections of `config.rs`; the work is in `crate::alarm` and `crate::ir`.

use super::super::command::Request;
use super::super::error::{CgiError, CgiResult, outcome_field};
use super::super::reply::{Fields, Reply};
use crate::alarm::ftp::{self, FtpError, FtpTarget};
use crate::alarm::mail::{self, Mail, MailSecurity, SmtpSettings, parse_receivers};

/// Longest host name or address accepted.
const MAX_HOST: usize = 127;
/// Longest user, password or address field accepted.
const MAX_TEXT: usize = 127;

/// clearIOAlarmOutput: releases the alarm output and dismisses the current IO alarm.
pub(crate) fn clear_io_alarm_output(req: &Request) -> CgiResult<Reply> {
    req.ctx.alarms.clear_io_output()?;
    tracing::info!("IO alarm output cleared");
    Ok(Reply::ok())
}

fn test_result(ok: bool) -> Reply {
    Reply::Xml(Fields::new().with("testResult", outcome_field(ok)))
}

/// smtpTest: sends a real test mail with the given server parameters (not the stored ones)
/// to the stored receivers (or a `reciever` parameter, when given).
pub(crate) fn smtp_test(req: &Request) -> CgiResult<Reply> {
    let server = req.text("smtpServer", MAX_HOST)?.trim().to_owned();
    let port = req.int("port")?;
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| CgiError::field("port", "out of range"))?;
    let need_auth = req.int("isNeedAuth")? == 1;
    let security = match req.opt_int("tls")? {
        None => MailSecurity::None,
        Some(value) => MailSecurity::from_guide(value)
            .ok_or_else(|| CgiError::field("tls", "not 0, 1 or 2"))?,
    };
    let user = req.raw("user").unwrap_or_default();
    let password = req.raw("password").unwrap_or_default();
    let sender = req.text("sender", MAX_TEXT)?;
    let receivers = match req.raw("reciever") {
        Some(list) => parse_receivers(list),
        None => parse_receivers(&req.ctx.settings.snapshot().smtp.receivers),
    };
    for (name, value) in [("user", user), ("password", password)] {
        super::super::command::check_text(name, value, MAX_TEXT)?;
    }
    let settings = SmtpSettings {
        server,
        port,
        security,
        need_auth,
        user: user.to_owned(),
        password: password.to_owned(),
        sender: sender.to_owned(),
        receivers,
    };
    let device = req.ctx.settings.snapshot().dev_name.name.clone();
    let subject = format!("{device}: test mail");
    let body = format!("This is a test mail from camera \"{device}\": its mail settings work.\r\n");
    let mail = Mail {
        subject: &subject,
        body: &body,
        jpeg: None,
    };
    match mail::send(&settings, &mail) {
        Ok(()) => {
            tracing::info!(server = %settings.server, "smtpTest: test mail sent");
            Ok(test_result(true))
        }
        Err(err) => {
            tracing::warn!(server = %settings.server, %err, "smtpTest failed");
            Ok(test_result(false))
        }
    }
}

/// testFtpServer: connects, logs in and enters the directory of the given parameters.
pub(crate) fn test_ftp_server(req: &Request) -> CgiResult<Reply> {
    let address = req.text("ftpAddr", MAX_TEXT)?;
    let port = u16::try_from(req.int("ftpPort")?)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| CgiError::field("ftpPort", "out of range"))?;
    let mode = req.int("mode")?;
    let user = req.raw("userName").unwrap_or_default();
    let password = req.raw("password").unwrap_or_default();
    for (name, value) in [("userName", user), ("password", password)] {
        super::super::command::check_text(name, value, MAX_TEXT)?;
    }
    let (host, port, dir) = match ftp::parse_address(address, port) {
        Ok(parts) => parts,
        Err(err) => {
            tracing::info!(%err, "testFtpServer: bad address");
            return Ok(test_result(false));
        }
    };
    let target = FtpTarget {
        host,
        port,
        dir,
        user: user.to_owned(),
        password: password.to_owned(),
        mode,
    };
    match ftp::check(&target) {
        Ok(()) => {
            tracing::info!(host = %target.host, "testFtpServer: server reachable");
            Ok(test_result(true))
        }
        Err(FtpError::ActiveModeUnsupported) => {
            tracing::info!("testFtpServer: active mode (PORT) is not supported");
            Err(CgiError::Exec("FTP active mode is not supported".into()))
        }
        Err(err) => {
            tracing::warn!(host = %target.host, %err, "testFtpServer failed");
            Ok(test_result(false))
        }
    }
}

fn switch_infra_led(req: &Request, on: bool) -> CgiResult<Reply> {
    if req.ctx.hal.ir_led.is_none() {
        tracing::info!("IR LED command: this board has no IR LED");
        return Err(CgiError::Exec("no IR LED".into()));
    }
    // Manual switching is only meaningful in manual mode (1); in auto mode the light decides
    // and the command fails as the stock firmware's does.
    if req.ctx.settings.snapshot().infra_led.mode != 1 {
        return Ok(Reply::Xml(
            Fields::new().with("ctrlResult", outcome_field(false)),
        ));
    }
    req.ctx.ir.set_manual(on)?;
    Ok(Reply::Xml(
        Fields::new().with("ctrlResult", outcome_field(true)),
    ))
}

/// Switch the IR LED on (manual mode).
pub(crate) fn open_infra_led(req: &Request) -> CgiResult<Reply> {
    switch_infra_led(req, true)
}

/// Switch the IR LED off (manual mode).
pub(crate) fn close_infra_led(req: &Request) -> CgiResult<Reply> {
    switch_infra_led(req, false)
}
