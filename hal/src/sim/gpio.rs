//! Simulated GPIO lines: a level, a change history, and a condition variable so
//! `wait_change` blocks like an edge-event read on a real line.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::HalResult;
use crate::gpio::{InputLine, OutputLine};

/// Longest history kept per line.
const HISTORY_LIMIT: usize = 64;

#[derive(Default)]
struct LineState {
    level: bool,
    /// Bumped on every change, so waiters can tell a change from a spurious wake-up.
    generation: u64,
    history: Vec<bool>,
}

/// One simulated line, usable as input (tests drive it) or output (the daemon drives it).
pub struct SimLine {
    name: &'static str,
    state: Mutex<LineState>,
    changed: Condvar,
}

impl SimLine {
    /// A new inactive line.
    pub fn new(name: &'static str) -> SimLine {
        SimLine {
            name,
            state: Mutex::new(LineState::default()),
            changed: Condvar::new(),
        }
    }

    /// The role name of the line.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Sets the level from outside (the "world": a test, the control socket).
    pub fn drive(&self, active: bool) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.level != active {
            state.level = active;
            state.generation += 1;
            if state.history.len() == HISTORY_LIMIT {
                state.history.remove(0);
            }
            state.history.push(active);
            self.changed.notify_all();
        }
    }

    /// The current level.
    pub fn level(&self) -> bool {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).level
    }

    /// Every level the line changed to, oldest first (bounded).
    pub fn history(&self) -> Vec<bool> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .history
            .clone()
    }
}

impl OutputLine for SimLine {
    fn set(&self, active: bool) -> HalResult<()> {
        self.drive(active);
        Ok(())
    }

    fn get(&self) -> HalResult<bool> {
        Ok(self.level())
    }
}

impl InputLine for SimLine {
    fn get(&self) -> HalResult<bool> {
        Ok(self.level())
    }

    fn wait_change(&self, timeout: Duration) -> HalResult<Option<bool>> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let start = state.generation;
        while state.generation == start {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(Some(state.level))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn test_sim_line_wait_change_sees_drive_from_other_thread() {
        let line = Arc::new(SimLine::new("alarm_in"));
        let driver = line.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            driver.drive(true);
        });
        let seen = InputLine::wait_change(&*line, Duration::from_secs(10)).unwrap();
        t.join().unwrap();
        assert_eq!(seen, Some(true));
        assert_eq!(line.history(), vec![true]);
    }

    #[test]
    fn test_sim_line_wait_change_times_out_without_change() {
        let line = SimLine::new("alarm_in");
        assert_eq!(
            InputLine::wait_change(&line, Duration::from_millis(10)).unwrap(),
            None
        );
    }
}
