//! A connection's bounded outbox: what the hub queues for it, taken all at once by the connection.
//!
//! The hub never waits on it. A push that finds the outbox full of a connection whose socket has
//! stopped taking what it writes marks it as a slow consumer (it closes with 4009 and recovers from
//! history when it comes back), so one stalled phone never holds up a room. A connection that reads
//! but whose task is behind (the server is busy) keeps its pushes, up to a hard cap: it is not the
//! phone that is slow. The fan-out of a store commit queues every publication of the group first
//! and wakes each receiver once at the end: under load a connection gets one wake and writes one
//! batch per commit, not one per message. An idle outbox holds no allocation.

use crate::metrics::{METRICS, Metrics};
use bytes::Bytes;
use makeroom_protocol::{Publication, close};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// One committed publication, encoded once and shared by every receiver.
#[derive(Debug)]
pub struct Delivery {
    /// The channel's store key.
    pub key: Arc<str>,
    pub offset: u64,
    /// The `pub` push as a complete WebSocket frame.
    pub frame: Bytes,
    /// The publication itself, for subscribers that read it (the event state follows its logs).
    pub publication: Arc<Publication>,
}

/// What an outbox carries. Every variant is one pointer wide.
#[derive(Debug)]
pub enum Outgoing {
    Publication(Arc<Delivery>),
    /// A presence change (no offset: presence is not stored).
    Presence(Box<PresencePush>),
    /// The hub ended this connection's subscription to `key`; the frame says why.
    Unsubscribed(Box<UnsubscribedPush>),
}

impl Outgoing {
    /// The channel (its store key) the item is about.
    pub fn key(&self) -> &str {
        match self {
            Outgoing::Publication(delivery) => &delivery.key,
            Outgoing::Presence(push) => &push.key,
            Outgoing::Unsubscribed(push) => &push.key,
        }
    }
}

/// A presence change on the channel `key` about `member`.
#[derive(Debug)]
pub struct PresencePush {
    pub key: Arc<str>,
    pub member: Arc<str>,
    pub frame: Bytes,
}

#[derive(Debug)]
pub struct UnsubscribedPush {
    pub key: Arc<str>,
    pub frame: Bytes,
}

/// Wakers collected while a group is queued, woken together when it is.
#[derive(Default)]
pub struct Wakers(Vec<Waker>);

impl Wakers {
    pub fn wake_all(&mut self) {
        for waker in self.0.drain(..) {
            waker.wake();
        }
    }
}

struct Queue {
    items: Vec<Outgoing>,
    waker: Option<Waker>,
    /// The connection's socket is full (its client is not reading what it is sent).
    stalled: bool,
    /// Why the connection must close (a close code), or 0.
    close: u16,
    /// The connection is gone: nothing is queued any more.
    gone: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    capacity: usize,
}

/// How far past its capacity an outbox may grow while its client still reads: a bound on memory
/// when the server itself falls behind.
const HARD_CAP_FACTOR: usize = 8;

impl Shared {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic elsewhere must not take every room down with it.
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The hub's end of an outbox.
#[derive(Clone)]
pub struct Outbox {
    shared: Arc<Shared>,
}

/// The connection's end.
pub struct OutboxReceiver {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outbox")
    }
}

impl Outbox {
    /// An outbox that holds up to `capacity` items before its connection counts as too slow.
    pub fn new(capacity: usize) -> (Outbox, OutboxReceiver) {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue { items: Vec::new(), waker: None, stalled: false, close: 0, gone: false }),
            capacity: capacity.max(1),
        });
        (Outbox { shared: shared.clone() }, OutboxReceiver { shared })
    }

    /// Queues `item` and wakes the connection.
    pub fn push(&self, item: Outgoing) {
        let mut wakers = Wakers::default();
        self.push_deferred(item, &mut wakers);
        wakers.wake_all();
    }

    /// Queues `item`; the connection's waker, if it must be woken, goes into `wakers`.
    pub fn push_deferred(&self, item: Outgoing, wakers: &mut Wakers) {
        let mut queue = self.shared.queue();
        if queue.gone || queue.close != 0 {
            return;
        }
        let limit =
            if queue.stalled { self.shared.capacity } else { self.shared.capacity.saturating_mul(HARD_CAP_FACTOR) };
        if queue.items.len() >= limit {
            queue.close = close::SLOW_CONSUMER;
            queue.items = Vec::new();
            Metrics::count(&METRICS.slow_consumers);
        } else {
            queue.items.push(item);
        }
        if let Some(waker) = queue.waker.take() {
            wakers.0.push(waker);
        }
    }

    /// Tells the connection to close with `code` (once; later calls keep the first code).
    pub fn close(&self, code: u16) {
        let waker = {
            let mut queue = self.shared.queue();
            if queue.close == 0 {
                queue.close = code;
            }
            queue.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether the connection behind it has gone.
    pub fn is_gone(&self) -> bool {
        self.shared.queue().gone
    }

    /// Whether both ends belong to the same outbox.
    pub fn same(&self, other: &Outbox) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl OutboxReceiver {
    /// Moves everything queued into `into`; `Ready(Err(code))` once the connection must close.
    pub fn poll_take(&self, cx: &mut Context<'_>, into: &mut Vec<Outgoing>) -> Poll<Result<(), u16>> {
        let mut queue = self.shared.queue();
        if queue.close != 0 {
            return Poll::Ready(Err(queue.close));
        }
        if queue.items.is_empty() {
            match &queue.waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => queue.waker = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        if into.is_empty() {
            std::mem::swap(into, &mut queue.items);
        } else {
            into.append(&mut queue.items);
        }
        Poll::Ready(Ok(()))
    }

    /// Says whether the connection's socket has stopped taking what it writes: only then does a
    /// full outbox make it a slow consumer.
    pub fn set_stalled(&self, stalled: bool) {
        self.shared.queue().stalled = stalled;
    }

    /// Items waiting now.
    pub fn len(&self) -> usize {
        self.shared.queue().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The close code set by the hub, if any.
    pub fn close_code(&self) -> Option<u16> {
        let code = self.shared.queue().close;
        (code != 0).then_some(code)
    }
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        let mut queue = self.shared.queue();
        queue.gone = true;
        queue.items = Vec::new();
        queue.waker = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn unsubscribed(key: &str) -> Outgoing {
        Outgoing::Unsubscribed(Box::new(UnsubscribedPush { key: key.into(), frame: Bytes::new() }))
    }

    #[test]
    fn a_group_wakes_its_receiver_once_and_is_taken_at_once() {
        let (outbox, receiver) = Outbox::new(16);
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut taken = Vec::new();
        assert!(receiver.poll_take(&mut cx, &mut taken).is_pending());
        let mut wakers = Wakers::default();
        for n in 0..5 {
            outbox.push_deferred(unsubscribed(&format!("k{n}")), &mut wakers);
        }
        assert_eq!(counter.0.load(Ordering::SeqCst), 0, "nothing wakes before the group is queued");
        wakers.wake_all();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1, "one wake for the whole group");
        assert!(matches!(receiver.poll_take(&mut cx, &mut taken), Poll::Ready(Ok(()))));
        assert_eq!(taken.len(), 5);
        assert!(receiver.is_empty());
    }

    #[test]
    fn a_full_outbox_of_a_reading_connection_grows_to_its_hard_cap_before_it_closes() {
        let (outbox, receiver) = Outbox::new(2);
        for n in 0..2 * HARD_CAP_FACTOR {
            outbox.push(unsubscribed(&format!("k{n}")));
        }
        assert_eq!(receiver.close_code(), None, "its socket takes everything: the server is what is behind");
        outbox.push(unsubscribed("one too many"));
        assert_eq!(receiver.close_code(), Some(close::SLOW_CONSUMER));
    }

    #[test]
    fn a_full_outbox_closes_its_connection_as_too_slow_when_its_socket_is_full() {
        let (outbox, receiver) = Outbox::new(2);
        receiver.set_stalled(true);
        for n in 0..3 {
            outbox.push(unsubscribed(&format!("k{n}")));
        }
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(matches!(receiver.poll_take(&mut cx, &mut Vec::new()), Poll::Ready(Err(close::SLOW_CONSUMER))));
        outbox.close(close::REVOKED);
        assert_eq!(receiver.close_code(), Some(close::SLOW_CONSUMER), "the first reason stays");
        drop(receiver);
        assert!(outbox.is_gone());
        outbox.push(unsubscribed("late"));
    }

    #[test]
    fn an_outbox_item_is_one_pointer_wide() {
        assert!(std::mem::size_of::<Outgoing>() <= 16);
    }
}
