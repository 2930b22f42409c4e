//! The two limits every attempt passes: a concurrency bound and a request rate.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Shared by all calls of one client, retries included: a retry spends a token like any request,
/// since the target counts it like any request.
pub(crate) struct Limits {
    rate: Option<DefaultDirectRateLimiter>,
    slots: Semaphore,
}

impl Limits {
    pub(crate) fn new(rate_per_sec: Option<f64>, concurrency: usize) -> Self {
        Limits {
            rate: rate_per_sec.and_then(quota).map(RateLimiter::direct),
            slots: Semaphore::new(concurrency),
        }
    }

    /// Waits for a slot, then for a token. In that order, so a token is never taken and then
    /// left unused while waiting for a slot (which would let a burst through later).
    pub(crate) async fn acquire(&self) -> Option<SemaphorePermit<'_>> {
        // `acquire` fails only on a closed semaphore, and this one is never closed.
        let permit = self.slots.acquire().await.ok();
        if let Some(rate) = &self.rate {
            rate.until_ready().await;
        }
        permit
    }
}

/// One token every `1 / rate` seconds with a burst of one: requests go out evenly spaced, so a
/// target counting per second never sees more than the rate, whatever window it uses.
fn quota(rate_per_sec: f64) -> Option<Quota> {
    let period = Duration::try_from_secs_f64(1.0 / rate_per_sec).ok()?;
    Quota::with_period(period).map(|q| q.allow_burst(NonZeroU32::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas() {
        let q = quota(4.0).map(|q| q.replenish_interval());
        assert_eq!(q, Some(Duration::from_millis(250)));
        let q = quota(0.5).map(|q| q.replenish_interval());
        assert_eq!(q, Some(Duration::from_secs(2)));
        assert!(quota(f64::INFINITY).is_none());
    }
}
