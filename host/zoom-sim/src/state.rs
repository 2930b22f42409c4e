//! The shared state behind every request, and the handle tests use to look inside and to make
//! the simulator misbehave.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::Value;

use crate::auth::constant_time_eq;
use crate::clock;
use crate::config::{OAuthApp, SimConfig};
use crate::faults::{Fault, FaultQueue, HeldAnswer, Holds};
use crate::ids::IdGen;
use crate::rate::{Buckets, Category, Decision};
use crate::requests::{Counters, RequestLog, RequestRecord};
use crate::store::{Store, WriteContext};

/// A cheap-to-clone handle on one simulated Zoom account.
#[derive(Clone)]
pub struct SimState {
    inner: Arc<Inner>,
}

struct Inner {
    token: String,
    /// The OAuth app whose tokens are the only ones accepted, when there is one.
    oauth: Option<OAuthApp>,
    /// Tokens issued to the OAuth app, with when each expires.
    issued: Mutex<HashMap<String, Instant>>,
    tokens_issued: AtomicU64,
    base_path: String,
    /// `http://host:port`, for `meta.location` and `Location`; [`crate::serve`] sets it from the
    /// listener's address.
    base_url: RwLock<String>,
    store: Mutex<Store>,
    limiter: Mutex<Buckets>,
    /// Whether 429s and limited responses carry `Retry-After` and `X-RateLimit-*`.
    announce_limits: std::sync::atomic::AtomicBool,
    faults: Mutex<FaultQueue>,
    holds: Mutex<Holds>,
    log: Mutex<RequestLog>,
}

/// A poisoned lock only means another request panicked mid-way; the data is still usable and a
/// simulator should keep answering.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl std::fmt::Debug for SimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimState")
            .field("base_path", &self.inner.base_path)
            .finish_non_exhaustive()
    }
}

impl SimState {
    /// An empty account.
    pub fn new(config: &SimConfig) -> Self {
        Self::with_store(config, Store::default())
    }

    /// An empty account whose ids come from `seed`, for reproducible runs.
    pub fn seeded(config: &SimConfig, seed: u64) -> Self {
        Self::with_store(config, Store::with_ids(IdGen::seeded(seed)))
    }

    fn with_store(config: &SimConfig, mut store: Store) -> Self {
        store.set_seats(config.seats.clone());
        let limiter = if config.category_limits.is_empty() {
            Buckets::account(config.rate_limit_per_sec, Instant::now())
        } else {
            Buckets::per_category(&config.category_limits, Instant::now())
        };
        SimState {
            inner: Arc::new(Inner {
                token: config.token.clone(),
                oauth: config.oauth.clone(),
                issued: Mutex::new(HashMap::new()),
                tokens_issued: AtomicU64::new(0),
                base_path: config.base_path.clone(),
                base_url: RwLock::new("http://localhost".to_string()),
                store: Mutex::new(store),
                limiter: Mutex::new(limiter),
                announce_limits: std::sync::atomic::AtomicBool::new(true),
                faults: Mutex::new(FaultQueue::default()),
                holds: Mutex::new(Holds::default()),
                log: Mutex::new(RequestLog::default()),
            }),
        }
    }

    /// Limits the seats per name from now on ([`crate::store::seats`]).
    pub fn set_seats(&self, seats: std::collections::BTreeMap<String, u32>) {
        lock(&self.inner.store).set_seats(seats);
    }

    /// An account restored from a file written by [`save`](Self::save).
    pub fn load(config: &SimConfig, path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        let mut store: Store = serde_json::from_str(&text)?;
        store.reindex();
        Ok(Self::with_store(config, store))
    }

    /// Writes users and groups to `path` as JSON (via a temporary file, so a crash mid-write
    /// leaves the old file).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(&*lock(&self.inner.store))?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(tmp, path)
    }

    /// Whether a request with this bearer token is let in: with an OAuth app, a token it was
    /// issued that has not expired; without one, the fixed token.
    pub(crate) fn accepts(&self, token: &str) -> bool {
        match &self.inner.oauth {
            None => constant_time_eq(token.as_bytes(), self.inner.token.as_bytes()),
            Some(_) => lock(&self.inner.issued)
                .get(token)
                .is_some_and(|expires| Instant::now() < *expires),
        }
    }

    pub(crate) fn oauth(&self) -> Option<&OAuthApp> {
        self.inner.oauth.as_ref()
    }

    /// A new access token for the OAuth app and its lifetime in seconds; expired ones are
    /// forgotten meanwhile.
    pub(crate) fn issue_token(&self, ttl_secs: u64) -> String {
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let now = Instant::now();
        let mut issued = lock(&self.inner.issued);
        issued.retain(|_, expires| now < *expires);
        issued.insert(token.clone(), now + Duration::from_secs(ttl_secs));
        self.inner.tokens_issued.fetch_add(1, Ordering::Relaxed);
        token
    }

    /// Access tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.inner.tokens_issued.load(Ordering::Relaxed)
    }

    /// Ends every issued token now, as a revoked app or a clock past expiry would.
    pub fn expire_tokens(&self) {
        lock(&self.inner.issued).clear();
    }

    pub fn base_path(&self) -> &str {
        &self.inner.base_path
    }

    pub fn set_base_url(&self, url: impl Into<String>) {
        *self
            .inner
            .base_url
            .write()
            .unwrap_or_else(PoisonError::into_inner) = url.into();
    }

    /// `http://host:port` as locations show it.
    pub fn base_url(&self) -> String {
        self.inner
            .base_url
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn write_context(&self) -> WriteContext {
        WriteContext {
            location_base: format!("{}{}", self.base_url(), self.base_path()),
            now: clock::now_rfc3339(),
        }
    }

    pub(crate) fn store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut lock(&self.inner.store))
    }

    // ---- inspection --------------------------------------------------------------------------

    /// Every user as a GET by id shows it, in creation order.
    pub fn users(&self) -> Vec<Value> {
        self.store(|s| s.users(None))
    }

    pub fn user(&self, id: &str) -> Option<Value> {
        self.store(|s| s.user(id).ok())
    }

    /// A user by `userName`, case-insensitively.
    pub fn user_by_name(&self, user_name: &str) -> Option<Value> {
        self.store(|s| s.user_by_name(user_name))
    }

    pub fn groups(&self) -> Vec<Value> {
        self.store(|s| s.groups(None))
    }

    /// Creates a user without going through HTTP (nothing is logged or counted): for demos and
    /// for tests that need a populated account.
    pub fn seed_user(&self, body: Value) -> Result<Value, crate::SimError> {
        let ctx = self.write_context();
        self.store(|s| s.create_user(body, &ctx))
    }

    /// Changes a user as an admin does in the Zoom web portal: applied as PATCH operations,
    /// without going through HTTP (nothing is logged or counted). For tests of drift.
    pub fn edit_user(
        &self,
        id: &str,
        ops: &[scim::patch::PatchOperation],
    ) -> Result<Value, crate::SimError> {
        let ctx = self.write_context();
        self.store(|s| s.patch_user(id, ops, &ctx))
    }

    /// Deletes a user as an admin does in the portal (not logged or counted).
    pub fn remove_user(&self, id: &str) -> Result<(), crate::SimError> {
        let ctx = self.write_context();
        self.store(|s| s.delete_user(id, &ctx))
    }

    /// Requests received, oldest first (the last [`LOG_CAPACITY`](crate::requests::LOG_CAPACITY)).
    pub fn request_log(&self) -> Vec<RequestRecord> {
        lock(&self.inner.log).records()
    }

    pub fn counters(&self) -> Counters {
        lock(&self.inner.log).counters()
    }

    /// Forgets the log and zeroes the counters.
    pub fn clear_log(&self) {
        lock(&self.inner.log).clear();
    }

    pub(crate) fn record_request(&self, record: RequestRecord) {
        lock(&self.inner.log).record(record);
    }

    // ---- misbehaviour ------------------------------------------------------------------------

    /// Makes the next `count` authenticated requests fail (or stall) with `fault`, after any
    /// faults already queued.
    pub fn inject_failures(&self, fault: Fault, count: usize) {
        lock(&self.inner.faults).push(fault, count);
    }

    /// Faults queued but not yet fired.
    pub fn pending_faults(&self) -> usize {
        lock(&self.inner.faults).len()
    }

    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    pub(crate) fn next_fault(&self) -> Option<Fault> {
        lock(&self.inner.faults).pop()
    }

    /// Withholds the answer to a successful `method` request whose path has the segment
    /// `segment` (`"Users"`), after letting `skip` such requests through: the write lands, the
    /// client hears nothing until the returned handle releases it. A test kills the client in
    /// between, which places a crash between a write and its answer by construction.
    pub fn hold_answer(&self, method: Method, segment: &str, skip: usize) -> HeldAnswer {
        let (hold, held) = HeldAnswer::new(method, segment, skip);
        lock(&self.inner.holds).arm(hold);
        held
    }

    pub(crate) fn take_hold(&self, method: &Method, path: &str) -> Option<crate::faults::Hold> {
        lock(&self.inner.holds).take(method, path)
    }

    /// Changes the rate limit while serving to one for the whole account; `None` lifts every
    /// limit. The new bucket starts full.
    pub fn set_rate_limit(&self, per_sec: Option<u32>) {
        *lock(&self.inner.limiter) = Buckets::account(per_sec, Instant::now());
    }

    /// The account-wide limit, when that is the form in use.
    pub fn rate_limit(&self) -> Option<u32> {
        lock(&self.inner.limiter).account_rate()
    }

    /// Changes the limits while serving to one per category (those not in `limits` are not
    /// limited). The new buckets start full.
    pub fn set_category_limits(&self, limits: &BTreeMap<Category, u32>) {
        *lock(&self.inner.limiter) = Buckets::per_category(limits, Instant::now());
    }

    pub fn category_limits(&self) -> BTreeMap<Category, u32> {
        lock(&self.inner.limiter).category_rates()
    }

    /// With `false`, responses leave out `Retry-After` and the `X-RateLimit-*` headers, as Zoom
    /// has been seen to (Zoom devforum #18928), so a client must find the limit itself.
    pub fn set_announce_limits(&self, announce: bool) {
        self.inner
            .announce_limits
            .store(announce, Ordering::Relaxed);
    }

    pub(crate) fn announces_limits(&self) -> bool {
        self.inner.announce_limits.load(Ordering::Relaxed)
    }

    /// `None` when nothing limits a request of `category`.
    pub(crate) fn acquire_token(&self, category: Category, now: Instant) -> Option<Decision> {
        lock(&self.inner.limiter).try_acquire(category, now)
    }
}
