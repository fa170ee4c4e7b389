//! The admission gate every listener accepts through: the firewall, then the connection limits.
//!
//! Limits: at most [`Limits::total`] connections in all and [`Limits::per_address`] from one
//! client address. When a limit is reached, a connection that is *idle* (accepted but with no
//! request being served: a half-sent request head, a TLS handshake in progress, a keep-alive
//! connection between requests) gives way to the newcomer: per address, that address's oldest
//! idle connection; in all, the oldest idle connection of the address holding the most. A
//! connection serving a request (or streaming a reply) is never evicted; when nothing is idle,
//! the newcomer is refused. So one client holding half-open requests cannot keep anyone else
//! out, and an administrator's request is still answered during such a flood.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tokio::sync::Notify;

use super::firewall::{self, Firewall};
use crate::log_limit::{LogLimit, Verdict};

/// Connection limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most simultaneous connections (each MJPEG or RTSP viewer holds one).
    pub total: usize,
    /// Most simultaneous connections from one client address.
    pub per_address: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            total: 64,
            per_address: 16,
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The firewall does not let this address in.
    Firewall,
    /// Every connection is serving a request: nothing could give way.
    Full,
}

/// What one connection shares with the gate.
#[derive(Debug, Default)]
struct Shared {
    /// Requests being served right now.
    busy: AtomicUsize,
    /// Set when the gate asked this connection to give way.
    evicted: AtomicBool,
    wake: Notify,
}

struct Entry {
    id: u64,
    ip: IpAddr,
    since: Instant,
    shared: Arc<Shared>,
}

/// The gate. Shared by every listener (one set of limits for the whole camera).
pub struct Gate {
    limits: Limits,
    firewall: RwLock<Arc<Firewall>>,
    table: Mutex<Vec<Entry>>,
    next_id: AtomicU64,
    refusals: LogLimit,
}

impl Gate {
    /// A gate with these limits and an open firewall.
    pub fn new(limits: Limits) -> Arc<Gate> {
        Arc::new(Gate {
            limits,
            firewall: RwLock::new(Arc::new(Firewall::default())),
            table: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            refusals: LogLimit::named("connection refused"),
        })
    }

    /// Replaces the firewall; applies to every connection accepted from now on.
    pub fn set_firewall(&self, firewall: Firewall) {
        *self.firewall.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(firewall);
    }

    /// The firewall in force.
    pub fn firewall(&self) -> Arc<Firewall> {
        self.firewall
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Connections admitted and not yet closed or evicted.
    pub fn open_connections(&self) -> usize {
        self.lock().iter().filter(|e| !e.shared.evicted()).count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a connection from `ip`, making room by evicting an idle connection if a limit is
    /// reached.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refusal> {
        let ip = firewall::canonical(ip);
        if !self.firewall().permits(ip) {
            self.refusals.note(ip, Refusal::Firewall);
            return Err(Refusal::Firewall);
        }
        let mut table = self.lock();
        let live = |e: &&Entry| !e.shared.evicted();
        let from_ip = table.iter().filter(live).filter(|e| e.ip == ip).count();
        if from_ip >= self.limits.per_address {
            let victim = table
                .iter()
                .filter(live)
                .filter(|e| e.ip == ip && e.shared.idle())
                .min_by_key(|e| e.since);
            match victim {
                Some(victim) => victim.shared.evict(),
                None => {
                    drop(table);
                    self.refusals.note(ip, Refusal::Full);
                    return Err(Refusal::Full);
                }
            }
        } else if table.iter().filter(live).count() >= self.limits.total {
            let count_of = |ip: IpAddr| table.iter().filter(live).filter(|e| e.ip == ip).count();
            let victim = table
                .iter()
                .filter(live)
                .filter(|e| e.shared.idle())
                .max_by_key(|e| (count_of(e.ip), std::cmp::Reverse(e.since)));
            match victim {
                Some(victim) => victim.shared.evict(),
                None => {
                    drop(table);
                    self.refusals.note(ip, Refusal::Full);
                    return Err(Refusal::Full);
                }
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(Shared::default());
        table.push(Entry {
            id,
            ip,
            since: Instant::now(),
            shared: shared.clone(),
        });
        Ok(Ticket {
            gate: self.clone(),
            id,
            shared,
        })
    }
}

impl Shared {
    fn idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
    }

    fn evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        // notify_one keeps the wake-up for a connection that is not waiting yet.
        self.wake.notify_one();
    }
}

/// A connection's place at the gate; dropping it frees the place.
pub struct Ticket {
    gate: Arc<Gate>,
    id: u64,
    shared: Arc<Shared>,
}

impl Ticket {
    /// Marks a request as being served until the guard is dropped (hold it in the reply body
    /// of a stream): a busy connection is never evicted.
    pub fn busy(&self) -> BusyGuard {
        self.shared.busy.fetch_add(1, Ordering::AcqRel);
        BusyGuard {
            shared: self.shared.clone(),
        }
    }

    /// Resolves when the gate wants this connection closed to make room; the connection's
    /// task drops the connection then.
    pub async fn evicted(&self) {
        loop {
            if self.shared.evicted() {
                return;
            }
            self.shared.wake.notified().await;
        }
    }

    /// Whether the gate asked this connection to give way.
    pub fn is_evicted(&self) -> bool {
        self.shared.evicted()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.gate.lock().retain(|e| e.id != self.id);
    }
}

/// Held while a request is served.
pub struct BusyGuard {
    shared: Arc<Shared>,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.shared.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Refusals (firewall, limits) go through a [`LogLimit`], so a flood of connections cannot
/// fill the journal: a burst, then a few a minute, each saying how many were not logged.
trait NoteRefusal {
    fn note(&self, ip: IpAddr, why: Refusal);
}

impl NoteRefusal for LogLimit {
    fn note(&self, ip: IpAddr, why: Refusal) {
        if let Verdict::Log { suppressed } = self.admit() {
            tracing::warn!(peer = %ip, ?why, suppressed, "connection refused");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    fn small() -> Arc<Gate> {
        Gate::new(Limits {
            total: 4,
            per_address: 2,
        })
    }

    #[test]
    fn test_per_address_limit_evicts_that_address_oldest_idle() {
        let gate = small();
        let first = gate.admit(ip(2)).unwrap();
        let second = gate.admit(ip(2)).unwrap();
        let third = gate.admit(ip(2)).unwrap();
        assert!(first.is_evicted(), "the oldest idle one gave way");
        assert!(!second.is_evicted() && !third.is_evicted());
        assert_eq!(gate.open_connections(), 2);
    }

    #[test]
    fn test_busy_connections_are_never_evicted() {
        let gate = small();
        let a = gate.admit(ip(2)).unwrap();
        let b = gate.admit(ip(2)).unwrap();
        let _ga = a.busy();
        let _gb = b.busy();
        assert_eq!(gate.admit(ip(2)).err(), Some(Refusal::Full));
        assert!(!a.is_evicted() && !b.is_evicted());
        // Another address still gets in.
        assert!(gate.admit(ip(3)).is_ok());
    }

    #[test]
    fn test_total_limit_evicts_from_the_address_holding_most() {
        let gate = small();
        let a1 = gate.admit(ip(2)).unwrap();
        let a2 = gate.admit(ip(2)).unwrap();
        let b1 = gate.admit(ip(3)).unwrap();
        let c1 = gate.admit(ip(4)).unwrap();
        let _busy = b1.busy();
        let admin = gate.admit(ip(1)).unwrap();
        assert!(a1.is_evicted(), "the oldest of the busiest address");
        assert!(!a2.is_evicted() && !b1.is_evicted() && !c1.is_evicted());
        assert!(!admin.is_evicted());
    }

    #[test]
    fn test_dropping_a_ticket_frees_its_place() {
        let gate = small();
        let a = gate.admit(ip(2)).unwrap();
        let b = gate.admit(ip(2)).unwrap();
        let _g = (a.busy(), b.busy());
        assert!(gate.admit(ip(2)).is_err());
        drop(_g);
        drop(a);
        assert!(gate.admit(ip(2)).is_ok());
    }

    #[test]
    fn test_firewall_refuses_before_limits() {
        let gate = small();
        gate.set_firewall(Firewall::from_fields("1", "0", &["127.0.0.2".into()]));
        assert_eq!(gate.admit(ip(2)).err(), Some(Refusal::Firewall));
        let _admitted = gate.admit(ip(3)).unwrap();
        assert_eq!(gate.open_connections(), 1);
    }

    #[tokio::test]
    async fn test_evicted_resolves_for_a_waiting_connection() {
        let gate = small();
        let a = gate.admit(ip(2)).unwrap();
        let _b = gate.admit(ip(2)).unwrap();
        let waiter = tokio::spawn(async move { a.evicted().await });
        tokio::task::yield_now().await;
        let _c = gate.admit(ip(2)).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("eviction wakes the connection")
            .unwrap();
    }
}
