//! A connection's bounded queue of encoded frames, and the response body that drains it: each poll
//! hands the dispatcher everything queued as one chunk, so a receiver costs one wake and one write
//! however many frames piled up. It never copies a frame it can hand over whole, and never holds
//! more than its bound (a receiver that falls that far behind is closed instead).

use actix_http::body::{BodySize, MessageBody};
use bytes::{Bytes, BytesMut};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Bytes a connection may have queued before it is closed as a slow consumer.
const MAX_QUEUED_BYTES: usize = 8 << 20;

#[derive(Default)]
struct State {
    frames: VecDeque<Bytes>,
    queued_bytes: usize,
    /// The body's waker, while it waits for a frame.
    waker: Option<Waker>,
    /// No more frames will come: the body ends once the queue is drained.
    closed: bool,
    /// The bound was hit: what was queued is dropped and the connection ends.
    overflowed: bool,
}

/// One connection's queue, shared by whoever writes to it (itself and every publisher).
#[derive(Clone, Default)]
pub struct Outbox(Rc<RefCell<State>>);

impl Outbox {
    /// Queues a frame; `false` if the connection is closed, or just closed for falling behind.
    pub fn push(&self, frame: Bytes) -> bool {
        let mut state = self.0.borrow_mut();
        if state.closed {
            return false;
        }
        if state.queued_bytes + frame.len() > MAX_QUEUED_BYTES {
            state.frames.clear();
            state.queued_bytes = 0;
            state.overflowed = true;
            state.closed = true;
            if let Some(waker) = state.waker.take() {
                waker.wake();
            }
            return false;
        }
        state.queued_bytes += frame.len();
        state.frames.push_back(frame);
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
        true
    }

    /// Queues a last frame (if any) and ends the body after it.
    pub fn close(&self, last: Option<Bytes>) {
        if let Some(last) = last {
            self.push(last);
        }
        let mut state = self.0.borrow_mut();
        state.closed = true;
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }

    pub fn is_closed(&self) -> bool {
        self.0.borrow().closed
    }

    pub fn overflowed(&self) -> bool {
        self.0.borrow().overflowed
    }

    /// The response body that writes this queue to the socket.
    pub fn body(&self) -> OutboxBody {
        OutboxBody(self.clone())
    }
}

pub struct OutboxBody(Outbox);

impl MessageBody for OutboxBody {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Infallible>>> {
        let mut state = self.0.0.borrow_mut();
        let chunk = match state.frames.len() {
            0 if state.closed => return Poll::Ready(None),
            0 => {
                state.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            1 => state.frames.pop_front().unwrap_or_default(),
            _ => {
                let mut chunk = BytesMut::with_capacity(state.queued_bytes);
                for frame in state.frames.drain(..) {
                    chunk.extend_from_slice(&frame);
                }
                chunk.freeze()
            }
        };
        state.queued_bytes = 0;
        Poll::Ready(Some(Ok(chunk)))
    }
}

impl Drop for OutboxBody {
    /// The dispatcher let go of the body (the socket is gone): publishers stop queueing.
    fn drop(&mut self) {
        let mut state = self.0.0.borrow_mut();
        state.closed = true;
        state.frames.clear();
        state.queued_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(body: &mut OutboxBody, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Infallible>>> {
        Pin::new(body).poll_next(cx)
    }

    #[test]
    fn everything_queued_comes_out_as_one_chunk_in_order() {
        let outbox = Outbox::default();
        let mut body = outbox.body();
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(poll(&mut body, &mut cx).is_pending());
        for part in ["ab", "cd", "ef"] {
            assert!(outbox.push(Bytes::from_static(part.as_bytes())));
        }
        assert_eq!(counter.0.load(Ordering::SeqCst), 1, "one wake for the whole batch");
        match poll(&mut body, &mut cx) {
            Poll::Ready(Some(Ok(chunk))) => assert_eq!(&chunk[..], b"abcdef"),
            other => panic!("{other:?}"),
        }
        outbox.close(Some(Bytes::from_static(b"z")));
        match poll(&mut body, &mut cx) {
            Poll::Ready(Some(Ok(chunk))) => assert_eq!(&chunk[..], b"z"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(poll(&mut body, &mut cx), Poll::Ready(None)));
        assert!(!outbox.push(Bytes::from_static(b"late")), "nothing is queued after the close");
    }

    #[test]
    fn a_receiver_past_the_bound_is_closed_not_grown() {
        let outbox = Outbox::default();
        let frame = Bytes::from(vec![0u8; 1 << 20]);
        let mut pushed = 0;
        while outbox.push(frame.clone()) {
            pushed += 1;
            assert!(pushed <= 8, "the bound holds");
        }
        assert!(outbox.overflowed() && outbox.is_closed());
        let mut body = outbox.body();
        let waker = Waker::from(Arc::new(CountingWaker::default()));
        assert!(matches!(poll(&mut body, &mut Context::from_waker(&waker)), Poll::Ready(None)));
    }
}
