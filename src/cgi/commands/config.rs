//! Every plain get/set configuration pair of the guide, driven by the command catalogue.
//!
//! A setter validates each parameter it is given against the catalogue's type, range and
//! enumeration plus the rules below (ranges the guide leaves unstated, text lengths,
//! cross-field checks), applies it to the hardware where the setting drives hardware, and only
//! then writes all of it in one transaction: a rejected value changes nothing. A parameter left
//! out keeps its current value; a setter given none of its parameters is a format error.
//! A getter returns the stored value, or the factory default, of every field the guide lists,
//! in the guide's order.

use std::net::Ipv4Addr;

use ipcamd_hal::video::ImageControl;

use super::super::catalogue::{FieldKind, FieldSpec};
use super::super::registry::Handler;
use super::super::reply::{Fields, Reply};
use super::super::{CgiError, CgiResult, Request, check_range, check_text, parse_int};
use crate::app::App;

/// A stored settings section and the commands that read and write it.
pub struct Section {
    /// Key in the settings table.
    pub name: &'static str,
    /// Commands that return the section's fields.
    pub getters: &'static [&'static str],
    /// Commands that write some of its fields.
    pub setters: &'static [&'static str],
}

/// The sections, in the guide's order.
pub const SECTIONS: &[Section] = &[
    s(
        "image",
        &["getImageSetting"],
        &[
            "setBrightness",
            "setContrast",
            "setHue",
            "setSaturation",
            "setSharpness",
        ],
    ),
    s(
        "mirror_flip",
        &["getMirrorAndFlipSetting"],
        &["mirrorVideo", "flipVideo"],
    ),
    s("ratio", &["getRatio"], &["setRatio"]),
    s(
        "h264_frame_ref",
        &["getH264FrmRefMode"],
        &["setH264FrmRefMode"],
    ),
    s(
        "record_stream",
        &["getScheduleRecordStreamChn"],
        &["setScheduleRecordStreamChn"],
    ),
    s("power_frequency", &[], &["setPwrFreq"]),
    s(
        "main_stream_type",
        &["getMainVideoStreamType"],
        &["setMainVideoStreamType"],
    ),
    s("sub_stream_type", &["getSubVideoStreamType"], &[]),
    s("sub_stream_format", &[], &["setSubStreamFormat"]),
    s(
        "osd",
        &["getOSDSetting", "getOSDMask"],
        &["setOSDSetting", "setOSDMask"],
    ),
    s("osd_mask_area", &["getOsdMaskArea"], &["setOsdMaskArea"]),
    s(
        "motion",
        &["getMotionDetectConfig"],
        &["setMotionDetectConfig"],
    ),
    s(
        "local_alarm_record",
        &["getLocalAlarmRecordConfig"],
        &["setLocalAlarmRecordConfig"],
    ),
    s("snap", &["getSnapConfig"], &["setSnapConfig"]),
    s(
        "schedule_snap",
        &["getScheduleSnapConfig"],
        &["setScheduleSnapConfig"],
    ),
    s(
        "alarm_record",
        &["getAlarmRecordConfig"],
        &["setAlarmRecordConfig"],
    ),
    s(
        "schedule_record",
        &["getScheduleRecordConfig"],
        &["setScheduleRecordConfig"],
    ),
    s("io_alarm", &["getIOAlarmConfig"], &["setIOAlarmConfig"]),
    s(
        "pc_audio_alarm",
        &["getPCAudioAlarmCfg"],
        &["setPCAudioAlarmCfg"],
    ),
    s("ptz_speed", &["getPTZSpeed"], &["setPTZSpeed"]),
    s("cruise_time", &["getCruiseTime"], &["setCruiseTime"]),
    s(
        "cruise_time_customed",
        &["getCruiseTimeCustomed"],
        &["setCruiseTimeCustomed"],
    ),
    s("cruise_loop", &["getCruiseLoopCnt"], &["setCruiseLoopCnt"]),
    s(
        "cruise_mode",
        &["getCruiseCtrlMode"],
        &["setCruiseCtrlMode"],
    ),
    s("zoom_speed", &["getZoomSpeed"], &["setZoomSpeed"]),
    s(
        "ptz_selftest",
        &["getPTZSelfTestMode"],
        &["setPTZSelfTestMode"],
    ),
    s("rs485", &["get485Info"], &["set485Info"]),
    s("ip", &["getIPInfo"], &["setIpInfo"]),
    s("wifi", &["getWifiConfig"], &["setWifiSetting"]),
    s("ports", &["getPortInfo"], &["setPortInfo"]),
    s("upnp", &["getUPnPConfig"], &["setUPnPConfig"]),
    s("ddns", &["getDDNSConfig"], &["setDDNSConfig"]),
    s("ftp", &["getFtpConfig"], &["setFtpConfig"]),
    s("smtp", &["getSMTPConfig"], &["setSMTPConfig"]),
    s("p2p", &["getP2PEnable"], &["setP2PEnable"]),
    s("p2p_port", &["getP2PPort"], &["setP2PPort"]),
    s("pppoe", &["getPPPoEConfig"], &["setPPPoEConfig"]),
    s("infra_led", &["getInfraLedConfig"], &["setInfraLedConfig"]),
    s(
        "infra_led_schedule",
        &["getScheduleInfraLedConfig"],
        &["setScheduleInfraLedConfig"],
    ),
    s("dev_name", &["getDevName"], &["setDevName"]),
    s("firewall", &["getFirewallConfig"], &["setFirewallConfig"]),
];

const fn s(
    name: &'static str,
    getters: &'static [&'static str],
    setters: &'static [&'static str],
) -> Section {
    Section {
        name,
        getters,
        setters,
    }
}

/// The section a getter or setter belongs to.
pub fn section_of(command: &str) -> Option<&'static Section> {
    SECTIONS
        .iter()
        .find(|s| s.getters.contains(&command) || s.setters.contains(&command))
}

/// Handlers: every getter and setter of [`SECTIONS`].
pub fn handlers() -> impl Iterator<Item = (&'static str, Handler)> {
    SECTIONS.iter().flat_map(|s| {
        let gets = s.getters.iter().map(|g| (*g, get_section as Handler));
        let sets = s.setters.iter().map(|c| (*c, set_section as Handler));
        gets.chain(sets)
    })
}

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

/// The factory default of a field.
pub fn factory_default(app: &App, section: &str, field: &str) -> String {
    let board = &app.hal.board;
    let d = &board.defaults;
    let text = match (section, field) {
        ("image", "brightness" | "contrast" | "hue" | "saturation" | "sharpness") => "50",
        ("image", "denoiseLevel") => "0",
        ("ratio", "ratio") => "430",
        ("power_frequency", "freq") => return if d.mains_hz == 50 { "1" } else { "0" }.into(),
        ("sub_stream_format", "format") => "1",
        ("osd", "isEnableTimeStamp" | "isEnableDevName") => "1",
        ("motion", "sensitivity") => "1",
        ("motion", "linkage") => "0",
        ("motion", "snapInterval") | ("io_alarm", "snapInterval") => "2",
        ("motion", "triggerInterval") | ("io_alarm", "triggerInterval") => "10",
        ("motion", f) if f.starts_with("area") => "1023",
        ("motion", f) | ("schedule_snap", f) | ("schedule_record", f) | ("io_alarm", f)
            if f.starts_with("schedule") =>
        {
            "281474976710655"
        }
        ("local_alarm_record", "localAlarmRecordSecs") => "30",
        ("snap", "snapPicQuality") => "2",
        ("schedule_snap", "snapInterval") => "60",
        ("alarm_record", "preRecordSecs") => "5",
        ("alarm_record", "alarmRecordSecs") => "30",
        ("schedule_record", "recordLevel") => "4",
        ("ptz_speed", "speed") => "2",
        ("cruise_time", "time") | ("cruise_time_customed", "time") => "60",
        ("cruise_loop", "count") => "1",
        ("zoom_speed", "speed") => "1",
        ("rs485", key) => return rs485_default(app, key),
        ("ip", "isDHCP") => "1",
        ("ip", "ip" | "gate" | "dns1" | "dns2") => "0.0.0.0",
        ("ip", "mask") => "255.255.255.0",
        ("wifi", "defaultKey") => "1",
        ("wifi", f) if f.ends_with("Len") => "64",
        ("ports", "webPort") => return d.web_port.to_string(),
        ("ports", "httpsPort") => return d.https_port.to_string(),
        ("ports", "mediaPort") => return d.media_port.to_string(),
        ("ports", "onvifPort") => return d.onvif_port.to_string(),
        ("ftp", "ftpPort") => "21",
        ("smtp", "port") => "25",
        ("p2p", "enable") => return u8::from(board.capabilities.p2p).to_string(),
        ("p2p_port", "port") => "32100",
        ("infra_led", "mode") => return d.ir_mode.to_string(),
        ("infra_led_schedule", f) if f.starts_with("startHour") => "19",
        ("infra_led_schedule", f) if f.starts_with("endHour") => "7",
        ("dev_name", "devName") => return d.dev_name.clone(),
        ("firewall", f) if f.starts_with("ipList") => "0",
        ("ddns", "factoryDDNS") => {
            return board
                .identity
                .p2p_uid
                .as_deref()
                .map(|uid| format!("{}.myfoscam.org", uid.to_ascii_lowercase()))
                .unwrap_or_default();
        }
        _ => "",
    };
    text.to_owned()
}

fn rs485_default(app: &App, key: &str) -> String {
    let Some(ptz) = &app.hal.board.ptz else {
        return "0".into();
    };
    match key {
        "rs485Protocol" => u8::from(ptz.protocol == ipcamd_hal::ptz::Protocol::PelcoP).to_string(),
        "rs485Addr" => ptz.address.to_string(),
        "rs485Baud" => ptz.baud.to_string(),
        "rs485DataBit" => ptz.data_bits.to_string(),
        "rs485StopBit" => ptz.stop_bits.to_string(),
        "rs485Check" => match ptz.parity {
            ipcamd_hal::ptz::Parity::None => "0",
            ipcamd_hal::ptz::Parity::Odd => "1",
            ipcamd_hal::ptz::Parity::Even => "2",
        }
        .into(),
        _ => "0".into(),
    }
}

/// Reads a whole section with defaults filled in, as `(field, value)` for the getter's fields.
pub fn read_value(app: &App, section: &str, field: &str) -> CgiResult<String> {
    Ok(match app.store.setting(section, field)? {
        Some(value) => value,
        None => {
            let value = factory_default(app, section, field);
            if value.is_empty() {
                kind_default(section, field)
            } else {
                value
            }
        }
    })
}

fn kind_default(section: &str, field: &str) -> String {
    // Every numeric field of a getter is declared in the catalogue; text fields default empty.
    let numeric = SECTIONS
        .iter()
        .filter(|s| s.name == section)
        .flat_map(|s| s.getters.iter().chain(s.setters.iter()))
        .filter_map(|c| super::super::catalogue::find(c))
        .flat_map(|c| c.params.iter().chain(c.returns.iter()))
        .find(|f| f.name == field)
        .is_some_and(|f| f.kind != FieldKind::Str && f.kind != FieldKind::Ip);
    if numeric { "0".into() } else { String::new() }
}

/// A getter of [`SECTIONS`]: every field the guide lists, stored or default, plus the alternate
/// spellings the guide prints for some of them.
fn get_section(req: &Request) -> CgiResult<Reply> {
    if req.spec.name == "getIPInfo" {
        return super::network::get_ip_info(req);
    }
    let section =
        section_of(req.spec.name).ok_or_else(|| CgiError::Unknown("no section".into()))?;
    let mut fields = Fields::new();
    for field in req.spec.returns {
        let value = read_value(req.app, section.name, field.name)?;
        for alias in field.aliases {
            fields.push(*alias, &value);
        }
        fields.push(field.name, value);
    }
    Ok(Reply::Xml(fields))
}

/// A setter of [`SECTIONS`].
fn set_section(req: &Request) -> CgiResult<Reply> {
    let section =
        section_of(req.spec.name).ok_or_else(|| CgiError::Unknown("no section".into()))?;
    let mut values: Vec<(&'static str, String)> = Vec::new();
    for field in req.spec.params {
        if let Some(raw) = req.query.get_any(field.name, field.aliases) {
            values.push((field.name, validate(section.name, field, raw)?));
        }
    }
    if values.is_empty() {
        return Err(CgiError::Format(format!(
            "{} needs at least one parameter",
            req.spec.name
        )));
    }
    cross_check(req, section.name, &values)?;
    apply_to_hardware(req, &values)?;
    if section.name == "rs485" {
        apply_serial_settings(req, &values)?;
    }
    let pending = super::network::before_store(req, section.name, &values)?;
    let pairs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    req.app.store.set_section(section.name, &pairs)?;
    super::network::after_store(req, pending);
    Ok(Reply::ok())
}

/// Rules between fields of one setter.
fn cross_check(req: &Request, section: &str, values: &[(&'static str, String)]) -> CgiResult<()> {
    let value = |name: &str| -> CgiResult<String> {
        match values.iter().find(|(k, _)| *k == name) {
            Some((_, v)) => Ok(v.clone()),
            None => read_value(req.app, section, name),
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
        let video = req
            .app
            .hal
            .video
            .as_ref()
            .ok_or_else(|| CgiError::Exec("this board has no video source".into()))?;
        set_control(req.app, &**video, control, value)?;
    }
    Ok(())
}

/// set485Info: the new protocol, address and line settings go to the open port at once.
fn apply_serial_settings(req: &Request, values: &[(&'static str, String)]) -> CgiResult<()> {
    use ipcamd_hal::ptz::{Parity, Protocol, SerialSettings};
    let Some(ptz) = &req.app.ptz else {
        tracing::info!("set485Info: this board has no motor controller");
        return Err(CgiError::Exec("no RS485 motor controller".into()));
    };
    let value = |name: &str| -> CgiResult<i64> {
        let text = match values.iter().find(|(k, _)| *k == name) {
            Some((_, v)) => v.clone(),
            None => read_value(req.app, "rs485", name)?,
        };
        text.parse()
            .map_err(|_| CgiError::Exec("bad stored RS485 setting".into()))
    };
    let settings = SerialSettings {
        protocol: if value("rs485Protocol")? == 1 {
            Protocol::PelcoP
        } else {
            Protocol::PelcoD
        },
        address: value("rs485Addr")? as u8,
        baud: value("rs485Baud")? as u32,
        data_bits: value("rs485DataBit")? as u8,
        stop_bits: value("rs485StopBit")? as u8,
        parity: match value("rs485Check")? {
            1 => Parity::Odd,
            2 => Parity::Even,
            _ => Parity::None,
        },
    };
    ptz.motor().configure(settings)?;
    Ok(())
}

/// Applies one picture control. Mirror and flip fall back to software (the media pipeline
/// flips the pixels) when the sensor lacks them; other missing controls fail.
fn set_control(
    app: &App,
    video: &dyn ipcamd_hal::video::VideoSource,
    control: ImageControl,
    value: i32,
) -> ipcamd_hal::HalResult<()> {
    match video.set_control(control, value) {
        Err(err) if err.kind() == ipcamd_hal::HalErrorKind::NotSupported => {
            let flag = match (control, app.media.get()) {
                (ImageControl::Mirror, Some(media)) => &media.soft_mirror,
                (ImageControl::Flip, Some(media)) => &media.soft_flip,
                _ => {
                    tracing::warn!(?control, %err, "the sensor lacks this control");
                    return Err(err);
                }
            };
            tracing::info!(
                ?control,
                "the sensor lacks this control; applied in software"
            );
            flag.store(value == 1, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
        other => other,
    }
}

/// Re-applies every stored image setting to the video source (start-up, reset).
pub fn apply_image_settings(app: &App) {
    let Some(video) = &app.hal.video else { return };
    let controls = [
        ("image", "brightness", ImageControl::Brightness),
        ("image", "contrast", ImageControl::Contrast),
        ("image", "hue", ImageControl::Hue),
        ("image", "saturation", ImageControl::Saturation),
        ("image", "sharpness", ImageControl::Sharpness),
        ("mirror_flip", "isMirror", ImageControl::Mirror),
        ("mirror_flip", "isFlip", ImageControl::Flip),
        ("power_frequency", "freq", ImageControl::PowerLineFrequency),
    ];
    for (section, field, control) in controls {
        let value = read_value(app, section, field)
            .ok()
            .and_then(|v| v.parse::<i32>().ok());
        if let Some(value) = value {
            if let Err(err) = set_control(app, &**video, control, value) {
                tracing::warn!(?control, %err, "image setting not applied at start-up");
            }
        }
    }
}

/// resetImageSetting: image controls back to factory values.
pub fn reset_image_setting(req: &Request) -> CgiResult<Reply> {
    let mut values = Vec::new();
    for field in ["brightness", "contrast", "hue", "saturation", "sharpness"] {
        values.push((field, factory_default(req.app, "image", field)));
    }
    apply_to_hardware(req, &values)?;
    req.app.store.clear_section("image")?;
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
