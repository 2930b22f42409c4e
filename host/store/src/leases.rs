//! Leases: which replica holds a role (the leader of the scheduled cycles), until when.
//!
//! A row per role, taken over only once expired, renewed by its holder before then. Every
//! change is a write transaction, which the write lock serialises across replicas, so two
//! replicas never both take an expired lease. Time is the database's clock on PostgreSQL, so
//! replicas whose clocks disagree still agree on when a lease expires.

use crate::db::{Conn, OptionalExtension, params};
use crate::error::{Ctx, StoreError};
use crate::{Store, time};

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    /// Counts the holders: a new holder has a new term.
    pub term: i64,
    /// Unix milliseconds, by the database's clock.
    pub until_ms: i64,
}

/// What asking for a lease gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseClaim {
    /// The caller holds it until `lease.until_ms`; `new_term` when it did not hold it before.
    Held { lease: Lease, new_term: bool },
    /// Someone else holds it.
    Other(Lease),
}

/// Now in unix milliseconds, by the clock every replica shares (the database's, on PostgreSQL).
pub(crate) fn now_ms(conn: &Conn) -> Result<i64, StoreError> {
    if conn.is_postgres() {
        conn.query_row(
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
            params![],
            |r| r.get(0),
        )
        .ctx("read the database's clock")
    } else {
        Ok(time::now_unix_ms())
    }
}

fn read_lease(conn: &Conn, name: &str) -> Result<Option<Lease>, StoreError> {
    conn.query_row(
        "SELECT holder, term, until_ms FROM leases WHERE name = ?1",
        params![name],
        |r| {
            Ok(Lease {
                holder: r.get(0)?,
                term: r.get(1)?,
                until_ms: r.get(2)?,
            })
        },
    )
    .optional()
    .ctx("read a lease")
}

impl Store {
    /// Takes or renews the lease `name` for `holder`, for `ttl_ms` from now, unless another
    /// holder's lease has not expired.
    pub fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<LeaseClaim, StoreError> {
        let op = "claim a lease";
        self.write(op, |tx| {
            let now = now_ms(tx)?;
            let current = read_lease(tx, name)?;
            let term = match &current {
                Some(lease) if lease.holder == holder => lease.term,
                Some(lease) if lease.until_ms > now => return Ok(LeaseClaim::Other(lease.clone())),
                Some(lease) => lease.term + 1,
                None => 1,
            };
            let lease = Lease {
                holder: holder.to_owned(),
                term,
                until_ms: now.saturating_add(ttl_ms),
            };
            tx.execute(
                "INSERT INTO leases (name, holder, term, until_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                   term = excluded.term, until_ms = excluded.until_ms",
                params![name, lease.holder, lease.term, lease.until_ms],
            )
            .ctx(op)?;
            let new_term = current.is_none_or(|c| c.holder != holder || c.until_ms <= now);
            Ok(LeaseClaim::Held { lease, new_term })
        })
    }

    /// Gives the lease up at once (a replica stopping), so the next one need not wait for it
    /// to expire. Does nothing when `holder` does not hold it.
    pub fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.write("release a lease", |tx| {
            tx.execute(
                "UPDATE leases SET until_ms = 0 WHERE name = ?1 AND holder = ?2",
                params![name, holder],
            )
            .ctx("release a lease")?;
            Ok(())
        })
    }

    /// The lease `name` as stored, expired or not.
    pub fn lease(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        read_lease(&self.conn(), name)
    }

    /// Marks the cycles still `running` as interrupted: what a new leader does first, since
    /// they belonged to a leader that is gone (a file store does it on open).
    pub fn interrupt_running_cycles(&self) -> Result<usize, StoreError> {
        crate::cycles::interrupt_running(&self.conn())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_a_lapsed_lease_changes_hands_with_a_new_term() {
        let store = crate::testing::store();
        let LeaseClaim::Held { lease, new_term } =
            store.claim_lease("leader", "a", 60_000).expect("a")
        else {
            panic!("a did not get a free lease")
        };
        assert!(new_term);
        assert_eq!((lease.holder.as_str(), lease.term), ("a", 1));
        match store.claim_lease("leader", "b", 60_000).expect("b") {
            LeaseClaim::Other(held) => assert_eq!(held.holder, "a"),
            other => panic!("b took a held lease: {other:?}"),
        }
        // A renewal keeps the term.
        assert!(matches!(
            store.claim_lease("leader", "a", 60_000).expect("renew"),
            LeaseClaim::Held { new_term: false, lease } if lease.term == 1
        ));
        // Released (or expired): the next claimant gets it, in a new term.
        store.release_lease("leader", "a").expect("release");
        assert!(matches!(
            store.claim_lease("leader", "b", 60_000).expect("b again"),
            LeaseClaim::Held { new_term: true, lease } if lease.term == 2 && lease.holder == "b"
        ));
        // A release by someone who does not hold it changes nothing.
        store.release_lease("leader", "a").expect("stale release");
        assert_eq!(
            store.lease("leader").expect("read").map(|l| l.holder),
            Some("b".into())
        );
    }

    #[test]
    fn an_expired_lease_is_taken_over() {
        let store = crate::testing::store();
        store
            .claim_lease("leader", "a", -1)
            .expect("a, already expired");
        assert!(matches!(
            store.claim_lease("leader", "b", 60_000).expect("b"),
            LeaseClaim::Held { new_term: true, .. }
        ));
    }
}
