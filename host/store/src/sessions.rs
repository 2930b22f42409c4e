//! Console sign-outs. A console session is a signed cookie that stays valid until it expires,
//! so signing out records the session's nonce until then: one `meta` row each
//! (`console_signed_out:<nonce>` → expiry), deleted once expired.

use crate::db::{OptionalExtension, params};

use crate::error::{Ctx, StoreError};
use crate::{Store, now_unix};

const PREFIX: &str = "console_signed_out:";

impl Store {
    /// Ends the session `nonce` (valid until `expires`, Unix seconds) before it expires.
    pub fn sign_out_session(&self, nonce: &str, expires: i64) -> Result<(), StoreError> {
        let op = "record a console sign-out";
        self.write(op, |tx| {
            // By prefix, not by a range of keys (whose order is the database's collation), and
            // the value cast only for the rows of the prefix (other keys hold other text).
            tx.execute(
                "DELETE FROM meta WHERE CASE WHEN substr(key, 1, ?2) = ?1
                     THEN CAST(value AS BIGINT) <= ?3 END",
                params![PREFIX, PREFIX.chars().count(), now_unix()],
            )
            .ctx(op)?;
            crate::meta::set_meta_in(tx, &format!("{PREFIX}{nonce}"), &expires.to_string())
        })
    }

    /// Whether the session `nonce` was signed out.
    pub fn session_signed_out(&self, nonce: &str) -> Result<bool, StoreError> {
        let found: Option<String> = self
            .conn()
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([format!("{PREFIX}{nonce}")], |r| r.get(0))
                    .optional()
            })
            .ctx("read console sign-outs")?;
        Ok(found.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_out_session_stays_out_and_expired_ones_are_forgotten() {
        let store = crate::testing::store();
        assert!(!store.session_signed_out("n1").expect("read"));
        store.sign_out_session("old", 1).expect("sign out");
        store
            .sign_out_session("n1", now_unix() + 3600)
            .expect("sign out");
        assert!(store.session_signed_out("n1").expect("read"));
        assert!(!store.session_signed_out("n2").expect("read"));
        // The expired one went with the next sign-out.
        assert!(!store.session_signed_out("old").expect("read"));
    }
}
