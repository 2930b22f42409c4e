//! Addressing requests: HTTP methods, ids as path segments and `eq` filters.
//!
//! Everything that goes into a URL is percent-encoded here and nowhere else, with the strictest
//! set (all but RFC 3986 unreserved characters), because the peers are not all careful parsers:
//! Zoom ids contain `&`, and a `+` in an e-mail address read as a space finds nobody.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The HTTP methods SCIM uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn to_reqwest(self) -> reqwest::Method {
        match self {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use scim::RequestKind;

/// The kind of a `method` request to `path` (below the base URL): a GET of a collection
/// (`/Users`, one segment) lists, a GET of anything deeper reads one resource.
pub fn request_kind(method: Method, path: &str) -> RequestKind {
    match method {
        Method::Get if path.trim_matches('/').contains('/') => RequestKind::Get,
        Method::Get => RequestKind::List,
        Method::Post => RequestKind::Create,
        Method::Put => RequestKind::Replace,
        Method::Patch => RequestKind::Patch,
        Method::Delete => RequestKind::Delete,
    }
}

/// `/Users/{id}` with the id encoded as one path segment.
pub fn resource_path(endpoint: &str, id: &str) -> String {
    format!("{endpoint}/{}", utf8_percent_encode(id, STRICT))
}

/// A SCIM `eq` filter, `attribute eq "value"`, with the value as a JSON string literal (RFC 7644
/// §3.4.2.2 says string literals are JSON strings), so quotes and backslashes are escaped.
pub fn eq_filter(attribute: &str, value: &str) -> String {
    let literal = serde_json::Value::String(value.to_string()).to_string();
    format!("{attribute} eq {literal}")
}

/// A query string (`?filter=…`) with every key and value strictly percent-encoded: spaces are
/// `%20`, not `+`, which servers decoding RFC 3986-style would read as a literal plus.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.extend(utf8_percent_encode(key, STRICT));
        out.push('=');
        out.extend(utf8_percent_encode(value, STRICT));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_escape_quotes_and_backslashes() {
        let cases = [
            ("jill@example.com", r#"userName eq "jill@example.com""#),
            (r#"a"b"#, r#"userName eq "a\"b""#),
            (r"a\b", r#"userName eq "a\\b""#),
            (
                "x\") or (userName pr",
                r#"userName eq "x\") or (userName pr""#,
            ),
        ];
        for (value, filter) in cases {
            assert_eq!(eq_filter("userName", value), filter);
        }
    }

    #[test]
    fn ids_are_one_segment() {
        assert_eq!(resource_path("/Users", "k&KdKr6TL"), "/Users/k%26KdKr6TL");
        assert_eq!(resource_path("/Users", "a/b c+d"), "/Users/a%2Fb%20c%2Bd");
        assert_eq!(
            resource_path("/Groups", "2819c223-7f76.x_~"),
            "/Groups/2819c223-7f76.x_~"
        );
    }

    #[test]
    fn request_kinds() {
        let cases = [
            (Method::Get, "/Users", RequestKind::List),
            (Method::Get, "/Groups", RequestKind::List),
            (Method::Get, "/Users/k%26Kd", RequestKind::Get),
            (Method::Post, "/Users", RequestKind::Create),
            (Method::Put, "/Users/a", RequestKind::Replace),
            (Method::Patch, "/Groups/a", RequestKind::Patch),
            (Method::Delete, "/Users/a", RequestKind::Delete),
        ];
        for (method, path, kind) in cases {
            assert_eq!(request_kind(method, path), kind, "{method} {path}");
        }
    }

    #[test]
    fn query_encodes_strictly() {
        let query = query_string(&[("filter", r#"userName eq "a+b@x.com""#), ("count", "1")]);
        assert_eq!(query, "?filter=userName%20eq%20%22a%2Bb%40x.com%22&count=1");
    }
}
