//! The production allocator. Linking this crate makes it the global allocator, so the `muster`
//! binary and the benchmarks of `engine` and `plugin-host` measure the same one.
//!
//! mimalloc 2 (the `v2` feature: its v3 takes a slower aligned path for every Rust allocation).
//! Freed memory is kept for a minute before it goes back to the OS instead of mimalloc's 10 ms:
//! a sync cycle frees its plan and the next one (or a gateway's next change) allocates the same
//! again, and memory that went back must be faulted in and zeroed by the kernel, which was a
//! fifth of planning 100,000 people. Idle for a minute, muster still returns what it freed.
//! `MIMALLOC_PURGE_DELAY=<ms>` in the environment overrides the minute.

use std::ffi::c_long;

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 2's `mimalloc.h` (the Rust bindings do not name it);
/// the `muster` binary's tests check the index against its documented default.
const PURGE_DELAY: mi_option_t = 15;

/// How long freed memory waits for reuse before it is returned to the OS, in milliseconds.
pub const KEEP_FREED_MS: c_long = 60_000;

/// Applies muster's allocator settings; call first thing in `main`.
pub fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: setting an option is a plain store into mimalloc's option table, allowed at
        // any time; the index is checked by the binary's tests.
        unsafe { mi_option_set(PURGE_DELAY, KEEP_FREED_MS) };
    }
}

/// The purge delay in effect, in milliseconds.
pub fn purge_delay_ms() -> c_long {
    // SAFETY: reading an option has no preconditions.
    unsafe { mi_option_get(PURGE_DELAY) }
}
