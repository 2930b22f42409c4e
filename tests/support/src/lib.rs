//! What the tests and benchmarks of every crate share, with no dependency on muster itself (so
//! the binary's own tests can use it): directory snapshots, free ports, child processes, and
//! the environment variables that size a benchmark.

pub mod directory;

use std::net::TcpListener;
use std::process::{Child, Command};
use std::str::FromStr;

pub use directory::Directory;

/// A port that was free a moment ago (the OS picks it; the caller binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// `name` from the environment, parsed, or `default`: how a benchmark is sized.
pub fn env_or<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `command` to the end: whether it succeeded, its stdout and its stderr.
pub fn output(command: &mut Command) -> (bool, String, String) {
    let out = command.output().expect("the command runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A child process killed (and reaped) when this is dropped, so a failed assertion leaves no
/// process behind.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
