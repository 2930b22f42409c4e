//! The per-second rate limit and Zoom's 429.
//!
//! A token bucket written out rather than `governor`: it is forty lines, it must change its rate
//! while the server runs ([`crate::SimState::set_rate_limit`]), report the tokens left for
//! `X-RateLimit-Remaining`, and be driven by a caller-supplied clock in unit tests. The bucket
//! holds one second's worth of tokens, so a client may burst `N` requests and then sustain `N/s`,
//! which is how Zoom describes its per-second (QPS) limits
//! (<https://developers.zoom.us/docs/api/rate-limits/>).
//!
//! Zoom's limits are per account and per label ("category"): Light (30/s on Pro, 80/s on
//! Business and up) and Medium (20/s, 60/s); older docs say 1 request/s per endpoint. So the
//! simulator keeps either one bucket per category (`--rate-limit light=30/s,medium=20/s`), or one
//! bucket for the whole account (`--rate-limit 10/s`, the older form). Assumed, as Zoom does not
//! document it: the bucket holds one second of its rate, `X-RateLimit-Limit` is that rate (per
//! second), `X-RateLimit-Remaining` the tokens left, and `Retry-After` the whole seconds until
//! a token is back (at least 1). A category with no limit gets no `X-RateLimit-*` headers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::SimError;
use crate::state::SimState;

/// What the bucket said about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed { limit: u32, remaining: u32 },
    Limited { limit: u32, retry_after: Duration },
}

/// A token bucket refilled continuously at `rate` tokens per second, holding at most `rate`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u32,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: u32, now: Instant) -> Self {
        TokenBucket {
            rate,
            tokens: f64::from(rate),
            last: now,
        }
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Takes one token if there is one.
    pub fn try_acquire(&mut self, now: Instant) -> Decision {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        let capacity = f64::from(self.rate);
        self.tokens = (self.tokens + elapsed * capacity).min(capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Decision::Allowed {
                limit: self.rate,
                remaining: self.tokens as u32,
            };
        }
        // A rate of 0 throttles everything; say "one second" rather than "never".
        let wait = if self.rate == 0 {
            1.0
        } else {
            (1.0 - self.tokens) / capacity
        };
        Decision::Limited {
            limit: self.rate,
            retry_after: Duration::from_secs_f64(wait),
        }
    }
}

/// Zoom's rate-limit label of an endpoint.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Light,
    Medium,
}

impl Category {
    pub const ALL: [Category; 2] = [Category::Light, Category::Medium];

    /// List calls are Medium, the rest Light. Zoom's SCIM2 reference labels the list calls and
    /// the user calls by id; the other labels (create, the group calls by id) are not
    /// documented there and are assumed Light.
    pub fn of(method: &str, path: &str) -> Category {
        let path = path.trim_end_matches('/');
        let is_collection = path.ends_with("/Users") || path.ends_with("/Groups");
        if method.eq_ignore_ascii_case("GET") && is_collection {
            Category::Medium
        } else {
            Category::Light
        }
    }

    /// As Zoom writes it in `X-RateLimit-Category`.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Light => "Light",
            Category::Medium => "Medium",
        }
    }

    /// `light` or `medium`, in any case.
    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

/// The buckets of one account: one for the whole account, or one per category.
#[derive(Debug, Default)]
pub struct Buckets {
    account: Option<TokenBucket>,
    by_category: BTreeMap<Category, TokenBucket>,
}

impl Buckets {
    /// One bucket for every request, at `per_sec`; `None`: no limit.
    pub fn account(per_sec: Option<u32>, now: Instant) -> Self {
        Buckets {
            account: per_sec.map(|n| TokenBucket::new(n, now)),
            by_category: BTreeMap::new(),
        }
    }

    /// A bucket per category; a category not in `limits` is not limited.
    pub fn per_category(limits: &BTreeMap<Category, u32>, now: Instant) -> Self {
        Buckets {
            account: None,
            by_category: limits
                .iter()
                .map(|(c, n)| (*c, TokenBucket::new(*n, now)))
                .collect(),
        }
    }

    /// The account-wide rate, if that is the form in use.
    pub fn account_rate(&self) -> Option<u32> {
        self.account.as_ref().map(TokenBucket::rate)
    }

    pub fn category_rates(&self) -> BTreeMap<Category, u32> {
        self.by_category
            .iter()
            .map(|(c, b)| (*c, b.rate()))
            .collect()
    }

    /// Takes a token for a request of `category`; `None` when nothing limits it.
    pub fn try_acquire(&mut self, category: Category, now: Instant) -> Option<Decision> {
        match &mut self.account {
            Some(bucket) => Some(bucket.try_acquire(now)),
            None => self
                .by_category
                .get_mut(&category)
                .map(|b| b.try_acquire(now)),
        }
    }
}

/// Middleware: answers 429 when the request's bucket is empty, and labels every response with
/// Zoom's `X-RateLimit-*` headers while a limit applies to it.
pub async fn layer(State(state): State<SimState>, request: Request, next: Next) -> Response {
    let category = Category::of(request.method().as_str(), request.uri().path());
    let Some(decision) = state.acquire_token(category, Instant::now()) else {
        return next.run(request).await;
    };
    let mut response = match decision {
        Decision::Allowed { .. } => next.run(request).await,
        Decision::Limited { limit, retry_after } => {
            // Whole seconds, rounded up and at least 1, as `Retry-After` allows no fraction.
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            SimError::RateLimited {
                limit,
                retry_after_secs: secs.max(1),
            }
            .into_response()
        }
    };
    if !state.announces_limits() {
        response
            .headers_mut()
            .remove(axum::http::header::RETRY_AFTER);
        return response;
    }
    let (limit, remaining) = match decision {
        Decision::Allowed { limit, remaining } => (limit, remaining),
        Decision::Limited { limit, .. } => (limit, 0),
    };
    let headers = response.headers_mut();
    headers.insert(
        "x-ratelimit-category",
        HeaderValue::from_static(category.as_str()),
    );
    headers.insert("x-ratelimit-type", HeaderValue::from_static("QPS"));
    headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(2, t0);
        assert_eq!(
            bucket.try_acquire(t0),
            Decision::Allowed {
                limit: 2,
                remaining: 1
            }
        );
        assert_eq!(
            bucket.try_acquire(t0),
            Decision::Allowed {
                limit: 2,
                remaining: 0
            }
        );
        let Decision::Limited { retry_after, .. } = bucket.try_acquire(t0) else {
            panic!("third request in the same instant must be limited");
        };
        assert_eq!(retry_after, Duration::from_millis(500));
        let later = t0 + Duration::from_millis(500);
        assert!(matches!(
            bucket.try_acquire(later),
            Decision::Allowed { .. }
        ));
        // Idle time never banks more than one second's worth.
        let much_later = later + Duration::from_secs(60);
        assert_eq!(
            bucket.try_acquire(much_later),
            Decision::Allowed {
                limit: 2,
                remaining: 1
            }
        );
    }

    #[test]
    fn zero_rate_always_limits() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(0, t0);
        assert_eq!(
            bucket.try_acquire(t0 + Duration::from_secs(5)),
            Decision::Limited {
                limit: 0,
                retry_after: Duration::from_secs(1)
            }
        );
    }

    #[test]
    fn categories() {
        let cases = [
            ("GET", "/scim2/Users", Category::Medium),
            ("GET", "/scim2/Groups/", Category::Medium),
            ("POST", "/scim2/Users", Category::Light),
            ("GET", "/scim2/Users/abc", Category::Light),
            ("PATCH", "/scim2/Users/abc", Category::Light),
            ("DELETE", "/scim2/Groups/abc", Category::Light),
        ];
        for (method, path, category) in cases {
            assert_eq!(Category::of(method, path), category, "{method} {path}");
        }
        assert_eq!(Category::parse(" MEDIUM"), Some(Category::Medium));
        assert_eq!(Category::parse("heavy"), None);
    }

    #[test]
    fn categories_are_limited_separately() {
        let t0 = Instant::now();
        let limits = BTreeMap::from([(Category::Light, 2), (Category::Medium, 1)]);
        let mut buckets = Buckets::per_category(&limits, t0);
        let allowed = |d: Option<Decision>| matches!(d, Some(Decision::Allowed { .. }));
        assert!(allowed(buckets.try_acquire(Category::Medium, t0)));
        assert!(!allowed(buckets.try_acquire(Category::Medium, t0)));
        // Medium's empty bucket does not hold Light back, nor does Light spend Medium's.
        assert!(allowed(buckets.try_acquire(Category::Light, t0)));
        assert!(allowed(buckets.try_acquire(Category::Light, t0)));
        assert!(!allowed(buckets.try_acquire(Category::Light, t0)));
        let later = t0 + Duration::from_secs(1);
        assert!(allowed(buckets.try_acquire(Category::Medium, later)));
        // Only the categories given are limited; the older form limits everything together.
        let mut light_only = Buckets::per_category(&BTreeMap::from([(Category::Light, 1)]), t0);
        assert_eq!(light_only.try_acquire(Category::Medium, t0), None);
        let mut account = Buckets::account(Some(1), t0);
        assert!(allowed(account.try_acquire(Category::Light, t0)));
        assert!(!allowed(account.try_acquire(Category::Medium, t0)));
        assert_eq!(
            Buckets::account(None, t0).try_acquire(Category::Light, t0),
            None
        );
    }
}
