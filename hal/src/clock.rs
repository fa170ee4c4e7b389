//! Wall-clock role. Everything that needs "now" takes a [`Clock`], so tests can control time.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::HalResult;

/// The camera's wall clock.
pub trait Clock: Send + Sync {
    /// Current UTC time.
    fn now(&self) -> SystemTime;
    /// Sets the wall clock (manual time from setSystemTime).
    fn set(&self, to: SystemTime) -> HalResult<()>;
}

/// The host clock plus an offset: setting it never touches the host's real clock. Used by the
/// simulated board, and by real boards whose daemon may not set the system time.
#[derive(Default)]
pub struct OffsetClock {
    /// Seconds added to the system time (may be negative).
    offset: Mutex<i64>,
}

impl OffsetClock {
    /// Back to the system time (no offset).
    pub fn reset(&self) {
        *self.offset.lock().unwrap_or_else(|e| e.into_inner()) = 0;
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> SystemTime {
        let offset = *self.offset.lock().unwrap_or_else(|e| e.into_inner());
        let now = SystemTime::now();
        if offset >= 0 {
            now + Duration::from_secs(offset.unsigned_abs())
        } else {
            now - Duration::from_secs(offset.unsigned_abs())
        }
    }

    fn set(&self, to: SystemTime) -> HalResult<()> {
        let now = SystemTime::now();
        let offset = match to.duration_since(now) {
            Ok(ahead) => i64::try_from(ahead.as_secs()).unwrap_or(i64::MAX),
            Err(behind) => -i64::try_from(behind.duration().as_secs()).unwrap_or(i64::MAX),
        };
        *self.offset.lock().unwrap_or_else(|e| e.into_inner()) = offset;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_offset_clock_set_moves_now() {
        let clock = OffsetClock::default();
        let target = SystemTime::UNIX_EPOCH + Duration::from_secs(1_400_000_000);
        clock.set(target).unwrap();
        let diff = clock.now().duration_since(target).unwrap();
        assert!(
            diff < Duration::from_secs(5),
            "clock is {diff:?} past the set time"
        );
    }
}
