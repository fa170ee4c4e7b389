//! Device-management commands that are not plain settings: product identity, device info and
//! live state, system time, the system log, the multi-device list, the
//! recording medium, and factory reset.

use ipcamd_hal::storage::Space;

use super::super::command::{Request, check_text};
use super::super::context::Context;
use super::super::error::{CgiError, CgiResult};
use super::super::reply::{Fields, Reply};
use crate::civil_time::{self, CivilTime};
use crate::state::AlarmState;
use crate::store::MultiDevRow;

/// The value of one product-identity field, by its wire name (both of the guide's spellings).
fn product_field(ctx: &Context, name: &str) -> Option<String> {
    let id = &ctx.hal.board.identity;
    let caps = &ctx.hal.board.capabilities;
    let flag = |b: bool| Some(u8::from(b).to_string());
    match name {
        "model" => Some(id.model.to_string()),
        "modelName" => Some(id.model_name.clone()),
        "language" => Some(id.language.to_string()),
        "sensorType" => Some(id.sensor_type.to_string()),
        "wifiType" => Some(id.wifi_type.to_string()),
        "sdFlag" => flag(caps.sd),
        "outdoorFlag" | "OutdoorFlag" => flag(caps.outdoor),
        "ptFlag" => flag(caps.pan_tilt),
        "zoomFlag" => flag(caps.zoom),
        "rs485Flag" | "Rs485Flag" => flag(caps.rs485),
        "ioAlarmFlag" => flag(caps.io_alarm),
        "onvifFlag" => flag(caps.onvif),
        "p2pFlag" => flag(caps.p2p),
        "wpsFlag" => flag(caps.wps),
        "audioFlag" => flag(caps.audio),
        "talkFlag" => flag(caps.talk),
        "appVer" => Some(ctx.firmware_version.clone()),
        n if n.starts_with("reserve") => Some("0".to_owned()),
        _ => None,
    }
}

/// Every getProduct* command: the fields its guide entry lists, from the board file.
pub(crate) fn product_info(req: &Request) -> CgiResult<Reply> {
    let mut fields = Fields::new();
    for field in req.spec.returns {
        let value = product_field(req.ctx, field.name)
            .ok_or_else(|| CgiError::Unknown(format!("no product field {}", field.name)))?;
        fields.push(field.name, value);
    }
    Ok(Reply::Xml(fields))
}

/// getDevInfo serialNo: the board file's, or one derived from the MAC address.
pub(crate) fn serial_number(id: &ipcamd_hal::board::Identity, mac: &str) -> String {
    id.serial_number
        .clone()
        .unwrap_or_else(|| format!("SN{mac}"))
}

/// Device information.
pub(crate) fn get_dev_info(req: &Request) -> CgiResult<Reply> {
    let ctx = req.ctx;
    let id = &ctx.hal.board.identity;
    let snapshot = ctx.settings.snapshot();
    let now = ctx.clock.now();
    let mac = ctx.hal.mac_address();
    let serial = serial_number(id, &mac);
    let zone = snapshot.time.zone;
    let fields = Fields::new()
        .with("productName", &id.product_name)
        .with("serialNo", serial)
        .with("devName", &snapshot.dev_name.name)
        .with("mac", mac)
        .with("year", now.year)
        .with("mon", now.month)
        .with("day", now.day)
        .with("hour", now.hour)
        .with("min", now.minute)
        .with("sec", now.second)
        .with("timeZone", zone)
        .with("firmwareVer", &ctx.firmware_version)
        .with("hardwareVer", &id.hardware_version);
    Ok(Reply::Xml(fields))
}

fn alarm_value(enabled: bool, state: AlarmState) -> u8 {
    if !enabled {
        return AlarmState::Disabled as u8;
    }
    match state {
        AlarmState::Disabled => AlarmState::Idle as u8,
        other => other as u8,
    }
}

/// sdState (0 no card, 1 OK, 2 read-only; a full card is OK with no free space) and space.
fn storage_space(ctx: &Context) -> (u8, Option<Space>) {
    match &ctx.hal.storage {
        None => (0, None),
        Some(storage) => {
            let status = storage.status();
            (status.state.sd_state(), status.space)
        }
    }
}

/// The part of the device state a live view shows (the web page's status strip): alarms,
/// recording, card and IR LED, by getDevState's field names. Visitors may read it at
/// `/web/status.json`; getDevState itself (with network state and card space) is admin-only.
pub(crate) fn live_status(ctx: &Context) -> CgiResult<[(&'static str, u8); 5]> {
    let state = &ctx.state;
    let snapshot = ctx.settings.snapshot();
    let infra = match &ctx.hal.ir_led {
        Some(line) => u8::from(line.get()?),
        None => 0,
    };
    Ok([
        (
            "IOAlarm",
            alarm_value(snapshot.io_alarm.enabled, state.io_alarm.get()),
        ),
        (
            "motionDetectAlarm",
            alarm_value(snapshot.motion.enabled, state.motion_alarm.get()),
        ),
        ("record", state.recording.get()),
        ("sdState", storage_space(ctx).0),
        ("infraLedState", infra),
    ])
}

/// Live device state.
pub(crate) fn get_dev_state(req: &Request) -> CgiResult<Reply> {
    let ctx = req.ctx;
    let state = &ctx.state;
    let [io_alarm, motion, record, sd_state, infra] = live_status(ctx)?;
    let (_, space) = storage_space(ctx);
    let ddns = state.ddns.get();
    let wifi = ctx.net.wifi.as_ref().and_then(|w| w.connected());
    let snapshot = ctx.settings.snapshot();
    let fields = Fields::new()
        .with(io_alarm.0, io_alarm.1)
        .with(motion.0, motion.1)
        .with("soundAlarm", state.sound_alarm.get() as u8)
        .with(record.0, record.1)
        .with(sd_state.0, sd_state.1)
        .with("sdFreeSpace", space.map_or(0, |s| s.free / 1024))
        .with("sdTotalSpace", space.map_or(0, |s| s.total / 1024))
        .with("ntpState", state.ntp.get())
        .with("ddnspState", ddns)
        .with("ddnsState", ddns)
        .with("url", &snapshot.ddns.host_name)
        .with("upnpState", state.upnp.get())
        .with("isWifiConnected", u8::from(wifi.is_some()))
        .with("wifiConnectedAP", wifi.unwrap_or_default())
        .with(infra.0, infra.1);
    Ok(Reply::Xml(fields))
}

/// System time settings and the current local time (both spellings of month and minute).
pub(crate) fn get_system_time(req: &Request) -> CgiResult<Reply> {
    let ctx = req.ctx;
    let now = ctx.clock.now();
    let time = ctx.settings.snapshot().time.clone();
    let mut fields = Fields::new();
    for name in [
        "timeSource",
        "ntpServer",
        "dateFormat",
        "timeFormat",
        "timeZone",
        "isDst",
        "dst",
    ] {
        fields.push(name, time_value(&time, name)?);
    }
    fields
        .push("year", now.year)
        .push("month", now.month)
        .push("mon", now.month)
        .push("day", now.day)
        .push("hour", now.hour)
        .push("min", now.minute)
        .push("minute", now.minute)
        .push("sec", now.second);
    Ok(Reply::Xml(fields))
}

fn time_value(time: &crate::settings::sections::Time, name: &str) -> CgiResult<String> {
    let value = crate::settings::Section::get(time, name)
        .ok_or_else(|| CgiError::Unknown(format!("no time setting {name}")))?;
    Ok(match (name, value.is_empty()) {
        ("ntpServer", true) => crate::net::ntp::FACTORY_SERVER.into(),
        (_, true) => "0".into(),
        _ => value,
    })
}

/// Set time zone, formats, NTP server and, with timeSource 1 (manual), the clock itself.
pub(crate) fn set_system_time(req: &Request) -> CgiResult<Reply> {
    let mut values: Vec<(&str, String)> = Vec::new();
    for name in ["timeSource", "dateFormat", "timeFormat", "isDst", "dst"] {
        if let Some(v) = req.opt_int(name)? {
            values.push((name, v.to_string()));
        }
    }
    if let Some(zone) = req.opt_int("timeZone")? {
        if !(-43_200..=50_400).contains(&zone) {
            return Err(CgiError::field("timeZone", "out of range"));
        }
        values.push(("timeZone", zone.to_string()));
    }
    if let Some(server) = req.raw("ntpServer") {
        check_text("ntpServer", server, 63)?;
        values.push(("ntpServer", server.to_owned()));
    }
    let stored = req.ctx.settings.snapshot().time.clone();
    let setting = |name: &str| -> CgiResult<String> {
        match values.iter().find(|(k, _)| *k == name) {
            Some((_, v)) => Ok(v.clone()),
            None => time_value(&stored, name),
        }
    };
    let manual = setting("timeSource")? == "1";
    let clock_fields = ["year", "month", "day", "hour", "min", "sec"];
    let new_clock = if manual && clock_fields.iter().any(|f| req.raw(f).is_some()) {
        let get = |name: &str, alias: &str, lo: i64, hi: i64| -> CgiResult<i64> {
            let raw = req
                .query
                .get_any(name, &[alias])
                .ok_or_else(|| CgiError::field(name, "missing"))?;
            let v = super::super::command::parse_int(name, raw, None)?;
            if (lo..=hi).contains(&v) {
                Ok(v)
            } else {
                Err(CgiError::field(name, "out of range"))
            }
        };
        let year = get("year", "year", 1970, 2037)?;
        let month = get("month", "mon", 1, 12)? as u32;
        let day = get("day", "day", 1, 31)? as u32;
        if day > civil_time::days_in_month(year, month) {
            return Err(CgiError::field("day", "no such day in that month"));
        }
        let t = CivilTime {
            year,
            month,
            day,
            hour: get("hour", "hour", 0, 23)? as u32,
            minute: get("min", "minute", 0, 59)? as u32,
            second: get("sec", "sec", 0, 59)? as u32,
            weekday: 0,
        };
        let zone: i64 = setting("timeZone")?.parse().unwrap_or(0);
        let dst = setting("isDst")? == "1";
        Some(civil_time::unix_from_local(&t, zone, dst))
    } else {
        None
    };
    if values.is_empty() && new_clock.is_none() {
        return Err(CgiError::Format("setSystemTime needs parameters".into()));
    }
    if let Some(unix) = new_clock {
        // The offset is stored with the other fields, so the manual time survives a restart.
        let offset = req.ctx.clock.set_manual(unix)?;
        values.push(("manualOffset", offset.to_string()));
    }
    let pairs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if !pairs.is_empty() {
        req.ctx.settings.write("time", &pairs)?;
    }
    Ok(Reply::ok())
}

/// System log, newest first, at most 10 per call.
pub(crate) fn get_log(req: &Request) -> CgiResult<Reply> {
    let offset = req.opt_int("offset")?.unwrap_or(0);
    let count = req.opt_int("count")?.unwrap_or(10).min(10);
    let total = req.ctx.store.log_count()?;
    let rows = req.ctx.store.log_page(offset, count)?;
    let mut fields = Fields::new()
        .with("totalCnt", total)
        .with("curCnt", rows.len());
    for (i, row) in rows.iter().enumerate() {
        fields.push(
            format!("log{i}"),
            format!("{}+{}+{}+{}", row.time, row.user, row.ip, row.kind),
        );
    }
    Ok(Reply::Xml(fields))
}

const MULTI_DEV_CHANNELS: i64 = 9;

fn chnnl(req: &Request) -> CgiResult<i64> {
    let chnnl = req.int("chnnl")?;
    if (0..MULTI_DEV_CHANNELS).contains(&chnnl) {
        Ok(chnnl)
    } else {
        Err(CgiError::field("chnnl", "must be 0 to 8"))
    }
}

/// The multi-device list: one `devN` per channel, `productType+ip+port+mediaPort+devName`.
pub(crate) fn get_multi_dev_list(req: &Request) -> CgiResult<Reply> {
    let devs = req.ctx.store.multi_devs()?;
    let mut fields = Fields::new();
    for n in 0..MULTI_DEV_CHANNELS {
        let value = devs
            .iter()
            .find(|d| d.chnnl == n)
            .map(|d| {
                format!(
                    "{}+{}+{}+{}+{}",
                    d.product_type, d.ip, d.port, d.media_port, d.dev_name
                )
            })
            .unwrap_or_default();
        fields.push(format!("dev{n}"), value);
    }
    Ok(Reply::Xml(fields))
}

/// One device of the list.
pub(crate) fn get_multi_dev_detail_info(req: &Request) -> CgiResult<Reply> {
    let n = chnnl(req)?;
    let devs = req.ctx.store.multi_devs()?;
    let dev = devs
        .iter()
        .find(|d| d.chnnl == n)
        .ok_or_else(|| CgiError::Exec("empty channel".into()))?;
    Ok(Reply::Xml(
        Fields::new()
            .with("productType", &dev.product_type)
            .with("ip", &dev.ip)
            .with("port", dev.port)
            .with("mediaPort", dev.media_port)
            .with("userName", &dev.user_name)
            .with("passWord", &dev.password)
            .with("devName", &dev.dev_name),
    ))
}

/// Add (or replace) the device on a channel.
pub(crate) fn add_multi_dev(req: &Request) -> CgiResult<Reply> {
    let port = |name: &str| -> CgiResult<i64> {
        let v = req.int(name)?;
        if (1..=65_535).contains(&v) {
            Ok(v)
        } else {
            Err(CgiError::field(name, "not a port"))
        }
    };
    let row = MultiDevRow {
        chnnl: chnnl(req)?,
        product_type: req.text("productType", 31)?.to_owned(),
        ip: {
            let host = req.text("ip", 63)?;
            if host.is_empty() || host.contains(char::is_whitespace) {
                return Err(CgiError::field("ip", "not a host"));
            }
            host.to_owned()
        },
        port: port("port")?,
        media_port: port("mediaPort")?,
        user_name: req.text("userName", 63)?.to_owned(),
        password: req.text("passWord", 63)?.to_owned(),
        dev_name: req.text("devName", 63)?.to_owned(),
    };
    req.ctx.store.put_multi_dev(&row)?;
    Ok(Reply::ok())
}

/// Remove the device on a channel.
pub(crate) fn del_multi_dev(req: &Request) -> CgiResult<Reply> {
    let n = chnnl(req)?;
    if req.ctx.store.delete_multi_dev(n)? {
        Ok(Reply::ok())
    } else {
        Err(CgiError::Exec("empty channel".into()))
    }
}

/// The P2P UID from the board's identity.
pub(crate) fn get_p2p_info(req: &Request) -> CgiResult<Reply> {
    let board = &req.ctx.hal.board;
    match (&board.identity.p2p_uid, board.capabilities.p2p) {
        (Some(uid), true) => Ok(Reply::Xml(Fields::new().with("uid", uid))),
        _ => {
            tracing::info!("getP2PInfo: this board has no P2P identity");
            Err(CgiError::Exec("no P2P on this board".into()))
        }
    }
}

/// Where recordings go and how much room there is (KB).
pub(crate) fn get_record_path(req: &Request) -> CgiResult<Reply> {
    let Some(storage) = &req.ctx.hal.storage else {
        tracing::info!("getRecordPath: this board has no recording medium");
        return Err(CgiError::Exec("no recording medium".into()));
    };
    let status = storage.status();
    let Some(space) = status.space else {
        tracing::info!("getRecordPath: no SD card in the slot");
        return Err(CgiError::Exec("no SD card in the slot".into()));
    };
    Ok(Reply::Xml(
        Fields::new()
            .with("path", 0)
            .with("free", space.free / 1024)
            .with("total", space.total / 1024),
    ))
}

/// Every setting, account and list back to factory state.
pub(crate) fn restore_to_factory_setting(req: &Request) -> CgiResult<Reply> {
    let ctx = req.ctx;
    ctx.store.factory_reset()?;
    ctx.accounts.forget_all();
    ctx.accounts
        .ensure_factory_admin(&ctx.store)
        .map_err(|e| CgiError::Exec(format!("recreating the admin account: {e:?}")))?;
    if let Some(media) = &ctx.media {
        media.apply_image_settings(&ctx.settings.snapshot());
    }
    tracing::warn!("restored to factory settings");
    Ok(Reply::ok())
}
