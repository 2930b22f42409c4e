//! The two limits every attempt passes: a concurrency bound, then its request class's rate.
//!
//! A target may limit kinds of requests separately (Zoom: listing users is "Medium", reading,
//! changing and deleting one "Light", <https://developers.zoom.us/docs/api/rate-limits/>), so
//! each class of [`ClientConfig::rate_classes`] has its own [`Adaptive`] rate, and the request
//! kinds in no class share one at `rate_limit_per_sec`. A 429 slows only its own class.

mod adaptive;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

use self::adaptive::Adaptive;
use crate::config::ClientConfig;
use crate::request::RequestKind;
use crate::stats::ClassRate;

/// The name of the class of requests no configured class names.
pub const DEFAULT_CLASS: &str = "default";

/// Shared by all calls of one client, retries included: a retry spends a slot of its class like
/// any request, since the target counts it like any request.
pub(crate) struct Limits {
    slots: Semaphore,
    classes: Vec<Class>,
    /// The class of each request kind, by [`RequestKind::index`]; `None`: no rate limit.
    by_kind: [Option<usize>; RequestKind::ALL.len()],
    /// A `Retry-After` longer than this is a daily limit, not a rate (see [`Limits::throttled`]).
    max_retry_after: Duration,
}

struct Class {
    name: String,
    requests: Vec<RequestKind>,
    state: Mutex<Adaptive>,
}

impl Class {
    /// A poisoned lock only means a panic elsewhere mid-update; the numbers are still usable.
    fn lock(&self) -> MutexGuard<'_, Adaptive> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Leave to send one request: its concurrency slot, its class, and when it left.
pub(crate) struct Admission<'a> {
    _permit: Option<SemaphorePermit<'a>>,
    class: Option<usize>,
    sent: Instant,
}

impl Limits {
    /// The classes of `config` (validated: positive rates, each kind in at most one class).
    pub(crate) fn new(config: &ClientConfig) -> Self {
        let now = Instant::now();
        let mut classes = Vec::new();
        let mut by_kind = [None; RequestKind::ALL.len()];
        for class in &config.rate_classes {
            for kind in &class.requests {
                by_kind[kind.index()] = Some(classes.len());
            }
            classes.push((class.name.clone(), class.requests.clone(), class.per_second));
        }
        let rest: Vec<RequestKind> = RequestKind::ALL
            .into_iter()
            .filter(|k| by_kind[k.index()].is_none())
            .collect();
        if let (Some(rate), false) = (config.rate_limit_per_sec, rest.is_empty()) {
            for kind in &rest {
                by_kind[kind.index()] = Some(classes.len());
            }
            classes.push((DEFAULT_CLASS.to_string(), rest, rate));
        }
        let classes = classes
            .into_iter()
            .map(|(name, requests, rate)| Class {
                name,
                requests,
                state: Mutex::new(Adaptive::new(rate, now)),
            })
            .collect();
        Limits {
            slots: Semaphore::new(config.concurrency),
            classes,
            by_kind,
            max_retry_after: config.max_retry_after,
        }
    }

    /// Waits for a slot, then for the class's turn. In that order, so a turn is never taken and
    /// then left unused while waiting for a slot (which would let a burst through later). A turn
    /// that a 429 voided while waiting (the class paused) is taken again.
    pub(crate) async fn acquire(&self, kind: RequestKind) -> Admission<'_> {
        // `acquire` fails only on a closed semaphore, and this one is never closed.
        let permit = self.slots.acquire().await.ok();
        let index = self.by_kind[kind.index()];
        if let Some(class) = index.map(|i| &self.classes[i]) {
            loop {
                let slot = {
                    let mut state = class.lock();
                    let before = state.rate();
                    let slot = state.reserve(Instant::now());
                    if state.rate() != before {
                        tracing::debug!(class = %class.name, rate = state.rate(), "no 429 for a while: probing a higher rate");
                    }
                    slot
                };
                tokio::time::sleep_until(slot.at.into()).await;
                if class.lock().holds(slot) {
                    break;
                }
            }
        }
        Admission {
            _permit: permit,
            class: index,
            sent: Instant::now(),
        }
    }

    /// The target answered the request of `admission` with 429: its class slows down and pauses
    /// for `retry_after`. `announced` is the target's `X-RateLimit-Limit`. A daily limit (`daily`,
    /// or a wait beyond `max_retry_after`: Zoom answers those with tomorrow's midnight) says
    /// nothing about the rate, and the call fails at once instead of holding the class for hours.
    pub(crate) fn throttled(
        &self,
        admission: &Admission<'_>,
        retry_after: Option<Duration>,
        announced: Option<f64>,
        daily: bool,
    ) {
        let Some(class) = admission.class.map(|i| &self.classes[i]) else {
            return;
        };
        if daily || retry_after.is_some_and(|wait| wait > self.max_retry_after) {
            return;
        }
        let mut state = class.lock();
        let before = state.rate();
        state.throttle(Instant::now(), admission.sent, retry_after, announced);
        if state.rate() != before {
            tracing::info!(class = %class.name, from = before, to = state.rate(), "the target throttled: lowering the rate");
        }
    }

    /// Every class's rate now.
    pub(crate) fn rates(&self) -> Vec<ClassRate> {
        self.classes
            .iter()
            .map(|class| {
                let state = class.lock();
                ClassRate {
                    name: class.name.clone(),
                    requests: class.requests.clone(),
                    configured: state.configured(),
                    current: state.rate(),
                    throttled: state.throttled(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RateClass;
    use crate::config::BearerToken;
    use RequestKind::*;

    fn limits(rate_limit_per_sec: Option<f64>, classes: Vec<RateClass>) -> Limits {
        let mut config = ClientConfig::new("http://x.example", BearerToken::new("t"));
        config.rate_limit_per_sec = rate_limit_per_sec;
        config.rate_classes = classes;
        Limits::new(&config)
    }

    fn rates(limits: &Limits) -> Vec<(String, f64, f64)> {
        let rates = limits.rates();
        rates
            .into_iter()
            .map(|c| (c.name, c.configured, c.current))
            .collect()
    }

    fn zoom() -> Vec<RateClass> {
        vec![
            RateClass::new("light", 30.0, &[Get, Create, Replace, Patch, Delete]),
            RateClass::new("medium", 20.0, &[List]),
        ]
    }

    #[tokio::test]
    async fn a_429_slows_only_its_class() {
        let limits = limits(Some(10.0), zoom());
        let list = limits.acquire(List).await;
        let get = limits.acquire(Get).await;
        limits.throttled(&list, Some(Duration::ZERO), Some(12.0), false);
        let expected = [("light".into(), 30.0, 30.0), ("medium".into(), 20.0, 12.0)];
        assert_eq!(
            rates(&limits),
            expected,
            "every kind is in a class: no default"
        );
        // A daily limit, or a wait beyond max_retry_after, is not a rate.
        limits.throttled(&get, Some(Duration::from_secs(3600)), None, false);
        limits.throttled(&get, Some(Duration::ZERO), None, true);
        assert_eq!(rates(&limits), expected);
        let throttled: Vec<u64> = limits.rates().iter().map(|c| c.throttled).collect();
        assert_eq!(throttled, [0, 1]);
    }

    #[tokio::test]
    async fn kinds_in_no_class_share_the_default_rate() {
        let limits = limits(Some(5.0), vec![RateClass::new("reads", 50.0, &[List, Get])]);
        let rates = limits.rates();
        assert_eq!(rates[1].name, DEFAULT_CLASS);
        assert_eq!(rates[1].requests, [Create, Replace, Patch, Delete]);
        assert_eq!(rates[1].configured, 5.0);
        let patch = limits.acquire(Patch).await;
        limits.throttled(&patch, Some(Duration::ZERO), None, false);
        assert_eq!(limits.rates()[1].current, 3.5);
        assert_eq!(limits.rates()[0].current, 50.0);
        // Without a default rate, the rest go unlimited and a 429 to them changes nothing.
        let unlimited = super::Limits::new(&{
            let mut config = ClientConfig::new("http://x.example", BearerToken::new("t"));
            config.rate_limit_per_sec = None;
            config
        });
        assert!(unlimited.rates().is_empty());
        let delete = unlimited.acquire(Delete).await;
        unlimited.throttled(&delete, None, None, false);
    }
}
