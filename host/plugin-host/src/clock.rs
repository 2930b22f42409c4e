//! Virtual time for guests: clocks that start at zero and move only when the guest sleeps, and
//! sleeps that end at once.
//!
//! wasmtime-wasi's `subscribe-duration` / `subscribe-instant` wait in real time inside the host's
//! `poll`, where neither the epoch deadline nor fuel can stop them: `std::thread::sleep`,
//! Python's `time.sleep` or a far-off instant would hold a worker thread for as long as the guest
//! asks. Here a subscription moves the guest's clock to its deadline and returns a pollable that
//! is already ready, so a sleep costs nothing and a loop that waits for the clock to pass a point
//! either sleeps its way there or spins until the call's deadline or fuel stops it. Time is
//! the same for every run of the same calls, which keeps plugins deterministic.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// Nanoseconds of guest time since the instance started, shared by its wall and monotonic clock.
#[derive(Debug, Clone, Default)]
pub(crate) struct VirtualClock(Arc<AtomicU64>);

impl VirtualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Moves the clock forward to `instant` (never back).
    fn advance_to(&self, instant: u64) {
        self.0.fetch_max(instant, Ordering::Relaxed);
    }
}

impl HostWallClock for VirtualClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    /// Since the Unix epoch: a guest sees 1970-01-01 plus the time it slept.
    fn now(&self) -> Duration {
        Duration::from_nanos(VirtualClock::now(self))
    }
}

impl HostMonotonicClock for VirtualClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        VirtualClock::now(self)
    }
}

/// A pollable that is ready as soon as it is asked.
struct Ready;

#[async_trait::async_trait]
impl Pollable for Ready {
    async fn ready(&mut self) {}
}

/// What `wasi:clocks/monotonic-clock` needs from a call's state.
pub(crate) struct MonotonicClockView<'a> {
    pub(crate) clock: &'a VirtualClock,
    pub(crate) table: &'a mut ResourceTable,
}

impl MonotonicClockView<'_> {
    fn sleep_until(&mut self, instant: u64) -> wasmtime::Result<Resource<DynPollable>> {
        self.clock.advance_to(instant);
        let ready = self.table.push(Ready)?;
        subscribe(self.table, ready)
    }
}

impl monotonic_clock::Host for MonotonicClockView<'_> {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(self.clock.now())
    }

    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(1)
    }

    fn subscribe_instant(&mut self, when: u64) -> wasmtime::Result<Resource<DynPollable>> {
        self.sleep_until(when)
    }

    fn subscribe_duration(&mut self, duration: u64) -> wasmtime::Result<Resource<DynPollable>> {
        let until = self.clock.now().saturating_add(duration);
        self.sleep_until(until)
    }
}

/// The `HasData` marker for [`MonotonicClockView`].
pub(crate) struct VirtualMonotonicClock;

impl wasmtime::component::HasData for VirtualMonotonicClock {
    type Data<'a> = MonotonicClockView<'a>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeping_moves_the_clock_and_never_back() {
        let clock = VirtualClock::default();
        let mut table = ResourceTable::new();
        let mut view = MonotonicClockView {
            clock: &clock,
            table: &mut table,
        };
        monotonic_clock::Host::subscribe_duration(&mut view, 3_600_000_000_000).expect("sleeps");
        assert_eq!(clock.now(), 3_600_000_000_000);
        monotonic_clock::Host::subscribe_instant(&mut view, 5).expect("an instant in the past");
        assert_eq!(clock.now(), 3_600_000_000_000, "the clock never goes back");
        monotonic_clock::Host::subscribe_duration(&mut view, u64::MAX).expect("saturates");
        assert_eq!(clock.now(), u64::MAX);
        assert_eq!(HostWallClock::now(&clock), Duration::from_nanos(u64::MAX));
    }
}
