//! The media pipeline: one capture thread turns the sensor's frames into the camera's pictures
//! (software mirror/flip where the sensor lacks it, setRatio's lens-distortion correction
//! where the board file says the lens needs it, timestamp and name OSD, privacy masks),
//! publishes the newest processed main-stream frame for snapshots and the motion detector, and
//! encodes the sub stream to JPEG once per frame *only while someone watches*, shared by every
//! viewer as reference-counted bytes. Each viewer has a bounded queue: a slow viewer drops
//! frames, never slows the others or grows memory.
//!
//! Built from narrow handles ([`MediaParts`]): the video source and encoder it drives, the
//! typed settings, the local clock, the IR controller (scene brightness in, switch count out)
//! and the device state. Motion alarms go to the alarm service over a channel
//! ([`MotionNotice`]); the pipeline never calls up.
//!
//! Settings: each frame asks [`Settings::changed`] (an atomic load) and rebuilds its cached
//! [`MediaSettings`] only when a write happened, so a stream-parameter change reconfigures the
//! sensor on the next frame without dropping connected viewers and without reading SQLite.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ipcamd_hal::video::overlay::{self, Rect};
use ipcamd_hal::video::pacing::FramePacer;
use ipcamd_hal::video::{CaptureConfig, Encoder, Frame, PixelFormat, VideoSource, convert};
use tokio::sync::{broadcast, mpsc, watch};

use crate::heartbeat::Heartbeat;
use crate::ir::IrController;
use crate::local_time::{self, LocalClock};
use crate::settings::sections::RESOLUTIONS;
use crate::settings::{Settings, Snapshot};
use crate::state::{AlarmState, DeviceState};

/// MJPEG parts kept for lagging viewers before they skip ahead.
const BROADCAST_DEPTH: usize = 2;
/// Frames queued per viewer connection.
pub const VIEWER_QUEUE: usize = 2;
/// Boundary of the MJPEG multipart stream.
pub const BOUNDARY: &str = "ipcamd";
/// JPEG quality of the MJPEG stream.
const STREAM_QUALITY: u8 = 70;
/// Longest wait for a first frame when a snapshot is asked for.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(5);

/// One MJPEG part: its multipart head and the JPEG, both shared by every viewer.
#[derive(Debug, Clone)]
pub struct MjpegPart {
    /// `--boundary`, Content-Type and Content-Length lines.
    pub head: Bytes,
    /// The JPEG.
    pub jpeg: Bytes,
}

/// What the pipeline needs from the settings, cached between store changes.
#[derive(Debug, Clone, PartialEq)]
struct MediaSettings {
    main: CaptureConfig,
    sub: CaptureConfig,
    sub_is_mjpeg: bool,
    timestamp: bool,
    dev_name: Option<String>,
    masks: Vec<Rect>,
    time_zone: i64,
    dst: bool,
    date_format: i64,
    snap_quality: u8,
    /// setRatio's lens correction (0: none), see [`lens_correction`].
    lens: f32,
}

/// The radial correction setRatio asks for on a lens whose distortion is `lens` (the board
/// file's `video.lens_distortion`): the guide's three ranks, High (0-150) correcting fully,
/// Middle (151-430, the default) 60 %, Low (431-511) 30 %.
pub fn lens_correction(lens: f32, ratio: i64) -> f32 {
    let rank = match ratio {
        ..=150 => 1.0,
        151..=430 => 0.6,
        _ => 0.3,
    };
    lens * rank
}

fn stream_config(resolution: i64, frame_rate: i64) -> CaptureConfig {
    let (width, height) = RESOLUTIONS
        .get(resolution as usize)
        .copied()
        .unwrap_or((640, 480));
    CaptureConfig {
        width,
        height,
        fps: frame_rate.clamp(1, 30) as u32,
    }
}

impl MediaSettings {
    fn of(s: &Snapshot, lens: f32) -> MediaSettings {
        let pick = |t: i64| usize::try_from(t).unwrap_or(0).min(3);
        let (m, n) = (
            pick(s.main_stream_type.stream_type),
            pick(s.sub_stream_type.stream_type),
        );
        let main = stream_config(s.main_stream.resolution[m], s.main_stream.frame_rate[m]);
        let mut sub = stream_config(s.sub_stream.resolution[n], s.sub_stream.frame_rate[n]);
        // The sub stream never exceeds the main one: it is scaled from it.
        sub.width = sub.width.min(main.width);
        sub.height = sub.height.min(main.height);
        let area = &s.osd_mask_area;
        let masks = if s.osd.mask {
            (0..4)
                .map(|n| {
                    let v = |x: i64| x.clamp(0, 10_000) as u32;
                    // Coordinates are in a 10000×10000 space over the picture, so masks stay
                    // put whatever the resolution.
                    (v(area.x1[n]), v(area.y1[n]), v(area.x2[n]), v(area.y2[n]))
                })
                .filter(|(x1, y1, x2, y2)| x2 > x1 && y2 > y1)
                .map(|(x1, y1, x2, y2)| Rect::from_corners(x1, y1, x2, y2))
                .collect()
        } else {
            Vec::new()
        };
        MediaSettings {
            main,
            sub,
            sub_is_mjpeg: s.sub_stream_format.format == 1,
            timestamp: s.osd.timestamp,
            dev_name: s.osd.dev_name.then(|| s.dev_name.name.clone()),
            masks,
            time_zone: s.time.zone,
            dst: s.time.dst,
            date_format: s.time.date_format,
            snap_quality: snap_quality(s.snap.quality),
            lens: lens_correction(lens, s.ratio.ratio),
        }
    }
}

/// What the capture loop tells the alarm service about motion.
#[derive(Debug)]
pub enum MotionNotice {
    /// A new motion alarm, with a JPEG of the frame (OSD and masks included) if one could be
    /// encoded.
    Alarm(crate::motion::MotionEvent, Option<Bytes>),
    /// Another snapshot is due while the alarm lasts (snapInterval).
    Snap(Bytes),
}

/// Motion notices queued for the alarm service before new ones are dropped.
pub const MOTION_QUEUE: usize = 8;

/// The handles the pipeline is built from.
pub struct MediaParts {
    /// The sensor.
    pub video: Arc<dyn VideoSource>,
    /// The JPEG encoder.
    pub encoder: Arc<dyn Encoder>,
    /// Typed settings.
    pub settings: Arc<Settings>,
    /// The camera's local time (OSD, motion schedule).
    pub clock: Arc<LocalClock>,
    /// The IR controller: scene brightness goes to it, its switches blank motion detection.
    pub ir: Arc<IrController>,
    /// Where the motion state is published (getDevState).
    pub state: Arc<DeviceState>,
    /// Where motion alarms go (the alarm service).
    pub motion: std::sync::mpsc::SyncSender<MotionNotice>,
    /// Beaten once per captured frame (the supervisor's watch on the capture loop).
    pub heartbeat: Heartbeat,
}

/// Handle on the running pipeline.
pub struct Media {
    parts: MediaParts,
    latest: watch::Sender<Option<Arc<Frame>>>,
    mjpeg: broadcast::Sender<MjpegPart>,
    /// Frames captured since start (the watchdog's progress counter).
    pub frames: AtomicU64,
    /// The sensor could not mirror: mirror in software.
    pub soft_mirror: AtomicBool,
    /// The sensor could not flip: flip in software.
    pub soft_flip: AtomicBool,
    last_error: Mutex<Option<String>>,
    /// What the motion detector saw last, for people tuning it.
    pub motion: Mutex<MotionReport>,
}

/// The motion detector's observable state.
#[derive(Debug, Clone, Default)]
pub struct MotionReport {
    /// Per-cell scores of the last analysed frame (row-major 10×10).
    pub scores: Vec<Vec<u8>>,
    /// Cells of the last alarm, as the guide's area rows.
    pub last_alarm_cells: Option<[u16; crate::motion::GRID_SIZE]>,
    /// Unix time of the last alarm.
    pub last_alarm_unix: Option<i64>,
    /// Alarms since start.
    pub alarms: u64,
}

impl Media {
    /// Starts the capture thread. It runs while the returned handle (or a clone) lives.
    pub fn start(parts: MediaParts) -> std::io::Result<(Arc<Media>, std::thread::JoinHandle<()>)> {
        let (latest, _) = watch::channel(None);
        let (mjpeg, _) = broadcast::channel(BROADCAST_DEPTH);
        let media = Arc::new(Media {
            parts,
            latest,
            mjpeg,
            frames: AtomicU64::new(0),
            soft_mirror: AtomicBool::new(false),
            soft_flip: AtomicBool::new(false),
            last_error: Mutex::new(None),
            motion: Mutex::new(MotionReport::default()),
        });
        let weak = Arc::downgrade(&media);
        let thread = std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || capture_loop(&weak))?;
        Ok((media, thread))
    }

    /// A processed main-stream frame whose capture began after this call, so it shows every
    /// setting changed before it; waits up to a few seconds, then settles for the newest.
    pub fn latest_frame(&self) -> Option<Arc<Frame>> {
        let deadline = Instant::now() + SNAPSHOT_WAIT;
        // The frame being captured now may have started before the call: skip it too.
        let wanted = self.frames.load(Ordering::Acquire) + 2;
        loop {
            let newest = self.latest.borrow().clone();
            if let Some(frame) = newest {
                if self.frames.load(Ordering::Acquire) >= wanted || Instant::now() >= deadline {
                    return Some(frame);
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The processed main-stream frames (OSD and masks drawn), newest only: the H.264
    /// stream hub's input.
    pub fn frame_feed(&self) -> watch::Receiver<Option<Arc<Frame>>> {
        self.latest.subscribe()
    }

    /// A new MJPEG viewer: a bounded queue fed from the shared stream.
    pub fn subscribe(&self, runtime: &tokio::runtime::Handle) -> mpsc::Receiver<MjpegPart> {
        let mut parts = self.mjpeg.subscribe();
        let (tx, rx) = mpsc::channel(VIEWER_QUEUE);
        runtime.spawn(async move {
            loop {
                match parts.recv().await {
                    Ok(part) => match tx.try_send(part) {
                        Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                        Err(mpsc::error::TrySendError::Closed(_)) => return,
                    },
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        rx
    }

    /// Number of MJPEG viewers.
    pub fn viewers(&self) -> usize {
        self.mjpeg.receiver_count()
    }

    /// The last capture error, while the source is failing.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn capture_loop(media: &std::sync::Weak<Media>) {
    let mut generation = None;
    let mut settings: Option<MediaSettings> = None;
    let mut sub_buffer: Vec<u8> = Vec::new();
    let mut jpeg: Vec<u8> = Vec::new();
    // The MJPEG sub stream's slots at its configured rate (counted from the slot, so the wait
    // for the next captured frame does not add up: issue 16's 11.7 of 15 fps).
    let mut sub_pacer = FramePacer::new(1);
    let mut sub_viewed = false;
    let mut backoff = Duration::from_millis(100);
    let mut motion = MotionWatch::default();
    let mut next_light_sample = Instant::now();
    loop {
        let Some(media) = media.upgrade() else { return };
        let video = media.parts.video.clone();
        let changed = media.parts.settings.changed(&mut generation);
        if let Some(snapshot) = &changed {
            motion.reconfigure(snapshot);
            let lens = media.parts.settings.board().video.lens_distortion;
            let fresh = MediaSettings::of(snapshot, lens);
            if settings.as_ref().is_none_or(|s| s.main != fresh.main) {
                if let Err(err) = video.configure(fresh.main) {
                    tracing::warn!(%err, ?fresh.main, "sensor refused the stream configuration");
                }
            }
            settings = Some(fresh);
        }
        let Some(current) = settings.clone() else {
            continue;
        };
        let frame = match video.next_frame(Duration::from_secs(2)) {
            Ok(frame) => {
                if media
                    .last_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                    .is_some()
                {
                    tracing::info!("capture recovered");
                }
                backoff = Duration::from_millis(100);
                frame
            }
            Err(err) => {
                let mut last = media.last_error.lock().unwrap_or_else(|e| e.into_inner());
                if last.is_none() {
                    tracing::warn!(%err, "capture failed; retrying with back-off");
                }
                *last = Some(err.to_string());
                drop(last);
                drop(media);
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        // Paced by arrival: capture timestamps may come from another clock (V4L2 monotonic).
        let arrived = Instant::now();
        let frame = orient(&media, frame);
        let frame = correct_lens(&current, frame);
        let action = motion.observe(&media, &current, &frame);
        observe_scene_light(&media.parts.ir, &frame, &mut next_light_sample);
        let frame = overlay_frame(&media.parts.clock, &current, frame);
        if let Some(action) = action {
            // The picture the alarm sends is the one users see (OSD and masks included).
            let mut out = Vec::new();
            let snapshot =
                match media
                    .parts
                    .encoder
                    .encode_jpeg(&frame, current.snap_quality, &mut out)
                {
                    Ok(()) => Some(Bytes::from(out)),
                    Err(err) => {
                        tracing::warn!(%err, "alarm snapshot failed");
                        None
                    }
                };
            let notice = match (action, snapshot) {
                (MotionAction::Alarm(event), snapshot) => {
                    Some(MotionNotice::Alarm(event, snapshot))
                }
                (MotionAction::Snap, Some(jpeg)) => Some(MotionNotice::Snap(jpeg)),
                (MotionAction::Snap, None) => None,
            };
            if let Some(notice) = notice {
                if let Err(std::sync::mpsc::TrySendError::Full(_)) =
                    media.parts.motion.try_send(notice)
                {
                    tracing::warn!("alarm service busy; a motion notice was dropped");
                }
            }
        }
        let frame = Arc::new(frame);
        media.latest.send_replace(Some(frame.clone()));
        media.frames.fetch_add(1, Ordering::Release);
        media.parts.heartbeat.beat();
        let viewed = media.viewers() > 0 && current.sub_is_mjpeg;
        if viewed && !sub_viewed {
            sub_pacer.reset();
        }
        sub_viewed = viewed;
        sub_pacer.set_fps(current.sub.fps);
        if viewed && sub_pacer.admit(arrived) {
            match encode_sub(
                &*media.parts.encoder,
                &frame,
                current.sub,
                &mut sub_buffer,
                &mut jpeg,
            ) {
                Ok(()) => {
                    let captured = frame
                        .captured
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default();
                    // X-Timestamp (capture time, as mjpg-streamer sends it) lets clients and
                    // the benchmark measure latency; MJPEG clients ignore unknown part headers.
                    let head = format!(
                        "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nX-Timestamp: {}.{:06}\r\n\r\n",
                        jpeg.len(),
                        captured.as_secs(),
                        captured.subsec_micros()
                    );
                    let part = MjpegPart {
                        head: Bytes::from(head),
                        jpeg: Bytes::copy_from_slice(&jpeg),
                    };
                    let _ = media.mjpeg.send(part);
                }
                Err(err) => tracing::warn!(%err, "sub-stream encode failed"),
            }
        }
    }
}

/// Applies software mirror/flip where the sensor lacks them.
fn orient(media: &Media, frame: Frame) -> Frame {
    if frame.format == PixelFormat::Mjpeg {
        return frame;
    }
    let mirror = media.soft_mirror.load(Ordering::Relaxed);
    let flip = media.soft_flip.load(Ordering::Relaxed);
    if !mirror && !flip {
        return frame;
    }
    match convert::orient_frame(&frame, mirror, flip) {
        Ok(oriented) => oriented,
        Err(err) => {
            tracing::debug!(%err, "software orientation skipped");
            frame
        }
    }
}

/// setRatio's distortion correction, in software (no sensor here does it).
fn correct_lens(settings: &MediaSettings, frame: Frame) -> Frame {
    if settings.lens == 0.0 || frame.format == PixelFormat::Mjpeg {
        return frame;
    }
    match convert::undistort_frame(&frame, settings.lens) {
        Ok(corrected) => corrected,
        Err(err) => {
            tracing::debug!(%err, "lens correction skipped");
            frame
        }
    }
}

/// Draws the OSD and the privacy masks on a captured frame.
fn overlay_frame(clock: &LocalClock, settings: &MediaSettings, mut frame: Frame) -> Frame {
    if frame.format == PixelFormat::Mjpeg {
        // Compressed frames pass through untouched: nothing can be drawn on them here.
        return frame;
    }
    if settings.masks.is_empty() && !settings.timestamp && settings.dev_name.is_none() {
        return frame;
    }
    let (width, height) = (frame.width, frame.height);
    let data: &mut [u8] = match Arc::get_mut(&mut frame.data) {
        Some(data) => data,
        None => {
            frame.data = Arc::from(&frame.data[..]);
            Arc::get_mut(&mut frame.data).expect("a fresh copy is unique")
        }
    };
    for mask in &settings.masks {
        let rect = Rect::from_corners(
            mask.x * width / 10_000,
            mask.y * height / 10_000,
            (mask.x + mask.width) * width / 10_000,
            (mask.y + mask.height) * height / 10_000,
        );
        let result = match frame.format {
            PixelFormat::I420 => overlay::black_rect(data, width, height, rect),
            _ => overlay::black_rect_gray(data, width, height, rect),
        };
        if let Err(err) = result {
            tracing::debug!(%err, "privacy mask skipped");
        }
    }
    let scale = (height / 240).max(1);
    let luma_len = (width * height) as usize;
    if settings.timestamp {
        let t = crate::civil_time::local_time(clock.unix_now(), settings.time_zone, settings.dst);
        let text = local_time::osd_text(&t, settings.date_format);
        let _ = overlay::draw_text(
            &mut data[..luma_len],
            width,
            height,
            4 * scale,
            4 * scale,
            &text,
            scale,
        );
    }
    if let Some(name) = &settings.dev_name {
        let (_, text_height) = overlay::text_box_size(name, scale);
        let y = height.saturating_sub(text_height + 4 * scale);
        let _ = overlay::draw_text(
            &mut data[..luma_len],
            width,
            height,
            4 * scale,
            y,
            name,
            scale,
        );
    }
    frame
}

fn encode_sub(
    encoder: &dyn Encoder,
    frame: &Frame,
    sub: CaptureConfig,
    buffer: &mut Vec<u8>,
    jpeg: &mut Vec<u8>,
) -> ipcamd_hal::HalResult<()> {
    if frame.format != PixelFormat::I420 || (frame.width == sub.width && frame.height == sub.height)
    {
        return encoder.encode_jpeg(frame, STREAM_QUALITY, jpeg);
    }
    let (sw, sh) = (frame.width as usize, frame.height as usize);
    let (dw, dh) = (sub.width as usize, sub.height as usize);
    buffer.resize(convert::i420_len(dw, dh), 0);
    let (src_cw, src_ch) = convert::i420_chroma_size(sw, sh);
    let (dst_cw, dst_ch) = convert::i420_chroma_size(dw, dh);
    let (src_y, src_rest) = frame.data.split_at(sw * sh);
    let (src_u, src_v) = src_rest.split_at(src_cw * src_ch);
    let (dst_y, dst_rest) = buffer.split_at_mut(dw * dh);
    let (dst_u, dst_v) = dst_rest.split_at_mut(dst_cw * dst_ch);
    convert::scale_plane_nearest(src_y, sw, sh, dst_y, dw, dh, 0, 0);
    convert::scale_plane_nearest(src_u, src_cw, src_ch, dst_u, dst_cw, dst_ch, 0, 0);
    convert::scale_plane_nearest(src_v, src_cw, src_ch, dst_v, dst_cw, dst_ch, 0, 0);
    let scaled = Frame {
        width: sub.width,
        height: sub.height,
        format: PixelFormat::I420,
        data: Arc::from(&buffer[..]),
        sequence: frame.sequence,
        captured: frame.captured,
    };
    encoder.encode_jpeg(&scaled, STREAM_QUALITY, jpeg)
}

/// JPEG quality for the guide's snapPicQuality (0 low, 1 normal, 2 high).
pub fn snap_quality(level: i64) -> u8 {
    match level {
        0 => 50,
        1 => 75,
        _ => 90,
    }
}

impl Media {
    /// A JPEG of the newest main-stream frame at the configured snap quality.
    pub fn snapshot_jpeg(&self) -> ipcamd_hal::HalResult<Bytes> {
        let frame = self.latest_frame().ok_or_else(|| {
            ipcamd_hal::HalError::new(
                ipcamd_hal::HalErrorKind::Timeout,
                "no frame from the sensor",
            )
        })?;
        let quality = snap_quality(self.parts.settings.snapshot().snap.quality);
        let mut out = Vec::with_capacity(frame.data.len() / 8);
        self.parts.encoder.encode_jpeg(&frame, quality, &mut out)?;
        Ok(Bytes::from(out))
    }

    /// The sensor this pipeline captures from.
    pub fn video(&self) -> &Arc<dyn VideoSource> {
        &self.parts.video
    }
}

/// Analysis rate of the motion detector (frames per second).
const MOTION_FPS: u32 = 6;
/// Width the detector analyses (the sub stream's scale).
const MOTION_WIDTH: usize = 320;

/// The motion detector as the capture loop drives it: settings from the store, luma scaled
/// down to about 320 pixels wide, a few frames a second, results into the device state, the
/// system log and the [`MotionReport`].
#[derive(Default)]
struct MotionWatch {
    detector: Option<crate::motion::Detector>,
    ir_switches: u64,
    next_due: Option<Instant>,
    luma: Vec<u8>,
}

impl MotionWatch {
    fn config(s: &Snapshot) -> Option<crate::motion::MotionConfig> {
        use crate::motion::{AreaMask, MotionConfig, Schedule, Sensitivity};
        let m = &s.motion;
        let mut rows = [0u16; crate::motion::GRID_SIZE];
        for (row, value) in rows.iter_mut().zip(m.area) {
            *row = u16::try_from(value).ok()?;
        }
        let area = AreaMask::from_rows(rows).ok()?;
        let schedule =
            Schedule::from_days(m.schedule.map(|d| u64::try_from(d).unwrap_or(u64::MAX))).ok()?;
        Some(MotionConfig {
            enabled: m.enabled,
            sensitivity: Sensitivity::from_guide(m.sensitivity)?,
            area,
            schedule,
            trigger_interval: Duration::from_secs(m.trigger_interval.max(0) as u64),
            snap_interval: Duration::from_secs(m.snap_interval.max(1) as u64),
        })
    }

    /// New settings: the detector follows them.
    fn reconfigure(&mut self, snapshot: &Snapshot) {
        match MotionWatch::config(snapshot) {
            Some(config) => match &mut self.detector {
                Some(detector) => detector.set_config(config),
                None => self.detector = Some(crate::motion::Detector::new(config)),
            },
            None => tracing::warn!("stored motion settings unreadable; detection paused"),
        }
    }

    fn observe(
        &mut self,
        media: &Media,
        settings: &MediaSettings,
        frame: &Frame,
    ) -> Option<MotionAction> {
        let detector = self.detector.as_mut()?;
        let now = Instant::now();
        // Every IR switch changes the whole picture: re-learn instead of alarming.
        let switches = media.parts.ir.switch_count();
        if switches != self.ir_switches {
            self.ir_switches = switches;
            detector.notify_ir_switch(now);
        }
        media
            .parts
            .state
            .motion_alarm
            .set(match detector.status(now).guide_value() {
                2 => AlarmState::Alarm,
                1 => AlarmState::Idle,
                _ => AlarmState::Disabled,
            });
        if !detector.config().enabled || self.next_due.is_some_and(|due| now < due) {
            return None;
        }
        self.next_due = Some(now + Duration::from_secs(1) / MOTION_FPS);
        let luma = frame.luma()?;
        let (w, h) = (frame.width as usize, frame.height as usize);
        let factor = crate::motion::luma::factor_for_width(w, MOTION_WIDTH);
        let (sw, sh) = crate::motion::luma::downscale_luma(luma, w, h, w, factor, &mut self.luma)?;
        let small = crate::motion::LumaFrame::new(&self.luma, sw, sh, sw)?;
        let unix = media.parts.clock.unix_now();
        let local_seconds = unix - settings.time_zone + if settings.dst { 3600 } else { 0 };
        let local = crate::motion::LocalTime::from_local_epoch_seconds(local_seconds);
        let event = detector.feed(&small, now, local);
        let scores: Vec<Vec<u8>> = detector
            .cell_scores()
            .iter()
            .map(|row| row.to_vec())
            .collect();
        let mut report = media.motion.lock().unwrap_or_else(|e| e.into_inner());
        report.scores = scores;
        if let Some(event) = &event {
            report.last_alarm_cells = Some(event.cells.rows());
            report.last_alarm_unix = Some(unix);
            report.alarms += 1;
        }
        drop(report);
        if let Some(event) = event {
            return Some(MotionAction::Alarm(event));
        }
        detector.snap_due(now).then_some(MotionAction::Snap)
    }
}

/// What the capture loop does for the motion detector after drawing the OSD.
enum MotionAction {
    /// A new alarm: linkage with a snapshot.
    Alarm(crate::motion::MotionEvent),
    /// Another snapshot while the alarm lasts (snapInterval).
    Snap,
}

/// About once a second, the scene's mean brightness goes to the IR controller (auto mode on
/// boards without a light sensor).
fn observe_scene_light(ir: &IrController, frame: &Frame, next: &mut Instant) {
    let now = Instant::now();
    if now < *next {
        return;
    }
    *next = now + Duration::from_secs(1);
    let Some(luma) = frame.luma() else { return };
    // Every 61st pixel: a prime stride samples rows and columns evenly.
    let (sum, count) = luma
        .iter()
        .step_by(61)
        .fold((0u64, 0u64), |(s, c), &p| (s + u64::from(p), c + 1));
    if let Some(mean) = sum.checked_div(count) {
        ir.observe_scene_luma(mean as u8, now);
    }
}

impl Media {
    /// The pipeline's state for `/debug/state.json`, as JSON fields (hand-written: a few
    /// numbers and lists): frames, viewers, the capture error and the motion report.
    pub fn debug_json_fields(&self) -> String {
        let report = self
            .motion
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let rows: Vec<String> = report
            .scores
            .iter()
            .map(|row| {
                format!(
                    "[{}]",
                    row.iter().map(u8::to_string).collect::<Vec<_>>().join(",")
                )
            })
            .collect();
        format!(
            "\"frames\":{},\"viewers\":{},\"capture_error\":{},\"motion\":{{\"state\":{},\"alarms\":{},\"last_alarm_unix\":{},\"last_alarm_cells\":{},\"scores\":[{}]}},",
            self.frames.load(Ordering::Relaxed),
            self.viewers(),
            self.last_error()
                .map_or("null".into(), |e| format!("{:?}", e)),
            self.parts.state.motion_alarm.get() as u8,
            report.alarms,
            report
                .last_alarm_unix
                .map_or("null".into(), |t| t.to_string()),
            report.last_alarm_cells.map_or("null".into(), |c| format!(
                "[{}]",
                c.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
            )),
            rows.join(","),
        )
    }
}

impl Media {
    /// Applies one picture control to the sensor. Mirror and flip fall back to software (this
    /// pipeline flips the pixels) when the sensor lacks them; other missing controls fail.
    pub fn set_control(
        &self,
        control: ipcamd_hal::video::ImageControl,
        value: i32,
    ) -> ipcamd_hal::HalResult<()> {
        use ipcamd_hal::video::ImageControl;
        match self.parts.video.set_control(control, value) {
            Err(err) if err.kind() == ipcamd_hal::HalErrorKind::NotSupported => {
                let flag = match control {
                    ImageControl::Mirror => &self.soft_mirror,
                    ImageControl::Flip => &self.soft_flip,
                    _ => {
                        tracing::warn!(?control, %err, "the sensor lacks this control");
                        return Err(err);
                    }
                };
                tracing::info!(
                    ?control,
                    "the sensor lacks this control; applied in software"
                );
                flag.store(value == 1, Ordering::Relaxed);
                Ok(())
            }
            other => other,
        }
    }

    /// Applies every stored picture setting to the sensor (start-up, factory reset).
    pub fn apply_image_settings(&self, s: &Snapshot) {
        use ipcamd_hal::video::ImageControl;
        let controls = [
            (ImageControl::Brightness, s.image.brightness),
            (ImageControl::Contrast, s.image.contrast),
            (ImageControl::Hue, s.image.hue),
            (ImageControl::Saturation, s.image.saturation),
            (ImageControl::Sharpness, s.image.sharpness),
            (ImageControl::Mirror, i64::from(s.mirror_flip.mirror)),
            (ImageControl::Flip, i64::from(s.mirror_flip.flip)),
            (ImageControl::PowerLineFrequency, s.power_frequency.freq),
        ];
        for (control, value) in controls {
            let Ok(value) = i32::try_from(value) else {
                continue;
            };
            if let Err(err) = self.set_control(control, value) {
                tracing::warn!(?control, %err, "image setting not applied at start-up");
            }
        }
    }
}
