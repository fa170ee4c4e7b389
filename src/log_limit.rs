//! Rate limits for log lines a client can trigger (layer 0): failed logins, format errors,
//! refused uploads and connections, RTSP protocol errors. Without them a client could fill
//! the journal (and the camera's flash) with one line per request.
//!
//! Owns: [`LogLimit`], a token bucket per call site (a burst, then a steady rate per minute),
//! and the [`limited!`] macro that puts one in a `static` at the call site. A suppressed
//! message costs one mutex and a counter increment: nothing is formatted or allocated. The
//! next message that gets through is preceded by one summary line, "K similar messages
//! suppressed", naming the site.
//!
//! # Using it
//! ```ignore
//! use crate::log_limit::limited;
//! limited!(info, "authentication failed", %peer, ?failure, "authentication failed");
//! ```
//! The first argument is the `tracing` level, the second the site's name (for the summary
//! line), the rest what `tracing::info!` would take. [`DEFAULT_BURST`] and
//! [`DEFAULT_PER_MINUTE`] apply; a site with its own needs holds a [`LogLimit::new`] and
//! calls [`LogLimit::admit`].

use std::sync::Mutex;
use std::time::Instant;

/// Messages a site may log at once before the rate applies.
pub const DEFAULT_BURST: u32 = 10;
/// Messages per minute a site may log after its burst.
pub const DEFAULT_PER_MINUTE: u32 = 6;

/// A token bucket for one call site's log lines.
#[derive(Debug)]
pub struct LogLimit {
    /// The site's name, in the summary line.
    pub site: &'static str,
    burst: u32,
    per_minute: u32,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Tokens in thousandths (one message costs 1000).
    milli_tokens: u64,
    /// When the bucket was last refilled; `None` before the first message (full bucket).
    refilled: Option<Instant>,
    /// Messages dropped since the last one that got through.
    suppressed: u64,
}

/// What to do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Log it; `suppressed` messages were dropped before it (log a summary first when > 0).
    Log {
        /// Dropped since the previous logged message.
        suppressed: u64,
    },
    /// Drop it (counted).
    Drop,
}

impl LogLimit {
    /// A limit of `burst` messages at once, then `per_minute`.
    pub const fn new(site: &'static str, burst: u32, per_minute: u32) -> LogLimit {
        LogLimit {
            site,
            burst,
            per_minute,
            state: Mutex::new(Bucket {
                milli_tokens: burst as u64 * 1000,
                refilled: None,
                suppressed: 0,
            }),
        }
    }

    /// The default limit under a site name.
    pub const fn named(site: &'static str) -> LogLimit {
        LogLimit::new(site, DEFAULT_BURST, DEFAULT_PER_MINUTE)
    }

    /// Whether a message may be logged now.
    pub fn admit(&self) -> Verdict {
        self.admit_at(Instant::now())
    }

    /// [`LogLimit::admit`] at a given moment (tests inject the clock).
    pub fn admit_at(&self, now: Instant) -> Verdict {
        let mut bucket = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let capacity = self.burst as u64 * 1000;
        if let Some(last) = bucket.refilled {
            let elapsed = now.saturating_duration_since(last);
            // per_minute tokens per 60 s: milli-tokens = elapsed_ms * per_minute / 60.
            let millis = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
            let gained = millis.saturating_mul(self.per_minute as u64) / 60;
            if gained > 0 {
                bucket.milli_tokens = bucket.milli_tokens.saturating_add(gained).min(capacity);
                bucket.refilled = Some(now);
            }
        } else {
            bucket.refilled = Some(now);
        }
        if bucket.milli_tokens >= 1000 {
            bucket.milli_tokens -= 1000;
            let suppressed = std::mem::take(&mut bucket.suppressed);
            Verdict::Log { suppressed }
        } else {
            bucket.suppressed += 1;
            Verdict::Drop
        }
    }

    /// How long a site must stay quiet for a full burst again.
    #[cfg(test)]
    pub fn refill_time(&self) -> std::time::Duration {
        if self.per_minute == 0 {
            return std::time::Duration::MAX;
        }
        std::time::Duration::from_millis(60_000 * self.burst as u64 / self.per_minute as u64)
    }
}

/// Logs a `tracing` event through a per-call-site [`LogLimit`]: see the module docs.
macro_rules! limited {
    ($level:ident, $site:expr, $($event:tt)+) => {{
        static LIMIT: $crate::log_limit::LogLimit = $crate::log_limit::LogLimit::named($site);
        if let $crate::log_limit::Verdict::Log { suppressed } = LIMIT.admit() {
            if suppressed > 0 {
                tracing::$level!(
                    site = LIMIT.site,
                    suppressed,
                    "{} similar messages suppressed",
                    suppressed
                );
            }
            tracing::$level!($($event)+);
        }
    }};
}
pub(crate) use limited;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn test_a_burst_passes_then_the_rest_is_counted() {
        let limit = LogLimit::new("t", 3, 6);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limit.admit_at(t0), Verdict::Log { suppressed: 0 });
        }
        for _ in 0..997 {
            assert_eq!(limit.admit_at(t0), Verdict::Drop);
        }
        // 6 per minute: one token after 10 s, and the summary of what was dropped.
        assert_eq!(limit.admit_at(t0 + Duration::from_secs(9)), Verdict::Drop);
        assert_eq!(
            limit.admit_at(t0 + Duration::from_secs(10)),
            Verdict::Log { suppressed: 998 }
        );
        assert_eq!(limit.admit_at(t0 + Duration::from_secs(10)), Verdict::Drop);
    }

    #[test]
    fn test_a_steady_flood_logs_the_rate_not_the_flood() {
        let limit = LogLimit::new("t", 10, 6);
        let t0 = Instant::now();
        let mut logged = 0;
        // 100 messages a second for ten minutes.
        for i in 0..60_000u64 {
            if let Verdict::Log { .. } = limit.admit_at(t0 + Duration::from_millis(i * 10)) {
                logged += 1;
            }
        }
        // The burst plus six a minute.
        assert!((10 + 59..=10 + 61).contains(&logged), "{logged} logged");
    }

    #[test]
    fn test_a_quiet_site_refills_to_its_burst_and_no_more() {
        let limit = LogLimit::new("t", 2, 60);
        let t0 = Instant::now();
        assert!(matches!(limit.admit_at(t0), Verdict::Log { .. }));
        assert!(matches!(limit.admit_at(t0), Verdict::Log { .. }));
        assert_eq!(limit.admit_at(t0), Verdict::Drop);
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(limit.admit_at(later), Verdict::Log { suppressed: 1 });
        assert_eq!(limit.admit_at(later), Verdict::Log { suppressed: 0 });
        assert_eq!(limit.admit_at(later), Verdict::Drop);
        assert_eq!(limit.refill_time(), Duration::from_secs(2));
    }

    #[test]
    fn test_a_clock_going_backwards_grants_nothing() {
        let limit = LogLimit::new("t", 1, 60);
        let t0 = Instant::now() + Duration::from_secs(100);
        assert!(matches!(limit.admit_at(t0), Verdict::Log { .. }));
        assert_eq!(limit.admit_at(t0 - Duration::from_secs(50)), Verdict::Drop);
    }
}
