//! The wall clock of a real board: setting it sets the system clock
//! (`clock_settime(CLOCK_REALTIME)`, which needs CAP_SYS_TIME) so every process and the kernel's
//! time stamps agree; where the daemon may not (EPERM: no capability, or a seccomp filter),
//! the time is kept as an offset over the system clock instead, as on the simulated board, and
//! one log line says so.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use crate::clock::{Clock, OffsetClock};
use crate::{HalError, HalResult};

/// Sets the host's wall clock; an error of kind `PermissionDenied` when the process may not.
pub type SetSystemTime = Box<dyn Fn(SystemTime) -> std::io::Result<()> + Send + Sync>;

/// `clock_settime(CLOCK_REALTIME, to)`.
pub fn set_realtime(to: SystemTime) -> std::io::Result<()> {
    let since = to
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    nix::time::clock_settime(
        nix::time::ClockId::CLOCK_REALTIME,
        nix::sys::time::TimeSpec::from_duration(since),
    )
    .map_err(std::io::Error::from)
}

/// The system clock where the daemon may set it, else an offset over it.
pub struct SystemClock {
    setter: SetSystemTime,
    fallback: OffsetClock,
    told: AtomicBool,
}

impl SystemClock {
    /// The clock over the real `clock_settime`.
    pub fn new() -> SystemClock {
        SystemClock::with_setter(Box::new(set_realtime))
    }

    /// The clock over another setter (tests: one that fails as an unprivileged call does).
    pub fn with_setter(setter: SetSystemTime) -> SystemClock {
        SystemClock {
            setter,
            fallback: OffsetClock::default(),
            told: AtomicBool::new(false),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        self.fallback.now()
    }

    fn set(&self, to: SystemTime) -> HalResult<()> {
        match (self.setter)(to) {
            Ok(()) => {
                self.fallback.reset();
                Ok(())
            }
            Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => {
                if !self.told.swap(true, Ordering::AcqRel) {
                    tracing::warn!(
                        %err,
                        "may not set the system clock (no CAP_SYS_TIME); keeping the time as the daemon's own offset"
                    );
                }
                self.fallback.set(to)
            }
            Err(err) => Err(HalError::io("setting the system clock", err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    fn recording(
        result: fn() -> std::io::Result<()>,
    ) -> (SystemClock, Arc<Mutex<Vec<SystemTime>>>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = calls.clone();
        let clock = SystemClock::with_setter(Box::new(move |to| {
            seen.lock().unwrap().push(to);
            result()
        }));
        (clock, calls)
    }

    fn near(a: SystemTime, b: SystemTime) -> bool {
        let d = a.duration_since(b).unwrap_or_else(|e| e.duration());
        d < Duration::from_secs(5)
    }

    #[test]
    fn test_a_permitted_set_goes_to_the_system_clock_and_leaves_no_offset() {
        let (clock, calls) = recording(|| Ok(()));
        let target = SystemTime::UNIX_EPOCH + Duration::from_secs(1_400_000_000);
        clock.set(target).unwrap();
        assert_eq!(*calls.lock().unwrap(), [target]);
        // The (recording) system clock did not move, and no offset was kept over it.
        assert!(near(clock.now(), SystemTime::now()));
    }

    #[test]
    fn test_eperm_falls_back_to_the_offset() {
        let (clock, calls) = recording(|| Err(std::io::Error::from_raw_os_error(nix::libc::EPERM)));
        let target = SystemTime::UNIX_EPOCH + Duration::from_secs(1_400_000_000);
        clock.set(target).unwrap();
        clock.set(target).unwrap();
        assert_eq!(calls.lock().unwrap().len(), 2, "tried each time");
        assert!(near(clock.now(), target), "the offset clock follows");
        assert!(clock.told.load(Ordering::Acquire));
    }

    #[test]
    fn test_other_failures_are_errors_and_the_time_stays() {
        let (clock, _) = recording(|| Err(std::io::Error::from_raw_os_error(nix::libc::EINVAL)));
        let target = SystemTime::UNIX_EPOCH + Duration::from_secs(1_400_000_000);
        assert!(clock.set(target).is_err());
        assert!(near(clock.now(), SystemTime::now()));
    }

    #[test]
    fn test_the_real_setter_maps_errno_to_permission_denied() {
        // Without CAP_SYS_TIME clock_settime fails with EPERM, which must read as
        // PermissionDenied for the fallback; checked on the error conversion, not the host
        // clock (tests may run as root, and must not move the host's time).
        let err = std::io::Error::from(nix::errno::Errno::EPERM);
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
        // A time before the epoch is refused before any system call.
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(
            set_realtime(before).unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput
        );
    }
}
