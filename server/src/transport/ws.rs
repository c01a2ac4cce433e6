//! One WebSocket connection: one task, one `select!` loop over the client's frames, its bounded outbox,
//! the heartbeat, its token's expiry and the server's shutdown. It always ends by saying why it closes.
//!
//! Requests are handled one at a time, in order, so replies come back in the order asked. Publications
//! arrive from the hub already serialized; the connection only checks their offsets (dropping any it
//! already delivered during recovery, filling any gap from history) and writes the shared bytes.

use crate::app::AppState;
use crate::auth::{Claims, TokenKind};
use crate::clock::now_millis;
use crate::domain::channel::{self, Channel, Reader};
use crate::domain::roster::RosterEvent;
use crate::domain::{DomainError, chat};
use crate::error::AppError;
use crate::events::{EventEntry, Followed};
use crate::hub::cursor::{Arrival, Cursor};
use crate::hub::{ConnId, Outbox, Outgoing, PresencePush, Signal, UnsubscribedPush};
use crate::limits::TokenBucket;
use crate::metrics::{METRICS, Metrics};
use crate::store::ChannelKey;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError, Session};
use bytestring::ByteString;
use futures_util::StreamExt;
use makeroom_protocol::{
    ClientFrame, Closing, DomainCommand, ErrorCode, EventRef, HelloResult, HistoryResult, Limits, Member,
    PROTOCOL_VERSION, PresenceResult, PublishResult, RefreshResult, Reply, Request, Reset, Role, ServerFrame, Snapshot,
    SubscribeResult, TimeResult, TokenExpiring, close, parse_client_frame, peek_request_id,
};
use serde::Serialize;
use serde_json::value::{RawValue, to_raw_value};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const MAX_KEY_CHARS: usize = 128;
const DEFAULT_HISTORY: u32 = 50;
const MAX_HISTORY: u32 = 500;
/// Outbox items taken in one turn before the connection looks at its other duties again.
const MAX_OUTBOX_TURN: usize = 256;

pub async fn upgrade(
    request: HttpRequest,
    body: web::Payload,
    state: web::Data<Arc<AppState>>,
) -> Result<HttpResponse, actix_web::Error> {
    let state = state.get_ref().clone();
    if let Err(refusal) = check_origin(&request, &state) {
        return Ok(*refusal);
    }
    let address = request.peer_addr().map(|peer| peer.ip());
    if let Some(address) = address
        && !state.connections_per_address.acquire(&address)
    {
        let error = AppError::refused(ErrorCode::RateLimited, "too many connections from this address");
        return Ok(HttpResponse::TooManyRequests().json(serde_json::json!({ "error": error.body() })));
    }
    let (response, session, stream) = match actix_ws::handle(&request, body) {
        Ok(handled) => handled,
        Err(err) => {
            if let Some(address) = address {
                state.connections_per_address.release(&address);
            }
            return Err(err);
        }
    };
    let max_frame = state.limits.max_frame_bytes;
    let stream = stream.max_frame_size(max_frame).aggregate_continuations().max_continuation_size(max_frame);
    actix_web::rt::spawn(async move {
        let (connection, outbox, signal) = Connection::new(state.clone(), session);
        connection.run(stream, outbox, signal).await;
        if let Some(address) = address {
            state.connections_per_address.release(&address);
        }
    });
    Ok(response)
}

/// How a connection ends.
struct Close {
    code: u16,
    reason: &'static str,
}

impl Close {
    const fn new(code: u16, reason: &'static str) -> Self {
        Close { code, reason }
    }
}

/// The socket is closed; nothing more can be sent on it.
struct Gone;

/// The person behind a connection after a good `hello`.
struct Authenticated {
    claims: Claims,
    event: Arc<EventEntry>,
    member: Member,
    expires_at: tokio::time::Instant,
    warned: bool,
}

struct Subscription {
    key: ChannelKey,
    /// How far this connection has delivered the channel.
    cursor: Cursor,
}

struct Connection {
    state: Arc<AppState>,
    session: Session,
    id: ConnId,
    auth: Option<Authenticated>,
    subscriptions: HashMap<Arc<str>, Subscription>,
    outbox: Outbox,
    /// Tripped by the hub to close this connection (slow consumer, participant removed).
    signal: Arc<Signal>,
    limiter: TokenBucket,
    last_heard: Instant,
    /// Frames taken from the outbox in this turn, handed to the socket together at its end.
    pending: Vec<ByteString>,
    /// A publish waiting for its commit (boxed: idle connections pay one pointer for it).
    publishing: Option<Box<Publishing>>,
}

/// A publish whose append is under way, answered when it ends. Meanwhile the connection reads no
/// other request but goes on delivering pushes: a publisher in a busy room no longer stops
/// receiving for the length of its own commit.
struct Publishing {
    id: u64,
    append: Answer,
    /// The channel's store key. Its pushes wait in `held` until the reply is written, so that the
    /// reply comes before the publisher's own `pub` (PROTOCOL.md) and the channel stays in order.
    channel: Arc<str>,
    held: Vec<Outgoing>,
}

/// A request's reply, still to come.
type Answer = std::pin::Pin<Box<dyn std::future::Future<Output = Handled>>>;

/// What handling one request led to: the reply's result, and whether the connection must now close.
type Handled = Result<Box<RawValue>, AppError>;

fn result<T: Serialize>(value: &T) -> Handled {
    to_raw_value(value).map_err(|err| AppError::Unexpected(err.into()))
}

impl Connection {
    fn new(state: Arc<AppState>, session: Session) -> (Self, tokio::sync::mpsc::Receiver<Outgoing>, Arc<Signal>) {
        let id = state.next_connection.fetch_add(1, Ordering::Relaxed);
        METRICS.connections.fetch_add(1, Ordering::Relaxed);
        let (outbox, outbox_rx, signal) = Outbox::new(state.limits.outbox_capacity);
        let limiter = TokenBucket::new(state.limits.requests_per_second, state.limits.request_burst);
        (
            Connection {
                state,
                session,
                id,
                auth: None,
                subscriptions: HashMap::new(),
                outbox,
                signal: signal.clone(),
                limiter,
                last_heard: Instant::now(),
                pending: Vec::new(),
                publishing: None,
            },
            outbox_rx,
            signal,
        )
    }
}

impl Connection {
    async fn run(
        mut self,
        mut stream: actix_ws::AggregatedMessageStream,
        mut outbox: tokio::sync::mpsc::Receiver<Outgoing>,
        signal: Arc<Signal>,
    ) {
        let mut shutdown = self.state.shutdown.clone();
        let mut heartbeat = tokio::time::interval(self.state.heartbeat_interval);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let hello_deadline = tokio::time::Instant::now() + self.state.hello_timeout;
        // Made once and moved when their moment changes: a timer made afresh on every turn of the
        // loop would be filed and unfiled in the timer wheel for every message.
        let shutting_down = shutdown.changed();
        let tripped = signal.wait();
        let token_timer = tokio::time::sleep_until(hello_deadline);
        tokio::pin!(shutting_down, tripped, token_timer);

        let close = loop {
            let next_token_moment = match &self.auth {
                None => hello_deadline,
                Some(auth) if !auth.warned => {
                    auth.expires_at.checked_sub(self.state.token_warning).unwrap_or(auth.expires_at)
                }
                Some(auth) => auth.expires_at,
            };
            if token_timer.deadline() != next_token_moment {
                token_timer.as_mut().reset(next_token_moment);
            }
            tokio::select! {
                biased;
                _ = &mut shutting_down => {
                    break Some(Close::new(close::GOING_AWAY, "the server is restarting; reconnect"));
                }
                code = &mut tripped => {
                    break Some(match code {
                        close::SLOW_CONSUMER => Close::new(code, "too slow to keep up; reconnect and recover"),
                        close::REVOKED => Close::new(code, "removed from the event"),
                        _ => Close::new(code, "closed by the server"),
                    });
                }
                outcome = wait_for(&mut self.publishing), if self.publishing.is_some() => {
                    if self.publish_done(outcome).await.is_err() {
                        break None;
                    }
                }
                message = stream.next(), if self.publishing.is_none() => {
                    self.last_heard = Instant::now();
                    // Requests are boxed while they run: inline, the largest (a subscribe reading
                    // history) would size every idle connection's task.
                    match message {
                        Some(Ok(AggregatedMessage::Text(text))) => match Box::pin(self.on_text(&text)).await {
                            Ok(None) => {}
                            Ok(Some(close)) => break Some(close),
                            Err(Gone) => break None,
                        },
                        Some(Ok(AggregatedMessage::Binary(_))) => {
                            let error = self.rate_limit().err().unwrap_or_else(|| {
                                AppError::refused(ErrorCode::BadRequest, "binary frames are not supported; send JSON text")
                            });
                            if self.reply(None, Err(error)).await.is_err() {
                                break None;
                            }
                        }
                        Some(Ok(AggregatedMessage::Ping(bytes))) => {
                            if self.session.pong(&bytes).await.is_err() {
                                break None;
                            }
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => {}
                        Some(Ok(AggregatedMessage::Close(_))) | None => break None,
                        Some(Err(ProtocolError::Overflow)) => {
                            break Some(Close::new(close::TOO_BIG, "frame over the size limit"));
                        }
                        Some(Err(err)) => {
                            tracing::debug!(connection = self.id, error = %err, "WebSocket protocol error");
                            let reason = if err.to_string().contains("maximum continuation size") {
                                Close::new(close::TOO_BIG, "message over the size limit")
                            } else {
                                Close::new(close::PROTOCOL_ERROR, "WebSocket protocol error")
                            };
                            break Some(reason);
                        }
                    }
                }
                // While a publish is under way its channel's pushes only wait: a connection that
                // reads no other channel is not woken for them (measured: ~5 % more CPU in `rooms`).
                Some(item) = outbox.recv(), if self.publishing.is_none() || self.subscriptions.len() > 1 => {
                    if self.take_outbox(item, &mut outbox).await.is_err() {
                        break None;
                    }
                }
                _ = heartbeat.tick() => {
                    // The socket is not read while a publish is under way: silence then is ours.
                    if self.publishing.is_none() && self.last_heard.elapsed() > self.state.client_timeout {
                        break Some(Close::new(close::HEARTBEAT_TIMEOUT, "no answer to heartbeats"));
                    }
                    if self.session.ping(b"").await.is_err() {
                        break None;
                    }
                }
                _ = &mut token_timer => {
                    let Some(auth) = self.auth.as_mut() else {
                        break Some(Close::new(close::HELLO_TIMEOUT, "no hello in time"));
                    };
                    if auth.warned || tokio::time::Instant::now() >= auth.expires_at {
                        break Some(Close::new(close::TOKEN_EXPIRED, "token expired; get a fresh one and reconnect"));
                    }
                    auth.warned = true;
                    let expires_at = auth.claims.exp as i64 * 1000;
                    let frame = ServerFrame::TokenExpiring(TokenExpiring { expires_at });
                    if self.send(&frame).await.is_err() {
                        break None;
                    }
                }
            }
        };
        // Boxed: it runs once, and inline it would add its size to every connection for its whole life.
        Box::pin(self.finish(close)).await;
    }

    /// Leaves every channel and, if the server chose to close, says why before closing.
    async fn finish(mut self, close: Option<Close>) {
        METRICS.connections.fetch_sub(1, Ordering::Relaxed);
        METRICS.subscriptions.fetch_sub(self.subscriptions.len() as i64, Ordering::Relaxed);
        let subscriptions: Vec<Subscription> = self.subscriptions.drain().map(|(_, s)| s).collect();
        for subscription in subscriptions {
            self.state.hub.unsubscribe(&subscription.key, self.id);
            self.unwatch(&subscription.key).await;
        }
        if let Some(auth) = &self.auth {
            self.state.hub.unregister(&auth.claims.sub, self.id);
            self.state.connections_per_participant.release(&auth.claims.sub);
        }
        let Some(close) = close else {
            let _ = self.session.close(None).await;
            return;
        };
        tracing::debug!(connection = self.id, code = close.code, reason = close.reason, "closing connection");
        let frame = ServerFrame::Closing(Closing {
            code: close.code,
            reason: close.reason.to_string(),
            reconnect: close::should_reconnect(close.code),
        });
        let _ = self.send(&frame).await;
        let reason = CloseReason { code: CloseCode::from(close.code), description: Some(close.reason.to_string()) };
        let _ = self.session.close(Some(reason)).await;
    }

    /// Writes a frame now (a reply, a warning, a goodbye), after the pushes held back, in order.
    async fn send(&mut self, frame: &ServerFrame) -> Result<(), actix_ws::Closed> {
        if let Some(text) = serialize(frame) {
            self.pending.push(text);
        }
        self.flush().await
    }

    /// Hands every frame held back to the socket at once: actix-ws encodes what is queued together,
    /// so they leave in one write.
    async fn flush(&mut self) -> Result<(), actix_ws::Closed> {
        if self.pending.is_empty() {
            return Ok(());
        }
        Metrics::count(&METRICS.write_batches);
        METRICS.frames_written.fetch_add(self.pending.len() as u64, Ordering::Relaxed);
        for frame in self.pending.drain(..) {
            self.session.text(frame).await?;
        }
        Ok(())
    }

    /// Takes everything waiting in the outbox (up to a turn's worth) and writes it at once: when the
    /// server is busy, pushes pile up between turns and leave in one system call instead of one each.
    /// (Holding pushes back on purpose to gather more was measured, and lost: see PERFORMANCE.md.)
    async fn take_outbox(
        &mut self,
        first: Outgoing,
        outbox: &mut tokio::sync::mpsc::Receiver<Outgoing>,
    ) -> Result<(), actix_ws::Closed> {
        self.deliver(first).await?;
        for _ in 1..MAX_OUTBOX_TURN {
            match outbox.try_recv() {
                Ok(item) => self.deliver(item).await?,
                Err(_) => break,
            }
        }
        self.flush().await
    }

    async fn reply(&mut self, id: Option<u64>, outcome: Handled) -> Result<(), Gone> {
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
                let reference = format!("{}.{}", self.id, id.map(|id| id.to_string()).unwrap_or_else(|| "-".into()));
                err.log_if_internal(&reference);
                let mut body = err.body();
                body.reference = Some(reference);
                Reply { id, result: None, error: Some(body) }
            }
        };
        self.send(&ServerFrame::Reply(frame)).await.map_err(|_| Gone)
    }

    /// Takes one request's worth from the rate limit, or builds the `rate_limited` refusal.
    /// Per connection, then per participant across all their connections.
    fn rate_limit(&mut self) -> Result<(), AppError> {
        let refused = |wait: Duration, whose: &str| AppError::Refused {
            code: ErrorCode::RateLimited,
            message: format!("too many requests {whose}; slow down"),
            retry_after_ms: Some(wait.as_millis() as u64 + 1),
        };
        self.limiter.take().map_err(|wait| refused(wait, "on this connection"))?;
        if let Some(auth) = &self.auth {
            self.state.participant_limiter.take(&auth.claims.sub).map_err(|wait| refused(wait, "from you"))?;
        }
        Ok(())
    }

    /// Handles one text frame: answered now, or (a publish) started and answered by `publish_done`.
    /// `Ok(Some(close))` when the connection must now end; `Err(Gone)` when the socket is already gone.
    async fn on_text(&mut self, text: &str) -> Result<Option<Close>, Gone> {
        // Every frame counts against the limit, malformed ones too, so garbage cannot flood either.
        if let Err(limited) = self.rate_limit() {
            self.reply(peek_request_id(text), Err(limited)).await?;
            return Ok(None);
        }
        if text.len() > self.state.limits.max_message_bytes {
            let limit = self.state.limits.max_message_bytes;
            let error = AppError::refused(ErrorCode::TooLarge, format!("frames are limited to {limit} bytes"));
            self.reply(peek_request_id(text), Err(error)).await?;
            return Ok(None);
        }
        let frame = match parse_client_frame(text) {
            Ok(frame) => frame,
            Err(bad) => {
                let error = AppError::refused(bad.error.code, bad.error.message);
                self.reply(bad.id, Err(error)).await?;
                return Ok(None);
            }
        };
        let ClientFrame { id, request } = frame;
        let mut close_after = None;
        let outcome = match request {
            Request::Hello(hello) => self.hello(hello, &mut close_after).await,
            Request::Time => result(&TimeResult { server_time: now_millis() }),
            _ if self.auth.is_none() => {
                Err(AppError::refused(ErrorCode::Unauthorized, "send `hello` with a token first"))
            }
            Request::Publish(publish) => match self.start_publish(publish) {
                Ok((channel, append)) => {
                    self.publishing = Some(Box::new(Publishing { id, append, channel, held: Vec::new() }));
                    return Ok(None);
                }
                Err(refused) => Err(refused),
            },
            other => self.handle(other).await,
        };
        self.reply(Some(id), outcome).await?;
        Ok(close_after)
    }

    /// Answers a publish whose append has ended, then delivers its channel's pushes held meanwhile.
    async fn publish_done(&mut self, outcome: Handled) -> Result<(), Gone> {
        let Some(done) = self.publishing.take() else { return Ok(()) };
        self.reply(Some(done.id), outcome).await?;
        for item in done.held {
            self.deliver(item).await.map_err(|_| Gone)?;
        }
        self.flush().await.map_err(|_| Gone)
    }

    async fn handle(&mut self, request: Request) -> Handled {
        match request {
            Request::Refresh(refresh) => self.refresh(&refresh.token),
            Request::Subscribe(subscribe) => self.subscribe(subscribe).await,
            Request::Unsubscribe(unsubscribe) => {
                let (key, _) = self.channel(&unsubscribe.channel)?;
                if self.subscriptions.remove(key.as_str()).is_some() {
                    METRICS.subscriptions.fetch_sub(1, Ordering::Relaxed);
                    self.state.hub.unsubscribe(&key, self.id);
                    self.unwatch(&key).await;
                }
                result(&serde_json::json!({}))
            }
            // Started by `on_text`, which answers it when its append ends.
            Request::Publish(_) => Err(AppError::refused(ErrorCode::BadRequest, "publish is handled on its own")),
            Request::History(history) => self.history(history).await,
            Request::Presence(query) => {
                let (key, channel) = self.channel(&query.channel)?;
                self.check_read(&channel)?;
                let members = self.presence_of(&key, self.state.hub.presence(&key)).await?;
                result(&PresenceResult { channel: query.channel, members })
            }
            Request::Command(command) => self.command(command).await,
            Request::Hello(_) => Err(AppError::refused(ErrorCode::BadRequest, "`hello` was already sent")),
            Request::Time => result(&TimeResult { server_time: now_millis() }),
        }
    }

    /// Authenticates the connection. Sets `close_after` when the refusal is final for this connection.
    async fn hello(&mut self, hello: makeroom_protocol::Hello, close_after: &mut Option<Close>) -> Handled {
        if self.auth.is_some() {
            return Err(AppError::refused(ErrorCode::BadRequest, "`hello` was already sent"));
        }
        if hello.version != PROTOCOL_VERSION {
            *close_after = Some(Close::new(close::UNSUPPORTED_VERSION, "unsupported protocol version"));
            return Err(AppError::refused(
                ErrorCode::UnsupportedVersion,
                format!("this server speaks protocol version {PROTOCOL_VERSION}, not {}", hello.version),
            ));
        }
        let claims = self.state.tokens.verify(&hello.token, TokenKind::Access)?;
        if let Some(event) = &hello.event
            && *event != claims.evt
        {
            return Err(AppError::refused(ErrorCode::Forbidden, "this token is for another event"));
        }
        let event = self
            .state
            .events
            .get(&claims.evt)
            .ok_or_else(|| AppError::refused(ErrorCode::Unauthorized, "the token's event does not exist"))?;
        event.ensure_known(self.state.store.as_ref(), &claims.sub).await?;
        let (member, team) = {
            let roster = event.roster();
            let participant = match roster.participants.get(&claims.sub) {
                None => {
                    return Err(AppError::refused(ErrorCode::Unauthorized, "the token names nobody at this event"));
                }
                Some(p) if p.removed => {
                    *close_after = Some(Close::new(close::REVOKED, "removed from the event"));
                    return Err(AppError::refused(ErrorCode::Forbidden, "you are no longer part of this event"));
                }
                Some(p) => p,
            };
            (participant.member(), participant.team.clone())
        };
        let hello_result = HelloResult {
            connection: self.id,
            version: PROTOCOL_VERSION,
            participant: member.clone(),
            event: EventRef {
                id: event.info.id.clone(),
                name: event.name(),
                join_code: (claims.role != Role::Participant).then(|| event.info.join_code.clone()),
            },
            team,
            server_time: now_millis(),
            token_expires_at: claims.exp as i64 * 1000,
            heartbeat_ms: self.state.heartbeat_interval.as_millis() as u64,
            limits: Limits {
                max_message_bytes: self.state.limits.max_message_bytes,
                max_data_bytes: self.state.limits.max_data_bytes,
                max_subscriptions: self.state.limits.max_subscriptions,
                requests_per_second: self.state.limits.requests_per_second,
                request_burst: self.state.limits.request_burst,
            },
        };
        let expires_at = expiry_instant(claims.exp);
        if !self.state.connections_per_participant.acquire(&claims.sub) {
            return Err(AppError::refused(
                ErrorCode::RateLimited,
                format!(
                    "you already have {} connections open; close one first",
                    self.state.limits.max_connections_per_participant
                ),
            ));
        }
        self.state.hub.register(&claims.sub, self.id, self.signal.clone());
        self.auth = Some(Authenticated { claims, event, member, expires_at, warned: false });
        result(&hello_result)
    }

    fn refresh(&mut self, token: &str) -> Handled {
        let claims = self.state.tokens.verify(token, TokenKind::Access)?;
        let auth =
            self.auth.as_mut().ok_or_else(|| AppError::refused(ErrorCode::Unauthorized, "send `hello` first"))?;
        if claims.sub != auth.claims.sub || claims.evt != auth.claims.evt {
            return Err(AppError::refused(ErrorCode::Forbidden, "a refresh must be for the same person and event"));
        }
        if auth.event.roster().active(&claims.sub).is_none() {
            return Err(AppError::refused(ErrorCode::Forbidden, "you are no longer part of this event"));
        }
        auth.expires_at = expiry_instant(claims.exp);
        auth.warned = false;
        let token_expires_at = claims.exp as i64 * 1000;
        auth.claims = claims;
        result(&RefreshResult { token_expires_at })
    }

    fn auth(&self) -> Result<&Authenticated, AppError> {
        self.auth.as_ref().ok_or_else(|| AppError::refused(ErrorCode::Unauthorized, "send `hello` first"))
    }

    /// The store key and domain channel for a name the client gave.
    fn channel(&self, name: &str) -> Result<(ChannelKey, Channel), AppError> {
        let auth = self.auth()?;
        let channel = Channel::parse(name)?;
        if let Some(team) = channel.team()
            && !auth.event.roster().teams.contains_key(team)
        {
            return Err(DomainError::NotFound(format!("team `{team}`")).into());
        }
        Ok((auth.event.channel_key(&channel.to_string()), channel))
    }

    /// Everyone present on `key`: across the cluster if the store knows, always including the people
    /// connected here (whose joins may still be on their way to the store).
    async fn presence_of(&self, key: &ChannelKey, local: Vec<Member>) -> Result<Vec<Member>, AppError> {
        let Some(mut members) = self.state.store.presence(key).await? else { return Ok(local) };
        for member in local {
            if !members.iter().any(|m| m.id == member.id) {
                members.push(member);
            }
        }
        members.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(members)
    }

    /// Tells the store this connection no longer needs `key` (a cluster store may stop listening).
    async fn unwatch(&self, key: &ChannelKey) {
        if let Err(err) = self.state.store.unwatch(key).await {
            tracing::debug!(%key, error = %err, "could not stop watching a channel");
        }
    }

    /// Checks the caller against the channel's rules with their team as it is now.
    fn check_read(&self, channel: &Channel) -> Result<(), AppError> {
        let auth = self.auth()?;
        let roster = auth.event.roster();
        let reader = Reader { role: auth.claims.role, team: roster.team_of(&auth.claims.sub) };
        Ok(channel::may_read(reader, channel)?)
    }

    async fn subscribe(&mut self, subscribe: makeroom_protocol::Subscribe) -> Handled {
        let (key, channel) = self.channel(&subscribe.channel)?;
        self.check_read(&channel)?;
        let already = self.subscriptions.contains_key(key.as_str());
        if !already && self.subscriptions.len() >= self.state.limits.max_subscriptions {
            return Err(AppError::refused(
                ErrorCode::BadRequest,
                format!("at most {} subscriptions per connection", self.state.limits.max_subscriptions),
            ));
        }
        if subscribe.snapshot && !channel.is_state() {
            return Err(AppError::refused(
                ErrorCode::BadRequest,
                "snapshots are for state channels; chat channels (lobby, team rooms) use history",
            ));
        }
        let member = self.auth()?.member.clone();
        // Join the hub before reading history: anything committed after this point reaches the outbox,
        // anything before it is in the read below, and offsets weed out what is in both.
        let presence = self.state.hub.subscribe(&key, self.id, member, self.outbox.clone(), subscribe.presence);
        // In a cluster, other instances' publications must reach this hub before history is read.
        if !already && let Err(err) = self.state.store.watch(&key).await {
            self.state.hub.unsubscribe(&key, self.id);
            return Err(err.into());
        }
        let presence = match presence {
            Some(local) => match self.presence_of(&key, local).await {
                Ok(members) => Some(members),
                Err(err) => {
                    if !already {
                        self.state.hub.unsubscribe(&key, self.id);
                        self.unwatch(&key).await;
                    }
                    return Err(err);
                }
            },
            None => None,
        };
        let outcome = self.read_for_subscribe(&key, subscribe.since.as_ref()).await;
        let outcome = match outcome {
            Ok(read) if subscribe.snapshot && read.2 != Some(true) => self
                .read_snapshot(&key, &channel)
                .await
                .map(|(epoch, last, publications, snapshot)| (epoch, last, read.2, publications, Some(snapshot))),
            Ok((epoch, last, recovered, publications)) => Ok((epoch, last, recovered, publications, None)),
            Err(err) => Err(err),
        };
        let (epoch, last, recovered, publications, snapshot) = match outcome {
            Ok(read) => read,
            Err(err) => {
                if !already {
                    self.state.hub.unsubscribe(&key, self.id);
                    self.unwatch(&key).await;
                }
                return Err(err);
            }
        };
        if self.subscriptions.insert(key.shared(), Subscription { key, cursor: Cursor::at(last) }).is_none() {
            METRICS.subscriptions.fetch_add(1, Ordering::Relaxed);
        }
        result(&SubscribeResult {
            channel: subscribe.channel,
            epoch,
            offset: last,
            recovered,
            publications,
            presence,
            snapshot,
        })
    }

    /// The channel's state now, and what the log holds after it (usually nothing): the state at
    /// `snapshot.offset` plus `publications` is exactly the channel up to the returned offset.
    async fn read_snapshot(
        &self,
        key: &ChannelKey,
        channel: &Channel,
    ) -> Result<(String, u64, Vec<makeroom_protocol::Publication>, Snapshot), AppError> {
        let event = self.auth()?.event.clone();
        let store = self.state.store.as_ref();
        let log = match channel {
            Channel::Board(team) => Followed::Board(event.board(store, team).await?),
            _ => event
                .followed(channel)
                .ok_or_else(|| AppError::refused(ErrorCode::BadRequest, "this channel has no snapshot"))?,
        };
        let (offset, state) = log.snapshot().map_err(|err| AppError::Unexpected(err.into()))?;
        drop(log);
        let tail = store.read_after(key, offset, self.state.limits.max_recovery).await?;
        let last = tail.publications.last().map(|p| p.offset).unwrap_or(offset).max(offset);
        Ok((tail.epoch.to_string(), last, tail.publications, Snapshot { offset, state }))
    }

    /// Records a domain command on its state channel.
    async fn command(&mut self, command: makeroom_protocol::Command) -> Handled {
        let (_, channel) = self.channel(&command.channel)?;
        check_idempotency_key(command.key.as_deref())?;
        let auth = self.auth()?;
        let event = auth.event.clone();
        let who = makeroom_protocol::Sender {
            id: auth.member.id.clone(),
            name: auth.member.name.clone(),
            role: auth.member.role,
        };
        let idempotency_key = command.key.map(|key| format!("{}:{key}", who.id));
        let store = self.state.store.as_ref();
        // Every state channel takes its own channel's commands, and refuses the others'.
        macro_rules! record {
            ($log:expr, $command:expr) => {
                event.command(store, $log, &who, $command, idempotency_key).await?.appended
            };
        }
        let appended = match (&channel, command.command) {
            (Channel::Roster, DomainCommand::Roster(roster_command)) => {
                let team_before = event.roster().team_of(&who.id).map(str::to_string);
                let outcome = event.command(store, &event.roster, &who, roster_command, idempotency_key).await?;
                if let Some(change) = &outcome.event {
                    self.after_roster_change(&event, change, team_before.as_deref());
                }
                outcome.appended
            }
            (Channel::Announcements, DomainCommand::Announcement(command)) => record!(&event.announcements, command),
            (Channel::Briefs, DomainCommand::Brief(command)) => record!(&event.briefs, command),
            (Channel::Board(team), DomainCommand::Board(command)) => {
                record!(event.board(store, team).await?.as_ref(), command)
            }
            (Channel::Schedule, DomainCommand::Schedule(command)) => record!(&event.schedule, command),
            (Channel::Presentations, DomainCommand::Presentation(command)) => record!(&event.presentations, command),
            (Channel::Help, DomainCommand::Help(command)) => record!(&event.help, command),
            (Channel::Outputs, DomainCommand::Output(command)) => record!(&event.outputs, command),
            (Channel::Lobby | Channel::Team(_), _) => {
                return Err(AppError::refused(ErrorCode::BadRequest, "chat channels take `publish`, not commands"));
            }
            (_, other) => return Err(wrong_channel(&other, &channel)),
        };
        result(&PublishResult {
            epoch: appended.epoch.to_string(),
            offset: appended.offset,
            duplicate: appended.duplicate,
        })
    }

    /// Access that a roster change takes away, taken away at once on this instance.
    fn after_roster_change(&self, event: &EventEntry, change: &RosterEvent, team_before: Option<&str>) {
        let hub = &self.state.hub;
        let room = |team: &str| event.channel_key(&format!("team:{team}"));
        match change {
            RosterEvent::Moved { participant, .. } => {
                if let Some(old) = team_before {
                    hub.unsubscribe_members(&room(old), |m| m.id == *participant, "you left the team");
                }
            }
            RosterEvent::TeamArchived { team } => {
                hub.unsubscribe_members(&room(team), |m| m.role == Role::Participant, "the team was archived");
            }
            RosterEvent::Removed { participant } => hub.close_participant(participant, close::REVOKED),
            _ => {}
        }
    }

    /// Reads what a subscription starts from: with `since`, exactly the missed messages or `recovered:
    /// false`; without, just where the channel stands.
    async fn read_for_subscribe(
        &self,
        key: &ChannelKey,
        since: Option<&makeroom_protocol::Position>,
    ) -> Result<(String, u64, Option<bool>, Vec<makeroom_protocol::Publication>), AppError> {
        let Some(since) = since else {
            let slice = self.state.store.read_before(key, None, 0).await?;
            return Ok((slice.epoch.to_string(), slice.top, None, Vec::new()));
        };
        let max = self.state.limits.max_recovery;
        let slice = self.state.store.read_after(key, since.offset, max.saturating_add(1)).await?;
        let last = slice.publications.last().map(|p| p.offset).unwrap_or(slice.top).max(slice.top);
        let complete = *slice.epoch == *since.epoch
            && since.offset <= slice.top
            && since.offset + 1 >= slice.first
            && slice.publications.len() as u64 == last - since.offset
            && (slice.publications.len() as u64) <= max;
        if complete {
            Metrics::count(&METRICS.recoveries_exact);
            Ok((slice.epoch.to_string(), last, Some(true), slice.publications))
        } else {
            Metrics::count(&METRICS.recoveries_failed);
            Ok((slice.epoch.to_string(), last, Some(false), Vec::new()))
        }
    }

    /// Checks a publish and starts its append; the returned future ends with the reply's result.
    /// Returns the channel's store key too, whose pushes must wait for that reply.
    fn start_publish(&self, publish: makeroom_protocol::Publish) -> Result<(Arc<str>, Answer), AppError> {
        let (key, channel) = self.channel(&publish.channel)?;
        let auth = self.auth()?;
        {
            let roster = auth.event.roster();
            let writer = Reader { role: auth.claims.role, team: roster.team_of(&auth.claims.sub) };
            channel::may_publish(writer, &channel)?;
        }
        if publish.data.get().len() > self.state.limits.max_data_bytes {
            return Err(AppError::refused(
                ErrorCode::TooLarge,
                format!("`data` is limited to {} bytes", self.state.limits.max_data_bytes),
            ));
        }
        chat::check_message(publish.data.get())?;
        check_idempotency_key(publish.key.as_deref())?;
        let channel_key = key.shared();
        let request = crate::store::AppendRequest {
            key,
            data: publish.data,
            from: makeroom_protocol::Sender {
                id: auth.member.id.clone(),
                name: auth.member.name.clone(),
                role: auth.member.role,
            },
            // Keys are the sender's own: two phones that happen to pick the same key never collide.
            idempotency_key: publish.key.map(|key| format!("{}:{key}", auth.member.id)),
            expected_offset: None,
            retain: channel.is_chat().then_some(self.state.history_limit),
        };
        let store = self.state.store.clone();
        let append = async move {
            let appended = store.append(request).await?;
            result(&PublishResult {
                epoch: appended.epoch.to_string(),
                offset: appended.offset,
                duplicate: appended.duplicate,
            })
        };
        Ok((channel_key, Box::pin(append)))
    }

    async fn history(&self, history: makeroom_protocol::History) -> Handled {
        let (key, channel) = self.channel(&history.channel)?;
        self.check_read(&channel)?;
        let limit = history.limit.unwrap_or(DEFAULT_HISTORY).clamp(1, MAX_HISTORY);
        let slice = self.state.store.read_before(&key, history.before, u64::from(limit)).await?;
        result(&HistoryResult {
            channel: history.channel,
            epoch: slice.epoch.to_string(),
            offset: slice.top,
            first: slice.first.min(slice.top),
            publications: slice.publications,
        })
    }

    /// Writes one outbox item, keeping each channel's offsets in order, once, without gaps.
    async fn deliver(&mut self, item: Outgoing) -> Result<(), actix_ws::Closed> {
        if let Some(publishing) = self.publishing.as_mut()
            && *publishing.channel == *item.key()
        {
            publishing.held.push(item);
            return Ok(());
        }
        let delivery = match item {
            Outgoing::Presence(push) => {
                let PresencePush { key, member, frame } = *push;
                // A change queued before an unsubscribe is no longer this connection's business, and
                // nobody is told of their own comings and goings (in a cluster they come back round).
                let own = self.auth.as_ref().is_some_and(|auth| *auth.claims.sub == *member);
                if !own && self.subscriptions.contains_key(&*key) {
                    self.pending.push(frame);
                }
                return Ok(());
            }
            Outgoing::Unsubscribed(push) => {
                let UnsubscribedPush { key, frame } = *push;
                let Some(subscription) = self.subscriptions.remove(&*key) else { return Ok(()) };
                METRICS.subscriptions.fetch_sub(1, Ordering::Relaxed);
                self.unwatch(&subscription.key).await;
                self.pending.push(frame);
                return Ok(());
            }
            Outgoing::Publication(delivery) => delivery,
        };
        let Some(subscription) = self.subscriptions.get(&*delivery.key) else {
            return Ok(());
        };
        match subscription.cursor.classify(delivery.offset) {
            Arrival::Duplicate => return Ok(()),
            Arrival::Next => {}
            Arrival::Gap { before, .. } => Box::pin(self.fill_gap(delivery.key.clone(), before - 1)).await?,
        }
        self.pending.push(delivery.frame.clone());
        if let Some(subscription) = self.subscriptions.get_mut(&*delivery.key) {
            subscription.cursor.advance(delivery.offset);
        }
        Ok(())
    }

    /// Sends what history holds between the last delivered offset and `up_to`; if it no longer holds
    /// all of it, tells the client to resync the channel.
    async fn fill_gap(&mut self, key: Arc<str>, up_to: u64) -> Result<(), actix_ws::Closed> {
        let Some(subscription) = self.subscriptions.get(&*key) else {
            return Ok(());
        };
        let (store_key, after) = (subscription.key.clone(), subscription.cursor.last());
        let missing = up_to - after;
        let slice = self.state.store.read_after(&store_key, after, missing).await;
        let complete = matches!(&slice, Ok(s) if s.publications.len() as u64 == missing
            && s.publications.first().is_some_and(|p| p.offset == after + 1));
        match slice {
            Ok(slice) if complete => {
                for publication in slice.publications {
                    self.pending.extend(serialize(&ServerFrame::Pub(publication)));
                }
            }
            _ => {
                let frame = ServerFrame::Reset(Reset {
                    channel: store_key.name().to_string(),
                    reason: "messages were missed and history no longer holds them; resync".into(),
                });
                self.pending.extend(serialize(&frame));
            }
        }
        if let Some(subscription) = self.subscriptions.get_mut(&*key) {
            subscription.cursor.advance(up_to);
        }
        Ok(())
    }
}

/// Browsers say which page opened a WebSocket; only Makeroom's own pages (and configured origins) may,
/// so a page elsewhere cannot act with a visitor's stored token. Clients that send no Origin are not
/// browsers and carry their token themselves.
fn check_origin(request: &HttpRequest, state: &AppState) -> Result<(), Box<HttpResponse>> {
    let Some(origin) = request.headers().get(actix_web::http::header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().unwrap_or("").trim_end_matches('/');
    let host = request.connection_info().host().to_string();
    let same_host = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host.as_str());
    let allowed = same_host
        || origin == state.public_url.trim_end_matches('/')
        || state.allowed_origins.iter().any(|allowed| allowed == "*" || allowed == origin);
    if allowed {
        return Ok(());
    }
    tracing::info!(origin, "refused a WebSocket from another origin");
    let error = AppError::refused(ErrorCode::Forbidden, "this origin may not open Makeroom connections");
    Err(Box::new(HttpResponse::Forbidden().json(serde_json::json!({ "error": error.body() }))))
}

/// The end of the publish under way; never, when there is none (its select branch is off then).
async fn wait_for(publishing: &mut Option<Box<Publishing>>) -> Handled {
    match publishing {
        Some(publishing) => publishing.append.as_mut().await,
        None => std::future::pending().await,
    }
}

fn serialize(frame: &ServerFrame) -> Option<ByteString> {
    match serde_json::to_string(frame) {
        Ok(text) => Some(ByteString::from(text)),
        Err(err) => {
            tracing::error!(error = %err, "could not serialize a frame");
            None
        }
    }
}

fn check_idempotency_key(key: Option<&str>) -> Result<(), AppError> {
    match key {
        Some(key) if key.is_empty() || key.chars().count() > MAX_KEY_CHARS => {
            Err(AppError::refused(ErrorCode::BadRequest, format!("`key` holds 1 to {MAX_KEY_CHARS} characters")))
        }
        _ => Ok(()),
    }
}

/// A command sent on a state channel that does not take it.
fn wrong_channel(command: &DomainCommand, channel: &Channel) -> AppError {
    let (name, home) = (command.type_name(), command.channel_kind().channel_name());
    AppError::refused(
        ErrorCode::BadRequest,
        format!("`{name}` is a command for `{home}`; send it there, not on `{channel}`"),
    )
}

/// A token's `exp` (seconds since the epoch) as a tokio deadline.
fn expiry_instant(exp: u64) -> tokio::time::Instant {
    let remaining_ms = (exp as i64 * 1000 - now_millis()).max(0) as u64;
    tokio::time::Instant::now() + Duration::from_millis(remaining_ms)
}
