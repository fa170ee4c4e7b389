//! Supervision of the daemon's background work (used by the composition root, layer 5):
//! every thread and task is registered by name; [`Supervisor::failure`] resolves when one of
//! them ends while the daemon runs (a panic or a return: both are failures, since every
//! registered loop is meant to run for the daemon's life), with the reason, so the daemon
//! can log it and exit non-zero (systemd then restarts it).
//!
//! Every long-running loop also has a [`Heartbeat`] registered here with the longest it may
//! go without a beat (its *period*); [`Supervisor::stalled`] names the loops that did not
//! beat within their period (loops that said they wait for an event, [`Heartbeat::idle`],
//! never count). The daemon's watchdog task feeds systemd (`WATCHDOG=1`) only while that
//! list is empty and the web port answers, and logs the stalled loops otherwise, so a wedged
//! loop anywhere gets the daemon restarted.
//!
//! # Registering a background task
//! Spawn it as you like, then hand the handle over in `daemon.rs`:
//! `supervisor.thread("capture", handle)` or `supervisor.task("rtsp", tokio_handle)`. For its
//! progress, take `let beat = supervisor.heartbeat("capture", period)` before spawning and
//! give `beat` to the loop (or `supervisor.watch(name, &beat, period)` for a heartbeat a
//! service owns, such as the encoders').

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use crate::heartbeat::Heartbeat;

enum Handle {
    Thread(std::thread::JoinHandle<()>),
    Task(tokio::task::JoinHandle<()>),
}

impl Handle {
    fn is_finished(&self) -> bool {
        match self {
            Handle::Thread(h) => h.is_finished(),
            Handle::Task(h) => h.is_finished(),
        }
    }
}

/// A registered heartbeat and what the watchdog saw last.
struct Watched {
    name: &'static str,
    heartbeat: Heartbeat,
    period: Duration,
    /// The count last seen, and when it was first seen at that value.
    seen: Option<(u64, Instant)>,
}

/// A loop that did not beat within its period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    /// The loop's name.
    pub name: &'static str,
    /// How long it has been quiet (at least).
    pub quiet: Duration,
    /// The longest it may be.
    pub period: Duration,
}

impl std::fmt::Display for Stall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (no progress for {} s, allowed {} s)",
            self.name,
            self.quiet.as_secs(),
            self.period.as_secs()
        )
    }
}

/// How often the supervisor looks at its threads.
const LOOK_INTERVAL: Duration = Duration::from_millis(500);

/// The registry of background work.
#[derive(Default)]
pub struct Supervisor {
    running: Mutex<Vec<(&'static str, Handle)>>,
    watched: Mutex<Vec<Watched>>,
}

impl Supervisor {
    /// Registers a thread.
    pub fn thread(&self, name: &'static str, handle: std::thread::JoinHandle<()>) {
        self.lock_running().push((name, Handle::Thread(handle)));
    }

    /// Registers a tokio task.
    pub fn task(&self, name: &'static str, handle: tokio::task::JoinHandle<()>) {
        self.lock_running().push((name, Handle::Task(handle)));
    }

    /// A new heartbeat for the loop `name`, watched: it must beat at least every `period`
    /// (or say it is idle).
    pub fn heartbeat(&self, name: &'static str, period: Duration) -> Heartbeat {
        let heartbeat = Heartbeat::new();
        self.watch(name, &heartbeat, period);
        heartbeat
    }

    /// Watches a heartbeat a service owns.
    pub fn watch(&self, name: &'static str, heartbeat: &Heartbeat, period: Duration) {
        self.lock_watched().push(Watched {
            name,
            heartbeat: heartbeat.clone(),
            period,
            seen: None,
        });
    }

    /// Names of the watched loops.
    pub fn watched(&self) -> Vec<&'static str> {
        self.lock_watched().iter().map(|w| w.name).collect()
    }

    fn lock_watched(&self) -> std::sync::MutexGuard<'_, Vec<Watched>> {
        self.watched.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Names of the registered threads and tasks.
    pub fn names(&self) -> Vec<&'static str> {
        self.lock_running().iter().map(|(n, _)| *n).collect()
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, Vec<(&'static str, Handle)>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves when a registered thread or task has ended: its name and why.
    pub async fn failure(&self) -> Failure {
        loop {
            let ended = {
                let mut running = self.lock_running();
                running
                    .iter()
                    .position(|(_, h)| h.is_finished())
                    .map(|i| running.swap_remove(i))
            };
            if let Some((name, handle)) = ended {
                let reason = match handle {
                    Handle::Thread(h) => match h.join() {
                        Ok(()) => "returned".to_owned(),
                        Err(panic) => format!("panicked: {}", panic_text(&*panic)),
                    },
                    Handle::Task(h) => match h.await {
                        Ok(()) => "returned".to_owned(),
                        Err(err) if err.is_panic() => {
                            format!("panicked: {}", panic_text(&*err.into_panic()))
                        }
                        Err(err) => format!("cancelled: {err}"),
                    },
                };
                return Failure { name, reason };
            }
            tokio::time::sleep(LOOK_INTERVAL).await;
        }
    }

    /// The watched loops that have not beaten for longer than their period, now.
    pub fn stalled(&self) -> Vec<Stall> {
        self.stalled_at(Instant::now())
    }

    /// [`Supervisor::stalled`] at a given moment (tests inject the clock). A loop's quiet
    /// time runs from the first look that saw its current count; an idle loop's never runs.
    pub fn stalled_at(&self, now: Instant) -> Vec<Stall> {
        let mut stalled = Vec::new();
        for watched in self.lock_watched().iter_mut() {
            let count = watched.heartbeat.count();
            match watched.seen {
                Some((seen, since)) if seen == count && !watched.heartbeat.is_idle() => {
                    let quiet = now.saturating_duration_since(since);
                    if quiet > watched.period {
                        stalled.push(Stall {
                            name: watched.name,
                            quiet,
                            period: watched.period,
                        });
                    }
                }
                _ => watched.seen = Some((count, now)),
            }
        }
        stalled
    }
}

/// A registered thread or task that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Its name.
    pub name: &'static str,
    /// How it ended.
    pub reason: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.name, self.reason)
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn test_a_panicked_thread_is_reported_with_its_message() {
        let supervisor = Supervisor::default();
        let (go, wait) = std::sync::mpsc::channel::<()>();
        supervisor.thread(
            "steady",
            std::thread::spawn(move || {
                let _ = wait.recv();
            }),
        );
        supervisor.thread("io-alarm", std::thread::spawn(|| panic!("line gone")));
        let failure = supervisor.failure().await;
        assert_eq!(failure.name, "io-alarm");
        assert_eq!(failure.reason, "panicked: line gone");
        drop(go);
    }

    #[tokio::test]
    async fn test_a_returned_task_is_a_failure_too() {
        let supervisor = Supervisor::default();
        supervisor.task("listener", tokio::spawn(async {}));
        let failure = supervisor.failure().await;
        assert_eq!(failure.to_string(), "listener returned");
    }

    fn names(stalls: &[Stall]) -> Vec<&'static str> {
        stalls.iter().map(|s| s.name).collect()
    }

    #[test]
    fn test_a_loop_is_stalled_only_past_its_own_period() {
        let supervisor = Supervisor::default();
        let capture = supervisor.heartbeat("capture", Duration::from_secs(10));
        let ntp = supervisor.heartbeat("ntp", Duration::from_secs(120));
        let t0 = Instant::now();
        assert!(
            supervisor.stalled_at(t0).is_empty(),
            "the first look starts the clocks"
        );
        capture.beat();
        assert!(
            supervisor
                .stalled_at(t0 + Duration::from_secs(5))
                .is_empty()
        );
        // capture last moved at t0+5 s: stalled after t0+15 s; ntp after t0+120 s.
        assert!(
            supervisor
                .stalled_at(t0 + Duration::from_secs(15))
                .is_empty()
        );
        let at_16 = supervisor.stalled_at(t0 + Duration::from_secs(16));
        assert_eq!(names(&at_16), ["capture"]);
        assert_eq!(
            at_16[0].to_string(),
            "capture (no progress for 11 s, allowed 10 s)"
        );
        assert_eq!(
            names(&supervisor.stalled_at(t0 + Duration::from_secs(121))),
            ["capture", "ntp"]
        );
        capture.beat();
        ntp.beat();
        assert!(
            supervisor
                .stalled_at(t0 + Duration::from_secs(122))
                .is_empty()
        );
        assert_eq!(supervisor.watched(), ["capture", "ntp"]);
    }

    #[test]
    fn test_an_idle_loop_is_never_stalled_and_counts_again_when_it_beats() {
        let supervisor = Supervisor::default();
        let encoder = Heartbeat::new();
        supervisor.watch("encode-main", &encoder, Duration::from_secs(10));
        let t0 = Instant::now();
        encoder.idle();
        assert!(supervisor.stalled_at(t0).is_empty());
        assert!(
            supervisor
                .stalled_at(t0 + Duration::from_secs(3600))
                .is_empty()
        );
        // A consumer came: it beats once, then wedges.
        encoder.beat();
        let woke = t0 + Duration::from_secs(3601);
        assert!(supervisor.stalled_at(woke).is_empty());
        assert!(
            supervisor
                .stalled_at(woke + Duration::from_secs(10))
                .is_empty()
        );
        assert_eq!(
            names(&supervisor.stalled_at(woke + Duration::from_secs(11))),
            ["encode-main"]
        );
    }
}
