//! Where each source's change feed stopped: a Graph delta link, a file's hash. Opaque text,
//! keyed by a name the source chooses so several sources can share one database.

use crate::db::{OptionalExtension, params};

use crate::error::{Ctx, StoreError};
use crate::{Store, now_unix};

impl Store {
    pub fn watermark(&self, source_key: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .prepare_cached("SELECT value FROM watermarks WHERE source_key = ?1")
            .and_then(|mut stmt| stmt.query_row([source_key], |r| r.get(0)).optional())
            .ctx("read a watermark")
    }

    /// Write it only once the cycle's changes are settled: a watermark ahead of the records
    /// would skip changes after a crash, one behind only replays them.
    pub fn set_watermark(&self, source_key: &str, value: &str) -> Result<(), StoreError> {
        self.write("write a watermark", |tx| {
            tx.prepare_cached(
                "INSERT INTO watermarks (source_key, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (source_key) DO UPDATE
                 SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .and_then(|mut stmt| stmt.execute(params![source_key, value, now_unix()]))
            .ctx("write a watermark")?;
            Ok(())
        })
    }

    /// Forgets a watermark, so the next cycle of that source is an initial one (a restart).
    pub fn clear_watermark(&self, source_key: &str) -> Result<(), StoreError> {
        self.write("clear a watermark", |tx| {
            tx.execute("DELETE FROM watermarks WHERE source_key = ?1", [source_key])
                .ctx("clear a watermark")?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn watermark_round_trip() {
        let store = crate::testing::store();
        assert_eq!(store.watermark("graph").expect("get"), None);
        let link = "https://graph.example/v1.0/users/delta?$deltatoken=a&b=c";
        store.set_watermark("graph", link).expect("set");
        store.set_watermark("file", "sha256:00").expect("set");
        assert_eq!(
            store.watermark("graph").expect("get").as_deref(),
            Some(link)
        );
        store.set_watermark("graph", "next").expect("replace");
        assert_eq!(
            store.watermark("graph").expect("get").as_deref(),
            Some("next")
        );
        store.clear_watermark("graph").expect("clear");
        store.clear_watermark("graph").expect("clear twice");
        assert_eq!(store.watermark("graph").expect("get"), None);
        assert_eq!(
            store.watermark("file").expect("get").as_deref(),
            Some("sha256:00")
        );
    }
}
