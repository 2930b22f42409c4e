//! A conservative SCIM 2.0 client for sync mode: what muster sends to Zoom and other targets.
//!
//! Strict in what it sends (RFC-shaped PATCH, `eq` filters with JSON-escaped literals, ids
//! percent-encoded as one path segment), liberal in what it reads (Zoom's numeric `status`, its
//! `{"code", "message"}` throttling body, ListResponse keys in any case), and careful with the
//! target: rate limits per request class that back off on 429s, a concurrency bound,
//! `Retry-After` obeyed, and no POST retried where it
//! could create a duplicate.
//!
//! Layout:
//! - [`config`]: [`ClientConfig`] and the self-redacting [`Secret`].
//! - [`auth`]: signing in: a fixed token, a token file, or OAuth 2.0 client credentials.
//! - [`client`]: [`ScimClient`] and the one path every request takes (limits, send, retry).
//! - `resources`: the SCIM operations (look up, get, create, patch, replace, delete).
//! - `connection`: test connection and its per-failure advice.
//! - [`error`]: [`ClientError`] with Entra's [`ErrorCode`] names; error body parsing.
//! - [`retry`]: what is retried, the backoff, `Retry-After` parsing.
//! - [`request`]: methods, path-segment encoding, filter escaping.
//! - `limits`: the concurrency bound and the adaptive rate of each request class
//!   (`limits/adaptive.rs`); `transport` (naming connection failures); [`stats`].

pub mod auth;
pub mod client;
pub mod config;
mod connection;
pub mod error;
mod limits;
pub mod request;
mod resources;
pub mod retry;
pub mod stats;
mod transport;

#[cfg(test)]
mod tests;

pub use auth::{OAuthClient, OAuthStyle, SignInFailure, TargetAuth};
pub use client::ScimClient;
pub use config::{BearerToken, ClientConfig, RateClass, Secret};
pub use connection::{ConnectionFailure, Problem};
pub use error::{ClientError, ErrorCode, TransportKind};
pub use limits::DEFAULT_CLASS;
pub use request::{Method, RequestKind};
pub use resources::{Deleted, Found, PostRetry};
pub use stats::{ClassRate, Stats, StatsSnapshot};
