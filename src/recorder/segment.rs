//! One segment file being written: the init segment at creation, then a fragment per key
//! frame or per [`FRAGMENT_MAX`] of video, each written and `fdatasync`ed before the next is
//! started, so a power cut loses at most the fragment in progress (about a second) and the
//! repair pass finds whole fragments up to there.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ipcamd_hal::video::encoded::{EncodedFrame, H264Config};

use super::{h264, mp4};

/// A fragment is closed at the next key frame, or once it holds this much video.
pub const FRAGMENT_MAX: Duration = Duration::from_secs(1);

/// Counters of what went to the card (wear figures).
#[derive(Debug, Default)]
pub struct WriteCounters {
    /// Bytes of segment files written.
    pub segment_bytes: AtomicU64,
    /// Fragments written (each one fsync).
    pub fragments: AtomicU64,
    /// Microseconds of video written.
    pub video_micros: AtomicU64,
}

/// A segment open for writing.
pub struct SegmentWriter {
    file: File,
    path: PathBuf,
    name: String,
    config: Arc<H264Config>,
    /// Frames of the fragment in progress.
    pending: Vec<Arc<EncodedFrame>>,
    /// Pts of the segment's first frame (decode time zero).
    origin: Option<Duration>,
    sequence: u32,
    size: u64,
    /// Video in the whole fragments written.
    written: Duration,
    last_frame_duration: Duration,
    counters: Arc<WriteCounters>,
    scratch: Vec<u8>,
}

fn ticks(d: Duration) -> u64 {
    u64::try_from(d.as_micros() * u128::from(mp4::TIMESCALE) / 1_000_000).unwrap_or(u64::MAX)
}

impl SegmentWriter {
    /// Creates `dir/name` (never replacing a file) and writes the init segment for `config`.
    pub fn create(
        dir: &Path,
        name: &str,
        config: Arc<H264Config>,
        start_unix: i64,
        stream: u8,
        counters: Arc<WriteCounters>,
    ) -> std::io::Result<SegmentWriter> {
        let path = dir.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        let init = mp4::init_segment(
            &config.sps,
            &config.pps,
            config.width,
            config.height,
            start_unix,
            stream,
        );
        file.write_all(&init)?;
        file.sync_data()?;
        counters
            .segment_bytes
            .fetch_add(init.len() as u64, Ordering::Relaxed);
        Ok(SegmentWriter {
            file,
            path,
            name: name.to_owned(),
            config,
            pending: Vec::new(),
            origin: None,
            sequence: 0,
            size: init.len() as u64,
            written: Duration::ZERO,
            last_frame_duration: Duration::from_millis(40),
            counters,
            scratch: Vec::new(),
        })
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far (whole fragments).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Video in whole fragments so far.
    pub fn written(&self) -> Duration {
        self.written
    }

    /// Video in the segment including the fragment in progress.
    pub fn duration(&self) -> Duration {
        match (self.origin, self.pending.last()) {
            (Some(origin), Some(last)) => {
                last.pts.saturating_sub(origin) + self.last_frame_duration
            }
            _ => self.written,
        }
    }

    /// Whether `frame` can go into this segment (same parameter sets).
    pub fn accepts(&self, frame: &EncodedFrame) -> bool {
        Arc::ptr_eq(&self.config, &frame.config) || *self.config == *frame.config
    }

    /// Adds a frame; writes the fragment in progress first when `frame` starts a new one.
    /// The first frame of a segment must be a key frame (others are skipped until one comes).
    pub fn push(&mut self, frame: Arc<EncodedFrame>) -> std::io::Result<()> {
        let Some(origin) = self.origin else {
            if !frame.keyframe {
                return Ok(());
            }
            self.origin = Some(frame.pts);
            self.pending.push(frame);
            return Ok(());
        };
        if frame.pts < origin {
            return Ok(());
        }
        let fragment_length = self
            .pending
            .first()
            .map_or(Duration::ZERO, |first| frame.pts.saturating_sub(first.pts));
        if !self.pending.is_empty() && (frame.keyframe || fragment_length >= FRAGMENT_MAX) {
            self.write_fragment(Some(frame.pts))?;
        }
        self.pending.push(frame);
        Ok(())
    }

    /// Writes the fragment in progress; `next_pts` (the following frame's) gives the last
    /// frame its duration, else it lasts as long as the frame before it.
    fn write_fragment(&mut self, next_pts: Option<Duration>) -> std::io::Result<()> {
        let (Some(origin), Some(first_pts)) = (self.origin, self.pending.first().map(|f| f.pts))
        else {
            return Ok(());
        };
        let decode_time = ticks(first_pts.saturating_sub(origin));
        let frames = std::mem::take(&mut self.pending);
        self.scratch.clear();
        let mut ranges = Vec::with_capacity(frames.len());
        for frame in &frames {
            let start = self.scratch.len();
            h264::to_avcc(&frame.data, &mut self.scratch);
            ranges.push(start..self.scratch.len());
        }
        let mut samples = Vec::with_capacity(frames.len());
        let mut covered = Duration::ZERO;
        for (i, frame) in frames.iter().enumerate() {
            let next = frames.get(i + 1).map(|f| f.pts).or(next_pts);
            let duration = match next {
                Some(next) if next > frame.pts => next - frame.pts,
                _ => self.last_frame_duration,
            };
            self.last_frame_duration = duration;
            covered += duration;
            samples.push(mp4::Sample {
                data: &self.scratch[ranges[i].clone()],
                duration: u32::try_from(ticks(duration)).unwrap_or(u32::MAX),
                keyframe: frame.keyframe,
            });
        }
        self.sequence += 1;
        let bytes = mp4::fragment(self.sequence, decode_time, &samples);
        self.file.write_all(&bytes)?;
        self.file.sync_data()?;
        self.size += bytes.len() as u64;
        self.written = first_pts.saturating_sub(origin) + covered;
        self.counters
            .segment_bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.counters.fragments.fetch_add(1, Ordering::Relaxed);
        self.counters.video_micros.fetch_add(
            u64::try_from(covered.as_micros()).unwrap_or(0),
            Ordering::Relaxed,
        );
        Ok(())
    }

    /// Writes what is pending and closes the file: (size in bytes, video duration).
    pub fn finish(mut self) -> std::io::Result<(u64, Duration)> {
        self.write_fragment(None)?;
        self.file.sync_all()?;
        Ok((self.size, self.written))
    }

    /// Drops the fragment in progress without writing (the card went away); the file keeps
    /// its whole fragments.
    pub fn abandon(self) -> (u64, Duration) {
        (self.size, self.written)
    }
}
