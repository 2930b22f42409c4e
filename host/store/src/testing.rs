//! The store each backend-neutral test runs on: SQLite in memory or, when
//! `MUSTER_TEST_POSTGRES` holds a connection string, a schema of its own in that PostgreSQL
//! database (`.ci/test` runs the store's tests once each way).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{PgTarget, Store};

/// A fresh, empty store.
pub(crate) fn store() -> Store {
    match std::env::var("MUSTER_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let schema = format!(
                "t{}_{nanos}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let target = PgTarget::new(&url, None, Some(&schema)).expect("MUSTER_TEST_POSTGRES");
            Store::open_postgres(&target).expect("open a PostgreSQL store")
        }
        _ => Store::open_in_memory().expect("open an in-memory store"),
    }
}

/// Whether the tests run on PostgreSQL.
pub(crate) fn on_postgres() -> bool {
    std::env::var("MUSTER_TEST_POSTGRES").is_ok_and(|u| !u.is_empty())
}
