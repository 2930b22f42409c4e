//! SCIM 2.0 (RFC 7643 / RFC 7644) as data: no I/O, no async.
//!
//! # Layout
//! - [`error`]: the SCIM error type, rendered as RFC 7644 §3.12 bodies (`status` as a string).
//! - [`resource`]: resource kinds, schema URNs, the ListResponse envelope, case-insensitive keys.
//!   Resources stay `serde_json::Value`.
//! - [`schema`]: attribute characteristics (caseExact, mutability, multiValued, returned, …) of
//!   User, its enterprise and two Zoom extensions, and Group; what `/Schemas` serves.
//! - [`path`]: attribute paths (`name.givenName`, `urn:…:department`, `emails[type eq "work"].value`).
//! - [`filter`]: the RFC 7644 §3.4.2.2 filter grammar, parsed (`lexer`, `parser`) and evaluated
//!   (`eval`) by hand — see the module docs for why and for the semantics chosen.
//! - [`flat`]: the flat view "SCIM path → value" and back, what the engine diffs.
//! - [`patch`]: PATCH operations, parsing both dialects (`parse`: RFC and Entra's default),
//!   atomic application (`apply`, with the value-level edits in `target`).
//! - [`request`]: request bodies: JSON naming no attribute twice, and what a User or Group must
//!   look like before it is stored.
//!
//! # The engine's round trip
//! For flat maps `a`, `b` of the shape [`flat::flatten`] produces, applying to
//! `unflatten(a)` the operations `remove P` (each `P` in `a` not in `b`) **then** `replace P = V`
//! (each `P` added or changed in `b`) and flattening gives `b`. Removes must come first: a
//! multi-valued attribute can switch between the keyed form (`emails[type eq "work"].value`) and
//! the whole form (`emails`), and a later remove of the old form would undo the new one. A
//! `replace` on `attr[type eq "X"].sub` with no such value creates it (see [`patch`]). This is a
//! property test (`tests/props.rs`). One shape is ambiguous and avoided by the test: a map
//! holding both `emails[primary eq true].…` and a typed value with `primary = true`, since the
//! filter `primary eq true` matches the typed value too.
//!
//! # Hostile input
//! Filters and paths are limited to [`filter::MAX_FILTER_LEN`] bytes and
//! [`filter::MAX_FILTER_DEPTH`] levels of nesting; `and`/`or` chains are n-ary, so a long chain
//! is not deep. PATCH bodies carry at most [`patch::MAX_OPERATIONS`] operations; JSON nesting is
//! bounded by serde_json's own recursion limit (128). Nothing panics on input: the `fuzz/` crate
//! (a cargo-fuzz layout, excluded from the workspace) has four targets, which `.ci/fuzz` builds
//! with libFuzzer's coverage instrumentation on stable Rust and runs for 30 s each in CI. Longer
//! runs, on a 2-core machine shared with other builds:
//!
//! | target   | what it checks                                                   | ran clean |
//! |----------|------------------------------------------------------------------|-----------|
//! | `filter` | parse, canonical form re-parses equal, evaluate on two resources | 4 min, 3.1 M execs |
//! | `path`   | parse, canonical form re-parses equal                            | 4 min, 5.0 M execs |
//! | `patch`  | parse, apply to a User, a Group and an input resource; a failed apply leaves the resource unchanged; flatten the result | 3 + 4 min, 3.3 M execs |
//! | `request` | parse a body, validate it as a User and as a Group; what validates keeps no `id`, `meta`, `password` (or a User's `groups`) in any case, names no attribute twice, has its schema and name, validates again to itself, and keeps its name in the flat view | 5 min, 10.8 M execs |
//!
//! Number literals parse with `str::parse::<f64>`, not serde_json's fast float parser, which is
//! off by an ulp on long mantissas: that keeps the canonical form of a filter or path equal to it
//! when re-parsed.
//!
//! Run one target longer, keeping its corpus between runs:
//! `MUSTER_FUZZ_SECONDS=600 MUSTER_FUZZ_WORK=~/.cache/muster/fuzz .ci/fuzz request`.

pub mod error;
pub mod filter;
pub mod flat;
pub mod operation;
pub mod patch;
pub mod path;
pub mod request;
pub mod resource;
pub mod schema;

pub use error::{ScimError, ScimType};
pub use filter::Filter;
pub use operation::RequestKind;
pub use path::AttrPath;
pub use resource::{ListResponse, ResourceKind};
