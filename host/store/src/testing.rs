//! The store each backend-neutral test runs on: SQLite in memory or, when
//! `MUSTER_TEST_POSTGRES` holds a connection string, a schema of its own in that PostgreSQL
//! database (`.ci/test` runs the store's tests once each way).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{PgTarget, Store};

/// A fresh, empty store.
pub(crate) fn store() -> Store {
    match fresh_schema() {
        Some(target) => Store::open_postgres(&target).expect("open a PostgreSQL store"),
        None => Store::open_in_memory().expect("open an in-memory store"),
    }
}

/// Two stores on one fresh PostgreSQL schema, as two replicas have them; `None` on SQLite,
/// where one process owns a file.
pub(crate) fn replicas() -> Option<(Store, Store)> {
    let target = fresh_schema()?;
    let a = Store::open_postgres(&target).expect("open replica a");
    let b = Store::open_postgres(&target).expect("open replica b");
    Some((a, b))
}

fn fresh_schema() -> Option<PgTarget> {
    let url = std::env::var("MUSTER_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())?;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let schema = format!(
        "t{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    Some(PgTarget::new(&url, None, Some(&schema)).expect("MUSTER_TEST_POSTGRES"))
}

/// Whether the tests run on PostgreSQL.
pub(crate) fn on_postgres() -> bool {
    std::env::var("MUSTER_TEST_POSTGRES").is_ok_and(|u| !u.is_empty())
}
