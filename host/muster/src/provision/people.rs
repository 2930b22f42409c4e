//! One writer per person at a time, across the runs of one process: a cycle, on-demand runs
//! and outbox passes may overlap, but never send two requests for the same person at once.
//!
//! Each write also moves a generation counter, so a run can tell whether someone else wrote a
//! person after it read the records it planned from: a cycle that planned Alice before an
//! on-demand run provisioned her does not redo her with a stale plan.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Debug, Default)]
pub struct PersonLocks {
    /// A lock per person with a writer or a waiter; dropped with its last guard, so the map
    /// holds only the people being written.
    locks: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
    /// Moves on every write.
    generation: AtomicU64,
    /// The generation of each person's last write in this process, kept while a run that
    /// planned before it may still be applying.
    written: Mutex<HashMap<String, u64>>,
    /// The generations runs in flight planned at, with how many runs planned at each.
    runs: Mutex<std::collections::BTreeMap<u64, usize>>,
}

/// A run in flight: when it planned. Dropping it lets the writes it could have missed go.
#[derive(Debug)]
pub struct RunTicket<'a> {
    locks: &'a PersonLocks,
    generation: u64,
}

impl RunTicket<'_> {
    /// Whether `person` was written after this run read the records it planned from.
    pub fn written_since_plan(&self, person: &str) -> bool {
        self.locks.written_since(person, self.generation)
    }

    /// Whether `person` was written after this run read its records, by a write other than
    /// the one this run made at generation `own` (`None`: this run did not write them).
    pub fn written_by_another(&self, person: &str, own: Option<u64>) -> bool {
        match own {
            None => self.written_since_plan(person),
            Some(own) => self.locks.written_since(person, own),
        }
    }
}

impl Drop for RunTicket<'_> {
    fn drop(&mut self) {
        let mut runs = lock(&self.locks.runs);
        if let Some(count) = runs.get_mut(&self.generation) {
            *count -= 1;
            if *count == 0 {
                runs.remove(&self.generation);
            }
        }
        match runs.keys().next() {
            Some(&oldest) => self.locks.forget_until(oldest),
            None => lock(&self.locks.written).clear(),
        }
    }
}

/// The right to write one person; see [`PersonLocks::lock`].
#[derive(Debug)]
pub struct PersonGuard<'a> {
    locks: &'a PersonLocks,
    id: String,
    guard: Option<OwnedMutexGuard<()>>,
}

/// A poisoned map only means a panic elsewhere mid-update; the map itself is still whole.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PersonLocks {
    /// Waits until no one else writes `person`, then holds the person until the guard drops.
    pub async fn lock(&self, person: &str) -> PersonGuard<'_> {
        let mutex = lock(&self.locks)
            .entry(person.to_string())
            .or_default()
            .clone();
        let guard = mutex.lock_owned().await;
        PersonGuard {
            locks: self,
            id: person.to_string(),
            guard: Some(guard),
        }
    }

    /// Starts a run: take it before reading the records the run plans from.
    pub fn begin_run(&self) -> RunTicket<'_> {
        let mut runs = lock(&self.runs);
        let generation = self.generation.load(Ordering::SeqCst);
        *runs.entry(generation).or_default() += 1;
        RunTicket {
            locks: self,
            generation,
        }
    }

    /// Whether `person` was written after `generation`.
    fn written_since(&self, person: &str, generation: u64) -> bool {
        lock(&self.written)
            .get(person)
            .is_some_and(|&at| at > generation)
    }

    /// Records a write of the person this guard holds; call it once the outcome is committed.
    /// Returns the write's generation.
    pub fn mark_written(&self, guard: &PersonGuard<'_>) -> u64 {
        let at = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        lock(&self.written).insert(guard.id.clone(), at);
        at
    }

    /// Forgets writes at or before `generation`, which no run in flight can have missed.
    fn forget_until(&self, generation: u64) {
        lock(&self.written).retain(|_, at| *at > generation);
    }

    /// People being written or waited for.
    pub fn held(&self) -> usize {
        lock(&self.locks).len()
    }
}

impl Drop for PersonGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = lock(&self.locks.locks);
        // Only the map holds it now: no writer, no waiter.
        if locks
            .get(&self.id)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            locks.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_writer_waits_for_the_first() {
        let locks = Arc::new(PersonLocks::default());
        let first = locks.lock("alice").await;
        let waiter = {
            let locks = locks.clone();
            tokio::spawn(async move {
                let _second = locks.lock("alice").await;
                locks.generation.load(Ordering::SeqCst)
            })
        };
        // Another person is not held up.
        drop(locks.lock("bob").await);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "the second writer got in");
        locks.mark_written(&first);
        drop(first);
        assert_eq!(waiter.await.expect("waiter"), 1, "it ran after the write");
        assert_eq!(locks.held(), 0, "no lock outlives its writers");
    }

    #[tokio::test]
    async fn a_write_after_a_plan_read_is_seen() {
        let locks = PersonLocks::default();
        let cycle = locks.begin_run();
        assert!(!cycle.written_since_plan("alice"));
        let guard = locks.lock("alice").await;
        locks.mark_written(&guard);
        drop(guard);
        assert!(cycle.written_since_plan("alice"));
        assert!(!cycle.written_since_plan("bob"));
        // A run that starts now read Alice's new record already.
        let later = locks.begin_run();
        assert!(!later.written_since_plan("alice"));
        drop(later);
        assert!(
            cycle.written_since_plan("alice"),
            "kept for the run in flight"
        );
        drop(cycle);
        assert!(lock(&locks.written).is_empty(), "no run left to miss it");
    }
}
