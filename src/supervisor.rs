//! Supervision of the daemon's background work (used by the composition root, layer 5):
//! every thread and task is registered by name; [`Supervisor::failure`] resolves when one of
//! them ends while the daemon runs (a panic or a return: both are failures, since every
//! registered loop is meant to run for the daemon's life), with the reason, so the daemon
//! can log it and exit non-zero (systemd then restarts it). A loop may also register a
//! progress counter; [`Supervisor::stalled`] names the loops whose counter did not move
//! since the last look, for the systemd watchdog.
//!
//! # Registering a background task
//! Spawn it as you like, then hand the handle over in `daemon.rs`:
//! `supervisor.thread("capture", handle)` or `supervisor.task("rtsp", tokio_handle)`, and,
//! for a loop that should make steady progress, `supervisor.progress("capture", counter)`.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A loop's progress counter: bumped once per turn of the loop.
#[derive(Debug, Default)]
pub struct Progress(AtomicU64);

impl Progress {
    /// One more turn.
    pub fn tick(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Turns so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

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

/// A registered progress counter and the value the watchdog saw last.
struct Watched {
    name: &'static str,
    progress: Arc<Progress>,
    seen: Option<u64>,
}

/// How often the supervisor looks at its threads.
const LOOK_INTERVAL: Duration = Duration::from_millis(500);

/// The registry of background work.
#[derive(Default)]
pub struct Supervisor {
    running: Mutex<Vec<(&'static str, Handle)>>,
    progress: Mutex<Vec<Watched>>,
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

    /// Registers a loop's progress counter, for the watchdog.
    pub fn progress(&self, name: &'static str, progress: Arc<Progress>) {
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Watched {
                name,
                progress,
                seen: None,
            });
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

    /// The loops whose progress counter has not moved since the previous call (none on the
    /// first call).
    pub fn stalled(&self) -> Vec<&'static str> {
        let mut stalled = Vec::new();
        for watched in self
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter_mut()
        {
            let now = watched.progress.get();
            if watched.seen == Some(now) {
                stalled.push(watched.name);
            }
            watched.seen = Some(now);
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

    #[test]
    fn test_stalled_names_loops_whose_counter_did_not_move() {
        let supervisor = Supervisor::default();
        let capture = Arc::new(Progress::default());
        let ir = Arc::new(Progress::default());
        supervisor.progress("capture", capture.clone());
        supervisor.progress("ir", ir.clone());
        assert!(supervisor.stalled().is_empty());
        capture.tick();
        assert_eq!(supervisor.stalled(), ["ir"]);
    }
}
