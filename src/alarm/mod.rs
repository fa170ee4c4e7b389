//! Alarm sources and what they set off: the IO alarm input task ([`io_alarm`]), the linkage
//! actions shared with the motion alarm ([`linkage`]: ring, mail, snap, record), and the two
//! network clients they use ([`mail`] over SMTP, [`ftp`] for snapshot uploads).
//!
//! [`Alarms`] is built from narrow handles ([`AlarmParts`]): typed settings, the local clock,
//! the event log, the device state, the alarm output line, the SD card, a snapshot source and
//! the recorder's alarm channel (every alarm goes there as an [`AlarmEvent`]).
//! Motion alarms arrive from the media pipeline over a channel ([`Alarms::start_motion`]);
//! nothing here calls up into the pipeline or the CGI layer.

pub mod ftp;
pub mod io_alarm;
pub mod linkage;
pub mod mail;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use ipcamd_hal::gpio::{InputLine, OutputLine};
use ipcamd_hal::storage::Storage;

use crate::heartbeat::Heartbeat;
use crate::local_time::LocalClock;
use crate::media::MotionNotice;
use crate::settings::Settings;
use crate::state::{AlarmState, DeviceState};
use crate::store::event_log::{EventLog, LogKind};

pub use linkage::{AlarmSource, Linkage};

/// Returns a JPEG of the current picture, or `None` when there is no picture (no video yet).
pub type SnapshotProvider = Arc<dyn Fn() -> Option<Bytes> + Send + Sync>;

/// An alarm as the recorder hears of it (sent over the channel in [`AlarmParts::record`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlarmEvent {
    /// What fired ("motion alarm", "IO alarm"), for the log.
    pub source: &'static str,
    /// The source's linkage has the record bit.
    pub record_linkage: bool,
}

/// Alarm events queued for the recorder; more are dropped with a log line (the recorder
/// extends one alarm recording per event, so a burst loses nothing that matters).
pub const RECORD_QUEUE: usize = 16;

/// Most mail/FTP/SD jobs running at once; more are dropped with a log line (an alarm storm must
/// not pile up threads on a small camera).
pub const MAX_BACKGROUND_JOBS: usize = 4;

/// The handles the alarm service is built from.
pub struct AlarmParts {
    /// Typed settings (linkage, schedules, SMTP, FTP, snap).
    pub settings: Arc<Settings>,
    /// The camera's local time (schedules, file names, mails).
    pub clock: Arc<LocalClock>,
    /// The system log.
    pub log: Arc<EventLog>,
    /// Where alarm states are published (getDevState).
    pub state: Arc<DeviceState>,
    /// The alarm output relay, when the board has one.
    pub alarm_out: Option<Arc<dyn OutputLine>>,
    /// The SD card, when the board has one.
    pub storage: Option<Arc<dyn Storage>>,
    /// Pictures for mails and snap linkage (the media pipeline's), when there is video.
    pub snapshot: Option<SnapshotProvider>,
    /// The recorder's alarm channel, when the board records.
    pub record: Option<std::sync::mpsc::SyncSender<AlarmEvent>>,
}

/// The alarm service: linkage, the IO alarm's output control, ring and record counters.
pub struct Alarms {
    parts: AlarmParts,
    /// The IO alarm output and its clearing.
    pub io: io_alarm::IoAlarmControl,
    pc_audio_alarms: AtomicU64,
    record_requests: AtomicU64,
    background_jobs: Arc<AtomicUsize>,
}

impl Alarms {
    /// The service over `parts` (no thread runs until a `start_*`).
    pub fn new(parts: AlarmParts) -> Arc<Alarms> {
        Arc::new(Alarms {
            parts,
            io: io_alarm::IoAlarmControl::default(),
            pc_audio_alarms: AtomicU64::new(0),
            record_requests: AtomicU64::new(0),
            background_jobs: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// A JPEG of the current picture, if there is a snapshot source and a picture.
    pub fn snapshot(&self) -> Option<Bytes> {
        self.parts.snapshot.as_ref().and_then(|take| take())
    }

    /// How many ring linkages asked web clients to sound the PC audio alarm (the web client's
    /// live view compares it with the value it saw last).
    pub fn pc_audio_alarm_count(&self) -> u64 {
        self.pc_audio_alarms.load(Ordering::Relaxed)
    }

    /// How many record linkages were raised (consumed by the recording issue).
    pub fn record_request_count(&self) -> u64 {
        self.record_requests.load(Ordering::Relaxed)
    }

    pub(crate) fn note_pc_audio_alarm(&self) {
        self.pc_audio_alarms.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn note_record_request(&self) {
        self.record_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Reports an alarm to the recorder (it decides from its settings whether to record).
    pub(crate) fn report_to_recorder(&self, event: AlarmEvent) {
        use std::sync::mpsc::TrySendError;
        if let Some(record) = &self.parts.record {
            match record.try_send(event) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(_)) => {
                    tracing::warn!(source = event.source, "recorder busy: alarm event dropped");
                }
            }
        }
    }

    /// Takes a picture now and saves it as `name` on the card or over FTP per setSnapConfig
    /// (the recorder's scheduled snapshots).
    pub fn save_scheduled_snapshot(&self, name: String) {
        match self.snapshot() {
            Some(jpeg) => {
                let settings = self.parts.settings.snapshot();
                linkage::deliver_snapshot(self, &settings, name, jpeg);
            }
            None => tracing::info!(name, "scheduled snapshot: no picture available"),
        }
    }

    pub(crate) fn parts(&self) -> &AlarmParts {
        &self.parts
    }

    /// Runs `job` on its own thread unless [`MAX_BACKGROUND_JOBS`] are already running.
    pub(crate) fn spawn_job(&self, what: &'static str, job: impl FnOnce() + Send + 'static) {
        /// Gives the job's slot back when the job ends, even by panic.
        struct Slot(Arc<AtomicUsize>);
        impl Drop for Slot {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        if self.background_jobs.fetch_add(1, Ordering::Relaxed) >= MAX_BACKGROUND_JOBS {
            self.background_jobs.fetch_sub(1, Ordering::Relaxed);
            tracing::warn!(what, "too many alarm jobs running; this one is dropped");
            return;
        }
        let slot = Slot(self.background_jobs.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("alarm-{what}"))
            .spawn(move || {
                let _slot = slot;
                job();
            });
        if let Err(err) = spawned {
            tracing::warn!(what, %err, "could not start an alarm job");
        }
    }

    /// Starts the IO alarm thread when the board has an alarm input (`None` otherwise). It
    /// runs while the service lives.
    pub fn start_io_alarm(
        self: &Arc<Self>,
        input: Option<Arc<dyn InputLine>>,
        heartbeat: Heartbeat,
    ) -> std::io::Result<Option<std::thread::JoinHandle<()>>> {
        let Some(input) = input else {
            tracing::info!("no alarm input on this board: IO alarm off");
            return Ok(None);
        };
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("io-alarm".into())
            .spawn(move || io_alarm::run(&weak, input.as_ref(), &heartbeat))
            .map(Some)
    }

    /// Starts the thread that acts on the media pipeline's motion notices. It ends when the
    /// pipeline (the sender) is gone or the service is dropped.
    pub fn start_motion(
        self: &Arc<Self>,
        notices: std::sync::mpsc::Receiver<MotionNotice>,
        heartbeat: Heartbeat,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let weak: Weak<Alarms> = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("motion-alarm".into())
            .spawn(move || {
                // Waiting for the next notice may take any time; acting on one may not.
                heartbeat.idle();
                while let Ok(notice) = notices.recv() {
                    heartbeat.beat();
                    let _idle = heartbeat.idle_on_drop();
                    let Some(alarms) = weak.upgrade() else { return };
                    match notice {
                        MotionNotice::Alarm(event, snapshot) => {
                            alarms.on_motion_alarm(&event, snapshot)
                        }
                        MotionNotice::Snap(jpeg) => {
                            Linkage::snap(&alarms, AlarmSource::Motion, jpeg)
                        }
                    }
                }
            })
    }

    /// A motion alarm started (the detector's event): getDevState shows it, the log records
    /// it, and the motion linkage acts, with `snapshot` (a JPEG of the frame, if the pipeline
    /// has one) attached to the mail and saved or uploaded by the snap linkage.
    pub fn on_motion_alarm(&self, event: &crate::motion::MotionEvent, snapshot: Option<Bytes>) {
        self.parts.state.motion_alarm.set(AlarmState::Alarm);
        self.parts.log.record(LogKind::MotionAlarm, "", "");
        tracing::info!(cells = %event.cells, level = event.level, "motion alarm");
        Linkage::fire(self, AlarmSource::Motion, snapshot);
    }
}
