//! The recorder service: H.264 from the encoded-stream hub to fragmented MP4 segments on the SD
//! card, listed in a SQLite index on the card.
//!
//! What it owns:
//! - schedule recording (setScheduleRecordConfig: the 7×48 half-hour bitmap in camera local
//!   time, recordLevel frame dropping, spaceFullMode, isEnableAudio without a microphone) of
//!   the stream setScheduleRecordStreamChn picks;
//! - alarm recording: an [`AlarmEvent`] (sent by the alarm service over a channel) with the
//!   record linkage records alarmRecordSecs; with setLocalAlarmRecordConfig enabled every alarm
//!   records localAlarmRecordSecs; a new alarm during one extends it; pre-record
//!   (setAlarmRecordConfig) starts the file preRecordSecs early from the in-memory ring, on a
//!   key frame ([`ring`]);
//! - segments ([`segment`], [`mp4`]): one file per [`engine::SEGMENT_MAX`], a fragment per key
//!   frame or second, each fsynced; names carry kind and local start time ([`naming`]);
//! - the card: hot removal ends the segment at its last whole fragment, recording resumes when
//!   a card returns; a full card overwrites the oldest segments or stops ([`engine`]);
//! - the index ([`index`]): rows written as segments open and close, repaired against the files
//!   at start-up, on card insertion and by reloadRecordindex;
//! - scheduled snapshots (setScheduleSnapConfig, [`snapshots`]): the recorder decides when one is
//!   due and hands its name to the daemon's delivery (SD card or FTP per setSnapConfig);
//! - wear counters ([`segment::WriteCounters`]).
//!
//! Built from narrow handles: the storage role, the clock, a settings source (re-read only when
//! the settings store's generation moves), and channels in: frames and alarm events. Upward it
//! reports only through [`Recorder`]'s state (getDevState's `record`).

pub mod engine;
pub mod h264;
pub mod index;
pub mod mp4;
pub mod naming;
pub mod ring;
pub mod segment;
pub mod settings;
pub mod snapshots;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ipcamd_hal::clock::Clock;
use ipcamd_hal::storage::{CardState, CardStatus, Storage};
use ipcamd_hal::video::encoded::EncodedFrame;

use index::{Index, ListQuery, Reconciled, SegmentRow};
use segment::WriteCounters;
use settings::RecorderSettings;

/// An alarm, as the alarm service reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlarmEvent {
    /// What fired ("motion alarm", "IO alarm"), for the log.
    pub source: &'static str,
    /// The source's linkage has the record bit.
    pub record_linkage: bool,
}

/// Takes a picture now and stores it under the given name (SD or FTP per setSnapConfig).
pub type SnapshotSink = Arc<dyn Fn(String) + Send + Sync>;

/// Where the recorder's settings come from.
pub trait SettingsSource: Send + Sync {
    /// Changes whenever a setting may have changed (the settings store's generation).
    fn generation(&self) -> u64;
    /// The current settings.
    fn load(&self) -> RecorderSettings;
}

/// Why a recording command cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// No usable card (absent; or read-only / full for writing).
    #[error("{0}")]
    NoCard(&'static str),
    /// Not a segment of the index.
    #[error("no such recording")]
    NotFound,
    /// The card or the index failed.
    #[error("record index: {0}")]
    Io(#[from] std::io::Error),
}

enum Input {
    Frame(Arc<EncodedFrame>),
    Alarm(AlarmEvent),
    Stop,
}

/// [`Shared`]'s `wanted` when no frames are needed.
const NO_STREAM: u8 = u8::MAX;

/// State shared by the recorder thread and the command handlers.
pub struct Shared {
    storage: Option<Arc<dyn Storage>>,
    index: Mutex<Option<Index>>,
    recording: Mutex<Option<String>>,
    card: Mutex<CardStatus>,
    /// The stream the recorder needs frames of now (0 main, 1 sub), or [`NO_STREAM`].
    wanted: std::sync::atomic::AtomicU8,
    /// What went to the card.
    pub counters: Arc<WriteCounters>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Shared state over the board's card.
    pub fn new(storage: Option<Arc<dyn Storage>>) -> Arc<Shared> {
        Arc::new(Shared {
            storage,
            index: Mutex::new(None),
            recording: Mutex::new(None),
            card: Mutex::new(CardStatus::ABSENT),
            wanted: std::sync::atomic::AtomicU8::new(NO_STREAM),
            counters: Arc::new(WriteCounters::default()),
        })
    }

    fn set_wanted(&self, stream: Option<u8>) {
        self.wanted.store(
            stream.unwrap_or(NO_STREAM),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    fn set_card(&self, status: CardStatus) {
        *lock(&self.card) = status;
    }

    fn set_recording(&self, name: Option<String>) {
        *lock(&self.recording) = name;
    }

    fn index_open(&self) -> bool {
        lock(&self.index).is_some()
    }

    fn close_index(&self) {
        *lock(&self.index) = None;
    }

    /// Opens the card's index and makes it match the files (the start-up repair pass).
    fn open_index(&self, root: &Path) {
        let busy = lock(&self.recording).clone();
        match Index::open(root) {
            Ok(index) => {
                match index.reconcile(busy.as_deref()) {
                    Ok(done) if done != Reconciled::default() => {
                        tracing::info!(?done, "record index repaired against the card");
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(%err, "record index: repair pass failed"),
                }
                *lock(&self.index) = Some(index);
            }
            Err(err) => tracing::warn!(%err, root = %root.display(), "record index unavailable"),
        }
    }

    /// Runs `f` on the open index; `None` (logged) without an index or on failure.
    fn with_index<T>(&self, f: impl FnOnce(&Index) -> std::io::Result<T>) -> Option<T> {
        let guard = lock(&self.index);
        let index = guard.as_ref()?;
        match f(index) {
            Ok(value) => Some(value),
            Err(err) => {
                tracing::warn!(%err, "record index");
                None
            }
        }
    }
}

/// The handle the daemon and the command handlers hold.
#[derive(Clone)]
pub struct Recorder {
    shared: Arc<Shared>,
    input: SyncSender<Input>,
}

/// Frames and control messages queued for the recorder thread. A frame that does not fit is
/// dropped (the recorder then waits for the next key frame); alarms always fit.
const QUEUE: usize = 256;

impl Recorder {
    /// Starts the recorder thread.
    pub fn start(
        storage: Option<Arc<dyn Storage>>,
        clock: Arc<dyn Clock>,
        settings: Arc<dyn SettingsSource>,
        snapshots: Option<SnapshotSink>,
    ) -> std::io::Result<Recorder> {
        let shared = Shared::new(storage);
        let (input, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || run(thread_shared, clock, settings, snapshots, rx))?;
        Ok(Recorder { shared, input })
    }

    /// Hands the recorder a frame of the recorded stream; never blocks (a full queue drops it).
    pub fn frame(&self, frame: Arc<EncodedFrame>) {
        match self.input.try_send(Input::Frame(frame)) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                tracing::debug!("recorder behind: frame dropped, resuming at the next key frame");
            }
        }
    }

    /// Reports an alarm.
    pub fn alarm(&self, event: AlarmEvent) {
        let _ = self.input.send(Input::Alarm(event));
    }

    /// A sender of alarm events for the alarm service.
    pub fn alarm_sink(&self) -> impl Fn(AlarmEvent) + Send + Sync + 'static {
        let input = self.input.clone();
        move |event| {
            let _ = input.send(Input::Alarm(event));
        }
    }

    /// Stops the thread (the open segment is closed).
    pub fn stop(&self) {
        let _ = self.input.send(Input::Stop);
    }

    /// The stream (0 main, 1 sub) the recorder needs frames of now: while it records, while an
    /// alarm recording may start soon, and always with pre-record on (the ring must be full
    /// when an alarm comes). `None`: the feeder may leave the stream, so it is not encoded for
    /// the recorder.
    pub fn wanted_stream(&self) -> Option<u8> {
        match self
            .shared
            .wanted
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            NO_STREAM => None,
            stream => Some(stream),
        }
    }

    /// Whether a segment is being written (getDevState `record`).
    pub fn is_recording(&self) -> bool {
        lock(&self.shared.recording).is_some()
    }

    /// The card's state as last seen by the recorder thread.
    pub fn card(&self) -> CardStatus {
        *lock(&self.shared.card)
    }

    /// Wear counters.
    pub fn counters(&self) -> &WriteCounters {
        &self.shared.counters
    }

    fn readable_card(&self) -> Result<Arc<dyn Storage>, RecordError> {
        let storage = self
            .shared
            .storage
            .clone()
            .ok_or(RecordError::NoCard("this board has no SD card slot"))?;
        if storage.status().state == CardState::Absent {
            return Err(RecordError::NoCard("no SD card in the slot"));
        }
        Ok(storage)
    }

    fn index<T>(&self, f: impl FnOnce(&Index) -> std::io::Result<T>) -> Result<T, RecordError> {
        let storage = self.readable_card()?;
        let mut guard = lock(&self.shared.index);
        if guard.is_none() {
            drop(guard);
            self.shared.open_index(storage.root());
            guard = lock(&self.shared.index);
        }
        let index = guard.as_ref().ok_or(RecordError::NoCard(
            "the SD card's record index cannot be opened",
        ))?;
        Ok(f(index)?)
    }

    /// Segments matching `query`, and how many match in all.
    pub fn list(&self, query: &ListQuery) -> Result<(u64, Vec<SegmentRow>), RecordError> {
        self.index(|index| index.list(query))
    }

    /// reloadRecordindex: rebuilds the index from the files on the card.
    pub fn reload_index(&self) -> Result<Reconciled, RecordError> {
        let busy = lock(&self.shared.recording).clone();
        self.index(|index| index.reconcile(busy.as_deref()))
    }

    /// The file of an indexed segment, for download.
    pub fn segment_file(&self, name: &str) -> Result<PathBuf, RecordError> {
        if naming::SegmentName::parse(name).is_none() {
            return Err(RecordError::NotFound);
        }
        let row = self.index(|index| Ok((index.get(name)?, index.dir().join(name))))?;
        match row {
            (Some(_), path) => Ok(path),
            (None, _) => Err(RecordError::NotFound),
        }
    }
}

/// The path clients see for a segment (getRecordList's recordN, and the download URL).
pub fn record_path(name: &str) -> String {
    format!("/{}/{name}", index::RECORD_DIR)
}

fn run(
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
    source: Arc<dyn SettingsSource>,
    snapshots: Option<SnapshotSink>,
    rx: Receiver<Input>,
) {
    let mut snap = snapshots::SnapScheduler::default();
    let mut generation = source.generation();
    let mut engine = engine::Engine::new(shared, source.load());
    engine.tick(clock.now());
    let mut next_tick = Instant::now() + Duration::from_secs(1);
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(Input::Frame(frame)) => engine.on_frame(frame, clock.now()),
            Ok(Input::Alarm(event)) => engine.on_alarm(event, clock.now()),
            Ok(Input::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        if Instant::now() >= next_tick {
            next_tick = Instant::now() + Duration::from_secs(1);
            let now_generation = source.generation();
            if now_generation != generation {
                generation = now_generation;
                engine.set_settings(source.load());
            }
            let now = clock.now();
            engine.tick(now);
            if let Some(sink) = &snapshots {
                let unix = now
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
                if let Some(name) = snap.due(engine.settings(), unix) {
                    sink(name);
                }
            }
        }
    }
    engine.shutdown();
}
