//! Alarm mail: the SMTP settings (setSMTPConfig / smtpTest parameters) and a real SMTP client
//! (lettre's blocking transport) that sends alarm mails with the snapshot attached and
//! smtpTest's test mail. Callers run it on a worker thread; a send never blocks detection.
//!
//! Transport security follows the guide's `tls`: 0 none (plain SMTP, no STARTTLS attempt),
//! 1 TLS (implicit TLS from the first byte, usually port 465), 2 STARTTLS (usually port 587;
//! the upgrade is required). Certificates are checked against the Mozilla roots compiled in
//! (webpki-roots): a camera has no system CA store to rely on. Passwords are never logged.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::{Message, SmtpTransport, Transport};

use crate::settings::sections::Smtp;

/// Connect, read and write timeout of one SMTP session.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// The guide's `tls` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailSecurity {
    /// 0: plain SMTP.
    None,
    /// 1: implicit TLS.
    Tls,
    /// 2: STARTTLS.
    StartTls,
}

impl MailSecurity {
    /// From the guide's value; unknown values are `None` (refused by the caller).
    pub fn from_guide(value: i64) -> Option<MailSecurity> {
        match value {
            0 => Some(MailSecurity::None),
            1 => Some(MailSecurity::Tls),
            2 => Some(MailSecurity::StartTls),
            _ => None,
        }
    }
}

/// Everything needed to send a mail.
#[derive(Clone)]
pub struct SmtpSettings {
    /// Server host name or address.
    pub server: String,
    /// Server port.
    pub port: u16,
    /// Transport security.
    pub security: MailSecurity,
    /// Log in before sending.
    pub need_auth: bool,
    /// Login name.
    pub user: String,
    /// Login password (never logged: [`std::fmt::Debug`] redacts it).
    pub password: String,
    /// Envelope and header sender.
    pub sender: String,
    /// Recipients (the guide's `reciever`, ',' separated).
    pub receivers: Vec<String>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("server", &self.server)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("need_auth", &self.need_auth)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("sender", &self.sender)
            .field("receivers", &self.receivers)
            .finish()
    }
}

/// Splits the guide's receiver list (',' or ';' separated, blanks ignored).
pub fn parse_receivers(list: &str) -> Vec<String> {
    list.split([',', ';'])
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

impl SmtpSettings {
    /// The stored settings (setSMTPConfig), or `None` when mail is disabled.
    pub fn stored(smtp: &Smtp) -> Option<SmtpSettings> {
        if !smtp.enabled {
            return None;
        }
        let security = MailSecurity::from_guide(smtp.tls).unwrap_or(MailSecurity::None);
        Some(SmtpSettings {
            server: smtp.server.clone(),
            port: u16::try_from(smtp.port).unwrap_or(25),
            security,
            need_auth: smtp.need_auth,
            user: smtp.user.clone(),
            password: smtp.password.clone(),
            sender: smtp.sender.clone(),
            receivers: parse_receivers(&smtp.receivers),
        })
    }
}

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A setting is unusable (no server, bad address, no receiver).
    #[error("mail settings: {0}")]
    Settings(String),
    /// The SMTP session failed (connection, TLS, authentication, refusal).
    #[error("SMTP: {0}")]
    Smtp(String),
}

/// A mail to send.
pub struct Mail<'a> {
    /// Subject line.
    pub subject: &'a str,
    /// Plain-text body.
    pub body: &'a str,
    /// JPEG attachment (file name, bytes).
    pub jpeg: Option<(&'a str, &'a [u8])>,
}

fn mailbox(address: &str, what: &str) -> Result<Mailbox, MailError> {
    address
        .parse()
        .map_err(|e| MailError::Settings(format!("{what} {address:?}: {e}")))
}

fn build_message(settings: &SmtpSettings, mail: &Mail<'_>) -> Result<Message, MailError> {
    if settings.receivers.is_empty() {
        return Err(MailError::Settings("no receiver".into()));
    }
    let mut builder = Message::builder()
        .from(mailbox(&settings.sender, "sender")?)
        .subject(mail.subject);
    for receiver in &settings.receivers {
        builder = builder.to(mailbox(receiver, "receiver")?);
    }
    let text = SinglePart::plain(mail.body.to_owned());
    let message = match mail.jpeg {
        None => builder.singlepart(text),
        Some((name, jpeg)) => {
            let jpeg_type = ContentType::parse("image/jpeg")
                .map_err(|e| MailError::Settings(format!("content type: {e}")))?;
            let attachment = Attachment::new(name.to_owned()).body(jpeg.to_vec(), jpeg_type);
            builder.multipart(MultiPart::mixed().singlepart(text).singlepart(attachment))
        }
    };
    message.map_err(|e| MailError::Settings(format!("building the message: {e}")))
}

fn transport(settings: &SmtpSettings) -> Result<SmtpTransport, MailError> {
    if settings.server.is_empty() {
        return Err(MailError::Settings("no SMTP server".into()));
    }
    let tls_error = |e: lettre::transport::smtp::Error| MailError::Smtp(format!("TLS setup: {e}"));
    let builder = match settings.security {
        MailSecurity::None => SmtpTransport::builder_dangerous(settings.server.as_str()),
        MailSecurity::Tls => SmtpTransport::relay(&settings.server).map_err(tls_error)?,
        MailSecurity::StartTls => {
            SmtpTransport::starttls_relay(&settings.server).map_err(tls_error)?
        }
    };
    let mut builder = builder.port(settings.port).timeout(Some(SMTP_TIMEOUT));
    if settings.need_auth {
        builder = builder
            .credentials(Credentials::new(
                settings.user.clone(),
                settings.password.clone(),
            ))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    Ok(builder.build())
}

/// Sends one mail over a new SMTP session (blocking: call it on a worker thread).
pub fn send(settings: &SmtpSettings, mail: &Mail<'_>) -> Result<(), MailError> {
    let message = build_message(settings, mail)?;
    let transport = transport(settings)?;
    transport
        .send(&message)
        .map(|_| ())
        .map_err(|e| MailError::Smtp(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SmtpSettings {
        SmtpSettings {
            server: "127.0.0.1".into(),
            port: 25,
            security: MailSecurity::None,
            need_auth: true,
            user: "cam".into(),
            password: "secret-word".into(),
            sender: "cam@example.com".into(),
            receivers: vec!["a@example.com".into(), "b@example.com".into()],
        }
    }

    #[test]
    fn test_parse_receivers_list_with_blanks_splits_and_trims() {
        assert_eq!(
            parse_receivers(" a@x.org, b@y.org,,;c@z.org "),
            vec!["a@x.org", "b@y.org", "c@z.org"]
        );
        assert!(parse_receivers("").is_empty());
    }

    #[test]
    fn test_settings_debug_redacts_password() {
        let text = format!("{:?}", settings());
        assert!(!text.contains("secret-word"), "{text}");
        assert!(text.contains("<redacted>"));
    }

    #[test]
    fn test_build_message_with_jpeg_has_attachment_and_all_receivers() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xD9];
        let mail = Mail {
            subject: "alarm",
            body: "motion",
            jpeg: Some(("snap.jpg", &jpeg)),
        };
        let message = build_message(&settings(), &mail).unwrap();
        let text = String::from_utf8(message.formatted()).unwrap();
        assert!(text.contains("image/jpeg"), "{text}");
        assert!(text.contains("snap.jpg"), "{text}");
        assert!(text.contains("a@example.com") && text.contains("b@example.com"));
    }

    #[test]
    fn test_build_message_without_receiver_is_refused() {
        let mut s = settings();
        s.receivers.clear();
        let mail = Mail {
            subject: "t",
            body: "t",
            jpeg: None,
        };
        assert!(matches!(
            build_message(&s, &mail),
            Err(MailError::Settings(_))
        ));
    }

    #[test]
    fn test_mail_security_from_guide_values() {
        assert_eq!(MailSecurity::from_guide(0), Some(MailSecurity::None));
        assert_eq!(MailSecurity::from_guide(1), Some(MailSecurity::Tls));
        assert_eq!(MailSecurity::from_guide(2), Some(MailSecurity::StartTls));
        assert_eq!(MailSecurity::from_guide(3), None);
    }
}
