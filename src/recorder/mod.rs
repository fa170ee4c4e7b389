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
//! Built from narrow handles ([`RecorderParts`]): the storage role, typed settings (re-read
//! only when they changed), the local clock, the event log and device state it reports to, the
//! alarm-event channel the alarm service sends on, and a [`FrameSource`] (the stream hub,
//! through [`feeder`]) it subscribes to for the stream it needs, only while it needs it
//! (recording, alarm pending, pre-record). One thread runs it all; command handlers and the
//! HTTP downloads use the [`Recorder`] handle.
//!
//! Layer 2 (a service). Nothing here calls up into the CGI or HTTP layers.

pub mod engine;
pub mod feeder;
pub mod h264;
pub mod index;
pub mod mp4;
pub mod naming;
pub mod ring;
pub mod segment;
pub mod settings;
pub mod snapshots;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ipcamd_hal::storage::{CardState, CardStatus, Storage};
use ipcamd_hal::video::encoded::EncodedFrame;

use crate::heartbeat::Heartbeat;
use crate::local_time::LocalClock;
use crate::settings::Settings;
use crate::state::DeviceState;
use crate::store::event_log::{EventLog, LogKind};
use index::{Index, ListQuery, Reconciled, SegmentRow};
use segment::WriteCounters;
use settings::RecorderSettings;

pub use crate::alarm::AlarmEvent;

/// Takes a picture now and stores it under the given name (SD or FTP per setSnapConfig).
pub type SnapshotSink = Arc<dyn Fn(String) + Send + Sync>;

/// What [`FrameFeed::next`] brings.
pub enum Feed {
    /// The next encoded frame of the subscribed stream.
    Frame(Arc<EncodedFrame>),
    /// Nothing within the wait.
    Idle,
    /// The stream ended (the subscription is gone).
    Closed,
}

/// Frames of one encoded stream, the first a key frame.
pub trait FrameFeed: Send {
    /// Waits at most `wait` for the next frame.
    fn next(&mut self, wait: Duration) -> Feed;
}

/// Where the recorder subscribes to an encoded stream (the stream hub).
pub trait FrameSource: Send + Sync {
    /// Starts frames of `stream` (0 main, 1 sub); `None` (logged by the source) when the stream
    /// cannot be had now.
    fn subscribe(&self, stream: u8) -> Option<Box<dyn FrameFeed>>;
}

/// The handles the recorder is built from.
pub struct RecorderParts {
    /// The SD card.
    pub storage: Arc<dyn Storage>,
    /// Typed settings (record, alarm record, snapshots, time zone).
    pub settings: Arc<Settings>,
    /// The camera's clock.
    pub clock: Arc<LocalClock>,
    /// The system log (recording stopped by a full, removed or read-only card).
    pub log: Arc<EventLog>,
    /// getDevState's `record`.
    pub state: Arc<DeviceState>,
    /// Alarms from the alarm service.
    pub alarms: Receiver<AlarmEvent>,
    /// The encoded streams, when the board has video.
    pub frames: Option<Arc<dyn FrameSource>>,
    /// Scheduled snapshots' delivery, when the board has video.
    pub snapshots: Option<SnapshotSink>,
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

/// [`Shared`]'s `wanted` when no frames are needed.
const NO_STREAM: u8 = u8::MAX;

/// State shared by the recorder thread and the command handlers.
pub struct Shared {
    storage: Option<Arc<dyn Storage>>,
    index: Mutex<Option<Index>>,
    recording: Mutex<Option<String>>,
    card: Mutex<CardStatus>,
    /// The stream the recorder needs frames of now (0 main, 1 sub), or [`NO_STREAM`].
    wanted: AtomicU8,
    /// What went to the card.
    pub counters: Arc<WriteCounters>,
    log: Option<Arc<EventLog>>,
    state: Option<Arc<DeviceState>>,
}

impl Shared {
    fn wanted_stream(&self) -> Option<u8> {
        match self.wanted.load(Ordering::Relaxed) {
            NO_STREAM => None,
            stream => Some(stream),
        }
    }
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
            wanted: AtomicU8::new(NO_STREAM),
            counters: Arc::new(WriteCounters::default()),
            log: None,
            state: None,
        })
    }

    /// Shared state that also reports to the system log and getDevState.
    pub fn reporting(
        storage: Arc<dyn Storage>,
        log: Arc<EventLog>,
        state: Arc<DeviceState>,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            storage: Some(storage),
            index: Mutex::new(None),
            recording: Mutex::new(None),
            card: Mutex::new(CardStatus::ABSENT),
            wanted: AtomicU8::new(NO_STREAM),
            counters: Arc::new(WriteCounters::default()),
            log: Some(log),
            state: Some(state),
        })
    }

    /// Recording stopped for want of a usable card: one entry in the system log.
    fn log_stopped(&self) {
        if let Some(log) = &self.log {
            log.record(LogKind::RecordStopped, "", "");
        }
    }

    fn set_wanted(&self, stream: Option<u8>) {
        self.wanted
            .store(stream.unwrap_or(NO_STREAM), Ordering::Relaxed);
    }

    fn set_card(&self, status: CardStatus) {
        *lock(&self.card) = status;
    }

    fn set_recording(&self, name: Option<String>) {
        if let Some(state) = &self.state {
            state.recording.set(u8::from(name.is_some()));
        }
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
pub struct Recorder {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    stopped: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

/// The recorder's loop, built and not started yet.
pub struct RecorderLoop {
    shared: Arc<Shared>,
    parts: RecorderParts,
    stop: Arc<AtomicBool>,
    done: std::sync::mpsc::SyncSender<()>,
}

impl RecorderLoop {
    /// Starts the recorder thread (for the supervisor). The start-up repair pass of the card's
    /// index runs on it first.
    pub fn spawn(self, heartbeat: Heartbeat) -> std::io::Result<std::thread::JoinHandle<()>> {
        let RecorderLoop {
            shared,
            parts,
            stop,
            done,
        } = self;
        std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || {
                run(shared, parts, &stop, &heartbeat);
                // Stopped on purpose: parked, not stalled.
                heartbeat.idle();
                let _ = done.send(());
                // A stopped recorder's thread stays parked: the supervisor counts an ended
                // thread as a failure, and the daemon is on its way out.
                loop {
                    std::thread::park();
                }
            })
    }
}

/// Longest wait for a frame before the loop looks at alarms and the clock again.
const FRAME_WAIT: Duration = Duration::from_millis(200);

impl Recorder {
    /// The recorder over `parts`: the handle, and its loop to start ([`RecorderLoop::spawn`]).
    pub fn new(parts: RecorderParts) -> (Arc<Recorder>, RecorderLoop) {
        let shared = Shared::reporting(
            parts.storage.clone(),
            parts.log.clone(),
            parts.state.clone(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
        let recorder = Arc::new(Recorder {
            shared: shared.clone(),
            stop: stop.clone(),
            stopped: Mutex::new(Some(done_rx)),
        });
        let job = RecorderLoop {
            shared,
            parts,
            stop,
            done: done_tx,
        };
        (recorder, job)
    }

    /// Closes the open segment and stops recording (the daemon is stopping); waits up to
    /// `wait` for the segment to be closed.
    pub fn stop(&self, wait: Duration) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(done) = lock(&self.stopped).take() {
            let _ = done.recv_timeout(wait);
        }
    }

    /// The stream (0 main, 1 sub) the recorder needs frames of now: while it records, while an
    /// alarm recording may start soon, and always with pre-record on (the ring must be full
    /// when an alarm comes). `None`: not subscribed, so the stream is not encoded for it.
    pub fn wanted_stream(&self) -> Option<u8> {
        self.shared.wanted_stream()
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

/// The recorder thread: frames from the subscribed stream, alarms from their channel, a
/// one-second tick for the card, the schedule, settings changes and scheduled snapshots.
fn run(shared: Arc<Shared>, parts: RecorderParts, stop: &AtomicBool, heartbeat: &Heartbeat) {
    // The start-up repair pass of a large card may take long: not a stall.
    heartbeat.idle();
    let RecorderParts {
        settings,
        clock,
        alarms,
        frames,
        snapshots,
        ..
    } = parts;
    let mut seen = None;
    let initial = settings
        .changed(&mut seen)
        .unwrap_or_else(|| settings.snapshot());
    let segment_max = settings
        .board()
        .storage
        .as_ref()
        .and_then(|s| s.segment_secs)
        .map_or(engine::SEGMENT_MAX, |secs| {
            Duration::from_secs(u64::from(secs.max(1)))
        });
    let mut engine = engine::Engine::new(shared.clone(), RecorderSettings::from_snapshot(&initial))
        .with_segment_max(segment_max);
    let mut snap = snapshots::SnapScheduler::default();
    let mut feed: Option<(u8, Box<dyn FrameFeed>)> = None;
    let mut alarms_open = true;
    engine.tick(clock.system_now());
    let mut next_tick = Instant::now() + Duration::from_secs(1);
    let mut retry_subscribe = true;
    while !stop.load(Ordering::Relaxed) {
        // Every turn waits at most a second.
        heartbeat.beat();
        let wait = next_tick.saturating_duration_since(Instant::now());
        match &mut feed {
            Some((_, source)) => match source.next(wait.min(FRAME_WAIT)) {
                Feed::Frame(frame) => engine.on_frame(frame, clock.system_now()),
                Feed::Idle => {}
                Feed::Closed => {
                    tracing::info!("recorded stream ended; subscribing again");
                    feed = None;
                }
            },
            None if alarms_open => match alarms.recv_timeout(wait) {
                Ok(event) => engine.on_alarm(event, clock.system_now()),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => alarms_open = false,
            },
            None => std::thread::sleep(wait),
        }
        while alarms_open {
            match alarms.try_recv() {
                Ok(event) => engine.on_alarm(event, clock.system_now()),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => alarms_open = false,
            }
        }
        let tick = Instant::now() >= next_tick;
        if tick {
            next_tick = Instant::now() + Duration::from_secs(1);
            if let Some(snapshot) = settings.changed(&mut seen) {
                engine.set_settings(RecorderSettings::from_snapshot(&snapshot));
            }
            let now = clock.system_now();
            engine.tick(now);
            if let Some(sink) = &snapshots {
                if let Some(name) = snap.due(engine.settings(), clock.unix_now()) {
                    sink(name);
                }
            }
            retry_subscribe = true;
        }
        // Follow the stream the engine needs: subscribe, switch or leave.
        let wanted = shared.wanted_stream();
        if feed.as_ref().map(|(stream, _)| *stream) != wanted {
            if feed.take().is_some() {
                tracing::debug!(?wanted, "recorder leaves its stream");
            }
            if let (Some(stream), Some(source), true) = (wanted, &frames, retry_subscribe) {
                feed = source.subscribe(stream).map(|f| (stream, f));
                // A refused subscription is tried again at the next tick, not every loop.
                retry_subscribe = feed.is_some();
            }
        }
    }
    engine.shutdown();
}
