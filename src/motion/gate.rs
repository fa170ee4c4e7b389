//! Alarm pacing shared by the motion and IO alarms: `triggerInterval` (after an alarm starts,
//! no new alarm for that long) and `snapInterval` (while an alarm lasts, at most one snapshot
//! per interval). Time is injected, so the pacing is exact in tests.

use std::time::{Duration, Instant};

/// Shortest time an alarm stays active after the condition was last seen, so a zero
/// `triggerInterval` still shows the alarm in getDevState for a moment.
pub const MIN_ALARM_HOLD: Duration = Duration::from_secs(1);

/// Shortest spacing of snapshots; a `snapInterval` of 0 means this.
pub const MIN_SNAP_INTERVAL: Duration = Duration::from_secs(1);

/// Paces one alarm source.
///
/// An alarm *starts* when the condition is seen and no alarm started within the last
/// `trigger_interval`. It stays *active* while the condition keeps being seen and for
/// `max(trigger_interval, MIN_ALARM_HOLD)` after the last sighting.
#[derive(Debug, Clone)]
pub struct AlarmGate {
    trigger_interval: Duration,
    snap_interval: Duration,
    last_start: Option<Instant>,
    last_seen: Option<Instant>,
    last_snap: Option<Instant>,
}

impl AlarmGate {
    /// A gate with the guide's intervals.
    pub fn new(trigger_interval: Duration, snap_interval: Duration) -> AlarmGate {
        AlarmGate {
            trigger_interval,
            snap_interval: snap_interval.max(MIN_SNAP_INTERVAL),
            last_start: None,
            last_seen: None,
            last_snap: None,
        }
    }

    /// Changes the intervals, keeping the alarm history.
    pub fn set_intervals(&mut self, trigger_interval: Duration, snap_interval: Duration) {
        self.trigger_interval = trigger_interval;
        self.snap_interval = snap_interval.max(MIN_SNAP_INTERVAL);
    }

    /// The condition (motion, alarm input level) is present at `now`. Returns true when this
    /// starts a new alarm, which the caller reports and acts on (linkage).
    pub fn detect(&mut self, now: Instant) -> bool {
        self.last_seen = Some(now);
        let may_start = match self.last_start {
            None => true,
            Some(start) => now.saturating_duration_since(start) >= self.trigger_interval,
        };
        if may_start {
            self.last_start = Some(now);
            self.last_snap = None;
        }
        may_start
    }

    /// Whether an alarm is active at `now` (getDevState's "alarm" state).
    pub fn is_active(&self, now: Instant) -> bool {
        let hold = self.trigger_interval.max(MIN_ALARM_HOLD);
        self.last_seen
            .is_some_and(|seen| now.saturating_duration_since(seen) < hold)
    }

    /// While an alarm is active, true at most once per `snap_interval` (the first call after
    /// an alarm starts is true); records the snapshot as taken.
    pub fn snap_due(&mut self, now: Instant) -> bool {
        if !self.is_active(now) {
            return false;
        }
        let due = match self.last_snap {
            None => true,
            Some(snap) => now.saturating_duration_since(snap) >= self.snap_interval,
        };
        if due {
            self.last_snap = Some(now);
        }
        due
    }

    /// When the current or last alarm started.
    pub fn last_start(&self) -> Option<Instant> {
        self.last_start
    }

    /// Forgets every alarm (the source was disabled).
    pub fn reset(&mut self) {
        self.last_start = None;
        self.last_seen = None;
        self.last_snap = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn test_alarm_gate_continuous_condition_starts_once_per_trigger_interval() {
        let t0 = Instant::now();
        let mut gate = AlarmGate::new(5 * S, 2 * S);
        let starts: Vec<u32> = (0..=12u32).filter(|&s| gate.detect(t0 + S * s)).collect();
        assert_eq!(starts, vec![0, 5, 10]);
    }

    #[test]
    fn test_alarm_gate_active_until_hold_after_last_sighting() {
        let t0 = Instant::now();
        let mut gate = AlarmGate::new(5 * S, 2 * S);
        assert!(!gate.is_active(t0));
        assert!(gate.detect(t0));
        gate.detect(t0 + 3 * S);
        assert!(gate.is_active(t0 + 7 * S));
        assert!(!gate.is_active(t0 + 8 * S));
        let mut zero = AlarmGate::new(Duration::ZERO, Duration::ZERO);
        assert!(zero.detect(t0) && zero.detect(t0));
        assert!(zero.is_active(t0 + MIN_ALARM_HOLD / 2));
        assert!(!zero.is_active(t0 + MIN_ALARM_HOLD));
    }

    #[test]
    fn test_alarm_gate_snaps_spaced_by_snap_interval_while_active() {
        let t0 = Instant::now();
        let mut gate = AlarmGate::new(10 * S, 2 * S);
        assert!(!gate.snap_due(t0), "no alarm, no snapshot");
        gate.detect(t0);
        let snaps: Vec<u32> = (0..30u32)
            .filter(|&half| gate.snap_due(t0 + S * half / 2))
            .collect();
        // Every 2 s from the start while active (active for 10 s after the one sighting).
        assert_eq!(snaps, vec![0, 4, 8, 12, 16]);
        gate.reset();
        assert!(!gate.is_active(t0) && gate.last_start().is_none());
    }
}
