//! System commands: reboot, firmware upgrade, and configuration export/import.
//!
//! fwUpgrade verifies the uploaded image (signature, board, size, hash) before anything is
//! written, installs it beside the running release (the previous one kept for rollback), answers,
//! then restarts into it. exportConfig writes every setting to a file served at
//! `/configs/export/configs.bin`; importConfig validates every line of such a file against the
//! same rules as the setters and applies all of it in one transaction, or nothing.

use super::super::catalogue;
use super::super::registry::Handler;
use super::super::reply::{Fields, Reply};
use super::super::{CgiError, CgiResult, Request};
use super::config::{SECTIONS, validate_field};
use crate::app::{App, FIRMWARE_DIR, Restart};
use crate::firmware::keys::UpgradeTrust;

/// Handlers of this file.
pub const HANDLERS: &[(&str, Handler)] = &[
    ("rebootSystem", reboot_system),
    ("fwUpgrade", fw_upgrade),
    ("exportConfig", export_config),
    ("importConfig", import_config),
];

/// First line of an exported configuration file.
const CONFIG_MAGIC: &str = "ipcamd-config 1";
/// Path (under the data directory) of the exported configuration.
pub const EXPORT_FILE: &str = "export/configs.bin";

/// Reboot the camera (on the simulated board: restart the daemon).
fn reboot_system(req: &Request) -> CgiResult<Reply> {
    let kind = if req.app.hal.board.board.backend == ipcamd_hal::board::Backend::Sim {
        Restart::Daemon
    } else {
        Restart::System
    };
    tracing::warn!(user = %req.user()?.name, ?kind, "reboot requested");
    req.app.request_restart(kind);
    Ok(Reply::ok())
}

/// Verify, install and restart into an uploaded firmware image.
fn fw_upgrade(req: &Request) -> CgiResult<Reply> {
    let upload = req
        .upload
        .ok_or_else(|| CgiError::Format("fwUpgrade needs the fw_file upload".into()))?;
    let trust = UpgradeTrust::for_board(&req.app.hal.board).map_err(|err| {
        tracing::warn!(%err, "fwUpgrade: this board cannot be upgraded");
        CgiError::Exec(err.to_string())
    })?;
    let failed = |err: crate::firmware::FwError| {
        tracing::warn!(%err, "fwUpgrade refused");
        Ok(Reply::Xml(Fields::new().with("upgradeResult", -1)))
    };
    let verified = match crate::firmware::verify_image(upload, &trust.public_key, &trust.board_id) {
        Ok(verified) => verified,
        Err(err) => return failed(err),
    };
    let version = verified.info.version().to_owned();
    let root = req.app.data_dir.join(FIRMWARE_DIR);
    match crate::firmware::install(verified, &root) {
        Ok(release) => {
            tracing::warn!(%version, release = %release.display(), "firmware installed; restarting into it");
            req.app.request_restart(Restart::Daemon);
            Ok(Reply::Xml(Fields::new().with("upgradeResult", 0)))
        }
        Err(err) => failed(err),
    }
}

/// Every stored setting, one `section<TAB>key<TAB>value` line each.
fn export_config(req: &Request) -> CgiResult<Reply> {
    let mut text = String::from(CONFIG_MAGIC);
    text.push('\n');
    let mut sections: Vec<&str> = SECTIONS.iter().map(|s| s.name).collect();
    sections.extend(["main_stream", "sub_stream", "time", "ptz_selftest"]);
    for section in sections {
        for (key, value) in req.app.store.section(section)? {
            if value.contains(['\t', '\n']) {
                continue;
            }
            text.push_str(&format!("{section}\t{key}\t{value}\n"));
        }
    }
    let path = req.app.data_dir.join(EXPORT_FILE);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| CgiError::Exec(format!("export folder: {e}")))?;
    }
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, text)
        .and_then(|()| std::fs::rename(&temp, &path))
        .map_err(|e| CgiError::Exec(format!("writing the export: {e}")))?;
    Ok(Reply::Xml(Fields::new().with("fileName", "configs.bin")))
}

/// The catalogue field a `section`/`key` pair of an export stands for, if any.
fn field_for(section: &str, key: &str) -> Option<&'static catalogue::FieldSpec> {
    let sec = SECTIONS.iter().find(|s| s.name == section)?;
    sec.setters
        .iter()
        .filter_map(|c| catalogue::find(c))
        .flat_map(|c| c.params.iter())
        .find(|f| f.name == key)
}

/// Apply an exported configuration: all lines valid, or nothing changes.
fn import_config(req: &Request) -> CgiResult<Reply> {
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
        let value = match field_for(section, key) {
            Some(field) => validate_field(section, field, value)?,
            None if ["main_stream", "sub_stream", "time", "ptz_selftest"].contains(&section) => {
                super::super::check_text(key, value, 63)?;
                value.to_owned()
            }
            None => return Err(CgiError::Format(format!("unknown setting {section}.{key}"))),
        };
        values.push((section.to_owned(), key.to_owned(), value));
    }
    apply_import(req.app, &values)?;
    tracing::warn!(
        settings = values.len(),
        "configuration imported; restarting"
    );
    req.app.request_restart(Restart::Daemon);
    Ok(Reply::ok())
}

fn apply_import(app: &App, values: &[(String, String, String)]) -> CgiResult<()> {
    let rows: Vec<(&str, &str, &str)> = values
        .iter()
        .map(|(s, k, v)| (s.as_str(), k.as_str(), v.as_str()))
        .collect();
    app.store.import_settings(&rows)?;
    Ok(())
}
