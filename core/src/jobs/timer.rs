//! The one deadline structure of a registry: a min-heap of `(deadline, job)` serviced by a
//! single task, instead of a timer (and a task) per job.
//!
//! A job is in the heap at most once per distinct deadline it asked for: the registry
//! keeps, per job, the earliest deadline already pushed and pushes only an earlier one,
//! so a million activity calls never touch the heap (activity only moves a deadline
//! later; the timer notices when the old deadline comes and re-arms). An item whose
//! deadline is no longer the job's current one is stale and skipped when it pops.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Mutex;

use tokio::sync::Notify;

/// No deadline.
pub(super) const NEVER: u64 = u64::MAX;

struct Item<T> {
    /// Monotonic nanoseconds on the registry's clock.
    at: u64,
    job: T,
}

impl<T> PartialEq for Item<T> {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl<T> Eq for Item<T> {}
impl<T> PartialOrd for Item<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Item<T> {
    /// Reversed: the max-heap's top is the earliest deadline.
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at)
    }
}

struct Heap<T> {
    items: BinaryHeap<Item<T>>,
    /// The servicing task is gone: refuse new items (they would never pop).
    shut: bool,
}

/// A min-heap of deadlines and the wake-up of the one task that services it.
pub(super) struct Timer<T> {
    heap: Mutex<Heap<T>>,
    wake: Notify,
}

impl<T> Timer<T> {
    pub(super) fn new() -> Self {
        Self {
            heap: Mutex::new(Heap {
                items: BinaryHeap::new(),
                shut: false,
            }),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Heap<T>> {
        self.heap.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue `job` at `at`; wakes the servicing task when it is the new earliest
    /// deadline. `false` when the timer has shut down (nothing was queued).
    pub(super) fn push(&self, at: u64, job: T) -> bool {
        let mut h = self.lock();
        if h.shut {
            return false;
        }
        let earliest = h.items.peek().is_none_or(|top| at < top.at);
        h.items.push(Item { at, job });
        drop(h);
        if earliest {
            self.wake.notify_one();
        }
        true
    }

    /// The earliest item due at `now`, if any.
    pub(super) fn pop_due(&self, now: u64) -> Option<(u64, T)> {
        let mut h = self.lock();
        if h.items.peek().is_some_and(|top| top.at <= now) {
            h.items.pop().map(|i| (i.at, i.job))
        } else {
            None
        }
    }

    /// The earliest deadline queued.
    pub(super) fn next(&self) -> Option<u64> {
        self.lock().items.peek().map(|i| i.at)
    }

    /// Drop every item `keep` says no to.
    pub(super) fn retain(&self, mut keep: impl FnMut(&T) -> bool) {
        self.lock().items.retain(|i| keep(&i.job));
    }

    /// Shut down when nothing is queued (`true`: shut now, refusing later pushes).
    pub(super) fn shut_if_empty(&self) -> bool {
        let mut h = self.lock();
        if h.items.is_empty() {
            h.shut = true;
        }
        h.shut
    }

    /// Shut down and drop everything queued.
    pub(super) fn shut(&self) {
        let mut h = self.lock();
        h.shut = true;
        // Dropped outside the lock: a job's drop must not run under it.
        let items = std::mem::take(&mut h.items);
        drop(h);
        drop(items);
    }

    /// Wake the servicing task (a permit is kept if it is not waiting).
    pub(super) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Completes when [`push`](Timer::push) queued an earlier deadline or
    /// [`wake`](Timer::wake) was called.
    pub(super) async fn woken(&self) {
        self.wake.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_and_only_when_due() {
        let t = Timer::new();
        assert!(t.push(30, "c"));
        assert!(t.push(10, "a"));
        assert!(t.push(20, "b"));
        assert_eq!(t.next(), Some(10));
        assert_eq!(t.pop_due(5), None);
        assert_eq!(t.pop_due(25), Some((10, "a")));
        assert_eq!(t.pop_due(25), Some((20, "b")));
        assert_eq!(t.pop_due(25), None);
        t.retain(|j| *j != "c");
        assert_eq!(t.next(), None);
        assert!(t.shut_if_empty());
        assert!(!t.push(1, "late"), "a shut timer refuses items");
    }
}
