//! Typed settings (layer 1): one struct per stored section ([`sections`]), each with its
//! factory values from the board file, and [`Settings`], the handle every service and
//! handler reads them through.
//!
//! # How a change reaches a service
//! The store keeps `(section, key, value)` rows and bumps a generation counter on every
//! write. [`Settings::snapshot`] returns one shared [`Snapshot`] of every section, rebuilt
//! (one `SELECT` of the whole table) only when the generation moved; otherwise it is an
//! atomic load and an `Arc` clone. A service loop therefore calls `snapshot()` (or
//! [`Settings::changed`], which also says whether anything changed since it last looked) at
//! its own pace, every frame if it likes, without touching SQLite: a `setMotionDetectConfig`
//! over CGI writes the store, the next `snapshot()` anywhere sees the new values.
//!
//! # Adding a section
//! Declare it with [`section!`](crate::section) in [`sections`], add it to the
//! [`snapshot!`] list below, and give its commands `.settings("name")` in the command table.
//! Export, import and factory reset follow the list; a test checks that every field of the
//! section's commands in the guide's catalogue is a field of the struct.

pub mod field;
pub mod sections;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ipcamd_hal::board::BoardSpec;

use crate::store::{Store, StoreResult};

/// One typed settings section.
pub trait Section: Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    /// Its name in the store.
    const NAME: &'static str;
    /// Its factory value on `board`.
    fn factory(board: &BoardSpec) -> Self;
    /// Every store key, in declaration order.
    fn keys() -> Vec<String>;
    /// The value under a store key (`None`: not a key of this section).
    fn get(&self, key: &str) -> Option<String>;
    /// Sets one key from text: `None` when the key is not the section's, `Some(false)` when
    /// the text does not parse (the value is kept).
    fn set(&mut self, key: &str, text: &str) -> Option<bool>;
    /// The factory value with the stored rows applied (rows that do not parse are ignored:
    /// the factory value stands).
    fn load(board: &BoardSpec, stored: Option<&HashMap<String, String>>) -> Self {
        let mut section = Self::factory(board);
        if let Some(rows) = stored {
            for (key, value) in rows {
                if section.set(key, value) == Some(false) {
                    tracing::warn!(
                        section = Self::NAME,
                        key,
                        "stored setting unreadable; factory value used"
                    );
                }
            }
        }
        section
    }
}

/// Any section, by name, for code that works on wire names (the generic CGI getters and
/// setters, export and import).
pub trait AnySection: Send + Sync {
    /// Its name in the store.
    fn name(&self) -> &'static str;
    /// The value under a store key.
    fn value(&self, key: &str) -> Option<String>;
    /// Whether `key` is one of its keys and `text` a value of its type.
    fn accepts(&self, key: &str, text: &str) -> bool;
    /// Every store key.
    fn all_keys(&self) -> Vec<String>;
}

impl<S: Section> AnySection for S {
    fn name(&self) -> &'static str {
        S::NAME
    }
    fn value(&self, key: &str) -> Option<String> {
        self.get(key)
    }
    fn accepts(&self, key: &str, text: &str) -> bool {
        self.clone().set(key, text) == Some(true)
    }
    fn all_keys(&self) -> Vec<String> {
        S::keys()
    }
}

macro_rules! snapshot {
    ($($field:ident: $ty:ident,)*) => {
        /// Every section at one moment (shared, immutable).
        #[derive(Debug, Clone, PartialEq)]
        pub struct Snapshot {
            $(
                #[doc = concat!("`", stringify!($field), "`.")]
                pub $field: sections::$ty,
            )*
        }

        impl Snapshot {
            /// Factory values with the stored rows applied.
            fn load(board: &BoardSpec, rows: &HashMap<String, HashMap<String, String>>) -> Snapshot {
                Snapshot {
                    $($field: <sections::$ty as Section>::load(board, rows.get(<sections::$ty as Section>::NAME)),)*
                }
            }

            /// The section called `name`.
            pub fn section(&self, name: &str) -> Option<&dyn AnySection> {
                $(
                    if name == <sections::$ty as Section>::NAME {
                        return Some(&self.$field);
                    }
                )*
                None
            }
        }

        /// Every section's store name, in the guide's order (export, import, tests).
        pub const SECTION_NAMES: &[&str] = &[$(<sections::$ty as Section>::NAME,)*];
    };
}

snapshot! {
    image: Image,
    mirror_flip: MirrorFlip,
    ratio: Ratio,
    h264_frame_ref: H264FrameRef,
    record_stream: RecordStream,
    power_frequency: PowerFrequency,
    main_stream_type: MainStreamType,
    sub_stream_type: SubStreamType,
    sub_stream_format: SubStreamFormat,
    main_stream: MainStream,
    sub_stream: SubStream,
    osd: Osd,
    osd_mask_area: OsdMaskArea,
    motion: Motion,
    local_alarm_record: LocalAlarmRecord,
    snap: Snap,
    schedule_snap: ScheduleSnap,
    alarm_record: AlarmRecord,
    schedule_record: ScheduleRecord,
    io_alarm: IoAlarm,
    pc_audio_alarm: PcAudioAlarm,
    ptz_speed: PtzSpeed,
    cruise_time: CruiseTime,
    cruise_time_customed: CruiseTimeCustomed,
    cruise_loop: CruiseLoop,
    cruise_mode: CruiseMode,
    zoom_speed: ZoomSpeed,
    ptz_selftest: PtzSelfTest,
    rs485: Rs485,
    ip: Ip,
    wifi: Wifi,
    ports: Ports,
    upnp: Upnp,
    ddns: Ddns,
    ftp: Ftp,
    smtp: Smtp,
    p2p: P2p,
    p2p_port: P2pPort,
    pppoe: Pppoe,
    infra_led: InfraLed,
    infra_led_schedule: InfraLedSchedule,
    dev_name: DevName,
    firewall: Firewall,
    time: Time,
}

/// The settings handle: the store's settings rows as typed, cached [`Snapshot`]s.
pub struct Settings {
    store: Arc<Store>,
    board: Arc<BoardSpec>,
    cache: Mutex<Option<(u64, Arc<Snapshot>)>>,
}

impl Settings {
    /// Settings over `store`, with factory values from `board`.
    pub fn new(store: Arc<Store>, board: Arc<BoardSpec>) -> Settings {
        Settings {
            store,
            board,
            cache: Mutex::new(None),
        }
    }

    /// The board the factory values come from.
    pub fn board(&self) -> &BoardSpec {
        &self.board
    }

    /// Every section now. Reads the store only when a write happened since the last call;
    /// if the store cannot be read, the last good snapshot (or the factory one) stands.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        let generation = self.store.generation();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, snapshot)) = cache.as_ref() {
            if *seen == generation {
                return snapshot.clone();
            }
        }
        let rows = match self.store.all_settings() {
            Ok(rows) => rows,
            Err(err) => {
                tracing::warn!(%err, "settings unreadable; keeping the previous ones");
                if let Some((_, snapshot)) = cache.as_ref() {
                    return snapshot.clone();
                }
                Vec::new()
            }
        };
        let mut grouped: HashMap<String, HashMap<String, String>> = HashMap::new();
        for (section, key, value) in rows {
            grouped.entry(section).or_default().insert(key, value);
        }
        let snapshot = Arc::new(Snapshot::load(&self.board, &grouped));
        *cache = Some((generation, snapshot.clone()));
        snapshot
    }

    /// A counter that moves on every settings write (cheap: one atomic load). For consumers
    /// that cache what they derived from a snapshot.
    pub fn generation(&self) -> u64 {
        self.store.generation()
    }

    /// The snapshot if anything changed since `seen` (updated), else `None`. For loops that
    /// rebuild state only on a change.
    pub fn changed(&self, seen: &mut Option<u64>) -> Option<Arc<Snapshot>> {
        let generation = self.store.generation();
        if *seen == Some(generation) {
            return None;
        }
        *seen = Some(generation);
        Some(self.snapshot())
    }

    /// The factory values of every section.
    pub fn factory(&self) -> Snapshot {
        Snapshot::load(&self.board, &HashMap::new())
    }

    /// Writes keys of one section in one transaction (all or nothing). The caller has
    /// validated the values; each must be a key of the section and parse as its type.
    pub fn write(&self, section: &str, values: &[(&str, &str)]) -> StoreResult<()> {
        debug_assert!(
            values.iter().all(|(k, v)| self
                .factory()
                .section(section)
                .is_some_and(|s| s.accepts(k, v))),
            "{section}: {values:?} is not a valid write"
        );
        self.store.set_section(section, values)
    }

    /// Forgets a section's stored values (its factory values apply again).
    pub fn reset_section(&self, section: &str) -> StoreResult<()> {
        self.store.clear_section(section)
    }

    /// Every stored row of every section, for export: `(section, key, value)`.
    pub fn stored_rows(&self) -> StoreResult<Vec<(String, String, String)>> {
        let mut rows = Vec::new();
        for section in SECTION_NAMES {
            for (key, value) in self.store.section(section)? {
                rows.push(((*section).to_owned(), key, value));
            }
        }
        Ok(rows)
    }

    /// Replaces every setting with `rows` in one transaction (importConfig). Each row must
    /// name a section and key of the list and parse as its type.
    pub fn import(&self, rows: &[(&str, &str, &str)]) -> Result<(), ImportError> {
        let factory = self.factory();
        for (section, key, value) in rows {
            let known = factory
                .section(section)
                .is_some_and(|s| s.accepts(key, value));
            if !known {
                return Err(ImportError::Unknown(format!("{section}.{key}")));
            }
        }
        self.store.import_settings(rows).map_err(ImportError::Store)
    }
}

/// Why an import was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A row names no setting, or its value is not of the setting's type.
    #[error("unknown or malformed setting {0}")]
    Unknown(String),
    /// The store failed.
    #[error(transparent)]
    Store(crate::store::StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board() -> Arc<BoardSpec> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("board/sim.toml");
        Arc::new(BoardSpec::load(&path).unwrap())
    }

    fn settings() -> (tempfile::TempDir, Settings) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("ipcamd.db")).unwrap());
        (dir, Settings::new(store, board()))
    }

    #[test]
    fn test_snapshot_is_cached_until_a_write() {
        let (_dir, settings) = settings();
        let a = settings.snapshot();
        let b = settings.snapshot();
        assert!(Arc::ptr_eq(&a, &b), "no write: the same snapshot");
        assert_eq!(a.motion.sensitivity, 1);
        settings
            .write("motion", &[("sensitivity", "3"), ("schedule2", "7")])
            .unwrap();
        let c = settings.snapshot();
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(c.motion.sensitivity, 3);
        assert_eq!(c.motion.schedule[2], 7);
        assert_eq!(c.motion.schedule[1], sections::WHOLE_DAY);
    }

    #[test]
    fn test_changed_reports_each_write_once() {
        let (_dir, settings) = settings();
        let mut seen = None;
        assert!(settings.changed(&mut seen).is_some());
        assert!(settings.changed(&mut seen).is_none());
        settings.write("ptz_speed", &[("speed", "4")]).unwrap();
        assert_eq!(settings.changed(&mut seen).unwrap().ptz_speed.speed, 4);
        assert!(settings.changed(&mut seen).is_none());
    }

    #[test]
    fn test_factory_values_come_from_the_board() {
        let (_dir, settings) = settings();
        let board = board();
        let snapshot = settings.snapshot();
        assert_eq!(snapshot.ports.web_port, i64::from(board.defaults.web_port));
        assert_eq!(snapshot.dev_name.name, board.defaults.dev_name);
        assert_eq!(
            snapshot.section("ports").unwrap().value("webPort"),
            Some(board.defaults.web_port.to_string())
        );
    }

    #[test]
    fn test_import_refuses_unknown_keys_and_changes_nothing() {
        let (_dir, settings) = settings();
        settings.write("ptz_speed", &[("speed", "4")]).unwrap();
        let err = settings.import(&[("ptz_speed", "speed", "1"), ("ptz_speed", "nope", "1")]);
        assert!(matches!(err, Err(ImportError::Unknown(_))));
        assert_eq!(settings.snapshot().ptz_speed.speed, 4);
        settings.import(&[("ptz_speed", "speed", "1")]).unwrap();
        assert_eq!(settings.snapshot().ptz_speed.speed, 1);
    }

    #[test]
    fn test_section_names_are_unique() {
        for (i, name) in SECTION_NAMES.iter().enumerate() {
            assert!(!SECTION_NAMES[i + 1..].contains(name), "{name} twice");
        }
    }
}
