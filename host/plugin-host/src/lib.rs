//! The wasmtime component host for muster plugins.
