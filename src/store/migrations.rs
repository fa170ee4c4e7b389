//! Schema migrations: an append-only list; `PRAGMA user_version` records how many ran.
//! Never edit a released entry: add a new one.

use rusqlite::Connection;

use super::{StoreError, StoreResult};

/// Each entry moves the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: settings, accounts, system log, multi-device list.
    "CREATE TABLE setting (
         section TEXT NOT NULL,
         key TEXT NOT NULL,
         value TEXT NOT NULL,
         PRIMARY KEY (section, key)
     ) WITHOUT ROWID;
     CREATE TABLE account (
         name TEXT NOT NULL UNIQUE,
         hash TEXT NOT NULL,
         privilege INTEGER NOT NULL CHECK (privilege BETWEEN 0 AND 2)
     );
     CREATE TABLE event_log (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         time INTEGER NOT NULL,
         kind INTEGER NOT NULL,
         user TEXT NOT NULL,
         ip TEXT NOT NULL
     );
     CREATE TABLE multi_dev (
         chnnl INTEGER PRIMARY KEY,
         product_type TEXT NOT NULL,
         ip TEXT NOT NULL,
         port INTEGER NOT NULL,
         media_port INTEGER NOT NULL,
         user_name TEXT NOT NULL,
         password TEXT NOT NULL,
         dev_name TEXT NOT NULL
     );",
    // 2: PTZ presets (name -> controller preset number) and cruise maps.
    "CREATE TABLE ptz_preset (
         name TEXT PRIMARY KEY,
         slot INTEGER NOT NULL UNIQUE
     );
     CREATE TABLE cruise_map (
         name TEXT PRIMARY KEY,
         points TEXT NOT NULL,
         lingers TEXT NOT NULL
     );",
    // 3: RTSP Digest secrets (RFC 2617's HA1 = H(user:realm:password), hex, per algorithm),
    // set with the password; NULL until the account's next password login after the upgrade.
    "ALTER TABLE account ADD COLUMN digest_md5 TEXT;
     ALTER TABLE account ADD COLUMN digest_sha256 TEXT;",
];

/// Brings the database up to the newest schema, each step in its own transaction.
pub(super) fn apply(conn: &mut Connection) -> StoreResult<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let supported = MIGRATIONS.len() as i64;
    if current > supported {
        return Err(StoreError::TooNew {
            found: current,
            supported,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_migrations_apply_to_empty_database_and_are_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        apply(&mut conn).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    #[test]
    fn test_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
        assert!(matches!(apply(&mut conn), Err(StoreError::TooNew { .. })));
    }
}
