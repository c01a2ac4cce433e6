//! A queue from many threads to one consumer thread that takes everything waiting at once.
//!
//! It stands where `std::sync::mpsc` stood in front of the store's writer: that channel allocates
//! a zeroed block every 31 sends, on the sender's thread, and each of those large allocations
//! made glibc consolidate its fast bins there (3 % of the connection worker's samples at 6,000
//! appends/s). Here the queued items live in one `Vec` that the consumer swaps for its own
//! emptied one, so the two buffers are reused for as long as the store is open, and a producer
//! wakes the consumer only when it is waiting.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub(super) struct Handoff<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

struct State<T> {
    items: Vec<T>,
    closed: bool,
    /// The consumer is blocked in `wait`: a push must wake it.
    waiting: bool,
}

/// What `wait` found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Waited {
    /// Something is queued.
    Ready,
    /// Nothing came within the time given.
    TimedOut,
    /// Nothing is queued and nothing will be.
    Closed,
}

impl<T> Handoff<T> {
    pub(super) fn new() -> Self {
        Handoff { state: Mutex::new(State { items: Vec::new(), closed: false, waiting: false }), ready: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `item` behind everything queued before it; gives it back once the queue is closed.
    pub(super) fn push(&self, item: T) -> Result<(), T> {
        let mut state = self.lock();
        if state.closed {
            return Err(item);
        }
        state.items.push(item);
        let wake = std::mem::take(&mut state.waiting);
        drop(state);
        if wake {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Waits at most `timeout` for something to be queued (not at all for a zero timeout).
    pub(super) fn wait(&self, timeout: Duration) -> Waited {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if !state.items.is_empty() {
                return Waited::Ready;
            }
            if state.closed {
                return Waited::Closed;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|left| !left.is_zero()) else {
                return Waited::TimedOut;
            };
            state.waiting = true;
            state = self.ready.wait_timeout(state, left).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
            state.waiting = false;
        }
    }

    /// Moves the oldest `max` queued items at most onto the end of `into`, in the order queued.
    pub(super) fn take(&self, into: &mut Vec<T>, max: usize) {
        let mut state = self.lock();
        if into.is_empty() && state.items.len() <= max {
            // The buffers change places: neither is freed or grown again.
            std::mem::swap(&mut state.items, into);
        } else {
            let count = state.items.len().min(max.saturating_sub(into.len()));
            into.extend(state.items.drain(..count));
        }
    }

    /// Refuses further pushes; the consumer still takes what is queued, then finds it closed.
    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// The consumer is gone: refuses further pushes and drops what is queued (outside the lock).
    pub(super) fn abandon(&self) {
        let dropped = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.items)
        };
        drop(dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn items_are_taken_in_the_order_queued_and_at_most_max_at_a_time() {
        let queue = Handoff::new();
        for n in 0..5 {
            assert!(queue.push(n).is_ok());
        }
        assert_eq!(queue.wait(Duration::ZERO), Waited::Ready);
        let mut taken = Vec::new();
        queue.take(&mut taken, 3);
        assert_eq!(taken, [0, 1, 2]);
        taken.clear();
        queue.take(&mut taken, 3);
        assert_eq!(taken, [3, 4]);
        assert_eq!(queue.wait(Duration::ZERO), Waited::TimedOut);
    }

    #[test]
    fn a_waiting_consumer_is_woken_by_a_push_from_another_thread() {
        let queue = Arc::new(Handoff::new());
        let producer = queue.clone();
        let pushing = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            producer.push("appended").is_ok()
        });
        // Bounded: a lost wake-up fails the test instead of hanging it.
        assert_eq!(queue.wait(Duration::from_secs(10)), Waited::Ready);
        assert!(pushing.join().unwrap_or(false));
        let mut taken = Vec::new();
        queue.take(&mut taken, 10);
        assert_eq!(taken, ["appended"]);
    }

    #[test]
    fn a_closed_queue_refuses_pushes_but_hands_over_what_it_holds() {
        let queue = Handoff::new();
        assert!(queue.push(1).is_ok());
        queue.close();
        assert_eq!(queue.push(2), Err(2));
        assert_eq!(queue.wait(Duration::from_secs(1)), Waited::Ready);
        let mut taken = Vec::new();
        queue.take(&mut taken, 10);
        assert_eq!(taken, [1]);
        assert_eq!(queue.wait(Duration::from_secs(1)), Waited::Closed);
    }

    #[test]
    fn abandoning_drops_what_is_queued_and_refuses_more() {
        let queue = Handoff::new();
        let item = Arc::new(());
        assert!(queue.push(item.clone()).is_ok());
        queue.abandon();
        assert_eq!(Arc::strong_count(&item), 1, "the queued item was dropped");
        assert!(queue.push(item.clone()).is_err());
        assert_eq!(queue.wait(Duration::ZERO), Waited::Closed);
    }

    #[test]
    fn closing_wakes_a_waiting_consumer() {
        let queue: Arc<Handoff<u8>> = Arc::new(Handoff::new());
        let closer = queue.clone();
        let closing = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            closer.close();
        });
        assert_eq!(queue.wait(Duration::from_secs(10)), Waited::Closed);
        assert!(closing.join().is_ok());
    }
}
