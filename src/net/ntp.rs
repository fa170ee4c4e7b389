//! Time from the network (timeSource 0): the configured server (or [`FACTORY_SERVER`]) is
//! asked by SNTP at start-up, then every [`SYNC_INTERVAL`] (every [`RETRY_INTERVAL`] after a
//! failure) and at once when the time settings change (the loop looks at the typed settings
//! every [`WATCH_INTERVAL`]). The offset it gives moves the HAL clock (the simulated board's
//! own clock; on Linux boards the system clock, or the daemon's own offset where it may not
//! set that); ntpState (getDevState) reports 0 while
//! time is manual, 1 after a successful update, 2 after a failed one. Built from the HAL
//! clock, the settings and the device state.
//!
//! The packet format and offset arithmetic are the `sntpc` crate's; this module supplies the
//! UDP socket (tokio), the clock, the schedule and the state.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ipcamd_hal::clock::Clock;

use crate::heartbeat::Heartbeat;
use crate::settings::Settings;
use crate::state::DeviceState;

/// The factory ntpServer (the guide's first listed server).
pub const FACTORY_SERVER: &str = "time.nist.gov";
/// Between successful updates.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(3600);
/// After a failed update.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(60);
/// Longest wait for a server's answer (name lookup included).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the loop looks for new time settings.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// ntpState values.
pub mod state {
    /// Time is set manually.
    pub const DISABLED: u8 = 0;
    /// The last update succeeded.
    pub const UPDATED: u8 = 1;
    /// The last update failed.
    pub const FAILED: u8 = 2;
}

/// The server the stored setting names (the factory one when empty).
pub fn server_of(ntp_server: &str) -> String {
    let server = ntp_server.trim();
    if server.is_empty() {
        FACTORY_SERVER.to_owned()
    } else {
        server.to_owned()
    }
}

/// The SNTP client service.
pub struct Ntp {
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
    state: Arc<DeviceState>,
}

impl Ntp {
    /// The service over the HAL clock, following the time settings, reporting in `state`.
    pub fn new(clock: Arc<dyn Clock>, settings: Arc<Settings>, state: Arc<DeviceState>) -> Ntp {
        Ntp {
            clock,
            settings,
            state,
        }
    }

    /// The service loop (spawn it on the runtime; it never returns).
    pub async fn run(self, heartbeat: Heartbeat) {
        let mut followed: Option<(bool, String)> = None;
        let mut due = Instant::now();
        loop {
            // Every turn sleeps WATCH_INTERVAL after a network attempt (each has timeouts).
            heartbeat.beat();
            let time = self.settings.snapshot().time.clone();
            let source = (time.source == 0, server_of(&time.ntp_server));
            if followed.as_ref() != Some(&source) {
                due = Instant::now();
                followed = Some(source.clone());
            }
            let (ntp, server) = source;
            if !ntp {
                self.state.ntp.set(state::DISABLED);
            } else if Instant::now() >= due {
                match sync_once(&*self.clock, &server).await {
                    Ok(offset) => {
                        tracing::info!(%server, offset_ms = offset / 1000, "clock set from NTP");
                        self.state.ntp.set(state::UPDATED);
                        due = Instant::now() + SYNC_INTERVAL;
                    }
                    Err(why) => {
                        tracing::warn!(%server, %why, "NTP update failed");
                        self.state.ntp.set(state::FAILED);
                        due = Instant::now() + RETRY_INTERVAL;
                    }
                }
            }
            tokio::time::sleep(WATCH_INTERVAL).await;
        }
    }
}

/// The server's socket address: `host`, `host:port`, or an address.
pub async fn resolve(server: &str) -> Result<SocketAddr, String> {
    let server = server.trim();
    if server.is_empty() || server.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("no usable server name".into());
    }
    let target = if server
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        server.to_owned()
    } else {
        format!("{server}:123")
    };
    let mut found = tokio::net::lookup_host(target)
        .await
        .map_err(|e| format!("resolving {server}: {e}"))?;
    found
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| format!("{server} has no IPv4 address"))
}

/// Asks the server once and sets the clock; returns the offset applied, in microseconds.
pub async fn sync_once(clock: &dyn Clock, server: &str) -> Result<i64, String> {
    let query = async {
        let address = resolve(server).await?;
        let socket = tokio::net::UdpSocket::bind("0.0.0.0:0")
            .await
            .map_err(|e| format!("socket: {e}"))?;
        let stamps = ClockStamps::of(clock);
        sntpc::get_time(address, &Udp(socket), sntpc::NtpContext::new(stamps))
            .await
            .map_err(|e| format!("SNTP: {e:?}"))
    };
    let result = tokio::time::timeout(QUERY_TIMEOUT, query)
        .await
        .map_err(|_| format!("no answer within {QUERY_TIMEOUT:?}"))??;
    let offset = result.offset();
    let now = clock.now();
    let magnitude = Duration::from_micros(offset.unsigned_abs());
    let corrected = if offset >= 0 {
        now.checked_add(magnitude)
    } else {
        now.checked_sub(magnitude)
    }
    .ok_or("offset out of range")?;
    clock
        .set(corrected)
        .map_err(|e| format!("setting the clock: {e}"))?;
    Ok(offset)
}

/// The HAL clock as sntpc's timestamp source: its offset from the host clock is taken once
/// per query (the generator must be `Copy`).
#[derive(Clone, Copy)]
struct ClockStamps {
    /// HAL clock minus host clock, microseconds.
    offset_us: i128,
    now: Duration,
}

fn micros_since_epoch(t: SystemTime) -> i128 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_micros() as i128,
        Err(e) => -(e.duration().as_micros() as i128),
    }
}

impl ClockStamps {
    fn of(clock: &dyn Clock) -> ClockStamps {
        ClockStamps {
            offset_us: micros_since_epoch(clock.now()) - micros_since_epoch(SystemTime::now()),
            now: Duration::ZERO,
        }
    }
}

impl sntpc::NtpTimestampGenerator for ClockStamps {
    fn init(&mut self) {
        let us = (micros_since_epoch(SystemTime::now()) + self.offset_us).max(0);
        self.now = Duration::from_micros(u64::try_from(us).unwrap_or(u64::MAX));
    }

    fn timestamp_sec(&self) -> u64 {
        self.now.as_secs()
    }

    fn timestamp_subsec_micros(&self) -> u32 {
        self.now.subsec_micros()
    }
}

struct Udp(tokio::net::UdpSocket);

impl sntpc::NtpUdpSocket for Udp {
    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> sntpc::Result<usize> {
        self.0
            .send_to(buf, addr)
            .await
            .map_err(|_| sntpc::Error::Network)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> sntpc::Result<(usize, SocketAddr)> {
        self.0
            .recv_from(buf)
            .await
            .map_err(|_| sntpc::Error::Network)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipcamd_hal::clock::OffsetClock;

    #[tokio::test]
    async fn test_server_names_are_resolved_with_the_default_port() {
        assert_eq!(
            resolve("127.0.0.1").await.unwrap(),
            "127.0.0.1:123".parse().unwrap()
        );
        assert_eq!(
            resolve("127.0.0.1:1234").await.unwrap(),
            "127.0.0.1:1234".parse().unwrap()
        );
        assert!(resolve("").await.is_err());
        assert!(resolve("bad name\n").await.is_err());
    }

    #[tokio::test]
    async fn test_a_server_that_never_answers_is_a_failure_and_the_clock_stays() {
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let server = silent.local_addr().unwrap().to_string();
        let clock = OffsetClock::default();
        let before = clock.now();
        let why = sync_once(&clock, &server).await.unwrap_err();
        assert!(why.contains("no answer"), "{why}");
        let after = clock.now();
        assert!(after >= before, "the clock was not moved back");
    }
}
