//! What an alarm sets off, per the source's `linkage` bits (setMotionDetectConfig,
//! setIOAlarmConfig): bit0 ring, bit1 mail, bit2 snap, bit3 record. Unknown bits are stored
//! by the setters and ignored here, except bit4, which the guide's own examples send
//! (`linkage=16`) without documenting it: ipcamd reads it as "alarm output" (see
//! [`Linkage::ALARM_OUTPUT`]).
//!
//! - Ring: getDevState shows the alarm (the alarm sources set their state whatever the
//!   linkage, since the detector's state is observable), the PC audio alarm counter is raised
//!   when setPCAudioAlarmCfg enables it, and for the IO alarm the alarm output is driven.
//! - Mail: a mail with the snapshot attached, sent on a background thread.
//! - Snap: the snapshot saved on the SD card (`<card>/snap/MDYYYYMMDD-HHMMSS.jpg` for motion,
//!   `IO...` for the IO alarm) or uploaded over FTP, per setSnapConfig's saveLocation (0 SD,
//!   2 FTP), on a background thread.
//! - Record: every alarm goes to the recorder over its channel ([`super::AlarmEvent`]) with
//!   whether the record bit is set; the recorder records alarmRecordSecs for the bit, and
//!   localAlarmRecordSecs for any alarm when setLocalAlarmRecordConfig enables it.
//!
//! Nothing here blocks the caller on the network or the card: failures are logged.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::Alarms;
use super::ftp::{self, FtpTarget};
use super::mail::{self, Mail, SmtpSettings};
use crate::civil_time::CivilTime;
use crate::settings::Snapshot;
use crate::settings::sections::Ftp;

/// Which alarm fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmSource {
    /// The motion detector.
    Motion,
    /// The alarm input terminal.
    IoInput,
}

impl AlarmSource {
    /// Its stored `linkage` bits.
    pub fn linkage(self, settings: &Snapshot) -> Linkage {
        Linkage::from_setting(match self {
            AlarmSource::Motion => settings.motion.linkage,
            AlarmSource::IoInput => settings.io_alarm.linkage,
        })
    }

    /// Words for mails and logs.
    pub fn label(self) -> &'static str {
        match self {
            AlarmSource::Motion => "motion alarm",
            AlarmSource::IoInput => "IO alarm",
        }
    }

    /// Snapshot file name prefix (the stock firmware's "MD" for motion detection).
    pub fn file_prefix(self) -> &'static str {
        match self {
            AlarmSource::Motion => "MD",
            AlarmSource::IoInput => "IO",
        }
    }
}

/// The linkage bits of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Linkage(pub u32);

impl Linkage {
    /// bit0: ring.
    pub const RING: u32 = 1 << 0;
    /// bit1: send mail.
    pub const MAIL: u32 = 1 << 1;
    /// bit2: snap picture.
    pub const SNAP: u32 = 1 << 2;
    /// bit3: record.
    pub const RECORD: u32 = 1 << 3;
    /// bit4 (undocumented, sent by the guide's examples): drive the alarm output. The IO
    /// alarm also drives the output on ring.
    pub const ALARM_OUTPUT: u32 = 1 << 4;

    /// A stored `linkage` value.
    pub fn from_setting(value: i64) -> Linkage {
        Linkage(value.clamp(0, i64::from(u32::MAX)) as u32)
    }

    /// Whether every bit of `bits` is set.
    pub fn has(self, bits: u32) -> bool {
        self.0 & bits == bits
    }

    /// Whether the IO alarm drives its output (ring or alarm-output bit).
    pub fn drives_output(self) -> bool {
        self.0 & (Linkage::RING | Linkage::ALARM_OUTPUT) != 0
    }

    /// An alarm of `source` started: acts on its stored linkage. `snapshot` is the JPEG of
    /// the moment, when there is a picture. Returns the linkage acted on.
    pub fn fire(app: &Alarms, source: AlarmSource, snapshot: Option<Bytes>) -> Linkage {
        let settings = app.parts().settings.snapshot();
        let linkage = source.linkage(&settings);
        let now = Some(app.parts().clock.now());
        if linkage.has(Linkage::RING) && settings.pc_audio_alarm.enabled {
            app.note_pc_audio_alarm();
        }
        if linkage.has(Linkage::MAIL) {
            send_alarm_mail(app, &settings, source, now.as_ref(), snapshot.clone());
        }
        if linkage.has(Linkage::SNAP) {
            match snapshot {
                Some(jpeg) => store_snapshot(app, &settings, source, now.as_ref(), jpeg),
                None => tracing::info!(
                    source = source.label(),
                    "snap linkage: no picture available, nothing to store"
                ),
            }
        }
        if linkage.has(Linkage::RECORD) {
            app.note_record_request();
        }
        app.report_to_recorder(super::AlarmEvent {
            source: source.label(),
            record_linkage: linkage.has(Linkage::RECORD),
        });
        linkage
    }

    /// Another snapshot of a lasting alarm (snapInterval): stored or uploaded if the snap bit
    /// is set.
    pub fn snap(app: &Alarms, source: AlarmSource, snapshot: Bytes) {
        let settings = app.parts().settings.snapshot();
        if source.linkage(&settings).has(Linkage::SNAP) {
            let now = Some(app.parts().clock.now());
            store_snapshot(app, &settings, source, now.as_ref(), snapshot);
        }
    }
}

/// `MD20261125-201503.jpg`.
pub fn snapshot_name(source: AlarmSource, time: Option<&CivilTime>) -> String {
    match time {
        Some(t) => format!(
            "{}{:04}{:02}{:02}-{:02}{:02}{:02}.jpg",
            source.file_prefix(),
            t.year,
            t.month,
            t.day,
            t.hour,
            t.minute,
            t.second
        ),
        None => format!("{}-unknown-time.jpg", source.file_prefix()),
    }
}

fn time_text(time: Option<&CivilTime>) -> String {
    time.map_or_else(
        || "unknown time".to_owned(),
        |t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                t.year, t.month, t.day, t.hour, t.minute, t.second
            )
        },
    )
}

fn send_alarm_mail(
    app: &Alarms,
    settings: &Snapshot,
    source: AlarmSource,
    time: Option<&CivilTime>,
    snapshot: Option<Bytes>,
) {
    let device = settings.dev_name.name.clone();
    let Some(settings) = SmtpSettings::stored(&settings.smtp) else {
        tracing::info!(
            source = source.label(),
            "mail linkage: mail is disabled in the SMTP settings"
        );
        return;
    };
    let subject = format!("{device}: {}", source.label());
    let body = format!(
        "{} on camera \"{device}\" at {} (camera local time).\r\n{}",
        source.label(),
        time_text(time),
        if snapshot.is_some() {
            "The snapshot is attached."
        } else {
            "No picture was available."
        }
    );
    let name = snapshot_name(source, time);
    app.spawn_job("mail", move || {
        let mail = Mail {
            subject: &subject,
            body: &body,
            jpeg: snapshot.as_deref().map(|jpeg| (name.as_str(), jpeg)),
        };
        match mail::send(&settings, &mail) {
            Ok(()) => tracing::info!(server = %settings.server, "alarm mail sent"),
            Err(err) => tracing::warn!(server = %settings.server, %err, "alarm mail failed"),
        }
    });
}

/// The stored FTP settings (setFtpConfig).
pub fn stored_ftp_target(ftp: &Ftp) -> Result<FtpTarget, ftp::FtpError> {
    let port = u16::try_from(ftp.port).unwrap_or(21);
    let (host, port, dir) = ftp::parse_address(&ftp.address, port)?;
    Ok(FtpTarget {
        host,
        port,
        dir,
        user: ftp.user.clone(),
        password: ftp.password.clone(),
        mode: ftp.mode,
    })
}

fn store_snapshot(
    app: &Alarms,
    settings: &Snapshot,
    source: AlarmSource,
    time: Option<&CivilTime>,
    jpeg: Bytes,
) {
    deliver_snapshot(app, settings, snapshot_name(source, time), jpeg);
}

/// Saves `jpeg` as `name` on the SD card (`<card>/snap/`) or uploads it over FTP, per
/// setSnapConfig's saveLocation, on a background thread (alarm snapshots and the recorder's
/// scheduled snapshots).
pub fn deliver_snapshot(app: &Alarms, settings: &Snapshot, name: String, jpeg: Bytes) {
    match settings.snap.save_location {
        2 => {
            let target = match stored_ftp_target(&settings.ftp) {
                Ok(target) => target,
                Err(err) => {
                    tracing::warn!(%err, "snap linkage: FTP settings unusable");
                    return;
                }
            };
            app.spawn_job("ftp", move || match ftp::upload(&target, &name, &jpeg) {
                Ok(()) => tracing::info!(host = %target.host, name, "snapshot uploaded"),
                Err(err) => tracing::warn!(host = %target.host, %err, "snapshot upload failed"),
            });
        }
        0 => {
            let Some(storage) = &app.parts().storage else {
                tracing::warn!("snap linkage: this board has no SD card");
                return;
            };
            if let Some(why) = storage.status().state.why_not_writable() {
                tracing::warn!(name, why, "snapshot not saved");
                return;
            }
            let dir = storage.root().join("snap");
            app.spawn_job("sd", move || match save_file(&dir, &name, &jpeg) {
                Ok(path) => tracing::info!(path = %path.display(), "snapshot saved"),
                Err(err) => tracing::warn!(dir = %dir.display(), %err, "snapshot not saved"),
            });
        }
        other => tracing::info!(
            save_location = other,
            "snap linkage: the snap configuration stores nowhere"
        ),
    }
}

/// Writes `data` as `dir/name`, never overwriting: a second snapshot in the same second gets
/// `-1`, `-2`... before the extension.
fn save_file(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let stem = name.strip_suffix(".jpg").unwrap_or(name);
    for attempt in 0..100u32 {
        let candidate = if attempt == 0 {
            dir.join(name)
        } else {
            dir.join(format!("{stem}-{attempt}.jpg"))
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(mut file) => {
                file.write_all(data)?;
                file.sync_all()?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "too many snapshots in one second",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_snapshot_name_uses_prefix_and_local_time() {
        let t = CivilTime {
            year: 2026,
            month: 11,
            day: 5,
            hour: 7,
            minute: 3,
            second: 9,
            weekday: 3,
        };
        assert_eq!(
            snapshot_name(AlarmSource::Motion, Some(&t)),
            "MD20261105-070309.jpg"
        );
        assert_eq!(
            snapshot_name(AlarmSource::IoInput, Some(&t)),
            "IO20261105-070309.jpg"
        );
    }

    #[test]
    fn test_linkage_bits_and_output_rule() {
        let l = Linkage(Linkage::MAIL | Linkage::SNAP);
        assert!(l.has(Linkage::MAIL) && l.has(Linkage::SNAP) && !l.has(Linkage::RING));
        assert!(!l.drives_output());
        assert!(Linkage(Linkage::RING).drives_output());
        assert!(Linkage(16).drives_output());
        assert!(!Linkage(1 << 9).drives_output());
    }

    #[test]
    fn test_save_file_same_name_twice_keeps_both() {
        let dir = tempfile::tempdir().unwrap();
        let a = save_file(dir.path(), "MD1.jpg", b"one").unwrap();
        let b = save_file(dir.path(), "MD1.jpg", b"two").unwrap();
        assert_ne!(a, b);
        assert_eq!(std::fs::read(&a).unwrap(), b"one");
        assert_eq!(std::fs::read(&b).unwrap(), b"two");
        assert!(b.ends_with("MD1-1.jpg"));
    }
}
