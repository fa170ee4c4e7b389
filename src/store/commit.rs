//! The agreement between a CGI request's reply and the store's commits: a command that was
//! answered -5 (its deadline passed) has written nothing to the store.
//!
//! Owns: [`CommitGate`], one per request, shared by the dispatcher and the store's write
//! path. It starts *running*. Every store write (settings, accounts, presets, cruise maps,
//! the multi-device list, import and factory reset) asks [`permit`] just before it commits;
//! that moves the gate *running → committing* (and it stays committing: a handler that has
//! committed once has changed the store, so its own result is the only true answer). The
//! dispatcher, when the deadline passes, calls [`CommitGate::time_out`]: *running →
//! timed-out* succeeds and it answers -5; every later write of that handler is then refused
//! ([`super::StoreError::TimedOut`], the transaction rolls back). If the gate was already
//! committing, the dispatcher waits for the handler and answers its result instead.
//!
//! The gate reaches the store through a thread-local, installed by [`CommitGate::enter`] on
//! the blocking thread that runs the handler, so no store API takes it as a parameter. A
//! write from any other thread (service loops, start-up) has no gate and commits as before.
//! The system log ([`super::event_log`]) is not gated: it records what happened, and a
//! timed-out command's hardware effects did happen.
//!
//! What a timed-out command may still have done: anything *before* its first store write
//! that is not in the store, which is the usual order in handlers (apply to the device, then
//! persist): HAL effects (the picture controls, a PTZ move, the IR LED, the alarm output), a
//! file written (snapshot, export), an in-memory session. Those are not rolled back; the
//! store then still holds the old setting, so the next restart re-applies the old one.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

const RUNNING: u8 = 0;
const COMMITTING: u8 = 1;
const TIMED_OUT: u8 = 2;

/// One request's state: running, committing or timed out.
#[derive(Debug, Default)]
pub struct CommitGate {
    state: AtomicU8,
    /// Set when the dispatcher's deadline passed (whatever the state then), for tests that
    /// must order a slow handler after it.
    deadline_passed: AtomicBool,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<CommitGate>>> = const { RefCell::new(None) };
}

/// While alive, the store writes of this thread go through the gate it was entered with.
#[must_use = "the gate applies only while the guard lives"]
pub struct Entered {
    previous: Option<Arc<CommitGate>>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

impl CommitGate {
    /// A new gate, running.
    pub fn new() -> Arc<CommitGate> {
        Arc::new(CommitGate::default())
    }

    /// Installs the gate for the store writes of the current thread.
    pub fn enter(self: &Arc<Self>) -> Entered {
        let previous = CURRENT.with(|current| current.borrow_mut().replace(self.clone()));
        Entered { previous }
    }

    /// The deadline passed: `true` when the request is now timed out (nothing was committed,
    /// and nothing will be: answer -5), `false` when it is committing (wait for its result).
    pub fn time_out(&self) -> bool {
        self.deadline_passed.store(true, Ordering::Release);
        match self
            .state
            .compare_exchange(RUNNING, TIMED_OUT, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(state) => state == TIMED_OUT,
        }
    }

    /// Whether [`CommitGate::time_out`] was called (tests force an ordering with it).
    #[cfg(test)]
    pub fn deadline_passed(&self) -> bool {
        self.deadline_passed.load(Ordering::Acquire)
    }

    /// Whether the request has begun committing.
    #[cfg(test)]
    pub fn committing(&self) -> bool {
        self.state.load(Ordering::Acquire) == COMMITTING
    }

    /// running → committing (or still committing): `true`; timed out: `false`.
    fn begin_commit(&self) -> bool {
        match self
            .state
            .compare_exchange(RUNNING, COMMITTING, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(state) => state == COMMITTING,
        }
    }
}

/// Asked by every store write just before it commits: `Err(TimedOut)` when this thread runs
/// a request that was already answered -5 (the caller drops its transaction: nothing is
/// written).
pub(super) fn permit() -> super::StoreResult<()> {
    let allowed = CURRENT.with(|current| {
        current
            .borrow()
            .as_ref()
            .is_none_or(|gate| gate.begin_commit())
    });
    if allowed {
        Ok(())
    } else {
        Err(super::StoreError::TimedOut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_a_timed_out_request_may_not_commit() {
        let gate = CommitGate::new();
        let _entered = gate.enter();
        assert!(gate.time_out());
        assert!(matches!(permit(), Err(super::super::StoreError::TimedOut)));
        assert!(gate.time_out(), "still timed out");
    }

    #[test]
    fn test_a_committing_request_is_not_timed_out() {
        let gate = CommitGate::new();
        let _entered = gate.enter();
        assert!(permit().is_ok());
        assert!(gate.committing());
        assert!(!gate.time_out(), "the dispatcher must wait for its result");
        assert!(permit().is_ok(), "a second write of the same request");
        assert!(gate.deadline_passed());
    }

    #[test]
    fn test_without_a_gate_writes_commit_and_the_guard_restores_the_previous() {
        assert!(permit().is_ok());
        let outer = CommitGate::new();
        let _outer = outer.enter();
        {
            let inner = CommitGate::new();
            let _inner = inner.enter();
            assert!(inner.time_out());
            assert!(permit().is_err());
        }
        assert!(permit().is_ok(), "the outer gate is back");
        assert!(outer.committing());
    }
}
