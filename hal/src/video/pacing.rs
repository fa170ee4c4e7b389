//! Frame pacing: which captured frames a stream configured at `fps` sends, so that it
//! delivers its configured rate whenever the capture rate allows ([`FramePacer`]).
//!
//! Pure: the caller passes the time of each captured frame.
//!
//! Each sent frame takes a slot on a fixed grid `period` apart; the next slot is counted from
//! the slot, not from the frame that filled it. Counting from the frame (the old MJPEG
//! pacing) adds the wait for the next captured frame to every period: a 15 fps stream over a
//! 25 fps capture then sends every other frame at best, 12.5 fps, and 11.7 fps with jitter.
//! A frame fills a slot when it arrives no earlier than half a period before it, so a capture
//! running at the stream's own rate with jitter sends every frame. A frame more than half a
//! period after its slot restarts the grid at itself, so a slow capture (or a stall) does not
//! build up a backlog that would later be sent as a burst.

use std::time::{Duration, Instant};

/// Paces one stream; see the module doc.
#[derive(Debug, Clone)]
pub struct FramePacer {
    period: Duration,
    next_slot: Option<Instant>,
}

impl FramePacer {
    /// A pacer for `fps` frames per second (0 is taken as 1).
    pub fn new(fps: u32) -> FramePacer {
        FramePacer {
            period: Duration::from_secs(1) / fps.max(1),
            next_slot: None,
        }
    }

    /// The time between slots.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Changes the rate; the next frame is sent and starts a new slot grid.
    pub fn set_fps(&mut self, fps: u32) {
        let period = Duration::from_secs(1) / fps.max(1);
        if period != self.period {
            self.period = period;
            self.next_slot = None;
        }
    }

    /// Starts a new slot grid at the next frame (e.g. when the first viewer connects).
    pub fn reset(&mut self) {
        self.next_slot = None;
    }

    /// Whether the frame captured at `now` is sent; if so it takes the current slot.
    pub fn admit(&mut self, now: Instant) -> bool {
        let half = self.period / 2;
        let slot = match self.next_slot {
            None => now,
            Some(slot) if now + half < slot => return false,
            // More than half a period late (slow capture, stall): the grid restarts here.
            Some(slot) if now > slot + half => now,
            Some(slot) => slot,
        };
        self.next_slot = Some(slot + self.period);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many of `frames` captured every `interval` (with `jitter(i)` added, in µs) a
    /// pacer at `fps` sends, and over what time span.
    fn delivered(fps: u32, interval: Duration, frames: u32, jitter: impl Fn(u32) -> i64) -> f64 {
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut pacer = FramePacer::new(fps);
        let mut sent = Vec::new();
        for i in 0..frames {
            let offset = jitter(i);
            let at = t0 + interval * i;
            let at = if offset >= 0 {
                at + Duration::from_micros(offset as u64)
            } else {
                at - Duration::from_micros(offset.unsigned_abs())
            };
            if pacer.admit(at) {
                sent.push(at);
            }
        }
        let span = (*sent.last().unwrap() - sent[0]).as_secs_f64();
        (sent.len() - 1) as f64 / span
    }

    /// Deterministic jitter of up to ±`amplitude_us`.
    fn jitter(amplitude_us: i64) -> impl Fn(u32) -> i64 {
        move |i| {
            let h = i
                .wrapping_mul(0x9e37_79b1)
                .rotate_left(13)
                .wrapping_mul(0x85eb_ca77);
            i64::from(h % (2 * amplitude_us as u32 + 1)) - amplitude_us
        }
    }

    #[test]
    fn test_pacer_delivers_configured_rate_below_capture_rate() {
        // The reported case: 15 fps over a 25 fps capture (the old pacing gave 11.7-12.5).
        for (fps, capture_fps) in [(15, 25), (15, 30), (10, 25), (5, 30), (20, 25), (1, 25)] {
            let interval = Duration::from_secs(1) / capture_fps;
            for amplitude in [0, 3_000, 8_000] {
                let got = delivered(fps, interval, capture_fps * 20, jitter(amplitude));
                let error = (got - f64::from(fps)).abs() / f64::from(fps);
                assert!(
                    error <= 0.05,
                    "{fps} fps over {capture_fps} fps capture, jitter ±{amplitude} µs: {got:.2} fps"
                );
            }
        }
    }

    #[test]
    fn test_pacer_at_or_above_capture_rate_sends_every_frame() {
        for (fps, capture_fps) in [(25, 25), (30, 25), (15, 15)] {
            let interval = Duration::from_secs(1) / capture_fps;
            let t0 = Instant::now();
            let mut pacer = FramePacer::new(fps);
            let j = jitter(6_000);
            let all = (0..capture_fps * 10).all(|i| {
                let offset = Duration::from_micros((j(i) + 6_000) as u64);
                pacer.admit(t0 + interval * i + offset)
            });
            assert!(
                all,
                "{fps} fps over a {capture_fps} fps capture dropped a frame"
            );
        }
    }

    #[test]
    fn test_pacer_stall_does_not_burst() {
        let t0 = Instant::now();
        let mut pacer = FramePacer::new(10);
        assert!(pacer.admit(t0));
        // Capture stalls for 2 s, then resumes at 50 fps: no catching up, 10 frames per
        // second again, never two within half a period.
        let resume = t0 + Duration::from_secs(2);
        let sent: Vec<u32> = (0..100)
            .filter(|&i| pacer.admit(resume + Duration::from_millis(20) * i))
            .collect();
        assert_eq!(sent[0], 0);
        assert!((20..=21).contains(&sent.len()), "{sent:?}");
        assert!(sent.windows(2).all(|w| w[1] - w[0] >= 3), "{sent:?}");
    }

    #[test]
    fn test_pacer_rate_change_restarts_grid() {
        let t0 = Instant::now();
        let mut pacer = FramePacer::new(5);
        assert!(pacer.admit(t0));
        assert!(!pacer.admit(t0 + Duration::from_millis(50)));
        pacer.set_fps(20);
        assert_eq!(pacer.period(), Duration::from_millis(50));
        assert!(pacer.admit(t0 + Duration::from_millis(60)));
        assert!(!pacer.admit(t0 + Duration::from_millis(70)));
        assert!(pacer.admit(t0 + Duration::from_millis(110)));
        pacer.reset();
        assert!(pacer.admit(t0 + Duration::from_millis(111)));
        assert_eq!(FramePacer::new(0).period(), Duration::from_secs(1));
    }
}
