//! Alarm sources and what they set off: the IO alarm input task ([`io_alarm`]), the linkage
//! actions shared with the motion alarm ([`linkage`]: ring, mail, snap, record), and the two
//! network clients they use ([`mail`] over SMTP, [`ftp`] for snapshot uploads).
//!
//! [`Alarms`] is the part that lives in the [`App`]: the snapshot provider the media pipeline
//! installs, the IO alarm output control, and the counters of ring (PC audio alarm) and record
//! requests. The motion path calls [`on_motion_alarm`], [`on_motion_snap`] and
//! [`set_motion_status`] from the capture loop.

pub mod ftp;
pub mod io_alarm;
pub mod linkage;
pub mod mail;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use crate::app::{App, LogKind};
use crate::motion::{MotionEvent, MotionStatus};
use crate::state::AlarmState;

pub use linkage::{AlarmSource, Linkage};

/// Returns a JPEG of the current picture, or `None` when there is no picture (no video yet).
pub type SnapshotProvider = Arc<dyn Fn() -> Option<Bytes> + Send + Sync>;

/// Where alarms go for recording (the recorder's channel, installed by the composition root).
pub type RecordSink = Arc<dyn Fn(crate::recorder::AlarmEvent) + Send + Sync>;

/// Most mail/FTP/SD jobs running at once; more are dropped with a log line (an alarm storm must
/// not pile up threads on a small camera).
pub const MAX_BACKGROUND_JOBS: usize = 4;

/// Alarm state shared by the alarm tasks, the linkage and the CGI handlers.
#[derive(Default)]
pub struct Alarms {
    snapshot: RwLock<Option<SnapshotProvider>>,
    /// The IO alarm output and its clearing.
    pub io: io_alarm::IoAlarmControl,
    pc_audio_alarms: AtomicU64,
    record_requests: AtomicU64,
    record_sink: RwLock<Option<RecordSink>>,
    background_jobs: Arc<AtomicUsize>,
}

impl Alarms {
    /// Installs the function that takes a snapshot (the media pipeline's `snapshot_jpeg`).
    pub fn set_snapshot_provider(&self, provider: SnapshotProvider) {
        match self.snapshot.write() {
            Ok(mut slot) => *slot = Some(provider),
            Err(poisoned) => *poisoned.into_inner() = Some(provider),
        }
    }

    /// Installs where alarms are reported for recording.
    pub fn set_record_sink(&self, sink: RecordSink) {
        match self.record_sink.write() {
            Ok(mut slot) => *slot = Some(sink),
            Err(poisoned) => *poisoned.into_inner() = Some(sink),
        }
    }

    /// Reports an alarm to the recorder (it decides from its settings whether to record).
    pub(crate) fn report_to_recorder(&self, event: crate::recorder::AlarmEvent) {
        let sink = match self.record_sink.read() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if let Some(sink) = sink {
            sink(event);
        }
    }

    /// A JPEG of the current picture, if a provider is installed and has a picture.
    pub fn snapshot(&self) -> Option<Bytes> {
        let provider = match self.snapshot.read() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        provider.and_then(|take| take())
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
}

/// Starts the alarm tasks (the IO alarm input watcher) once the daemon is up.
pub fn start(app: &Arc<App>) {
    io_alarm::start(app.clone());
}

/// A motion alarm started (the detector's [`MotionEvent`]): getDevState shows it, the log
/// records it, and the motion linkage acts, with `snapshot` (a JPEG of the frame, if the
/// pipeline has one) attached to the mail and saved or uploaded by the snap linkage.
pub fn on_motion_alarm(app: &App, event: &MotionEvent, snapshot: Option<Bytes>) {
    app.state.motion_alarm.set(AlarmState::Alarm);
    app.log_event(LogKind::MotionAlarm, "", "");
    tracing::info!(cells = %event.cells, level = event.level, "motion alarm");
    Linkage::fire(app, AlarmSource::Motion, snapshot);
}

/// While a motion alarm lasts, the detector's `snap_due` said another snapshot is due: the
/// snap linkage (if set) stores or uploads it.
pub fn on_motion_snap(app: &App, snapshot: Bytes) {
    Linkage::snap(app, AlarmSource::Motion, snapshot);
}

/// The detector's state for getDevState (call when it changes, or every frame: it is one
/// atomic store).
pub fn set_motion_status(app: &App, status: MotionStatus) {
    app.state.motion_alarm.set(match status.guide_value() {
        2 => AlarmState::Alarm,
        1 => AlarmState::Idle,
        _ => AlarmState::Disabled,
    });
}
