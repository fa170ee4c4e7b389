//! The recorder's state machine, driven by frames, alarm events and a one-second tick on the
//! recorder thread (see the module docs of [`super`]). Synchronous and clock-injected, so the
//! tests drive it frame by frame.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ipcamd_hal::storage::{CardState, FULL_RESERVE_BYTES};
use ipcamd_hal::video::encoded::EncodedFrame;

use super::index::SegmentRow;
use super::naming::{RecordKind, SegmentName};
use super::ring::{FrameDropper, PreRecordRing};
use super::segment::SegmentWriter;
use super::settings::RecorderSettings;
use super::{AlarmEvent, Shared};

/// Longest segment: a new file starts at the first key frame after this much video.
pub const SEGMENT_MAX: Duration = Duration::from_secs(300);

/// Frames stopped for this long: the open segment is closed.
const STALL: Duration = Duration::from_secs(3);

/// When a full card (overwrite mode) is cleaned, oldest segments go until this much is free.
const FREE_TARGET_BYTES: u64 = FULL_RESERVE_BYTES + 1024 * 1024;

struct Active {
    writer: SegmentWriter,
    row: SegmentRow,
}

/// The recorder's state.
pub struct Engine {
    shared: Arc<Shared>,
    settings: RecorderSettings,
    ring: PreRecordRing,
    dropper: FrameDropper,
    active: Option<Active>,
    alarm_until: Option<SystemTime>,
    card: CardState,
    stopped_full: bool,
    last_frame: Option<(u64, SystemTime)>,
    /// Frames after a gap are not written until the next key frame.
    resync: bool,
    audio_noted: bool,
    segment_max: Duration,
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

impl Engine {
    /// A recorder over `shared` with `settings`.
    pub fn new(shared: Arc<Shared>, settings: RecorderSettings) -> Engine {
        let mut engine = Engine {
            shared,
            dropper: FrameDropper::new(settings.keep_per_30),
            settings,
            ring: PreRecordRing::default(),
            active: None,
            alarm_until: None,
            card: CardState::Absent,
            stopped_full: false,
            last_frame: None,
            resync: false,
            audio_noted: false,
            segment_max: SEGMENT_MAX,
        };
        engine.note_audio();
        engine
    }

    /// Segments of at most `length` (the board file's `segment_secs`; else [`SEGMENT_MAX`]).
    pub fn with_segment_max(mut self, length: Duration) -> Engine {
        self.segment_max = length;
        self
    }

    fn note_audio(&mut self) {
        if self.settings.audio_requested && !self.audio_noted {
            tracing::info!("isEnableAudio: this board has no microphone; recording video only");
        }
        self.audio_noted = self.settings.audio_requested;
    }

    /// New settings (the store changed).
    pub fn set_settings(&mut self, settings: RecorderSettings) {
        if settings.keep_per_30 != self.settings.keep_per_30 {
            self.dropper = FrameDropper::new(settings.keep_per_30);
        }
        let stream_changed = settings.stream != self.settings.stream;
        if settings.overwrite_when_full != self.settings.overwrite_when_full {
            self.stopped_full = false;
        }
        self.settings = settings;
        self.note_audio();
        if stream_changed {
            // Frames of the other stream will come: its parameter sets differ.
            self.close("the recorded stream changed");
            self.ring.clear();
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &RecorderSettings {
        &self.settings
    }

    /// An alarm happened: record for the linkage's or the local alarm record's time.
    pub fn on_alarm(&mut self, event: AlarmEvent, now: SystemTime) {
        let mut secs = 0;
        if event.record_linkage {
            secs = self.settings.alarm_record_secs;
        }
        if self.settings.local_alarm_record {
            secs = secs.max(self.settings.local_alarm_record_secs);
        }
        if secs == 0 {
            return;
        }
        let until = now + Duration::from_secs(u64::from(secs));
        let extended = self.alarm_until.is_some_and(|u| u > now);
        if self.alarm_until.is_none_or(|u| u < until) {
            self.alarm_until = Some(until);
        }
        self.publish_wanted(now);
        tracing::info!(
            source = event.source,
            secs,
            extended,
            "alarm recording {}",
            if extended { "extended" } else { "requested" }
        );
    }

    /// Tells the feeder which stream to bring (see [`super::Recorder::wanted_stream`]).
    fn publish_wanted(&self, now: SystemTime) {
        let needed = self.settings.pre_record || self.wanted(now).is_some();
        let usable = self.card == CardState::Ready && !self.stopped_full;
        self.shared
            .set_wanted((needed && usable).then_some(self.settings.stream));
    }

    fn wanted(&self, now: SystemTime) -> Option<RecordKind> {
        if self.alarm_until.is_some_and(|u| now < u) {
            Some(RecordKind::Alarm)
        } else if self.settings.schedule_active(unix(now)) {
            Some(RecordKind::Schedule)
        } else {
            None
        }
    }

    /// Checks the card: opens the index of a card that came back, closes segments on a card
    /// that went away, frees space on a full one. Returns whether writing is possible.
    pub fn check_card(&mut self) -> bool {
        let Some(storage) = self.shared.storage.clone() else {
            return false;
        };
        let mut status = storage.status();
        if status.state == CardState::Full && self.settings.overwrite_when_full {
            self.free_space(storage.as_ref());
            status = storage.status();
        }
        if status.state != self.card {
            tracing::info!(from = ?self.card, to = ?status.state, "SD card state changed");
        }
        let was = self.card;
        self.card = status.state;
        self.shared.set_card(status);
        match status.state {
            CardState::Absent => {
                if let Some(active) = self.active.take() {
                    self.shared.log_stopped();
                    let (size, duration) = active.writer.abandon();
                    tracing::warn!(
                        name = active.row.name,
                        size,
                        secs = duration.as_secs(),
                        "SD card removed while recording: segment ends at its last whole fragment"
                    );
                }
                self.shared.close_index();
                self.shared.set_recording(None);
                false
            }
            CardState::ReadOnly | CardState::Full | CardState::Ready => {
                if was == CardState::Absent || !self.shared.index_open() {
                    self.shared.open_index(storage.root());
                }
                match status.state {
                    CardState::Ready => {
                        if self.stopped_full {
                            tracing::info!("SD card has room again: recording resumes");
                        }
                        self.stopped_full = false;
                        true
                    }
                    CardState::Full => {
                        if !self.stopped_full {
                            self.stopped_full = true;
                            self.shared.log_stopped();
                            self.close("the SD card is full");
                            tracing::warn!(
                                overwrite = self.settings.overwrite_when_full,
                                "SD card full: recording stopped{}",
                                if self.settings.overwrite_when_full {
                                    " (nothing left to overwrite)"
                                } else {
                                    " (spaceFullMode 1)"
                                }
                            );
                        }
                        false
                    }
                    _ => {
                        self.close("the SD card is read-only");
                        false
                    }
                }
            }
        }
    }

    /// Deletes the oldest closed segments until [`FREE_TARGET_BYTES`] are free.
    fn free_space(&mut self, storage: &dyn ipcamd_hal::storage::Storage) {
        for _ in 0..10_000 {
            let free = storage.status().space.map_or(0, |s| s.free);
            if free >= FREE_TARGET_BYTES {
                return;
            }
            let deleted = self.shared.with_index(|index| {
                let Some(oldest) = index.oldest_closed()? else {
                    return Ok(None);
                };
                index
                    .delete_segment(&oldest.name)
                    .map(|bytes| Some((oldest.name, bytes)))
            });
            match deleted {
                Some(Some((name, bytes))) => {
                    tracing::info!(name, bytes, "SD card full: oldest recording overwritten");
                }
                _ => {
                    // Nothing closed to delete: close the open segment so it can go next time.
                    if self.active.is_some() {
                        self.close("the SD card is full");
                        continue;
                    }
                    return;
                }
            }
        }
    }

    /// A frame of the recorded stream.
    pub fn on_frame(&mut self, frame: Arc<EncodedFrame>, now: SystemTime) {
        if let Some((last, _)) = self.last_frame {
            if frame.sequence != last.wrapping_add(1) {
                self.resync = true;
            }
        }
        self.last_frame = Some((frame.sequence, now));
        if frame.keyframe {
            self.resync = false;
        }
        let keep = if self.settings.pre_record {
            Duration::from_secs(u64::from(self.settings.pre_record_secs))
        } else {
            Duration::ZERO
        };
        self.ring.push(frame.clone(), keep);
        let wanted = self.wanted(now);
        let current = self.active.as_ref().map(|a| a.row.kind);
        if current != wanted {
            self.close(match wanted {
                Some(RecordKind::Alarm) => "an alarm recording starts",
                _ => "the schedule or alarm ended",
            });
        }
        let Some(kind) = wanted else {
            return;
        };
        if self.card != CardState::Ready || self.stopped_full {
            return;
        }
        if let Some(active) = &self.active {
            let rollover = frame.keyframe && active.writer.duration() >= self.segment_max;
            if rollover || !active.writer.accepts(&frame) {
                self.close(if rollover {
                    "segment length reached"
                } else {
                    "the stream's parameters changed"
                });
            }
        }
        if self.active.is_none() {
            if !self.open(kind, &frame) {
                return;
            }
            // The ring (which already holds this frame) starts the segment.
            let frames: Vec<Arc<EncodedFrame>> = match kind {
                RecordKind::Alarm => self.ring.frames().cloned().collect(),
                _ => self
                    .ring
                    .frames()
                    .skip_while(|f| !f.keyframe || !Arc::ptr_eq(&f.config, &frame.config))
                    .cloned()
                    .collect(),
            };
            for f in frames {
                self.write(f, kind);
            }
            return;
        }
        if self.resync {
            return;
        }
        self.write(frame, kind);
    }

    fn write(&mut self, frame: Arc<EncodedFrame>, kind: RecordKind) {
        if kind == RecordKind::Schedule && !self.dropper.keep(&frame) {
            return;
        }
        let Some(active) = &mut self.active else {
            return;
        };
        let before = active.writer.size();
        if let Err(err) = active.writer.push(frame) {
            tracing::warn!(name = active.row.name, %err, "writing the segment failed; it ends here");
            self.close("a write failed");
            return;
        }
        if active.writer.size() != before {
            // A fragment reached the card: look at the card's room again.
            self.check_card();
        }
    }

    /// Opens a segment of `kind` starting with the ring's first frame.
    fn open(&mut self, kind: RecordKind, frame: &EncodedFrame) -> bool {
        let Some(first) = self
            .ring
            .frames()
            .find(|f| {
                f.keyframe && (Arc::ptr_eq(&f.config, &frame.config) || f.config == frame.config)
            })
            .cloned()
        else {
            return false;
        };
        let start_utc = unix(first.captured);
        let start_local = self.settings.local_seconds(start_utc);
        let stream = self.settings.stream;
        let counters = self.shared.counters.clone();
        let opened = self.shared.with_index(|index| {
            for serial in 0..100 {
                let name = SegmentName::format(kind, start_local, serial);
                if index.get(&name)?.is_some() || index.dir().join(&name).exists() {
                    continue;
                }
                let row = SegmentRow {
                    name: name.clone(),
                    kind,
                    stream,
                    start_utc,
                    start_local,
                    end_utc: start_utc,
                    end_local: start_local,
                    size: 0,
                    open: true,
                };
                // Row first: a crash between the two leaves a row the repair pass drops.
                index.put(&row)?;
                let writer = SegmentWriter::create(
                    index.dir(),
                    &name,
                    first.config.clone(),
                    start_utc,
                    stream,
                    counters.clone(),
                )?;
                return Ok(Some(Active { writer, row }));
            }
            Ok(None)
        });
        match opened {
            Some(Some(active)) => {
                tracing::info!(
                    name = active.row.name,
                    kind = kind.word(),
                    "recording started"
                );
                self.shared.set_recording(Some(active.row.name.clone()));
                self.active = Some(active);
                true
            }
            _ => false,
        }
    }

    /// Closes the open segment (if any), recording its end and size in the index.
    pub fn close(&mut self, why: &str) {
        let Some(active) = self.active.take() else {
            return;
        };
        self.shared.set_recording(None);
        let mut row = active.row;
        match active.writer.finish() {
            Ok((size, duration)) => {
                let secs = i64::try_from(duration.as_secs()).unwrap_or(0);
                row.size = size;
                row.end_utc = row.start_utc + secs;
                row.end_local = row.start_local + secs;
                row.open = false;
                let name = row.name.clone();
                if self.shared.with_index(|index| index.put(&row)).is_none() {
                    tracing::warn!(name, "could not note the segment's end in the index");
                }
                tracing::info!(name, size, secs, why, "recording segment closed");
            }
            Err(err) => {
                tracing::warn!(name = row.name, %err, "closing the segment failed");
            }
        }
    }

    /// The one-second tick: card state, alarm end, schedule end, stalled stream.
    pub fn tick(&mut self, now: SystemTime) {
        self.check_card();
        if self.alarm_until.is_some_and(|u| now >= u) {
            self.alarm_until = None;
        }
        let stalled = self
            .last_frame
            .is_some_and(|(_, at)| now.duration_since(at).unwrap_or_default() >= STALL);
        if stalled {
            self.close("no frames from the encoder");
            self.ring.clear();
            self.last_frame = None;
        }
        if self.active.is_some() && self.wanted(now).is_none() {
            self.close("the schedule or alarm ended");
        }
        self.publish_wanted(now);
    }

    /// Stops: closes the open segment.
    pub fn shutdown(&mut self) {
        self.close("the recorder stops");
    }
}

impl Engine {
    /// Name of the segment being written.
    pub fn active_name(&self) -> Option<&str> {
        self.active.as_ref().map(|a| a.row.name.as_str())
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
