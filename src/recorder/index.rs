//! The record index: one SQLite row per segment file, kept on the card beside the recordings
//! (`<card>/ipcamd-index.db`) so it travels with the card and always describes the card it
//! is on.
//!
//! A row is written when a segment opens (`open = 1`, no end yet) and updated when it closes.
//! After a crash or a hot removal, [`Index::reconcile`] makes the index match the files again:
//! it repairs open or changed segments (trimming a fragment cut in half, never whole
//! fragments), adds files the index does not know and drops rows whose file is gone. The same
//! pass runs at start-up, when a card is inserted, and for reloadRecordindex.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::mp4;
use super::naming::{RecordKind, SegmentName};

/// File name of the index on the card.
pub const INDEX_FILE: &str = "ipcamd-index.db";
/// Folder of the card holding the segments.
pub const RECORD_DIR: &str = "record";

/// One segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRow {
    /// File name in [`RECORD_DIR`].
    pub name: String,
    /// Schedule, alarm or manual.
    pub kind: RecordKind,
    /// 0 main stream, 1 sub stream.
    pub stream: u8,
    /// UTC start, unix seconds.
    pub start_utc: i64,
    /// Start in camera local time (seconds since 1970-01-01 00:00 local), as in the name.
    pub start_local: i64,
    /// Footage end (start plus duration), UTC and local.
    pub end_utc: i64,
    /// Local end.
    pub end_local: i64,
    /// File size in bytes.
    pub size: u64,
    /// Still being written (or cut off by a crash, until the repair pass).
    pub open: bool,
}

/// A query of getRecordList: local time range, kind (None: all), paging.
#[derive(Debug, Clone, Copy)]
pub struct ListQuery {
    /// Segments that end at or after this local time.
    pub from_local: i64,
    /// ... and start at or before this one.
    pub to_local: i64,
    /// Only this kind.
    pub kind: Option<RecordKind>,
    /// Index of the first row to return (oldest first).
    pub offset: u32,
    /// Most rows to return.
    pub limit: u32,
}

/// What a reconcile pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Files the index did not know, now listed.
    pub added: u32,
    /// Rows whose file was gone, dropped.
    pub removed: u32,
    /// Segments trimmed back to their last whole fragment or re-measured.
    pub repaired: u32,
    /// Files without one whole fragment (no footage), deleted.
    pub empty_deleted: u32,
}

/// The index of one card.
pub struct Index {
    conn: Connection,
    dir: PathBuf,
}

fn sql_err(e: rusqlite::Error) -> std::io::Error {
    std::io::Error::other(format!("record index: {e}"))
}

impl Index {
    /// Opens (creating) the index of the card mounted at `root`, and its record folder.
    pub fn open(root: &Path) -> std::io::Result<Index> {
        let dir = root.join(RECORD_DIR);
        std::fs::create_dir_all(&dir)?;
        let conn = Connection::open(root.join(INDEX_FILE)).map_err(sql_err)?;
        // One connection (the recorder's, shared under a mutex): an exclusive lock needs no
        // shared-memory file, and WAL appends instead of rewriting pages (less card wear).
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(sql_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql_err)?;
        // Keep the log small on the card: checkpoint often, truncate it back after.
        conn.pragma_update(None, "wal_autocheckpoint", 64)
            .map_err(sql_err)?;
        conn.pragma_update(None, "journal_size_limit", 256 * 1024)
            .map_err(sql_err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS segments (
                name TEXT PRIMARY KEY,
                kind INTEGER NOT NULL,
                stream INTEGER NOT NULL,
                start_utc INTEGER NOT NULL,
                start_local INTEGER NOT NULL,
                end_utc INTEGER NOT NULL,
                end_local INTEGER NOT NULL,
                size INTEGER NOT NULL,
                open INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS segments_by_start ON segments(start_local);",
        )
        .map_err(sql_err)?;
        Ok(Index { conn, dir })
    }

    /// The folder holding the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes (or replaces) a row.
    pub fn put(&self, row: &SegmentRow) -> std::io::Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO segments
                 (name, kind, stream, start_utc, start_local, end_utc, end_local, size, open)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    row.name,
                    row.kind as i64,
                    row.stream,
                    row.start_utc,
                    row.start_local,
                    row.end_utc,
                    row.end_local,
                    i64::try_from(row.size).unwrap_or(i64::MAX),
                    row.open
                ],
            )
            .map(|_| ())
            .map_err(sql_err)
    }

    /// Drops a row.
    pub fn remove(&self, name: &str) -> std::io::Result<()> {
        self.conn
            .execute("DELETE FROM segments WHERE name = ?1", params![name])
            .map(|_| ())
            .map_err(sql_err)
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SegmentRow> {
        Ok(SegmentRow {
            name: r.get(0)?,
            kind: RecordKind::from_code(r.get(1)?).unwrap_or(RecordKind::Schedule),
            stream: r.get(2)?,
            start_utc: r.get(3)?,
            start_local: r.get(4)?,
            end_utc: r.get(5)?,
            end_local: r.get(6)?,
            size: u64::try_from(r.get::<_, i64>(7)?).unwrap_or(0),
            open: r.get(8)?,
        })
    }

    const COLUMNS: &'static str =
        "name, kind, stream, start_utc, start_local, end_utc, end_local, size, open";

    /// A row by file name.
    pub fn get(&self, name: &str) -> std::io::Result<Option<SegmentRow>> {
        self.conn
            .query_row(
                &format!("SELECT {} FROM segments WHERE name = ?1", Self::COLUMNS),
                params![name],
                Self::row,
            )
            .optional()
            .map_err(sql_err)
    }

    /// Rows matching `query` (oldest first) and how many match in all.
    pub fn list(&self, query: &ListQuery) -> std::io::Result<(u64, Vec<SegmentRow>)> {
        let kind = query.kind.map_or(-1, |k| k as i64);
        let filter = "end_local >= ?1 AND start_local <= ?2 AND (?3 < 0 OR kind = ?3)";
        let total: i64 = self
            .conn
            .query_row(
                &format!("SELECT COUNT(*) FROM segments WHERE {filter}"),
                params![query.from_local, query.to_local, kind],
                |r| r.get(0),
            )
            .map_err(sql_err)?;
        let mut statement = self
            .conn
            .prepare(&format!(
                "SELECT {} FROM segments WHERE {filter} ORDER BY start_local, name LIMIT ?4 OFFSET ?5",
                Self::COLUMNS
            ))
            .map_err(sql_err)?;
        let rows = statement
            .query_map(
                params![
                    query.from_local,
                    query.to_local,
                    kind,
                    query.limit,
                    query.offset
                ],
                Self::row,
            )
            .map_err(sql_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql_err)?;
        Ok((u64::try_from(total).unwrap_or(0), rows))
    }

    /// The oldest closed segment (the first to go when the card is full).
    pub fn oldest_closed(&self) -> std::io::Result<Option<SegmentRow>> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {} FROM segments WHERE open = 0 ORDER BY start_utc, name LIMIT 1",
                    Self::COLUMNS
                ),
                [],
                Self::row,
            )
            .optional()
            .map_err(sql_err)
    }

    /// Every row.
    fn all(&self) -> std::io::Result<Vec<SegmentRow>> {
        let mut statement = self
            .conn
            .prepare(&format!("SELECT {} FROM segments", Self::COLUMNS))
            .map_err(sql_err)?;
        statement
            .query_map([], Self::row)
            .map_err(sql_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql_err)
    }

    /// Makes the index match the files (see the module docs). `busy` names the segment being
    /// written, left alone.
    pub fn reconcile(&self, busy: Option<&str>) -> std::io::Result<Reconciled> {
        let mut done = Reconciled::default();
        let mut files: HashMap<String, u64> = HashMap::new();
        for entry in std::fs::read_dir(&self.dir)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if SegmentName::parse(&name).is_some() {
                let size = entry.metadata().map_or(0, |m| m.len());
                files.insert(name, size);
            }
        }
        let rows = self.all()?;
        let known: HashMap<&str, &SegmentRow> = rows.iter().map(|r| (r.name.as_str(), r)).collect();
        for row in &rows {
            if Some(row.name.as_str()) == busy {
                continue;
            }
            match files.get(&row.name) {
                None => {
                    self.remove(&row.name)?;
                    done.removed += 1;
                }
                Some(&size) if row.open || size != row.size => {
                    match self.measure(&row.name, Some(row))? {
                        Some(fixed) => {
                            self.put(&fixed)?;
                            done.repaired += 1;
                        }
                        None => {
                            self.remove(&row.name)?;
                            done.empty_deleted += 1;
                        }
                    }
                }
                Some(_) => {}
            }
        }
        for name in files.keys() {
            if known.contains_key(name.as_str()) || Some(name.as_str()) == busy {
                continue;
            }
            match self.measure(name, None)? {
                Some(row) => {
                    self.put(&row)?;
                    done.added += 1;
                }
                None => done.empty_deleted += 1,
            }
        }
        Ok(done)
    }

    /// Reads a segment file, trims a cut-off fragment, and describes it; deletes a file that
    /// holds no whole fragment (`None`).
    fn measure(
        &self,
        name: &str,
        known: Option<&SegmentRow>,
    ) -> std::io::Result<Option<SegmentRow>> {
        let Some(parsed) = SegmentName::parse(name) else {
            return Ok(None);
        };
        let path = self.dir.join(name);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)?;
        let scan = mp4::scan(&mut file)?;
        if scan.fragments == 0 {
            drop(file);
            std::fs::remove_file(&path)?;
            tracing::info!(name, "record index: segment without footage removed");
            return Ok(None);
        }
        let len = file.metadata()?.len();
        if scan.valid_len < len {
            file.set_len(scan.valid_len)?;
            file.sync_all()?;
            tracing::warn!(
                name,
                cut = len - scan.valid_len,
                "record index: segment cut mid-fragment trimmed to its last whole fragment"
            );
        }
        let start_local = parsed.start_local;
        let offset = known.map_or_else(
            || scan.start_unix.map_or(0, |utc| start_local - utc),
            |k| k.start_local - k.start_utc,
        );
        let start_utc = scan.start_unix.unwrap_or(start_local - offset);
        let duration = i64::try_from(scan.duration_ticks / u64::from(mp4::TIMESCALE)).unwrap_or(0);
        Ok(Some(SegmentRow {
            name: name.to_owned(),
            kind: parsed.kind,
            stream: scan.stream,
            start_utc,
            start_local,
            end_utc: start_utc + duration,
            end_local: start_local + duration,
            size: scan.valid_len,
            open: false,
        }))
    }

    /// Deletes a segment's file and row.
    pub fn delete_segment(&self, name: &str) -> std::io::Result<u64> {
        let path = self.dir.join(name);
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.remove(name)?;
        Ok(size)
    }
}
