//! What can go wrong talking to a target, typed so the engine can act on it, and named with
//! Entra's provisioning-log error codes so muster's logs read like the ones admins know.

use std::fmt;
use std::time::Duration;

use scim::ScimType;
use serde_json::Value;

use crate::auth::SignInFailure;
use crate::request::Method;

/// Entra's provisioning-log error code names (Microsoft Learn, "How to analyze the Microsoft
/// Entra provisioning logs"), plus `ConnectionFailed`, which is muster's own: Entra's list has
/// no name for a target that cannot be reached at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 409 without `scimType: uniqueness`, or 412 (version mismatch).
    Conflict,
    /// 409 `uniqueness`: the value is taken by another resource.
    EntryConflict,
    Unauthorized,
    InsufficientRights,
    MethodNotAllowed,
    /// 404 on a resource id the engine holds: the target object no longer exists.
    InvalidAnchor,
    UnprocessableEntity,
    TooManyRequests,
    InternalServerError,
    NotImplemented,
    Timeout,
    /// Any other HTTP error (400s, redirects, 404 on a collection).
    WebExceptionProtocolError,
    ConnectionFailed,
    DuplicateTargetEntries,
    /// A response that is not SCIM (HTML, truncated JSON, a ListResponse without `totalResults`).
    SystemForCrossDomainIdentityManagementServiceIncompatible,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Conflict => "Conflict",
            ErrorCode::EntryConflict => "EntryConflict",
            ErrorCode::Unauthorized => "Unauthorized",
            ErrorCode::InsufficientRights => "InsufficientRights",
            ErrorCode::MethodNotAllowed => "MethodNotAllowed",
            ErrorCode::InvalidAnchor => "InvalidAnchor",
            ErrorCode::UnprocessableEntity => "UnprocessableEntity",
            ErrorCode::TooManyRequests => "TooManyRequests",
            ErrorCode::InternalServerError => "InternalServerError",
            ErrorCode::NotImplemented => "NotImplemented",
            ErrorCode::Timeout => "Timeout",
            ErrorCode::WebExceptionProtocolError => "WebExceptionProtocolError",
            ErrorCode::ConnectionFailed => "ConnectionFailed",
            ErrorCode::DuplicateTargetEntries => "DuplicateTargetEntries",
            ErrorCode::SystemForCrossDomainIdentityManagementServiceIncompatible => {
                "SystemForCrossDomainIdentityManagementServiceIncompatible"
            }
        }
    }

    /// The code for an HTTP error status. `on_known_id` says the request named a resource id
    /// the engine holds, which turns a 404 into `InvalidAnchor`.
    pub fn from_status(status: u16, scim_type: Option<ScimType>, on_known_id: bool) -> Self {
        match status {
            401 => ErrorCode::Unauthorized,
            403 => ErrorCode::InsufficientRights,
            404 if on_known_id => ErrorCode::InvalidAnchor,
            405 => ErrorCode::MethodNotAllowed,
            408 | 504 => ErrorCode::Timeout,
            409 if scim_type == Some(ScimType::Uniqueness) => ErrorCode::EntryConflict,
            409 | 412 => ErrorCode::Conflict,
            422 => ErrorCode::UnprocessableEntity,
            429 => ErrorCode::TooManyRequests,
            501 => ErrorCode::NotImplemented,
            500..=599 => ErrorCode::InternalServerError,
            _ => ErrorCode::WebExceptionProtocolError,
        }
    }
}

impl ErrorCode {
    /// The answer says the change itself is wrong, so sending it again cannot succeed, as
    /// opposed to the target being unreachable, slow, throttling, failing or refusing the
    /// credentials.
    pub fn is_rejection(self) -> bool {
        matches!(
            self,
            ErrorCode::Conflict
                | ErrorCode::EntryConflict
                | ErrorCode::InvalidAnchor
                | ErrorCode::MethodNotAllowed
                | ErrorCode::UnprocessableEntity
                | ErrorCode::NotImplemented
                | ErrorCode::WebExceptionProtocolError
                | ErrorCode::DuplicateTargetEntries
                | ErrorCode::SystemForCrossDomainIdentityManagementServiceIncompatible
        )
    }

    /// The target refused muster's credentials (Entra quarantines on these at once).
    pub fn is_credential_failure(self) -> bool {
        matches!(
            self,
            ErrorCode::Unauthorized | ErrorCode::InsufficientRights
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why no HTTP response came back. Kept apart because the admin fixes each differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    Dns,
    Tls,
    ConnectionRefused,
    ConnectTimeout,
    /// Any other failure before the request was sent.
    Connect,
    /// Connected, then no complete response within the timeout.
    Timeout,
    /// Connected, then the connection was reset or closed mid-exchange.
    ConnectionReset,
    Other,
}

impl TransportKind {
    /// Whether the request may have reached the server. Failures while connecting cannot have
    /// delivered it, which is what makes a POST safe to retry after them.
    pub fn request_may_have_arrived(self) -> bool {
        matches!(
            self,
            TransportKind::Timeout | TransportKind::ConnectionReset | TransportKind::Other
        )
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Dns => "DNS lookup failed",
            TransportKind::Tls => "TLS handshake failed",
            TransportKind::ConnectionRefused => "connection refused",
            TransportKind::ConnectTimeout => "connect timed out",
            TransportKind::Connect => "could not connect",
            TransportKind::Timeout => "timed out",
            TransportKind::ConnectionReset => "connection reset",
            TransportKind::Other => "transport error",
        })
    }
}

/// Every failure of a [`ScimClient`](crate::ScimClient) call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid SCIM client configuration: {}", .0.join("; "))]
    InvalidConfig(Vec<String>),
    /// The target answered with an error status.
    #[error("{method} {path}: HTTP {status} {code}{}: {detail}", scim_type_suffix(*.scim_type))]
    Status {
        method: Method,
        path: String,
        status: u16,
        scim_type: Option<ScimType>,
        detail: String,
        code: ErrorCode,
        /// The target's `Retry-After`, parsed, when it sent one.
        retry_after: Option<Duration>,
    },
    /// No HTTP response.
    #[error("{method} {path}: {kind}: {message}")]
    Transport {
        method: Method,
        path: String,
        kind: TransportKind,
        message: String,
    },
    /// A success status with a body that is not what SCIM promises.
    #[error("{method} {path}: HTTP {status} but not a SCIM response: {detail}")]
    Incompatible {
        method: Method,
        path: String,
        status: u16,
        detail: String,
    },
    /// No token from the target's token endpoint, so the request was not sent.
    #[error("signing in at {url} failed: {reason}")]
    SignIn {
        /// The token endpoint, without its query.
        url: String,
        kind: SignInFailure,
        reason: String,
    },
    /// A look-up by a matching attribute found more than one resource.
    #[error("{count} target entries match {attribute} eq {value:?}")]
    DuplicateTargetEntries {
        attribute: String,
        value: String,
        count: u64,
    },
}

fn scim_type_suffix(scim_type: Option<ScimType>) -> String {
    scim_type
        .map(|t| format!(" ({})", scim_type_name(t)))
        .unwrap_or_default()
}

impl ClientError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ClientError::InvalidConfig(_) => ErrorCode::ConnectionFailed,
            ClientError::Status { code, .. } => *code,
            ClientError::Transport {
                kind: TransportKind::Timeout | TransportKind::ConnectTimeout,
                ..
            } => ErrorCode::Timeout,
            ClientError::Transport { .. } => ErrorCode::ConnectionFailed,
            ClientError::Incompatible { .. } => {
                ErrorCode::SystemForCrossDomainIdentityManagementServiceIncompatible
            }
            ClientError::DuplicateTargetEntries { .. } => ErrorCode::DuplicateTargetEntries,
            ClientError::SignIn { kind, .. } => match kind {
                SignInFailure::Refused => ErrorCode::Unauthorized,
                SignInFailure::Unavailable => ErrorCode::InternalServerError,
                SignInFailure::Unreachable => ErrorCode::ConnectionFailed,
            },
        }
    }

    /// The HTTP status, when the target answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } | ClientError::Incompatible { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    pub fn scim_type(&self) -> Option<ScimType> {
        match self {
            ClientError::Status { scim_type, .. } => *scim_type,
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn method(&self) -> Option<Method> {
        match self {
            ClientError::Status { method, .. }
            | ClientError::Transport { method, .. }
            | ClientError::Incompatible { method, .. } => Some(*method),
            _ => None,
        }
    }

    /// Whether the request may have taken effect even though it failed: a POST that timed out,
    /// lost its connection or met a 5xx may have created the user. The engine resolves this by
    /// looking the person up by the matching attribute before trying again, as Entra does.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            ClientError::Transport { kind, .. } => kind.request_may_have_arrived(),
            ClientError::Status { status, .. } => *status >= 500,
            ClientError::Incompatible { .. } => true,
            _ => false,
        }
    }
}

/// The RFC spelling of a `scimType` (`invalidFilter`).
pub fn scim_type_name(scim_type: ScimType) -> String {
    match serde_json::to_value(scim_type) {
        Ok(Value::String(name)) => name,
        _ => format!("{scim_type:?}"),
    }
}

/// The parts of an error body that matter.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ErrorBody {
    pub detail: Option<String>,
    pub scim_type: Option<ScimType>,
}

/// Reads an error body liberally: RFC 7644 (`status` as a string), Zoom's SCIM errors (`status`
/// as a number) and Zoom's REST-style `{"code": 429, "message": …}`. Anything else, HTML from a
/// proxy included, yields its first words as the detail.
pub(crate) fn parse_error_body(body: &[u8]) -> ErrorBody {
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) else {
        return ErrorBody {
            detail: snippet(body),
            scim_type: None,
        };
    };
    let text = |name: &str| {
        scim::resource::get_ci(&object, name)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let detail = text("detail")
        .or_else(|| text("message"))
        .or_else(|| text("error_description"));
    let scim_type = text("scimType").as_deref().and_then(parse_scim_type);
    ErrorBody {
        detail: detail.or_else(|| snippet(body)),
        scim_type,
    }
}

/// A `scimType`, matched case-insensitively; unknown values are dropped (they stay in the body).
fn parse_scim_type(name: &str) -> Option<ScimType> {
    use ScimType::*;
    [
        InvalidFilter,
        TooMany,
        Uniqueness,
        Mutability,
        InvalidSyntax,
        InvalidPath,
        NoTarget,
        InvalidValue,
        InvalidVers,
        Sensitive,
    ]
    .into_iter()
    .find(|t| scim_type_name(*t).eq_ignore_ascii_case(name))
}

/// The start of a body, whitespace collapsed, for a message a person reads.
pub(crate) fn snippet(body: &[u8]) -> Option<String> {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(body);
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return None;
    }
    let joined = words.join(" ");
    Some(match joined.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let cases: [(&str, ErrorBody); 5] = [
            (
                r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"taken"}"#,
                ErrorBody { detail: Some("taken".into()), scim_type: Some(ScimType::Uniqueness) },
            ),
            (
                r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"User x not exist or not belong to this account.","status":400}"#,
                ErrorBody { detail: Some("User x not exist or not belong to this account.".into()), scim_type: None },
            ),
            (
                r#"{"code":429,"message":"You have reached the maximum per-second rate limit for this API. Try again later."}"#,
                ErrorBody {
                    detail: Some("You have reached the maximum per-second rate limit for this API. Try again later.".into()),
                    scim_type: None,
                },
            ),
            (
                r#"{"Detail":"bad","ScimType":"InvalidFilter","status":400}"#,
                ErrorBody { detail: Some("bad".into()), scim_type: Some(ScimType::InvalidFilter) },
            ),
            ("<html>\n  <body>Bad   Gateway</body></html>", ErrorBody { detail: Some("<html> <body>Bad Gateway</body></html>".into()), scim_type: None }),
        ];
        for (body, expected) in cases {
            assert_eq!(parse_error_body(body.as_bytes()), expected, "{body}");
        }
        assert_eq!(parse_error_body(b""), ErrorBody::default());
    }

    #[test]
    fn codes_from_status() {
        let cases = [
            (
                409,
                Some(ScimType::Uniqueness),
                false,
                ErrorCode::EntryConflict,
            ),
            (409, None, false, ErrorCode::Conflict),
            (401, None, false, ErrorCode::Unauthorized),
            (403, None, false, ErrorCode::InsufficientRights),
            (404, None, true, ErrorCode::InvalidAnchor),
            (404, None, false, ErrorCode::WebExceptionProtocolError),
            (
                400,
                Some(ScimType::InvalidValue),
                true,
                ErrorCode::WebExceptionProtocolError,
            ),
            (429, None, false, ErrorCode::TooManyRequests),
            (503, None, false, ErrorCode::InternalServerError),
            (501, None, false, ErrorCode::NotImplemented),
            (504, None, false, ErrorCode::Timeout),
        ];
        for (status, scim_type, on_id, code) in cases {
            assert_eq!(
                ErrorCode::from_status(status, scim_type, on_id),
                code,
                "{status}"
            );
        }
    }

    #[test]
    fn snippets_are_bounded() {
        let long = "x".repeat(500);
        let cut = snippet(long.as_bytes()).unwrap_or_default();
        assert_eq!(cut.chars().count(), 201);
    }
}
