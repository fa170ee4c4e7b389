//! Applying the interface's IPv4 settings safely: a new setting is applied after the reply
//! (the client's connection may not survive it), then given a bounded time to work (an
//! address on the interface and the gateway answering); if it does not, the last working
//! setting is applied again, the log says why, and a [`NetEvent::IpFellBack`] tells the
//! composition root to store the setting in force again. A newer setting cancels the check
//! of an older one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipcamd_hal::HalResult;
use ipcamd_hal::net::{IpMode, IpStatus, Network};

use super::NetEvent;

/// How long after the reply a new setting is applied.
pub const APPLY_AFTER_REPLY: Duration = Duration::from_millis(300);
/// How often a new setting is checked while it gets its chance.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// The IP configuration service.
pub struct IpService {
    network: Arc<dyn Network>,
    timeout: Duration,
    last_good: Mutex<IpMode>,
    generation: AtomicU64,
    events: tokio::sync::mpsc::UnboundedSender<NetEvent>,
}

impl IpService {
    /// The service over the board's network role; `timeout` is how long a setting gets.
    pub fn new(
        network: Arc<dyn Network>,
        timeout: Duration,
        events: tokio::sync::mpsc::UnboundedSender<NetEvent>,
    ) -> Arc<IpService> {
        Arc::new(IpService {
            network,
            timeout,
            last_good: Mutex::new(IpMode::Dhcp),
            generation: AtomicU64::new(0),
            events,
        })
    }

    /// What the interface has now.
    pub fn status(&self) -> HalResult<IpStatus> {
        self.network.status()
    }

    /// The setting that last worked.
    pub fn last_good(&self) -> IpMode {
        self.last_good
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Applies the stored setting at start-up (DHCP, the factory setting, is the fallback).
    pub fn boot(self: &Arc<Self>, stored: IpMode) {
        self.apply_in_background(stored, Duration::ZERO);
    }

    /// Applies `mode` shortly after the current reply has gone out, checks it, and falls back.
    pub fn apply_after_reply(self: &Arc<Self>, mode: IpMode) {
        self.apply_in_background(mode, APPLY_AFTER_REPLY);
    }

    fn apply_in_background(self: &Arc<Self>, mode: IpMode, delay: Duration) {
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let service = self.clone();
        let spawned = std::thread::Builder::new()
            .name("ip-apply".into())
            .spawn(move || {
                std::thread::sleep(delay);
                service.apply_and_check(mode, generation);
            });
        if let Err(err) = spawned {
            tracing::warn!(%err, "cannot start the IP apply thread; setting not applied");
        }
    }

    fn current(&self, generation: u64) -> bool {
        self.generation.load(Ordering::Acquire) == generation
    }

    /// Applies and checks one setting; falls back if it does not work in time.
    fn apply_and_check(&self, mode: IpMode, generation: u64) {
        if !self.current(generation) {
            return;
        }
        let why = match self.network.apply(&mode) {
            Err(err) => format!("applying failed: {err}"),
            Ok(()) => {
                let deadline = Instant::now() + self.timeout;
                loop {
                    if !self.current(generation) {
                        return;
                    }
                    match self.network.gateway_reachable() {
                        Ok(true) => {
                            tracing::info!(?mode, "IP setting applied and working");
                            *self.last_good.lock().unwrap_or_else(|e| e.into_inner()) = mode;
                            return;
                        }
                        Ok(false) => {}
                        Err(err) => tracing::debug!(%err, "checking the gateway"),
                    }
                    if Instant::now() >= deadline {
                        break format!(
                            "no address or no answer from the gateway within {:?}",
                            self.timeout
                        );
                    }
                    std::thread::sleep(CHECK_EVERY);
                }
            }
        };
        let previous = self.last_good();
        tracing::warn!(rejected = ?mode, restored = ?previous, %why, "IP setting did not work; the last working one is back");
        if let Err(err) = self.network.apply(&previous) {
            tracing::error!(%err, "restoring the last working IP setting failed");
        }
        let _ = self.events.send(NetEvent::IpFellBack(previous));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipcamd_hal::net::StaticIp;
    use ipcamd_hal::net::sim::SimLan;
    use ipcamd_hal::net::spec::SimLanSpec;
    use std::net::Ipv4Addr;

    fn lan() -> Arc<SimLan> {
        Arc::new(
            SimLan::new(SimLanSpec {
                gateway: Ipv4Addr::new(10, 0, 0, 1),
                prefix_len: 24,
                dhcp_address: Ipv4Addr::new(10, 0, 0, 50),
                taken: vec![],
                pppoe_user: None,
                pppoe_password: None,
                pppoe_address: None,
                access_points: vec![],
            })
            .unwrap(),
        )
    }

    fn fixed(last: u8, gateway: u8) -> IpMode {
        IpMode::Static(StaticIp {
            address: Ipv4Addr::new(10, 0, 0, last),
            prefix_len: 24,
            gateway: Ipv4Addr::new(10, 0, 0, gateway),
            dns: vec![],
        })
    }

    #[test]
    fn test_a_working_setting_becomes_the_last_good_one() {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let service = IpService::new(lan(), Duration::from_secs(1), tx);
        service.apply_and_check(fixed(9, 1), 0);
        assert_eq!(service.last_good(), fixed(9, 1));
        assert!(!service.status().unwrap().dhcp);
    }

    #[test]
    fn test_a_setting_that_does_not_work_falls_back_and_reports() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let service = IpService::new(lan(), Duration::from_millis(300), tx);
        service.apply_and_check(fixed(9, 1), 0);
        service.apply_and_check(fixed(10, 77), 0);
        assert_eq!(service.last_good(), fixed(9, 1));
        let status = service.status().unwrap();
        assert_eq!(status.address, Some((Ipv4Addr::new(10, 0, 0, 9), 24)));
        assert!(matches!(rx.try_recv(), Ok(NetEvent::IpFellBack(mode)) if mode == fixed(9, 1)));
    }
}
