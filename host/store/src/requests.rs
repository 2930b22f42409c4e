//! A cycle asked of a replica that does not lead, kept for the leader to run (`meta` row
//! `cycle_requested`): `POST /admin/sync` works on any replica.

use serde::{Deserialize, Serialize};

use crate::Store;
use crate::db::{OptionalExtension, params};
use crate::error::{Ctx, StoreError, from_json, to_json};

const KEY: &str = "cycle_requested";

/// What the admin asked for, and who.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleRequest {
    pub allow_deletes: bool,
    pub full_read: bool,
    pub full: bool,
    /// The admin token's id.
    pub by: String,
    /// Unix seconds.
    pub at: i64,
}

impl Store {
    /// Keeps a cycle request for the leader; a newer one replaces one not yet taken.
    pub fn request_cycle(&self, request: &CycleRequest) -> Result<(), StoreError> {
        let text = to_json("a cycle request", request)?;
        self.write("request a cycle", |tx| {
            crate::meta::set_meta_in(tx, KEY, &text)
        })
    }

    /// Takes the waiting cycle request, if any: read and removed in one transaction, so one
    /// leader runs it once.
    pub fn take_cycle_request(&self) -> Result<Option<CycleRequest>, StoreError> {
        let op = "take a cycle request";
        let text: Option<String> = self.write(op, |tx| {
            let text: Option<String> = tx
                .query_row("SELECT value FROM meta WHERE key = ?1", params![KEY], |r| {
                    r.get(0)
                })
                .optional()
                .ctx(op)?;
            tx.execute("DELETE FROM meta WHERE key = ?1", params![KEY])
                .ctx(op)?;
            Ok(text)
        })?;
        text.map(|t| from_json(&t, || "meta.cycle_requested".into()))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_taken_once_and_a_newer_one_replaces_it() {
        let store = crate::testing::store();
        assert_eq!(store.take_cycle_request().expect("none"), None);
        let request = |by: &str| CycleRequest {
            allow_deletes: false,
            full_read: true,
            full: false,
            by: by.into(),
            at: 1,
        };
        store.request_cycle(&request("a")).expect("a");
        store.request_cycle(&request("b")).expect("b");
        assert_eq!(
            store.take_cycle_request().expect("take"),
            Some(request("b"))
        );
        assert_eq!(store.take_cycle_request().expect("taken"), None);
    }
}
