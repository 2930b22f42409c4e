//! The one bearer-token check, for the gateway's token (what Entra sends) and the admin API's.
//!
//! A token is kept as its SHA-256 and compared in constant time over digests, so a comparison
//! takes the same time whatever the length or content of what a client sends.

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Clone)]
pub struct BearerToken([u8; 32]);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A bearer token that is not this one.
    Wrong,
}

impl BearerToken {
    pub fn new(token: &str) -> BearerToken {
        BearerToken(Sha256::digest(token.as_bytes()).into())
    }

    /// A name for the token in logs that does not reveal it: `sha256:` and the first 8 hex
    /// digits of its digest.
    pub fn id(&self) -> String {
        let hex: String = self.0[..4].iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }

    /// Whether `presented` is this token (in constant time).
    pub fn matches(&self, presented: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
        bool::from(self.0.ct_eq(&given))
    }

    /// An HMAC-SHA256 of `message` keyed by this token (its digest): what signs a console
    /// session, so that changing the token ends the sessions it signed.
    pub fn sign(&self, message: &[u8]) -> [u8; 32] {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0);
        let mut out = [0u8; 32];
        out.copy_from_slice(ring::hmac::sign(&key, message).as_ref());
        out
    }

    /// Whether `headers` carry this token as `Authorization: Bearer <token>` (the scheme in any
    /// case, RFC 6750 §2.1).
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let presented = presented(headers).ok_or(Refusal::Missing)?;
        if self.matches(presented) {
            Ok(())
        } else {
            Err(Refusal::Wrong)
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case, RFC 6750
/// §2.1), if the request carries one.
pub fn presented(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("a header value"),
        );
        headers
    }

    #[test]
    fn the_token_in_any_scheme_case_and_nothing_else() {
        let token = BearerToken::new("s3cret");
        assert_eq!(token.check(&with("Bearer s3cret")), Ok(()));
        assert_eq!(token.check(&with("bearer s3cret")), Ok(()));
        assert_eq!(token.check(&with("Bearer s3cre")), Err(Refusal::Wrong));
        assert_eq!(token.check(&with("Basic s3cret")), Err(Refusal::Missing));
        assert_eq!(token.check(&HeaderMap::new()), Err(Refusal::Missing));
        assert_eq!(format!("{token:?}"), "BearerToken(..)", "no digest in logs");
    }
}
