//! Stream parameters: four stream types per stream (main and sub), each with resolution, bit
//! rate, frame rate, GOP and VBR flag. setVideoStreamParam names the stream type it changes.
//! The values and their factory defaults are the `main_stream` / `sub_stream` settings
//! sections; the table gives each command its section.

use super::super::command::Request;
use super::super::error::{CgiError, CgiResult};
use super::super::reply::{Fields, Reply};
use crate::settings::sections::{RESOLUTIONS, STREAM_TYPES};

const FIELDS: &[&str] = &["resolution", "bitRate", "frameRate", "GOP", "isVBR"];

fn section(req: &Request) -> CgiResult<&'static str> {
    req.command
        .settings
        .ok_or_else(|| CgiError::Unknown("stream command without a section".into()))
}

/// All four stream types of one stream.
pub(crate) fn get_stream_param(req: &Request) -> CgiResult<Reply> {
    let section = section(req)?;
    let snapshot = req.ctx.settings.snapshot();
    let stored = snapshot
        .section(section)
        .ok_or_else(|| CgiError::Unknown(format!("no section {section}")))?;
    let mut fields = Fields::new();
    for field in FIELDS {
        for n in 0..STREAM_TYPES {
            let key = format!("{field}{n}");
            let value = stored
                .value(&key)
                .ok_or_else(|| CgiError::Unknown(format!("no setting {key}")))?;
            fields.push(key, value);
        }
    }
    Ok(Reply::Xml(fields))
}

/// Change one stream type's parameters.
pub(crate) fn set_stream_param(req: &Request) -> CgiResult<Reply> {
    let section = section(req)?;
    let stream_type = req.int("streamType")?;
    let board = &req.ctx.hal.board.video;
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
    req.ctx.settings.write(section, &pairs)?;
    Ok(Reply::ok())
}
