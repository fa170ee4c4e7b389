//! The settings store: one SQLite file (WAL, synchronous=FULL so an acknowledged write
//! survives a crash) holding user settings, accounts, the system log and the multi-device list.
//! All SQL lives in this module; callers get typed functions. One connection behind a mutex:
//! callers run on blocking threads and every statement is short. Settings are read typed
//! through `crate::settings`; the system log is written through [`event_log::EventLog`].
//! Every write asks the request's [`commit::CommitGate`] before it commits, so a command
//! answered -5 leaves the store unchanged.

pub mod commit;
pub mod event_log;
mod migrations;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database stayed locked past the busy timeout.
    #[error("database busy")]
    Busy,
    /// The request this write belongs to was already answered -5 (see [`commit`]): nothing
    /// was written.
    #[error("the request timed out before this write committed")]
    TimedOut,
    /// The file is newer than this daemon understands.
    #[error("database schema {found} is newer than this firmware's {supported}")]
    TooNew {
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// Any other SQLite failure.
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> StoreError {
        match err.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Busy
            }
            _ => StoreError::Sqlite(err),
        }
    }
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// A stored user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    /// User name.
    pub name: String,
    /// PHC-format password hash.
    pub hash: String,
    /// Guide privilege level 0..=2.
    pub privilege: i64,
    /// RTSP Digest secret for MD5: the hex HA1 of `name`, the Digest realm and the password
    /// (password-equivalent for that realm; never logged). `None` until set.
    pub digest_md5: Option<String>,
    /// The same for SHA-256 (RFC 7616).
    pub digest_sha256: Option<String>,
}

/// What [`Store::update_account`] does with an account's Digest secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestUpdate<'a> {
    /// Leave them.
    Keep,
    /// Forget them (they hash the old name or password).
    Clear,
    /// New ones: (MD5, SHA-256).
    Set(&'a str, &'a str),
}

/// One system-log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    /// Unix time (UTC seconds).
    pub time: i64,
    /// Guide log type.
    pub kind: i64,
    /// User name involved (may be empty).
    pub user: String,
    /// Client address involved (may be empty).
    pub ip: String,
}

/// One entry of the multi-device list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiDevRow {
    /// Channel 0..=8.
    pub chnnl: i64,
    /// Product type text.
    pub product_type: String,
    /// Address.
    pub ip: String,
    /// Web port.
    pub port: i64,
    /// Media port.
    pub media_port: i64,
    /// Login name on that device.
    pub user_name: String,
    /// Password on that device.
    pub password: String,
    /// Its name.
    pub dev_name: String,
}

/// The most log entries kept (the guide's camera keeps at most 1000).
pub const LOG_LIMIT: i64 = 1000;

/// Handle on the database.
pub struct Store {
    conn: Mutex<Connection>,
    /// Bumped on every settings write, so caches (the media pipeline) know to re-read.
    generation: std::sync::atomic::AtomicU64,
}

impl Store {
    /// Opens (creating and migrating) the database at `path`.
    pub fn open(path: &Path) -> StoreResult<Store> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(2))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrations::apply(&mut conn)?;
        Ok(Store {
            conn: Mutex::new(conn),
            generation: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Changes every time a setting is written.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> StoreResult<i64> {
        Ok(self
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Every stored key of a settings section.
    pub fn section(&self, section: &str) -> StoreResult<Vec<(String, String)>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT key, value FROM setting WHERE section = ?1 ORDER BY key")?;
        let rows = stmt.query_map([section], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every stored setting as `(section, key, value)`.
    pub fn all_settings(&self) -> StoreResult<Vec<(String, String, String)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT section, key, value FROM setting")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One stored setting.
    pub fn setting(&self, section: &str, key: &str) -> StoreResult<Option<String>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT value FROM setting WHERE section = ?1 AND key = ?2")?;
        Ok(stmt.query_row([section, key], |r| r.get(0)).optional()?)
    }

    /// Writes several keys of a section in one transaction: all or nothing.
    pub fn set_section(&self, section: &str, values: &[(&str, &str)]) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO setting (section, key, value) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (section, key) DO UPDATE SET value = excluded.value",
            )?;
            for (key, value) in values {
                stmt.execute([section, key, value])?;
            }
        }
        commit::permit()?;
        tx.commit()?;
        self.bump();
        Ok(())
    }

    /// Replaces every setting with `rows` (section, key, value) in one transaction.
    pub fn import_settings(&self, rows: &[(&str, &str, &str)]) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM setting", [])?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO setting (section, key, value) VALUES (?1, ?2, ?3)",
            )?;
            for (section, key, value) in rows {
                stmt.execute([section, key, value])?;
            }
        }
        commit::permit()?;
        tx.commit()?;
        self.bump();
        Ok(())
    }

    /// Forgets every stored key of a section (its factory defaults apply again).
    pub fn clear_section(&self, section: &str) -> StoreResult<()> {
        commit::permit()?;
        self.conn()
            .execute("DELETE FROM setting WHERE section = ?1", [section])?;
        self.bump();
        Ok(())
    }

    /// Forgets every setting, account and multi-device entry (the system log stays, as a
    /// record of the reset). One transaction.
    pub fn factory_reset(&self) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute_batch(
            "DELETE FROM setting; DELETE FROM account; DELETE FROM multi_dev; \
             DELETE FROM ptz_preset; DELETE FROM cruise_map;",
        )?;
        commit::permit()?;
        tx.commit()?;
        self.bump();
        Ok(())
    }

    /// Every account, oldest first.
    pub fn accounts(&self) -> StoreResult<Vec<AccountRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT name, hash, privilege, digest_md5, digest_sha256 FROM account ORDER BY rowid",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(AccountRow {
                name: r.get(0)?,
                hash: r.get(1)?,
                privilege: r.get(2)?,
                digest_md5: r.get(3)?,
                digest_sha256: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Adds an account; `false` when the name exists.
    pub fn insert_account(&self, row: &AccountRow) -> StoreResult<bool> {
        commit::permit()?;
        let n = self.conn().execute(
            "INSERT OR IGNORE INTO account (name, hash, privilege, digest_md5, digest_sha256) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                row.name,
                row.hash,
                row.privilege,
                row.digest_md5,
                row.digest_sha256
            ],
        )?;
        Ok(n == 1)
    }

    /// Deletes an account; `false` when there was none.
    pub fn delete_account(&self, name: &str) -> StoreResult<bool> {
        commit::permit()?;
        Ok(self
            .conn()
            .execute("DELETE FROM account WHERE name = ?1", [name])?
            == 1)
    }

    /// Renames an account and/or sets its hash and Digest secrets, atomically; `false` when
    /// `name` is unknown or `new_name` is taken.
    pub fn update_account(
        &self,
        name: &str,
        new_name: Option<&str>,
        new_hash: Option<&str>,
        digest: DigestUpdate<'_>,
    ) -> StoreResult<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if let Some(new_name) = new_name {
            if new_name != name {
                let taken: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM account WHERE name = ?1)",
                    [new_name],
                    |r| r.get(0),
                )?;
                if taken {
                    return Ok(false);
                }
            }
            if tx.execute(
                "UPDATE account SET name = ?2 WHERE name = ?1",
                [name, new_name],
            )? != 1
            {
                return Ok(false);
            }
        }
        let current = new_name.unwrap_or(name);
        if let Some(hash) = new_hash {
            if tx.execute(
                "UPDATE account SET hash = ?2 WHERE name = ?1",
                [current, hash],
            )? != 1
            {
                return Ok(false);
            }
        }
        let (md5, sha256) = match digest {
            DigestUpdate::Keep => (None, None),
            DigestUpdate::Clear => (Some(None), Some(None)),
            DigestUpdate::Set(md5, sha256) => (Some(Some(md5)), Some(Some(sha256))),
        };
        if let (Some(md5), Some(sha256)) = (md5, sha256) {
            if tx.execute(
                "UPDATE account SET digest_md5 = ?2, digest_sha256 = ?3 WHERE name = ?1",
                params![current, md5, sha256],
            )? != 1
            {
                return Ok(false);
            }
        }
        commit::permit()?;
        tx.commit()?;
        Ok(true)
    }

    /// Sets an account's Digest secrets if its password hash is still `hash` (the one just
    /// verified: a password changed meanwhile wins); `false` when it is not.
    pub fn set_account_digest(
        &self,
        name: &str,
        hash: &str,
        md5: &str,
        sha256: &str,
    ) -> StoreResult<bool> {
        Ok(self.conn().execute(
            "UPDATE account SET digest_md5 = ?3, digest_sha256 = ?4 WHERE name = ?1 AND hash = ?2",
            params![name, hash, md5, sha256],
        )? == 1)
    }

    /// Appends a system-log entry, keeping at most [`LOG_LIMIT`].
    pub fn append_log(&self, row: &LogRow) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO event_log (time, kind, user, ip) VALUES (?1, ?2, ?3, ?4)",
            params![row.time, row.kind, row.user, row.ip],
        )?;
        tx.execute(
            "DELETE FROM event_log WHERE id <= (SELECT MAX(id) FROM event_log) - ?1",
            [LOG_LIMIT],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Number of log entries.
    pub fn log_count(&self) -> StoreResult<i64> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM event_log", [], |r| r.get(0))?)
    }

    /// Log entries newest first, skipping `offset`, at most `count`.
    pub fn log_page(&self, offset: i64, count: i64) -> StoreResult<Vec<LogRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT time, kind, user, ip FROM event_log ORDER BY id DESC LIMIT ?1 OFFSET ?2",
        )?;
        let rows = stmt.query_map([count, offset], |r| {
            Ok(LogRow {
                time: r.get(0)?,
                kind: r.get(1)?,
                user: r.get(2)?,
                ip: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The multi-device list, by channel.
    pub fn multi_devs(&self) -> StoreResult<Vec<MultiDevRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT chnnl, product_type, ip, port, media_port, user_name, password, dev_name \
             FROM multi_dev ORDER BY chnnl",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(MultiDevRow {
                chnnl: r.get(0)?,
                product_type: r.get(1)?,
                ip: r.get(2)?,
                port: r.get(3)?,
                media_port: r.get(4)?,
                user_name: r.get(5)?,
                password: r.get(6)?,
                dev_name: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Adds or replaces the device on a channel.
    pub fn put_multi_dev(&self, row: &MultiDevRow) -> StoreResult<()> {
        commit::permit()?;
        self.conn().execute(
            "INSERT OR REPLACE INTO multi_dev \
             (chnnl, product_type, ip, port, media_port, user_name, password, dev_name) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                row.chnnl,
                row.product_type,
                row.ip,
                row.port,
                row.media_port,
                row.user_name,
                row.password,
                row.dev_name
            ],
        )?;
        Ok(())
    }

    /// Removes the device on a channel; `false` when there was none.
    pub fn delete_multi_dev(&self, chnnl: i64) -> StoreResult<bool> {
        commit::permit()?;
        Ok(self
            .conn()
            .execute("DELETE FROM multi_dev WHERE chnnl = ?1", [chnnl])?
            == 1)
    }
}

/// A stored cruise map: preset names in visiting order and the linger time at each point
/// position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CruiseRow {
    /// Map name.
    pub name: String,
    /// Preset names, in order.
    pub points: Vec<String>,
    /// Seconds to stay at each point position (setCruisePrePointLingerTime's time0..time7: the
    /// CGI handlers keep one for every position, also those the map has no point at yet).
    pub lingers: Vec<i64>,
}

impl Store {
    /// User presets (name, controller slot), by slot.
    pub fn presets(&self) -> StoreResult<Vec<(String, i64)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT name, slot FROM ptz_preset ORDER BY slot")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Adds a user preset; `false` when the name or slot is taken.
    pub fn insert_preset(&self, name: &str, slot: i64) -> StoreResult<bool> {
        commit::permit()?;
        let n = self.conn().execute(
            "INSERT OR IGNORE INTO ptz_preset (name, slot) VALUES (?1, ?2)",
            params![name, slot],
        )?;
        Ok(n == 1)
    }

    /// Deletes a user preset; `false` when there was none.
    pub fn delete_preset(&self, name: &str) -> StoreResult<bool> {
        commit::permit()?;
        Ok(self
            .conn()
            .execute("DELETE FROM ptz_preset WHERE name = ?1", [name])?
            == 1)
    }

    /// Stored cruise maps, by name.
    pub fn cruise_maps(&self) -> StoreResult<Vec<CruiseRow>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT name, points, lingers FROM cruise_map ORDER BY rowid")?;
        let rows = stmt.query_map([], |r| {
            let points: String = r.get(1)?;
            let lingers: String = r.get(2)?;
            Ok(CruiseRow {
                name: r.get(0)?,
                points: points
                    .split('\n')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect(),
                lingers: lingers.split(',').filter_map(|t| t.parse().ok()).collect(),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Adds or replaces a cruise map.
    pub fn put_cruise_map(&self, row: &CruiseRow) -> StoreResult<()> {
        commit::permit()?;
        let lingers: Vec<String> = row.lingers.iter().map(i64::to_string).collect();
        self.conn().execute(
            "INSERT INTO cruise_map (name, points, lingers) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET points = excluded.points, lingers = excluded.lingers",
            params![row.name, row.points.join("\n"), lingers.join(",")],
        )?;
        Ok(())
    }

    /// Deletes a cruise map; `false` when there was none.
    pub fn delete_cruise_map(&self, name: &str) -> StoreResult<bool> {
        commit::permit()?;
        Ok(self
            .conn()
            .execute("DELETE FROM cruise_map WHERE name = ?1", [name])?
            == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("ipcamd.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn test_settings_round_trip_and_survive_reopen() {
        let (dir, store) = temp_store();
        store
            .set_section("image", &[("brightness", "70"), ("hue", "20")])
            .unwrap();
        drop(store);
        let store = Store::open(&dir.path().join("ipcamd.db")).unwrap();
        assert_eq!(
            store.setting("image", "brightness").unwrap().as_deref(),
            Some("70")
        );
        assert_eq!(store.section("image").unwrap().len(), 2);
    }

    #[test]
    fn test_update_account_refuses_taken_name() {
        let (_dir, store) = temp_store();
        for name in ["a", "b"] {
            let row = AccountRow {
                name: name.into(),
                hash: "h".into(),
                privilege: 0,
                digest_md5: Some("m".into()),
                digest_sha256: Some("s".into()),
            };
            assert!(store.insert_account(&row).unwrap());
        }
        assert!(
            !store
                .update_account("a", Some("b"), None, DigestUpdate::Clear)
                .unwrap()
        );
        assert!(
            store
                .update_account("a", Some("c"), Some("h2"), DigestUpdate::Clear)
                .unwrap()
        );
        let rows = store.accounts().unwrap();
        let names: Vec<_> = rows.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["c", "b"]);
        assert_eq!(
            (rows[0].digest_md5.as_deref(), rows[0].hash.as_str()),
            (None, "h2")
        );
        assert_eq!(rows[1].digest_md5.as_deref(), Some("m"), "b is untouched");
        // Lazy Digest secrets only land while the verified hash is still the stored one.
        assert!(!store.set_account_digest("c", "h", "m2", "s2").unwrap());
        assert!(store.set_account_digest("c", "h2", "m2", "s2").unwrap());
        let c = &store.accounts().unwrap()[0];
        assert_eq!(
            (c.digest_md5.as_deref(), c.digest_sha256.as_deref()),
            (Some("m2"), Some("s2"))
        );
        assert!(
            store
                .update_account("c", None, None, DigestUpdate::Set("m3", "s3"))
                .unwrap()
        );
        assert_eq!(
            store.accounts().unwrap()[0].digest_md5.as_deref(),
            Some("m3")
        );
    }

    #[test]
    fn test_log_keeps_newest_thousand() {
        let (_dir, store) = temp_store();
        for t in 0..(LOG_LIMIT + 5) {
            let row = LogRow {
                time: t,
                kind: 1,
                user: String::new(),
                ip: String::new(),
            };
            store.append_log(&row).unwrap();
        }
        assert_eq!(store.log_count().unwrap(), LOG_LIMIT);
        assert_eq!(store.log_page(0, 1).unwrap()[0].time, LOG_LIMIT + 4);
    }
}
