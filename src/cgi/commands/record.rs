//! The guide's record list commands: getRecordList, getRecordList2 and reloadRecordindex,
//! answered from the recorder's index of the SD card.
//!
//! Request (the guide names the fields, not their coding; the stock web page shows it):
//! - `recordPath`: 0 SD card (the default). 2 (FTP) and anything else: -1 (nothing is
//!   recorded to FTP, so there is nothing to list there).
//! - `startTime`, `endTime`: seconds since 1970-01-01 00:00 in the camera's *local* time (the
//!   stock page builds them with `Date.setUTCHours` from the local fields). Records that
//!   overlap the range are listed. Absent: no bound. endTime before startTime: -1.
//! - `recordType`: 0 schedule, 1 alarm, 2 manual ("normal"), 3 all (the default). Others: -1.
//! - `startNo`: index of the first record of the page (0 = the oldest match); 10 per page.
//!
//! Reply: `totalCnt` (matches in all), `curCnt` (in this page) and `record0`..`record9`.
//! Each `recordN` is what stock Foscam firmware answers and its web page parses: the record's
//! path, `/record/<kind>_<YYYYMMDD>_<HHMMSS>.mp4` (the page splits it at `/`, takes element 2 as
//! the file name and tells the kind from the words `schedule`, `alarm`, `normal` in it). The
//! same path, below the camera's address, downloads the file (credentials in the query).
//! getRecordList and getRecordList2 answer alike. Unused `recordN` up to 9 are empty, as the
//! guide lists ten.

use super::super::command::Request;
use super::super::error::{CgiError, CgiResult};
use super::super::reply::{Fields, Reply};
use crate::recorder::RecordError;
use crate::recorder::index::ListQuery;
use crate::recorder::naming::RecordKind;

/// Records per page (record0..record9).
pub const PAGE: u32 = 10;

fn recorder<'a>(req: &'a Request) -> CgiResult<&'a crate::recorder::Recorder> {
    req.ctx.recorder.as_deref().ok_or_else(|| {
        tracing::info!(cmd = req.spec.name, "this board has no SD card slot");
        CgiError::Exec("no SD card slot on this board".into())
    })
}

fn record_error(cmd: &str, err: RecordError) -> CgiError {
    tracing::info!(cmd, %err, "record list unavailable");
    CgiError::Exec(err.to_string())
}

/// The parsed request (see the module docs); every check before anything is read.
fn list_query(req: &Request) -> CgiResult<ListQuery> {
    match req.opt_int("recordPath")? {
        None | Some(0) => {}
        Some(_) => {
            return Err(CgiError::field(
                "recordPath",
                "only 0 (SD card) holds records",
            ));
        }
    }
    let from = req.opt_int("startTime")?.unwrap_or(i64::MIN);
    let to = req.opt_int("endTime")?.unwrap_or(i64::MAX);
    if from > to {
        return Err(CgiError::field("endTime", "before startTime"));
    }
    let kind = match req.opt_int("recordType")? {
        None | Some(3) => None,
        Some(code) => Some(
            RecordKind::from_code(code)
                .ok_or_else(|| CgiError::field("recordType", "not 0, 1, 2 or 3"))?,
        ),
    };
    let offset = match req.opt_int("startNo")? {
        None => 0,
        Some(n) => u32::try_from(n).map_err(|_| CgiError::field("startNo", "out of range"))?,
    };
    Ok(ListQuery {
        from_local: from,
        to_local: to,
        kind,
        offset,
        limit: PAGE,
    })
}

/// getRecordList / getRecordList2.
pub(crate) fn get_record_list(req: &Request) -> CgiResult<Reply> {
    let query = list_query(req)?;
    let (total, rows) = recorder(req)?
        .list(&query)
        .map_err(|e| record_error(req.spec.name, e))?;
    let mut fields = Fields::new()
        .with("totalCnt", total)
        .with("curCnt", rows.len());
    for i in 0..PAGE as usize {
        let value = rows
            .get(i)
            .map(|row| crate::recorder::record_path(&row.name))
            .unwrap_or_default();
        fields = fields.with(format!("record{i}"), value);
    }
    Ok(Reply::Xml(fields))
}

/// reloadRecordindex: makes the index match the card (files copied on, removed or truncated by
/// hand; segments cut by a power loss).
pub(crate) fn reload_record_index(req: &Request) -> CgiResult<Reply> {
    let done = recorder(req)?
        .reload_index()
        .map_err(|e| record_error(req.spec.name, e))?;
    tracing::info!(?done, "record index reloaded from the SD card");
    Ok(Reply::ok())
}
