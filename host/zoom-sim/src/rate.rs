//! The per-second rate limit and Zoom's 429.
//!
//! A token bucket written out rather than `governor`: it is forty lines, it must change its rate
//! while the server runs ([`crate::SimState::set_rate_limit`]), report the tokens left for
//! `X-RateLimit-Remaining`, and be driven by a caller-supplied clock in unit tests. The bucket
//! holds one second's worth of tokens, so a client may burst `N` requests and then sustain `N/s`,
//! which is how Zoom describes its per-second (QPS) limits
//! (<https://developers.zoom.us/docs/api/rate-limits/>).
//!
//! One bucket serves the whole account: Zoom's limits are per account and per label
//! (Light/Medium), and older docs say 1 request/s per endpoint; the simulator keeps one number,
//! the one given on the command line, and labels responses with the category Zoom documents.

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method};
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

/// Zoom's label for an endpoint: list calls are Medium, the rest Light. Zoom's SCIM2 reference
/// labels the list calls and the user calls by id; the other labels are not documented there
/// and are assumed Light.
fn category(method: &Method, path: &str) -> &'static str {
    let is_collection = path.ends_with("/Users") || path.ends_with("/Groups");
    if method == Method::GET && is_collection {
        "Medium"
    } else {
        "Light"
    }
}

/// Middleware: answers 429 when the bucket is empty, and labels every response with Zoom's
/// `X-RateLimit-*` headers while a limit is set.
pub async fn layer(State(state): State<SimState>, request: Request, next: Next) -> Response {
    let category = category(request.method(), request.uri().path());
    let Some(decision) = state.acquire_token(Instant::now()) else {
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
    let (limit, remaining) = match decision {
        Decision::Allowed { limit, remaining } => (limit, remaining),
        Decision::Limited { limit, .. } => (limit, 0),
    };
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-category", HeaderValue::from_static(category));
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
        assert_eq!(category(&Method::GET, "/scim2/Users"), "Medium");
        assert_eq!(category(&Method::POST, "/scim2/Users"), "Light");
        assert_eq!(category(&Method::GET, "/scim2/Users/abc"), "Light");
        assert_eq!(category(&Method::GET, "/scim2/Groups"), "Medium");
    }
}
