//! The job's on/off switch (Entra's provisioning status On/Off): while paused, no scheduled
//! cycle runs and the gateway's outbox forwards nothing; what Entra sends is still accepted and
//! waits. Kept in the state, so a restart stays paused.

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::{Store, now_unix};

const KEY: &str = "paused";

/// Who paused the job, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paused {
    /// Unix seconds.
    pub since: i64,
    /// Which admin token paused it.
    pub by: String,
    pub reason: String,
}

impl Store {
    pub fn paused(&self) -> Result<Option<Paused>, StoreError> {
        Ok(self
            .meta(KEY)?
            .and_then(|text| serde_json::from_str(&text).ok()))
    }

    /// Pauses the job; pausing a paused job keeps the first pause.
    pub fn pause(&self, by: &str, reason: &str) -> Result<Paused, StoreError> {
        if let Some(paused) = self.paused()? {
            return Ok(paused);
        }
        let paused = Paused {
            since: now_unix(),
            by: by.to_string(),
            reason: reason.to_string(),
        };
        let text = serde_json::to_string(&paused).unwrap_or_default();
        self.set_meta(KEY, &text)?;
        Ok(paused)
    }

    /// Resumes the job; true if it was paused.
    pub fn resume(&self) -> Result<bool, StoreError> {
        self.remove_meta(KEY)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pause_is_kept_until_resumed_and_the_first_one_counts() {
        let store = crate::testing::store();
        assert_eq!(store.paused().expect("read"), None);
        let first = store.pause("token-a", "migration").expect("pause");
        assert_eq!(store.pause("token-b", "again").expect("pause"), first);
        assert_eq!(store.paused().expect("read"), Some(first));
        assert!(store.resume().expect("resume"));
        assert!(!store.resume().expect("resume"));
        assert_eq!(store.paused().expect("read"), None);
    }
}
