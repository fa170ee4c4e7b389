//! System commands: reboot, firmware upgrade, and configuration export/import.
//!
//! fwUpgrade verifies the uploaded image (signature, board, size, hash) before anything is
//! written, installs it beside the running release (the previous one kept for rollback), answers,
//! then restarts into it. exportConfig writes every setting to a file served at
//! `/configs/export/configs.bin`; importConfig validates every line of such a file against the
//! same rules as the setters and applies all of it in one transaction, or nothing.

use super::super::catalogue::FieldSpec;
use super::super::command::Request;
use super::super::context::Restart;
use super::super::error::{CgiError, CgiResult, outcome_field};
use super::super::reply::{Fields, Reply};
use super::config::validate_field;
use crate::firmware::FIRMWARE_DIR;
use crate::firmware::keys::UpgradeTrust;

/// First line of an exported configuration file.
const CONFIG_MAGIC: &str = "ipcamd-config 1";
/// Path (under the data directory) of the exported configuration.
pub const EXPORT_FILE: &str = "export/configs.bin";

/// Reboot the camera (on the simulated board: restart the daemon).
pub(crate) fn reboot_system(req: &Request) -> CgiResult<Reply> {
    let kind = if req.ctx.hal.board.board.backend == ipcamd_hal::board::Backend::Sim {
        Restart::Daemon
    } else {
        Restart::System
    };
    tracing::warn!(user = %req.user()?.name, ?kind, "reboot requested");
    req.ctx.request_restart(kind);
    Ok(Reply::ok())
}

/// Verify, install and restart into an uploaded firmware image.
pub(crate) fn fw_upgrade(req: &Request) -> CgiResult<Reply> {
    let upload = req
        .upload
        .ok_or_else(|| CgiError::Format("fwUpgrade needs the fw_file upload".into()))?;
    let trust = UpgradeTrust::for_board(&req.ctx.hal.board).map_err(|err| {
        tracing::warn!(%err, "fwUpgrade: this board cannot be upgraded");
        CgiError::Exec(err.to_string())
    })?;
    let failed = |err: crate::firmware::FwError| {
        tracing::warn!(%err, "fwUpgrade refused");
        Ok(Reply::Xml(
            Fields::new().with("upgradeResult", outcome_field(false)),
        ))
    };
    let verified = match crate::firmware::verify_image(upload, &trust.public_key, &trust.board_id) {
        Ok(verified) => verified,
        Err(err) => return failed(err),
    };
    let version = verified.info.version().to_owned();
    let root = req.ctx.data_dir.join(FIRMWARE_DIR);
    match crate::firmware::install(verified, &root) {
        Ok(release) => {
            tracing::warn!(%version, release = %release.display(), "firmware installed; restarting into it");
            req.ctx.request_restart(Restart::Daemon);
            Ok(Reply::Xml(
                Fields::new().with("upgradeResult", outcome_field(true)),
            ))
        }
        Err(err) => failed(err),
    }
}

/// Every stored setting, one `section<TAB>key<TAB>value` line each, for every section of the
/// settings list.
pub(crate) fn export_config(req: &Request) -> CgiResult<Reply> {
    let mut text = String::from(CONFIG_MAGIC);
    text.push('\n');
    for (section, key, value) in req.ctx.settings.stored_rows()? {
        if value.contains(['\t', '\n']) {
            continue;
        }
        text.push_str(&format!("{section}\t{key}\t{value}\n"));
    }
    let path = req.ctx.data_dir.join(EXPORT_FILE);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| CgiError::Exec(format!("export folder: {e}")))?;
    }
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, text)
        .and_then(|()| std::fs::rename(&temp, &path))
        .map_err(|e| CgiError::Exec(format!("writing the export: {e}")))?;
    Ok(Reply::Xml(Fields::new().with("fileName", "configs.bin")))
}

/// The parameter of a setter of `section` that `key` stands for, if any (its rules apply).
fn field_for(req: &Request, section: &str, key: &str) -> Option<&'static FieldSpec> {
    req.table
        .iter()
        .filter(|decl| decl.settings == Some(section) && !decl.name.starts_with("get"))
        .flat_map(|decl| decl.spec().params.iter())
        .find(|f| f.name == key)
}

/// Apply an exported configuration: all lines valid, or nothing changes.
pub(crate) fn import_config(req: &Request) -> CgiResult<Reply> {
    let upload = req
        .upload
        .ok_or_else(|| CgiError::Format("importConfig needs the setting_file upload".into()))?;
    let text = std::fs::read_to_string(upload)
        .map_err(|_| CgiError::Format("not a text config file".into()))?;
    let mut lines = text.lines();
    if lines.next() != Some(CONFIG_MAGIC) {
        return Err(CgiError::Format("not an ipcamd configuration file".into()));
    }
    let mut values: Vec<(String, String, String)> = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let mut parts = line.splitn(3, '\t');
        let (Some(section), Some(key), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CgiError::Format("malformed line".into()));
        };
        let value = match field_for(req, section, key) {
            Some(field) => validate_field(section, field, value)?,
            None => {
                super::super::command::check_text(key, value, 63)?;
                value.to_owned()
            }
        };
        values.push((section.to_owned(), key.to_owned(), value));
    }
    let rows: Vec<(&str, &str, &str)> = values
        .iter()
        .map(|(s, k, v)| (s.as_str(), k.as_str(), v.as_str()))
        .collect();
    req.ctx.settings.import(&rows).map_err(|err| match err {
        crate::settings::ImportError::Unknown(what) => {
            CgiError::Format(format!("unknown setting {what}"))
        }
        crate::settings::ImportError::Store(err) => err.into(),
    })?;
    tracing::warn!(
        settings = values.len(),
        "configuration imported; restarting"
    );
    req.ctx.request_restart(Restart::Daemon);
    Ok(Reply::ok())
}
