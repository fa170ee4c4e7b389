//! The pre-record ring and recordLevel frame dropping.
//!
//! [`PreRecordRing`] holds the latest encoded frames (shared, never copied) from a key frame
//! at least `keep` before the newest, so an alarm segment can start `preRecordSecs` in the
//! past on a picture a player can decode. Even with pre-record off it holds the current GOP, so
//! a recording starts on the last key frame instead of waiting for the next one. It is bounded
//! in bytes as well as time.
//!
//! [`FrameDropper`] keeps `n` frames of 30 for schedule recordings without breaking decoding:
//! the stream hub's [`Decimator`] asked for that share (a decodable prefix of each GOP of a
//! plain stream, measured on the previous GOP, or an even thinning of setH264FrmRefMode 1's
//! droppable pictures); the segment writer gives each kept frame the time until the next.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use ipcamd_hal::video::encoded::EncodedFrame;

use crate::streams::{Decimation, Decimator};

/// Most bytes the ring holds (about 30 s of a 2 Mbit/s stream); older frames go first.
pub const RING_MAX_BYTES: usize = 8 * 1024 * 1024;

/// Recent frames for pre-record.
#[derive(Default)]
pub struct PreRecordRing {
    frames: VecDeque<Arc<EncodedFrame>>,
    bytes: usize,
}

impl PreRecordRing {
    /// Adds the newest frame and forgets what is no longer needed to start `keep` before it on
    /// a key frame. A gap (a frame lost upstream) empties the ring up to the next key frame.
    pub fn push(&mut self, frame: Arc<EncodedFrame>, keep: Duration) {
        if let Some(last) = self.frames.back() {
            if frame.sequence != last.sequence.wrapping_add(1) && !frame.keyframe {
                self.clear();
                return;
            }
        }
        if self.frames.is_empty() && !frame.keyframe {
            return;
        }
        self.bytes += frame.data.len();
        self.frames.push_back(frame);
        let newest = self.frames.back().map_or(Duration::ZERO, |f| f.pts);
        // Drop whole GOPs from the front while the next key frame still lies `keep` or more
        // before the newest frame (or while over the byte budget).
        loop {
            let next_key = self
                .frames
                .iter()
                .skip(1)
                .position(|f| f.keyframe)
                .map(|i| i + 1);
            let Some(next_key) = next_key else { break };
            let old_enough = newest.saturating_sub(self.frames[next_key].pts) >= keep;
            if !(old_enough || self.bytes > RING_MAX_BYTES) {
                break;
            }
            for _ in 0..next_key {
                if let Some(f) = self.frames.pop_front() {
                    self.bytes -= f.data.len();
                }
            }
        }
    }

    /// The frames held, oldest (a key frame) first.
    pub fn frames(&self) -> impl Iterator<Item = &Arc<EncodedFrame>> {
        self.frames.iter()
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.frames.clear();
        self.bytes = 0;
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// recordLevel frame dropping (see the module docs).
#[derive(Debug, Clone)]
pub struct FrameDropper(Decimator);

impl FrameDropper {
    /// Keeps `keep_per_30` of every 30 frames.
    pub fn new(keep_per_30: u32) -> FrameDropper {
        let decimation = match keep_per_30 {
            30.. => Decimation::All,
            keep => Decimation::Share {
                keep: keep.max(1),
                of: 30,
            },
        };
        FrameDropper(Decimator::new(decimation, None))
    }

    /// Whether to record `frame` (called with every frame, in order).
    pub fn keep(&mut self, frame: &EncodedFrame) -> bool {
        self.0.keep(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipcamd_hal::video::encoded::{H264Config, VideoCodec};

    fn frame(sequence: u64, gop: u64, size: usize) -> Arc<EncodedFrame> {
        Arc::new(EncodedFrame {
            codec: VideoCodec::H264,
            data: vec![0u8; size].into(),
            keyframe: sequence % gop == 0,
            pts: Duration::from_millis(sequence * 100),
            captured: std::time::UNIX_EPOCH,
            sequence,
            config: Arc::new(H264Config {
                sps: vec![],
                pps: vec![],
                width: 16,
                height: 16,
            }),
        })
    }

    #[test]
    fn test_ring_starts_on_a_key_frame_at_least_keep_back() {
        let mut ring = PreRecordRing::default();
        for s in 0..100 {
            ring.push(frame(s, 10, 10), Duration::from_secs(2));
        }
        // Newest pts 9.9 s; the key frame at or before 7.9 s is 7.0 s (frame 70).
        let first = ring.frames().next().unwrap();
        assert!(first.keyframe);
        assert_eq!(first.sequence, 70);
        assert_eq!(ring.frames().count(), 30);
        // Pre-record off: only the current GOP.
        let mut ring = PreRecordRing::default();
        for s in 0..25 {
            ring.push(frame(s, 10, 10), Duration::ZERO);
        }
        assert_eq!(ring.frames().next().unwrap().sequence, 20);
        // A gap empties it until a key frame.
        ring.push(frame(27, 10, 10), Duration::ZERO);
        assert_eq!(ring.frames().count(), 0);
        ring.push(frame(28, 10, 10), Duration::ZERO);
        assert_eq!(ring.frames().count(), 0);
        ring.push(frame(30, 10, 10), Duration::ZERO);
        assert_eq!(ring.frames().count(), 1);
    }

    #[test]
    fn test_ring_is_bounded_in_bytes() {
        let mut ring = PreRecordRing::default();
        for s in 0..200 {
            ring.push(frame(s, 5, 200_000), Duration::from_secs(60));
        }
        assert!(ring.bytes() <= RING_MAX_BYTES + 5 * 200_000);
        assert!(ring.frames().next().unwrap().keyframe);
    }

    #[test]
    fn test_dropper_keeps_a_decodable_prefix_of_each_gop() {
        let mut dropper = FrameDropper::new(15);
        let kept: Vec<bool> = (0..90).map(|s| dropper.keep(&frame(s, 30, 1))).collect();
        // Second and third GOPs: the first 15 frames of 30.
        assert_eq!(kept[30..60].iter().filter(|k| **k).count(), 15);
        assert!(kept[30..45].iter().all(|k| *k) && kept[45..60].iter().all(|k| !*k));
        let mut all = FrameDropper::new(30);
        assert!((0..60).all(|s| all.keep(&frame(s, 30, 1))));
        let mut one = FrameDropper::new(1);
        let kept: Vec<bool> = (0..90).map(|s| one.keep(&frame(s, 30, 1))).collect();
        assert_eq!(kept[30..90].iter().filter(|k| **k).count(), 2);
    }
}
