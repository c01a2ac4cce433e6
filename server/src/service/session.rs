//! One connection's protocol state, apart from its socket: who it is, what it subscribes to and how far
//! each channel was delivered, its requests in order, and the frames it has to send.
//!
//! Requests are carried out one at a time, in the order they came, so replies come back in that order
//! and a request sees the effects of the ones before it. Meanwhile pushes of every channel keep
//! flowing: a request waiting for the store never stops the connection's deliveries. Only the
//! channel a request is about waits (its subscribe, publish or command), so that its reply comes
//! before that channel's next pushes: a publisher sees its reply before its own `pub`, a subscriber
//! sees the subscribe's reply before the live pushes that follow it. Requests the client pipelines
//! queue here, not in the outbox, so a client's own requests never make it look too slow.
//!
//! The transport feeds it text frames (`accept`), polls it (`poll`), and writes what it produced
//! (`take_output`). It never touches a socket.

use super::outcome::{Close, Effect, Finished, Handled, Work, result};
use super::subscriptions::Subscriptions;
use super::{Asker, Authenticated, Services, command, hello, publish, reads, resolve, subscribe};
use crate::auth::TokenKind;
use crate::clock::now_millis;
use crate::error::AppError;
use crate::hub::cursor::{Arrival, Cursor};
use crate::hub::{ConnId, Outbox, OutboxReceiver, Outgoing, PresencePush, UnsubscribedPush, frame};
use crate::limits::TokenBucket;
use crate::metrics::{METRICS, Metrics};
use crate::store::{ChannelKey, ChannelSlice, StoreError};
use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use makeroom_protocol::{
    ClientFrame, ErrorCode, RefreshResult, Reply, Request, Reset, ServerFrame, TimeResult, TokenExpiring, close,
    parse_client_frame, peek_request_id,
};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

/// Requests waiting their turn before the transport stops reading more (TCP then holds the rest).
const MAX_QUEUED: usize = 256;

/// The one request under way.
struct Running {
    id: u64,
    /// When a publish or command arrived, to time it to its reply.
    arrived: Option<std::time::Instant>,
    /// The channel (store key) whose pushes wait for this reply.
    holds: Option<Arc<str>>,
    work: Work,
}

enum Queued {
    Request {
        id: u64,
        request: Request,
        arrived: std::time::Instant,
    },
    /// Refused on arrival (rate limit, size, parse error), answered in its turn.
    Refused {
        id: Option<u64>,
        error: AppError,
    },
}

/// Reasons a channel's pushes wait.
const HELD_FOR_REPLY: u8 = 1;
const HELD_FOR_GAP: u8 = 2;

/// Work beside the requests: filling a gap from history, telling the store a channel is not needed.
enum Background {
    Filled { key: Arc<str>, up_to: u64, slice: Result<ChannelSlice, StoreError> },
    Done,
}

type BackgroundWork = Pin<Box<dyn Future<Output = Background>>>;

struct TokenClock {
    expires_at: tokio::time::Instant,
    warned: bool,
}

pub struct Session {
    services: Arc<Services>,
    id: ConnId,
    outbox: Outbox,
    receiver: OutboxReceiver,
    auth: Option<Arc<Authenticated>>,
    token: Option<TokenClock>,
    /// Looked up once per push.
    subscriptions: Subscriptions,
    limiter: TokenBucket,
    queue: VecDeque<Queued>,
    running: Option<Running>,
    background: FuturesUnordered<BackgroundWork>,
    /// Pushes waiting behind a reply or a gap, on all channels: bounded like the outbox.
    held: usize,
    /// Frames to write, in order.
    out: Vec<Bytes>,
    /// Outbox items taken in one turn (kept to reuse its allocation).
    taken: Vec<Outgoing>,
    /// Whether the socket keeps up, so that pushes are taken (as last told to `poll`).
    taking_pushes: bool,
    close: Option<Close>,
}

impl Session {
    pub fn new(services: Arc<Services>) -> Self {
        let id = services.hub.next_id();
        let (outbox, receiver) = Outbox::new(services.limits.outbox_capacity);
        let limiter = TokenBucket::new(services.limits.requests_per_second, services.limits.request_burst);
        METRICS.connections.fetch_add(1, Ordering::Relaxed);
        services.hub.attach(id, &outbox);
        Session {
            services,
            id,
            outbox,
            receiver,
            auth: None,
            token: None,
            subscriptions: Subscriptions::default(),
            limiter,
            queue: VecDeque::new(),
            running: None,
            background: FuturesUnordered::new(),
            held: 0,
            out: Vec::new(),
            taken: Vec::new(),
            taking_pushes: true,
            close: None,
        }
    }

    pub fn id(&self) -> ConnId {
        self.id
    }

    pub fn is_authenticated(&self) -> bool {
        self.auth.is_some()
    }

    /// Whether the transport should read more requests now.
    pub fn accepts_requests(&self) -> bool {
        self.queue.len() < MAX_QUEUED
    }

    /// Whether requests are waiting or under way (the socket may then go unread for a while).
    pub fn is_busy(&self) -> bool {
        self.running.is_some() || !self.queue.is_empty()
    }

    /// Moves the frames produced so far into `into`.
    pub fn take_output(&mut self, into: &mut Vec<Bytes>) {
        if into.is_empty() {
            std::mem::swap(into, &mut self.out);
        } else {
            into.append(&mut self.out);
        }
    }

    /// A text frame from the client: a request, answered in its turn.
    pub fn accept(&mut self, text: &str) {
        let queued = self.check_arrival(text);
        self.queue.push_back(queued);
        self.advance();
    }

    /// A binary frame: not part of the protocol.
    pub fn accept_binary(&mut self) {
        let error = self.rate_limit().err().unwrap_or_else(|| {
            AppError::refused(ErrorCode::BadRequest, "binary frames are not supported; send JSON text")
        });
        self.queue.push_back(Queued::Refused { id: None, error });
        self.advance();
    }

    fn check_arrival(&mut self, text: &str) -> Queued {
        // Every frame counts against the limit, malformed ones too, so garbage cannot flood either.
        if let Err(error) = self.rate_limit() {
            return Queued::Refused { id: peek_request_id(text), error };
        }
        let limit = self.services.limits.max_message_bytes;
        if text.len() > limit {
            let error = AppError::refused(ErrorCode::TooLarge, format!("frames are limited to {limit} bytes"));
            return Queued::Refused { id: peek_request_id(text), error };
        }
        match parse_client_frame(text) {
            Ok(ClientFrame { id, request }) => Queued::Request { id, request, arrived: std::time::Instant::now() },
            Err(bad) => Queued::Refused { id: bad.id, error: AppError::refused(bad.error.code, bad.error.message) },
        }
    }

    /// Takes one request's worth from the rate limit: per connection, then per participant across
    /// all their connections.
    fn rate_limit(&mut self) -> Result<(), AppError> {
        let refused = |wait: Duration, whose: &str| AppError::Refused {
            code: ErrorCode::RateLimited,
            message: format!("too many requests {whose}; slow down"),
            retry_after_ms: Some(wait.as_millis() as u64 + 1),
        };
        self.limiter.take().map_err(|wait| refused(wait, "on this connection"))?;
        if let Some(auth) = &self.auth {
            self.services.participant_limiter.take(&auth.claims.sub).map_err(|wait| refused(wait, "from you"))?;
        }
        Ok(())
    }

    /// Starts the next requests in order, answering at once those that need no waiting.
    fn advance(&mut self) {
        while self.running.is_none() && self.close.is_none() {
            let Some(next) = self.queue.pop_front() else { return };
            match next {
                Queued::Refused { id, error } => self.reply(id, Err(error)),
                Queued::Request { id, request, arrived } => self.start(id, request, arrived),
            }
        }
    }

    fn asker(&self, auth: &Arc<Authenticated>) -> Asker {
        Asker { services: self.services.clone(), auth: auth.clone(), conn: self.id, outbox: self.outbox.clone() }
    }

    fn start(&mut self, id: u64, request: Request, arrived: std::time::Instant) {
        let timed = matches!(request, Request::Publish(_) | Request::Command(_)).then_some(arrived);
        // Every request's store operations share one budget (`REQUEST_BUDGET`), however many it makes.
        let run = |session: &mut Self, holds: Option<Arc<str>>, work: Work| {
            let work = Box::pin(crate::store::within_request_budget(work));
            session.running = Some(Running { id, arrived: timed, holds, work });
        };
        let auth = match (&request, &self.auth) {
            (Request::Time, _) => return self.reply(Some(id), result(&TimeResult { server_time: now_millis() })),
            (Request::Hello(_), Some(_)) => {
                return self.reply(Some(id), Err(AppError::refused(ErrorCode::BadRequest, "`hello` was already sent")));
            }
            (Request::Hello(_), None) => None,
            (_, None) => {
                let error = AppError::refused(ErrorCode::Unauthorized, "send `hello` with a token first");
                return self.reply(Some(id), Err(error));
            }
            (_, Some(auth)) => Some(auth.clone()),
        };
        let Some(auth) = auth else {
            let Request::Hello(greeting) = request else { return };
            let work = hello::hello(self.services.clone(), self.id, greeting);
            return run(self, None, Box::pin(work));
        };
        let asker = self.asker(&auth);
        match request {
            Request::Subscribe(request) => match resolve(&auth, &request.channel) {
                Ok((key, channel)) => {
                    let already = self.subscriptions.get(key.as_str()).is_some_and(|s| s.cursor.is_some());
                    let holds = self.hold_for_subscribe(&key);
                    let count = self.subscriptions.len();
                    let work = subscribe::subscribe(asker, key, channel, request, already, count);
                    run(self, Some(holds), Box::pin(work));
                }
                Err(error) => self.reply(Some(id), Err(error)),
            },
            Request::Unsubscribe(request) => match resolve(&auth, &request.channel) {
                Ok((key, _)) => {
                    self.drop_subscription(&key);
                    self.reply(Some(id), result(&serde_json::json!({})));
                }
                Err(error) => self.reply(Some(id), Err(error)),
            },
            Request::Publish(request) => {
                let holds = self.hold_for_reply(&auth, &request.channel);
                run(self, holds, Box::pin(publish::publish(asker, request)));
            }
            Request::Command(request) => {
                let holds = self.hold_for_reply(&auth, &request.channel);
                run(self, holds, Box::pin(command::command(asker, request)));
            }
            Request::History(request) => run(self, None, Box::pin(reads::history(asker, request))),
            Request::Presence(request) => run(self, None, Box::pin(reads::presence(asker, request))),
            Request::Refresh(request) => {
                let outcome = self.refresh(&request.token);
                self.reply(Some(id), outcome);
            }
            Request::Hello(_) | Request::Time => {}
        }
    }

    /// Holds the pushes of the channel a publish or command is about, if this connection reads it.
    fn hold_for_reply(&mut self, auth: &Authenticated, name: &str) -> Option<Arc<str>> {
        let (key, _) = resolve(auth, name).ok()?;
        let subscription = self.subscriptions.get_mut(key.as_str())?;
        subscription.holds |= HELD_FOR_REPLY;
        Some(subscription.key.shared())
    }

    /// Holds the channel's pushes until the subscribe is answered (making its entry if it is new).
    fn hold_for_subscribe(&mut self, key: &ChannelKey) -> Arc<str> {
        let subscription = self.subscriptions.get_or_insert(key);
        subscription.holds |= HELD_FOR_REPLY;
        key.shared()
    }

    fn refresh(&mut self, token: &str) -> Handled {
        let claims = self.services.tokens.verify(token, TokenKind::Access)?;
        let auth =
            self.auth.as_ref().ok_or_else(|| AppError::refused(ErrorCode::Unauthorized, "send `hello` first"))?;
        if claims.sub != auth.claims.sub || claims.evt != auth.claims.evt {
            return Err(AppError::refused(ErrorCode::Forbidden, "a refresh must be for the same person and event"));
        }
        if auth.event.roster().active(&claims.sub).is_none() {
            return Err(AppError::refused(ErrorCode::Forbidden, "you are no longer part of this event"));
        }
        self.token = Some(TokenClock { expires_at: expiry_instant(claims.exp), warned: false });
        result(&RefreshResult { token_expires_at: claims.exp as i64 * 1000 })
    }

    /// Ends a subscription here, in the hub and (in a cluster) in the store.
    fn drop_subscription(&mut self, key: &ChannelKey) {
        let Some(subscription) = self.subscriptions.remove(key.as_str()) else { return };
        self.held -= subscription.held.len();
        if subscription.cursor.is_some() {
            METRICS.subscriptions.fetch_sub(1, Ordering::Relaxed);
            self.services.hub.unsubscribe(key, self.id);
            self.unwatch(key.clone());
        }
    }

    fn unwatch(&mut self, key: ChannelKey) {
        let store = self.services.store.clone();
        self.background.push(Box::pin(async move {
            if let Err(err) = store.unwatch(&key).await {
                tracing::debug!(%key, error = %err, "could not stop watching a channel");
            }
            Background::Done
        }));
    }

    fn reply(&mut self, id: Option<u64>, outcome: Handled) {
        Metrics::count(&METRICS.requests);
        let frame = match outcome {
            Ok(result) => Reply { id, result: Some(result), error: None },
            Err(err) => {
                Metrics::count(&METRICS.errors);
                match err.code() {
                    ErrorCode::RateLimited => Metrics::count(&METRICS.rate_limited),
                    ErrorCode::Unavailable => Metrics::count(&METRICS.store_unavailable),
                    _ => {}
                }
                // The reference ties the client's error to the server's log line.
                let reference = self.services.error_reference(self.id, id);
                err.log_if_internal(&reference);
                let mut body = err.body();
                body.reference = Some(reference);
                Reply { id, result: None, error: Some(body) }
            }
        };
        self.send(&ServerFrame::Reply(frame));
    }

    fn send(&mut self, frame: &ServerFrame) {
        self.out.extend(frame::json(frame));
    }

    /// A request's end: its effect, its reply, then the pushes that waited for it.
    fn complete(&mut self, running: Running, finished: Finished) {
        match finished.effect {
            Effect::None => {}
            Effect::Authenticated(auth) => match hello::admit(&self.services, &auth, self.id, &self.outbox) {
                Ok(()) => {
                    self.token = Some(TokenClock { expires_at: expiry_instant(auth.claims.exp), warned: false });
                    self.auth = Some(Arc::from(auth));
                }
                Err(error) => return self.finish_request(running, Err(error)),
            },
            Effect::Subscribed { key, last } => {
                if let Some(subscription) = self.subscriptions.get_mut(&key) {
                    if subscription.cursor.is_none() {
                        METRICS.subscriptions.fetch_add(1, Ordering::Relaxed);
                    }
                    subscription.cursor = Some(Cursor::at(last));
                }
            }
            Effect::NotSubscribed { key } => {
                if self.subscriptions.get(&key).is_some_and(|s| s.cursor.is_none())
                    && let Some(dropped) = self.subscriptions.remove(&key)
                {
                    self.held -= dropped.held.len();
                }
            }
            Effect::Close(close) => self.close = Some(close),
        }
        self.finish_request(running, finished.outcome);
    }

    fn finish_request(&mut self, running: Running, outcome: Handled) {
        self.reply(Some(running.id), outcome);
        if let Some(arrived) = running.arrived {
            METRICS.request_seconds.observe(arrived.elapsed());
        }
        if let Some(key) = running.holds {
            self.release(&key, HELD_FOR_REPLY);
        }
    }

    /// Lifts one reason for holding `key`'s pushes; when none is left, delivers what waited.
    fn release(&mut self, key: &str, reason: u8) {
        let Some(subscription) = self.subscriptions.get_mut(key) else { return };
        subscription.holds &= !reason;
        if subscription.holds != 0 || subscription.held.is_empty() {
            return;
        }
        let held = std::mem::take(&mut subscription.held);
        self.held -= held.len();
        self.deliver(held);
    }

    /// Writes outbox items, keeping each channel's offsets in order, once, without gaps.
    fn deliver(&mut self, items: impl IntoIterator<Item = Outgoing>) {
        for item in items {
            let found = match &item {
                Outgoing::Publication(delivery) => self.subscriptions.for_push(&delivery.key),
                other => self.subscriptions.get_mut(other.key()),
            };
            let Some(subscription) = found else { continue };
            if subscription.holds != 0 {
                subscription.held.push(item);
                self.held += 1;
                if self.held > self.services.limits.outbox_capacity {
                    self.close = Some(Close::from_hub(close::SLOW_CONSUMER));
                }
                continue;
            }
            match item {
                Outgoing::Publication(delivery) => {
                    let Some(cursor) = subscription.cursor.as_mut() else { continue };
                    match cursor.classify(delivery.offset) {
                        Arrival::Duplicate => {}
                        Arrival::Next => {
                            cursor.advance(delivery.offset);
                            self.out.push(delivery.frame.clone());
                        }
                        Arrival::Gap { after, before } => {
                            subscription.holds |= HELD_FOR_GAP;
                            subscription.held.push(Outgoing::Publication(delivery));
                            self.held += 1;
                            let key = subscription.key.clone();
                            self.fill_gap(key, after, before - 1);
                        }
                    }
                }
                Outgoing::Presence(push) => {
                    let PresencePush { member, frame, .. } = *push;
                    // Nobody is told of their own comings and goings (in a cluster they come back round).
                    let own = self.auth.as_ref().is_some_and(|auth| *auth.claims.sub == *member);
                    if !own {
                        self.out.push(frame);
                    }
                }
                Outgoing::Unsubscribed(push) => {
                    let UnsubscribedPush { key, frame } = *push;
                    if let Some(subscription) = self.subscriptions.remove(&key) {
                        self.held -= subscription.held.len();
                        METRICS.subscriptions.fetch_sub(1, Ordering::Relaxed);
                        self.unwatch(subscription.key);
                    }
                    self.out.push(frame);
                }
            }
        }
    }

    /// Reads what history holds between `after` and `up_to` (pub/sub lost it); the channel's pushes
    /// wait meanwhile.
    fn fill_gap(&mut self, key: ChannelKey, after: u64, up_to: u64) {
        let store = self.services.store.clone();
        self.background.push(Box::pin(async move {
            let slice = store.read_after(&key, after, up_to - after).await;
            Background::Filled { key: key.shared(), up_to, slice }
        }));
    }

    fn filled(&mut self, key: Arc<str>, up_to: u64, slice: Result<ChannelSlice, StoreError>) {
        let Some(subscription) = self.subscriptions.get_mut(&key) else { return };
        let Some(cursor) = subscription.cursor.as_mut() else { return };
        let after = cursor.last();
        let missing = up_to.saturating_sub(after);
        let complete = matches!(&slice, Ok(s) if s.publications.len() as u64 == missing
            && s.publications.first().is_some_and(|p| p.offset == after + 1));
        cursor.advance(up_to);
        let name = subscription.key.name().to_string();
        match slice {
            Ok(slice) if complete => {
                for publication in slice.publications {
                    self.send(&ServerFrame::Pub(publication));
                }
            }
            _ => {
                let reason = "messages were missed and history no longer holds them; resync".to_string();
                self.send(&ServerFrame::Reset(Reset { channel: name, reason }));
            }
        }
        self.release(&key, HELD_FOR_GAP);
    }

    /// Moves everything along: the request under way, work beside it and (when `take_pushes`, that
    /// is when the socket keeps up) the outbox. Ready with a reason when the connection must close.
    pub fn poll(&mut self, cx: &mut Context<'_>, take_pushes: bool) -> Poll<Close> {
        loop {
            if let Some(close) = self.close {
                return Poll::Ready(close);
            }
            let mut progressed = false;
            if let Some(running) = self.running.as_mut()
                && let Poll::Ready(finished) = running.work.as_mut().poll(cx)
                && let Some(running) = self.running.take()
            {
                self.complete(running, finished);
                self.advance();
                progressed = true;
            }
            while !self.background.is_empty()
                && let Poll::Ready(Some(done)) = self.background.poll_next_unpin(cx)
            {
                if let Background::Filled { key, up_to, slice } = done {
                    self.filled(key, up_to, slice);
                }
                progressed = true;
            }
            if take_pushes != self.taking_pushes {
                self.taking_pushes = take_pushes;
                self.receiver.set_stalled(!take_pushes);
            }
            if take_pushes {
                let mut taken = std::mem::take(&mut self.taken);
                match self.receiver.poll_take(cx, &mut taken) {
                    Poll::Ready(Ok(())) => {
                        self.deliver(taken.drain(..));
                        progressed = true;
                    }
                    Poll::Ready(Err(code)) => return Poll::Ready(Close::from_hub(code)),
                    Poll::Pending => {}
                }
                self.taken = taken;
            } else if let Some(code) = self.receiver.close_code() {
                return Poll::Ready(Close::from_hub(code));
            }
            if !progressed {
                return Poll::Pending;
            }
        }
    }

    /// When the token next needs attention (its warning, then its end); before `hello`, never.
    pub fn token_deadline(&self, warning: Duration) -> Option<tokio::time::Instant> {
        let token = self.token.as_ref()?;
        Some(match token.warned {
            false => token.expires_at.checked_sub(warning).unwrap_or(token.expires_at),
            true => token.expires_at,
        })
    }

    /// The token deadline passed: warn once (`token_expiring`), then close.
    pub fn on_token_deadline(&mut self) -> Option<Close> {
        let (token, auth) = (self.token.as_mut()?, self.auth.as_ref()?);
        if token.warned || tokio::time::Instant::now() >= token.expires_at {
            return Some(Close::new(close::TOKEN_EXPIRED, "token expired; get a fresh one and reconnect"));
        }
        token.warned = true;
        let expires_at = auth.claims.exp as i64 * 1000;
        self.send(&ServerFrame::TokenExpiring(TokenExpiring { expires_at }));
        None
    }

    /// Leaves every channel; the connection is ending.
    pub async fn finish(mut self) {
        METRICS.connections.fetch_sub(1, Ordering::Relaxed);
        self.running = None;
        // Gap fills no longer matter; only the store's unwatches below are waited for.
        self.background = FuturesUnordered::new();
        let keys: Vec<ChannelKey> = self.subscriptions.iter().map(|s| s.key.clone()).collect();
        for key in keys {
            self.drop_subscription(&key);
        }
        self.services.hub.detach(self.id);
        if let Some(auth) = &self.auth {
            self.services.hub.unregister(&auth.claims.sub, self.id);
            self.services.connections_per_participant.release(&auth.claims.sub);
        }
        while self.background.next().await.is_some() {}
    }
}

/// A token's `exp` (seconds since the epoch) as a tokio deadline.
fn expiry_instant(exp: u64) -> tokio::time::Instant {
    let remaining_ms = (exp as i64 * 1000 - now_millis()).max(0) as u64;
    tokio::time::Instant::now() + Duration::from_millis(remaining_ms)
}
