//! Who is asking: the admin or the read-only (viewer) role, by a bearer token or by a console
//! sign-in.
//!
//! A console session is a signed cookie, not a server-side table, so it survives a restart
//! and works on any replica that has the same tokens: `{role}.{expires}.{nonce}.{mac}`, the MAC
//! an HMAC-SHA256 keyed by the token the person signed in with. Changing that token ends its
//! sessions. The cookie is `HttpOnly` and `SameSite=Strict` (and `Secure` behind a proxy that
//! says `X-Forwarded-Proto: https`), and every state change from the console also carries a
//! CSRF token derived from the session (OWASP's "HMAC-based synchronizer token"), checked in
//! constant time.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

use super::AppState;
use super::bearer::BearerToken;

/// The console's cookie.
pub const COOKIE: &str = "muster_console";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything the admin token may do.
    Admin,
    /// Reads only.
    Viewer,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        [Role::Admin, Role::Viewer]
            .into_iter()
            .find(|r| r.name() == s)
    }
}

/// A signed-in console session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub role: Role,
    /// Unix seconds.
    pub expires: i64,
    nonce: String,
}

/// The role a presented token has: the admin token first.
pub fn role_of_token(state: &AppState, presented: &str) -> Option<Role> {
    if state
        .admin_token
        .as_ref()
        .is_some_and(|t| t.matches(presented))
    {
        return Some(Role::Admin);
    }
    if state
        .viewer_token
        .as_ref()
        .is_some_and(|t| t.matches(presented))
    {
        return Some(Role::Viewer);
    }
    None
}

/// The role of a request's `Authorization: Bearer` token, if it carries a known one.
pub fn role_of_bearer(state: &AppState, headers: &HeaderMap) -> Option<Role> {
    super::bearer::presented(headers).and_then(|token| role_of_token(state, token))
}

impl Session {
    /// A new session for `role`, signed with `token` (that role's), from `now` for
    /// `lifetime_secs`.
    pub fn issue(
        token: &BearerToken,
        role: Role,
        now: i64,
        lifetime_secs: i64,
    ) -> (Session, String) {
        use ring::rand::SecureRandom as _;
        let mut nonce = [0u8; 16];
        if ring::rand::SystemRandom::new().fill(&mut nonce).is_err() {
            // The OS's generator failing is not recoverable; a uuid v4 (also from the OS) is the
            // fallback rather than a panic.
            nonce = *uuid::Uuid::new_v4().as_bytes();
        }
        let session = Session {
            role,
            expires: now.saturating_add(lifetime_secs),
            nonce: URL_SAFE_NO_PAD.encode(nonce),
        };
        let mac = URL_SAFE_NO_PAD.encode(token.sign(session.signed_text().as_bytes()));
        let value = format!("{}.{mac}", session.signed_text());
        (session, value)
    }

    fn signed_text(&self) -> String {
        format!("{}.{}.{}", self.role.name(), self.expires, self.nonce)
    }

    /// The session a cookie value stands for, if its MAC holds under its role's token (from
    /// `token_of`) and it has not expired.
    pub fn verify<'t>(
        value: &str,
        now: i64,
        token_of: impl Fn(Role) -> Option<&'t BearerToken>,
    ) -> Option<Session> {
        let (text, mac) = value.rsplit_once('.')?;
        let mut parts = text.splitn(3, '.');
        let role = Role::parse(parts.next()?)?;
        let expires: i64 = parts.next()?.parse().ok()?;
        let nonce = parts.next()?.to_string();
        let token = token_of(role)?;
        let given = URL_SAFE_NO_PAD.decode(mac).ok()?;
        let want = token.sign(text.as_bytes());
        if !bool::from(want.as_slice().ct_eq(given.as_slice())) || now >= expires {
            return None;
        }
        Some(Session {
            role,
            expires,
            nonce,
        })
    }

    /// The session of a request's cookie: signed, not expired, not signed out, and not
    /// lasting longer than `[admin] session_hours` allows now.
    pub fn of(state: &AppState, headers: &HeaderMap, now: i64) -> Option<Session> {
        let session = cookie(headers, COOKIE)
            .and_then(|v| Session::verify(&v, now, |r| token_of(state, r)))?;
        let hours = i64::try_from(state.job.config.admin.session_hours).unwrap_or(8);
        if session.expires > now.saturating_add(hours * 3600) {
            return None;
        }
        match state.job.store.session_signed_out(&session.nonce) {
            Ok(false) => Some(session),
            Ok(true) => None,
            Err(e) => {
                tracing::warn!(error = %e, "reading console sign-outs failed; the session is refused");
                None
            }
        }
    }

    /// Ends this session on every replica, before it expires.
    pub fn sign_out(&self, state: &AppState) -> Result<(), store::StoreError> {
        state.job.store.sign_out_session(&self.nonce, self.expires)
    }

    /// The CSRF token the forms of this session carry (`token`: its role's).
    pub fn csrf(&self, token: &BearerToken) -> String {
        URL_SAFE_NO_PAD.encode(token.sign(format!("csrf.{}", self.nonce).as_bytes()))
    }

    /// Whether `given` is this session's CSRF token.
    pub fn csrf_matches(&self, token: &BearerToken, given: &str) -> bool {
        bool::from(self.csrf(token).as_bytes().ct_eq(given.as_bytes()))
    }
}

/// The token that signs `role`'s sessions, if that role is configured.
pub fn token_of(state: &AppState, role: Role) -> Option<&BearerToken> {
    match role {
        Role::Admin => state.admin_token.as_deref(),
        Role::Viewer => state.viewer_token.as_deref(),
    }
}

/// `Set-Cookie` for a session (`value`), or for signing out (`None`: an expired, empty cookie).
pub fn set_cookie(value: Option<&str>, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = match value {
        Some(v) => format!(
            "{COOKIE}={v}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
        ),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether the request reached a TLS-terminating proxy as HTTPS.
pub fn behind_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// The value of cookie `name` in the request's `Cookie` headers (RFC 6265 §5.4).
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

#[cfg(test)]
mod tests;
