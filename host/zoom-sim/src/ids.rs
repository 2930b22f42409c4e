//! Zoom-shaped resource ids.
//!
//! Zoom ids are 22 characters (a base64url-encoded 128-bit value) and some contain `&` (Zoom's
//! SCIM2 reference example: `k&KdKr6TLWuxdDtk0hjSzL`), which breaks clients that put ids into URLs
//! without encoding them. Every other id here carries an `&`, starting with the first, so that a
//! client meets one in its first test rather than in production.

use std::time::{SystemTime, UNIX_EPOCH};

/// Length of a Zoom id.
pub const ID_LEN: usize = 22;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Generates ids; not cryptographic (ids only need to be unique within one simulator).
#[derive(Debug, Clone)]
pub struct IdGen {
    state: u64,
    issued: u64,
}

impl IdGen {
    /// A generator seeded from the clock, so two simulator runs do not hand out the same ids.
    pub fn from_clock() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed);
        Self::seeded(nanos)
    }

    /// A generator with a fixed seed, for reproducible runs.
    pub fn seeded(seed: u64) -> Self {
        IdGen {
            state: seed,
            issued: 0,
        }
    }

    /// The next id: even-numbered ids (the 1st, 3rd, …) contain one `&`.
    pub fn next_id(&mut self) -> String {
        let mut id: Vec<u8> = (0..ID_LEN)
            .map(|_| ALPHABET[(self.next_u64() % 64) as usize])
            .collect();
        if self.issued.is_multiple_of(2) {
            // Never first: Zoom's example has it second, and a leading `&` would hide the bug
            // of clients that split on it less well than an inner one.
            let at = 1 + (self.next_u64() % (ID_LEN as u64 - 1)) as usize;
            id[at] = b'&';
        }
        self.issued += 1;
        String::from_utf8_lossy(&id).into_owned()
    }

    /// SplitMix64: tiny, fast, and good enough for unique-looking ids.
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn shape_and_ampersands() {
        let mut ids = IdGen::seeded(7);
        let batch: Vec<String> = (0..1000).map(|_| ids.next_id()).collect();
        assert!(batch.iter().all(|id| id.len() == ID_LEN));
        assert!(batch[0].contains('&'));
        assert!(!batch[1].contains('&'));
        assert!(batch.iter().all(|id| !id.starts_with('&')));
        assert_eq!(batch.iter().collect::<HashSet<_>>().len(), batch.len());
    }
}
