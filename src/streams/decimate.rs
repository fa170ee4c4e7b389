//! Lower frame rates for consumers that ask for one ([`Decimation`]), without breaking
//! decoding: a picture can only be kept when every picture it references was.
//!
//! [`Decimator`] plans each GOP when its key frame arrives, from the shape of the previous
//! GOP (frames, how many of them others reference, how long it lasted; before one was seen,
//! from the stream's parameters): the GOP's quota is the asked share of its frames (or the
//! asked rate times its duration), the fraction carried over to the next GOP. It keeps:
//!
//! - a GOP whose quota is 0 not at all (whole-GOP drops: rates below one frame per GOP);
//! - the key frame, then referenced pictures as long as the quota lasts (they form a chain:
//!   one not kept ends the GOP for this consumer);
//! - of the pictures nothing references (`nal_ref_idc` 0, setH264FrmRefMode 1 makes half of
//!   them), the rest of the quota, evenly spread.
//!
//! So with setH264FrmRefMode 1 any rate down to half the stream's is even; below that, and for
//! plain IPPP streams, a decodable prefix of each GOP is what the structure allows (the
//! recorder gives its last picture the time until the next one).

use std::time::Duration;

use ipcamd_hal::video::encoded::EncodedFrame;
use ipcamd_hal::video::h264::{self, H264Params};

/// Which frames a consumer wants (recordLevel-style lower rates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Decimation {
    /// Every frame.
    #[default]
    All,
    /// Only frames some other frame references (drops setH264FrmRefMode 1's skipping frames).
    ReferenceOnly,
    /// Only key frames.
    KeyFramesOnly,
    /// `keep` of every `of` frames (recordLevel: n of 30).
    Share {
        /// Frames kept…
        keep: u32,
        /// …per this many.
        of: u32,
    },
    /// At most `frames` per `per`, whatever the stream's rate (e.g. 5 per second, or one per
    /// ten seconds).
    Rate {
        /// Frames…
        frames: u32,
        /// …per this long.
        per: Duration,
    },
}

/// A GOP's shape: frames, referenced frames (the key frame among them), duration.
#[derive(Debug, Clone, Copy, PartialEq)]
struct GopShape {
    frames: u32,
    refs: u32,
    duration: Duration,
}

/// Decides frame by frame what a consumer gets (see the module docs).
#[derive(Debug, Clone)]
pub struct Decimator {
    decimation: Decimation,
    /// Assumed shape until one GOP was measured.
    hint: GopShape,
    last: Option<GopShape>,
    started: bool,
    gop_start: Duration,
    seen: u32,
    refs_seen: u32,
    keep_all: bool,
    refs_quota: u32,
    refs_kept: u32,
    droppables_quota: u32,
    droppables_expected: u32,
    droppable_index: u32,
    /// Every referenced picture of this GOP so far was kept.
    chain: bool,
    carry: f64,
}

impl Decimator {
    /// A decimator for a stream encoded with `params` (its GOP, rate and layering are the first
    /// guess of a GOP's shape); without them, 30 referenced frames a second.
    pub fn new(decimation: Decimation, params: Option<&H264Params>) -> Decimator {
        let hint = match params {
            Some(p) => {
                let frames = p.gop.max(1);
                GopShape {
                    frames,
                    refs: if p.temporal_layers {
                        frames.div_ceil(2)
                    } else {
                        frames
                    },
                    duration: Duration::from_secs(1) * frames / p.fps.max(1),
                }
            }
            None => GopShape {
                frames: 30,
                refs: 30,
                duration: Duration::from_secs(1),
            },
        };
        Decimator {
            decimation,
            hint,
            last: None,
            started: false,
            gop_start: Duration::ZERO,
            seen: 0,
            refs_seen: 0,
            keep_all: false,
            refs_quota: 0,
            refs_kept: 0,
            droppables_quota: 0,
            droppables_expected: 0,
            droppable_index: 0,
            chain: false,
            carry: 0.0,
        }
    }

    /// Whether the consumer gets `frame`. Call it with every frame of the stream, in order.
    pub fn keep(&mut self, frame: &EncodedFrame) -> bool {
        match self.decimation {
            Decimation::All => true,
            Decimation::KeyFramesOnly => frame.keyframe,
            Decimation::ReferenceOnly => frame.keyframe || !h264::is_droppable(frame),
            Decimation::Share { .. } | Decimation::Rate { .. } => {
                let droppable = !frame.keyframe && h264::is_droppable(frame);
                self.decide(frame.keyframe, droppable, frame.pts)
            }
        }
    }

    fn decide(&mut self, key: bool, droppable: bool, pts: Duration) -> bool {
        if key {
            if self.started && self.seen > 0 {
                self.last = Some(GopShape {
                    frames: self.seen,
                    refs: self.refs_seen.max(1),
                    duration: pts.saturating_sub(self.gop_start),
                });
            }
            self.started = true;
            self.gop_start = pts;
            self.seen = 0;
            self.refs_seen = 0;
            self.plan();
        }
        if !self.started {
            // Nothing decodes before the first key frame.
            return false;
        }
        self.seen += 1;
        if !droppable {
            self.refs_seen += 1;
        }
        if self.keep_all {
            return true;
        }
        if key {
            self.chain = self.refs_quota > 0;
            self.refs_kept = u32::from(self.chain);
            return self.chain;
        }
        if !droppable {
            if self.chain && self.refs_kept < self.refs_quota {
                self.refs_kept += 1;
                return true;
            }
            self.chain = false;
            return false;
        }
        let index = u64::from(self.droppable_index);
        self.droppable_index += 1;
        if !self.chain {
            return false;
        }
        let (quota, expected) = (
            u64::from(self.droppables_quota),
            u64::from(self.droppables_expected.max(1)),
        );
        (index + 1) * quota / expected > index * quota / expected
    }

    /// The plan of a GOP that starts now.
    fn plan(&mut self) {
        let shape = self.last.unwrap_or(self.hint);
        let share = match self.decimation {
            Decimation::Share { keep, of } => f64::from(keep) / f64::from(of.max(1)),
            Decimation::Rate { frames, per } => {
                let duration = shape.duration.as_secs_f64();
                if duration <= 0.0 || per.is_zero() {
                    1.0
                } else {
                    f64::from(frames) / per.as_secs_f64() * duration / f64::from(shape.frames)
                }
            }
            _ => 1.0,
        };
        let target = share * f64::from(shape.frames) + self.carry;
        self.keep_all = share >= 1.0;
        // (The epsilon keeps a quota that adds up to a whole frame from flooring below it.)
        let quota = ((target + 1e-9).floor() as u32).min(shape.frames);
        self.carry = if self.keep_all {
            0.0
        } else {
            (target - f64::from(quota)).clamp(0.0, 0.999_999)
        };
        self.refs_quota = quota.min(shape.refs);
        self.droppables_quota = quota - self.refs_quota;
        self.droppables_expected = shape.frames - shape.refs.min(shape.frames);
        self.refs_kept = 0;
        self.droppable_index = 0;
        self.chain = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A picture kind: `I` key frame, `R` referenced, `d` referenced by nothing.
    fn decide_all(decimator: &mut Decimator, pattern: &str, fps: u32) -> Vec<bool> {
        pattern
            .chars()
            .enumerate()
            .map(|(n, kind)| {
                let pts = Duration::from_secs(1) * n as u32 / fps;
                decimator.decide(kind == 'I', kind == 'd', pts)
            })
            .collect()
    }

    /// Whether every kept picture's references were kept: within a GOP the referenced
    /// pictures chain from the key frame; a droppable one references the ones before it.
    fn decodable(pattern: &str, kept: &[bool]) -> bool {
        let mut chain = false;
        for (kind, &keep) in pattern.chars().zip(kept) {
            match kind {
                'I' => chain = keep,
                'R' => {
                    if keep && !chain {
                        return false;
                    }
                    chain &= keep;
                }
                _ => {
                    if keep && !chain {
                        return false;
                    }
                }
            }
        }
        true
    }

    fn gops(gop: &str, count: usize) -> String {
        gop.repeat(count)
    }

    fn ippp(frames: usize) -> String {
        format!("I{}", "R".repeat(frames - 1))
    }

    fn params(gop: u32, fps: u32, layered: bool) -> H264Params {
        H264Params {
            width: 320,
            height: 240,
            fps,
            bitrate: 500_000,
            vbr: true,
            gop,
            temporal_layers: layered,
        }
    }

    #[test]
    fn test_plain_gops_keep_a_decodable_prefix_at_the_asked_rate() {
        let pattern = gops(&ippp(30), 4);
        let mut half = Decimator::new(
            Decimation::Rate {
                frames: 15,
                per: Duration::from_secs(1),
            },
            Some(&params(30, 30, false)),
        );
        let kept = decide_all(&mut half, &pattern, 30);
        assert!(decodable(&pattern, &kept));
        for gop in kept.chunks(30) {
            assert_eq!(gop.iter().filter(|k| **k).count(), 15);
            assert!(gop[..15].iter().all(|k| *k), "a prefix");
        }
    }

    #[test]
    fn test_layered_gops_are_thinned_evenly_down_to_half_the_rate() {
        // setH264FrmRefMode 1 as OpenH264 makes it, GOP 20 at 20 fps.
        let gop: String = std::iter::once('I')
            .chain((1..20).map(|i| if i % 2 == 1 { 'd' } else { 'R' }))
            .collect();
        let pattern = gops(&gop, 5);
        // Half: exactly the referenced pictures, every other frame.
        let mut half = Decimator::new(
            Decimation::Share { keep: 1, of: 2 },
            Some(&params(20, 20, true)),
        );
        let kept = decide_all(&mut half, &pattern, 20);
        assert!(decodable(&pattern, &kept));
        for (kind, keep) in pattern.chars().zip(&kept) {
            assert_eq!(*keep, kind != 'd');
        }
        // Three quarters: every referenced picture and half of the others, evenly: no gap of
        // more than one dropped frame.
        let mut most = Decimator::new(
            Decimation::Rate {
                frames: 15,
                per: Duration::from_secs(1),
            },
            Some(&params(20, 20, true)),
        );
        let kept = decide_all(&mut most, &pattern, 20);
        assert!(decodable(&pattern, &kept));
        for gop in kept.chunks(20) {
            assert_eq!(gop.iter().filter(|k| **k).count(), 15);
        }
        assert!(
            !kept.windows(2).any(|w| !w[0] && !w[1]),
            "evenly spread: {kept:?}"
        );
    }

    #[test]
    fn test_rates_below_one_frame_per_gop_drop_whole_gops_and_the_rest_keeps_all() {
        // One frame per three seconds of one-second GOPs: one key frame in three GOPs.
        let pattern = gops(&ippp(10), 9);
        let mut slow = Decimator::new(
            Decimation::Rate {
                frames: 1,
                per: Duration::from_secs(3),
            },
            Some(&params(10, 10, false)),
        );
        let kept = decide_all(&mut slow, &pattern, 10);
        assert!(decodable(&pattern, &kept));
        let keys: Vec<usize> = kept
            .iter()
            .enumerate()
            .filter(|(_, k)| **k)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(keys.len(), 3, "{keys:?}");
        assert!(
            keys.iter().all(|i| i % 10 == 0),
            "only key frames: {keys:?}"
        );
        assert_eq!(
            keys.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>(),
            [30, 30]
        );
        // A rate at or above the stream's keeps everything, from the first key frame on.
        let mut fast = Decimator::new(
            Decimation::Rate {
                frames: 60,
                per: Duration::from_secs(1),
            },
            Some(&params(10, 10, false)),
        );
        let pattern = format!("RR{}", gops(&ippp(10), 3));
        let kept = decide_all(&mut fast, &pattern, 10);
        assert_eq!(&kept[..2], [false, false], "nothing before a key frame");
        assert!(kept[2..].iter().all(|k| *k));
    }

    #[test]
    fn test_record_level_share_of_thirty_without_stream_parameters() {
        // recordLevel 2 (15 of 30) on one-second GOPs of 10 frames: the first GOP (guessed at
        // 30 frames) whole, then the first half of each.
        let pattern = gops(&ippp(10), 6);
        let mut level = Decimator::new(Decimation::Share { keep: 15, of: 30 }, None);
        let kept = decide_all(&mut level, &pattern, 10);
        assert!(decodable(&pattern, &kept));
        assert_eq!(kept.iter().filter(|k| **k).count(), 10 + 5 * 5);
        // recordLevel 5 (1 of 30) on GOPs of 30: the key frame of each.
        let pattern = gops(&ippp(30), 3);
        let mut one = Decimator::new(Decimation::Share { keep: 1, of: 30 }, None);
        let kept = decide_all(&mut one, &pattern, 30);
        assert_eq!(kept.iter().filter(|k| **k).count(), 3);
    }
}
