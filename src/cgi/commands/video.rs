//! Pictures: snapPicture2 (JPEG bytes), snapPicture (saved JPEG plus the guide's HTML page),
//! and GetMJStream (the MJPEG stream, served by the HTTP layer once this grants it).

use super::super::registry::Handler;
use super::super::reply::Reply;
use super::super::{CgiError, CgiResult, Request};
use super::config::read_value;
use crate::media::{self, Media};

/// Handlers of this file.
pub const HANDLERS: &[(&str, Handler)] = &[
    ("snapPicture2", snap_picture2),
    ("snapPicture", snap_picture),
    ("GetMJStream", get_mj_stream),
];

fn pipeline<'a>(req: &'a Request) -> CgiResult<&'a Media> {
    req.app.media.get().map(|m| &**m).ok_or_else(|| {
        tracing::info!(cmd = req.spec.name, "this board has no video source");
        CgiError::Exec("no video source".into())
    })
}

/// A JPEG of the main stream at the snap quality.
fn snap_picture2(req: &Request) -> CgiResult<Reply> {
    let media = pipeline(req)?;
    Ok(Reply::Jpeg(media::snapshot_jpeg(req.app, media)?))
}

/// Where snapPicture saves its pictures (served at `/snapPic/NAME.jpg`).
pub fn snapshot_dir(app: &crate::app::App) -> std::path::PathBuf {
    app.data_dir.join("snapPic")
}

/// Saves a snapshot and answers the guide's HTML page pointing at it.
fn snap_picture(req: &Request) -> CgiResult<Reply> {
    let media = pipeline(req)?;
    let jpeg = media::snapshot_jpeg(req.app, media)?;
    let now = super::device::local_now(req.app)?;
    let name = format!(
        "Snap_{:04}{:02}{:02}-{:02}{:02}{:02}",
        now.year, now.month, now.day, now.hour, now.minute, now.second
    );
    let dir = snapshot_dir(req.app);
    std::fs::create_dir_all(&dir).map_err(|e| CgiError::Exec(format!("snapshot folder: {e}")))?;
    let path = dir.join(format!("{name}.jpg"));
    let temp = dir.join(format!(".{name}.jpg.tmp"));
    std::fs::write(&temp, &jpeg)
        .and_then(|()| std::fs::rename(&temp, &path))
        .map_err(|e| CgiError::Exec(format!("saving the snapshot: {e}")))?;
    prune_snapshots(&dir);
    Ok(Reply::Html(format!(
        "<html><body><img src=\"../snapPic/{name}.jpg\"/></body></html>"
    )))
}

/// Snapshots kept by snapPicture before the oldest are removed.
const SNAPSHOTS_KEPT: usize = 32;

fn prune_snapshots(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("Snap_") && n.ends_with(".jpg"))
        .collect();
    if names.len() <= SNAPSHOTS_KEPT {
        return;
    }
    names.sort();
    for old in &names[..names.len() - SNAPSHOTS_KEPT] {
        let _ = std::fs::remove_file(dir.join(old));
    }
}

/// Grants the MJPEG stream; the HTTP layer then serves it.
fn get_mj_stream(req: &Request) -> CgiResult<Reply> {
    pipeline(req)?;
    if read_value(req.app, "sub_stream_format", "format")? != "1" {
        tracing::info!(
            "GetMJStream: the sub stream is H.264; setSubStreamFormat format=1 selects MJPEG"
        );
        return Err(CgiError::Exec("sub stream is not MJPEG".into()));
    }
    Ok(Reply::MjpegStream)
}
