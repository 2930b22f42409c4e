//! Naming the failure when no HTTP response came back.
//!
//! reqwest says only "connect" or "timeout"; DNS, TLS and refusals are told apart by walking
//! the error's sources, the io::Error kind first and the messages of hyper-util and rustls
//! second. Those messages are not a stable API, so a miss degrades to `Connect`/`Other`, which
//! still carries the full message.

use std::io;

use crate::error::{ClientError, TransportKind};
use crate::request::Method;

pub(crate) fn classify(error: reqwest::Error, method: Method, path: &str) -> ClientError {
    let error = error.without_url();
    let (message, io_kind) = describe(&error);
    let lower = message.to_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    let kind = if error.is_timeout() {
        if error.is_connect() {
            TransportKind::ConnectTimeout
        } else {
            TransportKind::Timeout
        }
    } else if error.is_connect() {
        if has(&[
            "dns error",
            "failed to lookup address",
            "name or service not known",
            "no such host",
            "nodename nor servname",
        ]) {
            TransportKind::Dns
        } else if io_kind == Some(io::ErrorKind::ConnectionRefused) {
            TransportKind::ConnectionRefused
        } else if has(&[
            "certificate",
            "tls",
            "handshake",
            "corrupt message",
            "invalidcontenttype",
            "alert",
        ]) {
            TransportKind::Tls
        } else {
            TransportKind::Connect
        }
    } else if matches!(
        io_kind,
        Some(
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
        )
    ) || has(&[
        "connection closed before message completed",
        "incomplete message",
        "connection reset",
    ]) {
        TransportKind::ConnectionReset
    } else {
        TransportKind::Other
    };
    ClientError::Transport {
        method,
        path: path.to_string(),
        kind,
        message,
    }
}

/// The messages of the error and its sources, joined (skipping repeats, which hyper and
/// reqwest produce), and the first io::Error kind found.
pub(crate) fn describe(error: &reqwest::Error) -> (String, Option<io::ErrorKind>) {
    let mut parts: Vec<String> = Vec::new();
    let mut io_kind = None;
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = current {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        if io_kind.is_none()
            && let Some(io) = err.downcast_ref::<io::Error>()
        {
            io_kind = Some(io.kind());
        }
        current = err.source();
    }
    (parts.join(": "), io_kind)
}
