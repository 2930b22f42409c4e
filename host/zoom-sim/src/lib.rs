//! A Zoom-compatible SCIM 2.0 target simulator: `muster simulate zoom`, the target of demos and
//! dry runs, and the fake that end-to-end tests provision into.
//!
//! It serves `/scim2/Users` and `/scim2/Groups` the way Zoom's SCIM2 API reference
//! (<https://developers.zoom.us/docs/api/scim2/>) and developer forum describe Zoom: both Zoom
//! User extensions, `userType` checks, licence and add-on fields, case-insensitive `userName`
//! uniqueness (409), error bodies with a numeric `status`, 429 with Zoom's body and headers over
//! the rate limit of the request's category (Light or Medium), 22-character ids of which every
//! other one contains `&`, the list view that leaves out licences, and Zoom's partial PUT. State is in memory; [`SimState::save`] and
//! [`SimState::load`] keep it in a JSON file between runs.
//!
//! # Layout
//! - [`config`]: [`SimConfig`], validated before anything listens; `--rate-limit` parsing
//!   (`N/s` for the account, or `light=N/s,medium=N/s`).
//! - [`routes`]: the router, the middleware order, list paging; `routes/users.rs` and
//!   `routes/groups.rs` are the handlers.
//! - [`store`]: users and groups and Zoom's rules for them, synchronous and HTTP-free;
//!   `store/user.rs` (validation, GET-by-id versus list views) and `store/group.rs`.
//! - [`auth`], [`rate`], [`faults`], [`requests`]: the middleware — bearer token, token-bucket
//!   rate limits (per Zoom category or for the account), injected failures, request log and
//!   counters.
//! - [`state`]: [`SimState`], the shared state and the handle tests inspect and steer.
//! - [`error`]: [`SimError`], which renders itself as Zoom's error bodies.
//! - [`ids`], [`clock`]: Zoom-shaped ids and RFC 3339 timestamps.
//!
//! # What it does not reproduce
//! - OAuth: one fixed bearer token, no token endpoint, no expiry, no scopes (`scim2:admin`).
//! - Account prerequisites: no "Account has not enabled Single Sign-On", no associated-domain
//!   check on emails, no "email already used elsewhere in the Zoom cloud", no 9,999 Basic-user cap.
//! - Pending (invited) users, and the 400/404 Zoom returns when a filter hits one.
//! - The Heavy and Resource-intensive categories and daily limits (no SCIM endpoint is labelled
//!   with them); per-second buckets for Light and Medium only.
//! - Filters: Zoom documents only `userName eq`, `externalId eq` and a licence-type filter; the
//!   simulator evaluates the whole RFC 7644 grammar (via `scim::filter`), so a client that works
//!   here may still send filters Zoom refuses — keep to `eq`.
//! - `/ServiceProviderConfig`, `/Schemas`, `/ResourceTypes`, `/Bulk`, `.search`, `sortBy`,
//!   `attributes`/`excludedAttributes`, ETag preconditions (`If-Match`): not served or ignored.
//! - Licence semantics: plan and add-on fields are stored and returned as sent (their value
//!   formats are unconfirmed); nothing checks seat counts or which add-ons a plan allows, and
//!   `userType` is not derived from them.
//! - Unconfirmed details, chosen here: the 401 body (Zoom's REST API one), 413 for an oversized
//!   group PATCH, 204 for a successful group PATCH, a page size of at most 100, the `/scim2`
//!   prefix (not `/v2/scim2`).

pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod faults;
pub mod ids;
pub mod rate;
pub mod requests;
pub mod routes;
pub mod state;
pub mod store;

use std::future::Future;

use tokio::net::TcpListener;

pub use config::{ConfigError, OAuthApp, RateLimits, SimConfig, parse_rate_limit, parse_seats};
pub use error::SimError;
pub use faults::{Fault, HeldAnswer};
pub use rate::Category;
pub use requests::{CategoryCounters, Counters, RequestRecord};
pub use routes::router;
pub use state::SimState;

/// Serves a fresh simulated account on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    config: SimConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    config.validate().map_err(|errors| {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        std::io::Error::new(std::io::ErrorKind::InvalidInput, text.join("; "))
    })?;
    serve_state(listener, SimState::new(&config), shutdown).await
}

/// Serves `state` on `listener` until `shutdown` completes: what tests use, keeping a clone of
/// the state to inspect and steer. Locations are built from the listener's address.
pub async fn serve_state(
    listener: TcpListener,
    state: SimState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    state.set_base_url(format!("http://{addr}"));
    tracing::info!(%addr, base_path = state.base_path(), "Zoom simulator listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
