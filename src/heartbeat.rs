//! Loop progress for the watchdog (layer 0): a [`Heartbeat`] is the handle a long-running
//! loop is given when it is registered with the supervisor (`crate::supervisor`); the loop
//! calls [`Heartbeat::beat`] once per turn (two relaxed atomic stores and an add: no lock,
//! no allocation), and the supervisor reads it to decide whether the systemd watchdog may be
//! fed.
//!
//! A loop that legitimately waits for an event with no bound (a channel with no sender
//! sending, an encoder with no consumer, a PTZ cruise lingering at a point) calls
//! [`Heartbeat::idle`] before it waits and `beat` when it is woken: an idle loop never counts
//! as stalled. A loop that waits with a timeout simply beats on every wake-up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A loop's heartbeat (cheap to clone: the clones share it).
#[derive(Debug, Clone, Default)]
pub struct Heartbeat(Arc<Beats>);

#[derive(Debug, Default)]
struct Beats {
    count: AtomicU64,
    idle: AtomicBool,
}

impl Heartbeat {
    /// A new heartbeat, busy with no beat yet.
    pub fn new() -> Heartbeat {
        Heartbeat::default()
    }

    /// One more turn of the loop (and it is not idle).
    pub fn beat(&self) {
        self.0.idle.store(false, Ordering::Relaxed);
        self.0.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The loop is about to wait for an event that may take any time: not stalled until its
    /// next [`Heartbeat::beat`].
    pub fn idle(&self) {
        self.0.count.fetch_add(1, Ordering::Relaxed);
        self.0.idle.store(true, Ordering::Relaxed);
    }

    /// Turns so far (idle marks included).
    pub fn count(&self) -> u64 {
        self.0.count.load(Ordering::Relaxed)
    }

    /// Whether the loop said it waits for an event.
    pub fn is_idle(&self) -> bool {
        self.0.idle.load(Ordering::Relaxed)
    }

    /// A guard that marks the loop idle when dropped (a loop that returns, or a task that is
    /// aborted, is not stalled: it is not running).
    pub fn idle_on_drop(&self) -> IdleOnDrop {
        IdleOnDrop(self.clone())
    }
}

/// Marks its heartbeat idle when dropped.
#[derive(Debug)]
pub struct IdleOnDrop(Heartbeat);

impl Drop for IdleOnDrop {
    fn drop(&mut self) {
        self.0.idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_beats_count_and_idle_clears_on_the_next_beat() {
        let beat = Heartbeat::new();
        let clone = beat.clone();
        assert_eq!((beat.count(), beat.is_idle()), (0, false));
        clone.beat();
        clone.beat();
        assert_eq!(beat.count(), 2);
        clone.idle();
        assert!(beat.is_idle());
        clone.beat();
        assert!(!beat.is_idle());
        {
            let _guard = clone.idle_on_drop();
            assert!(!beat.is_idle());
        }
        assert!(beat.is_idle());
    }
}
