//! This process among the replicas that share one state database: its name, whether it leads
//! the scheduled cycles, and the task that keeps (or takes) the leader's lease.
//!
//! With a SQLite file there is one process, which always leads. With PostgreSQL, the replicas
//! compete for the `leader` lease ([`store::Store::claim_lease`]): the holder renews it every
//! third of `[postgres] leader_lease_secs`, and when it dies another takes it over once it
//! expires, so a new leader is in place within one lease. A new leader first marks the cycles
//! the old one left `running` as interrupted; its first cycle then resumes their pending
//! intents, as after a restart. Every replica serves SCIM, the admin API and the console.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use store::{LeaseClaim, Store};
use tokio::sync::watch;

/// The lease the scheduled cycles' leader holds.
pub const LEADER: &str = "leader";

/// The metric saying whether this replica leads (1) or not (0).
pub const LEADER_GAUGE: &str = "muster_leader";

/// This replica.
pub struct Replica {
    /// Unique among the replicas: host name, process id and a random part (a restarted
    /// process is a new replica). `local` for a SQLite file's single owner, so a restarted
    /// process takes back its own outbox claims at once.
    pub id: String,
    /// Whether several replicas may share the state (PostgreSQL).
    pub shared: bool,
    leader: AtomicBool,
    /// The leader's id, as last seen.
    leader_id: std::sync::Mutex<Option<String>>,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
    /// How long this replica's claim on an outbox person lasts without being settled.
    pub outbox_claim: Duration,
}

impl Replica {
    /// The replica a job's configuration makes: one of several on PostgreSQL, else the sole
    /// owner of the file.
    pub fn of(config: &engine::config::Config) -> Replica {
        if config.state_url.is_some() {
            Replica::shared(
                Duration::from_secs(config.postgres.leader_lease_secs),
                Duration::from_secs(config.postgres.outbox_claim_secs),
            )
        } else {
            Replica::sole()
        }
    }

    /// The only process of a SQLite file: always the leader.
    pub fn sole() -> Replica {
        Replica {
            id: "local".into(),
            shared: false,
            leader: AtomicBool::new(true),
            leader_id: std::sync::Mutex::new(Some("local".into())),
            lease: Duration::from_secs(30),
            outbox_claim: Duration::from_secs(60),
        }
    }

    /// One of the replicas of a PostgreSQL store; it leads once it holds the lease.
    pub fn shared(lease: Duration, outbox_claim: Duration) -> Replica {
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "muster".into());
        let random = uuid::Uuid::new_v4().simple().to_string();
        Replica {
            id: format!("{host}-{}-{}", std::process::id(), &random[..8]),
            shared: true,
            leader: AtomicBool::new(false),
            leader_id: std::sync::Mutex::new(None),
            lease,
            outbox_claim,
        }
    }

    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Acquire)
    }

    /// The leader's replica id as last seen (this one's when it leads).
    pub fn leader_id(&self) -> Option<String> {
        self.leader_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set(&self, leads: bool, leader: Option<String>) {
        self.leader.store(leads, Ordering::Release);
        *self.leader_id.lock().unwrap_or_else(|e| e.into_inner()) = leader;
        metrics::gauge!(LEADER_GAUGE).set(if leads { 1.0 } else { 0.0 });
    }

    /// One round of the lease: take or renew it, or learn who holds it. Returns whether this
    /// replica just became the leader.
    pub fn lease_round(&self, store: &Store) -> anyhow::Result<bool> {
        let ttl = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        match store.claim_lease(LEADER, &self.id, ttl)? {
            LeaseClaim::Held { new_term, lease } => {
                let was = self.is_leader();
                self.set(true, Some(self.id.clone()));
                if new_term || !was {
                    let interrupted = store.interrupt_running_cycles()?;
                    tracing::info!(replica = %self.id, term = lease.term, interrupted,
                        "this replica now leads the scheduled cycles");
                    return Ok(true);
                }
                Ok(false)
            }
            LeaseClaim::Other(lease) => {
                if self.is_leader() {
                    tracing::warn!(replica = %self.id, leader = %lease.holder,
                        "lost the leadership (the lease lapsed before it was renewed)");
                }
                self.set(false, Some(lease.holder));
                Ok(false)
            }
        }
    }
}

/// Keeps the lease while the replica runs (every third of the lease), and gives it up when it
/// stops so the next leader need not wait for it to expire. `became_leader` is told each time
/// this replica takes the lead.
pub async fn keep_lease(
    replica: Arc<Replica>,
    store: Arc<Store>,
    became_leader: watch::Sender<u64>,
    mut stopped: watch::Receiver<bool>,
) {
    let every = (replica.lease / 3).max(Duration::from_millis(200));
    loop {
        let (replica2, store2) = (replica.clone(), store.clone());
        match tokio::task::spawn_blocking(move || replica2.lease_round(&store2)).await {
            Ok(Ok(true)) => {
                became_leader.send_modify(|n| *n += 1);
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) => {
                // The database is unreachable: a leader that cannot renew must assume another
                // takes over once the lease expires, and stops starting cycles.
                if replica.is_leader() {
                    tracing::error!(error = %format!("{e:#}"),
                        "cannot renew the leader's lease; no new cycles until it is renewed");
                    replica.set(false, None);
                } else {
                    tracing::warn!(error = %format!("{e:#}"), "cannot read the leader's lease");
                }
            }
            Err(e) => tracing::error!(error = %e, "the lease task failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopped.wait_for(|s| *s) => break,
        }
    }
    if replica.is_leader() {
        let (id, store) = (replica.id.clone(), store.clone());
        let _ = tokio::task::spawn_blocking(move || store.release_lease(LEADER, &id)).await;
        replica.set(false, None);
        tracing::info!("gave up the leadership");
    }
}
