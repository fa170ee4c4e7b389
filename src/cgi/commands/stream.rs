//! Stream parameters: four stream types per stream (main and sub), each with resolution, bit
//! rate, frame rate, GOP and VBR flag. setVideoStreamParam names the stream type it changes.

use super::super::registry::Handler;
use super::super::reply::{Fields, Reply};
use super::super::{CgiError, CgiResult, Request};
use super::config::read_value;
use crate::app::App;

/// Handlers of this file.
pub const HANDLERS: &[(&str, Handler)] = &[
    ("getVideoStreamParam", get_stream_param),
    ("getSubVideoStreamParam", get_stream_param),
    ("setVideoStreamParam", set_stream_param),
    ("setSubVideoStreamParam", set_stream_param),
];

/// Stream types per stream.
pub const STREAM_TYPES: i64 = 4;

/// Resolution codes of the stock firmware: index -> (width, height).
pub const RESOLUTIONS: &[(u32, u32)] =
    &[(1280, 720), (640, 480), (640, 360), (320, 240), (320, 180)];

const FIELDS: &[&str] = &["resolution", "bitRate", "frameRate", "GOP", "isVBR"];

fn section(command: &str) -> &'static str {
    if command.contains("Sub") {
        "sub_stream"
    } else {
        "main_stream"
    }
}

/// Factory values: main stream 720p, sub stream VGA, decreasing quality per stream type.
fn default_value(section: &str, field: &str, stream_type: i64) -> i64 {
    let main = section == "main_stream";
    match field {
        "resolution" => i64::from(!main),
        "bitRate" => (if main { 2_097_152 } else { 524_288 }) >> stream_type,
        "frameRate" => {
            if main {
                30 - 5 * stream_type
            } else {
                15
            }
        }
        "GOP" => {
            if main {
                30 - 5 * stream_type
            } else {
                15
            }
        }
        _ => 0,
    }
}

/// The stored or factory value of one field of one stream type.
pub fn stream_value(app: &App, section: &str, field: &str, stream_type: i64) -> CgiResult<i64> {
    let stored = read_value(app, section, &format!("{field}{stream_type}"))?;
    if let Some(value) = stored.parse().ok().filter(|_| !stored.is_empty()) {
        return Ok(value);
    }
    if field == "resolution" {
        // The factory resolution is the board's (main) or VGA (sub), or the largest the
        // sensor can deliver when that is smaller.
        let wanted = if section == "main_stream" {
            i64::from(app.hal.board.defaults.main_resolution)
        } else {
            1
        };
        return Ok(fitting_resolution(app, wanted));
    }
    Ok(default_value(section, field, stream_type))
}

/// `wanted`, or the first (largest) resolution code after it that fits the board's sensor.
fn fitting_resolution(app: &App, wanted: i64) -> i64 {
    let video = &app.hal.board.video;
    RESOLUTIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(wanted).unwrap_or(0))
        .find(|(_, (w, h))| *w <= video.max_width && *h <= video.max_height)
        .map_or(wanted, |(i, _)| i as i64)
}

/// All four stream types of one stream.
fn get_stream_param(req: &Request) -> CgiResult<Reply> {
    let section = section(req.spec.name);
    let mut fields = Fields::new();
    for field in FIELDS {
        for n in 0..STREAM_TYPES {
            fields.push(
                format!("{field}{n}"),
                stream_value(req.app, section, field, n)?,
            );
        }
    }
    Ok(Reply::Xml(fields))
}

/// Change one stream type's parameters.
fn set_stream_param(req: &Request) -> CgiResult<Reply> {
    let section = section(req.spec.name);
    let stream_type = req.int("streamType")?;
    let board = &req.app.hal.board.video;
    let mut values = Vec::new();
    for field in FIELDS {
        let Some(value) = req.opt_int(field)? else {
            continue;
        };
        let ok = match *field {
            "resolution" => usize::try_from(value)
                .ok()
                .and_then(|i| RESOLUTIONS.get(i))
                .is_some_and(|(w, h)| *w <= board.max_width && *h <= board.max_height),
            "frameRate" => (1..=30).contains(&value),
            "GOP" => (1..=300).contains(&value),
            "isVBR" => (0..=1).contains(&value),
            _ => true, // bitRate: range checked by the catalogue
        };
        if !ok {
            return Err(CgiError::field(field, "out of range"));
        }
        values.push((format!("{field}{stream_type}"), value.to_string()));
    }
    if values.is_empty() {
        return Err(CgiError::Format("no stream parameter given".into()));
    }
    let pairs: Vec<(&str, &str)> = values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    req.app.store.set_section(section, &pairs)?;
    Ok(Reply::ok())
}
