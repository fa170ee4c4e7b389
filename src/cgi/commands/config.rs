//! Every plain get/set configuration pair of the guide: the commands the table gives a
//! settings section and one of [`get_section`] / [`set_section`].
//!
//! A setter validates each parameter it is given against the catalogue's type, range and
//! enumeration plus the rules below (ranges the guide leaves unstated, text lengths,
//! cross-field checks), applies it to the hardware where the setting drives hardware, and only
//! then writes all of it in one transaction: a rejected value changes nothing. A parameter left
//! out keeps its current value; a setter given none of its parameters is a format error.
//! A getter returns every field the guide lists, in the guide's order, from the typed settings
//! snapshot (stored value or factory value: the section structs in `crate::settings` own both).

use std::net::Ipv4Addr;
use std::sync::Arc;

use ipcamd_hal::video::ImageControl;

use super::super::catalogue::{FieldKind, FieldSpec};
use super::super::command::{Request, check_range, check_text, parse_int};
use super::super::error::{CgiError, CgiResult};
use super::super::reply::{Fields, Reply};
use crate::settings::Snapshot;

/// What the guide leaves open, decided here: ranges of integer fields and lengths of text.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Inclusive integer range.
    Range(i64, i64),
    /// One of these integers.
    OneOf(&'static [i64]),
    /// Text of at most this many characters.
    Text(usize),
    /// Text of 1 to this many characters.
    NonEmptyText(usize),
    /// A firewall entry: a dotted quad or its integer form, or 0 for "unused".
    IpOrZero,
}

/// Default text length where no rule says otherwise.
const DEFAULT_TEXT_LEN: usize = 63;

fn rule(section: &str, field: &str) -> Option<Rule> {
    use Rule::*;
    let base = field.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_');
    Some(match (section, base) {
        ("motion" | "io_alarm" | "schedule_snap", "snapInterval") => Range(1, 3600),
        ("motion" | "io_alarm", "triggerInterval") => Range(0, 3600),
        ("local_alarm_record", "localAlarmRecordSecs") => Range(1, 3600),
        ("alarm_record", "preRecordSecs") => Range(0, 60),
        ("alarm_record", "alarmRecordSecs") => Range(1, 3600),
        ("osd_mask_area", "x" | "y") => Range(0, 10_000),
        ("cruise_time", "time") | ("cruise_time_customed", "time") => Range(1, 86_400),
        ("cruise_loop", "count") => Range(1, 10_000),
        ("rs485", "rs485Protocol") => OneOf(&[0, 1]),
        ("rs485", "rs485Addr") => Range(0, 255),
        ("rs485", "rs485Baud") => OneOf(&[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115_200]),
        ("rs485", "rs485DataBit") => OneOf(&[5, 6, 7, 8]),
        ("rs485", "rs485StopBit") => OneOf(&[1, 2]),
        ("rs485", "rs485Check") => OneOf(&[0, 1, 2]),
        ("ports", _) | ("p2p_port", "port") | ("ftp", "ftpPort") | ("smtp", "port") => {
            Range(1, 65_535)
        }
        ("infra_led_schedule", "startHour" | "endHour") => Range(0, 23),
        ("infra_led_schedule", "startMin" | "endMin") => Range(0, 59),
        ("dev_name", "devName") => NonEmptyText(20),
        ("ftp", "ftpAddr") => Text(127),
        ("smtp", "reciever") => Text(255),
        ("wifi", "key") => Text(63),
        ("firewall", "ipList") => IpOrZero,
        ("firewall", "rule") => OneOf(&[0, 1]),
        _ => return None,
    })
}

/// Validates one value; returns it normalised for storage.
fn validate(section: &str, field: &FieldSpec, raw: &str) -> CgiResult<String> {
    let rule = rule(section, field.name);
    match (rule, field.kind) {
        (Some(Rule::Text(max)), _) => {
            check_text(field.name, raw, max)?;
            Ok(raw.to_owned())
        }
        (Some(Rule::NonEmptyText(max)), _) => {
            if raw.trim().is_empty() {
                return Err(CgiError::field(field.name, "empty"));
            }
            check_text(field.name, raw, max)?;
            Ok(raw.to_owned())
        }
        (Some(Rule::IpOrZero), _) => match crate::listener::firewall::parse_entry(raw) {
            Some(entry) => Ok(crate::listener::firewall::entry_text(entry)),
            None => Err(CgiError::field(field.name, "not an IPv4 address")),
        },
        (_, FieldKind::Str) => {
            check_text(field.name, raw, DEFAULT_TEXT_LEN)?;
            Ok(raw.to_owned())
        }
        (_, FieldKind::Ip) => {
            let raw = raw.trim();
            match raw.parse::<Ipv4Addr>() {
                Ok(addr) => Ok(addr.to_string()),
                Err(_) => Err(CgiError::field(field.name, "not an IPv4 address")),
            }
        }
        (rule, FieldKind::Int | FieldKind::Bool01 | FieldKind::Bitmask) => {
            let value = parse_int(field.name, raw, Some(field))?;
            match rule {
                Some(Rule::Range(lo, hi)) if !(lo..=hi).contains(&value) => {
                    Err(CgiError::field(field.name, "out of range"))
                }
                Some(Rule::OneOf(values)) if !values.contains(&value) => {
                    Err(CgiError::field(field.name, "not an allowed value"))
                }
                _ => Ok(value.to_string()),
            }
        }
    }
}

/// The settings section of a command (the table gives every getter and setter here one).
fn section_name(req: &Request) -> CgiResult<&'static str> {
    req.command
        .settings
        .ok_or_else(|| CgiError::Unknown(format!("{} has no settings section", req.spec.name)))
}

/// The current value of `key` in `section`.
fn current(snapshot: &Snapshot, section: &str, key: &str) -> CgiResult<String> {
    snapshot
        .section(section)
        .and_then(|s| s.value(key))
        .ok_or_else(|| CgiError::Unknown(format!("no setting {section}.{key}")))
}

/// A plain getter: every field the guide lists, stored or default, plus the alternate
/// spellings the guide prints for some of them.
pub(crate) fn get_section(req: &Request) -> CgiResult<Reply> {
    let section = section_name(req)?;
    let snapshot = req.ctx.settings.snapshot();
    let mut fields = Fields::new();
    for field in req.spec.returns {
        let value = current(&snapshot, section, field.name)?;
        for alias in field.aliases {
            fields.push(*alias, &value);
        }
        fields.push(field.name, value);
    }
    Ok(Reply::Xml(fields))
}

/// A setter's parameters validated (each field, then the rules between fields), normalised
/// for storage, with the snapshot they were checked against. Nothing is applied or stored.
pub(crate) type Validated = (&'static str, Vec<(&'static str, String)>, Arc<Snapshot>);

/// Validates a setter's parameters as [`set_section`] does, for setters that apply their
/// section themselves before storing it.
pub(crate) fn validated(req: &Request) -> CgiResult<Validated> {
    let section = section_name(req)?;
    let mut values: Vec<(&'static str, String)> = Vec::new();
    for field in req.spec.params {
        if let Some(raw) = req.query.get_any(field.name, field.aliases) {
            values.push((field.name, validate(section, field, raw)?));
        }
    }
    if values.is_empty() {
        return Err(CgiError::Format(format!(
            "{} needs at least one parameter",
            req.spec.name
        )));
    }
    let snapshot = req.ctx.settings.snapshot();
    cross_check(&snapshot, section, &values)?;
    Ok((section, values, snapshot))
}

/// `section`'s current typed value with validated `values` applied.
pub(crate) fn merged<S: crate::settings::Section>(
    current: &S,
    values: &[(&'static str, String)],
) -> CgiResult<S> {
    let mut merged = current.clone();
    for (key, value) in values {
        if merged.set(key, value) != Some(true) {
            return Err(CgiError::field(key, "not a value of this setting"));
        }
    }
    Ok(merged)
}

/// Stores validated values in one transaction.
pub(crate) fn store(
    req: &Request,
    section: &'static str,
    values: &[(&'static str, String)],
) -> CgiResult<()> {
    let pairs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    req.ctx.settings.write(section, &pairs)?;
    Ok(())
}

/// A plain setter.
pub(crate) fn set_section(req: &Request) -> CgiResult<Reply> {
    let (section, values, snapshot) = validated(req)?;
    apply_to_hardware(req, &values)?;
    if section == "rs485" {
        apply_serial_settings(req, &snapshot, &values)?;
    }
    if section == "h264_frame_ref" {
        check_frame_reference_mode(req, &values)?;
    }
    if matches!(section, "record_stream" | "sub_stream_format") {
        check_recorded_sub_stream(req, section, &values)?;
    }
    store(req, section, &values)?;
    Ok(Reply::ok())
}

/// Rules between fields of one setter.
fn cross_check(
    snapshot: &Snapshot,
    section: &str,
    values: &[(&'static str, String)],
) -> CgiResult<()> {
    let value = |name: &str| -> CgiResult<String> {
        match values.iter().find(|(k, _)| *k == name) {
            Some((_, v)) => Ok(v.clone()),
            None => current(snapshot, section, name),
        }
    };
    match section {
        "osd_mask_area" => {
            for n in 0..4 {
                let num = |axis: &str| -> CgiResult<i64> {
                    value(&format!("{axis}_{n}"))?
                        .parse()
                        .map_err(|_| CgiError::Exec("bad stored".into()))
                };
                if num("x2")? < num("x1")? || num("y2")? < num("y1")? {
                    return Err(CgiError::field("x2/y2", "mask corner before its origin"));
                }
            }
        }
        "ip" if value("isDHCP")? == "0" => {
            let mask: Ipv4Addr = value("mask")?
                .parse()
                .map_err(|_| CgiError::field("mask", "bad"))?;
            let bits = u32::from(mask);
            if bits.leading_ones() + bits.trailing_zeros() != 32 || bits == 0 {
                return Err(CgiError::field("mask", "not a contiguous netmask"));
            }
            if value("ip")? == "0.0.0.0" {
                return Err(CgiError::field(
                    "ip",
                    "static address needed when DHCP is off",
                ));
            }
        }
        "ports" => {
            let mut seen = Vec::new();
            for name in ["webPort", "mediaPort", "httpsPort", "onvifPort"] {
                let port = value(name)?;
                // The guide's default puts web and media on the same port (88).
                if name != "mediaPort" && seen.contains(&port) {
                    return Err(CgiError::field(name, "port already used"));
                }
                if name != "mediaPort" {
                    seen.push(port);
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Settings that drive hardware are applied before they are stored, so a device that refuses
/// leaves the stored state unchanged.
fn apply_to_hardware(req: &Request, values: &[(&'static str, String)]) -> CgiResult<()> {
    for (name, value) in values {
        let control = match *name {
            "brightness" => ImageControl::Brightness,
            "contrast" => ImageControl::Contrast,
            "hue" => ImageControl::Hue,
            "saturation" => ImageControl::Saturation,
            "sharpness" => ImageControl::Sharpness,
            "isMirror" => ImageControl::Mirror,
            "isFlip" => ImageControl::Flip,
            "freq" => ImageControl::PowerLineFrequency,
            _ => continue,
        };
        let value: i32 = value
            .parse()
            .map_err(|_| CgiError::field(name, "not an integer"))?;
        let media = req
            .ctx
            .media
            .as_ref()
            .ok_or_else(|| CgiError::Exec("this board has no video source".into()))?;
        media.set_control(control, value)?;
    }
    Ok(())
}

/// set485Info: the new protocol, address and line settings go to the open port at once.
fn apply_serial_settings(
    req: &Request,
    snapshot: &Snapshot,
    values: &[(&'static str, String)],
) -> CgiResult<()> {
    let Some(ptz) = &req.ctx.ptz else {
        tracing::info!("set485Info: this board has no motor controller");
        return Err(CgiError::Exec("no RS485 motor controller".into()));
    };
    let mut line = snapshot.rs485.clone();
    for (key, value) in values {
        if crate::settings::Section::set(&mut line, key, value) != Some(true) {
            return Err(CgiError::field(key, "not an RS485 setting"));
        }
    }
    ptz.apply_line(&line)?;
    Ok(())
}

/// setH264FrmRefMode: mode 1 (frame-skipping reference) only when the board's H.264 encoder
/// can make it; otherwise -4 and nothing stored (mode 0 is what every encoder does).
fn check_frame_reference_mode(req: &Request, values: &[(&'static str, String)]) -> CgiResult<()> {
    let skipping = values.iter().any(|(k, v)| *k == "mode" && v == "1");
    let can = match req.ctx.hal.h264.as_ref() {
        Some(encoder) => encoder.frame_skipping_reference(),
        None => Err("this board has no H.264 encoder".into()),
    };
    if let (true, Err(why)) = (skipping, can) {
        let encoder = req.ctx.hal.h264.as_ref().map_or("none", |e| e.name());
        tracing::info!(
            encoder,
            %why,
            "setH264FrmRefMode 1: this board's H.264 encoder cannot make the frame-skipping reference structure"
        );
        return Err(CgiError::Exec(
            "the H.264 encoder cannot make the frame-skipping reference structure".into(),
        ));
    }
    Ok(())
}

/// setScheduleRecordStreamChn 1 records the sub stream, which the recorder takes as H.264:
/// refused (-4) while setSubStreamFormat has the sub stream as MJPEG, and the sub stream
/// cannot be switched to MJPEG while it is the recorded one (recording would stop silently).
fn check_recorded_sub_stream(
    req: &Request,
    section: &str,
    values: &[(&'static str, String)],
) -> CgiResult<()> {
    let snapshot = req.ctx.settings.snapshot();
    let wanted = |name: &str| {
        values
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    };
    let (records_sub, sub_is_mjpeg) = match section {
        "record_stream" => (
            wanted("chn") == Some("1"),
            snapshot.sub_stream_format.format == 1,
        ),
        _ => (
            snapshot.record_stream.chn == 1,
            wanted("format") == Some("1"),
        ),
    };
    if records_sub && sub_is_mjpeg {
        tracing::info!(
            cmd = req.spec.name,
            "the recorder records the sub stream as H.264: it cannot while the sub stream is MJPEG \
             (setSubStreamFormat format=0 first, or record the main stream)"
        );
        return Err(CgiError::Exec(
            "recording the sub stream needs it in H.264".into(),
        ));
    }
    Ok(())
}

/// resetImageSetting: image controls back to factory values.
pub(crate) fn reset_image_setting(req: &Request) -> CgiResult<Reply> {
    let factory = req.ctx.settings.factory().image;
    let mut values = Vec::new();
    for field in ["brightness", "contrast", "hue", "saturation", "sharpness"] {
        let value = crate::settings::Section::get(&factory, field).unwrap_or_default();
        values.push((field, value));
    }
    apply_to_hardware(req, &values)?;
    req.ctx.settings.reset_section("image")?;
    Ok(Reply::ok())
}

/// A valid value for a setter's field that differs from the factory default, for tests that
/// round-trip every setting.
pub fn example_value(section: &str, field: &FieldSpec, index: usize) -> String {
    match (rule(section, field.name), field.kind) {
        (Some(Rule::Range(lo, hi)), _) => (lo + 1 + index as i64).min(hi).to_string(),
        (Some(Rule::OneOf(values)), _) => values[values.len() - 1].to_string(),
        (Some(Rule::Text(_) | Rule::NonEmptyText(_)), _) => format!("t{index}<&>"),
        (Some(Rule::IpOrZero), _) => format!("10.0.0.{}", index + 1),
        (None, FieldKind::Str) => format!("t{index}<&>"),
        (None, FieldKind::Ip) => format!("10.0.1.{}", index + 1),
        (None, FieldKind::Bool01) => "1".into(),
        (None, FieldKind::Int | FieldKind::Bitmask) => {
            if let Some(last) = field.choices.last() {
                last.to_string()
            } else if let Some(max) = field.max {
                max.to_string()
            } else {
                (field.min.unwrap_or(0) + 3 + index as i64).to_string()
            }
        }
    }
}

/// Validates a stored-field value the same way a setter would (for importConfig).
pub fn validate_field(section: &str, field: &FieldSpec, raw: &str) -> CgiResult<String> {
    let value = validate(section, field, raw)?;
    if let FieldKind::Int | FieldKind::Bool01 | FieldKind::Bitmask = field.kind {
        check_range(field, value.parse().unwrap_or(i64::MIN))?;
    }
    Ok(value)
}
