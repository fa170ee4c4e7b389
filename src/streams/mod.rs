//! The encoded-stream hub: the camera's H.264 main and sub streams, each encoded once, only
//! while someone consumes it, and fanned out to every consumer (RTSP viewers, the recorder)
//! as `Arc<EncodedFrame>`: the access unit is never copied per consumer.
//!
//! A layer-2 service built from narrow handles: the processed-frame feed of the capture
//! pipeline (a `watch::Receiver` from [`crate::media::Media::frame_feed`]), the board's H.264
//! encoder factory (a HAL role), and a [`StreamSettingsSource`] that says which parameters are
//! in force: in the daemon the typed [`Settings`] (setVideoStreamParam,
//! setSubVideoStreamParam, setMainVideoStreamType, setSubStreamFormat, setH264FrmRefMode via
//! [`StreamSettings::of`]), read again only when their generation changes, so a change reaches
//! the running encoder without reading the store per frame.
//!
//! Lag: each [`Subscription`] has a bounded queue. When it is full the hub drops frames for
//! that consumer only and resumes it at the next key frame; the encoder and the other
//! consumers never wait. A new subscription starts at a key frame and asks the encoder for an
//! IDR at once.
//!
//! Lower rates: a consumer may ask for a share of the frames or a frame rate
//! ([`Decimation`]); [`Decimator`] drops frames for it without breaking decoding.

mod decimate;
mod encode;

pub use decimate::{Decimation, Decimator};

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ipcamd_hal::video::Frame;
use ipcamd_hal::video::encoded::EncodedFrame;
use ipcamd_hal::video::h264::{H264EncoderFactory, H264Params};
use tokio::sync::{Notify, watch};

use crate::heartbeat::Heartbeat;
use crate::settings::sections::RESOLUTIONS;
use crate::settings::{Settings, Snapshot};

/// Which stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamId {
    /// The main stream (`/videoMain`), at the capture resolution.
    Main,
    /// The sub stream (`/videoSub`), scaled from the main picture.
    Sub,
}

impl StreamId {
    /// 0 for the main stream, 1 for the sub stream.
    pub fn index(self) -> usize {
        match self {
            StreamId::Main => 0,
            StreamId::Sub => 1,
        }
    }

    /// The RTSP path Foscam firmware gives the stream.
    pub fn path(self) -> &'static str {
        match self {
            StreamId::Main => "videoMain",
            StreamId::Sub => "videoSub",
        }
    }
}

/// The encoding parameters of both streams, as the settings say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSettings {
    /// Main stream parameters (the live stream type's).
    pub main: H264Params,
    /// Sub stream parameters; `None` while setSubStreamFormat selects MJPEG.
    pub sub: Option<H264Params>,
}

impl StreamSettings {
    /// The parameters the typed settings give: each stream's live stream type
    /// (setMainVideoStreamType; the sub stream's type) picks one of its four parameter sets
    /// (setVideoStreamParam / setSubVideoStreamParam); setSubStreamFormat 1 (MJPEG) leaves
    /// the sub stream without H.264; setH264FrmRefMode 1 asks for temporal layering. The
    /// sub stream is scaled from the main picture, so never larger than it.
    pub fn of(s: &Snapshot) -> StreamSettings {
        let (main, sub) = StreamSettings::pictures(s);
        StreamSettings {
            main,
            sub: (s.sub_stream_format.format == 0).then_some(sub),
        }
    }

    /// Both streams' parameters whatever the sub stream's format (an MJPEG sub stream has
    /// the same picture size, rate and bit rate settings).
    pub fn pictures(s: &Snapshot) -> (H264Params, H264Params) {
        let layered = s.h264_frame_ref.mode == 1;
        let pick = |t: i64| usize::try_from(t).unwrap_or(0).min(3);
        let params = |resolution: i64, fps: i64, bitrate: i64, gop: i64, vbr: i64| {
            let (width, height) = RESOLUTIONS
                .get(usize::try_from(resolution).unwrap_or(usize::MAX))
                .copied()
                .unwrap_or((640, 480));
            H264Params {
                width,
                height,
                fps: fps.clamp(1, 30) as u32,
                bitrate: bitrate.clamp(20_000, 20_000_000) as u32,
                vbr: vbr == 1,
                gop: gop.clamp(1, 300) as u32,
                temporal_layers: layered,
            }
        };
        let (m, main) = (pick(s.main_stream_type.stream_type), &s.main_stream);
        let main = params(
            main.resolution[m],
            main.frame_rate[m],
            main.bit_rate[m],
            main.gop[m],
            main.vbr[m],
        );
        let (n, sub) = (pick(s.sub_stream_type.stream_type), &s.sub_stream);
        let mut sub = params(
            sub.resolution[n],
            sub.frame_rate[n],
            sub.bit_rate[n],
            sub.gop[n],
            sub.vbr[n],
        );
        sub.width = sub.width.min(main.width);
        sub.height = sub.height.min(main.height);
        (main, sub)
    }
}

/// Where the hub reads its settings: a cheap generation counter, and the settings themselves
/// (read only when the generation changed).
pub trait StreamSettingsSource: Send + Sync {
    /// Changes whenever any setting may have changed.
    fn generation(&self) -> u64;
    /// The settings in force.
    fn read(&self) -> StreamSettings;
}

/// The daemon's source: the typed settings.
impl StreamSettingsSource for Settings {
    fn generation(&self) -> u64 {
        Settings::generation(self)
    }

    fn read(&self) -> StreamSettings {
        StreamSettings::of(&self.snapshot())
    }
}

/// How a consumer subscribes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// Frames held for this consumer before it is considered behind (at least 1).
    pub queue: usize,
    /// Which frames it wants.
    pub decimation: Decimation,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions {
            queue: 32,
            decimation: Decimation::All,
        }
    }
}

/// The stream ended: the board cannot encode it (no video, no H.264 encoder, the sub stream
/// is MJPEG) or the encoder failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the stream is not available")]
pub struct StreamClosed;

/// How long an encoder keeps running after its last consumer left (a DESCRIBE followed by a
/// SETUP and PLAY should not restart it).
const LINGER: Duration = Duration::from_secs(3);

/// Handle on the hub (cheap to clone).
#[derive(Clone)]
pub struct StreamHub {
    inner: Arc<HubInner>,
}

struct HubInner {
    streams: [Slot; 2],
    frames: Option<watch::Receiver<Option<Arc<Frame>>>>,
    factory: Option<Arc<dyn H264EncoderFactory>>,
    settings: Arc<dyn StreamSettingsSource>,
    /// Set by [`StreamHub::stop`]: encoders end and none starts again.
    stopping: AtomicBool,
}

struct Slot {
    /// The encoder thread's heartbeat: beaten every turn, idle while no encoder runs.
    heartbeat: Heartbeat,
    state: Mutex<SlotState>,
    key_requested: AtomicBool,
    encoded: AtomicU64,
    /// Encoder threads started for this stream and not yet joined.
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

#[derive(Default)]
struct SlotState {
    subscribers: Vec<Arc<Shared>>,
    running: bool,
    /// Set by the encoder thread when it gave up (encoder failure); cleared on restart.
    last_error: Option<String>,
}

/// One consumer's queue, shared between the encoder thread and the [`Subscription`].
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    notify: Notify,
}

struct Queue {
    frames: VecDeque<Arc<EncodedFrame>>,
    capacity: usize,
    decimator: Decimator,
    waiting_for_key: bool,
    skipped: u64,
    closed: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl StreamHub {
    /// A hub over the capture pipeline's processed frames (`None`: the board has no video,
    /// every stream is closed). Encoders start on demand, on threads of their own that need
    /// no async runtime.
    pub fn new(
        frames: Option<watch::Receiver<Option<Arc<Frame>>>>,
        factory: Option<Arc<dyn H264EncoderFactory>>,
        settings: Arc<dyn StreamSettingsSource>,
    ) -> StreamHub {
        let slot = || Slot {
            heartbeat: {
                let idle = Heartbeat::new();
                idle.idle();
                idle
            },
            state: Mutex::new(SlotState::default()),
            key_requested: AtomicBool::new(false),
            encoded: AtomicU64::new(0),
            threads: Mutex::new(Vec::new()),
        };
        StreamHub {
            inner: Arc::new(HubInner {
                streams: [slot(), slot()],
                frames,
                factory,
                settings,
                stopping: AtomicBool::new(false),
            }),
        }
    }

    /// The heartbeat of `stream`'s encoder thread (idle while the stream has no encoder), for
    /// the supervisor.
    pub fn heartbeat(&self, stream: StreamId) -> &Heartbeat {
        &self.inner.streams[stream.index()].heartbeat
    }

    /// Whether `stream` can be encoded now (video and an H.264 encoder present; the sub
    /// stream set to H.264 by setSubStreamFormat; the hub not stopped).
    pub fn available(&self, stream: StreamId) -> bool {
        self.inner.factory.is_some()
            && self.inner.frames.is_some()
            && !self.inner.stopping.load(Ordering::Acquire)
            && (stream == StreamId::Main || self.inner.settings.read().sub.is_some())
    }

    /// Stops the hub (daemon shutdown): every subscription ends, the encoder threads finish
    /// and are joined, and no encoder starts again. `true` when every thread ended within
    /// `wait` without panicking.
    pub fn stop(&self, wait: Duration) -> bool {
        self.inner.stopping.store(true, Ordering::Release);
        let deadline = Instant::now() + wait;
        let mut clean = true;
        for slot in &self.inner.streams {
            slot.close_all("the daemon is stopping");
            let threads: Vec<_> = lock(&slot.threads).drain(..).collect();
            for thread in threads {
                while !thread.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                if !thread.is_finished() {
                    tracing::warn!("an encoder thread did not stop in time");
                    clean = false;
                } else if thread.join().is_err() {
                    clean = false;
                }
            }
        }
        clean
    }

    /// The parameters `stream` is encoded with now (or would be when started).
    pub fn params(&self, stream: StreamId) -> Option<H264Params> {
        let settings = self.inner.settings.read();
        match stream {
            StreamId::Main => Some(settings.main),
            StreamId::Sub => settings.sub,
        }
    }

    /// Frames encoded for `stream` since start (progress counter for the watchdog and the
    /// benchmark).
    pub fn encoded_frames(&self, stream: StreamId) -> u64 {
        self.inner.streams[stream.index()]
            .encoded
            .load(Ordering::Relaxed)
    }

    /// Consumers of `stream` now.
    pub fn consumers(&self, stream: StreamId) -> usize {
        lock(&self.inner.streams[stream.index()].state)
            .subscribers
            .len()
    }

    /// A new consumer of `stream`. Its first frame is a key frame; the encoder is asked for
    /// one now and started if it was idle. A stream the board cannot encode yields
    /// [`StreamClosed`] at the first receive.
    pub fn subscribe(&self, stream: StreamId, options: SubscribeOptions) -> Subscription {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                frames: VecDeque::with_capacity(options.queue.clamp(1, 256)),
                capacity: options.queue.max(1),
                decimator: Decimator::new(options.decimation, self.params(stream).as_ref()),
                waiting_for_key: true,
                skipped: 0,
                closed: !self.available(stream),
            }),
            ready: Condvar::new(),
            notify: Notify::new(),
        });
        let slot = &self.inner.streams[stream.index()];
        if !lock(&shared.queue).closed {
            let mut state = lock(&slot.state);
            state.subscribers.push(shared.clone());
            slot.key_requested.store(true, Ordering::Release);
            if !state.running {
                state.running = true;
                state.last_error = None;
                drop(state);
                self.start_encoder(stream);
            }
        }
        Subscription {
            hub: self.clone(),
            stream,
            shared,
        }
    }

    fn start_encoder(&self, stream: StreamId) {
        let inner = self.inner.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("encode-{}", stream.path()))
            .spawn(move || encode::run(&inner, stream));
        let slot = &self.inner.streams[stream.index()];
        match spawned {
            Ok(thread) => {
                let mut threads = lock(&slot.threads);
                threads.retain(|t| !t.is_finished());
                threads.push(thread);
            }
            Err(err) => {
                tracing::error!(%err, "cannot start the encoder thread");
                slot.close_all(&format!("no thread: {err}"));
            }
        }
    }
}

impl Slot {
    /// Hands a frame to every consumer; never blocks on one.
    fn publish(&self, frame: &Arc<EncodedFrame>) {
        self.encoded.fetch_add(1, Ordering::Relaxed);
        let state = lock(&self.state);
        for shared in &state.subscribers {
            shared.offer(frame);
        }
    }

    /// Ends every subscription (the stream cannot be encoded any more).
    fn close_all(&self, why: &str) {
        let mut state = lock(&self.state);
        state.running = false;
        state.last_error = Some(why.to_owned());
        for shared in state.subscribers.drain(..) {
            shared.close();
        }
    }
}

impl Shared {
    /// Queues `frame` unless this consumer is behind or does not want it.
    fn offer(&self, frame: &Arc<EncodedFrame>) {
        let mut queue = lock(&self.queue);
        if queue.closed {
            return;
        }
        // The decimator sees every frame (it measures the GOPs it plans).
        let wanted = queue.decimator.keep(frame);
        if queue.waiting_for_key {
            if !frame.keyframe {
                queue.skipped += 1;
                return;
            }
            if !wanted {
                return;
            }
            queue.waiting_for_key = false;
        }
        if !wanted {
            return;
        }
        if queue.frames.len() >= queue.capacity {
            // Behind: what is queued still decodes; resume at the next key frame.
            queue.waiting_for_key = true;
            queue.skipped += 1;
            return;
        }
        queue.frames.push_back(frame.clone());
        drop(queue);
        self.ready.notify_one();
        self.notify.notify_one();
    }

    fn close(&self) {
        lock(&self.queue).closed = true;
        self.ready.notify_all();
        self.notify.notify_one();
    }
}

/// One consumer of one stream. Dropping it leaves the stream (the encoder stops shortly after
/// its last consumer left).
pub struct Subscription {
    hub: StreamHub,
    stream: StreamId,
    shared: Arc<Shared>,
}

impl Subscription {
    /// The stream this subscription receives.
    pub fn stream(&self) -> StreamId {
        self.stream
    }

    /// The next frame, waiting asynchronously.
    pub async fn recv(&mut self) -> Result<Arc<EncodedFrame>, StreamClosed> {
        let shared = self.shared.clone();
        loop {
            let notified = shared.notify.notified();
            if let Some(result) = self.try_next() {
                return result;
            }
            notified.await;
        }
    }

    /// The next frame, blocking the calling (non-async) thread.
    pub fn blocking_recv(&mut self) -> Result<Arc<EncodedFrame>, StreamClosed> {
        loop {
            if let Some(frame) = self.recv_timeout(Duration::from_secs(3600))? {
                return Ok(frame);
            }
        }
    }

    /// The next frame, waiting at most `timeout` (`Ok(None)` on time-out).
    pub fn recv_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<Arc<EncodedFrame>>, StreamClosed> {
        let deadline = Instant::now() + timeout;
        let mut queue = lock(&self.shared.queue);
        loop {
            if let Some(frame) = queue.frames.pop_front() {
                return Ok(Some(frame));
            }
            if queue.closed {
                return Err(StreamClosed);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            queue = self
                .shared
                .ready
                .wait_timeout(queue, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// A queued frame without waiting: `None` when nothing is queued.
    pub fn try_next(&mut self) -> Option<Result<Arc<EncodedFrame>, StreamClosed>> {
        let mut queue = lock(&self.shared.queue);
        match queue.frames.pop_front() {
            Some(frame) => Some(Ok(frame)),
            None if queue.closed => Some(Err(StreamClosed)),
            None => None,
        }
    }

    /// Asks the encoder for an IDR picture as soon as possible.
    pub fn request_key_frame(&self) {
        self.hub.inner.streams[self.stream.index()]
            .key_requested
            .store(true, Ordering::Release);
    }

    /// Frames this consumer lost because it fell behind.
    pub fn skipped(&self) -> u64 {
        lock(&self.shared.queue).skipped
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let slot = &self.hub.inner.streams[self.stream.index()];
        lock(&slot.state)
            .subscribers
            .retain(|s| !Arc::ptr_eq(s, &self.shared));
    }
}

#[cfg(test)]
mod tests;
