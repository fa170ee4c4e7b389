//! Pictures: snapPicture2 (JPEG bytes), snapPicture (saved JPEG plus the guide's HTML page),
//! and GetMJStream (the MJPEG stream, served by the HTTP layer once this grants it).

use super::super::command::Request;
use super::super::error::{CgiError, CgiResult};
use super::super::reply::Reply;
use crate::media::Media;

fn pipeline<'a>(req: &'a Request) -> CgiResult<&'a Media> {
    req.ctx.media.as_deref().ok_or_else(|| {
        tracing::info!(cmd = req.spec.name, "this board has no video source");
        CgiError::Exec("no video source".into())
    })
}

/// A JPEG of the main stream at the snap quality.
pub(crate) fn snap_picture2(req: &Request) -> CgiResult<Reply> {
    let media = pipeline(req)?;
    Ok(Reply::Jpeg(media.snapshot_jpeg()?))
}

/// Where snapPicture saves its pictures (served at `/snapPic/NAME.jpg`).
pub fn snapshot_dir(ctx: &crate::cgi::Context) -> std::path::PathBuf {
    ctx.data_dir.join("snapPic")
}

/// Saves a snapshot and answers the guide's HTML page pointing at it.
pub(crate) fn snap_picture(req: &Request) -> CgiResult<Reply> {
    let media = pipeline(req)?;
    let jpeg = media.snapshot_jpeg()?;
    let now = req.ctx.clock.now();
    let name = format!(
        "Snap_{:04}{:02}{:02}-{:02}{:02}{:02}",
        now.year, now.month, now.day, now.hour, now.minute, now.second
    );
    let dir = snapshot_dir(req.ctx);
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
pub(crate) fn get_mj_stream(req: &Request) -> CgiResult<Reply> {
    pipeline(req)?;
    if req.ctx.settings.snapshot().sub_stream_format.format != 1 {
        tracing::info!(
            "GetMJStream: the sub stream is H.264; setSubStreamFormat format=1 selects MJPEG"
        );
        return Err(CgiError::Exec("sub stream is not MJPEG".into()));
    }
    Ok(Reply::MjpegStream)
}
