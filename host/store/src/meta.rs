//! Small facts about the deployment that outlive a process: the hash of the configuration the
//! last cycle ran with (a change forces an initial cycle), and the like.

use crate::db::{Conn, OptionalExtension, params};

use crate::Store;
use crate::error::{Ctx, StoreError};

impl Store {
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")
            .and_then(|mut stmt| stmt.query_row([key], |r| r.get(0)).optional())
            .ctx("read a meta value")
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.write("write a meta value", |tx| set_meta_in(tx, key, value))
    }

    /// True if there was a value.
    pub fn remove_meta(&self, key: &str) -> Result<bool, StoreError> {
        self.write("remove a meta value", |tx| {
            let n = tx
                .execute("DELETE FROM meta WHERE key = ?1", [key])
                .ctx("remove a meta value")?;
            Ok(n > 0)
        })
    }
}

/// [`Store::set_meta`] inside a transaction another write is making.
pub(crate) fn set_meta_in(conn: &Conn, key: &str, value: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .and_then(|mut stmt| stmt.execute(params![key, value]))
    .ctx("write a meta value")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn meta_round_trip() {
        let store = crate::testing::store();
        assert_eq!(store.meta("config_hash").expect("get"), None);
        store.set_meta("config_hash", "a").expect("set");
        store.set_meta("config_hash", "b").expect("replace");
        assert_eq!(
            store.meta("config_hash").expect("get").as_deref(),
            Some("b")
        );
        assert!(store.remove_meta("config_hash").expect("remove"));
        assert!(!store.remove_meta("config_hash").expect("remove again"));
        assert_eq!(store.meta("config_hash").expect("get"), None);
    }
}
